/*
 * store_push.c: the push service's tables on SQLite (store_push.h).
 */
#include "store/store_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/err.h"
#include "util/mem.h"

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
    PS_TOPIC_SUB,
    PS_TOPIC_UNSUB,
    PS_TOPIC_LIST,
    PS_TAGS_CLEAR,
    PS_TAG_INSERT,
    PS_TAGS_LIST,
    PS_TAG_CHECK,
    PS_PUSH_INSERT,
    PS_PUSH_BY_DEDUP,
    PS_PUSH_RELEASE_DEDUP,
    PS_PUSH_GET,
    PS_PUSH_LIST,
    PS_PUSH_SET_CURSOR,
    PS_PUSH_EXPANDING,
    PS_AUDIENCE_TOPIC,
    PS_AUDIENCE_TAG,
    PS_AUDIENCE_ALL,
    PS_AUDIENCE_CONV,
    PS_DELIVERY_INSERT,
    PS_DELIVERY_COUNTS,
    PS_DELIVERY_TARGETED,
    PS_DELIVERY_EVENT_DEVICE,
    PS_DELIVERY_EVENT_INAPP,
    PS_DELIVERY_DUE,
    PS_DELIVERY_MARK_SENDING,
    PS_DELIVERY_OUTGOING,
    PS_DELIVERY_NEXT_DUE,
    PS_DELIVERY_FINISH,
    PS_DELIVERY_RECOVER,
    PS_DEVICE_FORGET,
    PS_DELIVERY_DELETE,
    PS_SETTINGS_GET,
    PS_SETTINGS_PUT,
    PS_CATEGORY_PUT,
    PS_CATEGORY_DELETE,
    PS_CATEGORY_LIST,
    PS_CATEGORY_URGENT,
    PS_PUSH_RECENT,
    PS_PUSH_FINISH,
    PS_KEY_OF_BOT,
    PS_END
};

_Static_assert(PS_END <= STORE_FILES_FIRST_STMT, "too many statements");

#define KEY_COLS "id, app_id, name, scopes, verifier_hash, created_at, " \
                 "coalesce(last_used_at, 0), coalesce(revoked_at, 0), coalesce(bot_id, 0)"
#define PUSH_COLS "id, app_id, created_at, expires_at, target, " NOTIFICATION("") ", priority, " \
                  "collapse_key, dedup_key, state = 'done', cursor, category, " \
                  "coalesce(send_at, 0), send_at_local, " VARIANTS("") ", holdout"
#define DEVICE_COLS "id, app_id, user_id, platform, address, coalesce(topic, ''), " \
                    "p256dh, auth, created_at, updated_at, sandbox"

/* With ?6 = 1, only a delivery that has not had event ?5 yet is changed. */
#define EVENT_IS_NEW " AND (?6 = 0 OR CASE ?5 WHEN 0 THEN delivered_at WHEN 1 THEN opened_at " \
                     "ELSE clicked_at END IS NULL)"

static const char *const sql[PS_END - STORE_PUSH_FIRST_STMT] = {
#define S(id) [(id) - STORE_PUSH_FIRST_STMT]
    S(PS_KEY_INSERT) = "INSERT INTO api_keys (app_id, name, scopes, selector, verifier_hash, "
                       "created_by, created_at, bot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    S(PS_KEY_LOOKUP) = "SELECT " KEY_COLS " FROM api_keys WHERE selector = ?",
    /* A bot's keys are its own (api/bots.c), not the app's. */
    S(PS_KEY_LIST) = "SELECT " KEY_COLS " FROM api_keys WHERE app_id = ? AND bot_id IS NULL "
                     "ORDER BY id",
    S(PS_KEY_REVOKE) = "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) "
                       "WHERE app_id = ?1 AND (CASE ?4 WHEN 0 THEN id = ?2 AND bot_id IS NULL "
                       "ELSE bot_id = ?4 END)",
    S(PS_KEY_TOUCH) = "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
    S(PS_DEVICE_FIND) = "SELECT id, created_at FROM devices "
                        "WHERE app_id = ? AND platform = ? AND address = ?",
    S(PS_DEVICE_INSERT) = "INSERT INTO devices (app_id, user_id, platform, address, topic, "
                          "p256dh, auth, created_at, updated_at, sandbox) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    S(PS_DEVICE_UPDATE) = "UPDATE devices SET user_id = ?, topic = ?, p256dh = ?, auth = ?, "
                          "updated_at = ?, sandbox = ?7 WHERE id = ?6",
    S(PS_DEVICE_LIST) = "SELECT " DEVICE_COLS " FROM devices WHERE user_id = ? ORDER BY id",
    /* Index order (user_id, updated_at): no sort, no temporary b-tree. */
    S(PS_DEVICE_DELETE) = "DELETE FROM devices WHERE user_id = ? AND id = ?",
    S(PS_DEVICE_TRIM) = "DELETE FROM devices WHERE id IN (SELECT id FROM devices "
                        "WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?)",
    S(PS_TOPIC_SUB) = "INSERT OR IGNORE INTO topic_subscriptions (app_id, topic, user_id) "
                      "VALUES (?, ?, ?)",
    S(PS_TOPIC_UNSUB) = "DELETE FROM topic_subscriptions WHERE app_id = ? AND topic = ? AND "
                        "user_id = ?",
    S(PS_TOPIC_LIST) = "SELECT topic FROM topic_subscriptions WHERE user_id = ? ORDER BY topic",
    S(PS_TAGS_CLEAR) = "DELETE FROM user_tags WHERE user_id = ?",
    S(PS_TAG_INSERT) = "INSERT INTO user_tags (user_id, name, value) VALUES (?, ?, ?)",
    S(PS_TAGS_LIST) = "SELECT name, value FROM user_tags WHERE user_id = ? ORDER BY name",
    S(PS_TAG_CHECK) = "SELECT 1 FROM user_tags WHERE user_id = ? AND name = ? AND value = ?",
    S(PS_PUSH_INSERT) = "INSERT INTO pushes (app_id, created_at, expires_at, target, "
                        "notification, priority, collapse_key, dedup_key, state, category, "
                        "send_at, send_at_local, variants, holdout) "
                        "VALUES (?1, ?2, ?3, ?4, pipit_seal(?5, 0, 0), ?6, ?7, ?8, "
                        "CASE ?14 WHEN 1 THEN 'done' ELSE 'expanding' END, ?9, ?10, ?11, "
                        "pipit_seal(?12, 0, 1), ?13)",
    S(PS_PUSH_BY_DEDUP) = "SELECT id FROM pushes WHERE app_id = ? AND dedup_key = ? AND "
                          "created_at >= ?",
    S(PS_PUSH_RELEASE_DEDUP) = "UPDATE pushes SET dedup_key = NULL WHERE app_id = ? AND "
                               "dedup_key = ?",
    /* For an app (?1), chat messages' notifications are not pushes: they hold message text. */
    S(PS_PUSH_GET) = "SELECT " PUSH_COLS " FROM pushes WHERE id = ?2 AND "
                     "(?1 = 0 OR (app_id = ?1 AND target ->> '$.conv' IS NULL))",
    /* Chat messages' notifications are not the business server's pushes. */
    S(PS_PUSH_LIST) = "SELECT " PUSH_COLS " FROM pushes WHERE app_id = ?1 AND (?2 = 0 OR id < ?2) "
                      "AND target ->> '$.conv' IS NULL "
                      "ORDER BY id DESC LIMIT ?3",
    S(PS_PUSH_SET_CURSOR) = "UPDATE pushes SET cursor = ?, state = ? WHERE id = ?",
    S(PS_PUSH_EXPANDING) = "SELECT id FROM pushes WHERE state = 'expanding' ORDER BY id",
    S(PS_AUDIENCE_TOPIC) = "SELECT user_id FROM topic_subscriptions WHERE app_id = ?1 AND "
                           "topic = ?2 AND user_id > ?4 ORDER BY user_id LIMIT ?5",
    S(PS_AUDIENCE_TAG) = "SELECT t.user_id FROM user_tags t JOIN users u ON u.id = t.user_id "
                         "WHERE u.app_id = ?1 AND t.name = ?2 AND t.value = ?3 AND "
                         "t.user_id > ?4 ORDER BY t.user_id LIMIT ?5",
    S(PS_AUDIENCE_ALL) = "SELECT id FROM users WHERE app_id = ?1 AND id > ?4 ORDER BY id LIMIT ?5",
    /* ?2: the conversation id, as text (compared with integer affinity, so indexed). */
    S(PS_AUDIENCE_CONV) = "SELECT user_id FROM members WHERE conv_id = ?2 AND left_seq IS NULL "
                          "AND user_id > ?4 AND ?1 = ?1 ORDER BY user_id LIMIT ?5",
    /*
     * A queued row is due at ?7, or now (?9); a sent one (in-app) was sent now;
     * a sending one is handed straight to the dispatcher: its first attempt.
     */
    S(PS_DELIVERY_INSERT) = "INSERT INTO deliveries (push_id, user_id, device_id, channel, state, "
                            "reason, next_at, variant, sent_at, attempts) VALUES (?1, ?2, ?3, ?4, "
                            "?5, ?6, CASE ?5 WHEN 'queued' THEN coalesce(?7, ?9) END, ?8, "
                            "CASE ?5 WHEN 'sent' THEN ?9 END, ?5 = 'sending')",
    S(PS_DELIVERY_COUNTS) = "SELECT channel, state, coalesce(reason, ''), count(*), "
                            "count(delivered_at), count(opened_at), count(clicked_at), "
                            "coalesce(variant, -1) FROM deliveries WHERE push_id = ? "
                            "GROUP BY 1, 2, 3, 8",
    S(PS_DELIVERY_TARGETED) = "SELECT count(DISTINCT user_id) FROM deliveries WHERE push_id = ?",
    /* ?5: 0 delivered, 1 opened, 2 clicked; each implies the ones before it. */
    S(PS_DELIVERY_EVENT_DEVICE) =
        "UPDATE deliveries SET delivered_at = coalesce(delivered_at, ?4), "
        "opened_at = CASE WHEN ?5 >= 1 THEN coalesce(opened_at, ?4) ELSE opened_at END, "
        "clicked_at = CASE WHEN ?5 >= 2 THEN coalesce(clicked_at, ?4) ELSE clicked_at END "
        "WHERE push_id = ?1 AND user_id = ?2 AND device_id = ?3" EVENT_IS_NEW,
    S(PS_DELIVERY_EVENT_INAPP) =
        "UPDATE deliveries SET delivered_at = coalesce(delivered_at, ?4), "
        "opened_at = CASE WHEN ?5 >= 1 THEN coalesce(opened_at, ?4) ELSE opened_at END, "
        "clicked_at = CASE WHEN ?5 >= 2 THEN coalesce(clicked_at, ?4) ELSE clicked_at END "
        "WHERE push_id = ?1 AND user_id = ?2 AND device_id IS NULL AND channel = 'inapp' "
        "AND ?3 = 0" EVENT_IS_NEW,
    S(PS_DELIVERY_DUE) = "SELECT id, channel = 'pending', push_id, user_id FROM deliveries "
                         "WHERE state = 'queued' AND next_at <= ? ORDER BY next_at LIMIT ?",
    S(PS_DELIVERY_MARK_SENDING) = "UPDATE deliveries SET state = 'sending', "
                                  "attempts = attempts + 1 WHERE id = ?",
    S(PS_DELIVERY_OUTGOING) =
        "SELECT d.id, d.push_id, d.user_id, d.channel, d.attempts, p.app_id, p.expires_at, "
        NOTIFICATION("p.") ", p.priority, p.collapse_key, v.id, v.platform, v.address, "
        "coalesce(v.topic, ''), v.p256dh, v.auth, v.updated_at, "
        VARIANTS("p.") " -> d.variant ->> '$.notification', v.sandbox "
        "FROM deliveries d JOIN pushes p ON p.id = d.push_id "
        "LEFT JOIN devices v ON v.id = d.device_id AND v.user_id = d.user_id WHERE d.id = ?",
    S(PS_DELIVERY_NEXT_DUE) = "SELECT min(next_at) FROM deliveries WHERE state = 'queued'",
    S(PS_DELIVERY_FINISH) = "UPDATE deliveries SET state = ?2, reason = ?3, next_at = ?4, "
                            "sent_at = coalesce(?5, sent_at) WHERE id = ?1 AND state = 'sending'",
    /* At start-up, through the partial index deliveries_open (queued or sending). */
    S(PS_DELIVERY_RECOVER) = "UPDATE deliveries SET state = 'queued', next_at = 0 "
                             "WHERE state = 'sending'",
    S(PS_DEVICE_FORGET) = "DELETE FROM devices WHERE id = ? AND updated_at = ?",
    S(PS_DELIVERY_DELETE) = "DELETE FROM deliveries WHERE id = ?",
    S(PS_SETTINGS_GET) = "SELECT settings FROM notification_settings WHERE user_id = ?",
    S(PS_SETTINGS_PUT) = "INSERT INTO notification_settings (user_id, settings, updated_at) "
                         "VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO UPDATE SET "
                         "settings = ?2, updated_at = ?3",
    S(PS_CATEGORY_PUT) = "INSERT INTO push_categories (app_id, name, urgent) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT (app_id, name) DO UPDATE SET urgent = ?3",
    S(PS_CATEGORY_DELETE) = "DELETE FROM push_categories WHERE app_id = ? AND name = ?",
    S(PS_CATEGORY_LIST) = "SELECT name, urgent FROM push_categories WHERE app_id = ? ORDER BY name",
    S(PS_CATEGORY_URGENT) = "SELECT urgent FROM push_categories WHERE app_id = ? AND name = ?",
    /*
     * Pushes of a category that went to the user (sent, or due and on their way)
     * between ?3 and ?5, this one aside. A push reaches a user at most 31 days
     * after it was made (30 days of scheduling, a day of quiet hours).
     */
    S(PS_PUSH_RECENT) =
        "SELECT count(DISTINCT d.push_id) FROM deliveries d JOIN pushes p ON p.id = d.push_id "
        "WHERE d.user_id = ?1 AND p.category = ?2 AND d.push_id <> ?4 "
        "AND d.state NOT IN ('suppressed', 'failed', 'expired') AND d.channel <> 'pending' "
        "AND coalesce(d.sent_at, d.next_at) BETWEEN ?3 AND ?5 "
        "AND d.push_id >= coalesce((SELECT id FROM pushes WHERE created_at >= ?3 - 2678400000 "
        "ORDER BY created_at LIMIT 1), 0)",

    S(PS_KEY_OF_BOT) = "SELECT count(*) > 0 FROM api_keys WHERE bot_id = ?1",
    /* The subquery is the partial index deliveries_open (migration 0018). */
    S(PS_PUSH_FINISH) = "UPDATE pushes SET finished_at = ?2 WHERE id = ?1 AND state = 'done' "
                        "AND finished_at IS NULL AND json_extract(target, '$.conv') IS NULL "
                        "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE push_id = ?1 "
                        "AND (state = 'queued' OR state = 'sending'))",
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
    k->bot_id = sqlite3_column_int64(s, 8);
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
    if (k->bot_id != 0) {
        sqlite3_bind_int64(s, 8, k->bot_id);
    }
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

int store_api_key_revoke(struct store_conn *sc, int64_t app_id, int64_t id, int64_t bot_id,
                         int64_t now)
{
    sqlite3_stmt *s = pstmt(sc, PS_KEY_REVOKE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int64(s, 4, bot_id);
    return store__run_one(sc, s);
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
        store__bind_text(s, 2, d->topic[0] != '\0' ? d->topic : NULL);
        bind_device_keys(s, 3, d);
        sqlite3_bind_int64(s, 5, d->updated_at);
        sqlite3_bind_int64(s, 6, d->id);
        sqlite3_bind_int(s, 7, d->sandbox);
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
    store__bind_text(s, 5, d->topic[0] != '\0' ? d->topic : NULL);
    bind_device_keys(s, 6, d);
    sqlite3_bind_int64(s, 8, d->created_at);
    sqlite3_bind_int64(s, 9, d->updated_at);
    sqlite3_bind_int(s, 10, d->sandbox);
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
    struct store_device *dev = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    /*
     * Read to the end before calling back: a callback may insert (expansion),
     * and a write while this statement is still open would need a statement
     * journal. A user has few devices (device_max).
     */
    sqlite3_bind_int64(s, 1, user_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_device *d;

        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            dev = xrealloc(dev, cap * sizeof(*dev));
        }
        d = &dev[n++];
        d->id = sqlite3_column_int64(s, 0);
        d->app_id = sqlite3_column_int64(s, 1);
        d->user_id = sqlite3_column_int64(s, 2);
        snprintf(d->platform, sizeof(d->platform), "%s", (const char *)sqlite3_column_text(s, 3));
        snprintf(d->address, sizeof(d->address), "%s", (const char *)sqlite3_column_text(s, 4));
        snprintf(d->topic, sizeof(d->topic), "%s", (const char *)sqlite3_column_text(s, 5));
        d->has_keys = sqlite3_column_type(s, 6) == SQLITE_BLOB;
        copy_blob(d->p256dh, sizeof(d->p256dh), s, 6);
        copy_blob(d->auth, sizeof(d->auth), s, 7);
        d->created_at = sqlite3_column_int64(s, 8);
        d->updated_at = sqlite3_column_int64(s, 9);
        d->sandbox = sqlite3_column_int(s, 10) != 0;
    }
    sqlite3_reset(s);
    rc = rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = cb(arg, &dev[i]);
    }
    free(dev);
    return rc;
}

int store_device_delete(struct store_conn *sc, int64_t user_id, int64_t id)
{
    sqlite3_stmt *s = pstmt(sc, PS_DEVICE_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, id);
    return store__run_one(sc, s);
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

/* ---- topics and tags ---- */

static int topic_change(struct store_conn *sc, enum push_stmt id, int64_t app_id,
                        const char *topic, int64_t user_id)
{
    sqlite3_stmt *s = pstmt(sc, id);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, user_id);
    return store__run(sc, s);
}

int store_topic_subscribe(struct store_conn *sc, int64_t app_id, const char *topic,
                          int64_t user_id)
{
    return topic_change(sc, PS_TOPIC_SUB, app_id, topic, user_id);
}

int store_topic_unsubscribe(struct store_conn *sc, int64_t app_id, const char *topic,
                            int64_t user_id)
{
    return topic_change(sc, PS_TOPIC_UNSUB, app_id, topic, user_id);
}

/* Steps s (bound) calling cb with its text columns 0 and 1 per row. */
static int each_text_row(sqlite3_stmt *s, int (*cb)(void *arg, const char *a, const char *b),
                         void *arg)
{
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb(arg, (const char *)sqlite3_column_text(s, 0),
               (const char *)sqlite3_column_text(s, 1)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

struct one_text {
    int (*cb)(void *arg, const char *a);
    void *arg;
};

static int first_text(void *arg, const char *a, const char *b)
{
    struct one_text *t = arg;

    return t->cb(t->arg, a);
}

int store_topic_list(struct store_conn *sc, int64_t user_id,
                     int (*cb)(void *arg, const char *topic), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_TOPIC_LIST);
    struct one_text t = { cb, arg };

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    return each_text_row(s, first_text, &t);
}

int store_tags_replace(struct store_conn *sc, int64_t user_id, const char *const *names,
                       const char *const *values, size_t n)
{
    sqlite3_stmt *s = pstmt(sc, PS_TAGS_CLEAR);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    rc = store__run(sc, s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        s = pstmt(sc, PS_TAG_INSERT);
        if (s == NULL) {
            return PIPIT_ESTORE;
        }
        sqlite3_bind_int64(s, 1, user_id);
        sqlite3_bind_text(s, 2, names[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, values[i], -1, SQLITE_STATIC);
        rc = store__run(sc, s);
    }
    return rc;
}

int store_tags_list(struct store_conn *sc, int64_t user_id,
                    int (*cb)(void *arg, const char *name, const char *value), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_TAGS_LIST);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    return each_text_row(s, cb, arg);
}

int store_tag_check(struct store_conn *sc, int64_t user_id, const char *name, const char *value)
{
    sqlite3_stmt *s = pstmt(sc, PS_TAG_CHECK);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, value, -1, SQLITE_STATIC);
    return store__one_int(s, NULL);
}

/* ---- pushes ---- */

void store_push_cleanup(struct store_push *p)
{
    PIPIT_FREE(p->target);
    PIPIT_FREE(p->notification);
    PIPIT_FREE(p->collapse_key);
    PIPIT_FREE(p->dedup_key);
    PIPIT_FREE(p->category);
    PIPIT_FREE(p->send_at_local);
    PIPIT_FREE(p->variants);
}


static void read_push(sqlite3_stmt *s, struct store_push *p)
{
    p->id = sqlite3_column_int64(s, 0);
    p->app_id = sqlite3_column_int64(s, 1);
    p->created_at = sqlite3_column_int64(s, 2);
    p->expires_at = sqlite3_column_int64(s, 3);
    p->target = store__dup_text(s, 4);
    p->notification = store__dup_text(s, 5);
    snprintf(p->priority, sizeof(p->priority), "%s", (const char *)sqlite3_column_text(s, 6));
    p->collapse_key = store__dup_text(s, 7);
    p->dedup_key = store__dup_text(s, 8);
    p->done = sqlite3_column_int(s, 9) != 0;
    p->cursor = sqlite3_column_int64(s, 10);
    p->category = store__dup_text(s, 11);
    p->send_at = sqlite3_column_int64(s, 12);
    p->send_at_local = store__dup_text(s, 13);
    p->variants = store__dup_text(s, 14);
    p->holdout = sqlite3_column_int(s, 15);
}


int store_push_insert(struct store_conn *sc, struct store_push *p)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, p->app_id);
    sqlite3_bind_int64(s, 2, p->created_at);
    sqlite3_bind_int64(s, 3, p->expires_at);
    sqlite3_bind_text(s, 4, p->target, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, p->notification, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, p->priority, -1, SQLITE_STATIC);
    store__bind_text(s, 7, p->collapse_key);
    store__bind_text(s, 8, p->dedup_key);
    store__bind_text(s, 9, p->category);
    if (p->send_at != 0) {
        sqlite3_bind_int64(s, 10, p->send_at);
    }
    store__bind_text(s, 11, p->send_at_local);
    store__bind_text(s, 12, p->variants);
    sqlite3_bind_int(s, 13, p->holdout);
    sqlite3_bind_int(s, 14, p->done);
    rc = store__run(sc, s);
    if (rc == 0) {
        p->id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

int store_push_by_dedup(struct store_conn *sc, int64_t app_id, const char *dedup_key,
                        int64_t since, int64_t *id)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_BY_DEDUP);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, dedup_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, since);
    return store__one_int(s, id);
}

int store_push_release_dedup(struct store_conn *sc, int64_t app_id, const char *dedup_key)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_RELEASE_DEDUP);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, dedup_key, -1, SQLITE_STATIC);
    return store__run(sc, s);
}

int store_push_get(struct store_conn *sc, int64_t app_id, int64_t id, struct store_push *out)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_GET);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_push(s, out);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_push_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                    int (*cb)(void *arg, const struct store_push *p), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_LIST);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, before);
    sqlite3_bind_int(s, 3, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_push p;
        int stop;

        read_push(s, &p);
        stop = cb(arg, &p);
        store_push_cleanup(&p);
        if (stop != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_push_set_cursor(struct store_conn *sc, int64_t id, int64_t cursor, bool done)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_SET_CURSOR);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, cursor);
    sqlite3_bind_text(s, 2, done ? "done" : "expanding", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, id);
    return store__run(sc, s);
}

int store_push_expanding(struct store_conn *sc, int (*cb)(void *arg, int64_t id), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_EXPANDING);

    return s != NULL ? store__each_int(s, cb, arg) : PIPIT_ESTORE;
}

int store_push_audience(struct store_conn *sc, enum store_audience kind, int64_t app_id,
                        const char *a, const char *b, int64_t after, int limit,
                        int (*cb)(void *arg, int64_t user_id), void *arg)
{
    static const enum push_stmt stmts[] = {
        [STORE_AUDIENCE_TOPIC] = PS_AUDIENCE_TOPIC,
        [STORE_AUDIENCE_TAG] = PS_AUDIENCE_TAG,
        [STORE_AUDIENCE_ALL] = PS_AUDIENCE_ALL,
        [STORE_AUDIENCE_CONV] = PS_AUDIENCE_CONV,
    };
    sqlite3_stmt *s = pstmt(sc, stmts[kind]);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    if (kind != STORE_AUDIENCE_ALL) {
        sqlite3_bind_text(s, 2, a, -1, SQLITE_STATIC);
    }
    if (kind == STORE_AUDIENCE_TAG) {
        sqlite3_bind_text(s, 3, b, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 4, after);
    sqlite3_bind_int(s, 5, limit);
    return store__each_int(s, cb, arg);
}

int store_delivery_insert(struct store_conn *sc, const struct store_delivery *d, int64_t *id)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, d->push_id);
    sqlite3_bind_int64(s, 2, d->user_id);
    if (d->device_id != 0) {
        sqlite3_bind_int64(s, 3, d->device_id);
    }
    sqlite3_bind_text(s, 4, d->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, d->state, -1, SQLITE_STATIC);
    store__bind_text(s, 6, d->reason);
    if (d->next_at != 0) {
        sqlite3_bind_int64(s, 7, d->next_at);
    }
    if (d->variant >= 0) {
        sqlite3_bind_int(s, 8, d->variant);
    }
    sqlite3_bind_int64(s, 9, d->now);
    rc = store__run(sc, s);
    if (rc == 0 && id != NULL) {
        *id = sqlite3_last_insert_rowid(sc->db);
    }
    return rc;
}

int store_delivery_counts(struct store_conn *sc, int64_t push_id,
                          int (*cb)(void *arg, const struct store_delivery_count *r), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_COUNTS);
    struct store_delivery_count r;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, push_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        r.channel = (const char *)sqlite3_column_text(s, 0);
        r.state = (const char *)sqlite3_column_text(s, 1);
        r.reason = (const char *)sqlite3_column_text(s, 2);
        r.n = sqlite3_column_int64(s, 3);
        r.delivered = sqlite3_column_int64(s, 4);
        r.opened = sqlite3_column_int64(s, 5);
        r.clicked = sqlite3_column_int64(s, 6);
        r.variant = sqlite3_column_int(s, 7);
        if (cb(arg, &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_delivery_targeted(struct store_conn *sc, int64_t push_id, int64_t *users)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_TARGETED);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, push_id);
    return store__one_int(s, users);
}

int store_api_key_any_of_bot(struct store_conn *sc, int64_t bot_id, bool *any)
{
    sqlite3_stmt *s = pstmt(sc, PS_KEY_OF_BOT);
    int64_t n = 0;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, bot_id);
    rc = store__one_int(s, &n);
    *any = n != 0;
    return rc;
}

int store_push_finish(struct store_conn *sc, int64_t push_id, int64_t now, bool *finished)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_FINISH);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, push_id);
    sqlite3_bind_int64(s, 2, now);
    rc = store__run(sc, s);
    *finished = rc == 0 && sqlite3_changes(sc->db) == 1;
    return rc;
}

int store_delivery_event(struct store_conn *sc, int64_t push_id, int64_t user_id,
                         int64_t device_id, enum store_push_event ev, int64_t now, bool *first)
{
    sqlite3_stmt *s = pstmt(sc, device_id != 0 ? PS_DELIVERY_EVENT_DEVICE
                                               : PS_DELIVERY_EVENT_INAPP);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    /* First as new only, then (no change: a repeat, or no such delivery) as any. */
    for (int only_new = 1; only_new >= 0; only_new--) {
        sqlite3_bind_int64(s, 1, push_id);
        sqlite3_bind_int64(s, 2, user_id);
        sqlite3_bind_int64(s, 3, device_id);
        sqlite3_bind_int64(s, 4, now);
        sqlite3_bind_int(s, 5, (int)ev);
        sqlite3_bind_int(s, 6, only_new);
        rc = store__run(sc, s);
        if (rc != 0 || sqlite3_changes(sc->db) > 0) {
            *first = rc == 0 && only_new;
            return rc;
        }
    }
    return PIPIT_ENOT_FOUND;
}

/* ---- sending ---- */

static void read_outgoing(sqlite3_stmt *s, struct store_outgoing *o)
{
    memset(o, 0, sizeof(*o));
    o->id = sqlite3_column_int64(s, 0);
    o->push_id = sqlite3_column_int64(s, 1);
    o->user_id = sqlite3_column_int64(s, 2);
    snprintf(o->channel, sizeof(o->channel), "%s", (const char *)sqlite3_column_text(s, 3));
    o->attempts = sqlite3_column_int(s, 4);
    o->app_id = sqlite3_column_int64(s, 5);
    o->expires_at = sqlite3_column_int64(s, 6);
    o->notification = store__dup_text(s, 7);
    snprintf(o->priority, sizeof(o->priority), "%s", (const char *)sqlite3_column_text(s, 8));
    o->collapse_key = store__dup_text(s, 9);
    o->device.id = sqlite3_column_int64(s, 10); /* 0: the device is gone */
    if (o->device.id != 0) {
        o->device.app_id = o->app_id;
        o->device.user_id = o->user_id;
        snprintf(o->device.platform, sizeof(o->device.platform), "%s",
                 (const char *)sqlite3_column_text(s, 11));
        snprintf(o->device.address, sizeof(o->device.address), "%s",
                 (const char *)sqlite3_column_text(s, 12));
        snprintf(o->device.topic, sizeof(o->device.topic), "%s",
                 (const char *)sqlite3_column_text(s, 13));
        o->device.has_keys = sqlite3_column_type(s, 14) == SQLITE_BLOB;
        copy_blob(o->device.p256dh, sizeof(o->device.p256dh), s, 14);
        copy_blob(o->device.auth, sizeof(o->device.auth), s, 15);
        o->device.updated_at = sqlite3_column_int64(s, 16);
        o->device.sandbox = sqlite3_column_int(s, 18) != 0;
    }
    o->variant_notification = store__dup_text(s, 17);
}

void store_outgoing_cleanup(struct store_outgoing *o)
{
    PIPIT_FREE(o->notification);
    PIPIT_FREE(o->collapse_key);
    PIPIT_FREE(o->variant_notification);
}

/* One delivery with what its request needs (owned strings); PIPIT_ENOT_FOUND if none. */
static int delivery_outgoing(struct store_conn *sc, int64_t id, struct store_outgoing *o)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_OUTGOING);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_outgoing(s, o);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

struct due {
    int64_t id;
    bool pending;
    int64_t push_id;
    int64_t user_id;
};

int store_delivery_claim(struct store_conn *sc, int64_t now, int max,
                         int (*cb)(void *arg, struct store_outgoing *o),
                         int (*pending)(void *arg, int64_t id, int64_t push_id, int64_t user_id),
                         void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_DUE);
    struct due *due = xcalloc((size_t)max, sizeof(*due));
    struct store_outgoing o;
    int n = 0, rc;

    if (s == NULL) {
        free(due);
        return PIPIT_ESTORE;
    }
    /* Collected first: the rows leave the index being scanned as they are marked. */
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, max);
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        due[n].id = sqlite3_column_int64(s, 0);
        due[n].pending = sqlite3_column_int(s, 1) != 0;
        due[n].push_id = sqlite3_column_int64(s, 2);
        due[n].user_id = sqlite3_column_int64(s, 3);
        n++;
    }
    sqlite3_reset(s);
    rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (due[i].pending) {
            rc = pending(arg, due[i].id, due[i].push_id, due[i].user_id);
            continue;
        }
        s = pstmt(sc, PS_DELIVERY_MARK_SENDING);
        if (s == NULL) {
            rc = PIPIT_ESTORE;
            break;
        }
        sqlite3_bind_int64(s, 1, due[i].id);
        rc = store__run(sc, s);
        if (rc == 0) {
            rc = delivery_outgoing(sc, due[i].id, &o);
        }
        if (rc != 0) {
            rc = PIPIT_ESTORE; /* it was just marked: it exists */
            break;
        }
        rc = cb(arg, &o); /* the callback owns o's strings */
    }
    free(due);
    return rc;
}

int store_delivery_next_due(struct store_conn *sc, int64_t *next_at)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_NEXT_DUE);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    rc = sqlite3_step(s);
    *next_at = rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL
                   ? sqlite3_column_int64(s, 0)
                   : -1;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : PIPIT_ESTORE;
}

int store_delivery_finish(struct store_conn *sc, int64_t id, const char *state,
                          const char *reason, int64_t next_at, int64_t sent_at)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_FINISH);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
    store__bind_text(s, 3, reason);
    if (strcmp(state, "queued") == 0) {
        sqlite3_bind_int64(s, 4, next_at);
    }
    if (sent_at != 0) {
        sqlite3_bind_int64(s, 5, sent_at);
    }
    return store__run(sc, s);
}

int store_delivery_recover(struct store_conn *sc, int64_t *count)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_RECOVER);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    rc = store__run(sc, s);
    *count = rc == 0 ? sqlite3_changes(sc->db) : 0;
    return rc;
}

int store_device_forget(struct store_conn *sc, int64_t id, int64_t updated_at)
{
    sqlite3_stmt *s = pstmt(sc, PS_DEVICE_FORGET);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, updated_at);
    return store__run(sc, s);
}

int store_delivery_delete(struct store_conn *sc, int64_t id)
{
    sqlite3_stmt *s = pstmt(sc, PS_DELIVERY_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, id);
    return store__run(sc, s);
}

/* ---- the user's wishes ---- */

int store_settings_get(struct store_conn *sc, int64_t user_id, char **json)
{
    sqlite3_stmt *s = pstmt(sc, PS_SETTINGS_GET);
    int rc;

    *json = NULL;
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *json = store__dup_text(s, 0);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_settings_put(struct store_conn *sc, int64_t user_id, const char *json, int64_t now)
{
    sqlite3_stmt *s = pstmt(sc, PS_SETTINGS_PUT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_text(s, 2, json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    return store__run(sc, s);
}

int store_category_put(struct store_conn *sc, int64_t app_id, const char *name, bool urgent)
{
    sqlite3_stmt *s = pstmt(sc, PS_CATEGORY_PUT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, urgent);
    return store__run(sc, s);
}

int store_category_delete(struct store_conn *sc, int64_t app_id, const char *name)
{
    sqlite3_stmt *s = pstmt(sc, PS_CATEGORY_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    return store__run(sc, s);
}

int store_category_list(struct store_conn *sc, int64_t app_id,
                        int (*cb)(void *arg, const char *name, bool urgent), void *arg)
{
    sqlite3_stmt *s = pstmt(sc, PS_CATEGORY_LIST);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1) != 0) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_category_urgent(struct store_conn *sc, int64_t app_id, const char *name, bool *urgent)
{
    sqlite3_stmt *s = pstmt(sc, PS_CATEGORY_URGENT);
    int64_t v = 0;
    int rc;

    *urgent = false;
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    rc = store__one_int(s, &v);
    *urgent = rc == 0 && v != 0;
    return rc == PIPIT_ENOT_FOUND ? 0 : rc;
}

int store_push_recent(struct store_conn *sc, int64_t user_id, const char *category, int64_t since,
                      int64_t now, int64_t except_push, int64_t *n)
{
    sqlite3_stmt *s = pstmt(sc, PS_PUSH_RECENT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_text(s, 2, category, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, since);
    sqlite3_bind_int64(s, 4, except_push);
    sqlite3_bind_int64(s, 5, now);
    return store__one_int(s, n);
}
