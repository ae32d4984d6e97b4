/*
 * upload.c: POST /v1/files, from request body to stored file (files.h, steps 1–4).
 *
 * One struct upload per request, owned by the exchange (api_request.state):
 * when the exchange ends, answered or cut off, upload_end() runs, and the
 * upload frees itself as soon as no write, pool task or store job of its own
 * is still in flight. Only one of those is ever in flight at a time.
 *
 * The body is written with libuv's file writes (the pool), double-buffered:
 * pieces collect in `pending` while `writing` is on its way to the disk; when
 * pending holds UPLOAD_BUFFER bytes the connection stops reading, so a client
 * faster than the disk cannot grow memory.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "files/files_internal.h"
#include "http/http_conn.h"
#include "net/conn.h"
#include "server.h"
#include "store/jobs.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

#define UPLOAD_BUFFER (256 * 1024)

struct upload {
    struct conn *c;             /* held until the upload is freed */
    struct files *f;
    int64_t app_id;
    int64_t owner;
    int64_t limit;              /* the app's cap, bytes */
    int64_t received;
    char name[STORE_FILE_NAME_MAX + 1];
    char path[4200];            /* the temporary file */
    int fd;
    struct buf pending;
    struct buf writing;
    uv_fs_t write_req;
    uv_work_t work;
    struct job open_job;
    struct job save_job;
    struct blob_facts facts;
    int examine_rc;
    int64_t file_id;
    bool busy;                  /* a write, pool task or job is in flight */
    bool paused;                /* reading stopped until pending drains */
    bool body_done;
    bool placed;                /* the temporary file is gone (renamed or dropped) */
    bool ended;                 /* the exchange is over: free once not busy */
};

static const struct http_body_sink upload_sink;

static struct http_exchange *upload_exchange(struct upload *u)
{
    return u->ended ? NULL : &u->c->http->x;
}

static void upload_free(struct upload *u)
{
    if (u->fd >= 0) {
        close(u->fd); /* no write is in flight: close(2) does not wait on the disk */
    }
    if (!u->placed && u->path[0] != '\0') {
        unlink(u->path);
    }
    buf_cleanup(&u->pending);
    buf_cleanup(&u->writing);
    conn_unref(u->c);
    free(u);
}

/* The exchange ended (api_request.state_end). */
static void upload_end(void *arg)
{
    struct upload *u = arg;

    u->ended = true;
    if (!u->busy) {
        upload_free(u);
    }
}

/* After each asynchronous step: false when the upload is over and was freed. */
static bool upload_step_done(struct upload *u)
{
    u->busy = false;
    if (u->ended) {
        upload_free(u);
        return false;
    }
    return true;
}

static void upload_fail(struct upload *u, int err, const char *why)
{
    struct http_exchange *x = upload_exchange(u);

    if (x != NULL) {
        http_respond_error(x, err, why, NULL);
    }
}

/* 413, announced (Content-Length) or found while reading. */
static void fail_too_large(struct upload *u)
{
    char why[128];

    snprintf(why, sizeof(why), "files may not be larger than %lld bytes", (long long)u->limit);
    upload_fail(u, PIPIT_EPAYLOAD_TOO_LARGE, why);
}

/* ---- 1. Open the temporary file (reader: the app's cap is in the store) ---- */

static void open_run(struct job *j, void *ctx)
{
    struct upload *u = (struct upload *)((char *)j - offsetof(struct upload, open_job));
    unsigned char rnd[12];
    char hex[sizeof(rnd) * 2 + 1];
    int64_t app_limit = 0;

    j->rc = store_app_file_limit(ctx, u->app_id, &app_limit);
    if (j->rc != 0) {
        return;
    }
    u->limit = app_limit > 0 ? app_limit : u->f->srv->cfg.max_file_size;
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(u->path, sizeof(u->path), "%s/up-%s", u->f->tmp, hex);
    u->fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (u->fd < 0) {
        u->path[0] = '\0';
        j->rc = PIPIT_EIO;
    }
}

static void open_done(struct job *j)
{
    struct upload *u = (struct upload *)((char *)j - offsetof(struct upload, open_job));
    struct http_exchange *x;

    if (!upload_step_done(u)) {
        return;
    }
    x = upload_exchange(u);
    if (j->rc != 0) {
        upload_fail(u, j->rc == PIPIT_EUNAVAILABLE ? j->rc : PIPIT_EINTERNAL, NULL);
        return;
    }
    if (x->req->content_length > u->limit) {
        fail_too_large(u);
        return;
    }
    http_body_read(x, &upload_sink);
}

/* ---- 2. Receive the body into the temporary file ---- */

static void write_next(struct upload *u);

static void on_written(uv_fs_t *req)
{
    struct upload *u = req->data;
    ssize_t n = req->result;
    bool whole = n == (ssize_t)u->writing.len;

    uv_fs_req_cleanup(req);
    buf_reset(&u->writing);
    if (!upload_step_done(u)) {
        return;
    }
    if (!whole) {
        log_warn(&u->c->log, "upload: cannot write %s: %s", u->path,
                 n < 0 ? uv_strerror((int)n) : "short write");
        upload_fail(u, n == UV_ENOSPC ? PIPIT_EINSUFFICIENT_STORAGE : PIPIT_EINTERNAL, NULL);
        return;
    }
    write_next(u);
}

static void examine(struct upload *u);

/* Starts the next write, resumes reading, or moves on once the body is all on disk. */
static void write_next(struct upload *u)
{
    struct buf swap;
    uv_buf_t b;
    int rc;

    if (u->pending.len == 0) {
        if (u->body_done) {
            examine(u);
        }
        return;
    }
    swap = u->writing;
    u->writing = u->pending;
    u->pending = swap;
    b = uv_buf_init(u->writing.data, (unsigned)u->writing.len);
    u->write_req.data = u;
    rc = uv_fs_write(&u->c->w->loop, &u->write_req, u->fd, &b, 1, -1, on_written);
    if (rc != 0) {
        upload_fail(u, PIPIT_EINTERNAL, NULL);
        return;
    }
    u->busy = true;
    if (u->paused) {
        u->paused = false;
        http_body_read(upload_exchange(u), &upload_sink);
    }
}

static struct upload *upload_of(struct http_exchange *x)
{
    return api_request_of(x)->state;
}

static bool sink_data(struct http_exchange *x, const char *p, size_t n)
{
    struct upload *u = upload_of(x);

    u->received += (int64_t)n;
    if (u->received > u->limit) {
        fail_too_large(u);
        return false;
    }
    buf_append(&u->pending, p, n);
    if (!u->busy) {
        write_next(u);
    }
    if (u->pending.len >= UPLOAD_BUFFER) {
        u->paused = true;
        return false;
    }
    return true;
}

static void sink_end(struct http_exchange *x, int err)
{
    struct upload *u = upload_of(x);

    if (err != 0) {
        upload_fail(u, err, err == PIPIT_EBAD_REQUEST ? "the upload was cut short or badly "
                                                        "chunked" : NULL);
        return;
    }
    u->body_done = true;
    if (!u->busy) {
        write_next(u);
    }
}

static const struct http_body_sink upload_sink = { sink_data, sink_end };

/* ---- 3. Examine it off the loop, then store it on the writer ---- */

static void examine_work(uv_work_t *w)
{
    struct upload *u = w->data;

    close(u->fd);
    u->fd = -1;
    u->examine_rc = blob_examine(u->f, u->path, &u->facts);
}

static void save_run(struct job *j, void *ctx);
static void save_committed(struct job *j, void *hook_arg);
static void save_done(struct job *j);

static void examine_done(uv_work_t *w, int status)
{
    struct upload *u = w->data;
    int rc;

    if (!upload_step_done(u)) {
        return;
    }
    if (status != 0 || u->examine_rc != 0) {
        upload_fail(u, PIPIT_EINTERNAL, NULL);
        return;
    }
    if (u->facts.refused != NULL) {
        upload_fail(u, PIPIT_EBAD_REQUEST, u->facts.refused);
        return;
    }
    u->save_job = (struct job){ .origin = u->c->w, .run = save_run,
                                .committed = save_committed, .done = save_done };
    rc = jobs_write(u->f->srv->jobs, &u->save_job);
    if (rc != 0) {
        upload_fail(u, rc, NULL);
        return;
    }
    u->busy = true;
}

static void examine(struct upload *u)
{
    u->work.data = u;
    if (uv_queue_work(&u->c->w->loop, &u->work, examine_work, examine_done) != 0) {
        upload_fail(u, PIPIT_EINTERNAL, NULL);
        return;
    }
    u->busy = true;
}

static void save_run(struct job *j, void *ctx)
{
    struct upload *u = (struct upload *)((char *)j - offsetof(struct upload, save_job));
    struct store_blob stored;
    bool exists;

    j->rc = store_blob_get(ctx, u->facts.blob.sha256, &stored);
    if (j->rc != 0 && j->rc != PIPIT_ENOT_FOUND) {
        return;
    }
    exists = j->rc == 0;
    if (!exists) {
        files_sweep_spare(u->f, u->facts.blob.sha256);
    }
    j->rc = blob_place(u->f, u->path, u->facts.blob.sha256, exists);
    if (j->rc != 0) {
        return;
    }
    u->placed = true;
    if (exists) {
        u->facts.blob = stored; /* its thumbnail and size come with it */
    } else {
        j->rc = store_blob_insert(ctx, &u->facts.blob, clock_now_ms());
    }
    if (j->rc == 0) {
        j->rc = store_file_insert(ctx, u->app_id, u->owner, u->facts.blob.sha256, u->name,
                                  clock_now_ms(), &u->file_id);
    }
}

static void save_committed(struct job *j, void *hook_arg)
{
    struct upload *u = (struct upload *)((char *)j - offsetof(struct upload, save_job));

    if (strcmp(u->facts.blob.thumb, "pending") == 0) {
        thumbnailer_queue(u->f->thumbs, u->facts.blob.sha256);
    }
}

static void save_done(struct job *j)
{
    struct upload *u = (struct upload *)((char *)j - offsetof(struct upload, save_job));
    struct http_exchange *x;

    if (!upload_step_done(u)) {
        return;
    }
    x = upload_exchange(u);
    if (j->rc != 0) {
        http_respond_error(x, j->rc == PIPIT_EUNAVAILABLE ? j->rc : PIPIT_EINTERNAL, NULL, NULL);
        return;
    }
    http_respond_json(x, 201, files_json(u->file_id, u->name, &u->facts.blob));
}

/* ---- The route ---- */

void files_upload(struct http_exchange *x)
{
    struct api_request *ar = api_request_of(x);
    struct server *srv = x->conn->w->srv;
    const char *why = NULL;
    json_t *q = json_object();
    struct upload *u;
    int rc;

    if (!x->streaming) {
        /* Only a target spelled differently (percent-escapes) gets here without streaming. */
        json_decref(q);
        http_respond_error(x, PIPIT_EBAD_REQUEST, "send uploads to /v1/files as spelled", NULL);
        return;
    }
    rc = route_query_text(x->query, "name", q, &why);
    if (rc != 0) {
        json_decref(q);
        http_respond_error(x, rc, why, NULL);
        return;
    }
    u = xcalloc(1, sizeof(*u));
    u->c = x->conn;
    u->f = srv->files;
    u->fd = -1;
    u->app_id = ar->who.user.app_id;
    u->owner = ar->who.user.id;
    files_clean_name(json_string_value(json_object_get(q, "name")), u->name, sizeof(u->name));
    json_decref(q);
    buf_init(&u->pending, UPLOAD_BUFFER + 2 * 64 * 1024);
    buf_init(&u->writing, UPLOAD_BUFFER + 2 * 64 * 1024);
    conn_ref(u->c);
    ar->state = u;
    ar->state_end = upload_end;
    u->open_job = (struct job){ .origin = x->conn->w, .run = open_run, .done = open_done };
    rc = jobs_read(srv->jobs, &u->open_job);
    if (rc != 0) {
        http_respond_error(x, rc, NULL, NULL);
        return;
    }
    u->busy = true;
}
