/*
 * ws_conn.c: wslay glue, keepalive and the close handshake.
 *
 * Timer use (one wheel timer per connection):
 *   before auth      → the auth deadline, then close 1008;
 *   after auth       → last_rx + ws_ping_interval: ping a silent peer, then give
 *                      it ws_pong_timeout to send anything before dropping it;
 *   after our close  → WS_CLOSE_WAIT_MS for the peer's close, then drop.
 * Any received byte counts as a sign of life, so busy connections never ping.
 */
#include "ws/ws_conn.h"

#include <stdlib.h>
#include <string.h>

#include "http/http_conn.h"
#include "net/conn.h"
#include "server.h"
#include "util/err.h"
#include "util/mem.h"

#define WS_CLOSE_WAIT_MS 2000

static void ws_flush(struct conn *c);

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *user)
{
    struct conn *c = user;
    struct ws_conn *ws = c->ws;
    size_t n = len < ws->in_len ? len : ws->in_len;

    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *user)
{
    struct conn *c = user;

    if (c->closing) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    /* conn's queue is uncapped here; ws_conn_send_text enforces the real cap. */
    conn_send(c, data, len);
    return (ssize_t)len;
}

static void ws_on_msg(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    struct conn *c = user;
    struct server *srv = c->w->srv;

    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        atomic_fetch_add_explicit(&srv->metrics.ws_frames_in, 1, memory_order_relaxed);
        if (!c->ws->closing) {
            srv->ws_handlers.on_text(c, (const char *)arg->msg, arg->msg_length);
        }
        break;
    case WSLAY_BINARY_FRAME:
        atomic_fetch_add_explicit(&srv->metrics.ws_frames_in, 1, memory_order_relaxed);
        ws_conn_close(c, WS_CLOSE_UNSUPPORTED, "binary frames are not supported");
        break;
    case WSLAY_CONNECTION_CLOSE:
        log_debug(&c->log, "peer closed the WebSocket (%u)", arg->status_code);
        break;
    default:
        /* Pings are answered by wslay; pongs only prove the peer is alive. */
        break;
    }
}

void ws_conn_upgrade(struct http_exchange *x, const char *accept)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .on_msg_recv_callback = ws_on_msg,
    };
    struct conn *c = x->conn;
    struct server *srv = c->w->srv;
    struct ws_conn *ws;
    struct buf leftover;
    char head[256];
    int n;

    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n",
                 accept);
    metrics_count_http(&srv->metrics, x->route, 101);
    conn_send(c, head, (size_t)n);

    buf_init(&leftover, (size_t)srv->cfg.max_header_size + (size_t)srv->cfg.max_body_size +
                            2 * WORKER_READ_BUF);
    http_conn_detach(c, &leftover); /* x is gone from here on */

    ws = xcalloc(1, sizeof(*ws));
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, c) != 0) {
        free(ws);
        buf_cleanup(&leftover);
        conn_close(c, false);
        return;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, (uint64_t)srv->cfg.ws_max_message_size);
    ws->last_rx = worker_now(c->w);
    c->ws = ws;
    c->proto = CONN_WS;
    atomic_fetch_add(&srv->metrics.ws_sessions, 1);
    conn_timer_arm(c, srv->cfg.ws_auth_timeout);
    log_debug(&c->log, "websocket open");
    srv->ws_handlers.on_open(c);
    if (leftover.len > 0) {
        ws_conn_on_data(c, leftover.data, leftover.len);
    }
    buf_cleanup(&leftover);
    conn_resume_read(c);
}

void ws_conn_free(struct conn *c)
{
    struct ws_conn *ws = c->ws;

    if (ws == NULL) {
        return;
    }
    c->w->srv->ws_handlers.on_close(c);
    wslay_event_context_free(ws->ctx);
    atomic_fetch_sub(&c->w->srv->metrics.ws_sessions, 1);
    free(ws);
    c->ws = NULL;
}

/* Lets wslay write what it queued, and closes the TCP side when it is done. */
static void ws_flush(struct conn *c)
{
    struct ws_conn *ws = c->ws;

    if (c->closing) {
        return;
    }
    if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) != 0) {
        conn_close(c, false);
        return;
    }
    if (wslay_event_get_close_sent(ws->ctx)) {
        if (!ws->closing) {
            /* wslay answered the peer's close, or failed the connection itself. */
            ws->closing = true;
            conn_timer_arm(c, WS_CLOSE_WAIT_MS);
        }
        if (wslay_event_get_close_received(ws->ctx) || !wslay_event_want_read(ws->ctx)) {
            conn_close(c, true);
        }
    }
}

void ws_conn_on_data(struct conn *c, const char *data, size_t len)
{
    struct ws_conn *ws = c->ws;

    ws->in = data;
    ws->in_len = len;
    ws->last_rx = worker_now(c->w);
    ws->ping_sent = 0;
    if (wslay_event_recv(ws->ctx) != 0) {
        conn_close(c, false);
        return;
    }
    ws->in = NULL;
    ws->in_len = 0;
    ws_flush(c);
}

void ws_conn_on_drain(struct conn *c)
{
    ws_flush(c);
}

int ws_conn_send_text(struct conn *c, const char *data, size_t len)
{
    struct ws_conn *ws = c->ws;
    struct server *srv = c->w->srv;
    struct wslay_event_msg msg = { WSLAY_TEXT_FRAME, (const uint8_t *)data, len };
    size_t queued;

    if (c->closing || ws == NULL || ws->closing) {
        return PIPIT_EUNAVAILABLE;
    }
    queued = conn_pending(c) + wslay_event_get_queued_msg_length(ws->ctx);
    if (queued + len > (size_t)srv->cfg.ws_send_queue_max) {
        /* The client stopped reading: a close frame would not reach it either. */
        log_info(&c->log, "dropping slow WebSocket reader (%zu bytes queued)", queued);
        conn_close(c, false);
        return PIPIT_EUNAVAILABLE;
    }
    if (wslay_event_queue_msg(ws->ctx, &msg) != 0) {
        conn_close(c, false);
        return PIPIT_EUNAVAILABLE;
    }
    atomic_fetch_add_explicit(&srv->metrics.ws_frames_out, 1, memory_order_relaxed);
    ws_flush(c);
    return 0;
}

void ws_conn_close(struct conn *c, int code, const char *reason)
{
    struct ws_conn *ws = c->ws;

    if (c->closing || ws == NULL || ws->closing) {
        return;
    }
    ws->closing = true;
    wslay_event_queue_close(ws->ctx, (uint16_t)code, (const uint8_t *)reason,
                            reason != NULL ? strlen(reason) : 0);
    conn_timer_arm(c, WS_CLOSE_WAIT_MS);
    ws_flush(c);
}

void ws_conn_set_authenticated(struct conn *c)
{
    c->ws->authenticated = true;
    conn_timer_arm(c, c->w->srv->cfg.ws_ping_interval);
}

void ws_conn_on_timeout(struct conn *c)
{
    struct ws_conn *ws = c->ws;
    struct server *srv = c->w->srv;
    int64_t now = worker_now(c->w);
    int64_t silent;

    if (ws->closing) {
        conn_close(c, false);
        return;
    }
    if (!ws->authenticated) {
        log_info(&c->log, "websocket authentication timeout");
        ws_conn_close(c, WS_CLOSE_POLICY, "authentication timeout");
        return;
    }
    if (ws->ping_sent != 0) {
        if (now - ws->ping_sent >= srv->cfg.ws_pong_timeout) {
            log_info(&c->log, "dropping dead WebSocket peer");
            conn_close(c, false);
        } else {
            conn_timer_arm(c, srv->cfg.ws_pong_timeout - (now - ws->ping_sent));
        }
        return;
    }
    silent = now - ws->last_rx;
    if (silent < srv->cfg.ws_ping_interval) {
        conn_timer_arm(c, srv->cfg.ws_ping_interval - silent);
        return;
    }
    struct wslay_event_msg ping = { WSLAY_PING, NULL, 0 };

    wslay_event_queue_msg(ws->ctx, &ping);
    ws->ping_sent = now;
    conn_timer_arm(c, srv->cfg.ws_pong_timeout);
    ws_flush(c);
}

void ws_conn_shutdown(struct conn *c)
{
    ws_conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}
