/*
 * store_audit.h: the audit log's records and checkpoints (migration 0012).
 *
 * Only SQL: the chain's hashes and the checkpoints' signatures are made and
 * checked by audit/audit.c. Records are only ever added.
 */
#ifndef PIPIT_STORE_STORE_AUDIT_H
#define PIPIT_STORE_STORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_AUDIT_HASH_LEN 32
#define STORE_AUDIT_KEY_LEN 32
#define STORE_AUDIT_SIG_LEN 64

/* Texts are borrowed: the caller's when adding, the statement's in a callback. */
struct store_audit_record {
    int64_t id;
    int64_t ts;                 /* ms */
    int64_t app_id;
    const char *actor;          /* user:<id>, key:<id>, anonymous, system, cli */
    const char *actor_name;     /* or NULL */
    const char *ip;             /* or NULL */
    const char *action;
    const char *target;         /* or NULL */
    const char *outcome;        /* ok, or an error code */
    const char *detail;         /* JSON object text, or NULL */
    uint8_t prev_hash[STORE_AUDIT_HASH_LEN];
    uint8_t hash[STORE_AUDIT_HASH_LEN];
};

struct store_audit_checkpoint {
    int64_t id;
    int64_t ts;
    int64_t record_id;
    uint8_t hash[STORE_AUDIT_HASH_LEN];
    uint8_t public_key[STORE_AUDIT_KEY_LEN];
    uint8_t signature[STORE_AUDIT_SIG_LEN];
};

/* The last record's id and hash; PIPIT_ENOT_FOUND when the log is empty. */
int store_audit_last(struct store_conn *sc, int64_t *id, uint8_t hash[STORE_AUDIT_HASH_LEN]);
int store_audit_insert(struct store_conn *sc, const struct store_audit_record *r);
/* The name of user:<id> or key:<id> into out (empty when none). */
void store_audit_actor_name(struct store_conn *sc, const char *actor, char *out, size_t cap);

/* Every record from id `after` on, in id order (verification). */
int store_audit_each(struct store_conn *sc, int64_t after,
                     int (*cb)(void *arg, const struct store_audit_record *r), void *arg);

/* A page of an app's records, newest first; NULL/0 filters match everything. */
struct store_audit_query {
    int64_t app_id;
    const char *actor;
    const char *action;
    int64_t from, to;           /* ms, inclusive; 0: open */
    int64_t before;             /* id; 0: from the newest */
    int limit;
};
int store_audit_page(struct store_conn *sc, const struct store_audit_query *q,
                     int (*cb)(void *arg, const struct store_audit_record *r), void *arg);

int store_audit_checkpoint_insert(struct store_conn *sc, const struct store_audit_checkpoint *c);
/* The record id of the last checkpoint; 0 when there is none. */
int store_audit_last_checkpoint(struct store_conn *sc, int64_t *record_id);
int store_audit_checkpoint_each(struct store_conn *sc,
                                int (*cb)(void *arg, const struct store_audit_checkpoint *c),
                                void *arg);
/* The highest record id AUTOINCREMENT ever handed out (0 for none): above the last
 * record's when the log's tail was cut off. */
int store_audit_high_water(struct store_conn *sc, int64_t *id);

#endif
