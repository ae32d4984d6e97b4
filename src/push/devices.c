/*
 * devices.c: the routes by which users register where their pushes go.
 *
 * A device is identified by its platform and address (APNs/FCM token, or Web
 * Push/UnifiedPush endpoint) within the app: registering it again updates the
 * row and moves it to the caller, so a phone that changes hands stops getting
 * the previous user's pushes. The routes run as store actions
 * (chat/chat_internal.h's call path).
 */
#include <ctype.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "push/endpoint.h"
#include "push/webpush.h"
#include "server.h"
#include "store/store_push.h"
#include "util/b64.h"
#include "util/err.h"

#define APNS_TOKEN_MIN 64
#define APNS_TOKEN_MAX 200

static const char *string_arg(struct chat_call *k, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* base64url, padding optional, decoding to exactly len bytes. */
static bool decode_exact(uint8_t *out, size_t len, const char *text)
{
    size_t n = text != NULL ? strlen(text) : 0;

    while (n > 0 && text[n - 1] == '=') {
        n--;
    }
    return n > 0 && b64url_decode(out, len, text, n) == (long)len;
}

/* A key off the curve could never be encrypted to: refuse it now, not at every push. */
static bool on_curve(const uint8_t point[STORE_P256DH_LEN])
{
    EVP_PKEY *key = webpush_p256_key(point, NULL);

    EVP_PKEY_free(key);
    return key != NULL;
}

static int read_keys(struct chat_call *k, struct store_device *d, bool required)
{
    json_t *keys = json_object_get(k->args, "keys");

    if (keys == NULL && !required) {
        return 0;
    }
    if (!json_is_object(keys)) {
        return chat_bad(k, "keys must be an object with \"p256dh\" and \"auth\"");
    }
    if (!decode_exact(d->p256dh, STORE_P256DH_LEN, string_arg(k, keys, "p256dh")) ||
        d->p256dh[0] != 0x04 || !on_curve(d->p256dh)) {
        return chat_bad(k, "keys.p256dh must be the base64url of a 65-byte uncompressed P-256 point");
    }
    if (!decode_exact(d->auth, STORE_AUTH_LEN, string_arg(k, keys, "auth"))) {
        return chat_bad(k, "keys.auth must be the base64url of 16 bytes");
    }
    d->has_keys = true;
    return 0;
}

static int read_endpoint(struct chat_call *k, struct store_device *d)
{
    const struct config *cfg = &k->srv->cfg;
    const char *url = string_arg(k, k->args, "endpoint");
    int rc;

    if (url == NULL) {
        return chat_bad(k, "endpoint must be a string");
    }
    rc = push_endpoint_check(url, cfg->push_allow_http != 0, cfg->push_allow_private != 0,
                             &k->why);
    if (rc == 0) {
        snprintf(d->address, sizeof(d->address), "%s", url);
    }
    return rc;
}

static int read_apns(struct chat_call *k, struct store_device *d)
{
    const char *token = string_arg(k, k->args, "token");
    const char *topic = string_arg(k, k->args, "topic");
    json_t *sandbox = json_object_get(k->args, "sandbox");
    size_t n = token != NULL ? strlen(token) : 0;

    if (n < APNS_TOKEN_MIN || n > APNS_TOKEN_MAX || strspn(token, "0123456789abcdefABCDEF") != n) {
        return chat_bad(k, "token must be 64 to 200 hexadecimal digits");
    }
    if (topic == NULL || topic[0] == '\0' || strlen(topic) > STORE_TOPIC_MAX ||
        strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
            strlen(topic)) {
        return chat_bad(k, "topic must be the app's bundle id (1 to 255 of A-Z a-z 0-9 . _ -)");
    }
    if (sandbox != NULL && !json_is_boolean(sandbox)) {
        return chat_bad(k, "sandbox must be true (a development build's token) or false");
    }
    for (size_t i = 0; i < n; i++) {
        d->address[i] = (char)tolower((unsigned char)token[i]);
    }
    d->address[n] = '\0';
    snprintf(d->topic, sizeof(d->topic), "%s", topic);
    d->sandbox = json_is_true(sandbox);
    return 0;
}

static int read_fcm(struct chat_call *k, struct store_device *d)
{
    const char *token = string_arg(k, k->args, "token");
    size_t n = token != NULL ? strlen(token) : 0;

    if (n == 0 || n > STORE_ADDRESS_MAX) {
        return chat_bad(k, "token must be a string of 1 to 4096 characters");
    }
    for (size_t i = 0; i < n; i++) {
        if (token[i] <= ' ' || token[i] >= 0x7f) {
            return chat_bad(k, "token must be printable ASCII without spaces");
        }
    }
    memcpy(d->address, token, n + 1);
    return 0;
}

static int read_device(struct chat_call *k, struct store_device *d)
{
    const char *platform = string_arg(k, k->args, "platform");

    if (platform == NULL) {
        return chat_bad(k, "platform must be \"webpush\", \"apns\", \"fcm\" or \"unifiedpush\"");
    }
    snprintf(d->platform, sizeof(d->platform), "%s", platform);
    if (strcmp(platform, "webpush") == 0) {
        int rc = read_endpoint(k, d);

        return rc != 0 ? rc : read_keys(k, d, true);
    }
    if (strcmp(platform, "unifiedpush") == 0) {
        int rc = read_endpoint(k, d);

        return rc != 0 ? rc : read_keys(k, d, false);
    }
    if (strcmp(platform, "apns") == 0) {
        return read_apns(k, d);
    }
    if (strcmp(platform, "fcm") == 0) {
        return read_fcm(k, d);
    }
    return chat_bad(k, "platform must be \"webpush\", \"apns\", \"fcm\" or \"unifiedpush\"");
}

static json_t *device_json(const struct store_device *d)
{
    json_t *o = json_pack("{s:I,s:s}", "id", (json_int_t)d->id, "platform", d->platform);
    bool endpoint = strcmp(d->platform, "webpush") == 0 || strcmp(d->platform, "unifiedpush") == 0;

    json_object_set_new(o, endpoint ? "endpoint" : "token", json_string(d->address));
    if (d->topic[0] != '\0') {
        json_object_set_new(o, "topic", json_string(d->topic));
    }
    if (strcmp(d->platform, "apns") == 0) {
        json_object_set_new(o, "sandbox", json_boolean(d->sandbox));
    }
    if (d->has_keys) {
        char p256dh[B64_ENCODED_SIZE(STORE_P256DH_LEN)];
        char auth[B64_ENCODED_SIZE(STORE_AUTH_LEN)];

        b64url_encode(p256dh, d->p256dh, STORE_P256DH_LEN);
        b64url_encode(auth, d->auth, STORE_AUTH_LEN);
        json_object_set_new(o, "keys", json_pack("{s:s,s:s}", "p256dh", p256dh, "auth", auth));
    }
    json_object_set_new(o, "created_at", json_integer(d->created_at));
    json_object_set_new(o, "updated_at", json_integer(d->updated_at));
    return o;
}

int device_register(struct chat_call *k, struct store_conn *sc)
{
    struct store_device d = { 0 };
    bool created;
    int rc = read_device(k, &d);

    if (rc != 0) {
        return rc;
    }
    d.app_id = k->who.app_id;
    d.user_id = k->who.user_id;
    d.updated_at = k->now;
    rc = store_device_upsert(sc, &d, &created);
    if (rc == 0) {
        rc = store_device_trim(sc, k->who.user_id, (int)k->srv->cfg.max_devices_per_user);
    }
    if (rc == 0) {
        k->result = device_json(&d);
        k->status = created ? 201 : 200;
    }
    return rc;
}

static int collect_device(void *arg, const struct store_device *d)
{
    json_array_append_new(arg, device_json(d));
    return 0;
}

int device_list(struct chat_call *k, struct store_conn *sc)
{
    json_t *devices = json_array();
    int rc = store_device_list(sc, k->who.user_id, collect_device, devices);

    if (rc != 0) {
        json_decref(devices);
        return rc;
    }
    k->result = json_pack("{s:o}", "devices", devices);
    return 0;
}

int device_delete(struct chat_call *k, struct store_conn *sc)
{
    int64_t id;
    int rc = chat_arg_id(k, "id", &id);

    if (rc == 0) {
        rc = store_device_delete(sc, k->who.user_id, id);
    }
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such device";
    }
    k->status = 204;
    return rc;
}
