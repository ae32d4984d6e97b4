/* test_totp.c: one-time passwords and recovery codes (auth/totp.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth/totp.h"
#include "util/err.h"

/* RFC 6238 appendix B's key, "12345678901234567890", in base32. */
#define RFC_SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static void test_rfc6238_vectors(void **state)
{
    /* Appendix B (SHA-1), the last six of its eight digits. */
    static const struct { int64_t t; uint32_t code; } v[] = {
        { 59, 287082 }, { 1111111109, 81804 }, { 1111111111, 50471 },
        { 1234567890, 5924 }, { 2000000000, 279037 }, { 20000000000, 353130 },
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint32_t code = 0;

        assert_int_equal(totp_code(RFC_SECRET, v[i].t / 30, &code), 0);
        assert_int_equal(code, v[i].code);
    }
    /* Lower case is the same secret. */
    uint32_t code = 0;
    assert_int_equal(totp_code("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", 59 / 30, &code), 0);
    assert_int_equal(code, 287082);
}

static void test_bad_secrets(void **state)
{
    uint32_t code;

    assert_int_equal(totp_code("", 1, &code), PIPIT_EBAD_REQUEST);
    assert_int_equal(totp_code("GEZ1", 1, &code), PIPIT_EBAD_REQUEST);
    assert_int_equal(totp_code("GEZDGNBV=", 1, &code), PIPIT_EBAD_REQUEST);
    assert_int_equal(totp_match("not base32!", "123456", 59000, 0), 0);
}

static void test_match_window_and_replay(void **state)
{
    int64_t now = 1111111111000; /* step 37037037 */
    int64_t step = now / TOTP_PERIOD_MS;
    char text[8];
    uint32_t code;

    for (int64_t d = -1; d <= 1; d++) {
        assert_int_equal(totp_code(RFC_SECRET, step + d, &code), 0);
        snprintf(text, sizeof(text), "%06u", code);
        assert_int_equal(totp_match(RFC_SECRET, text, now, 0), step + d);
        /* Used once: not again, nor any code of an older step. */
        assert_int_equal(totp_match(RFC_SECRET, text, now, step + d), 0);
    }
    /* Two steps away: refused. */
    assert_int_equal(totp_code(RFC_SECRET, step + 2, &code), 0);
    snprintf(text, sizeof(text), "%06u", code);
    assert_int_equal(totp_match(RFC_SECRET, text, now, 0), 0);
    /* Spaces are allowed; anything else is not. */
    assert_int_equal(totp_code(RFC_SECRET, step, &code), 0);
    snprintf(text, sizeof(text), "%06u", code);
    char spaced[16];
    snprintf(spaced, sizeof(spaced), "%.3s %.3s", text, text + 3);
    assert_int_equal(totp_match(RFC_SECRET, spaced, now, 0), step);
    assert_int_equal(totp_match(RFC_SECRET, "12345", now, 0), 0);
    assert_int_equal(totp_match(RFC_SECRET, "1234567", now, 0), 0);
    assert_int_equal(totp_match(RFC_SECRET, "12345a", now, 0), 0);
    assert_int_equal(totp_match(RFC_SECRET, "", now, 0), 0);
}

static void test_new_secrets(void **state)
{
    char a[TOTP_SECRET_TEXT_LEN + 1], b[TOTP_SECRET_TEXT_LEN + 1];
    uint32_t code;

    totp_secret_new(a);
    totp_secret_new(b);
    assert_int_equal(strlen(a), TOTP_SECRET_TEXT_LEN);
    assert_string_not_equal(a, b);
    assert_int_equal(totp_code(a, 1, &code), 0);
    assert_true(code < 1000000);
}

static void test_uri(void **state)
{
    char uri[TOTP_URI_MAX];

    totp_uri(uri, "ACME Bank", "alice.b", RFC_SECRET);
    assert_string_equal(uri, "otpauth://totp/ACME%20Bank:alice.b?secret=" RFC_SECRET
                             "&issuer=ACME%20Bank&algorithm=SHA1&digits=6&period=30");
    totp_uri(uri, "a:b&c", "x", RFC_SECRET);
    assert_non_null(strstr(uri, "totp/a%3Ab%26c:x?"));
}

static void test_recovery_codes(void **state)
{
    char text[RECOVERY_CODE_TEXT_LEN + 1], other[RECOVERY_CODE_TEXT_LEN + 1];
    uint8_t kept[STORE_RECOVERY_HASH_LEN], h[STORE_RECOVERY_HASH_LEN];
    uint8_t kept2[STORE_RECOVERY_HASH_LEN];

    recovery_code_new(text, kept);
    recovery_code_new(other, kept2);
    assert_int_equal(strlen(text), RECOVERY_CODE_TEXT_LEN);
    assert_true(text[4] == '-' && text[9] == '-' && text[14] == '-');
    assert_string_not_equal(text, other);
    assert_memory_not_equal(kept, kept2, sizeof(kept));

    assert_int_equal(recovery_code_hash(text, h), 0);
    assert_memory_equal(h, kept, sizeof(h));

    /* Case, dashes and spaces do not matter. */
    char loose[40];
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p != '-') {
            loose[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            if (n % 5 == 2) {
                loose[n++] = ' ';
            }
        }
    }
    loose[n] = '\0';
    assert_int_equal(recovery_code_hash(loose, h), 0);
    assert_memory_equal(h, kept, sizeof(h));

    /* Too short, too long, wrong characters. */
    assert_int_equal(recovery_code_hash("abcd-efgh-ijkl-mno", h), PIPIT_EBAD_REQUEST);
    assert_int_equal(recovery_code_hash("abcd-efgh-ijkl-mnopq", h), PIPIT_EBAD_REQUEST);
    assert_int_equal(recovery_code_hash("abcd-efgh-ijkl-mno1", h), PIPIT_EBAD_REQUEST);
    assert_int_equal(recovery_code_hash("", h), PIPIT_EBAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors),
        cmocka_unit_test(test_bad_secrets),
        cmocka_unit_test(test_match_window_and_replay),
        cmocka_unit_test(test_new_secrets),
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_recovery_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
