/* test_http_parse.c: the strict HTTP/1.1 request parser (http/http_parse.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../known_bug.h"
#include "http/http_parse.h"
#include "util/err.h"

static const struct http_limits limits = {
    .max_header_count = 16,
    .max_header_size = 2048,
    .max_url_length = 256,
    .max_body_size = 1024,
};

struct fixture {
    struct http_parse hp;
    enum http_parse_status st;
    size_t used;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    http_parse_init(&f->hp, &limits);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    http_parse_cleanup(&f->hp);
    free(f);
    return 0;
}

/* Feeds text in one call. */
static enum http_parse_status feed(struct fixture *f, const char *text)
{
    f->used = http_parse_feed(&f->hp, text, strlen(text), &f->st);
    return f->st;
}

/* Feeds text in pieces of step bytes until it is consumed, done or failed. */
static enum http_parse_status feed_steps(struct fixture *f, const char *text, size_t step)
{
    size_t len = strlen(text);
    size_t off = 0;

    f->used = 0;
    f->st = HTTP_PARSE_MORE;
    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        size_t got = http_parse_feed(&f->hp, text + off, n, &f->st);

        f->used += got;
        off += got;
        if (f->st != HTTP_PARSE_MORE) {
            break;
        }
        assert_int_equal(got, n); /* "more" means all of it was taken */
    }
    return f->st;
}

/* A whole request must fail with err, however it is split. */
static void expect_error(const char *text, int err)
{
    static const size_t steps[] = { 1, 2, 3, 7, 64, 100000 };

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct fixture f;

        http_parse_init(&f.hp, &limits);
        if (feed_steps(&f, text, steps[i]) != HTTP_PARSE_ERROR || f.hp.err != err) {
            fail_msg("step %zu: status %d err %d (%s), want error %d (%s) for:\n%s", steps[i],
                     (int)f.st, f.hp.err, pipit_errcode(f.hp.err), err, pipit_errcode(err),
                     text);
        }
        /* Once failed, it stays failed and consumes nothing. */
        assert_int_equal(http_parse_feed(&f.hp, "GET / HTTP/1.1\r\n", 16, &f.st), 0);
        assert_int_equal(f.st, HTTP_PARSE_ERROR);
        http_parse_cleanup(&f.hp);
    }
}

static void test_simple_get(void **state)
{
    struct fixture *f = *state;
    const char *req = "GET /v1/health?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";

    assert_false(http_parse_started(&f->hp));
    assert_int_equal(feed(f, req), HTTP_PARSE_DONE);
    assert_int_equal(f->used, strlen(req));
    assert_int_equal(f->hp.req.method, HTTP_GET);
    assert_string_equal(f->hp.req.url, "/v1/health?x=1");
    assert_int_equal(f->hp.req.version_minor, 1);
    assert_int_equal(f->hp.req.nheaders, 2);
    assert_string_equal(f->hp.req.headers[0].name, "host");
    assert_string_equal(f->hp.req.headers[0].value, "example.com");
    assert_string_equal(f->hp.req.headers[1].name, "user-agent");
    assert_true(f->hp.req.keep_alive);
    assert_false(f->hp.req.upgrade);
    assert_false(f->hp.req.chunked);
    assert_int_equal(f->hp.req.content_length, -1);
    assert_int_equal(f->hp.req.body.len, 0);
    assert_true(http_parse_started(&f->hp));
    http_parse_reset(&f->hp);
    assert_false(http_parse_started(&f->hp));
}

static void test_one_byte_at_a_time(void **state)
{
    struct fixture *f = *state;
    const char *req = "POST /v1/auth/login HTTP/1.1\r\n"
                      "Host: example.com\r\n"
                      "Content-Type: application/json\r\n"
                      "X-Long-Header-Name-For-Splitting: some   value with spaces  \r\n"
                      "Content-Length: 13\r\n"
                      "\r\n"
                      "{\"a\":\"hello\"}";

    assert_int_equal(feed_steps(f, req, 1), HTTP_PARSE_DONE);
    assert_int_equal(f->used, strlen(req));
    assert_int_equal(f->hp.req.method, HTTP_POST);
    assert_string_equal(f->hp.req.url, "/v1/auth/login");
    assert_int_equal(f->hp.req.nheaders, 4);
    assert_string_equal(http_request_header(&f->hp.req, "x-long-header-name-for-splitting"),
                        "some   value with spaces");
    assert_string_equal(http_request_header(&f->hp.req, "content-type"), "application/json");
    assert_int_equal(f->hp.req.content_length, 13);
    assert_int_equal(f->hp.req.body.len, 13);
    assert_memory_equal(f->hp.req.body.data, "{\"a\":\"hello\"}", 13);
}

static void test_every_split_point(void **state)
{
    const char *req = "PUT /x HTTP/1.1\r\nHost: h\r\nA: 1\r\nContent-Length: 3\r\n\r\nabc";
    size_t len = strlen(req);

    for (size_t cut = 0; cut <= len; cut++) {
        struct fixture f;
        size_t a, b;

        http_parse_init(&f.hp, &limits);
        a = http_parse_feed(&f.hp, req, cut, &f.st);
        assert_int_equal(a, cut);
        assert_int_equal(f.st, cut == len ? HTTP_PARSE_DONE : HTTP_PARSE_MORE);
        b = http_parse_feed(&f.hp, req + cut, len - cut, &f.st);
        assert_int_equal(a + b, len);
        assert_int_equal(f.st, HTTP_PARSE_DONE);
        assert_string_equal(http_request_header(&f.hp.req, "a"), "1");
        assert_memory_equal(f.hp.req.body.data, "abc", 3);
        http_parse_cleanup(&f.hp);
    }
}

static void test_keep_alive_flags(void **state)
{
    static const struct {
        const char *req;
        bool keep_alive;
        int minor;
    } cases[] = {
        { "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, 1 },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, 1 },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", false, 1 },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true, 1 },
        { "GET / HTTP/1.0\r\n\r\n", false, 0 },
        { "GET / HTTP/1.0\r\nHost: a\r\n\r\n", false, 0 },
        { "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture f;

        http_parse_init(&f.hp, &limits);
        assert_int_equal(feed(&f, cases[i].req), HTTP_PARSE_DONE);
        if (f.hp.req.keep_alive != cases[i].keep_alive) {
            fail_msg("keep_alive %d for %s", f.hp.req.keep_alive, cases[i].req);
        }
        assert_int_equal(f.hp.req.version_minor, cases[i].minor);
        http_parse_cleanup(&f.hp);
    }
}

static void test_pipelined(void **state)
{
    struct fixture *f = *state;
    const char *first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *both = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                       "POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\n\r\nhi";
    size_t n1 = strlen(first);

    assert_int_equal(feed(f, both), HTTP_PARSE_DONE);
    assert_int_equal(f->used, n1); /* the second request is left for later */
    assert_string_equal(f->hp.req.url, "/one");
    /* Until reset, more input is not consumed. */
    assert_int_equal(http_parse_feed(&f->hp, both + n1, strlen(both + n1), &f->st), 0);
    assert_int_equal(f->st, HTTP_PARSE_DONE);
    assert_string_equal(f->hp.req.url, "/one");

    http_parse_reset(&f->hp);
    assert_int_equal(feed(f, both + n1), HTTP_PARSE_DONE);
    assert_int_equal(f->used, strlen(both + n1));
    assert_int_equal(f->hp.req.method, HTTP_POST);
    assert_string_equal(f->hp.req.url, "/two");
    assert_string_equal(http_request_header(&f->hp.req, "host"), "b");
    assert_int_equal(f->hp.req.nheaders, 2);
    assert_int_equal(f->hp.req.body.len, 2);
    assert_string_equal(f->hp.req.body.data, "hi");
}

static void test_many_pipelined_reuse_buffers(void **state)
{
    struct fixture *f = *state;
    const char *req = "GET /again HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";

    for (int i = 0; i < 100; i++) {
        assert_int_equal(feed(f, req), HTTP_PARSE_DONE);
        assert_int_equal(f->used, strlen(req));
        assert_string_equal(f->hp.req.url, "/again");
        assert_string_equal(http_request_header(&f->hp.req, "x"), "y");
        http_parse_reset(&f->hp);
    }
}

static void test_leading_empty_lines_tolerated(void **state)
{
    struct fixture *f = *state;

    /* RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request. */
    assert_int_equal(feed(f, "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_PARSE_DONE);
    assert_string_equal(f->hp.req.url, "/");
}

static void test_post_content_length(void **state)
{
    struct fixture *f = *state;
    const char *head = "POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";

    assert_int_equal(feed(f, head), HTTP_PARSE_MORE);
    assert_int_equal(f->used, strlen(head));
    assert_int_equal(feed(f, "01234"), HTTP_PARSE_MORE);
    assert_int_equal(feed(f, "56789EXTRA"), HTTP_PARSE_DONE);
    assert_int_equal(f->used, 5);
    assert_int_equal(f->hp.req.content_length, 10);
    assert_int_equal(f->hp.req.body.len, 10);
    assert_string_equal(f->hp.req.body.data, "0123456789");
}

static void test_zero_content_length(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
                     HTTP_PARSE_DONE);
    assert_int_equal(f->hp.req.content_length, 0);
    assert_int_equal(f->hp.req.body.len, 0);
}

static void test_chunked_body(void **state)
{
    struct fixture *f = *state;
    const char *req = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n"
                      "6;ext=1\r\n world\r\n"
                      "0\r\n\r\n";

    assert_int_equal(feed_steps(f, req, 3), HTTP_PARSE_DONE);
    assert_int_equal(f->used, strlen(req));
    assert_true(f->hp.req.chunked);
    assert_int_equal(f->hp.req.content_length, -1);
    assert_int_equal(f->hp.req.body.len, 11);
    assert_string_equal(f->hp.req.body.data, "hello world");
}

/* Regression (fuzzer): trailers used to be appended to the head, moving it under the
 * url and header pointers already handed out. */
static void test_chunked_trailers_keep_head_intact(void **state)
{
    struct fixture *f = *state;
    char req[4096];
    char filler[2001];

    memset(filler, 'v', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    snprintf(req, sizeof(req),
             "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n0\r\nTrailer-One: %s\r\nTrailer-Two: x\r\n\r\n", filler);
    assert_int_equal(feed_steps(f, req, 7), HTTP_PARSE_DONE);
    assert_string_equal(f->hp.req.url, "/up");
    assert_string_equal(http_request_header(&f->hp.req, "host"), "a");
    assert_null(http_request_header(&f->hp.req, "trailer-one"));
    assert_string_equal(f->hp.req.body.data, "hello");
}

static void test_upgrade_request(void **state)
{
    struct fixture *f = *state;
    const char *head = "GET /v1/ws HTTP/1.1\r\n"
                       "Host: a\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: keep-alive, Upgrade\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "\r\n";
    char text[512];

    snprintf(text, sizeof(text), "%s\x81\x85" "abcdXXXXX", head);
    assert_int_equal(feed(f, text), HTTP_PARSE_DONE);
    assert_true(f->hp.req.upgrade);
    /* The frame bytes after the head belong to the new protocol. */
    assert_int_equal(f->used, strlen(head));
    assert_string_equal(http_request_header(&f->hp.req, "upgrade"), "websocket");
}

static void test_upgrade_one_byte_at_a_time(void **state)
{
    struct fixture *f = *state;
    const char *head = "GET /v1/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n\r\n";
    char text[256];

    snprintf(text, sizeof(text), "%sMORE", head);
    assert_int_equal(feed_steps(f, text, 1), HTTP_PARSE_DONE);
    assert_true(f->hp.req.upgrade);
    assert_int_equal(f->used, strlen(head));
}

static void test_upgrade_needs_connection_token(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"),
                     HTTP_PARSE_DONE);
    assert_false(f->hp.req.upgrade);
}

static void test_empty_value_then_more_headers(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nX-Empty:\r\nHost: a\r\nX-Sp:   \r\nB: 2\r\n\r\n"),
                     HTTP_PARSE_DONE);
    assert_int_equal(f->hp.req.nheaders, 4);
    assert_string_equal(f->hp.req.headers[0].name, "x-empty");
    assert_string_equal(f->hp.req.headers[0].value, "");
    assert_string_equal(f->hp.req.headers[1].name, "host");
    assert_string_equal(f->hp.req.headers[1].value, "a");
    assert_string_equal(http_request_header(&f->hp.req, "x-sp"), "");
    assert_string_equal(http_request_header(&f->hp.req, "b"), "2");
}

static void test_value_tab_allowed_and_trimmed(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nHost:\ta\r\nX: one\ttwo\t\r\n\r\n"),
                     HTTP_PARSE_DONE);
    assert_string_equal(http_request_header(&f->hp.req, "host"), "a");
    assert_string_equal(http_request_header(&f->hp.req, "x"), "one\ttwo");
}

static void test_header_lookup_case_insensitive(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nHOST: a\r\nX-Custom-THING: v\r\nx-custom-thing: w\r\n\r\n"),
                     HTTP_PARSE_DONE);
    /* Names are stored lower-cased... */
    assert_string_equal(f->hp.req.headers[0].name, "host");
    assert_string_equal(http_request_header(&f->hp.req, "host"), "a");
    /* ...the first match wins... */
    assert_string_equal(http_request_header(&f->hp.req, "x-custom-thing"), "v");
    assert_null(http_request_header(&f->hp.req, "missing"));
    assert_null(http_request_header(&f->hp.req, "x-custom"));
}

static void test_bug_header_lookup_name_case(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nHOST: a\r\nX-Custom-THING: v\r\n\r\n"),
                     HTTP_PARSE_DONE);
    /* http_parse.h: "Case-insensitive lookup". */
    assert_non_null(http_request_header(&f->hp.req, "Host"));
    assert_string_equal(http_request_header(&f->hp.req, "HOST"), "a");
    assert_string_equal(http_request_header(&f->hp.req, "X-Custom-Thing"), "v");
}

static void test_bug_upgrade_with_body_desyncs(void **state)
{
    struct fixture *f = *state;
    const char *req = "POST /v1/auth/login HTTP/1.1\r\nHost: a\r\nUpgrade: foo\r\n"
                      "Connection: upgrade\r\nContent-Length: 5\r\n\r\nhello";
    size_t off = 0;

    /* Whatever the parser makes of it, DONE always comes with a whole request. */
    for (int i = 0; i < 4 && off < strlen(req); i++) {
        f->used = http_parse_feed(&f->hp, req + off, strlen(req) - off, &f->st);
        off += f->used;
        if (f->st == HTTP_PARSE_ERROR) {
            return;
        }
        if (f->st == HTTP_PARSE_DONE) {
            assert_non_null(f->hp.req.url);
            assert_true(f->hp.head_done);
            http_parse_reset(&f->hp);
        }
    }
}

static void test_has_token(void **state)
{
    assert_true(http_header_has_token("keep-alive, Upgrade", "upgrade"));
    assert_true(http_header_has_token("Upgrade", "upgrade"));
    assert_true(http_header_has_token("upgrade", "Upgrade"));
    assert_true(http_header_has_token(" upgrade ,keep-alive", "upgrade"));
    assert_true(http_header_has_token("a,,\tupgrade\t", "upgrade"));
    assert_true(http_header_has_token("keep-alive, Upgrade", "keep-alive"));
    assert_false(http_header_has_token("keep-alive", "upgrade"));
    assert_false(http_header_has_token("upgrades", "upgrade"));
    assert_false(http_header_has_token("xupgrade", "upgrade"));
    assert_false(http_header_has_token("up grade", "upgrade"));
    assert_false(http_header_has_token("", "upgrade"));
    assert_false(http_header_has_token(",,,", "upgrade"));
    assert_false(http_header_has_token(NULL, "upgrade"));
}

static void test_bad_space_before_colon(void **state)
{
    expect_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello",
                 PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX\ty: 1\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\n: novalue\r\n\r\n", PIPIT_EBAD_REQUEST);
}

static void test_bad_obs_fold(void **state)
{
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n\ttwo\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\n Host: a\r\n\r\n", PIPIT_EBAD_REQUEST);
}

static void test_bad_bare_lf(void **state)
{
    expect_error("GET / HTTP/1.1\nHost: a\n\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\n\n", PIPIT_EBAD_REQUEST);
}

static void test_bad_cr_without_lf(void **state)
{
    expect_error("GET / HTTP/1.1\rHost: a\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", PIPIT_EBAD_REQUEST);
}

static void test_bad_control_in_value(void **state)
{
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[31mz\r\n\r\n", PIPIT_EBAD_REQUEST);
}

static void test_bad_nul_in_value(void **state)
{
    const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    struct fixture f;

    http_parse_init(&f.hp, &limits);
    http_parse_feed(&f.hp, req, sizeof(req) - 1, &f.st);
    assert_int_equal(f.st, HTTP_PARSE_ERROR);
    assert_int_equal(f.hp.err, PIPIT_EBAD_REQUEST);
    http_parse_cleanup(&f.hp);
}

static void test_bad_missing_host_on_11(void **state)
{
    expect_error("GET / HTTP/1.1\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", PIPIT_EBAD_REQUEST);
}

static void test_bad_framing(void **state)
{
    /* CL + TE (request smuggling). */
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Length: 5\r\n\r\n0\r\n\r\n",
                 PIPIT_EBAD_REQUEST);
    /* Two Content-Length, equal or not. */
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                 PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
                 PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "ffffffffffffffffff\r\n",
                 PIPIT_EBAD_REQUEST);
}

/* RFC 9112 §7.1: the chunked framing exactly (the shared http-parser is lenient). */
static void test_bad_chunk_framing(void **state)
{
    static const char *const bodies[] = {
        "5\r\nhelloXX0\r\n\r\n",          /* two bytes taken for the CRLF after data */
        "5\r\nhello\rX0\r\n\r\n",
        "5\rXhello\r\n0\r\n\r\n",          /* CR without LF after the size */
        "5\nhello\r\n0\r\n\r\n",           /* bare LF */
        "5 \r\nhello\r\n0\r\n\r\n",         /* whitespace not before a ";" */
        "5;a\nb\r\nhello\r\n0\r\n\r\n",    /* LF inside an extension */
        "5;a\x01\r\nhello\r\n0\r\n\r\n",   /* control byte in an extension */
        "\r\nhello\r\n0\r\n\r\n",           /* no size */
        "0x5\r\nhello\r\n0\r\n\r\n",
        "10000000000000000\r\n",            /* past 64 bits */
        "0\r\nX-T: 1\r\n folded\r\n\r\n",   /* obs-fold in a trailer */
        "0\r\nX-T: 1\n\r\n",                /* bare LF after a trailer */
        "0\r\nX-T: a\x01b\r\n\r\n",         /* control byte in a trailer */
        "0\r\n\rX",                         /* the last line's CR without LF */
    };
    char req[256];

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n%s", bodies[i]);
        expect_error(req, PIPIT_EBAD_REQUEST);
    }
}

/* A strict chunked body in every split, extensions and trailers included, then the next request. */
static void test_chunked_strict_ok(void **state)
{
    static const char req[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5;name=value ; other\r\nhello\r\n"
                              "6 ;x=\"q\"\r\n world\r\n"
                              "0000\r\nX-T: 1\r\nY-T:\t2\r\n\r\n"
                              "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    static const size_t steps[] = { 1, 2, 5, 64, 100000 };

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct fixture f;

        http_parse_init(&f.hp, &limits);
        assert_int_equal(feed_steps(&f, req, steps[i]), HTTP_PARSE_DONE);
        assert_int_equal(f.hp.req.body.len, 11);
        assert_memory_equal(f.hp.req.body.data, "hello world", 11);
        assert_string_equal(req + f.used, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        http_parse_reset(&f.hp);
        assert_int_equal(feed_steps(&f, req + f.used, steps[i]), HTTP_PARSE_DONE);
        assert_string_equal(f.hp.req.url, "/next");
        http_parse_cleanup(&f.hp);
    }
}

/* RFC 9112 §3.2: one Host, and a valid one. */
static void test_bad_host(void **state)
{
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", PIPIT_EBAD_REQUEST);
}

static void test_host_forms_accepted(void **state)
{
    static const char *const hosts[] = { "", "a", "a.example:8080", "[::1]:80", "10.0.0.1",
                                         "xn--bcher-kva.example" };
    char req[256];

    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        struct fixture f;

        http_parse_init(&f.hp, &limits);
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        assert_int_equal(feed(&f, req), HTTP_PARSE_DONE);
        assert_string_equal(http_request_header(&f.hp.req, "host"), hosts[i]);
        http_parse_cleanup(&f.hp);
    }
}

/* RFC 9112 §6.1: no coding but chunked, once; in HTTP/1.0 it closes the connection. */
static void test_bad_transfer_encoding(void **state)
{
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                 "0\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
                 PIPIT_EBAD_REQUEST);
}

static void test_http10_chunked_closes(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
                             "Transfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
                     HTTP_PARSE_DONE);
    assert_false(f->hp.req.keep_alive);
    assert_int_equal(f->hp.req.body.len, 2);
}

/* RFC 9112 §3.2.2: an absolute-form target becomes its path; its authority, the Host. */
static void test_absolute_form(void **state)
{
    static const struct {
        const char *target, *url, *host;
    } forms[] = {
        { "http://Example.com:8080/a/b?c=d", "/a/b?c=d", "Example.com:8080" },
        { "HTTPS://h", "/", "h" },
        { "http://h?q=1", "/?q=1", "h" },
        { "http:///x", "/x", "" },
        { "http://user@h/x", "/x", "user@h" }, /* refused below: not a valid host */
    };
    char req[256];

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct fixture f;
        enum http_parse_status want = strchr(forms[i].host, '@') ? HTTP_PARSE_ERROR
                                                                  : HTTP_PARSE_DONE;

        http_parse_init(&f.hp, &limits);
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: other\r\n\r\n", forms[i].target);
        assert_int_equal(feed(&f, req), want);
        if (want == HTTP_PARSE_DONE) {
            assert_string_equal(f.hp.req.url, forms[i].url);
            assert_string_equal(http_request_header(&f.hp.req, "host"), forms[i].host);
        }
        http_parse_cleanup(&f.hp);
    }
}

static void test_bad_request_line(void **state)
{
    expect_error("GET / HTTP/2.0\r\nHost: a\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET / FTP/1.1\r\nHost: a\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("BREW / HTTP/1.1\r\nHost: a\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", PIPIT_EBAD_REQUEST);
    expect_error("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", PIPIT_EBAD_REQUEST);
}

static void test_url_too_long(void **state)
{
    char req[1024];
    char url[300];

    memset(url, 'a', sizeof(url));
    url[0] = '/';
    url[limits.max_url_length] = '\0'; /* exactly the limit: fine */
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", url);
    {
        struct fixture f;

        http_parse_init(&f.hp, &limits);
        assert_int_equal(feed_steps(&f, req, 5), HTTP_PARSE_DONE);
        assert_int_equal(strlen(f.hp.req.url), limits.max_url_length);
        http_parse_cleanup(&f.hp);
    }
    url[limits.max_url_length] = 'a';
    url[limits.max_url_length + 1] = '\0';
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", url);
    expect_error(req, PIPIT_EURI_TOO_LONG);
}

static void test_url_too_long_before_line_ends(void **state)
{
    struct fixture *f = *state;
    char url[400];

    /* Refused while the request line is still arriving. */
    memset(url, 'b', sizeof(url) - 1);
    url[0] = '/';
    url[sizeof(url) - 1] = '\0';
    assert_int_equal(feed(f, "GET "), HTTP_PARSE_MORE);
    assert_int_equal(feed(f, url), HTTP_PARSE_ERROR);
    assert_int_equal(f->hp.err, PIPIT_EURI_TOO_LONG);
    assert_int_equal(pipit_errstatus(f->hp.err), 414);
}

static void test_too_many_headers(void **state)
{
    char req[2048];
    size_t n = 0;

    n += (size_t)snprintf(req + n, sizeof(req) - n, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 1; i < limits.max_header_count; i++) {
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-%zu: v\r\n", i);
    }
    snprintf(req + n, sizeof(req) - n, "\r\n");
    {
        struct fixture f;

        http_parse_init(&f.hp, &limits);
        assert_int_equal(feed(&f, req), HTTP_PARSE_DONE);
        assert_int_equal(f.hp.req.nheaders, limits.max_header_count);
        http_parse_cleanup(&f.hp);
    }
    snprintf(req + n, sizeof(req) - n, "X-last: v\r\n\r\n");
    expect_error(req, PIPIT_EHEADERS_TOO_LARGE);
}

static void test_head_too_large(void **state)
{
    char *req = malloc(8192);
    char value[3000];

    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(req, 8192, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n", value);
    expect_error(req, PIPIT_EHEADERS_TOO_LARGE);
    /* Many medium headers under the count limit but over the size limit. */
    {
        size_t n = (size_t)snprintf(req, 8192, "GET / HTTP/1.1\r\nHost: a\r\n");

        for (int i = 0; i < 10; i++) {
            n += (size_t)snprintf(req + n, 8192 - n, "X-%d: %.250s\r\n", i, value);
        }
        snprintf(req + n, 8192 - n, "\r\n");
        expect_error(req, PIPIT_EHEADERS_TOO_LARGE);
    }
    free(req);
}

static void test_body_too_large_by_content_length(void **state)
{
    struct fixture *f = *state;
    char req[256];

    /* Refused from the head alone, before any body byte arrives. */
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
             limits.max_body_size + 1);
    assert_int_equal(feed(f, req), HTTP_PARSE_ERROR);
    assert_int_equal(f->hp.err, PIPIT_EPAYLOAD_TOO_LARGE);
    assert_int_equal(f->hp.req.body.len, 0);
    expect_error(req, PIPIT_EPAYLOAD_TOO_LARGE);
    expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999\r\n\r\n",
                 PIPIT_EPAYLOAD_TOO_LARGE);
}

static void test_body_at_limit(void **state)
{
    struct fixture *f = *state;
    char head[256];
    char *body = malloc(limits.max_body_size);

    memset(body, 'q', limits.max_body_size);
    snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
             limits.max_body_size);
    assert_int_equal(feed(f, head), HTTP_PARSE_MORE);
    f->used = http_parse_feed(&f->hp, body, limits.max_body_size, &f->st);
    assert_int_equal(f->st, HTTP_PARSE_DONE);
    assert_int_equal(f->hp.req.body.len, limits.max_body_size);
    free(body);
}

static void test_chunked_body_too_large(void **state)
{
    struct fixture *f = *state;
    char chunk[600];
    int st;

    memset(chunk, 'c', sizeof(chunk) - 1);
    chunk[sizeof(chunk) - 1] = '\0';
    assert_int_equal(feed(f, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
                     HTTP_PARSE_MORE);
    assert_int_equal(feed(f, "257\r\n"), HTTP_PARSE_MORE); /* 599 bytes */
    assert_int_equal(feed(f, chunk), HTTP_PARSE_MORE);
    assert_int_equal(feed(f, "\r\n257\r\n"), HTTP_PARSE_MORE);
    st = feed(f, chunk);
    assert_int_equal(st, HTTP_PARSE_ERROR);
    assert_int_equal(f->hp.err, PIPIT_EPAYLOAD_TOO_LARGE);
    assert_true(f->hp.req.body.len <= limits.max_body_size);
}

static void test_reset_after_error_parses_again(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nHost : a\r\n\r\n"), HTTP_PARSE_ERROR);
    /* A connection is closed after an error; the parser must still not crash. */
    http_parse_cleanup(&f->hp);
    http_parse_init(&f->hp, &limits);
    assert_int_equal(feed(f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_PARSE_DONE);
}

static void test_http10_without_host(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(feed(f, "GET /old HTTP/1.0\r\n\r\n"), HTTP_PARSE_DONE);
    assert_int_equal(f->hp.req.version_minor, 0);
    assert_int_equal(f->hp.req.nheaders, 0);
    assert_string_equal(f->hp.req.url, "/old");
}

/* ---- Streamed bodies (uploads) ---- */

static size_t chunk_total;
static char chunk_seen[4096];

static uint64_t stream_uploads(void *arg, const struct http_request *req)
{
    return strncmp(req->url, "/v1/files", 9) == 0 ? 4096 : 0;
}

static void collect_chunk(void *arg, const char *data, size_t len)
{
    assert_true(chunk_total + len <= sizeof(chunk_seen));
    memcpy(chunk_seen + chunk_total, data, len);
    chunk_total += len;
}

static void stream_setup(struct fixture *f)
{
    f->hp.stream_limit = stream_uploads;
    f->hp.on_chunk = collect_chunk;
    chunk_total = 0;
}

/* The head comes alone first (so the handler decides before any body byte), then the body as chunks. */
static void test_stream_head_then_body(void **state)
{
    struct fixture *f = *state;
    const char *req = "POST /v1/files?name=a HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n";
    char body[2000];
    size_t head = strlen(req);
    char *all = malloc(head + sizeof(body));

    for (size_t i = 0; i < sizeof(body); i++) {
        body[i] = (char)('a' + i % 26);
    }
    memcpy(all, req, head);
    memcpy(all + head, body, sizeof(body));
    stream_setup(f);
    f->used = http_parse_feed(&f->hp, all, head + sizeof(body), &f->st);
    assert_int_equal(f->st, HTTP_PARSE_HEAD);
    /* The parser stops inside the head's last line end; the rest goes in the next feed. */
    assert_true(f->used <= head && f->used >= head - 1);
    assert_int_equal(chunk_total, 0);
    assert_true(f->hp.streaming);
    /* Limits for buffered bodies (1024 here) do not apply: the stream's own cap does. */
    f->used = http_parse_feed(&f->hp, all + f->used, head + 700 - f->used, &f->st);
    assert_int_equal(f->st, HTTP_PARSE_MORE);
    assert_int_equal(chunk_total, 700);
    f->used = http_parse_feed(&f->hp, all + head + 700, sizeof(body) - 700, &f->st);
    assert_int_equal(f->st, HTTP_PARSE_DONE);
    assert_int_equal(chunk_total, sizeof(body));
    assert_memory_equal(chunk_seen, body, sizeof(body));
    assert_int_equal(f->hp.req.body.len, 0);
    /* The next request on the connection is buffered as usual. */
    http_parse_reset(&f->hp);
    assert_int_equal(feed(f, "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"),
                     HTTP_PARSE_DONE);
    assert_false(f->hp.streaming);
    assert_int_equal(f->hp.req.body.len, 2);
    free(all);
}

static void test_stream_empty_body(void **state)
{
    struct fixture *f = *state;
    const char *req = "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";

    stream_setup(f);
    assert_int_equal(feed(f, req), HTTP_PARSE_HEAD);
    /* What the head left over ends the request. */
    f->used = http_parse_feed(&f->hp, req + f->used, strlen(req) - f->used, &f->st);
    assert_int_equal(f->st, HTTP_PARSE_DONE);
    assert_int_equal(chunk_total, 0);
}

static void test_stream_chunked_over_cap(void **state)
{
    struct fixture *f = *state;
    char req[8192];
    int n = snprintf(req, sizeof(req), "POST /v1/files HTTP/1.1\r\nHost: x\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n");

    stream_setup(f);
    for (int i = 0; i < 5; i++) {
        n += snprintf(req + n, sizeof(req) - (size_t)n, "3e8\r\n%01000d\r\n", 0);
    }
    assert_int_equal(feed(f, req), HTTP_PARSE_HEAD);
    f->used = http_parse_feed(&f->hp, req + f->used, strlen(req) - f->used, &f->st);
    assert_int_equal(f->st, HTTP_PARSE_ERROR);
    assert_int_equal(f->hp.err, PIPIT_EPAYLOAD_TOO_LARGE);
    assert_true(chunk_total <= 4096);
}

/* A streamed chunked body: the head's last byte, left for the next feed, is not body. */
static void test_stream_chunked_body(void **state)
{
    struct fixture *f = *state;
    static const char req[] = "POST /v1/files HTTP/1.1\r\nHost: x\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

    stream_setup(f);
    assert_int_equal(feed(f, req), HTTP_PARSE_HEAD);
    f->used += http_parse_feed(&f->hp, req + f->used, strlen(req) - f->used, &f->st);
    assert_int_equal(f->st, HTTP_PARSE_DONE);
    assert_int_equal(f->used, strlen(req));
    assert_int_equal(chunk_total, 5);
    assert_memory_equal(chunk_seen, "abcde", 5);
}

static void test_stream_length_over_cap(void **state)
{
    struct fixture *f = *state;

    stream_setup(f);
    assert_int_equal(feed(f, "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 4097\r\n\r\n"),
                     HTTP_PARSE_ERROR);
    assert_int_equal(f->hp.err, PIPIT_EPAYLOAD_TOO_LARGE);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_simple_get),
        T(test_one_byte_at_a_time),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_keep_alive_flags),
        T(test_pipelined),
        T(test_many_pipelined_reuse_buffers),
        T(test_leading_empty_lines_tolerated),
        T(test_post_content_length),
        T(test_zero_content_length),
        T(test_chunked_body),
        T(test_chunked_trailers_keep_head_intact),
        T(test_upgrade_request),
        T(test_upgrade_one_byte_at_a_time),
        T(test_upgrade_needs_connection_token),
        T(test_empty_value_then_more_headers),
        T(test_value_tab_allowed_and_trimmed),
        T(test_header_lookup_case_insensitive),
        T(test_bug_header_lookup_name_case),
        T(test_bug_upgrade_with_body_desyncs),
        cmocka_unit_test(test_has_token),
        cmocka_unit_test(test_bad_space_before_colon),
        cmocka_unit_test(test_bad_obs_fold),
        cmocka_unit_test(test_bad_bare_lf),
        cmocka_unit_test(test_bad_cr_without_lf),
        cmocka_unit_test(test_bad_control_in_value),
        cmocka_unit_test(test_bad_nul_in_value),
        cmocka_unit_test(test_bad_missing_host_on_11),
        cmocka_unit_test(test_bad_framing),
        cmocka_unit_test(test_bad_chunk_framing),
        cmocka_unit_test(test_chunked_strict_ok),
        cmocka_unit_test(test_bad_host),
        cmocka_unit_test(test_host_forms_accepted),
        cmocka_unit_test(test_bad_transfer_encoding),
        T(test_http10_chunked_closes),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_bad_request_line),
        cmocka_unit_test(test_url_too_long),
        T(test_url_too_long_before_line_ends),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_head_too_large),
        T(test_body_too_large_by_content_length),
        T(test_body_at_limit),
        T(test_chunked_body_too_large),
        T(test_reset_after_error_parses_again),
        T(test_http10_without_host),
        T(test_stream_head_then_body),
        T(test_stream_empty_body),
        T(test_stream_chunked_over_cap),
        T(test_stream_chunked_body),
        T(test_stream_length_over_cap),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
