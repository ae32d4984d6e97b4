-- Two things indexing did per message go: together with the store's own
-- changes they halve what search costs sending (bench/RESULTS.md, 2026-12-02).
--
-- New messages reach the search index by id: each flush indexes the messages
-- stored past indexed_upto, then moves it to the newest event. The queue keeps
-- only changes to messages (edits, recalls, deletions) and a message stored
-- under an id a deletion freed at or below indexed_upto (store_event_insert):
-- no more trigger row per message, written and deleted in the same batch.
ALTER TABLE search_layout ADD COLUMN indexed_upto INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER IF EXISTS message_search_insert;

-- No per-message size row (columnsize=0): bm25 measures the few messages it
-- ranks (SEARCH_WINDOW) from their text instead. The index is made again at
-- the next start (layout 0 is never current: store_search_enable rebuilds it).
DROP TABLE message_search;
CREATE VIRTUAL TABLE message_search USING fts5(
    text, name, conv, content = 'message_text', content_rowid = 'id', tokenize = 'pipit',
    columnsize = 0);
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 16);
INSERT INTO message_search (message_search, rank) VALUES ('crisismerge', 64);
UPDATE search_layout SET version = 0;
