/*
 * store_files.c: the SQLite side of store_files.h.
 */
#include "store/store_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/err.h"
#include "util/mem.h"

enum files_stmt {
    FS_BLOB_GET = STORE_FILES_FIRST_STMT,
    FS_BLOB_INSERT,
    FS_BLOB_SET_THUMB,
    FS_BLOB_PENDING,
    FS_BLOB_EXISTS,
    FS_BLOB_DELETE_UNUSED,
    FS_FILE_INSERT,
    FS_FILE_GET,
    FS_FILE_READABLE,
    FS_FILE_SWEEP_SCAN,
    FS_FILE_DELETE,
    FS_APP_LIMIT,
    FS_APP_SET_LIMIT,
    FS_END
};

_Static_assert(FS_END <= STORE_FILES_FIRST_STMT + 32, "too many statements");

#define BLOB_COLS "b.sha256, b.size, b.mime, coalesce(b.width, 0), coalesce(b.height, 0), b.thumb"

static const char *const sql[] = {
#define S(id) [(id) - STORE_FILES_FIRST_STMT]
    S(FS_BLOB_GET) = "SELECT " BLOB_COLS " FROM blobs b WHERE b.sha256 = ?",
    S(FS_BLOB_INSERT) = "INSERT INTO blobs (sha256, size, mime, width, height, thumb, created_at) "
                        "VALUES (?, ?, ?, nullif(?, 0), nullif(?, 0), ?, ?)",
    S(FS_BLOB_SET_THUMB) = "UPDATE blobs SET thumb = ?2 WHERE sha256 = ?1",
    S(FS_BLOB_PENDING) = "SELECT sha256 FROM blobs WHERE thumb = 'pending'",
    S(FS_BLOB_EXISTS) = "SELECT 1 FROM blobs WHERE sha256 = ?",
    S(FS_BLOB_DELETE_UNUSED) = "DELETE FROM blobs WHERE sha256 = ?1 AND NOT EXISTS "
                               "(SELECT 1 FROM files WHERE sha256 = ?1)",
    S(FS_FILE_INSERT) = "INSERT INTO files (app_id, owner, sha256, name, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
    S(FS_FILE_GET) = "SELECT f.id, f.app_id, f.owner, f.created_at, f.name, " BLOB_COLS
                     " FROM files f JOIN blobs b ON b.sha256 = f.sha256 WHERE f.id = ?",
    /* The owner's, within the app's file retention; or shared by a message the user
     * may see, within its conversation's message and file retention. */
    S(FS_FILE_READABLE) =
        "SELECT 1 FROM files f WHERE f.id = ?1 AND f.owner = ?2 AND f.created_at >= "
        "coalesce(?3 - 86400000 * (SELECT file_retention_days FROM apps WHERE id = f.app_id), 0) "
        "UNION ALL SELECT 1 FROM file_shares s JOIN members m ON m.conv_id = s.conv_id "
        "AND m.user_id = ?2 JOIN events e ON e.id = s.event_id WHERE s.file_id = ?1 "
        "AND m.left_seq IS NULL AND s.seq >= m.joined_seq "
        "AND e.ts >= " KEPT_SINCE("message", "s.conv_id", "?3") " "
        "AND e.ts >= " KEPT_SINCE("file", "s.conv_id", "?3") " LIMIT 1",
    S(FS_FILE_SWEEP_SCAN) =
        "SELECT f.id, f.sha256, f.created_at < ?2 AND NOT EXISTS "
        "(SELECT 1 FROM file_shares s WHERE s.file_id = f.id) "
        "FROM files f WHERE f.id > ?1 ORDER BY f.id LIMIT ?3",
    S(FS_FILE_DELETE) = "DELETE FROM files WHERE id = ?",
    S(FS_APP_LIMIT) = "SELECT coalesce(max_file_size, 0) FROM apps WHERE id = ?",
    S(FS_APP_SET_LIMIT) = "UPDATE apps SET max_file_size = nullif(?2, 0) WHERE id = ?1",
#undef S
};

static sqlite3_stmt *fstmt(struct store_conn *sc, enum files_stmt id)
{
    return store__stmt(sc, id, sql[id - STORE_FILES_FIRST_STMT]);
}

static void read_blob(sqlite3_stmt *s, int col, struct store_blob *b)
{
    store__copy_text(b->sha256, sizeof(b->sha256), s, col);
    b->size = sqlite3_column_int64(s, col + 1);
    store__copy_text(b->mime, sizeof(b->mime), s, col + 2);
    b->width = sqlite3_column_int64(s, col + 3);
    b->height = sqlite3_column_int64(s, col + 4);
    store__copy_text(b->thumb, sizeof(b->thumb), s, col + 5);
}

int store_blob_get(struct store_conn *sc, const char *sha256, struct store_blob *out)
{
    sqlite3_stmt *s = fstmt(sc, FS_BLOB_GET);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_blob(s, 0, out);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_blob_insert(struct store_conn *sc, const struct store_blob *b, int64_t now_ms)
{
    sqlite3_stmt *s = fstmt(sc, FS_BLOB_INSERT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, b->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, b->size);
    sqlite3_bind_text(s, 3, b->mime, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, b->width);
    sqlite3_bind_int64(s, 5, b->height);
    sqlite3_bind_text(s, 6, b->thumb, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, now_ms);
    return store__run(sc, s);
}

int store_blob_set_thumb(struct store_conn *sc, const char *sha256, const char *state)
{
    sqlite3_stmt *s = fstmt(sc, FS_BLOB_SET_THUMB);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
    return store__run(sc, s);
}

int store_blob_each_pending(struct store_conn *sc, int (*cb)(void *arg, const char *sha256),
                            void *arg)
{
    sqlite3_stmt *s = fstmt(sc, FS_BLOB_PENDING);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb(arg, (const char *)sqlite3_column_text(s, 0)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_blob_gone(struct store_conn *sc, const char *sha256, bool *gone)
{
    sqlite3_stmt *s = fstmt(sc, FS_BLOB_EXISTS);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
    rc = store__one_int(s, NULL);
    if (rc == PIPIT_ESTORE) {
        return rc;
    }
    *gone = rc == PIPIT_ENOT_FOUND;
    return 0;
}

int store_file_insert(struct store_conn *sc, int64_t app_id, int64_t owner,
                      const char *sha256, const char *name, int64_t now_ms, int64_t *id)
{
    sqlite3_stmt *s = fstmt(sc, FS_FILE_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, owner);
    sqlite3_bind_text(s, 3, sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now_ms);
    rc = store__run(sc, s);
    if (rc == 0) {
        *id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

int store_file_get(struct store_conn *sc, int64_t id, struct store_file *out)
{
    sqlite3_stmt *s = fstmt(sc, FS_FILE_GET);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->app_id = sqlite3_column_int64(s, 1);
        out->owner = sqlite3_column_int64(s, 2);
        out->created_at = sqlite3_column_int64(s, 3);
        store__copy_text(out->name, sizeof(out->name), s, 4);
        read_blob(s, 5, &out->blob);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_file_readable(struct store_conn *sc, int64_t file_id, int64_t user_id, int64_t now)
{
    sqlite3_stmt *s = fstmt(sc, FS_FILE_READABLE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, file_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now);
    return store__one_int(s, NULL);
}

struct sweep_row {
    int64_t id;
    char sha256[STORE_SHA256_HEX + 1];
};

int store_file_sweep(struct store_conn *sc, int64_t after, int64_t before_ms, int limit,
                     int (*cb)(void *arg, const char *sha256), void *arg, int64_t *last,
                     int *deleted)
{
    sqlite3_stmt *s = fstmt(sc, FS_FILE_SWEEP_SCAN);
    struct sweep_row *doomed;
    int n = 0, seen = 0, rc;

    *deleted = 0;
    *last = 0;
    if (s == NULL || limit <= 0) {
        return PIPIT_ESTORE;
    }
    doomed = xcalloc((size_t)limit, sizeof(*doomed));
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, before_ms);
    sqlite3_bind_int(s, 3, limit);
    /* The step's rows first: deleting while the scan is open costs a statement journal. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        seen++;
        *last = sqlite3_column_int64(s, 0);
        if (sqlite3_column_int(s, 2)) {
            doomed[n].id = *last;
            store__copy_text(doomed[n].sha256, sizeof(doomed[n].sha256), s, 1);
            n++;
        }
    }
    sqlite3_reset(s);
    rc = rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
    if (seen < limit) {
        *last = 0; /* the end: the next pass starts again from the first file */
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *del = fstmt(sc, FS_FILE_DELETE);
        sqlite3_stmt *unused = fstmt(sc, FS_BLOB_DELETE_UNUSED);

        if (del == NULL || unused == NULL) {
            rc = PIPIT_ESTORE;
            break;
        }
        sqlite3_bind_int64(del, 1, doomed[i].id);
        rc = store__run(sc, del);
        if (rc != 0) {
            break;
        }
        (*deleted)++;
        sqlite3_bind_text(unused, 1, doomed[i].sha256, -1, SQLITE_STATIC);
        rc = store__run(sc, unused);
        if (rc == 0 && sqlite3_changes(sc->db) > 0) {
            rc = cb(arg, doomed[i].sha256);
        }
    }
    free(doomed);
    return rc;
}

int store_app_file_limit(struct store_conn *sc, int64_t app_id, int64_t *max)
{
    sqlite3_stmt *s = fstmt(sc, FS_APP_LIMIT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__one_int(s, max);
}

int store_app_set_file_limit(struct store_conn *sc, int64_t app_id, int64_t max)
{
    sqlite3_stmt *s = fstmt(sc, FS_APP_SET_LIMIT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, max);
    return store__run(sc, s);
}
