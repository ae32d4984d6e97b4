-- Webhooks (hooks/webhooks.h): an app's URLs that are told of its events, and
-- the outbox of their deliveries. A delivery is written in the transaction of
-- its event, so neither exists without the other. The secret and the payload
-- are sealed like a message body when encryption at rest is on.
-- AUTOINCREMENT: an id is never reused (receivers deduplicate on delivery ids).
CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id       INTEGER NOT NULL REFERENCES apps(id),
    url          TEXT NOT NULL,
    secret       BLOB NOT NULL,
    events       TEXT NOT NULL,          -- JSON array of event types, or ["*"]
    description  TEXT,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    bot_id       INTEGER REFERENCES users(id) ON DELETE CASCADE  -- a bot's own (api/bots.c)
);
CREATE INDEX webhooks_app ON webhooks(app_id, id);

-- state: queued (due at next_at), sending (a request may be out: a crash sends
-- it again), delivered (payload dropped), failed (retried until since +
-- webhook_retry_for; the payload stays for an admin's retry). Finished ones are
-- deleted webhook_keep after finished_at.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id   INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event        TEXT NOT NULL,
    payload      BLOB,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    since        INTEGER NOT NULL,
    next_at      INTEGER,
    finished_at  INTEGER,
    last_status  INTEGER,
    last_error   TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE state = 'queued';
CREATE INDEX webhook_deliveries_sending ON webhook_deliveries(id) WHERE state = 'sending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhook_deliveries_hook_state ON webhook_deliveries(webhook_id, state);
-- push.finished: a push is finished once it is expanded and none of its
-- deliveries is still queued or sending; finished_at records that it was told.
ALTER TABLE pushes ADD COLUMN finished_at INTEGER;
CREATE INDEX deliveries_open ON deliveries(push_id) WHERE state = 'queued' OR state = 'sending';

CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(finished_at)
    WHERE finished_at IS NOT NULL;

-- The before-send hook (hooks/before_send.h): at most one per app, called with
-- each new message before it is stored; `fallback` decides when it cannot answer.
CREATE TABLE before_send_hooks (
    app_id       INTEGER PRIMARY KEY REFERENCES apps(id),
    url          TEXT NOT NULL,
    secret       BLOB NOT NULL,
    timeout_ms   INTEGER NOT NULL,
    fallback     TEXT NOT NULL CHECK (fallback = 'allow' OR fallback = 'reject'),
    updated_at   INTEGER NOT NULL
);

-- Bots (api/bots.c): users that sign in with an API key of their own (bot_id),
-- never with a password, and may have a webhook of their own for the messages
-- of their conversations (webhooks.bot_id).
ALTER TABLE users ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN bot_id INTEGER REFERENCES users(id) ON DELETE CASCADE;

-- The private AI assistant (hooks/assistant.h): per app, a bot answering with
-- an OpenAI-compatible endpoint. The endpoint's API key is sealed like a body.
CREATE TABLE assistants (
    app_id            INTEGER PRIMARY KEY REFERENCES apps(id),
    bot_id            INTEGER NOT NULL REFERENCES users(id),
    base_url          TEXT NOT NULL,
    model             TEXT NOT NULL,
    api_key           BLOB,
    system_prompt     TEXT,
    context_messages  INTEGER NOT NULL,
    user_per_minute   INTEGER NOT NULL,
    app_per_minute    INTEGER NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    enabled           INTEGER NOT NULL DEFAULT 1,
    updated_at        INTEGER NOT NULL
);

-- Streaming messages (chat/messages.c, msg_stream): while a message streams,
-- an append keeps all there was (the old text begins the new one), so a legal
-- hold keeps no version of it; a replace, which can take text away, is kept
-- like an edit.
DROP TRIGGER events_hold_keep_body;
CREATE TRIGGER events_hold_keep_body BEFORE UPDATE OF body ON events
WHEN old.body IS NOT NULL AND new.body IS NOT old.body
     AND NOT (typeof(old.body) = 'text' AND typeof(new.body) = 'blob')
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL
                 AND (h.conv_id = old.conv_id OR h.user_id = old.sender))
     AND NOT coalesce(new.body IS NOT NULL
              AND json_extract(old.meta, '$.streaming') IS 1
              AND json_extract(new.meta, '$.streaming') IS 1
              AND instr(json_extract(pipit_unseal(new.body, new.conv_id, new.seq), '$.text'),
                        json_extract(pipit_unseal(old.body, old.conv_id, old.seq), '$.text')) = 1,
              0)
BEGIN
    INSERT INTO held_versions (event_id, conv_id, seq, sender, body, replaced_at, change)
    VALUES (old.id, old.conv_id, old.seq, old.sender,
            pipit_seal(pipit_unseal(old.body, old.conv_id, old.seq), old.conv_id, -old.seq),
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
            CASE WHEN new.body IS NULL THEN 'recall' ELSE 'edit' END);
END;
