-- Retention and legal hold (issue 6).

-- How many days messages and shared files are kept: the app's setting, which a
-- conversation's own overrides. NULL: forever. Expired messages are never
-- served (reads compare their ts with now minus the days); the retention sweep
-- deletes them later, in bounded steps.
ALTER TABLE apps ADD COLUMN message_retention_days INTEGER;
ALTER TABLE apps ADD COLUMN file_retention_days INTEGER;
ALTER TABLE conversations ADD COLUMN message_retention_days INTEGER;
ALTER TABLE conversations ADD COLUMN file_retention_days INTEGER;
-- How far the sweep has looked: every event up to this seq is deleted, or kept
-- under a hold. Lifting a hold sets it back to 0 so the sweep looks again.
ALTER TABLE conversations ADD COLUMN expired_seq INTEGER NOT NULL DEFAULT 0;
-- The sweep deletes the edits and recalls of an expired message with it.
CREATE INDEX events_target ON events(conv_id, target) WHERE target IS NOT NULL;
-- And unshares the files of messages past the file retention.
CREATE INDEX file_shares_conv ON file_shares(conv_id, seq);

-- A legal hold on a user (every message they sent, anywhere) or on a
-- conversation (everything in it). At most one active hold per target.
CREATE TABLE legal_holds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      INTEGER NOT NULL REFERENCES apps(id),
    user_id     INTEGER,
    conv_id     INTEGER,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,      -- an audit actor: user:<id>, key:<id>
    lifted_at   INTEGER,            -- NULL: active
    lifted_by   TEXT,
    CHECK ((user_id IS NULL) <> (conv_id IS NULL))
);
CREATE UNIQUE INDEX legal_holds_user ON legal_holds(user_id)
    WHERE lifted_at IS NULL AND user_id IS NOT NULL;
CREATE UNIQUE INDEX legal_holds_conv ON legal_holds(conv_id)
    WHERE lifted_at IS NULL AND conv_id IS NOT NULL;
CREATE INDEX legal_holds_app ON legal_holds(app_id, id);

-- What an edit or a recall replaced while its message was under hold: the
-- members see the change, and the original stays for eDiscovery.
CREATE TABLE held_versions (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL,
    conv_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    sender      INTEGER NOT NULL,
    body        TEXT,
    replaced_at INTEGER NOT NULL,   -- ms
    change      TEXT NOT NULL       -- edit or recall
);
CREATE INDEX held_versions_event ON held_versions(conv_id, seq);

-- The backstop, whatever the code path: nothing under hold is deleted, and no
-- held body is replaced without its old version being kept.
CREATE TRIGGER events_hold_no_delete BEFORE DELETE ON events
WHEN EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL
             AND (h.conv_id = old.conv_id OR h.user_id = old.sender))
BEGIN SELECT RAISE(ABORT, 'under legal hold'); END;

CREATE TRIGGER events_hold_keep_body BEFORE UPDATE OF body ON events
WHEN old.body IS NOT NULL AND new.body IS NOT old.body
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL
                 AND (h.conv_id = old.conv_id OR h.user_id = old.sender))
BEGIN
    INSERT INTO held_versions (event_id, conv_id, seq, sender, body, replaced_at, change)
    VALUES (old.id, old.conv_id, old.seq, old.sender, old.body,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
            CASE WHEN new.body IS NULL THEN 'recall' ELSE 'edit' END);
END;
