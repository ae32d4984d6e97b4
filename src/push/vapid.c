/*
 * vapid.c: see vapid.h.
 */
#include "push/vapid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "push/jwt.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define POINT_LEN 65
#define CLAIMS_MAX 1024

struct vapid {
    EVP_PKEY *key;
    char public_b64[128];
};

/*
 * Writes a new key, 0600, whole or not at all (fs_write_secret), so a crash can
 * leave no empty or partial key behind (which would stop every later start).
 */
static EVP_PKEY *create(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *pem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;

    if (key == NULL || pem == NULL) {
        snprintf(err, errlen, "cannot make a VAPID key");
        goto fail;
    }
    if (PEM_write_bio_PrivateKey(pem, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(pem, &data)) <= 0) {
        snprintf(err, errlen, "cannot encode the VAPID key");
        goto fail;
    }
    if (fs_write_secret(path, data, (size_t)len) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    BIO_free(pem);
    log_info(NULL, "made a new VAPID key in %s (keep it in backups: browsers' Web Push "
             "subscriptions are bound to it)", path);
    return key;

fail:
    BIO_free(pem);
    EVP_PKEY_free(key);
    return NULL;
}

int vapid_open(const char *data_dir, struct vapid **out, char *err, size_t errlen)
{
    struct vapid *v;
    unsigned char point[POINT_LEN];
    char group[64];
    size_t len = 0;
    char path[4096];
    EVP_PKEY *key;

    snprintf(path, sizeof(path), "%s/vapid-private.pem", data_dir);
    key = jwt_key_load(path);
    if (key == NULL && access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s is not a readable EC private key", path);
        return PIPIT_ESTORE;
    }
    if (key == NULL && (key = create(path, err, errlen)) == NULL) {
        return PIPIT_ESTORE;
    }
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) != 1 ||
        strcmp(group, "prime256v1") != 0 ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        sizeof(point), &len) != 1 ||
        len != POINT_LEN || point[0] != 0x04) {
        snprintf(err, errlen, "%s does not hold a P-256 key", path);
        EVP_PKEY_free(key);
        return PIPIT_ESTORE;
    }
    v = xcalloc(1, sizeof(*v));
    v->key = key;
    b64url_encode(v->public_b64, point, POINT_LEN);
    *out = v;
    return 0;
}

void vapid_free(struct vapid *v)
{
    if (v != NULL) {
        EVP_PKEY_free(v->key);
        free(v);
    }
}

const char *vapid_public_key(const struct vapid *v)
{
    return v->public_b64;
}

int vapid_origin(const char *url, char *out, size_t cap)
{
    bool https = strncasecmp(url, "https://", 8) == 0;
    const char *host = url + (https ? 8 : 7);
    size_t len = strcspn(host, "/?#");
    const char *colon = memchr(host, ':', len);
    size_t n;

    if (!https && strncasecmp(url, "http://", 7) != 0) {
        return -1;
    }
    if (host[0] == '[') {
        const char *end = memchr(host, ']', len);

        colon = end != NULL && end + 1 < host + len && end[1] == ':' ? end + 1 : NULL;
    }
    if (colon != NULL && strncmp(colon, https ? ":443" : ":80", (size_t)(host + len - colon)) == 0 &&
        (size_t)(host + len - colon) == (https ? 4u : 3u)) {
        len = (size_t)(colon - host);
    }
    n = (size_t)snprintf(out, cap, "%s://%.*s", https ? "https" : "http", (int)len, host);
    if (n >= cap || len == 0) {
        return -1;
    }
    for (char *p = out; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    return 0;
}

int vapid_authorization(const struct vapid *v, const char *endpoint, int64_t exp,
                        const char *subject, struct buf *out)
{
    char origin[300];
    struct buf claims;
    int rc = -1;

    if (vapid_origin(endpoint, origin, sizeof(origin)) != 0) {
        return -1;
    }
    buf_init(&claims, 4096);
    buf_appendz(&claims, "{\"aud\":");
    buf_append_json_string(&claims, origin, strlen(origin));
    buf_appendz(&claims, ",\"exp\":");
    buf_append_int(&claims, exp);
    buf_appendz(&claims, ",\"sub\":");
    buf_append_json_string(&claims, subject, strlen(subject));
    buf_appendz(&claims, "}");
    if (claims.len <= CLAIMS_MAX) {
        size_t start = out->len;

        buf_appendz(out, "vapid t=");
        rc = jwt_sign(v->key, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", claims.data, out);
        if (rc == 0) {
            buf_appendz(out, ", k=");
            buf_appendz(out, v->public_b64);
        } else {
            out->len = start;
        }
    }
    buf_cleanup(&claims);
    return rc;
}
