/*
 * accounts.c: register, login, logout, me, and admin user creation and password reset.
 *
 * Each handler validates on the loop, then hops to store threads:
 *   register / admin create:  hash (reader pool) → insert user [+ token] (writer)
 *   login:                    throttle check → find + verify (reader pool) →
 *                             insert token unless disabled (writer)
 *   logout:                   delete token (writer) → close its WebSockets
 *   admin password reset:     hash (reader pool) → set it, delete every token
 *                             (writer) → close the user's WebSockets
 * A job keeps a reference on the connection, so its answer goes to a live
 * exchange or nowhere.
 *
 * Each writer step is audited in its own transaction (audit/audit.h), failures
 * too; a failed login's record is one more writer step before the answer.
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
#include "server.h"
#include "store/jobs.h"
#include "store/store_push.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

enum account_step {
    STEP_HASH, STEP_INSERT, STEP_VERIFY, STEP_TOKEN, STEP_LOGIN_FAILED, STEP_LOGOUT, STEP_PASSWORD
};

struct account_job {
    struct job job;
    struct conn *c;
    enum account_step step;
    enum account_step after_hash; /* STEP_INSERT, or STEP_PASSWORD for a reset */
    bool with_token;            /* register and login hand out a token */
    bool limited_key;           /* asked by an API key without the admin scope */
    char actor[AUDIT_ACTOR_MAX]; /* who asks, for the audit log; "" for the user acted on */
    int failure;                /* STEP_LOGIN_FAILED: the error to answer */
    const char *why;            /* the message of a failure; NULL: the default */
    int64_t app_id;
    int64_t token_ttl;
    char username[STORE_USERNAME_MAX + 1];
    char password[PASSWORD_MAX + 1];
    char role[8];
    char hash[STORE_HASH_MAX];
    struct store_user user;
    char token[TOKEN_TEXT_LEN + 1];
    struct token_parts parts;
    int64_t token_id;
};

static void account_job_free(struct account_job *aj)
{
    sodium_memzero(aj->password, sizeof(aj->password));
    sodium_memzero(aj->token, sizeof(aj->token));
    conn_unref(aj->c);
    free(aj);
}

static void account_done(struct job *j);

/* Sends the job to the thread its step needs; answers 503 when queues are full. */
static void account_submit(struct account_job *aj, enum account_step step)
{
    struct server *srv = aj->c->w->srv;
    int rc;

    aj->step = step;
    aj->job.origin = aj->c->w;
    aj->job.done = account_done;
    if (step == STEP_HASH || step == STEP_VERIFY) {
        rc = jobs_read(srv->jobs, &aj->job);
    } else {
        rc = jobs_write(srv->jobs, &aj->job);
    }
    if (rc != 0) {
        if (step == STEP_VERIFY) {
            throttle_release(srv->throttle, aj->username, aj->c->ip);
        }
        http_respond_error(&aj->c->http->x, rc, NULL, "Retry-After: 1\r\n");
        account_job_free(aj);
    }
}

/* Writer thread: a new session token for aj->user. */
static int issue_token(struct account_job *aj, struct store_conn *db, int64_t now)
{
    token_new(aj->token, &aj->parts);
    return store_token_insert(db, aj->app_id, aj->user.id, aj->parts.selector,
                              aj->parts.verifier_hash, now, now + aj->token_ttl, &aj->token_id);
}

/*
 * Writer thread: a login's token, unless the account is disabled. Read again here,
 * on the writer: a disable that commits first is seen, and one that commits later
 * deletes this token with the others.
 */
static int login_token(struct account_job *aj, struct store_conn *db, int64_t now)
{
    int rc = store_user_by_id(db, aj->user.id, &aj->user);

    if (rc == 0 && aj->user.disabled_at != 0) {
        rc = PIPIT_EACCOUNT_DISABLED;
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
    if (rc == 0) {
        rc = store_user_set_password(db, aj->app_id, aj->user.username, aj->hash);
    }
    return rc != 0 ? rc : store_token_delete_all_for_user(db, aj->user.id);
}

/* What each writer step is in the audit log. */
static const char *audit_action(const struct account_job *aj)
{
    switch (aj->step) {
    case STEP_INSERT:
        return aj->with_token ? "user.register" : "user.create";
    case STEP_TOKEN:
    case STEP_LOGIN_FAILED:
        return "auth.login";
    case STEP_LOGOUT:
        return "auth.logout";
    case STEP_PASSWORD:
        return "user.password_reset";
    default:
        return NULL;
    }
}

/*
 * Writer: the step's audit record. The actor is the caller (an admin, a key) or,
 * for one's own account, the user; a failed login's is "anonymous" (the user is
 * its target; when the name is no user's, the name tried is the detail).
 */
static int account_audit(struct account_job *aj, struct store_conn *db, int64_t now, int rc)
{
    char target[AUDIT_ACTOR_MAX];
    struct store_audit_record r = { .ts = now, .app_id = aj->app_id, .actor = "anonymous",
                                    .ip = aj->c->ip, .action = audit_action(aj) };
    json_t *d = NULL;
    char *text = NULL;

    if (aj->user.id != 0) {
        audit_actor(target, false, aj->user.id);
        r.target = target;
    }
    if (aj->actor[0] != '\0') {
        r.actor = aj->actor;
    } else if (aj->user.id != 0 && aj->step != STEP_LOGIN_FAILED) {
        r.actor = target; /* their own account: its name is at hand */
        r.actor_name = aj->user.username;
    }
    if (aj->step == STEP_INSERT) {
        d = json_pack("{s:s,s:s}", "username", aj->username, "role", aj->role);
    } else if (aj->step == STEP_LOGIN_FAILED && aj->user.id == 0) {
        d = json_pack("{s:s}", "username", aj->username);
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

    if (audit_action(aj) != NULL && (j->rc = audit_begin(db)) != 0) {
        return;
    }
    switch (aj->step) {
    case STEP_HASH:
        j->rc = password_hash(aj->password, aj->hash);
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
        if (j->rc == 0 && aj->with_token) {
            j->rc = issue_token(aj, db, now);
        }
        break;
    case STEP_TOKEN:
        j->rc = login_token(aj, db, now);
        break;
    case STEP_LOGIN_FAILED:
        j->rc = aj->failure;
        break;
    case STEP_LOGOUT:
        j->rc = store_token_delete(db, aj->token_id);
        break;
    case STEP_PASSWORD:
        j->rc = reset_password(aj, db);
        break;
    }
    if (audit_action(aj) != NULL) {
        j->rc = account_audit(aj, db, now, j->rc);
    }
}

static void answer_with_token(struct http_exchange *x, struct account_job *aj, int status)
{
    http_respond_json(x, status, json_pack("{s:s,s:o}", "token", aj->token, "user",
                                           api_user_json(&aj->user, false)));
}

static void account_done(struct job *j)
{
    struct account_job *aj = (struct account_job *)j;
    struct conn *c = aj->c;
    struct server *srv = c->w->srv;
    struct http_exchange *x = c->http != NULL ? &c->http->x : NULL;

    /* Settle the throttle first: closing the socket must not dodge a failure. */
    if (aj->step == STEP_VERIFY) {
        if (j->rc == 0) {
            throttle_success(srv->throttle, aj->username, c->ip, clock_mono_ms());
        } else if (j->rc == PIPIT_EINVALID_CREDENTIALS) {
            throttle_fail(srv->throttle, aj->username, c->ip, clock_mono_ms());
            log_info(&c->log, "login failed for '%s'", aj->username);
            /* Recorded before the answer, whether or not the client waits for it. */
            aj->failure = j->rc;
            sodium_memzero(aj->password, sizeof(aj->password));
            account_submit(aj, STEP_LOGIN_FAILED);
            return;
        } else {
            throttle_release(srv->throttle, aj->username, c->ip);
        }
    }
    if (aj->step == STEP_LOGOUT && j->rc == 0) {
        /* The token is gone from the store: its sockets go too, even if this client left. */
        api_revoke_token(srv, aj->token_id);
    }
    if (aj->step == STEP_PASSWORD && j->rc == 0) {
        api_revoke_user(srv, aj->user.id, "token revoked");
    }
    if (c->closing || x == NULL) {
        account_job_free(aj);
        return;
    }
    if (j->rc != 0) {
        if (j->rc == PIPIT_EACCOUNT_DISABLED) {
            log_info(&c->log, "login refused: '%s' is disabled", aj->user.username);
        } else if (pipit_errstatus(j->rc) >= 500) {
            log_error(&c->log, "account step %d failed: %s", aj->step, pipit_strerror(j->rc));
        }
        http_respond_error(x, j->rc, aj->why, NULL);
        account_job_free(aj);
        return;
    }
    switch (aj->step) {
    case STEP_HASH:
        sodium_memzero(aj->password, sizeof(aj->password));
        account_submit(aj, aj->after_hash);
        return;
    case STEP_VERIFY:
        sodium_memzero(aj->password, sizeof(aj->password));
        account_submit(aj, STEP_TOKEN);
        return;
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
        log_info(&c->log, "user '%s' logged in", aj->user.username);
        answer_with_token(x, aj, 200);
        break;
    case STEP_LOGIN_FAILED: /* always ends in the failure above */
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
    }
    account_job_free(aj);
}

static struct account_job *account_job_new(struct http_exchange *x)
{
    struct account_job *aj = xcalloc(1, sizeof(*aj));
    struct server *srv = x->conn->w->srv;

    aj->c = x->conn;
    conn_ref(aj->c);
    aj->job.run = account_run;
    aj->after_hash = STEP_INSERT;
    aj->app_id = STORE_DEFAULT_APP;
    aj->token_ttl = srv->cfg.token_ttl;
    return aj;
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

static void create_user(struct http_exchange *x, const char *role, bool with_token)
{
    const char *username, *password;
    struct account_job *aj;

    if (read_credentials(x, &username, &password, true) != 0) {
        return;
    }
    aj = account_job_new(x);
    aj->with_token = with_token;
    if (!with_token) {
        api_actor(&api_request_of(x)->who, aj->actor);
    }
    snprintf(aj->username, sizeof(aj->username), "%s", username);
    snprintf(aj->password, sizeof(aj->password), "%s", password);
    snprintf(aj->role, sizeof(aj->role), "%s", role);
    account_submit(aj, STEP_HASH);
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

/* POST /v1/admin/users/{id}/password {"password"}: the same rules as registration. */
void accounts_admin_set_password(struct http_exchange *x)
{
    struct api_request *ar = api_request_of(x);
    int64_t id = route_id(ar->params[0]);
    const char *password, *why = "no such user";
    struct account_job *aj;
    int rc = id != 0 ? api_string_field(ar->body, "password", &password, &why)
                     : PIPIT_ENOT_FOUND;

    if (rc == 0) {
        rc = password_check_strength(password);
        why = rc == PIPIT_EBAD_REQUEST ? "password too long" : NULL;
    }
    if (rc != 0) {
        http_respond_error(x, rc, why, NULL);
        return;
    }
    aj = account_job_new(x);
    aj->app_id = ar->who.user.app_id;
    aj->limited_key = ar->who.is_key && !(ar->who.scopes & STORE_SCOPE_ADMIN);
    aj->user.id = id;
    api_actor(&ar->who, aj->actor);
    aj->after_hash = STEP_PASSWORD;
    snprintf(aj->password, sizeof(aj->password), "%s", password);
    account_submit(aj, STEP_HASH);
}

void accounts_login(struct http_exchange *x)
{
    struct server *srv = x->conn->w->srv;
    const char *username, *password;
    struct account_job *aj;
    int64_t wait;

    if (read_credentials(x, &username, &password, false) != 0) {
        return;
    }
    wait = throttle_begin(srv->throttle, username, x->conn->ip, clock_mono_ms());
    if (wait > 0) {
        char hdr[64];

        snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n", (long long)(wait + 999) / 1000);
        log_info(&x->conn->log, "login throttled for '%s'", username);
        http_respond_error(x, PIPIT_ERATE_LIMITED, NULL, hdr);
        return;
    }
    aj = account_job_new(x);
    aj->with_token = true;
    snprintf(aj->username, sizeof(aj->username), "%s", username);
    snprintf(aj->password, sizeof(aj->password), "%s", password);
    account_submit(aj, STEP_VERIFY);
}

void accounts_logout(struct http_exchange *x)
{
    struct account_job *aj = account_job_new(x);
    struct api_request *ar = api_request_of(x);

    aj->token_id = ar->who.token_id;
    aj->user = ar->who.user;
    account_submit(aj, STEP_LOGOUT);
}

void accounts_me(struct http_exchange *x)
{
    http_respond_json(x, 200, api_user_json(&api_request_of(x)->who.user, true));
}
