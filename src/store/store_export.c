/*
 * store_export.c: the SQLite side of store_export.h.
 *
 * Each row set is one statement that returns one column: the row as a JSON
 * object, built by SQLite's json_object(), so what an export holds is read in
 * one place, column by column. JSON text columns (bodies, meta, settings,
 * details) are embedded as JSON when valid, else as a string. Statements are
 * chosen to walk an index or the table in rowid order, so no sort (and no
 * memory growing with the rows) is needed; a user's messages and held
 * versions are found by a scan of events and held_versions, which have no
 * index by sender.
 */
#include "store/store_export.h"

#include <stdio.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/err.h"

enum export_stmt {
    XS_BEGIN = STORE_EXPORT_FIRST_STMT,
    XS_END,
    XS_FILES_USER,
    XS_FILES_CONV,
    XS_ROWS,                    /* then one per enum store_export_rows */
    XS_LAST = XS_ROWS + STORE_EXPORT_ROWS_COUNT
};

_Static_assert(XS_LAST <= STORE_HOOKS_FIRST_STMT, "too many statements");

/* A JSON text column as JSON, or as a string when it does not parse. */
#define JSON_TEXT(col) "CASE WHEN json_valid(" col ") THEN json(" col ") ELSE " col " END"
#define JSON_BOOL(col) "json(CASE WHEN " col " THEN 'true' ELSE 'false' END)"

#define EVENT_JSON                                                                          \
    "json_object('id', e.id, 'conv', e.conv_id, 'seq', e.seq, 'kind', e.kind, "            \
    "'sender', e.sender, 'sender_name', (SELECT username FROM users WHERE id = e.sender), " \
    "'ts', e.ts, 'cmid', e.cmid, 'target', e.target, 'body', " JSON_TEXT(BODY("e")) ", "  \
    "'meta', " JSON_TEXT("e.meta") ", 'edited_at', e.edited_at, "                          \
    "'recalled', " JSON_BOOL("e.recalled") ")"
#define HELD_JSON                                                                           \
    "json_object('id', id, 'event', event_id, 'conv', conv_id, 'seq', seq, "               \
    "'sender', sender, 'body', " JSON_TEXT(HELD_BODY("held_versions")) ", 'replaced_at', replaced_at, "        \
    "'change', change)"
#define HOLD_JSON                                                                           \
    "json_object('id', id, 'user', user_id, 'conv', conv_id, 'reason', reason, "           \
    "'created_at', created_at, 'created_by', created_by, 'lifted_at', lifted_at, "         \
    "'lifted_by', lifted_by)"
#define AUDIT_JSON                                                                          \
    "json_object('id', id, 'ts', ts, 'app_id', app_id, 'actor', actor, "                   \
    "'actor_name', actor_name, 'ip', ip, 'action', action, 'target', target, "             \
    "'outcome', outcome, 'detail', " JSON_TEXT("detail") ", 'hash', lower(hex(hash)))"
#define MEMBER_JSON(who)                                                                    \
    "json_object(" who ", 'role', m.role, 'joined_seq', m.joined_seq, "                    \
    "'left_seq', m.left_seq, 'read_seq', m.read_seq, 'delivered_seq', m.delivered_seq, "   \
    "'muted_until', m.muted_until, 'joined_at', m.joined_at)"
#define FILE_COLS                                                                           \
    "SELECT f.id, f.app_id, f.owner, f.created_at, f.name, b.sha256, b.size, b.mime "      \
    "FROM files f JOIN blobs b ON b.sha256 = f.sha256 "

static const char *const rows_sql[STORE_EXPORT_ROWS_COUNT] = {
    [STORE_EXPORT_USER_ACCOUNT] =
        "SELECT json_object('id', id, 'app_id', app_id, 'username', username, "
        "'display_name', display_name, 'role', role, 'created_at', created_at, "
        "'disabled_at', disabled_at, 'erased_at', erased_at) FROM users WHERE id = ?1",
    [STORE_EXPORT_USER_SESSIONS] =
        "SELECT json_object('id', id, 'created_at', created_at, 'expires_at', expires_at) "
        "FROM tokens WHERE user_id = ?1 ORDER BY id",
    [STORE_EXPORT_USER_DEVICES] =
        "SELECT json_object('id', id, 'platform', platform, 'address', address, "
        "'topic', topic, 'sandbox', " JSON_BOOL("sandbox") ", "
        "'has_keys', " JSON_BOOL("p256dh IS NOT NULL") ", 'created_at', created_at, "
        "'updated_at', updated_at) FROM devices WHERE user_id = ?1 ORDER BY id",
    [STORE_EXPORT_USER_TOPICS] =
        "SELECT json_object('topic', topic) FROM topic_subscriptions WHERE user_id = ?1 "
        "ORDER BY topic",
    [STORE_EXPORT_USER_TAGS] =
        "SELECT json_object('name', name, 'value', value) FROM user_tags WHERE user_id = ?1 "
        "ORDER BY name",
    [STORE_EXPORT_USER_SETTINGS] =
        "SELECT json_object('settings', " JSON_TEXT("settings") ", 'updated_at', updated_at) "
        "FROM notification_settings WHERE user_id = ?1",
    [STORE_EXPORT_USER_MEMBERSHIPS] =
        "SELECT " MEMBER_JSON("'conv', m.conv_id, 'type', c.type, 'title', c.title")
        " FROM members m JOIN conversations c ON c.id = m.conv_id WHERE m.user_id = ?1 "
        "ORDER BY m.conv_id",
    [STORE_EXPORT_USER_MESSAGES] =
        "SELECT " EVENT_JSON " FROM events e WHERE e.sender = ?1 ORDER BY e.id",
    [STORE_EXPORT_USER_HIDDEN] =
        "SELECT json_object('event', h.event_id, 'conv', e.conv_id, 'seq', e.seq) "
        "FROM hidden_events h JOIN events e ON e.id = h.event_id WHERE h.user_id = ?1 "
        "ORDER BY h.event_id",
    [STORE_EXPORT_USER_HELD] =
        "SELECT " HELD_JSON " FROM held_versions WHERE sender = ?1 ORDER BY id",
    /* What each push said to them: their variant's notification, else the push's. */
    [STORE_EXPORT_USER_DELIVERIES] =
        "SELECT json_object('id', d.id, 'push', d.push_id, 'device', d.device_id, "
        "'channel', d.channel, 'state', d.state, 'reason', d.reason, 'attempts', d.attempts, "
        "'sent_at', d.sent_at, 'delivered_at', d.delivered_at, 'opened_at', d.opened_at, "
        "'clicked_at', d.clicked_at, 'variant', d.variant, 'push_created_at', p.created_at, "
        "'category', p.category, 'notification', " JSON_TEXT(
            "coalesce(CASE WHEN d.variant IS NOT NULL AND json_valid(" VARIANTS("p.") ") THEN "
            "json_extract(" VARIANTS("p.") ", '$[' || d.variant || '].notification') END, "
            NOTIFICATION("p.") ")") ") "
        "FROM deliveries d JOIN pushes p ON p.id = d.push_id WHERE d.user_id = ?1 "
        "ORDER BY d.push_id, d.id",
    [STORE_EXPORT_USER_API_KEYS] =
        "SELECT json_object('id', id, 'name', name, 'scopes', scopes, 'created_at', created_at, "
        "'last_used_at', last_used_at, 'revoked_at', revoked_at) FROM api_keys "
        "WHERE created_by = ?1 ORDER BY id",
    [STORE_EXPORT_USER_HOLDS] =
        "SELECT " HOLD_JSON " FROM legal_holds WHERE user_id = ?1 ORDER BY id",
    [STORE_EXPORT_USER_AUDIT] =
        "SELECT " AUDIT_JSON " FROM audit_log WHERE actor = 'user:' || ?1 "
        "OR target = 'user:' || ?1 ORDER BY id",
    [STORE_EXPORT_CONV] =
        "SELECT json_object('id', c.id, 'app_id', c.app_id, 'type', c.type, 'title', c.title, "
        "'avatar_url', c.avatar_url, 'description', c.description, "
        "'announcement', c.announcement, 'muted_all', " JSON_BOOL("c.muted_all") ", "
        "'last_seq', c.last_seq, 'last_ts', c.last_ts, 'created_by', c.created_by, "
        "'created_at', c.created_at, 'deleted_at', c.deleted_at, "
        "'message_retention_days', c.message_retention_days, "
        "'file_retention_days', c.file_retention_days, "
        "'app_message_retention_days', a.message_retention_days, "
        "'app_file_retention_days', a.file_retention_days, 'expired_seq', c.expired_seq) "
        "FROM conversations c JOIN apps a ON a.id = c.app_id WHERE c.id = ?1",
    [STORE_EXPORT_CONV_MEMBERS] =
        "SELECT " MEMBER_JSON("'user', m.user_id, 'username', u.username, "
                              "'display_name', u.display_name")
        " FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE m.conv_id = ?1 "
        "ORDER BY m.user_id",
    [STORE_EXPORT_CONV_EVENTS] =
        "SELECT " EVENT_JSON " FROM events e WHERE e.conv_id = ?1 ORDER BY e.seq",
    [STORE_EXPORT_CONV_HELD] =
        "SELECT " HELD_JSON " FROM held_versions WHERE conv_id = ?1 ORDER BY seq, id",
    [STORE_EXPORT_CONV_HOLDS] =
        "SELECT " HOLD_JSON " FROM legal_holds WHERE conv_id = ?1 ORDER BY id",
    [STORE_EXPORT_CONV_AUDIT] =
        "SELECT " AUDIT_JSON " FROM audit_log WHERE target = 'conv:' || ?1 ORDER BY id",
};

static const char *const sql[] = {
#define S(id) [(id) - STORE_EXPORT_FIRST_STMT]
    S(XS_BEGIN) = "BEGIN",
    S(XS_END) = "COMMIT",
    S(XS_FILES_USER) = FILE_COLS "WHERE f.owner = ?1 ORDER BY f.id",
    S(XS_FILES_CONV) = FILE_COLS "WHERE f.id IN (SELECT file_id FROM file_shares "
                                 "WHERE conv_id = ?1) ORDER BY f.id",
#undef S
};

static sqlite3_stmt *xstmt(struct store_conn *sc, int id)
{
    return store__stmt(sc, id, id >= XS_ROWS ? rows_sql[id - XS_ROWS]
                                              : sql[id - STORE_EXPORT_FIRST_STMT]);
}

int store_export_begin(struct store_conn *sc)
{
    sqlite3_stmt *s = xstmt(sc, XS_BEGIN);
    int rc = store__run(sc, s);

    /* A deferred BEGIN takes its snapshot at the first read: take it now. */
    if (rc == 0 && sqlite3_exec(sc->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL,
                                NULL) != SQLITE_OK) {
        store_export_end(sc);
        rc = PIPIT_ESTORE;
    }
    return rc;
}

void store_export_end(struct store_conn *sc)
{
    store__run(sc, xstmt(sc, XS_END));
}

/* Steps s to its end, handing each row to step_row; stops at its non-zero return. */
static int each_row(sqlite3_stmt *s, int (*step_row)(sqlite3_stmt *s, void *ctx), void *ctx)
{
    int rc, stop = 0;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        stop = step_row(s, ctx);
    }
    sqlite3_reset(s);
    return stop != 0 ? stop : rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

struct rows_walk {
    int (*cb)(void *arg, const char *json, size_t len);
    void *arg;
};

static int json_row(sqlite3_stmt *s, void *ctx)
{
    struct rows_walk *w = ctx;
    const char *json = (const char *)sqlite3_column_text(s, 0);

    return json != NULL ? w->cb(w->arg, json, (size_t)sqlite3_column_bytes(s, 0)) : 0;
}

int store_export_rows(struct store_conn *sc, enum store_export_rows what, int64_t id,
                      int (*cb)(void *arg, const char *json, size_t len), void *arg)
{
    struct rows_walk w = { cb, arg };
    sqlite3_stmt *s = xstmt(sc, XS_ROWS + (int)what);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, id);
    }
    return each_row(s, json_row, &w);
}

struct files_walk {
    int (*cb)(void *arg, const struct store_file *f);
    void *arg;
};

static int file_row(sqlite3_stmt *s, void *ctx)
{
    struct files_walk *w = ctx;
    struct store_file f = { .id = sqlite3_column_int64(s, 0),
                            .app_id = sqlite3_column_int64(s, 1),
                            .owner = sqlite3_column_int64(s, 2),
                            .created_at = sqlite3_column_int64(s, 3) };

    store__copy_text(f.name, sizeof(f.name), s, 4);
    store__copy_text(f.blob.sha256, sizeof(f.blob.sha256), s, 5);
    f.blob.size = sqlite3_column_int64(s, 6);
    store__copy_text(f.blob.mime, sizeof(f.blob.mime), s, 7);
    return w->cb(w->arg, &f);
}

int store_export_files(struct store_conn *sc, bool conv, int64_t id,
                       int (*cb)(void *arg, const struct store_file *f), void *arg)
{
    struct files_walk w = { cb, arg };
    sqlite3_stmt *s = xstmt(sc, conv ? XS_FILES_CONV : XS_FILES_USER);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, id);
    }
    return each_row(s, file_row, &w);
}
