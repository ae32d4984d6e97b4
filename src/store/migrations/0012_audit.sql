-- The audit log (issue 6): who did what to what, from where, and how it ended.
--
-- Append-only and hash-chained: each record holds the hash of the one before
-- (prev_hash) and its own (hash, over its fields and prev_hash: audit/audit.c),
-- so a changed, deleted or moved record breaks the chain at that point. The
-- triggers refuse changes made through SQL; the chain catches the rest.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- 1, 2, 3… without gaps
    ts          INTEGER NOT NULL,   -- ms since the epoch
    app_id      INTEGER NOT NULL,
    actor       TEXT NOT NULL,      -- user:<id>, key:<id>, anonymous, system, cli
    actor_name  TEXT,               -- the username or key name at the time
    ip          TEXT,
    action      TEXT NOT NULL,      -- e.g. auth.login, user.update, api_key.create
    target      TEXT,               -- e.g. user:7, conv:12, api_key:3
    outcome     TEXT NOT NULL,      -- ok, or the error code the caller got
    detail      TEXT,               -- a JSON object, or NULL
    prev_hash   BLOB NOT NULL,      -- 32 bytes; zeros before the first record
    hash        BLOB NOT NULL
);
CREATE INDEX audit_log_app ON audit_log(app_id, id);
CREATE INDEX audit_log_actor ON audit_log(app_id, actor, id);
CREATE INDEX audit_log_action ON audit_log(app_id, action, id);

-- Signed every so many records, every audit_checkpoint_interval and at stop:
-- the last record's id and hash under the data dir's Ed25519 key
-- (audit-signing.key). A checkpoint past the end of the log shows a truncation.
CREATE TABLE audit_checkpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          INTEGER NOT NULL,
    record_id   INTEGER NOT NULL,
    hash        BLOB NOT NULL,      -- that record's hash
    public_key  BLOB NOT NULL,      -- 32 bytes
    signature   BLOB NOT NULL       -- 64 bytes, over audit_checkpoint_message()
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
