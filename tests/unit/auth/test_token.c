/* test_token.c: session tokens (auth/token.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/token.h"
#include "util/err.h"

static void test_round_trip(void **state)
{
    for (int i = 0; i < 50; i++) {
        char text[TOKEN_TEXT_LEN + 1];
        struct token_parts made, parsed;

        memset(text, 'X', sizeof(text));
        token_new(text, &made);
        assert_int_equal(strlen(text), TOKEN_TEXT_LEN);
        for (size_t k = 0; k < TOKEN_TEXT_LEN; k++) {
            char c = text[k];

            assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_');
        }
        assert_int_equal(token_parse(text, &parsed), 0);
        assert_memory_equal(parsed.selector, made.selector, STORE_SELECTOR_LEN);
        assert_memory_equal(parsed.verifier_hash, made.verifier_hash, STORE_VERIFIER_HASH_LEN);
    }
}

static void test_tokens_differ(void **state)
{
    char a[TOKEN_TEXT_LEN + 1], b[TOKEN_TEXT_LEN + 1];
    struct token_parts pa, pb;

    token_new(a, &pa);
    token_new(b, &pb);
    assert_string_not_equal(a, b);
    assert_memory_not_equal(pa.selector, pb.selector, STORE_SELECTOR_LEN);
    assert_memory_not_equal(pa.verifier_hash, pb.verifier_hash, STORE_VERIFIER_HASH_LEN);
}

static void test_verifier_is_hashed(void **state)
{
    char text[TOKEN_TEXT_LEN + 1];
    struct token_parts p;
    uint8_t raw[TOKEN_VERIFIER_LEN];

    /* The store keeps a hash, never the verifier's own bytes. */
    token_new(text, &p);
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), text + 16, 32, NULL, NULL, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_memory_not_equal(p.verifier_hash, raw, TOKEN_VERIFIER_LEN);
}

static void test_malformed_rejected(void **state)
{
    char good[TOKEN_TEXT_LEN + 1];
    char bad[TOKEN_TEXT_LEN + 8];
    struct token_parts p, before;

    token_new(good, &p);
    memset(&before, 0x5a, sizeof(before));

    assert_int_equal(token_parse(NULL, &p), PIPIT_EUNAUTHORIZED);
    assert_int_equal(token_parse("", &p), PIPIT_EUNAUTHORIZED);
    /* Wrong lengths. */
    memcpy(bad, good, TOKEN_TEXT_LEN - 1);
    bad[TOKEN_TEXT_LEN - 1] = '\0';
    assert_int_equal(token_parse(bad, &p), PIPIT_EUNAUTHORIZED);
    memcpy(bad, good, TOKEN_TEXT_LEN);
    bad[TOKEN_TEXT_LEN] = 'A';
    bad[TOKEN_TEXT_LEN + 1] = '\0';
    assert_int_equal(token_parse(bad, &p), PIPIT_EUNAUTHORIZED);
    /* Wrong alphabet, at the start, the split point and the end. */
    static const size_t spots[] = { 0, 15, 16, 47 };
    static const char wrong[] = { '+', '/', '=', '.', ' ', '\x80', '~' };

    for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++) {
        for (size_t w = 0; w < sizeof(wrong); w++) {
            memcpy(bad, good, TOKEN_TEXT_LEN + 1);
            bad[spots[s]] = wrong[w];
            if (token_parse(bad, &p) != PIPIT_EUNAUTHORIZED) {
                fail_msg("accepted '%c' at %zu", wrong[w], spots[s]);
            }
        }
    }
    /* A NUL inside shortens the string. */
    memcpy(bad, good, TOKEN_TEXT_LEN + 1);
    bad[20] = '\0';
    assert_int_equal(token_parse(bad, &p), PIPIT_EUNAUTHORIZED);
    /* "Bearer " prefixes are the caller's business. */
    snprintf(bad, sizeof(bad), "Bearer %.40s", good);
    assert_int_equal(token_parse(bad, &p), PIPIT_EUNAUTHORIZED);
}

static void test_matches(void **state)
{
    char text[TOKEN_TEXT_LEN + 1];
    struct token_parts made, presented;
    struct store_token stored;
    const int64_t now = 1700000000000;

    token_new(text, &made);
    assert_int_equal(token_parse(text, &presented), 0);
    memset(&stored, 0, sizeof(stored));
    memcpy(stored.verifier_hash, made.verifier_hash, STORE_VERIFIER_HASH_LEN);
    stored.expires_at = now + 1000;

    assert_true(token_matches(&presented, &stored, now));
    assert_true(token_matches(&presented, &stored, now + 999));
    /* Expired at or after expires_at. */
    assert_false(token_matches(&presented, &stored, now + 1000));
    assert_false(token_matches(&presented, &stored, now + 100000));
    /* Any differing bit of the hash fails. */
    for (size_t i = 0; i < STORE_VERIFIER_HASH_LEN; i += 7) {
        stored.verifier_hash[i] ^= 0x01;
        assert_false(token_matches(&presented, &stored, now));
        stored.verifier_hash[i] ^= 0x01;
    }
    assert_true(token_matches(&presented, &stored, now));
}

static void test_tampered_verifier_does_not_match(void **state)
{
    char text[TOKEN_TEXT_LEN + 1];
    struct token_parts made, presented;
    struct store_token stored;

    token_new(text, &made);
    memset(&stored, 0, sizeof(stored));
    memcpy(stored.verifier_hash, made.verifier_hash, STORE_VERIFIER_HASH_LEN);
    stored.expires_at = INT64_MAX;
    /* Same selector, another verifier: found by selector, refused by hash. */
    text[30] = text[30] == 'A' ? 'B' : 'A';
    assert_int_equal(token_parse(text, &presented), 0);
    assert_memory_equal(presented.selector, made.selector, STORE_SELECTOR_LEN);
    assert_false(token_matches(&presented, &stored, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tokens_differ),
        cmocka_unit_test(test_verifier_is_hashed),
        cmocka_unit_test(test_malformed_rejected),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_tampered_verifier_does_not_match),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
