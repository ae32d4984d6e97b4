/*
 * backup_manifest.h: a backup's manifest.json, from its bytes to the entries
 * and facts it promises (`pipit restore`), and the naming rules of the backup
 * format (`pipit backup` writes only what `pipit restore` will take).
 *
 * The manifest (see src/cli/backup.c for the archive around it):
 *   {"format":"pipit-backup","version":1,"created_at":MS,"pipit_version":"…",
 *    "schema_version":N,"counts":{"messages":N,"users":N,"files":N,"blobs":N},
 *    "entries":[{"path":"…","size":N,"sha256":"…"},…]}
 * It comes from an untrusted file, so the parser refuses every path but the
 * database, a plain top-level file, or a stored file (or its thumbnail) at
 * its content address: no entry can lead out of the dir it is extracted into.
 * A stored file's SHA-256 must be its name, no path may come twice, and the
 * database must be there.
 *
 * Pure: no I/O, no logging, no globals; any thread.
 * Ownership: a parsed manifest owns its entries; backup_manifest_cleanup
 * frees them (and is safe on a zeroed struct).
 * Errors: 0, or -1 with a one-line message in err, whose subject is `name`
 * (how the caller calls the archive: the CLI passes the path it was given),
 * and *out untouched.
 */
#ifndef PIPIT_COMPLIANCE_BACKUP_MANIFEST_H
#define PIPIT_COMPLIANCE_BACKUP_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compliance/tarball.h"
#include "store/store_backup.h"

#define BACKUP_MANIFEST_FORMAT "pipit-backup"
#define BACKUP_MANIFEST_VERSION 1
/* The database's entry, which every backup holds. */
#define BACKUP_MANIFEST_DB "pipit.db"
/* About 1.5 million entries; a manifest is read whole. */
#define BACKUP_MANIFEST_MAX (256 * 1024 * 1024)
/* "files/ab/cd/" + 64 hex digits + ".thumb" fits, and so do key file names. */
#define BACKUP_MANIFEST_PATH_MAX 96

struct backup_manifest_entry {
    char path[BACKUP_MANIFEST_PATH_MAX]; /* in the archive and under the data dir */
    int64_t size;
    char sha256[TARBALL_SHA_HEX + 1];
};

struct backup_manifest {
    struct backup_manifest_entry *entries; /* sorted by path, each path once */
    size_t n;
    struct store_backup_facts facts;    /* what the database is said to hold */
    char pipit_version[32];             /* the pipit that made the backup */
    bool sealed;                        /* stored files are sealed at rest: named by
                                           their content's hash, not their bytes' */
};

/* Parses and checks the len bytes of text (not NUL-terminated) into *out. */
int backup_manifest_parse(const char *text, size_t len, const char *name,
                          struct backup_manifest *out, char *err, size_t errlen);
void backup_manifest_cleanup(struct backup_manifest *m);
/* The entry named path, or NULL. */
const struct backup_manifest_entry *backup_manifest_find(const struct backup_manifest *m,
                                                         const char *path);

/*
 * One path segment of printable ASCII, not hidden, not the manifest's name nor
 * "files": what a top-level file in a backup may be named.
 */
bool backup_manifest_is_plain_name(const char *name);
/*
 * Top-level files a backup leaves out: the database (its snapshot stands for
 * it) and SQLite's files beside it, the server's lock, and the temporary files
 * a crash can leave while a key is written.
 */
bool backup_manifest_is_transient(const char *name);

#endif
