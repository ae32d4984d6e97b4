/*
 * webpush.c: see webpush.h. Key derivation follows RFC 8291 §3.4 and RFC 8188
 * §2.2; every HKDF here wants at most 32 bytes, which is one HMAC block.
 */
#include "push/webpush.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <string.h>

#define RECORD_SIZE 4096

/* HKDF-SHA-256 (RFC 5869) for an output of at most 32 bytes. */
static void hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                 const void *info, size_t info_len, uint8_t *out, size_t out_len)
{
    uint8_t prk[crypto_auth_hmacsha256_BYTES];
    uint8_t okm[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    static const uint8_t one = 0x01;

    crypto_auth_hmacsha256_init(&st, salt, salt_len);
    crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);
    crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
    crypto_auth_hmacsha256_update(&st, info, info_len);
    crypto_auth_hmacsha256_update(&st, &one, 1);
    crypto_auth_hmacsha256_final(&st, okm);
    memcpy(out, okm, out_len);
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(okm, sizeof(okm));
}

EVP_PKEY *webpush_p256_key(const uint8_t pub[WEBPUSH_KEY_LEN], const uint8_t *priv32)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    BIGNUM *d = priv32 != NULL ? BN_bin2bn(priv32, 32, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY *key = NULL;

    if (bld != NULL && ctx != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, WEBPUSH_KEY_LEN) &&
        (priv32 == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
        EVP_PKEY_fromdata(ctx, &key, priv32 != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0) {
        key = NULL;
    }
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    return key;
}

/*
 * A peer's public key, cheaply: a copy of a P-256 template's parameters and the
 * point set on it (decoding the point checks it is on the curve). Building it
 * from an OSSL_PARAM list each time cost more than the ECDH itself.
 */
/* Per thread, made on first use, freed by webpush_thread_end(). */
static __thread EVP_PKEY *template;
static __thread EVP_PKEY_CTX *keygen;

static EVP_PKEY *peer_key(const uint8_t pub[WEBPUSH_KEY_LEN])
{
    EVP_PKEY *key = EVP_PKEY_new();

    if (template == NULL) {
        template = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    }
    if (key == NULL || template == NULL || EVP_PKEY_copy_parameters(key, template) != 1 ||
        EVP_PKEY_set1_encoded_public_key(key, pub, WEBPUSH_KEY_LEN) != 1) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/*
 * The 32-byte ECDH secret (the shared point's x); -1 if the peer is not on the
 * curve. Decoding the point (peer_key) refuses one off the curve, and P-256 has
 * cofactor 1, so it is in the group: the full check EVP_PKEY_derive_set_peer
 * runs (another scalar multiplication) would only double the cost of a message.
 */
static int ecdh(EVP_PKEY *mine, const uint8_t peer_pub[WEBPUSH_KEY_LEN], uint8_t secret[32])
{
    EVP_PKEY *peer = peer_key(peer_pub);
    EVP_PKEY_CTX *ctx = peer != NULL ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
    size_t len = 32;
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) > 0 &&
             EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) > 0 &&
             EVP_PKEY_derive(ctx, secret, &len) > 0 && len == 32;


    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return ok ? 0 : -1;
}

static int aes128gcm_seal(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *plain,
                          size_t len, uint8_t *out)
{
    static const uint8_t last_record = 0x02;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0, n3 = 0;
    int ok = c != NULL && EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce) == 1 &&
             EVP_EncryptUpdate(c, out, &n1, plain, (int)len) == 1 &&
             EVP_EncryptUpdate(c, out + n1, &n2, &last_record, 1) == 1 &&
             EVP_EncryptFinal_ex(c, out + n1 + n2, &n3) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + n1 + n2 + n3) == 1;

    EVP_CIPHER_CTX_free(c);
    return ok && (size_t)(n1 + n2 + n3) == len + 1 ? 0 : -1;
}

long webpush_encrypt_with(EVP_PKEY *sender, const uint8_t salt[WEBPUSH_SALT_LEN],
                          const uint8_t ua_public[WEBPUSH_KEY_LEN],
                          const uint8_t auth[WEBPUSH_AUTH_LEN], const uint8_t *plain, size_t len,
                          uint8_t *out)
{
    static const char key_label[] = "WebPush: info";            /* with its NUL */
    static const char cek_label[] = "Content-Encoding: aes128gcm";
    static const char nonce_label[] = "Content-Encoding: nonce";
    uint8_t as_public[WEBPUSH_KEY_LEN];
    uint8_t key_info[sizeof(key_label) + 2 * WEBPUSH_KEY_LEN];
    uint8_t secret[32], ikm[32], cek[16], nonce[12];
    size_t pub_len = 0;
    int rc;

    if (len > WEBPUSH_PLAINTEXT_MAX || ua_public[0] != 0x04 ||
        EVP_PKEY_get_octet_string_param(sender, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, as_public,
                                        sizeof(as_public), &pub_len) != 1 ||
        pub_len != WEBPUSH_KEY_LEN || ecdh(sender, ua_public, secret) != 0) {
        return -1;
    }
    /* The receiver's key first, then the sender's. */
    memcpy(key_info, key_label, sizeof(key_label));
    memcpy(key_info + sizeof(key_label), ua_public, WEBPUSH_KEY_LEN);
    memcpy(key_info + sizeof(key_label) + WEBPUSH_KEY_LEN, as_public, WEBPUSH_KEY_LEN);
    hkdf(auth, WEBPUSH_AUTH_LEN, secret, sizeof(secret), key_info, sizeof(key_info), ikm,
         sizeof(ikm));
    hkdf(salt, WEBPUSH_SALT_LEN, ikm, sizeof(ikm), cek_label, sizeof(cek_label), cek, sizeof(cek));
    hkdf(salt, WEBPUSH_SALT_LEN, ikm, sizeof(ikm), nonce_label, sizeof(nonce_label), nonce,
         sizeof(nonce));

    memcpy(out, salt, WEBPUSH_SALT_LEN);
    out[16] = (uint8_t)(RECORD_SIZE >> 24);
    out[17] = (uint8_t)(RECORD_SIZE >> 16);
    out[18] = (uint8_t)(RECORD_SIZE >> 8);
    out[19] = (uint8_t)RECORD_SIZE;
    out[20] = WEBPUSH_KEY_LEN;
    memcpy(out + 21, as_public, WEBPUSH_KEY_LEN);
    rc = aes128gcm_seal(cek, nonce, plain, len, out + WEBPUSH_HEADER_LEN);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(ikm, sizeof(ikm));
    sodium_memzero(cek, sizeof(cek));
    return rc == 0 ? (long)(len + WEBPUSH_OVERHEAD) : -1;
}

long webpush_encrypt(const uint8_t ua_public[WEBPUSH_KEY_LEN],
                     const uint8_t auth[WEBPUSH_AUTH_LEN], const uint8_t *plain, size_t len,
                     uint8_t *out)
{
    EVP_PKEY *sender = NULL;
    uint8_t salt[WEBPUSH_SALT_LEN];
    long n;

    if (keygen == NULL) {
        keygen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (keygen == NULL || EVP_PKEY_keygen_init(keygen) <= 0 ||
            EVP_PKEY_CTX_set_group_name(keygen, "P-256") <= 0) {
            EVP_PKEY_CTX_free(keygen);
            keygen = NULL;
            return -1;
        }
    }
    if (EVP_PKEY_keygen(keygen, &sender) <= 0) {
        return -1;
    }
    randombytes_buf(salt, sizeof(salt));
    n = webpush_encrypt_with(sender, salt, ua_public, auth, plain, len, out);
    EVP_PKEY_free(sender);
    return n;
}

void webpush_thread_end(void)
{
    EVP_PKEY_free(template);
    template = NULL;
    EVP_PKEY_CTX_free(keygen);
    keygen = NULL;
}
