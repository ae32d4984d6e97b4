/*
 * metrics.h: process-wide counters, rendered in Prometheus text format.
 *
 * Counters are relaxed atomics: any thread may bump them, and /metrics reads a
 * consistent-enough snapshot without stopping anyone. HTTP requests are counted
 * per route (an index into the API's route table) and per status code.
 */
#ifndef PIPIT_UTIL_METRICS_H
#define PIPIT_UTIL_METRICS_H

#include <stdatomic.h>

#include "util/buf.h"

#define METRICS_MAX_ROUTES 128
#define METRICS_NLIMITS 5

/* Status codes counted one by one; anything else lands in "other". */
#define METRICS_STATUSES(XX)                                                    \
    XX(101) XX(200) XX(201) XX(204) XX(304) XX(400) XX(401) XX(403) XX(404)     \
    XX(405) XX(408) XX(409) XX(413) XX(414) XX(415) XX(426) XX(429) XX(431)     \
    XX(500) XX(503)

enum {
#define XX(code) METRICS_STATUS_##code,
    METRICS_STATUSES(XX)
#undef XX
    METRICS_STATUS_OTHER,
    METRICS_NSTATUS
};

struct metrics {
    atomic_long connections;        /* gauge: open TCP connections */
    atomic_long connections_total;
    atomic_long ws_sessions;        /* gauge: open WebSockets */
    atomic_long ws_authenticated;   /* gauge: WebSockets authenticated as a user */
    atomic_long ws_frames_in;
    atomic_long ws_frames_out;
    atomic_long store_commits;      /* transactions committed by the writer */
    atomic_long store_writes;       /* write jobs committed */
    atomic_long chat_messages;      /* messages stored (not counting duplicates) */
    atomic_long chat_events;        /* events published to sessions, before fan-out */
    atomic_long chat_deliveries;    /* event frames written to sessions */
    atomic_long pushes;             /* pushes accepted (POST /v1/push, duplicates aside) */
    atomic_long push_chat;          /* chat messages' notifications stored */
    atomic_long push_inflight;      /* gauge: requests to providers in flight */
    atomic_long push_sent;          /* attempts a provider took */
    atomic_long push_retried;       /* attempts to be tried again */
    atomic_long push_gone;          /* attempts that found their device gone */
    atomic_long push_failed;        /* attempts given up (other reasons) */
    atomic_long push_expired;       /* deliveries past their TTL */
    atomic_long webhook_delivered;  /* webhook attempts answered 2xx */
    atomic_long webhook_retried;    /* webhook attempts to be tried again */
    atomic_long webhook_failed;     /* webhook deliveries given up */
    atomic_long rate_limited[METRICS_NLIMITS]; /* refusals, by enum limit_kind (net/limits.h) */
    atomic_long http[METRICS_MAX_ROUTES][METRICS_NSTATUS];
};

void metrics_count_http(struct metrics *m, int route, int status);
/* Appends the exposition text; route_name(i) labels route i. */
int metrics_render(struct metrics *m, struct buf *out, const char *(*route_name)(int route),
                   int nroutes);

#endif
