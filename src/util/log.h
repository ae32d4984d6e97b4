/*
 * log.h: one line per event on stderr.
 *
 *   2026-11-22T04:35:00.123Z INFO  w1 c17 127.0.0.1:50312 websocket authenticated
 *
 * A line carries the worker, connection id and peer when the caller has them (a
 * struct log_ctx, usually embedded in a connection). Control characters in the
 * message are escaped so a hostile username cannot forge log lines. Never pass a
 * password or a token.
 *
 * Thread-safe: each line is formatted locally and written with one write(2).
 */
#ifndef PIPIT_UTIL_LOG_H
#define PIPIT_UTIL_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_NOTICE };

struct log_ctx {
    int worker;        /* -1 when not on an I/O worker */
    uint64_t conn_id;  /* 0 when not about a connection */
    const char *peer;  /* borrowed; may be NULL */
};

void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
void log_write(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ctx, ...)                                                     \
    do {                                                                        \
        if (log_enabled(LOG_DEBUG)) {                                           \
            log_write(LOG_DEBUG, ctx, __VA_ARGS__);                             \
        }                                                                       \
    } while (0)
#define log_info(ctx, ...) log_write(LOG_INFO, ctx, __VA_ARGS__)
#define log_warn(ctx, ...) log_write(LOG_WARN, ctx, __VA_ARGS__)
#define log_error(ctx, ...) log_write(LOG_ERROR, ctx, __VA_ARGS__)
/* Lifecycle lines (listening, stopping) print at every level, marked INFO. */
#define log_notice(ctx, ...) log_write(LOG_NOTICE, ctx, __VA_ARGS__)

#endif
