/* test_webpush.c: Web Push encryption (RFC 8291) and VAPID signatures (RFC 8292). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "push/vapid.h"
#include "push/webpush.h"
#include "util/b64.h"

static size_t unhex(uint8_t *out, const char *hex)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
    }
    return n;
}

/* RFC 8291 Appendix A. */
static const char PLAIN[] = "When I grow up, I want to be a watermelon";
static const char AS_PRIVATE[] = "c9f58f89813e9f8e872e71f42aa64e1757c9254dcc62b72ddc010bb4043ea11c";
static const char AS_PUBLIC[] =
    "04fe33f4ab0dea71914db55823f73b54948f41306d920732dbb9a59a53286482200e597a7b7bc260ba1c2279"
    "98580992e93973002f3012a28ae8f06bbb78e5ec0f";
static const char UA_PRIVATE_B64[] = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
static const char UA_PUBLIC[] =
    "042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479"
    "b86e3c8f8eced577ca59187e9246990db682008b0e";
static const char SALT[] = "0c6bfaadad67958803092d454676f397";
static const char AUTH[] = "05305932a1c7eabe13b6cec9fda48882";
static const char BODY[] =
    "0c6bfaadad67958803092d454676f397000010004104fe33f4ab0dea71914db55823f73b54948f41306d9207"
    "32dbb9a59a53286482200e597a7b7bc260ba1c227998580992e93973002f3012a28ae8f06bbb78e5ec0ff297"
    "de5b429bba7153d3a4ae0caa091fd425f3b4b5414add8ab37a19c1bbb05cf5cb5b2a2e0562d558635641ec52"
    "812c6c8ff42e95ccb86be7cd";

static void test_rfc8291_vector(void **state)
{
    uint8_t as_priv[32], as_pub[65], ua_pub[65], salt[16], auth[16], want[256], out[256];
    size_t want_len = unhex(want, BODY);
    EVP_PKEY *sender;
    long n;

    unhex(as_priv, AS_PRIVATE);
    unhex(as_pub, AS_PUBLIC);
    unhex(ua_pub, UA_PUBLIC);
    unhex(salt, SALT);
    unhex(auth, AUTH);
    sender = webpush_p256_key(as_pub, as_priv);
    assert_non_null(sender);
    n = webpush_encrypt_with(sender, salt, ua_pub, auth, (const uint8_t *)PLAIN, strlen(PLAIN),
                             out);
    assert_int_equal(n, want_len);
    assert_int_equal(want_len, 144);
    assert_memory_equal(out, want, want_len);
    EVP_PKEY_free(sender);
}

/* What a browser does: returns the plaintext length, or -1. */
static long decrypt(EVP_PKEY *ua, const uint8_t ua_pub[65], const uint8_t auth[16],
                    const uint8_t *body, size_t len, uint8_t *plain)
{
    static const uint8_t one = 1;
    EVP_PKEY *as = webpush_p256_key(body + 21, NULL);
    EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(ua, NULL);
    uint8_t secret[32], prk[32], ikm[32], cek[32], nonce[32], info[144];
    size_t slen = 32;
    crypto_auth_hmacsha256_state st;
    EVP_CIPHER_CTX *c;
    int n1 = 0, n2 = 0, ok;
    size_t clen = len - 86 - 16;

    assert_non_null(as);
    assert_true(EVP_PKEY_derive_init(dc) > 0 && EVP_PKEY_derive_set_peer(dc, as) > 0 &&
                EVP_PKEY_derive(dc, secret, &slen) > 0);
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_free(as);
    memcpy(info, "WebPush: info", 14);
    memcpy(info + 14, ua_pub, 65);
    memcpy(info + 79, body + 21, 65);
    crypto_auth_hmacsha256_init(&st, auth, 16);
    crypto_auth_hmacsha256_update(&st, secret, 32);
    crypto_auth_hmacsha256_final(&st, prk);
    crypto_auth_hmacsha256_init(&st, prk, 32);
    crypto_auth_hmacsha256_update(&st, info, sizeof(info));
    crypto_auth_hmacsha256_update(&st, &one, 1);
    crypto_auth_hmacsha256_final(&st, ikm);
    crypto_auth_hmacsha256_init(&st, body, 16);
    crypto_auth_hmacsha256_update(&st, ikm, 32);
    crypto_auth_hmacsha256_final(&st, prk);
    crypto_auth_hmacsha256_init(&st, prk, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"Content-Encoding: aes128gcm", 28);
    crypto_auth_hmacsha256_update(&st, &one, 1);
    crypto_auth_hmacsha256_final(&st, cek);
    crypto_auth_hmacsha256_init(&st, prk, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"Content-Encoding: nonce", 24);
    crypto_auth_hmacsha256_update(&st, &one, 1);
    crypto_auth_hmacsha256_final(&st, nonce);
    c = EVP_CIPHER_CTX_new();
    ok = EVP_DecryptInit_ex(c, EVP_aes_128_gcm(), NULL, cek, nonce) == 1 &&
         EVP_DecryptUpdate(c, plain, &n1, body + 86, (int)clen) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(body + 86 + clen)) == 1 &&
         EVP_DecryptFinal_ex(c, plain + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok || n1 + n2 < 1 || plain[n1 + n2 - 1] != 0x02) {
        return -1;
    }
    return n1 + n2 - 1;
}

static void test_round_trip_and_tampering(void **state)
{
    uint8_t ua_priv[32], ua_pub[65], auth[16], body[WEBPUSH_PLAINTEXT_MAX + WEBPUSH_OVERHEAD];
    uint8_t plain[sizeof(body)], msg[WEBPUSH_PLAINTEXT_MAX];
    EVP_PKEY *ua;
    long n, m;

    b64url_decode(ua_priv, sizeof(ua_priv), UA_PRIVATE_B64, strlen(UA_PRIVATE_B64));
    unhex(ua_pub, UA_PUBLIC);
    unhex(auth, AUTH);
    ua = webpush_p256_key(ua_pub, ua_priv);
    assert_non_null(ua);
    randombytes_buf(msg, sizeof(msg));
    n = webpush_encrypt(ua_pub, auth, msg, sizeof(msg), body);
    assert_int_equal(n, sizeof(msg) + WEBPUSH_OVERHEAD);
    assert_int_equal(n, 4096);
    m = decrypt(ua, ua_pub, auth, body, (size_t)n, plain);
    assert_int_equal(m, sizeof(msg));
    assert_memory_equal(plain, msg, sizeof(msg));
    /* Every message has its own key and salt. */
    n = webpush_encrypt(ua_pub, auth, (const uint8_t *)"hi", 2, plain);
    assert_int_equal(n, 2 + WEBPUSH_OVERHEAD);
    assert_memory_not_equal(plain, body, WEBPUSH_HEADER_LEN);
    /* A flipped bit or another subscription's auth secret does not decrypt. */
    body[100] ^= 1;
    assert_int_equal(decrypt(ua, ua_pub, auth, body, 4096, plain), -1);
    body[100] ^= 1;
    auth[0] ^= 1;
    assert_int_equal(decrypt(ua, ua_pub, auth, body, 4096, plain), -1);
    EVP_PKEY_free(ua);
    webpush_thread_end();
}

static void test_refuses_bad_keys_and_long_payloads(void **state)
{
    uint8_t ua_pub[65], auth[16], out[4200];
    uint8_t big[WEBPUSH_PLAINTEXT_MAX + 1] = { 0 };

    unhex(ua_pub, UA_PUBLIC);
    unhex(auth, AUTH);
    assert_int_equal(webpush_encrypt(ua_pub, auth, big, sizeof(big), out), -1);
    ua_pub[64] ^= 1; /* off the curve */
    assert_int_equal(webpush_encrypt(ua_pub, auth, big, 10, out), -1);
    ua_pub[64] ^= 1;
    ua_pub[0] = 0x02;
    assert_int_equal(webpush_encrypt(ua_pub, auth, big, 10, out), -1);
    webpush_thread_end();
}

/* Splits "vapid t=H.C.S, k=K", checks S over "H.C" with K, returns the claims. */
static json_t *verify_vapid(const char *value, char *key_out)
{
    char h[256], c[1024], s[128];
    uint8_t pub[65], rs[64], der[80], claims[1024];
    const char *t = value + strlen("vapid t=");
    const char *d1 = strchr(t, '.'), *d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
    const char *k = strstr(value, ", k=");
    ECDSA_SIG *sig = ECDSA_SIG_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY *key;
    uint8_t *p = der;
    int der_len;
    long n;

    assert_true(strncmp(value, "vapid t=", 8) == 0 && d2 != NULL && k != NULL);
    snprintf(h, sizeof(h), "%.*s", (int)(d1 - t), t);
    snprintf(c, sizeof(c), "%.*s", (int)(d2 - d1 - 1), d1 + 1);
    snprintf(s, sizeof(s), "%.*s", (int)(k - d2 - 1), d2 + 1);
    strcpy(key_out, k + 4);
    assert_int_equal(b64url_decode(pub, sizeof(pub), key_out, strlen(key_out)), 65);
    assert_int_equal(b64url_decode(rs, sizeof(rs), s, strlen(s)), 64);
    n = b64url_decode(claims, sizeof(claims) - 1, c, strlen(c));
    assert_true(n > 0);
    claims[n] = '\0';
    assert_int_equal(b64url_decode((uint8_t *)c, sizeof(c), h, strlen(h)), 27);
    assert_memory_equal(c, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", 27);
    ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
    der_len = i2d_ECDSA_SIG(sig, &p);
    key = webpush_p256_key(pub, NULL);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestVerify(md, der, (size_t)der_len, (const uint8_t *)t,
                                      (size_t)(d2 - t)), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    ECDSA_SIG_free(sig);
    return json_loads((const char *)claims, 0, NULL);
}

static void test_vapid_signs_for_the_endpoint_origin(void **state)
{
    static const struct {
        const char *endpoint;
        const char *aud;
    } cases[] = {
        { "https://Push.Example.NET:443/wpush/v2/x?y", "https://push.example.net" },
        { "https://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com" },
        { "https://push.example.com:8443/x", "https://push.example.com:8443" },
        { "http://127.0.0.1:9000/up", "http://127.0.0.1:9000" },
        { "https://[2001:db8::1]:443/x", "https://[2001:db8::1]" },
    };
    char dir[] = "/tmp/pipit-vapid-XXXXXX";
    char err[256], key[128], path[300];
    struct vapid *v, *again;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(vapid_open(dir, &v, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out;
        json_t *claims;

        buf_init(&out, 4096);
        assert_int_equal(vapid_authorization(v, cases[i].endpoint, 1700000000,
                                             "mailto:ops@example.com", &out), 0);
        claims = verify_vapid(out.data, key);
        assert_string_equal(key, vapid_public_key(v));
        assert_string_equal(json_string_value(json_object_get(claims, "aud")), cases[i].aud);
        assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 1700000000);
        assert_string_equal(json_string_value(json_object_get(claims, "sub")),
                            "mailto:ops@example.com");
        json_decref(claims);
        buf_cleanup(&out);
    }
    /* The key survives a restart. */
    assert_int_equal(vapid_open(dir, &again, err, sizeof(err)), 0);
    assert_string_equal(vapid_public_key(again), vapid_public_key(v));
    vapid_free(again);
    vapid_free(v);
    snprintf(path, sizeof(path), "%s/vapid-private.pem", dir);
    unlink(path);
    rmdir(dir);
}

static void test_vapid_refuses_other_schemes(void **state)
{
    char dir[] = "/tmp/pipit-vapid-XXXXXX";
    char err[256], path[300];
    struct vapid *v;
    struct buf out;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(vapid_open(dir, &v, err, sizeof(err)), 0);
    buf_init(&out, 4096);
    assert_int_equal(vapid_authorization(v, "ftp://x/y", 1, "mailto:a@b", &out), -1);
    assert_int_equal(vapid_authorization(v, "https:///y", 1, "mailto:a@b", &out), -1);
    assert_int_equal(out.len, 0);
    buf_cleanup(&out);
    vapid_free(v);
    snprintf(path, sizeof(path), "%s/vapid-private.pem", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8291_vector),
        cmocka_unit_test(test_round_trip_and_tampering),
        cmocka_unit_test(test_refuses_bad_keys_and_long_payloads),
        cmocka_unit_test(test_vapid_signs_for_the_endpoint_origin),
        cmocka_unit_test(test_vapid_refuses_other_schemes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
