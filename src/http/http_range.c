/*
 * http_range.c: see http_range.h.
 */
#include "http/http_range.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

static void skip_spaces(const char **p)
{
    while (**p == ' ' || **p == '\t') {
        (*p)++;
    }
}

/* Digits into *v; false when there are none or the value passes 2^62. */
static bool read_number(const char **p, int64_t *v)
{
    const char *s = *p;

    *v = 0;
    while (*s >= '0' && *s <= '9') {
        if (*v > (INT64_C(1) << 62) / 10) {
            return false;
        }
        *v = *v * 10 + (*s - '0');
        s++;
    }
    if (s == *p) {
        return false;
    }
    *p = s;
    return true;
}

enum http_range http_range_parse(const char *header, int64_t size, int64_t *start,
                                 int64_t *len)
{
    const char *p = header;
    int64_t first = -1, last = -1;

    if (p == NULL || strncasecmp(p, "bytes", 5) != 0) {
        return HTTP_RANGE_NONE;
    }
    p += 5;
    skip_spaces(&p);
    if (*p++ != '=') {
        return HTTP_RANGE_NONE;
    }
    skip_spaces(&p);
    if (*p == '-') {
        p++;
        if (!read_number(&p, &last)) {
            return HTTP_RANGE_NONE;
        }
    } else {
        if (!read_number(&p, &first) || *p++ != '-') {
            return HTTP_RANGE_NONE;
        }
        if (*p >= '0' && *p <= '9' && !read_number(&p, &last)) {
            return HTTP_RANGE_NONE;
        }
    }
    skip_spaces(&p);
    if (*p != '\0') {
        return HTTP_RANGE_NONE; /* several ranges, or junk: send the whole file */
    }
    if (first < 0) {
        /* A suffix: the last `last` bytes. */
        if (last == 0 || size == 0) {
            return HTTP_RANGE_UNSATISFIABLE;
        }
        *len = last < size ? last : size;
        *start = size - *len;
        return HTTP_RANGE_OK;
    }
    if (last >= 0 && last < first) {
        return HTTP_RANGE_NONE; /* invalid: ignored (RFC 9110 §14.1.1) */
    }
    if (first >= size) {
        return HTTP_RANGE_UNSATISFIABLE;
    }
    if (last < 0 || last >= size) {
        last = size - 1;
    }
    *start = first;
    *len = last - first + 1;
    return HTTP_RANGE_OK;
}
