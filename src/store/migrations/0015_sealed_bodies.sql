-- Encryption at rest (issue 6): message bodies, held versions and push
-- notifications and variants may be sealed (a BLOB: keys/keyring.h) or,
-- without a master key, plain text. Everything SQL reads out of them goes
-- through pipit_unseal(value, a, b), registered on every connection
-- (store_sqlite.c), which opens a sealed value bound to its place (a, b) and
-- passes text through (but not in a sealed database). A sealed value is a
-- BLOB in a TEXT column: SQLite keeps it as it is.
--
-- Triggers that act on a change of a body ignore the change that only seals
-- it (TEXT to BLOB: store_seal_plain, before pipitd serves anything), and do
-- not open bodies: a body that does not open must not stop an erasure or a
-- retention sweep.
-- The index's content: a body that does not open (altered on disk) reads as
-- NULL here (pipit_unseal's lenient form), so that a rebuild of the index
-- leaves it out instead of failing; reads of the messages still fail on it.
DROP VIEW message_text;
CREATE VIEW message_text (id, text, name, conv) AS
    SELECT id, b ->> '$.text', b ->> '$.name', conv
    FROM (SELECT id, pipit_unseal(body, conv_id, seq, 1) AS b, 'c' || conv_id AS conv
          FROM events WHERE kind = 'message' AND body IS NOT NULL);

-- Made again by the server at start (store_search_enable), which rebuilds the
-- index then; the queue now keeps an old body as it is stored (sealed), and
-- the writer opens it when it applies the queue.
DROP TRIGGER IF EXISTS message_search_insert;
DROP TRIGGER IF EXISTS message_search_update;
DROP TRIGGER IF EXISTS message_search_delete;
DROP TABLE search_queue;
CREATE TABLE search_queue (
    seq        INTEGER PRIMARY KEY,
    op         INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    body,                       -- op 0: the body it was indexed with, as stored
    conv_id    INTEGER,
    event_seq  INTEGER
);

DROP TRIGGER file_shares_update;
CREATE TRIGGER file_shares_update AFTER UPDATE OF body ON events
WHEN old.kind = 'message' AND NOT (typeof(old.body) = 'text' AND typeof(new.body) = 'blob')
BEGIN
    DELETE FROM file_shares WHERE event_id = old.id;
    INSERT OR IGNORE INTO file_shares (file_id, event_id, conv_id, seq)
    SELECT id, new.id, new.conv_id, new.seq FROM files
    WHERE new.body IS NOT NULL
      AND json_type(pipit_unseal(new.body, new.conv_id, new.seq), '$.file') = 'integer'
      AND id = pipit_unseal(new.body, new.conv_id, new.seq) ->> '$.file';
END;

DROP TRIGGER file_shares_insert;
CREATE TRIGGER file_shares_insert AFTER INSERT ON events
WHEN new.kind = 'message'
     AND json_type(pipit_unseal(new.body, new.conv_id, new.seq), '$.file') = 'integer'
BEGIN
    INSERT OR IGNORE INTO file_shares (file_id, event_id, conv_id, seq)
    SELECT id, new.id, new.conv_id, new.seq FROM files
    WHERE id = pipit_unseal(new.body, new.conv_id, new.seq) ->> '$.file';
END;

-- A held version is sealed again for its own place (the message's, with the
-- seq negated: store_internal.h HELD_BODY), so that it cannot be put back in
-- the message to undo an edit or a recall.
DROP TRIGGER events_hold_keep_body;
CREATE TRIGGER events_hold_keep_body BEFORE UPDATE OF body ON events
WHEN old.body IS NOT NULL AND new.body IS NOT old.body
     AND NOT (typeof(old.body) = 'text' AND typeof(new.body) = 'blob')
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL
                 AND (h.conv_id = old.conv_id OR h.user_id = old.sender))
BEGIN
    INSERT INTO held_versions (event_id, conv_id, seq, sender, body, replaced_at, change)
    VALUES (old.id, old.conv_id, old.seq, old.sender,
            pipit_seal(pipit_unseal(old.body, old.conv_id, old.seq), old.conv_id, -old.seq),
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
            CASE WHEN new.body IS NULL THEN 'recall' ELSE 'edit' END);
END;

-- One row once this database's bodies are sealed: those written before the
-- master key was configured were sealed at the start that first had it
-- (store_seal_plain), and every one since was sealed as it was written. A
-- server started without the master key refuses a database with this row.
CREATE TABLE encryption (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sealed_at  INTEGER NOT NULL     -- ms
);
