/*
 * vapid.c: see vapid.h.
 */
#include "push/vapid.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/b64.h"
#include "util/err.h"
#include "util/mem.h"

#define POINT_LEN 65

struct vapid {
    EVP_PKEY *key;
    char public_b64[128];
};

static EVP_PKEY *load(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key;

    if (f == NULL) {
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return key;
}

/* Writes a new key; the file is created 0600 and only once (O_EXCL). */
static EVP_PKEY *create(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    int fd;
    FILE *f;

    if (key == NULL) {
        snprintf(err, errlen, "cannot make a VAPID key");
        return NULL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        fflush(f) != 0 || fsync(fileno(f)) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (f != NULL) {
            fclose(f);
        } else if (fd >= 0) {
            close(fd);
        }
        unlink(path);
        EVP_PKEY_free(key);
        return NULL;
    }
    fclose(f);
    return key;
}

int vapid_open(const char *data_dir, struct vapid **out, char *err, size_t errlen)
{
    struct vapid *v;
    unsigned char point[POINT_LEN];
    size_t len = 0;
    char path[4096];
    EVP_PKEY *key;

    snprintf(path, sizeof(path), "%s/vapid-private.pem", data_dir);
    key = load(path);
    if (key == NULL && access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s is not a readable EC private key", path);
        return PIPIT_ESTORE;
    }
    if (key == NULL && (key = create(path, err, errlen)) == NULL) {
        return PIPIT_ESTORE;
    }
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
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
