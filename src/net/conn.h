/*
 * conn.h: one client connection (TCP, optionally TLS) on one worker.
 *
 * Ownership: the worker owns every conn it accepted. A conn is freed only when
 * its TCP handle is closed and no one holds a reference (conn_ref/conn_unref):
 * an asynchronous job that will come back to the connection takes a reference,
 * so a client that vanishes meanwhile never leaves a dangling pointer.
 * conn_close() only marks and starts closing; it never frees inside a callback.
 *
 * Output: conn_send() writes straight to the socket when it can (uv_try_write)
 * and queues only the remainder, so an idle or keeping-up connection holds no
 * write buffer. The queue has a hard cap; going past it is the caller's error.
 * With TLS, plaintext goes through OpenSSL memory BIOs and the ciphertext takes
 * the same path.
 *
 * Input: bytes are read into the worker's shared buffer, decrypted into another
 * shared buffer, and handed to the protocol in use (HTTP or WebSocket).
 *
 * Loop thread only.
 */
#ifndef PIPIT_NET_CONN_H
#define PIPIT_NET_CONN_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/limits.h"
#include "net/worker.h"
#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/wheel.h"

struct http_conn;
struct ws_conn;

enum conn_proto { CONN_HTTP, CONN_WS };

struct conn {
    uv_tcp_t tcp;              /* first: the handle's address is the conn's */
    struct worker *w;          /* borrowed */
    struct list node;          /* in w->conns */
    struct list dirty_node;    /* in w->dirty while output waits for this turn's flush */
    uint64_t id;
    int refs;
    char peer[64];             /* "ip:port" */
    char ip[48];
    struct log_ctx log;
    struct wheel_timer timer;  /* the one timeout of the current state */

    SSL *ssl;                  /* owned; NULL for plain TCP */
    enum conn_proto proto;
    struct http_conn *http;    /* owned; allocated while a request is in progress */
    struct ws_conn *ws;        /* owned once upgraded */

    struct buf out;            /* ciphertext/bytes waiting for the socket */
    struct buf inflight;       /* bytes being written: [inflight_off, len) still to go */
    size_t inflight_off;
    size_t wlen;               /* bytes in the uv_write in flight */
    uv_write_t *wreq;          /* owned while a write is in flight (rare: try_write first) */
    size_t send_cap;           /* most bytes conn_pending() may reach */
    int64_t last_progress;     /* monotonic ms when the peer last took bytes */

    bool closing;              /* conn_close() was called */
    bool close_when_flushed;   /* close once out and inflight are empty */
    bool read_paused;          /* backpressure: not reading for now */
    bool peer_eof;             /* the peer will send nothing more */
    bool linger_wanted;        /* close with a lingering close (after an error answer) */
    bool lingering;            /* FIN sent; discarding input until the peer closes */
    bool counted;              /* included in the connections gauge */
    bool limit_entered;        /* counted in its address's open connections (net/limits.h) */
    struct limit_addr addr;    /* its address, as the limits see it */
};

/* Sends bytes; returns 0 or PIPIT_EPAYLOAD_TOO_LARGE when the queue cap is hit. */
int conn_send(struct conn *c, const void *data, size_t len);
/* Sends several pieces with one system call when the socket takes them all. */
int conn_sendv(struct conn *c, const uv_buf_t *bufs, unsigned n);
/* Bytes accepted by conn_send() but not yet written to the kernel. */
size_t conn_pending(const struct conn *c);
/* Sets the cap on conn_pending() (default: unbounded for HTTP responses). */
void conn_set_send_cap(struct conn *c, size_t max);

/* Starts closing: at once, or after pending output is written when flush is set. */
void conn_close(struct conn *c, bool flush);
void conn_pause_read(struct conn *c);
/* Worker loop, once per turn: writes the output every connection queued. */
void conn_flush_dirty(struct worker *w);
void conn_resume_read(struct conn *c);

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Arms the conn's single timer (replacing any earlier one). */
void conn_timer_arm(struct conn *c, int64_t delay_ms);
void conn_timer_cancel(struct conn *c);

/* Called by worker.c for a freshly accepted socket. */
void conn_accept(struct worker *w, uv_stream_t *listener);
/* Worker shutdown: asks the protocol to finish gracefully. */
void conn_shutdown(struct conn *c);

#endif
