/*
 * pipit: the administration CLI. Works directly on a data dir (cli.h).
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "util/clock.h"

void cli_usage(void)
{
    fputs("usage: pipit user add NAME [--admin] --password-stdin --data-dir DIR\n"
          "       pipit user passwd NAME --password-stdin --data-dir DIR\n"
          "       pipit user list --data-dir DIR\n"
          "       pipit audit verify --data-dir DIR [--public-key HEX]\n"
          "       pipit backup --data-dir DIR --out FILE [--force]\n"
          "       pipit restore --from FILE --data-dir DIR\n"
          "       pipit export user NAME --data-dir DIR --out FILE [--force]\n"
          "       pipit export conv ID --data-dir DIR --out FILE [--force]\n"
          "       pipit keys generate\n"
          "       pipit keys rotate --data-dir DIR [--new-master-key-file FILE]\n"
          "The master key of an encrypted data dir comes from PIPIT_MASTER_KEY_FILE or\n"
          "PIPIT_MASTER_KEY.\n",
          stderr);
}

int cli_args(int argc, char **argv, int first, const struct cli_arg *opts, size_t n,
             bool *force)
{
    for (int i = first; i < argc; i++) {
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
    return 0;
}

int cli_audit_record(struct store_conn *db, const struct audit_key *key, int64_t app_id,
                     const char *action, const char *target, const char *outcome,
                     json_t *detail)
{
    struct passwd *pw = getpwuid(getuid());
    struct store_audit_record r = { .ts = clock_now_ms(), .app_id = app_id, .actor = "cli",
                                    .action = action, .target = target, .outcome = outcome };
    int rc;

    json_object_set_new(detail, "os_user", json_string(pw != NULL ? pw->pw_name : "?"));
    r.detail = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    rc = audit_append(db, key, &r);
    free((char *)r.detail);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        { "user", cli_user },
        { "audit", cli_audit },
        { "backup", cli_backup },
        { "restore", cli_restore },
        { "export", cli_export },
        { "keys", cli_keys },
    };

    for (size_t i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc, argv);
        }
    }
    cli_usage();
    return 2;
}
