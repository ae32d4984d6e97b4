/* test_http_range.c: the Range header (http/http_range.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http_range.h"

static void expect(const char *header, int64_t size, enum http_range want, int64_t start,
                   int64_t len)
{
    int64_t s = -1, l = -1;
    enum http_range got = http_range_parse(header, size, &s, &l);

    if (got != want || (want == HTTP_RANGE_OK && (s != start || l != len))) {
        fail_msg("\"%s\" of %lld: got %d %lld+%lld, want %d %lld+%lld", header ? header : "(null)",
                 (long long)size, got, (long long)s, (long long)l, want, (long long)start,
                 (long long)len);
    }
}

static void test_ranges(void **state)
{
    expect("bytes=0-9", 100, HTTP_RANGE_OK, 0, 10);
    expect("bytes=10-", 100, HTTP_RANGE_OK, 10, 90);
    expect("bytes=-5", 100, HTTP_RANGE_OK, 95, 5);
    expect("bytes=5-5", 100, HTTP_RANGE_OK, 5, 1);
    expect("bytes=90-200", 100, HTTP_RANGE_OK, 90, 10);  /* the end is clipped */
    expect("bytes=-500", 100, HTTP_RANGE_OK, 0, 100);    /* a suffix longer than the file */
    expect("Bytes = 1-2 ", 100, HTTP_RANGE_OK, 1, 2);
    expect("bytes=99-", 100, HTTP_RANGE_OK, 99, 1);
}

static void test_unsatisfiable(void **state)
{
    expect("bytes=100-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    expect("bytes=100-200", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    expect("bytes=-0", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    expect("bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    expect("bytes=-1", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0);
}

/* What this server does not act on is ignored: the whole file goes out (RFC 9110 §14.2). */
static void test_ignored(void **state)
{
    static const char *const ignored[] = {
        NULL, "", "bytes", "bytes=", "bytes=-", "bytes=a-b", "items=0-1", "bytes=0-1,3-4",
        "bytes=5-1", "bytes=1-2x", "bytes=99999999999999999999-", "bytes=--1", "bytes=+1-2",
        "bytes=0x10-", "bytes 0-1",
    };

    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        expect(ignored[i], 100, HTTP_RANGE_NONE, 0, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_unsatisfiable),
        cmocka_unit_test(test_ignored),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
