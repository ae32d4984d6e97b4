/*
 * http_parse.h: a strict HTTP/1.1 request parser (http-parser behind a thin wrapper).
 *
 * Contract (picohttpparser's): feed bytes as they arrive; the parser consumes
 * what it can and says whether a whole request is ready, more input is needed,
 * or the input is bad (with the HTTP status to answer). No I/O, no logging, no
 * globals of ours; the head is copied into the parser's own capped buffer, so the
 * caller's read buffer can be reused at once.
 *
 * On top of http-parser (which already refuses CL+TE, duplicate Content-Length
 * and chunk-size overflow) it rejects what http-parser lets through: non-token
 * bytes in header names (`Host : x`, a smuggling vector), control bytes in values,
 * obs-fold continuation lines, bare-LF line ends, a missing, repeated or malformed
 * Host, any Transfer-Encoding but one "chunked", and chunked framing that is not
 * exactly RFC 9112 §7.1 (the shared library, built without HTTP_PARSER_STRICT,
 * takes any two bytes after a chunk for its CRLF); and it enforces the configured
 * caps on URL length, header count, head size and body size (answered 414, 431,
 * 431, 413). An absolute-form target (`GET http://host/path`, RFC 9112 §3.2.2) is
 * turned into its path, and its authority replaces the Host header's value.
 *
 * After HTTP_PARSE_DONE the request stays valid until http_parse_reset(); bytes
 * after the request are left unconsumed for the next call (pipelining).
 *
 * Streamed bodies (uploads): when the caller's stream_limit() gives a cap for a
 * request's head, that cap replaces max_body_size, feeding stops once right
 * after the head (HTTP_PARSE_HEAD, which may leave the head's last byte to the
 * next feed) so the caller can decide about the body before any of it is
 * parsed, and from then on the body goes to on_chunk() as it is parsed instead
 * of into req.body.
 */
#ifndef PIPIT_HTTP_HTTP_PARSE_H
#define PIPIT_HTTP_HTTP_PARSE_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define HTTP_MAX_HEADERS_HARD 1024

struct http_limits {
    size_t max_header_count;
    size_t max_header_size;  /* request line + headers */
    size_t max_url_length;
    size_t max_body_size;
};

struct http_header {
    const char *name;   /* lower-cased, NUL-terminated, in the parser's head buffer */
    const char *value;  /* trimmed, NUL-terminated */
};

struct http_request {
    enum http_method method;
    const char *url;             /* NUL-terminated request target */
    struct http_header *headers; /* nheaders entries */
    size_t nheaders;
    int version_minor;           /* 1.x */
    bool keep_alive;
    bool upgrade;                /* Upgrade requested (the body is then not parsed) */
    bool chunked;
    int64_t content_length;      /* -1 when absent */
    struct buf body;
};

enum http_parse_status { HTTP_PARSE_MORE, HTTP_PARSE_HEAD, HTTP_PARSE_DONE, HTTP_PARSE_ERROR };

struct http_parse {
    http_parser p;
    struct http_limits limits;
    struct http_request req;
    struct buf head;             /* url and header text, NUL-separated */
    size_t *offsets;             /* name/value start offsets into head, 2 per header */
    size_t noffsets;
    size_t cap_offsets;
    int last;                    /* which callback ran last: 0 none, 1 field, 2 value */
    size_t url_len;
    bool head_done;
    bool done;
    size_t trailer_len;          /* bytes of chunked-body trailers, dropped */
    int err;                     /* PIPIT_E* once failed */
    /* Streaming, set by the caller (kept across resets): 0 from stream_limit = buffer. */
    uint64_t (*stream_limit)(void *arg, const struct http_request *req);
    void (*on_chunk)(void *arg, const char *data, size_t len);
    void *cb_arg;                /* for both */
    bool streaming;              /* this request's body goes to on_chunk */
    bool head_reported;          /* HTTP_PARSE_HEAD was returned */
    uint64_t stream_max;
    uint64_t streamed;           /* body bytes handed to on_chunk so far */
    /* Line scanner state (see scan_head in http_parse.c). */
    size_t line_len;
    size_t lines;
    bool last_cr;
    bool scan_done;
    bool line_bad;
    size_t head_pending;         /* head bytes scanned that http-parser has yet to take */
    /* Chunked-body scanner state (see scan_chunked in http_parse.c). */
    int chunk_state;
    uint64_t chunk_left;         /* the chunk size, then its data bytes still to come */
    size_t chunk_line;           /* bytes of the current chunk extension */
};

void http_parse_init(struct http_parse *hp, const struct http_limits *limits);
void http_parse_cleanup(struct http_parse *hp);
/* Forgets the finished request; keeps buffers for the next one. */
void http_parse_reset(struct http_parse *hp);

/*
 * Feeds len bytes. Returns how many were consumed and sets *status. On
 * HTTP_PARSE_ERROR, hp->err holds the PIPIT_E* code (its HTTP status is the answer).
 */
size_t http_parse_feed(struct http_parse *hp, const char *data, size_t len,
                       enum http_parse_status *status);

/* True once some bytes of a request have been seen (for the header timeout). */
bool http_parse_started(const struct http_parse *hp);

/* Case-insensitive lookup; NULL when absent. The first match wins. */
const char *http_request_header(const struct http_request *req, const char *name);
/* True when a comma-separated header contains token (case-insensitive). */
bool http_header_has_token(const char *value, const char *token);

#endif
