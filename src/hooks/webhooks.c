/*
 * webhooks.c: queueing events for webhooks (on the store writer) and sending
 * them (a service thread). See webhooks.h.
 */
#include "hooks/webhooks.h"

#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chat/bus.h"
#include "net/outbound.h"
#include "net/worker.h"
#include "push/channel.h"
#include "server.h"
#include "store/jobs.h"
#include "store/store_hooks.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/intmap.h"
#include "util/log.h"
#include "util/mem.h"

#define CLAIM_RETRY_MS 1000       /* after a claim or a write the store could not do */
#define IDLE_CHECK_MS 60000       /* a claim now and then even when nothing is due */
#define SWEEP_EVERY_MS 3600000    /* finished deliveries past webhook_keep are deleted */
#define SWEEP_BATCH 1000
#define STOP_MARGIN_MS 1000       /* left of shutdown_timeout to write the last outcomes */
#define ANSWER_KEEP 200           /* bytes of a failed answer's body kept as its error */
#define ENVELOPE_MAX (64 * 1024)  /* a delivery's body beyond its event's data */

static const char *const event_names[WEBHOOK_EVENT_COUNT] = {
    [WEBHOOK_MESSAGE_CREATED] = "message.created",
    [WEBHOOK_MESSAGE_EDITED] = "message.edited",
    [WEBHOOK_MESSAGE_RECALLED] = "message.recalled",
    [WEBHOOK_CONVERSATION_CREATED] = "conversation.created",
    [WEBHOOK_MEMBER_JOINED] = "member.joined",
    [WEBHOOK_MEMBER_LEFT] = "member.left",
    [WEBHOOK_USER_CREATED] = "user.created",
    [WEBHOOK_PUSH_FINISHED] = "push.finished",
    [WEBHOOK_PUSH_OPENED] = "push.opened",
    [WEBHOOK_PUSH_CLICKED] = "push.clicked",
};

/* Set in every mask in the cache, so that an app with webhooks is never NULL there. */
#define MASK_PRESENT (1u << 31)
#define MASK_ALL ((1u << WEBHOOK_EVENT_COUNT) - 1)

/* An app's bots that have a webhook of their own. */
struct bot_hooks {
    size_t n;
    struct {
        int64_t bot, webhook;
    } v[];
};

/* What became of one attempt, to be written. */
struct settled {
    int64_t id;
    const char *state;            /* delivered, failed, queued */
    int64_t next_at;
    int64_t status;               /* 0: no answer */
    char *error;                  /* owned; NULL: none */
};

/* One delivery in flight. */
struct sending {
    struct webhooks *h;
    struct store_webhook_delivery d;
    CURL *easy;
    struct curl_slist *headers;
    struct buf body;
    struct buf answer;            /* the start of the answer's body */
    struct outbound_guard guard;
    char curl_error[CURL_ERROR_SIZE];
};

struct webhooks {
    struct server *srv;

    /* The store writer's. */
    struct intmap subs;           /* app id → event mask | MASK_PRESENT */
    struct intmap bots;           /* app id → struct bot_hooks: its bots' webhooks */
    bool subs_stale;
    bool queued;                  /* the batch being written queued deliveries */
    int64_t last_sweep;           /* ms; claims run on the writer too */

    /* The sender's (its loop thread). */
    struct worker *w;
    struct outbound *ob;
    uv_timer_t due;
    /* Running: outcomes the store could not take are written again (on_rewrite).
     * Stopping: requests still running are cut (on_cutoff). */
    uv_timer_t cutoff;
    struct worker_kick kick;
    atomic_bool running;
    bool recovered;               /* the claims began by queueing a crash's `sending` again */
    bool want_claim;
    bool claiming;
    bool writing;
    bool stopping;
    bool ended;
    int inflight;
    struct settled *settled;      /* finished, not yet being written */
    size_t nsettled, settled_cap;
};

const char *webhook_event_name(enum webhook_event e)
{
    return (unsigned)e < WEBHOOK_EVENT_COUNT ? event_names[e] : NULL;
}

int webhook_event_named(const char *name)
{
    for (int e = 0; name != NULL && e < WEBHOOK_EVENT_COUNT; e++) {
        if (strcmp(name, event_names[e]) == 0) {
            return e;
        }
    }
    return -1;
}

/* ---- queueing, on the writer ---- */

static int add_bot_hook(struct intmap *bots, int64_t app_id, int64_t bot, int64_t webhook)
{
    struct bot_hooks *had = intmap_remove(bots, app_id);
    size_t n = had != NULL ? had->n : 0;
    struct bot_hooks *b = xrealloc(had, sizeof(*b) + (n + 1) * sizeof(b->v[0]));

    b->n = n + 1;
    b->v[n].bot = bot;
    b->v[n].webhook = webhook;
    intmap_put(bots, app_id, b);
    return 0;
}

static int add_subscription(void *arg, int64_t app_id, const char *events, int64_t id,
                            int64_t bot)
{
    struct webhooks *h = arg;
    uintptr_t mask = (uintptr_t)intmap_get(&h->subs, app_id) | MASK_PRESENT;
    json_t *list;
    size_t i;
    json_t *v;

    if (bot != 0) {
        return add_bot_hook(&h->bots, app_id, bot, id);
    }
    list = json_loads(events, 0, NULL);
    json_array_foreach(list, i, v) {
        const char *name = json_string_value(v);
        int e = webhook_event_named(name);

        if (name != NULL && strcmp(name, "*") == 0) {
            mask |= MASK_ALL;
        } else if (e >= 0) {
            mask |= 1u << e;
        }
    }
    json_decref(list);
    intmap_put(&h->subs, app_id, (void *)mask);
    return 0;
}

static void drop_subscriptions(struct webhooks *h)
{
    intmap_cleanup_free(&h->bots);
    intmap_cleanup(&h->subs);
}

static int load_subscriptions(struct webhooks *h, struct store_conn *sc)
{
    int rc;

    drop_subscriptions(h);
    rc = store_webhook_subscriptions(sc, add_subscription, h);
    h->subs_stale = rc != 0;
    return rc;
}

bool webhooks_wanted(struct server *srv, struct store_conn *sc, int64_t app_id,
                     enum webhook_event e)
{
    struct webhooks *h = srv->webhooks;

    if (h->subs_stale && load_subscriptions(h, sc) != 0) {
        return false;
    }
    return ((uintptr_t)intmap_get(&h->subs, app_id) & (1u << e)) != 0;
}

int webhooks_emit(struct server *srv, struct store_conn *sc, int64_t app_id,
                  enum webhook_event e, const char *data, int64_t now)
{
    struct webhooks *h = srv->webhooks;
    int64_t queued = 0;
    int rc;

    if (h->subs_stale && (rc = load_subscriptions(h, sc)) != 0) {
        return rc;
    }
    if (((uintptr_t)intmap_get(&h->subs, app_id) & (1u << e)) == 0) {
        return 0;
    }
    rc = store_webhook_enqueue(sc, app_id, event_names[e], data, now, &queued);
    h->queued |= rc == 0 && queued > 0;
    return rc;
}

int webhooks_emit_bots(struct server *srv, struct store_conn *sc, int64_t app_id,
                       enum webhook_event e, const char *data, int64_t now,
                       const struct user_set *members, int64_t sender)
{
    struct webhooks *h = srv->webhooks;
    const struct bot_hooks *b;
    int64_t id;
    int rc = 0;

    if (h->subs_stale && (rc = load_subscriptions(h, sc)) != 0) {
        return rc;
    }
    b = intmap_get(&h->bots, app_id);
    for (size_t i = 0; b != NULL && i < b->n && rc == 0; i++) {
        /* Its own messages are not news to a bot. */
        if (b->v[i].bot != sender && user_set_has(members, b->v[i].bot)) {
            rc = store_webhook_enqueue_one(sc, app_id, b->v[i].webhook, event_names[e], data, now,
                                           &id);
            h->queued |= rc == 0;
        }
    }
    return rc;
}

void webhooks_changed(struct server *srv)
{
    srv->webhooks->subs_stale = true;
}

void webhooks_queued(struct server *srv)
{
    srv->webhooks->queued = true;
}

void webhooks_batch_end(struct server *srv, bool committed)
{
    struct webhooks *h = srv->webhooks;

    if (committed && h->queued) {
        webhooks_kick(srv);
    }
    /* What the cache read in a batch that rolled back may be gone: read it again. */
    h->subs_stale |= !committed;
    h->queued = false;
}

/* ---- writing outcomes ---- */

static void maybe_claim(struct webhooks *h);
static void maybe_end(struct webhooks *h);
static void flush_settled(struct webhooks *h);

struct write_job {
    struct job job;
    struct webhooks *h;
    struct settled *settled;
    size_t n;
};

static void write_run(struct job *j, void *ctx)
{
    struct write_job *wj = (struct write_job *)j;
    int64_t now = clock_now_ms();

    j->rc = 0;
    for (size_t i = 0; i < wj->n && j->rc == 0; i++) {
        const struct settled *s = &wj->settled[i];

        j->rc = store_webhook_settle(ctx, s->id, s->state, s->next_at, s->status, s->error, now);
    }
}

/* Queues an outcome for the next write. */
static void keep_settled(struct webhooks *h, const struct settled *o)
{
    if (h->nsettled == h->settled_cap) {
        h->settled_cap = h->settled_cap ? h->settled_cap * 2 : 64;
        h->settled = xrealloc(h->settled, h->settled_cap * sizeof(*h->settled));
    }
    h->settled[h->nsettled++] = *o;
}

static void free_settled(struct settled *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].error);
    }
    free(s);
}

static void on_rewrite(uv_timer_t *t)
{
    flush_settled(t->data);
}

static void on_due(uv_timer_t *t);

/* Retries just written: the due timer fires for the first of them, if sooner. */
static void rearm(struct webhooks *h, const struct settled *s, size_t n)
{
    int64_t first = -1, now = clock_now_ms();

    for (size_t i = 0; i < n; i++) {
        if (strcmp(s[i].state, "queued") == 0 && (first < 0 || s[i].next_at < first)) {
            first = s[i].next_at;
        }
    }
    if (first < 0 || h->stopping) {
        return;
    }
    first = first > now ? first - now : 0;
    if (!uv_is_active((uv_handle_t *)&h->due) || uv_timer_get_due_in(&h->due) > (uint64_t)first) {
        uv_timer_start(&h->due, on_due, (uint64_t)first, 0);
    }
}

static void write_done(struct job *j)
{
    struct write_job *wj = (struct write_job *)j;
    struct webhooks *h = wj->h;

    h->writing = false;
    if (j->rc != 0 && h->stopping) {
        /* The rows stay `sending`: the next run sends them again. */
        log_error(&h->w->log, "webhooks: cannot write %zu outcomes (%s); those deliveries "
                  "will be sent again", wj->n, pipit_strerror(j->rc));
    } else if (j->rc != 0) {
        /* Not written: kept, and tried again shortly (the rows are still `sending`). */
        log_error(&h->w->log, "webhooks: cannot write %zu outcomes: %s", wj->n,
                  pipit_strerror(j->rc));
        for (size_t i = 0; i < wj->n; i++) {
            keep_settled(h, &wj->settled[i]);
        }
        free(wj->settled);
        free(wj);
        uv_timer_start(&h->cutoff, on_rewrite, CLAIM_RETRY_MS, 0);
        return;
    }
    rearm(h, wj->settled, wj->n);
    free_settled(wj->settled, wj->n);
    free(wj);
    flush_settled(h);
    maybe_claim(h);
    maybe_end(h);
}

static void flush_settled(struct webhooks *h)
{
    struct write_job *wj;

    if (h->writing || h->nsettled == 0) {
        return;
    }
    wj = xcalloc(1, sizeof(*wj));
    wj->h = h;
    wj->settled = h->settled;
    wj->n = h->nsettled;
    h->settled = NULL;
    h->nsettled = h->settled_cap = 0;
    wj->job.origin = h->w;
    wj->job.run = write_run;
    wj->job.done = write_done;
    h->writing = true;
    if (jobs_write(h->srv->jobs, &wj->job) != 0) {
        wj->job.rc = PIPIT_EUNAVAILABLE;
        write_done(&wj->job);
    }
}

static void settle(struct webhooks *h, const struct sending *s, const char *state,
                   int64_t next_at, int64_t status, char *error)
{
    struct metrics *m = &h->srv->metrics;
    atomic_long *c = strcmp(state, "delivered") == 0 ? &m->webhook_delivered
                     : strcmp(state, "queued") == 0  ? &m->webhook_retried
                                                     : &m->webhook_failed;

    struct settled o = { .id = s->d.id, .state = state, .next_at = next_at, .status = status,
                         .error = error };

    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    keep_settled(h, &o);
}

/* ---- sending ---- */

static void sending_free(struct sending *s)
{
    if (s->easy != NULL) {
        curl_easy_cleanup(s->easy);
    }
    curl_slist_free_all(s->headers);
    buf_cleanup(&s->body);
    buf_cleanup(&s->answer);
    store_webhook_delivery_cleanup(&s->d);
    free(s);
}

/* Why the attempt failed, for the admin console: "HTTP 500: <start of the answer>". */
static char *failure_text(struct sending *s, CURLcode result, long status)
{
    struct buf b;

    buf_init(&b, 512);
    if (result != CURLE_OK) {
        bool private = s->guard.refused > 0 && s->guard.refused == s->guard.tried;

        buf_appendz(&b, private ? "the URL's host resolves to a private address, which "
                                  "webhook_allow_private does not allow"
                    : s->curl_error[0] != '\0' ? s->curl_error
                                               : curl_easy_strerror(result));
        return buf_steal(&b, NULL);
    }
    buf_printf(&b, "HTTP %ld", status);
    if (s->answer.len > 0) {
        buf_appendz(&b, ": ");
        for (size_t i = 0; i < s->answer.len; i++) {
            unsigned char ch = (unsigned char)s->answer.data[i];

            buf_append(&b, ch >= 0x20 && ch < 0x7f ? (const char *)&ch : "?", 1);
        }
    }
    return buf_steal(&b, NULL);
}

static void on_sent(void *arg, CURL *easy, CURLcode result)
{
    struct sending *s = arg;
    struct webhooks *h = s->h;
    const struct config *cfg = &h->srv->cfg;
    curl_off_t retry_after = 0;
    long status = 0;
    int64_t now = clock_now_ms();

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
    if (result == CURLE_ABORTED_BY_CALLBACK) {
        /* Cut by a stop: left `sending`, and the next run sends it again. */
    } else if (result == CURLE_OK && status >= 200 && status < 300) {
        settle(h, s, "delivered", 0, status, NULL);
    } else {
        char *why = failure_text(s, result, status);
        int64_t next = now + clock_backoff_ms(cfg->webhook_retry_base, cfg->webhook_retry_cap,
                                              (int)s->d.attempts);

        if ((status == 429 || status == 503) && next < now + (int64_t)retry_after * 1000) {
            next = now + (int64_t)retry_after * 1000;
        }
        if (next > s->d.since + cfg->webhook_retry_for) {
            log_info(&h->w->log, "webhooks: delivery %lld to webhook %lld failed for good "
                     "after %lld attempts: %s", (long long)s->d.id, (long long)s->d.webhook_id,
                     (long long)s->d.attempts, why);
            settle(h, s, "failed", 0, status, why);
        } else {
            settle(h, s, "queued", next, status, why);
        }
    }
    h->inflight--;
    sending_free(s);
    flush_settled(h);
    maybe_claim(h);
    maybe_end(h);
}

/* "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>" */
void webhooks_signature(const char *secret, const char *body, size_t len, char *out,
                        size_t cap)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char stamp[24];
    char hex[2 * sizeof(mac) + 1];
    long long t = (long long)(clock_now_ms() / 1000);
    int n = snprintf(stamp, sizeof(stamp), "%lld.", t);

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)stamp, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, (unsigned long long)len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, cap, "X-Pipit-Signature: t=%lld,v1=%s", t, hex);
    sodium_memzero(&st, sizeof(st));
}

void webhooks_request_options(struct server *srv, void *handle, const char *url,
                              int64_t timeout_ms, struct outbound_guard *g)
{
    const struct config *cfg = &srv->cfg;
    CURL *easy = handle;

    outbound_defaults(srv, easy);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms < 10000 ? timeout_ms : 10000));
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 0L);
    /* A redirect is an answer like any other: following it could lead anywhere. */
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR,
                     cfg->webhook_allow_http ? "http,https" : "https");
    if (!cfg->webhook_allow_private) {
        outbound_guard(easy, g);
    }
}

static void add_header(struct sending *s, const char *line)
{
    s->headers = curl_slist_append(s->headers, line);
}

static void begin(struct webhooks *h, struct sending *s)
{
    const struct config *cfg = &h->srv->cfg;
    char line[160];

    s->h = h;
    buf_init(&s->body, (size_t)h->srv->cfg.max_message_size + ENVELOPE_MAX);
    buf_init(&s->answer, ANSWER_KEEP);
    buf_printf(&s->body, "{\"id\":%lld,\"type\":", (long long)s->d.id);
    buf_append_json_string(&s->body, s->d.event, strlen(s->d.event));
    buf_printf(&s->body, ",\"app\":%lld,\"created_at\":%lld,\"data\":%s}",
               (long long)s->d.app_id, (long long)s->d.created_at,
               s->d.payload != NULL ? s->d.payload : "{}");

    add_header(s, "Content-Type: application/json");
    add_header(s, "Expect:"); /* no 100-continue round trip */
    snprintf(line, sizeof(line), "X-Pipit-Event: %s", s->d.event);
    add_header(s, line);
    snprintf(line, sizeof(line), "X-Pipit-Delivery: %lld", (long long)s->d.id);
    add_header(s, line);
    webhooks_signature(s->d.secret, s->body.data, s->body.len, line, sizeof(line));
    add_header(s, line);

    s->easy = curl_easy_init();
    if (s->easy == NULL) {
        settle(h, s, "queued", clock_now_ms() + CLAIM_RETRY_MS, 0, xstrdup("out of memory"));
        sending_free(s);
        return;
    }
    webhooks_request_options(h->srv, s->easy, s->d.url, cfg->webhook_timeout, &s->guard);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body.data);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)s->body.len);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, outbound_keep_head);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->answer);
    curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->curl_error);
    if (outbound_start(h->ob, s->easy, on_sent, s) != 0) {
        settle(h, s, "queued", clock_now_ms() + CLAIM_RETRY_MS, 0,
               xstrdup("the request could not be started"));
        sending_free(s);
        return;
    }
    h->inflight++;
}

/* ---- claiming due deliveries ---- */

struct claim_job {
    struct job job;
    struct webhooks *h;
    int64_t now;
    int max;
    bool recover;
    struct sending **got;
    int n;
    int64_t next_due;             /* -1: nothing else queued */
};

static int take(void *arg, struct store_webhook_delivery *d)
{
    struct claim_job *cj = arg;
    struct sending *s = xcalloc(1, sizeof(*s));

    s->d = *d;
    cj->got[cj->n++] = s;
    return 0;
}

static void claim_run(struct job *j, void *ctx)
{
    struct claim_job *cj = (struct claim_job *)j;
    struct webhooks *h = cj->h;
    int64_t n = 0;

    j->rc = 0;
    if (cj->recover) {
        j->rc = store_webhook_recover(ctx, &n);
        if (j->rc == 0 && n > 0) {
            log_notice(NULL, "webhooks: %lld deliveries were being sent when the server last "
                       "stopped; sending them again", (long long)n);
        }
    }
    if (j->rc == 0 && cj->now - h->last_sweep >= SWEEP_EVERY_MS) {
        j->rc = store_webhook_sweep(ctx, cj->now - h->srv->cfg.webhook_keep, SWEEP_BATCH, &n);
        /* A full batch: more are left, for the next claim. */
        h->last_sweep = j->rc == 0 && n == SWEEP_BATCH ? h->last_sweep : cj->now;
    }
    if (j->rc == 0) {
        j->rc = store_webhook_claim(ctx, cj->now, cj->max, take, cj);
    }
    if (j->rc == 0) {
        j->rc = store_webhook_next_due(ctx, &cj->next_due);
    }
}

static void on_due(uv_timer_t *t)
{
    struct webhooks *h = t->data;

    h->want_claim = true;
    maybe_claim(h);
}

static void claim_done(struct job *j)
{
    struct claim_job *cj = (struct claim_job *)j;
    struct webhooks *h = cj->h;
    int64_t wait = IDLE_CHECK_MS;

    h->claiming = false;
    if (j->rc != 0) {
        /* Not committed: nothing was marked. */
        log_error(&h->w->log, "webhooks: cannot claim deliveries: %s", pipit_strerror(j->rc));
        for (int i = 0; i < cj->n; i++) {
            sending_free(cj->got[i]);
        }
        wait = CLAIM_RETRY_MS;
    } else {
        h->recovered |= cj->recover;
        for (int i = 0; i < cj->n; i++) {
            if (h->stopping) {
                sending_free(cj->got[i]); /* left `sending`: the next run sends it */
                continue;
            }
            begin(h, cj->got[i]);
        }
        if (cj->n == cj->max) {
            h->want_claim = true; /* there may be more due now */
        } else if (cj->next_due >= 0) {
            wait = cj->next_due - clock_now_ms();
            wait = wait < 0 ? 0 : wait < IDLE_CHECK_MS ? wait : IDLE_CHECK_MS;
        }
    }
    if (!h->stopping) {
        uv_timer_start(&h->due, on_due, (uint64_t)wait, 0);
    }
    free(cj->got);
    free(cj);
    flush_settled(h);
    maybe_claim(h);
    maybe_end(h);
}

static void maybe_claim(struct webhooks *h)
{
    int room = (int)h->srv->cfg.webhook_concurrency - h->inflight;
    struct claim_job *cj;

    if (h->stopping || h->claiming || !h->want_claim || room <= 0) {
        return;
    }
    cj = xcalloc(1, sizeof(*cj));
    cj->h = h;
    cj->now = clock_now_ms();
    cj->max = room;
    cj->recover = !h->recovered;
    cj->got = xcalloc((size_t)room, sizeof(*cj->got));
    cj->job.origin = h->w;
    cj->job.run = claim_run;
    cj->job.done = claim_done;
    h->want_claim = false;
    h->claiming = true;
    if (jobs_write(h->srv->jobs, &cj->job) != 0) {
        cj->job.rc = PIPIT_EUNAVAILABLE;
        claim_done(&cj->job);
    }
}

/* ---- the service ---- */

static void on_kick(void *data)
{
    struct webhooks *h = data;

    h->want_claim = true;
    maybe_claim(h);
}

struct worker *webhooks_worker(struct server *srv)
{
    return srv->webhooks_worker;
}

struct outbound *webhooks_outbound(struct server *srv)
{
    return srv->webhooks != NULL ? srv->webhooks->ob : NULL;
}

void webhooks_kick(struct server *srv)
{
    struct webhooks *h = srv->webhooks;

    /* Before start the first claim reads everything anyway. */
    if (h != NULL && atomic_load(&h->running)) {
        worker_kick(h->w, &h->kick);
    }
}

static void on_cutoff(uv_timer_t *t)
{
    struct webhooks *h = t->data;
    struct outbound *ob = h->ob;

    if (h->inflight > 0) {
        log_warn(&h->w->log, "webhooks: stopping; %d requests cut short, to be sent again",
                 h->inflight);
    }
    h->ob = NULL; /* their on_sent runs from here, and must not end us twice */
    outbound_free(ob);
    maybe_end(h);
}

static void on_closed(uv_handle_t *handle)
{
    (void)handle;
}

/* Stopping: once nothing is running or unwritten, the loop may end. */
static void maybe_end(struct webhooks *h)
{
    if (!h->stopping || h->ended || h->claiming || (h->inflight > 0 && h->ob != NULL)) {
        return;
    }
    flush_settled(h);
    if (h->writing || h->nsettled > 0) {
        return;
    }
    h->ended = true;
    uv_close((uv_handle_t *)&h->due, on_closed);
    uv_close((uv_handle_t *)&h->cutoff, on_closed);
    if (h->ob != NULL) {
        outbound_free(h->ob);
        h->ob = NULL;
    }
    worker_release(h->w);
}

static void service_start(struct worker *w)
{
    struct webhooks *h = w->service_data;

    h->w = w;
    h->ob = outbound_new(&w->loop);
    uv_timer_init(&w->loop, &h->due);
    h->due.data = h;
    uv_timer_init(&w->loop, &h->cutoff);
    h->cutoff.data = h;
    worker_hold(w); /* released by maybe_end() */
    atomic_store(&h->running, true);
    h->want_claim = true;
    maybe_claim(h);
}

static void service_stop(struct worker *w)
{
    struct webhooks *h = w->service_data;
    int64_t grace = h->srv->cfg.shutdown_timeout - STOP_MARGIN_MS;

    atomic_store(&h->running, false);
    h->stopping = true;
    uv_timer_stop(&h->due);
    uv_timer_start(&h->cutoff, on_cutoff, (uint64_t)(grace > 100 ? grace : 100), 0);
    maybe_end(h);
}

static const struct worker_service webhooks_service = {
    .name = "webhooks",
    .start = service_start,
    .stop = service_stop,
};

void webhooks_new(struct server *srv)
{
    struct webhooks *h = xcalloc(1, sizeof(*h));

    h->srv = srv;
    intmap_init(&h->subs);
    intmap_init(&h->bots);
    h->subs_stale = true;
    worker_kick_init(&h->kick, on_kick, h);
    srv->webhooks = h;
}

void webhooks_start(struct server *srv)
{
    worker_start_service(srv, &webhooks_service, srv->webhooks, &srv->webhooks_worker);
}

void webhooks_stop_begin(struct server *srv)
{
    if (srv->webhooks_worker != NULL) {
        worker_stop_service_begin(srv->webhooks_worker);
    }
}

void webhooks_stop(struct server *srv)
{
    if (srv->webhooks_worker != NULL) {
        worker_stop_service(srv->webhooks_worker);
    }
}

void webhooks_free(struct server *srv)
{
    struct webhooks *h = srv->webhooks;

    if (h == NULL) {
        return;
    }
    if (srv->webhooks_worker != NULL) {
        worker_free_service(&srv->webhooks_worker);
    }
    drop_subscriptions(h);
    free_settled(h->settled, h->nsettled);
    free(h);
    srv->webhooks = NULL;
}
