/*
 * keys.c: `pipit keys generate` prints a new master key; `pipit keys rotate`
 * adds a data key that seals from then on, and can wrap every data key under
 * a new master key (keys/keyring.h). Rotation needs the server stopped: a
 * running pipitd keeps sealing with the key it started with.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "config/config.h"
#include "keys/keyring.h"
#include "store/store.h"
#include "util/fs.h"

int cli_open_keys(const char *data_dir, struct keyring **out)
{
    uint8_t master[KEYRING_KEY_LEN];
    char err[1024];
    int rc = keyring_master_load(NULL, data_dir, master, err, sizeof(err));

    if (rc >= 0) {
        rc = keyring_load(data_dir, rc == 1 ? master : NULL, false, out, err, sizeof(err));
    }
    sodium_memzero(master, sizeof(master));
    if (rc != 0) {
        fprintf(stderr, "pipit: %s\n", err);
        return -1;
    }
    return 0;
}

static int generate(void)
{
    uint8_t key[KEYRING_KEY_LEN];
    char hex[KEYRING_KEY_HEX + 1];

    randombytes_buf(key, sizeof(key));
    sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
    printf("%s\n", hex);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(hex, sizeof(hex));
    return 0;
}

static int rotate(const char *data_dir, const char *new_master_file)
{
    uint8_t master[KEYRING_KEY_LEN], new_master[KEYRING_KEY_LEN];
    struct store_conn *db = NULL;
    struct audit_key *key = NULL;
    json_t *detail;
    char err[1024] = "", lock[4200];
    uint32_t id = 0;
    int lock_fd, rc = 1;

    snprintf(lock, sizeof(lock), "%s/" CONFIG_DATA_DIR_LOCK, data_dir);
    lock_fd = fs_lock(lock, LOCK_EX | LOCK_NB);
    if (lock_fd < 0) {
        fprintf(stderr, "pipit: keys rotate: %s is in use by a running pipitd (stop it first)\n",
                data_dir);
        return 1;
    }
    if (keyring_master_load(NULL, data_dir, master, err, sizeof(err)) != 1) {
        fprintf(stderr, "pipit: keys rotate: %s\n", err[0] != '\0' ? err :
                "no master key (PIPIT_MASTER_KEY_FILE or PIPIT_MASTER_KEY)");
        goto out;
    }
    if (new_master_file != NULL &&
        keyring_master_load(new_master_file, data_dir, new_master, err, sizeof(err)) != 1) {
        fprintf(stderr, "pipit: keys rotate: %s\n", err);
        goto out;
    }
    if (store_open(data_dir, STORE_READ_WRITE, 0, NULL, &db, err, sizeof(err)) != 0 ||
        audit_key_open(data_dir, &key, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipit: keys rotate: %s\n", err);
        goto out;
    }
    /* The record and the new file stand or fall together. */
    detail = json_pack("{s:b}", "new_master_key", new_master_file != NULL);
    if (store_begin(db) != 0 ||
        cli_audit_record(db, key, 1, "keys.rotate", NULL, "ok", detail) != 0) {
        fprintf(stderr, "pipit: keys rotate: the audit log cannot be written (%s); nothing was "
                "changed\n", store_errmsg(db));
        json_decref(detail);
        store_rollback(db);
        goto out;
    }
    json_decref(detail);
    if (keyring_rotate(data_dir, master, new_master_file != NULL ? new_master : NULL, &id, err,
                       sizeof(err)) != 0) {
        fprintf(stderr, "pipit: keys rotate: %s; nothing was changed\n", err);
        store_rollback(db);
        goto out;
    }
    if (store_commit(db) != 0) {
        fprintf(stderr, "pipit: keys rotate: the audit record of key %u did not commit (%s); "
                "the key is in place\n", id, store_errmsg(db));
        goto out;
    }
    printf("keys: data key %u seals new data from the next start%s\n", id,
           new_master_file != NULL ? "; every data key is wrapped by the new master key" : "");
    rc = 0;
out:
    sodium_memzero(master, sizeof(master));
    sodium_memzero(new_master, sizeof(new_master));
    audit_key_free(key);
    store_close(&db);
    close(lock_fd);
    return rc;
}

int cli_keys(int argc, char **argv)
{
    const char *data_dir = NULL, *new_master = NULL;

    if (sodium_init() < 0) {
        fprintf(stderr, "pipit: cannot initialise libsodium\n");
        return 1;
    }
    if (argc == 3 && strcmp(argv[2], "generate") == 0) {
        return generate();
    }
    if (argc < 3 || strcmp(argv[2], "rotate") != 0) {
        cli_usage();
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc) {
            data_dir = argv[++i];
        } else if (strcmp(argv[i], "--new-master-key-file") == 0 && i + 1 < argc) {
            new_master = argv[++i];
        } else {
            cli_usage();
            return 2;
        }
    }
    if (data_dir == NULL || data_dir[0] == '\0' || (new_master != NULL && new_master[0] == '\0')) {
        cli_usage();
        return 2;
    }
    return rotate(data_dir, new_master);
}
