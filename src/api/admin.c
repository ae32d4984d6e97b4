/*
 * admin.c: the admin console's routes (docs/openapi.yaml, tag "admin"),
 * and the user directory any signed-in user may search (GET /v1/users).
 *
 * Every route here is a store action on the chat call path (chat/chat_internal.h):
 * reads run on a reader, changes on the writer; the router has already checked
 * the admin role or the API key's scope, and each action checks again that its
 * caller is an app admin. Other admin routes live elsewhere: the audit log,
 * retention, holds and erasure (compliance.c), the password reset, which hashes
 * first (accounts.c), and deleting a conversation, which changes the writer's
 * chat cache (chat/conversations.c). Paging: admin_internal.h.
 *
 * Revoking (disabling a user, ending sessions) deletes the tokens in the action
 * and closes the WebSockets from after_commit_call, on the writer once the change
 * commits and before the answer leaves: whoever sees the answer finds the tokens
 * gone everywhere.
 */
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "api/admin_internal.h"
#include "api/api.h"
#include "chat/bus.h"
#include "chat/chat_internal.h"
#include "hooks/assistant.h"
#include "hooks/webhooks.h"
#include "server.h"
#include "store/store_chat.h"
#include "store/store_files.h"
#include "store/store_push.h"
#include "store/store_retention.h"
#include "util/err.h"

#define QUERY_MAX 64            /* bytes of ?q= */
#define DIRECTORY_MAX 20        /* users one directory search returns */

int admin_only(struct chat_call *k)
{
    if (!k->who.app_admin) {
        k->why = "admins only";
        return PIPIT_EFORBIDDEN;
    }
    return 0;
}

/* ---- search and paging ---- */

/* ?q= as a LIKE pattern: the text between two '%', its '%', '_' and '\' escaped. */
struct search {
    char pattern[2 * QUERY_MAX + 3];
    bool any;                   /* no q, or an empty one: everything matches */
};

static int read_search(struct chat_call *k, struct search *out)
{
    json_t *v = json_object_get(k->args, "q"); /* a string when present (router.c) */
    const char *q = json_string_value(v);
    size_t o = 0;

    out->any = q == NULL || q[0] == '\0';
    if (out->any) {
        return 0;
    }
    if (json_string_length(v) > QUERY_MAX) {
        return chat_bad(k, "q is at most 64 bytes");
    }
    out->pattern[o++] = '%';
    for (; *q != '\0'; q++) {
        if (*q == '%' || *q == '_' || *q == '\\') {
            out->pattern[o++] = '\\';
        }
        out->pattern[o++] = *q;
    }
    out->pattern[o++] = '%';
    out->pattern[o] = '\0';
    return 0;
}

static const char *search_pattern(const struct search *s)
{
    return s->any ? NULL : s->pattern;
}

int admin_page_read(struct chat_call *k, int64_t fallback, int64_t max, struct admin_page *p)
{
    bool has;
    int rc;

    memset(p, 0, sizeof(*p));
    p->k = k;
    p->limit = fallback;
    rc = chat_arg_opt_int(k, "limit", 1, max, &p->limit, &has);
    if (rc != 0) {
        k->why = max == ADMIN_PAGE_MAX ? "limit must be from 1 to 200"
                                       : "limit must be from 1 to 20";
        return rc;
    }
    rc = chat_arg_opt_int(k, "after", 0, INT64_MAX, &p->after, &has);
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "before", 1, INT64_MAX, &p->before, &has);
    }
    if (rc != 0) {
        return rc;
    }
    p->items = json_array();
    return 0;
}

bool admin_page_full(struct admin_page *p)
{
    if ((int64_t)json_array_size(p->items) < p->limit) {
        return false;
    }
    p->more = true;
    return true;
}

void admin_page_add(struct admin_page *p, int64_t id, json_t *item)
{
    json_array_append_new(p->items, item);
    p->last_id = id;
}

/* An admin listing's search and page. */
static int read_listing(struct chat_call *k, struct search *s, struct admin_page *p)
{
    int rc = admin_only(k);

    if (rc == 0) {
        rc = read_search(k, s);
    }
    return rc != 0 ? rc : admin_page_read(k, ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, p);
}

int admin_page_answer(struct chat_call *k, struct admin_page *p, const char *key, int rc)
{
    if (rc != 0) {
        json_decref(p->items);
        return rc;
    }
    k->result = json_pack("{s:o,s:o}", key, p->items, "next",
                          p->more ? json_integer(p->last_id) : json_null());
    return 0;
}

/* ---- users ---- */

/* A user as the console shows them; last_seen is the end of their last session since start. */
static json_t *admin_user_json(struct chat_call *k, const struct store_user *u)
{
    json_t *o = api_user_json(u, true);
    int64_t last_seen;
    bool online = presence_get(k->srv->presence, u->id, &last_seen);

    json_object_set_new(o, "disabled", json_boolean(u->disabled_at != 0));
    json_object_set_new(o, "disabled_at", time_or_null(u->disabled_at));
    json_object_set_new(o, "online", json_boolean(online));
    json_object_set_new(o, "last_seen", time_or_null(last_seen));
    json_object_set_new(o, "mfa_enabled", json_boolean(u->mfa_enabled_at != 0));
    return o;
}

static int collect_user(void *arg, const struct store_user *u)
{
    struct admin_page *p = arg;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, u->id, admin_user_json(p->k, u));
    return 0;
}

int admin_user_list(struct chat_call *k, struct store_conn *sc)
{
    struct search s;
    struct admin_page p;
    int rc = read_listing(k, &s, &p);

    if (rc != 0) {
        return rc;
    }
    struct store_user_query q = { .app_id = k->who.app_id, .pattern = search_pattern(&s),
                                  .after = p.after, .limit = (int)p.limit + 1 };

    return admin_page_answer(k, &p, "users", store_user_search(sc, &q, collect_user, &p));
}

int admin_target_user(struct chat_call *k, struct store_conn *sc, struct store_user *u)
{
    int rc = admin_only(k);

    return rc != 0 ? rc : chat_resolve_user(k, sc, json_object_get(k->args, "id"), u);
}

/*
 * An API key with only the "users" scope may manage users, but not an admin's
 * account nor make an admin: resetting an admin's password would hand it the app.
 */
static int may_change(struct chat_call *k, const struct store_user *u, bool grants_admin)
{
    bool limited_key = k->who.key_scopes != 0 && !(k->who.key_scopes & STORE_SCOPE_ADMIN);

    if (limited_key && (strcmp(u->role, "admin") == 0 || grants_admin)) {
        k->why = "only an admin or an admin-scoped API key may make or change an admin";
        return PIPIT_EFORBIDDEN;
    }
    return 0;
}

int admin_user_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_user u;
    int rc = admin_target_user(k, sc, &u);

    if (rc == 0) {
        k->result = admin_user_json(k, &u);
    }
    return rc;
}

/* What a PATCH asks for. */
struct user_change {
    bool has_disabled;
    bool disabled;
    const char *role;           /* NULL: unchanged */
    bool has_name;
    const char *name;           /* NULL with has_name: cleared */
};

static bool is_account_role(json_t *v)
{
    return json_is_string(v) && (strcmp(json_string_value(v), "user") == 0 ||
                                 strcmp(json_string_value(v), "admin") == 0);
}

static int read_user_change(struct chat_call *k, struct user_change *ch)
{
    json_t *disabled = json_object_get(k->args, "disabled");
    json_t *role = json_object_get(k->args, "role");
    json_t *name = json_object_get(k->args, "display_name");

    memset(ch, 0, sizeof(*ch));
    if (disabled != NULL && !json_is_boolean(disabled)) {
        return chat_bad(k, "disabled must be true or false");
    }
    if (role != NULL && !is_account_role(role)) {
        return chat_bad(k, "role must be \"user\" or \"admin\"");
    }
    if (name != NULL && !json_is_null(name) &&
        (!json_is_string(name) || json_string_length(name) > STORE_DISPLAY_MAX)) {
        return chat_bad(k, "display_name must be null or a string of at most 256 bytes");
    }
    if (disabled == NULL && role == NULL && name == NULL) {
        return chat_bad(k, "nothing to change: give disabled, role or display_name");
    }
    ch->has_disabled = disabled != NULL;
    ch->disabled = json_is_true(disabled);
    ch->role = json_string_value(role);
    ch->has_name = name != NULL;
    ch->name = json_string_value(name);
    return 0;
}

static bool change_disables(const struct user_change *ch, const struct store_user *u)
{
    return ch->has_disabled && ch->disabled && u->disabled_at == 0;
}

static bool change_demotes(const struct user_change *ch, const struct store_user *u)
{
    return ch->role != NULL && strcmp(ch->role, "user") == 0 && strcmp(u->role, "admin") == 0;
}

int admin_guard(struct chat_call *k, struct store_conn *sc, const struct store_user *u,
                const char *self_why, const char *last_why)
{
    int64_t admins = 0;
    int rc;

    if (u->id == k->who.user_id) {
        k->why = self_why;
        return PIPIT_ECONFLICT;
    }
    if (strcmp(u->role, "admin") != 0 || u->disabled_at != 0) {
        return 0;
    }
    rc = store_user_count_admins(sc, u->app_id, &admins);
    if (rc == 0 && admins <= 1) {
        k->why = last_why;
        rc = PIPIT_ECONFLICT;
    }
    return rc;
}

/* Refuses a change that would lock an admin out by their own hand, or leave no enabled admin. */
static int keeps_an_admin(struct chat_call *k, struct store_conn *sc, const struct store_user *u,
                          const struct user_change *ch)
{
    bool disables = change_disables(ch, u);

    if (!disables && !change_demotes(ch, u)) {
        return 0;
    }
    return admin_guard(k, sc, u,
                       disables ? "you cannot disable your own account"
                                : "you cannot take away your own admin role",
                       "this is the app's last enabled admin: they cannot be disabled or demoted");
}

static void apply_change(struct store_user *u, const struct user_change *ch, int64_t now)
{
    if (ch->role != NULL) {
        snprintf(u->role, sizeof(u->role), "%s", ch->role);
    }
    if (ch->has_name) {
        u->has_display_name = ch->name != NULL;
        snprintf(u->display_name, sizeof(u->display_name), "%s", ch->name != NULL ? ch->name : "");
    }
    if (ch->has_disabled && !ch->disabled) {
        u->disabled_at = 0;
    } else if (ch->has_disabled && u->disabled_at == 0) {
        u->disabled_at = now;
    }
}

static int64_t target_id(struct chat_call *k)
{
    return json_integer_value(json_object_get(k->args, "id"));
}

static void close_disabled_user(struct chat_call *k)
{
    api_revoke_user(k->srv, target_id(k), 0, "account disabled");
}

static void close_user_sessions(struct chat_call *k)
{
    api_revoke_user(k->srv, target_id(k), 0, "token revoked");
}

int admin_user_update(struct chat_call *k, struct store_conn *sc)
{
    struct user_change ch;
    struct store_user u;
    bool disables;
    int rc = read_user_change(k, &ch);

    if (rc == 0) {
        rc = admin_target_user(k, sc, &u);
    }
    if (rc == 0 && u.bot && ch.role != NULL && strcmp(ch.role, "admin") == 0) {
        rc = chat_bad(k, "a bot cannot be an admin");
    }
    if (rc == 0) {
        rc = may_change(k, &u, ch.role != NULL && strcmp(ch.role, "admin") == 0);
    }
    if (rc == 0) {
        rc = keeps_an_admin(k, sc, &u, &ch);
    }
    if (rc != 0) {
        return rc;
    }
    disables = change_disables(&ch, &u);
    apply_change(&u, &ch, k->now);
    rc = store_user_update(sc, &u);
    if (rc == 0 && disables) {
        rc = store_token_delete_all_for_user(sc, u.id, 0);
    }
    if (rc == 0 && disables) {
        /* Someone who left the organisation gets no more pushes on their phone. */
        rc = store_device_trim(sc, u.id, 0);
    }
    if (rc == 0 && disables && u.bot) {
        /* A bot's keys are its sessions: re-enabling it takes a new one. */
        rc = store_api_key_revoke(sc, u.app_id, 0, u.id, k->now);
        rc = rc == PIPIT_ENOT_FOUND ? 0 : rc;
        webhooks_changed(k->srv); /* its webhook hears nothing while it is disabled */
        assistant_changed(k->srv);
    }
    if (rc != 0) {
        return rc;
    }
    /* Token lookups are cached with the user's role and name: none may outlive this. */
    if (disables) {
        k->after_commit_call = close_disabled_user;
    } else {
        k->after_commit = api_auth_changed;
    }
    k->result = admin_user_json(k, &u);
    return 0;
}

/* ---- sessions (a session is a token), the admin's view and the user's own ---- */

struct session_walk {
    struct chat_call *k;
    json_t *sessions;
};

static int collect_session(void *arg, const struct store_session *s)
{
    struct session_walk *w = arg;
    struct server *srv = w->k->srv;
    bool online = presence_token_online(srv->presence, s->id);
    int64_t idle = srv->cfg.token_idle_ttl;

    if (!online && idle > 0 && w->k->now - s->last_seen_at >= idle) {
        return 0; /* over: its token is refused (the sweep deletes it at its expiry) */
    }
    json_array_append_new(
        w->sessions,
        json_pack("{s:I,s:o,s:o,s:I,s:I,s:I,s:b,s:b}", "id", (json_int_t)s->id, "device",
                  s->device != NULL ? json_string(s->device) : json_null(), "ip",
                  s->ip != NULL ? json_string(s->ip) : json_null(), "created_at",
                  (json_int_t)s->created_at, "last_seen_at",
                  (json_int_t)(online ? w->k->now : s->last_seen_at), "expires_at",
                  (json_int_t)s->expires_at, "online", online, "current",
                  s->id == w->k->who.token_id));
    return 0;
}

static int list_sessions(struct chat_call *k, struct store_conn *sc, int64_t user_id)
{
    struct session_walk w = { k, json_array() };
    int rc = store_token_list_for_user(sc, user_id, k->now, collect_session, &w);

    if (rc != 0) {
        json_decref(w.sessions);
        return rc;
    }
    k->result = json_pack("{s:o}", "sessions", w.sessions);
    return 0;
}

int admin_session_list(struct chat_call *k, struct store_conn *sc)
{
    struct store_user u;
    int rc = admin_target_user(k, sc, &u);

    return rc != 0 ? rc : list_sessions(k, sc, u.id);
}

static void close_session(struct chat_call *k)
{
    api_revoke_token(k->srv, json_integer_value(json_object_get(k->args, "revoked")));
}

/* Deletes the user's session token_id: 204, or 404 "no such session". */
static int revoke_session(struct chat_call *k, struct store_conn *sc, int64_t user_id,
                          int64_t token_id)
{
    int rc = token_id > 0 ? store_token_delete_for_user(sc, user_id, token_id)
                          : PIPIT_ENOT_FOUND;

    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such session";
    }
    if (rc == 0) {
        json_object_set_new(k->args, "revoked", json_integer(token_id));
        k->after_commit_call = close_session;
        k->status = 204;
    }
    return rc;
}

/* The path's user, when the caller may change them (may_change). */
static int changeable_user(struct chat_call *k, struct store_conn *sc, struct store_user *u)
{
    int rc = admin_target_user(k, sc, u);

    return rc != 0 ? rc : may_change(k, u, false);
}

/* Deletes every session of user_id, closing its WebSockets once committed: 204. */
static int end_all_sessions(struct chat_call *k, struct store_conn *sc, int64_t user_id)
{
    int rc = store_token_delete_all_for_user(sc, user_id, 0);

    if (rc == 0) {
        k->after_commit_call = close_user_sessions;
        k->status = 204;
    }
    return rc;
}

int admin_session_revoke(struct chat_call *k, struct store_conn *sc)
{
    /* The path's second segment, as text (the router names it "session"). */
    const char *text = json_string_value(json_object_get(k->args, "session"));
    struct store_user u;
    int rc = changeable_user(k, sc, &u);

    return rc != 0 ? rc : revoke_session(k, sc, u.id, text != NULL ? route_id(text) : 0);
}

int admin_sessions_revoke(struct chat_call *k, struct store_conn *sc)
{
    struct store_user u;
    int rc = changeable_user(k, sc, &u);

    return rc != 0 ? rc : end_all_sessions(k, sc, u.id);
}

/* DELETE /v1/admin/users/{id}/mfa: for a user who lost their second factor; their sessions end. */
int admin_mfa_reset(struct chat_call *k, struct store_conn *sc)
{
    struct store_user u;
    int rc = changeable_user(k, sc, &u);

    if (rc == 0) {
        rc = store_mfa_clear(sc, u.id);
    }
    return rc != 0 ? rc : end_all_sessions(k, sc, u.id);
}

/* GET /v1/me/sessions (the router keeps API keys out of the me_* actions). */
int me_session_list(struct chat_call *k, struct store_conn *sc)
{
    return list_sessions(k, sc, k->who.user_id);
}

/* DELETE /v1/me/sessions/{id}: one of one's own sessions (this one too: a logout). */
int me_session_revoke(struct chat_call *k, struct store_conn *sc)
{
    return revoke_session(k, sc, k->who.user_id,
                          json_integer_value(json_object_get(k->args, "id")));
}

static void close_other_sessions(struct chat_call *k)
{
    api_revoke_user(k->srv, k->who.user_id, k->who.token_id, "signed out by another session");
}

/* DELETE /v1/me/sessions: every session of one's own but this one. */
int me_sessions_revoke(struct chat_call *k, struct store_conn *sc)
{
    int rc = store_token_delete_all_for_user(sc, k->who.user_id, k->who.token_id);

    json_object_set_new(k->args, "user", json_integer(k->who.user_id)); /* the audit's target */
    if (rc == 0) {
        k->after_commit_call = close_other_sessions;
        k->status = 204;
    }
    return rc;
}

/* GET /v1/me/mfa. */
int mfa_status(struct chat_call *k, struct store_conn *sc)
{
    struct store_user u;
    struct store_mfa m;
    int rc = store_user_by_id(sc, k->who.user_id, &u);

    if (rc == 0) {
        rc = store_mfa_get(sc, u.id, &m);
    }
    if (rc == 0) {
        k->result = json_pack("{s:b,s:b,s:b,s:o,s:I}", "enabled", m.enabled_at != 0, "required",
                              u.mfa_required, "pending", m.enabled_at == 0 && m.secret[0] != 0,
                              "enabled_at", time_or_null(m.enabled_at), "recovery_codes_left",
                              (json_int_t)(m.enabled_at != 0 ? m.codes_left : 0));
    }
    sodium_memzero(&m, sizeof(m));
    return rc;
}

/* ---- conversations ---- */

/* last_ts is null until the first event (a direct conversation before its first message). */
static json_t *admin_conv_json(const struct store_conv *c, int64_t members)
{
    return json_pack("{s:I,s:s,s:o,s:I,s:I,s:I,s:I,s:o}", "id", (json_int_t)c->id, "type",
                     c->type, "title", c->title != NULL ? json_string(c->title) : json_null(),
                     "members", (json_int_t)members, "last_seq", (json_int_t)c->last_seq,
                     "created_at", (json_int_t)c->created_at, "created_by",
                     (json_int_t)c->created_by, "last_ts",
                     c->last_seq > 0 ? json_integer(c->last_ts) : json_null());
}

static int collect_conv(void *arg, const struct store_conv *c, int64_t members)
{
    struct admin_page *p = arg;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, c->id, admin_conv_json(c, members));
    return 0;
}

int admin_conv_list(struct chat_call *k, struct store_conn *sc)
{
    struct search s;
    struct admin_page p;
    int rc = read_listing(k, &s, &p);

    if (rc != 0) {
        return rc;
    }
    struct store_conv_query q = { .app_id = k->who.app_id, .pattern = search_pattern(&s),
                                  .after = p.after, .limit = (int)p.limit + 1 };

    return admin_page_answer(k, &p, "conversations", store_conv_search(sc, &q, collect_conv, &p));
}

int admin_target_conv(struct chat_call *k, struct store_conn *sc, struct store_conv *conv)
{
    int64_t conv_id;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = chat_arg_id(k, "conv", &conv_id);
    }
    return rc != 0 ? rc : chat_app_conv(k, sc, conv_id, conv);
}

int admin_conv_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    struct store_retention keep;
    int64_t members = 0;
    int rc = admin_target_conv(k, sc, &conv);

    if (rc != 0) {
        return rc;
    }
    rc = store_member_count(sc, conv.id, &members);
    if (rc == 0) {
        rc = store_conv_retention(sc, conv.id, &keep);
    }
    if (rc == 0) {
        k->result = admin_conv_json(&conv, members);
        retention_json_add(k->result, &keep); /* its own; null: the app's */
    }
    store_conv_cleanup(&conv);
    return rc;
}

int admin_conv_members(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    json_t *members;
    int rc = admin_target_conv(k, sc, &conv);

    if (rc != 0) {
        return rc;
    }
    rc = chat_members_json(sc, conv.id, &members);
    store_conv_cleanup(&conv);
    if (rc == 0) {
        k->result = json_pack("{s:o}", "members", members);
    }
    return rc;
}

/* ---- dashboard ---- */

static json_int_t counter(atomic_long *v)
{
    return (json_int_t)atomic_load_explicit(v, memory_order_relaxed);
}

/*
 * The counters are the process's, as /metrics shows them (every app); users and
 * conversations are the caller's app's, counted on indexes at each call.
 */
int admin_stats(struct chat_call *k, struct store_conn *sc)
{
    struct server *srv = k->srv;
    struct metrics *m = &srv->metrics;
    int64_t users = 0, convs = 0;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_user_count_app(sc, k->who.app_id, &users);
    }
    if (rc == 0) {
        rc = store_conv_count(sc, k->who.app_id, &convs);
    }
    if (rc != 0) {
        return rc;
    }
    k->result = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ts", (json_int_t)k->now,
                          "uptime_s", (json_int_t)((k->now - srv->started_at) / 1000),
                          "connections", counter(&m->connections), "sessions",
                          counter(&m->ws_authenticated), "users", (json_int_t)users,
                          "conversations", (json_int_t)convs, "messages_total",
                          counter(&m->chat_messages), "pushes_total", counter(&m->pushes),
                          "push_sent_total", counter(&m->push_sent), "store_bytes",
                          (json_int_t)store_disk_bytes(srv->cfg.data_dir));
    return 0;
}

/* ---- the app's settings ---- */

static int app_settings(struct chat_call *k, struct store_conn *sc)
{
    char mfa[STORE_MFA_POLICY_MAX];
    struct store_retention keep;
    int64_t own = 0;
    int rc = store_app_file_limit(sc, k->who.app_id, &own);

    if (rc == 0) {
        rc = store_app_retention(sc, k->who.app_id, &keep);
    }
    if (rc == 0) {
        rc = store_app_mfa_policy(sc, k->who.app_id, mfa);
    }
    if (rc == 0) {
        k->result = json_pack("{s:I,s:o,s:I,s:s}", "id", (json_int_t)k->who.app_id,
                              "max_file_size", own > 0 ? json_integer(own) : json_null(),
                              "max_file_size_default", (json_int_t)k->srv->cfg.max_file_size,
                              "mfa_required", mfa);
        retention_json_add(k->result, &keep);
    }
    return rc;
}

int admin_app_get(struct chat_call *k, struct store_conn *sc)
{
    int rc = admin_only(k);

    return rc != 0 ? rc : app_settings(k, sc);
}

/*
 * An admin who has no second factor cannot make a policy that requires one of
 * them: their own session would be held to enrolment at once, the undo too.
 */
static int mfa_policy_guard(struct chat_call *k, struct store_conn *sc, const char *policy)
{
    struct store_user me;
    int rc;

    if (k->who.user_id == 0 || strcmp(policy, "off") == 0) {
        return 0; /* an API key has no second factor to set up */
    }
    rc = store_user_by_id(sc, k->who.user_id, &me);
    if (rc == 0 && me.mfa_enabled_at == 0) {
        k->why = "turn on two-factor authentication for your own account first: this policy "
                 "requires it of you";
        rc = PIPIT_ECONFLICT;
    }
    return rc;
}

/*
 * {"max_file_size": bytes or null (the server's max_file_size),
 *  "message_retention_days", "file_retention_days": days or null (forever),
 *  "mfa_required": "off", "admins" or "all"}.
 */
int admin_app_update(struct chat_call *k, struct store_conn *sc)
{
    json_t *v = json_object_get(k->args, "max_file_size");
    json_t *mfa = json_object_get(k->args, "mfa_required");
    struct store_retention keep;
    bool given;
    int rc = admin_only(k);

    if (rc != 0) {
        return rc;
    }
    if (mfa != NULL && (!json_is_string(mfa) || (strcmp(json_string_value(mfa), "off") != 0 &&
                                                 strcmp(json_string_value(mfa), "admins") != 0 &&
                                                 strcmp(json_string_value(mfa), "all") != 0))) {
        return chat_bad(k, "mfa_required must be \"off\", \"admins\" or \"all\"");
    }
    if (v != NULL && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) < 1 ||
         json_integer_value(v) > ((json_int_t)1 << 40))) {
        return chat_bad(k, "max_file_size must be a number of bytes from 1 to 2^40, or null");
    }
    rc = store_app_retention(sc, k->who.app_id, &keep);
    if (rc == 0) {
        rc = retention_args(k, &keep, &given);
    }
    if (rc == 0 && v != NULL) {
        rc = store_app_set_file_limit(sc, k->who.app_id,
                                      json_is_null(v) ? 0 : json_integer_value(v));
    }
    if (rc == 0 && given) {
        rc = store_app_set_retention(sc, k->who.app_id, &keep);
    }
    if (rc == 0 && mfa != NULL) {
        rc = mfa_policy_guard(k, sc, json_string_value(mfa));
    }
    if (rc == 0 && mfa != NULL) {
        rc = store_app_set_mfa_policy(sc, k->who.app_id, json_string_value(mfa));
        k->after_commit = api_auth_changed; /* sessions see the policy at their next request */
    }
    return rc != 0 ? rc : app_settings(k, sc);
}

/* ---- the content filter's flags ---- */

static int collect_flag(void *arg, const struct store_flag *f)
{
    struct admin_page *p = arg;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, f->id,
                   json_pack("{s:I,s:I,s:I,s:I,s:s,s:s,s:I}", "id", (json_int_t)f->id, "conv",
                             (json_int_t)f->conv_id, "seq", (json_int_t)f->seq, "sender",
                             (json_int_t)f->sender, "list", f->list, "word", f->word,
                             "created_at", (json_int_t)f->created_at));
    return 0;
}

/* GET /v1/admin/content-flags: what the content filter flagged, newest first (?before=<id>). */
int content_flag_list(struct chat_call *k, struct store_conn *sc)
{
    struct admin_page p;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = admin_page_read(k, ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, &p);
    }
    if (rc != 0) {
        return rc;
    }
    return admin_page_answer(k, &p, "flags",
                             store_flag_list(sc, k->who.app_id, p.before, (int)p.limit + 1,
                                             collect_flag, &p));
}

/* DELETE /v1/admin/content-flags/{id}: reviewed, off the list. */
int content_flag_resolve(struct chat_call *k, struct store_conn *sc)
{
    int64_t id;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = chat_arg_id(k, "id", &id);
    }
    if (rc == 0) {
        rc = store_flag_delete(sc, k->who.app_id, id);
        k->why = rc == PIPIT_ENOT_FOUND ? "no such flag" : NULL;
    }
    if (rc == 0) {
        k->status = 204;
    }
    return rc;
}

/* ---- the user directory (any signed-in user) ---- */

static int collect_directory_user(void *arg, const struct store_user *u)
{
    struct admin_page *p = arg;
    int64_t last_seen;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, u->id,
             json_pack("{s:I,s:s,s:o,s:b}", "id", (json_int_t)u->id, "username", u->username,
                       "display_name",
                       u->has_display_name ? json_string(u->display_name) : json_null(),
                       "online", presence_get(p->k->srv->presence, u->id, &last_seen)));
    return 0;
}

/* People to start a conversation with: enabled users of the app but the caller. */
int user_search(struct chat_call *k, struct store_conn *sc)
{
    struct search s;
    struct admin_page p;
    int rc = read_search(k, &s);

    if (rc == 0) {
        rc = admin_page_read(k, DIRECTORY_MAX, DIRECTORY_MAX, &p);
    }
    if (rc != 0) {
        return rc;
    }
    struct store_user_query q = { .app_id = k->who.app_id, .pattern = search_pattern(&s),
                                  .after = p.after, .limit = (int)p.limit + 1,
                                  .enabled_only = true, .exclude = k->who.user_id };

    rc = admin_page_answer(k, &p, "users", store_user_search(sc, &q, collect_directory_user, &p));
    if (rc == 0) {
        json_object_del(k->result, "next"); /* a search, not a listing: its first page is all */
    }
    return rc;
}
