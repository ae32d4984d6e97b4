/* clock.h: wall-clock and monotonic time in milliseconds. Thread-safe. */
#ifndef PIPIT_UTIL_CLOCK_H
#define PIPIT_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock: for timestamps users see). */
int64_t clock_now_ms(void);
/* Milliseconds from an arbitrary start (monotonic: for timeouts). */
int64_t clock_mono_ms(void);
/*
 * For tests of time-of-day rules (quiet hours, send_at_local): shifts the wall
 * clock by $PIPIT_CLOCK_OFFSET_MS. Call once, before any thread starts; returns
 * the offset (0 when unset).
 */
int64_t clock_offset_from_env(void);

#endif
