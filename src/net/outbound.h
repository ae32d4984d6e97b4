/*
 * outbound.h: outbound HTTP requests on a libuv loop (libcurl's multi interface).
 *
 * One `struct outbound` per loop: every request started on it shares the
 * connection pool, so keep-alive connections and HTTP/2 streams are reused
 * (requests to one HTTP/2 host multiplex on one connection). DNS runs on
 * libcurl's resolver threads, sockets are watched by the loop: nothing blocks
 * it. Loop thread only.
 */
#ifndef PIPIT_NET_OUTBOUND_H
#define PIPIT_NET_OUTBOUND_H

#include <curl/curl.h>
#include <stddef.h>
#include <uv.h>

struct outbound;

/* Once per process, before any thread starts (curl_global_init is not thread-safe). */
int outbound_global_init(void);

struct outbound *outbound_new(uv_loop_t *loop);
/* Cancels what is still running (each done() gets CURLE_ABORTED_BY_CALLBACK), frees. */
void outbound_free(struct outbound *ob);

/*
 * Starts an easy handle the caller has set up; done(arg, easy, result) runs on
 * the loop when it ends, after which the caller owns the handle again. 0, or -1
 * if the multi handle refused it (done is then never called).
 */
int outbound_start(struct outbound *ob, CURL *easy,
                   void (*done)(void *arg, CURL *easy, CURLcode result), void *arg);

/* Requests started and not yet done. */
size_t outbound_active(const struct outbound *ob);

/*
 * CURLOPT_WRITEFUNCTIONs for an answer's body, with a struct buf as
 * CURLOPT_WRITEDATA (its cap set by buf_init). outbound_keep_all: the whole
 * body; a larger one fails the transfer. outbound_keep_head: its first cap
 * bytes (enough to judge or report it); the rest is read and dropped.
 */
size_t outbound_keep_all(char *p, size_t size, size_t n, void *buf);
size_t outbound_keep_head(char *p, size_t size, size_t n, void *buf);

/*
 * For a URL someone else chose (a device's endpoint, a webhook): the addresses
 * its host resolves to are checked as the request connects, and private ones
 * (push/endpoint.h) refused, so a name cannot lead into the internal network.
 * g counts them, to tell "every address was refused" apart from other errors;
 * it must live as long as the request.
 */
struct outbound_guard {
    int tried;
    int refused;
};
void outbound_guard(CURL *easy, struct outbound_guard *g);

#endif
