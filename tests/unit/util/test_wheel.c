/* test_wheel.c: the hashed timer wheel (util/wheel.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/wheel.h"

#define T0 1000000 /* an arbitrary monotonic start, not 0 */

struct probe {
    struct wheel_timer t;
    struct wheel *w;
    int fired;
    int64_t fired_at;     /* the now_ms of the advance that fired it */
    int64_t *clock;
    int rearm_times;      /* re-arm itself this many times from the callback */
    int64_t rearm_delay;
    struct wheel_timer *cancel_other;
};

static int64_t now;

static void on_fire(struct wheel_timer *t)
{
    struct probe *p = (struct probe *)(void *)((char *)t - offsetof(struct probe, t));

    p->fired++;
    p->fired_at = now;
    assert_false(wheel_armed(t)); /* unlinked before the callback */
    if (p->cancel_other != NULL) {
        wheel_cancel(p->cancel_other);
    }
    if (p->rearm_times > 0) {
        p->rearm_times--;
        wheel_arm(p->w, t, now, p->rearm_delay);
    }
}

static void probe_init(struct probe *p, struct wheel *w)
{
    *p = (struct probe){ .w = w };
    wheel_timer_init(&p->t, on_fire);
}

/* Advances the clock in small steps, as a loop would. */
static void run_until(struct wheel *w, int64_t until, int64_t step)
{
    while (now < until) {
        now += step;
        if (now > until) {
            now = until;
        }
        wheel_advance(w, now);
    }
}

static void test_new_timer_is_not_armed(void **state)
{
    struct wheel w;
    struct probe p;

    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    assert_false(wheel_armed(&p.t));
    wheel_cancel(&p.t); /* cancelling an idle timer is harmless */
    assert_false(wheel_armed(&p.t));
}

static void test_fires_not_before_delay(void **state)
{
    static const int64_t delays[] = { 0, 1, 50, 99, 100, 101, 150, 250, 999, 1000, 12345 };

    for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
        /* Arm at several phases within a tick. */
        for (int64_t phase = 0; phase < WHEEL_TICK_MS; phase += 37) {
            struct wheel w;
            struct probe p;
            int64_t armed_at;

            now = T0;
            wheel_init(&w, now);
            probe_init(&p, &w);
            run_until(&w, T0 + phase, 1);
            armed_at = now;
            wheel_arm(&w, &p.t, now, delays[i]);
            assert_true(wheel_armed(&p.t));
            run_until(&w, armed_at + delays[i] + 2 * WHEEL_TICK_MS + 1, 7);
            assert_int_equal(p.fired, 1);
            assert_true(p.fired_at >= armed_at + delays[i]);
            /* At most one tick late, plus the 7 ms stepping granularity. */
            assert_true(p.fired_at <= armed_at + delays[i] + WHEEL_TICK_MS + 7);
            assert_false(wheel_armed(&p.t));
        }
    }
}

static void test_big_jump_fires_once(void **state)
{
    struct wheel w;
    struct probe a, b;

    now = T0;
    wheel_init(&w, now);
    probe_init(&a, &w);
    probe_init(&b, &w);
    wheel_arm(&w, &a.t, now, 300);
    wheel_arm(&w, &b.t, now, 5000);
    now += 1000;
    wheel_advance(&w, now); /* one call covering ten ticks */
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 0);
    now += 10000;
    wheel_advance(&w, now);
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 1);
}

static void test_cancel(void **state)
{
    struct wheel w;
    struct probe p, q;

    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    probe_init(&q, &w);
    wheel_arm(&w, &p.t, now, 500);
    wheel_arm(&w, &q.t, now, 500);
    wheel_cancel(&p.t);
    assert_false(wheel_armed(&p.t));
    wheel_cancel(&p.t);
    run_until(&w, T0 + 2000, 50);
    assert_int_equal(p.fired, 0);
    assert_int_equal(q.fired, 1);
}

static void test_rearm_moves_deadline(void **state)
{
    struct wheel w;
    struct probe p;

    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    wheel_arm(&w, &p.t, now, 300);
    run_until(&w, T0 + 200, 10);
    wheel_arm(&w, &p.t, now, 300); /* pushed back, as on activity */
    run_until(&w, T0 + 450, 10);
    assert_int_equal(p.fired, 0);
    run_until(&w, T0 + 700, 10);
    assert_int_equal(p.fired, 1);
    assert_true(p.fired_at >= T0 + 500);
}

static void test_rearm_inside_callback(void **state)
{
    struct wheel w;
    struct probe p;

    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    p.rearm_times = 3;
    p.rearm_delay = 200;
    wheel_arm(&w, &p.t, now, 200);
    run_until(&w, T0 + 10000, 10);
    assert_int_equal(p.fired, 4);
    assert_false(wheel_armed(&p.t));
}

static void test_rearm_inside_callback_one_revolution(void **state)
{
    struct wheel w;
    struct probe p;
    const int64_t rev = (int64_t)WHEEL_SLOTS * WHEEL_TICK_MS;

    /* Re-arming into the very bucket being processed must not loop forever. */
    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    p.rearm_times = 1;
    p.rearm_delay = rev;
    wheel_arm(&w, &p.t, now, 100);
    run_until(&w, T0 + 200, 100);
    assert_int_equal(p.fired, 1);
    assert_true(wheel_armed(&p.t));
    run_until(&w, T0 + 100 + rev - 100, 100);
    assert_int_equal(p.fired, 1);
    run_until(&w, T0 + 100 + rev + 200, 100);
    assert_int_equal(p.fired, 2);
}

static void test_rearm_zero_delay_inside_callback(void **state)
{
    struct wheel w;
    struct probe p;

    /* A zero delay inside a callback goes to the next tick, not this one. */
    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    p.rearm_times = 1;
    p.rearm_delay = 0;
    wheel_arm(&w, &p.t, now, 100);
    now = T0 + 100;
    wheel_advance(&w, now);
    assert_int_equal(p.fired, 1);
    assert_true(wheel_armed(&p.t));
    now = T0 + 200;
    wheel_advance(&w, now);
    assert_int_equal(p.fired, 2);
}

static void test_callback_cancels_other_due_timer(void **state)
{
    struct wheel w;
    struct probe a, b;

    now = T0;
    wheel_init(&w, now);
    probe_init(&a, &w);
    probe_init(&b, &w);
    wheel_arm(&w, &a.t, now, 100);
    wheel_arm(&w, &b.t, now, 100);
    a.cancel_other = &b.t;
    b.cancel_other = &a.t;
    now = T0 + 100;
    wheel_advance(&w, now);
    /* Whichever ran first cancelled the other, even though both were due. */
    assert_int_equal(a.fired + b.fired, 1);
    run_until(&w, T0 + 1000, 100);
    assert_int_equal(a.fired + b.fired, 1);
}

static void test_far_timers_beyond_one_revolution(void **state)
{
    struct wheel w;
    struct probe near, far, farther;
    const int64_t rev = (int64_t)WHEEL_SLOTS * WHEEL_TICK_MS;

    now = T0;
    wheel_init(&w, now);
    probe_init(&near, &w);
    probe_init(&far, &w);
    probe_init(&farther, &w);
    /* All three share a bucket: 300 ms, one and two revolutions later. */
    wheel_arm(&w, &near.t, now, 300);
    wheel_arm(&w, &far.t, now, 300 + rev);
    wheel_arm(&w, &farther.t, now, 300 + 2 * rev);
    run_until(&w, T0 + 400, 100);
    assert_int_equal(near.fired, 1);
    assert_int_equal(far.fired, 0);
    assert_true(wheel_armed(&far.t));
    run_until(&w, T0 + 300 + rev - 100, 100);
    assert_int_equal(far.fired, 0);
    run_until(&w, T0 + 300 + rev + 100, 100);
    assert_int_equal(far.fired, 1);
    assert_true(far.fired_at >= T0 + 300 + rev);
    assert_int_equal(farther.fired, 0);
    run_until(&w, T0 + 300 + 2 * rev + 100, 100);
    assert_int_equal(farther.fired, 1);
    assert_true(farther.fired_at >= T0 + 300 + 2 * rev);
}

static void test_far_timer_across_large_jump(void **state)
{
    struct wheel w;
    struct probe p;
    const int64_t rev = (int64_t)WHEEL_SLOTS * WHEEL_TICK_MS;

    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    wheel_arm(&w, &p.t, now, 3 * rev + 50);
    now = T0 + 3 * rev;
    wheel_advance(&w, now);
    assert_int_equal(p.fired, 0);
    now = T0 + 3 * rev + 200;
    wheel_advance(&w, now);
    assert_int_equal(p.fired, 1);
}

static void test_clock_going_backwards_is_harmless(void **state)
{
    struct wheel w;
    struct probe p;

    now = T0;
    wheel_init(&w, now);
    probe_init(&p, &w);
    wheel_arm(&w, &p.t, now, 200);
    wheel_advance(&w, T0 - 5000);
    assert_int_equal(p.fired, 0);
    run_until(&w, T0 + 400, 100);
    assert_int_equal(p.fired, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_timer_is_not_armed),
        cmocka_unit_test(test_fires_not_before_delay),
        cmocka_unit_test(test_big_jump_fires_once),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_rearm_moves_deadline),
        cmocka_unit_test(test_rearm_inside_callback),
        cmocka_unit_test(test_rearm_inside_callback_one_revolution),
        cmocka_unit_test(test_rearm_zero_delay_inside_callback),
        cmocka_unit_test(test_callback_cancels_other_due_timer),
        cmocka_unit_test(test_far_timers_beyond_one_revolution),
        cmocka_unit_test(test_far_timer_across_large_jump),
        cmocka_unit_test(test_clock_going_backwards_is_harmless),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
