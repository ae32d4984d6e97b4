/*
 * bus.h: real-time delivery of events to the online sessions of users.
 *
 * An event is serialized once (struct bus_event, refcounted, immutable) and
 * addressed to a set of users. bus_flush() hands a batch of events to every
 * worker in one job per worker; each worker looks the users up in its own
 * table of authenticated sessions and writes the same bytes to each of them.
 * Worker inboxes are FIFO, so events flushed in order by one thread (the store
 * writer, in seq order) reach every session in that order.
 *
 * Presence: the bus also counts each user's sessions across workers, so the
 * first connect and the last disconnect of a user can be told to contacts.
 *
 * Threads: bus_event_* and bus_batch_* on any thread (one owner per batch);
 * bus_session_* on the session's worker loop.
 */
#ifndef PIPIT_CHAT_BUS_H
#define PIPIT_CHAT_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct conn;
struct worker;

/* A sorted set of user ids, shared read-only between threads. */
struct user_set {
    atomic_int refs;
    size_t n;
    int64_t ids[];
};

struct user_set *user_set_new(size_t cap);  /* n = 0; caller fills ids, then sorts */
/* A sorted set of a copy of ids[0..n). */
struct user_set *user_set_of(const int64_t *ids, size_t n);
void user_set_sort(struct user_set *s);     /* sorts and drops duplicates */
bool user_set_has(const struct user_set *s, int64_t id);
struct user_set *user_set_ref(struct user_set *s);
void user_set_unref(struct user_set *s);

struct bus_event {
    atomic_int refs;
    struct user_set *to;
    int64_t skip_user;          /* none of this user's sessions get it (0: none) */
    size_t len;
    char text[];
};

/* Copies text; takes the caller's reference to `to`. */
struct bus_event *bus_event_new(const char *text, size_t len, struct user_set *to);
void bus_event_unref(struct bus_event *ev);

struct bus_batch {
    struct bus_event **evs;
    size_t n;
    size_t cap;
};

/* Takes ownership of ev. */
void bus_batch_add(struct bus_batch *b, struct bus_event *ev);
/* Sends the batch to every worker, in order, and empties it. */
void bus_flush(struct server *srv, struct bus_batch *b);
/* One event, at once. */
void bus_publish(struct server *srv, struct bus_event *ev);

/* Presence state shared by the workers (a mutex inside). */
struct presence;
struct presence *presence_new(void);
void presence_free(struct presence *p);
/* Whether the user has a session anywhere; *last_seen is ms of the last disconnect (0: none). */
bool presence_get(struct presence *p, int64_t user_id, int64_t *last_seen);
/* Whether a WebSocket authenticated with this token is open anywhere (any thread). */
bool presence_token_online(struct presence *p, int64_t token_id);

/*
 * Publishes {"ev":"presence","user","online","last_seen"} to `to` (taken), with
 * the state as it is now. Reading and publishing happen under the presence lock,
 * so of two announcements racing on two threads the later one always carries the
 * later state: contacts end on the truth.
 */
void presence_announce(struct server *srv, int64_t user_id, struct user_set *to);

/*
 * Worker loop: a session authenticated with token_id joins / leaves its worker's
 * table. Returns true when this was the user's first (or last) session on the server.
 */
bool bus_session_up(struct conn *c, int64_t user_id, int64_t token_id);
bool bus_session_down(struct conn *c, int64_t user_id, int64_t token_id);

#endif
