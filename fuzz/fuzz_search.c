/*
 * fuzz_search.c: the "pipit" FTS5 tokenizer and the MATCH builder (src/search/).
 *
 * The input is any bytes: message text, or what a user typed. The tokenizer, called
 * directly in every mode, reports only offsets inside the input with start <= end,
 * never opens with a colocated token, keeps the first token of each position in
 * order, and gives the same tokens to the index (document) as to highlight() (aux);
 * a CJK token is the input's own bytes, plus at most one mark. Through a real FTS5
 * table: the text can be indexed, and the expression search_query_build makes of it
 * (when it takes it) is always accepted by FTS5 and finds the text itself whenever
 * the text has a token at all (what you type finds the message that holds it);
 * highlight() runs on the hit, and pipit_snippet() marks it in a piece of the text
 * (nothing added, nothing repeated). All of it twice: with plain terms, and with the keyed
 * hashes of encryption at rest (where a one-character CJK query is the prefix
 * of hashed terms).
 */
#include <sqlite3.h>
#include <string.h>

#include "fuzz.h"
#include "search/query.h"
#include "search/tokenizer.h"
#include "util/buf.h"
#include "util/err.h"

#define MAX_TABLE_INPUT 4096 /* longer inputs only go through the tokenizer directly */

struct check {
    const uint8_t *text;
    int len;
    int count;
    int last_start;   /* of the last token that opened a position */
    uint64_t digest;  /* of every token, its flags and offsets */
};

static int check_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
    struct check *c = ctx;
    const char *in = (const char *)c->text;

    CHECK(start >= 0 && start <= end && end <= c->len);
    CHECK(n > 0 && token != NULL);
    CHECK(c->count > 0 || !(tflags & FTS5_TOKEN_COLOCATED));
    if (!(tflags & FTS5_TOKEN_COLOCATED)) {
        CHECK(start >= c->last_start);
        c->last_start = start;
    }
    if ((unsigned char)in[start] >= 0x80 && end - start >= 3 && n >= end - start &&
        memcmp(token, in + start, (size_t)(end - start)) == 0) {
        CHECK(n <= end - start + 1); /* a CJK token: its characters and maybe a mark */
    }
    for (int i = 0; i < n; i++) {
        c->digest = (c->digest ^ (unsigned char)token[i]) * 0x100000001b3ull;
    }
    c->digest = (c->digest ^ (uint64_t)(tflags * 7919 + start * 131 + end)) * 0x100000001b3ull;
    c->count++;
    return SQLITE_OK;
}

static struct check tokenize(const fts5_tokenizer *m, Fts5Tokenizer *tok, int flags,
                             const uint8_t *data, size_t size)
{
    struct check c = { data, (int)size, 0, 0, 0xcbf29ce484222325ull };

    CHECK(m->xTokenize(tok, &c, flags, (const char *)data, (int)size, check_token) == SQLITE_OK);
    return c;
}

/* hashed: terms are keyed hashes (search_tokenizer_register with a key). */
static sqlite3 *database(int hashed)
{
    static const uint8_t key[SEARCH_INDEX_KEY_LEN] = { 7, 1, 7 };
    static sqlite3 *dbs[2]; /* one each per process: opening costs more than a run */
    sqlite3 **db = &dbs[hashed];

    if (*db == NULL) {
        CHECK(sqlite3_open(":memory:", db) == SQLITE_OK);
        CHECK(search_tokenizer_register(*db, hashed ? key : NULL) == 0);
        CHECK(sqlite3_exec(*db, "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='pipit')",
                           NULL, NULL, NULL) == SQLITE_OK);
    }
    return *db;
}

/* Returns how many tokens the input has as a query. */
static int tokenize_directly(sqlite3 *db, const uint8_t *data, size_t size)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st;
    fts5_tokenizer m;
    Fts5Tokenizer *tok;
    void *ctx;
    int count;

    CHECK(sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    CHECK(api != NULL);
    CHECK(api->xFindTokenizer(api, SEARCH_TOKENIZER_NAME, &ctx, &m) == SQLITE_OK);
    CHECK(m.xCreate(ctx, NULL, 0, &tok) == SQLITE_OK);
    CHECK(tokenize(&m, tok, FTS5_TOKENIZE_DOCUMENT, data, size).digest ==
          tokenize(&m, tok, FTS5_TOKENIZE_AUX, data, size).digest);
    count = tokenize(&m, tok, FTS5_TOKENIZE_QUERY, data, size).count;
    tokenize(&m, tok, FTS5_TOKENIZE_QUERY | FTS5_TOKENIZE_PREFIX, data, size);
    m.xDelete(tok);
    return count;
}

static void exec_text(sqlite3 *db, const char *sql, const uint8_t *data, size_t size)
{
    sqlite3_stmt *st;

    CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, (const char *)data, (int)size, SQLITE_STATIC);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
}

/* The input as what a user typed: its expression parses and finds the input. */
static void search_for(sqlite3 *db, const uint8_t *data, size_t size, int tokens)
{
    char text[SEARCH_QUERY_MAX_BYTES + 2];
    sqlite3_stmt *st;
    struct buf expr;
    const char *why = NULL;
    int rc, hits = 0;

    if (size > SEARCH_QUERY_MAX_BYTES + 1 || memchr(data, 0, size) != NULL) {
        return;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    buf_init(&expr, SEARCH_QUERY_MAX_EXPR);
    rc = search_query_build(text, &expr, &why);
    CHECK(rc == 0 || (rc == PIPIT_EBAD_REQUEST && why != NULL));
    if (rc == 0) {
        CHECK(sqlite3_prepare_v2(db, "SELECT highlight(t, 0, '[', ']'), "
                                 "pipit_snippet(t, 0, char(2), char(3), '', 64) "
                                 "FROM t WHERE t MATCH ?1", -1, &st, NULL) == SQLITE_OK);
        sqlite3_bind_text(st, 1, expr.data, (int)expr.len, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *snip = (const char *)sqlite3_column_text(st, 1);
            char plain[SEARCH_QUERY_MAX_BYTES + 2];
            size_t n = 0;

            CHECK(sqlite3_column_bytes(st, 0) >= (int)size);
            /* The snippet marks the match, and without its marks is a piece of the text. */
            CHECK(snip != NULL && strchr(snip, 2) != NULL);
            for (; *snip != '\0'; snip++) {
                if (*snip != 2 && *snip != 3) {
                    CHECK(n < sizeof(plain));
                    plain[n++] = *snip;
                }
            }
            /* (A text holding the mark bytes itself cannot be told apart.) */
            CHECK(n > 0 && (memmem(text, size, plain, n) != NULL || memchr(text, 2, size) ||
                            memchr(text, 3, size)));
            hits++;
        }
        CHECK(rc == SQLITE_DONE);
        CHECK(hits == (tokens > 0));
        sqlite3_finalize(st);
    }
    buf_cleanup(&expr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) {
        return 0;
    }
    for (int hashed = 0; hashed < 2; hashed++) {
        sqlite3 *db = database(hashed);
        int tokens = tokenize_directly(db, data, size);

        if (size > MAX_TABLE_INPUT) {
            continue;
        }
        exec_text(db, "INSERT INTO t(rowid, text) VALUES (1, ?1)", data, size);
        search_for(db, data, size, tokens);
        exec_text(db, "DELETE FROM t WHERE rowid = 1 AND ?1 IS NOT NULL", data, size);
    }
    return 0;
}
