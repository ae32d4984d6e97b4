/*
 * fuzz_http_parse.c: the strict HTTP/1.1 request parser (src/http/http_parse.h).
 *
 * Input layout: two bytes choose where the rest is split between two feeds (so
 * requests straddle reads), the rest is the byte stream of one connection. Each
 * finished request is checked against the limits, handed to the WebSocket
 * handshake check, then reset so the next pipelined request parses; the first
 * error ends the connection, as http_conn does. Limits are small so the caps
 * are reached often. POSTs to /up* stream their bodies (as uploads do): the head
 * comes alone first, then every body byte through on_chunk, within the cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/http_parse.h"
#include "util/err.h"
#include "ws/ws_handshake.h"

static const struct http_limits limits = {
    .max_header_count = 8,
    .max_header_size = 512,
    .max_url_length = 128,
    .max_body_size = 256,
};
#define STREAM_MAX 512

static uint64_t streamed;

static uint64_t stream_limit(void *arg, const struct http_request *req)
{
    return req->method == HTTP_POST && strncmp(req->url, "/up", 3) == 0 ? STREAM_MAX : 0;
}

static void on_chunk(void *arg, const char *data, size_t len)
{
    CHECK(len > 0 && data != NULL);
    streamed += len;
}

static void inspect(const struct http_parse *hp)
{
    static char *origins[] = { "https://app.example", "http://localhost:3000" };
    const struct http_request *req = &hp->req;
    char accept[WS_ACCEPT_LEN + 1];
    size_t total = 0;

    CHECK(req->url != NULL);
    CHECK(strlen(req->url) <= limits.max_url_length);
    CHECK(req->nheaders <= limits.max_header_count);
    CHECK(req->body.len <= limits.max_body_size);
    if (hp->streaming) {
        CHECK(req->body.len == 0 && streamed <= STREAM_MAX && streamed == hp->streamed);
        CHECK(req->content_length < 0 || (uint64_t)req->content_length == streamed);
    } else if (req->content_length >= 0 && !req->upgrade) {
        CHECK((size_t)req->content_length == req->body.len);
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;
        const char *value = req->headers[i].value;

        CHECK(name != NULL && value != NULL);
        /* Names are non-empty lower-case tokens; values carry no CTLs but HTAB. */
        CHECK(name[0] != '\0');
        for (const char *p = name; *p; p++) {
            CHECK(!(*p >= 'A' && *p <= 'Z') && (unsigned char)*p > 0x20);
        }
        for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
            CHECK(*p >= 0x20 || *p == '\t');
            CHECK(*p != 0x7f);
        }
        total += strlen(name) + strlen(value);
        CHECK(http_request_header(req, name) != NULL);
    }
    /* The head buffer holds the url, names and values plus one NUL each. */
    CHECK(strlen(req->url) + total <= limits.max_header_size + 2 * limits.max_header_count + 2);
    (void)http_header_has_token(http_request_header(req, "connection"), "upgrade");
    if (ws_handshake_check(req, origins, 2, accept) == 0) {
        CHECK(strlen(accept) == WS_ACCEPT_LEN);
    }
}

/* Feeds one chunk; returns false once the connection would be closed. */
static bool feed(struct http_parse *hp, const char *data, size_t len)
{
    while (len > 0) {
        enum http_parse_status st;
        size_t got = http_parse_feed(hp, data, len, &st);

        CHECK(got <= len);
        if (st == HTTP_PARSE_ERROR) {
            int status = pipit_errstatus(hp->err);

            CHECK(hp->err < 0);
            CHECK(status >= 400 && status < 500);
            return false;
        }
        if (st == HTTP_PARSE_MORE) {
            CHECK(got == len);
            return true;
        }
        CHECK(hp->head_done && hp->req.url != NULL);
        if (st == HTTP_PARSE_HEAD) {
            /* The head of a streamed request, before any of its body. */
            CHECK(hp->streaming && streamed == 0);
            data += got;
            len -= got;
            continue;
        }
        inspect(hp);
        http_parse_reset(hp);
        streamed = 0;
        data += got;
        len -= got;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_parse hp;
    size_t split;

    if (size < 2) {
        return 0;
    }
    split = ((size_t)data[0] | (size_t)data[1] << 8) % (size - 1);
    data += 2;
    size -= 2;
    http_parse_init(&hp, &limits);
    hp.stream_limit = stream_limit;
    hp.on_chunk = on_chunk;
    streamed = 0;
    if (feed(&hp, (const char *)data, split)) {
        feed(&hp, (const char *)data + split, size - split);
    }
    (void)http_parse_started(&hp);
    http_parse_cleanup(&hp);
    return 0;
}
