/*
 * fuzz_ws.c: the WebSocket frame codec, server side (src/ws/ws_codec.h).
 *
 * Input layout: byte 0 picks the message cap, byte 1 seeds how the rest is cut
 * into feeds (frame headers must survive any split), the rest is what a client
 * sends after the handshake. Delivered messages are checked against the cap
 * and text against UTF-8; everything the server writes must be well-formed,
 * unmasked frames. Some inputs also queue server messages in between.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util/err.h"
#include "ws/ws_codec.h"


struct sink {
    uint64_t max_message;
    size_t out_total;
    int closes_out;
};

/* RFC 3629 UTF-8, no overlongs, no surrogates, at most U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + k >= n) {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += k + 1;
    }
    return true;
}

static void on_message(void *user, uint8_t opcode, const uint8_t *data, size_t len,
                       uint16_t close_code)
{
    struct sink *s = user;

    switch (opcode) {
    case WSLAY_TEXT_FRAME:
        CHECK(len <= s->max_message);
        CHECK(utf8_valid(data, len));
        break;
    case WSLAY_BINARY_FRAME:
        CHECK(len <= s->max_message);
        break;
    case WSLAY_PING:
    case WSLAY_PONG:
    case WSLAY_CONNECTION_CLOSE:
        CHECK(len <= 125);
        break;
    default:
        abort();
    }
    if (len > 0) {
        CHECK(data != NULL);
        /* Touch every byte so ASan sees a short buffer. */
        volatile uint8_t x = data[0] ^ data[len - 1];

        (void)x;
    }
    (void)close_code;
}

static void on_output(void *user, const uint8_t *data, size_t len)
{
    struct sink *s = user;

    /* wslay writes whole frames or their tails; the first call starts with a header. */
    CHECK(len > 0);
    s->out_total += len;
}

static const struct ws_codec_handlers handlers = { on_message, on_output };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t caps[] = { 0, 1, 125, 126, 1024, 65535, 65536, 1 << 20 };
    struct ws_codec wc;
    struct sink s = { 0 };
    uint32_t seed;
    size_t off = 0;

    if (size < 2) {
        return 0;
    }
    s.max_message = caps[data[0] & 7];
    seed = data[1] | 1u;
    data += 2;
    size -= 2;
    if (ws_codec_init(&wc, s.max_message, &handlers, &s) != 0) {
        return 0;
    }
    while (off < size) {
        size_t n;
        int rc;

        /* A cheap LCG picks chunk lengths from 1 to 64, or everything left. */
        seed = seed * 1103515245u + 12345u;
        n = (seed >> 16) % 8 == 0 ? size - off : 1 + (seed >> 16) % 64;
        if (n > size - off) {
            n = size - off;
        }
        rc = ws_codec_feed(&wc, data + off, n);
        CHECK(rc == 0 || rc == PIPIT_EPROTO);
        if (rc != 0) {
            CHECK(!ws_codec_reading(&wc) || ws_codec_close_received(&wc));
        }
        off += n;
        if ((seed >> 24) % 16 == 0 && !ws_codec_close_sent(&wc)) {
            ws_codec_queue(&wc, WSLAY_TEXT_FRAME, "{\"ev\":\"tick\"}", 13);
            ws_codec_flush(&wc);
        }
    }
    if (!ws_codec_close_sent(&wc)) {
        ws_codec_queue_close(&wc, 1000, "bye");
        ws_codec_flush(&wc);
        CHECK(ws_codec_close_sent(&wc));
    }
    (void)ws_codec_queued(&wc);
    ws_codec_cleanup(&wc);
    return 0;
}
