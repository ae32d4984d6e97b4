/*
 * conversations.c: creating conversations and managing their members.
 *
 * Every membership change is a timeline event with its own seq (so sync
 * covers it) and reaches the members' sessions; a member who leaves or is
 * removed gets the event too. A group's creation is one conv_created event
 * at seq 1, whatever the number of initial members. Ranks: owner > admin > member; a member may act
 * on another only from a higher rank. An app admin may delete a conversation outright
 * (conv_delete, the admin console's route).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "hooks/webhooks.h"
#include "server.h"
#include "store/store_retention.h"
#include "util/err.h"
#include "util/mem.h"

#define TITLE_MAX 256
#define AVATAR_URL_MAX 2048
#define DESCRIPTION_MAX 4096
#define ANNOUNCEMENT_MAX 8192

/* member.joined or member.left, for the app's webhooks. */
static int emit_member(struct chat_call *k, struct store_conn *sc, const struct store_event *ev,
                       const char *action, int64_t user_id)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"conv\":%lld,\"seq\":%lld,\"user\":%lld,\"by\":%lld,\"ts\":%lld,"
             "\"action\":\"%s\"}", (long long)ev->conv_id, (long long)ev->seq,
             (long long)user_id, (long long)ev->sender, (long long)ev->ts, action);
    return webhooks_emit(k->srv, sc, k->who.app_id,
                         strcmp(action, "joined") == 0 ? WEBHOOK_MEMBER_JOINED
                                                       : WEBHOOK_MEMBER_LEFT,
                         data, k->now);
}

/* conversation.created, for the app's webhooks (title NULL: none). */
static int emit_created(struct chat_call *k, struct store_conn *sc, const struct store_conv *c,
                        const struct user_set *members)
{
    json_t *data = json_pack("{s:I,s:s,s:o,s:I,s:I,s:I}", "conv", (json_int_t)c->id, "type",
                             c->type, "title", c->title != NULL ? json_string(c->title)
                                                                : json_null(),
                             "from", (json_int_t)k->who.user_id, "ts", (json_int_t)k->now,
                             "member_count", (json_int_t)members->n);
    char *text;
    int rc;

    if (strcmp(c->type, "direct") == 0) {
        json_object_set_new(data, "members", json_pack("[I,I]", (json_int_t)members->ids[0],
                                                       (json_int_t)members->ids[1]));
    }
    text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    rc = text != NULL ? webhooks_emit(k->srv, sc, k->who.app_id, WEBHOOK_CONVERSATION_CREATED,
                                      text, k->now)
                      : PIPIT_ENOMEM;
    free(text);
    return rc;
}

/* Writes a member event (action, user, and role or until) with a taken or new seq. */
static int member_event(struct chat_call *k, struct store_conn *sc, int64_t conv_id,
                        int64_t seq, const char *action, int64_t user_id, const char *role,
                        int64_t until, struct user_set *to)
{
    json_t *meta = json_pack("{s:s,s:I}", "action", action, "user", (json_int_t)user_id);
    struct store_event ev = { .conv_id = conv_id, .seq = seq, .kind = "member",
                              .sender = k->who.user_id };
    char *text;
    int rc;

    if (role != NULL) {
        json_object_set_new(meta, "role", json_string(role));
    }
    if (strcmp(action, "muted") == 0) {
        json_object_set_new(meta, "until", json_integer(until));
    }
    text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    ev.meta = text;
    rc = seq != 0 ? chat_insert(k, sc, &ev, to) : chat_append(k, sc, &ev, to);
    free(text);
    if (rc == 0 && (strcmp(action, "joined") == 0 || strcmp(action, "left") == 0 ||
                    strcmp(action, "removed") == 0)) {
        rc = emit_member(k, sc, &ev, action, user_id);
    }
    return rc;
}

/* The answer for a conversation, as the caller sees it now. */
static int answer_conv(struct chat_call *k, struct store_conn *sc, int64_t conv_id)
{
    struct store_conv conv;
    struct store_member me;
    int rc = chat_access(k, sc, conv_id, &conv, &me);

    if (rc != 0) {
        return rc;
    }
    k->result = chat_conv_json(k, sc, &conv, &me);
    store_conv_cleanup(&conv);
    return 0;
}

static int collect_member(void *arg, const struct store_member *m)
{
    json_array_append_new(arg, chat_member_json(m));
    return 0;
}

static int create_direct(struct chat_call *k, struct store_conn *sc)
{
    struct store_user peer;
    struct store_conv conv = { 0 };
    char key[64];
    int64_t lo, hi, existing;
    int rc = chat_resolve_user(k, sc, json_object_get(k->args, "peer"), &peer);

    if (rc != 0) {
        return rc;
    }
    if (peer.id == k->who.user_id) {
        k->why = "a direct conversation needs another user";
        return PIPIT_EBAD_REQUEST;
    }
    lo = peer.id < k->who.user_id ? peer.id : k->who.user_id;
    hi = peer.id < k->who.user_id ? k->who.user_id : peer.id;
    snprintf(key, sizeof(key), "%lld:%lld", (long long)lo, (long long)hi);
    if (store_conv_by_direct_key(sc, key, &existing) == 0) {
        return answer_conv(k, sc, existing);
    }
    conv.app_id = k->who.app_id;
    snprintf(conv.type, sizeof(conv.type), "direct");
    conv.created_by = k->who.user_id;
    conv.created_at = k->now;
    rc = store_conv_insert(sc, &conv, key);
    /* Both are members from the first seq on; a direct pair never changes. */
    if (rc == 0) {
        rc = store_member_join(sc, conv.id, lo, "member", 1, k->now);
    }
    if (rc == 0) {
        rc = store_member_join(sc, conv.id, hi, "member", 1, k->now);
    }
    if (rc == 0) {
        int64_t pair[2] = { lo, hi };
        struct user_set *members = user_set_of(pair, 2);

        rc = emit_created(k, sc, &conv, members);
        user_set_unref(members);
    }
    if (rc == 0) {
        k->status = 201;
        rc = answer_conv(k, sc, conv.id);
    }
    return rc;
}

/* Reads the optional text settings of a group into conv; PIPIT_EBAD_REQUEST on a bad one. */
static int read_settings(struct chat_call *k, struct store_conv *conv, int *changed,
                         json_t *changes)
{
    static const struct {
        const char *key;
        size_t max;
        size_t off;
    } fields[] = {
        { "title", TITLE_MAX, offsetof(struct store_conv, title) },
        { "avatar_url", AVATAR_URL_MAX, offsetof(struct store_conv, avatar_url) },
        { "description", DESCRIPTION_MAX, offsetof(struct store_conv, description) },
        { "announcement", ANNOUNCEMENT_MAX, offsetof(struct store_conv, announcement) },
    };
    json_t *muted_all = json_object_get(k->args, "muted_all");

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char **slot = (char **)(void *)((char *)conv + fields[i].off);
        const char *v;
        bool present;
        int rc = chat_arg_opt_string(k, fields[i].key, fields[i].max, &v, &present);

        if (rc != 0) {
            return rc;
        }
        if (present) {
            free(*slot);
            *slot = v != NULL ? xstrdup(v) : NULL;
            json_object_set_new(changes, fields[i].key, v != NULL ? json_string(v) : json_null());
            (*changed)++;
        }
    }
    if (muted_all != NULL) {
        if (!json_is_boolean(muted_all)) {
            k->why = "muted_all must be true or false";
            return PIPIT_EBAD_REQUEST;
        }
        conv->muted_all = json_is_true(muted_all);
        json_object_set_new(changes, "muted_all", json_boolean(conv->muted_all));
        (*changed)++;
    }
    return 0;
}

static int create_group(struct chat_call *k, struct store_conn *sc)
{
    json_t *members = json_object_get(k->args, "members");
    json_t *changes = json_object();
    struct store_conv conv = { 0 };
    struct user_set *to;
    int changed = 0;
    size_t i;
    json_t *v;
    int rc;

    if (members != NULL && !json_is_array(members)) {
        json_decref(changes);
        k->why = "members must be an array of user ids or usernames";
        return PIPIT_EBAD_REQUEST;
    }
    rc = read_settings(k, &conv, &changed, changes);
    json_decref(changes);
    if (rc == 0 && json_array_size(members) + 1 > (size_t)k->srv->cfg.max_group_members) {
        rc = PIPIT_EMEMBER_LIMIT;
    }
    if (rc != 0) {
        store_conv_cleanup(&conv);
        return rc;
    }
    to = user_set_new(json_array_size(members) + 1);
    to->ids[to->n++] = k->who.user_id;
    json_array_foreach(members, i, v) {
        struct store_user u;

        rc = chat_resolve_user(k, sc, v, &u);
        if (rc != 0) {
            user_set_unref(to);
            store_conv_cleanup(&conv);
            return rc;
        }
        to->ids[to->n++] = u.id;
    }
    user_set_sort(to);

    conv.app_id = k->who.app_id;
    snprintf(conv.type, sizeof(conv.type), "group");
    conv.created_by = k->who.user_id;
    conv.created_at = k->now;
    rc = store_conv_insert(sc, &conv, NULL);
    if (rc == 0) {
        rc = emit_created(k, sc, &conv, to);
    }
    store_conv_cleanup(&conv);
    /* Creation is one step and one event: every initial member is a member from
     * seq 1, and one conv_created event (not one "joined" per member, which would
     * be members² deliveries) tells them all. */
    for (size_t m = 0; rc == 0 && m < to->n; m++) {
        rc = store_member_join(sc, conv.id, to->ids[m],
                               to->ids[m] == k->who.user_id ? "owner" : "member", 1, k->now);
    }
    if (rc == 0) {
        json_t *meta = json_pack("{s:s,s:o,s:I}", "type", "group", "title",
                                 json_object_get(k->args, "title") != NULL
                                     ? json_deep_copy(json_object_get(k->args, "title"))
                                     : json_null(),
                                 "member_count", (json_int_t)to->n);
        char *text = json_dumps(meta, JSON_COMPACT);
        struct store_event ev = { .conv_id = conv.id, .kind = "conv_created",
                                  .sender = k->who.user_id, .meta = text };

        json_decref(meta);
        rc = chat_append(k, sc, &ev, user_set_ref(to));
        free(text);
    }
    user_set_unref(to);
    k->touched_conv = conv.id;
    if (rc == 0) {
        rc = chat_record_flag(k, sc, conv.id, 0);
    }
    if (rc == 0) {
        k->status = 201;
        rc = answer_conv(k, sc, conv.id);
    }
    return rc;
}

int conv_prepare(struct chat_call *k)
{
    return chat_filter_text(k, k->args, "title");
}

int conv_create(struct chat_call *k, struct store_conn *sc)
{
    json_t *type = json_object_get(k->args, "type");

    if (json_is_string(type) && strcmp(json_string_value(type), "direct") == 0) {
        return create_direct(k, sc);
    }
    if (json_is_string(type) && strcmp(json_string_value(type), "group") == 0) {
        return create_group(k, sc);
    }
    k->why = "type must be \"direct\" or \"group\"";
    return PIPIT_EBAD_REQUEST;
}

struct conv_walk {
    struct chat_call *k;
    struct store_conn *sc;
    json_t *convs;
};

static int collect_conv(void *arg, const struct store_conv *c, const struct store_member *m)
{
    struct conv_walk *w = arg;

    if (m->left_seq == 0) {
        json_array_append_new(w->convs, chat_conv_json(w->k, w->sc, c, m));
    }
    return 0;
}

int conv_list(struct chat_call *k, struct store_conn *sc)
{
    json_t *arr = json_array();
    struct conv_walk w = { k, sc, arr };
    int rc = store_conv_list_for_user(sc, k->who.user_id, collect_conv, &w);

    if (rc != 0) {
        json_decref(arr);
        return rc;
    }
    k->result = json_pack("{s:o}", "conversations", arr);
    return 0;
}

int chat_members_json(struct store_conn *sc, int64_t conv_id, json_t **out)
{
    json_t *arr = json_array();
    int rc = store_member_list(sc, conv_id, collect_member, arr);

    if (rc != 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int conv_get(struct chat_call *k, struct store_conn *sc)
{
    int64_t conv_id;
    json_t *members;
    int rc = chat_arg_id(k, "conv", &conv_id);

    if (rc == 0) {
        rc = answer_conv(k, sc, conv_id);
    }
    if (rc == 0) {
        rc = chat_members_json(sc, conv_id, &members);
    }
    if (rc == 0) {
        json_object_set_new(k->result, "members", members);
    }
    return rc;
}

int member_list(struct chat_call *k, struct store_conn *sc)
{
    int64_t conv_id;
    json_t *members;
    int rc = chat_arg_id(k, "conv", &conv_id);

    if (rc == 0) {
        rc = chat_access(k, sc, conv_id, NULL, NULL);
    }
    if (rc == 0) {
        rc = chat_members_json(sc, conv_id, &members);
    }
    if (rc == 0) {
        k->result = json_pack("{s:o}", "members", members);
    }
    return rc;
}

/* Loads the conversation and the caller's membership for a change to a group. */
static int group_access(struct chat_call *k, struct store_conn *sc, int64_t *conv_id,
                        struct store_conv *conv, struct store_member *me)
{
    int rc = chat_arg_id(k, "conv", conv_id);

    if (rc == 0) {
        rc = chat_access(k, sc, *conv_id, conv, me);
    }
    if (rc == 0 && strcmp(conv->type, "group") != 0) {
        store_conv_cleanup(conv);
        k->why = "a direct conversation has no members to manage or settings to change";
        return PIPIT_EFORBIDDEN;
    }
    return rc;
}

/* The target member of a member route: resolved and currently a member. */
static int target_member(struct chat_call *k, struct store_conn *sc, int64_t conv_id,
                         struct store_member *out)
{
    struct store_user u;
    int rc = chat_resolve_user(k, sc, json_object_get(k->args, "user"), &u);

    if (rc == 0) {
        rc = store_member_get(sc, conv_id, u.id, out);
    }
    if (rc == 0 && out->left_seq != 0) {
        rc = PIPIT_ENOT_FOUND;
    }
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such member";
    }
    return rc;
}

static int forbidden(struct chat_call *k, const char *why)
{
    k->why = why;
    return PIPIT_EFORBIDDEN;
}

int conv_update(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    struct store_member me;
    struct store_event ev = { .kind = "conv_updated", .sender = k->who.user_id };
    json_t *changes = json_object();
    int64_t conv_id;
    int changed = 0;
    int rc = group_access(k, sc, &conv_id, &conv, &me);

    if (rc != 0) {
        json_decref(changes);
        return rc;
    }
    if (chat_rank(me.role) < 2) {
        rc = forbidden(k, "only the owner and admins may change a group");
    }
    if (rc == 0) {
        rc = read_settings(k, &conv, &changed, changes);
    }
    if (rc == 0 && changed == 0) {
        k->why = "nothing to change";
        rc = PIPIT_EBAD_REQUEST;
    }
    if (rc == 0) {
        rc = store_conv_update(sc, &conv);
    }
    if (rc == 0) {
        json_t *meta = json_pack("{s:O}", "changes", changes);
        char *text = json_dumps(meta, JSON_COMPACT);

        json_decref(meta);
        chat_conv_changed(k, conv_id);
        ev.conv_id = conv_id;
        ev.meta = text;
        rc = chat_append(k, sc, &ev, NULL);
        free(text);
    }
    json_decref(changes);
    store_conv_cleanup(&conv);
    if (rc == 0) {
        rc = chat_record_flag(k, sc, conv_id, 0);
    }
    return rc != 0 ? rc : answer_conv(k, sc, conv_id);
}

int conv_transfer(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    struct store_member me, target;
    int64_t conv_id;
    int rc = group_access(k, sc, &conv_id, &conv, &me);

    if (rc != 0) {
        return rc;
    }
    store_conv_cleanup(&conv);
    if (strcmp(me.role, "owner") != 0) {
        return forbidden(k, "only the owner may hand the group over");
    }
    rc = target_member(k, sc, conv_id, &target);
    if (rc == 0 && target.user_id == me.user_id) {
        k->why = "you are already the owner";
        rc = PIPIT_EBAD_REQUEST;
    }
    if (rc == 0) {
        rc = store_member_set_role(sc, conv_id, target.user_id, "owner");
    }
    if (rc == 0) {
        rc = store_member_set_role(sc, conv_id, me.user_id, "admin");
    }
    if (rc == 0) {
        struct store_event ev = { .conv_id = conv_id, .kind = "conv_updated",
                                  .sender = k->who.user_id };
        char meta[64];

        /* One event: the new owner; the old one is an admin from now on. */
        snprintf(meta, sizeof(meta), "{\"changes\":{\"owner\":%lld}}",
                 (long long)target.user_id);
        ev.meta = meta;
        chat_conv_changed(k, conv_id);
        rc = chat_append(k, sc, &ev, NULL);
    }
    return rc != 0 ? rc : answer_conv(k, sc, conv_id);
}

int member_add(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    struct store_member me, m;
    struct store_user u;
    int64_t conv_id, count, seq;
    int rc = group_access(k, sc, &conv_id, &conv, &me);

    if (rc != 0) {
        return rc;
    }
    store_conv_cleanup(&conv);
    if (chat_rank(me.role) < 2) {
        return forbidden(k, "only the owner and admins may add members");
    }
    rc = chat_resolve_user(k, sc, json_object_get(k->args, "user"), &u);
    if (rc != 0) {
        return rc;
    }
    if (store_member_get(sc, conv_id, u.id, &m) == 0 && m.left_seq == 0) {
        k->result = chat_member_json(&m); /* already in: nothing changes */
        return 0;
    }
    rc = store_member_count(sc, conv_id, &count);
    if (rc == 0 && count >= k->srv->cfg.max_group_members) {
        return PIPIT_EMEMBER_LIMIT;
    }
    if (rc == 0) {
        rc = chat_take_seq(k, sc, conv_id, &seq);
    }
    if (rc == 0) {
        rc = store_member_join(sc, conv_id, u.id, "member", seq, k->now);
    }
    if (rc == 0) {
        chat_conv_changed(k, conv_id);
        rc = member_event(k, sc, conv_id, seq, "joined", u.id, "member", 0, NULL);
    }
    if (rc == 0) {
        rc = store_member_get(sc, conv_id, u.id, &m);
    }
    if (rc == 0) {
        k->result = chat_member_json(&m);
        k->status = 201;
    }
    return rc;
}

int member_remove(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    struct store_member me, target;
    int64_t conv_id, seq;
    bool self;
    int rc = group_access(k, sc, &conv_id, &conv, &me);

    if (rc != 0) {
        return rc;
    }
    store_conv_cleanup(&conv);
    rc = target_member(k, sc, conv_id, &target);
    if (rc != 0) {
        return rc;
    }
    self = target.user_id == me.user_id;
    if (self && strcmp(me.role, "owner") == 0) {
        return forbidden(k, "the owner must hand the group over before leaving");
    }
    if (!self && (chat_rank(me.role) < 2 || chat_rank(me.role) <= chat_rank(target.role))) {
        return forbidden(k, "only a higher-ranked owner or admin may remove a member");
    }
    /* The event goes to the members before the change: the one leaving gets it too. */
    rc = chat_take_seq(k, sc, conv_id, &seq);
    if (rc == 0) {
        rc = member_event(k, sc, conv_id, seq, self ? "left" : "removed", target.user_id, NULL,
                          0, NULL);
    }
    if (rc == 0) {
        rc = store_member_leave(sc, conv_id, target.user_id, seq);
        chat_conv_changed(k, conv_id);
    }
    if (rc == 0) {
        rc = chat_calls_member_left(k, sc, conv_id, target.user_id);
    }
    k->status = 204;
    return rc;
}

int member_update(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    struct store_member me, target;
    const char *role = NULL;
    int64_t conv_id, until = 0;
    bool has_role, has_until;
    int rc = group_access(k, sc, &conv_id, &conv, &me);

    if (rc != 0) {
        return rc;
    }
    store_conv_cleanup(&conv);
    rc = chat_arg_opt_string(k, "role", 16, &role, &has_role);
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "muted_until", 0, INT64_MAX / 2, &until, &has_until);
    }
    if (rc == 0 && has_role && (role == NULL || (strcmp(role, "admin") != 0 &&
                                                 strcmp(role, "member") != 0))) {
        k->why = "role must be \"admin\" or \"member\" (use the owner route to hand over)";
        rc = PIPIT_EBAD_REQUEST;
    }
    if (rc == 0 && !has_role && !has_until) {
        k->why = "nothing to change";
        rc = PIPIT_EBAD_REQUEST;
    }
    if (rc == 0) {
        rc = target_member(k, sc, conv_id, &target);
    }
    if (rc != 0) {
        return rc;
    }
    if (has_role && strcmp(me.role, "owner") != 0) {
        return forbidden(k, "only the owner may change roles");
    }
    if (has_until && (chat_rank(me.role) < 2 || chat_rank(me.role) <= chat_rank(target.role))) {
        return forbidden(k, "only a higher-ranked owner or admin may mute a member");
    }
    if (target.user_id == me.user_id) {
        k->why = "the owner's role changes only by handing the group over";
        return PIPIT_EBAD_REQUEST;
    }
    chat_conv_changed(k, conv_id);
    if (has_role) {
        rc = store_member_set_role(sc, conv_id, target.user_id, role);
        if (rc == 0) {
            rc = member_event(k, sc, conv_id, 0, "role", target.user_id, role, 0, NULL);
        }
    }
    if (rc == 0 && has_until) {
        rc = store_member_set_muted(sc, conv_id, target.user_id, until);
        if (rc == 0) {
            rc = member_event(k, sc, conv_id, 0, "muted", target.user_id, NULL, until, NULL);
        }
    }
    if (rc == 0) {
        rc = store_member_get(sc, conv_id, target.user_id, &target);
    }
    if (rc == 0) {
        k->result = chat_member_json(&target);
    }
    return rc;
}

int chat_app_conv(struct chat_call *k, struct store_conn *sc, int64_t conv_id,
                  struct store_conv *out)
{
    struct store_conv conv;
    int rc = store_conv_get(sc, conv_id, &conv);

    if (rc == 0 && (conv.app_id != k->who.app_id || conv.deleted_at != 0)) {
        store_conv_cleanup(&conv);
        rc = PIPIT_ENOT_FOUND;
    }
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such conversation";
    }
    if (rc == 0) {
        *out = conv;
    }
    return rc;
}

/*
 * Admin: deletes a conversation with its timeline, members and read state. The
 * members' sessions get {"ev":"conv_deleted","conv"} after COMMIT; a client that
 * was offline learns it from sync, which lists a conversation it holds and no
 * longer belongs to in "removed".
 *
 * Issue 6 (legal hold, retention): a conversation under hold must not be deleted
 * here; this is where that check goes, and where a retention copy would be made.
 */
int conv_delete(struct chat_call *k, struct store_conn *sc)
{
    struct store_conv conv;
    struct user_set *to;
    int64_t conv_id;
    bool held;
    int rc = chat_arg_id(k, "conv", &conv_id);

    if (rc == 0 && !k->who.app_admin) {
        return forbidden(k, "admins only");
    }
    if (rc == 0) {
        rc = chat_app_conv(k, sc, conv_id, &conv);
    }
    if (rc != 0) {
        return rc;
    }
    store_conv_cleanup(&conv);
    rc = store_conv_holds_anything(sc, conv_id, &held);
    if (rc == 0 && held) {
        k->why = "the conversation holds messages under a legal hold; lift the hold first";
        rc = PIPIT_ECONFLICT;
    }
    if (rc != 0) {
        return rc;
    }
    to = chat_load_members(sc, conv_id);
    if (to == NULL) {
        return PIPIT_ESTORE;
    }
    rc = store_conv_delete(sc, conv_id, k->now);
    if (rc != 0) {
        user_set_unref(to);
        return rc;
    }
    /* A later action of this batch must not find its members or seqs in the cache. */
    chat_conv_forget(k, conv_id);
    chat_publish(k, json_pack("{s:s,s:I}", "ev", "conv_deleted", "conv", (json_int_t)conv_id),
                 to);
    k->status = 204;
    return 0;
}
