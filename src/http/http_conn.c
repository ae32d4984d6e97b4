/*
 * http_conn.c: the request/response cycle on one connection.
 *
 * State per connection: nothing between requests (http == NULL), otherwise one
 * struct http_conn. Timeouts use the connection's single wheel timer:
 *   waiting for a new request  → idle_timeout, then a silent close;
 *   reading a request          → header_timeout from its first byte, then 408;
 *   with the handler           → none (the handler always answers);
 *   reading an upload's body   → idle_timeout from the last byte, then 408.
 *
 * Uploads: for the routes the server streams (srv->http_stream_limit), the
 * handler is called once the head is parsed and reads the body through a
 * struct http_body_sink, a piece at a time, so a 100 MiB file never sits in memory.
 */
#include "http/http_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "net/conn.h"
#include "server.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

/* Stop taking new requests while this much output is waiting for the client. */
#define HTTP_OUTPUT_HIGH_WATER (1024 * 1024)
/* Extra input buffered beyond one maximal request before reading pauses. */
#define HTTP_INPUT_SLACK (64 * 1024)
/* Most upload bytes parsed at once: what a sink may have to take before it can say stop. */
#define HTTP_BODY_PIECE (64 * 1024)

#define HTTP_FILE_PIECE (256 * 1024)

struct http_file_out {
    uv_work_t work;
    struct conn *c;              /* held while a read is in flight */
    int fd;
    struct http_file_reader *reader; /* NULL: pread(2) */
    int64_t off;
    int64_t left;
    ssize_t got;                 /* the last read's result; -errno on failure */
    bool reading;
    bool orphaned;               /* the connection went away during a read */
    char buf[HTTP_FILE_PIECE];
};

static void file_out_free(struct http_file_out *fo)
{
    /* close(2) of a regular file does not block on I/O: no need for the pool. */
    close(fo->fd);
    if (fo->reader != NULL) {
        fo->reader->free(fo->reader);
    }
    free(fo);
}

static void http_conn_process(struct conn *c);
static void file_out_pump(struct conn *c);
static void http_conn_finish(struct conn *c);
static void on_body_piece(void *arg, const char *data, size_t len);

/* Releases what an exchange owns; safe to call twice. */
static void http_exchange_end(struct http_exchange *x)
{
    PIPIT_FREE(x->path);
    if (x->ctx_free != NULL && x->ctx != NULL) {
        x->ctx_free(x->ctx);
    }
    x->ctx = NULL;
    x->ctx_free = NULL;
}

static const char *status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

bool http_etag_matches(const char *header, const char *etag)
{
    return header != NULL && (strcmp(header, "*") == 0 || strstr(header, etag) != NULL);
}

void http_date(char *out, int64_t unix_seconds)
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static size_t http_input_cap(const struct server *srv)
{
    return (size_t)(srv->cfg.max_header_size + srv->cfg.max_body_size) + HTTP_INPUT_SLACK;
}

static struct http_conn *http_conn_get(struct conn *c)
{
    struct server *srv = c->w->srv;

    if (c->http == NULL) {
        struct http_limits limits = {
            .max_header_count = (size_t)srv->cfg.max_header_count,
            .max_header_size = (size_t)srv->cfg.max_header_size,
            .max_url_length = (size_t)srv->cfg.max_url_length,
            .max_body_size = (size_t)srv->cfg.max_body_size,
        };

        c->http = xcalloc(1, sizeof(*c->http));
        http_parse_init(&c->http->parse, &limits);
        c->http->parse.stream_limit = srv->http_stream_limit;
        c->http->parse.on_chunk = on_body_piece;
        c->http->parse.cb_arg = c;
        buf_init(&c->http->in, http_input_cap(srv));
    }
    return c->http;
}

void http_conn_free(struct conn *c)
{
    struct http_conn *h = c->http;

    if (h == NULL) {
        return;
    }
    if (h->file_out != NULL) {
        if (h->file_out->reading) {
            h->file_out->orphaned = true; /* on_file_read frees it */
        } else {
            file_out_free(h->file_out);
        }
    }
    http_parse_cleanup(&h->parse);
    buf_cleanup(&h->in);
    http_exchange_end(&h->x);
    free(h);
    c->http = NULL;
}

void http_conn_start(struct conn *c)
{
    /* A new connection must send its first request within the header timeout. */
    conn_timer_arm(c, c->w->srv->cfg.header_timeout);
}

void http_conn_on_data(struct conn *c, const char *data, size_t len)
{
    struct http_conn *h = http_conn_get(c);

    if (buf_append(&h->in, data, len) != 0) {
        /* Cannot happen while reading pauses at the cap; refuse rather than grow. */
        conn_close(c, false);
        return;
    }
    if (h->in.len >= h->in.max - WORKER_READ_BUF) {
        conn_pause_read(c);
    }
    http_conn_process(c);
}

/*
 * Decodes %XX in a path; NULL on a bad escape. An encoded NUL or "/" sets
 * *nowhere: no route or file name can contain one; cutting the string at a NUL
 * would turn "/secret%00.png" into "/secret", and "%2F" is data, not a segment
 * separator (RFC 3986 §2.2), so "/v1/admin%2Fusers" must not be "/v1/admin/users"
 * to us while a proxy in front sees one segment.
 */
static char *decode_path(const char *s, size_t n, bool *nowhere)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;

            if (i + 2 >= n) {
                goto bad;
            }
            hi = s[i + 1];
            lo = s[i + 2];
            hi = hi >= '0' && hi <= '9' ? hi - '0' : (hi | 32) >= 'a' && (hi | 32) <= 'f' ? (hi | 32) - 'a' + 10 : -1;
            lo = lo >= '0' && lo <= '9' ? lo - '0' : (lo | 32) >= 'a' && (lo | 32) <= 'f' ? (lo | 32) - 'a' + 10 : -1;
            if (hi < 0 || lo < 0) {
                goto bad;
            }
            if ((hi == 0 && lo == 0) || (hi == 2 && lo == 0xf)) {
                *nowhere = true;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;

bad:
    free(out);
    return NULL;
}

static void http_fail(struct conn *c, int err)
{
    struct http_conn *h = c->http;

    /* Answer through the normal path so the status is counted and logged. */
    h->busy = true;
    h->close_after = true;
    http_exchange_end(&h->x);
    h->x = (struct http_exchange){ .conn = c, .req = &h->parse.req, .route = -1,
                                   .started_ms = worker_now(c->w) };
    conn_pause_read(c);
    http_respond_error(&h->x, err, NULL, NULL);
}

static void http_dispatch(struct conn *c)
{
    struct http_conn *h = c->http;
    struct http_request *req = &h->parse.req;
    const char *q = strchr(req->url, '?');
    size_t plen = q != NULL ? (size_t)(q - req->url) : strlen(req->url);
    bool nowhere = false;

    h->busy = true;
    conn_timer_cancel(c);
    http_exchange_end(&h->x);
    h->x = (struct http_exchange){
        .conn = c,
        .req = req,
        .query = q != NULL ? q + 1 : "",
        .route = -1,
        .head_only = req->method == HTTP_HEAD,
        .streaming = h->parse.streaming,
        .started_ms = worker_now(c->w),
    };
    if (!req->keep_alive || c->w->stopping) {
        h->close_after = true;
    }
    /* Origin-form (the parser turned an absolute-form target into one); no others. */
    if (req->url[0] != '/' || (h->x.path = decode_path(req->url, plen, &nowhere)) == NULL) {
        h->close_after = true;
        http_respond_error(&h->x, PIPIT_EBAD_REQUEST, "bad request target", NULL);
        return;
    }
    if (nowhere) {
        http_respond_error(&h->x, PIPIT_ENOT_FOUND, NULL, NULL);
        return;
    }
    c->w->srv->http_handler(&h->x);
}

/*
 * RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for our go
 * before sending the body (curl does, for bodies over 1 KiB). Size limits were
 * already checked against Content-Length, so the answer is always go.
 */
static void expect_continue(struct conn *c, struct http_conn *h)
{
    static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const char *expect = http_request_header(&h->parse.req, "expect");

    h->continued = true;
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
        h->parse.req.version_minor >= 1) {
        conn_send(c, go, sizeof(go) - 1);
    }
}

/* The upload's body ended (err 0) or stopped: the sink hears it once. */
static void body_end(struct conn *c, int err)
{
    struct http_conn *h = c->http;
    const struct http_body_sink *sink = h->sink;

    h->sink = NULL;
    h->body_wanted = false;
    conn_timer_cancel(c);
    if (err != 0) {
        h->close_after = true; /* the rest of the body is not read */
    }
    if (sink != NULL && !h->x.answered) {
        sink->end(&h->x, err);
    }
}

static void on_body_piece(void *arg, const char *data, size_t len)
{
    struct conn *c = arg;
    struct http_conn *h = c->http;

    /* A handler that answered early gets no more; its connection is closing. */
    if (h->sink != NULL && !h->x.answered && !h->sink->data(&h->x, data, len)) {
        h->body_wanted = false;
    }
}

void http_body_read(struct http_exchange *x, const struct http_body_sink *sink)
{
    struct conn *c = x->conn;
    struct http_conn *h = c->http;

    if (c->closing || h == NULL || x->answered || !x->streaming) {
        return;
    }
    h->sink = sink;
    h->body_wanted = true;
    /* Only now, with the request accepted, may a waiting client send its body. */
    if (!h->continued) {
        expect_continue(c, h);
    }
    http_conn_process(c);
}

static void http_conn_process(struct conn *c)
{
    struct http_conn *h = c->http;

    if (h == NULL || h->processing) {
        return;
    }
    h->processing = true;
    while (!c->closing && c->proto == CONN_HTTP) {
        enum http_parse_status st;
        size_t len = h->in.len;
        bool was_started = http_parse_started(&h->parse);
        bool was_busy;
        size_t n;

        if (h->busy) {
            /* With the handler: only an upload's body moves, while it is wanted. */
            if (!h->body_wanted) {
                break;
            }
            if (h->parse.done) {
                body_end(c, 0);
                break;
            }
            if (len == 0) {
                if (c->peer_eof) {
                    body_end(c, PIPIT_EBAD_REQUEST); /* cut short */
                } else {
                    conn_timer_arm(c, c->w->srv->cfg.idle_timeout);
                }
                break;
            }
            len = len < HTTP_BODY_PIECE ? len : HTTP_BODY_PIECE;
        } else if (h->close_after || len == 0 || conn_pending(c) >= HTTP_OUTPUT_HIGH_WATER) {
            break;
        }
        was_busy = h->busy;
        n = http_parse_feed(&h->parse, h->in.data, len, &st);
        buf_consume(&h->in, n);
        if (was_busy && !h->busy) {
            break; /* the handler answered during its upload's body: that request is over */
        }
        if (st == HTTP_PARSE_ERROR) {
            if (h->busy) {
                body_end(c, h->parse.err);
            } else {
                http_fail(c, h->parse.err);
            }
            break;
        }
        if (st == HTTP_PARSE_MORE) {
            if (h->busy) {
                continue; /* a piece went to the sink */
            }
            if (!was_started && http_parse_started(&h->parse)) {
                conn_timer_arm(c, c->w->srv->cfg.header_timeout);
            }
            if (h->parse.head_done && !h->continued) {
                expect_continue(c, h);
            }
            break;
        }
        if (h->busy) {
            body_end(c, 0); /* the last piece of an upload */
            break;
        }
        http_dispatch(c); /* a whole request, or an upload's head */
        if (c->http != h) {
            return; /* upgraded: the connection speaks another protocol now */
        }
    }
    h->processing = false;
    if (c->closing) {
        return;
    }
    if (h->busy) {
        if (h->body_wanted && h->in.len < h->in.max / 2) {
            conn_resume_read(c);
        }
        return;
    }
    if (h->in.len == 0 && !http_parse_started(&h->parse) && !h->close_after) {
        /* Idle keep-alive: give every HTTP buffer back. */
        http_conn_free(c);
        conn_resume_read(c);
    } else if (h->in.len < h->in.max / 2) {
        conn_resume_read(c);
    }
}

void http_conn_on_drain(struct conn *c)
{
    if (c->http != NULL && c->http->file_out != NULL) {
        file_out_pump(c);
        return;
    }
    http_conn_process(c);
}

void http_conn_on_eof(struct conn *c)
{
    struct http_conn *h = c->http;

    if (h != NULL && h->busy) {
        h->close_after = true; /* answer, then close */
        if (h->sink != NULL) {
            body_end(c, PIPIT_EBAD_REQUEST); /* the upload was cut short */
        }
        return;
    }
    conn_close(c, true);
}

void http_conn_on_timeout(struct conn *c)
{
    struct http_conn *h = c->http;

    if (h == NULL || !http_parse_started(&h->parse)) {
        log_debug(&c->log, "idle timeout");
        conn_close(c, false);
        return;
    }
    if (h->busy) {
        if (h->sink != NULL && h->body_wanted) {
            log_info(&c->log, "upload stalled");
            body_end(c, PIPIT_EREQUEST_TIMEOUT);
        }
        return;
    }
    log_info(&c->log, "request timeout");
    http_fail(c, PIPIT_EREQUEST_TIMEOUT);
}

void http_conn_shutdown(struct conn *c)
{
    struct http_conn *h = c->http;

    if (h != NULL && h->busy) {
        h->close_after = true;
        return;
    }
    conn_close(c, true);
}

/* After an answer: next request, keep-alive wait, or close. */
static void http_conn_finish(struct conn *c)
{
    struct http_conn *h = c->http;

    h->busy = false;
    h->sink = NULL;
    h->body_wanted = false;
    http_exchange_end(&h->x);
    if (h->close_after) {
        conn_close(c, true);
        return;
    }
    http_parse_reset(&h->parse);
    h->continued = false;
    conn_timer_arm(c, c->w->srv->cfg.idle_timeout);
    http_conn_process(c);
}

/*
 * Counts and logs the answer and writes its head; the body (len bytes) follows
 * in the same writev when given. Returns false when nothing can be sent (the
 * connection is closing): the caller then only cleans up.
 */
static bool send_answer(struct http_exchange *x, int status, const char *content_type,
                        const char *extra_headers, uint64_t len, const void *body)
{
    struct conn *c = x->conn;
    struct server *srv = c->w->srv;
    struct http_conn *h = c->http;
    char head[2048];
    char date[32];
    uv_buf_t parts[2];
    int n;

    x->answered = true;
    metrics_count_http(&srv->metrics, x->route, status);
    /* The raw target: a decoded path may hold a NUL. Unparsed requests show "-". */
    log_debug(&c->log, "%s %s %d %lldms",
              h != NULL && h->parse.head_done ? http_method_str(x->req->method) : "-",
              h != NULL && h->parse.head_done ? x->req->url : "-", status,
              (long long)(worker_now(c->w) - x->started_ms));
    if (c->closing || h == NULL) {
        return false;
    }
    if (h->parse.streaming && !h->parse.done) {
        h->close_after = true; /* answered before the whole upload was read */
    }
    if (status >= 400 && h->close_after) {
        /* The client may still be sending what we refused: don't RST our answer. */
        c->linger_wanted = true;
    }
    http_date(date, clock_now_ms() / 1000);
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\n"
                 "Date: %s\r\n"
                 "Server: pipit\r\n"
                 "X-Content-Type-Options: nosniff\r\n"
                 "%s%s%s"
                 "Content-Length: %llu\r\n"
                 "%s%s\r\n",
                 status, status_text(status), date,
                 content_type != NULL ? "Content-Type: " : "",
                 content_type != NULL ? content_type : "",
                 content_type != NULL ? "\r\n" : "",
                 (unsigned long long)len, h->close_after ? "Connection: close\r\n" : "",
                 extra_headers != NULL ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        conn_close(c, false);
        return false;
    }
    /* Head and body leave in one writev. */
    parts[0] = uv_buf_init(head, (unsigned)n);
    parts[1] = uv_buf_init((char *)body, x->head_only || body == NULL ? 0 : (unsigned)len);
    conn_sendv(c, parts, parts[1].len > 0 ? 2 : 1);
    return true;
}

void http_respond(struct http_exchange *x, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t len)
{
    if (send_answer(x, status, content_type, extra_headers, len, len > 0 ? body : NULL)) {
        http_conn_finish(x->conn);
    }
}

/* ---- File answers ---- */

/* On the pool: the next piece. */
static void file_read_work(uv_work_t *w)
{
    struct http_file_out *fo = w->data;
    size_t len = fo->left < HTTP_FILE_PIECE ? (size_t)fo->left : HTTP_FILE_PIECE;

    fo->got = fo->reader != NULL ? fo->reader->read(fo->reader, fo->fd, fo->buf, len, fo->off)
                                 : pread(fo->fd, fo->buf, len, fo->off);
    if (fo->got < 0) {
        fo->got = -errno;
    }
}

static void on_file_read(uv_work_t *w, int status)
{
    struct http_file_out *fo = w->data;
    struct conn *c = fo->c;
    ssize_t n = status == 0 ? fo->got : status;

    fo->reading = false;
    if (fo->orphaned) {
        file_out_free(fo);
        conn_unref(c);
        return;
    }
    if (n <= 0) {
        /* The file shrank or failed under us: the promised length cannot be kept. */
        log_warn(&c->log, "file answer: read failed (%s)", n < 0 ? strerror((int)-n) : "EOF");
        c->http->file_out = NULL;
        file_out_free(fo);
        conn_close(c, false);
        conn_unref(c);
        return;
    }
    fo->off += n;
    fo->left -= n;
    conn_send(c, fo->buf, (size_t)n);
    file_out_pump(c);
    conn_unref(c);
}

/* Reads the next piece when the client has room for it; ends the answer after the last. */
static void file_out_pump(struct conn *c)
{
    struct http_conn *h = c->http;
    struct http_file_out *fo = h != NULL ? h->file_out : NULL;
    int rc;

    if (fo == NULL || fo->reading || c->closing) {
        return;
    }
    if (fo->left == 0) {
        h->file_out = NULL;
        file_out_free(fo);
        http_conn_finish(c);
        return;
    }
    if (conn_pending(c) >= HTTP_FILE_PIECE) {
        return; /* http_conn_on_drain comes back here */
    }
    fo->work.data = fo;
    rc = uv_queue_work(&c->w->loop, &fo->work, file_read_work, on_file_read);
    if (rc != 0) {
        h->file_out = NULL;
        file_out_free(fo);
        conn_close(c, false);
        return;
    }
    fo->reading = true;
    conn_ref(c);
}

void http_respond_file(struct http_exchange *x, int status, const char *content_type,
                       const char *extra_headers, int fd, int64_t offset, int64_t len,
                       struct http_file_reader *reader)
{
    struct conn *c = x->conn;
    struct http_file_out *fo = xcalloc(1, sizeof(*fo));

    fo->c = c;
    fo->fd = fd;
    fo->reader = reader;
    fo->off = offset;
    fo->left = x->head_only ? 0 : len;
    if (!send_answer(x, status, content_type, extra_headers, (uint64_t)len, NULL)) {
        file_out_free(fo);
        return;
    }
    c->http->file_out = fo;
    file_out_pump(c);
}

void http_respond_json(struct http_exchange *x, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);

    json_decref(body);
    if (text == NULL) {
        http_respond_error(x, PIPIT_EINTERNAL, NULL, NULL);
        return;
    }
    http_respond_json_text(x, status, text, strlen(text));
    free(text);
}

void http_respond_json_text(struct http_exchange *x, int status, const char *text, size_t len)
{
    http_respond(x, status, "application/json", "Cache-Control: no-store\r\n", text, len);
}

void http_respond_error(struct http_exchange *x, int err, const char *message,
                        const char *extra_headers)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", pipit_errcode(err),
                             "message", message != NULL ? message : pipit_strerror(err));
    char *text = json_dumps(body, JSON_COMPACT);
    struct buf hdrs;

    json_decref(body);
    buf_init(&hdrs, 4096);
    buf_appendz(&hdrs, "Cache-Control: no-store\r\n");
    if (extra_headers != NULL) {
        buf_appendz(&hdrs, extra_headers);
    }
    http_respond(x, pipit_errstatus(err), "application/json", hdrs.data, text,
                 text != NULL ? strlen(text) : 0);
    buf_cleanup(&hdrs);
    free(text);
}

void http_conn_detach(struct conn *c, struct buf *leftover)
{
    struct http_conn *h = c->http;

    if (h != NULL) {
        if (h->in.len > 0) {
            buf_append(leftover, h->in.data, h->in.len);
        }
        http_conn_free(c);
    }
    conn_timer_cancel(c);
}
