#include "ws/ws_codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static ssize_t codec_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    struct ws_codec *wc = user;
    size_t n = len < wc->in_len ? len : wc->in_len;

    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    memcpy(buf, wc->in, n);
    wc->in += n;
    wc->in_len -= n;
    return (ssize_t)n;
}

static ssize_t codec_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *user)
{
    struct ws_codec *wc = user;

    wc->h->on_output(wc->user, data, len);
    return (ssize_t)len;
}

static void codec_on_msg(wslay_event_context_ptr ctx,
                         const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    struct ws_codec *wc = user;

    wc->h->on_message(wc->user, arg->opcode, arg->msg, arg->msg_length, arg->status_code);
}

/* The wslay context, made on first use after init or an idle release. */
static wslay_event_context_ptr codec_ctx(struct ws_codec *wc)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = codec_recv,
        .send_callback = codec_send,
        .on_msg_recv_callback = codec_on_msg,
    };

    if (wc->ctx == NULL) {
        if (wslay_event_context_server_init(&wc->ctx, &callbacks, wc) != 0) {
            fprintf(stderr, "pipit: out of memory for a WebSocket context\n");
            abort();
        }
        /* wslay's default is 2 GiB: always set ours (RFC 6455 §10.4). */
        wslay_event_config_set_max_recv_msg_length(wc->ctx, wc->max_message);
    }
    return wc->ctx;
}

int ws_codec_init(struct ws_codec *wc, uint64_t max_message,
                  const struct ws_codec_handlers *h, void *user)
{
    memset(wc, 0, sizeof(*wc));
    wc->h = h;
    wc->user = user;
    wc->max_message = max_message;
    return 0;
}

void ws_codec_release_idle(struct ws_codec *wc)
{
    wslay_event_context_ptr ctx = wc->ctx;

    if (ctx == NULL || wc->in_wslay || wc->hdr_len != 0 || wc->skip != 0 || wc->in_fragments ||
        wslay_event_want_write(ctx) || wslay_event_get_queued_msg_count(ctx) != 0 ||
        wslay_event_get_close_sent(ctx) || wslay_event_get_close_received(ctx) ||
        !wslay_event_get_read_enabled(ctx)) {
        return;
    }
    wslay_event_context_free(ctx);
    wc->ctx = NULL;
}

void ws_codec_cleanup(struct ws_codec *wc)
{
    if (wc->ctx != NULL) {
        wslay_event_context_free(wc->ctx);
        wc->ctx = NULL;
    }
}

int ws_codec_flush(struct ws_codec *wc)
{
    if (wc->ctx == NULL) {
        return 0;
    }
    bool nested = wc->in_wslay;
    int rc = 0;

    wc->in_wslay = true;
    if (wslay_event_want_write(wc->ctx) && wslay_event_send(wc->ctx) != 0) {
        rc = PIPIT_EPROTO;
    }
    wc->in_wslay = nested;
    return rc;
}

/* Bytes in a frame header once its first two bytes are known (RFC 6455 §5.2). */
static size_t header_size(const uint8_t *hdr)
{
    size_t n = 2 + ((hdr[1] & 0x80) ? 4 : 0);
    uint8_t len7 = hdr[1] & 0x7f;

    return n + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
}

/*
 * Walks frame headers in data and says how many of its bytes wslay may see now.
 * A header is only passed on once it is whole and acceptable, so wslay never
 * acts on a frame the guard would refuse: an incomplete header at the end of
 * data is held back (its bytes stay in wc->hdr), and *feed_held says whether a
 * header held back by earlier calls is now complete and goes first. On a
 * violation *code is set and the count stops where the offending frame starts.
 */
static size_t guard_scan(struct ws_codec *wc, const uint8_t *data, size_t len, uint16_t *code,
                         bool *feed_held)
{
    size_t i = 0;
    /* Where the header being read starts; -1 when it began in an earlier call. */
    ptrdiff_t frame_start = wc->hdr_len > 0 ? -1 : 0;

    *feed_held = false;
    while (i < len) {
        if (wc->skip > 0) {
            size_t n = len - i < wc->skip ? len - i : (size_t)wc->skip;

            wc->skip -= n;
            i += n;
            continue;
        }
        if (wc->hdr_len == 0) {
            frame_start = (ptrdiff_t)i;
        }
        wc->hdr[wc->hdr_len++] = data[i++];
        if (wc->hdr_len < 2 || wc->hdr_len < header_size(wc->hdr)) {
            continue;
        }
        uint8_t op = wc->hdr[0] & 0x0f;
        bool fin = (wc->hdr[0] & 0x80) != 0;
        uint8_t len7 = wc->hdr[1] & 0x7f;
        uint64_t plen = len7;

        if (len7 == 126) {
            plen = (uint64_t)wc->hdr[2] << 8 | wc->hdr[3];
        } else if (len7 == 127) {
            plen = 0;
            for (int k = 2; k < 10; k++) {
                plen = plen << 8 | wc->hdr[k];
            }
        }
        wc->hdr_len = 0;
        if (len7 == 127 && (plen >> 63) != 0) {
            *code = 1002; /* §5.2: the most significant bit must be 0 */
        } else if ((len7 == 126 && plen < 126) || (len7 == 127 && plen <= 0xffff)) {
            /* §5.2: "the minimal number of bytes MUST be used"; wslay would refuse it
             * too, but with a close frame that carries no code. */
            *code = 1002;
        } else if (op >= 8 && (!fin || plen > 125 || (op == 8 && plen == 1))) {
            *code = 1002; /* §5.5: control frames are whole and ≤ 125 bytes; §5.5.1 */
        } else if (op < 8 && plen > wc->max_message) {
            *code = 1009;
        }
        if (*code != 0) {
            return frame_start < 0 ? 0 : (size_t)frame_start;
        }
        if (frame_start < 0) {
            *feed_held = true;
        }
        if (op == 1 || op == 2) {
            wc->in_fragments = !fin;
        } else if (op == 0 && fin) {
            wc->in_fragments = false;
        }
        wc->skip = plen;
    }
    if (wc->hdr_len > 0) {
        return frame_start < 0 ? 0 : (size_t)frame_start;
    }
    return len;
}

/* Hands bytes to wslay; false once wslay has failed the connection. */
static bool feed_wslay(struct ws_codec *wc, const uint8_t *data, size_t len)
{
    bool ok = true;

    if (len == 0) {
        return true;
    }
    wc->in = data;
    wc->in_len = len;
    wc->in_wslay = true;
    if (wslay_event_recv(wc->ctx) != 0) {
        ok = false;
    }
    wc->in_wslay = false;
    wc->in = NULL;
    wc->in_len = 0;
    return ok;
}

int ws_codec_feed(struct ws_codec *wc, const void *data, size_t len)
{
    wslay_event_context_ptr ctx = codec_ctx(wc);
    uint8_t held[sizeof(wc->hdr)];
    size_t nheld = wc->hdr_len;
    uint16_t code = 0;
    bool feed_held = false;
    size_t ok = 0;
    int rc = 0;

    memcpy(held, wc->hdr, nheld);
    if (wslay_event_get_read_enabled(ctx)) {
        ok = guard_scan(wc, data, len, &code, &feed_held);
    }
    if ((feed_held && !feed_wslay(wc, held, nheld)) || !feed_wslay(wc, data, ok)) {
        rc = PIPIT_EPROTO;
    }
    if (code != 0 && wslay_event_get_read_enabled(wc->ctx)) {
        wslay_event_shutdown_read(wc->ctx);
        ws_codec_queue_close(wc, code, code == 1009 ? "message too big" : "protocol error");
    }
    /* A protocol error leaves reading disabled with a close frame queued. */
    if (!wslay_event_get_read_enabled(wc->ctx) && !wslay_event_get_close_received(wc->ctx)) {
        rc = PIPIT_EPROTO;
    }
    if (ws_codec_flush(wc) != 0) {
        rc = PIPIT_EPROTO;
    }
    return rc;
}

size_t ws_frame_header(uint8_t opcode, size_t len, uint8_t out[10])
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f)); /* FIN */
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) {
        out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    return 10;
}

int ws_codec_queue(struct ws_codec *wc, uint8_t opcode, const void *data, size_t len)
{
    struct wslay_event_msg msg = { opcode, data, len };

    return wslay_event_queue_msg(codec_ctx(wc), &msg) == 0 ? 0 : PIPIT_EPROTO;
}

int ws_codec_queue_close(struct ws_codec *wc, uint16_t code, const char *reason)
{
    return wslay_event_queue_close(codec_ctx(wc), code, (const uint8_t *)reason,
                                   reason != NULL ? strlen(reason) : 0) == 0
               ? 0
               : PIPIT_EPROTO;
}

/* Without a context nothing is queued and no close has happened. */
size_t ws_codec_queued(const struct ws_codec *wc)
{
    return wc->ctx != NULL ? wslay_event_get_queued_msg_length(wc->ctx) : 0;
}

bool ws_codec_close_sent(const struct ws_codec *wc)
{
    return wc->ctx != NULL && wslay_event_get_close_sent(wc->ctx) != 0;
}

bool ws_codec_close_received(const struct ws_codec *wc)
{
    return wc->ctx != NULL && wslay_event_get_close_received(wc->ctx) != 0;
}

bool ws_codec_reading(const struct ws_codec *wc)
{
    return wc->ctx == NULL || wslay_event_get_read_enabled(wc->ctx) != 0;
}
