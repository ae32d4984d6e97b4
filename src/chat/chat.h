/*
 * chat.h: conversations and messages (docs/protocol.md, docs/openapi.yaml).
 *
 * Every chat operation is an action in one table (chat.c): the WebSocket op and
 * the REST route of the same operation build the same JSON arguments and get the
 * same JSON result, so the two interfaces cannot drift apart. An action runs on
 * the store writer (if it writes) or a reader; its answer goes back to the
 * caller's worker, and the events it produced are published to the members'
 * sessions right after the batch commits, in commit order.
 */
#ifndef PIPIT_CHAT_CHAT_H
#define PIPIT_CHAT_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct server;
struct conn;
struct http_exchange;
struct store_conn;

/* Writer-thread state: the members cache and the batch of events to publish. */
struct chat;

struct chat *chat_new(struct server *srv);
void chat_free(struct chat *ch);
struct bus_event;
/*
 * Writer thread, from a job's committed() hook: publishes ev (taken) with the
 * batch's chat events, after COMMIT and in commit order.
 */
void chat_publish_committed(struct chat *ch, struct bus_event *ev);
/* The store writer's commit hooks (jobs_set_commit_hook); the end also wakes the webhook sender. */
int chat_commit_begin(void *arg, struct store_conn *sc);
void chat_commit_end(void *arg, bool ok);

/* Who asks, as the session or token lookup found them. */
struct chat_caller {
    int64_t user_id;            /* 0 for an API key */
    int64_t app_id;
    bool app_admin;
    unsigned key_scopes;        /* an API key's STORE_SCOPE_* bits; 0 for a user */
    int64_t key_id;             /* the API key's id; 0 for a user */
    int64_t token_id;           /* the user's session; 0 for an API key */
};

/* Calls (calls.c): their state, on the writer; the ticker's check (any thread, ~1/s). */
void chat_calls_new(struct server *srv);
void chat_calls_free(struct server *srv);
void chat_calls_tick(struct server *srv, int64_t now);

/* Whether name is a chat op of the WebSocket protocol. */
bool chat_is_op(const char *name);
/* Appends the name of every chat op of the WebSocket protocol to names (a JSON array). */
void chat_op_names(json_t *names);

/*
 * Runs action `name` for a WebSocket request: answers {"re":id,…} on c. args is
 * the request object (borrowed; the needed parts are copied).
 */
void chat_call_ws(struct conn *c, const struct chat_caller *who, const char *name,
                  json_t *id, json_t *args);

/*
 * Runs action `name` for the server itself (the assistant, as its bot user),
 * from worker origin's loop, without limits or a before-send hook: done(arg,
 * rc, result, why) runs there (result borrowed, NULL unless rc is 0; why the
 * error's message, or NULL). args is taken.
 */
struct worker;
void chat_call_internal(struct server *srv, struct worker *origin, const struct chat_caller *who,
                        const char *name, json_t *args,
                        void (*done)(void *arg, int rc, json_t *result, const char *why),
                        void *arg);

/* Runs action `name` for a REST request; args is taken (owned). */
void chat_call_http(struct http_exchange *x, const struct chat_caller *who, const char *name,
                    json_t *args);

/* A user's first session came up or last one went down: tell their contacts. */
void chat_presence_changed(struct server *srv, int64_t user_id);

#endif
