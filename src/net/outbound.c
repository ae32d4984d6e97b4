/*
 * outbound.c: libcurl's multi interface driven by a libuv loop.
 *
 * libcurl says which sockets to watch (socket callback) and when to wake it
 * (timer callback); the loop watches them with one uv_poll per socket and one
 * uv_timer, and hands each event back with curl_multi_socket_action. Finished
 * transfers are collected after every action and reported to their owners.
 */
#include "net/outbound.h"

#include <stdbool.h>
#include <stdlib.h>

#include "push/endpoint.h"
#include "util/buf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/mem.h"

struct outbound {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct list requests;      /* every transfer started and not yet done */
    size_t active;
};

/* One transfer; CURLOPT_PRIVATE points here. */
struct request {
    struct list node;
    CURL *easy;
    void (*done)(void *arg, CURL *easy, CURLcode result);
    void *arg;
};

/* One watched socket (curl_multi_assign keeps it with the socket). */
struct watch {
    uv_poll_t poll;
    curl_socket_t fd;
    struct outbound *ob;
};

int outbound_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK ? 0 : -1;
}

static void finish(struct outbound *ob, struct request *r, CURLcode result)
{
    curl_multi_remove_handle(ob->multi, r->easy);
    list_unlink(&r->node);
    ob->active--;
    r->done(r->arg, r->easy, result);
    free(r);
}

/* Reports every transfer libcurl has finished. */
static void collect_done(struct outbound *ob)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(ob->multi, &left)) != NULL) {
        struct request *r = NULL;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(ob, r, msg->data.result);
    }
}

static void act(struct outbound *ob, curl_socket_t fd, int events)
{
    int running;

    curl_multi_socket_action(ob->multi, fd, events, &running);
    collect_done(ob);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct watch *w = p->data;
    int flags = 0;

    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    }
    if (events & UV_READABLE) {
        flags |= CURL_CSELECT_IN;
    }
    if (events & UV_WRITABLE) {
        flags |= CURL_CSELECT_OUT;
    }
    act(w->ob, w->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
    act(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void free_watch(uv_handle_t *h)
{
    free(h->data);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching a socket. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct outbound *ob = userp;
    struct watch *w = socketp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            uv_poll_stop(&w->poll);
            uv_close((uv_handle_t *)&w->poll, free_watch);
            curl_multi_assign(ob->multi, fd, NULL);
        }
        return 0;
    }
    if (w == NULL) {
        w = xcalloc(1, sizeof(*w));
        w->fd = fd;
        w->ob = ob;
        if (uv_poll_init_socket(ob->loop, &w->poll, fd) != 0) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        curl_multi_assign(ob->multi, fd, w);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        events |= UV_READABLE;
    }
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
        events |= UV_WRITABLE;
    }
    uv_poll_start(&w->poll, events, on_poll);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means "as soon as you can". */
static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    struct outbound *ob = userp;

    if (timeout_ms < 0) {
        uv_timer_stop(&ob->timer);
    } else {
        uv_timer_start(&ob->timer, on_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

struct outbound *outbound_new(uv_loop_t *loop)
{
    struct outbound *ob = xcalloc(1, sizeof(*ob));

    ob->loop = loop;
    ob->multi = curl_multi_init();
    if (ob->multi == NULL) {
        free(ob);
        return NULL;
    }
    list_init(&ob->requests);
    uv_timer_init(loop, &ob->timer);
    ob->timer.data = ob;
    curl_multi_setopt(ob->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(ob->multi, CURLMOPT_SOCKETDATA, ob);
    curl_multi_setopt(ob->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(ob->multi, CURLMOPT_TIMERDATA, ob);
    /* HTTP/2 hosts (APNs, FCM) get one connection with many streams. */
    curl_multi_setopt(ob->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return ob;
}

static void free_outbound(uv_handle_t *h)
{
    free(h->data);
}

void outbound_free(struct outbound *ob)
{
    if (ob == NULL) {
        return;
    }
    while (!list_empty(&ob->requests)) {
        finish(ob, list_entry(ob->requests.next, struct request, node),
               CURLE_ABORTED_BY_CALLBACK);
    }
    /* Closing the pool's connections may still call on_socket (CURL_POLL_REMOVE). */
    curl_multi_cleanup(ob->multi);
    uv_close((uv_handle_t *)&ob->timer, free_outbound);
}

int outbound_start(struct outbound *ob, CURL *easy,
                   void (*done)(void *arg, CURL *easy, CURLcode result), void *arg)
{
    struct request *r = xcalloc(1, sizeof(*r));

    r->easy = easy;
    r->done = done;
    r->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, r);
    if (curl_multi_add_handle(ob->multi, easy) != CURLM_OK) {
        free(r);
        return -1;
    }
    list_append(&ob->requests, &r->node);
    ob->active++;
    return 0;
}

size_t outbound_active(const struct outbound *ob)
{
    return ob->active;
}

/* CURLOPT_OPENSOCKETFUNCTION: the address the URL's host resolved to. */
static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct outbound_guard *g = arg;

    (void)purpose;
    g->tried++;
    if (push_address_is_private(&addr->addr)) {
        g->refused++;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

void outbound_guard(CURL *easy, struct outbound_guard *g)
{
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g);
}

size_t outbound_keep_all(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;

    return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

size_t outbound_keep_head(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n;
    size_t room = b->max - b->len;

    buf_append(b, p, len < room ? len : room);
    return len;
}
