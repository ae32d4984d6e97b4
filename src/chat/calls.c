/*
 * calls.c: voice and video call signalling (docs/protocol.md, Calls).
 *
 * pipit carries no media: it tells a call's participants about each other —
 * invite, ringing, accept, reject, cancel, hang up — and relays their WebRTC
 * offers, answers and ICE candidates, each only to the participant it is for.
 * Calls live in memory on the store writer, where every op runs (one thread:
 * no locks, and events leave in commit order); a restart ends them. When a
 * call ends, a call_record event goes on the conversation's timeline (who,
 * when, how long, missed). Callees with no session open get a high-priority
 * push. A call nobody accepts within call_ring_timeout ends as missed: the
 * first worker's ticker asks (chat_calls_tick) while calls ring.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "net/worker.h"
#include "push/push.h"
#include "server.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/intmap.h"
#include "util/mem.h"

#define SIGNAL_MAX 16384          /* bytes of one relayed offer, answer or candidate */

enum part_state { PART_INVITED, PART_RINGING, PART_JOINED, PART_REJECTED, PART_LEFT };

struct call {
    int64_t id;
    int64_t app_id;
    int64_t conv;
    int64_t caller;
    char media[8];              /* "audio" or "video" */
    int64_t created_at;
    int64_t started_at;         /* the first accept; 0: never */
    int64_t ring_until;         /* a call nobody accepted by then is missed */
    struct user_set *parts;     /* the participants, caller included, sorted */
    uint8_t *state;             /* enum part_state, by index in parts */
};

/* The writer's calls: by id, and which conversation has one. */
struct calls {
    struct intmap by_id;
    struct intmap by_conv;      /* conv id → struct call * */
    int64_t next_id;
    atomic_int_fast64_t ringing_until; /* the earliest ring_until (0: none), for the ticker */
    struct worker_kick kick;
};

static struct calls *calls_of(struct server *srv)
{
    return srv->calls;
}

static size_t index_of(const struct call *c, int64_t user)
{
    for (size_t i = 0; i < c->parts->n; i++) {
        if (c->parts->ids[i] == user) {
            return i;
        }
    }
    return SIZE_MAX;
}

static size_t count_in(const struct call *c, enum part_state s)
{
    size_t n = 0;

    for (size_t i = 0; i < c->parts->n; i++) {
        n += c->state[i] == s;
    }
    return n;
}

/* The earliest ring deadline of the calls nobody accepted yet. */
static void update_ringing(struct calls *cs)
{
    int64_t first = 0;

    for (size_t i = 0; i < cs->by_id.cap; i++) {
        const struct call *c = cs->by_id.slots[i].key != 0 ? cs->by_id.slots[i].value : NULL;

        if (c != NULL && c->started_at == 0 && (first == 0 || c->ring_until < first)) {
            first = c->ring_until;
        }
    }
    atomic_store(&cs->ringing_until, first);
}

/* {"ev":"call","type":…,"call","conv","from",…extra} to the participants in `to` (taken). */
static void tell(struct chat_call *k, const struct call *c, const char *type, int64_t from,
                 json_t *extra, struct user_set *to)
{
    json_t *ev = json_pack("{s:s,s:s,s:I,s:I,s:I}", "ev", "call", "type", type, "call",
                           (json_int_t)c->id, "conv", (json_int_t)c->conv, "from",
                           (json_int_t)from);

    if (extra != NULL) {
        json_object_update(ev, extra);
        json_decref(extra);
    }
    chat_publish(k, ev, to);
}

static void tell_all(struct chat_call *k, const struct call *c, const char *type, int64_t from,
                     json_t *extra)
{
    tell(k, c, type, from, extra, user_set_ref(c->parts));
}

static void call_free(struct call *c)
{
    user_set_unref(c->parts);
    free(c->state);
    free(c);
}

/*
 * Ends the call: everyone is told, and the conversation gets its record. A
 * call nobody accepted is missed by those it rang.
 */
static int end_call(struct chat_call *k, struct store_conn *sc, struct call *c,
                    const char *reason)
{
    struct calls *cs = calls_of(k->srv);
    json_t *parts = json_array();
    bool missed = c->started_at == 0;
    int64_t duration = missed ? 0 : k->now - c->started_at;
    struct store_event ev = { .conv_id = c->conv, .kind = "call_record", .sender = c->caller };
    json_t *record;
    char *meta;
    int rc;

    for (size_t i = 0; i < c->parts->n; i++) {
        json_array_append_new(parts, json_integer(c->parts->ids[i]));
    }
    /* from: who ended it, or the caller when it rang out */
    tell_all(k, c, "end", k->who.user_id != 0 ? k->who.user_id : c->caller,
             json_pack("{s:s,s:I}", "reason", reason, "duration_ms", (json_int_t)duration));
    record = json_pack("{s:I,s:s,s:o,s:I,s:o,s:I,s:I,s:b,s:s}", "call", (json_int_t)c->id,
                       "media", c->media, "participants", parts, "created_at",
                       (json_int_t)c->created_at, "started_at",
                       time_or_null(c->started_at),
                       "ended_at", (json_int_t)k->now, "duration_ms", (json_int_t)duration,
                       "missed", missed, "reason", reason);
    meta = json_dumps(record, JSON_COMPACT);
    json_decref(record);
    ev.meta = meta;
    rc = meta != NULL ? chat_append(k, sc, &ev, NULL) : PIPIT_ENOMEM;
    free(meta);
    intmap_remove(&cs->by_id, c->id);
    intmap_remove(&cs->by_conv, c->conv);
    call_free(c);
    update_ringing(cs);
    return rc;
}

/* The call of args.call the caller takes part in (404 otherwise, as for a stranger). */
static int my_call(struct chat_call *k, struct call **out, size_t *me)
{
    int64_t id;
    int rc = chat_arg_id(k, "call", &id);
    struct call *c = rc == 0 ? intmap_get(&calls_of(k->srv)->by_id, id) : NULL;

    if (rc != 0) {
        return rc;
    }
    if (c == NULL || c->app_id != k->who.app_id || (*me = index_of(c, k->who.user_id)) == SIZE_MAX) {
        k->why = "no such call (it may have ended)";
        return PIPIT_ENOT_FOUND;
    }
    *out = c;
    return 0;
}

/* {conv, media?}: rings the conversation's other members. */
int call_invite(struct chat_call *k, struct store_conn *sc)
{
    struct calls *cs = calls_of(k->srv);
    const char *media = json_string_value(json_object_get(k->args, "media"));
    const struct conv_cache *cc;
    struct store_user me;
    struct call *c;
    int64_t conv;
    int rc = chat_arg_id(k, "conv", &conv);

    if (rc != 0) {
        return rc;
    }
    if (json_object_get(k->args, "media") != NULL &&
        (media == NULL || (strcmp(media, "audio") != 0 && strcmp(media, "video") != 0))) {
        return chat_bad(k, "media must be \"audio\" or \"video\"");
    }
    cc = chat_conv_cached(k, sc, conv);
    if (cc == NULL || !user_set_has(cc->members, k->who.user_id)) {
        k->why = "no such conversation";
        return PIPIT_ENOT_FOUND;
    }
    if (cc->members->n < 2 || cc->members->n > (size_t)k->srv->cfg.call_max_participants) {
        k->why = "a call needs 2 members, and at most call_max_participants";
        return PIPIT_ECONFLICT;
    }
    if (intmap_get(&cs->by_conv, conv) != NULL) {
        k->why = "this conversation has a call already: join it";
        return PIPIT_ECONFLICT;
    }
    /* Registered once the push is stored: a failure leaves no call behind (in memory
     * nothing rolls back). */
    c = xcalloc(1, sizeof(*c));
    c->id = cs->next_id + 1;
    c->app_id = k->who.app_id;
    c->conv = conv;
    c->caller = k->who.user_id;
    snprintf(c->media, sizeof(c->media), "%s", media != NULL ? media : "audio");
    c->created_at = k->now;
    c->ring_until = k->now + k->srv->cfg.call_ring_timeout;
    c->parts = user_set_ref(cc->members);
    c->state = xcalloc(c->parts->n, 1);
    c->state[index_of(c, k->who.user_id)] = PART_JOINED;
    if (push_anyone_offline(k->srv, c->parts, k->who.user_id)) {
        char title[STORE_USERNAME_MAX + STORE_DISPLAY_MAX + 32];

        rc = store_user_by_id(sc, k->who.user_id, &me);
        snprintf(title, sizeof(title), "%s is calling",
                 rc == 0 ? (me.has_display_name ? me.display_name : me.username) : "Someone");
        rc = push_to_members(k, sc, conv, k->who.user_id,
                             json_pack("{s:s,s:s,s:s,s:{s:I,s:I,s:s}}", "title", title, "body",
                                       strcmp(c->media, "video") == 0 ? "Video call"
                                                                     : "Voice call",
                                       "category", "call", "data", "conv", (json_int_t)conv,
                                       "call", (json_int_t)c->id, "media", c->media),
                             NULL, "call");
    }
    if (rc != 0) {
        call_free(c);
        return rc;
    }
    cs->next_id = c->id;
    intmap_put(&cs->by_id, c->id, c);
    intmap_put(&cs->by_conv, conv, c);
    update_ringing(cs);
    tell_all(k, c, "invite", k->who.user_id,
             json_pack("{s:s,s:I}", "media", c->media, "ring_until", (json_int_t)c->ring_until));
    k->result = json_pack("{s:I,s:I}", "call", (json_int_t)c->id, "ring_until",
                          (json_int_t)c->ring_until);
    return 0;
}

/* A callee's device rings: the caller may show it. */
int call_ringing(struct chat_call *k, struct store_conn *sc)
{
    struct call *c;
    size_t me;
    int rc = my_call(k, &c, &me);

    if (rc == 0 && c->state[me] == PART_INVITED) {
        c->state[me] = PART_RINGING;
        tell(k, c, "ringing", k->who.user_id, NULL, user_set_of(&c->caller, 1));
    }
    k->result = rc == 0 ? json_object() : NULL;
    return rc;
}

int call_accept(struct chat_call *k, struct store_conn *sc)
{
    struct call *c;
    size_t me;
    int rc = my_call(k, &c, &me);

    if (rc == 0 && (c->state[me] == PART_LEFT || c->state[me] == PART_REJECTED) &&
        c->started_at == 0) {
        k->why = "you declined this call";
        rc = PIPIT_ECONFLICT;
    }
    if (rc == 0 && c->caller == k->who.user_id && c->started_at == 0) {
        k->why = "the caller waits for a callee to accept";
        rc = PIPIT_ECONFLICT;
    }
    if (rc == 0) {
        c->state[me] = PART_JOINED;
        if (c->started_at == 0) {
            c->started_at = k->now;
            update_ringing(calls_of(k->srv));
        }
        tell_all(k, c, "accept", k->who.user_id, NULL);
        k->result = json_object();
    }
    return rc;
}

int call_reject(struct chat_call *k, struct store_conn *sc)
{
    struct call *c;
    size_t me;
    int rc = my_call(k, &c, &me);

    if (rc != 0) {
        return rc;
    }
    if (c->state[me] == PART_JOINED) {
        k->why = "you are in this call: hang up instead";
        return PIPIT_ECONFLICT;
    }
    c->state[me] = PART_REJECTED;
    tell_all(k, c, "reject", k->who.user_id, NULL);
    k->result = json_object();
    /* Nobody left to ring, and nobody but the caller in: over. */
    if (count_in(c, PART_INVITED) + count_in(c, PART_RINGING) == 0 &&
        count_in(c, PART_JOINED) < 2) {
        return end_call(k, sc, c, "rejected");
    }
    return 0;
}

/* The caller gives up before anyone accepted. */
int call_cancel(struct chat_call *k, struct store_conn *sc)
{
    struct call *c;
    size_t me;
    int rc = my_call(k, &c, &me);

    if (rc == 0 && (c->caller != k->who.user_id || c->started_at != 0)) {
        k->why = c->caller != k->who.user_id ? "only the caller can cancel"
                                             : "the call was answered: hang up instead";
        rc = PIPIT_ECONFLICT;
    }
    k->result = rc == 0 ? json_object() : NULL;
    return rc != 0 ? rc : end_call(k, sc, c, "cancelled");
}

int call_hangup(struct chat_call *k, struct store_conn *sc)
{
    struct call *c;
    size_t me;
    int rc = my_call(k, &c, &me);

    if (rc != 0) {
        return rc;
    }
    if (c->started_at == 0 && c->caller != k->who.user_id && c->state[me] != PART_JOINED) {
        return call_reject(k, sc); /* hanging up on a ringing call declines it */
    }
    k->result = json_object();
    if (c->started_at == 0 && c->caller == k->who.user_id) {
        return end_call(k, sc, c, "cancelled");
    }
    c->state[me] = PART_LEFT;
    tell_all(k, c, "hangup", k->who.user_id, NULL);
    if (count_in(c, PART_JOINED) < 2 &&
        (c->started_at != 0 || count_in(c, PART_INVITED) + count_in(c, PART_RINGING) == 0)) {
        return end_call(k, sc, c, "ended");
    }
    return 0;
}

/* {call, to, data}: an offer, answer or ICE candidate, for one other participant only. */
int call_signal(struct chat_call *k, struct store_conn *sc)
{
    json_t *data = json_object_get(k->args, "data");
    struct call *c;
    size_t me, peer;
    int64_t to;
    char *text;
    int rc = my_call(k, &c, &me);

    if (rc == 0) {
        rc = chat_arg_id(k, "to", &to);
    }
    if (rc != 0) {
        return rc;
    }
    if (!json_is_object(data)) {
        return chat_bad(k, "data must be an object (an SDP offer or answer, or an ICE candidate)");
    }
    text = json_dumps(data, JSON_COMPACT);
    rc = text == NULL || strlen(text) > SIGNAL_MAX ? PIPIT_EPAYLOAD_TOO_LARGE : 0;
    free(text);
    if (rc != 0) {
        k->why = "data is larger than 16 KiB";
        return rc;
    }
    peer = index_of(c, to);
    if (peer == SIZE_MAX || peer == me || c->state[me] == PART_LEFT ||
        c->state[me] == PART_REJECTED || c->state[peer] == PART_LEFT ||
        c->state[peer] == PART_REJECTED) {
        k->why = "to must be another participant still in the call";
        return PIPIT_ECONFLICT;
    }
    tell(k, c, "signal", k->who.user_id, json_pack("{s:O}", "data", data),
         user_set_of(&to, 1));
    k->result = json_object();
    return 0;
}

int chat_calls_member_left(struct chat_call *k, struct store_conn *sc, int64_t conv,
                           int64_t user)
{
    struct call *c = intmap_get(&calls_of(k->srv)->by_conv, conv);
    size_t at = c != NULL ? index_of(c, user) : SIZE_MAX;
    struct user_set *parts;
    size_t n = 0;

    if (at == SIZE_MAX) {
        return 0;
    }
    /* Out of the call altogether: no more of its events, and its ops are not_found. */
    parts = user_set_new(c->parts->n - 1);
    for (size_t i = 0; i < c->parts->n; i++) {
        if (i != at) {
            parts->ids[n] = c->parts->ids[i];
            c->state[n++] = c->state[i];
        }
    }
    parts->n = n;
    user_set_unref(c->parts);
    c->parts = parts;
    tell_all(k, c, "hangup", user, NULL);
    if (user == c->caller && c->started_at == 0) {
        return end_call(k, sc, c, "cancelled");
    }
    if (count_in(c, PART_JOINED) < 2 &&
        (c->started_at != 0 || count_in(c, PART_INVITED) + count_in(c, PART_RINGING) == 0)) {
        return end_call(k, sc, c, "ended");
    }
    return 0;
}

/* Internal (chat_calls_tick): calls that rang out end as missed. */
int call_expire(struct chat_call *k, struct store_conn *sc)
{
    struct calls *cs = calls_of(k->srv);
    int rc = 0;

    for (size_t i = 0; i < cs->by_id.cap && rc == 0; i++) {
        struct call *c = cs->by_id.slots[i].key != 0 ? cs->by_id.slots[i].value : NULL;

        if (c != NULL && c->started_at == 0 && c->ring_until <= k->now) {
            k->who.app_id = c->app_id;
            rc = end_call(k, sc, c, "timeout");
            i = (size_t)-1; /* the table changed: look again from the start */
        }
    }
    k->result = json_object();
    return rc;
}

static void expired(void *arg, int rc, json_t *result, const char *why)
{
    (void)arg;
    (void)rc;
    (void)result;
    (void)why;
}

static void on_kick(void *data)
{
    struct server *srv = data;
    struct chat_caller system = { 0 };

    chat_call_internal(srv, srv->workers[0], &system, "call_expire", json_object(), expired,
                       NULL);
}

void chat_calls_tick(struct server *srv, int64_t now)
{
    struct calls *cs = calls_of(srv);
    int64_t due = atomic_load(&cs->ringing_until);

    if (due != 0 && due <= now) {
        worker_kick(srv->workers[0], &cs->kick);
    }
}

void chat_calls_new(struct server *srv)
{
    struct calls *cs = xcalloc(1, sizeof(*cs));

    intmap_init(&cs->by_id);
    intmap_init(&cs->by_conv);
    /* Ids from the clock: a call of the last run is never taken for one of this run. */
    cs->next_id = clock_now_ms() * 1000;
    worker_kick_init(&cs->kick, on_kick, srv);
    srv->calls = cs;
}

void chat_calls_free(struct server *srv)
{
    struct calls *cs = calls_of(srv);

    if (cs == NULL) {
        return;
    }
    for (size_t i = 0; i < cs->by_id.cap; i++) {
        if (cs->by_id.slots[i].key != 0) {
            call_free(cs->by_id.slots[i].value);
        }
    }
    intmap_cleanup(&cs->by_id);
    intmap_cleanup(&cs->by_conv);
    free(cs);
    srv->calls = NULL;
}
