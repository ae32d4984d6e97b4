/*
 * cli.h: the `pipit` administration command's subcommands (src/cli/), and
 * what they share (pipit.c).
 *
 * Each works directly on a data dir. SQLite's locking keeps a running pipitd
 * safe; what must run with the server stopped says so in its usage.
 * Each takes main's argc/argv (argv[1] is the subcommand) and returns the
 * process's exit status: 0 done, 1 failed, 2 bad usage.
 */
#ifndef PIPIT_CLI_CLI_H
#define PIPIT_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_conn;
struct audit_key;
struct keyring;

/* Prints the whole usage to stderr. */
void cli_usage(void);

int cli_user(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_restore(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_keys(int argc, char **argv);

/*
 * The data dir's keys of encryption at rest, opened with the master key from
 * PIPIT_MASTER_KEY_FILE or PIPIT_MASTER_KEY: 0 with *out (NULL: the data dir
 * has none), or -1 after printing why.
 */
int cli_open_keys(const char *data_dir, struct keyring **out);

/* An option that takes a value, e.g. "--data-dir", and where the value goes. */
struct cli_arg {
    const char *name;
    const char **value;
};

/*
 * Reads argv[first..]: "--name VALUE" for each of opts (all required, none
 * empty), and "--force" where force is not NULL. 0, or 2 after the usage for
 * anything missing or unknown.
 */
int cli_args(int argc, char **argv, int first, const struct cli_arg *opts, size_t n,
             bool *force);

/*
 * Writes the audit record of a change made from the command line: actor
 * "cli", detail the given object (borrowed) with "os_user", the account that
 * ran the command. Call inside the change's transaction: no record, no change.
 */
int cli_audit_record(struct store_conn *db, const struct audit_key *key, int64_t app_id,
                     const char *action, const char *target, const char *outcome,
                     json_t *detail);

#endif
