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
#include <string.h>

#include "push/channel.h"
#include "push/vapid.h"
#include "push/webpush.h"
#include "server.h"
#include "util/b64.h"

#define VAPID_LIFETIME_S (12 * 3600)  /* push services refuse more than 24 h */
#define TOPIC_MAX 32

/* RFC 8030 §5.4: a Topic is at most 32 characters of the base64url alphabet. */
static bool topic_ok(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    return n > 0 && n <= TOPIC_MAX && s[n] == '\0';
}

/* The collapse key as a Topic: itself when it fits, else its hash (32 characters). */
static void topic_header(struct attempt *a)
{
    const char *key = a->o.collapse_key;
    uint8_t digest[32];
    char text[B64_ENCODED_SIZE(24)];

    if (key == NULL) {
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
    push_payload(&a->o, &plain);
    if (plain.len > WEBPUSH_PLAINTEXT_MAX) {
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
    const struct server *srv = dispatcher_server(a->d);
    struct buf auth;
    const char *why;

    if (!a->o.device.has_keys) {
        return "bad_keys";
    }
    why = encrypt_payload(a);
    if (why != NULL) {
        return why;
    }
    delivery_headers(a);
    buf_init(&auth, 4096);
    if (vapid_authorization(srv->vapid, a->o.device.address, a->now / 1000 + VAPID_LIFETIME_S,
                            srv->cfg.vapid_subject, &auth) != 0) {
        buf_cleanup(&auth);
        return "bad_endpoint";
    }
    attempt_header(a, "Authorization: %s", auth.data);
    buf_cleanup(&auth);
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
};

static const char *unifiedpush_prepare(struct attempt *a)
{
    if (a->o.device.has_keys) {
        const char *why = encrypt_payload(a);

        if (why != NULL) {
            return why;
        }
    } else {
        push_payload(&a->o, &a->body);
        if (a->body.len > 4096) {
            return "payload_too_large";
        }
        attempt_header(a, "Content-Type: application/json");
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
