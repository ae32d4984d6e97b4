/*
 * worker.c: thread, loop, listener, inbox and timer wheel of each I/O worker.
 *
 * Start-up binds every listener on the main thread, so a bad address fails the
 * start before any thread exists. With port 0, the first bind picks the port and
 * the others reuse it (SO_REUSEPORT lets the kernel spread accepts over them).
 *
 * Shutdown: the main thread posts a stop job to each worker. The worker closes its
 * listener, asks every connection to finish (WebSockets get close 1001, busy HTTP
 * requests complete), and ends its loop when the last connection is gone or the
 * deadline passes, whichever is first.
 */
#include "net/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "net/conn.h"
#include "server.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

static void worker_maybe_finish(struct worker *w);

int64_t worker_now(struct worker *w)
{
    return (int64_t)uv_now(&w->loop);
}

/* Parses "1.2.3.4:80", "[::1]:80" or "localhost:80" into addr. */
static int parse_listen(const char *text, struct sockaddr_storage *addr)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hlen;
    char *end;
    long port;

    if (colon == NULL) {
        return -1;
    }
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
        h = text + 1;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535) {
        return -1;
    }
    if (strcmp(host, "localhost") == 0) {
        strcpy(host, "127.0.0.1");
    }
    memset(addr, 0, sizeof(*addr));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0) {
        return 0;
    }
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0) {
        return 0;
    }
    return -1;
}

static int listen_socket(struct sockaddr_storage *addr)
{
    socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    int one = 1;
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -errno;
    }
    /*
     * libuv 1.44 has no UV_TCP_REUSEPORT, so the socket is made here and handed to
     * uv_tcp_open(): one listener per worker, load-balanced by the kernel.
     */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)addr, len) != 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    if (getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct worker *w = listener->data;

    if (status < 0) {
        log_warn(&w->log, "accept failed: %s", uv_strerror(status));
        return;
    }
    conn_accept(w, listener);
}

/*
 * Runs the jobs queued so far, in order (jobs queued meanwhile wake the loop
 * again, so a busy poster cannot starve I/O). A job whose done() ends the
 * worker's last connection calls back in here (worker_maybe_finish): that nested
 * call returns at once, and this one, seeing the inbox closed, drains it to the
 * end, so jobs still run first come, first served.
 */
static void drain_inbox(struct worker *w)
{
    struct job *j;

    if (w->draining) {
        return;
    }
    w->draining = true;
    for (;;) {
        uv_mutex_lock(&w->inbox_lock);
        j = w->inbox_head;
        w->inbox_head = NULL;
        w->inbox_tail = NULL;
        uv_mutex_unlock(&w->inbox_lock);
        if (j == NULL) {
            break;
        }
        while (j != NULL) {
            struct job *next = j->next;

            j->done(j);
            j = next;
        }
        if (!w->inbox_closed) {
            break;
        }
    }
    w->draining = false;
}

static void on_wake(uv_poll_t *p, int status, int events)
{
    struct worker *w = p->data;
    uint64_t n;

    /* Read before draining: a post after this read writes again (worker_post_chain). */
    if (read(w->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        log_error(&w->log, "cannot read the wake-up counter: %s", strerror(errno));
    }
    drain_inbox(w);
}

static void on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    int64_t now = worker_now(w);

    wheel_advance(&w->wheel, now);
    if (w->stopping && now >= w->stop_deadline) {
        /* Out of time: cut whatever is left. */
        for (struct list *n = w->conns.next; n != &w->conns; n = n->next) {
            conn_close(list_entry(n, struct conn, node), false);
        }
    }
}

/*
 * Output queued during a loop turn is written at the start of the next one, one
 * write per connection (an active idle handle keeps the loop from sleeping in
 * between), so everything a turn produced for a socket goes in one syscall.
 */
static void on_flush(uv_idle_t *h)
{
    struct worker *w = h->data;

    conn_flush_dirty(w);
    if (list_empty(&w->dirty)) {
        uv_idle_stop(h);
    }
}

void worker_want_flush(struct worker *w)
{
    uv_idle_start(&w->flusher, on_flush);
}

static void worker_thread(void *arg)
{
    struct worker *w = arg;
    char name[16];

    /* Named for top -H, perf and /proc/PID/task/N/comm. */
    if (w->service != NULL) {
        snprintf(name, sizeof(name), "%s", w->service->name);
    } else {
        snprintf(name, sizeof(name), "worker-%d", w->id);
    }
    pthread_setname_np(pthread_self(), name);
    if (w->service != NULL) {
        w->service->start(w);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void on_handle_closed(uv_handle_t *h)
{
}

/* Ends the loop once nothing is left to serve. */
static void worker_maybe_finish(struct worker *w)
{
    if (!w->stopping || w->nconns != 0 || w->holds != 0) {
        return;
    }
    if (!uv_is_closing((uv_handle_t *)&w->ticker)) {
        /* From here on, worker_post() runs jobs on the poster's thread. */
        uv_mutex_lock(&w->inbox_lock);
        w->inbox_closed = true;
        uv_mutex_unlock(&w->inbox_lock);
        drain_inbox(w);
        uv_close((uv_handle_t *)&w->ticker, on_handle_closed);
        uv_close((uv_handle_t *)&w->wake, on_handle_closed);
        uv_close((uv_handle_t *)&w->flusher, on_handle_closed);
    }
}

void worker__conn_gone(struct worker *w)
{
    worker_maybe_finish(w);
}

void worker_hold(struct worker *w)
{
    w->holds++;
}

void worker_release(struct worker *w)
{
    w->holds--;
    worker_maybe_finish(w);
}

static void worker_begin_stop(struct job *j)
{
    struct worker *w = j->origin;

    free(j);
    if (w->stopping) {
        return;
    }
    w->stopping = true;
    w->stop_deadline = worker_now(w) + w->srv->cfg.shutdown_timeout - 500;
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, on_handle_closed);
        w->listening = false;
    }
    for (struct list *n = w->conns.next, *next; n != &w->conns; n = next) {
        next = n->next;
        conn_shutdown(list_entry(n, struct conn, node));
    }
    if (w->service != NULL) {
        w->service->stop(w);
    }
    worker_maybe_finish(w);
}

void worker_post_chain(struct worker *w, struct job *head)
{
    static const uint64_t one = 1;
    struct job *tail = head;
    bool was_empty;

    while (tail->next != NULL) {
        tail = tail->next;
    }
    uv_mutex_lock(&w->inbox_lock);
    was_empty = w->inbox_head == NULL;
    if (w->inbox_closed) {
        /* The worker has no connections left and its loop is ending. */
        uv_mutex_unlock(&w->inbox_lock);
        while (head != NULL) {
            struct job *next = head->next;

            head->orphaned = true;
            head->done(head);
            head = next;
        }
        return;
    }
    for (struct job *j = head; j != NULL; j = j->next) {
        j->orphaned = false;
    }
    if (w->inbox_tail != NULL) {
        w->inbox_tail->next = head;
    } else {
        w->inbox_head = head;
    }
    w->inbox_tail = tail;
    uv_mutex_unlock(&w->inbox_lock);
    /*
     * A non-empty inbox has its wake-up on the way already. The counter stays
     * open until the worker is freed, after every thread that posts has stopped,
     * so this write needs no lock.
     */
    if (was_empty && write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        log_error(&w->log, "cannot wake worker %d: %s", w->id, strerror(errno));
    }
}

void worker_post(struct worker *w, struct job *j)
{
    j->next = NULL;
    worker_post_chain(w, j);
}

static void kick_done(struct job *j)
{
    struct worker_kick *k = (struct worker_kick *)j;
    bool orphaned = j->orphaned; /* read first: once pending is clear, j may be posted again */

    atomic_store(&k->pending, false);
    if (!orphaned) {
        k->fn(k->data);
    }
}

void worker_kick_init(struct worker_kick *k, void (*fn)(void *data), void *data)
{
    memset(k, 0, sizeof(*k));
    k->fn = fn;
    k->data = data;
}

void worker_kick(struct worker *w, struct worker_kick *k)
{
    if (atomic_exchange(&k->pending, true)) {
        return;
    }
    k->job.origin = w;
    k->job.done = kick_done;
    worker_post(w, &k->job);
}

/* Tears down a worker whose thread never ran (a failed start). */
static void worker_destroy_unstarted(struct worker *w)
{
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, NULL);
    }
    uv_close((uv_handle_t *)&w->ticker, NULL);
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->flusher, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    uv_mutex_destroy(&w->inbox_lock);
    close(w->wake_fd);
    free(w);
}

static int worker_init(struct server *srv, int id, int fd, struct worker **out)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    int rc;

    w->id = id;
    w->srv = srv;
    w->log.worker = id;
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        log_error(NULL, "cannot make a wake-up counter for worker %d: %s", id, strerror(errno));
        free(w);
        *out = NULL;
        return PIPIT_EIO;
    }
    list_init(&w->conns);
    list_init(&w->dirty);
    uv_loop_init(&w->loop);
    uv_mutex_init(&w->inbox_lock);
    uv_poll_init(&w->loop, &w->wake, w->wake_fd);
    w->wake.data = w;
    uv_poll_start(&w->wake, UV_READABLE, on_wake);
    uv_timer_init(&w->loop, &w->ticker);
    w->ticker.data = w;
    wheel_init(&w->wheel, worker_now(w));
    uv_timer_start(&w->ticker, on_tick, WHEEL_TICK_MS, WHEEL_TICK_MS);
    uv_idle_init(&w->loop, &w->flusher);
    w->flusher.data = w;

    *out = w;
    if (fd < 0) {
        return 0; /* a service worker */
    }
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    w->listening = true;
    rc = uv_tcp_open(&w->listener, fd);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&w->listener, 4096, on_connection);
    }
    if (rc != 0) {
        log_error(NULL, "cannot listen on %s: %s", srv->listen_text, uv_strerror(rc));
        worker_destroy_unstarted(w);
        *out = NULL;
        return PIPIT_EIO;
    }
    return 0;
}

int worker_start_all(struct server *srv)
{
    int n = (int)srv->cfg.workers;
    char ip[INET6_ADDRSTRLEN];
    int port;

    if (n == 0) {
        n = (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1) {
            n = 1;
        }
    }
    if (parse_listen(srv->cfg.listen, &srv->listen_addr) != 0) {
        log_error(NULL, "listen: cannot parse '%s'", srv->cfg.listen);
        return PIPIT_EIO;
    }
    srv->workers = xcalloc((size_t)n, sizeof(*srv->workers));
    for (int i = 0; i < n; i++) {
        /* After the first bind, listen_addr holds the real port for the rest. */
        int fd = listen_socket(&srv->listen_addr);

        if (fd < 0) {
            log_error(NULL, "cannot listen on %s: %s", srv->cfg.listen, strerror(-fd));
            goto fail;
        }
        if (i == 0) {
            if (srv->listen_addr.ss_family == AF_INET6) {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&srv->listen_addr;

                inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
                port = ntohs(a6->sin6_port);
                snprintf(srv->listen_text, sizeof(srv->listen_text), "[%s]:%d", ip, port);
            } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *)&srv->listen_addr;

                inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
                port = ntohs(a4->sin_port);
                snprintf(srv->listen_text, sizeof(srv->listen_text), "%s:%d", ip, port);
            }
        }
        if (worker_init(srv, i + 1, fd, &srv->workers[i]) != 0) {
            close(fd);
            goto fail;
        }
        srv->nworkers = i + 1;
    }
    for (int i = 0; i < n; i++) {
        uv_thread_create(&srv->workers[i]->thread, worker_thread, srv->workers[i]);
    }
    return 0;

fail:
    /* No thread runs yet: the loops can be torn down from here. */
    for (int i = 0; i < srv->nworkers; i++) {
        worker_destroy_unstarted(srv->workers[i]);
    }
    PIPIT_FREE(srv->workers);
    srv->nworkers = 0;
    return PIPIT_EIO;
}

static void post_stop(struct worker *w)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->origin = w;
    j->done = worker_begin_stop;
    worker_post(w, j);
}

static void join(struct worker *w)
{
    uv_thread_join(&w->thread);
    uv_loop_close(&w->loop);
}

static void worker_free(struct worker *w)
{
    api_auth_cache_clear(w);
    intmap_cleanup(&w->auth_cache);
    uv_mutex_destroy(&w->inbox_lock);
    intmap_cleanup(&w->by_user); /* empty: every session has ended */
    close(w->wake_fd);
    free(w);
}

void worker_stop_all(struct server *srv)
{
    for (int i = 0; i < srv->nworkers; i++) {
        post_stop(srv->workers[i]);
    }
    for (int i = 0; i < srv->nworkers; i++) {
        join(srv->workers[i]);
    }
}

void worker_free_all(struct server *srv)
{
    for (int i = 0; i < srv->nworkers; i++) {
        worker_free(srv->workers[i]);
    }
    PIPIT_FREE(srv->workers);
    srv->nworkers = 0;
}

int worker_start_service(struct server *srv, const struct worker_service *svc, void *data,
                         struct worker **out)
{
    struct worker *w;

    /* At start only, and only out of file descriptors or memory: as for malloc. */
    if (worker_init(srv, 0, -1, &w) != 0) {
        abort();
    }
    w->service = svc;
    w->service_data = data;
    uv_thread_create(&w->thread, worker_thread, w);
    *out = w;
    return 0;
}

void worker_stop_service_begin(struct worker *w)
{
    if (w != NULL && !w->stop_asked) {
        w->stop_asked = true;
        post_stop(w);
    }
}

void worker_stop_service(struct worker *w)
{
    if (w != NULL) {
        worker_stop_service_begin(w);
        join(w);
    }
}

void worker_free_service(struct worker **w)
{
    if (*w != NULL) {
        worker_free(*w);
        *w = NULL;
    }
}
