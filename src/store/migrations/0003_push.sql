-- API keys for business servers, and the devices push notifications go to.

-- A key is "pk_" + selector + verifier, like a session token: the row keeps the
-- selector and a hash of the verifier, never a usable key.
CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY,
    app_id         INTEGER NOT NULL REFERENCES apps(id),
    name           TEXT NOT NULL,
    scopes         INTEGER NOT NULL,     -- bits: 1 push, 2 users, 4 admin
    selector       BLOB NOT NULL UNIQUE,
    verifier_hash  BLOB NOT NULL,
    created_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
);

-- One row per (app, platform, address): registering the same token or endpoint
-- again updates the row and moves it to the user who registered it last.
CREATE TABLE devices (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id),
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform    TEXT NOT NULL CHECK (platform IN ('webpush', 'apns', 'fcm', 'unifiedpush')),
    address     TEXT NOT NULL,   -- APNs/FCM token, or the Web Push/UnifiedPush endpoint
    topic       TEXT,            -- APNs bundle id
    p256dh      BLOB,            -- Web Push / UnifiedPush encryption keys
    auth        BLOB,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (app_id, platform, address)
);
CREATE INDEX devices_user ON devices(user_id, updated_at);
