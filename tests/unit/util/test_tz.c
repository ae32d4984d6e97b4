/*
 * test_tz.c: time zones (util/tz.h) against the real /usr/share/zoneinfo (tzdata).
 *
 * The strongest checks are differential: glibc's localtime_r, with TZ set, reads the
 * same files with code we did not write, so every zone and every footer rule is compared
 * with it at random instants and at each transition. The test is single-threaded except
 * for the cache test, so setting TZ is safe here (and nowhere else in pipit).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/tz.h"

#define DAY 86400
#define ZONEINFO "/usr/share/zoneinfo"
#define MAX_ZONES 2000

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64: reproducible and independent of rand(). */
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int64_t rng_between(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo));
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };

    return (int64_t)timegm(&tm);
}

static int64_t mod(int64_t a, int64_t b)
{
    int64_t r = a % b;

    return r < 0 ? r + b : r;
}

static struct tz *load(const char *name)
{
    struct tz *tz = NULL;

    assert_int_equal(tz_load(name, &tz), 0);
    return tz;
}

/* glibc's answer; TZ is either ":Zone/Name" or a POSIX TZ string. */
static void glibc_use(const char *tzenv)
{
    setenv("TZ", tzenv, 1);
    tzset();
}

static long glibc_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    assert_non_null(localtime_r(&tt, &tm));
    return tm.tm_gmtoff;
}

/* The invariants every answer of tz_next_local keeps: it is at or after from, less than
 * 3 days later, and reads minute:00 on the wall clock unless a forward jump skipped it. */
static void check_next_local(const struct tz *tz, int64_t from, int minute)
{
    int64_t r = tz_next_local(tz, from, minute);

    assert_true(r >= from);
    assert_true(r < from + 3 * DAY);
    if (tz_local_minute(tz, r) == minute && mod(r + tz_offset(tz, r), 60) == 0) {
        return;
    }
    assert_true(tz_offset(tz, r - 1) < tz_offset(tz, r));
}

/* A TZif v2 image: a minimal version 1 block, then the 64-bit block and the footer. */
struct image {
    uint8_t b[8192];
    size_t len;
};

static void put(struct image *im, const void *p, size_t n)
{
    assert_true(im->len + n <= sizeof(im->b));
    if (n == 0) {
        return; /* p may be NULL */
    }
    memcpy(im->b + im->len, p, n);
    im->len += n;
}

static void put32(struct image *im, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

    put(im, b, 4);
}

static void put64(struct image *im, int64_t v)
{
    put32(im, (uint32_t)((uint64_t)v >> 32));
    put32(im, (uint32_t)v);
}

static void put_header(struct image *im, char version, uint32_t timecnt, uint32_t typecnt)
{
    static const uint8_t unused[15];

    put(im, "TZif", 4);
    put(im, &version, 1);
    put(im, unused, sizeof(unused));
    put32(im, 0);       /* isutcnt */
    put32(im, 0);       /* isstdcnt */
    put32(im, 0);       /* leapcnt */
    put32(im, timecnt);
    put32(im, typecnt);
    put32(im, 1);       /* charcnt: one empty designation */
}

static void build(struct image *im, char version, const int64_t *times, const uint8_t *idx,
                  uint32_t timecnt, const int32_t *offs, uint32_t typecnt, const char *footer)
{
    static const uint8_t v1_block[7];   /* one type (utoff 0) and one NUL */

    im->len = 0;
    put_header(im, version, 0, 1);
    put(im, v1_block, sizeof(v1_block));
    put_header(im, version, timecnt, typecnt);
    for (uint32_t i = 0; i < timecnt; i++) {
        put64(im, times[i]);
    }
    put(im, idx, timecnt);
    for (uint32_t i = 0; i < typecnt; i++) {
        uint8_t flags[2] = { 0, 0 };

        put32(im, (uint32_t)offs[i]);
        put(im, flags, 2);
    }
    put(im, "", 1);
    put(im, "\n", 1);
    put(im, footer, strlen(footer));
    put(im, "\n", 1);
}

/* A zone made of a footer alone. */
static int parse_footer(const char *footer, struct tz **out)
{
    static const int32_t off0[1] = { 0 };
    struct image im;
    const char *why = NULL;

    build(&im, '2', NULL, NULL, 0, off0, 1, footer);
    return tz_parse(im.b, im.len, out, &why);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(1 << 20);

    assert_non_null(f);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* Every TZif file of the main tree (no symlinks, no right/ or posix/), by name. */
static char *zone_names[MAX_ZONES];
static size_t zone_count;

static int collect_zone(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    const char *name = path + strlen(ZONEINFO) + 1;
    char magic[4] = { 0 };
    FILE *f;

    (void)st;
    (void)ftw;
    if (type != FTW_F || strncmp(name, "right/", 6) == 0 || zone_count == MAX_ZONES) {
        return 0;
    }
    f = fopen(path, "rb");
    if (f != NULL && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0) {
        zone_names[zone_count++] = strdup(name);
    }
    if (f != NULL) {
        fclose(f);
    }
    return 0;
}

static void collect_zones(void)
{
    if (zone_count == 0) {
        assert_int_equal(nftw(ZONEINFO, collect_zone, 16, FTW_PHYS), 0);
    }
    assert_true(zone_count > 300);
}

/* ---- tests ---- */

/* Runs first, in a child, before anything reads $PIPIT_ZONEINFO in this process. */
static void test_zoneinfo_env(void **state)
{
    char dir[] = "/tmp/pipit-tz-XXXXXX";
    char path[256];
    static const int32_t off[1] = { 5400 };
    struct image im;
    pid_t pid;
    int status;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/Test", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/Test/Zone", dir);
    build(&im, '2', NULL, NULL, 0, off, 1, "<+0130>-1:30");
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(im.b, 1, im.len, f), im.len);
    fclose(f);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tz *tz = NULL;
        int ok;

        setenv("PIPIT_ZONEINFO", dir, 1);
        ok = tz_load("Test/Zone", &tz) == 0 && tz_offset(tz, 0) == 5400 &&
             tz_load("America/New_York", &tz) == PIPIT_ENOT_FOUND;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    unlink(path);
    snprintf(path, sizeof(path), "%s/Test", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_fixed_offsets(void **state)
{
    struct tz *utc_zone = load("UTC");
    struct tz *shanghai = load("Asia/Shanghai");
    struct tz *kolkata = load("Asia/Kolkata");
    struct tz *gmt5 = load("Etc/GMT+5");
    int64_t instants[] = { utc(2026, 1, 15, 12, 0, 0), utc(2026, 7, 1, 0, 0, 0),
                           utc(2100, 6, 1, 0, 0, 0), utc(2100, 12, 1, 0, 0, 0) };

    for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
        assert_int_equal(tz_offset(utc_zone, instants[i]), 0);
        assert_int_equal(tz_offset(shanghai, instants[i]), 8 * 3600);
        assert_int_equal(tz_offset(kolkata, instants[i]), 5 * 3600 + 1800);
        assert_int_equal(tz_offset(gmt5, instants[i]), -5 * 3600); /* POSIX sign: west */
    }
    assert_int_equal(tz_offset(utc_zone, INT64_MIN), 0);
    assert_int_equal(tz_offset(utc_zone, INT64_MAX), 0);
    /* China kept DST from 1986 to 1991. */
    assert_int_equal(tz_offset(shanghai, utc(1990, 7, 1, 0, 0, 0)), 9 * 3600);
    assert_int_equal(tz_local_minute(kolkata, utc(2026, 1, 1, 0, 0, 0)), 5 * 60 + 30);
    assert_int_equal(tz_local_minute(kolkata, utc(2026, 1, 1, 18, 29, 59)), 23 * 60 + 59);
    assert_int_equal(tz_local_minute(kolkata, utc(2026, 1, 1, 18, 30, 0)), 0);
    assert_int_equal(tz_local_minute(utc_zone, -1), 1439);
    tz_free(utc_zone);
    tz_free(shanghai);
    tz_free(kolkata);
    tz_free(gmt5);
}

/* 2026-03-08 02:00 EST → 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT → 01:00 EST (06:00Z). */
static void test_new_york(void **state)
{
    struct tz *ny = load("America/New_York");
    int64_t spring = utc(2026, 3, 8, 7, 0, 0), fall = utc(2026, 11, 1, 6, 0, 0);

    assert_int_equal(tz_offset(ny, utc(2026, 1, 15, 12, 0, 0)), -5 * 3600);
    assert_int_equal(tz_offset(ny, spring - 1), -5 * 3600);
    assert_int_equal(tz_offset(ny, spring), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc(2026, 7, 1, 0, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset(ny, fall - 1), -4 * 3600);
    assert_int_equal(tz_offset(ny, fall), -5 * 3600);
    assert_int_equal(tz_local_minute(ny, spring - 1), 1 * 60 + 59);
    assert_int_equal(tz_local_minute(ny, spring), 3 * 60);
    assert_int_equal(tz_local_minute(ny, fall - 1), 1 * 60 + 59);
    assert_int_equal(tz_local_minute(ny, fall), 1 * 60);
    /* 2100: far past the last transition (2037), only the footer rule knows. 2100-03-14
     * and 2100-11-07 are the second Sunday of March and the first of November. */
    assert_int_equal(tz_offset(ny, utc(2100, 1, 1, 0, 0, 0)), -5 * 3600);
    assert_int_equal(tz_offset(ny, utc(2100, 7, 1, 0, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc(2100, 3, 14, 6, 59, 59)), -5 * 3600);
    assert_int_equal(tz_offset(ny, utc(2100, 3, 14, 7, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc(2100, 11, 7, 5, 59, 59)), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc(2100, 11, 7, 6, 0, 0)), -5 * 3600);
    /* Before the first transition (1883): local mean time, -4:56:02. */
    assert_int_equal(tz_offset(ny, utc(1800, 1, 1, 0, 0, 0)), -(4 * 3600 + 56 * 60 + 2));
    assert_int_equal(tz_offset(ny, INT64_MIN), -(4 * 3600 + 56 * 60 + 2));
    assert_int_equal(tz_offset(ny, INT64_MAX), tz_offset(ny, INT64_MAX - 1));
    tz_free(ny);
}

static void test_london_and_lord_howe(void **state)
{
    struct tz *london = load("Europe/London");
    struct tz *howe = load("Australia/Lord_Howe");

    /* BST: 2026-03-29 01:00Z to 2026-10-25 01:00Z. */
    assert_int_equal(tz_offset(london, utc(2026, 3, 29, 0, 59, 59)), 0);
    assert_int_equal(tz_offset(london, utc(2026, 3, 29, 1, 0, 0)), 3600);
    assert_int_equal(tz_offset(london, utc(2026, 10, 25, 0, 59, 59)), 3600);
    assert_int_equal(tz_offset(london, utc(2026, 10, 25, 1, 0, 0)), 0);
    assert_int_equal(tz_offset(london, utc(2100, 7, 1, 0, 0, 0)), 3600);
    /* Lord Howe: +10:30, and +11 in the southern summer (a 30-minute DST). It starts
     * 2026-10-04 02:00 local (15:30Z the day before) and ends 2026-04-05 02:00 local. */
    assert_int_equal(tz_offset(howe, utc(2026, 1, 15, 0, 0, 0)), 11 * 3600);
    assert_int_equal(tz_offset(howe, utc(2026, 7, 1, 0, 0, 0)), 10 * 3600 + 1800);
    assert_int_equal(tz_offset(howe, utc(2026, 10, 3, 15, 29, 59)), 10 * 3600 + 1800);
    assert_int_equal(tz_offset(howe, utc(2026, 10, 3, 15, 30, 0)), 11 * 3600);
    assert_int_equal(tz_offset(howe, utc(2026, 4, 4, 14, 59, 59)), 11 * 3600);
    assert_int_equal(tz_offset(howe, utc(2026, 4, 4, 15, 0, 0)), 10 * 3600 + 1800);
    assert_int_equal(tz_offset(howe, utc(2100, 1, 1, 0, 0, 0)), 11 * 3600);
    assert_int_equal(tz_offset(howe, utc(2100, 7, 1, 0, 0, 0)), 10 * 3600 + 1800);
    tz_free(london);
    tz_free(howe);
}

static void test_next_local_new_york(void **state)
{
    struct tz *ny = load("America/New_York");
    int64_t spring_midnight = utc(2026, 3, 8, 5, 0, 0);  /* 00:00 EST */
    int64_t fall_midnight = utc(2026, 11, 1, 4, 0, 0);   /* 00:00 EDT */

    /* Spring forward: 02:00-02:59 do not exist; they become 03:00 EDT (07:00Z). */
    assert_int_equal(tz_next_local(ny, spring_midnight, 1 * 60 + 30), utc(2026, 3, 8, 6, 30, 0));
    assert_int_equal(tz_next_local(ny, spring_midnight, 2 * 60), utc(2026, 3, 8, 7, 0, 0));
    assert_int_equal(tz_next_local(ny, spring_midnight, 2 * 60 + 30), utc(2026, 3, 8, 7, 0, 0));
    assert_int_equal(tz_next_local(ny, spring_midnight, 2 * 60 + 59), utc(2026, 3, 8, 7, 0, 0));
    assert_int_equal(tz_next_local(ny, spring_midnight, 3 * 60), utc(2026, 3, 8, 7, 0, 0));
    assert_int_equal(tz_next_local(ny, spring_midnight, 4 * 60), utc(2026, 3, 8, 8, 0, 0));
    /* Asked at the jump itself, a skipped time is due at once. */
    assert_int_equal(tz_next_local(ny, utc(2026, 3, 8, 7, 0, 0), 2 * 60 + 30),
                     utc(2026, 3, 8, 7, 0, 0));
    /* After the jump, 02:30 is next due on March 9 (EDT). */
    assert_int_equal(tz_next_local(ny, utc(2026, 3, 8, 7, 0, 1), 2 * 60 + 30),
                     utc(2026, 3, 9, 6, 30, 0));
    /* Fall back: 01:00-01:59 happen twice; the first (EDT) wins. */
    assert_int_equal(tz_next_local(ny, fall_midnight, 1 * 60 + 30), utc(2026, 11, 1, 5, 30, 0));
    assert_int_equal(tz_next_local(ny, fall_midnight, 1 * 60), utc(2026, 11, 1, 5, 0, 0));
    /* ... unless the first one is already past: then the second, in EST. */
    assert_int_equal(tz_next_local(ny, utc(2026, 11, 1, 5, 45, 0), 1 * 60 + 30),
                     utc(2026, 11, 1, 6, 30, 0));
    assert_int_equal(tz_next_local(ny, fall_midnight, 2 * 60), utc(2026, 11, 1, 7, 0, 0));
    assert_int_equal(tz_next_local(ny, fall_midnight, 12 * 60), utc(2026, 11, 1, 17, 0, 0));
    /* Midnight wrap: at 23:30 EDT, the next 00:00 is tomorrow's. */
    assert_int_equal(tz_next_local(ny, utc(2026, 7, 1, 3, 30, 0), 0), utc(2026, 7, 1, 4, 0, 0));
    assert_int_equal(tz_next_local(ny, utc(2026, 7, 1, 4, 0, 0), 1439),
                     utc(2026, 7, 2, 3, 59, 0));
    /* The same days 80 years on, under the footer rule (2106-03-14, 2106-11-07). */
    assert_int_equal(tz_next_local(ny, utc(2106, 3, 14, 5, 0, 0), 2 * 60 + 30),
                     utc(2106, 3, 14, 7, 0, 0));
    assert_int_equal(tz_next_local(ny, utc(2106, 11, 7, 4, 0, 0), 1 * 60 + 30),
                     utc(2106, 11, 7, 5, 30, 0));
    tz_free(ny);
}

static void test_next_local_shanghai_and_lord_howe(void **state)
{
    struct tz *sh = load("Asia/Shanghai");
    struct tz *howe = load("Australia/Lord_Howe");
    int64_t eight = utc(2026, 5, 1, 0, 0, 0); /* 08:00 in Shanghai */

    assert_int_equal(tz_next_local(sh, eight, 8 * 60), eight);
    assert_int_equal(tz_next_local(sh, eight + 1, 8 * 60), eight + DAY);
    assert_int_equal(tz_next_local(sh, eight, 8 * 60 + 1), eight + 60);
    assert_int_equal(tz_next_local(sh, eight, 7 * 60), utc(2026, 5, 1, 23, 0, 0));
    assert_int_equal(tz_next_local(sh, eight, 0), utc(2026, 5, 1, 16, 0, 0));
    assert_int_equal(tz_next_local(sh, eight, 1439), utc(2026, 5, 1, 15, 59, 0));
    /* Out-of-range minutes are taken modulo a day. */
    assert_int_equal(tz_next_local(sh, eight, 8 * 60 + 1440), eight);
    assert_int_equal(tz_next_local(sh, eight, -1), utc(2026, 5, 1, 15, 59, 0));
    /* Lord Howe jumps 02:00 → 02:30 on 2026-10-04 (15:30Z the day before). */
    assert_int_equal(tz_next_local(howe, utc(2026, 10, 3, 13, 30, 0), 2 * 60 + 15),
                     utc(2026, 10, 3, 15, 30, 0));
    assert_int_equal(tz_next_local(howe, utc(2026, 10, 3, 13, 30, 0), 2 * 60 + 30),
                     utc(2026, 10, 3, 15, 30, 0));
    assert_int_equal(tz_next_local(howe, utc(2026, 10, 3, 13, 30, 0), 2 * 60 + 31),
                     utc(2026, 10, 3, 15, 31, 0));
    /* Beyond ±2^62 s no calendar applies: the instant comes back unchanged. */
    assert_int_equal(tz_next_local(sh, INT64_MAX, 0), INT64_MAX);
    assert_int_equal(tz_next_local(sh, INT64_MIN, 0), INT64_MIN);
    tz_free(sh);
    tz_free(howe);
}

/* The first instant >= from whose wall clock reads target, or that a jump lands on after
 * skipping it, found by walking minute by minute (the zones here move in whole minutes). */
static int64_t next_local_brute(const struct tz *tz, int64_t from, int minute)
{
    int64_t target = minute * 60;

    for (int64_t s = from + mod(-from, 60); s < from + 4 * DAY; s += 60) {
        int32_t before = tz_offset(tz, s - 1), now = tz_offset(tz, s);

        if (mod(s + now, DAY) == target ||
            (now > before && mod(target - mod(s + before, DAY), DAY) < now - before)) {
            return s;
        }
    }
    fail_msg("no answer within 4 days");
    return 0;
}

/* Instants where the offset changes in [from, to), bisected from a 6-hour scan. */
static size_t find_changes(const struct tz *tz, int64_t from, int64_t to, int64_t *out, size_t cap)
{
    size_t n = 0;

    for (int64_t t = from; t < to && n < cap; t += 6 * 3600) {
        int64_t lo = t, hi = t + 6 * 3600;

        if (tz_offset(tz, lo) == tz_offset(tz, hi)) {
            continue;
        }
        while (hi - lo > 1) { /* offset(lo) != offset(hi): at most 15 halvings */
            int64_t mid = lo + (hi - lo) / 2;

            if (tz_offset(tz, mid) == tz_offset(tz, lo)) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        out[n++] = hi;
    }
    return n;
}

static void test_next_local_brute_force(void **state)
{
    static const char *const zones[] = {
        "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham",
        "America/Nuuk", "Europe/Dublin", "America/Santiago", "Asia/Gaza", "Antarctica/Troll",
    };
    static const int years[] = { 2026, 2093 };

    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        struct tz *tz = load(zones[z]);

        for (size_t y = 0; y < sizeof(years) / sizeof(years[0]); y++) {
            int64_t changes[16];
            size_t n = find_changes(tz, utc(years[y], 1, 1, 0, 0, 0),
                                    utc(years[y] + 1, 1, 1, 0, 0, 0), changes, 16);

            assert_true(n >= 2);
            for (size_t c = 0; c < n; c++) {
                int local = tz_local_minute(tz, changes[c] - 1);

                for (int q = 0; q < 12; q++) {
                    int64_t from = changes[c] + rng_between(-2 * DAY, DAY);
                    /* Half the targets sit near the change's own wall time. */
                    int minute = q % 2 ? (int)rng_between(0, 1440)
                                       : (int)mod(local + rng_between(-90, 91), 1440);

                    assert_int_equal(tz_next_local(tz, from, minute),
                                     next_local_brute(tz, from, minute));
                    check_next_local(tz, from, minute);
                }
            }
        }
        tz_free(tz);
    }
}

/* Compares one of our zones with glibc's reading of the same name. */
static void compare_with_glibc(const char *name, int random_instants, bool at_changes)
{
    char tzenv[128];
    struct tz *tz = load(name);
    int64_t lo = utc(1970, 1, 1, 0, 0, 0), hi = utc(2100, 1, 1, 0, 0, 0);

    snprintf(tzenv, sizeof(tzenv), ":%s", name);
    glibc_use(tzenv);
    for (int i = 0; i < random_instants; i++) {
        int64_t t = rng_between(lo, hi);

        if (tz_offset(tz, t) != glibc_offset(t)) {
            fail_msg("%s at %lld: ours %d, glibc %ld", name, (long long)t,
                     (int)tz_offset(tz, t), glibc_offset(t));
        }
    }
    for (int64_t year = 1970; at_changes && year < 2100; year++) {
        int64_t changes[16];
        size_t n = find_changes(tz, utc((int)year, 1, 1, 0, 0, 0),
                                utc((int)year + 1, 1, 1, 0, 0, 0), changes, 16);

        for (size_t c = 0; c < n; c++) {
            for (int64_t d = -1; d <= 0; d++) {
                int64_t t = changes[c] + d;

                if (tz_offset(tz, t) != glibc_offset(t)) {
                    fail_msg("%s at change %lld: ours %d, glibc %ld", name, (long long)t,
                             (int)tz_offset(tz, t), glibc_offset(t));
                }
            }
        }
    }
    tz_free(tz);
}

static void test_glibc_named_zones(void **state)
{
    static const char *const zones[] = {
        "America/New_York", "Europe/Berlin", "Europe/Dublin", "Australia/Lord_Howe",
        "Pacific/Chatham", "Asia/Kolkata", "America/Sao_Paulo", "Africa/Casablanca",
        "Antarctica/Troll", "America/Nuuk", "Asia/Shanghai", "Europe/London",
        "America/Santiago", "Asia/Gaza", "America/Havana", "Asia/Tehran",
    };

    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        compare_with_glibc(zones[i], 2000, true);
    }
    unsetenv("TZ");
    tzset();
}

/* Every zone in the installed tzdata loads, has a valid name, and agrees with glibc. */
static void test_glibc_every_zone(void **state)
{
    collect_zones();
    for (size_t i = 0; i < zone_count; i++) {
        if (!tz_name_ok(zone_names[i])) {
            fail_msg("valid zone refused by name: %s", zone_names[i]);
        }
        compare_with_glibc(zone_names[i], 300, false);
    }
    unsetenv("TZ");
    tzset();
}

/* Footer rules alone, against glibc reading the same POSIX TZ string. */
static void test_glibc_footer_rules(void **state)
{
    static const char *const rules[] = {
        "EST5EDT,M3.2.0,M11.1.0",            "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
        "IST-1GMT0,M10.5.0,M3.5.0/1",         "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "AEST-10AEDT,M10.1.0,M4.1.0/3",       "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
        "<+00>0<+02>-2,M3.5.0/1,M10.5.0/3",   "EET-2EEST,M3.4.4/50,M10.4.4/50",
        "<-04>4<-03>,M9.1.6/24,M4.1.6/24",    "EET-2EEST,M4.5.5/0,M10.5.4/24",
        "NST3:30NDT,M3.2.0,M11.1.0",          "XXX3YYY,J60/2,J300/2",
        "XXX3YYY,59/2,300/2:30:15",           "XXX-3YYY-2:15,J1/5,J365/20",
        "<+01>-1",                            "UTC0",
        "AAA+4BBB+3,M2.5.6/-100,M11.5.6/150", "ZZZ-13:59:59YYY-14,M1.2.0,M12.3.6",
    };
    int64_t lo = utc(1970, 1, 1, 0, 0, 0), hi = utc(2400, 1, 1, 0, 0, 0);

    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        struct tz *tz = NULL;

        if (parse_footer(rules[r], &tz) != 0) {
            fail_msg("footer refused: %s", rules[r]);
        }
        glibc_use(rules[r]);
        for (int i = 0; i < 3000; i++) {
            int64_t t = rng_between(lo, hi);

            if (tz_offset(tz, t) != glibc_offset(t)) {
                fail_msg("%s at %lld: ours %d, glibc %ld", rules[r], (long long)t,
                         (int)tz_offset(tz, t), glibc_offset(t));
            }
        }
        for (int year = 1971; year < 2399; year += 7) {
            int64_t changes[8];
            size_t n = find_changes(tz, utc(year, 1, 1, 0, 0, 0), utc(year + 1, 1, 1, 0, 0, 0),
                                    changes, 8);

            for (size_t c = 0; c < n; c++) {
                assert_int_equal(tz_offset(tz, changes[c] - 1), glibc_offset(changes[c] - 1));
                assert_int_equal(tz_offset(tz, changes[c]), glibc_offset(changes[c]));
            }
        }
        tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

/* Rules glibc reads differently or not at all, checked by hand. */
static void test_footer_special_rules(void **state)
{
    struct tz *tz = NULL;

    /* DST all year (RFC 8536 §3.3.1), even across New Year in UTC. */
    assert_int_equal(parse_footer("EST5EDT,0/0,J365/25", &tz), 0);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(tz_offset(tz, rng_between(-4000000000LL, 8000000000LL)), -4 * 3600);
    }
    assert_int_equal(tz_offset(tz, utc(2030, 1, 1, 0, 0, 0)), -4 * 3600);
    tz_free(tz);
    /* A change in the next UTC year: 1978-01-01 02:00 at +13:59:59 is 1977-12-31
     * 12:00:01Z (glibc, which works by UTC year, misses it until midnight UTC). */
    assert_int_equal(parse_footer("ZZZ-13:59:59YYY-14,M1.1.0,M12.5.6", &tz), 0);
    assert_int_equal(tz_offset(tz, utc(1977, 12, 31, 12, 0, 0)), 50399);
    assert_int_equal(tz_offset(tz, utc(1977, 12, 31, 12, 0, 1)), 50400);
    assert_int_equal(tz_offset(tz, utc(1977, 12, 30, 11, 59, 59)), 50400);
    assert_int_equal(tz_offset(tz, utc(1977, 12, 30, 12, 0, 0)), 50399);
    tz_free(tz);
    /* No dates: the US rules, DST one hour ahead. */
    assert_int_equal(parse_footer("EST5EDT", &tz), 0);
    assert_int_equal(tz_offset(tz, utc(2030, 3, 10, 6, 59, 59)), -5 * 3600);
    assert_int_equal(tz_offset(tz, utc(2030, 3, 10, 7, 0, 0)), -4 * 3600);
    assert_int_equal(tz_offset(tz, utc(2030, 11, 3, 6, 0, 0)), -5 * 3600);
    tz_free(tz);
    /* The rule holds for any year: 400 years repeat exactly. */
    assert_int_equal(parse_footer("CET-1CEST,M3.5.0,M10.5.0/3", &tz), 0);
    for (int i = 0; i < 1000; i++) {
        int64_t t = rng_between(utc(2000, 1, 1, 0, 0, 0), utc(2400, 1, 1, 0, 0, 0));
        int64_t cycles = rng_between(-1000000, 1000000);

        assert_int_equal(tz_offset(tz, t + cycles * 146097 * DAY), tz_offset(tz, t));
    }
    assert_int_equal(tz_offset(tz, utc(-5000, 7, 1, 0, 0, 0)), 7200);
    assert_int_equal(tz_offset(tz, utc(9999, 1, 1, 0, 0, 0)), 3600);
    /* The ends of int64 (found by fuzz_tz: the cycle arithmetic overflowed there). */
    for (int64_t d = 0; d < 3; d++) {
        assert_in_range(tz_offset(tz, INT64_MIN + d), 3600, 7200);
        assert_in_range(tz_offset(tz, INT64_MAX - d), 3600, 7200);
        assert_in_range(tz_local_minute(tz, INT64_MIN + d), 0, 1439);
        assert_in_range(tz_local_minute(tz, INT64_MAX - d), 0, 1439);
    }
    for (int i = 0; i < 2000; i++) {
        int64_t from = (int64_t)(rng() >> 1) * (i % 2 ? 1 : -1) / (i % 3 == 0 ? 1 : 1000000);

        if (from >= -((int64_t)1 << 62) && from <= (int64_t)1 << 62) {
            check_next_local(tz, from, (int)rng_between(0, 1440));
        }
    }
    check_next_local(tz, -1, 0);
    check_next_local(tz, (int64_t)1 << 62, 0);
    check_next_local(tz, -((int64_t)1 << 62), 1439);
    tz_free(tz);
    /* v3 times: the change at 167 h and -167 h still lands; next_local keeps its word. */
    assert_int_equal(parse_footer("AAA-5BBB,M3.1.0/167,M10.5.0/-167", &tz), 0);
    for (int i = 0; i < 2000; i++) {
        check_next_local(tz, rng_between(0, utc(2200, 1, 1, 0, 0, 0)), (int)rng_between(0, 1440));
    }
    tz_free(tz);
}

static void test_bad_footers(void **state)
{
    static const char *const bad[] = {
        "EST",                      "5",                       "EST5EDT,M13.1.0,M11.1.0",
        "<AB>5",                    "<ABC5",                   "EST5EDT,M3.2.0",
        "EST5EDT,M3.2.0,M11.1.0/168", "EST24",                 "EST-24",
        "EST5EDT,J0,J365",          "EST5EDT,J366,J1",         "EST5EDT,366,1",
        "EST5EDT,M3.6.0,M11.1.0",   "EST5EDT,M3.2.7,M11.1.0",  "EST5EDT,M3.0.0,M11.1.0",
        "EST5EDT,M3.2.0,M11.1.0,",  "EST5 ",                   "EST5:60",
        "EST5EDT24",                "EST5ED",                   "EST5EDT,M3.2.0/1:2:3:4,J5",
        "EST-23:30EDT",             "EST1234",                 "EST5EDT,M03.2.0,M11.1.0x",
    };
    struct tz *tz = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_footer(bad[i], &tz) == 0) {
            fail_msg("footer accepted: \"%s\"", bad[i]);
        }
    }
    assert_int_equal(parse_footer("", &tz), 0); /* empty: the last type holds */
    tz_free(tz);
    assert_int_equal(parse_footer("<+0330>-3:30", &tz), 0);
    assert_int_equal(tz_offset(tz, 0), 3 * 3600 + 1800);
    tz_free(tz);
}

/* Images built by hand: the refusals of RFC 8536 §3 that tzdata never triggers. */
static void test_bad_images(void **state)
{
    int64_t times[3] = { 100, 200, 300 };
    uint8_t idx[3] = { 0, 1, 0 };
    int32_t offs[2] = { 3600, 7200 };
    struct image im;
    struct tz *tz = NULL;
    const char *why = NULL;

    build(&im, '2', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), 0);
    assert_int_equal(tz_offset(tz, 99), 3600);
    assert_int_equal(tz_offset(tz, 200), 7200);
    assert_int_equal(tz_offset(tz, 300), 3600); /* empty footer: the last type holds */
    assert_int_equal(tz_offset(tz, INT64_MAX), 3600);
    tz_free(tz);

    build(&im, '\0', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    assert_string_equal(why, "TZif version 1 only");
    build(&im, '5', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    times[1] = 100;
    build(&im, '3', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    assert_string_equal(why, "transitions out of order");
    times[1] = 200;
    idx[2] = 2;
    build(&im, '3', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    idx[2] = 0;
    offs[1] = 86400;
    build(&im, '4', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    offs[1] = -86400;
    build(&im, '4', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    offs[1] = 86399;
    build(&im, '4', times, idx, 3, offs, 2, "");
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), 0);
    tz_free(tz);
    /* No types at all, and a count beyond the cap, patched into the 64-bit header. */
    build(&im, '2', times, idx, 3, offs, 2, "");
    im.b[51 + 36] = 0;
    im.b[51 + 37] = 0;
    im.b[51 + 38] = 0;
    im.b[51 + 39] = 0;
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    build(&im, '2', times, idx, 3, offs, 2, "");
    im.b[51 + 33] = 0x27; /* timecnt 0x00271103: far beyond the cap */
    assert_int_equal(tz_parse(im.b, im.len, &tz, &why), PIPIT_EBAD_REQUEST);
    assert_string_equal(why, "too many transitions");
    /* Junk and nothing. */
    assert_int_equal(tz_parse((const uint8_t *)"TZif", 4, &tz, &why), PIPIT_EBAD_REQUEST);
    assert_int_equal(tz_parse((const uint8_t *)"", 0, &tz, &why), PIPIT_EBAD_REQUEST);
    assert_int_equal(tz_parse(NULL, 0, &tz, &why), PIPIT_EBAD_REQUEST);
}

/* Every prefix of a real file is refused (the footer's last newline is missing); flipped
 * bytes either refuse or give a zone that keeps every invariant. */
static void test_truncated_and_corrupt_files(void **state)
{
    static const char *const files[] = { "UTC", "Asia/Kolkata", "America/New_York" };

    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[256];
        size_t len;
        uint8_t *data;
        struct tz *tz = NULL;
        const char *why;

        snprintf(path, sizeof(path), "%s/%s", ZONEINFO, files[f]);
        data = read_all(path, &len);
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *copy = malloc(cut + 1); /* exact size, so ASan sees any overread */

            memcpy(copy, data, cut);
            why = NULL;
            assert_int_equal(tz_parse(copy, cut, &tz, &why), PIPIT_EBAD_REQUEST);
            assert_non_null(why);
            free(copy);
        }
        assert_int_equal(tz_parse(data, len, &tz, &why), 0);
        tz_free(tz);
        for (size_t at = 0; at < len && f < 2; at++) {
            static const uint8_t flips[] = { 0x01, 0x10, 0x80, 0xff };

            for (size_t k = 0; k < sizeof(flips); k++) {
                data[at] ^= flips[k];
                if (tz_parse(data, len, &tz, &why) == 0) {
                    for (int q = 0; q < 8; q++) {
                        int64_t t = rng_between(-5000000000LL, 5000000000LL);
                        int32_t off = tz_offset(tz, t);

                        assert_true(off > -DAY && off < DAY);
                        check_next_local(tz, t, (int)rng_between(0, 1440));
                    }
                    tz_free(tz);
                }
                data[at] ^= flips[k];
            }
        }
        free(data);
    }
}

static void test_names(void **state)
{
    static const char *const bad[] = {
        "", "..", "/etc/passwd", "a//b", "-x", "a/", "/", "America/../etc/passwd",
        "America/./New_York", "Europe/Lon don", "x\n", "UTC\t", "_x", "+x", "a/-b",
        "a\\b", "\xc3\xa9t\xc3\xa9",
    };
    static const char *const good[] = {
        "UTC", "Etc/GMT+5", "Etc/GMT-14", "America/Argentina/Buenos_Aires", "A", "9",
    };
    char longest[TZ_NAME_MAX + 2];
    struct tz *tz = NULL;
    const struct tz *shared = NULL;

    memset(longest, 'a', sizeof(longest));
    longest[TZ_NAME_MAX] = '\0';
    assert_true(tz_name_ok(longest));
    longest[TZ_NAME_MAX] = 'a';
    longest[TZ_NAME_MAX + 1] = '\0';
    assert_false(tz_name_ok(longest));
    assert_int_equal(tz_load(longest, &tz), PIPIT_EBAD_REQUEST);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tz_name_ok(bad[i])) {
            fail_msg("name accepted: \"%s\"", bad[i]);
        }
        assert_int_equal(tz_load(bad[i], &tz), PIPIT_EBAD_REQUEST);
        assert_int_equal(tz_get(bad[i], &shared), PIPIT_EBAD_REQUEST);
    }
    assert_false(tz_name_ok(NULL));
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_true(tz_name_ok(good[i]));
    }
    assert_int_equal(tz_load("Nowhere/Zone", &tz), PIPIT_ENOT_FOUND);
    assert_int_equal(tz_load("America", &tz), PIPIT_ENOT_FOUND);      /* a directory */
    assert_int_equal(tz_load("leapseconds", &tz), PIPIT_ENOT_FOUND);  /* not TZif */
    assert_int_equal(tz_load("UTC/x", &tz), PIPIT_ENOT_FOUND);        /* not a directory */
    assert_int_equal(tz_get("Nowhere/Zone", &shared), PIPIT_ENOT_FOUND);
    assert_null(shared);
    /* right/ zones carry leap seconds; those are skipped, the offsets stay. */
    tz = load("right/America/New_York");
    assert_int_equal(tz_offset(tz, utc(2026, 7, 1, 0, 0, 0)), -4 * 3600);
    tz_free(tz);
}

struct cache_run {
    const struct tz *want[4];
    int failures;
};

static void *cache_worker(void *arg)
{
    static const char *const names[4] = {
        "Europe/Paris", "Asia/Tokyo", "America/Chicago", "Africa/Lagos",
    };
    struct cache_run *run = arg;

    for (int i = 0; i < 400; i++) {
        const struct tz *got = NULL;

        if (tz_get(names[i % 4], &got) != 0 || got != run->want[i % 4]) {
            run->failures++;
        }
    }
    return NULL;
}

static void test_cache_threads(void **state)
{
    static const char *const names[4] = {
        "Europe/Paris", "Asia/Tokyo", "America/Chicago", "Africa/Lagos",
    };
    struct cache_run runs[8] = { 0 };
    pthread_t threads[8];
    const struct tz *first[4];

    /* Half the threads race to load, then every answer is the same pointer. */
    for (int t = 0; t < 8; t++) {
        assert_int_equal(pthread_create(&threads[t], NULL, cache_worker, &runs[t]), 0);
        if (t == 3) {
            break;
        }
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
    }
    for (int n = 0; n < 4; n++) {
        assert_int_equal(tz_get(names[n], &first[n]), 0);
    }
    for (int t = 0; t < 8; t++) {
        memcpy(runs[t].want, first, sizeof(first));
        runs[t].failures = 0;
    }
    for (int t = 0; t < 8; t++) {
        assert_int_equal(pthread_create(&threads[t], NULL, cache_worker, &runs[t]), 0);
    }
    for (int t = 0; t < 8; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(runs[t].failures, 0);
    }
    assert_int_equal(tz_offset(first[1], utc(2026, 1, 1, 0, 0, 0)), 9 * 3600);
}

/* Fills the cache to TZ_CACHE_MAX names (the same files under posix/ and right/ count as
 * new names), then a further name is refused while the cached ones keep working. */
static void test_cache_cap(void **state)
{
    static const char *const prefixes[] = { "", "posix/", "right/" };
    const struct tz *paris = NULL, *again = NULL, *got = NULL;
    size_t added = 0;
    int rc = 0;

    collect_zones();
    assert_int_equal(tz_get("Europe/Paris", &paris), 0);
    for (size_t p = 0; p < 3 && rc == 0; p++) {
        for (size_t i = 0; i < zone_count && rc == 0; i++) {
            char name[128];

            snprintf(name, sizeof(name), "%s%s", prefixes[p], zone_names[i]);
            if (!tz_name_ok(name)) {
                continue;
            }
            rc = tz_get(name, &got);
            added += rc == 0;
        }
    }
    assert_int_equal(rc, PIPIT_EUNAVAILABLE);
    assert_true(added <= TZ_CACHE_MAX && added > TZ_CACHE_MAX - 16);
    assert_int_equal(tz_get("Europe/Paris", &again), 0);
    assert_ptr_equal(again, paris);
    assert_int_equal(tz_get("Nowhere/Zone", &got), PIPIT_ENOT_FOUND);
    assert_int_equal(tz_get("../x", &got), PIPIT_EBAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoneinfo_env), /* first: before this process reads the env */
        cmocka_unit_test(test_fixed_offsets),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_london_and_lord_howe),
        cmocka_unit_test(test_next_local_new_york),
        cmocka_unit_test(test_next_local_shanghai_and_lord_howe),
        cmocka_unit_test(test_next_local_brute_force),
        cmocka_unit_test(test_glibc_named_zones),
        cmocka_unit_test(test_glibc_every_zone),
        cmocka_unit_test(test_glibc_footer_rules),
        cmocka_unit_test(test_footer_special_rules),
        cmocka_unit_test(test_bad_footers),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_truncated_and_corrupt_files),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_cache_threads),
        cmocka_unit_test(test_cache_cap), /* last: it fills the process-wide cache */
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
