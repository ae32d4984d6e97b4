/*
 * push.h: what the push service offers the rest of the server.
 */
#ifndef PIPIT_PUSH_PUSH_H
#define PIPIT_PUSH_PUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct server;

#define VARIANTS_MAX 5
#define VARIANT_HOLDOUT (-2)

struct bus_batch;
struct store_conn;

/* Writer thread, after the push's COMMIT: expands it to its recipients. */
void push_expand(struct server *srv, int64_t push_id);
/* How often push_resume() runs, to retry expansions a store error stopped. */
#define PUSH_RESUME_INTERVAL_MS 10000
/*
 * Any thread: picks up the expansion of pushes not yet expanded to everyone, a
 * restart or a failed chunk having stopped it (after jobs_start).
 */
void push_resume(struct server *srv);
/*
 * The dispatcher (dispatch.c), a thread of its own: new() before the store
 * threads start, start() after; stop() after the I/O workers, free() after the
 * store threads (until then, they may still kick it).
 */
void push_dispatch_new(struct server *srv);
void push_dispatch_start(struct server *srv);
/* Asks it to stop (it finishes its requests meanwhile); push_dispatch_stop() waits. */
void push_dispatch_stop_begin(struct server *srv);
void push_dispatch_stop(struct server *srv);
void push_dispatch_free(struct server *srv);
/* Any thread, after a commit that queued deliveries: they are due now. */
void push_dispatch_kick(struct server *srv);
/*
 * Hand-off, for a push's first deliveries, without the round trip of a claim
 * or of a read: the writer reserves a request slot per delivery (false: none
 * free, queue it), inserts it as `sending`, fills in what its request needs
 * (push_handoff_new: zeroed, owned by the list), and after COMMIT hands them
 * over, once per batch (taken; the list is emptied). If the rows did not commit,
 * push_handoff_drop frees them and gives their slots back.
 */
struct attempt;
struct store_outgoing;
struct push_handoff {
    struct attempt **a;
    size_t n, cap;
};
bool push_dispatch_reserve(struct server *srv);
void push_dispatch_unreserve(struct server *srv, size_t n);
struct store_outgoing *push_handoff_new(struct push_handoff *h);
/* Appends from's deliveries to to's; from is emptied. */
void push_handoff_move(struct push_handoff *to, struct push_handoff *from);
void push_dispatch_hand(struct server *srv, struct push_handoff *h);
void push_handoff_drop(struct server *srv, struct push_handoff *h);

/*
 * Writer thread, inside a batch, when a delivery of the push may have been its
 * last to settle: if the app's webhooks take push.finished and the push is now
 * finished (store_push_finish), queues the event with the push's counts.
 */
int push_finish_check(struct server *srv, struct store_conn *sc, int64_t app_id,
                      int64_t push_id, int64_t now);

/* ---- the user's wishes (wishes.c), on the writer while a push is expanded ---- */

struct push_facts {
    int64_t push_id;
    const char *category;       /* NULL: none */
    bool high;                  /* priority high */
    bool urgent;                /* the app calls the category urgent */
    int64_t now;                /* ms */
};
enum wish { WISH_SEND, WISH_OPTED_OUT, WISH_CAPPED, WISH_HOLD };
/* The user's stored settings, or NULL (none: every default). */
json_t *wishes_load(struct store_conn *sc, int64_t user_id);
/* What settings say of the push now; WISH_HOLD sets *until (ms), the end of quiet hours. */
int wishes_decide(struct store_conn *sc, int64_t user_id, json_t *settings,
                  const struct push_facts *f, enum wish *w, int64_t *until);
/* The user's zone for send_at_local: timezone, else the quiet hours' zone, else UTC. */
const char *wishes_zone(json_t *settings);
/* NULL when settings are valid for PUT /v1/me/notification-settings, else why not. */
const char *wishes_check(json_t *settings);
/* RFC 3339 with a zone ("2026-12-24T09:00:00Z", "…+08:00") → ms, or -1. */
int64_t wishes_parse_instant(const char *s);
/* Whether text is a local date and time "YYYY-MM-DDTHH:MM". */
bool wishes_local_ok(const char *when);
/* The instant (ms) the wall clock of zone reads `when` ("YYYY-MM-DDTHH:MM"). */
int64_t wishes_local_time(const char *zone, const char *when);

/*
 * Writer thread, in a transaction: decides the pending delivery (a scheduled
 * push, or one held by quiet hours) of a user whose time has come, as the
 * push's expansion would have: it is replaced by in-app, device or suppressed
 * rows. inapp gets the in-app events, to publish after COMMIT; *queued says
 * whether devices were queued.
 */
int push_decide_pending(struct server *srv, struct store_conn *sc, int64_t delivery_id,
                        int64_t push_id, int64_t user_id, bool *queued, struct bus_batch *inapp);
struct chat_call;
struct store_event;
struct user_set;
/*
 * Writer, in the transaction of a new chat message: when a member other than
 * the sender may have no session open, stores the message's notification (a
 * push to the conversation's members, sent to those with no session).
 */
int push_chat_message(struct chat_call *k, struct store_conn *sc, const struct user_set *members,
                      bool group, const struct store_event *ev);
/* Whether a member but sender may have no session open (a large set: assumed so). */
bool push_anyone_offline(struct server *srv, const struct user_set *members, int64_t sender);
/*
 * Writer: a high-priority push of notification (taken) to the members of conv
 * but sender, sent to those with no session open; private_variant (taken, or
 * NULL) is what users who chose private previews get instead.
 */
int push_to_members(struct chat_call *k, struct store_conn *sc, int64_t conv, int64_t sender,
                    json_t *notification, json_t *private_variant, const char *category);
/* After COMMIT (the writer's commit hook argument): publishes, and empties, the batch. */
void push_events_publish(void *hook_arg, struct bus_batch *b);
/* Frees a batch of events that will not be published. */
void push_events_drop(struct bus_batch *b);

/* A topic, tag name or category: 1 to 64 of A-Z a-z 0-9 _ . - */
bool push_name_ok(const char *s);

#endif
