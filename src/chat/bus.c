/*
 * bus.c: see bus.h.
 *
 * Each worker keeps w->by_user: user id → the user's authenticated sessions on
 * that worker (usually one or two). A delivery walks the smaller of the two
 * sides: the event's users looked up in the table, or the table's users looked
 * up in the event's sorted set, so a 10,000-member group costs a worker with
 * few sessions little.
 */
#include "chat/bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "net/conn.h"
#include "net/worker.h"
#include "server.h"
#include "util/clock.h"
#include "util/intmap.h"
#include "util/mem.h"
#include "ws/ws_conn.h"

/* ---- user sets ---- */

struct user_set *user_set_new(size_t cap)
{
    struct user_set *s = xmalloc(sizeof(*s) + cap * sizeof(s->ids[0]));

    atomic_init(&s->refs, 1);
    s->n = 0;
    return s;
}

struct user_set *user_set_of(const int64_t *ids, size_t n)
{
    struct user_set *s = user_set_new(n);

    if (n > 0) {
        memcpy(s->ids, ids, n * sizeof(ids[0]));
    }
    s->n = n;
    user_set_sort(s);
    return s;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

void user_set_sort(struct user_set *s)
{
    size_t out = 0;

    qsort(s->ids, s->n, sizeof(s->ids[0]), cmp_id);
    for (size_t i = 0; i < s->n; i++) {
        if (out == 0 || s->ids[out - 1] != s->ids[i]) {
            s->ids[out++] = s->ids[i];
        }
    }
    s->n = out;
}

bool user_set_has(const struct user_set *s, int64_t id)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->ids[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < s->n && s->ids[lo] == id;
}

struct user_set *user_set_ref(struct user_set *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void user_set_unref(struct user_set *s)
{
    if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        free(s);
    }
}

/* ---- events ---- */

struct bus_event *bus_event_new(const char *text, size_t len, struct user_set *to)
{
    struct bus_event *ev = xmalloc(sizeof(*ev) + len + 1);

    atomic_init(&ev->refs, 1);
    ev->to = to;
    ev->skip_user = 0;
    ev->len = len;
    memcpy(ev->text, text, len);
    ev->text[len] = '\0';
    return ev;
}

void bus_event_unref(struct bus_event *ev)
{
    if (ev != NULL && atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1) {
        user_set_unref(ev->to);
        free(ev);
    }
}

void bus_batch_add(struct bus_batch *b, struct bus_event *ev)
{
    if (b->n == b->cap) {
        b->cap = b->cap != 0 ? b->cap * 2 : 16;
        b->evs = xrealloc(b->evs, b->cap * sizeof(b->evs[0]));
    }
    b->evs[b->n++] = ev;
}

/* ---- per-worker session tables ---- */

struct user_conns {
    size_t n;
    size_t cap;
    struct conn **conns;
};

static long deliver_to(const struct bus_event *ev, int64_t user_id, struct user_conns *uc)
{
    if (user_id == ev->skip_user) {
        return 0;
    }
    for (size_t i = 0; i < uc->n; i++) {
        /* A send that fails closes or drops the connection; the rest go on. */
        ws_conn_send_text(uc->conns[i], ev->text, ev->len);
    }
    return (long)uc->n;
}

static void deliver(struct worker *w, const struct bus_event *ev)
{
    const struct user_set *to = ev->to;
    long n = 0;

    if (to->n <= w->by_user.len) {
        for (size_t i = 0; i < to->n; i++) {
            struct user_conns *uc = intmap_get(&w->by_user, to->ids[i]);

            if (uc != NULL) {
                n += deliver_to(ev, to->ids[i], uc);
            }
        }
    } else {
        for (size_t i = 0; i < w->by_user.cap; i++) {
            struct intmap_slot *s = &w->by_user.slots[i];

            if (s->key != 0 && user_set_has(to, s->key)) {
                n += deliver_to(ev, s->key, s->value);
            }
        }
    }
    atomic_fetch_add_explicit(&w->srv->metrics.chat_deliveries, n, memory_order_relaxed);
}

struct delivery_job {
    struct job job;
    size_t n;
    struct bus_event *evs[];
};

static void delivery_done(struct job *j)
{
    struct delivery_job *dj = (struct delivery_job *)j;
    struct worker *w = j->origin;

    for (size_t i = 0; i < dj->n; i++) {
        /* A stopped worker runs this on the poster's thread: drop, touch nothing. */
        if (!j->orphaned) {
            deliver(w, dj->evs[i]);
        }
        bus_event_unref(dj->evs[i]);
    }
    free(dj);
}

void bus_flush(struct server *srv, struct bus_batch *b)
{
    if (b->n == 0) {
        return;
    }
    atomic_fetch_add_explicit(&srv->metrics.chat_events, (long)b->n, memory_order_relaxed);
    for (int i = 0; i < srv->nworkers; i++) {
        struct delivery_job *dj = xmalloc(sizeof(*dj) + b->n * sizeof(dj->evs[0]));

        memset(&dj->job, 0, sizeof(dj->job));
        dj->job.origin = srv->workers[i];
        dj->job.done = delivery_done;
        dj->n = b->n;
        for (size_t k = 0; k < b->n; k++) {
            dj->evs[k] = b->evs[k];
            atomic_fetch_add_explicit(&b->evs[k]->refs, 1, memory_order_relaxed);
        }
        worker_post(srv->workers[i], &dj->job);
    }
    for (size_t k = 0; k < b->n; k++) {
        bus_event_unref(b->evs[k]);
    }
    b->n = 0;
}

void bus_publish(struct server *srv, struct bus_event *ev)
{
    struct bus_event *one[1] = { ev };
    struct bus_batch b = { one, 1, 1 };

    bus_flush(srv, &b);
}

/* ---- presence ---- */

struct presence_entry {
    int sessions;
    int64_t last_seen;
};

struct presence {
    uv_mutex_t lock;
    struct intmap users;        /* user id → struct presence_entry */
    struct intmap tokens;       /* token id → its open sessions, as an intptr_t */
};

struct presence *presence_new(void)
{
    struct presence *p = xcalloc(1, sizeof(*p));

    uv_mutex_init(&p->lock);
    intmap_init(&p->users);
    intmap_init(&p->tokens);
    return p;
}

void presence_free(struct presence *p)
{
    if (p == NULL) {
        return;
    }
    intmap_cleanup_free(&p->users);
    intmap_cleanup(&p->tokens);
    uv_mutex_destroy(&p->lock);
    free(p);
}

bool presence_get(struct presence *p, int64_t user_id, int64_t *last_seen)
{
    struct presence_entry *e;
    bool online = false;

    *last_seen = 0;
    uv_mutex_lock(&p->lock);
    e = intmap_get(&p->users, user_id);
    if (e != NULL) {
        online = e->sessions > 0;
        *last_seen = e->last_seen;
    }
    uv_mutex_unlock(&p->lock);
    return online;
}

bool presence_token_online(struct presence *p, int64_t token_id)
{
    bool online;

    uv_mutex_lock(&p->lock);
    online = intmap_get(&p->tokens, token_id) != NULL;
    uv_mutex_unlock(&p->lock);
    return online;
}

void presence_announce(struct server *srv, int64_t user_id, struct user_set *to)
{
    struct presence *p = srv->presence;
    struct presence_entry *e;
    char text[160], seen[24] = "null";
    bool online = false;

    uv_mutex_lock(&p->lock);
    e = intmap_get(&p->users, user_id);
    if (e != NULL) {
        online = e->sessions > 0;
        if (e->last_seen != 0) {
            snprintf(seen, sizeof(seen), "%lld", (long long)e->last_seen);
        }
    }
    snprintf(text, sizeof(text),
             "{\"ev\":\"presence\",\"user\":%lld,\"online\":%s,\"last_seen\":%s}",
             (long long)user_id, online ? "true" : "false", seen);
    bus_publish(srv, bus_event_new(text, strlen(text), to)); /* lock order: presence, inbox */
    uv_mutex_unlock(&p->lock);
}

/* Adds delta to the token's session count (a count of 0 is no entry). Lock held. */
static void count_token(struct presence *p, int64_t token_id, int delta)
{
    intptr_t n = (intptr_t)intmap_get(&p->tokens, token_id) + delta;

    if (n > 0) {
        intmap_put(&p->tokens, token_id, (void *)n);
    } else {
        intmap_remove(&p->tokens, token_id);
    }
}

/* Adds delta to the user's and the token's session counts; true when the user's crossed zero. */
static bool presence_count(struct presence *p, int64_t user_id, int64_t token_id, int delta,
                           int64_t now_ms)
{
    struct presence_entry *e;
    bool crossed;

    uv_mutex_lock(&p->lock);
    if (token_id != 0) {
        count_token(p, token_id, delta);
    }
    e = intmap_get(&p->users, user_id);
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        intmap_put(&p->users, user_id, e);
    }
    e->sessions += delta;
    crossed = delta > 0 ? e->sessions == 1 : e->sessions == 0;
    if (delta < 0 && crossed) {
        e->last_seen = now_ms;
    }
    uv_mutex_unlock(&p->lock);
    return crossed;
}

bool bus_session_up(struct conn *c, int64_t user_id, int64_t token_id)
{
    struct worker *w = c->w;
    struct user_conns *uc = intmap_get(&w->by_user, user_id);

    if (uc == NULL) {
        uc = xcalloc(1, sizeof(*uc));
        intmap_put(&w->by_user, user_id, uc);
    }
    if (uc->n == uc->cap) {
        uc->cap = uc->cap != 0 ? uc->cap * 2 : 2;
        uc->conns = xrealloc(uc->conns, uc->cap * sizeof(uc->conns[0]));
    }
    uc->conns[uc->n++] = c;
    atomic_fetch_add_explicit(&w->srv->metrics.ws_authenticated, 1, memory_order_relaxed);
    return presence_count(w->srv->presence, user_id, token_id, 1, 0);
}

bool bus_session_down(struct conn *c, int64_t user_id, int64_t token_id)
{
    struct worker *w = c->w;
    struct user_conns *uc = intmap_get(&w->by_user, user_id);

    if (uc == NULL) {
        return false;
    }
    for (size_t i = 0; i < uc->n; i++) {
        if (uc->conns[i] == c) {
            uc->conns[i] = uc->conns[--uc->n];
            break;
        }
    }
    if (uc->n == 0) {
        intmap_remove(&w->by_user, user_id);
        free(uc->conns);
        free(uc);
    }
    atomic_fetch_sub_explicit(&w->srv->metrics.ws_authenticated, 1, memory_order_relaxed);
    return presence_count(w->srv->presence, user_id, token_id, -1, clock_now_ms());
}
