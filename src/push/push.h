/*
 * push.h: what the push service offers the rest of the server.
 */
#ifndef PIPIT_PUSH_PUSH_H
#define PIPIT_PUSH_PUSH_H

#include <stdbool.h>
#include <stdint.h>

struct server;

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
void push_dispatch_stop(struct server *srv);
void push_dispatch_free(struct server *srv);
/* Any thread, after a commit that queued deliveries: they are due now. */
void push_dispatch_kick(struct server *srv);

/* A topic, tag name or category: 1 to 64 of A-Z a-z 0-9 _ . - */
bool push_name_ok(const char *s);

#endif
