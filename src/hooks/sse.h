/*
 * sse.h: an incremental parser of server-sent events (text/event-stream, as
 * the WHATWG HTML standard defines them), for streamed LLM answers.
 *
 * Bytes are fed as they arrive, cut anywhere. Lines end with LF, CRLF or CR.
 * An event's `data:` lines are joined with LF and handed over at the blank
 * line that ends it; comments (":…") and other fields (event, id, retry) are
 * skipped. A line longer than `max` bytes is an error: a peer cannot make the
 * parser hold more than that. Pure: no I/O, no allocation beyond two buffers.
 */
#ifndef PIPIT_HOOKS_SSE_H
#define PIPIT_HOOKS_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct sse {
    struct buf line;
    struct buf data;
    bool has_data;
    bool after_cr;              /* the last byte was CR: an LF next is the same line end */
    int (*on_data)(void *arg, const char *data, size_t len);
    void *arg;
};

void sse_init(struct sse *p, size_t max, int (*on_data)(void *arg, const char *data, size_t len),
              void *arg);
/* 0; -1 when a line or an event is longer than max; or on_data's non-zero (it stops). */
int sse_feed(struct sse *p, const char *in, size_t n);
void sse_cleanup(struct sse *p);

#endif
