-- Apps (tenants), users and session tokens.
-- Every row that belongs to an app carries its app id.

CREATE TABLE apps (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    app_id         INTEGER NOT NULL REFERENCES apps(id),
    username       TEXT NOT NULL COLLATE NOCASE,
    password_hash  TEXT NOT NULL,
    display_name   TEXT,
    role           TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at     INTEGER NOT NULL,
    UNIQUE (app_id, username)
);

-- A token is a random selector (looked up by index) and a verifier whose hash
-- is compared in constant time: the database never holds a usable token.
CREATE TABLE tokens (
    id             INTEGER PRIMARY KEY,
    app_id         INTEGER NOT NULL REFERENCES apps(id),
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    selector       BLOB NOT NULL UNIQUE,
    verifier_hash  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE INDEX tokens_expiry ON tokens(expires_at);

INSERT INTO apps (id, name, created_at) VALUES (1, 'default', CAST(strftime('%s', 'now') AS INTEGER) * 1000);
