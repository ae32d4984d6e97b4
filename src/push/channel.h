/*
 * channel.h: the delivery channels behind one interface (Web Push, UnifiedPush,
 * APNs, FCM), for the dispatcher (dispatch.c).
 *
 * The dispatcher claims a delivery, asks its channel to turn it into an HTTP
 * request, sends it, and asks the channel what the answer means. What every
 * provider means alike (a network error, 429, 5xx: try again later) the
 * dispatcher decides itself before asking. Dispatcher thread only.
 */
#ifndef PIPIT_PUSH_CHANNEL_H
#define PIPIT_PUSH_CHANNEL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/outbound.h"
#include "store/store_push.h"
#include "util/buf.h"

struct dispatcher;
struct server;

enum verdict {
    VERDICT_SENT,     /* the provider took it */
    VERDICT_RETRY,    /* try again later */
    VERDICT_GONE,     /* the device no longer exists: delete it */
    VERDICT_FAIL,     /* will never work: give up */
};

/* One delivery being sent. */
struct attempt {
    struct dispatcher *d;
    struct store_outgoing o;
    const struct channel *ch;
    CURL *easy;
    struct curl_slist *headers;
    struct buf body;
    struct buf response;        /* the start of the answer's body */
    char apns_id[40];
    int64_t now;                /* ms, when the attempt started */
    struct outbound_guard guard; /* the endpoint's addresses tried and refused as private */
    bool retried_auth;          /* a stale credential was renewed once already */
};

struct channel {
    const char *name;           /* as in deliveries.channel */
    /*
     * Sets up a->easy: URL, headers, body. NULL, or why it can never be sent,
     * or channel_parked: the channel keeps it until it can be sent (waiting for
     * an access token) and then calls attempt_launch() or attempt_settle().
     */
    const char *(*prepare)(struct attempt *a);
    /*
     * What a provider's answer means (status >= 200; never 429 or 5xx). Sets
     * *reason (a static string) unless sent.
     */
    enum verdict (*judge)(struct attempt *a, long status, const char **reason);
    /* Optional, when the dispatcher starts: loads credentials, so a bad file shows at once. */
    void (*start)(struct dispatcher *d);
    /* Frees the channel's state (its slot in dispatcher_state()), at the end. */
    void (*cleanup)(void *state);
};

extern const char channel_parked[];

extern const struct channel channel_webpush;
extern const struct channel channel_unifiedpush;
extern const struct channel channel_apns;
extern const struct channel channel_fcm;

/* ---- what dispatch.c offers the channels ---- */

struct server *dispatcher_server(const struct dispatcher *d);
struct outbound *dispatcher_outbound(const struct dispatcher *d);
/* The channel's own state (credentials, tokens), NULL until it sets it. */
void **dispatcher_state(struct dispatcher *d, const struct channel *ch);
/* Sends a prepared (parked) attempt. */
void attempt_launch(struct attempt *a);
/* Ends a parked attempt without sending it. */
void attempt_settle(struct attempt *a, enum verdict v, const char *reason);
/* Sets the request's common options: timeouts, CA file, no proxy, HTTP/2. */
void outbound_defaults(const struct server *srv, CURL *easy);
/*
 * The notification as the app receives it, compact JSON: its fields, plus "push"
 * (the push id) and "device" (the device id) for reporting delivered, opened and
 * clicked back. 0, or non-zero when it does not fit in out.
 */
int push_payload(const struct store_outgoing *o, struct buf *out);
/* Seconds left to the push's TTL at a->now (0 at least). */
int64_t attempt_ttl_left(const struct attempt *a);
/* Adds a header line ("Name: value") to the request. */
void attempt_header(struct attempt *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A POST of a->body to url, with the connect-time address check when untrusted. */
void attempt_post(struct attempt *a, const char *url, bool untrusted);

#endif
