/*
 * audit.c: `pipit audit verify`, the audit log's chain and checkpoints checked
 * from the command line (audit/audit.h). Read-only: safe while pipitd runs.
 *
 *   pipit audit verify --data-dir DIR [--public-key HEX]
 *
 * Without --public-key, checkpoints must be signed with the data dir's own key
 * (audit-signing.key). Someone who could rewrite the database could also use
 * that key, so the strong check gives the public key kept elsewhere.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "store/store.h"

/* The key checkpoints must be signed with, into key; 0, or 1 on a bad --public-key. */
static int expected_key(const char *data_dir, const char *hex, uint8_t key[STORE_AUDIT_KEY_LEN],
                        bool *have)
{
    struct audit_key *k = NULL;
    char path[4096], err[512];
    size_t len = 0;

    *have = false;
    if (hex != NULL) {
        if (sodium_hex2bin(key, STORE_AUDIT_KEY_LEN, hex, strlen(hex), NULL, &len, NULL) != 0 ||
            len != STORE_AUDIT_KEY_LEN || strlen(hex) != AUDIT_KEY_HEX) {
            fprintf(stderr, "pipit: --public-key must be 64 hex digits\n");
            return 1;
        }
        *have = true;
        return 0;
    }
    snprintf(path, sizeof(path), "%s/audit-signing.key", data_dir);
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "pipit: no %s: checkpoints are checked against their own key\n", path);
        return 0;
    }
    if (audit_key_open(data_dir, &k, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipit: %s\n", err);
        return 1;
    }
    memcpy(key, audit_key_public(k), STORE_AUDIT_KEY_LEN);
    audit_key_free(k);
    *have = true;
    return 0;
}

int cli_audit(int argc, char **argv)
{
    const char *data_dir = NULL, *public_hex = NULL;
    uint8_t key[STORE_AUDIT_KEY_LEN];
    struct audit_verdict v;
    struct store_conn *db = NULL;
    char err[512];
    bool have_key;
    int rc;

    if (argc < 3 || strcmp(argv[2], "verify") != 0) {
        cli_usage();
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc) {
            data_dir = argv[++i];
        } else if (strcmp(argv[i], "--public-key") == 0 && i + 1 < argc) {
            public_hex = argv[++i];
        } else {
            cli_usage();
            return 2;
        }
    }
    if (data_dir == NULL) {
        cli_usage();
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "pipit: cannot initialise libsodium\n");
        return 1;
    }
    if (expected_key(data_dir, public_hex, key, &have_key) != 0) {
        return 1;
    }
    if (store_open(data_dir, STORE_READ_ONLY, 0, NULL, &db, err, sizeof(err)) != 0) {
        fprintf(stderr, "pipit: %s\n", err);
        return 1;
    }
    rc = audit_verify(db, have_key ? key : NULL, &v);
    if (rc != 0) {
        fprintf(stderr, "pipit: cannot read the audit log: %s\n", store_errmsg(db));
        store_close(&db);
        return 1;
    }
    store_close(&db);
    if (!v.ok) {
        printf("broken: %s (%lld records were intact before it)\n", v.problem,
               (long long)v.records);
        return 1;
    }
    printf("ok: %lld records, %lld checkpoints\n", (long long)v.records,
           (long long)v.checkpoints);
    return 0;
}
