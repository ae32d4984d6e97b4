/*
 * store_audit.c: the SQLite side of store_audit.h.
 */
#include "store/store_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/err.h"

enum audit_stmt {
    AS_LAST = STORE_AUDIT_FIRST_STMT,
    AS_INSERT,
    AS_USER_NAME,
    AS_KEY_NAME,
    AS_EACH,
    AS_PAGE,
    AS_CHECKPOINT_INSERT,
    AS_CHECKPOINT_LAST,
    AS_CHECKPOINT_EACH,
    AS_HIGH_WATER,
    AS_END
};

_Static_assert(AS_END <= STORE_AUDIT_FIRST_STMT + 24, "too many statements");
_Static_assert(AS_END <= STORE_STMT_SLOTS, "too many statements");

#define RECORD_COLS "id, ts, app_id, actor, actor_name, ip, action, target, outcome, detail, " \
                    "prev_hash, hash"

static const char *const sql[] = {
#define S(id) [(id) - STORE_AUDIT_FIRST_STMT]
    S(AS_LAST) = "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
    S(AS_INSERT) = "INSERT INTO audit_log (" RECORD_COLS ") "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    S(AS_USER_NAME) = "SELECT username FROM users WHERE id = ?",
    S(AS_KEY_NAME) = "SELECT name FROM api_keys WHERE id = ?",
    S(AS_EACH) = "SELECT " RECORD_COLS " FROM audit_log WHERE id > ? ORDER BY id",
    /* An empty filter is NULL, and `?N IS NULL` lets one statement serve them all. */
    S(AS_PAGE) = "SELECT " RECORD_COLS " FROM audit_log WHERE app_id = ?1 "
                 "AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR action = ?3) "
                 "AND (?4 IS NULL OR ts >= ?4) AND (?5 IS NULL OR ts <= ?5) "
                 "AND (?6 IS NULL OR id < ?6) ORDER BY id DESC LIMIT ?7",
    S(AS_CHECKPOINT_INSERT) = "INSERT INTO audit_checkpoints "
                              "(ts, record_id, hash, public_key, signature) VALUES (?, ?, ?, ?, ?)",
    S(AS_CHECKPOINT_LAST) = "SELECT record_id FROM audit_checkpoints ORDER BY id DESC LIMIT 1",
    S(AS_CHECKPOINT_EACH) = "SELECT id, ts, record_id, hash, public_key, signature "
                            "FROM audit_checkpoints ORDER BY id",
    S(AS_HIGH_WATER) = "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'",
#undef S
};

static sqlite3_stmt *astmt(struct store_conn *sc, enum audit_stmt id)
{
    return store__stmt(sc, id, sql[id - STORE_AUDIT_FIRST_STMT]);
}

/* A fixed-size blob column; a damaged one (wrong length) reads as what fits, zero-padded. */
static void read_fixed(sqlite3_stmt *s, int col, uint8_t *out, size_t len)
{
    const void *p = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);

    memset(out, 0, len);
    if (p != NULL) {
        memcpy(out, p, n < len ? n : len);
    }
}

static const char *text_or_null(sqlite3_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(s, col);
}

int store_audit_last(struct store_conn *sc, int64_t *id, uint8_t hash[STORE_AUDIT_HASH_LEN])
{
    sqlite3_stmt *s = astmt(sc, AS_LAST);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        read_fixed(s, 1, hash, STORE_AUDIT_HASH_LEN);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_audit_insert(struct store_conn *sc, const struct store_audit_record *r)
{
    sqlite3_stmt *s = astmt(sc, AS_INSERT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int64(s, 2, r->ts);
    sqlite3_bind_int64(s, 3, r->app_id);
    store__bind_text(s, 4, r->actor);
    store__bind_text(s, 5, r->actor_name);
    store__bind_text(s, 6, r->ip);
    store__bind_text(s, 7, r->action);
    store__bind_text(s, 8, r->target);
    store__bind_text(s, 9, r->outcome);
    store__bind_text(s, 10, r->detail);
    sqlite3_bind_blob(s, 11, r->prev_hash, STORE_AUDIT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 12, r->hash, STORE_AUDIT_HASH_LEN, SQLITE_STATIC);
    return store__run(sc, s);
}

void store_audit_actor_name(struct store_conn *sc, const char *actor, char *out, size_t cap)
{
    bool user = strncmp(actor, "user:", 5) == 0;
    sqlite3_stmt *s = NULL;

    out[0] = '\0';
    if (user || strncmp(actor, "key:", 4) == 0) {
        s = astmt(sc, user ? AS_USER_NAME : AS_KEY_NAME);
    }
    if (s == NULL) {
        return;
    }
    sqlite3_bind_int64(s, 1, strtoll(actor + (user ? 5 : 4), NULL, 10));
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_reset(s);
}

static void read_record(sqlite3_stmt *s, struct store_audit_record *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->ts = sqlite3_column_int64(s, 1);
    r->app_id = sqlite3_column_int64(s, 2);
    r->actor = text_or_null(s, 3);
    r->actor_name = text_or_null(s, 4);
    r->ip = text_or_null(s, 5);
    r->action = text_or_null(s, 6);
    r->target = text_or_null(s, 7);
    r->outcome = text_or_null(s, 8);
    r->detail = text_or_null(s, 9);
    read_fixed(s, 10, r->prev_hash, STORE_AUDIT_HASH_LEN);
    read_fixed(s, 11, r->hash, STORE_AUDIT_HASH_LEN);
}

/* Steps a record query, handing each row to cb until it returns non-zero. */
static int each_record(sqlite3_stmt *s, int (*cb)(void *arg, const struct store_audit_record *r),
                       void *arg)
{
    struct store_audit_record r;
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_record(s, &r);
        if (cb(arg, &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_audit_each(struct store_conn *sc, int64_t after,
                     int (*cb)(void *arg, const struct store_audit_record *r), void *arg)
{
    sqlite3_stmt *s = astmt(sc, AS_EACH);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, after);
    return each_record(s, cb, arg);
}

static void bind_int_or_null(sqlite3_stmt *s, int col, int64_t v)
{
    if (v != 0) {
        sqlite3_bind_int64(s, col, v);
    } else {
        sqlite3_bind_null(s, col);
    }
}

int store_audit_page(struct store_conn *sc, const struct store_audit_query *q,
                     int (*cb)(void *arg, const struct store_audit_record *r), void *arg)
{
    sqlite3_stmt *s = astmt(sc, AS_PAGE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, q->app_id);
    store__bind_text(s, 2, q->actor);
    store__bind_text(s, 3, q->action);
    bind_int_or_null(s, 4, q->from);
    bind_int_or_null(s, 5, q->to);
    bind_int_or_null(s, 6, q->before);
    sqlite3_bind_int(s, 7, q->limit);
    return each_record(s, cb, arg);
}

int store_audit_checkpoint_insert(struct store_conn *sc, const struct store_audit_checkpoint *c)
{
    sqlite3_stmt *s = astmt(sc, AS_CHECKPOINT_INSERT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, c->ts);
    sqlite3_bind_int64(s, 2, c->record_id);
    sqlite3_bind_blob(s, 3, c->hash, STORE_AUDIT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, c->public_key, STORE_AUDIT_KEY_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, c->signature, STORE_AUDIT_SIG_LEN, SQLITE_STATIC);
    return store__run(sc, s);
}

int store_audit_last_checkpoint(struct store_conn *sc, int64_t *record_id)
{
    sqlite3_stmt *s = astmt(sc, AS_CHECKPOINT_LAST);
    int rc = s != NULL ? store__one_int(s, record_id) : PIPIT_ESTORE;

    if (rc == PIPIT_ENOT_FOUND) {
        *record_id = 0;
        rc = 0;
    }
    return rc;
}

int store_audit_checkpoint_each(struct store_conn *sc,
                                int (*cb)(void *arg, const struct store_audit_checkpoint *c),
                                void *arg)
{
    sqlite3_stmt *s = astmt(sc, AS_CHECKPOINT_EACH);
    struct store_audit_checkpoint c;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        c.id = sqlite3_column_int64(s, 0);
        c.ts = sqlite3_column_int64(s, 1);
        c.record_id = sqlite3_column_int64(s, 2);
        read_fixed(s, 3, c.hash, sizeof(c.hash));
        read_fixed(s, 4, c.public_key, sizeof(c.public_key));
        read_fixed(s, 5, c.signature, sizeof(c.signature));
        if (cb(arg, &c) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_audit_high_water(struct store_conn *sc, int64_t *id)
{
    sqlite3_stmt *s = astmt(sc, AS_HIGH_WATER);
    int rc = s != NULL ? store__one_int(s, id) : PIPIT_ESTORE;

    if (rc == PIPIT_ENOT_FOUND) {
        *id = 0;
        rc = 0;
    }
    return rc;
}
