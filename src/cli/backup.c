/*
 * backup.c: `pipit backup` and `pipit restore`, a data dir to one file and back.
 *
 *   pipit backup --data-dir DIR --out FILE [--force]
 *   pipit restore --from FILE --data-dir DIR
 *
 * The file is a POSIX tar (pax headers only where a size needs them) of:
 *   manifest.json             first: format and version, when, by which pipit,
 *                             the schema version and counts, and the path, size
 *                             and SHA-256 of every other entry
 *   pipit.db                  the database as of one commit (store_backup.h)
 *   NAME                      each other regular file at the data dir's top level:
 *                             the keys and secrets pipitd made there
 *   files/ab/cd/SHA[.thumb]   the stored files the database names, and their
 *                             finished thumbnails
 *
 * A consistent backup of a running server. The database is copied with
 * SQLite's online backup API as of one commit, while writes go on. A stored
 * file never changes, and is on disk before the commit that names it, so all
 * a snapshot names is there to copy, unless the sweep deletes it first. To
 * hold the sweep off, the backup takes LOCK_SH on files/sweep.lock before the
 * snapshot and keeps it until the last file is copied; a sweep step deletes
 * only under LOCK_EX (files/files.c) and skips its turn when it cannot get it.
 * Everything is hashed as it goes into the archive and checked against the
 * manifest written before it (a stored file's name is its hash), and the
 * archive is renamed into place only when whole.
 *
 * Restore writes nothing into the target dir until everything checks out: it
 * extracts into a staging dir beside the target, checks every entry's size and
 * hash against the manifest (and refuses anything the manifest does not name,
 * and every kind of entry but a regular file), runs SQLite's integrity check,
 * and only then renames the staging dir onto the target.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store_backup.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/mem.h"

#define FORMAT_NAME "pipit-backup"
#define FORMAT_VERSION 1
#define MANIFEST "manifest.json"
#define DB_NAME "pipit.db"
/* About 1.5 million entries; a manifest is read whole. */
#define MANIFEST_MAX (256 * 1024 * 1024)
/* "files/ab/cd/" + 64 hex digits + ".thumb" fits, and so do key file names. */
#define ENTRY_PATH_MAX 96
#define SHA_HEX (crypto_hash_sha256_BYTES * 2)
#define CHUNK (256 * 1024)

struct entry {
    char path[ENTRY_PATH_MAX];  /* in the archive and under the data dir */
    int64_t size;
    char sha256[SHA_HEX + 1];
    bool seen;                  /* restore: extracted and checked */
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

static struct entry *entries_add(struct entries *es, const char *path, int64_t size,
                                 const char *sha256)
{
    struct entry *e;

    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 64;
        es->v = xrealloc(es->v, es->cap * sizeof(*es->v));
    }
    e = &es->v[es->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->size = size;
    snprintf(e->sha256, sizeof(e->sha256), "%s", sha256);
    return e;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static struct entry *entries_find(struct entries *es, const char *path)
{
    struct entry key;

    if (strlen(path) >= sizeof(key.path)) {
        return NULL;
    }
    snprintf(key.path, sizeof(key.path), "%s", path);
    return bsearch(&key, es->v, es->n, sizeof(*es->v), entry_cmp);
}

/* ---- Names ---- */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Top-level files a backup leaves out: the database (the snapshot stands for
 * it) and SQLite's files beside it, the server's lock, and the temporary files
 * a crash can leave while a key is written.
 */
static bool is_transient(const char *name)
{
    return strcmp(name, DB_NAME) == 0 || strcmp(name, "pipitd.lock") == 0 ||
           has_suffix(name, "-wal") || has_suffix(name, "-shm") || has_suffix(name, "-journal") ||
           has_suffix(name, ".tmp");
}

/* One path segment of printable ASCII, not hidden, that a top-level file may be named. */
static bool is_plain_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= ENTRY_PATH_MAX || name[0] == '.' || strcmp(name, MANIFEST) == 0 ||
        strcmp(name, "files") == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (name[i] <= ' ' || name[i] > '~' || name[i] == '/' || name[i] == '\\') {
            return false;
        }
    }
    return true;
}

static bool is_sha_hex(const char *s, size_t n)
{
    if (n != SHA_HEX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* files/ab/cd/<sha256> of a blob (suffix "") or its thumbnail (".thumb"). */
static void blob_entry_path(const char *sha256, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "files/%.2s/%.2s/%.64s%s", sha256, sha256 + 2, sha256, suffix);
}

/*
 * Whether an archive may hold path: the database, a plain top-level file, or a
 * stored file or thumbnail at its content address. Nothing else, so no path
 * can lead out of the directory it is extracted into. *blob_sha gets a stored
 * file's hash (its name), NULL otherwise.
 */
static bool is_entry_path(const char *path, const char **blob_sha, bool *thumb)
{
    char want[ENTRY_PATH_MAX];
    const char *sha = path + strlen("files/ab/cd/");
    size_t n = strlen(path);

    *blob_sha = NULL;
    *thumb = false;
    if (strcmp(path, DB_NAME) == 0) {
        return true;
    }
    if (strncmp(path, "files/", 6) != 0) {
        return is_plain_name(path) && !is_transient(path);
    }
    *thumb = has_suffix(path, ".thumb");
    if (n != strlen("files/ab/cd/") + SHA_HEX + (*thumb ? strlen(".thumb") : 0) ||
        !is_sha_hex(sha, SHA_HEX)) {
        return false;
    }
    blob_entry_path(sha, *thumb ? ".thumb" : "", want, sizeof(want));
    if (strcmp(path, want) != 0) {
        return false;
    }
    *blob_sha = sha;
    return true;
}

/* ---- Hashing ---- */

static void sha_hex(crypto_hash_sha256_state *h, char out[SHA_HEX + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_final(h, digest);
    sodium_bin2hex(out, SHA_HEX + 1, digest, sizeof(digest));
}

/* Size and SHA-256 of the regular file at path. */
static int hash_file(const char *path, int64_t *size, char sha256[SHA_HEX + 1], char *err,
                     size_t errlen)
{
    crypto_hash_sha256_state h;
    unsigned char *buf = xmalloc(CHUNK);
    int64_t total = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        free(buf);
        return -1;
    }
    crypto_hash_sha256_init(&h);
    while ((n = read(fd, buf, CHUNK)) > 0) {
        crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
        total += n;
    }
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    }
    close(fd);
    free(buf);
    if (n < 0) {
        return -1;
    }
    sha_hex(&h, sha256);
    *size = total;
    return 0;
}

/* ---- Errors and options ---- */

/* Writes the message into err; returns -1. */
static int failf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int failf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

struct arg {
    const char *name;           /* "--data-dir": takes a value, and is required */
    const char **value;
};

/*
 * Reads argv[2..] into opts (and "--force" where force is not NULL). Returns 0,
 * or the exit status: 2 after the usage for anything missing or unknown, 1 when
 * libsodium cannot start.
 */
static int command_start(int argc, char **argv, const struct arg *opts, size_t n,
                         bool *force)
{
    for (int i = 2; i < argc; i++) {
        size_t k = 0;

        while (k < n && !(strcmp(argv[i], opts[k].name) == 0 && i + 1 < argc)) {
            k++;
        }
        if (k < n) {
            *opts[k].value = argv[++i];
        } else if (force != NULL && strcmp(argv[i], "--force") == 0) {
            *force = true;
        } else {
            cli_usage();
            return 2;
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (*opts[k].value == NULL || **opts[k].value == '\0') {
            cli_usage();
            return 2;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "pipit: cannot initialise libsodium\n");
        return 1;
    }
    return 0;
}

/* ---- Backup ---- */

struct backup {
    const char *data_dir;
    const char *out;
    char tmp[4200];             /* out.tmp: the archive while it is written */
    char snap[4200];            /* out.db.tmp: the database snapshot */
    struct entries entries;
    struct store_backup_facts facts;
    char err[1024];
};

/* Every regular file at the data dir's top level but the transient ones. */
static int add_top_files(struct backup *b)
{
    DIR *d = opendir(b->data_dir);
    struct dirent *de;
    int rc = 0;

    if (d == NULL) {
        return failf(b->err, sizeof(b->err), "cannot read %s: %s", b->data_dir, strerror(errno));
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char path[4400], sha[SHA_HEX + 1];
        struct stat st;
        int64_t size;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            is_transient(de->d_name)) {
            continue;
        }
        if (strcmp(de->d_name, "files") == 0) {
            continue; /* the stored files the snapshot names are added by add_blob */
        }
        snprintf(path, sizeof(path), "%s/%s", b->data_dir, de->d_name);
        if (lstat(path, &st) != 0) {
            rc = failf(b->err, sizeof(b->err), "cannot read %s: %s", path, strerror(errno));
        } else if (!S_ISREG(st.st_mode) || !is_plain_name(de->d_name)) {
            fprintf(stderr, "pipit: backup: leaving out %s (not a regular file with a plain "
                    "name)\n", path);
        } else if (hash_file(path, &size, sha, b->err, sizeof(b->err)) != 0) {
            rc = -1;
        } else {
            entries_add(&b->entries, de->d_name, size, sha);
        }
    }
    closedir(d);
    return rc;
}

/* store_backup_each_blob's callback: the stored file and its finished thumbnail. */
static int add_blob(void *arg, const char *sha256, int64_t size, bool thumb_ready)
{
    struct backup *b = arg;
    char rel[ENTRY_PATH_MAX], path[4400], thumb_sha[SHA_HEX + 1];
    struct stat st;
    int64_t thumb_size;

    if (!is_sha_hex(sha256, strlen(sha256))) {
        return failf(b->err, sizeof(b->err), "the database names a file \"%s\", which is "
                     "not a SHA-256", sha256);
    }
    blob_entry_path(sha256, "", rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", b->data_dir, rel);
    if (lstat(path, &st) != 0) {
        return failf(b->err, sizeof(b->err), "stored file %s, which the database names, is "
                     "missing: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || (int64_t)st.st_size != size) {
        return failf(b->err, sizeof(b->err), "stored file %s is not what the database "
                     "names: %lld bytes, not %lld", path, (long long)st.st_size, (long long)size);
    }
    /* Its name is its hash: checked as it is copied (copy_entry). */
    entries_add(&b->entries, rel, size, sha256);
    if (!thumb_ready) {
        return 0; /* a thumbnail still to make is made again after a restore */
    }
    blob_entry_path(sha256, ".thumb", rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", b->data_dir, rel);
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return 0; /* the server has none to serve either */
    }
    if (hash_file(path, &thumb_size, thumb_sha, b->err, sizeof(b->err)) != 0) {
        return -1;
    }
    entries_add(&b->entries, rel, thumb_size, thumb_sha);
    return 0;
}

static char *manifest_text(struct backup *b)
{
    json_t *list = json_array();
    json_t *root;
    char *text;

    for (size_t i = 0; i < b->entries.n; i++) {
        const struct entry *e = &b->entries.v[i];

        json_array_append_new(list, json_pack("{s:s,s:I,s:s}", "path", e->path, "size",
                                              (json_int_t)e->size, "sha256", e->sha256));
    }
    root = json_pack("{s:s,s:i,s:I,s:s,s:i,s:{s:I,s:I,s:I,s:I},s:o}", "format", FORMAT_NAME,
                     "version", FORMAT_VERSION, "created_at", (json_int_t)clock_now_ms(),
                     "pipit_version", PIPIT_VERSION, "schema_version", b->facts.schema_version,
                     "counts", "messages", (json_int_t)b->facts.messages, "users",
                     (json_int_t)b->facts.users, "files", (json_int_t)b->facts.files, "blobs",
                     (json_int_t)b->facts.blobs, "entries", list);
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static int write_header(struct archive *a, const char *path, int64_t size, char *err,
                        size_t errlen)
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
        return failf(err, errlen, "cannot write the backup: %s", archive_error_string(a));
    }
    return 0;
}

/* Copies the file at src into the archive as e, checking it against e's size and hash. */
static int copy_entry(struct archive *a, const char *src, const struct entry *e, char *err,
                      size_t errlen)
{
    crypto_hash_sha256_state h;
    unsigned char *buf;
    char sha[SHA_HEX + 1];
    int64_t total = 0;
    ssize_t n;
    int rc = -1;
    int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        return failf(err, errlen, "cannot read %s: %s", src, strerror(errno));
    }
    if (write_header(a, e->path, e->size, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    buf = xmalloc(CHUNK);
    crypto_hash_sha256_init(&h);
    while ((n = read(fd, buf, CHUNK)) > 0) {
        if (total + n > e->size) {
            total += n; /* it grew: refused below */
            break;
        }
        crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
        if (archive_write_data(a, buf, (size_t)n) != n) {
            failf(err, errlen, "cannot write the backup: %s", archive_error_string(a));
            goto out;
        }
        total += n;
    }
    if (n < 0) {
        failf(err, errlen, "cannot read %s: %s", src, strerror(errno));
        goto out;
    }
    sha_hex(&h, sha);
    if (total != e->size || strcmp(sha, e->sha256) != 0) {
        failf(err, errlen, "%s changed or is damaged: its %s does not match what was read "
              "before (a stored file's name is its SHA-256)", src,
              total != e->size ? "size" : "SHA-256");
        goto out;
    }
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

static int write_archive(struct backup *b, int fd)
{
    struct archive *a = archive_write_new();
    char *manifest = manifest_text(b);
    size_t len = strlen(manifest);
    int rc = -1;

    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        failf(b->err, sizeof(b->err), "cannot write %s: %s", b->tmp, archive_error_string(a));
        goto out;
    }
    if (write_header(a, MANIFEST, (int64_t)len, b->err, sizeof(b->err)) != 0) {
        goto out;
    }
    if (archive_write_data(a, manifest, len) != (ssize_t)len) {
        failf(b->err, sizeof(b->err), "cannot write %s: %s", b->tmp, archive_error_string(a));
        goto out;
    }
    for (size_t i = 0; i < b->entries.n; i++) {
        const struct entry *e = &b->entries.v[i];
        char src[4400];

        if (strcmp(e->path, DB_NAME) == 0) {
            snprintf(src, sizeof(src), "%s", b->snap);
        } else {
            snprintf(src, sizeof(src), "%s/%s", b->data_dir, e->path);
        }
        if (copy_entry(a, src, e, b->err, sizeof(b->err)) != 0) {
            goto out;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        failf(b->err, sizeof(b->err), "cannot write %s: %s", b->tmp, archive_error_string(a));
        goto out;
    }
    rc = 0;
out:
    archive_write_free(a);
    free(manifest);
    return rc;
}

/*
 * The snapshot and the list of what to copy, under the sweep lock (held on
 * until the archive is written: the caller closes lock_fd).
 */
static int snapshot(struct backup *b)
{
    struct store_conn *db = NULL;
    char sha[SHA_HEX + 1];
    int64_t size;
    int rc = -1;

    if (store_backup_snapshot(b->data_dir, b->snap, b->err, sizeof(b->err)) != 0) {
        return -1;
    }
    if (store_backup_open(b->snap, &db, b->err, sizeof(b->err)) != 0) {
        return -1;
    }
    if (store_backup_check(db, false, b->err, sizeof(b->err)) != 0 ||
        store_backup_facts(db, &b->facts, b->err, sizeof(b->err)) != 0 ||
        hash_file(b->snap, &size, sha, b->err, sizeof(b->err)) != 0) {
        goto out;
    }
    entries_add(&b->entries, DB_NAME, size, sha);
    if (add_top_files(b) != 0 ||
        store_backup_each_blob(db, add_blob, b, b->err, sizeof(b->err)) != 0) {
        goto out;
    }
    rc = 0;
out:
    store_close(&db);
    return rc;
}

/* LOCK_SH on files/sweep.lock (-1 when there is no files/: nothing to hold). */
static int lock_sweep(struct backup *b, int *out)
{
    char dir[4200], path[4300];
    struct stat st;
    int fd;

    *out = -1;
    snprintf(dir, sizeof(dir), "%s/files", b->data_dir);
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        return 0;
    }
    snprintf(path, sizeof(path), "%s/sweep.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    /* Waits out a sweep step under way: it holds LOCK_EX for one batch at most. */
    if (fd < 0 || flock(fd, LOCK_SH) != 0) {
        failf(b->err, sizeof(b->err), "cannot lock %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *out = fd;
    return 0;
}

static int backup_run(struct backup *b, bool force, int64_t *bytes)
{
    char dir[4200];
    struct stat st;
    int lock_fd = -1, fd = -1;
    int rc = -1;

    if (!force && lstat(b->out, &st) == 0) {
        return failf(b->err, sizeof(b->err), "%s exists (use --force to replace it)", b->out);
    }
    snprintf(b->tmp, sizeof(b->tmp), "%s.tmp", b->out);
    snprintf(b->snap, sizeof(b->snap), "%s.db.tmp", b->out);
    unlink(b->snap); /* left by a crash during an earlier backup */
    fd = open(b->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return failf(b->err, sizeof(b->err), "cannot create %s: %s", b->tmp, strerror(errno));
    }
    if (lock_sweep(b, &lock_fd) != 0 || snapshot(b) != 0 || write_archive(b, fd) != 0) {
        goto out;
    }
    /* Every stored file is in: the sweep may go on. */
    if (lock_fd >= 0) {
        close(lock_fd);
        lock_fd = -1;
    }
    if (fsync(fd) != 0 || fstat(fd, &st) != 0) {
        failf(b->err, sizeof(b->err), "cannot write %s: %s", b->tmp, strerror(errno));
        goto out;
    }
    fs_dirname(b->out, dir, sizeof(dir));
    if (renameat2(AT_FDCWD, b->tmp, AT_FDCWD, b->out, force ? 0 : RENAME_NOREPLACE) != 0) {
        failf(b->err, sizeof(b->err), "cannot rename %s to %s: %s", b->tmp, b->out,
              strerror(errno));
        goto out;
    }
    fs_sync_dir(dir);
    *bytes = (int64_t)st.st_size;
    rc = 0;
out:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    close(fd);
    if (rc != 0) {
        unlink(b->tmp);
    }
    unlink(b->snap);
    return rc;
}

int cli_backup(int argc, char **argv)
{
    struct backup b = { 0 };
    const struct arg opts[] = { { "--data-dir", &b.data_dir }, { "--out", &b.out } };
    bool force = false;
    int64_t bytes = 0;
    int rc = command_start(argc, argv, opts, 2, &force);

    if (rc != 0) {
        return rc;
    }
    rc = backup_run(&b, force, &bytes);
    if (rc != 0) {
        fprintf(stderr, "pipit: backup: %s\n", b.err);
    } else {
        printf("backup: %lld messages, %lld users, %lld files, %.1f MiB in %s\n",
               (long long)b.facts.messages, (long long)b.facts.users, (long long)b.facts.files,
               (double)bytes / (1024.0 * 1024.0), b.out);
    }
    free(b.entries.v);
    return rc == 0 ? 0 : 1;
}

/* ---- Restore ---- */

struct restore {
    const char *from;
    const char *target;
    char real[4096];            /* the target, its symbolic links resolved */
    char stage[4200];           /* the staging dir, made and removed here */
    bool stage_inside;          /* in the target (a mount point): entries move one by one */
    struct entries entries;     /* from the manifest, by path */
    struct store_backup_facts facts; /* from the manifest */
    char version[32];           /* the pipit that made the backup */
    char err[1024];
};

/* A missing or empty dir is a target; anything else is refused. */
static int check_target(struct restore *r)
{
    char copy[4096], parent[4096], base[4096];
    struct stat st, pst;
    DIR *d;
    struct dirent *de;
    size_t n;

    snprintf(copy, sizeof(copy), "%s", r->target);
    n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/') {
        copy[--n] = '\0';
    }
    if (stat(copy, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            return failf(r->err, sizeof(r->err), "%s exists and is not a directory", r->target);
        }
        d = opendir(copy);
        if (d == NULL) {
            return failf(r->err, sizeof(r->err), "cannot read %s: %s", r->target,
                         strerror(errno));
        }
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                closedir(d);
                return failf(r->err, sizeof(r->err), "%s is not empty: restore only into an "
                             "empty or missing data dir", r->target);
            }
        }
        closedir(d);
        if (realpath(copy, r->real) == NULL) {
            return failf(r->err, sizeof(r->err), "%s: %s", r->target, strerror(errno));
        }
        fs_dirname(r->real, parent, sizeof(parent));
        /* A mount point cannot be renamed onto: stage inside it instead. */
        r->stage_inside = stat(parent, &pst) == 0 && pst.st_dev != st.st_dev;
    } else if (errno != ENOENT) {
        return failf(r->err, sizeof(r->err), "%s: %s", r->target, strerror(errno));
    } else {
        const char *slash = strrchr(copy, '/');

        fs_dirname(copy, parent, sizeof(parent));
        snprintf(base, sizeof(base), "%s", slash != NULL ? slash + 1 : copy);
        if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
            return failf(r->err, sizeof(r->err), "%s: not a directory name", r->target);
        }
        if (realpath(parent, copy) == NULL) {
            return failf(r->err, sizeof(r->err), "the parent dir of %s: %s", r->target,
                         strerror(errno));
        }
        if (snprintf(r->real, sizeof(r->real), "%s/%s", strcmp(copy, "/") == 0 ? "" : copy,
                     base) >= (int)sizeof(r->real)) {
            return failf(r->err, sizeof(r->err), "%s: path too long", r->target);
        }
    }
    if (r->stage_inside) {
        snprintf(r->stage, sizeof(r->stage), "%s/.restore-XXXXXX", r->real);
    } else {
        fs_dirname(r->real, parent, sizeof(parent));
        snprintf(r->stage, sizeof(r->stage), "%s/.%s.restore-XXXXXX",
                 strcmp(parent, "/") == 0 ? "" : parent, strrchr(r->real, '/') + 1);
    }
    return 0;
}

static const char *archive_why(struct archive *a)
{
    const char *s = archive_error_string(a);

    return s != NULL ? s : "unknown error";
}

/* Reads the manifest from the archive's first entry into r. */
static int read_manifest(struct restore *r, struct archive *a)
{
    struct archive_entry *ae;
    json_t *root = NULL, *list = NULL;
    json_error_t jerr;
    const char *format = "", *version = "";
    json_int_t fmt_version = 0, created = 0; /* created: checked for, not used */
    json_int_t counts[4];
    char *text = NULL;
    int64_t size;
    int rc = -1;
    int h = archive_read_next_header(a, &ae);

    if (h == ARCHIVE_EOF) {
        return failf(r->err, sizeof(r->err), "%s is empty: not a pipit backup", r->from);
    }
    if (h != ARCHIVE_OK) {
        return failf(r->err, sizeof(r->err), "%s is not a pipit backup (%s)", r->from,
                     archive_why(a));
    }
    if (strcmp(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "", MANIFEST) != 0 ||
        archive_entry_filetype(ae) != AE_IFREG || archive_entry_hardlink(ae) != NULL) {
        return failf(r->err, sizeof(r->err), "%s is not a pipit backup: it does not start "
                     "with %s", r->from, MANIFEST);
    }
    size = archive_entry_size(ae);
    if (size <= 0 || size > MANIFEST_MAX) {
        return failf(r->err, sizeof(r->err), "%s: %s has an impossible size (%lld)", r->from,
                     MANIFEST, (long long)size);
    }
    text = xmalloc((size_t)size);
    /* A read may end at a block's end: several make the entry. */
    for (int64_t got = 0, n; got < size; got += n) {
        n = archive_read_data(a, text + got, (size_t)(size - got));
        if (n <= 0) {
            failf(r->err, sizeof(r->err), "%s is damaged or truncated (%s)", r->from,
                  n < 0 ? archive_why(a) : "the manifest is cut short");
            goto out;
        }
    }
    root = json_loadb(text, (size_t)size, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        failf(r->err, sizeof(r->err), "%s: %s is damaged: %s", r->from, MANIFEST, jerr.text);
        goto out;
    }
    if (json_unpack(root, "{s:s,s:I}", "format", &format, "version", &fmt_version) != 0 ||
        strcmp(format, FORMAT_NAME) != 0) {
        failf(r->err, sizeof(r->err), "%s is not a pipit backup (its %s says otherwise)",
              r->from, MANIFEST);
        goto out;
    }
    if (fmt_version != FORMAT_VERSION) {
        failf(r->err, sizeof(r->err), "%s is in backup format version %lld; this pipit reads "
              "version %d", r->from, (long long)fmt_version, FORMAT_VERSION);
        goto out;
    }
    if (json_unpack_ex(root, &jerr, 0, "{s:I,s:s,s:i,s:{s:I,s:I,s:I,s:I},s:o}", "created_at",
                       &created, "pipit_version", &version, "schema_version",
                       &r->facts.schema_version, "counts", "messages", &counts[0], "users",
                       &counts[1], "files", &counts[2], "blobs", &counts[3], "entries",
                       &list) != 0) {
        failf(r->err, sizeof(r->err), "%s: %s is damaged: %s", r->from, MANIFEST, jerr.text);
        goto out;
    }
    if (!json_is_array(list)) {
        failf(r->err, sizeof(r->err), "%s: %s is damaged: its entries are not a list", r->from,
              MANIFEST);
        goto out;
    }
    r->facts.messages = counts[0];
    r->facts.users = counts[1];
    r->facts.files = counts[2];
    r->facts.blobs = counts[3];
    snprintf(r->version, sizeof(r->version), "%s", version);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *path = "", *sha = "", *blob_sha;
        json_int_t esize = -1;
        bool thumb;

        if (json_unpack(json_array_get(list, i), "{s:s,s:I,s:s}", "path", &path, "size", &esize,
                        "sha256", &sha) != 0 ||
            esize < 0 || !is_sha_hex(sha, strlen(sha))) {
            failf(r->err, sizeof(r->err), "%s: %s is damaged: entry %zu", r->from, MANIFEST, i);
            goto out;
        }
        if (!is_entry_path(path, &blob_sha, &thumb)) {
            failf(r->err, sizeof(r->err), "%s: the manifest names \"%.100s\", which no "
                  "backup holds (refused)", r->from, path);
            goto out;
        }
        if (blob_sha != NULL && !thumb && strncmp(sha, blob_sha, SHA_HEX) != 0) {
            failf(r->err, sizeof(r->err), "%s: the manifest's SHA-256 of %s is not its name",
                  r->from, path);
            goto out;
        }
        entries_add(&r->entries, path, esize, sha);
    }
    qsort(r->entries.v, r->entries.n, sizeof(*r->entries.v), entry_cmp);
    for (size_t i = 1; i < r->entries.n; i++) {
        if (strcmp(r->entries.v[i - 1].path, r->entries.v[i].path) == 0) {
            failf(r->err, sizeof(r->err), "%s: the manifest names %s twice", r->from,
                  r->entries.v[i].path);
            goto out;
        }
    }
    if (entries_find(&r->entries, DB_NAME) == NULL) {
        failf(r->err, sizeof(r->err), "%s: the manifest names no %s", r->from, DB_NAME);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    free(text);
    return rc;
}

/* Writes the entry's data into the staging dir, checking it against the manifest. */
static int extract(struct restore *r, struct archive *a, struct entry *e)
{
    crypto_hash_sha256_state h;
    char path[4400], dir[4400], sha[SHA_HEX + 1];
    unsigned char *buf;
    int64_t total = 0;
    ssize_t n;
    int rc = -1, fd;

    snprintf(path, sizeof(path), "%s/%s", r->stage, e->path);
    fs_dirname(path, dir, sizeof(dir));
    if (fs_mkdirs(dir) != 0) {
        return failf(r->err, sizeof(r->err), "cannot create %s: %s", dir, strerror(errno));
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return failf(r->err, sizeof(r->err), "cannot create %s: %s", path, strerror(errno));
    }
    buf = xmalloc(CHUNK);
    crypto_hash_sha256_init(&h);
    while ((n = archive_read_data(a, buf, CHUNK)) > 0) {
        crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
        total += n;
        for (ssize_t off = 0, w; off < n; off += w) {
            w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                w = 0;
            } else if (w <= 0) {
                failf(r->err, sizeof(r->err), "cannot write %s: %s", path, strerror(errno));
                goto out;
            }
        }
    }
    if (n < 0) {
        failf(r->err, sizeof(r->err), "%s is damaged or truncated (%s)", r->from,
              archive_why(a));
        goto out;
    }
    sha_hex(&h, sha);
    if (total != e->size || strcmp(sha, e->sha256) != 0) {
        failf(r->err, sizeof(r->err), "%s is damaged: %s does not match the manifest (its %s)",
              r->from, e->path, total != e->size ? "size" : "SHA-256");
        goto out;
    }
    if (fsync(fd) != 0) {
        failf(r->err, sizeof(r->err), "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    e->seen = true;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/* Every entry after the manifest: each one it names, once, as a regular file. */
static int extract_all(struct restore *r, struct archive *a)
{
    struct archive_entry *ae;
    int h;

    while ((h = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
        const char *path = archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "";
        struct entry *e;

        if (archive_entry_filetype(ae) != AE_IFREG || archive_entry_hardlink(ae) != NULL ||
            archive_entry_symlink(ae) != NULL) {
            return failf(r->err, sizeof(r->err), "%s holds \"%.100s\", which is not a regular "
                         "file (refused)", r->from, path);
        }
        e = entries_find(&r->entries, path);
        if (e == NULL || e->seen) {
            return failf(r->err, sizeof(r->err), "%s holds \"%.100s\" %s (refused)", r->from,
                         path, e == NULL ? "which its manifest does not name" : "twice");
        }
        if (!archive_entry_size_is_set(ae) || archive_entry_size(ae) != e->size) {
            return failf(r->err, sizeof(r->err), "%s is damaged: %s does not match the "
                         "manifest (its size)", r->from, path);
        }
        if (extract(r, a, e) != 0) {
            return -1;
        }
    }
    if (h != ARCHIVE_EOF) {
        return failf(r->err, sizeof(r->err), "%s is damaged or truncated (%s)", r->from,
                     archive_why(a));
    }
    for (size_t i = 0; i < r->entries.n; i++) {
        if (!r->entries.v[i].seen) {
            return failf(r->err, sizeof(r->err), "%s is incomplete (truncated?): %s is "
                         "missing", r->from, r->entries.v[i].path);
        }
    }
    return 0;
}

/* store_backup_each_blob's callback: every stored file the database names is there. */
static int blob_present(void *arg, const char *sha256, int64_t size, bool thumb_ready)
{
    struct restore *r = arg;
    char rel[ENTRY_PATH_MAX];
    struct entry *e;

    if (!is_sha_hex(sha256, strlen(sha256))) {
        return failf(r->err, sizeof(r->err), "the database names a file \"%.100s\", which "
                     "is not a SHA-256", sha256);
    }
    blob_entry_path(sha256, "", rel, sizeof(rel));
    e = entries_find(&r->entries, rel);
    if (e == NULL || e->size != size) {
        return failf(r->err, sizeof(r->err), "%s is incomplete: the database names stored "
                     "file %s, which it %s", r->from, sha256,
                     e == NULL ? "does not hold" : "holds with another size");
    }
    return 0;
}

/* The restored database: whole, not newer than this pipit, and what the manifest says. */
static int check_database(struct restore *r)
{
    struct store_backup_facts f;
    struct store_conn *db = NULL;
    char path[4400], why[512];
    int rc = -1;

    snprintf(path, sizeof(path), "%s/%s", r->stage, DB_NAME);
    if (store_backup_open(path, &db, why, sizeof(why)) != 0 ||
        store_backup_check(db, true, why, sizeof(why)) != 0 ||
        store_backup_facts(db, &f, why, sizeof(why)) != 0) {
        failf(r->err, sizeof(r->err), "%s: %s", r->from, why);
        goto out;
    }
    if (f.schema_version > store_backup_schema_latest()) {
        failf(r->err, sizeof(r->err), "%s is from a newer pipit (%s, schema %d; this one "
              "knows up to %d): restore it with that version", r->from, r->version,
              f.schema_version, store_backup_schema_latest());
        goto out;
    }
    if (f.schema_version != r->facts.schema_version || f.messages != r->facts.messages ||
        f.users != r->facts.users || f.files != r->facts.files || f.blobs != r->facts.blobs) {
        failf(r->err, sizeof(r->err), "%s: the manifest does not match the database", r->from);
        goto out;
    }
    if (store_backup_each_blob(db, blob_present, r, why, sizeof(why)) != 0) {
        if (r->err[0] == '\0') {
            failf(r->err, sizeof(r->err), "%s: %s", r->from, why);
        }
        goto out;
    }
    rc = 0;
out:
    store_close(&db);
    return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static int sync_dir_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return flag == FTW_DP && fs_sync_dir(path) != 0 ? -1 : 0;
}

/*
 * In the target (a mount point): each top-level entry of the staging dir moves
 * up, and those moved go back if one cannot.
 */
static int move_entries_up(struct restore *r)
{
    char (*names)[256] = xcalloc(r->entries.n + 1, sizeof(*names));
    char from[4400], to[4400];
    size_t n = 0, i;
    struct dirent *de;
    DIR *d = opendir(r->stage);
    int saved = 0;

    while (d != NULL && n <= r->entries.n && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
        }
    }
    saved = d == NULL ? errno : 0;
    if (d != NULL) {
        closedir(d);
    }
    for (i = 0; saved == 0 && i < n; i++) {
        snprintf(from, sizeof(from), "%s/%s", r->stage, names[i]);
        snprintf(to, sizeof(to), "%s/%s", r->real, names[i]);
        if (rename(from, to) != 0) {
            saved = errno;
            while (i-- > 0) {
                snprintf(from, sizeof(from), "%s/%s", r->stage, names[i]);
                snprintf(to, sizeof(to), "%s/%s", r->real, names[i]);
                rename(to, from);
            }
            break;
        }
    }
    free(names);
    if (saved != 0) {
        return failf(r->err, sizeof(r->err), "cannot move the restored data into %s: %s",
                     r->real, strerror(saved));
    }
    rmdir(r->stage);
    chmod(r->real, 0700);
    return 0;
}

/* The staging dir's contents become the target's (which is empty). */
static int move_into_place(struct restore *r)
{
    char parent[4096];

    if (nftw(r->stage, sync_dir_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        return failf(r->err, sizeof(r->err), "cannot write %s: %s", r->stage, strerror(errno));
    }
    if (r->stage_inside) {
        if (move_entries_up(r) != 0) {
            return -1;
        }
        fs_sync_dir(r->real);
        return 0;
    }
    if (rename(r->stage, r->real) != 0) {
        return failf(r->err, sizeof(r->err), "cannot move the restored data into %s: %s",
                     r->real, strerror(errno));
    }
    fs_dirname(r->real, parent, sizeof(parent));
    fs_sync_dir(parent);
    return 0;
}

static int restore_run(struct restore *r)
{
    struct archive *a = NULL;
    bool staged = false;
    int fd = -1;
    int rc = -1;

    if (check_target(r) != 0) {
        return -1;
    }
    fd = open(r->from, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return failf(r->err, sizeof(r->err), "cannot open %s: %s", r->from, strerror(errno));
    }
    a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, fd, CHUNK) != ARCHIVE_OK) {
        failf(r->err, sizeof(r->err), "%s is not a pipit backup (%s)", r->from, archive_why(a));
        goto out;
    }
    if (read_manifest(r, a) != 0) {
        goto out;
    }
    if (mkdtemp(r->stage) == NULL) {
        failf(r->err, sizeof(r->err), "cannot create a staging dir beside %s: %s", r->real,
              strerror(errno));
        goto out;
    }
    staged = true;
    if (extract_all(r, a) != 0 || check_database(r) != 0 || move_into_place(r) != 0) {
        goto out;
    }
    rc = 0;
out:
    if (rc != 0 && staged) {
        nftw(r->stage, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    archive_read_free(a);
    close(fd);
    return rc;
}

int cli_restore(int argc, char **argv)
{
    struct restore r = { 0 };
    const struct arg opts[] = { { "--from", &r.from }, { "--data-dir", &r.target } };
    int rc = command_start(argc, argv, opts, 2, NULL);

    if (rc != 0) {
        return rc;
    }
    rc = restore_run(&r);
    if (rc != 0) {
        fprintf(stderr, "pipit: restore: %s\n", r.err);
    } else {
        printf("restore: %lld messages, %lld users, %lld files into %s (a backup by pipit %s)\n",
               (long long)r.facts.messages, (long long)r.facts.users, (long long)r.facts.files,
               r.real, r.version);
    }
    free(r.entries.v);
    return rc == 0 ? 0 : 1;
}
