/*
 * api.h: the REST routes and WebSocket ops, and what they share.
 *
 * router.c holds the route table and the steps every request goes through
 * (method check, JSON body, bearer token, admin role); each other file holds
 * the handlers of one area: accounts.c (register, login, logout, me, admin
 * user creation and password reset), admin.c (the admin console's store
 * actions), files.c (static web files), session.c (WebSocket ops and token
 * checks); the two operational routes (health, metrics) live in router.c. Handlers answer with http_respond*() exactly once, at once
 * or from a job's done callback.
 *
 * Loop thread only, except the job run() functions, which run on store threads
 * and touch only their job.
 */
#ifndef PIPIT_API_API_H
#define PIPIT_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "api/route_path.h"
#include "http/http_conn.h"
#include "net/conn.h"
#include "store/store.h"

struct server;

/*
 * Who made a request: a session token's user, as the token lookup found them,
 * or an API key (is_key: then only user.app_id is set, and scopes).
 */
struct api_user {
    int64_t token_id;
    int64_t token_expires_at;
    struct store_user user;
    bool is_key;
    int64_t key_id;
    unsigned scopes;            /* STORE_SCOPE_* bits; admin implies the others */
};

/*
 * A user whose app's policy asks them for a second factor they have not set up
 * yet: their session may only set it up (the routes marked R_ENROL, no WebSocket).
 */
static inline bool api_mfa_enrolment_pending(const struct api_user *who)
{
    return !who->is_key && who->user.mfa_required && who->user.mfa_enabled_at == 0;
}

/* Per-request state kept by the router in x->ctx. */
struct api_request {
    json_t *body;              /* parsed JSON body, or NULL */
    char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX]; /* the path's "{}" segments; "" if none */
    bool authenticated;
    struct api_user who;
    /* A handler's own state that outlives its call (an upload's), told when the exchange ends. */
    void *state;
    void (*state_end)(void *state);
};

/*
 * Writes the route table and the WebSocket ops as JSON (pipitd --print-routes),
 * for tests that must cover every one of them (the authorization matrix).
 */
void api_print_routes(FILE *out);

/* Installs the HTTP handler and WebSocket handlers into srv. */
void api_install(struct server *srv);

static inline struct api_request *api_request_of(struct http_exchange *x)
{
    return x->ctx;
}

/*
 * Looks up a bearer token or API key off the loop; cb runs on the connection's loop with
 * rc 0 and the user, or PIPIT_EUNAUTHORIZED. The connection is held until then;
 * cb runs even if it closed meanwhile (responding is then a no-op).
 */
typedef void (*api_auth_cb)(struct conn *c, int rc, const struct api_user *who, void *arg);
void api_authenticate(struct conn *c, const char *token, api_auth_cb cb, void *arg);

/*
 * Takes a token from the bucket of the request's client (net/limits.h): its
 * address's when who is NULL (not signed in), else the user's (API keys are not
 * limited). Answers 429 with Retry-After and returns non-zero when it is empty.
 */
int api_rate_limit(struct http_exchange *x, const struct api_user *who);

/* {"id","username"} of a user (plus role, display_name, created_at when full). */
json_t *api_user_json(const struct store_user *u, bool full);

/* Reads a string member; PIPIT_EBAD_REQUEST with a message when absent or not a string. */
int api_string_field(json_t *obj, const char *key, const char **out, const char **why);

/*
 * After token_id was deleted: no worker trusts what it cached (at once, before
 * this returns), and every worker closes the WebSockets authenticated with it (1008).
 */
void api_revoke_token(struct server *srv, int64_t token_id);
/*
 * After every token of user_id (but keep_token_id, 0: none) was deleted (any
 * thread): as api_revoke_token, for every WebSocket of the user on those
 * tokens, closed with `reason` (static text).
 */
void api_revoke_user(struct server *srv, int64_t user_id, int64_t keep_token_id,
                     const char *reason);
/* The caller as the audit log names it: user:<id> or key:<id> (out: AUDIT_ACTOR_MAX bytes). */
void api_actor(const struct api_user *who, char *out);
/* Any thread, after a key's revocation commits: no worker trusts what it cached before. */
void api_revoke_keys(struct server *srv);
/* Any thread, after a change to a user that lookups cache (role, name) commits: the same. */
void api_auth_changed(struct server *srv);
/* Loop thread: forgets every token and key checked lately (they are looked up again). */
void api_auth_cache_clear(struct worker *w);


/* Handlers. */
void accounts_register(struct http_exchange *x);
void accounts_login(struct http_exchange *x);
void accounts_logout(struct http_exchange *x);
void accounts_me(struct http_exchange *x);
void accounts_admin_create_user(struct http_exchange *x);
void accounts_admin_set_password(struct http_exchange *x);
void accounts_change_password(struct http_exchange *x);
void accounts_mfa_begin(struct http_exchange *x);
void accounts_mfa_confirm(struct http_exchange *x);
void accounts_mfa_disable(struct http_exchange *x);
void accounts_mfa_recovery_codes(struct http_exchange *x);
void push_vapid_public_key(struct http_exchange *x);
void system_healthz(struct http_exchange *x);
void system_metrics(struct http_exchange *x);
void files_serve(struct http_exchange *x);
void session_upgrade(struct http_exchange *x);
/* GET /v1/admin/export (api/export.c). */
void export_download(struct http_exchange *x);
/* GET /v1/turn (api/turn.c). */
void turn_credentials(struct http_exchange *x);

/* The WebSocket ops' names (the session's own and the chat ops), as a JSON array. */
json_t *session_op_names(void);
void session_on_open(struct conn *c);
void session_on_text(struct conn *c, const char *data, size_t len);
void session_on_close(struct conn *c);

#endif
