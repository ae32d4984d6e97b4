/*
 * webhooks.h: telling an app's business systems what happens, by signed HTTP
 * POSTs to the URLs its admins registered.
 *
 * An event is queued in the transaction that makes it happen (webhooks_emit,
 * on the store writer), one delivery per webhook that takes it: the outbox is
 * the webhook_deliveries table, so an event and its deliveries are durable
 * together, and a crash or restart resumes them. A service thread of its own
 * (like the push dispatcher) claims due deliveries, POSTs them concurrently on
 * libcurl's multi interface, and writes back what became of each: delivered
 * (any 2xx), queued again with capped exponential backoff, or failed once
 * webhook_retry_for has passed. A delivery left `sending` by a crash is sent
 * again with the same id: receivers deduplicate on X-Pipit-Delivery.
 * The wire format and the signature are in docs/operations.md (Webhooks).
 */
#ifndef PIPIT_HOOKS_WEBHOOKS_H
#define PIPIT_HOOKS_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct store_conn;
struct worker;
struct outbound;

enum webhook_event {
    WEBHOOK_MESSAGE_CREATED,
    WEBHOOK_MESSAGE_EDITED,
    WEBHOOK_MESSAGE_RECALLED,
    WEBHOOK_CONVERSATION_CREATED,
    WEBHOOK_MEMBER_JOINED,
    WEBHOOK_MEMBER_LEFT,
    WEBHOOK_USER_CREATED,
    WEBHOOK_PUSH_FINISHED,
    WEBHOOK_PUSH_OPENED,
    WEBHOOK_PUSH_CLICKED,
    WEBHOOK_EVENT_COUNT
};

/* "message.created", …; NULL past the end. */
const char *webhook_event_name(enum webhook_event e);
/* The event so named, or -1. */
int webhook_event_named(const char *name);

/*
 * Writer thread, inside the transaction of the event: queues `data` (a JSON
 * object's text) for the app's enabled webhooks that take the event. Costs a
 * lookup in memory when none does. 0, or PIPIT_ESTORE (the caller's write
 * fails with it: an event is not stored without its deliveries).
 */
int webhooks_emit(struct server *srv, struct store_conn *sc, int64_t app_id,
                  enum webhook_event e, const char *data, int64_t now);
/*
 * Writer thread, the same for a message event in a conversation: queues it for
 * the webhooks of the bots among its members (but the sender).
 */
struct user_set;
int webhooks_emit_bots(struct server *srv, struct store_conn *sc, int64_t app_id,
                       enum webhook_event e, const char *data, int64_t now,
                       const struct user_set *members, int64_t sender);
/* Writer thread: whether any enabled webhook of the app takes the event (false on a store error). */
bool webhooks_wanted(struct server *srv, struct store_conn *sc, int64_t app_id,
                     enum webhook_event e);
/* Writer thread: an admin changed the app's webhooks; emit reads them again. */
void webhooks_changed(struct server *srv);
/* Writer thread: a delivery was queued another way (a ping, a retry): wake the sender. */
void webhooks_queued(struct server *srv);
/* Writer thread, once a batch has ended (committed or not): wakes the sender. */
void webhooks_batch_end(struct server *srv, bool committed);

/* ---- for the before-send hook (before_send.c), which shares the sender's thread ---- */

/* Any thread: the sender's worker, to post to (NULL before start). */
struct worker *webhooks_worker(struct server *srv);
/* The sender's thread: its connection pool, NULL once it is stopping. */
struct outbound *webhooks_outbound(struct server *srv);
struct outbound_guard;
/*
 * Sets what every request to a webhook URL shares: time limit, no redirects,
 * the schemes webhook_allow_http allows and, unless webhook_allow_private, the
 * connect-time address check counting into g.
 */
void webhooks_request_options(struct server *srv, void *easy, const char *url,
                              int64_t timeout_ms, struct outbound_guard *g);
/* The X-Pipit-Signature header line for body, signed now with secret. */
void webhooks_signature(const char *secret, const char *body, size_t len, char *out,
                        size_t cap);

/*
 * The sender, a thread of its own: new() before the store threads start,
 * start() after; stop() after the I/O workers, free() after the store threads.
 */
void webhooks_new(struct server *srv);
void webhooks_start(struct server *srv);
void webhooks_stop_begin(struct server *srv);
void webhooks_stop(struct server *srv);
void webhooks_free(struct server *srv);
/* Any thread: deliveries were queued (or retried) and are due now. */
void webhooks_kick(struct server *srv);

#endif
