/*
 * files_internal.h: what the files/ sources share (not for callers).
 */
#ifndef PIPIT_FILES_FILES_INTERNAL_H
#define PIPIT_FILES_FILES_INTERNAL_H

#include <magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "files/files.h"

struct thumbnailer;
struct sweep_job;

struct files {
    struct server *srv;
    char root[4096];            /* data_dir/files */
    char tmp[4096];             /* data_dir/files/tmp: uploads being received */
    magic_t magic;              /* libmagic is not thread-safe: under magic_lock */
    pthread_mutex_t magic_lock;
    struct thumbnailer *thumbs;
    int64_t sweep_after;        /* the sweep's place between steps (writer only) */
    struct sweep_job *sweep_step; /* the step in the current batch, if any (writer only) */
    atomic_bool sweeping;       /* a pass is under way */
    /*
     * files/sweep.lock: `pipit backup` holds LOCK_SH on it while it copies the
     * blobs its snapshot names; a sweep step deletes only under LOCK_EX.
     */
    int sweep_lock_fd;
};

/* What blob_examine finds out about an upload. */
struct blob_facts {
    struct store_blob blob;     /* sha256, size, mime, width, height, thumb */
    const char *refused;        /* set when the content is refused: why */
};

/*
 * Off the loop (libuv's pool): makes the temporary file at path durable and
 * learns what it holds. The location is stripped from images in place first,
 * so the hash covers what will be served. With encryption at rest the file is
 * then replaced by its sealed copy (keys/sealed_file.h, named by the hash).
 * Returns 0 (check facts->refused) or PIPIT_EIO.
 */
int blob_examine(struct files *f, const char *path, struct blob_facts *facts);
/*
 * On the store writer: moves the temporary file to the blob's content address,
 * or drops it when *exists (that content is stored already). 0 or PIPIT_EIO.
 */
int blob_place(struct files *f, const char *tmp_path, const char *sha256, bool exists);
/* On the store writer after COMMIT: removes a deleted blob's bytes and thumbnail. */
void blob_remove(struct files *f, const char *sha256);
/*
 * On the store writer: an upload in this batch stores the content again, so
 * the sweep step of the same batch must not remove its bytes after COMMIT.
 */
void files_sweep_spare(struct files *f, const char *sha256);

/* thumb.c */
struct thumbnailer *thumbnailer_start(struct server *srv, int64_t size);
/* Joins the thread; what is queued meanwhile waits for the next start. */
void thumbnailer_stop(struct thumbnailer *t);
void thumbnailer_free(struct thumbnailer **t);
/* Any thread, also after thumbnailer_stop (until thumbnailer_free). */
void thumbnailer_queue(struct thumbnailer *t, const char *sha256);

#endif
