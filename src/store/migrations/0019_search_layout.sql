-- The token layout the search index was made with (SEARCH_LAYOUT in
-- search/tokenizer.h). Queries are tokenized with the running server's layout,
-- so an index made with another one finds the wrong messages: at start,
-- store_search_enable rebuilds it from the stored messages and records the
-- layout. 1: trigrams with marked edges (migration 0011); 2: bigrams.
CREATE TABLE search_layout (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO search_layout (id, version) VALUES (1, 1);
