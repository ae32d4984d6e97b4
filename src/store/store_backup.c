/*
 * store_backup.c: see store_backup.h.
 *
 * The snapshot. sqlite3_backup_step copies STEP_PAGES pages at a time, with a
 * pause of STEP_PAUSE_US between steps so the copy does not take all of the
 * disk from the live server's writer. On its own, a step that finds the source
 * changed by another connection (the server's every commit) starts the copy
 * over, so a busy server could keep it from ever finishing. Here the source
 * connection holds one read transaction from before the first step to after
 * the last: in WAL mode that pins the snapshot the copy reads (the server's
 * writer is never blocked by it; only checkpoints stop short of the pinned
 * mark meanwhile, and the WAL grows by what is written during the copy). The
 * copy is therefore the database as of the commit that read transaction saw,
 * and costs one pass over the file. STEP_PAGES is the knob: larger steps finish
 * sooner and hold the disk longer at a time.
 */
#include "store/store_backup.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "search/tokenizer.h"
#include "store/migrations.h"
#include "store/store_internal.h"
#include "util/err.h"
#include "util/mem.h"

/* 4 MiB at SQLite's default page size of 4 KiB. */
#define STEP_PAGES 1024
#define STEP_PAUSE_US 1000
/* How long a step may wait on a lock (a checkpoint's) before the backup gives up. */
#define BUSY_MS 10000

static int db_error(char *err, size_t errlen, const char *what, sqlite3 *db)
{
    snprintf(err, errlen, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
    return PIPIT_ESTORE;
}

/* Steps the backup from src to dst to its end; the caller holds src's read transaction. */
static int copy_pages(sqlite3 *dst, sqlite3 *src, char *err, size_t errlen)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    int waited_ms = 0;
    int rc;

    if (b == NULL) {
        return db_error(err, errlen, "cannot start the backup", dst);
    }
    for (;;) {
        rc = sqlite3_backup_step(b, STEP_PAGES);
        if (rc == SQLITE_DONE) {
            break;
        }
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && waited_ms < BUSY_MS) {
            usleep(10 * 1000);
            waited_ms += 10;
            continue;
        }
        if (rc != SQLITE_OK) {
            break;
        }
        waited_ms = 0;
        usleep(STEP_PAUSE_US);
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "the backup stopped: %s", sqlite3_errstr(rc));
        return PIPIT_ESTORE;
    }
    return sqlite3_errcode(dst) == SQLITE_OK ? 0 : db_error(err, errlen, "the backup failed", dst);
}

int store_backup_snapshot(const char *data_dir, const char *dest, char *err, size_t errlen)
{
    sqlite3 *src = NULL, *dst = NULL;
    char path[4096];
    int rc = PIPIT_ESTORE;
    int fd;

    snprintf(path, sizeof(path), "%s/pipit.db", data_dir);
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return PIPIT_ESTORE;
    }
    /* Made here so that the copy is never readable by others, even for a moment. */
    fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dest, strerror(errno));
        return PIPIT_ESTORE;
    }
    close(fd);
    /*
     * Read-write, though it never writes: a read-only connection cannot remove
     * the -wal and -shm files it makes when no server has the database open.
     */
    if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        db_error(err, errlen, path, src);
        goto out;
    }
    sqlite3_busy_timeout(src, BUSY_MS);
    /* The read transaction starts with the first read, not with BEGIN. */
    if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
        SQLITE_OK) {
        db_error(err, errlen, path, src);
        goto out;
    }
    if (sqlite3_open_v2(dest, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        db_error(err, errlen, dest, dst);
        goto out;
    }
    if (copy_pages(dst, src, err, errlen) != 0) {
        goto out;
    }
    /*
     * The copy keeps the source's header, which says WAL: a restored database
     * would then want its -wal and -shm besides. One file is what we archive.
     */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(err, errlen, dest, dst);
        goto out;
    }
    rc = 0;
out:
    if (src != NULL) {
        sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    }
    sqlite3_close(src);
    sqlite3_close(dst);
    if (rc != 0) {
        unlink(dest);
    }
    return rc;
}

int store_backup_open(const char *path, struct store_conn **out, char *err, size_t errlen)
{
    struct store_conn *sc = xcalloc(1, sizeof(*sc));
    sqlite3_str *uri = sqlite3_str_new(NULL);
    char *u;

    /* A URI, so the file can be immutable; its path is percent-escaped (%q does not). */
    sqlite3_str_appendall(uri, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p <= ' ' || *p >= 0x7f) {
            sqlite3_str_appendf(uri, "%%%02X", *p);
        } else {
            sqlite3_str_appendchar(uri, 1, (char)*p);
        }
    }
    sqlite3_str_appendall(uri, "?immutable=1");
    u = sqlite3_str_finish(uri);
    if (u == NULL || sqlite3_open_v2(u, &sc->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
                         SQLITE_OK) {
        db_error(err, errlen, path, sc->db);
        goto fail;
    }
    sqlite3_free(u);
    u = NULL;
    sqlite3_extended_result_codes(sc->db, 1);
    /* The search index names its tokenizer; a check that reads the index needs it. */
    if (search_tokenizer_register(sc->db, NULL) != 0) {
        db_error(err, errlen, path, sc->db);
        goto fail;
    }
    *out = sc;
    return 0;

fail:
    sqlite3_free(u);
    store_close(&sc);
    return PIPIT_ESTORE;
}

int store_backup_check(struct store_conn *sc, bool full, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (sqlite3_prepare_v2(sc->db, full ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)",
                           -1, &s, NULL) != SQLITE_OK) {
        return db_error(err, errlen, "the database cannot be checked", sc->db);
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        db_error(err, errlen, "the database cannot be checked", sc->db);
        rc = PIPIT_ESTORE;
    } else if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
        snprintf(err, errlen, "the database is damaged: %s", sqlite3_column_text(s, 0));
        rc = PIPIT_ESTORE;
    } else {
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

/* The one integer a query yields. */
static int one_int(struct store_conn *sc, const char *sql, int64_t *out, char *err,
                   size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = PIPIT_ESTORE;

    if (sqlite3_prepare_v2(sc->db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        db_error(err, errlen, "not a pipit database", sc->db);
    }
    sqlite3_finalize(s);
    return rc;
}

int store_backup_facts(struct store_conn *sc, struct store_backup_facts *out, char *err,
                       size_t errlen)
{
    struct store_backup_facts f;
    int64_t version = 0;

    if (one_int(sc, "SELECT coalesce(max(version), 0) FROM schema_migrations", &version, err,
                errlen) != 0 ||
        one_int(sc, "SELECT count(*) FROM events WHERE kind = 'message'", &f.messages, err,
                errlen) != 0 ||
        one_int(sc, "SELECT count(*) FROM users", &f.users, err, errlen) != 0 ||
        one_int(sc, "SELECT count(*) FROM files", &f.files, err, errlen) != 0 ||
        one_int(sc, "SELECT count(*) FROM blobs", &f.blobs, err, errlen) != 0) {
        return PIPIT_ESTORE;
    }
    f.schema_version = (int)version;
    *out = f;
    return 0;
}

int store_backup_each_blob(struct store_conn *sc,
                           int (*cb)(void *arg, const char *sha256, int64_t size,
                                     bool thumb_ready),
                           void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (sqlite3_prepare_v2(sc->db,
                           "SELECT sha256, size, thumb = 'ready' FROM blobs ORDER BY sha256", -1,
                           &s, NULL) != SQLITE_OK) {
        return db_error(err, errlen, "cannot list the files", sc->db);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *sha = sqlite3_column_text(s, 0);
        int r = cb(arg, sha != NULL ? (const char *)sha : "", sqlite3_column_int64(s, 1),
                   sqlite3_column_int(s, 2) != 0);

        if (r != 0) {
            sqlite3_finalize(s);
            return r;
        }
    }
    if (rc != SQLITE_DONE) {
        db_error(err, errlen, "cannot list the files", sc->db);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_backup_schema_latest(void)
{
    return migrations_count > 0 ? migrations[migrations_count - 1].version : 0;
}
