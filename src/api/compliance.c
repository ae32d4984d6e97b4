/*
 * compliance.c: the admin routes for the audit log, retention, legal holds and
 * erasure (docs/openapi.yaml, tag "admin"; docs/operations.md).
 *
 *   GET /v1/admin/audit                 records, newest first, with filters
 *   GET /v1/admin/audit/verify          the chain and checkpoints checked
 *   PATCH /v1/admin/app                 message_retention_days, file_retention_days (admin.c)
 *   PATCH /v1/admin/conversations/{id}  the same for one conversation
 *   POST /v1/admin/holds                {"user"} or {"conv"}, and a "reason"
 *   GET /v1/admin/holds                 newest first, ?before= pages on
 *   DELETE /v1/admin/holds/{id}         lifts it
 *   POST /v1/admin/users/{id}/erase     erases a user (unless held)
 *
 * Each change is audited (chat.c, audited_actions). What a hold protects is
 * enforced in the store (migration 0013): the sweep passes it by, triggers
 * refuse its deletion and keep what edits and recalls replace.
 */
#include <sodium.h>
#include <string.h>

#include "api/admin_internal.h"
#include "api/api.h"
#include "audit/audit.h"
#include "files/files.h"
#include "server.h"
#include "store/store_chat.h"
#include "store/store_retention.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

/* ---- the audit log ---- */

static json_t *hex_json(const uint8_t *bytes, size_t len)
{
    char hex[2 * STORE_AUDIT_HASH_LEN + 1];

    sodium_bin2hex(hex, sizeof(hex), bytes, len);
    return json_string(hex);
}

static int collect_audit(void *arg, const struct store_audit_record *r)
{
    struct admin_page *p = arg;
    json_t *detail = r->detail != NULL ? json_loads(r->detail, 0, NULL) : NULL;

    if (admin_page_full(p)) {
        json_decref(detail);
        return 1;
    }
    admin_page_add(p, r->id,
             json_pack("{s:I,s:I,s:s,s:o,s:o,s:s,s:o,s:s,s:o,s:o}", "id", (json_int_t)r->id,
                       "ts", (json_int_t)r->ts, "actor", r->actor, "actor_name",
                       text_or_null(r->actor_name), "ip", text_or_null(r->ip), "action",
                       r->action, "target", text_or_null(r->target), "outcome", r->outcome,
                       "detail", detail != NULL ? detail : json_null(), "hash",
                       hex_json(r->hash, sizeof(r->hash))));
    return 0;
}

/* ?actor= as stored: user:<id>, key:<id>, a fixed word, or else a username (user:<its id>). */
static int audit_actor_filter(struct chat_call *k, struct store_conn *sc, char *out, size_t cap,
                              bool *none)
{
    const char *actor = json_string_value(json_object_get(k->args, "actor"));
    struct store_user u;
    int rc;

    *none = false;
    if (actor == NULL || strchr(actor, ':') != NULL || strcmp(actor, "system") == 0 ||
        strcmp(actor, "anonymous") == 0 || strcmp(actor, "cli") == 0) {
        snprintf(out, cap, "%s", actor != NULL ? actor : "");
        return 0;
    }
    rc = store_user_by_name(sc, k->who.app_id, actor, &u);
    if (rc == PIPIT_ENOT_FOUND) {
        *none = true; /* no such user: no records */
        return 0;
    }
    if (rc == 0) {
        audit_actor(out, false, u.id);
    }
    return rc;
}

/* GET /v1/admin/audit: the app's records, newest first; ?before=<id> pages on. */
int admin_audit_list(struct chat_call *k, struct store_conn *sc)
{
    char actor[STORE_USERNAME_MAX + 16];
    struct admin_page p;
    bool none;
    int64_t from = 0, to = 0;
    bool has;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = admin_page_read(k, ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, &p);
    }
    if (rc != 0) {
        return rc;
    }
    rc = chat_arg_opt_int(k, "from", 0, INT64_MAX, &from, &has);
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "to", 0, INT64_MAX, &to, &has);
    }
    if (rc == 0) {
        rc = audit_actor_filter(k, sc, actor, sizeof(actor), &none);
    }
    if (rc != 0 || none) {
        return admin_page_answer(k, &p, "records", rc);
    }
    struct store_audit_query q = {
        .app_id = k->who.app_id, .actor = actor[0] != '\0' ? actor : NULL,
        .action = json_string_value(json_object_get(k->args, "action")), .from = from,
        .to = to, .before = p.before, .limit = (int)p.limit + 1
    };

    return admin_page_answer(k, &p, "records", store_audit_page(sc, &q, collect_audit, &p));
}

/* GET /v1/admin/audit/verify: the whole chain, against this server's signing key. */
int admin_audit_verify(struct chat_call *k, struct store_conn *sc)
{
    const struct audit_key *key = k->srv->audit_key;
    struct audit_verdict v;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = audit_verify(sc, audit_key_public(key), &v);
    }
    if (rc != 0) {
        return rc;
    }
    k->result = json_pack("{s:b,s:I,s:I,s:s}", "ok", v.ok, "records", (json_int_t)v.records,
                          "checkpoints", (json_int_t)v.checkpoints, "public_key",
                          audit_key_public_hex(key));
    if (!v.ok) {
        json_object_set_new(k->result, "record", json_integer(v.bad_record));
        json_object_set_new(k->result, "problem", json_string(v.problem));
    }
    return 0;
}

/* ---- retention ---- */

static int read_days(struct chat_call *k, const char *key, int64_t *days)
{
    json_t *v = json_object_get(k->args, key);

    if (v == NULL) {
        return 0; /* unchanged */
    }
    if (json_is_null(v)) {
        *days = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > STORE_RETENTION_DAYS_MAX) {
        k->why = "message_retention_days and file_retention_days are days from 1 to 36500, "
                 "or null";
        return PIPIT_EBAD_REQUEST;
    }
    *days = json_integer_value(v);
    return 0;
}

int retention_args(struct chat_call *k, struct store_retention *r, bool *given)
{
    int rc = read_days(k, "message_retention_days", &r->message_days);

    if (rc == 0) {
        rc = read_days(k, "file_retention_days", &r->file_days);
    }
    *given = json_object_get(k->args, "message_retention_days") != NULL ||
             json_object_get(k->args, "file_retention_days") != NULL;
    return rc;
}

static json_t *days_json(int64_t days)
{
    return days > 0 ? json_integer(days) : json_null();
}

void retention_json_add(json_t *o, const struct store_retention *r)
{
    json_object_set_new(o, "message_retention_days", days_json(r->message_days));
    json_object_set_new(o, "file_retention_days", days_json(r->file_days));
}

/* PATCH /v1/admin/conversations/{conv}: its own retention (null: the app's). */
int admin_conv_update(struct chat_call *k, struct store_conn *sc)
{
    struct store_retention r;
    struct store_conv conv;
    int64_t conv_id;
    bool given;
    int rc = admin_target_conv(k, sc, &conv);

    if (rc != 0) {
        return rc;
    }
    conv_id = conv.id;
    store_conv_cleanup(&conv);
    rc = store_conv_retention(sc, conv_id, &r);
    if (rc == 0) {
        rc = retention_args(k, &r, &given);
    }
    if (rc == 0 && !given) {
        return chat_bad(k, "nothing to change: give message_retention_days or "
                           "file_retention_days");
    }
    if (rc == 0) {
        rc = store_conv_set_retention(sc, conv_id, &r);
    }
    if (rc == 0) {
        k->result = json_pack("{s:I}", "id", (json_int_t)conv_id);
        retention_json_add(k->result, &r);
    }
    return rc;
}

/* ---- legal holds ---- */

static json_t *id_or_null(int64_t id)
{
    return id != 0 ? json_integer(id) : json_null();
}

static json_t *hold_json(const struct store_hold *h)
{
    return json_pack("{s:I,s:o,s:o,s:s,s:I,s:s,s:o,s:o,s:b}", "id", (json_int_t)h->id, "user",
                     id_or_null(h->user_id), "conv", id_or_null(h->conv_id), "reason",
                     h->reason != NULL ? h->reason : "", "created_at", (json_int_t)h->created_at,
                     "created_by", h->created_by, "lifted_at", id_or_null(h->lifted_at),
                     "lifted_by", h->lifted_at != 0 ? json_string(h->lifted_by) : json_null(),
                     "active", h->lifted_at == 0);
}

/* The hold's target: {"user": id or username} or {"conv": id}, exactly one. */
static int hold_target(struct chat_call *k, struct store_conn *sc, struct store_hold *h)
{
    json_t *user = json_object_get(k->args, "user");
    json_t *conv = json_object_get(k->args, "conv");
    struct store_user u;
    struct store_conv c;
    int rc;

    if ((user == NULL) == (conv == NULL)) {
        return chat_bad(k, "give the user or the conversation to hold, not both");
    }
    if (user != NULL) {
        rc = chat_resolve_user(k, sc, user, &u);
        h->user_id = rc == 0 ? u.id : 0;
        return rc;
    }
    if (!json_is_integer(conv) || json_integer_value(conv) < 1) {
        return chat_bad(k, "conv is a conversation id");
    }
    rc = chat_app_conv(k, sc, json_integer_value(conv), &c);
    if (rc == 0) {
        h->conv_id = c.id;
        store_conv_cleanup(&c);
    }
    return rc;
}

int hold_create(struct chat_call *k, struct store_conn *sc)
{
    struct store_hold h = { .app_id = k->who.app_id, .created_at = k->now };
    const char *reason = NULL;
    bool has;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = chat_arg_opt_string(k, "reason", STORE_HOLD_REASON_MAX, &reason, &has);
    }
    if (rc == 0 && (reason == NULL || reason[0] == '\0')) {
        return chat_bad(k, "a hold needs a reason (a string of 1 to 1000 bytes): the case "
                           "or request it serves");
    }
    if (rc == 0) {
        rc = hold_target(k, sc, &h);
    }
    if (rc != 0) {
        return rc;
    }
    chat_actor(k, h.created_by);
    h.reason = reason;
    rc = store_hold_insert(sc, &h);
    if (rc == PIPIT_ECONFLICT) {
        k->why = h.user_id != 0 ? "this user is already under a legal hold"
                                : "this conversation is already under a legal hold";
    }
    if (rc == 0) {
        k->result = hold_json(&h);
        k->status = 201;
    }
    return rc;
}

static int collect_hold(void *arg, const struct store_hold *h)
{
    struct admin_page *p = arg;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, h->id, hold_json(h));
    return 0;
}

/* GET /v1/admin/holds: newest first; ?before=<id> pages on. */
int hold_list(struct chat_call *k, struct store_conn *sc)
{
    struct admin_page p;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = admin_page_read(k, ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, &p);
    }
    if (rc != 0) {
        return rc;
    }
    return admin_page_answer(k, &p, "holds",
                             store_hold_list(sc, k->who.app_id, p.before, (int)p.limit + 1,
                                             collect_hold, &p));
}

int hold_lift(struct chat_call *k, struct store_conn *sc)
{
    struct store_hold h;
    char actor[AUDIT_ACTOR_MAX], reason[STORE_HOLD_REASON_MAX + 1];
    int64_t id;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = chat_arg_id(k, "id", &id);
    }
    if (rc == 0) {
        rc = store_hold_get(sc, k->who.app_id, id, &h, reason, sizeof(reason));
        if (rc == PIPIT_ENOT_FOUND) {
            k->why = "no such hold";
        }
    }
    if (rc == 0 && h.lifted_at != 0) {
        k->why = "this hold was lifted already";
        rc = PIPIT_ECONFLICT;
    }
    if (rc != 0) {
        return rc;
    }
    chat_actor(k, actor);
    rc = store_hold_lift(sc, id, k->now, actor);
    if (rc == 0) {
        rc = store_hold_get(sc, k->who.app_id, id, &h, reason, sizeof(reason));
    }
    if (rc == 0) {
        k->result = hold_json(&h);
    }
    return rc;
}

/* ---- erasure ---- */

static int unlink_gone(void *arg, const char *sha256)
{
    struct chat_call *k = arg;

    files_remove_blob(k->srv, sha256);
    return 0;
}

/* After COMMIT: their sockets close, and the WAL gives up the old page images. */
static void erased(struct chat_call *k)
{
    int64_t *user_id = k->state;
    char err[256];

    api_revoke_user(k->srv, *user_id, 0, "account erased");
    if (store_wal_truncate(k->srv->cfg.data_dir, err, sizeof(err)) != 0) {
        log_warn(NULL, "erasure: the write-ahead log keeps old pages until its next "
                 "checkpoint: %s", err);
    }
}

/* Refuses to erase oneself, the app's last enabled admin, or what a hold keeps. On the writer. */
static int erasable(struct chat_call *k, struct store_conn *sc, const struct store_user *u)
{
    bool held = false;
    int rc = admin_guard(k, sc, u, "you cannot erase your own account",
                         "this is the app's last enabled admin");

    if (rc == 0) {
        rc = store_user_held(sc, u->id, &held);
    }
    if (rc == 0 && held) {
        k->why = "the user, or a conversation they wrote in, is under a legal hold; "
                 "nothing of theirs may be erased until it is lifted";
        rc = PIPIT_ECONFLICT;
    }
    return rc;
}

int user_erase(struct chat_call *k, struct store_conn *sc)
{
    struct store_erasure done;
    struct store_user u;
    int rc = admin_target_user(k, sc, &u);

    if (rc == 0) {
        rc = erasable(k, sc, &u);
    }
    if (rc == 0) {
        rc = store_user_erase(sc, u.id, k->now, &done, unlink_gone, k);
    }
    /* The index's pages holding their words are freed, and zeroed, now too. */
    if (rc == 0 && k->srv->cfg.search) {
        rc = store_search_flush(sc);
        if (rc == 0) {
            rc = store_search_optimize(sc);
        }
    }
    if (store_secure_delete_end(sc) != 0 && rc == 0) {
        rc = PIPIT_ESTORE;
    }
    if (rc != 0) {
        return rc;
    }
    k->state = xmalloc(sizeof(int64_t));
    *(int64_t *)k->state = u.id;
    k->after_commit_call = erased;
    k->result = json_pack("{s:I,s:I,s:I,s:I}", "user", (json_int_t)u.id, "messages",
                          (json_int_t)done.messages, "files", (json_int_t)done.files,
                          "erased_at", (json_int_t)k->now);
    return 0;
}
