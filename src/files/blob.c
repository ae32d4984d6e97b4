/*
 * blob.c: an upload's content, from temporary file to content address.
 *
 * blob_examine runs on libuv's thread pool, blob_place and blob_remove on the
 * store writer: the writer is the one thread that decides whether a content is
 * stored, so placing and removing the same blob can never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "files/exif.h"
#include "files/files_internal.h"
#include "store/store_backup.h"
#include "keys/sealed_file.h"
#include "server.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"

/* What libmagic reads to tell a type: enough for every format it knows by its start. */
#define SNIFF_BYTES (256 * 1024)
/* Images larger than this (in pixels) get no thumbnail: decoding them is a denial of service. */
#define THUMB_MAX_PIXELS (100LL * 1000 * 1000)

static void sniff(struct files *f, const uint8_t *data, size_t len, char *mime, size_t cap)
{
    const char *type;

    pthread_mutex_lock(&f->magic_lock);
    type = magic_buffer(f->magic, data, len);
    snprintf(mime, cap, "%s", type != NULL ? type : "application/octet-stream");
    pthread_mutex_unlock(&f->magic_lock);
}

/* An image's size from its header (libvips reads no pixels for this). */
static void image_size(const char *path, struct store_blob *b)
{
    VipsImage *im = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);

    if (im == NULL) {
        vips_error_clear();
        return;
    }
    b->width = vips_image_get_width(im);
    b->height = vips_image_get_height(im);
    g_object_unref(im);
}

static bool strips_location(const char *mime)
{
    return strcmp(mime, "image/jpeg") == 0 || strcmp(mime, "image/png") == 0 ||
           strcmp(mime, "image/webp") == 0;
}

int blob_examine(struct files *f, const char *path, struct blob_facts *facts)
{
    struct store_blob *b = &facts->blob;
    unsigned char digest[crypto_hash_sha256_BYTES];
    uint8_t *map = MAP_FAILED;
    struct stat st;
    int rc = PIPIT_EIO;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    memset(facts, 0, sizeof(*facts));
    if (fd < 0 || fstat(fd, &st) != 0) {
        goto out;
    }
    b->size = st.st_size;
    if (st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            goto out;
        }
        madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    }
    sniff(f, map != MAP_FAILED ? map : (const uint8_t *)"", map != MAP_FAILED
          ? (size_t)(st.st_size < SNIFF_BYTES ? st.st_size : SNIFF_BYTES) : 0,
          b->mime, sizeof(b->mime));
    if (f->srv->cfg.strip_image_location && map != MAP_FAILED && strips_location(b->mime) &&
        exif_strip_location(map, (size_t)st.st_size) < 0) {
        /* Location data could hide where the walk cannot see: never serve it. */
        facts->refused = "the image is damaged, so it cannot be checked for location data";
        rc = 0;
        goto out;
    }
    /*
     * The edits went through the shared mapping: one fsync makes file and edits
     * durable. Sealed, the file is replaced by a sealed copy, made durable
     * instead: its plain text is never pushed to the disk on purpose.
     */
    if (f->srv->keys == NULL && fsync(fd) != 0) {
        goto out;
    }
    crypto_hash_sha256(digest, map != MAP_FAILED ? map : (const uint8_t *)"",
                       (unsigned long long)st.st_size);
    sodium_bin2hex(b->sha256, sizeof(b->sha256), digest, sizeof(digest));
    snprintf(b->thumb, sizeof(b->thumb), "none");
    if (files_mime_raster(b->mime)) {
        image_size(path, b);
        if (b->width > 0 && b->height > 0 && b->width * b->height <= THUMB_MAX_PIXELS) {
            snprintf(b->thumb, sizeof(b->thumb), "pending");
        }
    }
    rc = 0;
    /* The temporary file becomes its sealed copy, under the same name. */
    if (f->srv->keys != NULL &&
        sealed_file_write(f->srv->keys, b->sha256, map != MAP_FAILED ? map : (const uint8_t *)"",
                          (size_t)st.st_size, path) != 0) {
        log_error(NULL, "files: cannot seal an upload: %s", strerror(errno));
        rc = PIPIT_EIO;
    }
out:
    if (map != MAP_FAILED) {
        munmap(map, (size_t)st.st_size);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

int blob_place(struct files *f, const char *tmp_path, const char *sha256, bool exists)
{
    char path[4200];
    char dir[4200];

    if (exists) {
        unlink(tmp_path); /* identical content is stored once */
        return 0;
    }
    files_blob_path(f->srv, sha256, "", path, sizeof(path));
    fs_dirname(path, dir, sizeof(dir));
    if (fs_mkdirs(dir) != 0 || rename(tmp_path, path) != 0 || fs_sync_dir(dir) != 0) {
        log_error(NULL, "files: cannot store %s: %s", sha256, strerror(errno));
        return PIPIT_EIO;
    }
    return 0;
}

void blob_remove(struct files *f, const char *sha256)
{
    char path[4200];

    files_blob_path(f->srv, sha256, "", path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT) {
        log_warn(NULL, "files: cannot remove %s: %s", path, strerror(errno));
    }
    files_blob_path(f->srv, sha256, ".thumb", path, sizeof(path));
    unlink(path);
}

/* ---- Sealing what was stored before encryption at rest ---- */

struct sealing {
    const char *data_dir;
    const struct keyring *keys;
    int64_t sealed;
    char *err;
    size_t errlen;
};

/* Seals the file at path (named name) unless it is sealed already. */
static int seal_stored(struct sealing *s, const char *name, const char *path)
{
    uint8_t *map = MAP_FAILED;
    struct stat st;
    int rc = -1;
    int fd;

    if (sealed_file_check(s->keys, name, path)) {
        return 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        log_warn(NULL, "files: %s is missing; nothing to seal", path);
        return 0;
    }
    if (fd >= 0 && fstat(fd, &st) == 0) {
        map = st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)
                             : (uint8_t *)"";
        rc = map != MAP_FAILED ? sealed_file_write(s->keys, name, map, (size_t)st.st_size, path)
                               : -1;
    }
    if (rc != 0) {
        snprintf(s->err, s->errlen, "cannot seal %s: %s", path, strerror(errno));
    }
    if (map != MAP_FAILED && st.st_size > 0) {
        munmap(map, (size_t)st.st_size);
    }
    if (fd >= 0) {
        close(fd);
    }
    s->sealed += rc == 0;
    return rc;
}

static int seal_blob(void *arg, const char *sha256, int64_t size, bool thumb_ready)
{
    struct sealing *s = arg;
    char rel[200], path[4400], dir[4400], name[STORE_SHA256_HEX + 8];

    files_blob_relpath(sha256, "", rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", s->data_dir, rel);
    if (seal_stored(s, sha256, path) != 0) {
        return -1;
    }
    files_blob_relpath(sha256, ".thumb", rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", s->data_dir, rel);
    snprintf(name, sizeof(name), "%s.thumb", sha256);
    if (thumb_ready && access(path, F_OK) == 0 && seal_stored(s, name, path) != 0) {
        return -1;
    }
    fs_dirname(path, dir, sizeof(dir));
    return fs_sync_dir(dir) == 0 ? 0 : -1;
}

int files_seal_stored(const char *data_dir, const struct keyring *keys, struct store_conn *db,
                      int64_t *sealed, char *err, size_t errlen)
{
    struct sealing s = { .data_dir = data_dir, .keys = keys, .err = err, .errlen = errlen };
    int rc;

    err[0] = '\0';
    rc = store_backup_each_blob(db, seal_blob, &s, err, errlen);
    *sealed = s.sealed;
    return rc == 0 ? 0 : -1;
}
