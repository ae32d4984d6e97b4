#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/mem.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_cleanup(struct buf *b)
{
    PIPIT_FREE(b->data);
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

static int buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;

    if (extra > b->max || b->len > b->max - extra) {
        return PIPIT_EPAYLOAD_TOO_LARGE;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    if (cap - 1 > b->max) {  /* not cap > max + 1: max may be SIZE_MAX */
        cap = b->max + 1;
    }
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);

    if (rc != 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_appendz(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    int rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return PIPIT_EINTERNAL;
    }
    rc = buf_reserve(b, (size_t)n);
    if (rc != 0) {
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_append_int(struct buf *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    /* Negated as unsigned: INT64_MIN has no positive twin. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int buf_append_json_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = b->len;
    size_t run = 0;
    int rc = buf_append(b, "\"", 1);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };
        size_t esc_len = 6;

        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            continue;
        }
        switch (ch) {
        case '"': esc[1] = '"'; esc_len = 2; break;
        case '\\': esc[1] = '\\'; esc_len = 2; break;
        case '\n': esc[1] = 'n'; esc_len = 2; break;
        case '\r': esc[1] = 'r'; esc_len = 2; break;
        case '\t': esc[1] = 't'; esc_len = 2; break;
        case '\b': esc[1] = 'b'; esc_len = 2; break;
        case '\f': esc[1] = 'f'; esc_len = 2; break;
        default: break;
        }
        rc = buf_append(b, s + run, i - run);
        if (rc == 0) {
            rc = buf_append(b, esc, esc_len);
        }
        run = i + 1;
    }
    if (rc == 0) {
        rc = buf_append(b, s + run, n - run);
    }
    if (rc == 0) {
        rc = buf_append(b, "\"", 1);
    }
    if (rc != 0 && b->data != NULL) {
        /* All or nothing, as every append. */
        b->len = len;
        b->data[len] = '\0';
    }
    return rc;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *buf_steal(struct buf *b, size_t *len)
{
    char *p = b->data;

    if (len != NULL) {
        *len = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
