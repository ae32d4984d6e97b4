/*
 * pipit: the administration CLI. Works directly on a data dir (cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

void cli_usage(void)
{
    fputs("usage: pipit user add NAME [--admin] --password-stdin --data-dir DIR\n"
          "       pipit user passwd NAME --password-stdin --data-dir DIR\n"
          "       pipit user list --data-dir DIR\n"
          "       pipit audit verify --data-dir DIR [--public-key HEX]\n"
          "       pipit backup --data-dir DIR --out FILE [--force]\n"
          "       pipit restore --from FILE --data-dir DIR\n",
          stderr);
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
    };

    for (size_t i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc, argv);
        }
    }
    cli_usage();
    return 2;
}
