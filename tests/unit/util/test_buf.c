/* test_buf.c: the capped byte buffer (util/buf.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/err.h"

static void test_empty_costs_nothing(void **state)
{
    struct buf b;

    buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    buf_reset(&b); /* harmless on an empty buffer */
    buf_consume(&b, 10);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    assert_null(b.data);
}

static void test_append_nul_terminated(void **state)
{
    struct buf b;

    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_int_equal(buf_appendz(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 6);
    buf_cleanup(&b);
}

static void test_zero_length_append_allocates_terminator(void **state)
{
    struct buf b;

    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_cleanup(&b);
}

static void test_cap_exact_fits(void **state)
{
    struct buf b;
    char big[64];

    memset(big, 'x', sizeof(big));
    buf_init(&b, 64);
    assert_int_equal(buf_append(&b, big, 64), 0);
    assert_int_equal(b.len, 64);
    assert_int_equal(b.data[64], '\0');
    assert_true(b.cap <= 65);
    assert_int_equal(buf_append(&b, "y", 1), PIPIT_EPAYLOAD_TOO_LARGE);
    assert_int_equal(b.len, 64);
    buf_cleanup(&b);
}

static void test_cap_failure_leaves_buffer_unchanged(void **state)
{
    struct buf b;
    char big[300];

    memset(big, 'z', sizeof(big));
    buf_init(&b, 10);
    assert_int_equal(buf_appendz(&b, "hello"), 0);
    assert_int_equal(buf_append(&b, big, 6), PIPIT_EPAYLOAD_TOO_LARGE);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_int_equal(buf_append(&b, big, sizeof(big)), PIPIT_EPAYLOAD_TOO_LARGE);
    assert_string_equal(b.data, "hello");
    /* A huge n must not overflow the size check. */
    assert_int_equal(buf_append(&b, big, SIZE_MAX), PIPIT_EPAYLOAD_TOO_LARGE);
    assert_int_equal(buf_append(&b, big, SIZE_MAX - 2), PIPIT_EPAYLOAD_TOO_LARGE);
    assert_string_equal(b.data, "hello");
    assert_int_equal(buf_append(&b, big, 5), 0);
    assert_int_equal(b.len, 10);
    buf_cleanup(&b);
}

static void test_growth_keeps_contents(void **state)
{
    struct buf b;
    char expect[5000];

    buf_init(&b, 1 << 20);
    for (int i = 0; i < 5000; i++) {
        char c = (char)('a' + i % 26);

        expect[i] = c;
        assert_int_equal(buf_append(&b, &c, 1), 0);
    }
    assert_int_equal(b.len, 5000);
    assert_memory_equal(b.data, expect, 5000);
    assert_int_equal(b.data[5000], '\0');
    buf_cleanup(&b);
}

static void test_consume(void **state)
{
    struct buf b;

    buf_init(&b, 100);
    buf_appendz(&b, "hello world");
    buf_consume(&b, 6);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "world");
    buf_consume(&b, 0);
    assert_string_equal(b.data, "world");
    buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_appendz(&b, "abc");
    buf_consume(&b, 1000); /* more than held: empties */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_cleanup(&b);
}

static void test_reset_keeps_storage(void **state)
{
    struct buf b;
    char *p;

    buf_init(&b, 100);
    buf_appendz(&b, "abcdef");
    p = b.data;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, p);
    assert_string_equal(b.data, "");
    buf_appendz(&b, "x");
    assert_string_equal(b.data, "x");
    buf_cleanup(&b);
}

static void test_printf(void **state)
{
    struct buf b;

    buf_init(&b, 32);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "ok"), 0);
    assert_string_equal(b.data, "42-ok");
    assert_int_equal(buf_printf(&b, "|%05d", 7), 0);
    assert_string_equal(b.data, "42-ok|00007");
    assert_int_equal(b.len, strlen("42-ok|00007"));
    /* 11 held + 22 more = 33 > 32: refused, unchanged. */
    assert_int_equal(buf_printf(&b, "%s", "0123456789012345678901"),
                     PIPIT_EPAYLOAD_TOO_LARGE);
    assert_string_equal(b.data, "42-ok|00007");
    assert_int_equal(b.len, 11);
    /* Exactly to the cap is fine. */
    assert_int_equal(buf_printf(&b, "%s", "012345678901234567890"), 0);
    assert_int_equal(b.len, 32);
    assert_int_equal(b.data[32], '\0');
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 32);
    buf_cleanup(&b);
}

static void test_printf_into_empty(void **state)
{
    struct buf b;

    buf_init(&b, 8);
    assert_int_equal(buf_printf(&b, "%s", "123456789"), PIPIT_EPAYLOAD_TOO_LARGE);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_cleanup(&b);
}

static void test_steal(void **state)
{
    struct buf b;
    size_t len = 0;
    char *p;

    buf_init(&b, 100);
    buf_appendz(&b, "mine");
    p = buf_steal(&b, &len);
    assert_int_equal(len, 4);
    assert_string_equal(p, "mine");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(p);
    /* The buffer is usable again and keeps its cap. */
    assert_int_equal(buf_appendz(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    buf_cleanup(&b);
    buf_cleanup(&b); /* idempotent */
}

static void test_append_int(void **state)
{
    static const int64_t values[] = { 0, 7, -7, 10, 1234567890123LL, INT64_MAX, INT64_MIN };
    char want[32];
    struct buf b;

    buf_init(&b, 100);
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        buf_reset(&b);
        assert_int_equal(buf_append_int(&b, values[i]), 0);
        snprintf(want, sizeof(want), "%lld", (long long)values[i]);
        assert_string_equal(b.data, want);
    }
    buf_cleanup(&b);
}

/* The escaper must write exactly what jansson writes for the same string. */
static void check_json_string(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    char *want = json_dumps(j, JSON_ENCODE_ANY);
    struct buf b;

    buf_init(&b, 1000);
    assert_int_equal(buf_append_json_string(&b, s, n), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    buf_cleanup(&b);
    free(want);
    json_decref(j);
}

static void test_append_json_string_matches_jansson(void **state)
{
    static const char *const samples[] = {
        "", "plain", "a\"quote", "back\\slash", "tab\there", "line\nbreak\r\n",
        "\b\f\x01\x1f\x7f", "slash/ok", "中文 émoji 😀", "end\\",
    };
    char one[1];

    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        check_json_string(samples[i], strlen(samples[i]));
    }
    for (int c = 0; c < 0x80; c++) {
        one[0] = (char)c;
        check_json_string(one, 1);
    }
}

static void test_append_json_string_is_all_or_nothing(void **state)
{
    struct buf b;

    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "ab", 2), 0);
    assert_int_equal(buf_append_json_string(&b, "\n\n\n", 3), PIPIT_EPAYLOAD_TOO_LARGE);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_costs_nothing),
        cmocka_unit_test(test_append_nul_terminated),
        cmocka_unit_test(test_zero_length_append_allocates_terminator),
        cmocka_unit_test(test_cap_exact_fits),
        cmocka_unit_test(test_cap_failure_leaves_buffer_unchanged),
        cmocka_unit_test(test_growth_keeps_contents),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_reset_keeps_storage),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_into_empty),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_append_int),
        cmocka_unit_test(test_append_json_string_matches_jansson),
        cmocka_unit_test(test_append_json_string_is_all_or_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
