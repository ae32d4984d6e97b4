/*
 * messages.c: sending, editing, recalling, receipts, typing, history, sync.
 *
 * Sending is the hot path: the body is checked and serialized on the caller's
 * loop (msg_prepare), so the store writer only looks up the cmid, checks the
 * member against its cache, takes the seq and inserts one row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat/chat_internal.h"
#include "hooks/assistant.h"
#include "push/push.h"
#include "search/query.h"
#include "server.h"
#include "store/store_files.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"

#define CMID_MAX 128
#define MENTIONS_MAX 100
#define LIMIT_MAX 200
#define HISTORY_LIMIT 50
#define SYNC_LIMIT 100
#define SEARCH_LIMIT 20
#define SEARCH_LIMIT_MAX 100
#define SEARCH_OFFSET_MAX 1000
/*
 * How many of the newest matches the user can see are ranked (store_search).
 * Scoring is the costly part (~20 µs a message): a word found in a fifth of a
 * million messages would otherwise take seconds.
 */
#define SEARCH_WINDOW 100

/* Loop thread: checks a send or an edit and serializes its body and meta. */
int msg_prepare(struct chat_call *k)
{
    json_t *body = json_object_get(k->args, "body");
    json_t *cmid = json_object_get(k->args, "cmid");
    json_t *mentions = json_object_get(k->args, "mentions");
    json_t *streaming = json_object_get(k->args, "streaming");
    json_t *meta;
    bool send = strcmp(k->action->name, "send") == 0;
    int64_t conv, reply_to = 0;
    bool has_reply;
    int rc = chat_arg_id(k, "conv", &conv);

    if (rc != 0) {
        return rc;
    }
    if (!json_is_object(body) || !json_is_string(json_object_get(body, "type"))) {
        return chat_bad(k, "body must be an object with a string \"type\"");
    }
    if (send && (!json_is_string(cmid) || json_string_length(cmid) == 0 ||
                 json_string_length(cmid) > CMID_MAX)) {
        return chat_bad(k, "cmid must be a string of 1 to 128 characters");
    }
    rc = chat_filter_text(k, body, "text");
    if (rc != 0) {
        return rc;
    }
    k->body_text = json_dumps(body, JSON_COMPACT);
    if (k->body_text == NULL) {
        return PIPIT_ENOMEM;
    }
    if (strlen(k->body_text) > (size_t)k->srv->cfg.max_message_size) {
        k->why = "the message body is larger than max_message_size";
        return PIPIT_EPAYLOAD_TOO_LARGE;
    }
    if (json_object_get(body, "file") != NULL &&
        (!json_is_integer(json_object_get(body, "file")) ||
         json_integer_value(json_object_get(body, "file")) < 1)) {
        return chat_bad(k, "body.file must be the id of an uploaded file");
    }
    if (!send) {
        return 0;
    }
    rc = chat_arg_opt_int(k, "reply_to", 1, INT64_MAX, &reply_to, &has_reply);
    if (rc != 0) {
        return rc;
    }
    if (mentions != NULL && !(json_is_string(mentions) &&
                              strcmp(json_string_value(mentions), "all") == 0)) {
        size_t i;
        json_t *v;

        if (!json_is_array(mentions) || json_array_size(mentions) > MENTIONS_MAX) {
            return chat_bad(k, "mentions must be \"all\" or an array of at most 100 user ids");
        }
        json_array_foreach(mentions, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                return chat_bad(k, "mentions must be \"all\" or an array of at most 100 user ids");
            }
        }
    }
    if (json_is_null(streaming)) {
        streaming = NULL; /* null is absent, as for every optional field */
    }
    if (streaming != NULL && !json_is_boolean(streaming)) {
        return chat_bad(k, "streaming must be true or false");
    }
    if (json_is_true(streaming) && !json_is_string(json_object_get(body, "text"))) {
        return chat_bad(k, "a streaming message is a text: its body needs a string \"text\"");
    }
    if (!has_reply && mentions == NULL && !json_is_true(streaming)) {
        return 0;
    }
    meta = json_object();
    if (json_is_true(streaming)) {
        json_object_set_new(meta, "streaming", json_true());
    }
    if (has_reply) {
        json_object_set_new(meta, "reply_to", json_integer(reply_to));
    }
    if (mentions != NULL) {
        json_object_set(meta, "mentions", mentions);
    }
    k->meta_text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    return 0;
}

/* Writes an edit or recall event pointing at the message at seq, and answers with it. */
static int append_about(struct chat_call *k, struct store_conn *sc, struct store_event *ev,
                        int64_t seq)
{
    int rc;

    ev->target = seq;
    rc = chat_append(k, sc, ev, NULL);
    if (rc == 0) {
        chat_answer_event(k, ev, false);
    }
    return rc;
}

/* A copy of the fields of one event that the writes need. */
struct event_facts {
    int64_t id;
    int64_t conv_id;
    int64_t seq;
    int64_t sender;
    int64_t ts;
    bool message;
    bool recalled;
    bool streaming;             /* opened with "streaming" and not finished yet */
};

/* Whether an event's meta says it is a message still streaming. */
static bool meta_streaming(const char *text)
{
    json_t *meta;
    bool streaming;

    if (text == NULL || strstr(text, "\"streaming\"") == NULL) {
        return false; /* most events: no parse */
    }
    meta = json_loads(text, 0, NULL);
    streaming = json_is_true(json_object_get(meta, "streaming"));
    json_decref(meta);
    return streaming;
}

static int grab_facts(void *arg, const struct store_event *ev)
{
    struct event_facts *f = arg;

    f->id = ev->id;
    f->conv_id = ev->conv_id;
    f->seq = ev->seq;
    f->sender = ev->sender;
    f->ts = ev->ts;
    f->message = strcmp(ev->kind, "message") == 0;
    f->recalled = ev->recalled;
    f->streaming = meta_streaming(ev->meta);
    return 0;
}

/* Writer: the caller must be a member; *me filled for groups' role checks. */
static int writer_member(struct chat_call *k, struct store_conn *sc, int64_t conv_id,
                         const struct conv_cache **cc, struct store_member *me)
{
    *cc = chat_conv_cached(k, sc, conv_id);
    if (*cc == NULL || !user_set_has((*cc)->members, k->who.user_id)) {
        k->why = "no such conversation";
        return PIPIT_ENOT_FOUND;
    }
    if (me == NULL) {
        return 0;
    }
    return store_member_get(sc, conv_id, k->who.user_id, me);
}

/*
 * Writer: a body may refer only to a file its sender can read (their upload, or
 * one shared where they can see it), so a message cannot be used to reach a
 * stranger's file. Sharing it then lets the conversation's members read it.
 */
static int check_file(struct chat_call *k, struct store_conn *sc)
{
    json_t *file = json_object_get(json_object_get(k->args, "body"), "file");
    int rc;

    if (file == NULL) {
        return 0;
    }
    rc = store_file_readable(sc, json_integer_value(file), k->who.user_id, k->now);
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such file";
    }
    return rc;
}

/* A send whose cmid was seen before answers with what it got the first time. */
static int answer_duplicate(struct chat_call *k, struct store_conn *sc, const char *cmid,
                            int64_t conv_id, int rc)
{
    struct event_facts seen;
    int found = store_event_by_cmid(sc, k->who.user_id, cmid, grab_facts, &seen);

    if (found == PIPIT_ENOT_FOUND) {
        return rc;
    }
    if (found != 0) {
        return found;
    }
    if (seen.conv_id != conv_id) {
        k->why = NULL;
        return PIPIT_ECMID_CONFLICT;
    }
    chat_answer_event(k, &(struct store_event){ .seq = seen.seq, .id = seen.id, .ts = seen.ts },
                      true);
    return 0;
}

/*
 * Whether the app's assistant is asked: it is the other one in a direct
 * conversation, or mentioned by id in a group (not by "all"); never by itself.
 */
static bool asks_assistant(struct chat_call *k, struct store_conn *sc,
                           const struct conv_cache *cc)
{
    int64_t bot = assistant_bot(k->srv, sc, k->who.app_id);
    json_t *mentions = json_object_get(k->args, "mentions");
    size_t i;
    json_t *v;

    json_t *body = json_object_get(k->args, "body");

    /* A text, and a finished one (a stream's start says little). */
    if (bot == 0 || bot == k->who.user_id || !user_set_has(cc->members, bot) ||
        !json_is_string(json_object_get(body, "text")) ||
        json_is_true(json_object_get(k->args, "streaming"))) {
        return false;
    }
    if (!cc->group) {
        return true;
    }
    json_array_foreach(mentions, i, v) {
        if (json_integer_value(v) == bot) {
            return true;
        }
    }
    return false;
}

/*
 * Exactly once, at the cost of one INSERT in the common case: the unique
 * (sender, cmid) index refuses a second copy, and only then (or when the send
 * is refused for another reason: the sender may have left since the first
 * copy) is the first copy looked up.
 */
int msg_send(struct chat_call *k, struct store_conn *sc)
{
    const char *cmid = json_string_value(json_object_get(k->args, "cmid"));
    struct store_event ev = { .kind = "message", .sender = k->who.user_id, .cmid = cmid,
                              .body = k->body_text, .meta = k->meta_text };
    const struct conv_cache *cc;
    struct store_member me;
    int64_t reply_to = 0;
    bool has_reply;
    int rc;

    chat_arg_id(k, "conv", &ev.conv_id);
    chat_arg_opt_int(k, "reply_to", 1, INT64_MAX, &reply_to, &has_reply);
    rc = writer_member(k, sc, ev.conv_id, &cc, NULL);
    if (rc == 0 && cc->group) {
        rc = store_member_get(sc, ev.conv_id, k->who.user_id, &me);
        if (rc == 0 && (me.muted_until > k->now || (cc->muted_all && chat_rank(me.role) < 2))) {
            rc = PIPIT_EMUTED;
        }
    }
    if (rc == 0 && has_reply && reply_to > cc->last_seq) {
        rc = chat_bad(k, "reply_to must be the seq of an earlier event");
    }
    if (rc == 0) {
        rc = check_file(k, sc);
    }
    if (rc == 0) {
        rc = chat_take_seq(k, sc, ev.conv_id, &ev.seq);
    }
    if (rc == 0) {
        rc = chat_insert(k, sc, &ev, NULL);
        if (rc == PIPIT_ECMID_CONFLICT) {
            chat_untake_seq(k, ev.conv_id);
        }
    }
    if (rc == 0) {
        rc = chat_record_flag(k, sc, ev.conv_id, ev.seq);
    }
    if (rc == 0) {
        rc = push_chat_message(k, sc, cc->members, cc->group, &ev);
    }
    if (rc == 0 && asks_assistant(k, sc, cc)) {
        k->ask_assistant = ev.seq;
    }
    if (rc == 0) {
        chat_answer_event(k, &ev, false);
        k->status = 201;
        atomic_fetch_add_explicit(&k->srv->metrics.chat_messages, 1, memory_order_relaxed);
        return 0;
    }
    return rc == PIPIT_ESTORE ? rc : answer_duplicate(k, sc, cmid, ev.conv_id, rc);
}

/* Finds the message at args.seq in a conversation the caller is in. */
static int target_message(struct chat_call *k, struct store_conn *sc, int64_t *conv_id,
                          const struct conv_cache **cc, struct event_facts *msg)
{
    int64_t seq;
    int rc = chat_arg_id(k, "conv", conv_id);

    if (rc == 0) {
        rc = chat_arg_id(k, "seq", &seq);
    }
    if (rc == 0 && cc != NULL) {
        rc = writer_member(k, sc, *conv_id, cc, NULL);
    } else if (rc == 0) {
        rc = chat_access(k, sc, *conv_id, NULL, NULL);
    }
    if (rc == 0) {
        rc = store_event_get(sc, *conv_id, seq, k->who.user_id, k->now, grab_facts, msg);
        if (rc == PIPIT_ENOT_FOUND) {
            k->why = "no such message";
        }
    }
    if (rc == 0 && (!msg->message || msg->recalled)) {
        k->why = msg->message ? "the message was recalled"
                              : "only messages can be edited, recalled or deleted";
        rc = PIPIT_EFORBIDDEN;
    }
    return rc;
}

int msg_edit(struct chat_call *k, struct store_conn *sc)
{
    struct store_event ev = { .kind = "edit", .sender = k->who.user_id, .body = k->body_text };
    const struct conv_cache *cc;
    struct event_facts msg;
    int rc = target_message(k, sc, &ev.conv_id, &cc, &msg);

    if (rc == 0 && msg.sender != k->who.user_id) {
        k->why = "only your own messages can be edited";
        rc = PIPIT_EFORBIDDEN;
    }
    if (rc == 0 && msg.streaming) {
        k->why = "the message is streaming: finish it with append or replace (final)";
        rc = PIPIT_ECONFLICT;
    }
    if (rc == 0) {
        rc = check_file(k, sc);
    }
    if (rc == 0) {
        rc = store_event_set_body(sc, ev.conv_id, msg.seq, k->body_text, k->now, NULL);
    }
    if (rc == 0) {
        rc = chat_record_flag(k, sc, ev.conv_id, msg.seq);
    }
    return rc != 0 ? rc : append_about(k, sc, &ev, msg.seq);
}

/* ---- streaming: a message that grows (op append) or is rewritten (op replace) ---- */

/* Loop thread: {conv, seq, text, final?}; the chunk goes through the content filter. */
int stream_prepare(struct chat_call *k)
{
    json_t *final = json_object_get(k->args, "final");
    int64_t id;
    int rc = chat_arg_id(k, "conv", &id);

    if (rc == 0) {
        rc = chat_arg_id(k, "seq", &id);
    }
    if (rc != 0) {
        return rc;
    }
    if (!json_is_string(json_object_get(k->args, "text"))) {
        return chat_bad(k, "text must be a string");
    }
    if (json_string_length(json_object_get(k->args, "text")) >
        (size_t)k->srv->cfg.max_message_size) {
        k->why = "the text is larger than max_message_size";
        return PIPIT_EPAYLOAD_TOO_LARGE;
    }
    if (final != NULL && !json_is_null(final) && !json_is_boolean(final)) {
        return chat_bad(k, "final must be true or false");
    }
    return chat_filter_text(k, k->args, "text");
}

/* The message's body and meta as they are (copies, for the stream). */
struct stream_state {
    json_t *body;
    json_t *meta;
};

static int grab_stream(void *arg, const struct store_event *ev)
{
    struct stream_state *st = arg;

    st->body = ev->body != NULL ? json_loads(ev->body, 0, NULL) : NULL;
    st->meta = ev->meta != NULL ? json_loads(ev->meta, 0, NULL) : json_object();
    return 0;
}

/*
 * append / replace: the new text is stored at once (a crash keeps what was
 * streamed) and the chunk goes to the members as {"ev":"stream"} — no seq: a
 * stream of chunks does not fill the timeline. The final one ends the stream
 * with an edit event (its own seq, "streamed": true) carrying the whole body,
 * so sync and history bring late and returning clients the finished text.
 */
int msg_stream(struct chat_call *k, struct store_conn *sc)
{
    bool append = strcmp(k->action->name, "append") == 0;
    bool final = json_is_true(json_object_get(k->args, "final"));
    const char *chunk = json_string_value(json_object_get(k->args, "text"));
    struct store_event ev = { .kind = "edit", .sender = k->who.user_id,
                              .meta = "{\"streamed\":true}" };
    struct stream_state st = { NULL, NULL };
    const struct conv_cache *cc;
    struct event_facts msg;
    const char *text;
    struct buf joined;
    char *body = NULL, *meta = NULL;
    bool masked = false;
    int rc = target_message(k, sc, &ev.conv_id, &cc, &msg);

    if (rc == 0 && msg.sender != k->who.user_id) {
        k->why = "only your own messages can be streamed into";
        rc = PIPIT_EFORBIDDEN;
    }
    if (rc == 0) {
        rc = store_event_get(sc, ev.conv_id, msg.seq, k->who.user_id, k->now, grab_stream, &st);
    }
    if (rc == 0 && !msg.streaming) {
        k->why = "the message is not streaming (it was sent without \"streaming\", or finished)";
        rc = PIPIT_ECONFLICT;
    }
    text = json_string_value(json_object_get(st.body, "text"));
    buf_init(&joined, (size_t)k->srv->cfg.max_message_size);
    if (rc == 0 && ((append && text != NULL && buf_appendz(&joined, text) != 0) ||
                    buf_appendz(&joined, chunk) != 0)) {
        k->why = "the streamed text would be larger than max_message_size";
        rc = PIPIT_EPAYLOAD_TOO_LARGE;
    }
    if (rc == 0) {
        json_object_set_new(st.body, "text", json_stringn(joined.data != NULL ? joined.data : "",
                                                          joined.len));
        /* The whole text, not only the chunk: a phrase split over two chunks is caught. */
        rc = chat_filter_text(k, st.body, "text");
        /* Masked across chunks: the members get the whole text again, as masked. */
        masked = rc == 0 && strcmp(json_string_value(json_object_get(st.body, "text")),
                                   joined.data != NULL ? joined.data : "") != 0;
    }
    if (rc == 0) {
        body = json_dumps(st.body, JSON_COMPACT);
        if (final) {
            json_object_del(st.meta, "streaming");
            meta = json_dumps(st.meta, JSON_COMPACT);
        }
        rc = body == NULL || (final && meta == NULL) ? PIPIT_ENOMEM : 0;
    }
    if (rc == 0 && strlen(body) > (size_t)k->srv->cfg.max_message_size) {
        k->why = "the streamed text would be larger than max_message_size";
        rc = PIPIT_EPAYLOAD_TOO_LARGE;
    }
    if (rc == 0) {
        rc = store_event_set_body(sc, ev.conv_id, msg.seq, body, 0, meta);
    }
    if (rc == 0 && final) {
        /* Flagged once, for the finished text (each append sees the whole of it). */
        rc = chat_record_flag(k, sc, ev.conv_id, msg.seq);
    }
    if (rc == 0 && !final) {
        chat_publish(k, json_pack("{s:s,s:I,s:I,s:s,s:s}", "ev", "stream", "conv",
                                  (json_int_t)ev.conv_id, "seq", (json_int_t)msg.seq, "op",
                                  append && !masked ? "append" : "replace", "text",
                                  append && !masked
                                      ? chunk
                                      : json_string_value(json_object_get(st.body, "text"))),
                     user_set_ref(cc->members));
        k->result = json_pack("{s:I,s:I}", "seq", (json_int_t)msg.seq, "length",
                              (json_int_t)joined.len);
    } else if (rc == 0) {
        ev.body = body;
        rc = append_about(k, sc, &ev, msg.seq);
    }
    buf_cleanup(&joined);
    json_decref(st.body);
    json_decref(st.meta);
    free(body);
    free(meta);
    return rc;
}

int msg_recall(struct chat_call *k, struct store_conn *sc)
{
    struct store_event ev = { .kind = "recall", .sender = k->who.user_id };
    const struct conv_cache *cc;
    struct event_facts msg;
    struct store_member me;
    bool allowed = false;
    int rc = target_message(k, sc, &ev.conv_id, &cc, &msg);

    if (rc == 0) {
        allowed = msg.sender == k->who.user_id &&
                  k->now - msg.ts <= k->srv->cfg.recall_window;
        if (!allowed && cc->group &&
            store_member_get(sc, ev.conv_id, k->who.user_id, &me) == 0) {
            allowed = chat_rank(me.role) >= 2;
        }
        if (!allowed) {
            k->why = msg.sender == k->who.user_id ? "the recall window has passed"
                                                  : "only your own messages can be recalled";
            rc = PIPIT_EFORBIDDEN;
        }
    }
    if (rc == 0) {
        rc = store_event_recall(sc, ev.conv_id, msg.seq);
    }
    return rc != 0 ? rc : append_about(k, sc, &ev, msg.seq);
}

int msg_delete(struct chat_call *k, struct store_conn *sc)
{
    struct event_facts msg;
    int64_t conv_id;
    int rc = target_message(k, sc, &conv_id, NULL, &msg);

    if (rc == 0) {
        rc = store_event_hide(sc, k->who.user_id, msg.id);
    }
    if (rc == 0) {
        k->result = json_object();
    }
    return rc;
}

/* read and ack: move a position forward and tell who needs to know. */
static int advance(struct chat_call *k, struct store_conn *sc, bool delivered)
{
    struct store_conv conv;
    struct store_member me;
    int64_t conv_id, seq, now;
    int rc = chat_arg_id(k, "conv", &conv_id);

    if (rc == 0) {
        rc = chat_arg_id(k, "seq", &seq);
    }
    if (rc == 0) {
        rc = chat_access(k, sc, conv_id, &conv, &me);
    }
    if (rc != 0) {
        return rc;
    }
    if (seq > conv.last_seq) {
        seq = conv.last_seq;
    }
    rc = store_member_advance(sc, conv_id, k->who.user_id, delivered, seq, &now);
    if (rc == 0 && now > (delivered ? me.delivered_seq : me.read_seq) &&
        (!delivered || strcmp(conv.type, "direct") == 0)) {
        const struct conv_cache *cc = chat_conv_cached(k, sc, conv_id);

        if (cc != NULL) {
            chat_publish(k, json_pack("{s:s,s:I,s:I,s:I}", "ev", delivered ? "delivered" : "read",
                                      "conv", (json_int_t)conv_id, "user",
                                      (json_int_t)k->who.user_id, "seq", (json_int_t)now),
                         user_set_ref(cc->members));
        }
    }
    store_conv_cleanup(&conv);
    if (rc == 0) {
        k->result = json_pack("{s:I}", delivered ? "delivered_seq" : "read_seq",
                              (json_int_t)now);
    }
    return rc;
}

int msg_read(struct chat_call *k, struct store_conn *sc)
{
    return advance(k, sc, false);
}

int msg_ack(struct chat_call *k, struct store_conn *sc)
{
    return advance(k, sc, true);
}

/* Reader: typing goes to the other members' sessions, and is not stored. */
int msg_typing(struct chat_call *k, struct store_conn *sc)
{
    struct user_set *to = NULL;
    int64_t conv_id;
    int rc = chat_arg_id(k, "conv", &conv_id);
    char text[160];
    struct bus_event *ev;

    if (rc == 0) {
        rc = chat_access(k, sc, conv_id, NULL, NULL);
    }
    if (rc == 0 && (to = chat_load_members(sc, conv_id)) == NULL) {
        rc = PIPIT_ESTORE;
    }
    if (rc != 0) {
        return rc;
    }
    snprintf(text, sizeof(text), "{\"ev\":\"typing\",\"conv\":%lld,\"user\":%lld}",
             (long long)conv_id, (long long)k->who.user_id);
    ev = bus_event_new(text, strlen(text), to);
    ev->skip_user = k->who.user_id;
    bus_batch_add(&k->events, ev);
    k->result = json_object();
    return 0;
}

/* Reads the paging arguments of history: at most one of before/after, and limit. */
static int paging(struct chat_call *k, int64_t *before, int64_t *after, int64_t *limit,
                  int64_t default_limit)
{
    bool has_before = false, has_after = false, has_limit = false;
    int rc = chat_arg_opt_int(k, "before", 1, INT64_MAX, before, &has_before);

    if (rc == 0) {
        rc = chat_arg_opt_int(k, "after", 0, INT64_MAX, after, &has_after);
    }
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "limit", 1, LIMIT_MAX, limit, &has_limit);
    }
    if (rc == 0 && has_before && has_after) {
        rc = chat_bad(k, "give before or after, not both");
    }
    if (!has_before) {
        *before = 0;
    }
    if (!has_after) {
        *after = -1;
    }
    if (!has_limit) {
        *limit = default_limit;
    }
    return rc;
}

/* Bytes of events one answer may carry: well inside the client's send queue. */
static size_t answer_budget(struct chat_call *k)
{
    return (size_t)k->srv->cfg.ws_send_queue_max / 4;
}

int msg_history(struct chat_call *k, struct store_conn *sc)
{
    struct store_member me;
    int64_t conv_id, before, after, limit, floor_seq;
    struct chat_page page;
    bool newest_first;
    int rc = chat_arg_id(k, "conv", &conv_id);

    if (rc == 0) {
        rc = paging(k, &before, &after, &limit, HISTORY_LIMIT);
    }
    if (rc == 0) {
        rc = chat_access(k, sc, conv_id, NULL, &me);
    }
    if (rc != 0) {
        return rc;
    }
    /* Nothing from before the member joined. */
    floor_seq = me.joined_seq - 1;
    newest_first = after < 0;
    if (after < floor_seq) {
        after = floor_seq;
    }
    chat_page_init(&page, limit, answer_budget(k));
    rc = store_events_range(sc, conv_id, k->who.user_id, k->now, after, before, (int)limit + 1,
                            newest_first, chat_page_add, &page);
    if (rc != 0) {
        json_decref(page.events);
        return rc;
    }
    k->result = json_pack("{s:o,s:b}", "events", page.events, "has_more", page.more);
    return 0;
}

/* ---- sync ---- */

struct sync_walk {
    struct chat_call *k;
    struct store_conn *sc;
    json_t *held;               /* the client's {"conv id": seq} */
    json_t *seen;               /* conv ids (text) of the user's memberships */
    json_t *convs;
    json_t *removed;
    int64_t limit;
    size_t budget;              /* bytes left for this answer */
    bool more;                  /* conversations were left for the next sync */
    int rc;
};

/* The first hole in events that should run from expected on, or none. */
static json_t *find_gap(json_t *events, int64_t expected, int64_t last_seq, bool has_more)
{
    size_t i;
    json_t *ev;

    json_array_foreach(events, i, ev) {
        int64_t seq = json_integer_value(json_object_get(ev, "seq"));

        if (seq > expected) {
            return json_pack("{s:I,s:I}", "from", (json_int_t)expected, "to",
                             (json_int_t)(seq - 1));
        }
        expected = seq + 1;
    }
    if (!has_more && expected <= last_seq) {
        return json_pack("{s:I,s:I}", "from", (json_int_t)expected, "to", (json_int_t)last_seq);
    }
    return NULL;
}

static int sync_conv(void *arg, const struct store_conv *c, const struct store_member *m)
{
    struct sync_walk *w = arg;
    struct chat_page page;
    char key[24];
    json_t *held, *entry, *gap, *conv;
    char *text;
    int64_t from;

    snprintf(key, sizeof(key), "%lld", (long long)c->id);
    held = json_object_get(w->held, key);
    json_object_set_new(w->seen, key, json_true());
    if (m->left_seq != 0) {
        if (held != NULL) {
            json_array_append_new(w->removed, json_integer(c->id));
        }
        return 0;
    }
    from = held != NULL ? json_integer_value(held) : 0;
    if (c->last_seq <= from) {
        return 0;
    }
    if (from < m->joined_seq - 1) {
        from = m->joined_seq - 1;
    }
    if (w->budget == 0) {
        w->more = true; /* the next sync picks it up */
        return 0;
    }
    chat_page_init(&page, w->limit, w->budget);
    w->rc = store_events_range(w->sc, c->id, w->k->who.user_id, w->k->now, from, 0,
                               (int)w->limit + 1, false, chat_page_add, &page);
    if (w->rc != 0) {
        json_decref(page.events);
        return 1;
    }
    conv = chat_conv_json(w->k, w->sc, c, m);
    /* The conversation object counts too: it may carry a long announcement and a
     * large last message. */
    text = json_dumps(conv, JSON_COMPACT);
    page.bytes += text != NULL ? strlen(text) : 0;
    free(text);
    w->budget = page.bytes < w->budget ? w->budget - page.bytes : 0;
    entry = json_pack("{s:o,s:o,s:b}", "conv", conv, "events", page.events, "has_more",
                      page.more);
    gap = find_gap(page.events, from + 1, c->last_seq, page.more);
    if (gap != NULL) {
        json_object_set_new(entry, "gap", gap);
    }
    json_array_append_new(w->convs, entry);
    return 0;
}

int msg_sync(struct chat_call *k, struct store_conn *sc)
{
    struct sync_walk w = { .k = k, .sc = sc, .budget = answer_budget(k) };
    json_t *held = json_object_get(k->args, "convs");
    bool has_limit;
    const char *key;
    json_t *v;
    int rc = chat_arg_opt_int(k, "limit", 1, LIMIT_MAX, &w.limit, &has_limit);

    if (rc != 0) {
        return rc;
    }
    if (!has_limit) {
        w.limit = SYNC_LIMIT;
    }
    if (held != NULL && !json_is_object(held)) {
        return chat_bad(k, "convs must be an object of conversation id → highest seq held");
    }
    json_object_foreach(held, key, v) {
        long long id = strtoll(key, NULL, 10);
        char canon[24];

        /* An id in its one spelling: " 12", "+12" or "012" would name 12 twice. */
        snprintf(canon, sizeof(canon), "%lld", id);
        if (id < 1 || strcmp(canon, key) != 0 || !json_is_integer(v) ||
            json_integer_value(v) < 0) {
            return chat_bad(k, "convs must map conversation ids to seqs (integers ≥ 0)");
        }
    }
    w.held = held;
    w.seen = json_object();
    w.convs = json_array();
    w.removed = json_array();
    rc = store_conv_list_for_user(sc, k->who.user_id, sync_conv, &w);
    if (rc == 0) {
        rc = w.rc;
    }
    /* Conversations the client holds that the user never was in, or that are gone. */
    json_object_foreach(held, key, v) {
        if (json_object_get(w.seen, key) == NULL) {
            json_array_append_new(w.removed, json_integer(strtoll(key, NULL, 10)));
        }
    }
    json_decref(w.seen);
    if (rc != 0) {
        json_decref(w.convs);
        json_decref(w.removed);
        return rc;
    }
    k->result = json_pack("{s:o,s:o,s:b}", "convs", w.convs, "removed", w.removed, "more",
                          w.more);
    return 0;
}

/* ---- search ---- */

static void add_part(json_t *parts, const char *s, size_t n, bool hit)
{
    json_t *part = n > 0 ? json_pack("{s:s%}", "text", s, n) : NULL;

    /* NULL: empty, or cut inside a character by the snippet's edge: left out. */
    if (part != NULL) {
        if (hit) {
            json_object_set_new(part, "hit", json_true());
        }
        json_array_append_new(parts, part);
    }
}

/* Where needle (n bytes) first occurs in hay (m bytes), ASCII letters in either case. */
static const char *find_caseless(const char *hay, size_t m, const char *needle, size_t n)
{
    for (size_t i = 0; n > 0 && i + n <= m; i++) {
        if (strncasecmp(hay + i, needle, n) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/*
 * A hit, narrowed to the first query term found inside it. FTS5 marks whole
 * index tokens: for CJK those are bigrams, so "京" would be marked as "京开".
 * Latin words match whole, and stay so.
 */
static void add_hit(json_t *parts, const char *s, size_t n, const char *query)
{
    for (const char *q = query; *q != '\0';) {
        size_t len = strcspn(q, " \t\r\n");
        const char *at = len < n ? find_caseless(s, n, q, len) : NULL;

        if (at != NULL) {
            add_part(parts, s, (size_t)(at - s), false);
            add_part(parts, at, len, true);
            add_part(parts, at + len, n - (size_t)(at - s) - len, false);
            return;
        }
        q += len;
        q += strspn(q, " \t\r\n");
    }
    add_part(parts, s, n, true);
}

/* A snippet with its matches marked, as [{"text"}, {"text","hit":true}, …]. */
static json_t *snippet_parts(const char *s, const char *query)
{
    json_t *parts = json_array();
    bool hit = false;

    while (*s != '\0') {
        size_t n = strcspn(s, "\x02\x03");

        if (hit) {
            add_hit(parts, s, n, query);
        } else {
            add_part(parts, s, n, false);
        }
        s += n;
        if (*s != '\0') {
            hit = *s == STORE_HIT_OPEN;
            s++;
        }
    }
    return parts;
}

struct search_page {
    json_t *results;
    const char *query;          /* as the user typed it */
    int limit;
    bool more;
};

static int add_result(void *arg, const struct store_event *ev, const char *snippet)
{
    struct search_page *p = arg;
    json_t *o;

    if ((int)json_array_size(p->results) == p->limit) {
        p->more = true;
        return 1;
    }
    o = chat_event_json(ev);
    json_object_del(o, "ev");
    json_object_set_new(o, "snippet", snippet_parts(snippet, p->query));
    json_array_append_new(p->results, o);
    return 0;
}

int msg_search(struct chat_call *k, struct store_conn *sc)
{
    struct store_search_query q = { .user_id = k->who.user_id };
    int64_t limit = SEARCH_LIMIT, offset = 0;
    struct search_page page = { 0 };
    const char *text = NULL;
    struct buf match;
    bool present;
    int rc;

    if (!k->srv->cfg.search) {
        k->why = "search is turned off on this server";
        return PIPIT_EUNAVAILABLE;
    }
    rc = chat_arg_opt_string(k, "q", 1024, &text, &present);
    if (rc == 0 && text == NULL) { /* absent, or null */
        rc = chat_bad(k, "q (the text to search for) is required");
    }
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "conv", 1, INT64_MAX, &q.conv_id, &present);
    }
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "from", 1, INT64_MAX, &q.sender, &present);
    }
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "before", 0, INT64_MAX, &q.before_ts, &present);
    }
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "after", 0, INT64_MAX, &q.after_ts, &present);
    }
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "limit", 1, SEARCH_LIMIT_MAX, &limit, &present);
    }
    if (rc == 0) {
        rc = chat_arg_opt_int(k, "offset", 0, SEARCH_OFFSET_MAX, &offset, &present);
    }
    /* One conversation: the caller must be in it (404 as for a stranger otherwise). */
    if (rc == 0 && q.conv_id != 0) {
        rc = chat_access(k, sc, q.conv_id, NULL, NULL);
    }
    if (rc != 0) {
        return rc;
    }
    buf_init(&match, SEARCH_QUERY_MAX_EXPR + 64);
    buf_appendz(&match, "{text name} : (");
    rc = search_query_build(text, &match, &k->why);
    if (rc == 0) {
        buf_appendz(&match, ")");
        buf_append(&match, "", 1);
        q.words = match.data;
        q.limit = (int)limit + 1;
        q.offset = (int)offset;
        q.window = SEARCH_WINDOW > q.offset + q.limit ? SEARCH_WINDOW : q.offset + q.limit;
        q.now = k->now;
        page.results = json_array();
        page.limit = (int)limit;
        page.query = text;
        rc = store_search(sc, &q, add_result, &page);
    }
    buf_cleanup(&match);
    if (rc != 0) {
        json_decref(page.results);
        return rc;
    }
    /* No next page past the offset cap: asking for it would be refused. */
    k->result = json_pack("{s:o,s:o}", "results", page.results, "next_offset",
                          page.more && offset + limit <= SEARCH_OFFSET_MAX
                              ? json_integer(offset + limit)
                              : json_null());
    return 0;
}
