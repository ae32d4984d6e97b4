/*
 * chat.c: the action table, the path of a call (loop → store thread → loop),
 * the writer's per-conversation cache, and the shapes of events on the wire.
 *
 * The cache (conversation → members, group flag, muted_all, last seq) lives on
 * the store writer, the only thread that changes membership or takes seqs:
 * every membership change reloads the entry in the same transaction, a failed
 * action forgets the conversation it touched, and a batch that fails to commit
 * forgets them all, so the cache never disagrees with committed state for long
 * enough to address an event to the wrong people or hand out a seq twice.
 *
 * Seqs come from the cache, and each conversation that took some is written
 * back once per batch, just before COMMIT (chat_commit_begin): a message costs
 * one INSERT, not an INSERT and an UPDATE.
 */
#include "chat/chat_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "filter/filter.h"
#include "hooks/assistant.h"
#include "hooks/before_send.h"
#include "hooks/webhooks.h"
#include "http/http_conn.h"
#include "net/conn.h"
#include "net/limits.h"
#include "proto/proto.h"
#include "push/push.h"
#include "server.h"
#include "store/jobs.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/intmap.h"
#include "util/log.h"
#include "util/mem.h"
#include "ws/ws_conn.h"

#define CONV_CACHE_MAX 65536

struct chat {
    struct server *srv;
    struct intmap convs;        /* conv id → struct conv_cache */
    struct id_list dirty;       /* conversations that took seqs in this batch */
    struct buf scratch;         /* where the writer builds an event's text */
    struct bus_batch pending;   /* events of the batch being committed */
    struct push_handoff handoff; /* its deliveries for the dispatcher, handed over at its end */
    bool push_kick;             /* and whether it queued deliveries for a claim */
    const struct audit_spec *audit_of[]; /* per action (actions[]): its spec, or NULL */
};

static const struct chat_action actions[] = {
    /* name               run            prepare      writes ws_op  message */
    { "conv_create",      conv_create,   conv_prepare, true, false, false },
    { "conv_list",        conv_list,     NULL,        false, false, false },
    { "conv_get",         conv_get,      NULL,        false, false, false },
    { "conv_update",      conv_update,   conv_prepare, true, false, false },
    { "conv_transfer",    conv_transfer, NULL,        true,  false, false },
    { "member_list",      member_list,   NULL,        false, false, false },
    { "member_add",       member_add,    NULL,        true,  false, false },
    { "member_remove",    member_remove, NULL,        true,  false, false },
    { "member_update",    member_update, NULL,        true,  false, false },
    { "send",             msg_send,      msg_prepare, true,  true,  true },
    { "edit",             msg_edit,      msg_prepare, true,  true,  true },
    { "recall",           msg_recall,    NULL,        true,  true,  true },
    { "append",           msg_stream,    stream_prepare, true, true, true },
    /* Calls (calls.c): WebSocket only; call_expire is the server's own. */
    { "call_invite",      call_invite,   NULL,        true,  true,  false },
    { "call_ringing",     call_ringing,  NULL,        true,  true,  false },
    { "call_accept",      call_accept,   NULL,        true,  true,  false },
    { "call_reject",      call_reject,   NULL,        true,  true,  false },
    { "call_cancel",      call_cancel,   NULL,        true,  true,  false },
    { "call_hangup",      call_hangup,   NULL,        true,  true,  false },
    { "call_signal",      call_signal,   NULL,        true,  true,  false },
    { "call_expire",      call_expire,   NULL,        true,  false, false },
    { "replace",          msg_stream,    stream_prepare, true, true, true },
    { "delete",           msg_delete,    NULL,        true,  true, false },
    { "read",             msg_read,      NULL,        true,  true, false },
    { "ack",              msg_ack,       NULL,        true,  true, false },
    { "typing",           msg_typing,    NULL,        false, true, false },
    { "history",          msg_history,   NULL,        false, true, false },
    { "sync",             msg_sync,      NULL,        false, true, false },
    { "search",           msg_search,    NULL,        false, true, false },
    /* Push (src/push/): REST only, but push_event (in-app acks). */
    { "api_key_create",   api_key_create, NULL,       true,  false, false },
    { "api_key_list",     api_key_list,  NULL,        false, false, false },
    { "api_key_revoke",   api_key_revoke, NULL,       true,  false, false },
    { "device_register",  device_register, NULL,      true,  false, false },
    { "device_list",      device_list,   NULL,        false, false, false },
    { "device_delete",    device_delete, NULL,        true,  false, false },
    { "topic_subscribe",  topic_subscribe, NULL,      true,  false, false },
    { "topic_unsubscribe", topic_unsubscribe, NULL,   true,  false, false },
    { "topic_list",       topic_list,    NULL,        false, false, false },
    { "tags_put",         tags_put,      NULL,        true,  false, false },
    { "tags_get",         tags_get,      NULL,        false, false, false },
    { "push_send",        push_send,     push_prepare, true, false, false },
    { "push_list",        push_list,     NULL,        false, false, false },
    { "push_get",         push_get,      NULL,        false, false, false },
    { "push_event",       push_event,    NULL,        true,  true, false },
    { "settings_get",     settings_get,  NULL,        false, false, false },
    { "settings_put",     settings_put,  NULL,        true,  false, false },
    { "category_put",     category_put,  NULL,        true,  false, false },
    { "category_delete",  category_delete, NULL,      true,  false, false },
    { "category_list",    category_list, NULL,        false, false, false },
    /* The admin console (src/api/admin.c; conv_delete in conversations.c): REST only. */
    { "admin_user_list",  admin_user_list, NULL,      false, false, false },
    { "admin_user_get",   admin_user_get, NULL,       false, false, false },
    { "admin_user_update", admin_user_update, NULL,   true,  false, false },
    { "admin_session_list", admin_session_list, NULL, false, false, false },
    { "admin_session_revoke", admin_session_revoke, NULL, true, false, false },
    { "admin_sessions_revoke", admin_sessions_revoke, NULL, true, false, false },
    { "admin_mfa_reset",  admin_mfa_reset, NULL,      true,  false, false },
    { "me_session_list",  me_session_list, NULL,      false, false, false },
    { "me_session_revoke", me_session_revoke, NULL,   true,  false, false },
    { "me_sessions_revoke", me_sessions_revoke, NULL, true,  false, false },
    { "mfa_status",       mfa_status,    NULL,        false, false, false },
    { "content_flag_list", content_flag_list, NULL,   false, false, false },
    { "content_flag_resolve", content_flag_resolve, NULL, true, false, false },
    { "admin_conv_list",  admin_conv_list, NULL,      false, false, false },
    { "admin_conv_get",   admin_conv_get, NULL,       false, false, false },
    { "admin_conv_members", admin_conv_members, NULL, false, false, false },
    { "admin_conv_delete", conv_delete,  NULL,        true,  false, false },
    { "admin_stats",      admin_stats,   NULL,        false, false, false },
    { "admin_audit_list", admin_audit_list, NULL,     false, false, false },
    { "admin_conv_update", admin_conv_update, NULL,   true,  false, false },
    { "hold_create",      hold_create,   NULL,        true,  false, false },
    { "hold_list",        hold_list,     NULL,        false, false, false },
    { "hold_lift",        hold_lift,     NULL,        true,  false, false },
    { "user_erase",       user_erase,    NULL,        true,  false, false },
    { "admin_audit_verify", admin_audit_verify, NULL, false, false, false },
    { "admin_app_get",    admin_app_get, NULL,        false, false, false },
    { "admin_app_update", admin_app_update, NULL,     true,  false, false },
    { "user_search",      user_search,   NULL,        false, false, false },
    /* Webhooks (src/api/webhooks.c): REST only. */
    { "webhook_create",   webhook_create, NULL,       true,  false, false },
    { "webhook_list",     webhook_list,  NULL,        false, false, false },
    { "webhook_get",      webhook_get,   NULL,        false, false, false },
    { "webhook_update",   webhook_update, NULL,       true,  false, false },
    { "webhook_delete",   webhook_delete, NULL,       true,  false, false },
    { "webhook_rotate_secret", webhook_rotate_secret, NULL, true, false, false },
    { "webhook_ping",     webhook_ping,  NULL,        true,  false, false },
    { "webhook_deliveries", webhook_deliveries, NULL, false, false, false },
    { "webhook_retry",    webhook_retry, NULL,        true,  false, false },
    { "bot_create",       bot_create,    NULL,        true,  false, false },
    { "bot_list",         bot_list,      NULL,        false, false, false },
    { "bot_get",          bot_get,       NULL,        false, false, false },
    { "bot_update",       bot_update,    NULL,        true,  false, false },
    { "bot_delete",       bot_delete,    NULL,        true,  false, false },
    { "bot_rotate_key",   bot_rotate_key, NULL,       true,  false, false },
    { "assistant_get",    assistant_get, NULL,        false, false, false },
    { "assistant_put",    assistant_put, NULL,        true,  false, false },
    { "assistant_delete", assistant_delete, NULL,     true,  false, false },
    { "before_send_get",  before_send_get, NULL,      false, false, false },
    { "before_send_put",  before_send_put, NULL,      true,  false, false },
    { "before_send_delete", before_send_delete, NULL, true,  false, false },
    { "before_send_rotate_secret", before_send_rotate_secret, NULL, true, false, false },
};

#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

/*
 * The audited actions (all writes), with the audit log's name for each and its
 * target: a type and the argument naming it (or the result's "id" when the
 * arguments have none; no argument: the caller's app). The record is written in
 * the action's transaction, refusals too (call_run). Logins, logouts and
 * password changes are audited in api/accounts.c.
 */
static const struct audit_spec {
    const char *action, *audit, *target_type, *target_arg;
} audited_actions[] = {
    { "api_key_create",        "api_key.create",       "api_key",  "id" },
    { "api_key_revoke",        "api_key.revoke",       "api_key",  "id" },
    { "category_put",          "push_category.put",    "category", "name" },
    { "category_delete",       "push_category.delete", "category", "name" },
    { "admin_user_update",     "user.update",          "user",     "id" },
    { "admin_session_revoke",  "session.revoke",       "user",     "id" },
    { "admin_sessions_revoke", "session.revoke_all",   "user",     "id" },
    { "admin_mfa_reset",       "mfa.reset",            "user",     "id" },
    { "content_flag_resolve",  "content_flag.resolve", "content_flag", "id" },
    { "me_session_revoke",     "session.revoke",       "session",  "id" },
    { "me_sessions_revoke",    "session.revoke_others", "user",    "user" },
    { "admin_conv_delete",     "conv.delete",          "conv",     "conv" },
    { "admin_app_update",      "app.update",           "app",      NULL },
    { "admin_conv_update",     "conv.update",          "conv",     "conv" },
    { "hold_create",           "hold.create",          "hold",     "id" },
    { "hold_lift",             "hold.lift",            "hold",     "id" },
    { "user_erase",            "user.erase",           "user",     "id" },
    { "webhook_create",        "webhook.create",       "webhook",  "id" },
    { "webhook_update",        "webhook.update",       "webhook",  "id" },
    { "webhook_delete",        "webhook.delete",       "webhook",  "id" },
    { "webhook_rotate_secret", "webhook.rotate_secret", "webhook", "id" },
    { "webhook_ping",          "webhook.ping",         "webhook",  "id" },
    { "webhook_retry",         "webhook.retry",        "webhook",  "id" },
    { "bot_create",            "bot.create",           "user",     "id" },
    { "bot_update",            "bot.update",           "user",     "id" },
    { "bot_delete",            "bot.delete",           "user",     "id" },
    { "bot_rotate_key",        "bot.rotate_key",       "user",     "id" },
    { "assistant_put",         "assistant.put",        "app",      NULL },
    { "assistant_delete",      "assistant.delete",     "app",      NULL },
    { "before_send_put",       "before_send.put",      "app",      NULL },
    { "before_send_delete",    "before_send.delete",   "app",      NULL },
    { "before_send_rotate_secret", "before_send.rotate_secret", "app", NULL },
};


static const struct chat_action *find_action(const char *name)
{
    for (size_t i = 0; i < NACTIONS; i++) {
        if (strcmp(actions[i].name, name) == 0) {
            return &actions[i];
        }
    }
    return NULL;
}

void chat_op_names(json_t *names)
{
    for (size_t i = 0; i < NACTIONS; i++) {
        if (actions[i].ws_op) {
            json_array_append_new(names, json_string(actions[i].name));
        }
    }
}

bool chat_is_op(const char *name)
{
    const struct chat_action *a = find_action(name);

    return a != NULL && a->ws_op;
}

/* ---- the writer's cache ---- */

static void conv_cache_free(struct conv_cache *cc)
{
    if (cc != NULL) {
        user_set_unref(cc->members);
        free(cc);
    }
}

static void cache_clear(struct chat *ch)
{
    for (size_t i = 0; i < ch->convs.cap; i++) {
        if (ch->convs.slots[i].key != 0) {
            conv_cache_free(ch->convs.slots[i].value);
        }
    }
    intmap_cleanup(&ch->convs);
}

struct chat *chat_new(struct server *srv)
{
    struct chat *ch = xcalloc(1, sizeof(*ch) + NACTIONS * sizeof(ch->audit_of[0]));

    ch->srv = srv;
    /* Once, so that no call looks its spec up by name. */
    for (size_t i = 0; i < sizeof(audited_actions) / sizeof(audited_actions[0]); i++) {
        const struct chat_action *a = find_action(audited_actions[i].action);

        if (a != NULL && a->writes) {
            ch->audit_of[a - actions] = &audited_actions[i];
        }
    }
    intmap_init(&ch->convs);
    buf_init(&ch->scratch, 64 * 1024 * 1024); /* far above an event's parts, each capped */
    return ch;
}

void chat_free(struct chat *ch)
{
    if (ch == NULL) {
        return;
    }
    cache_clear(ch);
    for (size_t i = 0; i < ch->pending.n; i++) {
        bus_event_unref(ch->pending.evs[i]);
    }
    free(ch->pending.evs);
    free(ch->handoff.a); /* empty: every batch's end hands it over */
    free(ch->dirty.ids);
    buf_cleanup(&ch->scratch);
    free(ch);
}

/* A store callback over user ids (store_contacts); also appends one id. */
static int collect_id(void *arg, int64_t id)
{
    id_list_add(arg, id);
    return 0;
}

/* A store callback over members (store_member_list). */
static int collect_member_id(void *arg, const struct store_member *m)
{
    return collect_id(arg, m->user_id);
}

struct user_set *chat_load_members(struct store_conn *sc, int64_t conv_id)
{
    struct id_list mi = { 0 };
    struct user_set *set = NULL;

    if (store_member_list(sc, conv_id, collect_member_id, &mi) == 0) {
        set = user_set_of(mi.ids, mi.n);
    }
    free(mi.ids);
    return set;
}

/* (Re)loads what may change: the members and the send rules. */
static int conv_cache_load(struct store_conn *sc, int64_t conv_id, struct conv_cache *cc)
{
    struct store_conv conv;

    if (store_conv_get(sc, conv_id, &conv) != 0) {
        return -1;
    }
    cc->group = strcmp(conv.type, "group") == 0;
    cc->muted_all = conv.muted_all;
    store_conv_cleanup(&conv);
    user_set_unref(cc->members);
    cc->members = chat_load_members(sc, conv_id);
    return cc->members != NULL ? 0 : -1;
}

static struct conv_cache *conv_cached(struct chat_call *k, struct store_conn *sc,
                                      int64_t conv_id)
{
    struct chat *ch = k->srv->chat;
    struct conv_cache *cc = intmap_get(&ch->convs, conv_id);

    if (cc != NULL) {
        if (cc->members == NULL && conv_cache_load(sc, conv_id, cc) != 0) {
            conv_cache_free(intmap_remove(&ch->convs, conv_id));
            return NULL;
        }
        return cc;
    }
    cc = xcalloc(1, sizeof(*cc));
    if (conv_cache_load(sc, conv_id, cc) != 0 ||
        store_conv_tail(sc, conv_id, &cc->last_seq, &cc->last_ts) != 0) {
        conv_cache_free(cc);
        return NULL;
    }
    /* Never between a chat_take_seq and its insert (chat_internal.h): no action loads
     * another conversation there. */
    if (ch->convs.len >= CONV_CACHE_MAX) {
        cache_clear(ch);
    }
    intmap_put(&ch->convs, conv_id, cc);
    return cc;
}

const struct conv_cache *chat_conv_cached(struct chat_call *k, struct store_conn *sc,
                                          int64_t conv_id)
{
    return conv_cached(k, sc, conv_id);
}

void chat_conv_changed(struct chat_call *k, int64_t conv_id)
{
    struct conv_cache *cc = intmap_get(&k->srv->chat->convs, conv_id);

    /* The seq counter stays: only members and rules are read again. */
    if (cc != NULL) {
        user_set_unref(cc->members);
        cc->members = NULL;
    }
    k->touched_conv = conv_id;
}

/* After a failed action: its seqs and membership changes were rolled back. */
static void conv_forget(struct chat *ch, int64_t conv_id)
{
    conv_cache_free(intmap_remove(&ch->convs, conv_id));
}

void chat_conv_forget(struct chat_call *k, int64_t conv_id)
{
    conv_forget(k->srv->chat, conv_id);
}

/* ---- events on the wire ---- */

static void merge_object_text(json_t *o, const char *text)
{
    json_t *extra = text != NULL ? json_loads(text, 0, NULL) : NULL;

    if (json_is_object(extra)) {
        json_object_update(o, extra);
    }
    json_decref(extra);
}

json_t *chat_event_json(const struct store_event *ev)
{
    json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "ev", ev->kind, "conv",
                          (json_int_t)ev->conv_id, "seq", (json_int_t)ev->seq, "id",
                          (json_int_t)ev->id, "from", (json_int_t)ev->sender, "ts",
                          (json_int_t)ev->ts);
    bool message = strcmp(ev->kind, "message") == 0;

    merge_object_text(o, ev->meta);
    if (ev->target != 0) {
        json_object_set_new(o, "target", json_integer(ev->target));
    }
    if (ev->cmid != NULL) {
        json_object_set_new(o, "cmid", json_string(ev->cmid));
    }
    if (message && ev->hidden) {
        json_object_set_new(o, "deleted", json_true());
    } else if (message && ev->recalled) {
        json_object_set_new(o, "recalled", json_true());
    } else if (ev->body != NULL) {
        json_object_set_new(o, "body", json_loads(ev->body, 0, NULL));
    }
    if (message && ev->edited_at != 0 && !ev->recalled) {
        json_object_set_new(o, "edited", json_true());
        json_object_set_new(o, "edited_at", json_integer(ev->edited_at));
    }
    return o;
}

void chat_page_init(struct chat_page *p, int64_t limit, size_t budget)
{
    p->events = json_array();
    p->limit = limit;
    p->budget = budget;
    p->bytes = 0;
    p->more = false;
}

int chat_page_add(void *page, const struct store_event *ev)
{
    struct chat_page *p = page;
    /* The stored texts plus room for the fixed fields: close enough to the wire size. */
    size_t size = 160 + (ev->body != NULL ? strlen(ev->body) : 0) +
                  (ev->meta != NULL ? strlen(ev->meta) : 0);

    if ((int64_t)json_array_size(p->events) >= p->limit ||
        (p->bytes + size > p->budget && json_array_size(p->events) > 0)) {
        p->more = true;
        return 1;
    }
    p->bytes += size;
    json_array_append_new(p->events, chat_event_json(ev));
    return 0;
}

/* Appends `prefix` (a key with its punctuation) and then v. */
static void append_int_field(struct buf *b, const char *prefix, int64_t v)
{
    buf_appendz(b, prefix);
    buf_append_int(b, v);
}

/*
 * The live form of a new event, written straight from its parts: the body and
 * meta are already JSON text, so the hot path never parses them again. It is
 * the same object chat_event_json() builds from the stored row.
 */
static void event_text(struct buf *b, const struct store_event *ev)
{
    buf_reset(b);
    buf_appendz(b, "{\"ev\":\"");
    buf_appendz(b, ev->kind);
    append_int_field(b, "\",\"conv\":", ev->conv_id);
    append_int_field(b, ",\"seq\":", ev->seq);
    append_int_field(b, ",\"id\":", ev->id);
    append_int_field(b, ",\"from\":", ev->sender);
    append_int_field(b, ",\"ts\":", ev->ts);
    if (ev->meta != NULL && strcmp(ev->meta, "{}") != 0) {
        /* "{…}" → ",…" */
        buf_appendz(b, ",");
        buf_append(b, ev->meta + 1, strlen(ev->meta) - 2);
    }
    if (ev->target != 0) {
        append_int_field(b, ",\"target\":", ev->target);
    }
    if (ev->cmid != NULL) {
        buf_appendz(b, ",\"cmid\":");
        buf_append_json_string(b, ev->cmid, strlen(ev->cmid));
    }
    if (ev->body != NULL) {
        buf_appendz(b, ",\"body\":");
        buf_appendz(b, ev->body);
    }
    buf_appendz(b, "}");
}

static void queue_event(struct chat_call *k, char *text, size_t len, struct user_set *to)
{
    bus_batch_add(&k->events, bus_event_new(text, len, to));
}

void chat_publish(struct chat_call *k, json_t *event, struct user_set *to)
{
    char *text = json_dumps(event, JSON_COMPACT);

    json_decref(event);
    if (text == NULL) {
        user_set_unref(to);
        return;
    }
    queue_event(k, text, strlen(text), to);
    free(text);
}

int chat_take_seq(struct chat_call *k, struct store_conn *sc, int64_t conv_id, int64_t *seq)
{
    struct chat *ch = k->srv->chat;
    struct conv_cache *cc = conv_cached(k, sc, conv_id);

    if (cc == NULL) {
        return PIPIT_ESTORE;
    }
    *seq = ++cc->last_seq;
    cc->last_ts = k->now;
    k->touched_conv = conv_id;
    if (!cc->dirty) {
        cc->dirty = true;
        collect_id(&ch->dirty, conv_id);
    }
    return 0;
}

void chat_untake_seq(struct chat_call *k, int64_t conv_id)
{
    struct conv_cache *cc = intmap_get(&k->srv->chat->convs, conv_id);

    if (cc != NULL) {
        cc->last_seq--;
    }
}

/*
 * A message, an edit or a recall, for the app's webhooks and those of the bots
 * among the members: the event as sessions get it.
 */
static int emit_event(struct chat_call *k, struct store_conn *sc, const struct store_event *ev,
                      const char *text, const struct user_set *members)
{
    enum webhook_event e = strcmp(ev->kind, "message") == 0 ? WEBHOOK_MESSAGE_CREATED
                           : strcmp(ev->kind, "edit") == 0  ? WEBHOOK_MESSAGE_EDITED
                           : strcmp(ev->kind, "recall") == 0 ? WEBHOOK_MESSAGE_RECALLED
                                                             : WEBHOOK_EVENT_COUNT;
    int rc;

    if (e == WEBHOOK_EVENT_COUNT) {
        return 0;
    }
    rc = webhooks_emit(k->srv, sc, k->who.app_id, e, text, k->now);
    return rc != 0 ? rc : webhooks_emit_bots(k->srv, sc, k->who.app_id, e, text, k->now,
                                             members, ev->sender);
}

int chat_insert(struct chat_call *k, struct store_conn *sc, struct store_event *ev,
                struct user_set *to)
{
    struct buf *text = &k->srv->chat->scratch;
    int rc;

    ev->ts = k->now;
    rc = store_event_insert(sc, ev);
    if (rc != 0) {
        user_set_unref(to);
        return rc;
    }
    if (to == NULL) {
        const struct conv_cache *cc = chat_conv_cached(k, sc, ev->conv_id);

        if (cc == NULL) {
            return PIPIT_ESTORE;
        }
        to = user_set_ref(cc->members);
    }
    event_text(text, ev);
    rc = emit_event(k, sc, ev, text->data, to);
    queue_event(k, text->data, text->len, to); /* dropped with the call if it fails */
    return rc;
}

int chat_append(struct chat_call *k, struct store_conn *sc, struct store_event *ev,
                struct user_set *to)
{
    int rc = chat_take_seq(k, sc, ev->conv_id, &ev->seq);

    if (rc != 0) {
        user_set_unref(to);
        return rc;
    }
    return chat_insert(k, sc, ev, to);
}

void chat_answer_event(struct chat_call *k, const struct store_event *ev, bool duplicate)
{
    struct buf b;

    buf_init(&b, 256);
    append_int_field(&b, "{\"seq\":", ev->seq);
    append_int_field(&b, ",\"id\":", ev->id);
    append_int_field(&b, ",\"ts\":", ev->ts);
    buf_appendz(&b, duplicate ? ",\"duplicate\":true}" : "}");
    free(k->ok_text);
    k->ok_text = buf_steal(&b, &k->ok_len);
}

/* ---- shared helpers of the actions ---- */

int chat_rank(const char *role)
{
    return strcmp(role, "owner") == 0 ? 3 : strcmp(role, "admin") == 0 ? 2
           : strcmp(role, "member") == 0 ? 1 : 0;
}

int chat_bad(struct chat_call *k, const char *why)
{
    k->why = why;
    return PIPIT_EBAD_REQUEST;
}

int chat_filter_text(struct chat_call *k, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    struct filter_hit hit;
    char *masked;

    if (!json_is_string(v)) {
        return 0;
    }
    switch (filter_set_check(k->srv->filters, k->who.app_id, json_string_value(v),
                             json_string_length(v), &masked, &hit)) {
    case FILTER_REJECT:
        return PIPIT_ECONTENT_BLOCKED;
    case FILTER_MASK:
        json_object_set_new(obj, key, json_string(masked));
        free(masked);
        return 0;
    case FILTER_FLAG:
        free(k->flag);
        k->flag = xmalloc(sizeof(*k->flag));
        *k->flag = hit;
        return 0;
    default:
        return 0;
    }
}

int chat_record_flag(struct chat_call *k, struct store_conn *sc, int64_t conv, int64_t seq)
{
    struct store_flag f = { 0, conv, seq, k->who.user_id, NULL, NULL, k->now };

    if (k->flag == NULL) {
        return 0;
    }
    f.list = k->flag->list;
    f.word = k->flag->word;
    return store_flag_insert(sc, k->who.app_id, &f);
}

int chat_arg_id(struct chat_call *k, const char *key, int64_t *out)
{
    json_t *v = json_object_get(k->args, key);

    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        k->why = v == NULL ? "a required field is missing" : "an id must be a positive integer";
        return PIPIT_EBAD_REQUEST;
    }
    *out = json_integer_value(v);
    return 0;
}

int chat_arg_opt_int(struct chat_call *k, const char *key, int64_t min, int64_t max,
                     int64_t *out, bool *present)
{
    json_t *v = json_object_get(k->args, key);

    *present = v != NULL && !json_is_null(v);
    if (!*present) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        k->why = "a number is missing, of the wrong type or out of range";
        return PIPIT_EBAD_REQUEST;
    }
    *out = json_integer_value(v);
    return 0;
}

int chat_arg_opt_string(struct chat_call *k, const char *key, size_t max, const char **out,
                        bool *present)
{
    json_t *v = json_object_get(k->args, key);

    *present = v != NULL;
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) > max) {
        k->why = json_is_string(v) ? "a text field is too long" : "a field has the wrong type";
        return PIPIT_EBAD_REQUEST;
    }
    *out = json_string_value(v);
    return 0;
}

int chat_resolve_user(struct chat_call *k, struct store_conn *sc, json_t *v,
                      struct store_user *out)
{
    int rc;

    if (json_is_integer(v)) {
        rc = store_user_by_id(sc, json_integer_value(v), out);
        if (rc == 0 && out->app_id != k->who.app_id) {
            rc = PIPIT_ENOT_FOUND;
        }
    } else if (json_is_string(v)) {
        rc = store_user_by_name(sc, k->who.app_id, json_string_value(v), out);
    } else {
        k->why = "a user is an id or a username";
        return PIPIT_EBAD_REQUEST;
    }
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such user";
    }
    memset(out->password_hash, 0, sizeof(out->password_hash));
    return rc;
}

int chat_access(struct chat_call *k, struct store_conn *sc, int64_t conv_id,
                struct store_conv *conv, struct store_member *me)
{
    struct store_member m;
    int rc = store_member_get(sc, conv_id, k->who.user_id, &m);

    if (rc == 0 && m.left_seq != 0) {
        rc = PIPIT_ENOT_FOUND;
    }
    if (rc == 0 && conv != NULL) {
        rc = store_conv_get(sc, conv_id, conv);
    }
    if (rc == 0 && conv != NULL && k->action->writes) {
        /* On the writer the row's last_seq lags the batch; the cache has it. */
        const struct conv_cache *cc = conv_cached(k, sc, conv_id);

        if (cc == NULL) {
            store_conv_cleanup(conv);
            return PIPIT_ESTORE;
        }
        conv->last_seq = cc->last_seq;
        conv->last_ts = cc->last_ts;
    }
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such conversation";
        return rc;
    }
    if (rc == 0 && me != NULL) {
        *me = m;
    }
    return rc;
}

json_t *text_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *time_or_null(int64_t ms)
{
    return ms != 0 ? json_integer(ms) : json_null();
}

json_t *chat_member_json(const struct store_member *m)
{
    return json_pack("{s:{s:I,s:s,s:o},s:s,s:I,s:I,s:I,s:I}", "user", "id",
                     (json_int_t)m->user_id, "username", m->username, "display_name",
                     text_or_null(m->display_name[0] != '\0' ? m->display_name : NULL),
                     "role", m->role, "muted_until",
                     (json_int_t)m->muted_until, "read_seq", (json_int_t)m->read_seq,
                     "delivered_seq", (json_int_t)m->delivered_seq, "joined_seq",
                     (json_int_t)m->joined_seq);
}

static int set_last_message(void *arg, const struct store_event *ev)
{
    json_object_set_new(arg, "last_message", chat_event_json(ev));
    return 0;
}

struct peer_search {
    int64_t me;
    json_t *conv;
    struct presence *presence;
};

static int find_peer(void *arg, const struct store_member *m)
{
    struct peer_search *ps = arg;

    if (m->user_id == ps->me) {
        return 0;
    }
    int64_t last_seen;
    bool online = presence_get(ps->presence, m->user_id, &last_seen);

    json_object_set_new(ps->conv, "peer",
                        json_pack("{s:I,s:s,s:o,s:b,s:o}", "id", (json_int_t)m->user_id,
                                  "username", m->username, "display_name",
                                  text_or_null(m->display_name[0] != '\0' ? m->display_name
                                                                         : NULL),
                                  "online", online, "last_seen",
                                  last_seen != 0 ? json_integer(last_seen) : json_null()));
    return 1;
}

json_t *chat_conv_json(struct chat_call *k, struct store_conn *sc, const struct store_conv *c,
                       const struct store_member *me)
{
    json_t *o = json_pack("{s:I,s:s,s:o,s:o,s:o,s:o,s:b,s:I,s:I,s:I,s:I,s:I,s:s}", "id",
                          (json_int_t)c->id, "type", c->type, "title", text_or_null(c->title),
                          "avatar_url", text_or_null(c->avatar_url), "description",
                          text_or_null(c->description), "announcement",
                          text_or_null(c->announcement), "muted_all", c->muted_all,
                          "created_at", (json_int_t)c->created_at, "created_by",
                          (json_int_t)c->created_by, "last_seq", (json_int_t)c->last_seq,
                          "last_ts", (json_int_t)c->last_ts, "read_seq",
                          (json_int_t)me->read_seq, "role", me->role);
    int64_t unread = 0, count = 0;

    json_object_set_new(o, "joined_seq", json_integer(me->joined_seq));
    /* Messages from before the member joined were never theirs to read. */
    if (store_unread_count(sc, c->id, me->user_id, k->now,
                           me->read_seq > me->joined_seq - 1 ? me->read_seq : me->joined_seq - 1,
                           &unread) == 0) {
        json_object_set_new(o, "unread", json_integer(unread));
    }
    if (store_member_count(sc, c->id, &count) == 0) {
        json_object_set_new(o, "member_count", json_integer(count));
    }
    store_last_message(sc, c->id, me->user_id, k->now, me->joined_seq, set_last_message, o);
    if (strcmp(c->type, "direct") == 0) {
        struct peer_search ps = { me->user_id, o, k->srv->presence };

        store_member_list(sc, c->id, find_peer, &ps);
    }
    return o;
}

/* ---- the path of a call ---- */

static void call_free(struct chat_call *k)
{
    json_decref(k->args);
    json_decref(k->result);
    json_decref(k->req_id);
    for (size_t i = 0; i < k->events.n; i++) {
        bus_event_unref(k->events.evs[i]);
    }
    free(k->events.evs);
    push_handoff_drop(k->srv, &k->push_handoff); /* what is left did not commit */
    free(k->body_text);
    free(k->meta_text);
    free(k->why_text);
    free(k->flag);
    free(k->ok_text);
    free(k->state);
    free(k);
}

/* {"re":…,"ok":…} around an answer already written as text (the hot path). */
static void answer_text(struct chat_call *k)
{
    struct buf b;
    char *id = json_dumps(k->req_id, JSON_ENCODE_ANY | JSON_COMPACT);

    buf_init(&b, SIZE_MAX);
    buf_appendz(&b, "{\"re\":");
    buf_appendz(&b, id != NULL ? id : "null");
    buf_appendz(&b, ",\"ok\":");
    buf_append(&b, k->ok_text, k->ok_len);
    buf_appendz(&b, "}");
    ws_conn_send_text(k->c, b.data, b.len);
    buf_cleanup(&b);
    free(id);
}

static void answer(struct chat_call *k, int rc)
{
    struct conn *c = k->c;

    if (c->closing) {
        return;
    }
    if (k->req_id != NULL && rc == 0 && k->ok_text != NULL) {
        answer_text(k);
        return;
    }
    if (k->req_id != NULL) {
        json_t *msg = rc == 0 ? proto_ok(k->req_id, k->result)
                              : proto_error(k->req_id, rc, k->why);

        k->result = NULL;
        ws_conn_send_json(c, msg);
        return;
    }
    if (c->http == NULL) {
        return;
    }
    if (rc != 0) {
        http_respond_error(&c->http->x, rc, k->why,
                           rc == PIPIT_EUNAVAILABLE || rc == PIPIT_ERATE_LIMITED
                               ? "Retry-After: 1\r\n" : NULL);
    } else if (k->status == 204) {
        http_respond(&c->http->x, 204, NULL, NULL, "", 0);
    } else if (k->ok_text != NULL) {
        http_respond_json_text(&c->http->x, k->status, k->ok_text, k->ok_len);
    } else {
        http_respond_json(&c->http->x, k->status, k->result);
        k->result = NULL;
    }
}

void chat_actor(const struct chat_call *k, char out[AUDIT_ACTOR_MAX])
{
    audit_actor(out, k->who.user_id == 0, k->who.user_id != 0 ? k->who.user_id : k->who.key_id);
}

/* The audited call's target, e.g. "user:7" (audit_spec). */
static void audit_target(const struct chat_call *k, char *out, size_t cap)
{
    const char *type = k->audit->target_type;
    json_t *v;

    if (k->audit->target_arg == NULL) {
        snprintf(out, cap, "%s:%lld", type, (long long)k->who.app_id);
        return;
    }
    v = json_object_get(k->args, k->audit->target_arg);
    if (v == NULL && k->result != NULL) {
        v = json_object_get(k->result, "id"); /* what the call made */
    }
    if (json_is_integer(v)) {
        snprintf(out, cap, "%s:%lld", type, (long long)json_integer_value(v));
    } else if (json_is_string(v)) {
        snprintf(out, cap, "%s:%s", type, json_string_value(v));
    } else {
        snprintf(out, cap, "%s", type);
    }
}

/* The call's audit record: who, from where, on what, with which arguments, and how it ended. */
/* The arguments as the audit log keeps them: secrets given (an endpoint's key) left out. */
static char *audit_args(const struct chat_call *k)
{
    static const char *const secrets[] = { "api_key", "password", "secret" };
    json_t *copy = json_copy(k->args);
    char *text;

    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (json_is_string(json_object_get(copy, secrets[i]))) {
            json_object_set_new(copy, secrets[i], json_string("(not recorded)"));
        }
    }
    text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    return text;
}

static int audit_outcome(struct chat_call *k, struct store_conn *sc, int rc)
{
    char actor[AUDIT_ACTOR_MAX], target[160];
    char *args = audit_args(k);
    struct store_audit_record r = { .ts = k->now, .app_id = k->who.app_id, .actor = actor,
                                    .ip = k->c != NULL ? k->c->ip : NULL,
                                    .action = k->audit->audit,
                                    .target = target, .detail = args };
    int out;

    chat_actor(k, actor);
    audit_target(k, target, sizeof(target));
    if (args != NULL && strlen(args) > AUDIT_DETAIL_MAX) {
        r.detail = "{\"omitted\":\"the arguments were too long\"}";
    }
    out = audit_settle(sc, k->srv->audit_key, &r, rc, &k->job.keep);
    if (out != rc) {
        k->why = "the audit log cannot be written; nothing was changed";
    }
    free(args);
    return out;
}

static void call_run(struct job *j, void *ctx)
{
    struct chat_call *k = (struct chat_call *)j;
    bool audited = k->audit != NULL;

    k->now = clock_now_ms();
    if (audited && (j->rc = audit_begin(ctx)) != 0) {
        return;
    }
    j->rc = k->action->run(k, ctx);
    if (audited) {
        j->rc = audit_outcome(k, ctx, j->rc);
    }
    if (j->rc != 0 && k->action->writes && k->touched_conv != 0) {
        /* The savepoint rolls back: what the cache learned in it is void. */
        conv_forget(k->srv->chat, k->touched_conv);
    }
    if (j->rc == 0 && !k->action->writes) {
        bus_flush(k->srv, &k->events);
    }
}

static void call_committed(struct job *j, void *arg)
{
    struct chat_call *k = (struct chat_call *)j;
    struct chat *ch = arg;

    for (size_t i = 0; i < k->events.n; i++) {
        bus_batch_add(&ch->pending, k->events.evs[i]);
    }
    k->events.n = 0;
    if (k->push_to_expand != 0) {
        push_expand(ch->srv, k->push_to_expand);
    }
    /* For the batch's end: one wake-up of the dispatcher per batch, not per call. */
    ch->push_kick |= k->push_queued;
    push_handoff_move(&ch->handoff, &k->push_handoff);
    if (k->after_commit != NULL) {
        k->after_commit(ch->srv);
    }
    if (k->after_commit_call != NULL) {
        k->after_commit_call(k);
    }
    if (k->ask_assistant != 0) {
        assistant_ask(ch->srv, k->who.app_id, json_integer_value(json_object_get(k->args, "conv")),
                      k->ask_assistant, k->who.user_id);
    }
}

void chat_publish_committed(struct chat *ch, struct bus_event *ev)
{
    bus_batch_add(&ch->pending, ev);
}

int chat_commit_begin(void *arg, struct store_conn *sc)
{
    struct chat *ch = arg;
    int rc = 0;

    /* A broken index must not stop messages: they stay queued, and searchable later. */
    if (ch->srv->cfg.search && store_search_flush(sc) != 0) {
        log_error(NULL, "search: cannot index this batch, it stays queued: %s",
                  store_errmsg(sc));
    }

    for (size_t i = 0; i < ch->dirty.n; i++) {
        struct conv_cache *cc = intmap_get(&ch->convs, ch->dirty.ids[i]);

        if (rc == 0) {
            rc = store_conv_save_tail(sc, ch->dirty.ids[i]);
        }
        if (cc != NULL) {
            cc->dirty = false;
        }
    }
    ch->dirty.n = 0;
    return rc;
}

void chat_commit_end(void *arg, bool ok)
{
    struct chat *ch = arg;

    webhooks_batch_end(ch->srv, ok);
    if (!ok) {
        assistant_changed(ch->srv); /* its cache may hold what rolled back */
    }
    if (ok) {
        bus_flush(ch->srv, &ch->pending);
        push_dispatch_hand(ch->srv, &ch->handoff);
        if (ch->push_kick) {
            push_dispatch_kick(ch->srv);
        }
        ch->push_kick = false;
        return;
    }
    for (size_t i = 0; i < ch->pending.n; i++) {
        bus_event_unref(ch->pending.evs[i]);
    }
    ch->pending.n = 0;
    cache_clear(ch);
}

static void call_done(struct job *j)
{
    struct chat_call *k = (struct chat_call *)j;
    struct conn *c = k->c;

    if (!j->orphaned) {
        answer(k, j->rc);
    }
    call_free(k);
    conn_unref(c);
}

/* A send back from its before-send hook (hooks/before_send.h): stored, or answered. */
static void call_resume(struct chat_call *k, int rc, bool orphaned)
{
    if (rc == 0 && !orphaned && (rc = jobs_write(k->srv->jobs, &k->job)) == 0) {
        return;
    }
    k->job.rc = rc != 0 ? rc : PIPIT_EUNAVAILABLE;
    k->job.orphaned = orphaned;
    call_done(&k->job);
}

static void call_submit(struct conn *c, const struct chat_caller *who,
                        const struct chat_action *a, json_t *id, json_t *args)
{
    struct chat_call *k = xcalloc(1, sizeof(*k));
    struct server *srv = c->w->srv;
    int rc = 0;

    k->action = a;
    k->audit = srv->chat->audit_of[a - actions];
    k->srv = srv;
    k->who = *who;
    k->args = args;
    k->status = 200;
    k->c = c;
    k->req_id = id != NULL ? json_incref(id) : NULL;
    k->job.origin = c->w;
    k->job.run = call_run;
    k->job.done = call_done;
    k->job.committed = a->writes ? call_committed : NULL;
    conn_ref(c);
    if (who->user_id != 0 && a->message &&
        limits_take(srv->limits, LIMIT_USER_MESSAGES, (uint64_t)who->user_id,
                    worker_now(c->w)) > 0) {
        k->why = "too many messages: slow down";
        rc = PIPIT_ERATE_LIMITED;
    }
    if (rc == 0 && a->prepare != NULL) {
        rc = a->prepare(k);
    }
    if (rc == 0 && a->run == msg_send && before_send_wanted(srv, who->app_id)) {
        before_send_run(k, call_resume);
        return;
    }
    if (rc == 0) {
        rc = a->writes ? jobs_write(srv->jobs, &k->job) : jobs_read(srv->jobs, &k->job);
    }
    if (rc != 0) {
        answer(k, rc);
        call_free(k);
        conn_unref(c);
    }
}

/* The caller of an internal call, and what to tell it. */
struct internal_call {
    void (*done)(void *arg, int rc, json_t *result, const char *why);
    void *arg;
};

static void internal_done(struct job *j)
{
    struct chat_call *k = (struct chat_call *)j;
    struct internal_call *ic = k->state;
    json_t *result = NULL;

    if (j->rc == 0) {
        result = k->ok_text != NULL ? json_loadb(k->ok_text, k->ok_len, 0, NULL)
                                    : json_incref(k->result);
    }
    ic->done(ic->arg, j->orphaned && j->rc == 0 ? PIPIT_EUNAVAILABLE : j->rc, result, k->why);
    json_decref(result);
    call_free(k);
}

void chat_call_internal(struct server *srv, struct worker *origin, const struct chat_caller *who,
                        const char *name, json_t *args,
                        void (*done)(void *arg, int rc, json_t *result, const char *why),
                        void *arg)
{
    const struct chat_action *a = find_action(name);
    struct chat_call *k = xcalloc(1, sizeof(*k));
    struct internal_call *ic = xcalloc(1, sizeof(*ic));
    int rc = 0;

    ic->done = done;
    ic->arg = arg;
    k->action = a;
    k->audit = srv->chat->audit_of[a - actions];
    k->srv = srv;
    k->who = *who;
    k->args = args;
    k->status = 200;
    k->state = ic;
    k->job.origin = origin;
    k->job.run = call_run;
    k->job.done = internal_done;
    k->job.committed = a->writes ? call_committed : NULL;
    if (a->prepare != NULL) {
        rc = a->prepare(k);
    }
    if (rc == 0) {
        rc = a->writes ? jobs_write(srv->jobs, &k->job) : jobs_read(srv->jobs, &k->job);
    }
    if (rc != 0) {
        k->job.rc = rc;
        internal_done(&k->job);
    }
}

void chat_call_ws(struct conn *c, const struct chat_caller *who, const char *name,
                  json_t *id, json_t *args)
{
    call_submit(c, who, find_action(name), id, args);
}

void chat_call_http(struct http_exchange *x, const struct chat_caller *who, const char *name,
                    json_t *args)
{
    const struct chat_action *a = find_action(name);

    if (a == NULL) {
        json_decref(args);
        http_respond_error(x, PIPIT_EINTERNAL, NULL, NULL);
        return;
    }
    call_submit(x->conn, who, a, NULL, args);
}

/* ---- presence ---- */

struct presence_call {
    struct job job;
    struct server *srv;
    int64_t user_id;
};

static void presence_run(struct job *j, void *ctx)
{
    struct presence_call *p = (struct presence_call *)j;
    struct id_list mi = { 0 };
    struct user_set *to;

    if (store_contacts(ctx, p->user_id, collect_id, &mi) != 0 || mi.n == 0) {
        free(mi.ids);
        return;
    }
    to = user_set_of(mi.ids, mi.n);
    free(mi.ids);
    presence_announce(p->srv, p->user_id, to);
}

static void presence_done(struct job *j)
{
    free(j);
}

void chat_presence_changed(struct server *srv, int64_t user_id)
{
    struct presence_call *p = xcalloc(1, sizeof(*p));

    p->srv = srv;
    p->user_id = user_id;
    p->job.run = presence_run;
    p->job.done = presence_done;
    if (jobs_read(srv->jobs, &p->job) != 0) {
        free(p); /* best effort: presence is advisory */
    }
}
