/* test_limits.c: rate and connection limits (net/limits.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config/config.h"
#include "net/limits.h"
#include "util/metrics.h"

static struct metrics metrics;

static struct limits *make(const char *settings)
{
    struct config cfg;
    char err[256];
    struct limits *l;

    config_init(&cfg);
    assert_int_equal(config_load_string(&cfg, settings, err, sizeof(err)), 0);
    l = limits_new(&cfg, &metrics, err, sizeof(err));
    config_cleanup(&cfg);
    return l;
}

static void test_bucket_refills_at_its_rate(void **state)
{
    struct limits *l = make("user_message_rate = 10\nuser_message_burst = 3\n");
    int64_t t = 1000000;

    memset(&metrics, 0, sizeof(metrics));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(limits_take(l, LIMIT_USER_MESSAGES, 7, t), 0);
    }
    /* Empty: the next token is 100 ms away. */
    int64_t wait = limits_take(l, LIMIT_USER_MESSAGES, 7, t);
    assert_true(wait > 0 && wait <= 101);
    assert_int_equal(metrics.rate_limited[LIMIT_USER_MESSAGES], 1);
    /* Another user has their own bucket; another kind too. */
    assert_int_equal(limits_take(l, LIMIT_USER_MESSAGES, 8, t), 0);
    assert_int_equal(limits_take(l, LIMIT_USER_REQUESTS, 7, t), 0);
    /* 100 ms later: one token, not more. */
    assert_int_equal(limits_take(l, LIMIT_USER_MESSAGES, 7, t + 100), 0);
    assert_true(limits_take(l, LIMIT_USER_MESSAGES, 7, t + 100) > 0);
    /* A long pause fills the bucket to its burst only. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(limits_take(l, LIMIT_USER_MESSAGES, 7, t + 60000), 0);
    }
    assert_true(limits_take(l, LIMIT_USER_MESSAGES, 7, t + 60000) > 0);
    /* A clock that goes back takes nothing. */
    assert_true(limits_take(l, LIMIT_USER_MESSAGES, 7, t) > 0);
    limits_free(&l);
    assert_null(l);
}

static void test_rate_zero_is_off(void **state)
{
    struct limits *l = make("user_request_rate = 0\nip_connections_max = 0\n");

    for (int i = 0; i < 10000; i++) {
        assert_int_equal(limits_take(l, LIMIT_USER_REQUESTS, 1, 5), 0);
        assert_true(limits_enter(l, LIMIT_IP_CONNECTIONS, 1));
    }
    limits_free(&l);
}

static void test_counts(void **state)
{
    struct limits *l = make("ip_preauth_max = 2\n");

    assert_true(limits_enter(l, LIMIT_IP_PREAUTH, 42));
    assert_true(limits_enter(l, LIMIT_IP_PREAUTH, 42));
    assert_false(limits_enter(l, LIMIT_IP_PREAUTH, 42));
    assert_true(limits_enter(l, LIMIT_IP_PREAUTH, 43));
    limits_leave(l, LIMIT_IP_PREAUTH, 42);
    assert_true(limits_enter(l, LIMIT_IP_PREAUTH, 42));
    assert_false(limits_enter(l, LIMIT_IP_PREAUTH, 42));
    limits_free(&l);
}

static void test_addresses(void **state)
{
    struct limits *l = make("rate_limit_exempt = 127.0.0.0/8, ::1, 10.1.0.0/16 ,fd00::/8\n");
    struct limit_addr a, b;

    limits_addr(l, "127.9.9.9", &a);
    assert_true(a.exempt);
    limits_addr(l, "::1", &a);
    assert_true(a.exempt);
    limits_addr(l, "::2", &a);
    assert_false(a.exempt);
    limits_addr(l, "10.1.200.3", &a);
    assert_true(a.exempt);
    limits_addr(l, "10.2.0.1", &a);
    assert_false(a.exempt);
    limits_addr(l, "fd12::1", &a);
    assert_true(a.exempt);
    limits_addr(l, "::ffff:127.0.0.1", &a); /* IPv4-mapped: the same address */
    assert_true(a.exempt);
    /* IPv6 counts by /64; IPv4 by address. */
    limits_addr(l, "2001:db8:1:2::1", &a);
    limits_addr(l, "2001:db8:1:2:ffff::9", &b);
    assert_true(a.key == b.key);
    limits_addr(l, "2001:db8:1:3::1", &b);
    assert_true(a.key != b.key);
    limits_addr(l, "192.0.2.1", &a);
    limits_addr(l, "192.0.2.2", &b);
    assert_true(a.key != b.key);
    limits_addr(l, "?", &a);
    assert_false(a.exempt);
    limits_free(&l);

    l = make("rate_limit_exempt =\n");
    limits_addr(l, "127.0.0.1", &a);
    assert_false(a.exempt);
    limits_free(&l);
}

static void test_bad_exempt_lists(void **state)
{
    static const char *const bad[] = {
        "rate_limit_exempt = 10.0.0.0/33\n", "rate_limit_exempt = ::/129\n",
        "rate_limit_exempt = 10.0.0/8\n", "rate_limit_exempt = localhost\n",
        "rate_limit_exempt = 10.0.0.0/\n", "rate_limit_exempt = 10.0.0.0/8x\n",
        "rate_limit_exempt = /8\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config cfg;
        char err[256] = "";

        config_init(&cfg);
        assert_int_equal(config_load_string(&cfg, bad[i], err, sizeof(err)), 0);
        assert_null(limits_new(&cfg, &metrics, err, sizeof(err)));
        assert_non_null(strstr(err, "rate_limit_exempt"));
        config_cleanup(&cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_refills_at_its_rate),
        cmocka_unit_test(test_rate_zero_is_off),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_bad_exempt_lists),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
