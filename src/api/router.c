/*
 * router.c: the route table and the common steps of every request.
 *
 * Paths are matched exactly; anything outside /v1/ and the two operational
 * paths falls through to the static web files. A path that exists with another
 * method gets 405 and an Allow header listing the methods it has.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/route_path.h"
#include "chat/chat.h"
#include "files/files.h"
#include "net/limits.h"
#include "server.h"
#include "store/store_push.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

#define R_AUTH 1u   /* needs a bearer token: a user's session (or an API key, see K_*) */
#define R_ADMIN 2u  /* … of an admin, when it is a user's */
#define R_JSON 4u   /* takes a JSON object body */
#define R_BODY_APART 8u /* the action gets the body as args.body, apart from the path's */
#define R_FILTERS 16u   /* search's query filters for the action too (query_filters) */
#define R_STREAM 32u    /* the handler reads the body as it comes (an upload): api_stream_limit */
#define R_AUDIT_FILTERS 64u /* the audit log's query filters for the action too */
#define R_ENROL 128u    /* open to a session that must set up MFA first (api_mfa_enrolment_pending) */
#define R_STATE_FILTER 256u /* ?state= for the action too (a webhook's deliveries) */
/* A streamed body's hard ceiling; the handler checks the app's cap once the caller is known. */
#define STREAM_MAX ((uint64_t)1 << 40)
/* The API key scopes a route accepts (any one of them); none: keys get 403. */
#define K_PUSH (STORE_SCOPE_PUSH << 16)
#define K_USERS (STORE_SCOPE_USERS << 16)
#define K_ADMIN (STORE_SCOPE_ADMIN << 16)
#define KEY_SCOPES(flags) ((flags) >> 16)

/*
 * A path segment "{}" matches one non-empty segment and is handed to the
 * handler as a parameter. A route with an action runs that action
 * (chat/chat.h) with the JSON body, the path parameters (named by `params`:
 * "conv", "id", "seq" and "delivery" are numeric ids, "user" an id or a username, others strings)
 * and, for a GET, the query's paging numbers and search text "q" as its arguments.
 */
struct route {
    enum http_method method;
    const char *path;
    const char *name;   /* metrics label */
    void (*handler)(struct http_exchange *x);
    unsigned flags;
    const char *action;
    const char *params[ROUTE_MAX_PARAMS];
};

static const struct route routes[] = {
    { HTTP_GET, "/healthz", "healthz", system_healthz, 0, NULL, { NULL } },
    { HTTP_GET, "/metrics", "metrics", system_metrics, 0, NULL, { NULL } },
    { HTTP_POST, "/v1/auth/register", "auth_register", accounts_register, R_JSON, NULL, { NULL } },
    { HTTP_POST, "/v1/auth/login", "auth_login", accounts_login, R_JSON, NULL, { NULL } },
    { HTTP_POST, "/v1/auth/logout", "auth_logout", accounts_logout, R_AUTH | R_ENROL, NULL,
      { NULL } },
    { HTTP_GET, "/v1/me", "me", accounts_me, R_AUTH | R_ENROL, NULL, { NULL } },
    { HTTP_POST, "/v1/me/password", "me_password", accounts_change_password,
      R_AUTH | R_JSON | R_ENROL, NULL, { NULL } },
    { HTTP_GET, "/v1/me/sessions", "me_session_list", NULL, R_AUTH | R_ENROL, "me_session_list",
      { NULL } },
    { HTTP_DELETE, "/v1/me/sessions", "me_sessions_revoke", NULL, R_AUTH | R_ENROL,
      "me_sessions_revoke", { NULL } },
    { HTTP_DELETE, "/v1/me/sessions/{}", "me_session_revoke", NULL, R_AUTH | R_ENROL,
      "me_session_revoke", { "id" } },
    { HTTP_GET, "/v1/me/mfa", "mfa_status", NULL, R_AUTH | R_ENROL, "mfa_status", { NULL } },
    { HTTP_POST, "/v1/me/mfa", "mfa_begin", accounts_mfa_begin, R_AUTH | R_JSON | R_ENROL, NULL,
      { NULL } },
    { HTTP_POST, "/v1/me/mfa/confirm", "mfa_confirm", accounts_mfa_confirm,
      R_AUTH | R_JSON | R_ENROL, NULL, { NULL } },
    { HTTP_POST, "/v1/me/mfa/disable", "mfa_disable", accounts_mfa_disable, R_AUTH | R_JSON,
      NULL, { NULL } },
    { HTTP_POST, "/v1/me/mfa/recovery-codes", "mfa_recovery_codes", accounts_mfa_recovery_codes,
      R_AUTH | R_JSON, NULL, { NULL } },
    { HTTP_POST, "/v1/admin/users", "admin_users_create", accounts_admin_create_user,
      R_AUTH | R_ADMIN | R_JSON | K_USERS, NULL, { NULL } },
    /* The admin console (api/admin.c): users, their sessions, conversations, stats. */
    { HTTP_GET, "/v1/admin/users", "admin_user_list", NULL, R_AUTH | R_ADMIN | K_USERS,
      "admin_user_list", { NULL } },
    { HTTP_GET, "/v1/admin/users/{}", "admin_user_get", NULL, R_AUTH | R_ADMIN | K_USERS,
      "admin_user_get", { "id" } },
    { HTTP_PATCH, "/v1/admin/users/{}", "admin_user_update", NULL,
      R_AUTH | R_ADMIN | R_JSON | K_USERS, "admin_user_update", { "id" } },
    { HTTP_POST, "/v1/admin/users/{}/password", "admin_user_password",
      accounts_admin_set_password, R_AUTH | R_ADMIN | R_JSON | K_USERS, NULL, { NULL } },
    { HTTP_GET, "/v1/admin/users/{}/sessions", "admin_session_list", NULL,
      R_AUTH | R_ADMIN | K_USERS, "admin_session_list", { "id" } },
    { HTTP_DELETE, "/v1/admin/users/{}/sessions", "admin_sessions_revoke", NULL,
      R_AUTH | R_ADMIN | K_USERS, "admin_sessions_revoke", { "id" } },
    { HTTP_DELETE, "/v1/admin/users/{}/mfa", "admin_mfa_reset", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "admin_mfa_reset", { "id" } },
    { HTTP_DELETE, "/v1/admin/users/{}/sessions/{}", "admin_session_revoke", NULL,
      R_AUTH | R_ADMIN | K_USERS, "admin_session_revoke", { "id", "session" } },
    { HTTP_GET, "/v1/admin/conversations", "admin_conv_list", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "admin_conv_list", { NULL } },
    { HTTP_GET, "/v1/admin/conversations/{}", "admin_conv_get", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "admin_conv_get", { "conv" } },
    { HTTP_DELETE, "/v1/admin/conversations/{}", "admin_conv_delete", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "admin_conv_delete", { "conv" } },
    { HTTP_PATCH, "/v1/admin/conversations/{}", "admin_conv_update", NULL,
      R_AUTH | R_ADMIN | R_JSON | K_ADMIN, "admin_conv_update", { "conv" } },
    { HTTP_POST, "/v1/admin/holds", "hold_create", NULL, R_AUTH | R_ADMIN | R_JSON | K_ADMIN,
      "hold_create", { NULL } },
    { HTTP_GET, "/v1/admin/holds", "hold_list", NULL, R_AUTH | R_ADMIN | K_ADMIN, "hold_list",
      { NULL } },
    { HTTP_DELETE, "/v1/admin/holds/{}", "hold_lift", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "hold_lift", { "id" } },
    { HTTP_GET, "/v1/admin/export", "admin_export", export_download, R_AUTH | R_ADMIN | K_ADMIN,
      NULL, { NULL } },
    { HTTP_POST, "/v1/admin/users/{}/erase", "user_erase", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "user_erase", { "id" } },
    { HTTP_GET, "/v1/admin/conversations/{}/members", "admin_conv_members", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "admin_conv_members", { "conv" } },
    { HTTP_GET, "/v1/admin/content-flags", "content_flag_list", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "content_flag_list", { NULL } },
    { HTTP_DELETE, "/v1/admin/content-flags/{}", "content_flag_resolve", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "content_flag_resolve", { "id" } },
    { HTTP_GET, "/v1/admin/stats", "admin_stats", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "admin_stats", { NULL } },
    { HTTP_GET, "/v1/admin/audit", "admin_audit_list", NULL,
      R_AUTH | R_ADMIN | R_AUDIT_FILTERS | K_ADMIN, "admin_audit_list", { NULL } },
    { HTTP_GET, "/v1/admin/audit/verify", "admin_audit_verify", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "admin_audit_verify", { NULL } },
    { HTTP_POST, "/v1/admin/api-keys", "api_key_create", NULL, R_AUTH | R_ADMIN | R_JSON | K_ADMIN,
      "api_key_create", { NULL } },
    { HTTP_GET, "/v1/admin/api-keys", "api_key_list", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "api_key_list", { NULL } },
    { HTTP_DELETE, "/v1/admin/api-keys/{}", "api_key_revoke", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "api_key_revoke", { "id" } },
    { HTTP_POST, "/v1/admin/webhooks", "webhook_create", NULL,
      R_AUTH | R_ADMIN | R_JSON | K_ADMIN, "webhook_create", { NULL } },
    { HTTP_GET, "/v1/admin/webhooks", "webhook_list", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "webhook_list", { NULL } },
    { HTTP_GET, "/v1/admin/webhooks/{}", "webhook_get", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "webhook_get", { "id" } },
    { HTTP_PATCH, "/v1/admin/webhooks/{}", "webhook_update", NULL,
      R_AUTH | R_ADMIN | R_JSON | K_ADMIN, "webhook_update", { "id" } },
    { HTTP_DELETE, "/v1/admin/webhooks/{}", "webhook_delete", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "webhook_delete", { "id" } },
    { HTTP_POST, "/v1/admin/webhooks/{}/secret", "webhook_rotate_secret", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "webhook_rotate_secret", { "id" } },
    { HTTP_POST, "/v1/admin/webhooks/{}/ping", "webhook_ping", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "webhook_ping", { "id" } },
    { HTTP_GET, "/v1/admin/webhooks/{}/deliveries", "webhook_deliveries", NULL,
      R_AUTH | R_ADMIN | R_STATE_FILTER | K_ADMIN, "webhook_deliveries", { "id" } },
    { HTTP_POST, "/v1/admin/webhooks/{}/deliveries/{}/retry", "webhook_retry", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "webhook_retry", { "id", "delivery" } },
    { HTTP_GET, "/v1/admin/assistant", "assistant_get", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "assistant_get", { NULL } },
    { HTTP_PUT, "/v1/admin/assistant", "assistant_put", NULL,
      R_AUTH | R_ADMIN | R_JSON | K_ADMIN, "assistant_put", { NULL } },
    { HTTP_DELETE, "/v1/admin/assistant", "assistant_delete", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "assistant_delete", { NULL } },
    { HTTP_GET, "/v1/admin/before-send", "before_send_get", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "before_send_get", { NULL } },
    { HTTP_PUT, "/v1/admin/before-send", "before_send_put", NULL,
      R_AUTH | R_ADMIN | R_JSON | K_ADMIN, "before_send_put", { NULL } },
    { HTTP_DELETE, "/v1/admin/before-send", "before_send_delete", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "before_send_delete", { NULL } },
    { HTTP_POST, "/v1/admin/before-send/secret", "before_send_rotate_secret", NULL,
      R_AUTH | R_ADMIN | K_ADMIN, "before_send_rotate_secret", { NULL } },
    { HTTP_POST, "/v1/admin/bots", "bot_create", NULL, R_AUTH | R_ADMIN | R_JSON | K_ADMIN,
      "bot_create", { NULL } },
    { HTTP_GET, "/v1/admin/bots", "bot_list", NULL, R_AUTH | R_ADMIN | K_ADMIN, "bot_list",
      { NULL } },
    { HTTP_GET, "/v1/admin/bots/{}", "bot_get", NULL, R_AUTH | R_ADMIN | K_ADMIN, "bot_get",
      { "id" } },
    { HTTP_PATCH, "/v1/admin/bots/{}", "bot_update", NULL, R_AUTH | R_ADMIN | R_JSON | K_ADMIN,
      "bot_update", { "id" } },
    { HTTP_DELETE, "/v1/admin/bots/{}", "bot_delete", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "bot_delete", { "id" } },
    { HTTP_POST, "/v1/admin/bots/{}/key", "bot_rotate_key", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "bot_rotate_key", { "id" } },
    { HTTP_GET, "/v1/turn", "turn", turn_credentials, R_AUTH, NULL, { NULL } },
    { HTTP_POST, "/v1/devices", "device_register", NULL, R_AUTH | R_JSON, "device_register", { NULL } },
    { HTTP_GET, "/v1/devices", "device_list", NULL, R_AUTH, "device_list", { NULL } },
    { HTTP_DELETE, "/v1/devices/{}", "device_delete", NULL, R_AUTH, "device_delete", { "id" } },
    { HTTP_PUT, "/v1/me/topics/{}", "topic_subscribe", NULL, R_AUTH, "topic_subscribe",
      { "topic" } },
    { HTTP_DELETE, "/v1/me/topics/{}", "topic_unsubscribe", NULL, R_AUTH, "topic_unsubscribe",
      { "topic" } },
    { HTTP_GET, "/v1/me/topics", "topic_list", NULL, R_AUTH, "topic_list", { NULL } },
    { HTTP_PUT, "/v1/users/{}/tags", "tags_put", NULL,
      R_AUTH | R_ADMIN | R_JSON | R_BODY_APART | K_USERS, "tags_put", { "user" } },
    { HTTP_GET, "/v1/users/{}/tags", "tags_get", NULL, R_AUTH | R_ADMIN | K_USERS, "tags_get",
      { "user" } },
    { HTTP_GET, "/v1/users", "user_search", NULL, R_AUTH, "user_search", { NULL } },
    { HTTP_GET, "/v1/me/notification-settings", "settings_get", NULL, R_AUTH, "settings_get",
      { NULL } },
    { HTTP_PUT, "/v1/me/notification-settings", "settings_put", NULL,
      R_AUTH | R_JSON | R_BODY_APART, "settings_put", { NULL } },
    /* Before /v1/push/{}, which would take them for an id. */
    { HTTP_GET, "/v1/push/vapid-public-key", "vapid_public_key", push_vapid_public_key, 0, NULL, { NULL } },
    { HTTP_GET, "/v1/push/categories", "category_list", NULL, R_AUTH | K_PUSH,
      "category_list", { NULL } },
    { HTTP_PUT, "/v1/push/categories/{}", "category_put", NULL,
      R_AUTH | R_ADMIN | R_JSON | R_BODY_APART | K_PUSH, "category_put", { "name" } },
    { HTTP_DELETE, "/v1/push/categories/{}", "category_delete", NULL, R_AUTH | R_ADMIN | K_PUSH,
      "category_delete", { "name" } },
    { HTTP_POST, "/v1/push", "push_send", NULL, R_AUTH | R_ADMIN | R_JSON | K_PUSH, "push_send",
      { NULL } },
    { HTTP_GET, "/v1/push", "push_list", NULL, R_AUTH | R_ADMIN | K_PUSH, "push_list", { NULL } },
    { HTTP_GET, "/v1/push/{}", "push_get", NULL, R_AUTH | R_ADMIN | K_PUSH, "push_get", { "id" } },
    { HTTP_POST, "/v1/push/{}/events", "push_event", NULL, R_AUTH | R_JSON | R_BODY_APART,
      "push_event", { "id" } },
    { HTTP_GET, "/v1/ws", "ws", session_upgrade, 0, NULL, { NULL } },
    { HTTP_POST, "/v1/conversations", "conv_create", NULL, R_AUTH | R_JSON, "conv_create", { NULL } },
    { HTTP_GET, "/v1/conversations", "conv_list", NULL, R_AUTH, "conv_list", { NULL } },
    { HTTP_GET, "/v1/conversations/{}", "conv_get", NULL, R_AUTH, "conv_get", { "conv" } },
    { HTTP_PATCH, "/v1/conversations/{}", "conv_update", NULL, R_AUTH | R_JSON, "conv_update", { "conv" } },
    { HTTP_POST, "/v1/conversations/{}/owner", "conv_transfer", NULL, R_AUTH | R_JSON,
      "conv_transfer", { "conv" } },
    { HTTP_GET, "/v1/conversations/{}/members", "member_list", NULL, R_AUTH, "member_list", { "conv" } },
    { HTTP_POST, "/v1/conversations/{}/members", "member_add", NULL, R_AUTH | R_JSON,
      "member_add", { "conv" } },
    { HTTP_PATCH, "/v1/conversations/{}/members/{}", "member_update", NULL, R_AUTH | R_JSON,
      "member_update", { "conv", "user" } },
    { HTTP_DELETE, "/v1/conversations/{}/members/{}", "member_remove", NULL, R_AUTH,
      "member_remove", { "conv", "user" } },
    { HTTP_POST, "/v1/conversations/{}/messages/{}/append", "msg_append", NULL, R_AUTH | R_JSON,
      "append", { "conv", "seq" } },
    { HTTP_POST, "/v1/conversations/{}/messages/{}/replace", "msg_replace", NULL,
      R_AUTH | R_JSON, "replace", { "conv", "seq" } },
    { HTTP_GET, "/v1/conversations/{}/messages", "history", NULL, R_AUTH, "history", { "conv" } },
    /* Files and search (issue 8): uploads stream, downloads are sent from the file. */
    { HTTP_POST, "/v1/files", "file_upload", files_upload, R_AUTH | R_STREAM, NULL, { NULL } },
    { HTTP_GET, "/v1/files/{}", "file_download", files_download, R_AUTH, NULL, { NULL } },
    { HTTP_GET, "/v1/files/{}/thumbnail", "file_thumbnail", files_thumbnail, R_AUTH, NULL,
      { NULL } },
    { HTTP_GET, "/v1/search", "search", NULL, R_AUTH | R_FILTERS, "search", { NULL } },
    { HTTP_GET, "/v1/admin/app", "admin_app_get", NULL, R_AUTH | R_ADMIN | K_ADMIN,
      "admin_app_get", { NULL } },
    { HTTP_PATCH, "/v1/admin/app", "admin_app_update", NULL, R_AUTH | R_ADMIN | R_JSON | K_ADMIN,
      "admin_app_update", { NULL } },
    { HTTP_POST, "/v1/conversations/{}/messages", "send", NULL, R_AUTH | R_JSON, "send", { "conv" } },
};


#define NROUTES ((int)(sizeof(routes) / sizeof(routes[0])))
#define ROUTE_STATIC NROUTES
#define ROUTE_UNKNOWN (NROUTES + 1)
_Static_assert(NROUTES + 2 <= METRICS_MAX_ROUTES, "every route is counted in the metrics");

static const char *route_name(int i)
{
    return i < NROUTES ? routes[i].name : i == ROUTE_STATIC ? "static" : "unknown";
}

static void api_request_free(void *p)
{
    struct api_request *r = p;

    if (r->state_end != NULL) {
        r->state_end(r->state);
    }
    json_decref(r->body);
    free(r);
}

json_t *api_user_json(const struct store_user *u, bool full)
{
    json_t *o = json_pack("{s:I,s:s}", "id", (json_int_t)u->id, "username", u->username);

    if (full) {
        json_object_set_new(o, "display_name", u->has_display_name
                                                   ? json_string(u->display_name)
                                                   : json_null());
        json_object_set_new(o, "role", json_string(u->role));
        json_object_set_new(o, "created_at", json_integer(u->created_at));
        if (u->bot) {
            json_object_set_new(o, "bot", json_true());
        }
    }
    return o;
}

int api_string_field(json_t *obj, const char *key, const char **out, const char **why)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v)) {
        *why = v == NULL ? "a required field is missing" : "a field has the wrong type";
        return PIPIT_EBAD_REQUEST;
    }
    /* Strings with NUL are refused by the parser (no JSON_ALLOW_NUL). */
    *out = json_string_value(v);
    return 0;
}

/* Query parameters a few GET routes take besides paging (after, before, limit) and q. */
static const struct query_filter_set {
    unsigned flag;
    const char *numbers[4];     /* non-negative integers */
    const char *texts[3];
} query_filters[] = {
    { R_FILTERS, { "conv", "from", "offset", NULL }, { NULL } },
    { R_AUDIT_FILTERS, { "from", "to", NULL }, { "actor", "action", NULL } },
    { R_STATE_FILTER, { NULL }, { "state", NULL } },
};

/* Runs a route's chat action with the body, path parameters and query as arguments. */
static void run_action(struct http_exchange *x, const struct route *r)
{
    struct api_request *ar = api_request_of(x);
    json_t *body = ar->body != NULL ? ar->body : json_object(); /* the action takes it */
    json_t *args = (r->flags & R_BODY_APART) ? json_pack("{s:o}", "body", body) : body;
    struct chat_caller who = { ar->who.user.id, ar->who.user.app_id,
                               ar->who.is_key || strcmp(ar->who.user.role, "admin") == 0,
                               ar->who.is_key ? ar->who.scopes : 0,
                               ar->who.is_key ? ar->who.key_id : 0, ar->who.token_id };
    const char *why = NULL;
    int rc = 0;

    ar->body = NULL;
    for (int i = 0; i < ROUTE_MAX_PARAMS && r->params[i] != NULL; i++) {
        int64_t id = route_id(ar->params[i]);
        bool numeric = strcmp(r->params[i], "conv") == 0 || strcmp(r->params[i], "id") == 0 ||
                       strcmp(r->params[i], "delivery") == 0 || strcmp(r->params[i], "seq") == 0;

        if (!numeric && (id == 0 || strcmp(r->params[i], "user") != 0)) {
            json_object_set_new(args, r->params[i], json_string(ar->params[i]));
            continue;
        }
        if (id == 0 && rc == 0) {
            rc = PIPIT_ENOT_FOUND;
            why = strcmp(r->params[i], "conv") == 0 ? "no such conversation" : NULL;
        }
        json_object_set_new(args, r->params[i], json_integer(id));
    }
    if (rc == 0 && r->method == HTTP_GET) {
        rc = route_query_numbers(x->query, args, &why);
    }
    for (size_t f = 0; f < sizeof(query_filters) / sizeof(query_filters[0]); f++) {
        const struct query_filter_set *set = &query_filters[f];

        for (int i = 0; rc == 0 && (r->flags & set->flag) && set->numbers[i] != NULL; i++) {
            rc = route_query_id(x->query, set->numbers[i], args, &why);
        }
        for (int i = 0; rc == 0 && (r->flags & set->flag) && set->texts[i] != NULL; i++) {
            rc = route_query_text(x->query, set->texts[i], args, &why);
        }
    }
    if (rc == 0 && r->method == HTTP_GET) {
        rc = route_query_text(x->query, "q", args, &why);
    }
    if (rc != 0) {
        json_decref(args);
        http_respond_error(x, rc, why, NULL);
        return;
    }
    chat_call_http(x, &who, r->action, args);
}

static void run_handler(struct http_exchange *x, const struct route *r)
{
    struct api_request *ar = api_request_of(x);

    if (ar->who.is_key) {
        /* The admin scope holds the others. */
        unsigned held = (ar->who.scopes & STORE_SCOPE_ADMIN) ? ~0u : ar->who.scopes;

        if (KEY_SCOPES(r->flags) == 0) {
            http_respond_error(x, PIPIT_EFORBIDDEN, "API keys cannot use this route; "
                               "it needs a user's session", NULL);
            return;
        }
        if ((held & KEY_SCOPES(r->flags)) == 0) {
            http_respond_error(x, PIPIT_EFORBIDDEN, "this API key lacks the scope this "
                               "route needs", NULL);
            return;
        }
    } else if (!(r->flags & R_ENROL) && api_mfa_enrolment_pending(&ar->who)) {
        http_respond_error(x, PIPIT_EMFA_ENROLLMENT_REQUIRED, NULL, NULL);
        return;
    } else if ((r->flags & R_ADMIN) && strcmp(ar->who.user.role, "admin") != 0) {
        http_respond_error(x, PIPIT_EFORBIDDEN, "admins only", NULL);
        return;
    }
    if (r->action != NULL) {
        run_action(x, r);
        return;
    }
    r->handler(x);
}

int api_rate_limit(struct http_exchange *x, const struct api_user *who)
{
    struct conn *c = x->conn;
    int64_t wait = 0;
    char hdr[64];

    if (who == NULL && !c->addr.exempt) {
        wait = limits_take(c->w->srv->limits, LIMIT_IP_REQUESTS, c->addr.key, worker_now(c->w));
    } else if (who != NULL && !who->is_key) {
        wait = limits_take(c->w->srv->limits, LIMIT_USER_REQUESTS, (uint64_t)who->user.id,
                           worker_now(c->w));
    }
    if (wait <= 0) {
        return 0;
    }
    snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n", (long long)(wait + 999) / 1000);
    http_respond_error(x, PIPIT_ERATE_LIMITED, "too many requests: slow down", hdr);
    return PIPIT_ERATE_LIMITED;
}

static void on_authenticated(struct conn *c, int rc, const struct api_user *who, void *arg)
{
    struct http_exchange *x = &c->http->x;
    const struct route *r = arg;

    if (api_rate_limit(x, rc == 0 ? who : NULL) != 0) {
        return;
    }
    if (rc != 0) {
        http_respond_error(x, PIPIT_EUNAUTHORIZED, NULL,
                           "WWW-Authenticate: Bearer realm=\"pipit\"\r\n");
        return;
    }
    api_request_of(x)->authenticated = true;
    api_request_of(x)->who = *who;
    run_handler(x, r);
}

static int parse_json_body(struct http_exchange *x, const char **why)
{
    const char *ctype = http_request_header(x->req, "content-type");
    json_error_t jerr;
    json_t *body;

    /* application/json, with parameters (; charset=utf-8) or none: not application/jsonx. */
    if (ctype != NULL && (strncasecmp(ctype, "application/json", 16) != 0 ||
                          (ctype[16] != '\0' && ctype[16] != ';' && ctype[16] != ' '))) {
        *why = NULL;
        return PIPIT_EUNSUPPORTED_MEDIA_TYPE;
    }
    body = json_loadb(x->req->body.data != NULL ? x->req->body.data : "", x->req->body.len,
                      JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL) {
        *why = "the body is not valid JSON";
        return PIPIT_EBAD_REQUEST;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        *why = "the body must be a JSON object";
        return PIPIT_EBAD_REQUEST;
    }
    api_request_of(x)->body = body;
    return 0;
}

static const char *bearer_token(struct http_exchange *x)
{
    const char *h = http_request_header(x->req, "authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        return NULL;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    return h;
}

static void api_handle(struct http_exchange *x)
{
    enum http_method m = x->req->method == HTTP_HEAD ? HTTP_GET : x->req->method;
    const struct route *found = NULL;
    char allow[128] = "";
    const char *why = NULL;
    const char *token;
    int rc;

    char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX];

    for (int i = 0; i < NROUTES; i++) {
        if (!route_match(routes[i].path, x->path, params)) {
            continue;
        }
        if (routes[i].method == m) {
            found = &routes[i];
            x->route = i;
            break;
        }
        snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                 allow[0] ? ", " : "", http_method_str(routes[i].method));
        if (routes[i].method == HTTP_GET) {
            snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), ", HEAD");
        }
    }
    if (found == NULL) {
        bool api = strncmp(x->path, "/v1/", 4) == 0 || strcmp(x->path, "/v1") == 0;

        x->route = allow[0] != '\0' || api ? ROUTE_UNKNOWN : ROUTE_STATIC;
        if (api_rate_limit(x, NULL) != 0) {
            return;
        }
        if (allow[0] != '\0') {
            char hdr[160];

            snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
            http_respond_error(x, PIPIT_EMETHOD_NOT_ALLOWED, NULL, hdr);
        } else if (api) {
            http_respond_error(x, PIPIT_ENOT_FOUND, "no such route", NULL);
        } else {
            files_serve(x);
        }
        return;
    }
    /* Without a token the client is known by its address only (with one: on_authenticated). */
    if (!((found->flags & R_AUTH) && bearer_token(x) != NULL) && api_rate_limit(x, NULL) != 0) {
        return;
    }
    x->ctx = xcalloc(1, sizeof(struct api_request));
    x->ctx_free = api_request_free;
    memcpy(api_request_of(x)->params, params, sizeof(params));
    /* A missing token is the first thing to tell, whatever the body holds. */
    token = (found->flags & R_AUTH) ? bearer_token(x) : NULL;
    if ((found->flags & R_AUTH) && token == NULL) {
        http_respond_error(x, PIPIT_EUNAUTHORIZED, NULL,
                           "WWW-Authenticate: Bearer realm=\"pipit\"\r\n");
        return;
    }
    if (found->flags & R_JSON) {
        rc = parse_json_body(x, &why);
        if (rc != 0) {
            http_respond_error(x, rc, why, NULL);
            return;
        }
    }
    if (found->flags & R_AUTH) {
        api_authenticate(x->conn, token, on_authenticated, (void *)found);
        return;
    }
    run_handler(x, found);
}

/*
 * srv->http_stream_limit, for a request head: the routes marked R_STREAM get
 * their body as it comes. The target is matched as sent (not percent-decoded):
 * a differently spelled upload is read whole and refused by its handler.
 */
static uint64_t api_stream_limit(void *arg, const struct http_request *req)
{
    char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX];
    char path[256];
    size_t n = strcspn(req->url, "?");

    if (n >= sizeof(path)) {
        return 0; /* longer than any route */
    }
    memcpy(path, req->url, n);
    path[n] = '\0';
    for (int i = 0; i < NROUTES; i++) {
        if ((routes[i].flags & R_STREAM) && routes[i].method == req->method &&
            route_match(routes[i].path, path, params)) {
            return STREAM_MAX;
        }
    }
    return 0;
}

void api_print_routes(FILE *out)
{
    static const struct { unsigned flag; const char *name; } flags[] = {
        { R_AUTH, "auth" }, { R_ADMIN, "admin" }, { R_JSON, "json" }, { R_STREAM, "stream" },
        { R_ENROL, "enrol" }, { K_PUSH, "key:push" }, { K_USERS, "key:users" },
        { K_ADMIN, "key:admin" },
    };
    json_t *routes_json = json_array();
    json_t *all;
    char *text;

    for (int i = 0; i < NROUTES; i++) {
        json_t *f = json_array();

        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
            if (routes[i].flags & flags[k].flag) {
                json_array_append_new(f, json_string(flags[k].name));
            }
        }
        json_array_append_new(routes_json,
                              json_pack("{s:s,s:s,s:s,s:o,s:o}", "method",
                                        http_method_str(routes[i].method), "path", routes[i].path,
                                        "name", routes[i].name, "flags", f, "action",
                                        routes[i].action != NULL ? json_string(routes[i].action)
                                                                 : json_null()));
    }
    all = json_pack("{s:o,s:o}", "routes", routes_json, "ops", session_op_names());
    text = json_dumps(all, JSON_INDENT(1));
    fprintf(out, "%s\n", text);
    free(text);
    json_decref(all);
}

void api_install(struct server *srv)
{
    srv->started_at = clock_now_ms();
    srv->http_handler = api_handle;
    srv->http_stream_limit = api_stream_limit;
    srv->ws_handlers.on_open = session_on_open;
    srv->ws_handlers.on_text = session_on_text;
    srv->ws_handlers.on_close = session_on_close;
}

void system_metrics(struct http_exchange *x)
{
    struct server *srv = x->conn->w->srv;
    struct buf out;

    buf_init(&out, 4 * 1024 * 1024);
    metrics_render(&srv->metrics, &out, route_name, NROUTES + 2);
    http_respond(x, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
                 out.data != NULL ? out.data : "", out.len);
    buf_cleanup(&out);
}

void system_healthz(struct http_exchange *x)
{
    static const char body[] = "{\"status\":\"ok\"}";

    http_respond(x, 200, "application/json", "Cache-Control: no-store\r\n", body,
                 sizeof(body) - 1);
}
