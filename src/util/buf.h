/*
 * buf.h: a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * The cap is chosen at init and never exceeded: an append that would pass it
 * fails with PIPIT_EPAYLOAD_TOO_LARGE and leaves the buffer as it was. The data is
 * always NUL-terminated so text can be handed to C string functions. Storage is
 * allocated lazily, so an empty buffer costs only the struct.
 *
 * Not thread-safe: a buffer belongs to one thread at a time.
 */
#ifndef PIPIT_UTIL_BUF_H
#define PIPIT_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_cleanup(struct buf *b);
/* Forgets the contents; keeps the storage for reuse. */
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendz(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends v in decimal. */
int buf_append_int(struct buf *b, int64_t v);
/*
 * Appends s (n bytes of valid UTF-8) as a quoted JSON string: `"` and `\` and
 * control characters escaped, everything else as is (the form jansson writes).
 */
int buf_append_json_string(struct buf *b, const char *s, size_t n);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hands the storage to the caller (free() it) and empties the buffer. */
char *buf_steal(struct buf *b, size_t *len);

#endif
