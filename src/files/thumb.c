/*
 * thumb.c: the thumbnailer thread, which makes images' thumbnails with libvips.
 *
 * Uploads queue their blob once it is committed; the thread decodes it (shrink-
 * on-load: a 12-megapixel JPEG is read at a fraction of its size), turns it
 * upright by its EXIF orientation, scales its longest side down to
 * thumbnail_size and writes a WebP without metadata next to the blob
 * (<sha256>.thumb), then records the outcome on the store writer. A restart
 * finds the blobs still marked pending (files_resume) and queues them again,
 * so the queue itself need not survive and may drop work when it is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

#include "files/files_internal.h"
#include "keys/sealed_file.h"
#include "server.h"
#include "store/jobs.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define THUMB_QUEUE_MAX 4096

struct thumbnailer {
    struct server *srv;
    int64_t size;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char (*queue)[STORE_SHA256_HEX + 1]; /* ring of THUMB_QUEUE_MAX */
    size_t head;
    size_t count;
    bool stop;
};

struct thumb_result {
    struct job job;
    struct server *srv;
    char sha256[STORE_SHA256_HEX + 1];
    bool ok;
};

static void result_run(struct job *j, void *ctx)
{
    struct thumb_result *r = (struct thumb_result *)j;
    char path[4200];
    bool gone = false;

    /* Swept while it was being made: its thumbnail must not outlive it. */
    j->rc = store_blob_gone(ctx, r->sha256, &gone);
    if (j->rc == 0 && gone) {
        files_blob_path(r->srv, r->sha256, ".thumb", path, sizeof(path));
        unlink(path);
        return;
    }
    if (j->rc == 0) {
        j->rc = store_blob_set_thumb(ctx, r->sha256, r->ok ? "ready" : "failed");
    }
}

/* Drops every metadata field libvips could write back: EXIF (each tag too), XMP, IPTC, ICC. */
static void drop_metadata(VipsImage *im)
{
    static const char *const prefixes[] = { "exif-", "xmp-", "iptc-", "icc-", "orientation" };
    gchar **fields = vips_image_get_fields(im);

    for (int i = 0; fields != NULL && fields[i] != NULL; i++) {
        for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
            if (strncmp(fields[i], prefixes[p], strlen(prefixes[p])) == 0) {
                vips_image_remove(im, fields[i]);
                break;
            }
        }
    }
    g_strfreev(fields);
}

static void result_done(struct job *j)
{
    free(j);
}

/* Writes the thumbnail durably under its final name; false when the image cannot be read. */
static bool make_thumbnail(struct thumbnailer *t, const char *sha256)
{
    const struct keyring *keys = t->srv->keys;
    char src[4200], dst[4200];
    VipsImage *thumb = NULL;
    uint8_t *image = NULL;     /* the sealed blob, opened */
    size_t image_len = 0, webp_len = 0;
    void *webp = NULL;
    bool ok = false;

    files_blob_path(t->srv, sha256, "", src, sizeof(src));
    files_blob_path(t->srv, sha256, ".thumb", dst, sizeof(dst));
    if (keys != NULL && sealed_file_read_all(keys, sha256, src, &image, &image_len) != 0) {
        log_warn(NULL, "files: cannot open %s for its thumbnail: %s", sha256, strerror(errno));
        goto out;
    }
    if ((keys != NULL ? vips_thumbnail_buffer(image, image_len, &thumb, (int)t->size, "size",
                                              VIPS_SIZE_DOWN, NULL)
                      : vips_thumbnail(src, &thumb, (int)t->size, "size", VIPS_SIZE_DOWN,
                                       NULL)) != 0) {
        log_info(NULL, "files: no thumbnail for %s: %s", sha256, vips_error_buffer());
        vips_error_clear();
        goto out;
    }
    /*
     * libvips 8.14's WebP writer ignores "strip": it writes an EXIF chunk built
     * from the image's metadata fields. Without them it holds only the size and
     * resolution libvips sets itself, never the original's tags.
     */
    drop_metadata(thumb);
    if (vips_webpsave_buffer(thumb, &webp, &webp_len, "Q", 80, "strip", TRUE, NULL) != 0) {
        log_info(NULL, "files: no thumbnail for %s: %s", sha256, vips_error_buffer());
        vips_error_clear();
        goto out;
    }
    if (keys != NULL) {
        char name[STORE_SHA256_HEX + 8];

        snprintf(name, sizeof(name), "%s.thumb", sha256);
        ok = sealed_file_write(keys, name, webp, webp_len, dst) == 0;
    } else {
        ok = fs_write_secret(dst, webp, webp_len) == 0;
    }
    if (!ok) {
        log_warn(NULL, "files: cannot store the thumbnail of %s: %s", sha256, strerror(errno));
    }
out:
    g_free(webp);
    if (thumb != NULL) {
        g_object_unref(thumb);
    }
    if (image != NULL) { /* after the image made from it */
        sodium_memzero(image, image_len);
        free(image);
    }
    return ok;
}

static void *thumbnailer_main(void *arg)
{
    struct thumbnailer *t = arg;

    pthread_mutex_lock(&t->lock);
    for (;;) {
        struct thumb_result *r;

        while (t->count == 0 && !t->stop) {
            pthread_cond_wait(&t->wake, &t->lock);
        }
        if (t->stop) {
            break;
        }
        r = xcalloc(1, sizeof(*r));
        r->srv = t->srv;
        memcpy(r->sha256, t->queue[t->head], sizeof(r->sha256));
        t->head = (t->head + 1) % THUMB_QUEUE_MAX;
        t->count--;
        pthread_mutex_unlock(&t->lock);

        r->ok = make_thumbnail(t, r->sha256);
        r->job = (struct job){ .origin = NULL, .run = result_run, .done = result_done };
        if (jobs_write(t->srv->jobs, &r->job) != 0) {
            free(r); /* still pending: the next start makes it again */
        }
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    vips_thread_shutdown();
    return NULL;
}

struct thumbnailer *thumbnailer_start(struct server *srv, int64_t size)
{
    struct thumbnailer *t = xcalloc(1, sizeof(*t));

    t->srv = srv;
    t->size = size;
    t->queue = xcalloc(THUMB_QUEUE_MAX, sizeof(*t->queue));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    if (pthread_create(&t->thread, NULL, thumbnailer_main, t) != 0) {
        log_error(NULL, "files: cannot start the thumbnailer thread");
        abort();
    }
    return t;
}

void thumbnailer_queue(struct thumbnailer *t, const char *sha256)
{
    pthread_mutex_lock(&t->lock);
    if (t->count < THUMB_QUEUE_MAX) {
        snprintf(t->queue[(t->head + t->count) % THUMB_QUEUE_MAX], STORE_SHA256_HEX + 1, "%s",
                 sha256);
        t->count++;
        pthread_cond_signal(&t->wake);
    }
    pthread_mutex_unlock(&t->lock);
}

void thumbnailer_stop(struct thumbnailer *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->stop) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
}

void thumbnailer_free(struct thumbnailer **tp)
{
    struct thumbnailer *t = *tp;

    if (t == NULL) {
        return;
    }
    thumbnailer_stop(t);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t->queue);
    free(t);
    *tp = NULL;
}
