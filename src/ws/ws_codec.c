#include "ws/ws_codec.h"

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

int ws_codec_init(struct ws_codec *wc, uint64_t max_message,
                  const struct ws_codec_handlers *h, void *user)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = codec_recv,
        .send_callback = codec_send,
        .on_msg_recv_callback = codec_on_msg,
    };

    memset(wc, 0, sizeof(*wc));
    wc->h = h;
    wc->user = user;
    if (wslay_event_context_server_init(&wc->ctx, &callbacks, wc) != 0) {
        return PIPIT_ENOMEM;
    }
    /* wslay's default is 2 GiB: always set ours (RFC 6455 §10.4). */
    wslay_event_config_set_max_recv_msg_length(wc->ctx, max_message);
    return 0;
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
    if (wslay_event_want_write(wc->ctx) && wslay_event_send(wc->ctx) != 0) {
        return PIPIT_EPROTO;
    }
    return 0;
}

int ws_codec_feed(struct ws_codec *wc, const void *data, size_t len)
{
    int rc = 0;

    wc->in = data;
    wc->in_len = len;
    if (wslay_event_get_read_enabled(wc->ctx) && wslay_event_recv(wc->ctx) != 0) {
        rc = PIPIT_EPROTO;
    }
    wc->in = NULL;
    wc->in_len = 0;
    /* A protocol error leaves reading disabled with a close frame queued. */
    if (!wslay_event_get_read_enabled(wc->ctx) && !wslay_event_get_close_received(wc->ctx)) {
        rc = PIPIT_EPROTO;
    }
    if (ws_codec_flush(wc) != 0) {
        rc = PIPIT_EPROTO;
    }
    return rc;
}

int ws_codec_queue(struct ws_codec *wc, uint8_t opcode, const void *data, size_t len)
{
    struct wslay_event_msg msg = { opcode, data, len };

    return wslay_event_queue_msg(wc->ctx, &msg) == 0 ? 0 : PIPIT_EPROTO;
}

int ws_codec_queue_close(struct ws_codec *wc, uint16_t code, const char *reason)
{
    return wslay_event_queue_close(wc->ctx, code, (const uint8_t *)reason,
                                   reason != NULL ? strlen(reason) : 0) == 0
               ? 0
               : PIPIT_EPROTO;
}

size_t ws_codec_queued(const struct ws_codec *wc)
{
    return wslay_event_get_queued_msg_length(wc->ctx);
}

bool ws_codec_close_sent(const struct ws_codec *wc)
{
    return wslay_event_get_close_sent(wc->ctx) != 0;
}

bool ws_codec_close_received(const struct ws_codec *wc)
{
    return wslay_event_get_close_received(wc->ctx) != 0;
}

bool ws_codec_reading(const struct ws_codec *wc)
{
    return wslay_event_get_read_enabled(wc->ctx) != 0;
}
