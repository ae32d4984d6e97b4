/*
 * http_parse.c: the strict wrapper around http-parser (RFC 9112).
 *
 * Two passes over the head bytes: our own line scanner (bare LF, obs-fold) and
 * http-parser (syntax, framing). Callback results are copied into `head`, a
 * buffer capped at max_header_size, so a request can never make us hold more
 * than the configured limits.
 */
#include "http/http_parse.h"

#include <string.h>
#include <strings.h>

#include "util/err.h"
#include "util/mem.h"

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr(extra, c) != NULL);
}

static int fail(struct http_parse *hp, int err)
{
    if (hp->err == 0) {
        hp->err = err;
    }
    return -1;
}

void http_parse_init(struct http_parse *hp, const struct http_limits *limits)
{
    memset(hp, 0, sizeof(*hp));
    hp->limits = *limits;
    /* The head holds the text plus one NUL per url, name and value. */
    buf_init(&hp->head, limits->max_header_size + 2 * limits->max_header_count + 2);
    buf_init(&hp->req.body, limits->max_body_size);
    http_parser_init(&hp->p, HTTP_REQUEST);
    hp->p.data = hp;
    hp->req.content_length = -1;
}

void http_parse_cleanup(struct http_parse *hp)
{
    buf_cleanup(&hp->head);
    buf_cleanup(&hp->req.body);
    PIPIT_FREE(hp->offsets);
    PIPIT_FREE(hp->req.headers);
}

void http_parse_reset(struct http_parse *hp)
{
    struct http_limits limits = hp->limits;
    struct buf head = hp->head;
    struct buf body = hp->req.body;
    size_t *offsets = hp->offsets;
    size_t cap = hp->cap_offsets;
    struct http_header *headers = hp->req.headers;
    uint64_t (*stream_limit)(void *, const struct http_request *) = hp->stream_limit;
    void (*on_chunk)(void *, const char *, size_t) = hp->on_chunk;
    void *cb_arg = hp->cb_arg;

    buf_reset(&head);
    buf_reset(&body);
    memset(hp, 0, sizeof(*hp));
    hp->limits = limits;
    hp->head = head;
    hp->req.body = body;
    hp->offsets = offsets;
    hp->cap_offsets = cap;
    hp->req.headers = headers;
    hp->req.content_length = -1;
    hp->stream_limit = stream_limit;
    hp->on_chunk = on_chunk;
    hp->cb_arg = cb_arg;
    /* A fresh parser: whatever state the last message left must not leak over. */
    http_parser_init(&hp->p, HTTP_REQUEST);
    hp->p.data = hp;
}

bool http_parse_started(const struct http_parse *hp)
{
    return hp->head.len > 0 || hp->p.nread > 0;
}

static int on_message_begin(http_parser *p)
{
    return 0;
}

static int head_append(struct http_parse *hp, const char *at, size_t len)
{
    if (buf_append(&hp->head, at, len) != 0) {
        return fail(hp, PIPIT_EHEADERS_TOO_LARGE);
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_parse *hp = p->data;

    hp->url_len += len;
    if (hp->url_len > hp->limits.max_url_length) {
        return fail(hp, PIPIT_EURI_TOO_LONG);
    }
    return head_append(hp, at, len);
}

static void add_offset(struct http_parse *hp)
{
    if (hp->noffsets == hp->cap_offsets) {
        hp->cap_offsets = hp->cap_offsets ? hp->cap_offsets * 2 : 16;
        hp->offsets = xrealloc(hp->offsets, hp->cap_offsets * sizeof(*hp->offsets));
    }
    hp->offsets[hp->noffsets++] = hp->head.len;
}

/*
 * Trailer fields after a chunked body (RFC 9112 §7.1.2) come through the header
 * callbacks again. They are counted against the head limit and dropped: nothing
 * reads them, and appending them to the head buffer could move it under the
 * url and header pointers handed out at on_headers_complete.
 */
static int trailer_bytes(struct http_parse *hp, size_t len)
{
    hp->trailer_len += len;
    return hp->trailer_len > hp->limits.max_header_size ? fail(hp, PIPIT_EHEADERS_TOO_LARGE) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_parse *hp = p->data;
    char lower[256];

    if (hp->head_done) {
        return trailer_bytes(hp, len);
    }

    if (hp->last != 1) {
        /* A new field: close the url or the previous value. */
        if (head_append(hp, "", 1) != 0) {
            return -1;
        }
        if (hp->noffsets / 2 >= hp->limits.max_header_count) {
            return fail(hp, PIPIT_EHEADERS_TOO_LARGE);
        }
        add_offset(hp);
        hp->last = 1;
    }
    while (len > 0) {
        size_t n = len < sizeof(lower) ? len : sizeof(lower);

        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)at[i];

            if (!is_tchar(c)) {
                return fail(hp, PIPIT_EBAD_REQUEST);
            }
            lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        if (head_append(hp, lower, n) != 0) {
            return -1;
        }
        at += n;
        len -= n;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_parse *hp = p->data;

    if (hp->head_done) {
        return trailer_bytes(hp, len);
    }

    if (hp->last != 2) {
        if (head_append(hp, "", 1) != 0) {
            return -1;
        }
        add_offset(hp);
        hp->last = 2;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];

        /* RFC 9110 §5.5: no CTLs but HTAB in field values. */
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return fail(hp, PIPIT_EBAD_REQUEST);
        }
    }
    return head_append(hp, at, len);
}

/*
 * RFC 9112 §3.2.2: a server must accept the absolute-form "http://host/path?q"
 * and take the target's authority instead of the Host header. The url sits at
 * the start of the head buffer, so it is rewritten in place: the authority moves
 * to the front and gets its NUL; the path (or "/" put before a bare query) stays
 * where it is. Returns the authority, or NULL when the target is another form.
 */
static const char *absolute_form(struct http_request *req, char *u)
{
    size_t skip = strncasecmp(u, "http://", 7) == 0 ? 7 : strncasecmp(u, "https://", 8) == 0 ? 8 : 0;
    size_t alen;
    char *rest;

    if (skip == 0) {
        return NULL;
    }
    alen = strcspn(u + skip, "/?#");
    rest = u + skip + alen;
    memmove(u, u + skip, alen);
    u[alen] = '\0';
    if (*rest != '/') {
        *--rest = '/'; /* rest - 1 >= u + alen + 1: the scheme left room */
    }
    req->url = rest;
    return u;
}

/* RFC 9110 §7.2 and RFC 3986 §3.2.2: uri-host [":" port], or empty. */
static bool host_value_ok(const char *v)
{
    return strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                     "-._~!$&'()*+,;=%:[]") == strlen(v);
}

static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    return s;
}

static int on_headers_complete(http_parser *p)
{
    struct http_parse *hp = p->data;
    struct http_request *req = &hp->req;
    const char *authority;
    size_t nhost = 0, nte = 0;
    bool te_chunked = false;
    uint64_t cap;
    size_t n;

    if (head_append(hp, "", 1) != 0) {
        return -1;
    }
    if (hp->last == 1) {
        /* A field without a value cannot happen with http-parser; be safe. */
        return fail(hp, PIPIT_EBAD_REQUEST);
    }
    n = hp->noffsets / 2;
    req->headers = xrealloc(req->headers, (n ? n : 1) * sizeof(*req->headers));
    req->nheaders = n;
    req->url = hp->head.data;
    for (size_t i = 0; i < n; i++) {
        req->headers[i].name = hp->head.data + hp->offsets[2 * i];
        req->headers[i].value = trim(hp->head.data + hp->offsets[2 * i + 1]);
    }
    req->method = (enum http_method)p->method;
    req->version_minor = p->http_minor;
    if (p->http_major != 1) {
        return fail(hp, PIPIT_EBAD_REQUEST);
    }
    req->keep_alive = http_should_keep_alive(p) != 0;
    req->upgrade = p->upgrade != 0;
    req->chunked = (p->flags & F_CHUNKED) != 0;
    authority = absolute_form(req, hp->head.data);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(req->headers[i].name, "host") == 0) {
            if (authority != NULL) {
                req->headers[i].value = authority;
            }
            nhost++;
        } else if (strcmp(req->headers[i].name, "transfer-encoding") == 0) {
            te_chunked = nte++ == 0 && strcasecmp(req->headers[i].value, "chunked") == 0;
        }
    }
    /*
     * RFC 9112 §3.2: 400 for a 1.1 request without Host, and for any with two
     * or with an invalid one (proxies and we could disagree on which host).
     */
    if ((p->http_minor >= 1 && nhost == 0) || nhost > 1 ||
        (nhost == 1 && !host_value_ok(http_request_header(req, "host")))) {
        return fail(hp, PIPIT_EBAD_REQUEST);
    }
    /*
     * RFC 9112 §6.1: we decode no transfer coding but chunked, once; anything
     * else (gzip, chunked twice, two headers) is framing we cannot read the same
     * way as every proxy would. In HTTP/1.0, where Transfer-Encoding did not
     * exist, the connection closes after the answer.
     */
    if (nte > 0 && (nte > 1 || !te_chunked)) {
        return fail(hp, PIPIT_EBAD_REQUEST);
    }
    if (nte > 0 && p->http_minor == 0) {
        req->keep_alive = false;
    }
    cap = hp->limits.max_body_size;
    if (hp->stream_limit != NULL && !req->upgrade &&
        (hp->stream_max = hp->stream_limit(hp->cb_arg, req)) > 0) {
        hp->streaming = true;
        cap = hp->stream_max;
        /* Stop right after the head: no body byte may be parsed before the caller decides. */
        http_parser_pause(p, 1);
    }
    if (p->flags & F_CONTENTLENGTH) {
        if (p->content_length > cap) {
            return fail(hp, PIPIT_EPAYLOAD_TOO_LARGE);
        }
        req->content_length = (int64_t)p->content_length;
    }
    hp->head_done = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_parse *hp = p->data;

    if (hp->streaming) {
        /* A chunked body has no length up front: the cap is checked as it comes. */
        hp->streamed += len;
        if (hp->streamed > hp->stream_max) {
            return fail(hp, PIPIT_EPAYLOAD_TOO_LARGE);
        }
        hp->on_chunk(hp->cb_arg, at, len);
        return 0;
    }
    if (buf_append(&hp->req.body, at, len) != 0) {
        return fail(hp, PIPIT_EPAYLOAD_TOO_LARGE);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_parse *hp = p->data;

    hp->done = true;
    /* Stop here: the next pipelined request waits until this one is answered. */
    http_parser_pause(p, 1);
    return 0;
}

/*
 * Scans head bytes for what http-parser tolerates: bare LF or bare CR line ends
 * and header lines starting with whitespace (obs-fold, RFC 9112 §5.2). Returns how
 * many bytes belong to the head: all of len unless the blank line ending it is
 * inside. State lives in hp, so the head may arrive one byte at a time.
 */
static size_t scan_head(struct http_parse *hp, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];

        if (c == '\n') {
            if (!hp->last_cr) {
                hp->line_bad = true;
                return i;
            }
            if (hp->line_len == 1) {
                /* An empty line ends the head; before the request line it is noise. */
                if (hp->lines > 0) {
                    hp->scan_done = true;
                    return i + 1;
                }
            } else {
                hp->lines++;
            }
            hp->line_len = 0;
            hp->last_cr = false;
            continue;
        }
        if (hp->last_cr || (hp->line_len == 0 && hp->lines > 0 && (c == ' ' || c == '\t'))) {
            hp->line_bad = true;
            return i;
        }
        hp->line_len++;
        hp->last_cr = c == '\r';
    }
    return len;
}

enum { CH_SIZE0, CH_SIZE, CH_SIZE_WS, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
       CH_TRAILER0, CH_TRAILER, CH_TRAILER_LF, CH_END_LF, CH_DONE };

static size_t chunk_fail(struct http_parse *hp, int err, size_t at)
{
    hp->err = err;
    return at;
}

static int hex_value(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
}

/*
 * Checks a chunked body byte by byte before http-parser sees it (RFC 9112 §7.1):
 * chunk-size [BWS ";" ext] CRLF, data, CRLF; then trailer lines and an empty
 * line, every line ending in CRLF. The shared http-parser is built without
 * HTTP_PARSER_STRICT: it takes any two bytes after a chunk's data for its CRLF
 * and anything up to a CR after the size, which is where a front proxy and we
 * would read different requests. Returns how many bytes belong to the body (all
 * of len until its end is inside); on a violation hp->err is set.
 */
static size_t scan_chunked(struct http_parse *hp, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        bool ctl = (c < 0x20 && c != '\t') || c == 0x7f;

        switch (hp->chunk_state) {
        case CH_SIZE0:
        case CH_SIZE:
            if (hex_value(c) >= 0) {
                if (hp->chunk_left > (UINT64_MAX >> 4)) {
                    return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
                }
                hp->chunk_left = hp->chunk_left << 4 | (uint64_t)hex_value(c);
                hp->chunk_state = CH_SIZE;
            } else if (hp->chunk_state == CH_SIZE0) {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
            } else if (c == '\r') {
                hp->chunk_state = CH_SIZE_LF;
            } else if (c == ' ' || c == '\t' || c == ';') {
                hp->chunk_state = c == ';' ? CH_EXT : CH_SIZE_WS;
            } else {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
            }
            break;
        case CH_SIZE_WS: /* BWS is allowed only before a ";" */
            if (c == ';') {
                hp->chunk_state = CH_EXT;
            } else if (c != ' ' && c != '\t') {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
            }
            break;
        case CH_EXT:
            if (c == '\r') {
                hp->chunk_state = CH_SIZE_LF;
            } else if (ctl) {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
            } else if (++hp->chunk_line > hp->limits.max_header_size) {
                return chunk_fail(hp, PIPIT_EHEADERS_TOO_LARGE, i);
            }
            break;
        case CH_SIZE_LF:
            if (c != '\n') {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
            }
            hp->chunk_line = 0;
            hp->chunk_state = hp->chunk_left == 0 ? CH_TRAILER0 : CH_DATA;
            break;
        case CH_DATA: {
            uint64_t n = len - i < hp->chunk_left ? len - i : hp->chunk_left;

            hp->chunk_left -= n;
            i += (size_t)n - 1;
            if (hp->chunk_left == 0) {
                hp->chunk_state = CH_DATA_CR;
            }
            break;
        }
        case CH_DATA_CR:
        case CH_TRAILER_LF:
        case CH_DATA_LF:
        case CH_END_LF:
            if (c != (hp->chunk_state == CH_DATA_CR ? '\r' : '\n')) {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
            }
            if (hp->chunk_state == CH_END_LF) {
                hp->chunk_state = CH_DONE;
                return i + 1;
            }
            hp->chunk_state = hp->chunk_state == CH_DATA_CR ? CH_DATA_LF
                              : hp->chunk_state == CH_DATA_LF ? CH_SIZE0 : CH_TRAILER0;
            break;
        case CH_TRAILER0: /* a trailer field, or the empty line that ends the body */
            if (c == '\r') {
                hp->chunk_state = CH_END_LF;
            } else if (c == ' ' || c == '\t' || ctl) {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i); /* obs-fold, bare LF */
            } else {
                hp->chunk_state = CH_TRAILER;
            }
            break;
        case CH_TRAILER: /* its size is counted by the header callbacks (trailer_bytes) */
            if (c == '\r') {
                hp->chunk_state = CH_TRAILER_LF;
            } else if (ctl) {
                return chunk_fail(hp, PIPIT_EBAD_REQUEST, i);
            }
            break;
        default:
            return i;
        }
    }
    return len;
}

size_t http_parse_feed(struct http_parse *hp, const char *data, size_t len,
                       enum http_parse_status *status)
{
    size_t total = 0;

    *status = HTTP_PARSE_MORE;
    if (hp->err != 0) {
        *status = HTTP_PARSE_ERROR;
        return 0;
    }
    while (len > 0 && !hp->done) {
        size_t n = len;
        size_t got;

        if (!hp->scan_done) {
            n = scan_head(hp, data, len);
            if (hp->line_bad) {
                hp->err = PIPIT_EBAD_REQUEST;
                *status = HTTP_PARSE_ERROR;
                return total;
            }
            hp->head_pending += n;
        } else if (hp->head_pending > 0) {
            /* The head's last byte, left over when a streamed body's head paused. */
            n = len < hp->head_pending ? len : hp->head_pending;
        } else if (hp->req.chunked && hp->chunk_state != CH_DONE) {
            n = scan_chunked(hp, data, len);
            if (hp->err != 0) {
                *status = HTTP_PARSE_ERROR;
                return total;
            }
        }
        got = http_parser_execute(&hp->p, &settings, data, n);
        hp->head_pending -= got < hp->head_pending ? got : hp->head_pending;
        total += got;
        if (hp->streaming && !hp->head_reported && hp->err == 0 &&
            HTTP_PARSER_ERRNO(&hp->p) == HPE_PAUSED) {
            /* Paused in on_headers_complete: the body starts at the next feed. */
            http_parser_pause(&hp->p, 0);
            hp->head_reported = true;
            *status = HTTP_PARSE_HEAD;
            return total;
        }
        if (hp->done) {
            break;
        }
        if (HTTP_PARSER_ERRNO(&hp->p) != HPE_OK) {
            if (hp->err == 0) {
                hp->err = HTTP_PARSER_ERRNO(&hp->p) == HPE_HEADER_OVERFLOW
                              ? PIPIT_EHEADERS_TOO_LARGE
                              : PIPIT_EBAD_REQUEST;
            }
            *status = HTTP_PARSE_ERROR;
            return total;
        }
        if (hp->p.upgrade && hp->head_done && !hp->req.chunked &&
            hp->req.content_length <= 0) {
            /*
             * http-parser stops at the end of a body-less Upgrade head: the rest
             * is another protocol. With a body it reads the body first, and
             * on_message_complete ends the request as usual.
             */
            hp->done = true;
            break;
        }
        data += got;
        len -= got;
        if (got < n) {
            /* Should not happen without an error; treat it as one. */
            hp->err = PIPIT_EBAD_REQUEST;
            *status = HTTP_PARSE_ERROR;
            return total;
        }
    }
    if (hp->done) {
        if (!hp->head_done) {
            /* Never hand out a request without a head (url and headers). */
            hp->err = PIPIT_EBAD_REQUEST;
            *status = HTTP_PARSE_ERROR;
            return total;
        }
        *status = HTTP_PARSE_DONE;
    }
    return total;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

bool http_header_has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);

    while (value != NULL && *value != '\0') {
        const char *end;
        size_t n;

        while (*value == ' ' || *value == '\t' || *value == ',') {
            value++;
        }
        end = value;
        while (*end != '\0' && *end != ',') {
            end++;
        }
        n = (size_t)(end - value);
        while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t')) {
            n--;
        }
        if (n == tlen && strncasecmp(value, token, n) == 0) {
            return true;
        }
        value = end;
    }
    return false;
}
