/*
 * files.c: the files module's start and stop, the sweep, and what the other
 * files/ sources share (paths, names, types, the JSON of a file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "files/files_internal.h"
#include "net/conn.h"
#include "server.h"
#include "store/jobs.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/utf8.h"

/* Files the sweep looks at per writer job: a few milliseconds at most. */
#define SWEEP_STEP 500

void files_blob_path(const struct server *srv, const char *sha256, const char *suffix,
                     char *out, size_t cap)
{
    snprintf(out, cap, "%s/%.2s/%.2s/%s%s", srv->files->root, sha256, sha256 + 2, sha256,
             suffix);
}

void files_blob_relpath(const char *sha256, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "files/%.2s/%.2s/%.64s%s", sha256, sha256 + 2, sha256, suffix);
}

int files_sweep_hold(const char *data_dir, int *fd)
{
    char dir[4200], path[4300];
    struct stat st;
    int lock;

    *fd = -1;
    snprintf(dir, sizeof(dir), "%s/files", data_dir);
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        return 0;
    }
    snprintf(path, sizeof(path), "%s/sweep.lock", dir);
    lock = fs_lock(path, LOCK_SH);
    if (lock < 0) {
        return -1;
    }
    *fd = lock;
    return 0;
}

bool files_mime_raster(const char *mime)
{
    /* SVG can carry script, so it downloads like any other file and gets no thumbnail. */
    return strcmp(mime, "image/jpeg") == 0 || strcmp(mime, "image/png") == 0 ||
           strcmp(mime, "image/gif") == 0 || strcmp(mime, "image/webp") == 0;
}

void files_clean_name(const char *name, char *out, size_t cap)
{
    const unsigned char *s;
    size_t n, o = 0;

    if (name == NULL) {
        name = "";
    }
    /* Only the last segment of a path ("../../x", "C:\\x"). */
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '/' || *p == '\\') {
            name = p + 1;
        }
    }
    s = (const unsigned char *)name;
    n = strlen(name);
    while (n > 0 && (*s == ' ' || *s == '.')) {
        s++, n--; /* no hidden or blank-led names: ".htaccess" shows as "htaccess" */
    }
    while (n > 0 && o + 1 < cap) {
        uint32_t cp;
        size_t len = utf8_decode(s, n, &cp);

        if (len == 0 || s[0] < 0x20 || s[0] == 0x7f) {
            out[o++] = '_';
            s++, n--;
            continue;
        }
        if (o + len + 1 > cap) {
            break;
        }
        memcpy(out + o, s, len);
        o += len, s += len, n -= len;
    }
    while (o > 0 && out[o - 1] == ' ') {
        o--;
    }
    if (o == 0) {
        snprintf(out, cap, "file");
        return;
    }
    out[o] = '\0';
}

json_t *files_json(int64_t id, const char *name, const struct store_blob *b)
{
    char url[64];
    char thumb[80];
    json_t *o;

    snprintf(url, sizeof(url), "/v1/files/%lld", (long long)id);
    snprintf(thumb, sizeof(thumb), "/v1/files/%lld/thumbnail", (long long)id);
    o = json_pack("{s:I,s:s,s:I,s:s,s:s,s:s}", "id", (json_int_t)id, "name", name, "size",
                  (json_int_t)b->size, "mime", b->mime, "sha256", b->sha256, "url", url);
    if (b->width > 0 && b->height > 0) {
        json_object_set_new(o, "width", json_integer(b->width));
        json_object_set_new(o, "height", json_integer(b->height));
    }
    /* A pending thumbnail is coming: clients may ask for it (503 until it is there). */
    json_object_set_new(o, "thumbnail", strcmp(b->thumb, "ready") == 0 ||
                                                strcmp(b->thumb, "pending") == 0
                                            ? json_string(thumb)
                                            : json_null());
    return o;
}

int files_open(struct server *srv, char *err, size_t errlen)
{
    struct files *f = xcalloc(1, sizeof(*f));
    char lock[4200];

    f->srv = srv;
    f->sweep_lock_fd = -1;
    srv->files = f;
    pthread_mutex_init(&f->magic_lock, NULL);
    snprintf(f->root, sizeof(f->root), "%s/files", srv->cfg.data_dir);
    snprintf(f->tmp, sizeof(f->tmp), "%s/files/tmp", srv->cfg.data_dir);
    if (fs_mkdirs(f->tmp) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", f->tmp, strerror(errno));
        return -1;
    }
    fs_remove_prefixed(f->tmp, "up-"); /* uploads a crash cut off */
    snprintf(lock, sizeof(lock), "%s/sweep.lock", f->root);
    f->sweep_lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f->sweep_lock_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", lock, strerror(errno));
        return -1;
    }
    f->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (f->magic == NULL || magic_load(f->magic, NULL) != 0) {
        snprintf(err, errlen, "cannot load libmagic's database: %s",
                 f->magic != NULL ? magic_error(f->magic) : "out of memory");
        return -1;
    }
    /*
     * No run-time code generation (liborc): no writable-executable memory for
     * decoding untrusted images. Read by vips_init, which builds its programs
     * (so vips_vector_set_enabled afterwards comes too late). No thread runs yet.
     */
    setenv("VIPS_NOVECTOR", "1", 1);
    if (VIPS_INIT("pipitd") != 0) {
        snprintf(err, errlen, "cannot start libvips: %s", vips_error_buffer());
        return -1;
    }
    /* One image at a time, nothing cached: thumbnails are made once and stored. */
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    /*
     * Untrusted input meets only the decoders it needs: every loader is
     * blocked but those of the types files_mime_raster() accepts.
     */
    vips_operation_block_set("VipsForeignLoad", TRUE);
    vips_operation_block_set("VipsForeignLoadJpeg", FALSE);
    vips_operation_block_set("VipsForeignLoadPng", FALSE);
    vips_operation_block_set("VipsForeignLoadGif", FALSE);
    vips_operation_block_set("VipsForeignLoadNsgif", FALSE); /* its name since 8.11 */
    vips_operation_block_set("VipsForeignLoadWebp", FALSE);
    f->thumbs = thumbnailer_start(srv, srv->cfg.thumbnail_size);
    return 0;
}

void files_stop(struct server *srv)
{
    if (srv->files != NULL && srv->files->thumbs != NULL) {
        thumbnailer_stop(srv->files->thumbs);
    }
}

void files_close(struct server *srv)
{
    struct files *f = srv->files;

    if (f == NULL) {
        return;
    }
    thumbnailer_free(&f->thumbs);
    if (f->magic != NULL) {
        magic_close(f->magic);
    }
    pthread_mutex_destroy(&f->magic_lock);
    if (f->sweep_lock_fd >= 0) {
        close(f->sweep_lock_fd);
    }
    vips_shutdown();
    free(f);
    srv->files = NULL;
}

/* ---- Pending thumbnails after a restart ---- */

struct resume_job {
    struct job job;
    struct files *f;
};

static int queue_pending(void *arg, const char *sha256)
{
    struct files *f = arg;

    thumbnailer_queue(f->thumbs, sha256);
    return 0;
}

static void resume_run(struct job *j, void *ctx)
{
    struct resume_job *rj = (struct resume_job *)j;

    j->rc = store_blob_each_pending(ctx, queue_pending, rj->f);
}

static void resume_done(struct job *j)
{
    if (j->rc != 0 && j->rc != PIPIT_EUNAVAILABLE) {
        log_warn(NULL, "files: cannot list the thumbnails to make");
    }
    free(j);
}

void files_resume(struct server *srv)
{
    struct resume_job *rj = xcalloc(1, sizeof(*rj));

    rj->f = srv->files;
    rj->job = (struct job){ .origin = NULL, .run = resume_run, .done = resume_done };
    if (jobs_read(srv->jobs, &rj->job) != 0) {
        free(rj);
    }
}

/* ---- The sweep ---- */

#define SWEEP_GONE_MAX 64

struct sweep_job {
    struct job job;
    struct files *f;
    int deleted;
    bool held_off;              /* a backup holds the sweep lock: this pass deletes nothing */
    int ngone;
    char gone[SWEEP_GONE_MAX][STORE_SHA256_HEX + 1];
};

static int note_gone(void *arg, const char *sha256)
{
    struct sweep_job *sj = arg;

    if (sj->ngone < SWEEP_GONE_MAX) {
        snprintf(sj->gone[sj->ngone++], sizeof(sj->gone[0]), "%s", sha256);
    }
    return 0;
}

static void sweep_run(struct job *j, void *ctx)
{
    struct sweep_job *sj = (struct sweep_job *)j;
    struct files *f = sj->f;
    int64_t before = clock_now_ms() - f->srv->cfg.file_unshared_ttl;
    int64_t last;

    /*
     * A backup copies the blobs its database snapshot names: bytes unlinked now
     * could be ones it has still to copy. While it holds the lock this pass ends
     * here, and the next one starts again from the same place. Taken here, in
     * the batch, and let go in sweep_done: after COMMIT and the unlinks.
     */
    if (flock(f->sweep_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        sj->held_off = true;
        log_debug(NULL, "files: a backup is running; the sweep waits for its next turn");
        return;
    }
    /* At most SWEEP_GONE_MAX blobs can go per step, since each goes with a file. */
    j->rc = store_file_sweep(ctx, f->sweep_after, before, SWEEP_GONE_MAX, note_gone, sj, &last,
                             &sj->deleted);
    if (j->rc == 0) {
        f->sweep_after = last;
        f->sweep_step = sj;
    }
}

void files_sweep_spare(struct files *f, const char *sha256)
{
    struct sweep_job *sj = f->sweep_step;

    for (int i = 0; sj != NULL && i < sj->ngone; i++) {
        if (strcmp(sj->gone[i], sha256) == 0) {
            sj->gone[i][0] = '\0';
        }
    }
}

/* On the writer, after COMMIT: only now may the bytes of a deleted blob go. */
static void sweep_committed(struct job *j, void *hook_arg)
{
    struct sweep_job *sj = (struct sweep_job *)j;

    for (int i = 0; i < sj->ngone; i++) {
        if (sj->gone[i][0] != '\0') {
            blob_remove(sj->f, sj->gone[i]);
        }
    }
}

static void sweep_step(struct files *f);

static void sweep_done(struct job *j)
{
    struct sweep_job *sj = (struct sweep_job *)j;
    struct files *f = sj->f;
    bool more = j->rc == 0 && !sj->held_off && f->sweep_after != 0 &&
                !atomic_load(&f->srv->stopping);

    flock(f->sweep_lock_fd, LOCK_UN); /* held or not (a failed batch may not have run us) */
    if (f->sweep_step == sj) {
        f->sweep_step = NULL; /* done runs on the writer too, after COMMIT */
    }
    if (sj->deleted > 0) {
        log_info(NULL, "files: swept %d unshared file(s)", sj->deleted);
    }
    free(sj);
    if (more) {
        sweep_step(f);
    } else {
        atomic_store(&f->sweeping, false);
    }
}

static void sweep_step(struct files *f)
{
    struct sweep_job *sj = xcalloc(1, sizeof(*sj));

    sj->f = f;
    sj->job = (struct job){ .origin = NULL, .run = sweep_run, .committed = sweep_committed,
                            .done = sweep_done };
    if (jobs_write(f->srv->jobs, &sj->job) != 0) {
        free(sj);
        atomic_store(&f->sweeping, false);
    }
}

void files_remove_blob(struct server *srv, const char *sha256)
{
    blob_remove(srv->files, sha256);
}

void files_sweep(struct server *srv)
{
    struct files *f = srv->files;

    if (f == NULL || atomic_exchange(&f->sweeping, true)) {
        return; /* the last pass is still going */
    }
    sweep_step(f);
}
