/*
 * conn.c: accept, read, write, TLS and the lifecycle of a connection.
 *
 * Lifecycle: accepted → (HTTP requests | upgraded to WebSocket) → closing → freed.
 * The worker holds the first reference; uv_close's callback drops it. Jobs in
 * flight hold more, so the memory lives until the last one comes back, while
 * `closing` tells everyone to stop using the socket.
 */
#include "net/conn.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_conn.h"
#include "server.h"
#include "util/err.h"
#include "util/mem.h"
#include "ws/ws_conn.h"

/* Longest wait for the peer to close after a lingering close (see conn_linger). */
#define CONN_LINGER_MS 2000

/* Queued output past this is written at once instead of at the end of the turn. */
#define CONN_PUSH_AT (64 * 1024)

/* Most bytes handed to one uv_write, so progress shows during big answers. */
#define CONN_WRITE_SLICE (256 * 1024)

/* Unbounded for HTTP responses: one response at a time, built by us. */
#define CONN_DEFAULT_SEND_CAP ((size_t)1 << 40)

static void conn_start_write(struct conn *c);
static bool conn_push(struct conn *c);
static int conn_flush_tls(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void conn_free(struct conn *c)
{
    struct worker *w = c->w;

    wheel_cancel(&c->timer);
    http_conn_free(c);
    ws_conn_free(c);
    if (c->limit_entered) {
        limits_leave(w->srv->limits, LIMIT_IP_CONNECTIONS, c->addr.key);
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }
    buf_cleanup(&c->out);
    buf_cleanup(&c->inflight);
    list_unlink(&c->dirty_node);
    list_unlink(&c->node);
    w->nconns--;
    free(c);
    worker__conn_gone(w);
}

void conn_ref(struct conn *c)
{
    c->refs++;
}

void conn_unref(struct conn *c)
{
    if (--c->refs == 0) {
        conn_free(c);
    }
}

static void on_close(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;

    if (c->counted) {
        atomic_fetch_sub(&c->w->srv->metrics.connections, 1);
        c->counted = false;
    }
    conn_unref(c);
}

size_t conn_pending(const struct conn *c)
{
    return c->out.len + (c->inflight.len - c->inflight_off);
}

void conn_set_send_cap(struct conn *c, size_t max)
{
    c->send_cap = max;
}

static void conn_close_now(struct conn *c)
{
    c->closing = true;
    list_unlink(&c->dirty_node);
    wheel_cancel(&c->timer);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;

    free(req);
    conn_unref(c);
}

/*
 * Lingering close (nginx's lingering_close; RFC 9112 §9.6): after an error answer
 * the client may still be sending a body we never read. Closing with unread input
 * makes the kernel send RST, which can destroy the answer in the client's buffers
 * before it is read. So send FIN, discard input until the peer closes, and close
 * for good after CONN_LINGER_MS at most.
 */
static void conn_linger(struct conn *c)
{
    uv_shutdown_t *req;

    if (c->peer_eof) {
        conn_close_now(c);
        return;
    }
    req = xmalloc(sizeof(*req));
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_close_now(c);
        return;
    }
    conn_ref(c);
    c->lingering = true;
    c->read_paused = false;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    conn_timer_arm(c, CONN_LINGER_MS);
}

/* Output is all written: close, lingering when the last answer asked for it. */
static void conn_close_flushed(struct conn *c)
{
    if (c->linger_wanted) {
        conn_linger(c);
    } else {
        conn_close_now(c);
    }
}

void conn_close(struct conn *c, bool flush)
{
    if (c->closing || (c->lingering && flush)) {
        return;
    }
    if (!flush) {
        conn_close_now(c);
        return;
    }
    if (c->ssl != NULL && !c->close_when_flushed && SSL_is_init_finished(c->ssl)) {
        /* A clean TLS end (close_notify) keeps the session resumable. */
        SSL_shutdown(c->ssl);
        conn_flush_tls(c);
    }
    if (conn_pending(c) > 0) {
        c->close_when_flushed = true;
        conn_pause_read(c);
        /* A peer that never reads must not keep the socket: the timer cuts it. */
        conn_timer_arm(c, c->w->srv->cfg.idle_timeout);
        return;
    }
    conn_close_flushed(c);
}

static void conn_start_write(struct conn *c);

/* After a write: more to go, the close that waited for it, or room for the protocol. */
static void conn_written(struct conn *c)
{
    if (conn_pending(c) > 0) {
        conn_start_write(c);
        return;
    }
    buf_cleanup(&c->inflight); /* nothing queued: no output buffers kept */
    c->inflight_off = 0;
    if (c->close_when_flushed) {
        conn_close_flushed(c);
    } else if (c->proto == CONN_WS) {
        ws_conn_on_drain(c);
    } else {
        http_conn_on_drain(c);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    free(req);
    c->wreq = NULL;
    c->inflight_off += c->wlen;
    c->wlen = 0;
    c->last_progress = worker_now(c->w);
    if (status < 0 || c->closing) {
        if (status < 0 && status != UV_ECANCELED) {
            log_debug(&c->log, "write failed: %s", uv_strerror(status));
        }
        conn_close(c, false);
        conn_unref(c);
        return;
    }
    conn_written(c);
    conn_unref(c);
}

/*
 * Writes the next slice of queued output. New output queues in `out` while
 * `inflight` is in the kernel's hands; slices are at most CONN_WRITE_SLICE so a
 * big answer reports progress (last_progress) as it goes, not only at its end.
 */
static void conn_start_write(struct conn *c)
{
    uv_buf_t b;
    size_t n;
    int rc;

    if (c->inflight_off == c->inflight.len) {
        struct buf tmp = c->inflight;

        buf_reset(&tmp);
        c->inflight = c->out;
        c->out = tmp;
        c->inflight_off = 0;
    }
    n = c->inflight.len - c->inflight_off;
    if (n > CONN_WRITE_SLICE) {
        n = CONN_WRITE_SLICE;
    }
    b = uv_buf_init(c->inflight.data + c->inflight_off, (unsigned)n);
    c->wreq = xmalloc(sizeof(*c->wreq));
    c->wreq->data = c;
    rc = uv_write(c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        log_debug(&c->log, "write failed: %s", uv_strerror(rc));
        PIPIT_FREE(c->wreq);
        conn_close(c, false);
        return;
    }
    c->wlen = n;
    conn_ref(c);
}

/*
 * Bytes for the socket: queued, and written once per loop turn by
 * conn_flush_dirty() (one write for every frame and answer a turn produced,
 * instead of one per frame; see worker.c on_flush). The cap applies to the
 * whole call up front, so a refused send queues nothing.
 */
static int conn_raw_sendv(struct conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = 0;

    for (unsigned i = 0; i < nbufs; i++) {
        total += bufs[i].len;
    }
    if (total > c->send_cap || conn_pending(c) > c->send_cap - total) {
        return PIPIT_EPAYLOAD_TOO_LARGE;
    }
    for (unsigned i = 0; i < nbufs; i++) {
        if (buf_append(&c->out, bufs[i].base, bufs[i].len) != 0) {
            return PIPIT_EPAYLOAD_TOO_LARGE;
        }
    }
    /* With a write in flight, its completion takes the rest (on_write). A turn
     * that queues a lot (a burst of fan-out, big answers) writes as it goes, so
     * the send-queue cap only ever counts what the peer has not taken. */
    if (c->wreq == NULL && c->out.len >= CONN_PUSH_AT) {
        list_unlink(&c->dirty_node);
        conn_push(c);
        return 0;
    }
    if (c->wreq == NULL && c->out.len > 0 && list_empty(&c->dirty_node)) {
        if (list_empty(&c->w->dirty)) {
            worker_want_flush(c->w);
        }
        list_append(&c->w->dirty, &c->dirty_node);
    }
    return 0;
}

/* Offers the queued output to the kernel; what it refuses goes out in the background.
 * Returns false when the connection failed (and is closing). */
static bool conn_push(struct conn *c)
{
    int n = uv_try_write((uv_stream_t *)&c->tcp, &(uv_buf_t){ c->out.data, c->out.len }, 1);

    if (n > 0) {
        buf_consume(&c->out, (size_t)n);
        c->last_progress = worker_now(c->w);
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
        log_debug(&c->log, "write failed: %s", uv_strerror(n));
        conn_close(c, false);
        return false;
    }
    if (c->out.len > 0) {
        conn_start_write(c);
    }
    return true;
}

/* Writes what c queued this turn: at once if the kernel takes it, else in the background. */
static void conn_flush(struct conn *c)
{
    list_unlink(&c->dirty_node);
    if (c->closing || c->wreq != NULL || c->out.len == 0 || !conn_push(c)) {
        return;
    }
    if (c->out.len == 0) {
        buf_cleanup(&c->out); /* an idle connection keeps no output buffer */
        conn_written(c);
    }
}

void conn_flush_dirty(struct worker *w)
{
    /* A drain callback may queue more and re-mark a connection: loop until quiet. */
    while (!list_empty(&w->dirty)) {
        struct conn *c = list_entry(w->dirty.next, struct conn, dirty_node);

        conn_ref(c);
        conn_flush(c);
        conn_unref(c);
    }
}

static int conn_raw_send(struct conn *c, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);

    return conn_raw_sendv(c, &b, 1);
}

/* Moves ciphertext that OpenSSL produced to the socket. */
static int conn_flush_tls(struct conn *c)
{
    char chunk[16 * 1024];
    int n;
    int rc = 0;

    while (rc == 0 && (n = BIO_read(SSL_get_wbio(c->ssl), chunk, sizeof(chunk))) > 0) {
        rc = conn_raw_send(c, chunk, (size_t)n);
    }
    return rc;
}

int conn_sendv(struct conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = 0;

    if (c->closing || c->close_when_flushed) {
        return 0;
    }
    if (c->ssl == NULL) {
        return conn_raw_sendv(c, bufs, nbufs);
    }
    for (unsigned i = 0; i < nbufs; i++) {
        total += bufs[i].len;
    }
    if (total > c->send_cap || conn_pending(c) > c->send_cap - total) {
        return PIPIT_EPAYLOAD_TOO_LARGE;
    }
    for (unsigned i = 0; i < nbufs; i++) {
        const char *data = bufs[i].base;
        size_t len = bufs[i].len;

        while (len > 0) {
            int chunk = len > 1 << 30 ? 1 << 30 : (int)len;
            int n = SSL_write(c->ssl, data, chunk);

            if (n <= 0) {
                conn_close(c, false);
                return 0;
            }
            data += n;
            len -= (size_t)n;
        }
    }
    return conn_flush_tls(c);
}

int conn_send(struct conn *c, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);

    return conn_sendv(c, &b, 1);
}

void conn_pause_read(struct conn *c)
{
    if (!c->read_paused && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->read_paused = true;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = (struct conn *)h;

    /* Every connection of the loop reads into the same buffer. */
    *b = uv_buf_init(c->w->read_buf, sizeof(c->w->read_buf));
}

/*
 * The peer finished sending (FIN or TLS close_notify). It may still be reading:
 * an HTTP request it sent is answered first (RFC 9112 §9.6 lets a client half-close).
 */
static void conn_on_eof(struct conn *c)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->read_paused = true;
    c->peer_eof = true;
    if (c->proto == CONN_HTTP) {
        http_conn_on_eof(c);
    } else {
        conn_close(c, false);
    }
}

static void conn_deliver(struct conn *c, const char *data, size_t len)
{
    if (c->proto == CONN_WS) {
        ws_conn_on_data(c, data, len);
    } else {
        http_conn_on_data(c, data, len);
    }
}

static void conn_read_tls(struct conn *c, const char *data, size_t len)
{
    if (BIO_write(SSL_get_rbio(c->ssl), data, (int)len) != (int)len) {
        conn_close(c, false);
        return;
    }
    while (!c->closing) {
        int n = SSL_read(c->ssl, c->w->tls_buf, sizeof(c->w->tls_buf));

        if (n > 0) {
            conn_deliver(c, c->w->tls_buf, (size_t)n);
            continue;
        }
        switch (SSL_get_error(c->ssl, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            /* Handshake records or a partial record: send what OpenSSL made. */
            conn_flush_tls(c);
            return;
        case SSL_ERROR_ZERO_RETURN:
            conn_on_eof(c);
            return;
        default:
            log_debug(&c->log, "TLS error: %s",
                      ERR_reason_error_string(ERR_peek_last_error()));
            ERR_clear_error();
            conn_flush_tls(c); /* the alert, if any */
            conn_close(c, true);
            return;
        }
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = (struct conn *)s;

    if (c->lingering) {
        if (nread < 0) {
            conn_close_now(c); /* the peer is done too */
        }
        return; /* input after our last answer is discarded */
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug(&c->log, "read failed: %s", uv_strerror((int)nread));
            conn_close(c, false);
        } else {
            conn_on_eof(c);
        }
        return;
    }
    if (nread == 0 || c->closing) {
        return;
    }
    /* Hold a reference: the protocol may close the connection while it works. */
    conn_ref(c);
    if (c->ssl != NULL) {
        conn_read_tls(c, b->base, (size_t)nread);
    } else {
        conn_deliver(c, b->base, (size_t)nread);
    }
    conn_unref(c);
}

void conn_resume_read(struct conn *c)
{
    if (c->read_paused && !c->closing && !c->close_when_flushed && !c->peer_eof) {
        c->read_paused = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void on_timer(struct wheel_timer *t)
{
    struct conn *c = list_entry(t, struct conn, timer);

    if (c->closing) {
        return;
    }
    if (c->lingering) {
        conn_close_now(c);
        return;
    }
    if (c->proto == CONN_HTTP && conn_pending(c) > 0) {
        /* A slow download is fine while it moves; a stalled one is cut. */
        int64_t idle = worker_now(c->w) - c->last_progress;
        int64_t limit = c->w->srv->cfg.idle_timeout;

        if (idle < limit) {
            conn_timer_arm(c, limit - idle);
            return;
        }
        log_debug(&c->log, "peer stopped reading its answer; dropping");
        conn_close(c, false);
        return;
    }
    if (c->close_when_flushed) {
        conn_close(c, false);
        return;
    }
    if (c->proto == CONN_WS) {
        ws_conn_on_timeout(c);
    } else {
        http_conn_on_timeout(c);
    }
}

void conn_timer_arm(struct conn *c, int64_t delay_ms)
{
    wheel_arm(&c->w->wheel, &c->timer, worker_now(c->w), delay_ms);
}

void conn_timer_cancel(struct conn *c)
{
    wheel_cancel(&c->timer);
}

static void conn_set_peer(struct conn *c)
{
    struct sockaddr_storage sa;
    int len = sizeof(sa);
    int port = 0;

    strcpy(c->ip, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, c->ip, sizeof(c->ip));
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&sa, c->ip, sizeof(c->ip));
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", c->ip, port);
}

void conn_accept(struct worker *w, uv_stream_t *listener)
{
    struct server *srv = w->srv;
    struct conn *c = xcalloc(1, sizeof(*c));

    uv_tcp_init(&w->loop, &c->tcp);
    c->w = w;
    c->refs = 1;
    c->id = (++w->next_conn_id << 8) | (uint64_t)w->id;
    c->proto = CONN_HTTP;
    c->send_cap = CONN_DEFAULT_SEND_CAP;
    buf_init(&c->out, CONN_DEFAULT_SEND_CAP);
    buf_init(&c->inflight, CONN_DEFAULT_SEND_CAP);
    wheel_timer_init(&c->timer, on_timer);
    list_append(&w->conns, &c->node);
    list_init(&c->dirty_node);
    w->nconns++;

    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c, false);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_set_peer(c);
    c->log.worker = w->id;
    c->log.conn_id = c->id;
    c->log.peer = c->peer;
    c->counted = true;
    atomic_fetch_add(&srv->metrics.connections, 1);
    atomic_fetch_add(&srv->metrics.connections_total, 1);
    limits_addr(srv->limits, c->ip, &c->addr);
    if (!c->addr.exempt) {
        c->limit_entered = limits_enter(srv->limits, LIMIT_IP_CONNECTIONS, c->addr.key);
        if (!c->limit_entered) {
            /* Closed before a byte is read: it costs nothing more. */
            log_info(&c->log, "refused: too many connections from %s", c->ip);
            conn_close(c, false);
            return;
        }
    }

    if (srv->tls != NULL) {
        c->ssl = SSL_new(srv->tls);
        if (c->ssl == NULL) {
            conn_close(c, false);
            return;
        }
        SSL_set_bio(c->ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
        SSL_set_accept_state(c->ssl);
    }
    if (w->stopping) {
        conn_close(c, false);
        return;
    }
    log_debug(&c->log, "connected");
    http_conn_start(c);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

void conn_shutdown(struct conn *c)
{
    if (c->closing) {
        return;
    }
    if (c->proto == CONN_WS) {
        ws_conn_shutdown(c);
    } else {
        http_conn_shutdown(c);
    }
}
