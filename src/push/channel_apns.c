/*
 * channel_apns.c: Apple Push Notification service, HTTP/2 with token auth.
 *
 * The provider token is an ES256 JWT signed with the team's .p8 key. Apple
 * refuses tokens older than an hour and answers 429 to tokens renewed more
 * often than every 20 minutes, so one token is kept and renewed after 50; a
 * 403 ExpiredProviderToken renews it early, at most once per 20 minutes. All
 * requests share one HTTP/2 connection (the dispatcher's pool).
 */
#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "push/channel.h"
#include "push/jwt.h"
#include "server.h"
#include "util/log.h"
#include "util/mem.h"

#define TOKEN_RENEW_S (50 * 60)
#define TOKEN_MIN_AGE_S (20 * 60)
#define PAYLOAD_MAX 4096

struct apns {
    EVP_PKEY *key;
    struct buf token;       /* the current JWT */
    int64_t token_iat;      /* s; 0: none */
    bool broken;            /* the key could not be loaded: not retried */
};

static void apns_cleanup(void *state)
{
    struct apns *st = state;

    EVP_PKEY_free(st->key);
    buf_cleanup(&st->token);
    free(st);
}

static EVP_PKEY *load_key(const char *path)
{
    EVP_PKEY *key = jwt_key_load(path);

    if (key != NULL && !EVP_PKEY_is_a(key, "EC")) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

static struct apns *state(struct dispatcher *d)
{
    void **slot = dispatcher_state(d, &channel_apns);
    const struct config *cfg = &dispatcher_server(d)->cfg;
    struct apns *st = *slot;

    if (st == NULL) {
        st = xcalloc(1, sizeof(*st));
        buf_init(&st->token, 4096);
        st->key = load_key(cfg->apns_key_file);
        if (st->key == NULL) {
            log_error(NULL, "push: cannot load the APNs key %s (a P-256 .p8 file)",
                      cfg->apns_key_file);
            st->broken = true;
        }
        *slot = st;
    }
    return st;
}

static void apns_start(struct dispatcher *d)
{
    if (dispatcher_server(d)->cfg.apns_key_file[0] != '\0') {
        state(d);
    }
}

static int renew_token(struct apns *st, const struct config *cfg, int64_t now_s)
{
    char header[128], claims[128];

    snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", cfg->apns_key_id);
    snprintf(claims, sizeof(claims), "{\"iss\":\"%s\",\"iat\":%lld}", cfg->apns_team_id,
             (long long)now_s);
    buf_reset(&st->token);
    if (jwt_sign(st->key, header, claims, &st->token) != 0) {
        st->token_iat = 0;
        return -1;
    }
    st->token_iat = now_s;
    return 0;
}

/* {"aps":{"alert":{…},…},"pipit":{push, device, url, image, data}} */
static char *apns_payload(const struct store_outgoing *o)
{
    json_t *n = json_loads(o->notification, 0, NULL);
    json_t *alert = json_object();
    json_t *aps = json_pack("{s:o,s:s}", "alert", alert, "sound", "default");
    json_t *own = json_pack("{s:I,s:I}", "push", (json_int_t)o->push_id, "device",
                            (json_int_t)o->device.id);
    static const char *const own_keys[] = { "url", "image", "data" };
    json_t *root;
    char *text;

    json_object_set(alert, "title", json_object_get(n, "title"));
    if (json_object_get(n, "body") != NULL) {
        json_object_set(alert, "body", json_object_get(n, "body"));
    }
    if (json_object_get(n, "category") != NULL) {
        json_object_set(aps, "category", json_object_get(n, "category"));
    }
    if (json_object_get(n, "image") != NULL) {
        /* Lets the app's notification service extension fetch the image. */
        json_object_set_new(aps, "mutable-content", json_integer(1));
    }
    for (size_t i = 0; i < sizeof(own_keys) / sizeof(own_keys[0]); i++) {
        if (json_object_get(n, own_keys[i]) != NULL) {
            json_object_set(own, own_keys[i], json_object_get(n, own_keys[i]));
        }
    }
    root = json_pack("{s:o,s:o}", "aps", aps, "pipit", own);
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    json_decref(n);
    return text;
}

static const char *apns_prepare(struct attempt *a)
{
    const struct config *cfg = &dispatcher_server(a->d)->cfg;
    struct apns *st;
    char url[4352];
    char *payload;

    if (cfg->apns_key_file[0] == '\0') {
        return "not_configured";
    }
    if (a->o.device.topic[0] == '\0') {
        return "no_topic";
    }
    st = state(a->d);
    if (st->broken) {
        return "not_configured";
    }
    if (st->token_iat == 0 || a->now / 1000 - st->token_iat >= TOKEN_RENEW_S) {
        if (renew_token(st, cfg, a->now / 1000) != 0) {
            return "not_configured";
        }
    }
    payload = apns_payload(&a->o);
    if (payload == NULL || buf_appendz(&a->body, payload) != 0 || a->body.len > PAYLOAD_MAX) {
        free(payload);
        return "payload_too_large";
    }
    free(payload);
    snprintf(a->apns_id, sizeof(a->apns_id), "00000000-0000-4000-8000-%012llx",
             (unsigned long long)a->o.id);
    attempt_header(a, "authorization: bearer %s", st->token.data);
    attempt_header(a, "apns-topic: %s", a->o.device.topic);
    attempt_header(a, "apns-push-type: alert");
    attempt_header(a, "apns-priority: %s", strcmp(a->o.priority, "high") == 0 ? "10" : "5");
    /* 0: deliver now or never (a push with no time left). */
    attempt_header(a, "apns-expiration: %lld",
                   attempt_ttl_left(a) > 0 ? (long long)(a->o.expires_at / 1000) : 0LL);
    attempt_header(a, "apns-id: %s", a->apns_id);
    /* Without a collapse key, the delivery's id: a resend after a crash replaces the first copy. */
    if (a->o.collapse_key != NULL) {
        attempt_header(a, "apns-collapse-id: %s", a->o.collapse_key);
    } else {
        attempt_header(a, "apns-collapse-id: d%lld", (long long)a->o.id);
    }
    attempt_header(a, "content-type: application/json");
    snprintf(url, sizeof(url), "%s/3/device/%s",
             a->o.device.sandbox ? cfg->apns_sandbox_url : cfg->apns_url, a->o.device.address);
    attempt_post(a, url, false);
    return NULL;
}

/* Apple's reason string, from the JSON answer. */
static bool reason_is(struct attempt *a, const char *want)
{
    json_t *r = json_loadb(a->response.data != NULL ? a->response.data : "", a->response.len, 0,
                           NULL);
    const char *got = json_string_value(json_object_get(r, "reason"));
    bool same = got != NULL && strcmp(got, want) == 0;

    json_decref(r);
    return same;
}

static enum verdict apns_judge(struct attempt *a, long status, const char **reason)
{
    struct apns *st = state(a->d);

    if (status == 200) {
        return VERDICT_SENT;
    }
    if (status == 410 || (status == 400 && (reason_is(a, "BadDeviceToken") ||
                                            reason_is(a, "DeviceTokenNotForTopic")))) {
        *reason = "gone";
        return VERDICT_GONE;
    }
    if (status == 403 && reason_is(a, "ExpiredProviderToken")) {
        /* Renewed early once, never faster than Apple allows. */
        if (a->now / 1000 - st->token_iat >= TOKEN_MIN_AGE_S) {
            st->token_iat = 0;
        }
        *reason = "token_expired";
        return VERDICT_RETRY;
    }
    if (status == 403) {
        log_error(NULL, "push: APNs refuses our credentials: %.200s",
                  a->response.data != NULL ? a->response.data : "");
        *reason = "unauthorized";
        return VERDICT_FAIL;
    }
    if (status == 400 && reason_is(a, "IdleTimeout")) {
        *reason = "provider_error";
        return VERDICT_RETRY;
    }
    *reason = status == 413 ? "payload_too_large" : "rejected";
    log_warn(NULL, "push: APNs refused delivery %lld (%ld): %.200s", (long long)a->o.id, status,
             a->response.data != NULL ? a->response.data : "");
    return VERDICT_FAIL;
}

const struct channel channel_apns = {
    .name = "apns",
    .prepare = apns_prepare,
    .judge = apns_judge,
    .start = apns_start,
    .cleanup = apns_cleanup,
};
