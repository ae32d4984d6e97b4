/*
 * session.c: the WebSocket session protocol (docs/protocol.md) and token checks.
 *
 * A session starts unauthenticated; its first op must be "auth". Ops are
 * dispatched from a table; each answers with exactly one {"re":…} frame. A frame
 * that is not a valid request gets a bad_request answer and the connection
 * stays open: one broken message must not cost a client its session.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "audit/audit.h"
#include "auth/token.h"
#include "chat/bus.h"
#include "chat/chat.h"
#include "net/limits.h"
#include "proto/proto.h"
#include "server.h"
#include "store/jobs.h"
#include "store/store_push.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"
#include "ws/ws_handshake.h"

/* Kept small on purpose: one per open WebSocket. */
struct session {
    bool authenticated;
    bool registered;            /* in the worker's table of sessions (chat/bus.h) */
    bool auth_pending;          /* an auth op is being checked */
    bool recheck;               /* a revocation happened meanwhile: check again */
    bool preauth;               /* counted in its address's unauthenticated WebSockets */
    int64_t user_id;
    int64_t app_id;
    int64_t token_id;
    int64_t typing_window;      /* monotonic ms when the current typing window began */
    int64_t authed_at;          /* monotonic ms of the auth (which recorded a stale use) */
    int typing_count;
};

/* Typing indicators: at most TYPING_BURST per TYPING_WINDOW_MS per session. */
#define TYPING_BURST 5
#define TYPING_WINDOW_MS 5000

/* ---- token lookup, shared by REST and WebSocket ---- */

struct auth_job {
    struct job job;
    struct conn *c;
    api_auth_cb cb;
    void *arg;
    bool is_key;
    struct token_parts parts;
    struct api_user who;
    int64_t last_used;
    unsigned long epoch;        /* the server's auth_epoch when the lookup began */
    bool from_cache;
};

/*
 * Each worker remembers the tokens and keys it checked in the last minute, so a
 * client's next request needs no store lookup. A revocation bumps the server's
 * auth_epoch before it is answered: every worker then drops what it remembered
 * on its next check, and a lookup that began before (it may have read the row
 * before the revocation) is not remembered.
 */
#define AUTH_CACHE_MAX 1024
#define AUTH_CACHE_TTL_MS 60000

struct auth_cached {
    uint8_t selector[STORE_SELECTOR_LEN];
    uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN];
    bool is_key;
    struct api_user who;
    int64_t last_used;
    int64_t fresh_until;        /* wall-clock ms: the TTL, or the token's expiry if sooner */
};

static int64_t cache_key(const uint8_t selector[STORE_SELECTOR_LEN])
{
    int64_t k;

    memcpy(&k, selector, sizeof(k)); /* random bytes: a good hash already */
    return k != 0 ? k : 1;
}

void api_auth_cache_clear(struct worker *w)
{
    intmap_cleanup_free(&w->auth_cache);
}

/* Drops the cache if a revocation happened since it was filled. */
static void cache_check_epoch(struct worker *w)
{
    unsigned long epoch = atomic_load(&w->srv->auth_epoch);

    if (epoch != w->auth_epoch) {
        api_auth_cache_clear(w);
        w->auth_epoch = epoch;
    }
}

/*
 * A key's or a session's last use is recorded about once a minute (requests
 * racing may each record it), not per request; a session's sooner when idle
 * expiry is shorter, so it never ends while in use.
 */
static int64_t touch_interval(const struct server *srv, bool is_key)
{
    int64_t idle = is_key ? 0 : srv->cfg.token_idle_ttl;

    return idle > 0 && idle / 4 < 60000 ? idle / 4 : 60000;
}

/* A session not used for token_idle_ttl (and with no WebSocket open) is over. */
static bool session_idle(struct server *srv, const struct api_user *who, int64_t last_used,
                         int64_t now)
{
    int64_t idle = srv->cfg.token_idle_ttl;

    /* A bot's key (token_id 0) is no session: it never idles out. */
    return !who->is_key && who->token_id != 0 && idle > 0 && now - last_used >= idle &&
           !presence_token_online(srv->presence, who->token_id);
}

static struct auth_cached *cache_find(struct worker *w, const struct auth_job *aj, int64_t now)
{
    struct auth_cached *e;

    cache_check_epoch(w);
    e = intmap_get(&w->auth_cache, cache_key(aj->parts.selector));

    if (e == NULL || e->is_key != aj->is_key || now >= e->fresh_until ||
        memcmp(e->selector, aj->parts.selector, sizeof(e->selector)) != 0 ||
        !secret_equal(e->verifier_hash, aj->parts.verifier_hash, STORE_VERIFIER_HASH_LEN) ||
        session_idle(w->srv, &e->who, e->last_used, now)) {
        return NULL;
    }
    return e;
}

static void cache_keep(struct worker *w, const struct auth_job *aj, int64_t now)
{
    struct auth_cached *e = xcalloc(1, sizeof(*e));
    int64_t key = cache_key(aj->parts.selector);

    cache_check_epoch(w);
    if (w->auth_cache.len >= AUTH_CACHE_MAX) {
        api_auth_cache_clear(w); /* simple and rare: the busy ones come back at once */
    }
    memcpy(e->selector, aj->parts.selector, sizeof(e->selector));
    memcpy(e->verifier_hash, aj->parts.verifier_hash, sizeof(e->verifier_hash));
    e->is_key = aj->is_key;
    e->who = aj->who;
    e->last_used = aj->last_used;
    e->fresh_until = now + AUTH_CACHE_TTL_MS;
    if (!aj->is_key && aj->who.token_expires_at < e->fresh_until) {
        e->fresh_until = aj->who.token_expires_at;
    }
    free(intmap_remove(&w->auth_cache, key));
    intmap_put(&w->auth_cache, key, e);
}

static void key_lookup(struct auth_job *aj, struct store_conn *sc)
{
    struct store_api_key k;
    int rc = store_api_key_lookup(sc, aj->parts.selector, &k);

    if (rc == 0 && (!secret_equal(aj->parts.verifier_hash, k.verifier_hash,
                                  STORE_VERIFIER_HASH_LEN) ||
                    k.revoked_at != 0)) {
        rc = PIPIT_EUNAUTHORIZED;
    }
    if (rc == 0 && k.bot_id != 0) {
        /* A bot's key signs the bot in: it is that user, wherever a user may go. */
        rc = store_user_by_id(sc, k.bot_id, &aj->who.user);
        if (rc == 0 && (!aj->who.user.bot || aj->who.user.disabled_at != 0)) {
            rc = PIPIT_EUNAUTHORIZED;
        }
        memset(aj->who.user.password_hash, 0, sizeof(aj->who.user.password_hash));
    }
    if (rc == 0 && k.bot_id != 0) {
        aj->who.token_expires_at = INT64_MAX; /* a key does not expire: it is revoked */
    }
    if (rc == 0) {
        aj->who.is_key = k.bot_id == 0;
        aj->who.key_id = k.id;
        aj->who.scopes = k.bot_id == 0 ? k.scopes : 0;
        aj->who.user.app_id = k.app_id;
        aj->last_used = k.last_used_at;
    }
    aj->job.rc = rc == PIPIT_ENOT_FOUND ? PIPIT_EUNAUTHORIZED : rc;
}

/* Records a key's or a token's use, on the writer (fire and forget). */
struct use_touch {
    struct job job;
    bool is_key;
    int64_t id;
    int64_t now;
    char ip[STORE_IP_MAX];
};

static void use_touch_run(struct job *j, void *ctx)
{
    struct use_touch *t = (struct use_touch *)j;

    j->rc = t->is_key ? store_api_key_touch(ctx, t->id, t->now)
                      : store_token_touch(ctx, t->id, t->now, t->ip[0] ? t->ip : NULL);
}

static void use_touch_done(struct job *j)
{
    free(j);
}

/* Loop thread. ip: where the use came from ("": unknown). */
static void use_touch(struct server *srv, bool is_key, int64_t id, const char *ip)
{
    struct use_touch *t = xcalloc(1, sizeof(*t));

    t->is_key = is_key;
    t->id = id;
    t->now = clock_now_ms();
    snprintf(t->ip, sizeof(t->ip), "%s", ip);
    t->job.run = use_touch_run;
    t->job.done = use_touch_done; /* origin NULL: runs on the writer after COMMIT */
    if (jobs_write(srv->jobs, &t->job) != 0) {
        free(t);
    }
}

static void auth_run(struct job *j, void *ctx)
{
    struct auth_job *aj = (struct auth_job *)j;
    int64_t now = clock_now_ms();
    struct store_token tok;

    if (aj->is_key) {
        key_lookup(aj, ctx);
        return;
    }
    j->rc = store_token_lookup(ctx, aj->parts.selector, &tok);
    /* A disabled user has no tokens left; this also covers one a login raced in. */
    if (j->rc == 0 && (!token_matches(&aj->parts, &tok, now) || tok.user.disabled_at != 0)) {
        j->rc = PIPIT_EUNAUTHORIZED;
    }
    if (j->rc == 0) {
        aj->who.token_id = tok.id;
        aj->who.token_expires_at = tok.expires_at;
        aj->who.user = tok.user;
        aj->last_used = tok.last_seen_at;
        memset(aj->who.user.password_hash, 0, sizeof(aj->who.user.password_hash));
        if (session_idle(aj->c->w->srv, &aj->who, aj->last_used, now)) {
            j->rc = PIPIT_EUNAUTHORIZED;
        }
    } else if (j->rc == PIPIT_ENOT_FOUND) {
        j->rc = PIPIT_EUNAUTHORIZED;
    }
}

static void auth_done(struct job *j)
{
    struct auth_job *aj = (struct auth_job *)j;
    struct worker *w = aj->c->w;
    int64_t now = clock_now_ms();

    if (j->rc != 0 && j->rc != PIPIT_EUNAUTHORIZED) {
        log_error(&aj->c->log, "token lookup failed: %s", pipit_strerror(j->rc));
        j->rc = PIPIT_EUNAUTHORIZED;
    }
    if (j->rc == 0 && !aj->from_cache && !j->orphaned &&
        aj->epoch == atomic_load(&w->srv->auth_epoch)) {
        cache_keep(w, aj, now);
    }
    if (j->rc == 0 && now - aj->last_used >= touch_interval(w->srv, aj->is_key)) {
        struct auth_cached *e = j->orphaned ? NULL : cache_find(w, aj, now);

        if (e != NULL) {
            e->last_used = now; /* touched: not again for a while */
        }
        use_touch(w->srv, aj->is_key, aj->is_key ? aj->who.key_id : aj->who.token_id,
                  aj->c->ip);
    }
    /* Called even when the connection closed meanwhile, so cb can free arg. */
    aj->cb(aj->c, j->rc, j->rc == 0 ? &aj->who : NULL, aj->arg);
    conn_unref(aj->c);
    free(aj);
}

void api_authenticate(struct conn *c, const char *token, api_auth_cb cb, void *arg)
{
    struct auth_job *aj = xcalloc(1, sizeof(*aj));
    int rc;

    aj->c = c;
    aj->cb = cb;
    aj->arg = arg;
    aj->job.origin = c->w;
    aj->job.run = auth_run;
    aj->job.done = auth_done;
    conn_ref(c);
    /* By length too: a session token's text may itself begin with "pk_". */
    aj->is_key = token != NULL && strlen(token) == strlen(TOKEN_KEY_PREFIX) + TOKEN_TEXT_LEN &&
                 strncmp(token, TOKEN_KEY_PREFIX, strlen(TOKEN_KEY_PREFIX)) == 0;
    rc = token_parse(aj->is_key ? token + strlen(TOKEN_KEY_PREFIX) : token, &aj->parts);
    if (rc == 0) {
        struct auth_cached *e = cache_find(c->w, aj, clock_now_ms());

        if (e != NULL) {
            aj->who = e->who;
            aj->last_used = e->last_used;
            aj->from_cache = true;
            worker_post(c->w, &aj->job); /* answered like a lookup, never from inside the caller */
            return;
        }
        aj->epoch = atomic_load(&c->w->srv->auth_epoch);
        rc = jobs_read(c->w->srv->jobs, &aj->job);
    }
    if (rc != 0) {
        /* Answer on the same path as a lookup would, never from inside the caller. */
        aj->job.rc = rc == PIPIT_EUNAVAILABLE ? PIPIT_EUNAUTHORIZED : rc;
        worker_post(c->w, &aj->job);
    }
}

/* ---- revocation ---- */

/*
 * What a revocation ends: the sessions of one token, or every session of one
 * user but those of keep_token_id.
 */
struct revoke_job {
    struct job job;
    int64_t token_id;           /* by user: the token whose sessions stay (0: none) */
    int64_t user_id;            /* 0 when by token */
    const char *reason;         /* the close frame's reason (static text) */
};

static bool revoke_matches(const struct revoke_job *rj, const struct session *s)
{
    /* (A bot's sessions have no token: token_id 0, kept by no revocation.) */
    return rj->user_id != 0 ? s->user_id == rj->user_id &&
                                  (rj->token_id == 0 || s->token_id != rj->token_id)
                            : rj->token_id != 0 && s->token_id == rj->token_id;
}

static void revoke_done(struct job *j)
{
    struct revoke_job *rj = (struct revoke_job *)j;
    struct worker *w = j->origin;

    if (j->orphaned) {
        free(rj); /* the worker has stopped: it has no connections to close */
        return;
    }

    /* A scan of this worker's connections: revocations are rare, connections are not. */
    for (struct list *n = w->conns.next; n != &w->conns; n = n->next) {
        struct conn *c = list_entry(n, struct conn, node);
        struct session *s = c->ws != NULL ? c->ws->session : NULL;

        if (s != NULL && s->auth_pending) {
            s->recheck = true;
        }
        if (s != NULL && s->authenticated && revoke_matches(rj, s)) {
            log_info(&c->log, "closing WebSocket: %s", rj->reason);
            s->authenticated = false;
            ws_conn_close(c, WS_CLOSE_POLICY, rj->reason);
        }
    }
    free(rj);
}

void api_auth_changed(struct server *srv)
{
    atomic_fetch_add(&srv->auth_epoch, 1);
}

void api_revoke_keys(struct server *srv)
{
    api_auth_changed(srv); /* a bot's WebSockets are closed by api_revoke_user */
}

static void revoke_sessions(struct server *srv, int64_t token_id, int64_t user_id,
                            const char *reason)
{
    api_auth_changed(srv);
    for (int i = 0; i < srv->nworkers; i++) {
        struct revoke_job *rj = xcalloc(1, sizeof(*rj));

        rj->token_id = token_id;
        rj->user_id = user_id;
        rj->reason = reason;
        rj->job.origin = srv->workers[i];
        rj->job.done = revoke_done;
        worker_post(srv->workers[i], &rj->job);
    }
}

void api_revoke_token(struct server *srv, int64_t token_id)
{
    revoke_sessions(srv, token_id, 0, "token revoked");
}

void api_revoke_user(struct server *srv, int64_t user_id, int64_t keep_token_id,
                     const char *reason)
{
    revoke_sessions(srv, keep_token_id, user_id, reason);
}

/* ---- handshake ---- */

void session_upgrade(struct http_exchange *x)
{
    struct server *srv = x->conn->w->srv;
    char accept[WS_ACCEPT_LEN + 1];
    int rc = ws_handshake_check(x->req, srv->origins, srv->norigins, accept);

    if (rc != 0) {
        if (rc == PIPIT_EFORBIDDEN_ORIGIN) {
            const char *origin = http_request_header(x->req, "origin");

            log_info(&x->conn->log, "refused WebSocket from origin %s", origin);
        }
        http_respond_error(x, rc, NULL,
                           rc == PIPIT_EBAD_WS_VERSION ? "Sec-WebSocket-Version: 13\r\n" : NULL);
        return;
    }
    ws_conn_upgrade(x, accept);
}

/* ---- the protocol ---- */

void session_on_open(struct conn *c)
{
    struct session *s = xcalloc(1, sizeof(struct session));

    c->ws->session = s;
    if (c->addr.exempt) {
        return;
    }
    s->preauth = limits_enter(c->w->srv->limits, LIMIT_IP_PREAUTH, c->addr.key);
    if (!s->preauth) {
        log_info(&c->log, "refused: too many unauthenticated WebSockets from %s", c->ip);
        ws_conn_close(c, WS_CLOSE_POLICY, "too many unauthenticated connections");
    }
}

/* The session no longer counts as waiting to authenticate. */
static void session_preauth_end(struct conn *c, struct session *s)
{
    if (s->preauth) {
        s->preauth = false;
        limits_leave(c->w->srv->limits, LIMIT_IP_PREAUTH, c->addr.key);
    }
}

void session_on_close(struct conn *c)
{
    struct session *s = c->ws->session;

    if (s != NULL) {
        session_preauth_end(c, s);
    }
    if (s != NULL && s->registered) {
        if (bus_session_down(c, s->user_id, s->token_id)) {
            chat_presence_changed(c->w->srv, s->user_id);
        }
        /* Idle expiry counts from when its last WebSocket closed; a short-lived one
         * was recorded at its auth recently enough (a reconnect storm costs no writes). */
        if (worker_now(c->w) - s->authed_at >= touch_interval(c->w->srv, false)) {
            use_touch(c->w->srv, false, s->token_id, c->ip);
        }
    }
    PIPIT_FREE(c->ws->session);
}

/* An auth op being checked: the request's id and the token, for a re-check. */
struct pending_auth {
    json_t *id;
    char token[TOKEN_TEXT_LEN + 1];
};

static void on_ws_authenticated(struct conn *c, int rc, const struct api_user *who, void *arg)
{
    struct pending_auth *pa = arg;
    struct session *s = c->ws != NULL ? c->ws->session : NULL;

    if (s == NULL || c->closing || c->ws->closing) {
        goto out;
    }
    if (rc == 0 && s->recheck) {
        /*
         * A revocation ran while this lookup was out: it may have read the token
         * just before the delete. Look again; the store is past the delete now.
         */
        s->recheck = false;
        api_authenticate(c, pa->token, on_ws_authenticated, pa);
        return;
    }
    s->auth_pending = false;
    if (rc != 0 || who->is_key) {
        /* A WebSocket session is a user's: an API key is not one. */
        ws_conn_send_json(c, proto_error(pa->id, PIPIT_EUNAUTHORIZED, NULL));
        goto out;
    }
    if (api_mfa_enrolment_pending(who)) {
        ws_conn_send_json(c, proto_error(pa->id, PIPIT_EMFA_ENROLLMENT_REQUIRED, NULL));
        goto out;
    }
    session_preauth_end(c, s);
    s->authenticated = true;
    s->user_id = who->user.id;
    s->app_id = who->user.app_id;
    s->token_id = who->token_id;
    s->authed_at = worker_now(c->w);
    ws_conn_set_authenticated(c, who->token_expires_at);
    s->registered = true;
    if (bus_session_up(c, s->user_id, s->token_id)) {
        chat_presence_changed(c->w->srv, s->user_id);
    }
    log_info(&c->log, "websocket authenticated as '%s'", who->user.username);
    ws_conn_send_json(c, proto_ok(pa->id, json_pack("{s:o,s:i}", "user",
                                                    api_user_json(&who->user, false),
                                                    "protocol", PROTO_VERSION)));
out:
    if (s != NULL) {
        s->auth_pending = false;
    }
    json_decref(pa->id);
    free(pa);
}

static void op_auth(struct conn *c, struct session *s, struct proto_frame *f)
{
    json_t *token = json_object_get(f->root, "token");
    struct pending_auth *pa;

    if (s->authenticated) {
        ws_conn_send_json(c, proto_error(f->id, PIPIT_EALREADY_AUTHENTICATED, NULL));
        return;
    }
    if (s->auth_pending) {
        ws_conn_send_json(c, proto_error(f->id, PIPIT_EBAD_REQUEST, "an auth is in progress"));
        return;
    }
    if (!json_is_string(token)) {
        ws_conn_send_json(c, proto_error(f->id, PIPIT_EBAD_REQUEST, "\"token\" must be a string"));
        return;
    }
    pa = xcalloc(1, sizeof(*pa));
    pa->id = json_incref(f->id);
    /* Longer text cannot be a token; keep a prefix that will fail the same way. */
    snprintf(pa->token, sizeof(pa->token), "%s", json_string_value(token));
    s->auth_pending = true;
    s->recheck = false;
    api_authenticate(c, json_string_value(token), on_ws_authenticated, pa);
}

static void op_ping(struct conn *c, struct session *s, struct proto_frame *f)
{
    ws_conn_send_json(c, proto_ok(f->id, json_object()));
}

/* The chat ops (chat/chat.h): the same actions as the REST routes. */
static void chat_op(struct conn *c, struct session *s, struct proto_frame *f)
{
    struct chat_caller who = { s->user_id, s->app_id, false, 0, 0, s->token_id };
    json_t *args;

    if (!s->authenticated) {
        ws_conn_send_json(c, proto_error(f->id, PIPIT_EUNAUTHENTICATED, NULL));
        return;
    }
    if (strcmp(f->op, "typing") == 0) {
        int64_t now = worker_now(c->w);

        if (now - s->typing_window >= TYPING_WINDOW_MS) {
            s->typing_window = now;
            s->typing_count = 0;
        }
        if (++s->typing_count > TYPING_BURST) {
            ws_conn_send_json(c, proto_error(f->id, PIPIT_ERATE_LIMITED, "too many typing events"));
            return;
        }
    }
    args = f->root; /* the call takes the request object */
    f->root = NULL;
    chat_call_ws(c, &who, f->op, f->id, args);
}

struct op {
    const char *name;
    void (*fn)(struct conn *c, struct session *s, struct proto_frame *f);
    bool needs_auth;
};

static const struct op ops[] = {
    { "auth", op_auth, false },
    { "ping", op_ping, true },
};

/*
 * Takes a token for an op (net/limits.h): from the user's bucket once signed in,
 * else from the address's. When there is none, answers rate_limited with the
 * wait and returns true.
 */
static bool session_rate_limited(struct conn *c, struct session *s, json_t *id)
{
    struct limits *l = c->w->srv->limits;
    int64_t wait = 0;
    json_t *e;

    if (s->authenticated) {
        wait = limits_take(l, LIMIT_USER_REQUESTS, (uint64_t)s->user_id, worker_now(c->w));
    } else if (!c->addr.exempt) {
        wait = limits_take(l, LIMIT_IP_REQUESTS, c->addr.key, worker_now(c->w));
    }
    if (wait <= 0) {
        return false;
    }
    e = proto_error(id, PIPIT_ERATE_LIMITED, "too many requests: slow down");
    json_object_set_new(json_object_get(e, "error"), "retry_after_ms", json_integer(wait));
    ws_conn_send_json(c, e);
    return true;
}

json_t *session_op_names(void)
{
    json_t *names = json_array();

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        json_array_append_new(names, json_string(ops[i].name));
    }
    chat_op_names(names);
    return names;
}

void session_on_text(struct conn *c, const char *data, size_t len)
{
    struct session *s = c->ws->session;
    struct proto_frame f;
    const char *why = NULL;
    size_t i;

    if (proto_decode(data, len, &f, &why) != 0) {
        ws_conn_send_json(c, proto_error(f.id, PIPIT_EBAD_REQUEST, why));
        proto_frame_free(&f);
        return;
    }
    if (session_rate_limited(c, s, f.id)) {
        proto_frame_free(&f);
        return;
    }
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(ops[i].name, f.op) == 0) {
            break;
        }
    }
    if (i == sizeof(ops) / sizeof(ops[0]) && chat_is_op(f.op)) {
        chat_op(c, s, &f);
    } else if (i == sizeof(ops) / sizeof(ops[0])) {
        ws_conn_send_json(c, proto_error(f.id, s->authenticated ? PIPIT_EUNKNOWN_OP
                                                           : PIPIT_EUNAUTHENTICATED, NULL));
    } else if (ops[i].needs_auth && !s->authenticated) {
        ws_conn_send_json(c, proto_error(f.id, PIPIT_EUNAUTHENTICATED, NULL));
    } else {
        ops[i].fn(c, s, &f);
    }
    proto_frame_free(&f);
}

void api_actor(const struct api_user *who, char *out)
{
    audit_actor(out, who->is_key, who->is_key ? who->key_id : who->user.id);
}
