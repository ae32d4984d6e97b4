/*
 * wheel.h: a hashed timer wheel for connection timeouts.
 *
 * Design: WHEEL_SLOTS buckets of intrusive lists, one tick per WHEEL_TICK_MS.
 * A timer due at tick T sits in bucket T % WHEEL_SLOTS; a timer further away than
 * one revolution simply stays in its bucket until its tick comes round. Arming,
 * re-arming and cancelling are O(1); a tick touches only its own bucket, never the
 * whole connection table (Mosquitto's keepalive ring, h2o's timerwheel).
 * Resolution is one tick: timeouts fire up to WHEEL_TICK_MS late, never early.
 *
 * Owned by one loop thread; not thread-safe.
 */
#ifndef PIPIT_UTIL_WHEEL_H
#define PIPIT_UTIL_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#include "util/list.h"

#define WHEEL_SLOTS 512
#define WHEEL_TICK_MS 100

struct wheel_timer;
typedef void (*wheel_cb)(struct wheel_timer *t);

struct wheel_timer {
    struct list node;
    int64_t due_tick;
    wheel_cb cb;
};

struct wheel {
    struct list slots[WHEEL_SLOTS];
    int64_t tick;       /* last tick processed */
    int64_t start_ms;   /* monotonic time of tick 0 */
};

void wheel_init(struct wheel *w, int64_t now_ms);
void wheel_timer_init(struct wheel_timer *t, wheel_cb cb);
/* (Re)arms t to fire at or after now_ms + delay_ms. */
void wheel_arm(struct wheel *w, struct wheel_timer *t, int64_t now_ms, int64_t delay_ms);
void wheel_cancel(struct wheel_timer *t);
bool wheel_armed(const struct wheel_timer *t);
/* Fires every timer due by now_ms; callbacks may arm or cancel any timer. */
void wheel_advance(struct wheel *w, int64_t now_ms);

#endif
