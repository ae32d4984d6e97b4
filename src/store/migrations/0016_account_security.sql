-- Sessions a user can recognise, and two-factor authentication (TOTP, RFC 6238).

-- What a session list shows: the client's name for itself (or its User-Agent),
-- the address it last came from and when. NULL last_seen_at: not seen since login.
-- Ids are never reused (AUTOINCREMENT): WebSockets and revocations name their
-- session by id, and a new session must not take the id of one just ended.
CREATE TABLE tokens_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id         INTEGER NOT NULL REFERENCES apps(id),
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    selector       BLOB NOT NULL UNIQUE,
    verifier_hash  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    device         TEXT,
    ip             TEXT,
    last_seen_at   INTEGER
);
-- Sessions from before count as seen at the upgrade: idle expiry starts from there.
INSERT INTO tokens_new (id, app_id, user_id, selector, verifier_hash, created_at, expires_at,
                        last_seen_at)
    SELECT id, app_id, user_id, selector, verifier_hash, created_at, expires_at,
           CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_user ON tokens(user_id);
CREATE INDEX tokens_expiry ON tokens(expires_at);

-- The TOTP secret (base32 text; sealed like a body when encryption at rest is
-- on, at the place (0, -user id)), set when enrolment begins; enabled once a
-- code from it was confirmed. mfa_last_step: the newest time step a code was
-- accepted for, so no code works twice.
ALTER TABLE users ADD COLUMN mfa_secret;
ALTER TABLE users ADD COLUMN mfa_enabled_at INTEGER;
ALTER TABLE users ADD COLUMN mfa_last_step INTEGER NOT NULL DEFAULT 0;

-- One-time recovery codes: only a hash of each is kept (80 random bits each:
-- a fast hash is enough), deleted when used.
CREATE TABLE mfa_recovery_codes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL
);
CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes(user_id);

-- Who must use MFA in an app: nobody, its admins, or everyone.
ALTER TABLE apps ADD COLUMN mfa_required TEXT NOT NULL DEFAULT 'off'
    CHECK (mfa_required IN ('off', 'admins', 'all'));
