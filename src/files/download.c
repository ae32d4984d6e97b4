/*
 * download.c: GET /v1/files/{id} and /v1/files/{id}/thumbnail.
 *
 * On a reader: the file, the caller's right to it (owner, or a member who can
 * see a message that shares it: store_file_readable; anyone else gets the same
 * 404 as for a file that does not exist), and an open descriptor. On the loop:
 * conditional and range answers, then http_respond_file() sends the bytes.
 *
 * Headers: the ETag is the content's SHA-256 (strong: the bytes never change);
 * raster images show inline, everything else downloads as an attachment with
 * the uploader's name; a sandboxing CSP and nosniff keep a hostile file from
 * running as a page of this origin even if opened directly.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "files/files_internal.h"
#include "http/http_conn.h"
#include "http/http_range.h"
#include "keys/sealed_file.h"
#include "net/conn.h"
#include "server.h"
#include "store/jobs.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

struct download {
    struct job job;
    struct conn *c;
    int64_t id;
    int64_t user_id;
    int64_t app_id;
    bool thumbnail;
    struct store_file file;
    int fd;
    int64_t size;               /* of the content (opened, when it is sealed) */
    struct http_file_reader *reader; /* NULL: the bytes on disk are the content */
};

/* Encryption at rest: the content of a sealed blob, a piece at a time (keys/sealed_file.h). */
struct sealed_reader {
    struct http_file_reader base;
    struct sealed_file file;    /* on the answer's descriptor */
};

static ssize_t sealed_read(struct http_file_reader *r, int fd, void *buf, size_t len, int64_t off)
{
    return sealed_file_read(&((struct sealed_reader *)r)->file, buf, len, off);
}

static void sealed_free(struct http_file_reader *r)
{
    sealed_file_close(&((struct sealed_reader *)r)->file);
    free(r);
}

static void download_run(struct job *j, void *ctx)
{
    struct download *d = (struct download *)j;
    const struct keyring *keys = d->c->w->srv->keys;
    char path[4200];
    struct stat st;

    j->rc = store_file_get(ctx, d->id, &d->file);
    if (j->rc == 0 && d->file.app_id != d->app_id) {
        j->rc = PIPIT_ENOT_FOUND;
    }
    if (j->rc == 0) {
        j->rc = store_file_readable(ctx, d->id, d->user_id, clock_now_ms());
    }
    if (j->rc != 0) {
        return;
    }
    if (d->thumbnail && strcmp(d->file.blob.thumb, "ready") != 0) {
        j->rc = strcmp(d->file.blob.thumb, "pending") == 0 ? PIPIT_EUNAVAILABLE
                                                           : PIPIT_ENOT_FOUND;
        return;
    }
    files_blob_path(d->c->w->srv, d->file.blob.sha256, d->thumbnail ? ".thumb" : "", path,
                    sizeof(path));
    d->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->fd < 0 || fstat(d->fd, &st) != 0) {
        j->rc = PIPIT_EIO;
        return;
    }
    d->size = st.st_size;
    if (keys != NULL) {
        struct sealed_reader *r = xcalloc(1, sizeof(*r));
        char name[STORE_SHA256_HEX + 8];

        snprintf(name, sizeof(name), "%s%s", d->file.blob.sha256, d->thumbnail ? ".thumb" : "");
        if (sealed_file_open(&r->file, keys, name, d->fd) != 0) {
            free(r);
            j->rc = PIPIT_EIO;
            return;
        }
        r->base = (struct http_file_reader){ sealed_read, sealed_free };
        d->reader = &r->base;
        d->size = r->file.plain_size;
    }
}

/* Content-Disposition with the name as ASCII (quoted) and as UTF-8 (RFC 6266, RFC 8187). */
static void disposition(struct buf *h, const char *kind, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";

    buf_printf(h, "Content-Disposition: %s; filename=\"", kind);
    for (const unsigned char *s = (const unsigned char *)name; *s != '\0'; s++) {
        char ch = *s >= 0x80 || *s == '"' || *s == '\\' || *s < 0x20 ? '_' : (char)*s;

        buf_append(h, &ch, 1);
    }
    buf_appendz(h, "\"; filename*=UTF-8''");
    for (const unsigned char *s = (const unsigned char *)name; *s != '\0'; s++) {
        bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                     (*s >= '0' && *s <= '9') || strchr("!#$&+-.^_`|~", *s) != NULL;
        char esc[3] = { '%', hex[*s >> 4], hex[*s & 15] };

        if (plain) {
            buf_append(h, s, 1);
        } else {
            buf_append(h, esc, 3);
        }
    }
    buf_appendz(h, "\r\n");
}

static void answer(struct http_exchange *x, struct download *d)
{
    const struct store_blob *b = &d->file.blob;
    const char *mime = d->thumbnail ? "image/webp" : b->mime;
    const char *if_range = http_request_header(x->req, "if-range");
    int64_t start = 0, len = d->size;
    enum http_range range = HTTP_RANGE_NONE;
    char etag[80];
    struct buf h;
    int fd = d->fd;

    d->fd = -1;
    snprintf(etag, sizeof(etag), "\"%s%s\"", b->sha256, d->thumbnail ? "-thumb" : "");
    buf_init(&h, 4096);
    buf_printf(&h, "ETag: %s\r\nCache-Control: private, no-cache\r\nAccept-Ranges: bytes\r\n"
                   "Content-Security-Policy: default-src 'none'; sandbox\r\n"
                   "Referrer-Policy: no-referrer\r\nCross-Origin-Resource-Policy: same-origin\r\n",
               etag);
    disposition(&h, d->thumbnail || files_mime_raster(mime) ? "inline" : "attachment",
                d->file.name);
    if (http_etag_matches(http_request_header(x->req, "if-none-match"), etag)) {
        close(fd);
        http_respond(x, 304, NULL, h.data, NULL, 0);
        buf_cleanup(&h);
        return;
    }
    /* If-Range with another validator: the client's piece is stale, send it all. */
    if (if_range == NULL || strcmp(if_range, etag) == 0) {
        range = http_range_parse(http_request_header(x->req, "range"), d->size, &start, &len);
    }
    if (range == HTTP_RANGE_UNSATISFIABLE) {
        char size[64];

        close(fd);
        snprintf(size, sizeof(size), "Content-Range: bytes */%lld\r\n", (long long)d->size);
        http_respond_error(x, PIPIT_ERANGE_NOT_SATISFIABLE, NULL, size);
        buf_cleanup(&h);
        return;
    }
    if (range == HTTP_RANGE_OK) {
        buf_printf(&h, "Content-Range: bytes %lld-%lld/%lld\r\n", (long long)start,
                   (long long)(start + len - 1), (long long)d->size);
    }
    http_respond_file(x, range == HTTP_RANGE_OK ? 206 : 200, mime, h.data, fd, start, len,
                      d->reader);
    d->reader = NULL;
    buf_cleanup(&h);
}

static void download_done(struct job *j)
{
    struct download *d = (struct download *)j;
    struct conn *c = d->c;
    struct http_exchange *x = c->http != NULL && !c->closing ? &c->http->x : NULL;

    if (x != NULL && j->rc == 0) {
        answer(x, d);
    } else if (x != NULL && j->rc == PIPIT_EUNAVAILABLE && d->thumbnail) {
        http_respond_error(x, j->rc, "the thumbnail is being made", "Retry-After: 1\r\n");
    } else if (x != NULL) {
        http_respond_error(x, j->rc == PIPIT_EIO ? PIPIT_EINTERNAL : j->rc,
                           j->rc == PIPIT_ENOT_FOUND ? "no such file" : NULL, NULL);
    }
    if (d->fd >= 0) {
        close(d->fd);
    }
    if (d->reader != NULL) {
        d->reader->free(d->reader);
    }
    conn_unref(c);
    free(d);
}

static void download(struct http_exchange *x, bool thumbnail)
{
    struct api_request *ar = api_request_of(x);
    struct download *d;
    int64_t id = route_id(ar->params[0]);
    int rc;

    if (id <= 0) {
        http_respond_error(x, PIPIT_ENOT_FOUND, "no such file", NULL);
        return;
    }
    d = xcalloc(1, sizeof(*d));
    d->c = x->conn;
    d->id = id;
    d->user_id = ar->who.user.id;
    d->app_id = ar->who.user.app_id;
    d->thumbnail = thumbnail;
    d->fd = -1;
    d->job = (struct job){ .origin = x->conn->w, .run = download_run, .done = download_done };
    conn_ref(d->c);
    rc = jobs_read(x->conn->w->srv->jobs, &d->job);
    if (rc != 0) {
        conn_unref(d->c);
        free(d);
        http_respond_error(x, rc, NULL, NULL);
    }
}

void files_download(struct http_exchange *x)
{
    download(x, false);
}

void files_thumbnail(struct http_exchange *x)
{
    download(x, true);
}
