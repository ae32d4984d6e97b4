/* test_throttle.c: login throttling per account and per address (auth/throttle.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/throttle.h"

/*
 * The table is keyed by SipHash with a random key. A fixed "random" source makes
 * the slot layout, and so every run of this test, the same.
 */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t fixed_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static void fixed_buf(void *const buf, const size_t size)
{
    for (size_t i = 0; i < size; i++) {
        ((uint8_t *)buf)[i] = (uint8_t)fixed_random();
    }
}

static const char *fixed_name(void)
{
    return "fixed";
}

static randombytes_implementation fixed_impl = {
    .implementation_name = fixed_name,
    .random = fixed_random,
    .buf = fixed_buf,
};

#define FREE 3
#define MAX_DELAY 10000
#define T0 1700000000000LL

static int setup(void **state)
{
    *state = throttle_new(FREE, MAX_DELAY);
    return 0;
}

static int teardown(void **state)
{
    struct throttle *t = *state;

    throttle_free(&t);
    assert_null(t);
    throttle_free(&t); /* harmless on NULL */
    return 0;
}

static void test_free_attempts_then_doubling(void **state)
{
    struct throttle *t = *state;
    int64_t now = T0;

    for (int i = 0; i < FREE - 1; i++) {
        assert_int_equal(throttle_check(t, "alice", "10.0.0.1", now), 0);
        throttle_fail(t, "alice", "10.0.0.1", now);
    }
    assert_int_equal(throttle_check(t, "alice", "10.0.0.1", now), 0);
    /* The FREE-th failure starts the delays: 1 s, 2 s, 4 s, 8 s, then the cap. */
    static const int64_t expect[] = { 1000, 2000, 4000, 8000, MAX_DELAY, MAX_DELAY, MAX_DELAY };

    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        int64_t wait;

        throttle_fail(t, "alice", "10.0.0.1", now);
        wait = throttle_check(t, "alice", "10.0.0.1", now);
        if (wait != expect[i]) {
            fail_msg("after failure %zu: wait %lld, want %lld", FREE + i, (long long)wait,
                     (long long)expect[i]);
        }
        /* The wait counts down and ends. */
        assert_int_equal(throttle_check(t, "alice", "10.0.0.1", now + wait / 2), wait - wait / 2);
        assert_int_equal(throttle_check(t, "alice", "10.0.0.1", now + wait), 0);
        now += wait;
    }
}

static void test_many_failures_never_exceed_cap(void **state)
{
    struct throttle *t = *state;
    int64_t now = T0;

    for (int i = 0; i < 200; i++) {
        throttle_fail(t, "bob", "10.0.0.2", now);
        assert_true(throttle_check(t, "bob", "10.0.0.2", now) <= MAX_DELAY);
        now += 10;
    }
    assert_int_equal(throttle_check(t, "bob", "10.0.0.2", now - 10), MAX_DELAY);
}

static void test_success_resets_account(void **state)
{
    struct throttle *t = *state;
    int64_t now = T0;

    for (int i = 0; i < FREE + 2; i++) {
        throttle_fail(t, "carol", "10.0.0.3", now);
    }
    assert_true(throttle_check(t, "carol", "10.0.0.9", now) > 0);
    throttle_success(t, "carol", "10.0.0.9", now);
    assert_int_equal(throttle_check(t, "carol", "10.0.0.9", now), 0);
    /* Back to free attempts, not to where it left off. */
    for (int i = 0; i < FREE - 1; i++) {
        throttle_fail(t, "carol", "10.0.0.9", now);
    }
    assert_int_equal(throttle_check(t, "carol", "10.0.0.9", now), 0);
    throttle_fail(t, "carol", "10.0.0.9", now);
    assert_int_equal(throttle_check(t, "carol", "10.0.0.9", now), 1000);
    /* Success for an unknown account is a no-op. */
    throttle_success(t, "nobody", "10.0.0.9", now);
}

static void test_account_names_case_insensitive(void **state)
{
    struct throttle *t = *state;

    for (int i = 0; i < FREE; i++) {
        throttle_fail(t, i % 2 ? "Dave" : "dave", "10.0.0.4", T0);
    }
    assert_int_equal(throttle_check(t, "DAVE", "10.0.1.4", T0), 1000);
}

static void test_distinct_accounts_independent(void **state)
{
    struct throttle *t = *state;

    for (int i = 0; i < FREE + 3; i++) {
        throttle_fail(t, "erin", "10.0.0.5", T0);
    }
    assert_true(throttle_check(t, "erin", "10.0.0.6", T0) > 0);
    /* Another account from another address is untouched. */
    assert_int_equal(throttle_check(t, "frank", "10.0.0.6", T0), 0);
    assert_int_equal(throttle_check(t, "erin2", "10.0.0.6", T0), 0);
    assert_int_equal(throttle_check(t, "eri", "10.0.0.6", T0), 0);
}

static void test_ip_budget_is_four_times(void **state)
{
    struct throttle *t = *state;
    const char *ip = "192.0.2.7";
    char name[32];

    /* Spraying one password over many accounts: each account stays under its budget. */
    for (int i = 0; i < 4 * FREE - 1; i++) {
        snprintf(name, sizeof(name), "victim%d", i);
        assert_int_equal(throttle_check(t, name, ip, T0), 0);
        throttle_fail(t, name, ip, T0);
    }
    assert_int_equal(throttle_check(t, "fresh", ip, T0), 0);
    throttle_fail(t, "victim-last", ip, T0);
    /* The address has now used 4 × FREE failures. */
    assert_int_equal(throttle_check(t, "fresh", ip, T0), 1000);
    /* Other addresses can still try those accounts. */
    assert_int_equal(throttle_check(t, "victim0", "198.51.100.1", T0), 0);
    assert_int_equal(throttle_check(t, "fresh", "198.51.100.1", T0), 0);
}

static void test_window_expiry(void **state)
{
    struct throttle *t = *state;

    /* Failures spread wider than the window never add up. */
    for (int i = 0; i < 10; i++) {
        int64_t now = T0 + (int64_t)i * (THROTTLE_WINDOW_MS + 1);

        throttle_fail(t, "gina", "10.0.0.8", now);
        assert_int_equal(throttle_check(t, "gina", "10.0.0.8", now), 0);
    }
}

static void test_long_keys(void **state)
{
    struct throttle *t = *state;
    char longname[1000];

    memset(longname, 'z', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    for (int i = 0; i < FREE; i++) {
        throttle_fail(t, longname, longname, T0);
    }
    assert_int_equal(throttle_check(t, longname, "10.9.9.9", T0), 1000);
    assert_int_equal(throttle_check(t, "", "", T0), 0);
}

/* Parallel guesses in flight count like failures: a burst gets no more tries. */
static void test_parallel_attempts_count_while_in_flight(void **state)
{
    struct throttle *t = *state;

    for (int i = 0; i < FREE; i++) {
        assert_int_equal(throttle_begin(t, "henry", "10.0.0.10", T0), 0);
    }
    assert_int_equal(throttle_begin(t, "henry", "10.0.0.10", T0), 1000);
    /* Ending them as failures turns the wait into the regular delay. */
    for (int i = 0; i < FREE; i++) {
        throttle_fail(t, "henry", "10.0.0.10", T0);
    }
    assert_int_equal(throttle_check(t, "henry", "10.0.0.10", T0), 1000);
    /* Released attempts (never checked) give their place back. */
    assert_int_equal(throttle_begin(t, "ivy", "10.0.0.11", T0), 0);
    assert_int_equal(throttle_begin(t, "ivy", "10.0.0.11", T0), 0);
    throttle_release(t, "ivy", "10.0.0.11");
    throttle_release(t, "ivy", "10.0.0.11");
    throttle_release(t, "ivy", "10.0.0.11"); /* one too many: harmless */
    for (int i = 0; i < FREE; i++) {
        assert_int_equal(throttle_begin(t, "ivy", "10.0.0.11", T0), 0);
    }
    /* A success settles its own attempt only. */
    throttle_success(t, "ivy", "10.0.0.11", T0);
    assert_int_equal(throttle_begin(t, "ivy", "10.0.0.11", T0), 0);
    assert_int_equal(throttle_begin(t, "ivy", "10.0.0.11", T0), 1000);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_free_attempts_then_doubling),
        T(test_many_failures_never_exceed_cap),
        T(test_success_resets_account),
        T(test_account_names_case_insensitive),
        T(test_distinct_accounts_independent),
        T(test_ip_budget_is_four_times),
        T(test_window_expiry),
        T(test_long_keys),
        T(test_parallel_attempts_count_while_in_flight),
    };
#undef T

    if (randombytes_set_implementation(&fixed_impl) != 0 || sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
