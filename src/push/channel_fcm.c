/*
 * channel_fcm.c: Firebase Cloud Messaging, HTTP v1 API.
 *
 * Requests carry an OAuth2 access token, got from the service account's token
 * URI by an RS256-signed assertion (RFC 7523) and kept until shortly before it
 * expires. Attempts that arrive while no token is valid wait (parked) for the
 * one token request in flight, then go out together.
 */
#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/outbound.h"
#include "push/channel.h"
#include "push/jwt.h"
#include "server.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define ASSERTION_LIFETIME_S 3600
#define TOKEN_MARGIN_S 300        /* renewed this long before it expires */
#define PAYLOAD_MAX 4096
#define ANSWER_MAX (64 * 1024)

struct fcm {
    EVP_PKEY *key;
    char *client_email;
    char *key_id;
    char *project;
    char *token_uri;
    bool broken;                  /* the account file is unusable: not retried */
    char *access_token;           /* NULL: none */
    int64_t token_expires;        /* ms */
    CURL *token_request;          /* in flight; NULL: none */
    struct buf token_answer;
    struct buf token_form;
    struct attempt **parked;      /* waiting for a token */
    size_t nparked;
};

static void fcm_cleanup(void *state)
{
    struct fcm *st = state;

    EVP_PKEY_free(st->key);
    free(st->client_email);
    free(st->key_id);
    free(st->project);
    free(st->token_uri);
    free(st->access_token);
    buf_cleanup(&st->token_answer);
    buf_cleanup(&st->token_form);
    free(st->parked);
    free(st);
}

static char *dup_field(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    return v != NULL && v[0] != '\0' ? xstrdup(v) : NULL;
}

/* Reads the service-account JSON; false when it is not usable. */
static bool load_account(struct fcm *st, const struct config *cfg)
{
    json_error_t error;
    json_t *acct = json_load_file(cfg->fcm_service_account, 0, &error);
    const char *pem = json_string_value(json_object_get(acct, "private_key"));
    BIO *bio;

    if (acct == NULL || pem == NULL) {
        log_error(NULL, "push: FCM service account %s: %s", cfg->fcm_service_account,
                  acct == NULL ? error.text : "no private_key");
        json_decref(acct);
        return false;
    }
    bio = BIO_new_mem_buf(pem, -1);
    st->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    st->client_email = dup_field(acct, "client_email");
    st->key_id = dup_field(acct, "private_key_id");
    st->project = dup_field(acct, "project_id");
    st->token_uri = cfg->fcm_token_url[0] != '\0' ? xstrdup(cfg->fcm_token_url)
                                                  : dup_field(acct, "token_uri");
    json_decref(acct);
    if (st->key == NULL || !EVP_PKEY_is_a(st->key, "RSA") || st->client_email == NULL ||
        st->project == NULL || st->token_uri == NULL) {
        log_error(NULL, "push: FCM service account %s lacks an RSA private_key, client_email, "
                  "project_id or token_uri", cfg->fcm_service_account);
        return false;
    }
    return true;
}

static struct fcm *state(struct dispatcher *d)
{
    void **slot = dispatcher_state(d, &channel_fcm);
    struct fcm *st = *slot;

    if (st == NULL) {
        st = xcalloc(1, sizeof(*st));
        buf_init(&st->token_answer, ANSWER_MAX);
        buf_init(&st->token_form, 16 * 1024);
        st->broken = !load_account(st, &dispatcher_server(d)->cfg);
        *slot = st;
    }
    return st;
}

static void fcm_start(struct dispatcher *d)
{
    if (dispatcher_server(d)->cfg.fcm_service_account[0] != '\0') {
        state(d);
    }
}

/* ---- the access token ---- */

static void send_parked(struct fcm *st, enum verdict v, const char *reason);

static void on_token(void *arg, CURL *easy, CURLcode result)
{
    struct dispatcher *d = arg;
    struct fcm *st = state(d);
    json_t *answer = NULL;
    long status = 0;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    st->token_request = NULL;
    if (result == CURLE_OK && status == 200) {
        answer = json_loadb(st->token_answer.data, st->token_answer.len, 0, NULL);
    }
    if (json_is_string(json_object_get(answer, "access_token")) &&
        json_is_integer(json_object_get(answer, "expires_in"))) {
        int64_t life = json_integer_value(json_object_get(answer, "expires_in"));

        free(st->access_token);
        st->access_token = xstrdup(json_string_value(json_object_get(answer, "access_token")));
        /* Renewed a margin before it expires, or halfway through a short life. */
        life = life > 2 * TOKEN_MARGIN_S ? life - TOKEN_MARGIN_S : life / 2;
        st->token_expires = clock_now_ms() + life * 1000;
        json_decref(answer);
        send_parked(st, VERDICT_SENT, NULL);
        return;
    }
    json_decref(answer);
    if (result == CURLE_ABORTED_BY_CALLBACK || result != CURLE_OK || status == 429 ||
        status >= 500) {
        log_warn(NULL, "push: FCM token request failed (%s, HTTP %ld); retrying later",
                 curl_easy_strerror(result), status);
        send_parked(st, VERDICT_RETRY, result == CURLE_OK ? "provider_error" : "network");
    } else {
        log_error(NULL, "push: FCM refuses the service account (HTTP %ld): %.200s", status,
                  st->token_answer.data != NULL ? st->token_answer.data : "");
        send_parked(st, VERDICT_FAIL, "unauthorized");
    }
}

static int request_token(struct dispatcher *d, struct fcm *st)
{
    const struct server *srv = dispatcher_server(d);
    char header[256], claims[1024];
    int64_t now = clock_now_ms() / 1000;
    struct buf jwt;
    CURL *easy;

    snprintf(header, sizeof(header), "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             st->key_id != NULL ? st->key_id : "");
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"scope\":\"" SCOPE "\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
             st->client_email, st->token_uri, (long long)now,
             (long long)(now + ASSERTION_LIFETIME_S));
    buf_init(&jwt, 8192);
    if (jwt_sign(st->key, header, claims, &jwt) != 0) {
        buf_cleanup(&jwt);
        return -1;
    }
    buf_reset(&st->token_form);
    buf_reset(&st->token_answer);
    buf_appendz(&st->token_form,
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=");
    buf_append(&st->token_form, jwt.data, jwt.len); /* base64url needs no escaping */
    buf_cleanup(&jwt);
    easy = curl_easy_init();
    outbound_defaults(srv, easy);
    curl_easy_setopt(easy, CURLOPT_URL, st->token_uri);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, st->token_form.data);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)st->token_form.len);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, outbound_keep_all);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &st->token_answer);
    if (dispatcher_outbound(d) == NULL ||
        outbound_start(dispatcher_outbound(d), easy, on_token, d) != 0) {
        curl_easy_cleanup(easy);
        return -1;
    }
    st->token_request = easy;
    return 0;
}

/* ---- the message ---- */

static void set_string(json_t *obj, const char *key, json_t *v)
{
    if (json_is_string(v)) {
        json_object_set(obj, key, v);
    }
}

/* The HTTP v1 body; data values must all be strings. */
static char *fcm_body(const struct attempt *a)
{
    const struct store_outgoing *o = &a->o;
    json_t *n = json_loads(o->notification, 0, NULL);
    json_t *notification = json_object();
    json_t *data = json_object();
    json_t *android = json_object();
    json_t *message, *root;
    char number[24], ttl[32];
    char *text;

    set_string(notification, "title", json_object_get(n, "title"));
    set_string(notification, "body", json_object_get(n, "body"));
    set_string(notification, "image", json_object_get(n, "image"));
    snprintf(number, sizeof(number), "%lld", (long long)o->push_id);
    json_object_set_new(data, "push", json_string(number));
    snprintf(number, sizeof(number), "%lld", (long long)o->device.id);
    json_object_set_new(data, "device", json_string(number));
    set_string(data, "url", json_object_get(n, "url"));
    set_string(data, "category", json_object_get(n, "category"));
    if (json_object_get(n, "data") != NULL) {
        /* FCM data values are strings: the app's object travels as JSON text. */
        char *inner = json_dumps(json_object_get(n, "data"), JSON_COMPACT);

        json_object_set_new(data, "data", json_string(inner));
        free(inner);
    }
    json_object_set_new(android, "priority",
                        json_string(strcmp(o->priority, "high") == 0 ? "HIGH" : "NORMAL"));
    snprintf(ttl, sizeof(ttl), "%llds", (long long)attempt_ttl_left(a));
    json_object_set_new(android, "ttl", json_string(ttl));
    if (o->collapse_key != NULL) {
        json_object_set_new(android, "collapse_key", json_string(o->collapse_key));
    }
    message = json_pack("{s:s,s:o,s:o,s:o}", "token", o->device.address, "notification",
                        notification, "data", data, "android", android);
    root = json_pack("{s:o}", "message", message);
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    json_decref(n);
    return text;
}

static void set_request(struct attempt *a, struct fcm *st)
{
    const struct config *cfg = &dispatcher_server(a->d)->cfg;
    char url[1024];

    attempt_header(a, "Authorization: Bearer %s", st->access_token);
    attempt_header(a, "Content-Type: application/json");
    snprintf(url, sizeof(url), "%s/v1/projects/%s/messages:send", cfg->fcm_url, st->project);
    attempt_post(a, url, false);
}

/* The token request ended: the attempts that waited for it go, or end. */
static void send_parked(struct fcm *st, enum verdict v, const char *reason)
{
    struct attempt **parked = st->parked;
    size_t n = st->nparked;

    st->parked = NULL;
    st->nparked = 0;
    for (size_t i = 0; i < n; i++) {
        if (v == VERDICT_SENT) {
            set_request(parked[i], st);
            attempt_launch(parked[i]);
        } else {
            attempt_settle(parked[i], v, reason);
        }
    }
    free(parked);
}

static const char *fcm_prepare(struct attempt *a)
{
    const struct config *cfg = &dispatcher_server(a->d)->cfg;
    struct fcm *st;
    char *body;

    if (cfg->fcm_service_account[0] == '\0') {
        return "not_configured";
    }
    st = state(a->d);
    if (st->broken) {
        return "not_configured";
    }
    body = fcm_body(a);
    /* FCM counts the message, not our wrapping: a little room for it. */
    if (body == NULL || buf_appendz(&a->body, body) != 0 || a->body.len > PAYLOAD_MAX + 512) {
        free(body);
        return "payload_too_large";
    }
    free(body);
    if (st->access_token != NULL && clock_now_ms() < st->token_expires) {
        set_request(a, st);
        return NULL;
    }
    if (st->token_request == NULL && request_token(a->d, st) != 0) {
        return "not_configured"; /* the key cannot sign (attempts never begin once stopping) */
    }
    st->parked = xrealloc(st->parked, (st->nparked + 1) * sizeof(*st->parked));
    st->parked[st->nparked++] = a;
    return channel_parked;
}

/* Google's error code: details[].errorCode, else the status name. */
static bool error_is(struct attempt *a, const char *want)
{
    json_t *r = json_loadb(a->response.data != NULL ? a->response.data : "", a->response.len, 0,
                           NULL);
    json_t *err = json_object_get(r, "error");
    json_t *detail;
    size_t i;
    bool found = false;

    json_array_foreach(json_object_get(err, "details"), i, detail) {
        const char *code = json_string_value(json_object_get(detail, "errorCode"));

        found |= code != NULL && strcmp(code, want) == 0;
    }
    if (!found) {
        const char *status = json_string_value(json_object_get(err, "status"));
        const char *message = json_string_value(json_object_get(err, "message"));

        found = (status != NULL && strcmp(status, want) == 0) ||
                (strcmp(want, "BAD_TOKEN") == 0 && message != NULL &&
                 strstr(message, "not a valid FCM registration token") != NULL);
    }
    json_decref(r);
    return found;
}

static enum verdict fcm_judge(struct attempt *a, long status, const char **reason)
{
    struct fcm *st = state(a->d);

    if (status == 200) {
        return VERDICT_SENT;
    }
    /* A bare 404 is a wrong project or URL, not a gone token: only the code says so. */
    if (error_is(a, "UNREGISTERED") || error_is(a, "SENDER_ID_MISMATCH") ||
        error_is(a, "BAD_TOKEN")) {
        *reason = "gone";
        return VERDICT_GONE;
    }
    if (status == 401 && error_is(a, "THIRD_PARTY_AUTH_ERROR")) {
        /* Firebase's own credentials for APNs or Web Push are bad: a configuration problem. */
        *reason = "unauthorized";
        return VERDICT_FAIL;
    }
    if (status == 401) {
        /* The token was revoked or expired early: the next attempt gets a new one. */
        free(st->access_token);
        st->access_token = NULL;
        *reason = "token_expired";
        return VERDICT_RETRY;
    }
    *reason = status == 403 ? "unauthorized" : "rejected";
    log_warn(NULL, "push: FCM refused delivery %lld (%ld): %.200s", (long long)a->o.id, status,
             a->response.data != NULL ? a->response.data : "");
    return VERDICT_FAIL;
}

const struct channel channel_fcm = {
    .name = "fcm",
    .prepare = fcm_prepare,
    .judge = fcm_judge,
    .start = fcm_start,
    .cleanup = fcm_cleanup,
};
