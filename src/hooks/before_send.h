/*
 * before_send.h: the before-send hook, an app's business system asked about
 * every new message before it is stored.
 *
 * A send in an app with a hook takes three steps before its write is queued:
 * a reader checks that the sender is a member (nobody else's text is shown to
 * the hook) and loads the hook; the webhooks service thread POSTs the message
 * (signed like a webhook) and reads the answer — allow, reject with a reason
 * for the sender, or replace the body; then the sender's worker carries on.
 * No answer within the hook's timeout, or a bad one, counts as its fallback
 * (allow or reject). Nothing blocks an I/O worker. The wire format is in
 * docs/operations.md (Webhooks).
 */
#ifndef PIPIT_HOOKS_BEFORE_SEND_H
#define PIPIT_HOOKS_BEFORE_SEND_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct chat_call;

/* Reads which apps have a hook, after jobs_start; until then every app may. */
void before_send_load(struct server *srv);
void before_send_free(struct server *srv);
/* Any thread: whether the app may have a hook (false: surely none). */
bool before_send_wanted(struct server *srv, int64_t app_id);
/* Writer thread, after the COMMIT of a change: the app has a hook now, or not. */
void before_send_set(struct server *srv, int64_t app_id, bool has);

/*
 * The caller's worker loop, for a prepared send (k->body_text): runs the hook,
 * then resume(k, rc, orphaned) on the same loop: rc 0 to store the message (its
 * body perhaps replaced and prepared again), or an error with k->why set.
 * orphaned: the worker stopped meanwhile; resume then runs on another thread.
 */
void before_send_run(struct chat_call *k,
                     void (*resume)(struct chat_call *k, int rc, bool orphaned));

#endif
