/*
 * limits.h: what one client may use. Token buckets of requests per user, of
 * messages per user and of requests per address from clients not signed in;
 * counts of open connections, and of WebSockets not yet authenticated, per
 * address.
 *
 * Addresses are keyed by IPv4 address or IPv6 /64 (one subscriber gets a whole
 * /64). Addresses in rate_limit_exempt (loopback by default: a reverse proxy in
 * front of pipit sends everything from there, and limits its clients itself)
 * skip the per-address limits; per-user limits hold whatever the address.
 *
 * Design: fixed tables indexed by a keyed hash (SipHash, random key: clients
 * cannot pick keys that collide), so memory is fixed (~2 MiB) whatever the
 * number of clients. A bucket slot taken by another key starts full for it: a
 * collision can only be generous. Buckets are guarded by striped mutexes held
 * for a few loads and stores; counts are atomics. Thread-safe.
 */
#ifndef PIPIT_NET_LIMITS_H
#define PIPIT_NET_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct metrics;

/* In the order of the metrics' labels (util/metrics.c). */
enum limit_kind {
    LIMIT_IP_REQUESTS,      /* bucket: requests and frames of clients not signed in */
    LIMIT_USER_REQUESTS,    /* bucket: a user's requests and WebSocket ops */
    LIMIT_USER_MESSAGES,    /* bucket: a user's sends, edits and recalls */
    LIMIT_IP_CONNECTIONS,   /* count: open connections */
    LIMIT_IP_PREAUTH,       /* count: WebSockets not yet authenticated */
    LIMIT_KINDS
};

/* A client address as the limits see it. */
struct limit_addr {
    uint64_t key;
    bool exempt;
};

struct limits;

/* NULL and a message in err when rate_limit_exempt does not parse. */
struct limits *limits_new(const struct config *cfg, struct metrics *metrics, char *err,
                          size_t errlen);
void limits_free(struct limits **l);

/* The key of a textual address ("?" or anything unparsable: one shared key). */
void limits_addr(const struct limits *l, const char *ip, struct limit_addr *out);

/*
 * Takes a token from the bucket of key (a user id, or an address's key): 0 when
 * there was one; else no token is taken and the answer is the milliseconds
 * until there is one. A kind whose rate is 0 is off: always 0.
 */
int64_t limits_take(struct limits *l, enum limit_kind kind, uint64_t key, int64_t now_ms);

/* One more open thing of kind for key: true when it fits (then counted). */
bool limits_enter(struct limits *l, enum limit_kind kind, uint64_t key);
/* Undoes a limits_enter that returned true. */
void limits_leave(struct limits *l, enum limit_kind kind, uint64_t key);

#endif
