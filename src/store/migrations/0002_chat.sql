-- Conversations, their members and their timelines.

CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    app_id        INTEGER NOT NULL REFERENCES apps(id),
    type          TEXT NOT NULL CHECK (type IN ('direct', 'group')),
    -- "lo:hi" user ids of a direct conversation: at most one per pair.
    direct_key    TEXT UNIQUE,
    title         TEXT,
    avatar_url    TEXT,
    description   TEXT,
    announcement  TEXT,
    muted_all     INTEGER NOT NULL DEFAULT 0,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    last_ts       INTEGER NOT NULL,
    created_by    INTEGER NOT NULL REFERENCES users(id),
    created_at    INTEGER NOT NULL
);

-- A member row stays after leaving (left_seq set), so sync can say "removed"
-- and a kicked member is told apart from a stranger.
CREATE TABLE members (
    conv_id        INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_seq     INTEGER NOT NULL,  -- first seq the member may see
    left_seq       INTEGER,           -- NULL while a member
    read_seq       INTEGER NOT NULL DEFAULT 0,
    delivered_seq  INTEGER NOT NULL DEFAULT 0,
    muted_until    INTEGER NOT NULL DEFAULT 0,
    joined_at      INTEGER NOT NULL,
    PRIMARY KEY (conv_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members(user_id, conv_id);

-- The timeline: every event has a gapless seq in its conversation. body holds
-- the current state (an edit rewrites the message's body; a recall clears it).
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    conv_id    INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,     -- message, edit, recall, member, conv_updated
    sender     INTEGER NOT NULL,
    ts         INTEGER NOT NULL,
    cmid       TEXT,
    target     INTEGER,           -- seq an edit or recall points at
    body       TEXT,              -- JSON object
    meta       TEXT,              -- JSON object: reply_to, mentions, action, user, …
    edited_at  INTEGER,
    recalled   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (conv_id, seq)
);
-- Exactly-once sending: one event per (sender, cmid).
CREATE UNIQUE INDEX events_cmid ON events(sender, cmid) WHERE cmid IS NOT NULL;

-- Delete-for-me: events a user hid from their own view.
CREATE TABLE hidden_events (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_id  INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, event_id)
) WITHOUT ROWID;
