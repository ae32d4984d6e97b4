/*
 * cli.h: the `pipit` administration command's subcommands (src/cli/).
 *
 * Each works directly on a data dir. SQLite's locking keeps a running pipitd
 * safe; what must run with the server stopped says so in its usage.
 * Each takes main's argc/argv (argv[1] is the subcommand) and returns the
 * process's exit status: 0 done, 1 failed, 2 bad usage.
 */
#ifndef PIPIT_CLI_CLI_H
#define PIPIT_CLI_CLI_H

/* Prints the whole usage to stderr. */
void cli_usage(void);

int cli_user(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_restore(int argc, char **argv);

#endif
