/*
 * tarball.c: see tarball.h.
 *
 * Every entry is read twice: once to hash it for the manifest (when added, or
 * as a part is written), and once to copy it, hashing again; the copy must
 * match. The manifest has to come first, so a reader can refuse an archive
 * before extracting anything, and that is the price: twice the reads, and for
 * parts a spooled copy on disk until the archive is written.
 */
#include "compliance/tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/fs.h"
#include "util/mem.h"

#define CHUNK (256 * 1024)
/* A part's bytes are written to its spool file in pieces of this size. */
#define PART_BUF (64 * 1024)
#define NAME_MAX_BYTES 255

struct entry {
    char *name;
    char *src;                  /* the file to copy; NULL for a spooled part */
    int fd;                     /* a part's unnamed spool file; -1 for a file */
    int64_t size;
    char sha256[TARBALL_SHA_HEX + 1];
};

struct tarball {
    char *out;
    char *tmp;                  /* out.tmp: the archive while it is written */
    char dir[4096];             /* out's directory: parts are spooled there */
    bool force;
    bool finished;
    int fd;                     /* out.tmp */
    struct entry *v;
    size_t n, cap;
    /* The part being written: its index in v, its hash so far, its unwritten bytes. */
    bool in_part;
    size_t part;
    crypto_hash_sha256_state h;
    char *buf;
    size_t buf_len;
    char err[1024];
};

static int fail(struct tarball *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct tarball *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
    return -1;
}

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = xmalloc(na + nb + 1);

    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

static void sha_hex(crypto_hash_sha256_state *h, char out[TARBALL_SHA_HEX + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_final(h, digest);
    sodium_bin2hex(out, TARBALL_SHA_HEX + 1, digest, sizeof(digest));
}

bool tarball_is_sha256(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return n == TARBALL_SHA_HEX;
}

int tarball_new(const char *out, bool force, struct tarball **t, char *err, size_t errlen)
{
    struct tarball *tb;
    struct stat st;

    *t = NULL;
    if (!force && lstat(out, &st) == 0) {
        snprintf(err, errlen, "%s exists (use --force to replace it)", out);
        return -1;
    }
    tb = xcalloc(1, sizeof(*tb));
    tb->out = xstrdup(out);
    tb->tmp = concat(out, ".tmp");
    tb->force = force;
    fs_dirname(out, tb->dir, sizeof(tb->dir));
    tb->fd = open(tb->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (tb->fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tb->tmp, strerror(errno));
        free(tb->tmp); /* not ours to remove: it may be someone else's file */
        tb->tmp = NULL;
        tarball_free(&tb);
        return -1;
    }
    *t = tb;
    return 0;
}

void tarball_free(struct tarball **t)
{
    struct tarball *tb = *t;

    if (tb == NULL) {
        return;
    }
    for (size_t i = 0; i < tb->n; i++) {
        if (tb->v[i].fd >= 0) {
            close(tb->v[i].fd);
        }
        free(tb->v[i].name);
        free(tb->v[i].src);
    }
    if (tb->fd >= 0) {
        close(tb->fd);
    }
    if (tb->tmp != NULL && !tb->finished) {
        unlink(tb->tmp);
    }
    free(tb->v);
    free(tb->buf);
    free(tb->tmp);
    free(tb->out);
    free(tb);
    *t = NULL;
}

const char *tarball_error(const struct tarball *t)
{
    return t->err;
}

/* A relative path without "." or ".." segments, not the manifest's name. */
static bool is_entry_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > NAME_MAX_BYTES || name[0] == '/' || name[n - 1] == '/' ||
        strcmp(name, TARBALL_MANIFEST) == 0) {
        return false;
    }
    for (const char *seg = name;;) {
        size_t len = strcspn(seg, "/");

        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && strncmp(seg, "..", 2) == 0)) {
            return false;
        }
        if (seg[len] == '\0') {
            return true;
        }
        seg += len + 1;
    }
}

static int add_entry(struct tarball *t, const char *name, const char *src, int fd, int64_t size,
                     const char *sha256)
{
    struct entry *e;

    if (!is_entry_name(name)) {
        return fail(t, "\"%.100s\" cannot be the name of an archive entry", name);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    e = &t->v[t->n++];
    e->name = xstrdup(name);
    e->src = src != NULL ? xstrdup(src) : NULL;
    e->fd = fd;
    e->size = size;
    snprintf(e->sha256, sizeof(e->sha256), "%s", sha256);
    return 0;
}

int tarball_add_file(struct tarball *t, const char *name, const char *src)
{
    crypto_hash_sha256_state h;
    char sha[TARBALL_SHA_HEX + 1];
    unsigned char *buf;
    int64_t total = 0;
    ssize_t n;
    int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        return fail(t, "cannot read %s: %s", src, strerror(errno));
    }
    buf = xmalloc(CHUNK);
    crypto_hash_sha256_init(&h);
    while ((n = read(fd, buf, CHUNK)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) {
            crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
            total += n;
        }
    }
    if (n < 0) {
        fail(t, "cannot read %s: %s", src, strerror(errno));
    }
    close(fd);
    free(buf);
    if (n < 0) {
        return -1;
    }
    sha_hex(&h, sha);
    return add_entry(t, name, src, -1, total, sha);
}

int tarball_add_known(struct tarball *t, const char *name, const char *src, int64_t size,
                      const char *sha256)
{
    struct stat st;

    if (sha256 != NULL && !tarball_is_sha256(sha256, strlen(sha256))) {
        return fail(t, "\"%.100s\" is not a SHA-256 (for %s)", sha256, src);
    }
    if (lstat(src, &st) != 0) {
        return fail(t, "%s is missing: %s", src, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || (int64_t)st.st_size != size) {
        return fail(t, "%s is not what it should be: %lld bytes, not %lld", src,
                    (long long)st.st_size, (long long)size);
    }
    return sha256 != NULL ? add_entry(t, name, src, -1, size, sha256)
                          : tarball_add_file(t, name, src);
}

/* An unnamed file beside the archive; where the file system has none, a named one, unlinked. */
static int spool_open(struct tarball *t)
{
    int fd = open(t->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    char *path;

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) {
        return fd;
    }
    path = concat(t->out, ".part-XXXXXX");
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) {
        unlink(path);
    }
    free(path);
    return fd;
}

int tarball_add_read(struct tarball *t, const char *name,
                     ssize_t (*read_at)(void *arg, void *buf, size_t cap, int64_t off), void *arg,
                     int64_t size, const char *sha256)
{
    crypto_hash_sha256_state h;
    char sha[TARBALL_SHA_HEX + 1];
    unsigned char *buf;
    int64_t total = 0;
    ssize_t n;
    int fd = spool_open(t);

    if (fd < 0) {
        return fail(t, "cannot create a temporary file in %s: %s", t->dir, strerror(errno));
    }
    buf = xmalloc(CHUNK);
    crypto_hash_sha256_init(&h);
    while ((n = read_at(arg, buf, CHUNK, total)) > 0) {
        crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
        if (fs_write_all(fd, buf, (size_t)n) != 0) {
            n = -1;
            break;
        }
        total += n;
    }
    free(buf);
    if (n < 0) {
        close(fd);
        return fail(t, "cannot copy %s: %s", name, strerror(errno));
    }
    sha_hex(&h, sha);
    if (total != size || strcmp(sha, sha256) != 0) {
        close(fd);
        return fail(t, "%s is not what it should be: its %s differs", name,
                    total != size ? "size" : "SHA-256");
    }
    if (add_entry(t, name, NULL, fd, total, sha) != 0) {
        close(fd);
        return -1;
    }
    return 0;
}

int tarball_part_begin(struct tarball *t, const char *name)
{
    int fd = spool_open(t);

    if (fd < 0) {
        return fail(t, "cannot create a temporary file in %s: %s", t->dir, strerror(errno));
    }
    if (add_entry(t, name, NULL, fd, 0, "") != 0) {
        close(fd);
        return -1;
    }
    t->in_part = true;
    t->part = t->n - 1;
    crypto_hash_sha256_init(&t->h);
    if (t->buf == NULL) {
        t->buf = xmalloc(PART_BUF);
    }
    t->buf_len = 0;
    return 0;
}

static int part_flush(struct tarball *t)
{
    if (t->buf_len > 0 && fs_write_all(t->v[t->part].fd, t->buf, t->buf_len) != 0) {
        return fail(t, "cannot write a temporary file in %s: %s", t->dir, strerror(errno));
    }
    t->buf_len = 0;
    return 0;
}

int tarball_part_write(struct tarball *t, const void *data, size_t len)
{
    struct entry *e;

    if (!t->in_part) {
        return fail(t, "no part is being written");
    }
    e = &t->v[t->part];
    crypto_hash_sha256_update(&t->h, data, (unsigned long long)len);
    e->size += (int64_t)len;
    if (t->buf_len + len > PART_BUF && part_flush(t) != 0) {
        return -1;
    }
    if (len >= PART_BUF) {
        return fs_write_all(e->fd, data, len) == 0
                   ? 0
                   : fail(t, "cannot write a temporary file in %s: %s", t->dir, strerror(errno));
    }
    memcpy(t->buf + t->buf_len, data, len);
    t->buf_len += len;
    return 0;
}

int tarball_part_end(struct tarball *t)
{
    if (!t->in_part) {
        return fail(t, "no part is being written");
    }
    if (part_flush(t) != 0) {
        return -1;
    }
    sha_hex(&t->h, t->v[t->part].sha256);
    t->in_part = false;
    return 0;
}

/* ---- Writing the archive ---- */

static int write_header(struct tarball *t, struct archive *a, const char *path, int64_t size)
{
    struct archive_entry *ae = archive_entry_new();
    int rc;

    archive_entry_set_pathname(ae, path);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0600);
    archive_entry_set_size(ae, size);
    archive_entry_set_mtime(ae, (time_t)(clock_now_ms() / 1000), 0);
    rc = archive_write_header(a, ae);
    archive_entry_free(ae);
    if (rc != ARCHIVE_OK) {
        return fail(t, "cannot write %s: %s", t->tmp, archive_error_string(a));
    }
    return 0;
}

/* Copies entry e into the archive, checking it against its size and hash. */
static int copy_entry(struct tarball *t, struct archive *a, const struct entry *e)
{
    const char *what = e->src != NULL ? e->src : e->name;
    crypto_hash_sha256_state h;
    char sha[TARBALL_SHA_HEX + 1];
    unsigned char *buf;
    int64_t total = 0;
    ssize_t n;
    int rc = -1;
    int fd = e->src != NULL ? open(e->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : e->fd;

    if (fd < 0) {
        return fail(t, "cannot read %s: %s", what, strerror(errno));
    }
    if (write_header(t, a, e->name, e->size) != 0) {
        goto out_fd;
    }
    buf = xmalloc(CHUNK);
    crypto_hash_sha256_init(&h);
    while ((n = pread(fd, buf, CHUNK, total)) > 0 || (n < 0 && errno == EINTR)) {
        if (n < 0) {
            continue;
        }
        if (total + n > e->size) {
            total += n; /* it grew: refused below */
            break;
        }
        crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
        if (archive_write_data(a, buf, (size_t)n) != n) {
            fail(t, "cannot write %s: %s", t->tmp, archive_error_string(a));
            goto out;
        }
        total += n;
    }
    if (n < 0) {
        fail(t, "cannot read %s: %s", what, strerror(errno));
        goto out;
    }
    sha_hex(&h, sha);
    if (total != e->size || strcmp(sha, e->sha256) != 0) {
        fail(t, "%s changed while it was archived, or is damaged: its %s is not the one "
             "read before", what, total != e->size ? "size" : "SHA-256");
        goto out;
    }
    rc = 0;
out:
    free(buf);
out_fd:
    if (e->src != NULL) {
        close(fd);
    }
    return rc;
}

static char *manifest_text(struct tarball *t, json_t *head)
{
    json_t *list = json_array();
    char *text;

    for (size_t i = 0; i < t->n; i++) {
        const struct entry *e = &t->v[i];

        json_array_append_new(list, json_pack("{s:s,s:I,s:s}", "path", e->name, "size",
                                              (json_int_t)e->size, "sha256", e->sha256));
    }
    json_object_set_new(head, "entries", list);
    text = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    return text;
}

static int write_archive(struct tarball *t, const char *manifest)
{
    struct archive *a = archive_write_new();
    size_t len = strlen(manifest);
    int rc = -1;

    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, t->fd) != ARCHIVE_OK) {
        fail(t, "cannot write %s: %s", t->tmp, archive_error_string(a));
        goto out;
    }
    if (write_header(t, a, TARBALL_MANIFEST, (int64_t)len) != 0) {
        goto out;
    }
    if (archive_write_data(a, manifest, len) != (ssize_t)len) {
        fail(t, "cannot write %s: %s", t->tmp, archive_error_string(a));
        goto out;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (copy_entry(t, a, &t->v[i]) != 0) {
            goto out;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        fail(t, "cannot write %s: %s", t->tmp, archive_error_string(a));
        goto out;
    }
    rc = 0;
out:
    archive_write_free(a);
    return rc;
}

int tarball_finish(struct tarball *t, json_t *head, int64_t *bytes)
{
    char *manifest;
    struct stat st;
    int rc;

    if (t->in_part) {
        json_decref(head);
        return fail(t, "the part %s was not ended", t->v[t->part].name);
    }
    manifest = manifest_text(t, head);
    rc = manifest != NULL ? write_archive(t, manifest) : fail(t, "cannot write the manifest");
    free(manifest);
    if (rc != 0) {
        return -1;
    }
    if (fsync(t->fd) != 0 || fstat(t->fd, &st) != 0) {
        return fail(t, "cannot write %s: %s", t->tmp, strerror(errno));
    }
    if (renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->out, t->force ? 0 : RENAME_NOREPLACE) != 0) {
        return fail(t, "cannot rename %s to %s: %s", t->tmp, t->out, strerror(errno));
    }
    t->finished = true;
    fs_sync_dir(t->dir);
    *bytes = (int64_t)st.st_size;
    return 0;
}
