/* test_ws_handshake.c: RFC 6455 §4.2 opening handshake checks (ws/ws_handshake.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.h"
#include "util/err.h"
#include "ws/ws_handshake.h"

static const struct http_limits limits = {
    .max_header_count = 32,
    .max_header_size = 8192,
    .max_url_length = 1024,
    .max_body_size = 1024,
};

/* Parses raw request text; the caller checks the result and cleans up hp. */
static const struct http_request *parse(struct http_parse *hp, const char *text)
{
    enum http_parse_status st;

    http_parse_init(hp, &limits);
    http_parse_feed(hp, text, strlen(text), &st);
    if (st != HTTP_PARSE_DONE) {
        fail_msg("request did not parse (err %d):\n%s", hp->err, text);
    }
    return &hp->req;
}

/* Builds a handshake request; NULL leaves a header out. */
static char *request(const char *method, const char *upgrade, const char *connection,
                     const char *version, const char *key, const char *origin)
{
    static char text[2048];
    size_t n = (size_t)snprintf(text, sizeof(text), "%s /v1/ws HTTP/1.1\r\nHost: chat.example:8080\r\n",
                                method);

    if (upgrade != NULL) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "Upgrade: %s\r\n", upgrade);
    }
    if (connection != NULL) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "Connection: %s\r\n", connection);
    }
    if (version != NULL) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "Sec-WebSocket-Version: %s\r\n", version);
    }
    if (key != NULL) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "Sec-WebSocket-Key: %s\r\n", key);
    }
    if (origin != NULL) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "Origin: %s\r\n", origin);
    }
    snprintf(text + n, sizeof(text) - n, "\r\n");
    return text;
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static int check(const char *text, char *const *origins, size_t norigins, char *accept)
{
    struct http_parse hp;
    char scratch[WS_ACCEPT_LEN + 1];
    int rc;

    rc = ws_handshake_check(parse(&hp, text), origins, norigins,
                            accept != NULL ? accept : scratch);
    http_parse_cleanup(&hp);
    return rc;
}

static void test_rfc6455_example_key(void **state)
{
    char accept[WS_ACCEPT_LEN + 1];

    memset(accept, 'X', sizeof(accept));
    assert_int_equal(check(request("GET", "websocket", "Upgrade", "13", KEY, NULL), NULL, 0,
                           accept),
                     0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(strlen(accept), WS_ACCEPT_LEN);
}

static void test_token_variants_accepted(void **state)
{
    char accept[WS_ACCEPT_LEN + 1];

    assert_int_equal(check(request("GET", "WebSocket", "keep-alive, Upgrade", "13", KEY, NULL),
                           NULL, 0, accept),
                     0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(check(request("GET", "websocket", "upgrade", "13", KEY, NULL), NULL, 0,
                           accept),
                     0);
    assert_int_equal(check(request("GET", "websocket", "Upgrade", "13",
                                    "AAAAAAAAAAAAAAAAAAAAAA==", NULL),
                           NULL, 0, accept),
                     0);
}

static void test_bad_keys(void **state)
{
    static const char *const keys[] = {
        "dGhlIHNhbXBsZSBub25jZQ",       /* unpadded */
        "dGhlIHNhbXBsZSBub25jZQ=",      /* 23 */
        "dGhlIHNhbXBsZSBub25jZQ===",    /* 25 */
        "c2hvcnQ=",                     /* 5 bytes */
        "dGhlIHNhbXBsZSBub25jZSEh",     /* 18 bytes, 24 chars */
        "dGhlIHNhbXBsZSBub25jZR==",     /* non-canonical trailing bits */
        "dGhlIHNhbXBsZSBub25j*Q==",     /* not base64 */
        "dGhlIHNhbXBsZSBub25jZQ-_",     /* url alphabet */
        "!!!!!!!!!!!!!!!!!!!!!!!!",
        "",
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int rc = check(request("GET", "websocket", "Upgrade", "13", keys[i], NULL), NULL, 0,
                       NULL);

        if (rc != PIPIT_EBAD_REQUEST) {
            fail_msg("key '%s': got %d", keys[i], rc);
        }
    }
    assert_int_equal(check(request("GET", "websocket", "Upgrade", "13", NULL, NULL), NULL, 0,
                           NULL),
                     PIPIT_EBAD_REQUEST);
}

static void test_wrong_version(void **state)
{
    static const char *const versions[] = { "8", "12", "14", "13, 8", " ", "013", "" };

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        int rc = check(request("GET", "websocket", "Upgrade", versions[i], KEY, NULL), NULL, 0,
                       NULL);

        if (rc != PIPIT_EBAD_WS_VERSION) {
            fail_msg("version '%s': got %d", versions[i], rc);
        }
    }
    assert_int_equal(check(request("GET", "websocket", "Upgrade", NULL, KEY, NULL), NULL, 0,
                           NULL),
                     PIPIT_EBAD_WS_VERSION);
    assert_int_equal(pipit_errstatus(PIPIT_EBAD_WS_VERSION), 426);
}

static void test_non_get(void **state)
{
    static const char *const methods[] = { "POST", "PUT", "HEAD", "OPTIONS", "DELETE" };

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        assert_int_equal(check(request(methods[i], "websocket", "Upgrade", "13", KEY, NULL),
                               NULL, 0, NULL),
                         PIPIT_EMETHOD_NOT_ALLOWED);
    }
}

static void test_missing_upgrade_or_connection(void **state)
{
    assert_int_equal(check(request("GET", NULL, "Upgrade", "13", KEY, NULL), NULL, 0, NULL),
                     PIPIT_EBAD_REQUEST);
    assert_int_equal(check(request("GET", "websocket", NULL, "13", KEY, NULL), NULL, 0, NULL),
                     PIPIT_EBAD_REQUEST);
    assert_int_equal(check(request("GET", "websocket", "keep-alive", "13", KEY, NULL), NULL, 0,
                           NULL),
                     PIPIT_EBAD_REQUEST);
    assert_int_equal(check(request("GET", "websocket", "upgraded", "13", KEY, NULL), NULL, 0,
                           NULL),
                     PIPIT_EBAD_REQUEST);
    assert_int_equal(check(request("GET", "h2c", "Upgrade", "13", KEY, NULL), NULL, 0, NULL),
                     PIPIT_EBAD_REQUEST);
    assert_int_equal(check(request("GET", "websocketx", "Upgrade", "13", KEY, NULL), NULL, 0,
                           NULL),
                     PIPIT_EBAD_REQUEST);
}

static void test_origin_checked_in_handshake(void **state)
{
    char *listed[] = { "https://app.example" };

    assert_int_equal(check(request("GET", "websocket", "Upgrade", "13", KEY,
                                   "https://evil.example"),
                           listed, 1, NULL),
                     PIPIT_EFORBIDDEN_ORIGIN);
    assert_int_equal(check(request("GET", "websocket", "Upgrade", "13", KEY,
                                   "https://app.example"),
                           listed, 1, NULL),
                     0);
    assert_int_equal(check(request("GET", "websocket", "Upgrade", "13", KEY,
                                   "http://chat.example:8080"),
                           listed, 1, NULL),
                     0);
    assert_int_equal(pipit_errstatus(PIPIT_EFORBIDDEN_ORIGIN), 403);
}

static void test_origin_allowed_basics(void **state)
{
    char *listed[] = { "https://app.example", "http://localhost:3000" };

    /* No Origin: not a browser. */
    assert_true(ws_origin_allowed(NULL, "chat.example", NULL, 0));
    assert_true(ws_origin_allowed(NULL, NULL, NULL, 0));
    /* Same origin, either scheme (a TLS-terminating proxy changes what we see). */
    assert_true(ws_origin_allowed("http://chat.example", "chat.example", NULL, 0));
    assert_true(ws_origin_allowed("https://chat.example", "chat.example", NULL, 0));
    assert_true(ws_origin_allowed("https://chat.example:8443", "chat.example:8443", NULL, 0));
    assert_true(ws_origin_allowed("HTTPS://Chat.Example", "chat.example", NULL, 0));
    /* Listed origins, case-insensitively. */
    assert_true(ws_origin_allowed("https://app.example", "chat.example", listed, 2));
    assert_true(ws_origin_allowed("HTTPS://APP.EXAMPLE", "chat.example", listed, 2));
    assert_true(ws_origin_allowed("http://localhost:3000", "chat.example", listed, 2));
    /* No Host header to compare against: only the list counts. */
    assert_false(ws_origin_allowed("https://chat.example", NULL, NULL, 0));
    assert_true(ws_origin_allowed("https://app.example", NULL, listed, 2));
}

static void test_hostile_origins_refused(void **state)
{
    char *listed[] = { "https://app.example" };
    const char *host = "chat.example:8080";
    static const char *const hostile[] = {
        "null",
        "",
        "https://evil.example",
        "http://evil.example",
        "https://app.example.evil",
        "https://app.example.evil.com",
        "https://evilapp.example",
        "https://app.example@evil.example",
        "https://user:pass@app.example",
        "https://user@chat.example:8080",
        "http://app.example",              /* listed only as https */
        "https://app.example:443",         /* explicit port is another string */
        "https://app.example:8443",
        "https://app.example.",            /* trailing dot */
        "https://app.example/",            /* a path is not an origin */
        "https://app.example/evil",
        "https://app.example#",
        "https://app.example?x",
        "app.example",
        "//app.example",
        "https:app.example",
        "ws://app.example",
        "wss://app.example",
        "file://",
        "https://APP.EXAMPLE.EVIL",
        "https://app.examplE.evil",
        "https://app.example%2eevil",
        "https://app.example\tx",
        " https://app.example",
        "https://app.example ",
        "https://chat.example",            /* same host, wrong port */
        "https://chat.example:80",
        "https://chat.example:8080.evil.example",
        "https://chat.example:8080/",
        "https://chat.example:8080@evil.example",
        "https://evil.example/chat.example:8080",
        "https://evil.example#chat.example:8080",
        "ftp://chat.example:8080",
        "https://xchat.example:8080",
        "chat.example:8080",
        "http:/chat.example:8080",
        "https:///chat.example:8080",
    };

    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        if (ws_origin_allowed(hostile[i], host, listed, 1)) {
            fail_msg("hostile origin allowed: '%s'", hostile[i]);
        }
    }
}

static void test_hostile_host_headers(void **state)
{
    /* A Host that is empty or odd never matches an Origin it does not equal. */
    assert_false(ws_origin_allowed("https://evil.example", "", NULL, 0));
    assert_false(ws_origin_allowed("https://evil.example", "chat.example", NULL, 0));
    assert_false(ws_origin_allowed("null", "null", NULL, 0));
}

/* RFC 6455 §4.1, §11.3.1, §11.3.5 and RFC 6454 §7.3: HTTP/1.1, one key, one version, one Origin. */
static void test_repeated_headers_and_http10(void **state)
{
    char text[2048];
    char *allowed[] = { "https://app.example" };
    const char *base = request("GET", "websocket", "Upgrade", "13", KEY, NULL);
    size_t n = strlen(base) - 2; /* before the blank line */

    snprintf(text, sizeof(text), "%.*sSec-WebSocket-Key: %s\r\n\r\n", (int)n, base, KEY);
    assert_int_equal(check(text, NULL, 0, NULL), PIPIT_EBAD_REQUEST);
    snprintf(text, sizeof(text), "%.*sSec-WebSocket-Version: 13\r\n\r\n", (int)n, base);
    assert_int_equal(check(text, NULL, 0, NULL), PIPIT_EBAD_REQUEST);
    snprintf(text, sizeof(text), "%.*sOrigin: https://app.example\r\nOrigin: https://evil\r\n\r\n",
             (int)n, base);
    assert_int_equal(check(text, allowed, 1, NULL), PIPIT_EFORBIDDEN_ORIGIN);
    snprintf(text, sizeof(text), "%s", base);
    memcpy(strstr(text, "HTTP/1.1"), "HTTP/1.0", 8);
    assert_int_equal(check(text, NULL, 0, NULL), PIPIT_EBAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6455_example_key),
        cmocka_unit_test(test_token_variants_accepted),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_non_get),
        cmocka_unit_test(test_missing_upgrade_or_connection),
        cmocka_unit_test(test_origin_checked_in_handshake),
        cmocka_unit_test(test_origin_allowed_basics),
        cmocka_unit_test(test_hostile_origins_refused),
        cmocka_unit_test(test_hostile_host_headers),
        cmocka_unit_test(test_repeated_headers_and_http10),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
