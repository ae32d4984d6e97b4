/*
 * tokenizer.h: the "pipit" FTS5 tokenizer, which indexes message text for search.
 *
 * Chinese, Japanese and Korean are written without spaces between words, so a
 * run of those characters is indexed as overlapping bigrams (with a marked
 * character at the run's end); every other script goes through SQLite's own
 * "unicode61" tokenizer (remove_diacritics 2), so Latin, Cyrillic, Greek... are
 * matched by whole words, case-folded and without accents. Full-width ASCII
 * ("ＨＥＬＬＯ") and the ideographic space are folded first. The design note, the
 * token layout and what highlight() does with it are at the top of tokenizer.c.
 *
 * Ownership: nothing to free; the tokenizer lives as long as the connection.
 * Threads: register once per connection, right after opening it; after that the
 * tokenizer runs on whichever thread uses the connection (SQLite's rules).
 * Errors: 0 or PIPIT_ESTORE.
 */
#ifndef PIPIT_SEARCH_TOKENIZER_H
#define PIPIT_SEARCH_TOKENIZER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The name to use in CREATE VIRTUAL TABLE ... USING fts5(..., tokenize='pipit'). */
#define SEARCH_TOKENIZER_NAME "pipit"

/* The token layout this tokenizer makes; an index made with another is rebuilt
 * (store_search_enable). Bump it with every change to what a text becomes. */
#define SEARCH_LAYOUT 2

/* The snippet function registered with the tokenizer (snippet.c): use it instead of
 * FTS5's snippet(), which garbles overlapping matches:
 * pipit_snippet(table, column, open, close, ellipsis, tokens). */
#define SEARCH_SNIPPET_NAME "pipit_snippet"

/*
 * Registers the tokenizer, and SEARCH_SNIPPET_NAME, on db. With key (SEARCH_INDEX_KEY_LEN bytes, borrowed
 * for the connection's life; NULL: none) every term is a keyed hash (SipHash-2-4)
 * of the token, so the index holds no text (encryption at rest; tokenizer.c).
 * 0, or PIPIT_ESTORE (FTS5 missing, or SQLite refused).
 */
#define SEARCH_INDEX_KEY_LEN 16
int search_tokenizer_register(sqlite3 *db, const uint8_t *key);

/* ---- shared inside src/search only ---- */

/* Stands for a byte that does not start a valid UTF-8 sequence (a separator). */
#define SEARCH__INVALID UINT32_MAX

/*
 * Decodes the character at s (n > 0 bytes readable) and folds it: full-width ASCII
 * U+FF01..U+FF5E to U+0021..U+007E, the ideographic space U+3000 to U+0020.
 * Returns the bytes it covers (1..4, never more than n). An overlong form, a
 * surrogate, a value past U+10FFFF or a truncated sequence covers one byte and
 * decodes to SEARCH__INVALID.
 */
size_t search__next_char(const unsigned char *s, size_t n, uint32_t *cp);

/* Whether cp (already folded) belongs to a CJK run: Han, kana, Hangul. */
int search__is_cjk(uint32_t cp);

/* Registers SEARCH_SNIPPET_NAME with FTS5: 0 or -1. */
int search__snippet_register(fts5_api *api);

#endif
