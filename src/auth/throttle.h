/*
 * throttle.h: slows down password guessing, per account and per client address.
 *
 * After `free` failures within the window, each further failure doubles the
 * wait before the next attempt is even considered (1 s, 2 s, 4 s, … up to
 * max_delay). A success clears the account's record. Because the wait is capped
 * and records expire, an attacker can slow a victim down but never lock them out.
 *
 * Design: a fixed table of THROTTLE_SLOTS records indexed by a keyed hash
 * (SipHash with a random key, so keys cannot be chosen to collide), guarded by a
 * mutex held for a few loads and stores. A collision only means two keys share
 * a record. Memory is fixed: 64k slots × 32 B = 2 MiB. Thread-safe.
 */
#ifndef PIPIT_AUTH_THROTTLE_H
#define PIPIT_AUTH_THROTTLE_H

#include <stdint.h>

#define THROTTLE_SLOTS 65536
#define THROTTLE_WINDOW_MS (15 * 60 * 1000)

struct throttle;

struct throttle *throttle_new(int64_t free_attempts, int64_t max_delay_ms);
void throttle_free(struct throttle **t);

/*
 * Milliseconds the caller must wait before an attempt is allowed; 0 = go ahead.
 * Attempts still being checked count as failures-to-be, so a burst of parallel
 * guesses gets no more tries than a sequence would.
 */
int64_t throttle_check(struct throttle *t, const char *account, const char *ip, int64_t now_ms);
/* throttle_check, and when it allows, reserves the attempt (in flight) atomically. */
int64_t throttle_begin(struct throttle *t, const char *account, const char *ip, int64_t now_ms);
/* Ends an attempt: failed, succeeded, or neither (release: the check never ran). */
void throttle_fail(struct throttle *t, const char *account, const char *ip, int64_t now_ms);
void throttle_success(struct throttle *t, const char *account, const char *ip, int64_t now_ms);
void throttle_release(struct throttle *t, const char *account, const char *ip);

#endif
