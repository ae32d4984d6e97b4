/*
 * files.c: static files from web_root (the web client).
 *
 * The file is opened and read on a pool thread (disk I/O never runs on a loop)
 * and answered from memory; web assets are small and FILES_MAX caps them.
 * Safety: the decoded path may not contain "..", NUL or backslashes, and the
 * resolved real path must stay under web_root's real path, so neither encoded
 * traversal nor a symlink can reach outside it.
 *
 * Caching: a strong ETag from inode, size and mtime; If-None-Match → 304.
 * Every file carries a strict Content-Security-Policy (WEB_CSP) and
 * Referrer-Policy: no-referrer; HTTP answers all carry nosniff.
 * HTML revalidates every time, /assets/ (content-hashed build output) is
 * immutable for a year, everything else for an hour.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "server.h"
#include "store/jobs.h"
#include "util/err.h"
#include "util/mem.h"

#define FILES_MAX (32 * 1024 * 1024)

/*
 * The web app and the admin console run only their own scripts and styles
 * (no inline code, no eval), talk only to this server, load images only from
 * it (data: and blob: for previews), and may not be framed. Nothing leaves the
 * deployment from a browser either.
 */
#define WEB_CSP                                                                          \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " \
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; "      \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

struct file_job {
    struct job job;
    struct conn *c;
    const char *root;   /* srv->web_root_real: resolved once at start-up */
    char *path;         /* owned copy of the request path */
    char etag[64];
    char content_type[64];
    int64_t mtime;
    char *data;
    size_t len;
};

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    { "html", "text/html; charset=utf-8" },
    { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" },
    { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" },
    { "json", "application/json" },
    { "map", "application/json" },
    { "webmanifest", "application/manifest+json" },
    { "txt", "text/plain; charset=utf-8" },
    { "svg", "image/svg+xml" },
    { "png", "image/png" },
    { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },
    { "gif", "image/gif" },
    { "webp", "image/webp" },
    { "ico", "image/x-icon" },
    { "woff", "font/woff" },
    { "woff2", "font/woff2" },
    { "wasm", "application/wasm" },
};

static const char *mime_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');

    if (dot != NULL && (slash == NULL || dot > slash)) {
        for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++) {
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0) {
                return mime_types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

static bool path_is_safe(const char *p)
{
    if (strchr(p, '\\') != NULL) {
        return false;
    }
    /* No ".." segment anywhere (the path is already percent-decoded). */
    for (const char *s = p; (s = strstr(s, "..")) != NULL; s += 2) {
        bool starts = s == p || s[-1] == '/';
        bool ends = s[2] == '\0' || s[2] == '/';

        if (starts && ends) {
            return false;
        }
    }
    return true;
}

static void file_run(struct job *j, void *ctx)
{
    struct file_job *fj = (struct file_job *)j;
    char full[PATH_MAX], real[PATH_MAX];
    const char *root = fj->root;
    size_t rlen = strlen(root);
    struct stat st;
    int fd = -1;
    ssize_t n;

    j->rc = PIPIT_ENOT_FOUND;
    if (snprintf(full, sizeof(full), "%s%s", root, fj->path) >= (int)sizeof(full)) {
        return;
    }
    if (full[strlen(full) - 1] == '/') {
        strncat(full, "index.html", sizeof(full) - strlen(full) - 1);
    }
    if (realpath(full, real) == NULL) {
        return;
    }
    if (strncmp(real, root, rlen) != 0 || (real[rlen] != '/' && real[rlen] != '\0')) {
        return;
    }
    if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        strncat(real, "/index.html", sizeof(real) - strlen(real) - 1);
    }
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        goto out;
    }
    if (st.st_size > FILES_MAX) {
        j->rc = PIPIT_EPAYLOAD_TOO_LARGE;
        goto out;
    }
    fj->len = (size_t)st.st_size;
    fj->data = xmalloc(fj->len + 1);
    for (size_t off = 0; off < fj->len; off += (size_t)n) {
        n = read(fd, fj->data + off, fj->len - off);
        if (n <= 0) {
            j->rc = PIPIT_EIO;
            goto out;
        }
    }
    snprintf(fj->etag, sizeof(fj->etag), "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
             (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec);
    snprintf(fj->content_type, sizeof(fj->content_type), "%s", mime_of(real));
    fj->mtime = st.st_mtim.tv_sec;
    j->rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
}

static void file_done(struct job *j)
{
    struct file_job *fj = (struct file_job *)j;
    struct conn *c = fj->c;
    struct http_exchange *x = c->http != NULL ? &c->http->x : NULL;
    char headers[1024];
    char date[32];
    const char *cache;

    if (x != NULL && !c->closing) {
        if (j->rc != 0) {
            http_respond_error(x, j->rc == PIPIT_EIO ? PIPIT_EINTERNAL : j->rc, NULL, NULL);
        } else {
            if (strncmp(fj->content_type, "text/html", 9) == 0) {
                cache = "no-cache";
            } else if (strncmp(fj->path, "/assets/", 8) == 0) {
                cache = "public, max-age=31536000, immutable";
            } else {
                cache = "public, max-age=3600";
            }
            http_date(date, fj->mtime);
            snprintf(headers, sizeof(headers),
                     "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: %s\r\n"
                     "Content-Security-Policy: " WEB_CSP "\r\n"
                     "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
                     "Cross-Origin-Opener-Policy: same-origin\r\n",
                     fj->etag, date, cache);
            if (http_etag_matches(http_request_header(x->req, "if-none-match"), fj->etag)) {
                http_respond(x, 304, NULL, headers, NULL, 0);
            } else {
                http_respond(x, 200, fj->content_type, headers, fj->data, fj->len);
            }
        }
    }
    conn_unref(c);
    free(fj->path);
    free(fj->data);
    free(fj);
}

void files_serve(struct http_exchange *x)
{
    struct server *srv = x->conn->w->srv;
    struct file_job *fj;
    int rc;

    if (x->req->method != HTTP_GET && x->req->method != HTTP_HEAD) {
        http_respond_error(x, PIPIT_EMETHOD_NOT_ALLOWED, NULL, "Allow: GET, HEAD\r\n");
        return;
    }
    if (!path_is_safe(x->path) || srv->web_root_real == NULL) {
        http_respond_error(x, PIPIT_ENOT_FOUND, NULL, NULL);
        return;
    }
    fj = xcalloc(1, sizeof(*fj));
    fj->c = x->conn;
    fj->root = srv->web_root_real;
    fj->path = xstrdup(x->path);
    fj->job.origin = x->conn->w;
    fj->job.run = file_run;
    fj->job.done = file_done;
    conn_ref(fj->c);
    rc = jobs_read(srv->jobs, &fj->job);
    if (rc != 0) {
        fj->job.rc = rc;
        worker_post(x->conn->w, &fj->job);
    }
}
