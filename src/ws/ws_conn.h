/*
 * ws_conn.h: a WebSocket connection (RFC 6455) on top of struct conn, via wslay.
 *
 * ws_codec (wslay over memory) does the framing: unmasking, reassembly of
 * fragments, UTF-8 checks of text, control frames, close codes. This file puts
 * it on a connection and adds what a server needs around it: the 101 answer, message size cap (1009), binary refusal (1003),
 * keepalive pings with dead-peer detection on the worker's timer wheel, the auth
 * deadline (1008), a bounded send queue, and the close handshake.
 *
 * The session layer above (api/session.c) sees only whole text messages through
 * struct ws_handlers and keeps its state in ws_conn.session.
 *
 * Loop thread only.
 */
#ifndef PIPIT_WS_WS_CONN_H
#define PIPIT_WS_WS_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws/ws_codec.h"

struct conn;
struct http_exchange;

/* RFC 6455 §7.4.1 status codes we send. */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

struct ws_handlers {
    void (*on_open)(struct conn *c);
    void (*on_text)(struct conn *c, const char *data, size_t len);
    void (*on_close)(struct conn *c); /* free the session; the socket is going */
};

struct ws_conn {
    struct ws_codec codec;
    int64_t last_rx;               /* monotonic ms of the last bytes received */
    int64_t ping_sent;             /* 0 when no ping is outstanding */
    bool authenticated;
    int64_t expires_at;            /* wall-clock ms when the session's token dies */
    bool closing;                  /* our close frame is queued or sent */
    void *session;                 /* owned by the session layer */
};

/*
 * Completes the handshake for x (already checked by ws_handshake_check): writes
 * the 101 answer and switches the connection to WebSocket.
 */
void ws_conn_upgrade(struct http_exchange *x, const char *accept);

/* Queues one text message; drops the connection if its send queue overflows. */
int ws_conn_send_text(struct conn *c, const char *data, size_t len);
/* Sends msg as compact JSON text; takes msg. */
int ws_conn_send_json(struct conn *c, json_t *msg);
/* Starts the close handshake with code and reason. */
void ws_conn_close(struct conn *c, int code, const char *reason);
/*
 * Ends the auth deadline; keepalive pings start. The socket is closed with 1008
 * once expires_at (wall-clock ms, the token's expiry) has passed.
 */
void ws_conn_set_authenticated(struct conn *c, int64_t expires_at);

/* conn.c hooks. */
void ws_conn_on_data(struct conn *c, const char *data, size_t len);
void ws_conn_on_drain(struct conn *c);
void ws_conn_on_timeout(struct conn *c);
void ws_conn_shutdown(struct conn *c);
void ws_conn_free(struct conn *c);

#endif
