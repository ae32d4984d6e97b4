/*
 * send.c: POST /v1/push and what follows: the push is stored, then expanded to
 * its recipients in chunks, each one transaction that writes the chunk's
 * deliveries and moves the push's cursor, so a restart resumes after the last
 * committed chunk and no user is expanded twice. A recipient with a WebSocket
 * open gets the notification in-app at once (published after the chunk
 * commits); the others get one queued delivery per device, for the channel
 * senders. Analytics are counts over the deliveries.
 *
 * The routes are store actions on chat's call path (chat/chat_internal.h). The
 * first chunk is expanded in the push's own transaction (a push to a few users is
 * one job); the rest by a job of its own on the store writer.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "chat/bus.h"
#include "chat/chat_internal.h"
#include "push/push.h"
#include "hooks/webhooks.h"
#include "server.h"
#include "store/jobs.h"
#include "store/store_push.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/intmap.h"
#include "util/log.h"
#include "util/mem.h"

#define USERS_MAX 10000
#define TAG_PAIRS_MAX 5
#define EXPAND_CHUNK 500
#define TTL_DEFAULT_S 86400
#define TTL_MAX_S 2419200         /* 28 days */
#define DEDUP_WINDOW_MS (24 * 3600 * 1000LL)
#define LIST_LIMIT 50
#define LIST_LIMIT_MAX 200
#define SCHEDULE_MAX_MS (30 * 86400 * 1000LL)
#define DATA_MAX 3072                /* bytes of notification.data as compact JSON */
#define CHAT_PREVIEW_MAX 120         /* bytes of a message's text in its notification */
#define CHAT_PRESENCE_CHECK_MAX 32   /* larger conversations are checked by the expansion */

static int expand_chunk(struct server *srv, struct store_conn *sc, int64_t push_id,
                        bool *done, bool *queued, struct bus_batch *inapp);

/* A push's JSON, parsed: its notification, variants (NULL if none) and stored target. */
struct push_doc {
    json_t *notification;
    json_t *variants;
    json_t *target;
};

static int expand_chunk_of(struct server *srv, struct store_conn *sc, const struct store_push *p,
                           const struct push_doc *doc, struct push_handoff *handoff, bool *done,
                           bool *queued, struct bus_batch *inapp);

/* ---- reading a push ---- */

static bool opt_string(json_t *obj, const char *key, size_t max, bool *ok)
{
    json_t *v = json_object_get(obj, key);

    if (v != NULL && (!json_is_string(v) || json_string_length(v) > max)) {
        *ok = false;
    }
    return v != NULL;
}

static int check_notification(struct chat_call *k, json_t *n)
{
    json_t *title = json_object_get(n, "title");
    json_t *data = json_object_get(n, "data");
    json_t *category = json_object_get(n, "category");
    bool ok = true;

    if (!json_is_object(n)) {
        return chat_bad(k, "notification must be an object with a title");
    }
    if (!json_is_string(title) || json_string_length(title) > 256) {
        return chat_bad(k, "notification.title must be a string of at most 256 bytes");
    }
    opt_string(n, "body", 4096, &ok);
    opt_string(n, "url", 2048, &ok);
    opt_string(n, "image", 2048, &ok);
    if (!ok) {
        return chat_bad(k, "notification.body (4096 bytes), url and image (2048) must be strings");
    }
    if (data != NULL && !json_is_object(data)) {
        return chat_bad(k, "notification.data must be an object");
    }
    if (data != NULL) {
        /* Providers take about 4 KiB in all: a larger data object could never be sent. */
        char *text = json_dumps(data, JSON_COMPACT);
        bool fits = text != NULL && strlen(text) <= DATA_MAX;

        free(text);
        if (!fits) {
            return chat_bad(k, "notification.data must be at most 3072 bytes as JSON");
        }
    }
    if (category != NULL && !push_name_ok(json_string_value(category))) {
        return chat_bad(k, "notification.category is 1 to 64 of A-Z a-z 0-9 _ . -");
    }
    return 0;
}

/* Checks `to` and makes the stored form: users become sorted ids of the app. */
static int read_target(struct chat_call *k, struct store_conn *sc, json_t **out)
{
    json_t *to = json_object_get(k->args, "to");
    json_t *v = NULL, *stored;
    const char *kind = NULL;

    if (!json_is_object(to) || json_object_size(to) != 1) {
        return chat_bad(k, "to must hold exactly one of users, topic, tags, all");
    }
    kind = json_object_iter_key(json_object_iter(to));
    v = json_object_iter_value(json_object_iter(to));
    if (strcmp(kind, "users") == 0) {
        struct user_set *ids;
        size_t i;
        json_t *u;

        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > USERS_MAX) {
            return chat_bad(k, "to.users must list 1 to 10000 user ids or usernames");
        }
        ids = user_set_new(json_array_size(v));
        json_array_foreach(v, i, u) {
            int64_t id;

            if (!json_is_integer(u) && !json_is_string(u)) {
                user_set_unref(ids);
                return chat_bad(k, "to.users must list 1 to 10000 user ids or usernames");
            }
            /* Users who do not exist are simply not targeted. */
            if (store_user_id(sc, k->who.app_id, json_integer_value(u), json_string_value(u),
                              &id) == 0) {
                ids->ids[ids->n++] = id;
            }
        }
        user_set_sort(ids);
        stored = json_pack("{s:[]}", "users");
        for (i = 0; i < ids->n; i++) {
            json_array_append_new(json_object_get(stored, "users"), json_integer(ids->ids[i]));
        }
        user_set_unref(ids);
    } else if (strcmp(kind, "topic") == 0) {
        if (!push_name_ok(json_string_value(v))) {
            return chat_bad(k, "to.topic is 1 to 64 of A-Z a-z 0-9 _ . -");
        }
        stored = json_pack("{s:O}", "topic", v);
    } else if (strcmp(kind, "tags") == 0) {
        const char *name;
        json_t *value;

        if (!json_is_object(v) || json_object_size(v) == 0 ||
            json_object_size(v) > TAG_PAIRS_MAX) {
            return chat_bad(k, "to.tags must hold 1 to 5 tag names and values");
        }
        json_object_foreach(v, name, value) {
            if (!push_name_ok(name) || !json_is_string(value) ||
                json_string_length(value) > STORE_TAG_VALUE_MAX) {
                return chat_bad(k, "to.tags must map tag names to string values");
            }
        }
        stored = json_pack("{s:O}", "tags", v);
    } else if (strcmp(kind, "all") == 0) {
        if (!json_is_true(v)) {
            return chat_bad(k, "to.all must be true");
        }
        stored = json_pack("{s:b}", "all", 1);
    } else {
        return chat_bad(k, "to must hold exactly one of users, topic, tags, all");
    }
    *out = stored;
    return 0;
}

/* Checks variants and holdout; *out gets the stored form. */
static int read_variants(struct chat_call *k, json_t *base, char **out, int *holdout)
{
    static const char *const why =
        "variants must list 1 to 5 of {\"name\", \"weight\" (1 to 1000), \"notification\"}, "
        "names unique";
    json_t *variants = json_object_get(k->args, "variants");
    json_t *h = json_object_get(k->args, "holdout");
    json_t *v;
    size_t i;

    *out = NULL;
    *holdout = 0;
    if (h != NULL && (variants == NULL || !json_is_integer(h) || json_integer_value(h) < 0 ||
                      json_integer_value(h) > 1000)) {
        return chat_bad(k, "holdout is a weight from 0 to 1000, beside variants");
    }
    if (variants == NULL) {
        return 0;
    }
    if (!json_is_array(variants) || json_array_size(variants) == 0 ||
        json_array_size(variants) > VARIANTS_MAX) {
        return chat_bad(k, why);
    }
    json_array_foreach(variants, i, v) {
        json_t *name = json_object_get(v, "name");
        json_t *weight = json_object_get(v, "weight");
        json_t *over = json_object_get(v, "notification");
        json_t *merged;
        int rc;

        if (!json_is_object(v) || json_object_size(v) != 3 || !push_name_ok(json_string_value(name)) ||
            strcmp(json_string_value(name), "holdout") == 0 || strcmp(json_string_value(name), "none") == 0 ||
            !json_is_integer(weight) || json_integer_value(weight) < 1 ||
            json_integer_value(weight) > 1000 || !json_is_object(over)) {
            return chat_bad(k, why);
        }
        for (size_t j = 0; j < i; j++) {
            if (json_equal(json_object_get(json_array_get(variants, j), "name"), name)) {
                return chat_bad(k, why);
            }
        }
        if (json_object_get(over, "category") != NULL) {
            /* The category decides who may get the push: it is the push's, not a variant's. */
            return chat_bad(k, "a variant cannot change the category");
        }
        merged = json_deep_copy(base);
        json_object_update(merged, over);
        rc = check_notification(k, merged);
        json_decref(merged);
        if (rc != 0) {
            return rc;
        }
    }
    *out = json_dumps(variants, JSON_COMPACT);
    *holdout = h != NULL ? (int)json_integer_value(h) : 0;
    return 0;
}

/* send_at or send_at_local; *latest is the last instant any recipient is due (ms). */
static int read_schedule(struct chat_call *k, struct store_push *p, int64_t *latest)
{
    json_t *at = json_object_get(k->args, "send_at");
    json_t *local = json_object_get(k->args, "send_at_local");

    *latest = k->now;
    if (at != NULL && local != NULL) {
        return chat_bad(k, "send_at and send_at_local cannot both be given");
    }
    if (at != NULL) {
        p->send_at = wishes_parse_instant(json_string_value(at));
        if (p->send_at < 0 || p->send_at > k->now + SCHEDULE_MAX_MS) {
            return chat_bad(k, "send_at is a time with a zone, like 2026-12-24T09:00:00Z, "
                               "at most 30 days ahead");
        }
        *latest = p->send_at > k->now ? p->send_at : k->now;
    }
    if (local != NULL) {
        const char *when = json_string_value(local);

        if (!wishes_local_ok(when) ||
            wishes_local_time("Etc/GMT+12", when) > k->now + SCHEDULE_MAX_MS) {
            return chat_bad(k, "send_at_local is a wall-clock time without a zone, like "
                               "2026-12-24T09:00, at most 30 days ahead");
        }
        p->send_at_local = xstrdup(when);
        /* The last zone to reach that wall-clock time is 12 hours behind UTC. */
        *latest = wishes_local_time("Etc/GMT+12", when);
        *latest = *latest > k->now ? *latest : k->now;
    }
    return 0;
}

/*
 * On the caller's loop: what needs no store is checked here, and the
 * notification written as text (k->body_text), so the single store writer does
 * less per push.
 */
int push_prepare(struct chat_call *k)
{
    json_t *n = json_object_get(k->args, "notification");
    json_t *ttl = json_object_get(k->args, "ttl");
    json_t *priority = json_object_get(k->args, "priority");
    json_t *collapse = json_object_get(k->args, "collapse_key");
    json_t *dedup = json_object_get(k->args, "dedup_key");
    int rc;

    rc = check_notification(k, n);
    if (rc != 0) {
        return rc;
    }
    if (ttl != NULL && (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
                        json_integer_value(ttl) > TTL_MAX_S)) {
        return chat_bad(k, "ttl must be a number of seconds from 0 to 2419200 (28 days)");
    }
    if (priority != NULL && !(json_is_string(priority) &&
                              (strcmp(json_string_value(priority), "high") == 0 ||
                               strcmp(json_string_value(priority), "normal") == 0))) {
        return chat_bad(k, "priority must be \"high\" or \"normal\"");
    }
    if (collapse != NULL && (!json_is_string(collapse) || json_string_length(collapse) > 64)) {
        return chat_bad(k, "collapse_key must be a string of at most 64 bytes");
    }
    if (dedup != NULL && (!json_is_string(dedup) || json_string_length(dedup) == 0 ||
                          json_string_length(dedup) > 128)) {
        return chat_bad(k, "dedup_key must be a string of 1 to 128 bytes");
    }
    k->body_text = json_dumps(n, JSON_COMPACT);
    return k->body_text != NULL ? 0 : PIPIT_ENOMEM;
}

/* On the writer, after push_prepare. */
int push_send(struct chat_call *k, struct store_conn *sc)
{
    json_t *n = json_object_get(k->args, "notification");
    json_t *priority = json_object_get(k->args, "priority");
    json_t *collapse = json_object_get(k->args, "collapse_key");
    json_t *dedup = json_object_get(k->args, "dedup_key");
    struct store_push p = { .app_id = k->who.app_id, .created_at = k->now };
    json_t *ttl = json_object_get(k->args, "ttl"); /* checked by push_prepare */
    int64_t ttl_s = ttl != NULL ? json_integer_value(ttl) : TTL_DEFAULT_S, earlier, latest;
    json_t *target = NULL;
    int rc;

    rc = read_schedule(k, &p, &latest);
    if (rc == 0) {
        rc = read_variants(k, n, &p.variants, &p.holdout);
    }
    if (rc == 0) {
        rc = read_target(k, sc, &target);
    }
    if (rc != 0) {
        store_push_cleanup(&p);
        return rc;
    }
    p.target = json_dumps(target, JSON_COMPACT);
    /* A repeat is answered only once it is a valid request itself. */
    if (dedup != NULL) {
        rc = store_push_by_dedup(sc, k->who.app_id, json_string_value(dedup),
                                 k->now - DEDUP_WINDOW_MS, &earlier);
        if (rc == 0) {
            k->result = json_pack("{s:I,s:b}", "id", (json_int_t)earlier, "duplicate", 1);
            k->status = 202;
            store_push_cleanup(&p);
            json_decref(target);
            return 0;
        }
        /* An older push may hold the key: its 24 hours are over. */
        rc = rc == PIPIT_ENOT_FOUND
                 ? store_push_release_dedup(sc, k->who.app_id, json_string_value(dedup))
                 : rc;
        if (rc != 0) {
            store_push_cleanup(&p);
            json_decref(target);
            return rc;
        }
    }
    p.notification = k->body_text;
    k->body_text = NULL;
    /* The TTL runs from when the push is due. */
    p.expires_at = latest + ttl_s * 1000;
    if (json_is_string(json_object_get(n, "category"))) {
        p.category = xstrdup(json_string_value(json_object_get(n, "category")));
    }
    snprintf(p.priority, sizeof(p.priority), "%s",
             priority != NULL ? json_string_value(priority) : "normal");
    p.collapse_key = collapse != NULL ? xstrdup(json_string_value(collapse)) : NULL;
    p.dedup_key = dedup != NULL ? xstrdup(json_string_value(dedup)) : NULL;
    p.done = true; /* unless its first chunk below leaves users for later */
    rc = store_push_insert(sc, &p);
    if (rc == 0) {
        /* The first chunk in the same transaction: a push to a few users is one job. */
        struct push_doc doc = { n, json_object_get(k->args, "variants"), target };
        struct bus_batch inapp = { 0 };
        bool done;

        rc = expand_chunk_of(k->srv, sc, &p, &doc, &k->push_handoff, &done, &k->push_queued,
                             &inapp);
        for (size_t i = 0; i < inapp.n; i++) {
            bus_batch_add(&k->events, inapp.evs[i]); /* published after COMMIT */
        }
        inapp.n = 0;
        push_events_drop(&inapp);
        k->push_to_expand = done ? 0 : p.id;
    }
    if (rc == 0) {
        struct buf b;

        /* The answer as text: the busiest route skips building and dumping a JSON tree. */
        buf_init(&b, 64);
        buf_appendz(&b, "{\"id\":");
        buf_append_int(&b, p.id);
        buf_appendz(&b, "}");
        k->ok_text = buf_steal(&b, &k->ok_len);
        k->status = 202;
        atomic_fetch_add_explicit(&k->srv->metrics.pushes, 1, memory_order_relaxed);
    }
    store_push_cleanup(&p);
    json_decref(target);
    return rc;
}

/* ---- expansion ---- */

struct expand_job {
    struct job job;
    struct server *srv;
    int64_t push_id;
    bool finished;              /* expanded to everyone, or given up */
    bool queued;                /* deliveries for the dispatcher */
    struct bus_batch inapp;     /* the chunk's in-app notifications, after COMMIT */
};

/* A push being expanded: what every recipient's decision needs, read once. */
struct chunk {
    struct server *srv;
    struct store_conn *sc;
    const struct store_push *p;
    json_t *notification;
    json_t *variants;           /* array, or NULL */
    json_t *target;
    int64_t weights;            /* the variants' and the holdout's */
    struct push_facts facts;
    int64_t chat_conv;          /* a chat message's notification: its conversation ... */
    int64_t chat_from;          /* ... and sender; 0 for other pushes */
    json_t *tags;               /* for a tags target: every pair must match */
    struct user_set *online[VARIANTS_MAX + 1]; /* got it in-app: [0] no variant, [i + 1] variant i */
    int64_t last;               /* the last user looked at */
    int count;
    int queued;                 /* deliveries the dispatcher may claim now */
    struct push_handoff *handoff;    /* or inserted `sending`, to hand over after COMMIT; or NULL */
    int64_t last_row;           /* the delivery inserted last */
    int rc;
};

/* doc: p's JSON when the caller has it parsed (a push just made), else NULL. */
static void chunk_open(struct chunk *ch, struct server *srv, struct store_conn *sc,
                       const struct store_push *p, const struct push_doc *doc, int64_t now)
{
    json_t *v;
    size_t i;

    memset(ch, 0, sizeof(*ch));
    ch->srv = srv;
    ch->sc = sc;
    ch->p = p;
    ch->last = p->cursor;
    if (doc != NULL) {
        ch->notification = json_incref(doc->notification);
        ch->variants = json_incref(doc->variants);
        ch->target = json_incref(doc->target);
    } else {
        ch->notification = json_loads(p->notification, 0, NULL);
        ch->variants = p->variants != NULL ? json_loads(p->variants, 0, NULL) : NULL;
        ch->target = json_loads(p->target, 0, NULL);
    }
    ch->weights = p->holdout;
    json_array_foreach(ch->variants, i, v) {
        ch->weights += json_integer_value(json_object_get(v, "weight"));
    }
    ch->chat_conv = json_integer_value(json_object_get(ch->target, "conv"));
    ch->chat_from = json_integer_value(json_object_get(ch->target, "from"));
    ch->facts.push_id = p->id;
    ch->facts.category = p->category;
    ch->facts.high = strcmp(p->priority, "high") == 0;
    ch->facts.now = now;
    if (p->category != NULL) {
        ch->rc = store_category_urgent(sc, p->app_id, p->category, &ch->facts.urgent);
    }
}

/* A 64-bit mix (splitmix64): spreads (push, user) evenly over the weights. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The user's variant of the push (-1: none), or VARIANT_HOLDOUT; the same every time. */
static int pick_variant(const struct chunk *ch, int64_t user_id)
{
    uint64_t at;
    json_t *v;
    size_t i;

    if (ch->weights <= 0) {
        return -1;
    }
    at = mix(mix((uint64_t)ch->p->id) ^ (uint64_t)user_id) % (uint64_t)ch->weights;
    json_array_foreach(ch->variants, i, v) {
        uint64_t w = (uint64_t)json_integer_value(json_object_get(v, "weight"));

        if (at < w) {
            return (int)i;
        }
        at -= w;
    }
    return VARIANT_HOLDOUT;
}

static int insert_row(struct chunk *ch, int64_t user_id, int64_t device_id, const char *channel,
               const char *state, const char *reason, int64_t next_at, int variant)
{
    struct store_delivery d = { ch->p->id, user_id, device_id, channel, state, reason, next_at,
                                variant, ch->facts.now };

    ch->rc = store_delivery_insert(ch->sc, &d, &ch->last_row);
    return ch->rc;
}

struct device_walk {
    struct chunk *ch;
    int64_t user_id;
    int variant;
    int devices;
};

/* What the request of a delivery just inserted `sending` needs, as a claim would read it. */
static void hand_over(struct chunk *ch, const struct store_device *dev, int variant)
{
    struct store_outgoing *o = push_handoff_new(ch->handoff);
    const struct store_push *p = ch->p;

    o->id = ch->last_row;
    o->push_id = p->id;
    o->user_id = dev->user_id;
    o->app_id = p->app_id;
    snprintf(o->channel, sizeof(o->channel), "%s", dev->platform);
    o->attempts = 1;
    o->expires_at = p->expires_at;
    o->notification = xstrdup(p->notification);
    snprintf(o->priority, sizeof(o->priority), "%s", p->priority);
    o->collapse_key = p->collapse_key != NULL ? xstrdup(p->collapse_key) : NULL;
    if (variant >= 0) {
        json_t *v = json_object_get(json_array_get(ch->variants, (size_t)variant), "notification");

        o->variant_notification = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
    }
    o->device = *dev;
}

static int queue_device(void *arg, const struct store_device *dev)
{
    struct device_walk *dw = arg;
    struct chunk *ch = dw->ch;
    bool hand = ch->handoff != NULL && push_dispatch_reserve(ch->srv);

    dw->devices++;
    ch->queued += !hand;
    if (insert_row(ch, dw->user_id, dev->id, dev->platform, hand ? "sending" : "queued", NULL, 0,
                   dw->variant) != 0) {
        if (hand) {
            push_dispatch_unreserve(ch->srv, 1);
        }
        return ch->rc;
    }
    if (hand) {
        hand_over(ch, dev, dw->variant);
    }
    return 0;
}

static bool has_all_tags(struct chunk *ch, int64_t user_id)
{
    const char *name;
    json_t *value;

    json_object_foreach(ch->tags, name, value) {
        if (store_tag_check(ch->sc, user_id, name, json_string_value(value)) != 0) {
            return false;
        }
    }
    return true;
}

/* When the push is due for the user (ms): now, send_at, or send_at_local in their zone. */
static int64_t due_for(const struct chunk *ch, json_t *settings)
{
    if (ch->p->send_at_local != NULL) {
        return wishes_local_time(wishes_zone(settings), ch->p->send_at_local);
    }
    return ch->p->send_at;
}

/*
 * One recipient, now: nothing (holdout, opted out, capped); later (a pending row,
 * decided again when due: scheduled, or quiet hours); in-app when online; else a
 * delivery per device; else suppressed. `due` false: the push's own schedule has
 * already come (a pending row being decided).
 */
static bool muted(json_t *settings, int64_t conv_id)
{
    size_t i;
    json_t *id;

    json_array_foreach(json_object_get(settings, "muted_conversations"), i, id) {
        if (json_integer_value(id) == conv_id) {
            return true;
        }
    }
    return false;
}

/*
 * A chat message's notification goes only to members with no session (the
 * others have the message itself), never to its sender, never for a muted
 * conversation; its private variant to who asked for private previews; and in
 * quiet hours it is dropped, not held (the message waits in sync anyway).
 * Returns true when the user is done with.
 */
static bool decide_chat(struct chunk *ch, int64_t user_id, json_t *settings, enum wish *w,
                        int *variant)
{
    if (muted(settings, ch->chat_conv)) {
        insert_row(ch, user_id, 0, "none", "suppressed", "muted", 0, -1);
        return true;
    }
    if (json_is_true(json_object_get(settings, "private_previews")) &&
        json_array_size(ch->variants) > 0) {
        *variant = 0;
    }
    if (*w == WISH_HOLD) {
        insert_row(ch, user_id, 0, "none", "suppressed", "quiet_hours", 0, *variant);
        return true;
    }
    return false;
}

static int decide(struct chunk *ch, int64_t user_id, bool check_schedule)
{
    struct device_walk dw = { ch, user_id, pick_variant(ch, user_id), 0 };
    json_t *settings = NULL;
    int64_t last_seen, until = 0, due;
    enum wish w = WISH_SEND;
    bool done = false;

    if (dw.variant == VARIANT_HOLDOUT) {
        return insert_row(ch, user_id, 0, "none", "suppressed", "holdout", 0, -1);
    }
    if (ch->chat_conv != 0 &&
        (user_id == ch->chat_from || presence_get(ch->srv->presence, user_id, &last_seen))) {
        return 0; /* the sender, and members who have the message itself */
    }
    settings = wishes_load(ch->sc, user_id);
    ch->rc = wishes_decide(ch->sc, user_id, settings, &ch->facts, &w, &until);
    due = check_schedule ? due_for(ch, settings) : 0;
    if (ch->rc == 0 && ch->chat_conv != 0 && w != WISH_OPTED_OUT && w != WISH_CAPPED) {
        done = decide_chat(ch, user_id, settings, &w, &dw.variant);
    }
    json_decref(settings);
    if (ch->rc != 0 || done) {
        return ch->rc;
    }
    if (w == WISH_OPTED_OUT || w == WISH_CAPPED) {
        return insert_row(ch, user_id, 0, "none", "suppressed",
                   w == WISH_OPTED_OUT ? "opted_out" : "capped", 0, dw.variant);
    }
    if (due > ch->facts.now) {
        return insert_row(ch, user_id, 0, "pending", "queued", "scheduled", due, dw.variant);
    }
    if (w == WISH_HOLD) {
        return until < ch->p->expires_at
                   ? insert_row(ch, user_id, 0, "pending", "queued", "quiet_hours", until, dw.variant)
                   : insert_row(ch, user_id, 0, "none", "suppressed", "quiet_hours", 0, dw.variant);
    }
    if (presence_get(ch->srv->presence, user_id, &last_seen)) {
        struct user_set **set = &ch->online[dw.variant + 1];

        if (*set == NULL) {
            *set = user_set_new(EXPAND_CHUNK);
        }
        (*set)->ids[(*set)->n++] = user_id;
        return insert_row(ch, user_id, 0, "inapp", "sent", NULL, 0, dw.variant);
    }
    if (store_device_list(ch->sc, user_id, queue_device, &dw) != 0 && ch->rc == 0) {
        ch->rc = PIPIT_ESTORE;
    }
    if (ch->rc == 0 && dw.devices == 0) {
        insert_row(ch, user_id, 0, "none", "suppressed", "no_device", 0, dw.variant);
    }
    return ch->rc;
}

static int expand_user(void *arg, int64_t user_id)
{
    struct chunk *ch = arg;

    ch->last = user_id;
    ch->count++;
    if (ch->tags != NULL && !has_all_tags(ch, user_id)) {
        return 0;
    }
    return decide(ch, user_id, true);
}

/* The notification as the variant shows it: its fields over the push's. */
static json_t *variant_notification(const struct chunk *ch, int variant)
{
    json_t *n = json_deep_copy(ch->notification);

    if (variant >= 0) {
        json_object_update(n, json_object_get(json_array_get(ch->variants, (size_t)variant),
                                              "notification"));
    }
    return n;
}

/* The in-app events, one per variant, for after COMMIT; frees what the chunk holds. */
static void chunk_close(struct chunk *ch, struct bus_batch *inapp)
{
    for (int i = 0; i <= VARIANTS_MAX; i++) {
        struct user_set *to = ch->online[i];
        json_t *ev;
        char *text;

        if (to == NULL) {
            continue;
        }
        if (ch->rc == 0) {
            user_set_sort(to);
            ev = variant_notification(ch, i - 1);
            json_object_set_new(ev, "ev", json_string("notification"));
            json_object_set_new(ev, "push", json_integer(ch->p->id));
            json_object_set_new(ev, "priority", json_string(ch->p->priority));
            json_object_set_new(ev, "ts", json_integer(clock_now_ms()));
            text = json_dumps(ev, JSON_COMPACT);
            json_decref(ev);
            bus_batch_add(inapp, bus_event_new(text, strlen(text), user_set_ref(to)));
            free(text);
        }
        user_set_unref(to);
    }
    json_decref(ch->notification);
    json_decref(ch->variants);
    json_decref(ch->target);
}

/*
 * Expands the next chunk of push_id (writer thread, inside the caller's
 * transaction): its deliveries and the push's cursor. inapp gets the chunk's
 * in-app events, to publish after COMMIT; *done says whether that was the last;
 * *queued whether it queued deliveries for the dispatcher.
 */
static int expand_chunk(struct server *srv, struct store_conn *sc, int64_t push_id,
                        bool *done, bool *queued, struct bus_batch *inapp)
{
    struct store_push p;
    int rc = store_push_get(sc, 0, push_id, &p);

    *done = true;
    *queued = false;
    if (rc != 0) {
        return rc;
    }
    rc = p.done ? 0 : expand_chunk_of(srv, sc, &p, NULL, NULL, done, queued, inapp);
    store_push_cleanup(&p);
    return rc;
}

/*
 * The same for a push already in hand: just inserted, its first chunk, with its
 * JSON parsed (doc) and deliveries handed straight to the dispatcher (handoff).
 */
static int expand_chunk_of(struct server *srv, struct store_conn *sc, const struct store_push *p,
                           const struct push_doc *doc, struct push_handoff *handoff, bool *done,
                           bool *queued, struct bus_batch *inapp)
{
    struct chunk ch;
    json_t *target;
    int rc;

    *done = true;
    *queued = false;
    chunk_open(&ch, srv, sc, p, doc, clock_now_ms());
    ch.handoff = handoff;
    target = ch.target;
    if (ch.rc != 0) {
        /* the urgent flag could not be read: nothing done, retried later */
    } else if (json_object_get(target, "users") != NULL) {
        json_t *ids = json_object_get(target, "users");
        size_t i;
        json_t *id;

        json_array_foreach(ids, i, id) {
            if (json_integer_value(id) > p->cursor && ch.count < EXPAND_CHUNK && ch.rc == 0) {
                expand_user(&ch, json_integer_value(id));
            }
        }
        *done = ch.count < EXPAND_CHUNK || ch.last == json_integer_value(json_array_get(
                                                          ids, json_array_size(ids) - 1));
    } else if (target != NULL) {
        json_t *tags = json_object_get(target, "tags");
        const char *first = NULL;
        json_t *value = NULL;
        enum store_audience kind = STORE_AUDIENCE_ALL;
        char conv_text[24];

        if (tags != NULL) {
            /* Scanned by the first pair; has_all_tags() checks them all. */
            first = json_object_iter_key(json_object_iter(tags));
            value = json_object_iter_value(json_object_iter(tags));
            kind = STORE_AUDIENCE_TAG;
            ch.tags = tags;
        } else if (json_object_get(target, "topic") != NULL) {
            kind = STORE_AUDIENCE_TOPIC;
            first = json_string_value(json_object_get(target, "topic"));
        } else if (json_object_get(target, "conv") != NULL) {
            kind = STORE_AUDIENCE_CONV;
            snprintf(conv_text, sizeof(conv_text), "%lld", (long long)ch.chat_conv);
            first = conv_text;
        }
        if (store_push_audience(sc, kind, p->app_id, first, json_string_value(value), p->cursor,
                                EXPAND_CHUNK, expand_user, &ch) != 0 && ch.rc == 0) {
            ch.rc = PIPIT_ESTORE;
        }
        *done = ch.count < EXPAND_CHUNK;
    } else {
        ch.rc = PIPIT_ESTORE; /* never stored unreadable; never read as "all" */
    }
    /* A push stored as done and finished in its first chunk needs no cursor. */
    if (ch.rc == 0 && !(p->done && *done)) {
        ch.rc = store_push_set_cursor(sc, p->id, ch.last, *done);
    }
    if (ch.rc == 0 && *done) {
        ch.rc = push_finish_check(srv, sc, p->app_id, p->id, ch.facts.now);
    }
    *queued = ch.queued > 0;
    rc = ch.rc;
    chunk_close(&ch, inapp);
    return rc;
}

int push_decide_pending(struct server *srv, struct store_conn *sc, int64_t delivery_id,
                        int64_t push_id, int64_t user_id, bool *queued, struct bus_batch *inapp)
{
    struct store_push p;
    struct chunk ch;
    int rc = store_push_get(sc, 0, push_id, &p);

    *queued = false;
    if (rc != 0) {
        return rc == PIPIT_ENOT_FOUND ? store_delivery_delete(sc, delivery_id) : rc;
    }
    rc = store_delivery_delete(sc, delivery_id); /* replaced by what is decided now */
    if (rc != 0) {
        store_push_cleanup(&p);
        return rc;
    }
    chunk_open(&ch, srv, sc, &p, NULL, clock_now_ms());
    if (ch.rc == 0 && p.expires_at <= ch.facts.now) {
        /* Due after its TTL (the server was down, say): too late for in-app too. */
        insert_row(&ch, user_id, 0, "none", "expired", "ttl", 0, -1);
    } else if (ch.rc == 0) {
        decide(&ch, user_id, false);
    }
    if (ch.rc == 0) {
        ch.rc = push_finish_check(srv, sc, p.app_id, push_id, ch.facts.now);
    }
    *queued = ch.queued > 0;
    rc = ch.rc;
    chunk_close(&ch, inapp);
    store_push_cleanup(&p);
    return rc;
}

void push_events_drop(struct bus_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        bus_event_unref(b->evs[i]);
    }
    free(b->evs);
    memset(b, 0, sizeof(*b));
}

void push_events_publish(void *hook_arg, struct bus_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        chat_publish_committed(hook_arg, b->evs[i]);
    }
    b->n = 0;
    push_events_drop(b);
}

static void expand_run(struct job *j, void *ctx)
{
    struct expand_job *ej = (struct expand_job *)j;

    j->rc = expand_chunk(ej->srv, ctx, ej->push_id, &ej->finished, &ej->queued, &ej->inapp);
    if (j->rc != 0) {
        push_events_drop(&ej->inapp);
    }
}

static void expand_committed(struct job *j, void *hook_arg)
{
    struct expand_job *ej = (struct expand_job *)j;

    push_events_publish(hook_arg, &ej->inapp);
    if (ej->queued) {
        push_dispatch_kick(ej->srv);
    }
}

/*
 * Writer thread only: the pushes whose expansion job is queued or running, so a
 * resume never starts a second chain of chunks beside a live one.
 */
static struct intmap in_flight;

static void queue_chunk(struct server *srv, int64_t push_id);

/* On the writer, after the chunk's batch: the next chunk, or the end. */
static void expand_done(struct job *j)
{
    struct expand_job *ej = (struct expand_job *)j;

    push_events_drop(&ej->inapp); /* left only if the batch did not commit */
    if (j->rc == 0 && !ej->finished) {
        queue_chunk(ej->srv, ej->push_id);
    } else {
        if (j->rc != 0) {
            /* Left as expanding: push_resume() tries again. */
            log_error(NULL, "push %lld: expansion stopped, to be resumed: %s",
                      (long long)ej->push_id, pipit_strerror(j->rc));
        }
        intmap_remove(&in_flight, ej->push_id);
        if (in_flight.len == 0) {
            intmap_cleanup(&in_flight);
        }
    }
    free(ej);
}

static void queue_chunk(struct server *srv, int64_t push_id)
{
    struct expand_job *ej = xcalloc(1, sizeof(*ej));

    ej->srv = srv;
    ej->push_id = push_id;
    ej->job.run = expand_run;
    ej->job.done = expand_done;  /* origin NULL: on the writer after COMMIT */
    ej->job.committed = expand_committed;
    if (jobs_write(srv->jobs, &ej->job) != 0) {
        log_error(NULL, "push %lld: cannot queue its expansion; to be resumed",
                  (long long)push_id);
        intmap_remove(&in_flight, push_id);
        free(ej);
    }
}

/* Writer thread: starts expanding push_id unless it already is. */
static void expand_submit(struct server *srv, int64_t push_id)
{
    if (intmap_get(&in_flight, push_id) != NULL) {
        return;
    }
    intmap_put(&in_flight, push_id, srv);
    queue_chunk(srv, push_id);
}

void push_expand(struct server *srv, int64_t push_id)
{
    expand_submit(srv, push_id);
}

/* ---- chat messages to members with no session ---- */

/* The start of a text, cut at a character boundary, with an ellipsis when cut. */
static char *preview(const char *text)
{
    size_t n = strlen(text);
    char *out;

    if (n <= CHAT_PREVIEW_MAX) {
        return xstrdup(text);
    }
    n = CHAT_PREVIEW_MAX;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
        n--; /* not inside a UTF-8 sequence */
    }
    out = xmalloc(n + 4);
    memcpy(out, text, n);
    memcpy(out + n, "\xE2\x80\xA6", 4); /* … */
    return out;
}

/* What a message that is not text says in a notification: "Photo", "File: report.pdf", … */
static const char *attachment_line(json_t *body, const char *type, char *line, size_t cap)
{
    const char *name = json_string_value(json_object_get(body, "name"));

    if (type != NULL && strcmp(type, "image") == 0) {
        return "Photo";
    }
    if (type != NULL && strcmp(type, "video") == 0) {
        return "Video";
    }
    if (type != NULL && strcmp(type, "voice") == 0) {
        return "Voice message";
    }
    if (type != NULL && strcmp(type, "file") == 0 && name != NULL) {
        char *short_name = preview(name);

        snprintf(line, cap, "File: %s", short_name);
        free(short_name);
        return line;
    }
    snprintf(line, cap, "[%.64s]", type != NULL ? type : "message");
    return line;
}

/* What the notification says: who, where, and the text (or what was sent). */
static json_t *chat_notification(struct store_conn *sc, const struct store_event *ev, bool group)
{
    json_t *body = json_loads(ev->body != NULL ? ev->body : "{}", 0, NULL);
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *text = json_string_value(json_object_get(body, "text"));
    struct store_user u;
    struct store_conv conv = { 0 };
    char *what, line[512];
    json_t *n;

    if (store_user_by_id(sc, ev->sender, &u) != 0) {
        snprintf(u.username, sizeof(u.username), "someone");
        u.has_display_name = false;
    }
    if (text != NULL && type != NULL && strcmp(type, "text") == 0) {
        what = preview(text);
    } else {
        what = xstrdup(attachment_line(body, type, line, sizeof(line)));
    }
    if (group && store_conv_get(sc, ev->conv_id, &conv) == 0) {
        n = json_pack("{s:s,s:s++}", "title", conv.title != NULL ? conv.title : "Group", "body",
                      u.has_display_name ? u.display_name : u.username, ": ", what);
        store_conv_cleanup(&conv);
    } else {
        n = json_pack("{s:s,s:s}", "title", u.has_display_name ? u.display_name : u.username,
                      "body", what);
    }
    json_object_set_new(n, "category", json_string("chat"));
    json_object_set_new(n, "data", json_pack("{s:I,s:I}", "conv", (json_int_t)ev->conv_id, "seq",
                                              (json_int_t)ev->seq));
    free(what);
    json_decref(body);
    return n;
}

/* Content-free, for private previews: the app opens the conversation from data. */
static json_t *private_notification(const struct store_event *ev)
{
    return json_pack("{s:s,s:s,s:s,s:{s:I,s:I}}", "title", "New message", "body",
                     "Open the app to read it", "category", "chat", "data", "conv",
                     (json_int_t)ev->conv_id, "seq", (json_int_t)ev->seq);
}

int push_chat_message(struct chat_call *k, struct store_conn *sc, const struct user_set *members,
                      bool group, const struct store_event *ev)
{
    enum chat_notifications mode = (enum chat_notifications)k->srv->cfg.chat_notifications;

    if (mode == CHAT_NOTIFY_OFF || !push_anyone_offline(k->srv, members, ev->sender)) {
        return 0;
    }
    return push_to_members(k, sc, ev->conv_id, ev->sender,
                           mode == CHAT_NOTIFY_PRIVATE ? private_notification(ev)
                                                       : chat_notification(sc, ev, group),
                           mode == CHAT_NOTIFY_FULL ? private_notification(ev) : NULL, "chat");
}

bool push_anyone_offline(struct server *srv, const struct user_set *members, int64_t sender)
{
    bool anyone = members->n > CHAT_PRESENCE_CHECK_MAX;
    int64_t last_seen;

    /* Small conversations are checked here, so a chat of online users costs nothing more. */
    for (size_t i = 0; !anyone && i < members->n; i++) {
        anyone = members->ids[i] != sender && !presence_get(srv->presence, members->ids[i],
                                                            &last_seen);
    }
    return anyone;
}

int push_to_members(struct chat_call *k, struct store_conn *sc, int64_t conv, int64_t sender,
                    json_t *notification, json_t *private_variant, const char *category)
{
    struct store_push p = { .app_id = k->who.app_id, .created_at = k->now };
    struct bus_batch inapp = { 0 };
    struct push_doc doc = { NULL, NULL, NULL };
    bool done;
    int rc;

    doc.notification = notification;
    p.notification = json_dumps(doc.notification, JSON_COMPACT);
    if (private_variant != NULL) {
        doc.variants = json_pack("[{s:s,s:i,s:o}]", "name", "private", "weight", 0,
                                 "notification", private_variant);
        p.variants = json_dumps(doc.variants, JSON_COMPACT);
    }
    doc.target = json_pack("{s:I,s:I}", "conv", (json_int_t)conv, "from", (json_int_t)sender);
    p.target = json_dumps(doc.target, JSON_COMPACT);
    p.expires_at = k->now + TTL_DEFAULT_S * 1000;
    snprintf(p.priority, sizeof(p.priority), "high");
    p.category = xstrdup(category);
    p.done = true; /* unless its first chunk below leaves users for later */
    rc = store_push_insert(sc, &p);
    if (rc == 0) {
        bool queued = false;

        rc = expand_chunk_of(k->srv, sc, &p, &doc, &k->push_handoff, &done, &queued, &inapp);
        k->push_queued |= queued;
        atomic_fetch_add_explicit(&k->srv->metrics.push_chat, 1, memory_order_relaxed);
        k->push_to_expand = done ? 0 : p.id;
    }
    push_events_drop(&inapp); /* none: members online have the message itself */
    store_push_cleanup(&p);
    json_decref(doc.notification);
    json_decref(doc.variants);
    json_decref(doc.target);
    return rc;
}

/* ---- resuming after a restart ---- */

struct resume_job {
    struct job job;
    struct server *srv;
};

static int resume_one(void *arg, int64_t id)
{
    expand_submit(arg, id);
    return 0;
}

static void resume_run(struct job *j, void *ctx)
{
    struct resume_job *rj = (struct resume_job *)j;

    j->rc = store_push_expanding(ctx, resume_one, rj->srv);
}

static void resume_done(struct job *j)
{
    free(j);
}

void push_resume(struct server *srv)
{
    struct resume_job *rj = xcalloc(1, sizeof(*rj));

    rj->srv = srv;
    rj->job.run = resume_run;
    rj->job.done = resume_done;
    if (jobs_write(srv->jobs, &rj->job) != 0) {
        free(rj);
    }
}

/* ---- analytics ---- */

struct counts {
    json_t *totals;
    json_t *suppressed_by;
    json_t *failed_by;
    json_t *by_channel;
    json_t *by_variant;         /* NULL: the push has no variants */
    json_t *variants;
};

static void add(json_t *obj, const char *key, int64_t n)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + n));
}

static json_t *zero_counts(void)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "queued", 0, "sent", 0, "failed", 0,
                     "expired", 0, "suppressed", 0, "delivered", 0, "opened", 0, "clicked", 0);
}

static json_t *bucket(json_t *parent, const char *key)
{
    json_t *b = json_object_get(parent, key);

    if (b == NULL) {
        b = zero_counts();
        json_object_set_new(parent, key, b);
    }
    return b;
}

static int count_row(void *arg, const struct store_delivery_count *r)
{
    struct counts *c = arg;
    const char *state = strcmp(r->state, "sending") == 0 ? "queued" : r->state; /* on its way */
    const char *reason = r->reason;
    int64_t n = r->n;
    json_t *targets[3] = { c->totals, bucket(c->by_channel, r->channel), NULL };

    if (c->by_variant != NULL) {
        const char *name = json_string_value(
            json_object_get(json_array_get(c->variants, (size_t)r->variant), "name"));

        targets[2] = bucket(c->by_variant, r->variant >= 0 && name != NULL
                                               ? name
                                               : strcmp(reason, "holdout") == 0 ? "holdout"
                                                                                : "none");
    }
    for (size_t i = 0; i < 3 && targets[i] != NULL; i++) {
        add(targets[i], state, n);
        add(targets[i], "delivered", r->delivered);
        add(targets[i], "opened", r->opened);
        add(targets[i], "clicked", r->clicked);
    }
    if (reason[0] != '\0' && strcmp(state, "suppressed") == 0) {
        add(c->suppressed_by, reason, n);
    }
    if (reason[0] != '\0' && strcmp(state, "failed") == 0) {
        add(c->failed_by, reason, n);
    }
    return 0;
}

static json_t *push_counts(struct store_conn *sc, const struct store_push *p, int *rc)
{
    struct counts c = { zero_counts(), json_object(), json_object(), json_object(), NULL, NULL };
    int64_t targeted = 0;

    if (p->variants != NULL) {
        c.variants = json_loads(p->variants, 0, NULL);
        c.by_variant = json_object();
    }
    *rc = store_delivery_counts(sc, p->id, count_row, &c);
    if (*rc == 0) {
        *rc = store_delivery_targeted(sc, p->id, &targeted);
    }
    json_object_set_new(c.totals, "targeted", json_integer(targeted));
    json_object_set_new(c.totals, "suppressed_by", c.suppressed_by);
    json_object_set_new(c.totals, "failed_by", c.failed_by);
    json_object_set_new(c.totals, "by_channel", c.by_channel);
    if (c.by_variant != NULL) {
        json_object_set_new(c.totals, "by_variant", c.by_variant);
    }
    json_decref(c.variants);
    return c.totals;
}

static json_t *push_json(struct store_conn *sc, const struct store_push *p, bool full, int *rc)
{
    json_t *n = json_loads(p->notification, 0, NULL);
    json_t *o = json_pack("{s:I,s:I,s:s}", "id", (json_int_t)p->id, "created_at",
                          (json_int_t)p->created_at, "state", p->done ? "done" : "expanding");

    if (full) {
        json_object_set_new(o, "expires_at", json_integer(p->expires_at));
        json_object_set_new(o, "to", json_loads(p->target, 0, NULL));
        json_object_set_new(o, "notification", n);
        json_object_set_new(o, "priority", json_string(p->priority));
        /* What the request asked for, so a console can show the push whole. */
        if (p->collapse_key != NULL) {
            json_object_set_new(o, "collapse_key", json_string(p->collapse_key));
        }
        if (p->send_at != 0) {
            json_object_set_new(o, "send_at", json_integer(p->send_at));
        }
        if (p->send_at_local != NULL) {
            json_object_set_new(o, "send_at_local", json_string(p->send_at_local));
        }
        if (p->variants != NULL) {
            json_object_set_new(o, "variants", json_loads(p->variants, 0, NULL));
            json_object_set_new(o, "holdout", json_integer(p->holdout));
        }
    } else {
        json_object_set_new(o, "notification",
                            json_pack("{s:O}", "title", json_object_get(n, "title")));
        json_decref(n);
    }
    json_object_set_new(o, "counts", push_counts(sc, p, rc));
    return o;
}

int push_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_push p;
    int64_t id;
    int rc = chat_arg_id(k, "id", &id);

    if (rc == 0) {
        rc = store_push_get(sc, k->who.app_id, id, &p);
    }
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such push";
    }
    if (rc != 0) {
        return rc;
    }
    k->result = push_json(sc, &p, true, &rc);
    store_push_cleanup(&p);
    return rc;
}

struct listing {
    struct store_conn *sc;
    json_t *pushes;
    int limit;
    bool more;
    int rc;
};

static int collect_push(void *arg, const struct store_push *p)
{
    struct listing *l = arg;

    if ((int)json_array_size(l->pushes) == l->limit) {
        l->more = true; /* the one past the page */
        return 1;
    }
    json_array_append_new(l->pushes, push_json(l->sc, p, false, &l->rc));
    return l->rc;
}

int push_list(struct chat_call *k, struct store_conn *sc)
{
    struct listing l = { sc, json_array(), LIST_LIMIT, false, 0 };
    int64_t before = 0, limit = LIST_LIMIT;
    bool has;
    int rc = chat_arg_opt_int(k, "limit", 1, LIST_LIMIT_MAX, &limit, &has);

    if (rc == 0) {
        rc = chat_arg_opt_int(k, "before", 1, INT64_MAX, &before, &has);
    }
    l.limit = (int)limit;
    if (rc == 0) {
        rc = store_push_list(sc, k->who.app_id, before, l.limit + 1, collect_push, &l);
    }
    if (rc == 0) {
        rc = l.rc;
    }
    if (rc != 0) {
        json_decref(l.pushes);
        return rc;
    }
    k->result = json_pack("{s:o,s:b}", "pushes", l.pushes, "has_more", l.more);
    return 0;
}

static int add_finished_count(void *arg, const struct store_delivery_count *r)
{
    json_t *stats = arg;
    const char *keys[] = { r->state, "delivered", "opened", "clicked" };
    int64_t values[] = { r->n, r->delivered, r->opened, r->clicked };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_int_t had = json_integer_value(json_object_get(stats, keys[i]));

        json_object_set_new(stats, keys[i], json_integer(had + values[i]));
    }
    return 0;
}

int push_finish_check(struct server *srv, struct store_conn *sc, int64_t app_id,
                      int64_t push_id, int64_t now)
{
    json_t *stats, *data;
    char *text;
    bool finished = false;
    int rc;

    if (!webhooks_wanted(srv, sc, app_id, WEBHOOK_PUSH_FINISHED)) {
        return 0;
    }
    rc = store_push_finish(sc, push_id, now, &finished);
    if (rc != 0 || !finished) {
        return rc;
    }
    stats = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "sent", 0, "failed", 0, "expired", 0,
                      "suppressed", 0, "delivered", 0, "opened", 0, "clicked", 0);
    rc = store_delivery_counts(sc, push_id, add_finished_count, stats);
    data = json_pack("{s:I,s:I,s:o}", "push", (json_int_t)push_id, "ts", (json_int_t)now,
                     "stats", stats);
    text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (rc == 0) {
        rc = text != NULL ? webhooks_emit(srv, sc, app_id, WEBHOOK_PUSH_FINISHED, text, now)
                          : PIPIT_ENOMEM;
    }
    free(text);
    return rc;
}

/* push.opened or push.clicked, for the app's webhooks (device 0: in-app). */
static int emit_push_event(struct chat_call *k, struct store_conn *sc, int64_t push_id,
                           enum webhook_event e, int64_t device)
{
    char data[160], dev[24] = "null";

    if (device != 0) {
        snprintf(dev, sizeof(dev), "%lld", (long long)device);
    }
    snprintf(data, sizeof(data), "{\"push\":%lld,\"user\":%lld,\"device\":%s,\"ts\":%lld}",
             (long long)push_id, (long long)k->who.user_id, dev, (long long)k->now);
    return webhooks_emit(k->srv, sc, k->who.app_id, e, data, k->now);
}

/*
 * REST: POST /v1/push/{id}/events with {"type","device"} (args.id, args.body).
 * WebSocket: {"op":"push_event","push","type"} (the in-app delivery; "id" there
 * is the request's).
 */
int push_event(struct chat_call *k, struct store_conn *sc)
{
    static const char *const types[] = { "delivered", "opened", "clicked" };
    json_t *body = json_object_get(k->args, "body");
    bool ws = body == NULL;
    const char *type = json_string_value(json_object_get(ws ? k->args : body, "type"));
    json_t *device = ws ? NULL : json_object_get(body, "device");
    bool first = false;
    int64_t id;
    int rc = chat_arg_id(k, ws ? "push" : "id", &id);

    k->status = 204;
    for (size_t i = 0; rc == 0 && i < sizeof(types) / sizeof(types[0]); i++) {
        if (type != NULL && strcmp(type, types[i]) == 0) {
            if (device != NULL && (!json_is_integer(device) || json_integer_value(device) < 1)) {
                return chat_bad(k, "device must be a device id");
            }
            rc = store_delivery_event(sc, id, k->who.user_id,
                                      device != NULL ? json_integer_value(device) : 0,
                                      (enum store_push_event)i, k->now, &first);
            if (rc == PIPIT_ENOT_FOUND) {
                k->why = "no such delivery of this push to you";
            }
            if (rc == 0 && first && i != STORE_EVENT_DELIVERED) {
                rc = emit_push_event(k, sc, id, i == STORE_EVENT_OPENED ? WEBHOOK_PUSH_OPENED
                                                                         : WEBHOOK_PUSH_CLICKED,
                                     device != NULL ? json_integer_value(device) : 0);
            }
            return rc;
        }
    }
    return rc != 0 ? rc : chat_bad(k, "type must be \"delivered\", \"opened\" or \"clicked\"");
}
