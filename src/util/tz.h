/*
 * tz.h: IANA time zones for quiet hours and send_at_local.
 *
 * A small reader for the TZif files in /usr/share/zoneinfo (RFC 8536): the 64-bit
 * transition table plus the footer's POSIX TZ rule for instants after the last
 * transition. glibc has no per-zone API and setenv("TZ") races with every other
 * thread, so pipit reads the files itself (docs/internals/push-research.md §6).
 *
 * Ownership: tz_parse and tz_load hand out a zone the caller frees with tz_free;
 * tz_get hands out a shared zone that lives until the process exits.
 * Threads: a parsed zone is immutable, so every query is pure and may run on any
 * thread; tz_get serialises its cache with a mutex.
 * Errors: PIPIT_E* codes from util/err.h; out-parameters are written only on success.
 *
 * Instants are Unix seconds (POSIX time: leap seconds are not counted, and the
 * leap-second table of a right/ zone is skipped). Offsets stay within ±24 h
 * (exclusive): a file that says otherwise is refused.
 */
#ifndef PIPIT_UTIL_TZ_H
#define PIPIT_UTIL_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where tz_load looks unless $PIPIT_ZONEINFO names another directory. */
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
/* Longest zone name tz_name_ok accepts. */
#define TZ_NAME_MAX 64
/* Distinct names tz_get keeps; after that, new names get PIPIT_EUNAVAILABLE. */
#define TZ_CACHE_MAX 1024

/* A parsed zone: transitions (64-bit section of TZif v2+) and the footer POSIX TZ rule for
 * times after the last transition. Immutable after load; safe to share between threads. */
struct tz;

/* Parses a TZif v2/v3/v4 image (v1-only files: refuse). 0, or PIPIT_EBAD_REQUEST with *why
 * set (why may be NULL). Never reads out of bounds; bounded work for any input (refuses counts
 * above sane limits: timecnt ≤ 10000, typecnt ≤ 256, charcnt ≤ 4096, leapcnt ≤ 10000). */
int tz_parse(const uint8_t *data, size_t len, struct tz **out, const char **why);

/* Loads /usr/share/zoneinfo/<name> (or $PIPIT_ZONEINFO/<name> for tests: the env var is read
 * once). The name must be a valid IANA name: 1..64 chars of [A-Za-z0-9_+-/], no leading '/',
 * no "..", no "//", each part starting with a letter or digit ("UTC", "Etc/GMT+5",
 * "America/Argentina/Buenos_Aires").
 * PIPIT_EBAD_REQUEST for a bad name, PIPIT_ENOT_FOUND for no such zone (or a file that is not
 * a zone pipit can read), PIPIT_EIO when the file exists but cannot be read. */
int tz_load(const char *name, struct tz **out);
bool tz_name_ok(const char *name);
void tz_free(struct tz *tz);

/* UTC offset in seconds east of UTC in effect at utc_s (Unix seconds), DST included. */
int32_t tz_offset(const struct tz *tz, int64_t utc_s);

/* The first UTC second s >= from_utc_s at which the local wall clock reads `minute_of_day`
 * (0..1439), i.e. local time hh:mm:00. Handles DST: on a spring-forward day a skipped wall time
 * maps to the first instant after the gap (e.g. 02:30 on a day that jumps 02:00→03:00 becomes
 * 03:00 local); on a fall-back day the first occurrence. Used for "hold until quiet hours end"
 * and send_at_local.
 * The answer is always less than 3 days after from_utc_s. A minute outside 0..1439 is taken
 * modulo 1440; an instant beyond ±2^62 s (no calendar reaches it) is returned unchanged. */
int64_t tz_next_local(const struct tz *tz, int64_t from_utc_s, int minute_of_day);

/* Minute of the local day (0..1439) at utc_s. */
int tz_local_minute(const struct tz *tz, int64_t utc_s);

/* A process-wide cache by name (thread-safe, mutex; zones are never freed while the process
 * runs). Same return codes as tz_load. It keeps at most TZ_CACHE_MAX distinct names: a further
 * name is refused with PIPIT_EUNAVAILABLE rather than loaded and leaked on every call. */
int tz_get(const char *name, const struct tz **out);

#endif
