/*
 * export.h: everything pipit holds about one user, or about one conversation,
 * in one archive (a data subject's access request; eDiscovery). Layout and
 * the list of parts: docs/operations.md, "Export (eDiscovery and access
 * requests)".
 *
 * The archive (tarball.h), format "pipit-export" version 1:
 *   manifest.json        first: format, version, created_at, pipit_version,
 *                        schema_version, subject {type, id, app_id[, username]},
 *                        counts {part: lines}, and the path, size and
 *                        SHA-256 of every entry
 *   <part>.json(l)       JSON Lines, one object per line, straight from the
 *                        store (store_export.h): what is stored, not what
 *                        retention lets readers see
 *   files.jsonl          the files, each with the `path` of its bytes:
 *   files/<id>-<name>    a user's uploads, or the files a conversation's
 *                        messages share (name: letters, digits, '.', '-', '_')
 *
 * Callers (cli/export.c, api/export.c) first write the export's audit record,
 * action export_action(), in a transaction of their own: no record, no export.
 *
 * Blocking: the CLI, or a reader thread; sc must not be the writer's
 * connection (a long read transaction there would hold every write). The
 * rows are streamed, part by part, to temporary files beside the archive:
 * memory stays flat whatever the size of the conversation.
 */
#ifndef PIPIT_COMPLIANCE_EXPORT_H
#define PIPIT_COMPLIANCE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* DATA_DIR/exports: the admin route's archives while they are built; emptied at start. */
#define EXPORT_DIR "exports"

enum export_kind { EXPORT_USER, EXPORT_CONV };

struct export_subject {
    enum export_kind kind;
    int64_t id;
    int64_t app_id;
    char username[STORE_USERNAME_MAX + 1]; /* a user's; "" for a conversation */
};

/*
 * The user of app_id with this username, or with this id when name is NULL;
 * the conversation of app_id (0: of any app) with this id, unless deleted.
 * 0, PIPIT_ENOT_FOUND, or PIPIT_ESTORE.
 */
int export_find_user(struct store_conn *sc, int64_t app_id, const char *name, int64_t id,
                     struct export_subject *out);
int export_find_conv(struct store_conn *sc, int64_t app_id, int64_t id,
                     struct export_subject *out);

/* The audit action, "export.user" or "export.conv". */
const char *export_action(enum export_kind kind);
/* The audit target, "user:<id>" or "conv:<id>". */
void export_target(const struct export_subject *s, char *out, size_t cap);

struct export_summary {
    int64_t lines;              /* in all parts */
    int64_t files;              /* stored files in the archive */
    int64_t bytes;              /* the archive's size */
};

/*
 * Writes the export of s, as of one commit, to `out` (replaced only with force),
 * reading the stored files under data_dir (sealed with keys when not NULL:
 * the archive holds them opened) while the files sweep is held off
 * (files_sweep_hold). 0; PIPIT_ENOT_FOUND when the subject is gone by then;
 * PIPIT_EINTERNAL otherwise, with a one-line message in err. Nothing is left at
 * `out` on failure.
 */
int export_write(struct store_conn *sc, const char *data_dir, const struct keyring *keys,
                 const struct export_subject *s, const char *out, bool force,
                 struct export_summary *sum, char *err, size_t errlen);

/*
 * DATA_DIR/exports/export-<user|conv>-<id>-<random>.tar: a new name for an
 * archive the admin route builds and sends.
 */
void export_spool_path(const char *data_dir, const struct export_subject *s, char *out,
                       size_t cap);
/* At start: DATA_DIR/exports made (0700), and the archives a crash left in it removed. */
int export_spool_prepare(const char *data_dir, char *err, size_t errlen);

#endif
