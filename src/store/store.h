/*
 * store.h: durable state (apps, users, tokens), SQLite backend.
 *
 * A struct store_conn is one database connection and belongs to one thread:
 * the store writer's (read-write, group commit, see store/jobs.h) or a pool
 * thread's (read-only). Statements are prepared once per connection and reused.
 *
 * Errors: PIPIT_ENOT_FOUND, PIPIT_EUSERNAME_TAKEN, or PIPIT_ESTORE for anything
 * the database reports (logged by the caller that decides). Out-parameters are
 * written only on success.
 *
 * The PostgreSQL backend for cluster mode will implement these same functions
 * behind an ops table (store_pg.c); callers do not change.
 */
#ifndef PIPIT_STORE_STORE_H
#define PIPIT_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_USERNAME_MAX 64
#define STORE_HASH_MAX 128      /* crypto_pwhash_STRBYTES */
#define STORE_DISPLAY_MAX 256
#define STORE_SELECTOR_LEN 12
#define STORE_VERIFIER_HASH_LEN 32

#define STORE_DEFAULT_APP 1

struct store_conn;
struct keyring;

struct store_user {
    int64_t id;
    int64_t app_id;
    char username[STORE_USERNAME_MAX + 1];
    char role[8];               /* "user" or "admin" */
    char display_name[STORE_DISPLAY_MAX + 1];
    bool has_display_name;
    char password_hash[STORE_HASH_MAX];
    int64_t created_at;         /* ms since the epoch */
    int64_t disabled_at;        /* ms; 0: enabled */
};

struct store_token {
    int64_t id;
    int64_t app_id;
    int64_t expires_at;         /* ms */
    uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN];
    struct store_user user;
};

enum store_mode { STORE_READ_WRITE, STORE_READ_ONLY };

/*
 * Opens data_dir/pipit.db. A read-write open creates the file, sets WAL and the
 * synchronous level (0 full, 1 normal, 2 off), and applies pending migrations in
 * one transaction. keys (borrowed, NULL: encryption at rest is off) seal the
 * message bodies and push notifications this connection writes, and open the
 * ones it reads. Returns 0 or PIPIT_ESTORE with a message in err.
 */
int store_open(const char *data_dir, enum store_mode mode, int synchronous,
               const struct keyring *keys, struct store_conn **out, char *err, size_t errlen);
/* Reads through a memory map of up to bytes of the file (0: read(2) calls). */
int store_set_mmap_size(struct store_conn *sc, int64_t bytes);
/* The page cache of this connection (SQLite's default is 2 MiB). */
int store_set_cache_size(struct store_conn *sc, int64_t bytes);
void store_close(struct store_conn **sc);
/* Bytes the database takes in data_dir: its file and its write-ahead log. */
int64_t store_disk_bytes(const char *data_dir);
/*
 * Copies the write-ahead log into the database and empties it, on a connection
 * of its own: page images of deleted content leave the WAL file. Waits up to the
 * busy timeout for readers. 0, or PIPIT_ESTORE with a message in err.
 */
int store_wal_truncate(const char *data_dir, char *err, size_t errlen);
/*
 * Encryption at rest. *sealed: whether this database's bodies are sealed (its
 * encryption row exists): then a connection without keys cannot read them.
 */
int store_sealed(struct store_conn *sc, bool *sealed);
/*
 * The same for the database in data_dir (false when there is none yet), read as
 * an immutable file: nothing is written, whatever state it is in. 0, or
 * PIPIT_ESTORE with a message in err.
 */
int store_sealed_at(const char *data_dir, bool *sealed, char *err, size_t errlen);
/*
 * Seals every plain message body, held version and push notification and
 * variants (written before a master key was configured) with the connection's
 * keys, 1,000 ids per transaction, rebuilds the search index (hashed terms),
 * then records that the database is sealed. Deleted plain text is zeroed
 * (secure_delete) on the way; pages freed before are not (store_vacuum), and
 * the WAL holds it until store_wal_truncate. *rows: how many were sealed.
 * 0 or PIPIT_ESTORE.
 */
int store_seal_plain(struct store_conn *sc, int64_t now_ms, int64_t *rows);
/* A sealed database's newest message opens with the connection's keys: 0, or PIPIT_ESTORE. */
int store_check_sealed(struct store_conn *sc);
/* Rewrites the whole database file (VACUUM): nothing deleted is left in it. */
int store_vacuum(struct store_conn *sc);
/* The last error message of this connection (for logs). */
const char *store_errmsg(struct store_conn *sc);

int store_begin(struct store_conn *sc);
int store_commit(struct store_conn *sc);
int store_rollback(struct store_conn *sc);
/* Nested unit inside a transaction: one failing write leaves its batch intact. */
int store_savepoint(struct store_conn *sc);
int store_release(struct store_conn *sc);
int store_rollback_savepoint(struct store_conn *sc);

int store_user_insert(struct store_conn *sc, int64_t app_id, const char *username,
                      const char *password_hash, const char *role, int64_t now_ms,
                      int64_t *id);
int store_user_by_name(struct store_conn *sc, int64_t app_id, const char *username,
                       struct store_user *out);
int store_user_by_id(struct store_conn *sc, int64_t id, struct store_user *out);
int store_user_set_password(struct store_conn *sc, int64_t app_id, const char *username,
                            const char *password_hash);
int store_user_count(struct store_conn *sc, int64_t *count);
/* Calls cb for each user of the app in id order; stops when cb returns non-zero. */
int store_user_list(struct store_conn *sc, int64_t app_id,
                    int (*cb)(void *arg, const struct store_user *u), void *arg);

/* Which users store_user_search returns. */
struct store_user_query {
    int64_t app_id;
    const char *pattern;        /* LIKE, '\' escapes: username or display name; NULL: all */
    int64_t after;              /* ids above this one */
    int limit;
    bool enabled_only;          /* leave out disabled users */
    int64_t exclude;            /* leave out this user (0: none) */
};
/* The users q selects, in id order; stops when cb returns non-zero. */
int store_user_search(struct store_conn *sc, const struct store_user_query *q,
                      int (*cb)(void *arg, const struct store_user *u), void *arg);
/* Writes back role, display_name and disabled_at. */
int store_user_update(struct store_conn *sc, const struct store_user *u);
/* The app's users; its admins that are not disabled. */
int store_user_count_app(struct store_conn *sc, int64_t app_id, int64_t *count);
int store_user_count_admins(struct store_conn *sc, int64_t app_id, int64_t *count);

int store_token_insert(struct store_conn *sc, int64_t app_id, int64_t user_id,
                       const uint8_t selector[STORE_SELECTOR_LEN],
                       const uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN],
                       int64_t now_ms, int64_t expires_ms, int64_t *id);
int store_token_lookup(struct store_conn *sc, const uint8_t selector[STORE_SELECTOR_LEN],
                       struct store_token *out);
int store_token_delete(struct store_conn *sc, int64_t token_id);
/* The user's tokens that have not expired by now_ms, in id order. */
int store_token_list_for_user(struct store_conn *sc, int64_t user_id, int64_t now_ms,
                              int (*cb)(void *arg, int64_t id, int64_t created_at,
                                        int64_t expires_at),
                              void *arg);
/* Deletes one token of the user (PIPIT_ENOT_FOUND if the user has no such token). */
int store_token_delete_for_user(struct store_conn *sc, int64_t user_id, int64_t token_id);
/* Deletes every token of the user. */
int store_token_delete_all_for_user(struct store_conn *sc, int64_t user_id);
/* Deletes up to limit expired tokens; returns how many in *deleted. */
int store_token_sweep(struct store_conn *sc, int64_t now_ms, int limit, int *deleted);

#endif
