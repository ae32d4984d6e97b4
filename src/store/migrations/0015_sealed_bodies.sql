-- Encryption at rest (issue 6): message bodies, held versions and push
-- notifications may be sealed (a BLOB: keys/keyring.h) or, without a master
-- key, plain text. Everything SQL reads out of a body goes through
-- pipit_unseal(body, conv_id, seq), registered on every connection
-- (store_sqlite.c), which opens a sealed body and passes text through. A
-- sealed body is a BLOB in a TEXT column: SQLite keeps it as it is.
--
-- Triggers that act on a change of a body act only on a change of its
-- content: sealing an old plain body (store_seal_plain) rewrites the column
-- but changes nothing a member, a hold or a file share can see.
DROP VIEW message_text;
CREATE VIEW message_text (id, text, name, conv) AS
    SELECT id, pipit_unseal(body, conv_id, seq) ->> '$.text',
           pipit_unseal(body, conv_id, seq) ->> '$.name', 'c' || conv_id
    FROM events WHERE kind = 'message' AND body IS NOT NULL;

-- Made again, with the body read through pipit_unseal, by the server at start
-- (store_search_enable), which rebuilds the index then.
DROP TRIGGER IF EXISTS message_search_insert;
DROP TRIGGER IF EXISTS message_search_update;
DROP TRIGGER IF EXISTS message_search_delete;

DROP TRIGGER file_shares_insert;
CREATE TRIGGER file_shares_insert AFTER INSERT ON events
WHEN new.kind = 'message'
     AND json_type(pipit_unseal(new.body, new.conv_id, new.seq), '$.file') = 'integer'
BEGIN
    INSERT OR IGNORE INTO file_shares (file_id, event_id, conv_id, seq)
    SELECT id, new.id, new.conv_id, new.seq FROM files
    WHERE id = pipit_unseal(new.body, new.conv_id, new.seq) ->> '$.file';
END;

DROP TRIGGER file_shares_update;
CREATE TRIGGER file_shares_update AFTER UPDATE OF body ON events
WHEN old.kind = 'message'
     AND pipit_unseal(old.body, old.conv_id, old.seq)
         IS NOT pipit_unseal(new.body, new.conv_id, new.seq)
BEGIN
    DELETE FROM file_shares WHERE event_id = old.id;
    INSERT OR IGNORE INTO file_shares (file_id, event_id, conv_id, seq)
    SELECT id, new.id, new.conv_id, new.seq FROM files
    WHERE new.body IS NOT NULL
      AND json_type(pipit_unseal(new.body, new.conv_id, new.seq), '$.file') = 'integer'
      AND id = pipit_unseal(new.body, new.conv_id, new.seq) ->> '$.file';
END;

DROP TRIGGER events_hold_keep_body;
CREATE TRIGGER events_hold_keep_body BEFORE UPDATE OF body ON events
WHEN old.body IS NOT NULL
     AND pipit_unseal(new.body, new.conv_id, new.seq)
         IS NOT pipit_unseal(old.body, old.conv_id, old.seq)
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL
                 AND (h.conv_id = old.conv_id OR h.user_id = old.sender))
BEGIN
    INSERT INTO held_versions (event_id, conv_id, seq, sender, body, replaced_at, change)
    VALUES (old.id, old.conv_id, old.seq, old.sender, old.body,
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
