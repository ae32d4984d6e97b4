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
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

#define WS_CLOSE_WAIT_MS 2000

static void ws_flush(struct conn *c);

/* Arms the timer for delay, or sooner when the token expires first. */
static void ws_conn_arm(struct conn *c, int64_t delay)
{
    int64_t left = c->ws->expires_at - clock_now_ms();

    conn_timer_arm(c, left < delay ? left : delay);
}

static void ws_on_output(void *user, const uint8_t *data, size_t len)
{
    /* conn's queue is uncapped here; ws_backlog_exceeded enforces the real cap. */
    conn_send(user, data, len);
}

static void ws_on_message(void *user, uint8_t opcode, const uint8_t *data, size_t len,
                          uint16_t close_code)
{
    struct conn *c = user;
    struct server *srv = c->w->srv;

    switch (opcode) {
    case WSLAY_TEXT_FRAME:
        atomic_fetch_add_explicit(&srv->metrics.ws_frames_in, 1, memory_order_relaxed);
        if (!c->ws->closing && !c->closing) {
            srv->ws_handlers.on_text(c, (const char *)data, len);
        }
        break;
    case WSLAY_BINARY_FRAME:
        atomic_fetch_add_explicit(&srv->metrics.ws_frames_in, 1, memory_order_relaxed);
        ws_conn_close(c, WS_CLOSE_UNSUPPORTED, "binary frames are not supported");
        break;
    case WSLAY_CONNECTION_CLOSE:
        log_debug(&c->log, "peer closed the WebSocket (%u)", close_code);
        break;
    default:
        /* Pings are answered by the codec; pongs only prove the peer is alive. */
        break;
    }
}

static const struct ws_codec_handlers ws_handlers_codec = {
    .on_message = ws_on_message,
    .on_output = ws_on_output,
};

void ws_conn_upgrade(struct http_exchange *x, const char *accept)
{
    struct conn *c = x->conn;
    struct server *srv = c->w->srv;
    struct ws_conn *ws;
    struct buf leftover;
    char head[256];
    int n;

    if (c->w->stopping) {
        http_respond_error(x, PIPIT_EUNAVAILABLE, "server shutting down", "Retry-After: 5\r\n");
        return;
    }
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
    if (ws_codec_init(&ws->codec, (uint64_t)srv->cfg.ws_max_message_size, &ws_handlers_codec,
                      c) != 0) {
        free(ws);
        buf_cleanup(&leftover);
        conn_close(c, false);
        return;
    }
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
    ws_codec_cleanup(&ws->codec);
    atomic_fetch_sub(&c->w->srv->metrics.ws_sessions, 1);
    free(ws);
    c->ws = NULL;
}

/*
 * The one send-queue rule: unsent bytes (ours plus the codec's) plus `extra` about
 * to be queued may not pass ws_send_queue_max. Checked before a message is
 * queued (so nothing large is allocated for a peer that does not read) and after
 * every flush (pongs to a ping flood). A peer over it is dropped: it is not
 * reading, so a close frame would not reach it either.
 */
static bool ws_backlog_exceeded(struct conn *c, size_t extra)
{
    size_t queued = conn_pending(c) + ws_codec_queued(&c->ws->codec);

    if (queued + extra <= (size_t)c->w->srv->cfg.ws_send_queue_max) {
        return false;
    }
    log_info(&c->log, "dropping WebSocket peer that does not read (%zu bytes queued)", queued);
    conn_close(c, false);
    return true;
}

/* Writes what the codec queued, and closes the TCP side when the handshake is done. */
static void ws_flush(struct conn *c)
{
    struct ws_conn *ws = c->ws;

    if (c->closing) {
        return;
    }
    if (ws_codec_flush(&ws->codec) != 0) {
        conn_close(c, false);
        return;
    }
    if (ws_backlog_exceeded(c, 0)) {
        return;
    }
    if (ws_codec_close_sent(&ws->codec)) {
        if (!ws->closing) {
            /* The codec answered the peer's close, or failed the connection itself. */
            ws->closing = true;
            conn_timer_arm(c, WS_CLOSE_WAIT_MS);
        }
        if (ws_codec_close_received(&ws->codec) || !ws_codec_reading(&ws->codec)) {
            conn_close(c, true);
        }
        return;
    }
    ws_codec_release_idle(&ws->codec);
}

void ws_conn_on_data(struct conn *c, const char *data, size_t len)
{
    struct ws_conn *ws = c->ws;

    ws->last_rx = worker_now(c->w);
    ws->ping_sent = 0;
    if (ws_codec_feed(&ws->codec, data, len) != 0) {
        log_info(&c->log, "WebSocket protocol error from peer");
    }
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

    if (c->closing || ws == NULL || ws->closing) {
        return PIPIT_EUNAVAILABLE;
    }
    if (ws_backlog_exceeded(c, len)) {
        return PIPIT_EUNAVAILABLE;
    }
    atomic_fetch_add_explicit(&srv->metrics.ws_frames_out, 1, memory_order_relaxed);
    if (ws_codec_queued(&ws->codec) == 0) {
        /* The fast path (fan-out): header + payload straight into the socket's queue. */
        uint8_t hdr[10];
        uv_buf_t bufs[2] = {
            uv_buf_init((char *)hdr, (unsigned)ws_frame_header(WSLAY_TEXT_FRAME, len, hdr)),
            uv_buf_init((char *)data, (unsigned)len),
        };

        if (conn_sendv(c, bufs, 2) != 0) {
            conn_close(c, false);
            return PIPIT_EUNAVAILABLE;
        }
        return 0;
    }
    if (ws_codec_queue(&ws->codec, WSLAY_TEXT_FRAME, data, len) != 0) {
        conn_close(c, false);
        return PIPIT_EUNAVAILABLE;
    }
    ws_flush(c);
    return 0;
}

int ws_conn_send_json(struct conn *c, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    int rc = PIPIT_ENOMEM;

    json_decref(msg);
    if (text != NULL) {
        rc = ws_conn_send_text(c, text, strlen(text));
        free(text);
    }
    return rc;
}

void ws_conn_close(struct conn *c, int code, const char *reason)
{
    struct ws_conn *ws = c->ws;

    if (c->closing || ws == NULL || ws->closing) {
        return;
    }
    ws->closing = true;
    ws_codec_queue_close(&ws->codec, (uint16_t)code, reason);
    conn_timer_arm(c, WS_CLOSE_WAIT_MS);
    ws_flush(c);
}

void ws_conn_set_authenticated(struct conn *c, int64_t expires_at)
{
    c->ws->authenticated = true;
    c->ws->expires_at = expires_at;
    ws_conn_arm(c, c->w->srv->cfg.ws_ping_interval);
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
    if (clock_now_ms() >= ws->expires_at) {
        log_info(&c->log, "websocket token expired");
        ws_conn_close(c, WS_CLOSE_POLICY, "token expired");
        return;
    }
    if (ws->ping_sent != 0) {
        if (now - ws->ping_sent >= srv->cfg.ws_pong_timeout) {
            log_info(&c->log, "dropping dead WebSocket peer");
            conn_close(c, false);
        } else {
            ws_conn_arm(c, srv->cfg.ws_pong_timeout - (now - ws->ping_sent));
        }
        return;
    }
    silent = now - ws->last_rx;
    if (silent < srv->cfg.ws_ping_interval) {
        ws_conn_arm(c, srv->cfg.ws_ping_interval - silent);
        return;
    }
    ws_codec_queue(&ws->codec, WSLAY_PING, NULL, 0);
    ws->ping_sent = now;
    ws_conn_arm(c, srv->cfg.ws_pong_timeout);
    ws_flush(c);
}

void ws_conn_shutdown(struct conn *c)
{
    ws_conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}
