/*
 * main.c: pipitd's command line.
 *
 *   pipitd [--config FILE] [--KEY VALUE | --KEY=VALUE ...]
 *   pipitd --test-config [...]   pipitd --print-config-docs   pipitd --print-routes
 *   pipitd --version
 *
 * The file is read first, then flags override it in order.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "config/config.h"
#include "server.h"

static void usage(FILE *out)
{
    fputs("usage: pipitd [--config FILE] [--KEY VALUE ...]\n"
          "       pipitd --test-config [--config FILE] [--KEY VALUE ...]\n"
          "       pipitd --print-config-docs | --print-routes | --version | --help\n"
          "Every setting of docs/config.md can be given as a flag: --data-dir DIR.\n",
          out);
}

/* Applies --key value / --key=value flags; returns 0 or -1 after printing why. */
static int apply_flags(struct config *cfg, int argc, char **argv, const char **config_file,
                       int *test_only)
{
    char err[512];

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        char key[128];
        const char *value;
        const char *eq;

        if (strcmp(arg, "--test-config") == 0) {
            *test_only = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "pipitd: unexpected argument '%s'\n", arg);
            return -1;
        }
        arg += 2;
        eq = strchr(arg, '=');
        if (eq != NULL) {
            snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
            value = eq + 1;
        } else {
            snprintf(key, sizeof(key), "%s", arg);
            if (i + 1 >= argc) {
                fprintf(stderr, "pipitd: --%s needs a value\n", key);
                return -1;
            }
            value = argv[++i];
        }
        if (strcmp(key, "config") == 0) {
            if (config_file != NULL) {
                *config_file = value;
            }
            continue;
        }
        if (config_file == NULL && config_set(cfg, key, value, err, sizeof(err)) != 0) {
            fprintf(stderr, "pipitd: %s\n", err);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct server srv;
    const char *config_file = NULL;
    int test_only = 0;
    char err[512] = "";
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("pipitd %s\n", PIPIT_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--print-config-docs") == 0) {
            config_print_docs(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--print-routes") == 0) {
            api_print_routes(stdout);
            return 0;
        }
    }
    memset(&srv, 0, sizeof(srv));
    config_init(&srv.cfg);
    /* First pass finds --config; the second applies the flags over the file. */
    if (apply_flags(&srv.cfg, argc, argv, &config_file, &test_only) != 0) {
        usage(stderr);
        rc = 1;
        goto out;
    }
    if (config_file != NULL && config_load_file(&srv.cfg, config_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipitd: %s\n", err);
        rc = 1;
        goto out;
    }
    if (apply_flags(&srv.cfg, argc, argv, NULL, &test_only) != 0 ||
        config_validate(&srv.cfg, err, sizeof(err)) != 0) {
        if (err[0] != '\0') {
            fprintf(stderr, "pipitd: %s\n", err);
        }
        rc = 1;
        goto out;
    }
    if (test_only) {
        printf("configuration ok\n");
        rc = 0;
        goto out;
    }
    rc = server_run(&srv);
out:
    config_cleanup(&srv.cfg);
    return rc;
}
