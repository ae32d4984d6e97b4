/*
 * sse.c: server-sent events, parsed as they come (sse.h).
 */
#include "hooks/sse.h"

#include <string.h>

void sse_init(struct sse *p, size_t max, int (*on_data)(void *arg, const char *data, size_t len),
              void *arg)
{
    memset(p, 0, sizeof(*p));
    buf_init(&p->line, max);
    buf_init(&p->data, max);
    p->on_data = on_data;
    p->arg = arg;
}

void sse_cleanup(struct sse *p)
{
    buf_cleanup(&p->line);
    buf_cleanup(&p->data);
}

/* A whole line (without its end): a field, a comment, or the blank line that dispatches. */
static int end_line(struct sse *p)
{
    const char *line = p->line.data != NULL ? p->line.data : "";
    size_t len = p->line.len;
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon != NULL ? (size_t)(colon - line) : len;
    int rc = 0;

    if (len == 0) {
        if (p->has_data) {
            rc = p->on_data(p->arg, p->data.data != NULL ? p->data.data : "", p->data.len);
        }
        buf_reset(&p->data);
        p->has_data = false;
    } else if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        const char *value = colon != NULL ? colon + 1 : line + len;

        if (value < line + len && *value == ' ') {
            value++;
        }
        if ((p->has_data && buf_append(&p->data, "\n", 1) != 0) ||
            buf_append(&p->data, value, (size_t)(line + len - value)) != 0) {
            rc = -1;
        }
        p->has_data = true;
    }
    buf_reset(&p->line);
    return rc;
}

int sse_feed(struct sse *p, const char *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int rc;

        if (c == '\n' && p->after_cr) {
            p->after_cr = false;
            continue;
        }
        p->after_cr = c == '\r';
        if (c == '\r' || c == '\n') {
            if ((rc = end_line(p)) != 0) {
                return rc;
            }
            continue;
        }
        if (buf_append(&p->line, &c, 1) != 0) {
            return -1;
        }
    }
    return 0;
}
