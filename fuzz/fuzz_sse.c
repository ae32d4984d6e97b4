/*
 * fuzz_sse.c: a streamed LLM answer (src/hooks/sse.c), as an endpoint may send
 * it. No input crashes or grows past the limit, and the events are the same
 * whether the bytes come at once or one by one (a stream is cut anywhere).
 */
#include <string.h>

#include "fuzz.h"
#include "hooks/sse.h"
#include "util/buf.h"

#define MAX 4096

static int collect(void *arg, const char *data, size_t len)
{
    struct buf *events = arg;

    CHECK(len <= MAX);
    buf_append(events, data, len);
    buf_append(events, "\0", 1); /* a separator no event contains... */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf whole, bytes;
    struct sse a, b;
    int ra, rb = 0;

    buf_init(&whole, 1 << 20);
    buf_init(&bytes, 1 << 20);
    sse_init(&a, MAX, collect, &whole);
    sse_init(&b, MAX, collect, &bytes);
    ra = sse_feed(&a, (const char *)data, size);
    for (size_t i = 0; i < size && rb == 0; i++) {
        rb = sse_feed(&b, (const char *)data + i, 1);
    }
    CHECK((ra == 0) == (rb == 0));
    if (ra == 0) {
        /* ...so the two lists of events match byte for byte. */
        CHECK(whole.len == bytes.len);
        CHECK(whole.len == 0 || memcmp(whole.data, bytes.data, whole.len) == 0);
    }
    sse_cleanup(&a);
    sse_cleanup(&b);
    buf_cleanup(&whole);
    buf_cleanup(&bytes);
    return 0;
}
