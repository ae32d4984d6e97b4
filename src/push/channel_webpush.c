/*
 * channel_webpush.c: Web Push (RFC 8030 delivery, RFC 8291 encryption, RFC 8292
 * VAPID) and UnifiedPush, which is the same request to a distributor's
 * endpoint: encrypted when the device gave keys, the payload as is otherwise.
 *
 * Endpoints come from clients: the dispatcher checks the address each one
 * resolves to when it connects (attempt_post(..., untrusted)).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "push/channel.h"
#include "push/vapid.h"
#include "push/webpush.h"
#include "server.h"
#include "util/b64.h"
#include "util/mem.h"

#define VAPID_LIFETIME_S (12 * 3600)  /* push services refuse more than 24 h */
#define VAPID_RENEW_S 3600            /* a token with less left is signed again */
#define VAPID_CACHE_MAX 64            /* push services: a handful of origins in practice */
#define TOPIC_MAX 32

/*
 * One VAPID token per push-service origin, reused for hours: signing costs
 * ~30 µs, and the push service can cache its check of a token it has seen.
 */
struct vapid_cached {
    char origin[300];
    struct buf header;          /* "vapid t=…, k=…" */
    int64_t exp;                /* s */
};

struct webpush_state {
    struct vapid_cached tokens[VAPID_CACHE_MAX];
    size_t next;                /* the slot a new origin takes (round robin) */
};

static void webpush_cleanup(void *state)
{
    struct webpush_state *st = state;

    for (size_t i = 0; i < VAPID_CACHE_MAX; i++) {
        buf_cleanup(&st->tokens[i].header);
    }
    free(st);
}

/* The Authorization header for an endpoint: cached per origin, or signed now. */
static const char *vapid_header(struct attempt *a)
{
    const struct server *srv = dispatcher_server(a->d);
    void **slot = dispatcher_state(a->d, &channel_webpush);
    struct webpush_state *st = *slot;
    struct vapid_cached *t;
    char origin[300];
    int64_t now = a->now / 1000;

    if (vapid_origin(a->o.device.address, origin, sizeof(origin)) != 0) {
        return NULL;
    }
    if (st == NULL) {
        st = *slot = xcalloc(1, sizeof(*st));
    }
    for (size_t i = 0; i < VAPID_CACHE_MAX; i++) {
        t = &st->tokens[i];
        if (strcmp(t->origin, origin) == 0 && t->exp - now > VAPID_RENEW_S) {
            return t->header.data;
        }
    }
    t = &st->tokens[st->next];
    st->next = (st->next + 1) % VAPID_CACHE_MAX;
    buf_cleanup(&t->header);
    buf_init(&t->header, 4096);
    t->origin[0] = '\0';
    if (vapid_authorization(srv->vapid, a->o.device.address, now + VAPID_LIFETIME_S,
                            srv->cfg.vapid_subject, &t->header) != 0) {
        return NULL;
    }
    snprintf(t->origin, sizeof(t->origin), "%s", origin);
    t->exp = now + VAPID_LIFETIME_S;
    return t->header.data;
}

/* RFC 8030 §5.4: a Topic is at most 32 characters of the base64url alphabet. */
static bool topic_ok(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    return n > 0 && n <= TOPIC_MAX && s[n] == '\0';
}

/*
 * The collapse key as a Topic: itself when it fits, else its hash (32
 * characters). Without one, the delivery's own id: a resend after a crash then
 * replaces the first copy if the push service still holds it.
 */
static void topic_header(struct attempt *a)
{
    const char *key = a->o.collapse_key;
    uint8_t digest[32];
    char text[B64_ENCODED_SIZE(24)];

    if (key == NULL) {
        attempt_header(a, "Topic: d%lld", (long long)a->o.id);
        return;
    }
    if (topic_ok(key)) {
        attempt_header(a, "Topic: %s", key);
        return;
    }
    EVP_Digest(key, strlen(key), digest, NULL, EVP_sha256(), NULL);
    b64url_encode(text, digest, 24);
    attempt_header(a, "Topic: %s", text);
}

static void delivery_headers(struct attempt *a)
{
    attempt_header(a, "TTL: %lld", (long long)attempt_ttl_left(a));
    attempt_header(a, "Urgency: %s", strcmp(a->o.priority, "high") == 0 ? "high" : "normal");
    topic_header(a);
}

/* The payload, encrypted for the subscription into a->body. */
static const char *encrypt_payload(struct attempt *a)
{
    uint8_t out[4096];
    struct buf plain;
    long n;

    buf_init(&plain, 64 * 1024);
    if (push_payload(&a->o, &plain) != 0 || plain.len > WEBPUSH_PLAINTEXT_MAX) {
        buf_cleanup(&plain);
        return "payload_too_large";
    }
    n = webpush_encrypt(a->o.device.p256dh, a->o.device.auth, (const uint8_t *)plain.data,
                        plain.len, out);
    buf_cleanup(&plain);
    if (n < 0) {
        return "bad_keys";
    }
    buf_append(&a->body, out, (size_t)n);
    attempt_header(a, "Content-Type: application/octet-stream");
    attempt_header(a, "Content-Encoding: aes128gcm");
    return NULL;
}

static const char *webpush_prepare(struct attempt *a)
{
    const char *why, *auth;

    if (!a->o.device.has_keys) {
        return "bad_keys";
    }
    why = encrypt_payload(a);
    if (why != NULL) {
        return why;
    }
    auth = vapid_header(a);
    if (auth == NULL) {
        return "bad_endpoint";
    }
    delivery_headers(a);
    attempt_header(a, "Authorization: %s", auth);
    attempt_post(a, a->o.device.address, true);
    return NULL;
}

static enum verdict webpush_judge(struct attempt *a, long status, const char **reason)
{
    if (status >= 200 && status < 300) {
        return VERDICT_SENT;
    }
    switch (status) {
    case 404:
    case 410:
        *reason = "gone";
        return VERDICT_GONE;
    case 401:
    case 403:
        *reason = "unauthorized"; /* our VAPID key or token: a configuration problem */
        return VERDICT_FAIL;
    case 413:
        *reason = "payload_too_large";
        return VERDICT_FAIL;
    default:
        *reason = "rejected";
        return VERDICT_FAIL;
    }
}

const struct channel channel_webpush = {
    .name = "webpush",
    .prepare = webpush_prepare,
    .judge = webpush_judge,
    .cleanup = webpush_cleanup,
};

static const char *unifiedpush_prepare(struct attempt *a)
{
    if (a->o.device.has_keys) {
        const char *why = encrypt_payload(a);

        if (why != NULL) {
            return why;
        }
    } else {
        if (push_payload(&a->o, &a->body) != 0 || a->body.len > 4096) {
            return "payload_too_large";
        }
        attempt_header(a, "Content-Type: application/octet-stream"); /* the bytes are the app's */
    }
    delivery_headers(a);
    attempt_post(a, a->o.device.address, true);
    return NULL;
}

const struct channel channel_unifiedpush = {
    .name = "unifiedpush",
    .prepare = unifiedpush_prepare,
    .judge = webpush_judge,
};
