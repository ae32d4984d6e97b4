-- Sending pushes: who a push goes to (topics, tags), the pushes, and one row per
-- delivery (the outbox): the state of every user × channel the push was expanded to.

CREATE TABLE topic_subscriptions (
    app_id   INTEGER NOT NULL REFERENCES apps(id),
    topic    TEXT NOT NULL,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, topic, user_id)
) WITHOUT ROWID;
CREATE INDEX topic_subscriptions_user ON topic_subscriptions(user_id);

CREATE TABLE user_tags (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
CREATE INDEX user_tags_pair ON user_tags(name, value, user_id);

-- Expanded in chunks in user-id order: `cursor` is the last user done, so a
-- restart resumes where the last committed chunk ended.
CREATE TABLE pushes (
    id            INTEGER PRIMARY KEY,
    app_id        INTEGER NOT NULL REFERENCES apps(id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    target        TEXT NOT NULL,     -- JSON: {"users":[ids]} | {"topic"} | {"tags"} | {"all"}
    notification  TEXT NOT NULL,     -- JSON
    priority      TEXT NOT NULL,
    collapse_key  TEXT,
    dedup_key     TEXT,
    state         TEXT NOT NULL CHECK (state IN ('expanding', 'done')),
    cursor        INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX pushes_dedup ON pushes(app_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX pushes_expanding ON pushes(id) WHERE state = 'expanding';

-- channel: inapp, webpush, apns, fcm, unifiedpush, or none (nothing to send to).
CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    push_id       INTEGER NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    device_id     INTEGER,
    channel       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed', 'expired', 'suppressed')),
    reason        TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER,
    delivered_at  INTEGER,
    opened_at     INTEGER,
    clicked_at    INTEGER
);
CREATE INDEX deliveries_push ON deliveries(push_id, user_id);
CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 'queued';
