/*
 * accounts.c: accounts and their security: register, login, logout, me, a
 * user's own password and second factor, admin user creation and password reset.
 *
 * Each handler validates on the loop, then runs a plan of steps on store
 * threads, one after the other:
 *   register / admin create:  hash (reader pool) → insert user [+ token] (writer)
 *   login:                    verify (reader pool) → second factor, token (writer)
 *   logout:                   delete token (writer) → close its WebSockets
 *   admin password reset:     hash → set it, delete every token → close WebSockets
 *   password change:          verify → hash → set it, every token replaced by a new one
 *   MFA begin / disable:      verify → new secret / check the code, turn it off
 *   MFA confirm / new codes:  check the code, new recovery codes (writer)
 * A plan that checks a password or a code is throttled (auth/throttle.h) on the
 * account and the client's address, and settled once, when it ends: a right
 * password followed by a wrong code is a failure, not a success and a failure.
 * A job keeps a reference on the connection, so its answer goes to a live
 * exchange or nowhere.
 *
 * Each writer step is audited in its own transaction (audit/audit.h), failures
 * too; a failed password check's record is one more writer step before the answer.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "audit/audit.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "auth/token.h"
#include "auth/totp.h"
#include "hooks/webhooks.h"
#include "server.h"
#include "store/jobs.h"
#include "store/store_push.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

enum account_step {
    STEP_END, STEP_HASH, STEP_VERIFY, STEP_FAILED, STEP_INSERT, STEP_TOKEN, STEP_LOGOUT,
    STEP_PASSWORD, STEP_CHANGE_PASSWORD, STEP_MFA_BEGIN, STEP_MFA_CONFIRM, STEP_MFA_DISABLE,
    STEP_MFA_CODES
};

#define PLAN_MAX 4              /* steps, STEP_END included */
#define CODE_MAX 64             /* longer is no code of ours */

struct account_job {
    struct job job;
    struct conn *c;
    enum account_step plan[PLAN_MAX];
    int at;                     /* the step running: plan[at] */
    enum account_step goal;     /* the plan's last step: what it is for */
    bool with_token;            /* register hands out a token */
    bool limited_key;           /* asked by an API key without the admin scope */
    bool in_session;            /* the user acts on their own account, signed in */
    bool throttled;             /* a throttle attempt is open (settle_throttle) */
    bool used_recovery;         /* a recovery code was the second factor */
    char actor[AUDIT_ACTOR_MAX]; /* who asks, for the audit log; "" for the user acted on */
    int failure;                /* STEP_FAILED: the error to answer */
    const char *why;            /* the message of a failure; NULL: the default */
    int64_t app_id;
    int64_t token_ttl;
    char username[STORE_USERNAME_MAX + 1];
    char password[PASSWORD_MAX + 1];     /* checked (STEP_VERIFY) */
    char new_password[PASSWORD_MAX + 1]; /* hashed (STEP_HASH) */
    char role[8];
    char hash[STORE_HASH_MAX];
    char code[CODE_MAX + 1];             /* a TOTP code, or "" */
    char recovery[CODE_MAX + 1];         /* a recovery code, or "" */
    char device[STORE_DEVICE_MAX + 1];
    struct store_user user;
    char token[TOKEN_TEXT_LEN + 1];
    struct token_parts parts;
    int64_t token_id;           /* logout: the token; a new session: its token */
    char secret[TOTP_SECRET_TEXT_LEN + 1];
    char codes[RECOVERY_CODES][RECOVERY_CODE_TEXT_LEN + 1];
};

static enum account_step step_of(const struct account_job *aj)
{
    return aj->plan[aj->at];
}

static void account_job_free(struct account_job *aj)
{
    sodium_memzero(aj->password, sizeof(aj->password));
    sodium_memzero(aj->new_password, sizeof(aj->new_password));
    sodium_memzero(aj->token, sizeof(aj->token));
    sodium_memzero(aj->code, sizeof(aj->code));
    sodium_memzero(aj->recovery, sizeof(aj->recovery));
    sodium_memzero(aj->secret, sizeof(aj->secret));
    sodium_memzero(aj->codes, sizeof(aj->codes));
    conn_unref(aj->c);
    free(aj);
}

/* Settles the plan's throttle attempt by its outcome (once; the first call wins). */
static void settle_throttle(struct account_job *aj, int rc)
{
    struct server *srv = aj->c->w->srv;

    if (!aj->throttled) {
        return;
    }
    aj->throttled = false;
    if (rc == 0) {
        throttle_success(srv->throttle, aj->username, aj->c->ip, clock_mono_ms());
    } else if (rc == PIPIT_EINVALID_CREDENTIALS || rc == PIPIT_EWRONG_PASSWORD ||
               rc == PIPIT_EINVALID_MFA_CODE) {
        throttle_fail(srv->throttle, aj->username, aj->c->ip, clock_mono_ms());
    } else {
        throttle_release(srv->throttle, aj->username, aj->c->ip);
    }
}

static void account_done(struct job *j);

/* Sends the job to the thread its step needs; answers 503 when queues are full. */
static void account_submit(struct account_job *aj)
{
    struct server *srv = aj->c->w->srv;
    enum account_step step = step_of(aj);
    int rc;

    aj->job.origin = aj->c->w;
    aj->job.done = account_done;
    if (step == STEP_HASH || step == STEP_VERIFY) {
        rc = jobs_read(srv->jobs, &aj->job);
    } else {
        rc = jobs_write(srv->jobs, &aj->job);
    }
    if (rc != 0) {
        settle_throttle(aj, rc);
        http_respond_error(&aj->c->http->x, rc, NULL, "Retry-After: 1\r\n");
        account_job_free(aj);
    }
}

/* Writer thread: a new session token for aj->user. */
/* user.created, for the app's webhooks. */
static int emit_user_created(struct account_job *aj, struct store_conn *db, int64_t now)
{
    json_t *data = json_pack("{s:I,s:s,s:s,s:I}", "id", (json_int_t)aj->user.id, "username",
                             aj->user.username, "role", aj->user.role, "ts", (json_int_t)now);
    char *text = json_dumps(data, JSON_COMPACT);
    int rc = text != NULL ? webhooks_emit(aj->c->w->srv, db, aj->user.app_id,
                                          WEBHOOK_USER_CREATED, text, now)
                          : PIPIT_ENOMEM;

    json_decref(data);
    free(text);
    return rc;
}

static int issue_token(struct account_job *aj, struct store_conn *db, int64_t now)
{
    token_new(aj->token, &aj->parts);
    return store_token_insert(db, aj->app_id, aj->user.id, aj->parts.selector,
                              aj->parts.verifier_hash, aj->device[0] ? aj->device : NULL,
                              aj->c->ip, now, now + aj->token_ttl, &aj->token_id);
}

/*
 * Writer thread: aj->user read again, unless disabled. Read here, on the writer:
 * a disable that commits first is seen, and one that commits later deletes
 * what this step makes with the rest.
 */
static int reread_user(struct account_job *aj, struct store_conn *db)
{
    int rc = store_user_by_id(db, aj->user.id, &aj->user);

    return rc == 0 && aj->user.disabled_at != 0 ? PIPIT_EACCOUNT_DISABLED : rc;
}

/*
 * Writer thread: the code or recovery code given, checked against the user's
 * second factor m and used up (neither works twice). PIPIT_EMFA_REQUIRED when
 * neither was given.
 */
static int check_second_factor(struct account_job *aj, struct store_conn *db,
                               const struct store_mfa *m, int64_t now)
{
    uint8_t hash[STORE_RECOVERY_HASH_LEN];
    int rc;

    if (aj->code[0] != '\0') {
        int64_t step = totp_match(m->secret, aj->code, now, m->last_step);

        rc = step != 0 ? store_mfa_use_step(db, aj->user.id, step) : PIPIT_EINVALID_MFA_CODE;
        return rc == PIPIT_ECONFLICT ? PIPIT_EINVALID_MFA_CODE : rc;
    }
    if (aj->recovery[0] != '\0') {
        rc = recovery_code_hash(aj->recovery, hash);
        if (rc == 0) {
            rc = store_mfa_use_code(db, aj->user.id, hash);
        }
        aj->used_recovery = rc == 0;
        return rc == PIPIT_ENOT_FOUND || rc == PIPIT_EBAD_REQUEST ? PIPIT_EINVALID_MFA_CODE : rc;
    }
    return PIPIT_EMFA_REQUIRED;
}

/* Writer thread: a login's token, after its second factor when the user has one. */
static int login_token(struct account_job *aj, struct store_conn *db, int64_t now)
{
    struct store_mfa m;
    int rc = reread_user(aj, db);

    if (rc == 0 && aj->user.mfa_enabled_at != 0) {
        rc = store_mfa_get(db, aj->user.id, &m);
        if (rc == 0) {
            rc = check_second_factor(aj, db, &m, now);
        }
        sodium_memzero(&m, sizeof(m));
    }
    return rc != 0 ? rc : issue_token(aj, db, now);
}

/* Writer thread: the admin's new password for aj->user.id, and no session left. */
static int reset_password(struct account_job *aj, struct store_conn *db)
{
    int rc = store_user_by_id(db, aj->user.id, &aj->user);

    if (rc == 0 && aj->user.app_id != aj->app_id) {
        rc = PIPIT_ENOT_FOUND;
    }
    if (rc == PIPIT_ENOT_FOUND) {
        aj->why = "no such user";
        return rc;
    }
    if (rc == 0 && aj->limited_key && strcmp(aj->user.role, "admin") == 0) {
        /* Or a "users" key could take an admin's account over. */
        aj->why = "only an admin or an admin-scoped API key may make or change an admin";
        return PIPIT_EFORBIDDEN;
    }
    if (rc == 0 && aj->user.bot) {
        aj->why = "a bot has no password: it signs in with its key (POST /v1/admin/bots/{id}/key)";
        return PIPIT_ECONFLICT;
    }
    if (rc == 0) {
        rc = store_user_set_password(db, aj->app_id, aj->user.username, aj->hash);
    }
    return rc != 0 ? rc : store_token_delete_all_for_user(db, aj->user.id, 0);
}

/* Writer thread: the user's own new password; every session ends, one new begins. */
static int change_password(struct account_job *aj, struct store_conn *db, int64_t now)
{
    int rc = reread_user(aj, db);

    if (rc == 0) {
        rc = store_user_set_password(db, aj->app_id, aj->user.username, aj->hash);
    }
    if (rc == 0) {
        rc = store_token_delete_all_for_user(db, aj->user.id, 0);
    }
    return rc != 0 ? rc : issue_token(aj, db, now);
}

/* Writer thread: RECOVERY_CODES new recovery codes (aj->codes) and their hashes. */
static void new_recovery_codes(struct account_job *aj,
                               uint8_t hashes[RECOVERY_CODES][STORE_RECOVERY_HASH_LEN])
{
    for (int i = 0; i < RECOVERY_CODES; i++) {
        recovery_code_new(aj->codes[i], hashes[i]);
    }
}

/* Writer thread: the steps that change the user's second factor. */
static int mfa_step(struct account_job *aj, struct store_conn *db, int64_t now)
{
    uint8_t hashes[RECOVERY_CODES][STORE_RECOVERY_HASH_LEN];
    struct store_mfa m;
    int64_t step;
    int rc = reread_user(aj, db);

    if (rc == 0 && step_of(aj) == STEP_MFA_BEGIN) {
        totp_secret_new(aj->secret);
        rc = store_mfa_begin(db, aj->user.id, aj->secret);
        aj->why = rc == PIPIT_ECONFLICT ? "two-factor authentication is already on" : NULL;
        return rc;
    }
    if (rc == 0) {
        rc = store_mfa_get(db, aj->user.id, &m);
    }
    if (rc != 0) {
        return rc;
    }
    switch (step_of(aj)) {
    case STEP_MFA_CONFIRM:
        if (m.secret[0] == '\0' || m.enabled_at != 0) {
            aj->why = m.enabled_at != 0 ? "two-factor authentication is already on"
                                        : "no enrolment was begun: POST /v1/me/mfa first";
            rc = PIPIT_ECONFLICT;
            break;
        }
        step = totp_match(m.secret, aj->code, now, m.last_step);
        rc = step != 0 ? store_mfa_use_step(db, aj->user.id, step) : PIPIT_EINVALID_MFA_CODE;
        if (rc == 0) {
            new_recovery_codes(aj, hashes);
            rc = store_mfa_enable(db, aj->user.id, now, hashes, RECOVERY_CODES);
        }
        break;
    case STEP_MFA_DISABLE:
    case STEP_MFA_CODES:
        if (m.enabled_at == 0) {
            aj->why = "two-factor authentication is not on";
            rc = PIPIT_ECONFLICT;
            break;
        }
        if (step_of(aj) == STEP_MFA_DISABLE && aj->user.mfa_required) {
            aj->why = "this app requires two-factor authentication of this account";
            rc = PIPIT_EFORBIDDEN;
            break;
        }
        rc = check_second_factor(aj, db, &m, now);
        if (rc == 0 && step_of(aj) == STEP_MFA_DISABLE) {
            rc = store_mfa_clear(db, aj->user.id);
        } else if (rc == 0) {
            new_recovery_codes(aj, hashes);
            rc = store_mfa_set_codes(db, aj->user.id, hashes, RECOVERY_CODES);
        }
        break;
    default:
        rc = PIPIT_EINTERNAL;
    }
    sodium_memzero(&m, sizeof(m));
    sodium_memzero(hashes, sizeof(hashes));
    return rc;
}

/* What a writer step is in the audit log. */
static const char *step_audit(const struct account_job *aj, enum account_step step)
{
    switch (step) {
    case STEP_INSERT:
        return aj->with_token ? "user.register" : "user.create";
    case STEP_TOKEN:
        return "auth.login";
    case STEP_FAILED:
        return step_audit(aj, aj->goal);
    case STEP_LOGOUT:
        return "auth.logout";
    case STEP_PASSWORD:
        return "user.password_reset";
    case STEP_CHANGE_PASSWORD:
        return "user.password_change";
    case STEP_MFA_BEGIN:
        return "mfa.begin";
    case STEP_MFA_CONFIRM:
        return "mfa.enable";
    case STEP_MFA_DISABLE:
        return "mfa.disable";
    case STEP_MFA_CODES:
        return "mfa.recovery_codes";
    default:
        return NULL;
    }
}

/*
 * Writer: the step's audit record. The actor is the caller (an admin, a key) or,
 * for one's own account, the user once known to be them (signed in, or the
 * step succeeded); else "anonymous", with the user as the target (when the
 * name is no user's, the name tried is the detail).
 */
static int account_audit(struct account_job *aj, struct store_conn *db, int64_t now, int rc)
{
    char target[AUDIT_ACTOR_MAX];
    struct store_audit_record r = { .ts = now, .app_id = aj->app_id, .actor = "anonymous",
                                    .ip = aj->c->ip, .action = step_audit(aj, step_of(aj)) };
    json_t *d = NULL;
    char *text = NULL;

    if (aj->user.id != 0) {
        audit_actor(target, false, aj->user.id);
        r.target = target;
    }
    if (aj->actor[0] != '\0') {
        r.actor = aj->actor;
    } else if (aj->user.id != 0 && (aj->in_session || rc == 0)) {
        r.actor = target; /* their own account: its name is at hand */
        r.actor_name = aj->user.username;
    }
    if (step_of(aj) == STEP_INSERT) {
        d = json_pack("{s:s,s:s}", "username", aj->username, "role", aj->role);
    } else if (step_of(aj) == STEP_FAILED && aj->user.id == 0) {
        d = json_pack("{s:s}", "username", aj->username);
    } else if (aj->used_recovery) {
        d = json_pack("{s:b}", "recovery_code", 1);
    }
    if (d != NULL) {
        r.detail = text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    }
    rc = audit_settle(db, aj->c->w->srv->audit_key, &r, rc, &aj->job.keep);
    free(text);
    json_decref(d);
    return rc;
}

static void account_run(struct job *j, void *ctx)
{
    struct account_job *aj = (struct account_job *)j;
    struct store_conn *db = ctx;
    int64_t now = clock_now_ms();
    bool audited = step_audit(aj, step_of(aj)) != NULL;

    if (audited && (j->rc = audit_begin(db)) != 0) {
        return;
    }
    switch (step_of(aj)) {
    case STEP_HASH:
        j->rc = password_hash(aj->new_password, aj->hash);
        break;
    case STEP_VERIFY:
        j->rc = store_user_by_name(db, aj->app_id, aj->username, &aj->user);
        if (j->rc == 0) {
            if (!password_verify(aj->user.password_hash, aj->password)) {
                j->rc = PIPIT_EINVALID_CREDENTIALS;
            }
        } else if (j->rc == PIPIT_ENOT_FOUND) {
            /* Same work, same answer: no way to tell which part was wrong. */
            password_burn(aj->password);
            j->rc = PIPIT_EINVALID_CREDENTIALS;
        }
        break;
    case STEP_INSERT:
        j->rc = store_user_insert(db, aj->app_id, aj->username, aj->hash, aj->role, now,
                                  &aj->user.id);
        if (j->rc == 0) {
            j->rc = store_user_by_id(db, aj->user.id, &aj->user);
        }
        if (j->rc == 0) {
            j->rc = emit_user_created(aj, db, now);
        }
        if (j->rc == 0 && aj->with_token) {
            j->rc = issue_token(aj, db, now);
        }
        break;
    case STEP_TOKEN:
        j->rc = login_token(aj, db, now);
        break;
    case STEP_FAILED:
        j->rc = aj->failure;
        break;
    case STEP_LOGOUT:
        j->rc = store_token_delete(db, aj->token_id);
        break;
    case STEP_PASSWORD:
        j->rc = reset_password(aj, db);
        break;
    case STEP_CHANGE_PASSWORD:
        j->rc = change_password(aj, db, now);
        break;
    case STEP_MFA_BEGIN:
    case STEP_MFA_CONFIRM:
    case STEP_MFA_DISABLE:
    case STEP_MFA_CODES:
        j->rc = mfa_step(aj, db, now);
        break;
    case STEP_END:
        j->rc = PIPIT_EINTERNAL;
        break;
    }
    if (audited) {
        j->rc = account_audit(aj, db, now, j->rc);
    }
}

static void answer_with_token(struct http_exchange *x, struct account_job *aj, int status)
{
    json_t *o = json_pack("{s:s,s:o}", "token", aj->token, "user",
                          api_user_json(&aj->user, false));

    if (aj->user.mfa_required && aj->user.mfa_enabled_at == 0) {
        /* The token only sets MFA up (api_mfa_enrolment_pending): say so at once. */
        json_object_set_new(o, "mfa_enrollment_required", json_true());
    }
    http_respond_json(x, status, o);
}

static json_t *codes_json(const struct account_job *aj)
{
    json_t *a = json_array();

    for (int i = 0; i < RECOVERY_CODES; i++) {
        json_array_append_new(a, json_string(aj->codes[i]));
    }
    return json_pack("{s:o}", "recovery_codes", a);
}

/* The plan's last step succeeded: what it changed is told, then the answer. */
static void account_finish(struct account_job *aj, struct http_exchange *x)
{
    struct conn *c = aj->c;
    struct server *srv = c->w->srv;
    char uri[TOTP_URI_MAX];

    /* The store has changed: sockets and caches follow, even if this client left. */
    switch (step_of(aj)) {
    case STEP_LOGOUT:
        api_revoke_token(srv, aj->token_id);
        break;
    case STEP_PASSWORD:
        api_revoke_user(srv, aj->user.id, 0, "token revoked");
        break;
    case STEP_CHANGE_PASSWORD:
        api_revoke_user(srv, aj->user.id, aj->token_id, "password changed");
        break;
    case STEP_MFA_CONFIRM:
    case STEP_MFA_DISABLE:
        api_auth_changed(srv); /* sessions waiting to enrol may now do more */
        break;
    default:
        break;
    }
    if (x == NULL) {
        return;
    }
    switch (step_of(aj)) {
    case STEP_INSERT:
        log_info(&c->log, "created user '%s' (id %lld, %s)", aj->user.username,
                 (long long)aj->user.id, aj->user.role);
        if (aj->with_token) {
            answer_with_token(x, aj, 201);
        } else {
            http_respond_json(x, 201, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)aj->user.id,
                                                "username", aj->user.username, "role",
                                                aj->user.role));
        }
        break;
    case STEP_TOKEN:
        log_info(&c->log, "user '%s' logged in%s", aj->user.username,
                 aj->used_recovery ? " with a recovery code" : "");
        answer_with_token(x, aj, 200);
        break;
    case STEP_CHANGE_PASSWORD:
        log_info(&c->log, "user '%s' changed their password; other sessions revoked",
                 aj->user.username);
        answer_with_token(x, aj, 200);
        break;
    case STEP_LOGOUT:
        log_info(&c->log, "user '%s' logged out", aj->user.username);
        http_respond(x, 204, NULL, "Cache-Control: no-store\r\n", NULL, 0);
        break;
    case STEP_PASSWORD:
        log_info(&c->log, "password of '%s' reset by an admin; its sessions revoked",
                 aj->user.username);
        http_respond(x, 204, NULL, "Cache-Control: no-store\r\n", NULL, 0);
        break;
    case STEP_MFA_BEGIN:
        totp_uri(uri, srv->cfg.mfa_issuer, aj->user.username, aj->secret);
        http_respond_json(x, 200, json_pack("{s:s,s:s}", "secret", aj->secret, "otpauth_uri",
                                            uri));
        break;
    case STEP_MFA_CONFIRM:
        log_info(&c->log, "user '%s' turned two-factor authentication on", aj->user.username);
        http_respond_json(x, 200, codes_json(aj));
        break;
    case STEP_MFA_CODES:
        http_respond_json(x, 200, codes_json(aj));
        break;
    case STEP_MFA_DISABLE:
        log_info(&c->log, "user '%s' turned two-factor authentication off", aj->user.username);
        http_respond(x, 204, NULL, "Cache-Control: no-store\r\n", NULL, 0);
        break;
    default:
        http_respond_error(x, PIPIT_EINTERNAL, NULL, NULL);
        break;
    }
}

static void account_done(struct job *j)
{
    struct account_job *aj = (struct account_job *)j;
    struct conn *c = aj->c;
    struct http_exchange *x = c->http != NULL && !c->closing ? &c->http->x : NULL;
    enum account_step step = step_of(aj);

    if (step == STEP_HASH || step == STEP_VERIFY) {
        sodium_memzero(step == STEP_HASH ? aj->new_password : aj->password, PASSWORD_MAX + 1);
    }
    /* Settle the throttle before anything else: closing the socket must not dodge a failure. */
    if (j->rc != 0 || aj->plan[aj->at + 1] == STEP_END) {
        settle_throttle(aj, j->rc);
    }
    if (step == STEP_VERIFY && j->rc == PIPIT_EINVALID_CREDENTIALS) {
        log_info(&c->log, "%s failed for '%s'", aj->in_session ? "password check" : "login",
                 aj->username);
        /* Recorded before the answer, whether or not the client waits for it. */
        aj->failure = aj->in_session ? PIPIT_EWRONG_PASSWORD : j->rc;
        aj->plan[aj->at] = STEP_FAILED;
        aj->plan[aj->at + 1] = STEP_END;
        account_submit(aj);
        return;
    }
    if (j->rc == 0 && aj->plan[aj->at + 1] != STEP_END) {
        aj->at++;
        account_submit(aj);
        return;
    }
    if (j->rc == 0) {
        account_finish(aj, x);
    } else if (x != NULL) {
        if (j->rc == PIPIT_EACCOUNT_DISABLED) {
            log_info(&c->log, "refused: '%s' is disabled", aj->user.username);
        } else if (j->rc == PIPIT_EINVALID_MFA_CODE) {
            log_info(&c->log, "wrong second factor for '%s'", aj->user.username);
        } else if (pipit_errstatus(j->rc) >= 500) {
            log_error(&c->log, "account step %d failed: %s", step, pipit_strerror(j->rc));
        }
        http_respond_error(x, j->rc, aj->why, NULL);
    }
    account_job_free(aj);
}

/* A job to run plan (up to PLAN_MAX - 1 steps, then STEP_END). */
static struct account_job *account_job_new(struct http_exchange *x,
                                           const enum account_step *plan)
{
    struct account_job *aj = xcalloc(1, sizeof(*aj));
    struct server *srv = x->conn->w->srv;

    aj->c = x->conn;
    conn_ref(aj->c);
    aj->job.run = account_run;
    for (int i = 0; i < PLAN_MAX - 1 && plan[i] != STEP_END; i++) {
        aj->plan[i] = aj->goal = plan[i];
    }
    aj->app_id = STORE_DEFAULT_APP;
    aj->token_ttl = srv->cfg.token_ttl;
    return aj;
}

#define PLAN(...) ((const enum account_step[]){ __VA_ARGS__, STEP_END })

/*
 * Opens the throttle attempt for username from this client; answers 429 and
 * returns non-zero when it must wait.
 */
static int throttle_open(struct http_exchange *x, const char *username)
{
    struct server *srv = x->conn->w->srv;
    int64_t wait = throttle_begin(srv->throttle, username, x->conn->ip, clock_mono_ms());
    char hdr[64];

    if (wait <= 0) {
        return 0;
    }
    snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n", (long long)(wait + 999) / 1000);
    log_info(&x->conn->log, "throttled: '%s'", username);
    http_respond_error(x, PIPIT_ERATE_LIMITED, NULL, hdr);
    return PIPIT_ERATE_LIMITED;
}

/* Starts a throttled plan: the attempt is open and settled when the plan ends. */
static void account_start_throttled(struct account_job *aj, struct http_exchange *x)
{
    if (throttle_open(x, aj->username) != 0) {
        account_job_free(aj);
        return;
    }
    aj->throttled = true;
    account_submit(aj);
}

/* Reads and checks {"username","password"}; answers and returns non-zero on error. */
static int read_credentials(struct http_exchange *x, const char **username,
                            const char **password, bool check_rules)
{
    json_t *body = api_request_of(x)->body;
    const char *why = NULL;
    int rc = api_string_field(body, "username", username, &why);

    if (rc == 0) {
        rc = api_string_field(body, "password", password, &why);
    }
    if (rc == 0 && check_rules) {
        rc = password_check_username(*username);
        if (rc == 0) {
            rc = password_check_strength(*password);
            why = rc == PIPIT_EBAD_REQUEST ? "password too long" : NULL;
        }
    } else if (rc == 0 && (strlen(*username) > STORE_USERNAME_MAX ||
                           strlen(*password) > PASSWORD_MAX)) {
        /* Too long to exist: no need to ask the store. */
        rc = PIPIT_EINVALID_CREDENTIALS;
    }
    if (rc != 0) {
        http_respond_error(x, rc, why, NULL);
    }
    return rc;
}

/*
 * Reads optional string fields of the body into their buffers ("" when absent);
 * answers 400 and returns non-zero when one is not a string or too long.
 */
struct optional_field {
    const char *name;
    char *out;
    size_t cap;
};

static int read_optional(struct http_exchange *x, const struct optional_field *f, int n)
{
    json_t *body = api_request_of(x)->body;

    for (int i = 0; i < n; i++) {
        json_t *v = json_object_get(body, f[i].name);

        f[i].out[0] = '\0';
        if (v == NULL || json_is_null(v)) {
            continue;
        }
        if (!json_is_string(v) || json_string_length(v) >= f[i].cap) {
            char why[96];

            snprintf(why, sizeof(why), "\"%s\" must be a string of at most %zu bytes",
                     f[i].name, f[i].cap - 1);
            http_respond_error(x, PIPIT_EBAD_REQUEST, why, NULL);
            return PIPIT_EBAD_REQUEST;
        }
        memcpy(f[i].out, json_string_value(v), json_string_length(v) + 1);
    }
    return 0;
}

/*
 * What a new session is called in session lists: the client's "device" name
 * (read by read_optional), else its User-Agent, as printable ASCII, cut to fit.
 */
static void name_session(struct http_exchange *x, char out[STORE_DEVICE_MAX + 1])
{
    const char *ua = http_request_header(x->req, "user-agent");
    size_t n = 0;

    if (out[0] != '\0' || ua == NULL) {
        return;
    }
    for (; ua[n] != '\0' && n < STORE_DEVICE_MAX; n++) {
        out[n] = ua[n] >= 0x20 && ua[n] < 0x7f ? ua[n] : '?';
    }
    out[n] = '\0';
}

static void create_user(struct http_exchange *x, const char *role, bool with_token)
{
    const char *username, *password;
    struct account_job *aj;

    if (read_credentials(x, &username, &password, true) != 0) {
        return;
    }
    aj = account_job_new(x, PLAN(STEP_HASH, STEP_INSERT));
    aj->with_token = with_token;
    if (!with_token) {
        api_actor(&api_request_of(x)->who, aj->actor);
    } else {
        name_session(x, aj->device);
    }
    snprintf(aj->username, sizeof(aj->username), "%s", username);
    snprintf(aj->new_password, sizeof(aj->new_password), "%s", password);
    snprintf(aj->role, sizeof(aj->role), "%s", role);
    account_submit(aj);
}

void accounts_register(struct http_exchange *x)
{
    if (x->conn->w->srv->cfg.registration != REGISTRATION_OPEN) {
        http_respond_error(x, PIPIT_EREGISTRATION_CLOSED, NULL, NULL);
        return;
    }
    create_user(x, "user", true);
}

void accounts_admin_create_user(struct http_exchange *x)
{
    json_t *role = json_object_get(api_request_of(x)->body, "role");
    const struct api_user *who = &api_request_of(x)->who;
    const char *r = "user";

    if (role != NULL) {
        if (!json_is_string(role) || (strcmp(json_string_value(role), "user") != 0 &&
                                      strcmp(json_string_value(role), "admin") != 0)) {
            http_respond_error(x, PIPIT_EBAD_REQUEST, "role must be \"user\" or \"admin\"", NULL);
            return;
        }
        r = json_string_value(role);
    }
    if (strcmp(r, "admin") == 0 && who->is_key && !(who->scopes & STORE_SCOPE_ADMIN)) {
        /* Or a "users" key could make itself an admin. */
        http_respond_error(x, PIPIT_EFORBIDDEN, "only an admin or an admin-scoped API key "
                           "may create admins", NULL);
        return;
    }
    create_user(x, r, false);
}

/* Reads a new password field with the rules of registration; answers on error. */
static int read_new_password(struct http_exchange *x, const char *key, char *out)
{
    const char *password, *why = NULL;
    int rc = api_string_field(api_request_of(x)->body, key, &password, &why);

    if (rc == 0) {
        rc = password_check_strength(password);
        why = rc == PIPIT_EBAD_REQUEST ? "password too long" : NULL;
    }
    if (rc != 0) {
        http_respond_error(x, rc, why, NULL);
        return rc;
    }
    snprintf(out, PASSWORD_MAX + 1, "%s", password);
    return 0;
}

/* POST /v1/admin/users/{id}/password {"password"}: the same rules as registration. */
void accounts_admin_set_password(struct http_exchange *x)
{
    struct api_request *ar = api_request_of(x);
    int64_t id = route_id(ar->params[0]);
    char password[PASSWORD_MAX + 1];
    struct account_job *aj;

    if (id == 0) {
        http_respond_error(x, PIPIT_ENOT_FOUND, "no such user", NULL);
        return;
    }
    if (read_new_password(x, "password", password) != 0) {
        return;
    }
    aj = account_job_new(x, PLAN(STEP_HASH, STEP_PASSWORD));
    aj->app_id = ar->who.user.app_id;
    aj->limited_key = ar->who.is_key && !(ar->who.scopes & STORE_SCOPE_ADMIN);
    aj->user.id = id;
    api_actor(&ar->who, aj->actor);
    memcpy(aj->new_password, password, sizeof(password));
    sodium_memzero(password, sizeof(password));
    account_submit(aj);
}

void accounts_login(struct http_exchange *x)
{
    const char *username, *password;
    struct account_job *aj;

    if (read_credentials(x, &username, &password, false) != 0) {
        return;
    }
    aj = account_job_new(x, PLAN(STEP_VERIFY, STEP_TOKEN));
    {
        const struct optional_field f[] = {
            { "code", aj->code, sizeof(aj->code) },
            { "recovery_code", aj->recovery, sizeof(aj->recovery) },
            { "device", aj->device, sizeof(aj->device) },
        };

        if (read_optional(x, f, 3) != 0) {
            account_job_free(aj);
            return;
        }
    }
    name_session(x, aj->device);
    snprintf(aj->username, sizeof(aj->username), "%s", username);
    snprintf(aj->password, sizeof(aj->password), "%s", password);
    account_start_throttled(aj, x);
}

void accounts_logout(struct http_exchange *x)
{
    struct api_request *ar = api_request_of(x);
    struct account_job *aj;

    if (ar->who.token_id == 0) {
        /* A bot signs in with its key, not a session: an admin revokes that. */
        http_respond_error(x, PIPIT_ECONFLICT, "a bot has no session to end: its key is "
                           "revoked by an admin (POST /v1/admin/bots/{id}/key)", NULL);
        return;
    }
    aj = account_job_new(x, PLAN(STEP_LOGOUT));
    aj->token_id = ar->who.token_id;
    aj->user = ar->who.user;
    aj->in_session = true;
    account_submit(aj);
}

void accounts_me(struct http_exchange *x)
{
    const struct store_user *u = &api_request_of(x)->who.user;
    json_t *o = api_user_json(u, true);

    json_object_set_new(o, "mfa_enabled", json_boolean(u->mfa_enabled_at != 0));
    json_object_set_new(o, "mfa_required", json_boolean(u->mfa_required));
    http_respond_json(x, 200, o);
}

/* A plan on the caller's own account (a user's session: the router keeps API keys out). */
static struct account_job *own_account_job(struct http_exchange *x,
                                           const enum account_step *plan)
{
    const struct api_user *who = &api_request_of(x)->who;
    struct account_job *aj = account_job_new(x, plan);

    aj->in_session = true;
    aj->user = who->user;
    aj->app_id = who->user.app_id;
    snprintf(aj->username, sizeof(aj->username), "%s", who->user.username);
    return aj;
}

/* The body's "password" (the current one, checked): answers 400 when missing. */
static int read_current_password(struct http_exchange *x, struct account_job *aj)
{
    const char *password, *why = NULL;
    int rc = api_string_field(api_request_of(x)->body, "password", &password, &why);

    if (rc != 0) {
        http_respond_error(x, rc, why, NULL);
        return rc;
    }
    /* Longer than any password: checked anyway, and fails like a wrong one. */
    snprintf(aj->password, sizeof(aj->password), "%s", password);
    return 0;
}

/* POST /v1/me/password {"password","new_password"}: every session ends; the answer is a new one. */
void accounts_change_password(struct http_exchange *x)
{
    struct account_job *aj =
        own_account_job(x, PLAN(STEP_VERIFY, STEP_HASH, STEP_CHANGE_PASSWORD));

    if (read_current_password(x, aj) != 0 ||
        read_new_password(x, "new_password", aj->new_password) != 0) {
        account_job_free(aj);
        return;
    }
    name_session(x, aj->device);
    account_start_throttled(aj, x);
}

/* POST /v1/me/mfa {"password"}: a new secret to enrol (not on until confirmed). */
void accounts_mfa_begin(struct http_exchange *x)
{
    struct account_job *aj = own_account_job(x, PLAN(STEP_VERIFY, STEP_MFA_BEGIN));

    if (read_current_password(x, aj) != 0) {
        account_job_free(aj);
        return;
    }
    account_start_throttled(aj, x);
}

/* A plan on one's own second factor, given a code (or, when allowed, a recovery code). */
static void mfa_plan(struct http_exchange *x, const enum account_step *plan, bool with_password,
                     bool recovery_allowed)
{
    struct account_job *aj = own_account_job(x, plan);
    const struct optional_field f[] = {
        { "code", aj->code, sizeof(aj->code) },
        { "recovery_code", aj->recovery, sizeof(aj->recovery) },
    };

    if (read_optional(x, f, recovery_allowed ? 2 : 1) != 0 ||
        (with_password && read_current_password(x, aj) != 0)) {
        account_job_free(aj);
        return;
    }
    if (aj->code[0] == '\0' && aj->recovery[0] == '\0') {
        http_respond_error(x, PIPIT_EBAD_REQUEST,
                           recovery_allowed ? "give \"code\" (from the authenticator app) "
                                              "or \"recovery_code\""
                                            : "give \"code\" (from the authenticator app)",
                           NULL);
        account_job_free(aj);
        return;
    }
    account_start_throttled(aj, x);
}

/* POST /v1/me/mfa/confirm {"code"}: on from now; the answer has the recovery codes. */
void accounts_mfa_confirm(struct http_exchange *x)
{
    mfa_plan(x, PLAN(STEP_MFA_CONFIRM), false, false);
}

/* POST /v1/me/mfa/disable {"password","code" or "recovery_code"}. */
void accounts_mfa_disable(struct http_exchange *x)
{
    mfa_plan(x, PLAN(STEP_VERIFY, STEP_MFA_DISABLE), true, true);
}

/* POST /v1/me/mfa/recovery-codes {"code"}: a new set; the old codes stop working. */
void accounts_mfa_recovery_codes(struct http_exchange *x)
{
    mfa_plan(x, PLAN(STEP_MFA_CODES), false, false);
}
