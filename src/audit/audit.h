/*
 * audit.h: the tamper-evident audit log.
 *
 * Each record's hash covers its fields and the previous record's hash, so the
 * records form a chain: changing, deleting or reordering one breaks it there.
 * Checkpoints sign the chain's head with an Ed25519 key kept in the data dir
 * (audit-signing.key): a checkpoint that names a record past the end of the log
 * shows a truncation, and one whose signature fails shows a rewritten chain.
 *
 * Records are added on the store's writer, inside the transaction of the action
 * they describe: if the record cannot be written, the action fails with it.
 * audit_verify runs on any connection (a reader, or the CLI's).
 */
#ifndef PIPIT_AUDIT_AUDIT_H
#define PIPIT_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store_audit.h"

/* A checkpoint after every this many records (and on a timer, and at stop). */
#define AUDIT_CHECKPOINT_EVERY 100
#define AUDIT_ACTOR_MAX 32
/* A record's detail above this many bytes is left out (a note says so). */
#define AUDIT_DETAIL_MAX 4096
#define AUDIT_KEY_HEX (2 * STORE_AUDIT_KEY_LEN)

struct audit_key;

/* Loads DATA_DIR/audit-signing.key, making it (0600) on first use. */
int audit_key_open(const char *data_dir, struct audit_key **out, char *err, size_t errlen);
void audit_key_free(struct audit_key *k);
/* The public key, as 64 hex digits and as its 32 bytes. */
const char *audit_key_public_hex(const struct audit_key *k);
const uint8_t *audit_key_public(const struct audit_key *k);

/* The hash of r: its fields and r->prev_hash (r->hash is not read). */
void audit_hash(const struct store_audit_record *r, uint8_t out[STORE_AUDIT_HASH_LEN]);

/*
 * Writer: adds r to the chain (sets r->id, prev_hash and hash; fills actor_name
 * from the actor when NULL) and signs a checkpoint every AUDIT_CHECKPOINT_EVERY
 * records. Call inside a transaction.
 */
int audit_append(struct store_conn *sc, const struct audit_key *key, struct store_audit_record *r);
/*
 * Writer, for an action audited whatever its outcome: audit_begin() before it
 * (a savepoint of its own), then audit_settle() with its result rc. A failed
 * action is rolled back but its record kept (*keep: the job must not roll back
 * its own savepoint, struct job.keep); a record that cannot be written fails
 * the action with it. Returns rc, or PIPIT_ESTORE for a success not recorded.
 */
int audit_begin(struct store_conn *sc);
int audit_settle(struct store_conn *sc, const struct audit_key *key, struct store_audit_record *r,
                 int rc, bool *keep);
/* Writer: signs a checkpoint of the last record unless one already covers it. */
int audit_checkpoint(struct store_conn *sc, const struct audit_key *key, int64_t now);

struct audit_verdict {
    bool ok;
    int64_t records;            /* read before the first problem (all when ok) */
    int64_t checkpoints;
    int64_t bad_record;         /* the record where the chain breaks; 0 if none */
    char problem[256];          /* what is wrong, for people */
};

/*
 * Checks the whole chain and every checkpoint. expected_key (32 bytes) is the
 * public key checkpoints must be signed with; NULL accepts the key of the first.
 * Returns 0 with the verdict, or PIPIT_ESTORE when the log could not be read.
 */
int audit_verify(struct store_conn *sc, const uint8_t *expected_key, struct audit_verdict *v);

/* "user:<id>" or "key:<id>" into out. */
void audit_actor(char out[AUDIT_ACTOR_MAX], bool key, int64_t id);

#endif
