-- The admin console (issue 5): disabled accounts, and deleted conversations.

-- A disabled user keeps their rows but holds no token: disabling deletes them,
-- and no login hands out a new one until the account is enabled again.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;        -- ms; NULL: enabled

-- A deleted conversation keeps an empty row (no title, members, events or
-- direct_key), marked deleted, so that its id is never handed out again: an
-- INTEGER PRIMARY KEY reuses the highest id once its row is gone, and a client
-- still holding the old id would take a new conversation for the deleted one.
ALTER TABLE conversations ADD COLUMN deleted_at INTEGER; -- ms; NULL: in use

-- The console lists an app's conversations by id and counts them every few seconds.
CREATE INDEX conversations_app ON conversations(app_id, id) WHERE deleted_at IS NULL;
