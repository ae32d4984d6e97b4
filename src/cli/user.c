/*
 * user.c: `pipit user`, accounts made and changed from the command line.
 *
 *   pipit user add NAME [--admin] --password-stdin --data-dir DIR
 *   pipit user passwd NAME --password-stdin --data-dir DIR
 *   pipit user list --data-dir DIR
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/password.h"
#include "cli/cli.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"

/* Reads one line (the password) from stdin, without its newline. */
static int read_password(char *out, size_t cap)
{
    size_t n;

    if (fgets(out, (int)cap, stdin) == NULL) {
        fprintf(stderr, "pipit: no password on standard input\n");
        return -1;
    }
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }
    return 0;
}

/* The change's audit record (cli_audit_record), in the change's transaction. */
static int audit_cli(struct store_conn *db, const struct audit_key *key, const char *action,
                     int64_t user_id, const char *name, const char *role)
{
    char target[AUDIT_ACTOR_MAX];
    json_t *d = json_pack("{s:s}", "username", name);
    int rc;

    if (role != NULL) {
        json_object_set_new(d, "role", json_string(role));
    }
    audit_actor(target, false, user_id);
    rc = cli_audit_record(db, key, STORE_DEFAULT_APP, action, target, "ok", d);
    json_decref(d);
    return rc;
}

static int print_user(void *arg, const struct store_user *u)
{
    printf("%lld\t%s\t%s\n", (long long)u->id, u->username, u->role);
    return 0;
}

int cli_user(int argc, char **argv)
{
    const char *data_dir = NULL;
    const char *name = NULL;
    const char *action;
    int admin = 0, from_stdin = 0;
    struct store_conn *db = NULL;
    struct audit_key *key = NULL;
    char password[PASSWORD_MAX + 2];
    char hash[STORE_HASH_MAX];
    char err[512];
    int64_t id;
    int rc = 1;

    if (argc < 3) {
        cli_usage();
        return 2;
    }
    action = argv[2];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc) {
            data_dir = argv[++i];
        } else if (strcmp(argv[i], "--admin") == 0) {
            admin = 1;
        } else if (strcmp(argv[i], "--password-stdin") == 0) {
            from_stdin = 1;
        } else if (argv[i][0] != '-' && name == NULL) {
            name = argv[i];
        } else {
            cli_usage();
            return 2;
        }
    }
    if (data_dir == NULL || (strcmp(action, "list") != 0 &&
                             ((strcmp(action, "add") != 0 && strcmp(action, "passwd") != 0) ||
                              name == NULL || !from_stdin))) {
        cli_usage();
        return 2;
    }
    if (password_init() != 0) {
        fprintf(stderr, "pipit: cannot initialise libsodium\n");
        return 1;
    }
    if (store_open(data_dir, STORE_READ_WRITE, 0, NULL, &db, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipit: %s\n", err);
        return 1;
    }
    if (strcmp(action, "list") != 0 && audit_key_open(data_dir, &key, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipit: %s\n", err);
        goto out;
    }

    if (strcmp(action, "list") == 0) {
        rc = store_user_list(db, STORE_DEFAULT_APP, print_user, NULL) == 0 ? 0 : 1;
        goto out;
    }
    if (password_check_username(name) != 0) {
        fprintf(stderr, "pipit: %s\n", pipit_strerror(PIPIT_EINVALID_USERNAME));
        goto out;
    }
    if (read_password(password, sizeof(password)) != 0) {
        goto out;
    }
    if (password_check_strength(password) != 0) {
        fprintf(stderr, "pipit: %s\n", pipit_strerror(PIPIT_EWEAK_PASSWORD));
        goto out;
    }
    if (password_hash(password, hash) != 0) {
        fprintf(stderr, "pipit: cannot hash the password\n");
        goto out;
    }
    if (store_begin(db) != 0) {
        fprintf(stderr, "pipit: %s\n", store_errmsg(db));
        goto out;
    }
    if (strcmp(action, "add") == 0) {
        const char *role = admin ? "admin" : "user";
        int r = store_user_insert(db, STORE_DEFAULT_APP, name, hash, role, clock_now_ms(), &id);

        if (r == 0) {
            r = audit_cli(db, key, "user.create", id, name, role);
        }
        if (r != 0 || store_commit(db) != 0) {
            store_rollback(db);
            fprintf(stderr, "pipit: %s\n",
                    r == PIPIT_EUSERNAME_TAKEN ? "username is taken" : store_errmsg(db));
            goto out;
        }
        printf("created user %s (id %lld)\n", name, (long long)id);
    } else {
        struct store_user u;
        int r = store_user_set_password(db, STORE_DEFAULT_APP, name, hash);

        if (r == 0) {
            r = store_user_by_name(db, STORE_DEFAULT_APP, name, &u);
        }
        if (r == 0) {
            r = audit_cli(db, key, "user.password_reset", u.id, name, NULL);
        }
        if (r != 0 || store_commit(db) != 0) {
            store_rollback(db);
            fprintf(stderr, "pipit: %s\n", r == PIPIT_ENOT_FOUND ? "no such user" : store_errmsg(db));
            goto out;
        }
        printf("changed the password of %s\n", name);
    }
    rc = 0;
out:
    memset(password, 0, sizeof(password));
    audit_key_free(key);
    store_close(&db);
    return rc;
}
