#include "util/clock.h"

#include <sodium.h>
#include <stdlib.h>
#include <time.h>

/* Set once, before any thread starts; read-only afterwards. */
static int64_t offset_ms;

int64_t clock_offset_from_env(void)
{
    const char *v = getenv("PIPIT_CLOCK_OFFSET_MS");

    offset_ms = v != NULL ? strtoll(v, NULL, 10) : 0;
    return offset_ms;
}

int64_t clock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + offset_ms;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_backoff_ms(int64_t base, int64_t cap, int attempts)
{
    int64_t step = base;

    for (int i = 1; i < attempts && step < cap; i++) {
        step *= 2;
    }
    if (step > cap) {
        step = cap;
    }
    return step / 2 + (int64_t)randombytes_uniform((uint32_t)(step / 2 + 1));
}
