/*
 * fuzz_tz.c: the TZif reader (src/util/tz.h).
 *
 * The input is a TZif image. tz_parse never reads out of bounds and always explains a
 * refusal. A zone it accepts keeps every query's contract at a spread of instants (fixed
 * ones, and the seconds around each of the file's transitions):
 * offsets stay within a day (the reader's bound, tighter than the ±26 h of RFC 8536);
 * the local minute is 0..1439; tz_next_local answers at or after the start, less than
 * 3 days later, with the wall clock reading hh:mm:00 unless a forward jump of the clock
 * skipped that time, in which case the answer is the jump itself.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "util/err.h"
#include "util/tz.h"

#define DAY 86400
#define LIMIT ((int64_t)1 << 62) /* tz_next_local's working range */

static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;

    return r < 0 ? r + b : r;
}

static void check_instant(const struct tz *tz, int64_t t, int minute)
{
    int32_t off = tz_offset(tz, t);
    int local = tz_local_minute(tz, t);
    int64_t next;

    CHECK(off > -DAY && off < DAY);
    CHECK(local >= 0 && local < 1440);
    if (t > LIMIT || t < -LIMIT) {
        return;
    }
    next = tz_next_local(tz, t, minute);
    CHECK(next >= t && next - t < 3 * DAY);
    if (tz_local_minute(tz, next) != minute || floor_mod(next + tz_offset(tz, next), 60) != 0) {
        CHECK(tz_offset(tz, next - 1) < tz_offset(tz, next));
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Where the 64-bit transition times of an accepted image start (RFC 8536 §3.1), and how
 * many there are: past the first header, the version 1 block and the second header. */
static size_t transitions_at(const uint8_t *data, size_t *count)
{
    const uint8_t *h = data + 20; /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    size_t v1 = (size_t)be32(h + 12) * 5 + (size_t)be32(h + 16) * 6 + be32(h + 20) +
                (size_t)be32(h + 8) * 8 + be32(h + 4) + be32(h);

    *count = be32(data + 44 + v1 + 32);
    return 44 + v1 + 44;
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t fixed[] = {
        INT64_MIN, -LIMIT - 1, -LIMIT, -10000000000LL, -1, 0, 1774000000LL, 4102444800LL,
        20000000000LL, LIMIT, LIMIT + 1, INT64_MAX,
    };
    struct tz *tz = NULL;
    const char *why = NULL;
    int rc = tz_parse(data, size, &tz, &why);
    size_t count, at;

    CHECK(rc == 0 || (rc == PIPIT_EBAD_REQUEST && why != NULL));
    if (rc != 0) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        check_instant(tz, fixed[i], (int)(i * 131 % 1440));
    }
    /* Each transition and the seconds either side of it (the first 64 suffice). */
    at = transitions_at(data, &count);
    for (size_t i = 0; i < count && i < 64; i++) {
        int64_t t = be64(data + at + 8 * i);

        for (int64_t d = -1; d <= 1; d++) {
            if ((d < 0 && t == INT64_MIN) || (d > 0 && t == INT64_MAX)) {
                continue;
            }
            check_instant(tz, t + d, (int)floor_mod(t / 60, 1440));
            check_instant(tz, t + d, tz_local_minute(tz, t));
        }
    }
    tz_free(tz);
    return 0;
}
