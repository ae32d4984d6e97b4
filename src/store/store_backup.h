/*
 * store_backup.h: whole-database copies and checks, for `pipit backup` and
 * `pipit restore` (cli/backup.c).
 *
 * store_backup_snapshot copies a live database with SQLite's online backup API
 * while pipitd keeps writing. The other functions read a database file that
 * nothing else uses (a snapshot, or one being restored): they open it as
 * immutable, so they take no locks and leave no -wal or -shm file beside it.
 *
 * Any thread; each call uses its own connection. Errors: 0 or PIPIT_ESTORE, with
 * a one-line message in err (cb's non-zero return stops a walk and is returned).
 * Out-parameters are written only on success.
 */
#ifndef PIPIT_STORE_STORE_BACKUP_H
#define PIPIT_STORE_STORE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* What a database holds, as a backup's manifest records it. */
struct store_backup_facts {
    int schema_version;         /* the last migration applied */
    int64_t messages;
    int64_t users;
    int64_t files;              /* uploads */
    int64_t blobs;              /* distinct contents: the files under files/ */
};

/*
 * Copies data_dir/pipit.db, as of one commit, into dest (made here, 0600; it
 * must not exist). The copy is a single file in rollback-journal mode: no -wal
 * belongs to it. Nothing is written to the live database.
 */
int store_backup_snapshot(const char *data_dir, const char *dest, char *err, size_t errlen);

/* Opens the database file at path read-only and immutable (store_close it). */
int store_backup_open(const char *path, struct store_conn **out, char *err, size_t errlen);
/* PRAGMA integrity_check (full: every index against its table) or quick_check. */
int store_backup_check(struct store_conn *sc, bool full, char *err, size_t errlen);
int store_backup_facts(struct store_conn *sc, struct store_backup_facts *out, char *err,
                       size_t errlen);
/*
 * Calls cb for each blob in sha256 order: its hex name, its size, and whether
 * its thumbnail is ready (then files/…/<sha256>.thumb exists and never changes).
 */
int store_backup_each_blob(struct store_conn *sc,
                           int (*cb)(void *arg, const char *sha256, int64_t size,
                                     bool thumb_ready),
                           void *arg, char *err, size_t errlen);
/* The schema version this build migrates a database to. */
int store_backup_schema_latest(void);

#endif
