/*
 * http_conn.h: HTTP/1.1 on a connection: requests in, responses out, in order.
 *
 * Requests are parsed by http_parse and handed one at a time to the server's
 * handler (struct server.http_handler) as a struct http_exchange. The handler
 * answers at once or later (after a job), always with exactly one http_respond*
 * call. Pipelined requests wait in the input buffer until the one before them
 * has been answered, so answers go out in request order; reading pauses while
 * too much input or output is queued, so neither side can grow memory without
 * bound. Between requests a keep-alive connection holds no HTTP state at all.
 *
 * Loop thread only.
 */
#ifndef PIPIT_HTTP_HTTP_CONN_H
#define PIPIT_HTTP_HTTP_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/http_parse.h"
#include "util/buf.h"

struct conn;
struct http_file_out;

struct http_exchange {
    struct conn *conn;           /* borrowed; valid until the answer */
    struct http_request *req;    /* borrowed from the parser */
    char *path;                  /* percent-decoded path, owned */
    const char *query;           /* raw query after '?', or "" */
    int route;                   /* route index for metrics; -1 when none */
    bool head_only;              /* HEAD: headers without the body */
    bool streaming;              /* an upload: the body is read with http_body_read() */
    bool answered;
    int64_t started_ms;
    void *ctx;                   /* the handler's per-request state */
    void (*ctx_free)(void *ctx); /* called when the exchange ends */
};

/*
 * How a handler takes an upload's body (x->streaming: the handler was called
 * with the head alone). data() gets each piece as it is parsed, copies what it
 * keeps, and returns false to stop reading until http_body_read() is called
 * again. end() runs once: err 0 when the whole body is in, else why it stopped
 * (PIPIT_EPAYLOAD_TOO_LARGE, PIPIT_EBAD_REQUEST for bad chunking or a body cut
 * short, PIPIT_EREQUEST_TIMEOUT when the client stalled for idle_timeout);
 * after an error, end() answers and the connection then closes. The handler
 * may also answer without reading the body at all (the connection then closes).
 */
struct http_body_sink {
    bool (*data)(struct http_exchange *x, const char *p, size_t n);
    void (*end)(struct http_exchange *x, int err);
};

struct http_conn {
    struct http_parse parse;
    struct buf in;               /* received bytes not yet parsed */
    struct http_exchange x;
    bool busy;                   /* a request is with the handler */
    bool processing;             /* http_conn_process is on the stack */
    bool close_after;            /* close once the current answer is out */
    bool continued;              /* "100 Continue" sent for this request */
    bool body_wanted;            /* the handler reads the streamed body now */
    const struct http_body_sink *sink; /* while an upload's body is read */
    struct http_file_out *file_out; /* while a file answer is being sent */
};

/* conn.c hooks. */
void http_conn_start(struct conn *c);
void http_conn_on_data(struct conn *c, const char *data, size_t len);
void http_conn_on_drain(struct conn *c);
void http_conn_on_eof(struct conn *c);
void http_conn_on_timeout(struct conn *c);
void http_conn_shutdown(struct conn *c);
void http_conn_free(struct conn *c);

/*
 * Answers the exchange. extra_headers is either NULL or CRLF-terminated header
 * lines. After the call x must not be used. Safe to call when the connection
 * has meanwhile closed (it then only cleans up).
 */
void http_respond(struct http_exchange *x, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t len);
/* JSON answer; takes the reference to body. */
void http_respond_json(struct http_exchange *x, int status, json_t *body);
/* The same for a body already written as JSON text. */
void http_respond_json_text(struct http_exchange *x, int status, const char *text, size_t len);
/*
 * How a file answer's bytes are read when they are not the file's own (a file
 * sealed at rest): read() runs on libuv's thread pool and returns the bytes it
 * put in buf (up to len, from offset off), or -1; free() when the answer ends.
 */
struct http_file_reader {
    ssize_t (*read)(struct http_file_reader *r, int fd, void *buf, size_t len, int64_t off);
    void (*free)(struct http_file_reader *r);
};
/*
 * Answers with len bytes of the open file fd from offset (taking fd: it is
 * closed when done), read by reader (taken; NULL: the bytes as they are). The
 * bytes are read off the loop (libuv's thread pool), a piece at a time as the
 * client takes them, so a large file never sits in memory.
 */
void http_respond_file(struct http_exchange *x, int status, const char *content_type,
                       const char *extra_headers, int fd, int64_t offset, int64_t len,
                       struct http_file_reader *reader);
/* {"error":{"code","message"}} with the error's status; message NULL = default. */
void http_respond_error(struct http_exchange *x, int err, const char *message,
                        const char *extra_headers);

/* Starts (or, after data() returned false, resumes) reading an upload's body. */
void http_body_read(struct http_exchange *x, const struct http_body_sink *sink);

/*
 * Hands the connection over to another protocol (WebSocket) after the handler
 * wrote its 101 answer with conn_send(); returns the bytes that followed the
 * request head, which belong to the new protocol (copied into out).
 */
void http_conn_detach(struct conn *c, struct buf *leftover);

/*
 * Whether an If-None-Match header (NULL: absent) matches etag: "*", or the tag
 * anywhere in the list, compared weakly (RFC 9110 §13.1.2: W/"x" matches "x").
 */
bool http_etag_matches(const char *header, const char *etag);

/* "Mon, 02 Jan 2006 15:04:05 GMT" into out (at least 30 bytes). */
void http_date(char *out, int64_t unix_seconds);

#endif
