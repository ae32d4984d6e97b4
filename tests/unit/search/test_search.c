/*
 * test_search.c: the "pipit" FTS5 tokenizer (search/tokenizer.h) and the MATCH
 * expression builder (search/query.h), against a real in-memory SQLite and a real
 * FTS5 table: CREATE VIRTUAL TABLE t USING fts5(text, tokenize='pipit').
 *
 * Two views: what MATCH finds (and what highlight() marks), which is the contract;
 * and the exact tokens the tokenizer hands FTS5, which pins the layout of tokenizer.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/query.h"
#include "search/tokenizer.h"
#include "util/buf.h"
#include "util/err.h"

/* ---- helpers ---- */

static sqlite3 *open_db(const char *table_options)
{
    sqlite3 *db = NULL;
    char sql[256];

    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(search_tokenizer_register(db, NULL), 0);
    snprintf(sql, sizeof(sql),
             "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='pipit'%s)", table_options);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* Inserts n bytes as row rowid (n < 0: up to the NUL). */
static void insert_n(sqlite3 *db, int64_t rowid, const char *text, int n)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, text) VALUES (?1, ?2)", -1,
                                        &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, rowid);
    sqlite3_bind_text(st, 2, text, n, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* A table holding rows 1..n with these texts. */
static sqlite3 *table_of(const char *const *texts)
{
    sqlite3 *db = open_db("");

    for (int i = 0; texts[i] != NULL; i++) {
        insert_n(db, i + 1, texts[i], -1);
    }
    return db;
}

/* The rowids a raw MATCH expression finds, ascending, as "1,3" ("" for none,
 * "error" if FTS5 refuses the expression). */
static const char *match(sqlite3 *db, const char *expr)
{
    static char out[512];
    sqlite3_stmt *st;
    size_t len = 0;
    int rc;

    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, expr, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && len < sizeof(out) - 32) {
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%lld", len ? "," : "",
                                (long long)sqlite3_column_int64(st, 0));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? out : "error";
}

/* What the user's text finds, through search_query_build. */
static const char *search(sqlite3 *db, const char *user_text)
{
    static char out[512];
    struct buf expr;

    buf_init(&expr, SEARCH_QUERY_MAX_EXPR);
    assert_int_equal(search_query_build(user_text, &expr, NULL), 0);
    snprintf(out, sizeof(out), "%s", match(db, expr.data));
    buf_cleanup(&expr);
    return out;
}

/* One SQL function of the first row the expression finds, as text. */
static const char *first_value(sqlite3 *db, const char *fn, const char *expr)
{
    static char out[4096];
    char sql[256];
    sqlite3_stmt *st;

    snprintf(sql, sizeof(sql), "SELECT %s FROM t WHERE t MATCH ?1 ORDER BY rowid", fn);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, expr, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static const char *highlight(sqlite3 *db, const char *expr)
{
    return first_value(db, "highlight(t, 0, '[', ']')", expr);
}

/* ---- the tokenizer called directly ---- */

struct token_log {
    char text[8192];
    size_t len;
    int count;
    int bad;         /* an offset out of range, or a colocated first token */
    int input_len;
};

static int log_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
    struct token_log *l = ctx;

    if (start < 0 || start > end || end > l->input_len || n < 0 ||
        (l->count == 0 && (tflags & FTS5_TOKEN_COLOCATED))) {
        l->bad = 1;
    }
    if (l->len < sizeof(l->text) - 64 - (size_t)n) {
        l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s%s%.*s@%d-%d",
                                   l->len ? " " : "", tflags & FTS5_TOKEN_COLOCATED ? "+" : "",
                                   n, token, start, end);
    }
    l->count++;
    return SQLITE_OK;
}

static fts5_api *fts5_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    assert_non_null(api);
    return api;
}

/* Tokenizes n bytes the way FTS5 would with these flags; fills log. */
static void tokenize_n(int flags, const char *text, int n, struct token_log *log)
{
    sqlite3 *db = open_db("");
    fts5_api *api = fts5_of(db);
    fts5_tokenizer methods;
    Fts5Tokenizer *tok;
    void *ctx;

    memset(log, 0, sizeof(*log));
    log->input_len = n;
    assert_int_equal(api->xFindTokenizer(api, "pipit", &ctx, &methods), SQLITE_OK);
    assert_int_equal(methods.xCreate(ctx, NULL, 0, &tok), SQLITE_OK);
    assert_int_equal(methods.xTokenize(tok, log, flags, text, n, log_token), SQLITE_OK);
    methods.xDelete(tok);
    sqlite3_close(db);
    assert_false(log->bad);
}

/* The tokens of a document (d) or query (q) text, as "token@start-end", colocated "+". */
static const char *tokens(int flags, const char *text)
{
    static struct token_log log;

    tokenize_n(flags, text, (int)strlen(text), &log);
    return log.text;
}

#define DOC FTS5_TOKENIZE_DOCUMENT
#define QUERY FTS5_TOKENIZE_QUERY

/* ---- registration ---- */

static void test_register(void **state)
{
    sqlite3 *db = open_db("");

    /* The layout is fixed: the tokenizer takes no arguments. */
    assert_int_not_equal(sqlite3_exec(db, "CREATE VIRTUAL TABLE u USING fts5(x, tokenize='pipit 1')",
                                      NULL, NULL, NULL), SQLITE_OK);
    /* Registering again on the same connection is harmless. */
    assert_int_equal(search_tokenizer_register(db, NULL), 0);
    insert_n(db, 1, "hello", -1);
    assert_string_equal(match(db, "hello"), "1");
    sqlite3_close(db);
}

/* ---- the token layout ---- */

static void test_layout_cjk_document(void **state)
{
    /* Bigrams, then '>' a run ends with this character; '=' the whole run. */
    assert_string_equal(tokens(DOC, "京"), "京=@0-3 +京>@0-3");
    assert_string_equal(tokens(DOC, "北京"), "北京@0-6 京>@3-6");
    assert_string_equal(tokens(DOC, "大学生"), "大学@0-6 学生@3-9 生>@6-9");
    assert_string_equal(tokens(DOC, "北京大学"), "北京@0-6 京大@3-9 大学@6-12 学>@9-12");
    assert_string_equal(tokens(DOC, "我在北京大学"),
                        "我在@0-6 在北@3-9 北京@6-12 京大@9-15 大学@12-18 学>@15-18");
    /* A 4-byte Han character (extension B) counts as one character. */
    assert_string_equal(tokens(DOC, "𠀀京"), "𠀀京@0-7 京>@4-7");
}

static void test_layout_cjk_query(void **state)
{
    assert_string_equal(tokens(QUERY, "京"), "京@0-3");
    assert_string_equal(tokens(QUERY, "北京"), "北京@0-6");
    assert_string_equal(tokens(QUERY, "北京大学"), "北京@0-6 京大@3-9 大学@6-12");
    assert_string_equal(tokens(QUERY | FTS5_TOKENIZE_PREFIX, "北京"), "北京@0-6");
    /* A run's end is marked when a token follows it in the query string; a lone
     * character by what stands beside it (last: plain, for the prefix). */
    assert_string_equal(tokens(QUERY, "「北京」"), "北京@3-9");
    assert_string_equal(tokens(QUERY, "a京"), "a@0-1 京@1-4");
    assert_string_equal(tokens(QUERY, "京a"), "京>@0-3 a@3-4");
    assert_string_equal(tokens(QUERY, "a京b"), "a@0-1 京=@1-4 b@4-5");
    assert_string_equal(tokens(QUERY, "北。京"), "北>@0-3 京@6-9");
    assert_string_equal(tokens(QUERY, "北京大学x"), "北京@0-6 京大@3-9 大学@6-12 学>@9-12 x@12-13");
}

static void test_layout_mixed_and_folded(void **state)
{
    /* Words and runs in text order; offsets into the original bytes. */
    assert_string_equal(tokens(DOC, "abc北京 Déf"),
                        "abc@0-3 北京@3-9 京>@6-9 def@10-14");
    assert_string_equal(tokens(QUERY, "iPhone手机"), "iphone@0-6 手机@6-12");
    /* Full-width letters fold to ASCII; each is 3 bytes of the original. */
    assert_string_equal(tokens(DOC, "ＨＥＬＬＯ x"), "hello@0-15 x@16-17");
    /* The ideographic space and CJK punctuation separate. */
    assert_string_equal(tokens(QUERY, "北京\xe3\x80\x80上海。广州"),
                        "北京@0-6 京>@3-6 上海@9-15 海>@12-15 广州@18-24");
    /* 々 is a letter (人々 "people"), not punctuation. */
    assert_string_equal(tokens(QUERY, "人々"), "人々@0-6");
}

/* ---- what MATCH finds ---- */

static void test_english(void **state)
{
    static const char *const rows[] = {
        "HELLO world", "concatenate", "the cat sat", "Café au lait",
        "ＨＥＬＬＯ from far away", "naïve Ünïcödé", NULL,
    };
    sqlite3 *db = table_of(rows);

    assert_string_equal(search(db, "Hello"), "1,5");
    assert_string_equal(search(db, "hello"), "1,5");
    assert_string_equal(search(db, "ＨＥＬＬＯ"), "1,5");
    assert_string_equal(search(db, "cat"), "3");      /* not "concatenate" */
    assert_string_equal(search(db, "cafe"), "4");
    assert_string_equal(search(db, "CAFÉ LAIT"), "4");
    assert_string_equal(search(db, "naive unicode"), "6");
    assert_string_equal(search(db, "hello cat"), "");
    assert_string_equal(search(db, "the-cat"), "3");  /* a phrase: adjacent words */
    assert_string_equal(search(db, "cat-the"), "");
    sqlite3_close(db);
}

static void test_chinese(void **state)
{
    static const char *const rows[] = {
        "北京大学", "南京", "我在北京大学", "去北京", "北京大楼", "京", "北 京", NULL,
    };
    sqlite3 *db = table_of(rows);

    /* One character: anywhere in a run, alone, or at a run's end. */
    assert_string_equal(search(db, "京"), "1,2,3,4,5,6,7");
    assert_string_equal(search(db, "学"), "1,3");
    /* Two characters. */
    assert_string_equal(search(db, "北京"), "1,3,4,5");
    assert_string_equal(search(db, "京大"), "1,3,5");
    assert_string_equal(search(db, "大学"), "1,3");
    assert_string_equal(search(db, "南京"), "2");
    /* Three and more: every bigram, adjacent. */
    assert_string_equal(search(db, "北京大学"), "1,3");
    assert_string_equal(search(db, "北京大楼"), "5");
    assert_string_equal(search(db, "京大学"), "1,3");
    assert_string_equal(search(db, "我在北京大学"), "3");
    /* Characters that are not adjacent do not match. */
    assert_string_equal(search(db, "北大"), "");
    assert_string_equal(search(db, "北京学"), "");
    /* Separate terms: both present, anywhere. */
    assert_string_equal(search(db, "北 京"), "1,3,4,5,7");
    assert_string_equal(search(db, "南京 北京"), "");
    /* Full-width space splits terms too. */
    assert_string_equal(search(db, "大学\xe3\x80\x80我"), "3");
    sqlite3_close(db);
}

static void test_mixed_scripts(void **state)
{
    static const char *const rows[] = {
        "我买了iPhone手机壳", "北京大学abc", "abc北京", "iPhone 手机", "买iPhone手",
        "2024年3月", "abc大学生", "iPhone手机壳", "南京。北", NULL,
    };
    sqlite3 *db = table_of(rows);

    assert_string_equal(search(db, "iPhone手机"), "1,4,8"); /* 4: adjacent positions too */
    assert_string_equal(search(db, "iphone手机壳"), "1,8");
    assert_string_equal(search(db, "了iPhone手"), "1");
    assert_string_equal(search(db, "买了iPhone"), "1");
    assert_string_equal(search(db, "iPhone手"), "1,4,5,8");
    assert_string_equal(search(db, "大学abc"), "2");
    assert_string_equal(search(db, "学abc"), "2");
    assert_string_equal(search(db, "北京大学abc"), "2");
    assert_string_equal(search(db, "abc北京"), "3");
    assert_string_equal(search(db, "abc北"), "3");
    /* Edges of a short run are not adjacent to the other side's neighbour. */
    assert_string_equal(search(db, "abc京"), "");
    assert_string_equal(search(db, "京abc"), "");
    assert_string_equal(search(db, "北abc"), "");
    assert_string_equal(search(db, "abc生"), "");
    assert_string_equal(search(db, "abc学生"), "");
    assert_string_equal(search(db, "abc大学"), "7");
    assert_string_equal(search(db, "abc大学生"), "7");
    assert_string_equal(search(db, "iPhone机壳"), "");
    assert_string_equal(search(db, "iPhone手机壳"), "1,8");
    assert_string_equal(search(db, "南。北"), "");
    assert_string_equal(search(db, "京。北"), "9");
    assert_string_equal(search(db, "a北京b"), "");
    assert_string_equal(search(db, "2024年"), "6");
    assert_string_equal(search(db, "年3月"), "6");
    sqlite3_close(db);
}

static void test_japanese_and_korean(void **state)
{
    static const char *const rows[] = {
        "東京タワーに行きました", "ひらがなとカタカナ", "ｶﾀｶﾅ", "人々の暮らし",
        "안녕하세요 세계", "대한민국", NULL,
    };
    sqlite3 *db = table_of(rows);

    assert_string_equal(search(db, "タワー"), "1");
    assert_string_equal(search(db, "東京"), "1");
    assert_string_equal(search(db, "行き"), "1");
    assert_string_equal(search(db, "京タ"), "1");
    assert_string_equal(search(db, "カタカナ"), "2");
    assert_string_equal(search(db, "ひら"), "2");
    assert_string_equal(search(db, "ﾀｶ"), "3"); /* halfwidth: matched as written */
    assert_string_equal(search(db, "人々"), "4");
    assert_string_equal(search(db, "々の暮"), "4");
    assert_string_equal(search(db, "안녕"), "5");
    assert_string_equal(search(db, "하세요"), "5");
    assert_string_equal(search(db, "세계"), "5");
    assert_string_equal(search(db, "민국"), "6");
    assert_string_equal(search(db, "대민"), "");
    sqlite3_close(db);
}

static void test_prefix_index_option(void **state)
{
    /* prefix='1 2' (lengths in characters) must give the same answers. */
    sqlite3 *db = open_db(", prefix='1 2'");

    insert_n(db, 1, "我在北京大学读书", -1);
    insert_n(db, 2, "南京", -1);
    insert_n(db, 3, "hello", -1);
    assert_string_equal(search(db, "京"), "1,2");
    assert_string_equal(search(db, "北京"), "1");
    assert_string_equal(search(db, "读书"), "1");
    assert_string_equal(search(db, "hello"), "3");
    sqlite3_close(db);
}

/* ---- highlight() and snippet() ---- */

static void test_highlight_latin(void **state)
{
    static const char *const rows[] = { "Hello WORLD, Café au lait", "ＨＥＬＬＯ there", NULL };
    sqlite3 *db = table_of(rows);

    assert_string_equal(highlight(db, "world"), "Hello [WORLD], Café au lait");
    assert_string_equal(highlight(db, "cafe"), "Hello WORLD, [Café] au lait");
    assert_string_equal(highlight(db, "\"au lait\""), "Hello WORLD, Café [au lait]");
    assert_string_equal(highlight(db, "there"), "ＨＥＬＬＯ [there]");
    assert_string_equal(first_value(db, "highlight(t, 0, '<', '>')", "hello AND there"),
                        "<ＨＥＬＬＯ> <there>");
    sqlite3_close(db);
}

/*
 * highlight() marks the first token at each matched position, so CJK is marked at
 * bigram granularity: exact from two characters on; a one-character match is
 * marked with the bigram it starts, or alone at a run's end (see tokenizer.c).
 * These pin that.
 */
static void test_highlight_cjk(void **state)
{
    static const char *const rows[] = { "我在北京大学读书", NULL };
    sqlite3 *db = table_of(rows);

    assert_string_equal(highlight(db, "\"北京大学\""), "我在[北京大学]读书");
    assert_string_equal(highlight(db, "\"北京大\""), "我在[北京大]学读书");
    assert_string_equal(highlight(db, "\"北京\""), "我在[北京]大学读书");
    assert_string_equal(highlight(db, "\"北\"*"), "我在[北京]大学读书");
    assert_string_equal(highlight(db, "\"读书\""), "我在北京大学[读书]");
    assert_string_equal(highlight(db, "\"书\"*"), "我在北京大学读[书]");
    assert_string_equal(highlight(db, "\"我\"*"), "[我在]北京大学读书");
    sqlite3_close(db);
}

static void test_highlight_edges(void **state)
{
    static const char *const rows[] = { "南京", "我买了iPhone手机壳", "abc北京大学", NULL };
    sqlite3 *db = table_of(rows);

    assert_string_equal(highlight(db, "\"南京\""), "[南京]");
    assert_string_equal(highlight(db, "\"京\"* NOT abc"), "南[京]");
    assert_string_equal(highlight(db, "\"iPhone手机\""), "我买了[iPhone手机]壳");
    assert_string_equal(highlight(db, "\"iPhone\""), "我买了[iPhone]手机壳");
    assert_string_equal(highlight(db, "\"abc北京大学\""), "[abc北京大学]");
    sqlite3_close(db);
}

static void test_snippet(void **state)
{
    static const char *const rows[] = {
        "今天天气很好，我们一起去北京大学的图书馆看书，然后去吃饭。", NULL,
    };
    sqlite3 *db = table_of(rows);
    const char *s = first_value(db, "snippet(t, 0, '[', ']', '…', 5)", "\"图书馆\"");

    /* Five tokens around the match, cut on character boundaries. */
    assert_string_equal(s, "…的[图书馆]看书…");
    sqlite3_close(db);
}

/* pipit_snippet(): neighbouring bigrams overlap; FTS5's own highlight() and snippet()
 * (SQLite 3.40) copy text twice when both are matched; pipit_snippet merges them. */
static const char *psnippet(sqlite3 *db, const char *expr, int tokens)
{
    char fn[96];

    snprintf(fn, sizeof(fn), "pipit_snippet(t, 0, '[', ']', '…', %d)", tokens);
    return first_value(db, fn, expr);
}

static void test_pipit_snippet_merges_overlaps(void **state)
{
    static const char *const rows[] = {
        "谢谢你", "哈哈哈", "好好学习", "北京", "我在北京大学读书", NULL,
    };
    sqlite3 *db = table_of(rows);

    assert_string_equal(psnippet(db, "\"谢\"*", 24), "[谢谢你]");
    assert_string_equal(psnippet(db, "\"哈\"*", 24), "[哈哈哈]");
    assert_string_equal(psnippet(db, "\"哈哈\"", 24), "[哈哈哈]");
    assert_string_equal(psnippet(db, "\"好\"*", 24), "[好好学]习");
    assert_string_equal(psnippet(db, "\"北京\" \"京\"*", 24), "[北京]");
    assert_string_equal(psnippet(db, "\"读书\" \"书\"*", 24), "我在北京大学[读书]");
    assert_string_equal(psnippet(db, "\"北京大学\"", 24), "我在[北京大学]读书");
    sqlite3_close(db);
}

static void test_pipit_snippet_window(void **state)
{
    static const char *const rows[] = {
        "今天天气很好，我们一起去北京大学的图书馆看书，然后去吃饭。",
        "one two three four five six seven eight needle ten eleven twelve thirteen",
        "Hello WORLD, Café au lait", "", NULL,
    };
    sqlite3 *db = table_of(rows);

    /* Five positions around the match, cut on character boundaries, as snippet(). */
    assert_string_equal(psnippet(db, "\"图书馆\"", 5), "…的[图书馆]看书…");
    assert_string_equal(psnippet(db, "needle", 5), "…seven eight [needle] ten eleven…");
    assert_string_equal(psnippet(db, "needle", 64),
                        "one two three four five six seven eight [needle] ten eleven twelve "
                        "thirteen");
    assert_string_equal(psnippet(db, "one", 3), "[one] two three…");
    assert_string_equal(psnippet(db, "thirteen", 3), "…eleven twelve [thirteen]");
    /* A phrase is one mark, words apart are two; folded words keep their bytes. */
    assert_string_equal(psnippet(db, "\"au lait\"", 24), "Hello WORLD, Café [au lait]");
    assert_string_equal(psnippet(db, "cafe OR hello", 24), "[Hello] WORLD, [Café] au lait");
    /* The match is in another column: the start of this one, unmarked. */
    sqlite3_exec(db, "CREATE VIRTUAL TABLE u USING fts5(a, b, tokenize='pipit');"
                 "INSERT INTO u VALUES ('alpha beta gamma delta', 'needle'), (NULL, 'needle')",
                 NULL, NULL, NULL);
    {
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_prepare_v2(db, "SELECT pipit_snippet(u, 0, '[', ']', '…', 2) "
                                            "FROM u WHERE u MATCH 'needle' ORDER BY rowid",
                                            -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "alpha beta…");
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "");
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* ---- hostile input ---- */

static void test_invalid_utf8(void **state)
{
    struct token_log log;
    /* Lone continuation, truncated 3-byte, overlong '/', surrogate, past U+10FFFF, 0xFF. */
    static const char bad[] = "a\x80" "b\xe4\xba" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80\x80"
                              "f\xff" "京\x80京";

    tokenize_n(QUERY, bad, (int)sizeof(bad) - 1, &log);
    assert_string_equal(log.text, "a@0-1 b@2-3 c@5-6 d@8-9 e@12-13 f@17-18 京=@19-22 京@23-26");
    tokenize_n(DOC, bad, (int)sizeof(bad) - 1, &log);
    assert_int_equal(log.count, 6 + 2 * 2);
    /* A sequence cut off by the end of the input. */
    tokenize_n(DOC, "京\xe4\xba", 5, &log);
    assert_string_equal(log.text, "京=@0-3 +京>@0-3");
    tokenize_n(DOC, "\xf0\xa0\x80", 3, &log);
    assert_int_equal(log.count, 0);
}

static void test_nul_and_empty(void **state)
{
    struct token_log log;
    sqlite3 *db = open_db("");

    tokenize_n(QUERY, "ab\0cd北\0京", 12, &log);
    assert_string_equal(log.text, "ab@0-2 cd@3-5 北=@5-8 京@9-12");
    tokenize_n(DOC, "", 0, &log);
    assert_int_equal(log.count, 0);
    insert_n(db, 1, "ab\0cd", 5);
    insert_n(db, 2, "", 0);
    assert_string_equal(match(db, "cd"), "1");
    sqlite3_close(db);
}

/* 1 MB of one character: no crash, and the answers stay right. */
static void test_one_megabyte(void **state)
{
    static const char *const pieces[] = { "京", "a", "Ａ", "\x80", "é" };
    size_t size = 1 << 20;
    char *text = malloc(size + 1);
    sqlite3 *db = open_db("");

    for (int k = 0; k < 5; k++) {
        size_t plen = strlen(pieces[k]), n = 0;

        while (n + plen <= size) {
            memcpy(text + n, pieces[k], plen);
            n += plen;
        }
        insert_n(db, k + 1, text, (int)n);
    }
    free(text);
    assert_string_equal(search(db, "京"), "1");
    assert_string_equal(search(db, "京京京京京"), "1");
    assert_string_equal(search(db, "a"), "");   /* one 1 MB word, not "a" */
    assert_string_equal(search(db, "é"), "");
    sqlite3_close(db);
}

/* ---- search_query_build ---- */

/* The expression built, or the error with its reason as "!reason". */
static const char *built(const char *user_text)
{
    static char out[1024];
    const char *why = NULL;
    struct buf b;
    int rc;

    buf_init(&b, SEARCH_QUERY_MAX_EXPR);
    buf_appendz(&b, "");
    rc = search_query_build(user_text, &b, &why);
    if (rc != 0) {
        assert_int_equal(rc, PIPIT_EBAD_REQUEST);
        assert_non_null(why);
        assert_int_equal(b.len, 0); /* untouched */
        snprintf(out, sizeof(out), "!%s", why);
    } else {
        snprintf(out, sizeof(out), "%s", b.data);
    }
    buf_cleanup(&b);
    return out;
}

static void test_query_quoting(void **state)
{
    assert_string_equal(built("hello"), "\"hello\"");
    assert_string_equal(built("  hello \t world\n"), "\"hello\" \"world\"");
    /* Two characters are one bigram: an exact term. One is a prefix. */
    assert_string_equal(built("北京\xe3\x80\x80大学"), "\"北京\" \"大学\"");
    assert_string_equal(built("京"), "\"京\"*");
    assert_string_equal(built("abc京"), "\"abc京\"*");
    assert_string_equal(built("京abc"), "\"京abc\"");
    assert_string_equal(built("北京大学"), "\"北京大学\"");
    assert_string_equal(built("iPhone手机"), "\"iPhone手机\"");
    assert_string_equal(built("「北京」"), "\"「北京」\"");    /* punctuation aside */
    assert_string_equal(built("北。京"), "\"北。京\"*");       /* two runs: a phrase */
    assert_string_equal(built("ａｂ"), "\"ａｂ\"");
    assert_string_equal(built("l'été"), "\"l'été\"");
}

static void test_query_injection(void **state)
{
    static const char *const rows[] = {
        "a or b", "a b", "near col x", "NOT this", "say \"hi\" there", NULL,
    };
    sqlite3 *db = table_of(rows);

    assert_string_equal(built("a\" OR \"b"), "\"a\"\"\" \"OR\" \"\"\"b\"");
    assert_string_equal(built("NEAR("), "\"NEAR(\"");
    assert_string_equal(built("col:x"), "\"col:x\"");
    assert_string_equal(built("* x"), "\"x\"");
    assert_string_equal(built("^a"), "\"^a\"");
    assert_string_equal(built("(a OR b)"), "\"(a\" \"OR\" \"b)\"");
    /* Operators are words to find, never syntax; the table's column name included. */
    assert_string_equal(search(db, "a\" OR \"b"), "1");
    assert_string_equal(search(db, "a OR b"), "1");
    assert_string_equal(search(db, "NEAR(col x)"), "3");
    assert_string_equal(search(db, "text:near"), "");
    assert_string_equal(search(db, "NOT"), "4");
    assert_string_equal(search(db, "- NOT"), "4");
    assert_string_equal(search(db, "\"hi\""), "5");
    assert_string_equal(search(db, "\"\"\"hi\"\"\""), "5");
    sqlite3_close(db);
}

/*
 * Symbols beside CJK. The builder guesses which characters unicode61 indexes; the
 * tokenizer marks a run by the tokens really around it, so a wrong guess never loses
 * the match (the fuzzer found "ガ＀": unicode61 indexes the unassigned U+FF00).
 */
static void test_query_symbols(void **state)
{
    static const char *const rows[] = {
        "北京™ 大学", "😀北京😀", "在北京大学", "ガ＀〬", "ガス", NULL,
    };
    sqlite3 *db = table_of(rows);

    assert_string_equal(built("😀北京😀"), "\"😀北京😀\"");
    assert_string_equal(search(db, "😀北京😀"), "1,2,3");
    assert_string_equal(built("北京™"), "\"北京™\"");
    assert_string_equal(built("京™"), "\"京™\"*");
    assert_string_equal(tokens(QUERY, "北京™"), "北京@0-6");
    assert_string_equal(search(db, "北京™"), "1,2,3");
    assert_string_equal(tokens(QUERY, "ガ＀"), "ガ>@0-3 ＀@3-6");
    assert_string_equal(search(db, "ガ＀〬"), "4");
    assert_string_equal(search(db, "ガ"), "4,5");
    /* A surely Latin word keeps its whole-word meaning. */
    assert_string_equal(built("北京x"), "\"北京x\"");
    sqlite3_close(db);
}

static void test_query_limits(void **state)
{
    char text[400];

    assert_string_equal(built(""), "!the query has nothing to search for");
    assert_string_equal(built(" \t\xe3\x80\x80 "), "!the query has nothing to search for");
    assert_string_equal(built("!!! ??? 😀 →"), "!the query has nothing to search for");
    assert_string_equal(built("!!! cat ???"), "\"cat\"");
    assert_string_equal(built("\xff"), "!the query is not valid UTF-8");
    assert_string_equal(built("a\xe4\xba"), "!the query is not valid UTF-8");
    /* 16 terms, not 17. */
    assert_string_equal(built("a b c d e f g h i j k l m n o p"),
                        "\"a\" \"b\" \"c\" \"d\" \"e\" \"f\" \"g\" \"h\" \"i\" \"j\" \"k\" \"l\" "
                        "\"m\" \"n\" \"o\" \"p\"");
    assert_string_equal(built("a b c d e f g h i j k l m n o p q"),
                        "!the query has more than 16 words");
    /* 256 bytes, not 257; quotes doubled still fit. */
    for (int i = 0; i < 256; i++) {
        text[i] = i % 2 ? 'a' : '"';
    }
    text[256] = '\0';
    assert_int_equal(strlen(built(text)), 128 * 3 + 2);
    memset(text, 'x', 257);
    text[257] = '\0';
    assert_string_equal(built(text), "!the query is longer than 256 bytes");
}

static void test_query_out_untouched(void **state)
{
    struct buf b;

    /* Appends after what is there; on failure leaves it as it was. */
    buf_init(&b, 32);
    buf_appendz(&b, "x MATCH ");
    assert_int_equal(search_query_build("hi", &b, NULL), 0);
    assert_string_equal(b.data, "x MATCH \"hi\"");
    assert_int_equal(search_query_build("!!!", &b, NULL), PIPIT_EBAD_REQUEST);
    assert_string_equal(b.data, "x MATCH \"hi\"");
    assert_int_equal(search_query_build("0123456789 0123456789 0123456789 0123456789", &b, NULL),
                     PIPIT_EPAYLOAD_TOO_LARGE);
    assert_string_equal(b.data, "x MATCH \"hi\"");
    buf_cleanup(&b);
}

/* Whatever the user types, FTS5 accepts the expression built from it. */
static void test_query_always_parses(void **state)
{
    static const char alphabet[] = "aZ\"*^:()-+ OR\tNEAR京北\xe3\x80\x80{}";
    sqlite3 *db = open_db("");
    uint64_t x = 0x9e3779b97f4a7c15ull;

    insert_n(db, 1, "a", -1);
    for (int round = 0; round < 2000; round++) {
        char text[64];
        size_t n = 0;
        struct buf b;

        while (n < 40) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            text[n++] = alphabet[x % (sizeof(alphabet) - 1)];
        }
        text[n] = '\0';
        buf_init(&b, SEARCH_QUERY_MAX_EXPR);
        if (search_query_build(text, &b, NULL) == 0) {
            assert_string_not_equal(match(db, b.data), "error");
        }
        buf_cleanup(&b);
    }
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_layout_cjk_document),
        cmocka_unit_test(test_layout_cjk_query),
        cmocka_unit_test(test_layout_mixed_and_folded),
        cmocka_unit_test(test_english),
        cmocka_unit_test(test_chinese),
        cmocka_unit_test(test_mixed_scripts),
        cmocka_unit_test(test_japanese_and_korean),
        cmocka_unit_test(test_prefix_index_option),
        cmocka_unit_test(test_highlight_latin),
        cmocka_unit_test(test_highlight_cjk),
        cmocka_unit_test(test_highlight_edges),
        cmocka_unit_test(test_snippet),
        cmocka_unit_test(test_pipit_snippet_merges_overlaps),
        cmocka_unit_test(test_pipit_snippet_window),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_and_empty),
        cmocka_unit_test(test_one_megabyte),
        cmocka_unit_test(test_query_quoting),
        cmocka_unit_test(test_query_injection),
        cmocka_unit_test(test_query_symbols),
        cmocka_unit_test(test_query_limits),
        cmocka_unit_test(test_query_out_untouched),
        cmocka_unit_test(test_query_always_parses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
