/*
 * query.h: turns what a user typed into the search box into an FTS5 MATCH expression
 * for a table that uses the "pipit" tokenizer (search/tokenizer.h).
 *
 * The text is split on whitespace (ASCII and the ideographic space U+3000) into at
 * most SEARCH_QUERY_MAX_TERMS terms, and every term must occur (implicit AND). Each
 * term becomes an FTS5 string, "..." with '"' doubled, so nothing the user types is
 * FTS5 syntax: AND, OR, NOT, NEAR(, *, ^, col: and parentheses are just text. A term
 * with several words or scripts ("iPhone手机", "e-mail") is a phrase: its parts must be
 * adjacent. CJK characters match wherever they appear (the index holds bigrams): a
 * term that ends with a run of one CJK character ("京", "abc京") gets a trailing *,
 * the prefix of the bigrams that character starts. Every other term matches whole
 * words only: "cat" does not find "concatenate", and there is no prefix search on
 * Latin words. A term with nothing
 * to index (punctuation, symbols, emoji) is dropped.
 *
 * Thread-safe: no state. Errors: PIPIT_EBAD_REQUEST with *why (why may be NULL) for
 * text longer than SEARCH_QUERY_MAX_BYTES, more terms than SEARCH_QUERY_MAX_TERMS,
 * text that is not UTF-8, or nothing left to search for; or the error of appending
 * to out (its cap). On failure out is untouched; on success the expression is
 * appended to it.
 */
#ifndef PIPIT_SEARCH_QUERY_H
#define PIPIT_SEARCH_QUERY_H

#include "util/buf.h"

#define SEARCH_QUERY_MAX_BYTES 256
#define SEARCH_QUERY_MAX_TERMS 16
/* The longest expression search_query_build can append: every byte a '"', doubled,
 * and each term's quotes, star and separating space. */
#define SEARCH_QUERY_MAX_EXPR (2 * SEARCH_QUERY_MAX_BYTES + 4 * SEARCH_QUERY_MAX_TERMS)

int search_query_build(const char *user_text, struct buf *out, const char **why);

#endif
