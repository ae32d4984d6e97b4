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
#define STORE_DEVICE_MAX 200    /* a session's device name (or User-Agent), cut to this */
#define STORE_IP_MAX 46         /* INET6_ADDRSTRLEN */
#define STORE_MFA_SECRET_MAX 64 /* base32 text */
#define STORE_RECOVERY_HASH_LEN 32
#define STORE_MFA_POLICY_MAX 8  /* "off", "admins" or "all" */

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
    int64_t mfa_enabled_at;     /* ms; 0: no second factor */
    bool mfa_required;          /* the app's policy (mfa_required) asks this user for one */
    bool bot;                   /* a bot: signs in with its API key (api/bots.c), never MFA */
};

struct store_token {
    int64_t id;
    int64_t app_id;
    int64_t expires_at;         /* ms */
    int64_t last_seen_at;       /* ms; the login's time until it is seen again */
    uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN];
    struct store_user user;
};

/* A session as its user sees it (a token, without its secret). */
struct store_session {
    int64_t id;
    int64_t created_at, expires_at, last_seen_at; /* ms */
    const char *device;         /* NULL: unnamed */
    const char *ip;
};

/* A user's second factor. */
struct store_mfa {
    char secret[STORE_MFA_SECRET_MAX + 1]; /* "": none, not even an enrolment begun */
    int64_t enabled_at;         /* ms; 0: begun, not confirmed (or none) */
    int64_t last_step;          /* the newest TOTP time step accepted */
    int64_t codes_left;         /* unused recovery codes */
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
/* Only the id of the app's user `id`, or named username when not NULL; PIPIT_ENOT_FOUND if none. */
int store_user_id(struct store_conn *sc, int64_t app_id, int64_t id, const char *username,
                  int64_t *out);
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
    bool bots_only;             /* only bots (api/bots.c) */
};
/* The users q selects, in id order; stops when cb returns non-zero. */
int store_user_search(struct store_conn *sc, const struct store_user_query *q,
                      int (*cb)(void *arg, const struct store_user *u), void *arg);
/* Writes back role, display_name, disabled_at and bot. */
int store_user_update(struct store_conn *sc, const struct store_user *u);
/* The app's users; its admins that are not disabled. */
int store_user_count_app(struct store_conn *sc, int64_t app_id, int64_t *count);
int store_user_count_admins(struct store_conn *sc, int64_t app_id, int64_t *count);

/* A new token; device (at most STORE_DEVICE_MAX bytes of UTF-8) and ip may be NULL. */
int store_token_insert(struct store_conn *sc, int64_t app_id, int64_t user_id,
                       const uint8_t selector[STORE_SELECTOR_LEN],
                       const uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN],
                       const char *device, const char *ip,
                       int64_t now_ms, int64_t expires_ms, int64_t *id);
int store_token_lookup(struct store_conn *sc, const uint8_t selector[STORE_SELECTOR_LEN],
                       struct store_token *out);
int store_token_delete(struct store_conn *sc, int64_t token_id);
/* Records a token's use: when and from where (ip may be NULL: unchanged). */
int store_token_touch(struct store_conn *sc, int64_t token_id, int64_t now_ms, const char *ip);
/* The user's tokens that have not expired by now_ms, in id order. */
int store_token_list_for_user(struct store_conn *sc, int64_t user_id, int64_t now_ms,
                              int (*cb)(void *arg, const struct store_session *s), void *arg);
/* Deletes one token of the user (PIPIT_ENOT_FOUND if the user has no such token). */
int store_token_delete_for_user(struct store_conn *sc, int64_t user_id, int64_t token_id);
/* Deletes every token of the user but keep_id (0: every one). */
int store_token_delete_all_for_user(struct store_conn *sc, int64_t user_id, int64_t keep_id);
/*
 * Deletes up to limit expired tokens; returns how many in *deleted. (Idle ones
 * stay until then: one with an open WebSocket is in use however long ago it
 * was seen, and only the workers know that.)
 */
int store_token_sweep(struct store_conn *sc, int64_t now_ms, int limit, int *deleted);

/*
 * Two-factor authentication. The secret is sealed when the connection has keys
 * (at the place (0, -user id)). store_mfa_begin: a new secret for an enrolment,
 * PIPIT_ECONFLICT when MFA is already on. store_mfa_enable: on from now, with
 * these recovery code hashes (replacing any). store_mfa_set_codes: new recovery
 * code hashes. store_mfa_use_step: records a TOTP step as used, PIPIT_ECONFLICT
 * if it is not newer than the last (a replay). store_mfa_use_code: deletes the
 * recovery code with this hash, PIPIT_ENOT_FOUND when there is none (compared
 * in constant time, each of the user's codes). store_mfa_clear: off, no secret,
 * no codes.
 */
int store_mfa_get(struct store_conn *sc, int64_t user_id, struct store_mfa *out);
int store_mfa_begin(struct store_conn *sc, int64_t user_id, const char *secret);
int store_mfa_enable(struct store_conn *sc, int64_t user_id, int64_t now_ms,
                     const uint8_t (*hashes)[STORE_RECOVERY_HASH_LEN], int n);
int store_mfa_set_codes(struct store_conn *sc, int64_t user_id,
                        const uint8_t (*hashes)[STORE_RECOVERY_HASH_LEN], int n);
int store_mfa_use_step(struct store_conn *sc, int64_t user_id, int64_t step);
int store_mfa_use_code(struct store_conn *sc, int64_t user_id,
                       const uint8_t hash[STORE_RECOVERY_HASH_LEN]);
int store_mfa_clear(struct store_conn *sc, int64_t user_id);
/* Who must use MFA in the app: "off", "admins" or "all" (apps.mfa_required). */
int store_app_mfa_policy(struct store_conn *sc, int64_t app_id, char out[STORE_MFA_POLICY_MAX]);
int store_app_set_mfa_policy(struct store_conn *sc, int64_t app_id, const char *policy);

#endif
