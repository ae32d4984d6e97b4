/*
 * store_retention.c: the SQLite side of store_retention.h.
 */
#include "store/store_retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/err.h"
#include "util/mem.h"

enum retention_stmt {
    RS_APP_GET = STORE_RETENTION_FIRST_STMT,
    RS_APP_SET,
    RS_CONV_GET,
    RS_CONV_SET,
    RS_HOLD_INSERT,
    RS_HOLD_GET,
    RS_HOLD_LIST,
    RS_HOLD_LIFT,
    RS_HOLD_RESET,
    RS_CONV_HOLDS,
    RS_CONVS,
    RS_OLDEST,
    RS_DELETE_POINTING,
    RS_DELETE_EVENT,
    RS_SAVE_EXPIRED,
    RS_SHARES,
    RS_UNSHARE,
    RS_USER_HELD,
    RS_ERASE_EVENTS,
    RS_ERASE_HELD_VERSIONS,
    RS_OWNED_BLOBS,
    RS_DELETE_OWNED,
    RS_BLOB_UNUSED,
    RS_ERASE_ACCOUNT,
    RS_DELETE_TOKENS,
    RS_DELETE_RECOVERY_CODES,
    RS_DELETE_DEVICES,
    RS_DELETE_TOPICS,
    RS_DELETE_TAGS,
    RS_DELETE_SETTINGS,
    RS_DELETE_DELIVERIES,
    RS_DELETE_CHAT_DELIVERIES,
    RS_DELETE_CHAT_PUSHES,
    RS_END
};

_Static_assert(RS_END <= STORE_EXPORT_FIRST_STMT, "too many statements");

/* Whether user id `who` is under an active hold (an SQL expression). */
#define SENDER_HELD(who)                                                              \
    "EXISTS (SELECT 1 FROM legal_holds h WHERE h.user_id = " who " AND h.lifted_at IS NULL)"
#define HOLD_COLS "id, app_id, coalesce(user_id, 0), coalesce(conv_id, 0), reason, " \
                  "created_at, created_by, coalesce(lifted_at, 0), coalesce(lifted_by, '')"

static const char *const sql[] = {
#define S(id) [(id) - STORE_RETENTION_FIRST_STMT]
    S(RS_APP_GET) = "SELECT coalesce(message_retention_days, 0), coalesce(file_retention_days, 0) "
                    "FROM apps WHERE id = ?",
    S(RS_APP_SET) = "UPDATE apps SET message_retention_days = nullif(?2, 0), "
                    "file_retention_days = nullif(?3, 0) WHERE id = ?1",
    S(RS_CONV_GET) = "SELECT coalesce(message_retention_days, 0), "
                     "coalesce(file_retention_days, 0) FROM conversations WHERE id = ?",
    S(RS_CONV_SET) = "UPDATE conversations SET message_retention_days = nullif(?2, 0), "
                     "file_retention_days = nullif(?3, 0) WHERE id = ?1",
    S(RS_HOLD_INSERT) = "INSERT INTO legal_holds (app_id, user_id, conv_id, reason, created_at, "
                        "created_by) VALUES (?, nullif(?, 0), nullif(?, 0), ?, ?, ?)",
    S(RS_HOLD_GET) = "SELECT " HOLD_COLS " FROM legal_holds WHERE app_id = ? AND id = ?",
    S(RS_HOLD_LIST) = "SELECT " HOLD_COLS " FROM legal_holds WHERE app_id = ?1 "
                      "AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
    S(RS_HOLD_LIFT) = "UPDATE legal_holds SET lifted_at = ?2, lifted_by = ?3 "
                      "WHERE id = ?1 AND lifted_at IS NULL",
    /* What a hold kept, the sweep passed by: it looks again from the start. */
    S(RS_HOLD_RESET) = "UPDATE conversations SET expired_seq = 0 WHERE app_id = "
                       "(SELECT app_id FROM legal_holds WHERE id = ?) AND expired_seq > 0",
    S(RS_CONV_HOLDS) = "SELECT EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL "
                       "AND (h.conv_id = ?1 OR h.user_id IN "
                       "(SELECT DISTINCT sender FROM events WHERE conv_id = ?1)))",
    S(RS_CONVS) = "SELECT c.id, coalesce(c.message_retention_days, a.message_retention_days, 0), "
                  "coalesce(c.file_retention_days, a.file_retention_days, 0), c.expired_seq, "
                  "EXISTS (SELECT 1 FROM legal_holds h WHERE h.conv_id = c.id "
                  "AND h.lifted_at IS NULL) "
                  "FROM conversations c JOIN apps a ON a.id = c.app_id "
                  "WHERE c.id > ?1 AND c.deleted_at IS NULL AND "
                  "coalesce(c.message_retention_days, a.message_retention_days, "
                  "c.file_retention_days, a.file_retention_days) IS NOT NULL "
                  "ORDER BY c.id LIMIT ?2",
    S(RS_OLDEST) = "SELECT e.id, e.seq, e.ts, " SENDER_HELD("e.sender") " FROM events e "
                   "WHERE e.conv_id = ?1 AND e.seq > ?2 ORDER BY e.seq LIMIT ?3",
    S(RS_DELETE_POINTING) = "DELETE FROM events WHERE conv_id = ?1 AND target = ?2 AND NOT "
                            SENDER_HELD("events.sender"),
    S(RS_DELETE_EVENT) = "DELETE FROM events WHERE id = ?",
    S(RS_SAVE_EXPIRED) = "UPDATE conversations SET expired_seq = ?2 WHERE id = ?1",
    S(RS_SHARES) = "SELECT s.file_id, s.event_id FROM file_shares s JOIN events e "
                   "ON e.id = s.event_id WHERE s.conv_id = ?1 AND e.ts < ?2 AND NOT "
                   SENDER_HELD("e.sender") " LIMIT ?3",
    S(RS_UNSHARE) = "DELETE FROM file_shares WHERE file_id = ? AND event_id = ?",
    /* The user, or a conversation they wrote in, is under an active hold. */
    S(RS_USER_HELD) = "SELECT EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL "
                      "AND (h.user_id = ?1 OR h.conv_id IN "
                      "(SELECT DISTINCT conv_id FROM events WHERE sender = ?1)))",
    /* A tombstone: the seq stays, so everyone's history keeps its shape. */
    S(RS_ERASE_EVENTS) = "UPDATE events SET body = NULL, meta = '{\"erased\":true}', "
                         "cmid = NULL, edited_at = NULL "
                         "WHERE sender = ?1 AND kind IN ('message', 'edit')",
    S(RS_ERASE_HELD_VERSIONS) = "DELETE FROM held_versions WHERE sender = ?1",
    S(RS_OWNED_BLOBS) = "SELECT DISTINCT sha256 FROM files WHERE owner = ?1",
    S(RS_DELETE_OWNED) = "DELETE FROM files WHERE owner = ?1",
    S(RS_BLOB_UNUSED) = "DELETE FROM blobs WHERE sha256 = ?1 AND NOT EXISTS "
                        "(SELECT 1 FROM files WHERE sha256 = ?1)",
    S(RS_ERASE_ACCOUNT) = "UPDATE users SET username = 'erased-' || id, password_hash = '', "
                          "display_name = NULL, disabled_at = coalesce(disabled_at, ?2), "
                          "erased_at = ?2, mfa_secret = NULL, mfa_enabled_at = NULL "
                          "WHERE id = ?1",
    S(RS_DELETE_TOKENS) = "DELETE FROM tokens WHERE user_id = ?1",
    S(RS_DELETE_RECOVERY_CODES) = "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
    S(RS_DELETE_DEVICES) = "DELETE FROM devices WHERE user_id = ?1",
    S(RS_DELETE_TOPICS) = "DELETE FROM topic_subscriptions WHERE user_id = ?1",
    S(RS_DELETE_TAGS) = "DELETE FROM user_tags WHERE user_id = ?1",
    S(RS_DELETE_SETTINGS) = "DELETE FROM notification_settings WHERE user_id = ?1",
    S(RS_DELETE_DELIVERIES) = "DELETE FROM deliveries WHERE user_id = ?1",
    /* Chat notifications of their messages carry a preview: name and text. */
    S(RS_DELETE_CHAT_DELIVERIES) = "DELETE FROM deliveries WHERE push_id IN (SELECT id FROM "
                                   "pushes WHERE category = 'chat' AND "
                                   "json_extract(target, '$.from') = ?1)",
    S(RS_DELETE_CHAT_PUSHES) = "DELETE FROM pushes WHERE category = 'chat' AND "
                               "json_extract(target, '$.from') = ?1",
#undef S
};

static sqlite3_stmt *rstmt(struct store_conn *sc, enum retention_stmt id)
{
    return store__stmt(sc, id, sql[id - STORE_RETENTION_FIRST_STMT]);
}

/* ---- settings ---- */

static int get_retention(struct store_conn *sc, enum retention_stmt id, int64_t key,
                         struct store_retention *out)
{
    sqlite3_stmt *s = rstmt(sc, id);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->message_days = sqlite3_column_int64(s, 0);
        out->file_days = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

static int set_retention(struct store_conn *sc, enum retention_stmt id, int64_t key,
                         const struct store_retention *r)
{
    sqlite3_stmt *s = rstmt(sc, id);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, key);
    sqlite3_bind_int64(s, 2, r->message_days);
    sqlite3_bind_int64(s, 3, r->file_days);
    return store__run(sc, s);
}

int store_app_retention(struct store_conn *sc, int64_t app_id, struct store_retention *out)
{
    return get_retention(sc, RS_APP_GET, app_id, out);
}

int store_app_set_retention(struct store_conn *sc, int64_t app_id,
                            const struct store_retention *r)
{
    return set_retention(sc, RS_APP_SET, app_id, r);
}

int store_conv_retention(struct store_conn *sc, int64_t conv_id, struct store_retention *out)
{
    return get_retention(sc, RS_CONV_GET, conv_id, out);
}

int store_conv_set_retention(struct store_conn *sc, int64_t conv_id,
                             const struct store_retention *r)
{
    return set_retention(sc, RS_CONV_SET, conv_id, r);
}

/* ---- holds ---- */

int store_hold_insert(struct store_conn *sc, struct store_hold *h)
{
    sqlite3_stmt *s = rstmt(sc, RS_HOLD_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, h->app_id);
    sqlite3_bind_int64(s, 2, h->user_id);
    sqlite3_bind_int64(s, 3, h->conv_id);
    store__bind_text(s, 4, h->reason);
    sqlite3_bind_int64(s, 5, h->created_at);
    store__bind_text(s, 6, h->created_by);
    rc = store__run(sc, s);
    if (rc == PIPIT_EUSERNAME_TAKEN) {
        return PIPIT_ECONFLICT; /* the partial unique index: one active hold per target */
    }
    if (rc == 0) {
        h->id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

static void read_hold(sqlite3_stmt *s, struct store_hold *h)
{
    h->id = sqlite3_column_int64(s, 0);
    h->app_id = sqlite3_column_int64(s, 1);
    h->user_id = sqlite3_column_int64(s, 2);
    h->conv_id = sqlite3_column_int64(s, 3);
    h->reason = (const char *)sqlite3_column_text(s, 4);
    h->created_at = sqlite3_column_int64(s, 5);
    store__copy_text(h->created_by, sizeof(h->created_by), s, 6);
    h->lifted_at = sqlite3_column_int64(s, 7);
    store__copy_text(h->lifted_by, sizeof(h->lifted_by), s, 8);
}

int store_hold_get(struct store_conn *sc, int64_t app_id, int64_t id, struct store_hold *out,
                   char *reason, size_t cap)
{
    sqlite3_stmt *s = rstmt(sc, RS_HOLD_GET);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_hold(s, out);
        snprintf(reason, cap, "%s", out->reason != NULL ? out->reason : "");
        out->reason = reason; /* the statement's text ends with the reset */
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_hold_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                    int (*cb)(void *arg, const struct store_hold *h), void *arg)
{
    sqlite3_stmt *s = rstmt(sc, RS_HOLD_LIST);
    struct store_hold h;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, before);
    sqlite3_bind_int(s, 3, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_hold(s, &h);
        if (cb(arg, &h) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_hold_lift(struct store_conn *sc, int64_t id, int64_t now, const char *actor)
{
    sqlite3_stmt *s = rstmt(sc, RS_HOLD_LIFT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    store__bind_text(s, 3, actor);
    rc = store__run(sc, s);
    if (rc == 0 && sqlite3_changes(sc->db) == 0) {
        rc = PIPIT_ECONFLICT; /* lifted already */
    }
    if (rc == 0) {
        s = rstmt(sc, RS_HOLD_RESET);
        if (s == NULL) {
            return PIPIT_ESTORE;
        }
        sqlite3_bind_int64(s, 1, id);
        rc = store__run(sc, s);
    }
    return rc;
}

/* A yes-or-no question about one id. */
static int ask(struct store_conn *sc, enum retention_stmt id, int64_t key, bool *yes)
{
    sqlite3_stmt *s = rstmt(sc, id);
    int64_t v = 0;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, key);
    rc = store__one_int(s, &v);
    *yes = v != 0;
    return rc;
}

int store_conv_holds_anything(struct store_conn *sc, int64_t conv_id, bool *held)
{
    return ask(sc, RS_CONV_HOLDS, conv_id, held);
}

/* ---- the sweep ---- */

int store_retention_convs(struct store_conn *sc, int64_t after, int limit,
                          int (*cb)(void *arg, const struct store_retention_conv *c),
                          void *arg)
{
    sqlite3_stmt *s = rstmt(sc, RS_CONVS);
    struct store_retention_conv *all = NULL;
    size_t n = 0;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int(s, 2, limit);
    /* All rows first: the callbacks delete. */
    all = xcalloc((size_t)limit > 0 ? (size_t)limit : 1, sizeof(*all));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < (size_t)limit) {
        all[n].id = sqlite3_column_int64(s, 0);
        all[n].keep.message_days = sqlite3_column_int64(s, 1);
        all[n].keep.file_days = sqlite3_column_int64(s, 2);
        all[n].expired_seq = sqlite3_column_int64(s, 3);
        all[n].held = sqlite3_column_int(s, 4) != 0;
        n++;
    }
    sqlite3_reset(s);
    rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : PIPIT_ESTORE;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = cb(arg, &all[i]);
    }
    free(all);
    return rc > 0 ? 0 : rc; /* a callback stops the walk with a positive value */
}

/* Runs a prepared two-integer statement. */
static int run2(struct store_conn *sc, enum retention_stmt id, int64_t a, int64_t b)
{
    sqlite3_stmt *s = rstmt(sc, id);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    return store__run(sc, s);
}

int store_retention_expire(struct store_conn *sc, int64_t conv_id, int64_t expired_seq,
                           int64_t before, int max, int *deleted)
{
    sqlite3_stmt *s = rstmt(sc, RS_OLDEST);
    int64_t *ids, *seqs, last = expired_seq;
    int n = 0, rc;

    *deleted = 0;
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    ids = xcalloc((size_t)max, sizeof(*ids));
    seqs = xcalloc((size_t)max, sizeof(*seqs));
    sqlite3_bind_int64(s, 1, conv_id);
    sqlite3_bind_int64(s, 2, expired_seq);
    sqlite3_bind_int(s, 3, max);
    /* Events are in ts order within a conversation: the first one kept ends the walk. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && sqlite3_column_int64(s, 2) < before) {
        last = sqlite3_column_int64(s, 1);
        if (sqlite3_column_int(s, 3) == 0) { /* a held sender's stays */
            ids[n] = sqlite3_column_int64(s, 0);
            seqs[n++] = last;
        }
    }
    sqlite3_reset(s);
    rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : PIPIT_ESTORE;
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = run2(sc, RS_DELETE_POINTING, conv_id, seqs[i]);
        if (rc == 0) {
            rc = run2(sc, RS_DELETE_EVENT, ids[i], 0);
        }
    }
    if (rc == 0 && last != expired_seq) {
        rc = run2(sc, RS_SAVE_EXPIRED, conv_id, last);
    }
    if (rc == 0) {
        *deleted = n;
    }
    free(ids);
    free(seqs);
    return rc;
}

int store_retention_unshare(struct store_conn *sc, int64_t conv_id, int64_t before, int max,
                            int *removed)
{
    sqlite3_stmt *s = rstmt(sc, RS_SHARES);
    int64_t *pairs;
    int n = 0, rc;

    *removed = 0;
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    pairs = xcalloc(2 * (size_t)max, sizeof(*pairs));
    sqlite3_bind_int64(s, 1, conv_id);
    sqlite3_bind_int64(s, 2, before);
    sqlite3_bind_int(s, 3, max);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pairs[2 * n] = sqlite3_column_int64(s, 0);
        pairs[2 * n + 1] = sqlite3_column_int64(s, 1);
        n++;
    }
    sqlite3_reset(s);
    rc = rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = run2(sc, RS_UNSHARE, pairs[2 * i], pairs[2 * i + 1]);
    }
    if (rc == 0) {
        *removed = n;
    }
    free(pairs);
    return rc;
}

/* ---- erasure ---- */

int store_user_held(struct store_conn *sc, int64_t user_id, bool *held)
{
    return ask(sc, RS_USER_HELD, user_id, held);
}

/* Runs a one-parameter statement; the rows it changed into *changed (when not NULL). */
static int run_user(struct store_conn *sc, enum retention_stmt id, int64_t user_id,
                    int64_t *changed)
{
    int rc = run2(sc, id, user_id, 0);

    if (rc == 0 && changed != NULL) {
        *changed = sqlite3_changes(sc->db);
    }
    return rc;
}

/* The user's uploads go, and the bytes of each blob no other upload has (cb, after COMMIT). */
static int erase_files(struct store_conn *sc, int64_t user_id, struct store_erasure *out,
                       int (*gone)(void *arg, const char *sha256), void *arg)
{
    sqlite3_stmt *s = rstmt(sc, RS_OWNED_BLOBS);
    char (*shas)[65] = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            shas = xrealloc(shas, cap * sizeof(*shas));
        }
        store__copy_text(shas[n++], sizeof(shas[0]), s, 0);
    }
    sqlite3_reset(s);
    rc = rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
    if (rc == 0) {
        rc = run_user(sc, RS_DELETE_OWNED, user_id, &out->files);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *b = rstmt(sc, RS_BLOB_UNUSED);

        if (b == NULL) {
            rc = PIPIT_ESTORE;
            break;
        }
        sqlite3_bind_text(b, 1, shas[i], -1, SQLITE_STATIC);
        rc = store__run(sc, b);
        if (rc == 0 && sqlite3_changes(sc->db) > 0) {
            rc = gone(arg, shas[i]);
        }
    }
    free(shas);
    return rc;
}

int store_user_erase(struct store_conn *sc, int64_t user_id, int64_t now,
                     struct store_erasure *out, int (*gone)(void *arg, const char *sha256),
                     void *arg)
{
    static const enum retention_stmt personal[] = {
        RS_DELETE_TOKENS, RS_DELETE_RECOVERY_CODES, RS_DELETE_DEVICES, RS_DELETE_TOPICS,
        RS_DELETE_TAGS,
        RS_DELETE_SETTINGS, RS_DELETE_DELIVERIES, RS_DELETE_CHAT_DELIVERIES,
        RS_DELETE_CHAT_PUSHES, RS_ERASE_HELD_VERSIONS,
    };
    int rc;

    memset(out, 0, sizeof(*out));
    /* Freed space is zeroed, not left for a file scan to find. */
    if (sqlite3_exec(sc->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL) != SQLITE_OK) {
        return PIPIT_ESTORE;
    }
    rc = run_user(sc, RS_ERASE_EVENTS, user_id, &out->messages);
    if (rc == 0) {
        rc = erase_files(sc, user_id, out, gone, arg);
    }
    for (size_t i = 0; rc == 0 && i < sizeof(personal) / sizeof(personal[0]); i++) {
        rc = run_user(sc, personal[i], user_id, NULL);
    }
    if (rc == 0) {
        rc = run2(sc, RS_ERASE_ACCOUNT, user_id, now);
    }
    return rc;
}

int store_secure_delete_end(struct store_conn *sc)
{
    return sqlite3_exec(sc->db, "PRAGMA secure_delete=FAST", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : PIPIT_ESTORE;
}
