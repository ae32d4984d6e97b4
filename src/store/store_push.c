/*
 * store_push.c: API keys and devices on SQLite (store_push.h).
 */
#include "store/store_push.h"

#include <stdio.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/err.h"

enum push_stmt {
    PS_KEY_INSERT = STORE_PUSH_FIRST_STMT,
    PS_KEY_LOOKUP,
    PS_KEY_LIST,
    PS_KEY_REVOKE,
    PS_KEY_TOUCH,
    PS_DEVICE_FIND,
    PS_DEVICE_INSERT,
    PS_DEVICE_UPDATE,
    PS_DEVICE_LIST,
    PS_DEVICE_DELETE,
    PS_DEVICE_TRIM,
    PS_END
};

_Static_assert(PS_END <= STORE_STMT_SLOTS, "too many statements");

#define KEY_COLS "id, app_id, name, scopes, verifier_hash, created_at, " \
                 "coalesce(last_used_at, 0), coalesce(revoked_at, 0)"
#define DEVICE_COLS "id, app_id, user_id, platform, address, coalesce(topic, ''), " \
                    "p256dh, auth, created_at, updated_at"

static const char *const sql[PS_END - STORE_PUSH_FIRST_STMT] = {
#define S(id) [(id) - STORE_PUSH_FIRST_STMT]
    S(PS_KEY_INSERT) = "INSERT INTO api_keys (app_id, name, scopes, selector, verifier_hash, "
                       "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    S(PS_KEY_LOOKUP) = "SELECT " KEY_COLS " FROM api_keys WHERE selector = ?",
    S(PS_KEY_LIST) = "SELECT " KEY_COLS " FROM api_keys WHERE app_id = ? ORDER BY id",
    S(PS_KEY_REVOKE) = "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) "
                       "WHERE app_id = ?1 AND id = ?2",
    S(PS_KEY_TOUCH) = "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
    S(PS_DEVICE_FIND) = "SELECT id, created_at FROM devices "
                        "WHERE app_id = ? AND platform = ? AND address = ?",
    S(PS_DEVICE_INSERT) = "INSERT INTO devices (app_id, user_id, platform, address, topic, "
                          "p256dh, auth, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    S(PS_DEVICE_UPDATE) = "UPDATE devices SET user_id = ?, topic = ?, p256dh = ?, auth = ?, "
                          "updated_at = ? WHERE id = ?",
    S(PS_DEVICE_LIST) = "SELECT " DEVICE_COLS " FROM devices WHERE user_id = ? ORDER BY id",
    S(PS_DEVICE_DELETE) = "DELETE FROM devices WHERE user_id = ? AND id = ?",
    S(PS_DEVICE_TRIM) = "DELETE FROM devices WHERE id IN (SELECT id FROM devices "
                        "WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?)",
#undef S
};

static sqlite3_stmt *pstmt(struct store_conn *sc, enum push_stmt id)
{
    return store__stmt(sc, id, sql[id - STORE_PUSH_FIRST_STMT]);
}

static void copy_blob(uint8_t *dst, size_t len, sqlite3_stmt *s, int col)
{
    memset(dst, 0, len);
    if (sqlite3_column_bytes(s, col) == (int)len) {
        memcpy(dst, sqlite3_column_blob(s, col), len);
    }
}

static void read_key(sqlite3_stmt *s, struct store_api_key *k)
{
    k->id = sqlite3_column_int64(s, 0);
    k->app_id = sqlite3_column_int64(s, 1);
    snprintf(k->name, sizeof(k->name), "%s", (const char *)sqlite3_column_text(s, 2));
    k->scopes = (unsigned)sqlite3_column_int(s, 3);
    copy_blob(k->verifier_hash, sizeof(k->verifier_hash), s, 4);
    k->created_at = sqlite3_column_int64(s, 5);
    k->last_used_at = sqlite3_column_int64(s, 6);
    k->revoked_at = sqlite3_column_int64(s, 7);
}

int store_api_key_insert(struct store_conn *sc, struct store_api_key *k,
                         const uint8_t selector[STORE_SELECTOR_LEN], int64_t created_by)
{
    sqlite3_stmt *s = pstmt(sc, PS_KEY_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, k->app_id);
    sqlite3_bind_text(s, 2, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)k->scopes);
    sqlite3_bind_blob(s, 4, selector, STORE_SELECTOR_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, k->verifier_hash, STORE_VERIFIER_HASH_LEN, SQLITE_STATIC);
    if (created_by != 0) {
        sqlite3_bind_int64(s, 6, created_by);
    }
    sqlite3_bind_int64(s, 7, k->created_at);
    rc = store__run(sc, s);
    if (rc == 0) {
        k->id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

int store_api_key_lookup(struct store_conn *sc, const uint8_t selector[STORE_SELECTOR_LEN],
                         struct store_api_key *out)
{
    sqlite3_stmt *s = pstmt(sc, PS_KEY_LOOKUP);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_blob(s, 1, selector, STORE_SELECTOR_LEN, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_key(s, out);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_api_key_list(struct store_conn *sc, int64_t app_id,
                       int (*cb)(void *arg, const struct store_api_key *k), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_KEY_LIST);
    struct store_api_key k;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_key(s, &k);
        if (cb(arg, &k) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

/* Runs a one-row UPDATE or DELETE: PIPIT_ENOT_FOUND when it matched nothing. */
static int change_one(struct store_conn *sc, sqlite3_stmt *s)
{
    int rc = store__run(sc, s);

    return rc == 0 && sqlite3_changes(sc->db) == 0 ? PIPIT_ENOT_FOUND : rc;
}

int store_api_key_revoke(struct store_conn *sc, int64_t app_id, int64_t id, int64_t now)
{
    sqlite3_stmt *s = pstmt(sc, PS_KEY_REVOKE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_int64(s, 3, now);
    return change_one(sc, s);
}

int store_api_key_touch(struct store_conn *sc, int64_t id, int64_t now)
{
    sqlite3_stmt *s = pstmt(sc, PS_KEY_TOUCH);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, id);
    return store__run(sc, s);
}

static void bind_device_keys(sqlite3_stmt *s, int col, const struct store_device *d)
{
    if (d->has_keys) {
        sqlite3_bind_blob(s, col, d->p256dh, STORE_P256DH_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(s, col + 1, d->auth, STORE_AUTH_LEN, SQLITE_STATIC);
    }
}

static void bind_text_or_null(sqlite3_stmt *s, int col, const char *v)
{
    if (v[0] != '\0') {
        sqlite3_bind_text(s, col, v, -1, SQLITE_STATIC);
    }
}

int store_device_upsert(struct store_conn *sc, struct store_device *d, bool *created)
{
    sqlite3_stmt *s = pstmt(sc, PS_DEVICE_FIND);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, d->app_id);
    sqlite3_bind_text(s, 2, d->platform, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, d->address, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    *created = rc == SQLITE_DONE;
    if (rc == SQLITE_ROW) {
        d->id = sqlite3_column_int64(s, 0);
        d->created_at = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return PIPIT_ESTORE;
    }
    if (!*created) {
        s = pstmt(sc, PS_DEVICE_UPDATE);
        if (s == NULL) {
            return PIPIT_ESTORE;
        }
        sqlite3_bind_int64(s, 1, d->user_id);
        bind_text_or_null(s, 2, d->topic);
        bind_device_keys(s, 3, d);
        sqlite3_bind_int64(s, 5, d->updated_at);
        sqlite3_bind_int64(s, 6, d->id);
        return store__run(sc, s);
    }
    s = pstmt(sc, PS_DEVICE_INSERT);
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    d->created_at = d->updated_at;
    sqlite3_bind_int64(s, 1, d->app_id);
    sqlite3_bind_int64(s, 2, d->user_id);
    sqlite3_bind_text(s, 3, d->platform, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, d->address, -1, SQLITE_STATIC);
    bind_text_or_null(s, 5, d->topic);
    bind_device_keys(s, 6, d);
    sqlite3_bind_int64(s, 8, d->created_at);
    sqlite3_bind_int64(s, 9, d->updated_at);
    rc = store__run(sc, s);
    if (rc == 0) {
        d->id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

int store_device_list(struct store_conn *sc, int64_t user_id,
                      int (*cb)(void *arg, const struct store_device *d), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_DEVICE_LIST);
    struct store_device d;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        d.id = sqlite3_column_int64(s, 0);
        d.app_id = sqlite3_column_int64(s, 1);
        d.user_id = sqlite3_column_int64(s, 2);
        snprintf(d.platform, sizeof(d.platform), "%s", (const char *)sqlite3_column_text(s, 3));
        snprintf(d.address, sizeof(d.address), "%s", (const char *)sqlite3_column_text(s, 4));
        snprintf(d.topic, sizeof(d.topic), "%s", (const char *)sqlite3_column_text(s, 5));
        d.has_keys = sqlite3_column_type(s, 6) == SQLITE_BLOB;
        copy_blob(d.p256dh, sizeof(d.p256dh), s, 6);
        copy_blob(d.auth, sizeof(d.auth), s, 7);
        d.created_at = sqlite3_column_int64(s, 8);
        d.updated_at = sqlite3_column_int64(s, 9);
        if (cb(arg, &d) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_device_delete(struct store_conn *sc, int64_t user_id, int64_t id)
{
    sqlite3_stmt *s = pstmt(sc, PS_DEVICE_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, id);
    return change_one(sc, s);
}

int store_device_trim(struct store_conn *sc, int64_t user_id, int keep)
{
    sqlite3_stmt *s = pstmt(sc, PS_DEVICE_TRIM);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int(s, 2, keep);
    return store__run(sc, s);
}
