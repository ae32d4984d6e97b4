/*
 * query.c: the MATCH expression for what a user typed (see query.h).
 *
 * Which characters unicode61 indexes is guessed here without SQLite, from a small
 * table, and each decision errs the harmless way. A term is dropped only when no
 * character might be indexed: FTS5 ignores a phrase that yields no token when
 * other terms are present, so a wrongly kept term costs nothing. A term gets its *
 * when it ends with a run of one CJK character that nothing surely a word follows:
 * the tokenizer then hands that character plain, the prefix of the bigrams it
 * starts. A needless * (after it, a character unicode61 indexes after all) only
 * turns that word of an odd script into a prefix; a missing one would lose every
 * match.
 */
#include "search/query.h"

#include <stdint.h>
#include <string.h>

#include "search/tokenizer.h"
#include "util/err.h"

/* What one term holds, after folding. */
struct term_shape {
    int maybe_word; /* a character unicode61 might index */
    int cjk_runs;
    int last_run;   /* characters in the last CJK run */
    int sure_after; /* a sure word character after the last CJK run */
};

/* Blocks whose characters unicode61 treats as separators (punctuation, symbols). */
static int is_symbol_block(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        { 0x0300, 0x036F },   /* combining diacritics: nothing on their own */
        { 0x2000, 0x206F },   /* general punctuation, zero-width characters */
        { 0x20A0, 0x20FF },   /* currency, combining marks for symbols */
        { 0x2190, 0x245F },   /* arrows, mathematical operators, technical, OCR */
        { 0x2500, 0x2BFF },   /* box drawing, shapes, dingbats, misc symbols */
        { 0x2E00, 0x2E7F },   /* supplemental punctuation */
        { 0x3000, 0x303F },   /* CJK punctuation (its letters are CJK, checked first) */
        { 0xFE00, 0xFE6F },   /* variation selectors, vertical and small forms */
        { 0xFF5F, 0xFF65 },   /* full-width punctuation left after folding (U+FF00, unassigned, is a word to unicode61) */
        { 0xFFE0, 0xFFFF },   /* full-width symbols, specials */
        { 0x1F000, 0x1FAFF }, /* emoji and pictographs */
        { 0xE0000, 0xE007F }, /* tags */
    };

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) {
            return 1;
        }
    }
    return 0;
}

static int maybe_word_char(uint32_t cp)
{
    if (cp < 0x80) {
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    }
    if (cp < 0xC0) { /* Latin-1: ª µ º ² ³ ¹ ¼ ½ ¾ are letters or numbers */
        return cp == 0xAA || cp == 0xB5 || cp == 0xBA || cp == 0xB2 || cp == 0xB3 ||
               cp == 0xB9 || (cp >= 0xBC && cp <= 0xBE);
    }
    if (cp == 0xD7 || cp == 0xF7) {
        return 0;
    }
    return !is_symbol_block(cp);
}

/* Characters unicode61 surely indexes: ASCII letters and digits, and the letters of
 * the Latin, Greek and Cyrillic blocks most text uses. */
static int sure_word_char(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        { '0', '9' }, { 'A', 'Z' }, { 'a', 'z' },
        { 0x00C0, 0x00D6 }, { 0x00D8, 0x00F6 }, { 0x00F8, 0x024F }, /* Latin */
        { 0x0391, 0x03A1 }, { 0x03A3, 0x03CE },                      /* Greek */
        { 0x0400, 0x0481 }, { 0x048A, 0x052F },                      /* Cyrillic */
    };

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) {
            return 1;
        }
    }
    return 0;
}


static struct term_shape term_shape_of(const unsigned char *s, size_t n)
{
    struct term_shape t = { 0, 0, 0, 0 };
    int in_run = 0;

    for (size_t at = 0; at < n;) {
        uint32_t cp;

        at += search__next_char(s + at, n - at, &cp);
        if (search__is_cjk(cp)) {
            if (!in_run) {
                t.cjk_runs++;
                t.last_run = 0;
                t.sure_after = 0;
            }
            t.last_run++;
            in_run = 1;
            continue;
        }
        in_run = 0;
        t.maybe_word |= cp != SEARCH__INVALID && maybe_word_char(cp);
        t.sure_after |= sure_word_char(cp);
    }
    return t;
}

/* Ends with one CJK character: matched as the prefix of the bigrams it starts. */
static int prefix_term(struct term_shape t)
{
    return t.cjk_runs > 0 && t.last_run == 1 && !t.sure_after;
}

static int is_utf8(const unsigned char *s, size_t n)
{
    for (size_t at = 0; at < n;) {
        uint32_t cp;

        at += search__next_char(s + at, n - at, &cp);
        if (cp == SEARCH__INVALID) {
            return 0;
        }
    }
    return 1;
}

/* Bytes of whitespace at s: an ASCII space or control space, or U+3000. */
static size_t space_at(const unsigned char *s, size_t n)
{
    if (*s == ' ' || (*s >= '\t' && *s <= '\r')) {
        return 1;
    }
    return n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80 ? 3 : 0;
}

/* Appends the term as an FTS5 string, "..." with '"' doubled, then * if asked. */
static int append_term(struct buf *q, const char *s, size_t n, int prefix)
{
    int rc = buf_append(q, q->len ? " \"" : "\"", q->len ? 2 : 1);

    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = buf_append(q, s[i] == '"' ? "\"\"" : s + i, s[i] == '"' ? 2 : 1);
    }
    return rc ? rc : buf_append(q, prefix ? "\"*" : "\"", prefix ? 2 : 1);
}

static int build(const unsigned char *s, size_t n, struct buf *q, const char **why)
{
    int terms = 0;

    for (size_t at = 0; at < n;) {
        size_t start, sp;
        struct term_shape t;
        int rc;

        if ((sp = space_at(s + at, n - at)) > 0) {
            at += sp;
            continue;
        }
        for (start = at; at < n && space_at(s + at, n - at) == 0; at++) {
        }
        if (++terms > SEARCH_QUERY_MAX_TERMS) {
            *why = "the query has more than 16 words";
            return PIPIT_EBAD_REQUEST;
        }
        t = term_shape_of(s + start, at - start);
        if (!t.maybe_word && t.cjk_runs == 0) {
            continue; /* nothing to index: dropped */
        }
        rc = append_term(q, (const char *)s + start, at - start, prefix_term(t));
        if (rc != 0) {
            *why = "the query is too long";
            return rc;
        }
    }
    if (q->len == 0) {
        *why = "the query has nothing to search for";
        return PIPIT_EBAD_REQUEST;
    }
    return 0;
}

int search_query_build(const char *user_text, struct buf *out, const char **why)
{
    const unsigned char *s = (const unsigned char *)user_text;
    size_t n = strlen(user_text);
    const char *reason = NULL;
    struct buf q;
    int rc;

    if (n > SEARCH_QUERY_MAX_BYTES) {
        reason = "the query is longer than 256 bytes";
        rc = PIPIT_EBAD_REQUEST;
        goto out;
    }
    if (!is_utf8(s, n)) {
        reason = "the query is not valid UTF-8";
        rc = PIPIT_EBAD_REQUEST;
        goto out;
    }
    buf_init(&q, SEARCH_QUERY_MAX_EXPR);
    rc = build(s, n, &q, &reason);
    if (rc == 0) {
        rc = buf_append(out, q.data, q.len);
        reason = rc ? "no room for the search expression" : NULL;
    }
    buf_cleanup(&q);
out:
    if (rc != 0 && why != NULL) {
        *why = reason;
    }
    return rc;
}
