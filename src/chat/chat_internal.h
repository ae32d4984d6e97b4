/*
 * chat_internal.h: what the chat files share (chat.c plumbing, conversations.c
 * and messages.c actions).
 *
 * An action is `int fn(struct chat_call *k, struct store_conn *sc)` running on a
 * store thread: it reads k->args, sets k->result (and k->status for REST) and
 * returns 0, or returns a PIPIT_E* with k->why. Writes append their timeline
 * events with chat_append(), which also queues them for publication.
 */
#ifndef PIPIT_CHAT_CHAT_INTERNAL_H
#define PIPIT_CHAT_CHAT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "chat/bus.h"
#include "chat/chat.h"
#include "net/worker.h"
#include "push/push.h"
#include "store/store_chat.h"
#include "util/id_list.h"

struct chat_call;

struct chat_action {
    const char *name;
    int (*run)(struct chat_call *k, struct store_conn *sc);
    /* Optional, on the caller's loop before queueing: validate, pre-serialize. */
    int (*prepare)(struct chat_call *k);
    bool writes;
    bool ws_op;               /* also offered as a WebSocket op */
    bool message;             /* puts a message on a timeline: user_message_rate limits it */
};

struct chat_call {
    struct job job;
    const struct chat_action *action;
    const struct audit_spec *audit; /* NULL: not audited (chat.c, audited_actions) */
    struct server *srv;
    struct chat_caller who;
    json_t *args;             /* owned */
    int64_t now;              /* ms, when the action runs */

    /* Results, for the answer. */
    json_t *result;
    char *ok_text;            /* or the result already as JSON text (chat_answer_event) */
    size_t ok_len;
    int status;               /* HTTP status of a success: 200 unless set */
    const char *why;          /* message of an error; NULL = the default */
    char *why_text;           /* owned text why may point at (a before-send hook's reason) */
    struct bus_batch events;  /* published after COMMIT (writes) or at done (reads) */
    int64_t touched_conv;     /* conversation whose cached members may be stale */
    int64_t ask_assistant;    /* a message (seq) the app's assistant is to answer, after COMMIT */
    int64_t push_to_expand;   /* a push stored by the call, expanded after COMMIT */
    bool push_queued;         /* the call queued deliveries for the push dispatcher */
    struct push_handoff push_handoff; /* deliveries inserted `sending`, handed over after COMMIT */
    void (*after_commit)(struct server *srv); /* optional: on the writer, once committed */
    void (*after_commit_call)(struct chat_call *k); /* the same, for what needs the call */
    void *state;              /* an action's own, for its after_commit_call; free()d with it */
    struct filter_hit *flag;  /* what the content filter flagged in the call's text; owned */

    /* Prepared on the loop by prepare(). */
    char *body_text;
    char *meta_text;

    /* The caller. */
    struct conn *c;
    json_t *req_id;           /* WebSocket request id; NULL for REST */
};

/* JSON for an answer: a string or null (NULL), a time in ms or null (0). */
json_t *text_or_null(const char *s);
json_t *time_or_null(int64_t ms);

/* Role rank: owner 3, admin 2, member 1, none 0. */
int chat_rank(const char *role);

/* ---- reading arguments (set k->why) ---- */
/* PIPIT_EBAD_REQUEST with why as the answer's message. */
int chat_bad(struct chat_call *k, const char *why);
/*
 * The content filter (filter/filter.h) over the string obj[key], if there is
 * one: PIPIT_ECONTENT_BLOCKED when a list rejects it; masked in place when one
 * masks it; a flag noted in k->flag for chat_record_flag when one flags it.
 */
int chat_filter_text(struct chat_call *k, json_t *obj, const char *key);
/* Writer: records the flag chat_filter_text noted, for the text at (conv, seq; 0: the title). */
int chat_record_flag(struct chat_call *k, struct store_conn *sc, int64_t conv, int64_t seq);
/* prepare() of conv_create and conv_update: the content filter over the title. */
int conv_prepare(struct chat_call *k);
int chat_arg_id(struct chat_call *k, const char *key, int64_t *out);
int chat_arg_opt_int(struct chat_call *k, const char *key, int64_t min, int64_t max,
                     int64_t *out, bool *present);
int chat_arg_opt_string(struct chat_call *k, const char *key, size_t max, const char **out,
                        bool *present);
/* A user given as an id or a username, in the caller's app; PIPIT_ENOT_FOUND if none. */
int chat_resolve_user(struct chat_call *k, struct store_conn *sc, json_t *v,
                      struct store_user *out);

/* The caller as the audit log names it: user:<id> or key:<id>. */
void chat_actor(const struct chat_call *k, char out[AUDIT_ACTOR_MAX]);

/* ---- access ---- */
/* The conversation and the caller's current membership; NOT_FOUND for non-members. */
int chat_access(struct chat_call *k, struct store_conn *sc, int64_t conv_id,
                struct store_conv *conv, struct store_member *me);

/* The app's conversation, whoever asks (an app admin); NOT_FOUND if deleted or another app's. */
int chat_app_conv(struct chat_call *k, struct store_conn *sc, int64_t conv_id,
                  struct store_conv *out);

/* ---- JSON ---- */
/* An event as clients see it (live, history, sync). */
json_t *chat_event_json(const struct store_event *ev);
/*
 * A page of events for history and sync: at most `limit`, and no more bytes than
 * `budget` (at least one event), so an answer always fits a client's send queue.
 * Fetch limit + 1 rows; `more` says whether anything was left out.
 */
struct chat_page {
    json_t *events;
    int64_t limit;
    size_t budget;
    size_t bytes;
    bool more;
};
void chat_page_init(struct chat_page *p, int64_t limit, size_t budget);
int chat_page_add(void *page, const struct store_event *ev); /* a store callback */
json_t *chat_member_json(const struct store_member *m);
/* The current members of a conversation as a JSON array of chat_member_json(). */
int chat_members_json(struct store_conn *sc, int64_t conv_id, json_t **out);
/* The conversation as `me` sees it: read position, unread, last message, peer. */
json_t *chat_conv_json(struct chat_call *k, struct store_conn *sc, const struct store_conv *c,
                       const struct store_member *me);

/* ---- writes (writer thread) ---- */
/* Takes the next seq and writes ev (kind, sender, body, meta, target, cmid set by
 * the caller); publishes it to `to` (referenced) or, when NULL, to the members. */
int chat_append(struct chat_call *k, struct store_conn *sc, struct store_event *ev,
                struct user_set *to);
/*
 * Takes a seq without writing an event yet (a join needs it first). The event
 * must be written before the conversation is reloaded, or the action fail.
 */
int chat_take_seq(struct chat_call *k, struct store_conn *sc, int64_t conv_id, int64_t *seq);
/* Answers with the event's {"seq","id","ts"} (and "duplicate":true), as text. */
void chat_answer_event(struct chat_call *k, const struct store_event *ev, bool duplicate);
/* Gives back the seq just taken when nothing was written (a duplicate send). */
void chat_untake_seq(struct chat_call *k, int64_t conv_id);
/* Writes an event whose seq is taken; publishes as chat_append. */
int chat_insert(struct chat_call *k, struct store_conn *sc, struct store_event *ev,
                struct user_set *to);
/* What the writer caches per conversation: its members and send rules. */
struct conv_cache {
    struct user_set *members;   /* NULL: to be read again (chat_conv_changed) */
    bool group;
    bool muted_all;
    bool dirty;                 /* took seqs in this batch */
    int64_t last_seq;           /* the last seq handed out */
    int64_t last_ts;
};
/* The cached state of conv_id (loaded on a miss); NULL if there is no such conversation. */
const struct conv_cache *chat_conv_cached(struct chat_call *k, struct store_conn *sc,
                                          int64_t conv_id);
/* A fresh set of the conversation's current members (any thread); NULL on a store error. */
struct user_set *chat_load_members(struct store_conn *sc, int64_t conv_id);
/* Forgets the cached state of conv_id (after a membership or settings change). */
void chat_conv_changed(struct chat_call *k, int64_t conv_id);
/* Forgets conv_id altogether, seq counter too (it was deleted). */
void chat_conv_forget(struct chat_call *k, int64_t conv_id);
/* Queues a non-timeline event for the members (or `to`). */
void chat_publish(struct chat_call *k, json_t *event, struct user_set *to);

/* Actions. */
int conv_create(struct chat_call *k, struct store_conn *sc);
int conv_list(struct chat_call *k, struct store_conn *sc);
int conv_get(struct chat_call *k, struct store_conn *sc);
int conv_update(struct chat_call *k, struct store_conn *sc);
int conv_transfer(struct chat_call *k, struct store_conn *sc);
int member_list(struct chat_call *k, struct store_conn *sc);
int member_add(struct chat_call *k, struct store_conn *sc);
int member_remove(struct chat_call *k, struct store_conn *sc);
int member_update(struct chat_call *k, struct store_conn *sc);
int conv_delete(struct chat_call *k, struct store_conn *sc);
int msg_prepare(struct chat_call *k);
int msg_send(struct chat_call *k, struct store_conn *sc);
int msg_edit(struct chat_call *k, struct store_conn *sc);
int msg_recall(struct chat_call *k, struct store_conn *sc);
int msg_delete(struct chat_call *k, struct store_conn *sc);
int msg_read(struct chat_call *k, struct store_conn *sc);
int msg_ack(struct chat_call *k, struct store_conn *sc);
int msg_typing(struct chat_call *k, struct store_conn *sc);
int msg_history(struct chat_call *k, struct store_conn *sc);
int msg_sync(struct chat_call *k, struct store_conn *sc);
int msg_search(struct chat_call *k, struct store_conn *sc);
int stream_prepare(struct chat_call *k);
int msg_stream(struct chat_call *k, struct store_conn *sc);
/* A new API key (key: app, name, scopes, bot_id set) stored; its text "pk_…" in text. */
#define API_KEY_TEXT_SIZE 64
struct store_api_key;
int api_key_mint(struct store_conn *sc, struct store_api_key *key, int64_t created_by,
                 char text[API_KEY_TEXT_SIZE]);
/* Push actions (src/push/: api_keys.c, devices.c, audience.c, send.c) on the same call path. */
int api_key_create(struct chat_call *k, struct store_conn *sc);
int api_key_list(struct chat_call *k, struct store_conn *sc);
int api_key_revoke(struct chat_call *k, struct store_conn *sc);
int device_register(struct chat_call *k, struct store_conn *sc);
int device_list(struct chat_call *k, struct store_conn *sc);
int device_delete(struct chat_call *k, struct store_conn *sc);
int topic_subscribe(struct chat_call *k, struct store_conn *sc);
int topic_unsubscribe(struct chat_call *k, struct store_conn *sc);
int topic_list(struct chat_call *k, struct store_conn *sc);
int tags_put(struct chat_call *k, struct store_conn *sc);
int tags_get(struct chat_call *k, struct store_conn *sc);
int push_prepare(struct chat_call *k);
int push_send(struct chat_call *k, struct store_conn *sc);
int settings_get(struct chat_call *k, struct store_conn *sc);
int settings_put(struct chat_call *k, struct store_conn *sc);
int category_put(struct chat_call *k, struct store_conn *sc);
int category_delete(struct chat_call *k, struct store_conn *sc);
int category_list(struct chat_call *k, struct store_conn *sc);
int push_list(struct chat_call *k, struct store_conn *sc);
int push_get(struct chat_call *k, struct store_conn *sc);
int push_event(struct chat_call *k, struct store_conn *sc);
/* The admin console's actions (src/api/admin.c), and the user directory. */
int admin_user_list(struct chat_call *k, struct store_conn *sc);
int admin_user_get(struct chat_call *k, struct store_conn *sc);
int admin_user_update(struct chat_call *k, struct store_conn *sc);
int admin_session_list(struct chat_call *k, struct store_conn *sc);
int admin_session_revoke(struct chat_call *k, struct store_conn *sc);
int admin_sessions_revoke(struct chat_call *k, struct store_conn *sc);
int admin_mfa_reset(struct chat_call *k, struct store_conn *sc);
int me_session_list(struct chat_call *k, struct store_conn *sc);
int me_session_revoke(struct chat_call *k, struct store_conn *sc);
int me_sessions_revoke(struct chat_call *k, struct store_conn *sc);
int mfa_status(struct chat_call *k, struct store_conn *sc);
int content_flag_list(struct chat_call *k, struct store_conn *sc);
int content_flag_resolve(struct chat_call *k, struct store_conn *sc);
int admin_audit_list(struct chat_call *k, struct store_conn *sc);
int admin_conv_update(struct chat_call *k, struct store_conn *sc);
int hold_create(struct chat_call *k, struct store_conn *sc);
int hold_list(struct chat_call *k, struct store_conn *sc);
int hold_lift(struct chat_call *k, struct store_conn *sc);
int user_erase(struct chat_call *k, struct store_conn *sc);
int admin_audit_verify(struct chat_call *k, struct store_conn *sc);
int admin_conv_list(struct chat_call *k, struct store_conn *sc);
int admin_conv_get(struct chat_call *k, struct store_conn *sc);
int admin_conv_members(struct chat_call *k, struct store_conn *sc);
int admin_stats(struct chat_call *k, struct store_conn *sc);
int admin_app_get(struct chat_call *k, struct store_conn *sc);
int admin_app_update(struct chat_call *k, struct store_conn *sc);
int user_search(struct chat_call *k, struct store_conn *sc);
/* Webhooks (src/api/webhooks.c). */
int webhook_create(struct chat_call *k, struct store_conn *sc);
int webhook_list(struct chat_call *k, struct store_conn *sc);
int webhook_get(struct chat_call *k, struct store_conn *sc);
int webhook_update(struct chat_call *k, struct store_conn *sc);
int webhook_delete(struct chat_call *k, struct store_conn *sc);
int webhook_rotate_secret(struct chat_call *k, struct store_conn *sc);
int webhook_ping(struct chat_call *k, struct store_conn *sc);
int webhook_deliveries(struct chat_call *k, struct store_conn *sc);
int webhook_retry(struct chat_call *k, struct store_conn *sc);
/* Calls (src/chat/calls.c). */
int call_invite(struct chat_call *k, struct store_conn *sc);
int call_ringing(struct chat_call *k, struct store_conn *sc);
int call_accept(struct chat_call *k, struct store_conn *sc);
int call_reject(struct chat_call *k, struct store_conn *sc);
int call_cancel(struct chat_call *k, struct store_conn *sc);
int call_hangup(struct chat_call *k, struct store_conn *sc);
int call_signal(struct chat_call *k, struct store_conn *sc);
int call_expire(struct chat_call *k, struct store_conn *sc);
/* Writer: the user left or was removed from conv, and so from its call, if any. */
int chat_calls_member_left(struct chat_call *k, struct store_conn *sc, int64_t conv,
                           int64_t user);
int bot_create(struct chat_call *k, struct store_conn *sc);
int bot_list(struct chat_call *k, struct store_conn *sc);
int bot_get(struct chat_call *k, struct store_conn *sc);
int bot_update(struct chat_call *k, struct store_conn *sc);
int bot_delete(struct chat_call *k, struct store_conn *sc);
int bot_rotate_key(struct chat_call *k, struct store_conn *sc);
int assistant_get(struct chat_call *k, struct store_conn *sc);
int assistant_put(struct chat_call *k, struct store_conn *sc);
int assistant_delete(struct chat_call *k, struct store_conn *sc);
int before_send_get(struct chat_call *k, struct store_conn *sc);
int before_send_put(struct chat_call *k, struct store_conn *sc);
int before_send_delete(struct chat_call *k, struct store_conn *sc);
int before_send_rotate_secret(struct chat_call *k, struct store_conn *sc);

#endif
