-- Full-text search over messages (issue 8).
--
-- The index holds only tokens: the text stays in events.body, read through
-- this view (FTS5 "external content"), so nothing is stored twice. Tokens come
-- from the "pipit" tokenizer (search/tokenizer.c): words for Latin text,
-- trigrams with bigram and unigram edges for Chinese, Japanese and Korean.
-- The triggers that keep the index in step with events are created and dropped
-- by the server according to the `search` setting (store_search_enable). They
-- do not write the index: they queue each change (search_queue), and the store
-- writer applies the queue once per batch, just before COMMIT (store_search_flush).
-- FTS5 writes its pending terms out as a new segment at every savepoint, and
-- every write job runs in one: indexing from the triggers cost a segment, and
-- its merging, per message.
--
-- `conv` holds one token per message, "c<conversation id>": a search in one
-- conversation ANDs it to the words, so FTS5 skips the other conversations'
-- matches itself.
CREATE VIEW message_text (id, text, name, conv) AS
    SELECT id, json_extract(body, '$.text'), json_extract(body, '$.name'), 'c' || conv_id
    FROM events WHERE kind = 'message' AND body IS NOT NULL;

CREATE VIRTUAL TABLE message_search USING fts5(
    text, name, conv, content = 'message_text', content_rowid = 'id', tokenize = 'pipit');

-- Every batch adds a small segment; FTS5 merges 4 of a level by default, which
-- rewrote each entry about five times on its way up (30% of the send rate in
-- bench/search.sh). 16 writes each entry half as often, for more segments to
-- read per search (still well inside the latency target: bench/RESULTS.md).
-- crisismerge (merge a whole level at once, in one batch) must stay well above
-- it: at its default of 16 every level's merge was a crisis, and the batch
-- that ran it held sends for most of a second.
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 16);
INSERT INTO message_search (message_search, rank) VALUES ('crisismerge', 64);

-- Messages whose index entries must change, in order. op 1: index it as it
-- is at the flush; op 0: it was indexed with these values (FTS5's 'delete'
-- needs them), captured before an edit, a recall or a deletion.
CREATE TABLE search_queue (
    seq   INTEGER PRIMARY KEY,
    op    INTEGER NOT NULL,
    id    INTEGER NOT NULL,
    text,
    name,
    conv  TEXT
);
