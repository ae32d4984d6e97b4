/*
 * store_hooks.h: webhooks and their deliveries (migration 0018) in the store.
 *
 * Same rules as store.h: one connection per thread, writes only on the store
 * writer inside its batch, 0 or a PIPIT_E* code. Text of rows handed to a
 * callback is borrowed for the call; rows returned through an out-parameter
 * own theirs (store_webhook_cleanup, store_webhook_delivery_cleanup).
 */
#ifndef PIPIT_STORE_STORE_HOOKS_H
#define PIPIT_STORE_STORE_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_WEBHOOK_SECRET_MAX 64
#define STORE_WEBHOOK_EVENT_MAX 32

struct store_webhook {
    int64_t id;
    int64_t app_id;
    char *url;
    char *events;               /* JSON array text */
    char *description;          /* NULL: none */
    char secret[STORE_WEBHOOK_SECRET_MAX + 1];
    bool enabled;
    int64_t created_at, updated_at; /* ms */
    int64_t queued, failed;     /* deliveries waiting (queued or sending), and failed */
    int64_t bot_id;             /* a bot's own webhook (api/bots.c); 0: the app's */
};

struct store_webhook_delivery {
    int64_t id;
    int64_t webhook_id;
    int64_t app_id;
    char event[STORE_WEBHOOK_EVENT_MAX + 1];
    const char *state;          /* static: "queued", "sending", "delivered", "failed" */
    int64_t attempts;           /* made so far (a claim counts one) */
    int64_t created_at, since;  /* ms: the event, and the start of its retry window */
    int64_t next_at;            /* ms; 0: none (not queued) */
    int64_t finished_at;        /* ms; 0: not finished */
    int64_t last_status;        /* HTTP status of the last answer; 0: none */
    char *last_error;           /* NULL: none */
    /* Claims only: what to send. */
    char *payload;              /* the event's data, JSON text */
    char *url;
    char secret[STORE_WEBHOOK_SECRET_MAX + 1];
};

void store_webhook_cleanup(struct store_webhook *w);
void store_webhook_delivery_cleanup(struct store_webhook_delivery *d);

/* Inserts w (id, counts ignored); sets w->id. */
int store_webhook_insert(struct store_conn *sc, struct store_webhook *w);
/* The app's webhook, with its counts, or PIPIT_ENOT_FOUND. */
int store_webhook_get(struct store_conn *sc, int64_t app_id, int64_t id, struct store_webhook *out);
/* Writes back url, events, description, enabled, secret and updated_at. */
int store_webhook_update(struct store_conn *sc, const struct store_webhook *w);
/* Deletes the webhook and its deliveries; PIPIT_ENOT_FOUND if the app has none such. */
int store_webhook_delete(struct store_conn *sc, int64_t app_id, int64_t id);
/* The app's webhooks (not bots') with ids below before (0: any), newest first, at most limit. */
int store_webhook_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                       int (*cb)(void *arg, const struct store_webhook *w), void *arg);
int store_webhook_count(struct store_conn *sc, int64_t app_id, int64_t *count);
/*
 * Every enabled webhook's app, event list (JSON text), id and bot (0: the
 * app's own), for the writer's cache.
 */
int store_webhook_subscriptions(struct store_conn *sc,
                                int (*cb)(void *arg, int64_t app_id, const char *events,
                                          int64_t id, int64_t bot_id),
                                void *arg);
/* The bot's webhook, or PIPIT_ENOT_FOUND. */
int store_webhook_of_bot(struct store_conn *sc, int64_t bot_id, struct store_webhook *out);

/*
 * Queues the event (data: JSON text) for every enabled webhook of the app (not
 * a bot's) that takes its type (or "*"), due now; *queued: how many deliveries
 * were made.
 */
int store_webhook_enqueue(struct store_conn *sc, int64_t app_id, const char *event,
                          const char *data, int64_t now, int64_t *queued);
/* Queues it for one webhook of the app, whatever it takes; *id: the delivery. */
int store_webhook_enqueue_one(struct store_conn *sc, int64_t app_id, int64_t webhook_id,
                              const char *event, const char *data, int64_t now, int64_t *id);
/* Deliveries a stopped run left `sending` are queued again, due now. */
int store_webhook_recover(struct store_conn *sc, int64_t *requeued);
/*
 * Up to max deliveries due by now, oldest due first, each marked `sending` with
 * one more attempt; cb gets each (with payload, url and secret), and takes it
 * (its strings are the callee's: it must clean it up).
 */
int store_webhook_claim(struct store_conn *sc, int64_t now, int max,
                        int (*cb)(void *arg, struct store_webhook_delivery *d), void *arg);
/* When the next queued delivery is due; -1: none. */
int store_webhook_next_due(struct store_conn *sc, int64_t *next_at);
/*
 * What became of a claimed delivery: state "delivered" (payload dropped),
 * "failed" (finished, payload kept) or "queued" (due at next_at); status 0 and
 * error NULL when there was none.
 */
int store_webhook_settle(struct store_conn *sc, int64_t id, const char *state, int64_t next_at,
                         int64_t status, const char *error, int64_t now);
/* The webhook's deliveries (state NULL: any) with ids below before (0: any), newest first. */
int store_webhook_deliveries(struct store_conn *sc, int64_t webhook_id, const char *state,
                             int64_t before, int limit,
                             int (*cb)(void *arg, const struct store_webhook_delivery *d),
                             void *arg);
/*
 * A failed delivery of the webhook queued again, due now, with a new retry
 * window and its attempts counted from 0 (the backoff starts over); out: it as it is then. PIPIT_ENOT_FOUND, or PIPIT_ECONFLICT when it
 * has not failed.
 */
int store_webhook_retry(struct store_conn *sc, int64_t webhook_id, int64_t id, int64_t now,
                        struct store_webhook_delivery *out);
/* Deletes up to limit deliveries finished before `before` (ms). */
int store_webhook_sweep(struct store_conn *sc, int64_t before, int limit, int64_t *deleted);

/* An app's before-send hook. */
struct store_before_send {
    int64_t app_id;
    char *url;
    char secret[STORE_WEBHOOK_SECRET_MAX + 1];
    int64_t timeout_ms;
    bool reject_on_failure;     /* fallback "reject" (else "allow") */
    int64_t updated_at;
};
void store_before_send_cleanup(struct store_before_send *b);
/* PIPIT_ENOT_FOUND when the app has none. */
int store_before_send_get(struct store_conn *sc, int64_t app_id, struct store_before_send *out);
/* Sets the app's hook (replacing it). */
int store_before_send_put(struct store_conn *sc, const struct store_before_send *b);
int store_before_send_delete(struct store_conn *sc, int64_t app_id);
/* The apps that have one. */
int store_before_send_apps(struct store_conn *sc, int (*cb)(void *arg, int64_t v), void *arg);

/* An app's assistant (hooks/assistant.h). */
struct store_assistant {
    int64_t app_id;
    int64_t bot_id;
    char *base_url;
    char *model;
    char *api_key;              /* NULL: none */
    char *system_prompt;        /* NULL: none */
    int64_t context_messages;
    int64_t user_per_minute, app_per_minute;
    int64_t timeout_ms;
    bool enabled;
    int64_t updated_at;
};
void store_assistant_cleanup(struct store_assistant *a);
/* PIPIT_ENOT_FOUND when the app has none. */
int store_assistant_get(struct store_conn *sc, int64_t app_id, struct store_assistant *out);
int store_assistant_put(struct store_conn *sc, const struct store_assistant *a);
int store_assistant_delete(struct store_conn *sc, int64_t app_id);
/* Every enabled assistant's app and bot. */
int store_assistant_bots(struct store_conn *sc,
                         int (*cb)(void *arg, int64_t app_id, int64_t bot_id), void *arg);

#endif
