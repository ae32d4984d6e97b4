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
 * The archive is written by compliance/tarball.h: everything is hashed as it
 * goes into the archive and checked against the manifest written before it (a
 * stored file's name is its hash), and the archive is renamed into place only
 * when whole.
 *
 * Restore writes nothing into the target dir until everything checks out: it
 * reads the manifest (compliance/backup_manifest.h refuses any path that could
 * lead out of the data dir), extracts into a staging dir beside the target,
 * checks every entry's size and hash against the manifest (and refuses
 * anything the manifest does not name, and every kind of entry but a regular
 * file), runs SQLite's integrity check, and only then renames the staging dir
 * onto the target.
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
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "compliance/backup_manifest.h"
#include "compliance/export.h"
#include "compliance/tarball.h"
#include "files/files.h"
#include "keys/keyring.h"
#include "keys/sealed_file.h"
#include "store/store_backup.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/mem.h"

#define MANIFEST TARBALL_MANIFEST
#define DB_NAME BACKUP_MANIFEST_DB
#define SHA_HEX TARBALL_SHA_HEX
#define CHUNK (256 * 1024)

/* ---- Hashing ---- */

static void sha_hex(crypto_hash_sha256_state *h, char out[SHA_HEX + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_final(h, digest);
    sodium_bin2hex(out, SHA_HEX + 1, digest, sizeof(digest));
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

/* Reads argv[2..] into opts (cli_args), then starts libsodium: 0, or the exit status. */
static int command_start(int argc, char **argv, const struct cli_arg *opts, size_t n,
                         bool *force)
{
    int rc = cli_args(argc, argv, 2, opts, n, force);

    if (rc == 0 && sodium_init() < 0) {
        fprintf(stderr, "pipit: cannot initialise libsodium\n");
        rc = 1;
    }
    return rc;
}

/* ---- Backup ---- */

struct backup {
    const char *data_dir;
    const char *out;
    char snap[4200];            /* out.db.tmp: the database snapshot */
    struct tarball *t;
    struct store_backup_facts facts;
    bool sealed;                /* encryption at rest: stored files are sealed */
    char err[1024];
};

/* The tarball's error as the backup's; -1. */
static int tarball_failed(struct backup *b)
{
    snprintf(b->err, sizeof(b->err), "%s", tarball_error(b->t));
    return -1;
}

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
        char path[4400];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            backup_manifest_is_transient(de->d_name)) {
            continue;
        }
        if (strcmp(de->d_name, "files") == 0 || strcmp(de->d_name, EXPORT_DIR) == 0) {
            continue; /* stored files are added by add_blob; exports are on their way out */
        }
        snprintf(path, sizeof(path), "%s/%s", b->data_dir, de->d_name);
        if (lstat(path, &st) != 0) {
            rc = failf(b->err, sizeof(b->err), "cannot read %s: %s", path, strerror(errno));
        } else if (!S_ISREG(st.st_mode) || !backup_manifest_is_plain_name(de->d_name)) {
            fprintf(stderr, "pipit: backup: leaving out %s (not a regular file with a plain "
                    "name)\n", path);
        } else if (tarball_add_file(b->t, de->d_name, path) != 0) {
            rc = tarball_failed(b);
        }
    }
    closedir(d);
    return rc;
}

/* store_backup_each_blob's callback: the stored file and its finished thumbnail. */
static int add_blob(void *arg, const char *sha256, int64_t size, bool thumb_ready)
{
    struct backup *b = arg;
    char rel[BACKUP_MANIFEST_PATH_MAX], path[4400];
    struct stat st;

    if (!tarball_is_sha256(sha256, strlen(sha256))) {
        return failf(b->err, sizeof(b->err), "the database names a file \"%s\", which is "
                     "not a SHA-256", sha256);
    }
    files_blob_relpath(sha256, "", rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", b->data_dir, rel);
    /* Its name is its hash: checked as it is copied. Sealed, it is checked when opened. */
    if (tarball_add_known(b->t, rel, path, b->sealed ? sealed_file_size(size) : size,
                          b->sealed ? NULL : sha256) != 0) {
        return tarball_failed(b);
    }
    if (!thumb_ready) {
        return 0; /* a thumbnail still to make is made again after a restore */
    }
    files_blob_relpath(sha256, ".thumb", rel, sizeof(rel));
    snprintf(path, sizeof(path), "%s/%s", b->data_dir, rel);
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return 0; /* the server has none to serve either */
    }
    return tarball_add_file(b->t, rel, path) == 0 ? 0 : tarball_failed(b);
}

static json_t *manifest_head(struct backup *b)
{
    return json_pack("{s:s,s:i,s:I,s:s,s:i,s:b,s:{s:I,s:I,s:I,s:I}}", "format",
                     BACKUP_MANIFEST_FORMAT, "version", BACKUP_MANIFEST_VERSION, "created_at",
                     (json_int_t)clock_now_ms(), "pipit_version", PIPIT_VERSION,
                     "schema_version", b->facts.schema_version, "sealed", b->sealed, "counts",
                     "messages", (json_int_t)b->facts.messages, "users",
                     (json_int_t)b->facts.users, "files", (json_int_t)b->facts.files, "blobs",
                     (json_int_t)b->facts.blobs);
}

/*
 * The snapshot and the list of what to copy, under the sweep lock (held on
 * until the archive is written: the caller closes lock_fd).
 */
static int snapshot(struct backup *b)
{
    struct store_conn *db = NULL;
    int rc = -1;

    if (store_backup_snapshot(b->data_dir, b->snap, b->err, sizeof(b->err)) != 0) {
        return -1;
    }
    if (store_backup_open(b->snap, &db, b->err, sizeof(b->err)) != 0) {
        return -1;
    }
    if (store_backup_check(db, false, b->err, sizeof(b->err)) != 0 ||
        store_backup_facts(db, &b->facts, b->err, sizeof(b->err)) != 0) {
        goto out;
    }
    if (store_sealed(db, &b->sealed) != 0) {
        failf(b->err, sizeof(b->err), "cannot read the snapshot: %s", store_errmsg(db));
        goto out;
    }
    if (tarball_add_file(b->t, DB_NAME, b->snap) != 0) {
        tarball_failed(b);
        goto out;
    }
    if (add_top_files(b) != 0 ||
        store_backup_each_blob(db, add_blob, b, b->err, sizeof(b->err)) != 0) {
        goto out;
    }
    rc = 0;
out:
    store_close(&db);
    return rc;
}

static int backup_run(struct backup *b, bool force, int64_t *bytes)
{
    int lock_fd = -1;
    int rc = -1;

    snprintf(b->snap, sizeof(b->snap), "%s.db.tmp", b->out);
    if (tarball_new(b->out, force, &b->t, b->err, sizeof(b->err)) != 0) {
        return -1;
    }
    unlink(b->snap); /* left by a crash during an earlier backup */
    if (files_sweep_hold(b->data_dir, &lock_fd) != 0) {
        failf(b->err, sizeof(b->err), "cannot lock %s/files/sweep.lock: %s", b->data_dir,
              strerror(errno));
        goto out;
    }
    if (snapshot(b) != 0) {
        goto out;
    }
    if (tarball_finish(b->t, manifest_head(b), bytes) != 0) {
        tarball_failed(b);
        goto out;
    }
    rc = 0;
out:
    /* Every stored file is in (or the backup failed): the sweep may go on. */
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    tarball_free(&b->t);
    unlink(b->snap);
    return rc;
}

int cli_backup(int argc, char **argv)
{
    struct backup b = { 0 };
    const struct cli_arg opts[] = { { "--data-dir", &b.data_dir }, { "--out", &b.out } };
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
    return rc == 0 ? 0 : 1;
}

/* ---- Restore ---- */

struct restore {
    const char *from;
    const char *target;
    char real[4096];            /* the target, its symbolic links resolved */
    char stage[4200];           /* the staging dir, made and removed here */
    bool stage_inside;          /* in the target (a mount point): entries move one by one */
    struct backup_manifest manifest; /* what the archive holds, by path, and its facts */
    bool *seen;                 /* by manifest entry: extracted and checked */
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
    if (size <= 0 || size > BACKUP_MANIFEST_MAX) {
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
    if (backup_manifest_parse(text, (size_t)size, r->from, &r->manifest, r->err,
                              sizeof(r->err)) != 0) {
        goto out;
    }
    r->seen = xcalloc(r->manifest.n, sizeof(*r->seen));
    rc = 0;
out:
    free(text);
    return rc;
}

/* Writes the entry's data into the staging dir, checking it against the manifest. */
static int extract(struct restore *r, struct archive *a, const struct backup_manifest_entry *e)
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
        if (fs_write_all(fd, buf, (size_t)n) != 0) {
            failf(r->err, sizeof(r->err), "cannot write %s: %s", path, strerror(errno));
            goto out;
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
    r->seen[e - r->manifest.entries] = true;
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
        const struct backup_manifest_entry *e;

        if (archive_entry_filetype(ae) != AE_IFREG || archive_entry_hardlink(ae) != NULL ||
            archive_entry_symlink(ae) != NULL) {
            return failf(r->err, sizeof(r->err), "%s holds \"%.100s\", which is not a regular "
                         "file (refused)", r->from, path);
        }
        e = backup_manifest_find(&r->manifest, path);
        if (e == NULL || r->seen[e - r->manifest.entries]) {
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
    for (size_t i = 0; i < r->manifest.n; i++) {
        if (!r->seen[i]) {
            return failf(r->err, sizeof(r->err), "%s is incomplete (truncated?): %s is "
                         "missing", r->from, r->manifest.entries[i].path);
        }
    }
    return 0;
}

/* store_backup_each_blob's callback: every stored file the database names is there. */
static int blob_present(void *arg, const char *sha256, int64_t size, bool thumb_ready)
{
    struct restore *r = arg;
    char rel[BACKUP_MANIFEST_PATH_MAX];
    const struct backup_manifest_entry *e;

    if (!tarball_is_sha256(sha256, strlen(sha256))) {
        return failf(r->err, sizeof(r->err), "the database names a file \"%.100s\", which "
                     "is not a SHA-256", sha256);
    }
    files_blob_relpath(sha256, "", rel, sizeof(rel));
    e = backup_manifest_find(&r->manifest, rel);
    if (e == NULL || e->size != (r->manifest.sealed ? sealed_file_size(size) : size)) {
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
    bool sealed = false;
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
              "knows up to %d): restore it with that version", r->from,
              r->manifest.pipit_version, f.schema_version, store_backup_schema_latest());
        goto out;
    }
    if (f.schema_version != r->manifest.facts.schema_version ||
        f.messages != r->manifest.facts.messages || f.users != r->manifest.facts.users ||
        f.files != r->manifest.facts.files || f.blobs != r->manifest.facts.blobs) {
        failf(r->err, sizeof(r->err), "%s: the manifest does not match the database", r->from);
        goto out;
    }
    if (store_sealed(db, &sealed) != 0) {
        failf(r->err, sizeof(r->err), "%s: cannot read the database: %s", r->from,
              store_errmsg(db));
        goto out;
    }
    if (sealed != r->manifest.sealed) {
        failf(r->err, sizeof(r->err), "%s: the manifest does not match the database (which "
              "is %s at rest)", r->from, sealed ? "encrypted" : "not encrypted");
        goto out;
    }
    if (sealed && backup_manifest_find(&r->manifest, KEYRING_FILE) == NULL) {
        failf(r->err, sizeof(r->err), "%s holds an encrypted database but not the %s that "
              "opens it", r->from, KEYRING_FILE);
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
    char (*names)[256] = xcalloc(r->manifest.n + 1, sizeof(*names));
    char from[4400], to[4400];
    size_t n = 0, i;
    struct dirent *de;
    DIR *d = opendir(r->stage);
    int saved = 0;

    while (d != NULL && n <= r->manifest.n && (de = readdir(d)) != NULL) {
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
    const struct cli_arg opts[] = { { "--from", &r.from }, { "--data-dir", &r.target } };
    int rc = command_start(argc, argv, opts, 2, NULL);

    if (rc != 0) {
        return rc;
    }
    rc = restore_run(&r);
    if (rc != 0) {
        fprintf(stderr, "pipit: restore: %s\n", r.err);
    } else {
        printf("restore: %lld messages, %lld users, %lld files into %s (a backup by pipit %s)\n",
               (long long)r.manifest.facts.messages, (long long)r.manifest.facts.users,
               (long long)r.manifest.facts.files, r.real, r.manifest.pipit_version);
    }
    backup_manifest_cleanup(&r.manifest);
    free(r.seen);
    return rc == 0 ? 0 : 1;
}
