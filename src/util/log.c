#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_min_level = LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO ", "WARN ", "ERROR", "INFO " };

void log_set_level(enum log_level level)
{
    atomic_store(&log_min_level, (int)level);
}

int log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&log_min_level);
}

/* Copies src into dst, escaping control characters; returns the new length. */
static size_t log_escape(char *dst, size_t len, size_t cap, const char *src)
{
    static const char hex[] = "0123456789abcdef";

    for (; *src != '\0' && len + 4 < cap; src++) {
        unsigned char c = (unsigned char)*src;

        if (c < 0x20 || c == 0x7f) {
            dst[len++] = '\\';
            dst[len++] = 'x';
            dst[len++] = hex[c >> 4];
            dst[len++] = hex[c & 15];
        } else {
            dst[len++] = (char)c;
        }
    }
    return len;
}

void log_write(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
    char line[2048];
    char msg[1536];
    struct timespec ts;
    struct tm tm;
    size_t len;
    va_list ap;

    if (!log_enabled(level)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof(line) - len, ".%03ldZ %s",
                            ts.tv_nsec / 1000000, level_names[level]);
    if (ctx != NULL && ctx->worker >= 0) {
        len += (size_t)snprintf(line + len, sizeof(line) - len, " w%d", ctx->worker);
    }
    if (ctx != NULL && ctx->conn_id != 0) {
        len += (size_t)snprintf(line + len, sizeof(line) - len, " c%llu",
                                (unsigned long long)ctx->conn_id);
    }
    if (ctx != NULL && ctx->peer != NULL) {
        len += (size_t)snprintf(line + len, sizeof(line) - len, " %s", ctx->peer);
    }
    line[len++] = ' ';

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    len = log_escape(line, len, sizeof(line) - 1, msg);
    line[len++] = '\n';

    /* One write per line keeps lines from different threads whole. */
    if (write(STDERR_FILENO, line, len) < 0) {
        return;
    }
}
