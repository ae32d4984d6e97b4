/*
 * tz.c: see tz.h.
 *
 * Design. A zone is the 64-bit transition table of a TZif v2+ file (RFC 8536 §3.2),
 * flattened to two arrays (instant, offset in effect from it), plus the footer's POSIX
 * TZ rule (§3.3) for instants at or after the last transition. An offset lookup is a
 * binary search, or for the rule a handful of date computations around the instant.
 *
 * The rule is evaluated on the instant reduced modulo 400 Gregorian years: that cycle is
 * a whole number of weeks, so every Mm.w.d date repeats exactly, and the arithmetic
 * never leaves the years 1968..2372 whatever int64 the caller passes.
 *
 * Local to UTC (tz_next_local) walks forward from the starting instant one stretch of
 * constant offset at a time: inside a stretch the wall clock is the UTC clock shifted,
 * so the first hh:mm:00 is a modulo away; at a forward jump a wall time that falls in
 * the gap maps to the jump itself. With offsets below a day, the wall clock has covered
 * a full day within 24 h + (largest - smallest offset) < 3 days, so the walk is short.
 */
#include "util/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/mem.h"

#define SECS_PER_DAY 86400
/* 400 Gregorian years: 146097 days, exactly 20871 weeks. */
#define CYCLE_SECS ((int64_t)146097 * SECS_PER_DAY)
/* Offsets must stay strictly within a day (tighter than RFC 8536's -25 h..+26 h) so the
 * wall clock covers every minute of the day within 3 days of any instant. */
#define OFFSET_LIMIT SECS_PER_DAY
/* Rule times: -167 h..+167 h (RFC 8536 §3.3.1, the version 3 extension). */
#define RULE_HOURS_MAX 167
/* Sane caps for a parsed file; tzdata 2025b needs at most 310 transitions and 27 leaps. */
#define MAX_TIMES 10000
#define MAX_TYPES 256
#define MAX_CHARS 4096
#define MAX_LEAPS 10000
#define MAX_FOOTER 255
#define MAX_FILE (256 * 1024)
#define HEADER_SIZE 44
/* tz_next_local works on instants within ±2^62 s, where its sums cannot overflow. */
#define NEXT_LOCAL_LIMIT ((int64_t)1 << 62)
/* Open-addressing slots for tz_get: a power of two, at least twice TZ_CACHE_MAX. */
#define CACHE_SLOTS 2048

/* When DST starts or ends in a year: a day rule and a local time of day. */
struct tz_change {
    char kind;          /* 'J': Jn (1..365, Feb 29 never counted); 'n': n (0..365); 'M': Mm.w.d */
    int16_t day;        /* J and n: the day number; M: the month, 1..12 */
    int8_t week;        /* M: 1..5, 5 meaning the last such weekday of the month */
    int8_t wday;        /* M: 0..6, Sunday = 0 */
    int32_t secs;       /* local time of day of the change, in the time it ends */
};

/* A POSIX TZ string: std offset [dst [offset] [,start[/time],end[/time]]]. */
struct tz_rule {
    int32_t std_off;    /* seconds east of UTC (the string's sign is the opposite) */
    int32_t dst_off;
    bool has_dst;
    struct tz_change start, end;
};

struct tz {
    uint32_t count;     /* transitions */
    int32_t first_off;  /* time type 0: before the first transition (RFC 8536 §3.2) */
    bool has_rule;      /* the footer is not empty */
    struct tz_rule rule;
    int32_t *offs;      /* offs[i] is in effect from times[i]; points into this block */
    int64_t times[];    /* strictly ascending */
};

/* ---- arithmetic and the calendar ---- */

static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;

    return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* Leap days in the years 1..y; y >= 0 (the rule code stays in 1968..2372). */
static int64_t leaps_through(int64_t y)
{
    return y / 4 - y / 100 + y / 400;
}

/* Days from 1970-01-01 to January 1 of year y. */
static int64_t days_before_year(int64_t y)
{
    return 365 * (y - 1970) + leaps_through(y - 1) - leaps_through(1969);
}

/* The year holding day `days` (since 1970-01-01), for 0 <= days < 146097 + a few. */
static int64_t year_of_day(int64_t days)
{
    int64_t y = 1970 + days / 366;  /* at most two years early over a 400-year span */

    for (int i = 0; i < 4 && days_before_year(y + 1) <= days; i++) {
        y++;
    }
    return y;
}

static const int16_t month_start[2][13] = {
    { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365 },
    { 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366 },
};

/* Day of the year (0-based) of a change in year y. */
static int64_t change_yday(const struct tz_change *ch, int64_t y)
{
    int leap = is_leap(y);
    int first, len, wday_first, mday;

    if (ch->kind == 'J') {
        return ch->day - 1 + (leap && ch->day >= 60);
    }
    if (ch->kind == 'n') {
        return ch->day;
    }
    first = month_start[leap][ch->day - 1];
    len = month_start[leap][ch->day] - first;
    wday_first = (int)floor_mod(days_before_year(y) + first + 4, 7); /* 1970-01-01: Thursday */
    mday = (ch->wday - wday_first + 7) % 7 + (ch->week - 1) * 7;
    if (mday >= len) {
        mday -= 7; /* week 5 ran past the month: the last such weekday is a week earlier */
    }
    return first + mday;
}

/* The UTC instant of a change in year y, its time read on the clock it ends (POSIX). */
static int64_t change_instant(const struct tz_change *ch, int64_t y, int32_t off_before)
{
    return (days_before_year(y) + change_yday(ch, y)) * SECS_PER_DAY + ch->secs - off_before;
}

/* ---- the footer rule ---- */

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    int64_t rest, y, best = INT64_MIN;
    int32_t off = r->std_off;

    if (!r->has_dst) {
        return r->std_off;
    }
    rest = floor_mod(t, CYCLE_SECS); /* t less whole 400-year cycles */
    y = year_of_day(rest / SECS_PER_DAY);
    /* The last change at or before t decides. Ties go to the change looked at later: within
     * a year the end (a DST of no length is none), across years the next year's start (DST
     * all year, "EST5EDT,0/0,J365/25"). Year y - 2 ends before y starts, even with 167 h. */
    for (int64_t yy = y - 2; yy <= y + 1; yy++) {
        int64_t start = change_instant(&r->start, yy, r->std_off);
        int64_t end = change_instant(&r->end, yy, r->dst_off);

        if (start <= rest && start >= best) {
            best = start;
            off = r->dst_off;
        }
        if (end <= rest && end >= best) {
            best = end;
            off = r->std_off;
        }
    }
    return off;
}

/* The first change after t, or INT64_MAX for none. */
static int64_t rule_next_change(const struct tz_rule *r, int64_t t)
{
    int64_t rest, y, next = INT64_MAX;

    if (!r->has_dst) {
        return INT64_MAX;
    }
    rest = floor_mod(t, CYCLE_SECS); /* t less whole 400-year cycles */
    y = year_of_day(rest / SECS_PER_DAY);
    for (int64_t yy = y - 2; yy <= y + 2; yy++) {
        int64_t start = change_instant(&r->start, yy, r->std_off);
        int64_t end = change_instant(&r->end, yy, r->dst_off);

        if (start > rest && start < next) {
            next = start;
        }
        if (end > rest && end < next) {
            next = end;
        }
    }
    /* next - rest is positive and under two cycles; only the sum can overflow. */
    if (next == INT64_MAX || t > INT64_MAX - (next - rest)) {
        return INT64_MAX;
    }
    return t + (next - rest);
}

/* ---- parsing the POSIX TZ string ---- */

struct cursor {
    const char *p;
    const char *end;
};

static int peek(const struct cursor *c)
{
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

static bool eat(struct cursor *c, char ch)
{
    if (peek(c) != (unsigned char)ch) {
        return false;
    }
    c->p++;
    return true;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* 1..max_digits decimal digits with a value <= max. */
static bool parse_uint(struct cursor *c, int max_digits, int max, int *out)
{
    int n = 0, digits = 0;

    while (digits < max_digits && is_digit(peek(c))) {
        n = n * 10 + (*c->p++ - '0');
        digits++;
    }
    if (digits == 0 || n > max || is_digit(peek(c))) {
        return false;
    }
    *out = n;
    return true;
}

/* A designation: three or more letters, or <three or more of [A-Za-z0-9+-]>. */
static bool parse_name(struct cursor *c)
{
    const char *start;

    if (eat(c, '<')) {
        start = c->p;
        while (is_alpha(peek(c)) || is_digit(peek(c)) || peek(c) == '+' || peek(c) == '-') {
            c->p++;
        }
        return c->p - start >= 3 && eat(c, '>');
    }
    start = c->p;
    while (is_alpha(peek(c))) {
        c->p++;
    }
    return c->p - start >= 3;
}

/* [+-]hh[:mm[:ss]], hh up to 167; the value as written (POSIX offsets are west). */
static bool parse_hms(struct cursor *c, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;

    if (eat(c, '-')) {
        sign = -1;
    } else {
        eat(c, '+');
    }
    if (!parse_uint(c, 3, RULE_HOURS_MAX, &h)) {
        return false;
    }
    if (eat(c, ':')) {
        if (!parse_uint(c, 2, 59, &m)) {
            return false;
        }
        if (eat(c, ':') && !parse_uint(c, 2, 59, &s)) {
            return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

/* std or dst offset: the string counts west, pipit east; within a day. */
static bool parse_offset(struct cursor *c, int32_t *east)
{
    int32_t west;

    if (!parse_hms(c, &west) || west <= -OFFSET_LIMIT || west >= OFFSET_LIMIT) {
        return false;
    }
    *east = -west;
    return true;
}

/* Jn, n or Mm.w.d, then an optional /time (default 02:00). */
static bool parse_change(struct cursor *c, struct tz_change *ch)
{
    int day, week = 0, wday = 0;

    if (eat(c, 'J')) {
        ch->kind = 'J';
        if (!parse_uint(c, 3, 365, &day) || day == 0) {
            return false;
        }
    } else if (eat(c, 'M')) {
        ch->kind = 'M';
        if (!parse_uint(c, 2, 12, &day) || day == 0 || !eat(c, '.') ||
            !parse_uint(c, 1, 5, &week) || week == 0 || !eat(c, '.') ||
            !parse_uint(c, 1, 6, &wday)) {
            return false;
        }
    } else {
        ch->kind = 'n';
        if (!parse_uint(c, 3, 365, &day)) {
            return false;
        }
    }
    ch->day = (int16_t)day;
    ch->week = (int8_t)week;
    ch->wday = (int8_t)wday;
    ch->secs = 2 * 3600;
    return !eat(c, '/') || parse_hms(c, &ch->secs);
}

/* Parses a footer; a DST zone without dates gets the US rules, as glibc and tzcode do. */
static bool parse_rule(const char *s, size_t len, struct tz_rule *r)
{
    struct cursor c = { s, s + len };
    struct tz_rule rule = { 0 };

    if (!parse_name(&c) || !parse_offset(&c, &rule.std_off)) {
        return false;
    }
    rule.dst_off = rule.std_off;
    if (c.p < c.end) {
        rule.has_dst = true;
        if (!parse_name(&c)) {
            return false;
        }
        if (is_digit(peek(&c)) || peek(&c) == '+' || peek(&c) == '-') {
            if (!parse_offset(&c, &rule.dst_off)) {
                return false;
            }
        } else if (rule.std_off + 3600 >= OFFSET_LIMIT) {
            return false;
        } else {
            rule.dst_off = rule.std_off + 3600;
        }
        if (c.p == c.end) {
            static const char us[] = ",M3.2.0,M11.1.0";

            c.p = us;
            c.end = us + sizeof(us) - 1;
        }
        if (!eat(&c, ',') || !parse_change(&c, &rule.start) || !eat(&c, ',') ||
            !parse_change(&c, &rule.end)) {
            return false;
        }
    }
    if (c.p != c.end) {
        return false;
    }
    *r = rule;
    return true;
}

/* ---- parsing TZif (RFC 8536 §3) ---- */

struct tzif_header {
    uint8_t version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Reads the 44-byte header at p; NULL, or why not. */
static const char *read_header(const uint8_t *p, size_t len, struct tzif_header *h)
{
    if (len < HEADER_SIZE) {
        return "truncated TZif header";
    }
    if (memcmp(p, "TZif", 4) != 0) {
        return "not a TZif file";
    }
    h->version = p[4];
    if (h->version == 0) {
        return "TZif version 1 only";
    }
    if (h->version < '2' || h->version > '4') {
        return "unknown TZif version";
    }
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return NULL;
}

/* Size of the data block after a header: time_size is 4 (version 1) or 8. */
static uint64_t block_size(const struct tzif_header *h, uint64_t time_size)
{
    return h->timecnt * (time_size + 1) + h->typecnt * (uint64_t)6 + h->charcnt +
           h->leapcnt * (time_size + 4) + h->isstdcnt + (uint64_t)h->isutcnt;
}

static const char *check_counts(const struct tzif_header *h)
{
    if (h->timecnt > MAX_TIMES) {
        return "too many transitions";
    }
    if (h->typecnt == 0 || h->typecnt > MAX_TYPES) {
        return "bad time type count";
    }
    if (h->charcnt == 0 || h->charcnt > MAX_CHARS) {
        return "bad designation count";
    }
    if (h->leapcnt > MAX_LEAPS) {
        return "too many leap seconds";
    }
    if ((h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt)) {
        return "bad indicator count";
    }
    return NULL;
}

/* Where the parts of the 64-bit data block start. */
struct tzif_block {
    const uint8_t *times, *idx, *types, *isstd, *isut;
};

/* Checks the time types (utoff, isdst, desigidx) and the indicators. */
static const char *check_types(const struct tzif_header *h, const struct tzif_block *b)
{
    for (uint32_t i = 0; i < h->typecnt; i++) {
        const uint8_t *t = b->types + 6 * (size_t)i;
        int32_t utoff = (int32_t)be32(t);

        if (utoff <= -OFFSET_LIMIT || utoff >= OFFSET_LIMIT) {
            return "UTC offset of a day or more";
        }
        if (t[4] > 1 || t[5] >= h->charcnt) {
            return "bad time type";
        }
    }
    for (uint32_t i = 0; i < h->isstdcnt; i++) {
        if (b->isstd[i] > 1) {
            return "bad standard/wall indicator";
        }
    }
    for (uint32_t i = 0; i < h->isutcnt; i++) {
        if (b->isut[i] > 1 || (b->isut[i] == 1 && h->isstdcnt != 0 && b->isstd[i] == 0)) {
            return "bad UT/local indicator";
        }
    }
    return NULL;
}

static const char *check_transitions(const struct tzif_header *h, const struct tzif_block *b)
{
    for (uint32_t i = 0; i < h->timecnt; i++) {
        if (b->idx[i] >= h->typecnt) {
            return "transition to an unknown time type";
        }
        if (i > 0 && be64(b->times + 8 * (size_t)i) <= be64(b->times + 8 * (size_t)(i - 1))) {
            return "transitions out of order";
        }
    }
    return NULL;
}

static struct tz *tz_build(const struct tzif_header *h, const struct tzif_block *b,
                           bool has_rule, const struct tz_rule *rule)
{
    size_t n = h->timecnt;
    struct tz *tz = xmalloc(sizeof(*tz) + n * sizeof(int64_t) + n * sizeof(int32_t));

    tz->count = h->timecnt;
    tz->first_off = (int32_t)be32(b->types);
    tz->has_rule = has_rule;
    tz->rule = *rule;
    tz->offs = (int32_t *)(tz->times + n);
    for (size_t i = 0; i < n; i++) {
        tz->times[i] = be64(b->times + 8 * i);
        tz->offs[i] = (int32_t)be32(b->types + 6 * (size_t)b->idx[i]);
    }
    return tz;
}

/* Finds the footer "\n<TZ string>\n" at p; NULL, or why not. */
static const char *read_footer(const uint8_t *p, size_t left, struct tz_rule *rule,
                               bool *has_rule)
{
    const uint8_t *nl;

    if (left < 2 || p[0] != '\n') {
        return "missing footer";
    }
    nl = memchr(p + 1, '\n', left - 1);
    if (nl == NULL) {
        return "unterminated footer";
    }
    if (nl - (p + 1) > MAX_FOOTER) {
        return "footer too long";
    }
    *has_rule = nl > p + 1;
    if (*has_rule && !parse_rule((const char *)p + 1, (size_t)(nl - (p + 1)), rule)) {
        return "bad TZ string in footer";
    }
    return NULL;
}

/* Everything but the allocation; on success fills *h, *b and the footer. */
static const char *tzif_check(const uint8_t *data, size_t len, struct tzif_header *h,
                              struct tzif_block *b, struct tz_rule *rule, bool *has_rule)
{
    struct tzif_header v1;
    const char *why;
    uint64_t skip, size;
    const uint8_t *p;

    if ((why = read_header(data, len, &v1)) != NULL) {
        return why;
    }
    /* The version 1 block (32-bit times) only matters to version 1 readers: skip it. */
    skip = HEADER_SIZE + block_size(&v1, 4);
    if (skip > len) {
        return "truncated version 1 data";
    }
    if ((why = read_header(data + skip, len - skip, h)) != NULL ||
        (why = check_counts(h)) != NULL) {
        return why;
    }
    p = data + skip + HEADER_SIZE;
    size = block_size(h, 8);
    if (size > (uint64_t)(data + len - p)) {
        return "truncated data block";
    }
    b->times = p;
    b->idx = b->times + 8 * (size_t)h->timecnt;
    b->types = b->idx + h->timecnt;
    /* Designations and leap seconds are not needed: pipit keeps only offsets. */
    b->isstd = b->types + 6 * (size_t)h->typecnt + h->charcnt + 12 * (size_t)h->leapcnt;
    b->isut = b->isstd + h->isstdcnt;
    if ((why = check_types(h, b)) != NULL || (why = check_transitions(h, b)) != NULL) {
        return why;
    }
    p += size;
    return read_footer(p, (size_t)(data + len - p), rule, has_rule);
}

int tz_parse(const uint8_t *data, size_t len, struct tz **out, const char **why)
{
    struct tzif_header h;
    struct tzif_block b;
    struct tz_rule rule = { 0 };
    bool has_rule = false;
    const char *err = data == NULL ? "no data" : tzif_check(data, len, &h, &b, &rule, &has_rule);

    if (err != NULL) {
        if (why != NULL) {
            *why = err;
        }
        return PIPIT_EBAD_REQUEST;
    }
    *out = tz_build(&h, &b, has_rule, &rule);
    return 0;
}

void tz_free(struct tz *tz)
{
    free(tz);
}

/* ---- queries ---- */

/* Index of the last transition at or before t; the caller checks times[0] <= t. */
static uint32_t last_at_or_before(const struct tz *tz, int64_t t)
{
    uint32_t lo = 0, hi = tz->count - 1;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;

        if (tz->times[mid] <= t) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

int32_t tz_offset(const struct tz *tz, int64_t utc_s)
{
    if (tz->count == 0) {
        return tz->has_rule ? rule_offset(&tz->rule, utc_s) : tz->first_off;
    }
    if (utc_s < tz->times[0]) {
        return tz->first_off;
    }
    if (tz->has_rule && utc_s >= tz->times[tz->count - 1]) {
        return rule_offset(&tz->rule, utc_s);
    }
    return tz->offs[last_at_or_before(tz, utc_s)];
}

/* The first instant after t at which the offset may change, or INT64_MAX. */
static int64_t next_change(const struct tz *tz, int64_t t)
{
    if (tz->count > 0 && t < tz->times[0]) {
        return tz->times[0];
    }
    if (tz->count > 0 && t < tz->times[tz->count - 1]) {
        return tz->times[last_at_or_before(tz, t) + 1];
    }
    return tz->has_rule ? rule_next_change(&tz->rule, t) : INT64_MAX;
}

int tz_local_minute(const struct tz *tz, int64_t utc_s)
{
    int64_t secs = floor_mod(floor_mod(utc_s, SECS_PER_DAY) + tz_offset(tz, utc_s), SECS_PER_DAY);

    return (int)(secs / 60);
}

/* Whether the wall clock, jumping at `at` from off to next_off, skips `target` (a second
 * of the local day). */
static bool gap_skips(int64_t target, int64_t at, int32_t off, int32_t next_off)
{
    return next_off > off &&
           floor_mod(target - floor_mod(at + off, SECS_PER_DAY), SECS_PER_DAY) < next_off - off;
}

int64_t tz_next_local(const struct tz *tz, int64_t from_utc_s, int minute_of_day)
{
    int64_t target = floor_mod(minute_of_day, 1440) * 60; /* second of the local day */
    int64_t at = from_utc_s;
    int32_t off;

    if (from_utc_s > NEXT_LOCAL_LIMIT || from_utc_s < -NEXT_LOCAL_LIMIT) {
        return from_utc_s;
    }
    off = tz_offset(tz, at);
    /* A jump at from itself: a target it skipped is served right now. */
    if (gap_skips(target, at, tz_offset(tz, at - 1), off)) {
        return at;
    }
    /* Each turn crosses one change; 3 days hold at most the file's transitions and a few
     * rule changes. */
    for (uint64_t turn = 0; turn < (uint64_t)tz->count + 8; turn++) {
        int64_t change = next_change(tz, at);
        int64_t hit = at + floor_mod(target - floor_mod(at + off, SECS_PER_DAY), SECS_PER_DAY);
        int32_t next_off;

        if (hit < change) {
            return hit;
        }
        /* The clock jumps from change + off to change + next_off; a target in between is
         * skipped and served at the first instant after the gap. */
        next_off = tz_offset(tz, change);
        if (gap_skips(target, change, off, next_off)) {
            return change;
        }
        at = change;
        off = next_off;
    }
    return from_utc_s; /* unreachable for offsets within a day (see the design note) */
}

/* ---- loading files ---- */

bool tz_name_ok(const char *name)
{
    size_t len;

    if (name == NULL) {
        return false;
    }
    len = strnlen(name, TZ_NAME_MAX + 1);
    if (len == 0 || len > TZ_NAME_MAX || name[len - 1] == '/') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)name[i];
        bool alnum = is_alpha(c) || is_digit(c);

        /* A part starts with a letter or digit: no leading '/', "//", "-x", "..". */
        if ((i == 0 || name[i - 1] == '/') && !alnum) {
            return false;
        }
        if (!alnum && c != '_' && c != '+' && c != '-' && c != '/') {
            return false;
        }
    }
    return true;
}

static pthread_once_t zone_dir_once = PTHREAD_ONCE_INIT;
static const char *zone_dir = TZ_DEFAULT_DIR;

static void zone_dir_read(void)
{
    const char *env = getenv("PIPIT_ZONEINFO");

    if (env != NULL && env[0] != '\0') {
        zone_dir = xstrdup(env);
    }
}

/* Reads a whole regular file of at most MAX_FILE bytes into *data (caller frees). */
static int read_zone_file(const char *path, uint8_t **data, size_t *len)
{
    /* O_NONBLOCK: a FIFO planted in the zone directory must not hang the caller. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    size_t size, got = 0;
    uint8_t *buf;
    int rc = 0;

    if (fd < 0) {
        return errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == ENAMETOOLONG
                   ? PIPIT_ENOT_FOUND
                   : PIPIT_EIO;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return PIPIT_EIO;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
        close(fd);
        return PIPIT_ENOT_FOUND;
    }
    size = (size_t)st.st_size;
    buf = xmalloc(size + 1);
    for (int tries = 0; got < size && tries < 64; tries++) {
        ssize_t n = read(fd, buf + got, size - got);

        if (n == 0 || (n < 0 && errno != EINTR)) {
            break;
        }
        got += n > 0 ? (size_t)n : 0;
    }
    close(fd);
    if (got != size) {
        rc = PIPIT_EIO;
        free(buf);
    } else {
        *data = buf;
        *len = size;
    }
    return rc;
}

int tz_load(const char *name, struct tz **out)
{
    char path[4096];
    uint8_t *data;
    size_t len;
    int rc, n;

    if (!tz_name_ok(name)) {
        return PIPIT_EBAD_REQUEST;
    }
    pthread_once(&zone_dir_once, zone_dir_read);
    n = snprintf(path, sizeof(path), "%s/%s", zone_dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return PIPIT_ENOT_FOUND;
    }
    rc = read_zone_file(path, &data, &len);
    if (rc != 0) {
        return rc;
    }
    /* A readable file that is not TZif (zoneinfo also holds "leapseconds") is no zone. */
    rc = tz_parse(data, len, out, NULL) == 0 ? 0 : PIPIT_ENOT_FOUND;
    free(data);
    return rc;
}

/* ---- the process-wide cache ---- */

struct cache_slot {
    char *name;         /* NULL: empty */
    struct tz *tz;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_slot cache_slots[CACHE_SLOTS];
static size_t cache_len;

/* The slot holding name, or the empty slot where it belongs; under cache_lock. */
static struct cache_slot *cache_find(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    size_t i;

    for (const char *p = name; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    }
    i = (size_t)h & (CACHE_SLOTS - 1);
    /* At most half full, so an empty slot ends every probe. */
    for (size_t probes = 0; probes < CACHE_SLOTS; probes++, i = (i + 1) & (CACHE_SLOTS - 1)) {
        if (cache_slots[i].name == NULL || strcmp(cache_slots[i].name, name) == 0) {
            return &cache_slots[i];
        }
    }
    return NULL;
}

int tz_get(const char *name, const struct tz **out)
{
    struct cache_slot *slot;
    struct tz *loaded, *spare = NULL;
    const struct tz *found = NULL;
    int rc;

    if (!tz_name_ok(name)) {
        return PIPIT_EBAD_REQUEST;
    }
    pthread_mutex_lock(&cache_lock);
    found = cache_find(name)->tz;
    pthread_mutex_unlock(&cache_lock);
    if (found != NULL) {
        *out = found;
        return 0;
    }
    /* Load outside the lock, so a slow disk stalls only this caller. */
    rc = tz_load(name, &loaded);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&cache_lock);
    slot = cache_find(name);
    if (slot->tz != NULL) {
        spare = loaded; /* another thread got there first */
        found = slot->tz;
    } else if (cache_len >= TZ_CACHE_MAX) {
        spare = loaded;
        rc = PIPIT_EUNAVAILABLE;
    } else {
        slot->name = xstrdup(name);
        slot->tz = loaded;
        cache_len++;
        found = loaded;
    }
    pthread_mutex_unlock(&cache_lock);
    tz_free(spare);
    if (rc == 0) {
        *out = found;
    }
    return rc;
}
