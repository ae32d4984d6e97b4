/*
 * push.h: what the push service offers the rest of the server.
 */
#ifndef PIPIT_PUSH_PUSH_H
#define PIPIT_PUSH_PUSH_H

#include <stdbool.h>

struct server;

#include <stdint.h>

/* Writer thread, after the push's COMMIT: expands it to its recipients. */
void push_expand(struct server *srv, int64_t push_id);
/* Picks up the expansion of pushes a restart interrupted (after jobs_start). */
void push_resume(struct server *srv);
/* A topic, tag name or category: 1 to 64 of A-Z a-z 0-9 _ . - */
bool push_name_ok(const char *s);

#endif
