/*
 * webhooks.c: the admin routes of webhooks (/v1/admin/webhooks…), on the call
 * path of chat actions (chat_internal.h). Sending is hooks/webhooks.c's.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/admin_internal.h"
#include "hooks/before_send.h"
#include "hooks/webhooks.h"
#include "push/endpoint.h"
#include "server.h"
#include "store/store_hooks.h"
#include "util/b64.h"
#include "util/err.h"

#define WEBHOOKS_PER_APP 100
#define DESCRIPTION_MAX 256
#define SECRET_PREFIX "whsec_"
#define SECRET_BYTES 32

_Static_assert(sizeof(SECRET_PREFIX) - 1 + B64_ENCODED_SIZE(SECRET_BYTES) <=
               STORE_WEBHOOK_SECRET_MAX + 1, "a secret fits its column");

static json_t *webhook_json(const struct store_webhook *w)
{
    json_t *events = json_loads(w->events, 0, NULL);

    return json_pack("{s:I,s:s,s:o,s:o,s:b,s:I,s:I,s:I,s:I,s:o}", "id", (json_int_t)w->id,
                     "url", w->url, "events", events != NULL ? events : json_array(),
                     "description",
                     text_or_null(w->description),
                     "enabled", w->enabled, "created_at", (json_int_t)w->created_at,
                     "updated_at", (json_int_t)w->updated_at, "queued", (json_int_t)w->queued,
                     "failed", (json_int_t)w->failed, "bot",
                     w->bot_id != 0 ? json_integer(w->bot_id) : json_null());
}

static json_t *delivery_json(const struct store_webhook_delivery *d)
{
    return json_pack("{s:I,s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:o}", "id", (json_int_t)d->id, "event",
                     d->event, "state", d->state, "attempts", (json_int_t)d->attempts,
                     "created_at", (json_int_t)d->created_at, "next_at",
                     strcmp(d->state, "queued") == 0 ? json_integer(d->next_at) : json_null(),
                     "finished_at", time_or_null(d->finished_at), "last_status",
                     d->last_status != 0 ? json_integer(d->last_status) : json_null(),
                     "last_error",
                     text_or_null(d->last_error));
}

_Static_assert(WEBHOOK_SECRET_SIZE == STORE_WEBHOOK_SECRET_MAX + 1, "one size");

/* A new signing secret: "whsec_" and 32 random bytes in base64url. */
void webhook_new_secret(char out[WEBHOOK_SECRET_SIZE])
{
    uint8_t raw[SECRET_BYTES];

    randombytes_buf(raw, sizeof(raw));
    memcpy(out, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1);
    b64url_encode(out + sizeof(SECRET_PREFIX) - 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
}

/* The answer with the secret, which only creation and rotation show. */
static void answer_with_secret(struct chat_call *k, const struct store_webhook *w)
{
    k->result = webhook_json(w);
    json_object_set_new(k->result, "secret", json_string(w->secret));
}

int webhook_url_check(struct chat_call *k, const char *url, const char **why)
{
    const struct config *cfg = &k->srv->cfg;

    if (strchr(url, '#') != NULL) {
        *why = "url must not have a fragment (#…)";
        return PIPIT_EBAD_REQUEST;
    }
    return push_endpoint_check(url, cfg->webhook_allow_http, cfg->webhook_allow_private, why);
}

/* url: an https URL the guard allows (push/endpoint.h), as webhook_allow_* say. */
static int read_url(struct chat_call *k, char **out, bool required)
{
    const char *url, *why = NULL;
    bool has;
    int rc = chat_arg_opt_string(k, "url", PUSH_ENDPOINT_MAX, &url, &has);

    if (rc != 0 || (has && url == NULL) || (required && !has)) {
        return chat_bad(k, "url must be an https URL of at most 2048 bytes");
    }
    if (!has) {
        return 0;
    }
    if (webhook_url_check(k, url, &why) != 0) {
        return chat_bad(k, why);
    }
    free(*out);
    *out = xstrdup(url);
    return 0;
}

/* events: a non-empty list of distinct event names, or ["*"]. */
static int read_events(struct chat_call *k, struct store_webhook *w, bool required)
{
    json_t *list = json_object_get(k->args, "events");
    bool seen[WEBHOOK_EVENT_COUNT] = { false };
    size_t i;
    json_t *v;

    if (list == NULL && !required) {
        return 0;
    }
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > WEBHOOK_EVENT_COUNT) {
        return chat_bad(k, "events must be a list of event types (or [\"*\"] for all)");
    }
    json_array_foreach(list, i, v) {
        const char *name = json_string_value(v);
        int e = webhook_event_named(name);

        if (name != NULL && strcmp(name, "*") == 0 && json_array_size(list) == 1) {
            continue;
        }
        if (e < 0) {
            return chat_bad(k, "events: unknown event type (see docs/openapi.yaml, Webhooks); "
                               "\"*\" stands alone");
        }
        if (seen[e]) {
            return chat_bad(k, "events: an event type is listed twice");
        }
        seen[e] = true;
    }
    free(w->events);
    w->events = json_dumps(list, JSON_COMPACT);
    return 0;
}

static int read_fields(struct chat_call *k, struct store_webhook *w, bool creating)
{
    const char *description;
    bool has;
    json_t *enabled = json_object_get(k->args, "enabled");
    int rc = read_url(k, &w->url, creating);

    if (rc == 0) {
        rc = read_events(k, w, creating);
    }
    if (rc == 0 && chat_arg_opt_string(k, "description", DESCRIPTION_MAX, &description,
                                       &has) != 0) {
        rc = chat_bad(k, "description must be a string of at most 256 bytes, or null");
    }
    if (rc == 0 && has) {
        free(w->description);
        w->description = description != NULL && description[0] != '\0' ? xstrdup(description)
                                                                        : NULL;
    }
    if (rc == 0 && enabled != NULL) {
        if (!json_is_boolean(enabled)) {
            return chat_bad(k, "enabled must be true or false");
        }
        w->enabled = json_is_true(enabled);
    }
    return rc;
}

/* The webhook of the path's {id}, in the caller's app. */
static int target(struct chat_call *k, struct store_conn *sc, struct store_webhook *w)
{
    int64_t id;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = chat_arg_id(k, "id", &id);
    }
    if (rc == 0) {
        rc = store_webhook_get(sc, k->who.app_id, id, w);
        k->why = rc == PIPIT_ENOT_FOUND ? "no such webhook" : NULL;
    }
    return rc;
}

/* POST /v1/admin/webhooks */
int webhook_create(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { .app_id = k->who.app_id, .enabled = true,
                               .created_at = k->now, .updated_at = k->now };
    int64_t count = 0;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = read_fields(k, &w, true);
    }
    if (rc == 0) {
        rc = store_webhook_count(sc, k->who.app_id, &count);
    }
    if (rc == 0 && count >= WEBHOOKS_PER_APP) {
        k->why = "this app has 100 webhooks already";
        rc = PIPIT_ECONFLICT;
    }
    if (rc == 0) {
        webhook_new_secret(w.secret);
        rc = store_webhook_insert(sc, &w);
    }
    if (rc == 0) {
        webhooks_changed(k->srv);
        answer_with_secret(k, &w);
        k->status = 201;
    }
    store_webhook_cleanup(&w);
    return rc;
}

static int collect_webhook(void *arg, const struct store_webhook *w)
{
    struct admin_page *p = arg;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, w->id, webhook_json(w));
    return 0;
}

/* GET /v1/admin/webhooks: newest first (?before=<id>). */
int webhook_list(struct chat_call *k, struct store_conn *sc)
{
    struct admin_page p;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = admin_page_read(k, ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, &p);
    }
    if (rc != 0) {
        return rc;
    }
    return admin_page_answer(k, &p, "webhooks",
                             store_webhook_list(sc, k->who.app_id, p.before, (int)p.limit + 1,
                                                collect_webhook, &p));
}

/* GET /v1/admin/webhooks/{id} */
int webhook_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    int rc = target(k, sc, &w);

    if (rc == 0) {
        k->result = webhook_json(&w);
    }
    store_webhook_cleanup(&w);
    return rc;
}

/* A bot's webhook is changed through its bot (api/bots.c): its events are fixed. */
static int not_a_bots(struct chat_call *k, const struct store_webhook *w)
{
    if (w->bot_id == 0) {
        return 0;
    }
    k->why = "this is a bot's webhook: change it with PATCH /v1/admin/bots/{id}";
    return PIPIT_ECONFLICT;
}

/* PATCH /v1/admin/webhooks/{id} */
int webhook_update(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    int rc = target(k, sc, &w);

    if (rc == 0) {
        rc = not_a_bots(k, &w);
    }
    if (rc == 0) {
        rc = read_fields(k, &w, false);
    }
    if (rc == 0) {
        w.updated_at = k->now;
        rc = store_webhook_update(sc, &w);
    }
    if (rc == 0) {
        webhooks_changed(k->srv);
        webhooks_queued(k->srv); /* enabled again: what it held is due */
        k->result = webhook_json(&w);
    }
    store_webhook_cleanup(&w);
    return rc;
}

/* DELETE /v1/admin/webhooks/{id}: with its deliveries, sent or not. */
int webhook_delete(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    int rc = target(k, sc, &w);

    if (rc == 0) {
        rc = not_a_bots(k, &w);
    }
    if (rc == 0) {
        rc = store_webhook_delete(sc, k->who.app_id, w.id);
    }
    if (rc == 0) {
        webhooks_changed(k->srv);
        k->status = 204;
    }
    store_webhook_cleanup(&w);
    return rc;
}

/* POST /v1/admin/webhooks/{id}/secret: a new one signs from now on. */
int webhook_rotate_secret(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    int rc = target(k, sc, &w);

    if (rc == 0) {
        webhook_new_secret(w.secret);
        w.updated_at = k->now;
        rc = store_webhook_update(sc, &w);
    }
    if (rc == 0) {
        answer_with_secret(k, &w);
    }
    store_webhook_cleanup(&w);
    return rc;
}

/* POST /v1/admin/webhooks/{id}/ping: an event of type "ping", now. */
int webhook_ping(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    int64_t id = 0;
    int rc = target(k, sc, &w);

    if (rc == 0 && !w.enabled) {
        k->why = "the webhook is disabled";
        rc = PIPIT_ECONFLICT;
    }
    if (rc == 0) {
        rc = store_webhook_enqueue_one(sc, k->who.app_id, w.id, "ping", "{}", k->now, &id);
    }
    if (rc == 0) {
        webhooks_queued(k->srv);
        k->result = json_pack("{s:I}", "delivery", (json_int_t)id);
        k->status = 202;
    }
    store_webhook_cleanup(&w);
    return rc;
}

static int collect_delivery(void *arg, const struct store_webhook_delivery *d)
{
    struct admin_page *p = arg;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, d->id, delivery_json(d));
    return 0;
}

static bool known_state(const char *state)
{
    static const char *const states[] = { "queued", "sending", "delivered", "failed" };

    for (size_t i = 0; state != NULL && i < sizeof(states) / sizeof(states[0]); i++) {
        if (strcmp(state, states[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* GET /v1/admin/webhooks/{id}/deliveries?state=: newest first (?before=<id>). */
int webhook_deliveries(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    const char *state = NULL;
    struct admin_page p;
    bool has;
    int rc = target(k, sc, &w);

    store_webhook_cleanup(&w);
    if (rc == 0 && (chat_arg_opt_string(k, "state", 16, &state, &has) != 0 ||
                    (has && !known_state(state)))) {
        return chat_bad(k, "state must be queued, sending, delivered or failed");
    }
    if (rc == 0) {
        rc = admin_page_read(k, ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, &p);
    }
    if (rc != 0) {
        return rc;
    }
    return admin_page_answer(k, &p, "deliveries",
                             store_webhook_deliveries(sc, w.id, state, p.before,
                                                      (int)p.limit + 1, collect_delivery, &p));
}

/* POST /v1/admin/webhooks/{id}/deliveries/{delivery}/retry: a failed one, again. */
int webhook_retry(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    struct store_webhook_delivery d = { 0 };
    int64_t id;
    int rc = target(k, sc, &w);

    store_webhook_cleanup(&w);
    if (rc == 0) {
        rc = chat_arg_id(k, "delivery", &id);
    }
    if (rc == 0) {
        rc = store_webhook_retry(sc, w.id, id, k->now, &d);
        k->why = rc == PIPIT_ENOT_FOUND ? "no such delivery"
                 : rc == PIPIT_ECONFLICT ? "only a failed delivery can be retried"
                                         : NULL;
    }
    if (rc == 0) {
        webhooks_queued(k->srv);
        k->result = delivery_json(&d);
        k->status = 202;
    }
    store_webhook_delivery_cleanup(&d);
    return rc;
}

/* ---- the before-send hook ---- */

#define BEFORE_SEND_TIMEOUT_MIN 100
#define BEFORE_SEND_TIMEOUT_MAX 10000
#define BEFORE_SEND_TIMEOUT_DEFAULT 2000

static json_t *before_send_json(const struct store_before_send *b)
{
    return json_pack("{s:s,s:I,s:s,s:I}", "url", b->url, "timeout_ms",
                     (json_int_t)b->timeout_ms, "fallback",
                     b->reject_on_failure ? "reject" : "allow", "updated_at",
                     (json_int_t)b->updated_at);
}

static void before_send_on(struct chat_call *k)
{
    before_send_set(k->srv, k->who.app_id, true);
}

static void before_send_off(struct chat_call *k)
{
    before_send_set(k->srv, k->who.app_id, false);
}

/* GET /v1/admin/before-send */
int before_send_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_before_send b = { 0 };
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_before_send_get(sc, k->who.app_id, &b);
        k->why = rc == PIPIT_ENOT_FOUND ? "this app has no before-send hook" : NULL;
    }
    if (rc == 0) {
        k->result = before_send_json(&b);
    }
    store_before_send_cleanup(&b);
    return rc;
}

/* PUT /v1/admin/before-send {url, timeout_ms?, fallback?}: the secret is shown when new. */
int before_send_put(struct chat_call *k, struct store_conn *sc)
{
    struct store_before_send b = { .app_id = k->who.app_id, .updated_at = k->now,
                                   .timeout_ms = BEFORE_SEND_TIMEOUT_DEFAULT };
    const char *fallback = NULL;
    bool has, fresh = false;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_before_send_get(sc, k->who.app_id, &b);
        fresh = rc == PIPIT_ENOT_FOUND;
        rc = fresh ? 0 : rc;
        b.updated_at = k->now;
    }
    if (rc == 0) {
        rc = read_url(k, &b.url, true);
    }
    if (rc == 0 && chat_arg_opt_int(k, "timeout_ms", BEFORE_SEND_TIMEOUT_MIN,
                                    BEFORE_SEND_TIMEOUT_MAX, &b.timeout_ms, &has) != 0) {
        rc = chat_bad(k, "timeout_ms must be from 100 to 10000");
    }
    if (rc == 0 && (chat_arg_opt_string(k, "fallback", 8, &fallback, &has) != 0 ||
                    (has && (fallback == NULL || (strcmp(fallback, "allow") != 0 &&
                                                  strcmp(fallback, "reject") != 0))))) {
        rc = chat_bad(k, "fallback must be \"allow\" or \"reject\"");
    }
    if (rc == 0 && has) {
        b.reject_on_failure = strcmp(fallback, "reject") == 0;
    }
    if (rc == 0 && fresh) {
        webhook_new_secret(b.secret);
    }
    if (rc == 0) {
        rc = store_before_send_put(sc, &b);
    }
    if (rc == 0) {
        k->result = before_send_json(&b);
        if (fresh) {
            json_object_set_new(k->result, "secret", json_string(b.secret));
        }
        k->after_commit_call = before_send_on;
    }
    store_before_send_cleanup(&b);
    return rc;
}

/* DELETE /v1/admin/before-send */
int before_send_delete(struct chat_call *k, struct store_conn *sc)
{
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_before_send_delete(sc, k->who.app_id);
        k->why = rc == PIPIT_ENOT_FOUND ? "this app has no before-send hook" : NULL;
    }
    if (rc == 0) {
        k->status = 204;
        k->after_commit_call = before_send_off;
    }
    return rc;
}

/* POST /v1/admin/before-send/secret */
int before_send_rotate_secret(struct chat_call *k, struct store_conn *sc)
{
    struct store_before_send b = { 0 };
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_before_send_get(sc, k->who.app_id, &b);
        k->why = rc == PIPIT_ENOT_FOUND ? "this app has no before-send hook" : NULL;
    }
    if (rc == 0) {
        webhook_new_secret(b.secret);
        b.updated_at = k->now;
        rc = store_before_send_put(sc, &b);
    }
    if (rc == 0) {
        k->result = before_send_json(&b);
        json_object_set_new(k->result, "secret", json_string(b.secret));
    }
    store_before_send_cleanup(&b);
    return rc;
}
