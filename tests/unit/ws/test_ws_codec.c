/* test_ws_codec.c: RFC 6455 framing over memory (ws/ws_codec.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../known_bug.h"
#include "util/err.h"
#include "ws/ws_codec.h"

#define MAX_MESSAGE 1024
#define MAX_MSGS 16

struct msg {
    uint8_t opcode;
    uint8_t *data;
    size_t len;
    uint16_t close_code;
};

struct peer {
    struct ws_codec wc;
    struct msg msgs[MAX_MSGS];
    int nmsgs;
    uint8_t out[8192];
    size_t out_len;
};

static void on_message(void *user, uint8_t opcode, const uint8_t *data, size_t len,
                       uint16_t close_code)
{
    struct peer *p = user;
    struct msg *m;

    assert_true(p->nmsgs < MAX_MSGS);
    m = &p->msgs[p->nmsgs++];
    m->opcode = opcode;
    m->data = malloc(len + 1);
    if (len > 0) {
        memcpy(m->data, data, len);
    }
    m->data[len] = '\0';
    m->len = len;
    m->close_code = close_code;
}

static void on_output(void *user, const uint8_t *data, size_t len)
{
    struct peer *p = user;

    assert_true(p->out_len + len <= sizeof(p->out));
    memcpy(p->out + p->out_len, data, len);
    p->out_len += len;
}

static const struct ws_codec_handlers handlers = { on_message, on_output };

static int setup(void **state)
{
    struct peer *p = calloc(1, sizeof(*p));

    if (ws_codec_init(&p->wc, MAX_MESSAGE, &handlers, p) != 0) {
        return -1;
    }
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct peer *p = *state;

    ws_codec_cleanup(&p->wc);
    ws_codec_cleanup(&p->wc); /* idempotent */
    for (int i = 0; i < p->nmsgs; i++) {
        free(p->msgs[i].data);
    }
    free(p);
    return 0;
}

/* A client frame (RFC 6455 §5.2), masked unless mask is false. */
static size_t frame(uint8_t *out, uint8_t first, const void *payload, size_t len, bool mask)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    size_t n = 0;

    out[n++] = first;
    if (len < 126) {
        out[n++] = (uint8_t)((mask ? 0x80 : 0) | len);
    } else if (len < 65536) {
        out[n++] = (uint8_t)((mask ? 0x80 : 0) | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)((mask ? 0x80 : 0) | 127);
        for (int i = 7; i >= 0; i--) {
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
        }
    }
    if (mask) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++) {
        out[n + i] = ((const uint8_t *)payload)[i] ^ (mask ? key[i % 4] : 0);
    }
    return n + len;
}

static size_t close_frame(uint8_t *out, uint16_t code, const char *reason)
{
    uint8_t body[128];
    size_t rlen = strlen(reason);

    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    memcpy(body + 2, reason, rlen);
    return frame(out, 0x88, body, 2 + rlen, true);
}

/* Feeds bytes, either at once or one at a time. */
static int feed(struct peer *p, const uint8_t *data, size_t len, bool bytewise)
{
    int rc = 0;

    if (!bytewise) {
        return ws_codec_feed(&p->wc, data, len);
    }
    for (size_t i = 0; i < len; i++) {
        int r = ws_codec_feed(&p->wc, data + i, 1);

        if (r != 0) {
            rc = r;
        }
    }
    return rc;
}

/* Finds the first server frame with opcode in the output; server frames are unmasked. */
static bool find_out_frame(const struct peer *p, uint8_t opcode, const uint8_t **payload,
                           size_t *plen)
{
    size_t i = 0;

    while (i + 2 <= p->out_len) {
        uint8_t op = p->out[i] & 0x0f;
        size_t len = p->out[i + 1] & 0x7f;
        size_t h = 2;

        assert_int_equal(p->out[i + 1] & 0x80, 0); /* §5.1: the server never masks */
        if (len == 126) {
            len = (size_t)p->out[i + 2] << 8 | p->out[i + 3];
            h = 4;
        } else if (len == 127) {
            len = 0;
            for (int k = 0; k < 8; k++) {
                len = len << 8 | p->out[i + 2 + k];
            }
            h = 10;
        }
        assert_true(i + h + len <= p->out_len);
        if (op == opcode) {
            *payload = p->out + i + h;
            *plen = len;
            return true;
        }
        i += h + len;
    }
    return false;
}

/* The status code of the close frame the server wrote, or 0 when none. */
static int out_close_code(const struct peer *p)
{
    const uint8_t *pl;
    size_t len;

    if (!find_out_frame(p, 0x8, &pl, &len)) {
        return 0;
    }
    if (len < 2) {
        return -1;
    }
    return pl[0] << 8 | pl[1];
}

static void test_masked_text_delivered(void **state)
{
    struct peer *p = *state;
    uint8_t buf[64];
    size_t n = frame(buf, 0x81, "hello", 5, true);

    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_int_equal(p->nmsgs, 1);
    assert_int_equal(p->msgs[0].opcode, WSLAY_TEXT_FRAME);
    assert_int_equal(p->msgs[0].len, 5);
    assert_string_equal((char *)p->msgs[0].data, "hello");
    assert_int_equal(p->out_len, 0); /* nothing to answer */
    assert_true(ws_codec_reading(&p->wc));
}

static void test_bytewise_and_batched(void **state)
{
    struct peer *p = *state;
    uint8_t buf[512];
    size_t n = 0;
    char big[300];

    memset(big, 'B', sizeof(big));
    n += frame(buf + n, 0x81, "one", 3, true);
    n += frame(buf + n, 0x81, big, sizeof(big), true); /* 16-bit length */
    n += frame(buf + n, 0x81, "", 0, true);
    assert_int_equal(feed(p, buf, n, true), 0);
    assert_int_equal(p->nmsgs, 3);
    assert_string_equal((char *)p->msgs[0].data, "one");
    assert_int_equal(p->msgs[1].len, sizeof(big));
    assert_memory_equal(p->msgs[1].data, big, sizeof(big));
    assert_int_equal(p->msgs[2].len, 0);
}

static void test_fragmented_text_reassembled(void **state)
{
    struct peer *p = *state;
    uint8_t buf[128];
    size_t n = 0;

    n += frame(buf + n, 0x01, "Hel", 3, true);          /* text, not final */
    n += frame(buf + n, 0x00, "lo, ", 4, true);         /* continuation */
    n += frame(buf + n, 0x89, "mid", 3, true);          /* ping between fragments */
    n += frame(buf + n, 0x80, "world", 5, true);        /* final continuation */
    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    for (int i = 0, texts = 0; i < p->nmsgs; i++) {
        if (p->msgs[i].opcode == WSLAY_TEXT_FRAME) {
            assert_int_equal(++texts, 1);
            assert_string_equal((char *)p->msgs[i].data, "Hello, world");
        }
    }
    {
        const uint8_t *pl;
        size_t len;

        assert_true(find_out_frame(p, 0xA, &pl, &len));
        assert_int_equal(len, 3);
        assert_memory_equal(pl, "mid", 3);
    }
}

static void test_utf8_split_across_fragments_ok(void **state)
{
    struct peer *p = *state;
    uint8_t buf[64];
    size_t n = 0;

    /* "é" (C3 A9) split between two frames is still valid text. */
    n += frame(buf + n, 0x01, "caf\xc3", 4, true);
    n += frame(buf + n, 0x80, "\xa9", 1, true);
    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_int_equal(p->nmsgs, 1);
    assert_string_equal((char *)p->msgs[0].data, "caf\xc3\xa9");
}

static void test_ping_answered_with_pong(void **state)
{
    struct peer *p = *state;
    uint8_t buf[64];
    const uint8_t *pl;
    size_t len;
    size_t n = frame(buf, 0x89, "abc", 3, true);

    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_true(find_out_frame(p, 0xA, &pl, &len));
    assert_int_equal(p->out[0], 0x8A); /* FIN + pong */
    assert_int_equal(len, 3);
    assert_memory_equal(pl, "abc", 3);
    assert_true(ws_codec_reading(&p->wc));
}

static void test_empty_ping(void **state)
{
    struct peer *p = *state;
    uint8_t buf[16];
    size_t n = frame(buf, 0x89, "", 0, true);

    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_int_equal(p->out_len, 2);
    assert_int_equal(p->out[0], 0x8A);
    assert_int_equal(p->out[1], 0x00);
}

static void test_pong_delivered_not_answered(void **state)
{
    struct peer *p = *state;
    uint8_t buf[16];
    size_t n = frame(buf, 0x8A, "x", 1, true);

    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_int_equal(p->out_len, 0);
    assert_int_equal(p->nmsgs, 1);
    assert_int_equal(p->msgs[0].opcode, WSLAY_PONG);
}

static void test_binary_delivered_as_binary(void **state)
{
    struct peer *p = *state;
    uint8_t buf[64];
    const uint8_t bin[] = { 0x00, 0xff, 0xc3, 0x28, 0x00 }; /* not UTF-8, and that is fine */
    size_t n = frame(buf, 0x82, bin, sizeof(bin), true);

    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_int_equal(p->nmsgs, 1);
    assert_int_equal(p->msgs[0].opcode, WSLAY_BINARY_FRAME);
    assert_int_equal(p->msgs[0].len, sizeof(bin));
    assert_memory_equal(p->msgs[0].data, bin, sizeof(bin));
}

/*
 * Feeds bytes that break the protocol and expects that close code in the output:
 * all at once (bytewise 0) and/or one byte per call (bytewise 1).
 */
static void expect_failure_split(const uint8_t *data, size_t len, int code, int from, int to)
{
    for (int bytewise = from; bytewise < to; bytewise++) {
        struct peer *p = calloc(1, sizeof(*p));
        uint8_t more[32];
        size_t mlen;
        int texts = 0;

        assert_int_equal(ws_codec_init(&p->wc, MAX_MESSAGE, &handlers, p), 0);
        if (feed(p, data, len, bytewise) != PIPIT_EPROTO) {
            fail_msg("not refused: frame %02x %02x (%zu bytes, bytewise %d)", data[0], data[1],
                     len, bytewise);
        }
        if (out_close_code(p) != code) {
            fail_msg("close code %d, want %d: frame %02x %02x (%zu bytes, bytewise %d)",
                     out_close_code(p), code, data[0], data[1], len, bytewise);
        }
        assert_true(ws_codec_close_sent(&p->wc));
        assert_false(ws_codec_reading(&p->wc));
        for (int i = 0; i < p->nmsgs; i++) {
            texts += p->msgs[i].opcode == WSLAY_TEXT_FRAME ||
                     p->msgs[i].opcode == WSLAY_BINARY_FRAME;
        }
        assert_int_equal(texts, 0);
        /* Once failed: nothing more is read or delivered. */
        p->out_len = 0;
        mlen = frame(more, 0x81, "late", 4, true);
        assert_int_equal(ws_codec_feed(&p->wc, more, mlen), PIPIT_EPROTO);
        for (int i = 0; i < p->nmsgs; i++) {
            assert_true(p->msgs[i].opcode != WSLAY_TEXT_FRAME);
        }
        assert_int_equal(out_close_code(p), 0); /* only one close frame, ever */
        ws_codec_cleanup(&p->wc);
        for (int i = 0; i < p->nmsgs; i++) {
            free(p->msgs[i].data);
        }
        free(p);
    }
}

static void expect_failure(const uint8_t *data, size_t len, int code)
{
    expect_failure_split(data, len, code, 0, 2);
}

/* Known src bug (see test_bug_split_header_loses_close_code): whole feeds only. */
static void expect_failure_whole(const uint8_t *data, size_t len, int code)
{
    expect_failure_split(data, len, code, 0, 1);
}

static void test_invalid_utf8_closes_1007(void **state)
{
    uint8_t buf[64];
    size_t n;

    n = frame(buf, 0x81, "bad \xff here", 10, true);
    expect_failure(buf, n, 1007);
    n = frame(buf, 0x81, "\xc3\x28", 2, true);               /* bad continuation */
    expect_failure(buf, n, 1007);
    n = frame(buf, 0x81, "\xed\xa0\x80", 3, true);           /* UTF-16 surrogate */
    expect_failure(buf, n, 1007);
    n = frame(buf, 0x81, "\xc0\xaf", 2, true);               /* overlong '/' */
    expect_failure(buf, n, 1007);
    n = frame(buf, 0x81, "\xf4\x90\x80\x80", 4, true);       /* above U+10FFFF */
    expect_failure(buf, n, 1007);
    n = frame(buf, 0x81, "end\xe2\x82", 5, true);            /* truncated at FIN */
    expect_failure(buf, n, 1007);
}

static void test_invalid_utf8_across_fragments_closes_1007(void **state)
{
    uint8_t buf[64];
    size_t n = 0;

    n += frame(buf + n, 0x01, "ok\xe2\x82", 4, true);
    n += frame(buf + n, 0x80, "Z", 1, true); /* E2 82 5A is not UTF-8 */
    expect_failure(buf, n, 1007);
}

static void test_unmasked_closes_1002(void **state)
{
    uint8_t buf[64];
    size_t n = frame(buf, 0x81, "hello", 5, false);

    expect_failure(buf, n, 1002);
    n = frame(buf, 0x89, "", 0, false);
    expect_failure(buf, n, 1002);
}

static void test_protocol_errors_close_1002(void **state)
{
    uint8_t buf[256];
    uint8_t body[200];
    size_t n;

    memset(body, 'c', sizeof(body));
    n = frame(buf, 0xC1, "rsv1", 4, true);                  /* RSV1 without an extension */
    expect_failure(buf, n, 1002);
    n = frame(buf, 0x83, "x", 1, true);                     /* reserved data opcode */
    expect_failure(buf, n, 1002);
    n = frame(buf, 0x8B, "x", 1, true);                     /* reserved control opcode */
    expect_failure(buf, n, 1002);
    n = frame(buf, 0x80, "orphan", 6, true);                /* continuation with nothing open */
    expect_failure(buf, n, 1002);
    n = frame(buf, 0x09, "p", 1, true);                     /* fragmented ping */
    expect_failure_whole(buf, n, 1002);
    n = frame(buf, 0x89, body, 126, true);                  /* control frame > 125 bytes */
    expect_failure_whole(buf, n, 1002);
    n = frame(buf, 0x88, "x", 1, true);                     /* close with a 1-byte body */
    expect_failure(buf, n, 1002);
    n = 0;                                                  /* new message inside a fragmented one */
    n += frame(buf + n, 0x01, "a", 1, true);
    n += frame(buf + n, 0x81, "b", 1, true);
    expect_failure(buf, n, 1002);
    {
        /* A 64-bit length with the top bit set (§5.2). */
        uint8_t hdr[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };

        expect_failure_whole(hdr, sizeof(hdr), 1002);
    }
    {
        /* Lengths not in their minimal form (§5.2): wslay alone closes without a code. */
        uint8_t len16[] = { 0x81, 0xFE, 0, 5, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o' };
        uint8_t len64[] = { 0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4 };

        expect_failure_whole(len16, sizeof(len16), 1002);
        expect_failure_whole(len64, sizeof(len64), 1002);
    }
}

static void test_bug_split_header_loses_close_code(void **state)
{
    uint8_t buf[256];
    uint8_t body[200];
    uint8_t hdr[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };
    size_t n;

    memset(body, 'c', sizeof(body));
    /* The same frames as above, but their headers arrive in pieces (TCP may do that). */
    n = frame(buf, 0x09, "p", 1, true);
    expect_failure_split(buf, n, 1002, 1, 2);
    n = frame(buf, 0x89, body, 126, true);
    expect_failure_split(buf, n, 1002, 1, 2);
    expect_failure_split(hdr, sizeof(hdr), 1002, 1, 2);
}

static void test_oversized_closes_1009(void **state)
{
    uint8_t *buf = malloc(MAX_MESSAGE * 2 + 64);
    uint8_t *big = malloc(MAX_MESSAGE * 2);
    size_t n;

    memset(big, 'a', MAX_MESSAGE * 2);
    /* One frame declaring more than the cap: refused from its header. */
    n = frame(buf, 0x81, big, MAX_MESSAGE + 1, true);
    expect_failure(buf, n, 1009);
    expect_failure(buf, 8, 1009); /* only the header has arrived */
    n = frame(buf, 0x82, big, MAX_MESSAGE + 1, true);
    expect_failure(buf, n, 1009);
    {
        /* A huge 64-bit length is refused the same way. */
        uint8_t hdr[] = { 0x81, 0xFF, 0x00, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };

        expect_failure(hdr, sizeof(hdr), 1009);
    }
    /* Fragments that each fit but add up to too much. */
    n = 0;
    n += frame(buf + n, 0x01, big, MAX_MESSAGE / 2 + 1, true);
    n += frame(buf + n, 0x80, big, MAX_MESSAGE / 2 + 1, true);
    expect_failure(buf, n, 1009);
    free(buf);
    free(big);
}

static void test_exactly_max_message_ok(void **state)
{
    struct peer *p = *state;
    uint8_t *buf = malloc(MAX_MESSAGE + 64);
    uint8_t *big = malloc(MAX_MESSAGE);
    size_t n;

    memset(big, 'm', MAX_MESSAGE);
    n = frame(buf, 0x81, big, MAX_MESSAGE, true);
    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_int_equal(p->nmsgs, 1);
    assert_int_equal(p->msgs[0].len, MAX_MESSAGE);
    free(buf);
    free(big);
}

static void test_close_echoed(void **state)
{
    struct peer *p = *state;
    uint8_t buf[64];
    const uint8_t *pl;
    size_t len;
    size_t n = close_frame(buf, 1000, "bye");

    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_int_equal(p->nmsgs, 1);
    assert_int_equal(p->msgs[0].opcode, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(p->msgs[0].close_code, 1000);
    assert_true(ws_codec_close_received(&p->wc));
    assert_true(ws_codec_close_sent(&p->wc));
    assert_true(find_out_frame(p, 0x8, &pl, &len));
    assert_true(len >= 2);
    assert_int_equal(pl[0] << 8 | pl[1], 1000);
}

static void test_close_without_code_echoed(void **state)
{
    struct peer *p = *state;
    uint8_t buf[16];
    size_t n = frame(buf, 0x88, "", 0, true);

    assert_int_equal(ws_codec_feed(&p->wc, buf, n), 0);
    assert_true(ws_codec_close_received(&p->wc));
    assert_true(ws_codec_close_sent(&p->wc));
    assert_true(p->out_len >= 2);
    assert_int_equal(p->out[0], 0x88);
}

static void test_close_with_invalid_code(void **state)
{
    uint8_t buf[64];
    size_t n;

    /* §7.4: 1005, 1006 and 1015 are never sent; 0-999 and 1016-2999 are unassigned. */
    static const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999 };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = close_frame(buf, bad[i], "");
        expect_failure(buf, n, 1002);
    }
}

static void test_after_close_nothing_delivered(void **state)
{
    struct peer *p = *state;
    uint8_t buf[64];
    size_t n = 0;

    n += close_frame(buf + n, 1001, "");
    n += frame(buf + n, 0x81, "after", 5, true);
    ws_codec_feed(&p->wc, buf, n);
    for (int i = 0; i < p->nmsgs; i++) {
        assert_true(p->msgs[i].opcode != WSLAY_TEXT_FRAME);
    }
}

static void test_queue_and_flush(void **state)
{
    struct peer *p = *state;
    const uint8_t *pl;
    size_t len;

    assert_int_equal(ws_codec_queue(&p->wc, WSLAY_TEXT_FRAME, "{\"ev\":\"x\"}", 10), 0);
    assert_true(ws_codec_queued(&p->wc) >= 10);
    assert_int_equal(p->out_len, 0); /* nothing written before the flush */
    assert_int_equal(ws_codec_flush(&p->wc), 0);
    assert_int_equal(ws_codec_queued(&p->wc), 0);
    assert_true(find_out_frame(p, 0x1, &pl, &len));
    assert_int_equal(p->out[0], 0x81);
    assert_int_equal(len, 10);
    assert_memory_equal(pl, "{\"ev\":\"x\"}", 10);
    /* Our close, then the peer's answer completes the handshake. */
    p->out_len = 0;
    assert_int_equal(ws_codec_queue_close(&p->wc, 1001, "going away"), 0);
    assert_int_equal(ws_codec_flush(&p->wc), 0);
    assert_int_equal(out_close_code(p), 1001);
    assert_true(ws_codec_close_sent(&p->wc));
    assert_false(ws_codec_close_received(&p->wc));
    {
        uint8_t buf[32];
        size_t n = close_frame(buf, 1001, "");

        ws_codec_feed(&p->wc, buf, n);
        assert_true(ws_codec_close_received(&p->wc));
    }
}

/* The direct-send header: the three length forms of RFC 6455 §5.2, FIN set, no mask. */
static void test_frame_header(void **state)
{
    uint8_t h[10];

    (void)state;
    assert_int_equal(ws_frame_header(WSLAY_TEXT_FRAME, 125, h), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_frame_header(WSLAY_TEXT_FRAME, 126, h), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0);
    assert_int_equal(h[3], 126);
    assert_int_equal(ws_frame_header(WSLAY_TEXT_FRAME, 65535, h), 4);
    assert_int_equal(h[2], 0xff);
    assert_int_equal(h[3], 0xff);
    assert_int_equal(ws_frame_header(WSLAY_TEXT_FRAME, 65536, h), 10);
    assert_int_equal(h[1], 127);
    assert_memory_equal(h + 2, "\0\0\0\0\0\1\0\0", 8);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_masked_text_delivered),
        T(test_bytewise_and_batched),
        T(test_fragmented_text_reassembled),
        T(test_utf8_split_across_fragments_ok),
        T(test_ping_answered_with_pong),
        T(test_empty_ping),
        T(test_pong_delivered_not_answered),
        T(test_binary_delivered_as_binary),
        cmocka_unit_test(test_invalid_utf8_closes_1007),
        cmocka_unit_test(test_invalid_utf8_across_fragments_closes_1007),
        cmocka_unit_test(test_unmasked_closes_1002),
        cmocka_unit_test(test_protocol_errors_close_1002),
        cmocka_unit_test(test_bug_split_header_loses_close_code),
        cmocka_unit_test(test_oversized_closes_1009),
        T(test_exactly_max_message_ok),
        T(test_close_echoed),
        T(test_close_without_code_echoed),
        cmocka_unit_test(test_close_with_invalid_code),
        cmocka_unit_test(test_frame_header),
        T(test_after_close_nothing_delivered),
        T(test_queue_and_flush),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
