/*
 * jwt.c: see jwt.h.
 */
#include "push/jwt.h"

#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "util/b64.h"
#include "util/mem.h"

#define PART_MAX 2048   /* a header or claims set: ours are far smaller */
#define SIG_MAX 512     /* RSA-4096 */

/* ES256 over msg, as JOSE wants it: r and s, 32 bytes each (not DER). */
static int es256_raw(const uint8_t *der, size_t der_len, uint8_t rs[64])
{
    const uint8_t *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    int ok = sig != NULL;

    if (ok) {
        ECDSA_SIG_get0(sig, &r, &s);
        ok = BN_bn2binpad(r, rs, 32) == 32 && BN_bn2binpad(s, rs + 32, 32) == 32;
    }
    ECDSA_SIG_free(sig);
    return ok ? 0 : -1;
}

static void append_b64url(struct buf *b, const void *data, size_t len)
{
    char text[B64_ENCODED_SIZE(SIG_MAX > PART_MAX ? SIG_MAX : PART_MAX)];

    b64url_encode(text, data, len);
    buf_appendz(b, text);
}

int jwt_sign(EVP_PKEY *key, const char *header, const char *claims, struct buf *out)
{
    bool ec = EVP_PKEY_is_a(key, "EC");
    EVP_MD_CTX *md;
    uint8_t sig[SIG_MAX], rs[64];
    size_t sig_len = sizeof(sig);
    size_t start = out->len;
    int ok;

    if (strlen(header) > PART_MAX || strlen(claims) > PART_MAX ||
        (!ec && !EVP_PKEY_is_a(key, "RSA")) || (size_t)EVP_PKEY_get_size(key) > sizeof(sig)) {
        return -1;
    }
    append_b64url(out, header, strlen(header));
    buf_appendz(out, ".");
    append_b64url(out, claims, strlen(claims));
    md = EVP_MD_CTX_new();
    /* RSA keys sign with PKCS #1 v1.5 padding by default: RS256. */
    ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)out->data + start,
                        out->len - start) == 1;
    EVP_MD_CTX_free(md);
    if (ok && ec) {
        ok = es256_raw(sig, sig_len, rs) == 0;
        memcpy(sig, rs, sizeof(rs));
        sig_len = sizeof(rs);
    }
    if (!ok) {
        out->len = start;
        if (out->data != NULL) {
            out->data[start] = '\0';
        }
        return -1;
    }
    buf_appendz(out, ".");
    append_b64url(out, sig, sig_len);
    return 0;
}

EVP_PKEY *jwt_key_load(const char *path)
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
