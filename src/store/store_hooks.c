/*
 * store_hooks.c: the SQLite side of store_hooks.h.
 */
#include "store/store_hooks.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/err.h"
#include "util/mem.h"

enum hooks_stmt {
    HS_INSERT = STORE_HOOKS_FIRST_STMT,
    HS_GET,
    HS_UPDATE,
    HS_DELETE,
    HS_LIST,
    HS_OF_BOT,
    HS_COUNT,
    HS_SUBSCRIPTIONS,
    HS_ENQUEUE,
    HS_ENQUEUE_ONE,
    HS_RECOVER,
    HS_CLAIM,
    HS_MARK_SENDING,
    HS_NEXT_DUE,
    HS_SETTLE,
    HS_DELIVERIES,
    HS_RETRY,
    HS_DELIVERY,
    HS_SWEEP,
    HS_BEFORE_GET,
    HS_BEFORE_PUT,
    HS_BEFORE_DELETE,
    HS_BEFORE_APPS,
    HS_ASSISTANT_GET,
    HS_ASSISTANT_PUT,
    HS_ASSISTANT_DELETE,
    HS_ASSISTANT_BOTS,
    HS_END
};

_Static_assert(HS_END <= STORE_STMT_SLOTS, "too many statements");

/* Counts go with every read of a webhook: the console shows them in its list. */
#define HOOK_COLS                                                                       \
    "h.id, h.app_id, h.url, " WEBHOOK_SECRET("h.") ", h.events, h.description, "        \
    "h.enabled, h.created_at, h.updated_at, coalesce(h.bot_id, 0), "                    \
    "(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = h.id "             \
    "AND d.state IN ('queued', 'sending')), "                                           \
    "(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = h.id "             \
    "AND d.state = 'failed')"

#define DELIVERY_COLS "d.id, d.webhook_id, d.event, d.state, d.attempts, d.created_at, " \
                      "d.since, d.next_at, d.finished_at, d.last_status, d.last_error"

/* The webhook takes the event ?2: it is in its list, or the list is ["*"]. */
#define TAKES "EXISTS (SELECT 1 FROM json_each(h.events) WHERE value IN (?2, '*'))"

static const char *const sql[] = {
#define S(id) [(id) - STORE_HOOKS_FIRST_STMT]
    S(HS_INSERT) = "INSERT INTO webhooks (app_id, url, secret, events, description, enabled, "
                   "created_at, updated_at, bot_id) VALUES (?1, ?2, pipit_seal(?3, -1, 0), ?4, "
                   "?5, ?6, ?7, ?7, nullif(?8, 0))",
    S(HS_GET) = "SELECT " HOOK_COLS " FROM webhooks h WHERE h.app_id = ?1 AND h.id = ?2",
    S(HS_UPDATE) = "UPDATE webhooks SET url = ?3, secret = pipit_seal(?4, -1, 0), events = ?5, "
                   "description = ?6, enabled = ?7, updated_at = ?8 "
                   "WHERE app_id = ?1 AND id = ?2",
    S(HS_DELETE) = "DELETE FROM webhooks WHERE app_id = ?1 AND id = ?2",
    S(HS_LIST) = "SELECT " HOOK_COLS " FROM webhooks h WHERE h.app_id = ?1 AND h.bot_id IS NULL "
                 "AND (?2 = 0 OR h.id < ?2) ORDER BY h.id DESC LIMIT ?3",
    S(HS_OF_BOT) = "SELECT " HOOK_COLS " FROM webhooks h WHERE h.bot_id = ?1",
    S(HS_COUNT) = "SELECT count(*) FROM webhooks WHERE app_id = ?1 AND bot_id IS NULL",
    /* A disabled bot's webhook hears nothing (its keys are revoked too). */
    S(HS_SUBSCRIPTIONS) = "SELECT h.app_id, h.events, h.id, coalesce(h.bot_id, 0) "
                          "FROM webhooks h LEFT JOIN users u ON u.id = h.bot_id "
                          "WHERE h.enabled = 1 AND (h.bot_id IS NULL OR u.disabled_at IS NULL)",
    S(HS_ENQUEUE) = "INSERT INTO webhook_deliveries (webhook_id, event, payload, state, "
                    "created_at, since, next_at) "
                    "SELECT h.id, ?2, pipit_seal(?3, -1, 1), 'queued', ?4, ?4, ?4 "
                    "FROM webhooks h WHERE h.app_id = ?1 AND h.enabled = 1 AND h.bot_id IS NULL "
                    "AND " TAKES,
    S(HS_ENQUEUE_ONE) = "INSERT INTO webhook_deliveries (webhook_id, event, payload, state, "
                        "created_at, since, next_at) "
                        "SELECT h.id, ?3, pipit_seal(?4, -1, 1), 'queued', ?5, ?5, ?5 "
                        "FROM webhooks h WHERE h.app_id = ?1 AND h.id = ?2",
    S(HS_RECOVER) = "UPDATE webhook_deliveries SET state = 'queued', next_at = ?1 "
                    "WHERE state = 'sending'",
    S(HS_CLAIM) = "SELECT " DELIVERY_COLS ", h.app_id, h.url, " WEBHOOK_SECRET("h.") ", "
                  WEBHOOK_PAYLOAD("d.") " FROM webhook_deliveries d "
                  "JOIN webhooks h ON h.id = d.webhook_id "
                  "WHERE d.state = 'queued' AND d.next_at <= ?1 AND h.enabled = 1 "
                  "ORDER BY d.next_at LIMIT ?2",
    S(HS_MARK_SENDING) = "UPDATE webhook_deliveries SET state = 'sending', "
                         "attempts = attempts + 1 WHERE id = ?1",
    S(HS_NEXT_DUE) = "SELECT min(d.next_at) FROM webhook_deliveries d "
                     "JOIN webhooks h ON h.id = d.webhook_id "
                     "WHERE d.state = 'queued' AND h.enabled = 1",
    S(HS_SETTLE) = "UPDATE webhook_deliveries SET state = ?2, "
                   "next_at = CASE ?2 WHEN 'queued' THEN ?3 END, "
                   "finished_at = CASE ?2 WHEN 'queued' THEN NULL ELSE ?6 END, "
                   "payload = CASE ?2 WHEN 'delivered' THEN NULL ELSE payload END, "
                   "last_status = ?4, last_error = ?5 WHERE id = ?1 AND state = 'sending'",
    S(HS_DELIVERIES) = "SELECT " DELIVERY_COLS " FROM webhook_deliveries d "
                       "WHERE d.webhook_id = ?1 AND (?2 IS NULL OR d.state = ?2) "
                       "AND (?3 = 0 OR d.id < ?3) ORDER BY d.id DESC LIMIT ?4",
    S(HS_RETRY) = "UPDATE webhook_deliveries SET state = 'queued', next_at = ?3, since = ?3, "
                  "attempts = 0, finished_at = NULL WHERE webhook_id = ?1 AND id = ?2 AND state = 'failed'",
    S(HS_DELIVERY) = "SELECT " DELIVERY_COLS " FROM webhook_deliveries d "
                     "WHERE d.webhook_id = ?1 AND d.id = ?2",
    S(HS_SWEEP) = "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM "
                  "webhook_deliveries WHERE finished_at < ?1 LIMIT ?2)",
    S(HS_BEFORE_GET) = "SELECT app_id, url, " BEFORE_SEND_SECRET("") ", timeout_ms, fallback, "
                       "updated_at FROM before_send_hooks WHERE app_id = ?1",
    S(HS_BEFORE_PUT) = "INSERT OR REPLACE INTO before_send_hooks (app_id, url, secret, "
                       "timeout_ms, fallback, updated_at) "
                       "VALUES (?1, ?2, pipit_seal(?3, -1, 2), ?4, ?5, ?6)",
    S(HS_BEFORE_DELETE) = "DELETE FROM before_send_hooks WHERE app_id = ?1",
    S(HS_BEFORE_APPS) = "SELECT app_id FROM before_send_hooks",
    S(HS_ASSISTANT_GET) = "SELECT app_id, bot_id, base_url, model, " ASSISTANT_KEY("") ", "
                          "system_prompt, context_messages, user_per_minute, app_per_minute, "
                          "timeout_ms, enabled, updated_at FROM assistants WHERE app_id = ?1",
    S(HS_ASSISTANT_PUT) = "INSERT OR REPLACE INTO assistants (app_id, bot_id, base_url, model, "
                          "api_key, system_prompt, context_messages, user_per_minute, "
                          "app_per_minute, timeout_ms, enabled, updated_at) VALUES (?1, ?2, ?3, "
                          "?4, pipit_seal(?5, -1, 3), ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    S(HS_ASSISTANT_DELETE) = "DELETE FROM assistants WHERE app_id = ?1",
    S(HS_ASSISTANT_BOTS) = "SELECT app_id, bot_id FROM assistants WHERE enabled = 1",
#undef S
};

static sqlite3_stmt *hstmt(struct store_conn *sc, enum hooks_stmt id)
{
    return store__stmt(sc, id, sql[id - STORE_HOOKS_FIRST_STMT]);
}

void store_webhook_cleanup(struct store_webhook *w)
{
    free(w->url);
    free(w->events);
    free(w->description);
    sodium_memzero(w->secret, sizeof(w->secret));
    w->url = w->events = w->description = NULL;
}

void store_webhook_delivery_cleanup(struct store_webhook_delivery *d)
{
    free(d->last_error);
    free(d->payload);
    free(d->url);
    sodium_memzero(d->secret, sizeof(d->secret));
    d->last_error = d->payload = d->url = NULL;
}

/* Reads HOOK_COLS; the strings are the caller's (store_webhook_cleanup). */
static void read_hook(sqlite3_stmt *s, void *out)
{
    struct store_webhook *w = out;

    w->id = sqlite3_column_int64(s, 0);
    w->app_id = sqlite3_column_int64(s, 1);
    w->url = store__dup_text(s, 2);
    store__copy_text(w->secret, sizeof(w->secret), s, 3);
    w->events = store__dup_text(s, 4);
    w->description = store__dup_text(s, 5);
    w->enabled = sqlite3_column_int(s, 6) != 0;
    w->created_at = sqlite3_column_int64(s, 7);
    w->updated_at = sqlite3_column_int64(s, 8);
    w->bot_id = sqlite3_column_int64(s, 9);
    w->queued = sqlite3_column_int64(s, 10);
    w->failed = sqlite3_column_int64(s, 11);
}

static const char *state_named(const unsigned char *name)
{
    static const char *const states[] = { "queued", "sending", "delivered", "failed" };

    for (size_t i = 0; name != NULL && i < sizeof(states) / sizeof(states[0]); i++) {
        if (strcmp((const char *)name, states[i]) == 0) {
            return states[i];
        }
    }
    return "failed";
}

/* Reads DELIVERY_COLS; last_error is the caller's. */
static void read_delivery(sqlite3_stmt *s, void *out)
{
    struct store_webhook_delivery *d = out;

    d->id = sqlite3_column_int64(s, 0);
    d->webhook_id = sqlite3_column_int64(s, 1);
    store__copy_text(d->event, sizeof(d->event), s, 2);
    d->state = state_named(sqlite3_column_text(s, 3));
    d->attempts = sqlite3_column_int64(s, 4);
    d->created_at = sqlite3_column_int64(s, 5);
    d->since = sqlite3_column_int64(s, 6);
    d->next_at = sqlite3_column_int64(s, 7);
    d->finished_at = sqlite3_column_int64(s, 8);
    d->last_status = sqlite3_column_int64(s, 9);
    d->last_error = store__dup_text(s, 10);
}

int store_webhook_insert(struct store_conn *sc, struct store_webhook *w)
{
    sqlite3_stmt *s = hstmt(sc, HS_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, w->app_id);
    store__bind_text(s, 2, w->url);
    store__bind_text(s, 3, w->secret);
    store__bind_text(s, 4, w->events);
    store__bind_text(s, 5, w->description);
    sqlite3_bind_int(s, 6, w->enabled);
    sqlite3_bind_int64(s, 7, w->created_at);
    sqlite3_bind_int64(s, 8, w->bot_id);
    rc = store__run(sc, s);
    if (rc == 0) {
        w->id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

int store_webhook_get(struct store_conn *sc, int64_t app_id, int64_t id, struct store_webhook *out)
{
    sqlite3_stmt *s = hstmt(sc, HS_GET);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    return store__one_row(s, read_hook, out);
}

int store_webhook_of_bot(struct store_conn *sc, int64_t bot_id, struct store_webhook *out)
{
    sqlite3_stmt *s = hstmt(sc, HS_OF_BOT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, bot_id);
    return store__one_row(s, read_hook, out);
}

int store_webhook_update(struct store_conn *sc, const struct store_webhook *w)
{
    sqlite3_stmt *s = hstmt(sc, HS_UPDATE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, w->app_id);
    sqlite3_bind_int64(s, 2, w->id);
    store__bind_text(s, 3, w->url);
    store__bind_text(s, 4, w->secret);
    store__bind_text(s, 5, w->events);
    store__bind_text(s, 6, w->description);
    sqlite3_bind_int(s, 7, w->enabled);
    sqlite3_bind_int64(s, 8, w->updated_at);
    return store__run(sc, s);
}

int store_webhook_delete(struct store_conn *sc, int64_t app_id, int64_t id)
{
    sqlite3_stmt *s = hstmt(sc, HS_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    return store__run_one(sc, s);
}

int store_webhook_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                       int (*cb)(void *arg, const struct store_webhook *w), void *arg)
{
    sqlite3_stmt *s = hstmt(sc, HS_LIST);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, before);
    sqlite3_bind_int(s, 3, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_webhook w;
        int stop;

        read_hook(s, &w);
        stop = cb(arg, &w);
        store_webhook_cleanup(&w);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_webhook_count(struct store_conn *sc, int64_t app_id, int64_t *count)
{
    sqlite3_stmt *s = hstmt(sc, HS_COUNT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__one_int(s, count);
}

int store_webhook_subscriptions(struct store_conn *sc,
                                int (*cb)(void *arg, int64_t app_id, const char *events,
                                          int64_t id, int64_t bot_id),
                                void *arg)
{
    sqlite3_stmt *s = hstmt(sc, HS_SUBSCRIPTIONS);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *events = (const char *)sqlite3_column_text(s, 1);

        if (cb(arg, sqlite3_column_int64(s, 0), events != NULL ? events : "[]",
               sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_webhook_enqueue(struct store_conn *sc, int64_t app_id, const char *event,
                          const char *data, int64_t now, int64_t *queued)
{
    sqlite3_stmt *s = hstmt(sc, HS_ENQUEUE);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    store__bind_text(s, 2, event);
    store__bind_text(s, 3, data);
    sqlite3_bind_int64(s, 4, now);
    rc = store__run(sc, s);
    if (rc == 0) {
        *queued = sqlite3_changes(sc->db);
    }
    return rc;
}

int store_webhook_enqueue_one(struct store_conn *sc, int64_t app_id, int64_t webhook_id,
                              const char *event, const char *data, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = hstmt(sc, HS_ENQUEUE_ONE);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, webhook_id);
    store__bind_text(s, 3, event);
    store__bind_text(s, 4, data);
    sqlite3_bind_int64(s, 5, now);
    rc = store__run(sc, s);
    if (rc == 0 && sqlite3_changes(sc->db) == 0) {
        return PIPIT_ENOT_FOUND;
    }
    if (rc == 0) {
        *id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

int store_webhook_recover(struct store_conn *sc, int64_t *requeued)
{
    sqlite3_stmt *s = hstmt(sc, HS_RECOVER);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, 0);
    rc = store__run(sc, s);
    if (rc == 0) {
        *requeued = sqlite3_changes(sc->db);
    }
    return rc;
}

int store_webhook_claim(struct store_conn *sc, int64_t now, int max,
                        int (*cb)(void *arg, struct store_webhook_delivery *d), void *arg)
{
    sqlite3_stmt *s = hstmt(sc, HS_CLAIM);
    sqlite3_stmt *mark = hstmt(sc, HS_MARK_SENDING);
    struct store_webhook_delivery *got;
    int n = 0, rc;

    if (s == NULL || mark == NULL) {
        return PIPIT_ESTORE;
    }
    got = xcalloc((size_t)(max > 0 ? max : 1), sizeof(*got));
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, max);
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_webhook_delivery *d = &got[n++];

        read_delivery(s, d);
        d->app_id = sqlite3_column_int64(s, 11);
        d->url = store__dup_text(s, 12);
        store__copy_text(d->secret, sizeof(d->secret), s, 13);
        d->payload = store__dup_text(s, 14);
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE || n == max ? 0 : PIPIT_ESTORE;
    sqlite3_reset(s);
    for (int i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(mark, 1, got[i].id);
        rc = store__run(sc, mark);
        got[i].state = "sending";
        got[i].attempts++;
    }
    /* Handed over only once all are marked: a failure hands over none. */
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            rc = cb(arg, &got[i]);
            continue;
        }
        store_webhook_delivery_cleanup(&got[i]);
    }
    free(got);
    return rc;
}

int store_webhook_next_due(struct store_conn *sc, int64_t *next_at)
{
    sqlite3_stmt *s = hstmt(sc, HS_NEXT_DUE);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *next_at = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : PIPIT_ESTORE;
}

int store_webhook_settle(struct store_conn *sc, int64_t id, const char *state, int64_t next_at,
                         int64_t status, const char *error, int64_t now)
{
    sqlite3_stmt *s = hstmt(sc, HS_SETTLE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, id);
    store__bind_text(s, 2, state);
    sqlite3_bind_int64(s, 3, next_at);
    if (status != 0) {
        sqlite3_bind_int64(s, 4, status);
    }
    store__bind_text(s, 5, error);
    sqlite3_bind_int64(s, 6, now);
    return store__run(sc, s);
}

int store_webhook_deliveries(struct store_conn *sc, int64_t webhook_id, const char *state,
                             int64_t before, int limit,
                             int (*cb)(void *arg, const struct store_webhook_delivery *d),
                             void *arg)
{
    sqlite3_stmt *s = hstmt(sc, HS_DELIVERIES);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, webhook_id);
    store__bind_text(s, 2, state);
    sqlite3_bind_int64(s, 3, before);
    sqlite3_bind_int(s, 4, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_webhook_delivery d = { 0 };
        int stop;

        read_delivery(s, &d);
        stop = cb(arg, &d);
        store_webhook_delivery_cleanup(&d);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

static int delivery_get(struct store_conn *sc, int64_t webhook_id, int64_t id,
                        struct store_webhook_delivery *out)
{
    sqlite3_stmt *s = hstmt(sc, HS_DELIVERY);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, webhook_id);
    sqlite3_bind_int64(s, 2, id);
    memset(out, 0, sizeof(*out));
    return store__one_row(s, read_delivery, out);
}

int store_webhook_retry(struct store_conn *sc, int64_t webhook_id, int64_t id, int64_t now,
                        struct store_webhook_delivery *out)
{
    sqlite3_stmt *s = hstmt(sc, HS_RETRY);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, webhook_id);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_int64(s, 3, now);
    rc = store__run(sc, s);
    if (rc == 0 && sqlite3_changes(sc->db) == 0) {
        rc = delivery_get(sc, webhook_id, id, out);
        if (rc == 0) {
            store_webhook_delivery_cleanup(out);
            rc = PIPIT_ECONFLICT;
        }
        return rc;
    }
    return rc != 0 ? rc : delivery_get(sc, webhook_id, id, out);
}

int store_webhook_sweep(struct store_conn *sc, int64_t before, int limit, int64_t *deleted)
{
    sqlite3_stmt *s = hstmt(sc, HS_SWEEP);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, before);
    sqlite3_bind_int(s, 2, limit);
    rc = store__run(sc, s);
    if (rc == 0) {
        *deleted = sqlite3_changes(sc->db);
    }
    return rc;
}

void store_before_send_cleanup(struct store_before_send *b)
{
    free(b->url);
    b->url = NULL;
    sodium_memzero(b->secret, sizeof(b->secret));
}

static void read_before_send(sqlite3_stmt *s, void *arg)
{
    struct store_before_send *out = arg;
    const unsigned char *fallback = sqlite3_column_text(s, 4);

    out->app_id = sqlite3_column_int64(s, 0);
    out->url = store__dup_text(s, 1);
    store__copy_text(out->secret, sizeof(out->secret), s, 2);
    out->timeout_ms = sqlite3_column_int64(s, 3);
    out->reject_on_failure = fallback != NULL && strcmp((const char *)fallback, "reject") == 0;
    out->updated_at = sqlite3_column_int64(s, 5);
}

int store_before_send_get(struct store_conn *sc, int64_t app_id, struct store_before_send *out)
{
    sqlite3_stmt *s = hstmt(sc, HS_BEFORE_GET);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__one_row(s, read_before_send, out);
}

int store_before_send_put(struct store_conn *sc, const struct store_before_send *b)
{
    sqlite3_stmt *s = hstmt(sc, HS_BEFORE_PUT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, b->app_id);
    store__bind_text(s, 2, b->url);
    store__bind_text(s, 3, b->secret);
    sqlite3_bind_int64(s, 4, b->timeout_ms);
    store__bind_text(s, 5, b->reject_on_failure ? "reject" : "allow");
    sqlite3_bind_int64(s, 6, b->updated_at);
    return store__run(sc, s);
}

int store_before_send_delete(struct store_conn *sc, int64_t app_id)
{
    sqlite3_stmt *s = hstmt(sc, HS_BEFORE_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__run_one(sc, s);
}

int store_before_send_apps(struct store_conn *sc, int (*cb)(void *arg, int64_t v), void *arg)
{
    sqlite3_stmt *s = hstmt(sc, HS_BEFORE_APPS);

    return s != NULL ? store__each_int(s, cb, arg) : PIPIT_ESTORE;
}

void store_assistant_cleanup(struct store_assistant *a)
{
    free(a->base_url);
    free(a->model);
    if (a->api_key != NULL) {
        sodium_memzero(a->api_key, strlen(a->api_key));
    }
    free(a->api_key);
    free(a->system_prompt);
    a->base_url = a->model = a->api_key = a->system_prompt = NULL;
}

static void read_assistant(sqlite3_stmt *s, void *arg)
{
    struct store_assistant *out = arg;

    out->app_id = sqlite3_column_int64(s, 0);
    out->bot_id = sqlite3_column_int64(s, 1);
    out->base_url = store__dup_text(s, 2);
    out->model = store__dup_text(s, 3);
    out->api_key = store__dup_text(s, 4);
    out->system_prompt = store__dup_text(s, 5);
    out->context_messages = sqlite3_column_int64(s, 6);
    out->user_per_minute = sqlite3_column_int64(s, 7);
    out->app_per_minute = sqlite3_column_int64(s, 8);
    out->timeout_ms = sqlite3_column_int64(s, 9);
    out->enabled = sqlite3_column_int(s, 10) != 0;
    out->updated_at = sqlite3_column_int64(s, 11);
}

int store_assistant_get(struct store_conn *sc, int64_t app_id, struct store_assistant *out)
{
    sqlite3_stmt *s = hstmt(sc, HS_ASSISTANT_GET);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__one_row(s, read_assistant, out);
}

int store_assistant_put(struct store_conn *sc, const struct store_assistant *a)
{
    sqlite3_stmt *s = hstmt(sc, HS_ASSISTANT_PUT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, a->app_id);
    sqlite3_bind_int64(s, 2, a->bot_id);
    store__bind_text(s, 3, a->base_url);
    store__bind_text(s, 4, a->model);
    store__bind_text(s, 5, a->api_key);
    store__bind_text(s, 6, a->system_prompt);
    sqlite3_bind_int64(s, 7, a->context_messages);
    sqlite3_bind_int64(s, 8, a->user_per_minute);
    sqlite3_bind_int64(s, 9, a->app_per_minute);
    sqlite3_bind_int64(s, 10, a->timeout_ms);
    sqlite3_bind_int(s, 11, a->enabled);
    sqlite3_bind_int64(s, 12, a->updated_at);
    return store__run(sc, s);
}

int store_assistant_delete(struct store_conn *sc, int64_t app_id)
{
    sqlite3_stmt *s = hstmt(sc, HS_ASSISTANT_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__run_one(sc, s);
}

int store_assistant_bots(struct store_conn *sc,
                         int (*cb)(void *arg, int64_t app_id, int64_t bot_id), void *arg)
{
    sqlite3_stmt *s = hstmt(sc, HS_ASSISTANT_BOTS);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb(arg, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}
