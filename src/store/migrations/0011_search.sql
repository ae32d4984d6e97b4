-- Full-text search over messages (issue 8).
--
-- The index holds only tokens: the text stays in events.body, read through
-- this view (FTS5 "external content"), so nothing is stored twice. Tokens come
-- from the "pipit" tokenizer (search/tokenizer.c): words for Latin text,
-- trigrams with bigram and unigram edges for Chinese, Japanese and Korean.
-- The triggers that keep the index in step with events are created and dropped
-- by the server according to the `search` setting (store_search_enable).
--
-- `conv` holds one token per message, "c<conversation id>": a search in one
-- conversation ANDs it to the words, so FTS5 skips the other conversations'
-- matches itself.
CREATE VIEW message_text (id, text, name, conv) AS
    SELECT id, json_extract(body, '$.text'), json_extract(body, '$.name'), 'c' || conv_id
    FROM events WHERE kind = 'message' AND body IS NOT NULL;

CREATE VIRTUAL TABLE message_search USING fts5(
    text, name, conv, content = 'message_text', content_rowid = 'id', tokenize = 'pipit');
