/*
 * store_sqlite.c: the SQLite backend of store.h.
 *
 * WAL mode: one writer and any number of readers never block each other.
 * Statements are prepared on first use with SQLITE_PREPARE_PERSISTENT and kept
 * for the life of the connection; no SQL is ever built from user input.
 */
#include "store/store.h"

#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keyring.h"
#include "search/tokenizer.h"
#include "store/migrations.h"
#include "store/store_backup.h"
#include "store/store_chat.h"
#include "store/store_internal.h"
#include "util/bytes.h"
#include "util/err.h"
#include "util/mem.h"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_USER_INSERT,
    ST_USER_BY_NAME,
    ST_USER_BY_ID,
    ST_USER_ID_BY_ID,
    ST_USER_ID_BY_NAME,
    ST_USER_SET_PASSWORD,
    ST_USER_COUNT,
    ST_USER_LIST,
    ST_TOKEN_INSERT,
    ST_TOKEN_LOOKUP,
    ST_TOKEN_DELETE,
    ST_TOKEN_SWEEP,
    ST_USER_SEARCH,
    ST_USER_UPDATE,
    ST_USER_COUNT_APP,
    ST_USER_COUNT_ADMINS,
    ST_TOKEN_LIST_FOR_USER,
    ST_TOKEN_DELETE_FOR_USER,
    ST_TOKEN_DELETE_ALL_FOR_USER,
    ST_TOKEN_TOUCH,
    ST_MFA_GET,
    ST_MFA_BEGIN,
    ST_MFA_ENABLE,
    ST_MFA_USE_STEP,
    ST_MFA_CODES_DELETE,
    ST_MFA_CODE_INSERT,
    ST_MFA_CODES,
    ST_MFA_CODE_DELETE,
    ST_MFA_CLEAR,
    ST_APP_MFA_POLICY,
    ST_APP_SET_MFA_POLICY,
    ST_COUNT
};

_Static_assert(ST_COUNT <= STORE_CHAT_FIRST_STMT, "statement slots overlap");

/* The last column: whether the app's MFA policy covers this user. */
#define USER_COLS                                                                        \
    "u.id, u.app_id, u.username, u.role, u.display_name, u.password_hash, u.created_at, " \
    "coalesce(u.disabled_at, 0), coalesce(u.mfa_enabled_at, 0), "                        \
    "(u.bot = 0 AND (SELECT a.mfa_required = 'all' OR "                                  \
    "(a.mfa_required = 'admins' AND u.role = 'admin') FROM apps a WHERE a.id = u.app_id)), " \
    "u.bot"
#define MFA_SECRET "pipit_unseal(mfa_secret, 0, -id)"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT w",
    [ST_RELEASE] = "RELEASE w",
    [ST_ROLLBACK_TO] = "ROLLBACK TO w",
    [ST_USER_INSERT] = "INSERT INTO users (app_id, username, password_hash, role, created_at) "
                       "VALUES (?, ?, ?, ?, ?)",
    [ST_USER_BY_NAME] = "SELECT " USER_COLS " FROM users u WHERE u.app_id = ? AND u.username = ?",
    [ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users u WHERE u.id = ?",
    [ST_USER_ID_BY_ID] = "SELECT id FROM users WHERE id = ?2 AND app_id = ?1",
    [ST_USER_ID_BY_NAME] = "SELECT id FROM users WHERE app_id = ?1 AND username = ?2",
    [ST_USER_SET_PASSWORD] = "UPDATE users SET password_hash = ? WHERE app_id = ? AND username = ?",
    [ST_USER_COUNT] = "SELECT count(*) FROM users",
    [ST_USER_LIST] = "SELECT " USER_COLS " FROM users u WHERE u.app_id = ? ORDER BY u.id",
    [ST_TOKEN_INSERT] = "INSERT INTO tokens (app_id, user_id, selector, verifier_hash, "
                        "created_at, expires_at, device, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_TOKEN_LOOKUP] = "SELECT t.id, t.app_id, t.expires_at, t.verifier_hash, "
                        "coalesce(t.last_seen_at, t.created_at), " USER_COLS
                        " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.selector = ?",
    [ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE id = ?",
    [ST_TOKEN_SWEEP] = "DELETE FROM tokens WHERE id IN "
                       "(SELECT id FROM tokens WHERE expires_at < ? LIMIT ?)",
    /* LIKE ignores ASCII case; the caller escapes the pattern's '%', '_' and '\'. */
    [ST_USER_SEARCH] = "SELECT " USER_COLS " FROM users u WHERE u.app_id = ?1 AND u.id > ?2 "
                       "AND (?3 IS NULL OR u.username LIKE ?3 ESCAPE '\\' "
                       "OR u.display_name LIKE ?3 ESCAPE '\\') "
                       "AND (?5 = 0 OR u.disabled_at IS NULL) AND u.id <> ?6 "
                       "AND (?7 = 0 OR u.bot = 1) ORDER BY u.id LIMIT ?4",
    [ST_USER_UPDATE] = "UPDATE users SET role = ?, display_name = ?, disabled_at = nullif(?, 0), "
                       "bot = ? WHERE id = ?",
    [ST_USER_COUNT_APP] = "SELECT count(*) FROM users WHERE app_id = ?",
    [ST_USER_COUNT_ADMINS] = "SELECT count(*) FROM users WHERE app_id = ? AND role = 'admin' "
                             "AND disabled_at IS NULL",
    [ST_TOKEN_LIST_FOR_USER] = "SELECT id, created_at, expires_at, "
                               "coalesce(last_seen_at, created_at), device, ip FROM tokens "
                               "WHERE user_id = ? AND expires_at > ? ORDER BY id",
    [ST_TOKEN_DELETE_FOR_USER] = "DELETE FROM tokens WHERE id = ? AND user_id = ?",
    [ST_TOKEN_DELETE_ALL_FOR_USER] = "DELETE FROM tokens WHERE user_id = ? AND id <> ?",
    [ST_TOKEN_TOUCH] = "UPDATE tokens SET last_seen_at = ?1, ip = coalesce(?2, ip) WHERE id = ?3",
    [ST_MFA_GET] = "SELECT " MFA_SECRET ", coalesce(mfa_enabled_at, 0), mfa_last_step, "
                   "(SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?1) "
                   "FROM users WHERE id = ?1",
    /* A new secret: no step of it was used yet. */
    [ST_MFA_BEGIN] = "UPDATE users SET mfa_secret = pipit_seal(?2, 0, -id), mfa_last_step = 0 "
                     "WHERE id = ?1 AND mfa_enabled_at IS NULL",
    [ST_MFA_ENABLE] = "UPDATE users SET mfa_enabled_at = ?2 WHERE id = ?1 AND "
                      "mfa_secret IS NOT NULL AND mfa_enabled_at IS NULL",
    [ST_MFA_USE_STEP] = "UPDATE users SET mfa_last_step = ?2 WHERE id = ?1 AND mfa_last_step < ?2",
    [ST_MFA_CODES_DELETE] = "DELETE FROM mfa_recovery_codes WHERE user_id = ?",
    [ST_MFA_CODE_INSERT] = "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)",
    [ST_MFA_CODES] = "SELECT id, code_hash FROM mfa_recovery_codes WHERE user_id = ?",
    [ST_MFA_CODE_DELETE] = "DELETE FROM mfa_recovery_codes WHERE id = ?",
    [ST_MFA_CLEAR] = "UPDATE users SET mfa_secret = NULL, mfa_enabled_at = NULL WHERE id = ?",
    [ST_APP_MFA_POLICY] = "SELECT mfa_required FROM apps WHERE id = ?",
    [ST_APP_SET_MFA_POLICY] = "UPDATE apps SET mfa_required = ?2 WHERE id = ?1",
};


#define DB_FILE "pipit.db"

static int64_t file_bytes(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int64_t store_disk_bytes(const char *data_dir)
{
    return file_bytes(data_dir, DB_FILE) + file_bytes(data_dir, DB_FILE "-wal");
}

const char *store_errmsg(struct store_conn *sc)
{
    return sqlite3_errmsg(sc->db);
}

sqlite3_stmt *store__stmt(struct store_conn *sc, int slot, const char *sql)
{
    sqlite3_stmt *s = sc->stmts[slot];

    if (s == NULL) {
        if (sqlite3_prepare_v3(sc->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            return NULL;
        }
        sc->stmts[slot] = s;
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return s;
}

static sqlite3_stmt *stmt(struct store_conn *sc, enum stmt_id id)
{
    return store__stmt(sc, id, stmt_sql[id]);
}

int store__run(struct store_conn *sc, sqlite3_stmt *s)
{
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        return 0;
    }
    if (sqlite3_extended_errcode(sc->db) == SQLITE_CONSTRAINT_UNIQUE) {
        return PIPIT_EUSERNAME_TAKEN;
    }
    return PIPIT_ESTORE;
}

int store__one_row(sqlite3_stmt *s, void (*read)(sqlite3_stmt *s, void *out), void *out)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW) {
        read(s, out);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store__run_one(struct store_conn *sc, sqlite3_stmt *s)
{
    int rc = store__run(sc, s);

    return rc == 0 && sqlite3_changes(sc->db) == 0 ? PIPIT_ENOT_FOUND : rc;
}

int store__one_int(sqlite3_stmt *s, int64_t *out)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW && out != NULL) {
        *out = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

void store__bind_text(sqlite3_stmt *s, int col, const char *v)
{
    if (v != NULL) {
        sqlite3_bind_text(s, col, v, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(s, col);
    }
}

void store__copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    snprintf(dst, cap, "%s", t != NULL ? (const char *)t : "");
}

char *store__dup_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    return t != NULL ? xstrdup((const char *)t) : NULL;
}

int store__each_int(sqlite3_stmt *s, int (*cb)(void *arg, int64_t v), void *arg)
{
    int64_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc;

    /*
     * Every row is read before the first call back: callbacks write (a push's
     * expansion inserts per user), and a write while this statement is still
     * open would cost a statement journal each time.
     */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
        if (cb(arg, v[i]) != 0) {
            break; /* the callback stops the walk (and keeps its own error) */
        }
    }
    free(v);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

static int exec_simple(struct store_conn *sc, enum stmt_id id)
{
    return store__run(sc, stmt(sc, id));
}

int store_begin(struct store_conn *sc)
{
    return exec_simple(sc, ST_BEGIN);
}

int store_commit(struct store_conn *sc)
{
    return exec_simple(sc, ST_COMMIT);
}

int store_rollback(struct store_conn *sc)
{
    return exec_simple(sc, ST_ROLLBACK);
}

int store_savepoint(struct store_conn *sc)
{
    return exec_simple(sc, ST_SAVEPOINT);
}

int store_release(struct store_conn *sc)
{
    return exec_simple(sc, ST_RELEASE);
}

int store_rollback_savepoint(struct store_conn *sc)
{
    int rc = exec_simple(sc, ST_ROLLBACK_TO);

    /* ROLLBACK TO keeps the savepoint open; release it to close the unit. */
    return rc != 0 ? rc : exec_simple(sc, ST_RELEASE);
}

static int apply_migrations(struct store_conn *sc, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int current = 0;
    int rc = PIPIT_ESTORE;
    char *msg = NULL;

    if (sqlite3_exec(sc->db,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                     NULL, NULL, &msg) != SQLITE_OK) {
        goto out;
    }
    if (sqlite3_exec(sc->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
        goto out;
    }
    if (sqlite3_prepare_v2(sc->db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        goto rollback;
    }
    current = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    s = NULL;

    for (size_t i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];

        if (m->version <= current) {
            continue;
        }
        if (sqlite3_exec(sc->db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "migration %s failed: %s", m->name, msg);
            goto rollback;
        }
        if (sqlite3_prepare_v2(sc->db,
                               "INSERT INTO schema_migrations (version, name, applied_at) "
                               "VALUES (?, ?, CAST(strftime('%s','now') AS INTEGER) * 1000)",
                               -1, &s, NULL) != SQLITE_OK) {
            goto rollback;
        }
        sqlite3_bind_int(s, 1, m->version);
        sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            goto rollback;
        }
        sqlite3_finalize(s);
        s = NULL;
    }
    if (sqlite3_exec(sc->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        goto rollback;
    }
    rc = 0;
    goto out;

rollback:
    if (err[0] == '\0') {
        snprintf(err, errlen, "migrations: %s", msg != NULL ? msg : sqlite3_errmsg(sc->db));
    }
    sqlite3_finalize(s);
    s = NULL;
    sqlite3_exec(sc->db, "ROLLBACK", NULL, NULL, NULL);
out:
    if (rc != 0 && err[0] == '\0') {
        snprintf(err, errlen, "migrations: %s", msg != NULL ? msg : sqlite3_errmsg(sc->db));
    }
    sqlite3_free(msg);
    return rc;
}

/*
 * A checkpoint copies every page in the WAL back into the database. With the
 * default (1,000 pages) busy periods checkpoint after nearly every batch and
 * write each hot index page twice; 16,384 pages (64 MiB) lets a page that
 * changes in many batches be copied back once. The file is cut back to the same
 * size after a checkpoint so it does not keep its peak.
 */
/*
 * secure_delete=FAST: content deleted from a page that is written anyway is
 * zeroed, at no extra I/O; an erasure turns it fully on (store_user_erase).
 */
#define WAL_PRAGMAS "PRAGMA wal_autocheckpoint=16384; PRAGMA journal_size_limit=67108864; " \
                    "PRAGMA secure_delete=FAST"

int store_set_mmap_size(struct store_conn *sc, int64_t bytes)
{
    char sql[64];

    snprintf(sql, sizeof(sql), "PRAGMA mmap_size=%lld", (long long)bytes);
    return sqlite3_exec(sc->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : PIPIT_ESTORE;
}

int store_set_cache_size(struct store_conn *sc, int64_t bytes)
{
    char sql[64];

    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%lld", (long long)(bytes / 1024));
    return sqlite3_exec(sc->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : PIPIT_ESTORE;
}

/* ---- sealed values (encryption at rest) ---- */

_Static_assert(KEYRING_INDEX_KEY_LEN == SEARCH_INDEX_KEY_LEN, "the index key's length");

/* The largest text remembered as the last sealed: a message body's cap. */
#define STORE_LAST_SEALED_MAX (64 * 1024)

/* The associated data of a sealed value: a domain and the value's place. */
#define SEAL_DOMAIN "pipit-sealed-v1"

static void seal_ad(sqlite3_value *a, sqlite3_value *b, uint8_t ad[sizeof(SEAL_DOMAIN) + 16])
{
    memcpy(ad, SEAL_DOMAIN, sizeof(SEAL_DOMAIN));
    bytes_put_be(ad + sizeof(SEAL_DOMAIN), (uint64_t)sqlite3_value_int64(a), 8);
    bytes_put_be(ad + sizeof(SEAL_DOMAIN) + 8, (uint64_t)sqlite3_value_int64(b), 8);
}

/* pipit_seal(text, a, b): the text sealed under the active data key, with (a, b)
 * as its place; NULL stays NULL, and without keys the text stays as it is. */
/* Remembers what pipit_seal made last (store_last_sealed), up to a body's size. */
static void remember_sealed(struct store_conn *sc, const uint8_t *sealed, size_t sealed_len,
                            const uint8_t *text, size_t text_len, int64_t a, int64_t b)
{
    struct store_last_sealed *l = &sc->last_sealed;

    if (text_len > STORE_LAST_SEALED_MAX) {
        l->sealed_len = 0;
        return;
    }
    l->sealed = xrealloc(l->sealed, sealed_len);
    l->text = xrealloc(l->text, text_len + 1);
    memcpy(l->sealed, sealed, sealed_len);
    memcpy(l->text, text, text_len);
    l->sealed_len = sealed_len;
    l->text_len = text_len;
    l->a = a;
    l->b = b;
}

static void sql_seal(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct store_conn *sc = sqlite3_user_data(ctx);
    uint8_t ad[sizeof(SEAL_DOMAIN) + 16];
    const uint8_t *pt;
    uint8_t *out;
    size_t n;

    (void)argc;
    if (sc->keys == NULL && sc->sealed && sqlite3_value_type(argv[0]) == SQLITE_TEXT) {
        sqlite3_result_error(ctx, "the database is encrypted, and no master key is here to "
                             "seal with", -1);
        return;
    }
    if (sc->keys == NULL || sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    pt = sqlite3_value_text(argv[0]);
    n = (size_t)sqlite3_value_bytes(argv[0]);
    out = sqlite3_malloc64(n + KEYRING_OVERHEAD);
    if (pt == NULL || out == NULL) {
        sqlite3_free(out);
        sqlite3_result_error_nomem(ctx);
        return;
    }
    seal_ad(argv[1], argv[2], ad);
    keyring_seal(sc->keys, ad, sizeof(ad), pt, n, out);
    remember_sealed(sc, out, n + KEYRING_OVERHEAD, pt, n, sqlite3_value_int64(argv[1]),
                    sqlite3_value_int64(argv[2]));
    sqlite3_result_blob64(ctx, out, n + KEYRING_OVERHEAD, sqlite3_free);
}

static bool is_last_sealed(const struct store_last_sealed *l, const uint8_t *v, size_t n,
                           sqlite3_value **argv)
{
    return l->sealed_len == n && n > 0 && l->a == sqlite3_value_int64(argv[1]) &&
           l->b == sqlite3_value_int64(argv[2]) && memcmp(l->sealed, v, n) == 0;
}

/*
 * A value that does not open: an error, never served as if it were empty; or,
 * for pipit_unseal's lenient form, NULL.
 */
static void unseal_failed(sqlite3_context *ctx, int argc, sqlite3_value **argv, const char *why)
{
    if (argc == 4 && sqlite3_value_int(argv[3]) != 0) {
        sqlite3_result_null(ctx);
    } else {
        sqlite3_result_error(ctx, why, -1);
    }
}

/*
 * pipit_unseal(value, a, b): a sealed value's text; text (but not in a sealed
 * database) and NULL as they are. A value that does not open (no keys, a wrong
 * key, altered, moved) is an error. pipit_unseal(value, a, b, 1) answers NULL
 * for it instead: for the search index, which must not stop on one bad row.
 */
static void sql_unseal(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct store_conn *sc = sqlite3_user_data(ctx);
    uint8_t ad[sizeof(SEAL_DOMAIN) + 16];
    const uint8_t *v;
    uint8_t *out;
    size_t n;

    if (sqlite3_value_type(argv[0]) == SQLITE_TEXT && sc->sealed) {
        /* Put there by someone who can write the file: not served as genuine. */
        unseal_failed(ctx, argc, argv, "a plain value in an encrypted database");
        return;
    }
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    v = sqlite3_value_blob(argv[0]);
    n = (size_t)sqlite3_value_bytes(argv[0]);
    if (is_last_sealed(&sc->last_sealed, v, n, argv)) {
        sqlite3_result_text64(ctx, sc->last_sealed.text, sc->last_sealed.text_len,
                              SQLITE_TRANSIENT, SQLITE_UTF8);
        return;
    }
    if (sc->keys == NULL || !keyring_is_sealed(v, n)) {
        unseal_failed(ctx, argc, argv, sc->keys == NULL ? "a sealed value, and no master key "
                                                          "to open it" : "not a sealed value");
        return;
    }
    out = sqlite3_malloc64(n - KEYRING_OVERHEAD + 1);
    if (out == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    seal_ad(argv[1], argv[2], ad);
    if (keyring_unseal(sc->keys, ad, sizeof(ad), v, n, out) != 0) {
        sqlite3_free(out);
        unseal_failed(ctx, argc, argv, "a sealed value does not open (wrong key, or altered)");
        return;
    }
    out[n - KEYRING_OVERHEAD] = '\0';
    sqlite3_result_text64(ctx, (const char *)out, n - KEYRING_OVERHEAD, sqlite3_free,
                          SQLITE_UTF8);
}

static int register_sealing(struct store_conn *sc)
{
    /* Innocuous: views and triggers use them, and they act only on their arguments. */
    int flags = SQLITE_UTF8 | SQLITE_INNOCUOUS;

    int rc = sqlite3_create_function(sc->db, "pipit_seal", 3, flags, sc, sql_seal, NULL, NULL);

    for (int args = 3; args <= 4 && rc == SQLITE_OK; args++) {
        rc = sqlite3_create_function(sc->db, "pipit_unseal", args, flags | SQLITE_DETERMINISTIC,
                                     sc, sql_unseal, NULL, NULL);
    }
    return rc == SQLITE_OK ? 0 : PIPIT_ESTORE;
}

/* The first row's integer of sql on sc->db into *out (0 without a row). */
static int query_int(struct store_conn *sc, const char *sql, int64_t *out)
{
    sqlite3_stmt *s;
    int rc;

    if (sqlite3_prepare_v2(sc->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return PIPIT_ESTORE;
    }
    *out = 0;
    rc = store__one_int(s, out);
    sqlite3_finalize(s);
    return rc == PIPIT_ENOT_FOUND ? 0 : rc;
}

int store_sealed(struct store_conn *sc, bool *sealed)
{
    int64_t table = 0, row = 0;
    /* A database from before migration 0015 (an old backup's) has no such table. */
    int rc = query_int(sc, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                       "name = 'encryption'", &table);

    if (rc == 0 && table > 0) {
        rc = query_int(sc, "SELECT count(*) FROM encryption", &row);
    }
    if (rc == 0) {
        *sealed = row > 0;
    }
    return rc;
}

int store_sealed_at(const char *data_dir, bool *sealed, char *err, size_t errlen)
{
    struct store_conn *sc = NULL;
    char path[4096];
    int rc;

    snprintf(path, sizeof(path), "%s/" DB_FILE, data_dir);
    if (access(path, F_OK) != 0) {
        *sealed = false;
        return 0;
    }
    rc = store_backup_open(path, &sc, err, errlen);
    if (rc == 0 && store_sealed(sc, sealed) != 0) {
        snprintf(err, errlen, "%s: %s", path, store_errmsg(sc));
        rc = PIPIT_ESTORE;
    }
    store_close(&sc);
    return rc;
}

int store_check_sealed(struct store_conn *sc)
{
    int64_t opened;

    return query_int(sc, "SELECT pipit_unseal(body, conv_id, seq) IS NOT NULL FROM events "
                     "WHERE typeof(body) = 'blob' ORDER BY id DESC LIMIT 1", &opened);
}

int store_vacuum(struct store_conn *sc)
{
    return sqlite3_exec(sc->db, "VACUUM", NULL, NULL, NULL) == SQLITE_OK ? 0 : PIPIT_ESTORE;
}

/* Seals table's plain values of column, rows after *from up to `step` ids on, in
 * one transaction; moves *from on. */
static int seal_range(struct store_conn *sc, sqlite3_stmt *s, int64_t *from, int64_t *rows)
{
    const int64_t step = 1000;
    int rc;

    if (store_begin(sc) != 0) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, *from);
    sqlite3_bind_int64(s, 2, *from + step);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE || store_commit(sc) != 0) {
        store_rollback(sc);
        return PIPIT_ESTORE;
    }
    *rows += sqlite3_changes(sc->db);
    *from += step;
    return 0;
}

int store_seal_plain(struct store_conn *sc, int64_t now_ms, int64_t *rows)
{
    /* The value's column, and its place for the associated data (BODY, NOTIFICATION). */
    static const char *const sealings[][3] = {
        { "events", "body", "conv_id, seq" },
        { "held_versions", "body", "conv_id, -seq" },
        { "pushes", "notification", "0, 0" },
        { "pushes", "variants", "0, 1" },
        { "users", "mfa_secret", "0, -id" },
        { "webhooks", "secret", "-1, 0" },
        { "webhook_deliveries", "payload", "-1, 1" },
        { "before_send_hooks", "secret", "-1, 2" },
        { "assistants", "api_key", "-1, 3" },
    };
    char sql[512];
    int rc = 0;

    *rows = 0;
    if (sc->keys == NULL) {
        return PIPIT_ESTORE;
    }
    /* What the plain values leave in freed space is zeroed, not merely unlinked. */
    if (sqlite3_exec(sc->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL) != SQLITE_OK) {
        return PIPIT_ESTORE;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(sealings) / sizeof(sealings[0]); i++) {
        const char *table = sealings[i][0], *col = sealings[i][1];
        sqlite3_stmt *s = NULL;
        int64_t from = 0, last = 0;

        /* By rowid: some tables are keyed by their app, not an id. */
        snprintf(sql, sizeof(sql), "SELECT max(rowid) FROM %s", table);
        rc = query_int(sc, sql, &last);
        snprintf(sql, sizeof(sql), "UPDATE %s SET %s = pipit_seal(%s, %s) WHERE rowid > ?1 AND "
                 "rowid <= ?2 AND typeof(%s) = 'text'", table, col, col, sealings[i][2], col);
        if (rc == 0 && sqlite3_prepare_v2(sc->db, sql, -1, &s, NULL) != SQLITE_OK) {
            rc = PIPIT_ESTORE;
        }
        while (rc == 0 && from < last) {
            rc = seal_range(sc, s, &from, rows);
        }
        sqlite3_finalize(s);
    }
    /* The index was made of the words themselves: made again of their hashes. */
    if (rc == 0) {
        rc = store_search_rebuild(sc);
    }
    if (rc == 0) {
        char mark[128];

        snprintf(mark, sizeof(mark), "INSERT INTO encryption (id, sealed_at) VALUES (1, %lld)",
                 (long long)now_ms);
        rc = sqlite3_exec(sc->db, mark, NULL, NULL, NULL) == SQLITE_OK ? 0 : PIPIT_ESTORE;
        sc->sealed = rc == 0;
    }
    sqlite3_exec(sc->db, "PRAGMA secure_delete=FAST", NULL, NULL, NULL);
    return rc;
}

/*
 * Once per process, before SQLite's first use: no allocation statistics.
 * Nothing reads them, and keeping them took a process-wide mutex in every
 * sqlite3_malloc and free (the search index allocates per token).
 */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(const char *data_dir, enum store_mode mode, int synchronous,
               const struct keyring *keys, struct store_conn **out, char *err, size_t errlen)
{
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    static const char *const sync_pragmas[] = {
        "PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL", "PRAGMA synchronous=OFF"
    };
    struct store_conn *sc = xcalloc(1, sizeof(*sc));
    char path[4096];
    int flags = SQLITE_OPEN_NOMUTEX | (mode == STORE_READ_WRITE
                                           ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                           : SQLITE_OPEN_READONLY);
    char *msg = NULL;

    err[0] = '\0';
    pthread_once(&configured, configure_sqlite);
    snprintf(path, sizeof(path), "%s/" DB_FILE, data_dir);
    if (sqlite3_open_v2(path, &sc->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 sc->db != NULL ? sqlite3_errmsg(sc->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(sc->db, 1);
    sqlite3_busy_timeout(sc->db, 5000);
    sc->keys = keys;
    /* Before the migrations: the search index is declared with this tokenizer, and
     * views and triggers read bodies with these functions. */
    if (search_tokenizer_register(sc->db, keys != NULL ? keyring_index_key(keys) : NULL) != 0 ||
        register_sealing(sc) != 0) {
        snprintf(err, errlen, "cannot register the search tokenizer or the sealing functions: "
                 "%s", sqlite3_errmsg(sc->db));
        goto fail;
    }
    if (sqlite3_exec(sc->db, "PRAGMA foreign_keys=ON", NULL, NULL, &msg) != SQLITE_OK) {
        goto fail_msg;
    }
    if (mode == STORE_READ_WRITE) {
        if (sqlite3_exec(sc->db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(sc->db, sync_pragmas[synchronous < 0 || synchronous > 2 ? 0 : synchronous],
                         NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(sc->db, WAL_PRAGMAS, NULL, NULL, &msg) != SQLITE_OK) {
            goto fail_msg;
        }
        if (apply_migrations(sc, err, errlen) != 0) {
            goto fail;
        }
    }
    if (store_sealed(sc, &sc->sealed) != 0) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(sc->db));
        goto fail;
    }
    *out = sc;
    return 0;

fail_msg:
    snprintf(err, errlen, "%s: %s", path, msg != NULL ? msg : "error");
    sqlite3_free(msg);
fail:
    store_close(&sc);
    return PIPIT_ESTORE;
}

void store_close(struct store_conn **scp)
{
    struct store_conn *sc = *scp;

    if (sc == NULL) {
        return;
    }
    for (int i = 0; i < STORE_STMT_SLOTS; i++) {
        sqlite3_finalize(sc->stmts[i]);
    }
    sqlite3_close(sc->db);
    if (sc->last_sealed.text != NULL) {
        sodium_memzero(sc->last_sealed.text, sc->last_sealed.text_len);
    }
    free(sc->last_sealed.text);
    free(sc->last_sealed.sealed);
    free(sc);
    *scp = NULL;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? (const char *)src : "");
}

/* Reads USER_COLS starting at column col. */
static void read_user(sqlite3_stmt *s, int col, struct store_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(s, col);
    u->app_id = sqlite3_column_int64(s, col + 1);
    copy_text(u->username, sizeof(u->username), sqlite3_column_text(s, col + 2));
    copy_text(u->role, sizeof(u->role), sqlite3_column_text(s, col + 3));
    u->has_display_name = sqlite3_column_type(s, col + 4) != SQLITE_NULL;
    copy_text(u->display_name, sizeof(u->display_name), sqlite3_column_text(s, col + 4));
    copy_text(u->password_hash, sizeof(u->password_hash), sqlite3_column_text(s, col + 5));
    u->created_at = sqlite3_column_int64(s, col + 6);
    u->disabled_at = sqlite3_column_int64(s, col + 7);
    u->mfa_enabled_at = sqlite3_column_int64(s, col + 8);
    u->mfa_required = sqlite3_column_int(s, col + 9) != 0;
    u->bot = sqlite3_column_int(s, col + 10) != 0;
}

int store_user_insert(struct store_conn *sc, int64_t app_id, const char *username,
                      const char *password_hash, const char *role, int64_t now_ms,
                      int64_t *id)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, username, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now_ms);
    rc = store__run(sc, s);
    if (rc == 0) {
        *id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

static int fetch_user(struct store_conn *sc, sqlite3_stmt *s, struct store_user *out)
{
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_user(s, 0, out);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_user_by_name(struct store_conn *sc, int64_t app_id, const char *username,
                       struct store_user *out)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_BY_NAME);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, app_id);
        sqlite3_bind_text(s, 2, username, -1, SQLITE_STATIC);
    }
    return fetch_user(sc, s, out);
}

int store_user_by_id(struct store_conn *sc, int64_t id, struct store_user *out)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_BY_ID);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, id);
    }
    return fetch_user(sc, s, out);
}

int store_user_id(struct store_conn *sc, int64_t app_id, int64_t id, const char *username,
                  int64_t *out)
{
    sqlite3_stmt *s = stmt(sc, username != NULL ? ST_USER_ID_BY_NAME : ST_USER_ID_BY_ID);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    if (username != NULL) {
        sqlite3_bind_text(s, 2, username, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(s, 2, id);
    }
    return store__one_int(s, out);
}

int store_user_set_password(struct store_conn *sc, int64_t app_id, const char *username,
                            const char *password_hash)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_SET_PASSWORD);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, app_id);
    sqlite3_bind_text(s, 3, username, -1, SQLITE_STATIC);
    rc = store__run(sc, s);
    if (rc == 0 && sqlite3_changes(sc->db) == 0) {
        return PIPIT_ENOT_FOUND;
    }
    return rc;
}

int store_user_count(struct store_conn *sc, int64_t *count)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_COUNT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : PIPIT_ESTORE;
}

/* Steps a bound USER_COLS select to its end, or until cb returns non-zero. */
static int each_user(sqlite3_stmt *s, int (*cb)(void *arg, const struct store_user *u),
                     void *arg)
{
    struct store_user u;
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_user(s, 0, &u);
        if (cb(arg, &u) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_user_list(struct store_conn *sc, int64_t app_id,
                    int (*cb)(void *arg, const struct store_user *u), void *arg)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_LIST);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return each_user(s, cb, arg);
}

int store_user_search(struct store_conn *sc, const struct store_user_query *q,
                      int (*cb)(void *arg, const struct store_user *u), void *arg)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_SEARCH);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, q->app_id);
    sqlite3_bind_int64(s, 2, q->after);
    store__bind_text(s, 3, q->pattern);
    sqlite3_bind_int(s, 4, q->limit);
    sqlite3_bind_int(s, 5, q->enabled_only);
    sqlite3_bind_int64(s, 6, q->exclude);
    sqlite3_bind_int(s, 7, q->bots_only);
    return each_user(s, cb, arg);
}

int store_user_update(struct store_conn *sc, const struct store_user *u)
{
    sqlite3_stmt *s = stmt(sc, ST_USER_UPDATE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, u->role, -1, SQLITE_STATIC);
    store__bind_text(s, 2, u->has_display_name ? u->display_name : NULL);
    sqlite3_bind_int64(s, 3, u->disabled_at);
    sqlite3_bind_int(s, 4, u->bot);
    sqlite3_bind_int64(s, 5, u->id);
    return store__run_one(sc, s);
}

/* A count(*) of rows of one app. */
static int count_of_app(struct store_conn *sc, enum stmt_id id, int64_t app_id, int64_t *count)
{
    sqlite3_stmt *s = stmt(sc, id);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__one_int(s, count);
}

int store_user_count_app(struct store_conn *sc, int64_t app_id, int64_t *count)
{
    return count_of_app(sc, ST_USER_COUNT_APP, app_id, count);
}

int store_user_count_admins(struct store_conn *sc, int64_t app_id, int64_t *count)
{
    return count_of_app(sc, ST_USER_COUNT_ADMINS, app_id, count);
}

int store_token_insert(struct store_conn *sc, int64_t app_id, int64_t user_id,
                       const uint8_t selector[STORE_SELECTOR_LEN],
                       const uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN],
                       const char *device, const char *ip,
                       int64_t now_ms, int64_t expires_ms, int64_t *id)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    store__bind_text(s, 7, device);
    store__bind_text(s, 8, ip);
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_blob(s, 3, selector, STORE_SELECTOR_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, verifier_hash, STORE_VERIFIER_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now_ms);
    sqlite3_bind_int64(s, 6, expires_ms);
    rc = store__run(sc, s);
    if (rc == 0) {
        *id = sqlite3_last_insert_rowid(sc->db);
    } else if (rc == PIPIT_EUSERNAME_TAKEN) {
        rc = PIPIT_ESTORE; /* a selector collision: 96 random bits, never in practice */
    }
    return rc;
}

int store_token_lookup(struct store_conn *sc, const uint8_t selector[STORE_SELECTOR_LEN],
                       struct store_token *out)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_LOOKUP);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_blob(s, 1, selector, STORE_SELECTOR_LEN, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(s, 3);

        if (h == NULL || sqlite3_column_bytes(s, 3) != STORE_VERIFIER_HASH_LEN) {
            sqlite3_reset(s);
            return PIPIT_ESTORE;
        }
        out->id = sqlite3_column_int64(s, 0);
        out->app_id = sqlite3_column_int64(s, 1);
        out->expires_at = sqlite3_column_int64(s, 2);
        out->last_seen_at = sqlite3_column_int64(s, 4);
        memcpy(out->verifier_hash, h, STORE_VERIFIER_HASH_LEN);
        read_user(s, 5, &out->user);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_token_delete(struct store_conn *sc, int64_t token_id)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_DELETE);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, token_id);
    }
    return store__run(sc, s);
}

int store_token_sweep(struct store_conn *sc, int64_t now_ms, int limit, int *deleted)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_SWEEP);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int(s, 2, limit);
    rc = store__run(sc, s);
    if (rc == 0) {
        *deleted = sqlite3_changes(sc->db);
    }
    return rc;
}

int store_token_touch(struct store_conn *sc, int64_t token_id, int64_t now_ms, const char *ip)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_TOUCH);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, now_ms);
        store__bind_text(s, 2, ip);
        sqlite3_bind_int64(s, 3, token_id);
    }
    return store__run(sc, s);
}

int store_token_list_for_user(struct store_conn *sc, int64_t user_id, int64_t now_ms,
                              int (*cb)(void *arg, const struct store_session *s), void *arg)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_LIST_FOR_USER);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, now_ms);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_session one = { sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                                     sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3),
                                     (const char *)sqlite3_column_text(s, 4),
                                     (const char *)sqlite3_column_text(s, 5) };

        if (cb(arg, &one) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_token_delete_for_user(struct store_conn *sc, int64_t user_id, int64_t token_id)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_DELETE_FOR_USER);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, token_id);
    sqlite3_bind_int64(s, 2, user_id);
    return store__run_one(sc, s);
}

int store_token_delete_all_for_user(struct store_conn *sc, int64_t user_id, int64_t keep_id)
{
    sqlite3_stmt *s = stmt(sc, ST_TOKEN_DELETE_ALL_FOR_USER);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, user_id);
        sqlite3_bind_int64(s, 2, keep_id);
    }
    return store__run(sc, s);
}

/* ---- two-factor authentication ---- */

int store_mfa_get(struct store_conn *sc, int64_t user_id, struct store_mfa *out)
{
    sqlite3_stmt *s = stmt(sc, ST_MFA_GET);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        copy_text(out->secret, sizeof(out->secret), sqlite3_column_text(s, 0));
        out->enabled_at = sqlite3_column_int64(s, 1);
        out->last_step = sqlite3_column_int64(s, 2);
        out->codes_left = sqlite3_column_int64(s, 3);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s); /* a secret that does not open is an error too (pipit_unseal) */
    return rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

/* Runs a bound statement of the user's row: PIPIT_ECONFLICT when it changed nothing. */
static int run_changing(struct store_conn *sc, sqlite3_stmt *s)
{
    int rc = store__run(sc, s);

    return rc == 0 && sqlite3_changes(sc->db) == 0 ? PIPIT_ECONFLICT : rc;
}

int store_mfa_begin(struct store_conn *sc, int64_t user_id, const char *secret)
{
    sqlite3_stmt *s = stmt(sc, ST_MFA_BEGIN);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_text(s, 2, secret, -1, SQLITE_STATIC);
    return run_changing(sc, s);
}

int store_mfa_set_codes(struct store_conn *sc, int64_t user_id,
                        const uint8_t (*hashes)[STORE_RECOVERY_HASH_LEN], int n)
{
    sqlite3_stmt *s = stmt(sc, ST_MFA_CODES_DELETE);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    rc = store__run(sc, s);
    for (int i = 0; rc == 0 && i < n; i++) {
        s = stmt(sc, ST_MFA_CODE_INSERT);
        if (s == NULL) {
            return PIPIT_ESTORE;
        }
        sqlite3_bind_int64(s, 1, user_id);
        sqlite3_bind_blob(s, 2, hashes[i], STORE_RECOVERY_HASH_LEN, SQLITE_STATIC);
        rc = store__run(sc, s);
    }
    return rc;
}

int store_mfa_enable(struct store_conn *sc, int64_t user_id, int64_t now_ms,
                     const uint8_t (*hashes)[STORE_RECOVERY_HASH_LEN], int n)
{
    sqlite3_stmt *s = stmt(sc, ST_MFA_ENABLE);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, now_ms);
    rc = run_changing(sc, s);
    return rc != 0 ? rc : store_mfa_set_codes(sc, user_id, hashes, n);
}

int store_mfa_use_step(struct store_conn *sc, int64_t user_id, int64_t step)
{
    sqlite3_stmt *s = stmt(sc, ST_MFA_USE_STEP);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, step);
    return run_changing(sc, s);
}

int store_mfa_use_code(struct store_conn *sc, int64_t user_id,
                       const uint8_t hash[STORE_RECOVERY_HASH_LEN])
{
    sqlite3_stmt *s = stmt(sc, ST_MFA_CODES);
    int64_t found = 0;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    /* Every code is compared, whether or not one matched already. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(s, 1);

        if (h != NULL && sqlite3_column_bytes(s, 1) == STORE_RECOVERY_HASH_LEN &&
            secret_equal(h, hash, STORE_RECOVERY_HASH_LEN)) {
            found = sqlite3_column_int64(s, 0);
        }
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        return PIPIT_ESTORE;
    }
    if (found == 0) {
        return PIPIT_ENOT_FOUND;
    }
    s = stmt(sc, ST_MFA_CODE_DELETE);
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, found);
    return store__run(sc, s);
}

int store_app_mfa_policy(struct store_conn *sc, int64_t app_id, char out[STORE_MFA_POLICY_MAX])
{
    sqlite3_stmt *s = stmt(sc, ST_APP_MFA_POLICY);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        copy_text(out, STORE_MFA_POLICY_MAX, sqlite3_column_text(s, 0));
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_app_set_mfa_policy(struct store_conn *sc, int64_t app_id, const char *policy)
{
    sqlite3_stmt *s = stmt(sc, ST_APP_SET_MFA_POLICY);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, policy, -1, SQLITE_STATIC);
    return store__run(sc, s);
}

int store_mfa_clear(struct store_conn *sc, int64_t user_id)
{
    sqlite3_stmt *s = stmt(sc, ST_MFA_CLEAR);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    rc = store__run(sc, s);
    return rc != 0 ? rc : store_mfa_set_codes(sc, user_id, NULL, 0);
}

int store_wal_truncate(const char *data_dir, char *err, size_t errlen)
{
    struct store_conn *sc = NULL;
    int rc = store_open(data_dir, STORE_READ_WRITE, 0, NULL, &sc, err, errlen);

    if (rc == 0 && sqlite3_wal_checkpoint_v2(sc->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                             NULL) != SQLITE_OK) {
        snprintf(err, errlen, "checkpoint: %s", sqlite3_errmsg(sc->db));
        rc = PIPIT_ESTORE;
    }
    store_close(&sc);
    return rc;
}
