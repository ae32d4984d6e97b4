/*
 * export.c: `pipit export`, everything pipit holds about a user or a
 * conversation in one archive (compliance/export.h). Safe while pipitd runs:
 * it reads through SQLite and writes only the export's audit record.
 *
 *   pipit export user NAME --data-dir DIR --out FILE [--force]
 *   pipit export conv ID --data-dir DIR --out FILE [--force]
 *
 * The audit record (actor "cli", action export.user or export.conv) is
 * committed first, in a transaction of its own: no record, no export. An
 * unknown user or conversation is recorded too, with the outcome not_found,
 * and exits 1 without a file.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/route_path.h"
#include "audit/audit.h"
#include "cli/cli.h"
#include "keys/keyring.h"
#include "compliance/export.h"
#include "util/err.h"

/*
 * Finds the subject and commits the export's audit record, found or not.
 * 0, PIPIT_ENOT_FOUND (recorded), or PIPIT_ESTORE (nothing recorded).
 */
static int authorise(struct store_conn *db, const struct audit_key *key, enum export_kind kind,
                     const char *given, struct export_subject *s)
{
    char target[STORE_USERNAME_MAX + 16];
    json_t *d;
    int found, rc;

    if (store_begin(db) != 0) {
        return PIPIT_ESTORE;
    }
    found = kind == EXPORT_USER ? export_find_user(db, STORE_DEFAULT_APP, given, 0, s)
                                : export_find_conv(db, 0, route_id(given), s);
    if (found == 0) {
        export_target(s, target, sizeof(target));
    } else {
        snprintf(target, sizeof(target), "%s:%s", kind == EXPORT_USER ? "user" : "conv", given);
    }
    d = kind == EXPORT_USER ? json_pack("{s:s}", "username", given)
                            : json_pack("{s:I}", "conv", (json_int_t)route_id(given));
    rc = found == 0 || found == PIPIT_ENOT_FOUND
             ? cli_audit_record(db, key, found == 0 ? s->app_id : STORE_DEFAULT_APP,
                                export_action(kind), target,
                                found == 0 ? "ok" : pipit_errcode(found), d)
             : found;
    json_decref(d);
    if (rc != 0 || store_commit(db) != 0) {
        store_rollback(db);
        return PIPIT_ESTORE;
    }
    return found;
}

int cli_export(int argc, char **argv)
{
    const char *data_dir = NULL, *out = NULL;
    const struct cli_arg opts[] = { { "--data-dir", &data_dir }, { "--out", &out } };
    struct export_subject s;
    struct export_summary sum;
    struct store_conn *db = NULL;
    struct audit_key *key = NULL;
    struct keyring *keys = NULL;
    enum export_kind kind;
    struct stat st;
    char err[1024];
    bool force = false;
    int rc;

    if (argc < 4 || (strcmp(argv[2], "user") != 0 && strcmp(argv[2], "conv") != 0) ||
        argv[3][0] == '-' || argv[3][0] == '\0') {
        cli_usage();
        return 2;
    }
    kind = strcmp(argv[2], "user") == 0 ? EXPORT_USER : EXPORT_CONV;
    rc = cli_args(argc, argv, 4, opts, 2, &force);
    if (rc != 0) {
        return rc;
    }
    if (kind == EXPORT_CONV && route_id(argv[3]) <= 0) {
        fprintf(stderr, "pipit: export: a conversation is given by its id (a number), not "
                "\"%s\"\n", argv[3]);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "pipit: cannot initialise libsodium\n");
        return 1;
    }
    /* Before the record: an export that cannot be written is not one to record. */
    if (!force && lstat(out, &st) == 0) {
        fprintf(stderr, "pipit: export: %s exists (use --force to replace it)\n", out);
        return 1;
    }
    if (cli_open_keys(data_dir, &keys) != 0) {
        rc = 1;
        goto out;
    }
    if (store_open(data_dir, STORE_READ_WRITE, 0, keys, &db, err, sizeof(err)) != 0 ||
        audit_key_open(data_dir, &key, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipit: export: %s\n", err);
        rc = 1;
        goto out;
    }
    rc = authorise(db, key, kind, argv[3], &s);
    if (rc == PIPIT_ENOT_FOUND) {
        fprintf(stderr, "pipit: export: no such %s: %s\n",
                kind == EXPORT_USER ? "user" : "conversation", argv[3]);
    } else if (rc != 0) {
        fprintf(stderr, "pipit: export: the audit log cannot be written (%s); nothing was "
                "exported\n", store_errmsg(db));
    } else if ((rc = export_write(db, data_dir, keys, &s, out, force, &sum, err,
                                  sizeof(err))) != 0) {
        fprintf(stderr, "pipit: export: %s\n", err);
    } else if (kind == EXPORT_USER) {
        printf("export: user %s (id %lld): %lld lines, %lld files, %.1f MiB in %s\n",
               s.username, (long long)s.id, (long long)sum.lines, (long long)sum.files,
               (double)sum.bytes / (1024.0 * 1024.0), out);
    } else {
        printf("export: conversation %lld: %lld lines, %lld files, %.1f MiB in %s\n",
               (long long)s.id, (long long)sum.lines, (long long)sum.files,
               (double)sum.bytes / (1024.0 * 1024.0), out);
    }
    rc = rc == 0 ? 0 : 1;
out:
    audit_key_free(key);
    store_close(&db);
    keyring_free(keys);
    return rc;
}
