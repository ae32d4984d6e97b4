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
#include <string.h>

#include "chat/bus.h"
#include "chat/chat_internal.h"
#include "push/push.h"
#include "server.h"
#include "store/jobs.h"
#include "store/store_push.h"
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

static int expand_chunk(struct server *srv, struct store_conn *sc, int64_t push_id,
                        bool *done, bool *queued, struct bus_event **inapp);

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
    if (category != NULL && !push_name_ok(json_string_value(category))) {
        return chat_bad(k, "notification.category is 1 to 64 of A-Z a-z 0-9 _ . -");
    }
    return 0;
}

/* Checks `to` and writes the stored form: users become sorted ids of the app. */
static int read_target(struct chat_call *k, struct store_conn *sc, char **out)
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
            struct store_user user;

            if (!json_is_integer(u) && !json_is_string(u)) {
                user_set_unref(ids);
                return chat_bad(k, "to.users must list 1 to 10000 user ids or usernames");
            }
            /* Users who do not exist are simply not targeted. */
            if (chat_resolve_user(k, sc, u, &user) == 0) {
                ids->ids[ids->n++] = user.id;
            }
        }
        k->why = NULL;
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
    *out = json_dumps(stored, JSON_COMPACT);
    json_decref(stored);
    return 0;
}

int push_send(struct chat_call *k, struct store_conn *sc)
{
    static const char *const later[] = { "send_at", "send_at_local", "variants" };
    json_t *n = json_object_get(k->args, "notification");
    json_t *ttl = json_object_get(k->args, "ttl");
    json_t *priority = json_object_get(k->args, "priority");
    json_t *collapse = json_object_get(k->args, "collapse_key");
    json_t *dedup = json_object_get(k->args, "dedup_key");
    struct store_push p = { .app_id = k->who.app_id, .created_at = k->now };
    int64_t ttl_s = TTL_DEFAULT_S, earlier;
    int rc;

    for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
        if (json_object_get(k->args, later[i]) != NULL) {
            return chat_bad(k, "send_at, send_at_local and variants are not supported yet");
        }
    }
    rc = check_notification(k, n);
    if (rc != 0) {
        return rc;
    }
    if (ttl != NULL) {
        if (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
            json_integer_value(ttl) > TTL_MAX_S) {
            return chat_bad(k, "ttl must be a number of seconds from 0 to 2419200 (28 days)");
        }
        ttl_s = json_integer_value(ttl);
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
    rc = read_target(k, sc, &p.target);
    if (rc != 0) {
        return rc;
    }
    /* A repeat is answered only once it is a valid request itself. */
    if (dedup != NULL) {
        rc = store_push_by_dedup(sc, k->who.app_id, json_string_value(dedup),
                                 k->now - DEDUP_WINDOW_MS, &earlier);
        if (rc == 0) {
            k->result = json_pack("{s:I,s:b}", "id", (json_int_t)earlier, "duplicate", 1);
            k->status = 202;
            free(p.target);
            return 0;
        }
        /* An older push may hold the key: its 24 hours are over. */
        rc = rc == PIPIT_ENOT_FOUND
                 ? store_push_release_dedup(sc, k->who.app_id, json_string_value(dedup))
                 : rc;
        if (rc != 0) {
            free(p.target);
            return rc;
        }
    }
    p.notification = json_dumps(n, JSON_COMPACT);
    p.expires_at = k->now + ttl_s * 1000;
    snprintf(p.priority, sizeof(p.priority), "%s",
             priority != NULL ? json_string_value(priority) : "normal");
    p.collapse_key = collapse != NULL ? xstrdup(json_string_value(collapse)) : NULL;
    p.dedup_key = dedup != NULL ? xstrdup(json_string_value(dedup)) : NULL;
    rc = store_push_insert(sc, &p);
    if (rc == 0) {
        /* The first chunk in the same transaction: a push to a few users is one job. */
        struct bus_event *inapp;
        bool done;

        rc = expand_chunk(k->srv, sc, p.id, &done, &k->push_queued, &inapp);
        if (inapp != NULL) {
            bus_batch_add(&k->events, inapp); /* published after COMMIT */
        }
        k->push_to_expand = done ? 0 : p.id;
    }
    if (rc == 0) {
        k->result = json_pack("{s:I}", "id", (json_int_t)p.id);
        k->status = 202;
    }
    store_push_cleanup(&p);
    return rc;
}

/* ---- expansion ---- */

struct expand_job {
    struct job job;
    struct server *srv;
    int64_t push_id;
    bool finished;              /* expanded to everyone, or given up */
    bool queued;                /* deliveries for the dispatcher */
    struct bus_event *inapp;    /* the chunk's in-app notification, after COMMIT */
};

struct chunk {
    struct server *srv;
    struct store_conn *sc;
    const struct store_push *p;
    json_t *tags;               /* for a tags target: every pair must match */
    struct user_set *online;    /* who got it in-app */
    int64_t last;               /* the last user looked at */
    int count;
    int queued;                 /* deliveries to devices */
    int rc;
};

struct device_walk {
    struct chunk *ch;
    int64_t user_id;
    int devices;
};

static int queue_device(void *arg, const struct store_device *d)
{
    struct device_walk *dw = arg;

    dw->devices++;
    dw->ch->queued++;
    dw->ch->rc = store_delivery_insert(dw->ch->sc, dw->ch->p->id, dw->user_id, d->id,
                                       d->platform, "queued", NULL);
    return dw->ch->rc;
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

/* One recipient: in-app when online, else a delivery per device, else suppressed. */
static int expand_user(void *arg, int64_t user_id)
{
    struct chunk *ch = arg;
    struct device_walk dw = { ch, user_id, 0 };
    int64_t last_seen;

    ch->last = user_id;
    ch->count++;
    if (ch->tags != NULL && !has_all_tags(ch, user_id)) {
        return 0;
    }
    if (presence_get(ch->srv->presence, user_id, &last_seen)) {
        ch->online->ids[ch->online->n++] = user_id;
        ch->rc = store_delivery_insert(ch->sc, ch->p->id, user_id, 0, "inapp", "sent", NULL);
        return ch->rc;
    }
    if (store_device_list(ch->sc, user_id, queue_device, &dw) != 0 && ch->rc == 0) {
        ch->rc = PIPIT_ESTORE;
    }
    if (ch->rc == 0 && dw.devices == 0) {
        ch->rc = store_delivery_insert(ch->sc, ch->p->id, user_id, 0, "none", "suppressed",
                                       "no_device");
    }
    return ch->rc;
}

/* The in-app event: the notification's fields, and the push's. */
static struct bus_event *inapp_event(const struct store_push *p, struct user_set *to,
                                     int64_t now)
{
    json_t *ev = json_loads(p->notification, 0, NULL);
    char *text;
    struct bus_event *be;

    json_object_set_new(ev, "ev", json_string("notification"));
    json_object_set_new(ev, "push", json_integer(p->id));
    json_object_set_new(ev, "priority", json_string(p->priority));
    json_object_set_new(ev, "ts", json_integer(now));
    text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    be = bus_event_new(text, strlen(text), to);
    free(text);
    return be;
}

/*
 * Expands the next chunk of push_id (writer thread, inside the caller's
 * transaction): its deliveries and the push's cursor. *inapp gets the chunk's
 * in-app event, to publish after COMMIT; *done says whether that was the last;
 * *queued whether it queued deliveries for the dispatcher.
 */
static int expand_chunk(struct server *srv, struct store_conn *sc, int64_t push_id,
                        bool *done, bool *queued, struct bus_event **inapp)
{
    struct store_push p;
    struct chunk ch = { .srv = srv, .sc = sc };
    json_t *target;
    int rc = store_push_get(sc, 0, push_id, &p);

    *done = true;
    *queued = false;
    *inapp = NULL;
    if (rc != 0 || p.done) {
        if (rc == 0) {
            store_push_cleanup(&p);
        }
        return rc;
    }
    ch.p = &p;
    ch.last = p.cursor;
    ch.online = user_set_new(EXPAND_CHUNK);
    target = json_loads(p.target, 0, NULL);
    if (json_object_get(target, "users") != NULL) {
        json_t *ids = json_object_get(target, "users");
        size_t i;
        json_t *id;

        json_array_foreach(ids, i, id) {
            if (json_integer_value(id) > p.cursor && ch.count < EXPAND_CHUNK && ch.rc == 0) {
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

        if (tags != NULL) {
            /* Scanned by the first pair; has_all_tags() checks them all. */
            first = json_object_iter_key(json_object_iter(tags));
            value = json_object_iter_value(json_object_iter(tags));
            kind = STORE_AUDIENCE_TAG;
            ch.tags = tags;
        } else if (json_object_get(target, "topic") != NULL) {
            kind = STORE_AUDIENCE_TOPIC;
            first = json_string_value(json_object_get(target, "topic"));
        }
        if (store_push_audience(sc, kind, p.app_id, first, json_string_value(value), p.cursor,
                                EXPAND_CHUNK, expand_user, &ch) != 0 && ch.rc == 0) {
            ch.rc = PIPIT_ESTORE;
        }
        *done = ch.count < EXPAND_CHUNK;
    } else {
        ch.rc = PIPIT_ESTORE; /* never stored unreadable; never read as "all" */
    }
    if (ch.rc == 0) {
        ch.rc = store_push_set_cursor(sc, p.id, ch.last, *done);
    }
    *queued = ch.queued > 0;
    if (ch.rc == 0 && ch.online->n > 0) {
        *inapp = inapp_event(&p, user_set_ref(ch.online), clock_now_ms());
    }
    user_set_unref(ch.online);
    json_decref(target);
    store_push_cleanup(&p);
    return ch.rc;
}

static void expand_run(struct job *j, void *ctx)
{
    struct expand_job *ej = (struct expand_job *)j;

    j->rc = expand_chunk(ej->srv, ctx, ej->push_id, &ej->finished, &ej->queued, &ej->inapp);
    if (j->rc != 0) {
        bus_event_unref(ej->inapp);
        ej->inapp = NULL;
    }
}

static void expand_committed(struct job *j, void *hook_arg)
{
    struct expand_job *ej = (struct expand_job *)j;

    if (ej->inapp != NULL) {
        chat_publish_committed(hook_arg, ej->inapp);
        ej->inapp = NULL;
    }
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

    bus_event_unref(ej->inapp); /* set only if the batch did not commit */
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

static int count_row(void *arg, const char *channel, const char *state, const char *reason,
                     int64_t n, int64_t delivered, int64_t opened, int64_t clicked)
{
    struct counts *c = arg;
    json_t *ch = json_object_get(c->by_channel, channel);
    json_t *targets[2];

    if (ch == NULL) {
        ch = zero_counts();
        json_object_set_new(c->by_channel, channel, ch);
    }
    targets[0] = c->totals;
    targets[1] = ch;
    if (strcmp(state, "sending") == 0) {
        state = "queued"; /* in flight is still on its way */
    }
    for (size_t i = 0; i < 2; i++) {
        add(targets[i], state, n);
        add(targets[i], "delivered", delivered);
        add(targets[i], "opened", opened);
        add(targets[i], "clicked", clicked);
    }
    if (reason[0] != '\0' && strcmp(state, "suppressed") == 0) {
        add(c->suppressed_by, reason, n);
    }
    if (reason[0] != '\0' && strcmp(state, "failed") == 0) {
        add(c->failed_by, reason, n);
    }
    return 0;
}

static json_t *push_counts(struct store_conn *sc, int64_t push_id, int *rc)
{
    struct counts c = { zero_counts(), json_object(), json_object(), json_object() };
    int64_t targeted = 0;

    *rc = store_delivery_counts(sc, push_id, count_row, &c);
    if (*rc == 0) {
        *rc = store_delivery_targeted(sc, push_id, &targeted);
    }
    json_object_set_new(c.totals, "targeted", json_integer(targeted));
    json_object_set_new(c.totals, "suppressed_by", c.suppressed_by);
    json_object_set_new(c.totals, "failed_by", c.failed_by);
    json_object_set_new(c.totals, "by_channel", c.by_channel);
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
    } else {
        json_object_set_new(o, "notification",
                            json_pack("{s:O}", "title", json_object_get(n, "title")));
        json_decref(n);
    }
    json_object_set_new(o, "counts", push_counts(sc, p->id, rc));
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

int push_event(struct chat_call *k, struct store_conn *sc)
{
    static const char *const types[] = { "delivered", "opened", "clicked" };
    json_t *body = json_object_get(k->args, "body");
    const char *type = json_string_value(json_object_get(body, "type"));
    json_t *device = json_object_get(body, "device");
    int64_t id;
    int rc = chat_arg_id(k, "id", &id);

    k->status = 204;
    for (size_t i = 0; rc == 0 && i < sizeof(types) / sizeof(types[0]); i++) {
        if (type != NULL && strcmp(type, types[i]) == 0) {
            if (device != NULL && (!json_is_integer(device) || json_integer_value(device) < 1)) {
                return chat_bad(k, "device must be a device id");
            }
            rc = store_delivery_event(sc, id, k->who.user_id,
                                      device != NULL ? json_integer_value(device) : 0,
                                      (enum store_push_event)i, k->now);
            if (rc == PIPIT_ENOT_FOUND) {
                k->why = "no such delivery of this push to you";
            }
            return rc;
        }
    }
    return rc != 0 ? rc : chat_bad(k, "type must be \"delivered\", \"opened\" or \"clicked\"");
}
