/*
 * tokenizer.c: the "pipit" FTS5 tokenizer (see tokenizer.h).
 *
 * Design. The text is read as UTF-8 and folded (full-width ASCII to ASCII, the
 * ideographic space to a space); a byte that is not valid UTF-8 is a separator.
 * Runs of CJK characters (Han, kana, Hangul: search__is_cjk) are tokenized here;
 * everything between them goes to SQLite's unicode61 tokenizer in one call, over a
 * folded copy of the text in which CJK characters and bad bytes are blanked out.
 * Every offset handed to FTS5 is a byte offset into the ORIGINAL text, because
 * highlight() and snippet() cut the original text with them; folding shortens the
 * copy, so each shortening leaves an anchor to map its offsets back.
 *
 * A CJK run c0..c(n-1) of a document becomes (+ = colocated, same position):
 *   n >= 2   the bigrams c(i)c(i+1), i = 0..n-2, one position each, then c(n-1)> at
 *            the next position
 *   n == 1   c0= +c0>
 * where a trailing '>' means "a run ends with this character" and '=' "this character
 * is the whole run". A query's run of two or more characters becomes its bigrams,
 * then c(n-1)> when a token follows it in the query string. A query's run of one
 * character becomes c= when tokens come before and after it, c> when one comes only
 * after it, and plain c otherwise, which search_query_build makes a prefix ("京"*).
 *
 * Why. Two adjacent characters are always one bigram, so a query of two characters
 * (the commonest Chinese search: most words are two characters) is one exact term,
 * a single list in the index; a longer one is the phrase of its bigrams. One
 * character alone is a prefix query: it reaches the bigrams that start with it,
 * and its '>' and '=' tokens where it ends a run. The end mark has a position of
 * its own, so a phrase crosses scripts exactly: "京abc" is 京> then abc, which
 * finds "北京abc" and not "京都abc"; "abc京" is abc then 京*, where the position
 * after abc holds the first bigram of a run (never an end mark), so it finds
 * "abc京都" and not "abc北京". Cost: one posting per CJK character, plus one for
 * a run of one.
 * A query of one character without the * finds only its '>' and '=' tokens:
 * always build queries with search_query_build.
 *
 * highlight() and snippet() mark, for each matched position, the first token
 * emitted there (colocated ones are ignored), so a match is marked at bigram
 * granularity: exact for Latin words and for CJK matches of two or more
 * characters; a one-character match is marked with the bigram it starts
 * ("我在[北京]大学" for 北), or alone at the end of a run. The marked range always
 * contains the match and is at most one character wider. Neighbouring positions
 * overlap (北京 0-6, 京大 3-9), which FTS5's own highlight() and snippet() garble
 * when both are matched ("谢"* in 谢谢你): search results use pipit_snippet
 * (snippet.c), which merges them. Knob: the table option
 * prefix='1' adds a prefix index (in characters) that makes one-character queries
 * a direct lookup, at the cost of index size (plain terms only: a hashed term's
 * prefixes are hashes, not characters).
 */
#include "search/tokenizer.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include "util/b64.h"
#include "util/err.h"
#include "util/utf8.h"
#include "util/mem.h"

/* ---- characters ---- */

static uint32_t fold(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
        return cp - 0xFEE0;
    }
    return cp == 0x3000 ? 0x20 : cp;
}

size_t search__next_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = utf8_decode(s, n, cp);

    if (len == 0) {
        *cp = SEARCH__INVALID;
        return 1;
    }
    *cp = fold(*cp);
    return len;
}

int search__is_cjk(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        { 0x1100, 0x11FF },   /* Hangul Jamo */
        { 0x3005, 0x3007 },   /* 々 〆 〇: letters among the CJK punctuation */
        { 0x3021, 0x3029 },   /* Hangzhou numerals */
        { 0x3031, 0x3035 },   /* kana repeat marks */
        { 0x3038, 0x303C },   /* more ideographic letters and numbers */
        { 0x3040, 0x30FF },   /* Hiragana, Katakana */
        { 0x3130, 0x318F },   /* Hangul compatibility Jamo */
        { 0x31F0, 0x31FF },   /* Katakana phonetic extensions */
        { 0x3400, 0x4DBF },   /* Han extension A */
        { 0x4E00, 0x9FFF },   /* Han */
        { 0xAC00, 0xD7AF },   /* Hangul syllables */
        { 0xF900, 0xFAFF },   /* Han compatibility */
        { 0xFF66, 0xFF9F },   /* halfwidth Katakana */
        { 0x20000, 0x2FA1F }, /* Han extensions B..F, compatibility supplement */
        { 0x30000, 0x323AF }, /* Han extensions G, H */
    };

    if (cp < 0x1100) {
        return 0; /* most text: skip the table */
    }
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) {
            return 1;
        }
    }
    return 0;
}

/* Bytes of the character whose (valid) lead byte is b. */
static int utf8_len(unsigned char b)
{
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* ---- the folded copy unicode61 reads ---- */

/* From norm on, the copy's offsets are the original's offsets minus (orig - norm). */
struct anchor {
    int norm;
    int orig;
};

struct view {
    char *text;              /* the original, folded, CJK and bad bytes blanked */
    int len;
    struct anchor *anchors;  /* ascending; one after each shortening fold */
    size_t nanchors;
    size_t cap;
};

static void view_anchor(struct view *v, int norm, int orig)
{
    if (v->nanchors == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->anchors = xrealloc(v->anchors, v->cap * sizeof(*v->anchors));
    }
    v->anchors[v->nanchors++] = (struct anchor){ norm, orig };
}

static void view_init(struct view *v, const char *text, int n)
{
    const unsigned char *s = (const unsigned char *)text;
    int at = 0, o = 0;

    memset(v, 0, sizeof(*v));
    v->text = xmalloc((size_t)n + 1);
    while (at < n) {
        uint32_t cp;
        int len = (int)search__next_char(s + at, (size_t)(n - at), &cp);

        if (cp == SEARCH__INVALID || search__is_cjk(cp)) {
            memset(v->text + o, ' ', (size_t)len);
            o += len;
        } else if (cp < 0x80 && len > 1) { /* a fold: one byte stands for len */
            v->text[o++] = (char)cp;
            view_anchor(v, o, at + len);
        } else {
            memcpy(v->text + o, s + at, (size_t)len);
            o += len;
        }
        at += len;
    }
    v->text[o] = '\0';
    v->len = o;
}

static void view_cleanup(struct view *v)
{
    free(v->text);
    free(v->anchors);
}

/* The original offset of the copy's offset x. */
static int view_original(const struct view *v, int x)
{
    size_t lo = 0, hi = v->nanchors; /* first anchor with norm > x */

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v->anchors[mid].norm <= x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return x;
    }
    return v->anchors[lo - 1].orig + (x - v->anchors[lo - 1].norm);
}

/* ---- one xTokenize call ---- */

/* Marks after a character, ASCII so that no other token can hold them. */
#define MARK_END '>'   /* a run ends with this character */
#define MARK_WHOLE '=' /* it is the whole run */

typedef int token_fn(void *ctx, int tflags, const char *token, int n, int start, int end);

struct pass {
    const char *text;     /* the original */
    int len;
    int document;         /* document or aux layout, else query */
    const struct view *view;
    void *fts_ctx;
    token_fn *emit_token;
    int cjk_done;         /* original bytes before this have had their CJK runs emitted */
    int emitted;          /* tokens passed to FTS5 so far */
    const uint8_t *key;   /* terms are keyed hashes (NULL: the tokens themselves) */
    int prefix;           /* a query for a prefix ("京"*) */
};

/* ---- hashed terms (encryption at rest) ---- */

/*
 * With a key, a term is never the token. A word becomes 'w' and SipHash-2-4 of it
 * (54 bits, 9 characters). A CJK token (a bigram, or a character with a mark)
 * becomes 'c', the hash of its first character (36 bits), then of all of it (48
 * bits): terms that start with the same character start alike, so the prefix
 * query of a one-character search works as it does on plain terms, and a search
 * hashes "京"* to 'c' and the first hash alone. Equal tokens, and tokens that start with the same characters, still
 * have equal hashes: the index shows how often unknown terms occur, not what.
 * The widths keep collisions (a stray hit) rare: among 20,000 distinct characters,
 * or ten million distinct words, about one chance in 300 that any two share a
 * hash; among five million character pairs, one in 20. Short terms keep the
 * index about the size of a plain one.
 */
#define HASHED_MAX (1 + 6 + 8)

/* The first `chars` (at most 10) characters of the keyed hash of s, base64url, into out. */
static char *put_hash(char *out, const uint8_t *key, const char *s, int n, int chars)
{
    uint8_t h[crypto_shorthash_BYTES];
    char text[B64_ENCODED_SIZE(crypto_shorthash_BYTES)];

    crypto_shorthash(h, (const unsigned char *)s, (unsigned long long)n, key);
    b64url_encode(text, h, sizeof(h));
    memcpy(out, text, (size_t)chars);
    return out + chars;
}

/* Bytes of the first `chars` characters of token (all of it when shorter). */
static int chars_len(const char *token, int n, int chars)
{
    int at = 0;

    while (at < n && chars-- > 0) {
        at += (unsigned char)token[at] < 0x80 ? 1 : utf8_len((unsigned char)token[at]);
    }
    return at < n ? at : n;
}

/* The hashed term of token into term (HASHED_MAX bytes); its length. prefix: only the
 * part a prefix query of this one CJK character looks for. */
static int hashed_term(const uint8_t *key, const char *token, int n, bool prefix, char *term)
{
    uint32_t cp = 0;
    char *out = term;
    int one;

    search__next_char((const unsigned char *)token, (size_t)n, &cp);
    if (!search__is_cjk(cp)) {
        *out++ = 'w';
        return (int)(put_hash(out, key, token, n, 9) - term);
    }
    one = chars_len(token, n, 1);
    *out++ = 'c';
    out = put_hash(out, key, token, one, 6);
    if (prefix && one == n) {
        return (int)(out - term);
    }
    return (int)(put_hash(out, key, token, n, 8) - term);
}

/* Hands a token to FTS5 as its term; prefix: it is the whole of a prefix query. */
static int forward_term(struct pass *p, int tflags, const char *token, int n, int start,
                        int end, bool prefix)
{
    char term[HASHED_MAX];

    p->emitted++;
    if (p->key == NULL) {
        return p->emit_token(p->fts_ctx, tflags, token, n, start, end);
    }
    n = hashed_term(p->key, token, n, prefix, term);
    return p->emit_token(p->fts_ctx, tflags, term, n, start, end);
}

static int forward(struct pass *p, int tflags, const char *token, int n, int start, int end)
{
    return forward_term(p, tflags, token, n, start, end, false);
}

static int emit(struct pass *p, int tflags, int start, int end)
{
    return forward(p, tflags, p->text + start, end - start, start, end);
}

/* One character, then mark: at most 5 bytes. */
static int emit_marked(struct pass *p, int tflags, int start, int end, char mark)
{
    char token[8];

    memcpy(token, p->text + start, (size_t)(end - start));
    token[end - start] = mark;
    return forward(p, tflags, token, end - start + 1, start, end);
}

static int char_end(const struct pass *p, int at)
{
    return at + utf8_len((unsigned char)p->text[at]);
}

/* A query's run of one character, marked by what stands beside it in this query
 * string; with nothing after it, plain (search_query_build makes it a prefix). */
static int emit_query_char(struct pass *p, int start, int end, int after)
{
    if (after) {
        return emit_marked(p, 0, start, end, p->emitted > 0 ? MARK_WHOLE : MARK_END);
    }
    /* The prefix search_query_build made: hashed terms look for it their own way. */
    return forward_term(p, 0, p->text + start, end - start, start, end, p->prefix != 0);
}

/* The run of n CJK characters at start, laid out as the design note says; after
 * tells whether a token will follow it (queries). */
static int emit_run(struct pass *p, int start, int n, int after)
{
    int s0 = start, s1 = char_end(p, s0);
    int rc = 0;

    if (n == 1 && !p->document) {
        return emit_query_char(p, s0, s1, after);
    }
    if (n == 1) {
        rc = emit_marked(p, 0, s0, s1, MARK_WHOLE);
        return rc ? rc : emit_marked(p, FTS5_TOKEN_COLOCATED, s0, s1, MARK_END);
    }
    for (int i = 1; i < n && rc == 0; i++) {
        int s2 = char_end(p, s1);

        rc = emit(p, 0, s0, s2);
        s0 = s1, s1 = s2;
    }
    /* s0..s1: the last character. */
    if (rc == 0 && (p->document || after)) {
        rc = emit_marked(p, 0, s0, s1, MARK_END);
    }
    return rc;
}

/* Whether a CJK character starts in the original text between at and limit. */
static int cjk_between(const struct pass *p, int at, int limit)
{
    const unsigned char *s = (const unsigned char *)p->text;

    while (at < limit) {
        uint32_t cp;

        at += (int)search__next_char(s + at, (size_t)(p->len - at), &cp);
        if (search__is_cjk(cp)) {
            return 1;
        }
    }
    return 0;
}

/* Emits the CJK runs that start in the original text before limit; word_follows
 * when unicode61 has a word at limit. */
static int emit_runs_until(struct pass *p, int limit, int word_follows)
{
    const unsigned char *s = (const unsigned char *)p->text;
    int at = p->cjk_done;
    int rc = 0;

    while (at < limit && rc == 0) {
        uint32_t cp;
        int start = at, n = 0;

        at += (int)search__next_char(s + at, (size_t)(p->len - at), &cp);
        if (!search__is_cjk(cp)) {
            continue;
        }
        for (n = 1; at < p->len; n++) {
            int len = (int)search__next_char(s + at, (size_t)(p->len - at), &cp);

            if (!search__is_cjk(cp)) {
                break;
            }
            at += len;
        }
        rc = emit_run(p, start, n, word_follows || (!p->document && cjk_between(p, at, limit)));
    }
    if (at > p->cjk_done) {
        p->cjk_done = at;
    }
    return rc;
}

/* unicode61's callback: a word of the folded copy, passed on at original offsets. */
static int on_word(void *ctx, int tflags, const char *token, int n, int start, int end)
{
    struct pass *p = ctx;
    int ostart = view_original(p->view, start);
    int oend = view_original(p->view, end);
    int rc = emit_runs_until(p, ostart, 1);

    if (rc != 0) {
        return rc;
    }
    if (oend > p->cjk_done) {
        p->cjk_done = oend;
    }
    return forward(p, tflags, token, n, ostart, oend);
}

/* ---- the FTS5 tokenizer object ---- */

struct pipit_tokenizer {
    fts5_tokenizer words_api; /* unicode61's methods */
    Fts5Tokenizer *words;     /* our unicode61 instance */
    const uint8_t *key;       /* the connection's index key, or NULL */
};

/* What registration gives every instance on the connection. */
struct registration {
    fts5_api *api;
    const uint8_t *key;
};

static int pipit_create(void *ctx, const char **args, int nargs, Fts5Tokenizer **out)
{
    const struct registration *reg = ctx;
    fts5_api *api = reg->api;
    const char *words_args[] = { "remove_diacritics", "2" };
    fts5_tokenizer words_api;
    void *words_ctx = NULL;
    Fts5Tokenizer *words = NULL;
    struct pipit_tokenizer *t;
    int rc;

    if (nargs != 0) {
        return SQLITE_ERROR; /* the layout is fixed: a table must not vary it */
    }
    rc = api->xFindTokenizer(api, "unicode61", &words_ctx, &words_api);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = words_api.xCreate(words_ctx, words_args, 2, &words);
    if (rc != SQLITE_OK) {
        return rc;
    }
    t = xmalloc(sizeof(*t));
    t->words_api = words_api;
    t->words = words;
    t->key = reg->key;
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void pipit_delete(Fts5Tokenizer *tok)
{
    struct pipit_tokenizer *t = (struct pipit_tokenizer *)tok;

    t->words_api.xDelete(t->words);
    free(t);
}

static int pipit_tokenize(Fts5Tokenizer *tok, void *ctx, int flags, const char *text, int n,
                          token_fn *emit_token)
{
    struct pipit_tokenizer *t = (struct pipit_tokenizer *)tok;
    struct view v;
    struct pass p = {
        .text = text, .len = n, .document = !(flags & FTS5_TOKENIZE_QUERY),
        .view = &v, .fts_ctx = ctx, .emit_token = emit_token, .key = t->key,
        .prefix = (flags & FTS5_TOKENIZE_PREFIX) != 0,
    };
    int rc;

    if (text == NULL || n <= 0) {
        return SQLITE_OK;
    }
    view_init(&v, text, n);
    rc = t->words_api.xTokenize(t->words, &p, flags, v.text, v.len, on_word);
    if (rc == SQLITE_OK) {
        rc = emit_runs_until(&p, n, 0);
    }
    view_cleanup(&v);
    return rc;
}

/* ---- registration ---- */

/* The connection's FTS5 API (documented way: SELECT fts5(?1) with a bound pointer). */
static fts5_api *fts5_api_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *stmt = NULL;

    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, NULL) != SQLITE_OK) {
        return NULL;
    }
    sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return api;
}

int search_tokenizer_register(sqlite3 *db, const uint8_t *key)
{
    fts5_api *api = fts5_api_of(db);
    fts5_tokenizer methods = { pipit_create, pipit_delete, pipit_tokenize };
    struct registration *reg;

    if (api == NULL || api->iVersion < 2) {
        return PIPIT_ESTORE;
    }
    reg = xmalloc(sizeof(*reg));
    reg->api = api;
    reg->key = key;
    /* FTS5 frees the context with the connection. */
    if (api->xCreateTokenizer(api, SEARCH_TOKENIZER_NAME, reg, &methods, free) != SQLITE_OK) {
        return PIPIT_ESTORE;
    }
    return search__snippet_register(api) == 0 ? 0 : PIPIT_ESTORE;
}
