/* test_b64.c: base64 and base64url (util/b64.h), RFC 4648 §10 vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/b64.h"

static const struct {
    const char *plain;
    const char *std;
    const char *url;
} vectors[] = {
    { "", "", "" },
    { "f", "Zg==", "Zg" },
    { "fo", "Zm8=", "Zm8" },
    { "foo", "Zm9v", "Zm9v" },
    { "foob", "Zm9vYg==", "Zm9vYg" },
    { "fooba", "Zm9vYmE=", "Zm9vYmE" },
    { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

static void test_rfc4648_encode(void **state)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char out[64];
        size_t n = strlen(vectors[i].plain);

        assert_int_equal(b64_encode(out, (const uint8_t *)vectors[i].plain, n),
                         strlen(vectors[i].std));
        assert_string_equal(out, vectors[i].std);
        assert_true(strlen(out) + 1 <= B64_ENCODED_SIZE(n));
        assert_int_equal(b64url_encode(out, (const uint8_t *)vectors[i].plain, n),
                         strlen(vectors[i].url));
        assert_string_equal(out, vectors[i].url);
    }
}

static void test_rfc4648_decode(void **state)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint8_t out[64];
        size_t n = strlen(vectors[i].plain);

        assert_int_equal(b64_decode(out, sizeof(out), vectors[i].std, strlen(vectors[i].std)),
                         (long)n);
        assert_memory_equal(out, vectors[i].plain, n);
        assert_int_equal(b64url_decode(out, sizeof(out), vectors[i].url,
                                       strlen(vectors[i].url)),
                         (long)n);
        assert_memory_equal(out, vectors[i].plain, n);
    }
}

static void test_alphabets_differ_at_62_63(void **state)
{
    const uint8_t in[] = { 0xfb, 0xff, 0xbf };
    uint8_t out[8];
    char text[8];

    b64_encode(text, in, 3);
    assert_string_equal(text, "+/+/");
    b64url_encode(text, in, 3);
    assert_string_equal(text, "-_-_");
    assert_int_equal(b64_decode(out, sizeof(out), "+/+/", 4), 3);
    assert_memory_equal(out, in, 3);
    assert_int_equal(b64url_decode(out, sizeof(out), "-_-_", 4), 3);
    assert_memory_equal(out, in, 3);
    /* Each alphabet refuses the other's two characters. */
    assert_int_equal(b64_decode(out, sizeof(out), "-_-_", 4), -1);
    assert_int_equal(b64url_decode(out, sizeof(out), "+/+/", 4), -1);
}

static void test_round_trip_all_bytes(void **state)
{
    uint8_t in[256];
    uint8_t out[256];
    char text[B64_ENCODED_SIZE(256)];

    for (int i = 0; i < 256; i++) {
        in[i] = (uint8_t)i;
    }
    for (size_t n = 0; n <= sizeof(in); n += 1) {
        size_t t = b64_encode(text, in, n);

        assert_int_equal(t + 1, B64_ENCODED_SIZE(n));
        assert_int_equal(b64_decode(out, sizeof(out), text, t), (long)n);
        assert_memory_equal(out, in, n);
        t = b64url_encode(text, in, n);
        assert_int_equal(b64url_decode(out, sizeof(out), text, t), (long)n);
        assert_memory_equal(out, in, n);
    }
}

static void test_rejects_bad_chars(void **state)
{
    static const char *const bad[] = {
        "Zm9v Zm9v", "Zm9\nv", "Zm9*", "Zm9v\0Zm9", "Zm=v", "=Zm9", "Zg=\x80",
    };
    uint8_t out[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = i == 3 ? 8 : strlen(bad[i]);

        assert_int_equal(b64_decode(out, sizeof(out), bad[i], n), -1);
        assert_int_equal(b64url_decode(out, sizeof(out), bad[i], n), -1);
    }
}

static void test_rejects_bad_padding(void **state)
{
    uint8_t out[16];

    /* Padded form needs a multiple of four and at most two '='. */
    assert_int_equal(b64_decode(out, sizeof(out), "Zg", 2), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "Zg=", 3), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "Z===", 4), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "====", 4), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "Zg==Zg==", 8), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "Zm9vYg=", 7), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "=", 1), -1);
    /* The url variant is unpadded: '=' is not in its alphabet. */
    assert_int_equal(b64url_decode(out, sizeof(out), "Zg==", 4), -1);
    assert_int_equal(b64url_decode(out, sizeof(out), "Zm8=", 4), -1);
    /* One leftover sextet can never be whole bytes. */
    assert_int_equal(b64url_decode(out, sizeof(out), "Z", 1), -1);
    assert_int_equal(b64url_decode(out, sizeof(out), "Zm9vY", 5), -1);
}

static void test_rejects_noncanonical_trailing_bits(void **state)
{
    uint8_t out[16];

    /* "Zg==" is 'f'; "Zh==" carries the same byte with a stray low bit set. */
    assert_int_equal(b64_decode(out, sizeof(out), "Zg==", 4), 1);
    assert_int_equal(b64_decode(out, sizeof(out), "Zh==", 4), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "Zv==", 4), -1);
    assert_int_equal(b64_decode(out, sizeof(out), "Zm8=", 4), 2);
    assert_int_equal(b64_decode(out, sizeof(out), "Zm9=", 4), -1);
    assert_int_equal(b64url_decode(out, sizeof(out), "Zh", 2), -1);
    assert_int_equal(b64url_decode(out, sizeof(out), "Zm9", 3), -1);
    assert_int_equal(b64url_decode(out, sizeof(out), "Zm8", 3), 2);
}

static void test_respects_cap(void **state)
{
    uint8_t out[8];

    memset(out, 0xAA, sizeof(out));
    assert_int_equal(b64_decode(out, 2, "Zm9v", 4), -1);
    assert_int_equal(out[3], 0xAA);
    assert_int_equal(b64_decode(out, 3, "Zm9v", 4), 3);
    assert_int_equal(b64url_decode(out, 5, "Zm9vYmFy", 8), -1);
    assert_int_equal(b64_decode(out, 0, "", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_encode),
        cmocka_unit_test(test_rfc4648_decode),
        cmocka_unit_test(test_alphabets_differ_at_62_63),
        cmocka_unit_test(test_round_trip_all_bytes),
        cmocka_unit_test(test_rejects_bad_chars),
        cmocka_unit_test(test_rejects_bad_padding),
        cmocka_unit_test(test_rejects_noncanonical_trailing_bits),
        cmocka_unit_test(test_respects_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
