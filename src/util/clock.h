/* clock.h: wall-clock and monotonic time in milliseconds. Thread-safe. */
#ifndef PIPIT_UTIL_CLOCK_H
#define PIPIT_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock: for timestamps users see). */
int64_t clock_now_ms(void);
/* Milliseconds from an arbitrary start (monotonic: for timeouts). */
int64_t clock_mono_ms(void);
/*
 * The wait before retry number `attempts` (1, 2, …): base doubled per attempt
 * up to cap, half of it fixed and half random (jitter, so that retries of many
 * failures do not arrive together).
 */
int64_t clock_backoff_ms(int64_t base, int64_t cap, int attempts);
/*
 * For tests of time-of-day rules (quiet hours, send_at_local): shifts the wall
 * clock by $PIPIT_CLOCK_OFFSET_MS. Call once, before any thread starts; returns
 * the offset (0 when unset).
 */
int64_t clock_offset_from_env(void);

#endif
