-- Files (issue 8): uploads, stored once per content, and where they were shared.

-- One row per distinct content, kept on disk under its SHA-256
-- (data_dir/files/ab/cd/abcd…). A blob lives while some file refers to it.
CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,   -- lowercase hex: the name on disk
    size        INTEGER NOT NULL,
    mime        TEXT NOT NULL,      -- sniffed from the content, never the client's word
    width       INTEGER,            -- images whose header could be read
    height      INTEGER,
    -- The thumbnail: none (not an image, or too big), pending, ready or failed.
    thumb       TEXT NOT NULL DEFAULT 'none',
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX blobs_thumb_pending ON blobs(sha256) WHERE thumb = 'pending';

-- An upload: whose it is and the name it was sent with. Identical uploads
-- share one blob. AUTOINCREMENT: an id in an old message never names a newer file.
CREATE TABLE files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      INTEGER NOT NULL REFERENCES apps(id),
    owner       INTEGER NOT NULL REFERENCES users(id),
    sha256      TEXT NOT NULL REFERENCES blobs(sha256),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_owner ON files(owner, id);

-- Each message whose body refers to a file ("file": id). The members of
-- conv_id who can see seq may download it. Kept by the triggers below, so
-- every path that changes a message (send, edit, recall, deleting a
-- conversation, retention, erasure) keeps it right.
CREATE TABLE file_shares (
    file_id   INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    event_id  INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    conv_id   INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (file_id, event_id)
) WITHOUT ROWID;
CREATE INDEX file_shares_event ON file_shares(event_id);

CREATE TRIGGER file_shares_insert AFTER INSERT ON events
WHEN new.kind = 'message' AND json_type(new.body, '$.file') = 'integer'
BEGIN
    INSERT OR IGNORE INTO file_shares (file_id, event_id, conv_id, seq)
    SELECT id, new.id, new.conv_id, new.seq FROM files
    WHERE id = json_extract(new.body, '$.file');
END;

CREATE TRIGGER file_shares_update AFTER UPDATE OF body ON events
WHEN old.kind = 'message'
BEGIN
    DELETE FROM file_shares WHERE event_id = old.id;
    INSERT OR IGNORE INTO file_shares (file_id, event_id, conv_id, seq)
    SELECT id, new.id, new.conv_id, new.seq FROM files
    WHERE new.body IS NOT NULL AND json_type(new.body, '$.file') = 'integer'
      AND id = json_extract(new.body, '$.file');
END;

-- Per-app settings the admin console changes: the largest upload (NULL: max_file_size).
ALTER TABLE apps ADD COLUMN max_file_size INTEGER;
