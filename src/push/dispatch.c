/*
 * dispatch.c: the push dispatcher, a thread that sends queued deliveries to the
 * providers and writes down what became of each.
 *
 * The outbox is the deliveries table. The dispatcher claims due deliveries in
 * batches on the store writer: each becomes `sending` (durably, before its
 * request goes out), so a restart knows which ones may have reached their
 * provider. A push's first deliveries skip the claim: the writer inserts them
 * as `sending` while request slots are free and, after COMMIT, hands them over
 * with what their requests need. Requests run concurrently on libcurl's multi
 * interface (net/outbound.h), at most push_concurrency at once. Outcomes are written back
 * in batches: sent; failed (with a reason; a device its provider calls gone is
 * deleted); expired (its push outlived its TTL); or queued again for a later
 * attempt, with capped exponential backoff, jitter and the provider's
 * Retry-After.
 *
 * After a crash, deliveries left `sending` are queued again: the provider may
 * or may not have taken them, and a resend is the only way not to lose one.
 * On a clean stop, requests get until shutdown_timeout to finish; the rest are
 * queued again the same way.
 */
#include "push/push.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "net/outbound.h"
#include "net/worker.h"
#include "push/channel.h"
#include "push/endpoint.h"
#include "push/webpush.h"
#include "chat/bus.h"
#include "server.h"
#include "store/jobs.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

#define RESPONSE_KEEP 4096        /* bytes of a provider's answer kept for judging */
#define CLAIM_RETRY_MS 1000       /* after a claim the store could not do */
#define IDLE_CHECK_MS 60000       /* a claim now and then even when nothing is due */
#define STOP_MARGIN_MS 1000       /* left of shutdown_timeout to write the last outcomes */
#define FIRST_TRY_GRACE_MS 30000  /* a first attempt this late still goes, as "now or never" */

/* What became of one attempt, to be written. */
struct outcome {
    int64_t id;
    int64_t push_id, app_id;      /* settled (sent, failed, expired): the push may be finished */
    const char *state;            /* sent, failed, expired, queued */
    const char *reason;           /* static; NULL if none */
    int64_t next_at;              /* queued: when due */
    int64_t sent_at;
    int64_t forget_device;        /* 0, or a device to delete ... */
    int64_t device_updated_at;    /* ... unless registered again since */
};

struct dispatcher {
    struct server *srv;
    struct worker *w;             /* the dispatcher's own loop */
    struct outbound *ob;
    uv_timer_t due;               /* the next delivery falls due */
    uv_timer_t cutoff;            /* stopping: requests still running are cut */
    uv_timer_t rewrite;           /* outcomes the store could not take: tried again */
    bool rewrite_armed;
    struct worker_kick kick;
    atomic_bool running;
    atomic_int room;              /* request slots free: claims and hand-offs take them */
    atomic_bool handoff_open;     /* once the first claim re-queued what a crash left */
    uv_mutex_t handoff_lock;
    struct push_handoff handed;   /* handed over, not begun yet (under handoff_lock) */
    struct job handoff_job;
    atomic_bool handoff_pending;
    bool recovered;               /* deliveries the last run left `sending` queued again */
    bool want_claim;
    bool claiming;
    bool writing;
    bool stopping;
    bool ended;
    int inflight;
    struct outcome *outcomes;     /* finished, not yet being written */
    size_t noutcomes, outcomes_cap;
    void *state[4];               /* each channel's own, by its index in channels[] */
};

const char channel_parked[] = "parked";

static void maybe_claim(struct dispatcher *d);
static void maybe_end(struct dispatcher *d);

/* Takes up to want request slots; returns how many. Any thread. */
static int take_slots(struct dispatcher *d, int want)
{
    int room = atomic_load(&d->room);
    int got;

    do {
        got = room < want ? room : want;
        if (got <= 0) {
            return 0;
        }
    } while (!atomic_compare_exchange_weak(&d->room, &room, room - got));
    return got;
}

static void give_slots(struct dispatcher *d, int n)
{
    atomic_fetch_add(&d->room, n);
}

struct server *dispatcher_server(const struct dispatcher *d)
{
    return d->srv;
}

static const struct channel *const channels[] = {
    &channel_webpush,
    &channel_unifiedpush,
    &channel_apns,
    &channel_fcm,
};

struct outbound *dispatcher_outbound(const struct dispatcher *d)
{
    return d->ob;
}

void **dispatcher_state(struct dispatcher *d, const struct channel *ch)
{
    for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++) {
        if (channels[i] == ch) {
            return &d->state[i];
        }
    }
    abort(); /* every channel is in the table */
}

static const struct channel *channel_named(const char *name)
{
    for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++) {
        if (strcmp(channels[i]->name, name) == 0) {
            return channels[i];
        }
    }
    return NULL;
}

/* ---- the payload and request helpers channels use ---- */

int push_payload(const struct store_outgoing *o, struct buf *out)
{
    json_t *n = json_loads(o->notification, 0, NULL);
    char *text;
    int rc;

    if (!json_is_object(n)) {
        json_decref(n);
        n = json_object(); /* never stored so; an empty notification beats a crash */
    }
    json_object_set_new(n, "push", json_integer(o->push_id));
    json_object_set_new(n, "device", json_integer(o->device.id));
    json_object_set_new(n, "priority", json_string(o->priority));
    text = json_dumps(n, JSON_COMPACT);
    rc = text != NULL ? buf_appendz(out, text) : -1;
    free(text);
    json_decref(n);
    return rc;
}

int64_t attempt_ttl_left(const struct attempt *a)
{
    int64_t left = (a->o.expires_at - a->now) / 1000;

    return left > 0 ? left : 0;
}

void attempt_header(struct attempt *a, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    int n;

    /* Sized to fit: an OAuth access token alone can pass a kilobyte. */
    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        a->headers = curl_slist_append(a->headers, line);
        free(line);
    }
}

void attempt_post(struct attempt *a, const char *url, bool untrusted)
{
    const struct config *cfg = &a->d->srv->cfg;

    curl_easy_setopt(a->easy, CURLOPT_URL, url);
    if (strncmp(url, "http://", 7) == 0) {
        /* Plain HTTP/1.1 never multiplexes: waiting for that would send one at a time. */
        curl_easy_setopt(a->easy, CURLOPT_PIPEWAIT, 0L);
    }
    curl_easy_setopt(a->easy, CURLOPT_POSTFIELDS, a->body.data != NULL ? a->body.data : "");
    curl_easy_setopt(a->easy, CURLOPT_POSTFIELDSIZE, (long)a->body.len);
    if (untrusted) {
        /* A client chose this URL: where it really leads is checked at connect time. */
        curl_easy_setopt(a->easy, CURLOPT_PROTOCOLS_STR,
                         cfg->push_allow_http ? "http,https" : "https");
        if (!cfg->push_allow_private) {
            outbound_guard(a->easy, &a->guard);
        }
    }
}

/* ---- outcomes ---- */

struct write_job {
    struct job job;
    struct dispatcher *d;
    struct outcome *outcomes;
    size_t n;
    bool requeued;                /* some went back to the queue: when are they due */
};

static void write_run(struct job *j, void *ctx)
{
    struct write_job *wj = (struct write_job *)j;

    j->rc = 0;
    for (size_t i = 0; i < wj->n && j->rc == 0; i++) {
        const struct outcome *o = &wj->outcomes[i];

        j->rc = store_delivery_finish(ctx, o->id, o->state, o->reason, o->next_at, o->sent_at);
        if (j->rc == 0 && o->forget_device != 0) {
            j->rc = store_device_forget(ctx, o->forget_device, o->device_updated_at);
        }
    }
    /* Once all are written: a push whose last delivery settled here is finished. */
    for (size_t i = 0; i < wj->n && j->rc == 0; i++) {
        const struct outcome *o = &wj->outcomes[i];

        if (o->push_id != 0 && (i == 0 || o->push_id != wj->outcomes[i - 1].push_id)) {
            j->rc = push_finish_check(wj->d->srv, ctx, o->app_id, o->push_id, clock_now_ms());
        }
    }
}

static void flush_outcomes(struct dispatcher *d);

static void on_rewrite(uv_timer_t *t)
{
    struct dispatcher *d = t->data;

    d->rewrite_armed = false;
    flush_outcomes(d);
    maybe_end(d);
}

/*
 * The store could not take a batch of outcomes: they go back in front of the
 * others and are written again after a pause (never at once: a full queue or a
 * failing disk would spin). They must not stay `sending`.
 */
static void put_back(struct dispatcher *d, struct write_job *wj, int rc)
{
    log_error(&d->w->log, "push: cannot record %zu outcomes: %s; trying again in %d ms", wj->n,
              pipit_strerror(rc), CLAIM_RETRY_MS);
    for (size_t i = 0; i < d->noutcomes; i++) {
        wj->outcomes = xrealloc(wj->outcomes, (wj->n + 1) * sizeof(*wj->outcomes));
        wj->outcomes[wj->n++] = d->outcomes[i];
    }
    free(d->outcomes);
    d->outcomes = wj->outcomes;
    d->noutcomes = d->outcomes_cap = wj->n;
    wj->outcomes = NULL;
    d->rewrite_armed = true;
    uv_timer_start(&d->rewrite, on_rewrite, CLAIM_RETRY_MS, 0);
}

static void write_done(struct job *j)
{
    struct write_job *wj = (struct write_job *)j;
    struct dispatcher *d = wj->d;

    d->writing = false;
    if (j->rc != 0) {
        put_back(d, wj, j->rc);
    } else if (wj->requeued) {
        d->want_claim = true; /* the claim also sets the timer for the next due one */
    }
    free(wj->outcomes);
    free(wj);
    flush_outcomes(d);
    maybe_claim(d);
    maybe_end(d);
}

static void flush_outcomes(struct dispatcher *d)
{
    struct write_job *wj;

    if (d->writing || d->rewrite_armed || d->noutcomes == 0) {
        return;
    }
    wj = xcalloc(1, sizeof(*wj));
    wj->d = d;
    wj->outcomes = d->outcomes;
    wj->n = d->noutcomes;
    for (size_t i = 0; i < wj->n; i++) {
        wj->requeued |= strcmp(wj->outcomes[i].state, "queued") == 0;
    }
    d->outcomes = NULL;
    d->noutcomes = d->outcomes_cap = 0;
    wj->job.origin = d->w;
    wj->job.run = write_run;
    wj->job.done = write_done;
    d->writing = true;
    if (jobs_write(d->srv->jobs, &wj->job) != 0) {
        d->writing = false;
        put_back(d, wj, PIPIT_EUNAVAILABLE);
        free(wj);
    }
}

static void record(struct dispatcher *d, const struct outcome *o)
{
    if (d->noutcomes == d->outcomes_cap) {
        d->outcomes_cap = d->outcomes_cap ? d->outcomes_cap * 2 : 64;
        d->outcomes = xrealloc(d->outcomes, d->outcomes_cap * sizeof(*d->outcomes));
    }
    d->outcomes[d->noutcomes++] = *o;
}

static void count(struct dispatcher *d, const struct outcome *o, enum verdict v)
{
    struct metrics *m = &d->srv->metrics;
    atomic_long *c = strcmp(o->state, "sent") == 0      ? &m->push_sent
                     : strcmp(o->state, "queued") == 0  ? &m->push_retried
                     : strcmp(o->state, "expired") == 0 ? &m->push_expired
                     : v == VERDICT_GONE               ? &m->push_gone
                                                       : &m->push_failed;

    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void settle(struct dispatcher *d, struct attempt *a, enum verdict v, const char *reason,
                   int64_t retry_after_ms)
{
    const struct config *cfg = &d->srv->cfg;
    struct outcome o = { .id = a->o.id, .push_id = a->o.push_id, .app_id = a->o.app_id,
                         .state = "failed", .reason = reason };
    int64_t now = clock_now_ms();

    switch (v) {
    case VERDICT_SENT:
        o.state = "sent";
        o.reason = NULL;
        o.sent_at = now;
        break;
    case VERDICT_GONE:
        o.forget_device = a->o.device.id;
        o.device_updated_at = a->o.device.updated_at;
        log_info(&d->w->log, "push: device %lld is gone (%s): deleted",
                 (long long)a->o.device.id, reason);
        break;
    case VERDICT_FAIL:
        log_info(&d->w->log, "push: delivery %lld via %s failed: %s", (long long)a->o.id,
                 a->o.channel, reason);
        break;
    case VERDICT_RETRY:
        if (a->o.attempts >= cfg->push_max_attempts) {
            o.reason = "retries_exhausted";
            break;
        }
        o.next_at = now + clock_backoff_ms(cfg->push_retry_base, cfg->push_retry_cap, a->o.attempts);
        if (o.next_at < now + retry_after_ms) {
            o.next_at = now + retry_after_ms;
        }
        if (o.next_at >= a->o.expires_at) {
            o.state = "expired";
            o.reason = "ttl";
        } else {
            o.state = "queued";
        }
        break;
    }
    count(d, &o, v);
    record(d, &o);
}

static void attempt_free(struct attempt *a)
{
    if (a->easy != NULL) {
        curl_easy_cleanup(a->easy);
    }
    curl_slist_free_all(a->headers);
    buf_cleanup(&a->body);
    buf_cleanup(&a->response);
    store_outgoing_cleanup(&a->o);
    free(a);
}

/* ---- sending ---- */

/* Each attempt holds a request slot from its claim or hand-off until it ends. */

/* An attempt in flight (or parked) is over: its slot is free for the next. */
static void attempt_end(struct dispatcher *d, struct attempt *a)
{
    d->inflight--;
    atomic_fetch_sub_explicit(&d->srv->metrics.push_inflight, 1, memory_order_relaxed);
    give_slots(d, 1);
    attempt_free(a);
    flush_outcomes(d);
    maybe_claim(d);
    maybe_end(d);
}

static void on_sent(void *arg, CURL *easy, CURLcode result)
{
    struct attempt *a = arg;
    struct dispatcher *d = a->d;
    const char *reason = NULL;
    curl_off_t retry_after = 0;
    long status = 0;
    enum verdict v;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
    if (result == CURLE_ABORTED_BY_CALLBACK) {
        /* Cut by a stop: the provider may have it; the next run sends it again. */
        struct outcome o = { .id = a->o.id, .state = "queued", .next_at = 0 };

        record(d, &o);
    } else {
        if (result != CURLE_OK) {
            /* Private only if every address was: else a public one failed, as networks do. */
            bool private = a->guard.refused > 0 && a->guard.refused == a->guard.tried;

            v = private ? VERDICT_FAIL : VERDICT_RETRY;
            reason = private ? "private_address" : "network";
            log_info(&d->w->log, "push: delivery %lld via %s: %s", (long long)a->o.id,
                     a->o.channel, private ? "endpoint resolves to a private address"
                                           : curl_easy_strerror(result));
        } else if (status == 429 || status >= 500) {
            v = VERDICT_RETRY;
            reason = status == 429 ? "throttled" : "provider_error";
        } else {
            v = a->ch->judge(a, status, &reason);
        }
        settle(d, a, v, reason, (int64_t)retry_after * 1000);
    }
    attempt_end(d, a);
}

/* The delivery's variant of the notification: its fields over the push's. */
static void apply_variant(struct store_outgoing *o)
{
    json_t *n, *v;

    if (o->variant_notification == NULL) {
        return;
    }
    n = json_loads(o->notification, 0, NULL);
    v = json_loads(o->variant_notification, 0, NULL);
    if (json_is_object(n) && json_is_object(v)) {
        json_object_update(n, v);
        free(o->notification);
        o->notification = json_dumps(n, JSON_COMPACT);
    }
    json_decref(n);
    json_decref(v);
}

static void begin(struct dispatcher *d, struct attempt *a)
{
    const char *why = NULL;

    a->d = d;
    a->now = clock_now_ms();
    apply_variant(&a->o);
    buf_init(&a->body, 64 * 1024);
    buf_init(&a->response, RESPONSE_KEEP);
    a->ch = channel_named(a->o.channel);
    /* ttl 0 means one attempt at once: a first attempt is not late by a few seconds. */
    if (a->o.expires_at < a->now - (a->o.attempts == 1 ? FIRST_TRY_GRACE_MS : 0)) {
        struct outcome o = { .id = a->o.id, .push_id = a->o.push_id, .app_id = a->o.app_id,
                             .state = "expired", .reason = "ttl" };

        count(d, &o, VERDICT_FAIL);
        record(d, &o);
        give_slots(d, 1);
        attempt_free(a);
        return;
    }
    if (a->o.device.id == 0 || a->ch == NULL) {
        why = a->o.device.id == 0 ? "device_gone" : "unknown_channel";
    } else {
        a->easy = curl_easy_init();
        outbound_defaults(d->srv, a->easy);
        curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, outbound_keep_head);
        curl_easy_setopt(a->easy, CURLOPT_WRITEDATA, &a->response);
        why = a->ch->prepare(a);
    }
    if (why != NULL && why != channel_parked) {
        settle(d, a, VERDICT_FAIL, why, 0);
        give_slots(d, 1);
        attempt_free(a);
        return;
    }
    d->inflight++; /* parked ones too: they hold their slot */
    atomic_fetch_add_explicit(&d->srv->metrics.push_inflight, 1, memory_order_relaxed);
    if (why == NULL) {
        attempt_launch(a);
    }
}

void attempt_launch(struct attempt *a)
{
    attempt_header(a, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, a->headers);
    if (a->d->ob == NULL || outbound_start(a->d->ob, a->easy, on_sent, a) != 0) {
        attempt_settle(a, VERDICT_RETRY, "local_error");
    }
}

void attempt_settle(struct attempt *a, enum verdict v, const char *reason)
{
    struct dispatcher *d = a->d;

    settle(d, a, v, reason, 0);
    attempt_end(d, a);
}

void outbound_defaults(const struct server *srv, CURL *easy)
{
    const struct config *cfg = &srv->cfg;

    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)cfg->push_request_timeout);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(cfg->push_request_timeout < 10000 ? cfg->push_request_timeout
                                                              : 10000));
    curl_easy_setopt(easy, CURLOPT_PROXY, ""); /* no proxy from the environment */
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "pipit/" PIPIT_VERSION);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L); /* share HTTP/2 connections */
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    if (cfg->push_ca_file[0] != '\0') {
        curl_easy_setopt(easy, CURLOPT_CAINFO, cfg->push_ca_file);
    }
}

/* ---- claiming due deliveries ---- */

struct claim_job {
    struct job job;
    struct dispatcher *d;
    int64_t now;
    int max;
    bool recover;
    struct attempt **got;
    int n;
    int64_t next_due;             /* -1: nothing else queued */
    struct store_conn *sc;        /* while running */
    bool decided;                 /* pending deliveries were decided: claim again */
    struct bus_batch inapp;       /* what they sent in-app, after COMMIT */
};

static int take(void *arg, struct store_outgoing *o)
{
    struct claim_job *cj = arg;
    struct attempt *a = xcalloc(1, sizeof(*a));

    a->o = *o;
    cj->got[cj->n++] = a;
    return 0;
}

/* A user's scheduled or held delivery came due: decided now, on the writer. */
static int decide_pending(void *arg, int64_t id, int64_t push_id, int64_t user_id)
{
    struct claim_job *cj = arg;
    bool queued = false;
    int rc = push_decide_pending(cj->d->srv, cj->sc, id, push_id, user_id, &queued, &cj->inapp);

    cj->decided |= queued;
    return rc;
}

static void claim_committed(struct job *j, void *hook_arg)
{
    push_events_publish(hook_arg, &((struct claim_job *)j)->inapp);
}

static void claim_run(struct job *j, void *ctx)
{
    struct claim_job *cj = (struct claim_job *)j;
    int64_t requeued = 0;

    cj->sc = ctx;
    j->rc = 0;
    if (cj->recover) {
        j->rc = store_delivery_recover(ctx, &requeued);
        if (j->rc == 0 && requeued > 0) {
            log_notice(NULL, "push: %lld deliveries were being sent when the server last "
                       "stopped; sending them again", (long long)requeued);
        }
    }
    if (j->rc == 0) {
        j->rc = store_delivery_claim(ctx, cj->now, cj->max, take, decide_pending, cj);
    }
    if (j->rc == 0) {
        j->rc = store_delivery_next_due(ctx, &cj->next_due);
    }
}

static void on_due(uv_timer_t *t)
{
    struct dispatcher *d = t->data;

    d->want_claim = true;
    maybe_claim(d);
}

static void claim_done(struct job *j)
{
    struct claim_job *cj = (struct claim_job *)j;
    struct dispatcher *d = cj->d;
    int64_t wait = IDLE_CHECK_MS;

    d->claiming = false;
    push_events_drop(&cj->inapp); /* left only if the batch did not commit */
    give_slots(d, cj->max - cj->n); /* not needed */
    if (j->rc != 0) {
        /* Not committed: nothing was marked; nothing is sent. */
        log_error(&d->w->log, "push: cannot claim deliveries: %s", pipit_strerror(j->rc));
        for (int i = 0; i < cj->n; i++) {
            attempt_free(cj->got[i]);
        }
        give_slots(d, cj->n);
        wait = CLAIM_RETRY_MS;
    } else if (d->stopping) {
        /* Claimed as the server stops: not started, queued again for the next run. */
        for (int i = 0; i < cj->n; i++) {
            struct outcome o = { .id = cj->got[i]->o.id, .state = "queued", .next_at = 0 };

            record(d, &o);
            attempt_free(cj->got[i]);
        }
        give_slots(d, cj->n);
    } else {
        d->recovered |= cj->recover;
        /* From now on a `sending` row is one of ours, not a crash's leftover. */
        atomic_store(&d->handoff_open, d->recovered);
        for (int i = 0; i < cj->n; i++) {
            begin(d, cj->got[i]);
        }
        if (cj->n == cj->max || cj->decided) {
            d->want_claim = true; /* there may be more due now */
        } else if (cj->next_due >= 0) {
            wait = cj->next_due - clock_now_ms();
            wait = wait < 0 ? 0 : wait < IDLE_CHECK_MS ? wait : IDLE_CHECK_MS;
        }
    }
    if (!d->stopping) {
        uv_timer_start(&d->due, on_due, (uint64_t)wait, 0);
    }
    free(cj->got);
    free(cj);
    flush_outcomes(d);
    maybe_claim(d);
    maybe_end(d);
}

static void maybe_claim(struct dispatcher *d)
{
    int slots = atomic_load(&d->room);
    struct claim_job *cj;

    /* Small claims while busy would cost a commit each: wait for a quarter free. */
    if (d->stopping || d->claiming || !d->want_claim || slots <= 0 ||
        (d->inflight > 0 && slots < (int)d->srv->cfg.push_concurrency / 4)) {
        return;
    }
    slots = take_slots(d, slots);
    if (slots == 0) {
        return; /* the writer took them meanwhile */
    }
    cj = xcalloc(1, sizeof(*cj));
    cj->d = d;
    cj->now = clock_now_ms();
    cj->max = slots;
    cj->recover = !d->recovered;
    cj->got = xcalloc((size_t)slots, sizeof(*cj->got));
    cj->job.origin = d->w;
    cj->job.run = claim_run;
    cj->job.done = claim_done;
    cj->job.committed = claim_committed;
    d->want_claim = false;
    d->claiming = true;
    if (jobs_write(d->srv->jobs, &cj->job) != 0) {
        cj->job.rc = PIPIT_EUNAVAILABLE;
        claim_done(&cj->job);
    }
}

/* ---- the service ---- */

static void on_kick(void *data)
{
    struct dispatcher *d = data;

    d->want_claim = true;
    maybe_claim(d);
}

void push_dispatch_kick(struct server *srv)
{
    struct dispatcher *d = srv->dispatch;

    /* Before start the first claim reads everything anyway. */
    if (d != NULL && atomic_load(&d->running)) {
        worker_kick(d->w, &d->kick);
    }
}

/* ---- hand-offs from the writer ---- */

bool push_dispatch_reserve(struct server *srv)
{
    struct dispatcher *d = srv->dispatch;

    return d != NULL && atomic_load(&d->handoff_open) && take_slots(d, 1) == 1;
}

void push_dispatch_unreserve(struct server *srv, size_t n)
{
    give_slots(srv->dispatch, (int)n);
}

/* Not started: queued again, for a claim (or the next run) to send. */
static void requeue(struct dispatcher *d, int64_t id)
{
    struct outcome o = { .id = id, .state = "queued", .next_at = 0 };

    record(d, &o);
}

static void handoff_add(struct push_handoff *h, struct attempt *a)
{
    if (h->n == h->cap) {
        h->cap = h->cap != 0 ? h->cap * 2 : 8;
        h->a = xrealloc(h->a, h->cap * sizeof(h->a[0]));
    }
    h->a[h->n++] = a;
}

struct store_outgoing *push_handoff_new(struct push_handoff *h)
{
    struct attempt *a = xcalloc(1, sizeof(*a));

    handoff_add(h, a);
    return &a->o;
}

void push_handoff_move(struct push_handoff *to, struct push_handoff *from)
{
    for (size_t i = 0; i < from->n; i++) {
        handoff_add(to, from->a[i]);
    }
    from->n = 0;
}

void push_handoff_drop(struct server *srv, struct push_handoff *h)
{
    if (h->n > 0) {
        push_dispatch_unreserve(srv, h->n);
    }
    for (size_t i = 0; i < h->n; i++) {
        attempt_free(h->a[i]);
    }
    free(h->a);
    memset(h, 0, sizeof(*h));
}

static void handoff_done(struct job *j)
{
    struct dispatcher *d = (struct dispatcher *)((char *)j - offsetof(struct dispatcher,
                                                                      handoff_job));
    bool orphaned = j->orphaned; /* read first: once pending is clear, j may be posted again */
    struct push_handoff h;

    atomic_store(&d->handoff_pending, false);
    if (orphaned || d->ended) {
        return; /* the rows stay `sending`: the next run queues them again */
    }
    uv_mutex_lock(&d->handoff_lock);
    h = d->handed;
    memset(&d->handed, 0, sizeof(d->handed));
    uv_mutex_unlock(&d->handoff_lock);
    for (size_t i = 0; i < h.n; i++) {
        if (!d->stopping) {
            begin(d, h.a[i]); /* holds its slot until it ends */
            continue;
        }
        requeue(d, h.a[i]->o.id);
        attempt_free(h.a[i]);
        give_slots(d, 1);
    }
    d->want_claim |= d->stopping && h.n > 0; /* what went back to the queue */
    free(h.a);
    flush_outcomes(d);
    maybe_claim(d);
    maybe_end(d);
}

void push_dispatch_hand(struct server *srv, struct push_handoff *h)
{
    struct dispatcher *d = srv->dispatch;

    if (h->n == 0) {
        return;
    }
    uv_mutex_lock(&d->handoff_lock);
    push_handoff_move(&d->handed, h);
    uv_mutex_unlock(&d->handoff_lock);
    /* Stopped: the rows stay `sending`, and the next run queues them again. */
    if (!atomic_load(&d->running) || atomic_exchange(&d->handoff_pending, true)) {
        return;
    }
    d->handoff_job.origin = d->w;
    d->handoff_job.done = handoff_done;
    worker_post(d->w, &d->handoff_job);
}

static void on_cutoff(uv_timer_t *t)
{
    struct dispatcher *d = t->data;
    struct outbound *ob = d->ob;

    if (d->inflight > 0) {
        log_warn(&d->w->log, "push: stopping; %d requests cut short, to be sent again",
                 d->inflight);
    }
    d->ob = NULL; /* their on_sent runs from here, and must not end us twice */
    outbound_free(ob);
    maybe_end(d);
}

static void on_closed(uv_handle_t *h)
{
}

/* Stopping: once nothing is running or unwritten, the loop may end. */
static void maybe_end(struct dispatcher *d)
{
    if (!d->stopping || d->ended || d->claiming ||
        (d->inflight > 0 && d->ob != NULL)) {
        return;
    }
    flush_outcomes(d);
    if (d->writing || d->noutcomes > 0) {
        return;
    }
    d->ended = true;
    uv_close((uv_handle_t *)&d->due, on_closed);
    uv_close((uv_handle_t *)&d->cutoff, on_closed);
    uv_close((uv_handle_t *)&d->rewrite, on_closed);
    if (d->ob != NULL) {
        outbound_free(d->ob);
        d->ob = NULL;
    }
    for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++) {
        if (channels[i]->cleanup != NULL && d->state[i] != NULL) {
            channels[i]->cleanup(d->state[i]);
            d->state[i] = NULL;
        }
    }
    webpush_thread_end();
    worker_release(d->w);
}

static void dispatch_start(struct worker *w)
{
    struct dispatcher *d = w->service_data;

    d->w = w;
    d->ob = outbound_new(&w->loop);
    uv_timer_init(&w->loop, &d->due);
    d->due.data = d;
    uv_timer_init(&w->loop, &d->cutoff);
    d->cutoff.data = d;
    uv_timer_init(&w->loop, &d->rewrite);
    d->rewrite.data = d;
    for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++) {
        if (channels[i]->start != NULL) {
            channels[i]->start(d);
        }
    }
    worker_hold(w); /* released by maybe_end() */
    atomic_store(&d->room, (int)d->srv->cfg.push_concurrency);
    atomic_store(&d->running, true);
    d->want_claim = true;
    maybe_claim(d);
}

static void dispatch_stop(struct worker *w)
{
    struct dispatcher *d = w->service_data;
    int64_t grace = d->srv->cfg.shutdown_timeout - STOP_MARGIN_MS;

    atomic_store(&d->running, false);
    atomic_store(&d->handoff_open, false); /* new pushes wait in the queue for the next run */
    d->stopping = true;
    uv_timer_stop(&d->due);
    uv_timer_start(&d->cutoff, on_cutoff, (uint64_t)(grace > 100 ? grace : 100), 0);
    maybe_end(d);
}

static const struct worker_service dispatch_service = {
    .name = "push-dispatch",
    .start = dispatch_start,
    .stop = dispatch_stop,
};

void push_dispatch_new(struct server *srv)
{
    struct dispatcher *d = xcalloc(1, sizeof(*d));

    d->srv = srv;
    worker_kick_init(&d->kick, on_kick, d);
    uv_mutex_init(&d->handoff_lock);
    srv->dispatch = d;
}

void push_dispatch_start(struct server *srv)
{
    struct worker *w;

    worker_start_service(srv, &dispatch_service, srv->dispatch, &w);
    srv->dispatch_worker = w;
}

void push_dispatch_stop_begin(struct server *srv)
{
    worker_stop_service_begin(srv->dispatch_worker);
}

void push_dispatch_stop(struct server *srv)
{
    worker_stop_service(srv->dispatch_worker);
}

void push_dispatch_free(struct server *srv)
{
    struct dispatcher *d = srv->dispatch;

    if (d == NULL) {
        return;
    }
    worker_free_service(&srv->dispatch_worker);
    uv_mutex_destroy(&d->handoff_lock);
    for (size_t i = 0; i < d->handed.n; i++) {
        attempt_free(d->handed.a[i]); /* their rows stay `sending`: the next run queues them */
    }
    free(d->handed.a);
    free(d->outcomes);
    free(d);
    srv->dispatch = NULL;
}
