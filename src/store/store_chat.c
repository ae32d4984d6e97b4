/*
 * store_chat.c: the SQLite side of store_chat.h.
 *
 * Every read of events goes through EVENT_COLS and read_event(), so history,
 * sync and the live path agree on what an event looks like to a given user.
 */
#include "store/store_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/tokenizer.h"
#include "store/store_internal.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"

enum chat_stmt {
    CS_CONV_GET = STORE_CHAT_FIRST_STMT,
    CS_CONV_BY_DIRECT_KEY,
    CS_CONV_INSERT,
    CS_CONV_UPDATE,
    CS_CONV_TAIL,
    CS_CONV_SAVE_TAIL,
    CS_CONV_LIST_FOR_USER,
    CS_MEMBER_GET,
    CS_MEMBER_LIST,
    CS_MEMBER_COUNT,
    CS_MEMBER_JOIN,
    CS_MEMBER_LEAVE,
    CS_MEMBER_SET_ROLE,
    CS_MEMBER_SET_MUTED,
    CS_MEMBER_ADVANCE_READ,
    CS_MEMBER_ADVANCE_DELIVERED,
    CS_CONTACTS,
    CS_EVENT_INSERT,
    CS_EVENT_BY_CMID,
    CS_EVENT_GET,
    CS_EVENTS_ASC,
    CS_EVENTS_DESC,
    CS_LAST_MESSAGE,
    CS_UNREAD,
    CS_EVENT_SET_BODY,
    CS_EVENT_RECALL,
    CS_EVENT_HIDE,
    CS_CONV_SEARCH,
    CS_CONV_COUNT,
    CS_CONV_DELETE_EVENTS,
    CS_CONV_DELETE_MEMBERS,
    CS_CONV_EMPTY,
    CS_SEARCH,
    CS_SEARCH_CONVS,
    CS_SEARCH_EVENT,
    CS_SEARCH_SNIPPET,
    CS_SEARCH_REMOVE,
    CS_SEARCH_ADD,
    CS_SEARCH_CLEAR,
    CS_SEARCH_OPTIMIZE,
    CS_SEARCH_TRIGGERED,
    CS_SEARCH_LAYOUT,
    CS_SEARCH_LAYOUT_SET,
    CS_SEARCH_PENDING,
    CS_SEARCH_MARK,
    CS_SEARCH_QUEUE_NEW,
    CS_FLAG_INSERT,
    CS_FLAG_LIST,
    CS_FLAG_DELETE,
    CS_END
};

_Static_assert(CS_END <= STORE_PUSH_FIRST_STMT, "too many statements");

#define CONV_COLS                                                                     \
    "c.id, c.app_id, c.type, c.title, c.avatar_url, c.description, c.announcement, "  \
    "c.muted_all, c.last_seq, c.last_ts, c.created_by, c.created_at, "                \
    "coalesce(c.deleted_at, 0)"
#define MEMBER_COLS                                                                     \
    "m.conv_id, m.user_id, u.username, m.role, m.joined_seq, coalesce(m.left_seq, 0), " \
    "m.read_seq, m.delivered_seq, m.muted_until, m.joined_at, u.display_name"
/* The last column says whether the reading user (bound as ?1) hid the event. */
#define EVENT_COLS                                                                    \
    "e.id, e.conv_id, e.seq, e.kind, e.sender, e.ts, e.cmid, coalesce(e.target, 0), " \
    BODY("e") ", e.meta, coalesce(e.edited_at, 0), e.recalled, "                       \
    "EXISTS (SELECT 1 FROM hidden_events h WHERE h.user_id = ?1 AND h.event_id = e.id)"

/* Event e is kept; an edit or recall also needs the message it points at kept. */
#define EVENT_KEPT(conv, now)                                                          \
    "e.ts >= " KEPT_SINCE("message", conv, now) " AND (e.target IS NULL OR NOT EXISTS " \
    "(SELECT 1 FROM events t WHERE t.conv_id = e.conv_id AND t.seq = e.target "        \
    "AND t.ts < " KEPT_SINCE("message", conv, now) "))"

static const char *const sql[CS_END - STORE_CHAT_FIRST_STMT] = {
#define S(id) [id - STORE_CHAT_FIRST_STMT]
    S(CS_CONV_GET) = "SELECT " CONV_COLS " FROM conversations c WHERE c.id = ?",
    S(CS_CONV_BY_DIRECT_KEY) = "SELECT id FROM conversations WHERE direct_key = ?",
    S(CS_CONV_INSERT) =
        "INSERT INTO conversations (app_id, type, direct_key, title, avatar_url, "
        "description, announcement, muted_all, last_seq, last_ts, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
    S(CS_CONV_UPDATE) = "UPDATE conversations SET title = ?, avatar_url = ?, description = ?, "
                        "announcement = ?, muted_all = ? WHERE id = ?",
    /* The newest event, or the row's own figures when retention left none. */
    S(CS_CONV_TAIL) = "SELECT max(c.last_seq, coalesce(e.seq, 0)), "
                      "CASE WHEN coalesce(e.seq, 0) > c.last_seq THEN e.ts ELSE c.last_ts END "
                      "FROM conversations c LEFT JOIN (SELECT seq, ts FROM events "
                      "WHERE conv_id = ?1 ORDER BY seq DESC LIMIT 1) e WHERE c.id = ?1",
    /* Not UPDATE … FROM: SQLite builds a temporary b-tree for that every time. */
    S(CS_CONV_SAVE_TAIL) = "UPDATE conversations SET (last_seq, last_ts) = (SELECT seq, ts "
                           "FROM events WHERE conv_id = ?1 ORDER BY seq DESC LIMIT 1) "
                           "WHERE id = ?1 AND last_seq < (SELECT max(seq) FROM events "
                           "WHERE conv_id = ?1)",
    S(CS_CONV_LIST_FOR_USER) =
        "SELECT " CONV_COLS ", " MEMBER_COLS " FROM members m "
        "JOIN conversations c ON c.id = m.conv_id JOIN users u ON u.id = m.user_id "
        "WHERE m.user_id = ? ORDER BY c.last_ts DESC, c.id DESC",
    S(CS_MEMBER_GET) = "SELECT " MEMBER_COLS " FROM members m JOIN users u ON u.id = m.user_id "
                       "WHERE m.conv_id = ? AND m.user_id = ?",
    S(CS_MEMBER_LIST) = "SELECT " MEMBER_COLS " FROM members m JOIN users u ON u.id = m.user_id "
                        "WHERE m.conv_id = ? AND m.left_seq IS NULL ORDER BY m.user_id",
    S(CS_MEMBER_COUNT) = "SELECT count(*) FROM members WHERE conv_id = ? AND left_seq IS NULL",
    S(CS_MEMBER_JOIN) =
        "INSERT INTO members (conv_id, user_id, role, joined_seq, joined_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (conv_id, user_id) DO UPDATE SET "
        "role = ?3, joined_seq = ?4, joined_at = ?5, left_seq = NULL, read_seq = 0, "
        "delivered_seq = 0, muted_until = 0",
    S(CS_MEMBER_LEAVE) = "UPDATE members SET left_seq = ? WHERE conv_id = ? AND user_id = ? "
                         "AND left_seq IS NULL",
    S(CS_MEMBER_SET_ROLE) = "UPDATE members SET role = ? WHERE conv_id = ? AND user_id = ? "
                            "AND left_seq IS NULL",
    S(CS_MEMBER_SET_MUTED) = "UPDATE members SET muted_until = ? WHERE conv_id = ? AND "
                             "user_id = ? AND left_seq IS NULL",
    S(CS_MEMBER_ADVANCE_READ) =
        "UPDATE members SET read_seq = max(read_seq, ?) WHERE conv_id = ? AND user_id = ? "
        "AND left_seq IS NULL RETURNING read_seq",
    S(CS_MEMBER_ADVANCE_DELIVERED) =
        "UPDATE members SET delivered_seq = max(delivered_seq, ?) WHERE conv_id = ? AND "
        "user_id = ? AND left_seq IS NULL RETURNING delivered_seq",
    S(CS_CONTACTS) = "SELECT DISTINCT o.user_id FROM members m "
                     "JOIN conversations c ON c.id = m.conv_id AND c.type = 'direct' "
                     "JOIN members o ON o.conv_id = m.conv_id AND o.user_id <> m.user_id "
                     "WHERE m.user_id = ?",
    S(CS_EVENT_INSERT) = "INSERT INTO events (conv_id, seq, kind, sender, ts, cmid, target, "
                         "body, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, 0), "
                         "pipit_seal(?8, ?1, ?2), ?9)",
    S(CS_EVENT_BY_CMID) = "SELECT " EVENT_COLS " FROM events e WHERE e.sender = ?1 AND e.cmid = ?2",
    S(CS_EVENT_GET) = "SELECT " EVENT_COLS " FROM events e WHERE e.conv_id = ?2 AND e.seq = ?3 "
                      "AND " EVENT_KEPT("?2", "?4"),
    S(CS_EVENTS_ASC) = "SELECT " EVENT_COLS " FROM events e WHERE e.conv_id = ?2 AND "
                       "e.seq > ?3 AND e.seq < ?4 AND " EVENT_KEPT("?2", "?6")
                       " ORDER BY e.seq LIMIT ?5",
    S(CS_EVENTS_DESC) = "SELECT " EVENT_COLS " FROM events e WHERE e.conv_id = ?2 AND "
                        "e.seq > ?3 AND e.seq < ?4 AND " EVENT_KEPT("?2", "?6")
                        " ORDER BY e.seq DESC LIMIT ?5",
    S(CS_LAST_MESSAGE) = "SELECT " EVENT_COLS " FROM events e WHERE e.conv_id = ?2 AND "
                         "e.seq >= ?3 AND e.kind = 'message' AND e.ts >= "
                         KEPT_SINCE("message", "?2", "?4")
                         " ORDER BY e.seq DESC LIMIT 1",
    S(CS_UNREAD) = "SELECT count(*) FROM events e WHERE e.conv_id = ?1 AND e.seq > ?2 AND "
                   "e.kind = 'message' AND e.sender <> ?3 AND e.recalled = 0 AND NOT EXISTS "
                   "(SELECT 1 FROM hidden_events h WHERE h.user_id = ?3 AND h.event_id = e.id) "
                   "AND e.ts >= " KEPT_SINCE("message", "?1", "?4"),
    S(CS_EVENT_SET_BODY) = "UPDATE events SET body = pipit_seal(?1, ?3, ?4), "
                           "edited_at = CASE ?2 WHEN 0 THEN edited_at ELSE ?2 END, "
                           "meta = coalesce(?5, meta) "
                           "WHERE conv_id = ?3 AND seq = ?4",
    S(CS_EVENT_RECALL) = "UPDATE events SET body = NULL, recalled = 1 WHERE conv_id = ?1 AND "
                         "(seq = ?2 OR (kind = 'edit' AND target = ?2))",
    S(CS_EVENT_HIDE) = "INSERT OR IGNORE INTO hidden_events (user_id, event_id) VALUES (?, ?)",
    S(CS_CONV_SEARCH) =
        "SELECT " CONV_COLS ", (SELECT count(*) FROM members m WHERE m.conv_id = c.id "
        "AND m.left_seq IS NULL) FROM conversations c "
        "WHERE c.app_id = ?1 AND c.deleted_at IS NULL AND c.id > ?2 AND (?3 IS NULL "
        "OR (c.type = 'group' AND c.title LIKE ?3 ESCAPE '\\') "
        "OR (c.type = 'direct' AND EXISTS (SELECT 1 FROM members m JOIN users u "
        "ON u.id = m.user_id WHERE m.conv_id = c.id AND u.username LIKE ?3 ESCAPE '\\'))) "
        "ORDER BY c.id LIMIT ?4",
    S(CS_CONV_COUNT) = "SELECT count(*) FROM conversations WHERE app_id = ? AND deleted_at IS NULL",
    S(CS_CONV_DELETE_EVENTS) = "DELETE FROM events WHERE conv_id = ?",
    S(CS_CONV_DELETE_MEMBERS) = "DELETE FROM members WHERE conv_id = ?",
    S(CS_CONV_EMPTY) = "UPDATE conversations SET deleted_at = ?2, direct_key = NULL, title = NULL, "
                       "avatar_url = NULL, description = NULL, announcement = NULL "
                       "WHERE id = ?1 AND deleted_at IS NULL",
    /*
     * A search: MATCH (the user's words, narrowed by search_match to the
     * conversation asked for or to the user's), then what the user may see.
     * CROSS JOIN keeps the index the outer loop; the IN list (the user's
     * conversations, built once per query) turns away other conversations'
     * matches before their member row is read, for a user in too many
     * conversations to list in the MATCH.
     */
#define SEARCH_FROM                                                                          \
    "FROM message_search f CROSS JOIN events e ON e.id = f.rowid CROSS JOIN members m "      \
    "ON m.conv_id = e.conv_id AND m.user_id = ?1 WHERE message_search MATCH ?2 "             \
    "AND e.conv_id IN (SELECT conv_id FROM members WHERE user_id = ?1 AND left_seq IS NULL) " \
    "AND m.left_seq IS NULL AND e.seq >= m.joined_seq AND e.recalled = 0 AND NOT EXISTS "    \
    "(SELECT 1 FROM hidden_events h WHERE h.user_id = ?1 AND h.event_id = e.id) "            \
    "AND (?3 = 0 OR e.conv_id = ?3) AND (?4 = 0 OR e.sender = ?4) "                          \
    "AND (?5 = 0 OR e.ts < ?5) AND (?6 = 0 OR e.ts > ?6) "                                 \
    "AND e.ts >= " KEPT_SINCE("message", "e.conv_id", "?10") " "
/* The text's snippet, or the file name's for a file found by its name. */
#define SEARCH_SNIPPET                                                                       \
    "coalesce(nullif(" SEARCH_SNIPPET_NAME "(message_search, 0, char(2), char(3), '…', 24), " \
    "''), " SEARCH_SNIPPET_NAME "(message_search, 1, char(2), char(3), '…', 24))"
/* The conv column only narrows: it weighs nothing in the ranking. */
#define SEARCH_RANK "bm25(message_search, 1.0, 0.5, 0.0)"
    /*
     * The newest ?9 matches the user may see, straight from the index (newest
     * first, stopping once the window is full), ranked among themselves; ids
     * alone: a page's events and snippets are read after (store_search).
     */
    S(CS_SEARCH) = "SELECT id FROM (SELECT e.id AS id, " SEARCH_RANK " AS r " SEARCH_FROM
                   "ORDER BY f.rowid DESC LIMIT ?9) ORDER BY r, id DESC LIMIT ?7 OFFSET ?8",
    S(CS_SEARCH_CONVS) = "SELECT conv_id FROM members WHERE user_id = ?1 AND left_seq IS NULL "
                         "LIMIT ?2",
    S(CS_SEARCH_EVENT) = "SELECT " EVENT_COLS " FROM events e WHERE e.id = ?2",
    /*
     * A queued message's entry: removed if it was indexed before this flush
     * (at or below indexed_upto, and its first queue row holds the body it was
     * indexed with, as stored), then added as it is now, with the messages
     * stored past indexed_upto. A message sent and edited in one batch is
     * indexed once, as edited.
     */
    S(CS_SEARCH_REMOVE) = "WITH q AS MATERIALIZED (SELECT id, conv_id, "
                          "pipit_unseal(body, conv_id, event_seq, 1) AS b FROM (SELECT *, "
                          "row_number() OVER (PARTITION BY id ORDER BY seq) AS n "
                          "FROM search_queue) WHERE n = 1 AND op = 0 "
                          "AND id <= (SELECT indexed_upto FROM search_layout)) "
                          "INSERT INTO message_search (message_search, rowid, text, name, conv) "
                          "SELECT 'delete', id, b ->> '$.text', b ->> '$.name', 'c' || conv_id "
                          "FROM q WHERE b IS NOT NULL",
    /*
     * Each body is opened once, not once per field: OFFSET 0 keeps SQLite from
     * flattening the subquery into one call per field, without the temporary
     * table a MATERIALIZED one costs. A body that does not open (altered on
     * disk) is left out of the index, not a reason to stop indexing; the same
     * for the values an entry is removed with.
     */
    S(CS_SEARCH_ADD) = "INSERT INTO message_search (rowid, text, name, conv) "
                       "SELECT id, body ->> '$.text', body ->> '$.name', conv FROM "
                       "(SELECT id, pipit_unseal(body, conv_id, seq, 1) AS body, "
                       "'c' || conv_id AS conv FROM events "
                       "WHERE (id > (SELECT indexed_upto FROM search_layout) "
                       "OR id IN (SELECT id FROM search_queue)) "
                       "AND kind = 'message' AND body IS NOT NULL LIMIT -1 OFFSET 0) "
                       "WHERE body IS NOT NULL",
    S(CS_SEARCH_CLEAR) = "DELETE FROM search_queue",
    S(CS_SEARCH_OPTIMIZE) = "INSERT INTO message_search (message_search) VALUES ('optimize')",
    S(CS_SEARCH_TRIGGERED) = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND "
                             "name = 'message_search_update'",
    S(CS_SEARCH_LAYOUT) = "SELECT version FROM search_layout",
    S(CS_SEARCH_LAYOUT_SET) = "INSERT INTO search_layout (id, version) VALUES (1, ?) "
                              "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
    /* The newest event (a flush or a rebuild indexes up to it), and whether changes wait. */
    S(CS_SEARCH_PENDING) = "SELECT (SELECT coalesce(max(id), 0) FROM events), "
                       "EXISTS (SELECT 1 FROM search_queue)",
    S(CS_SEARCH_MARK) = "UPDATE search_layout SET indexed_upto = ?",
    S(CS_SEARCH_QUEUE_NEW) = "INSERT INTO search_queue (op, id) VALUES (1, ?)",
    S(CS_SEARCH_SNIPPET) = "SELECT " SEARCH_SNIPPET " FROM message_search "
                           "WHERE message_search MATCH ?1 AND rowid = ?2",
    S(CS_FLAG_INSERT) = "INSERT INTO content_flags (app_id, conv_id, seq, sender, list, word, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    S(CS_FLAG_LIST) = "SELECT id, conv_id, seq, sender, list, word, created_at FROM content_flags "
                      "WHERE app_id = ?1 AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
    S(CS_FLAG_DELETE) = "DELETE FROM content_flags WHERE app_id = ? AND id = ?",
#undef S
};

static sqlite3_stmt *cstmt(struct store_conn *sc, enum chat_stmt id)
{
    return store__stmt(sc, id, sql[id - STORE_CHAT_FIRST_STMT]);
}


static void copy_column(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    snprintf(dst, cap, "%s", t != NULL ? (const char *)t : "");
}

/* Reads CONV_COLS from col on. */
static int read_conv(sqlite3_stmt *s, int col, struct store_conv *c)
{
    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(s, col);
    c->app_id = sqlite3_column_int64(s, col + 1);
    copy_column(c->type, sizeof(c->type), s, col + 2);
    c->title = store__dup_text(s, col + 3);
    c->avatar_url = store__dup_text(s, col + 4);
    c->description = store__dup_text(s, col + 5);
    c->announcement = store__dup_text(s, col + 6);
    c->muted_all = sqlite3_column_int(s, col + 7) != 0;
    c->last_seq = sqlite3_column_int64(s, col + 8);
    c->last_ts = sqlite3_column_int64(s, col + 9);
    c->created_by = sqlite3_column_int64(s, col + 10);
    c->created_at = sqlite3_column_int64(s, col + 11);
    c->deleted_at = sqlite3_column_int64(s, col + 12);
    return col + 13;
}

static void read_member(sqlite3_stmt *s, int col, struct store_member *m)
{
    memset(m, 0, sizeof(*m));
    m->conv_id = sqlite3_column_int64(s, col);
    m->user_id = sqlite3_column_int64(s, col + 1);
    copy_column(m->username, sizeof(m->username), s, col + 2);
    copy_column(m->role, sizeof(m->role), s, col + 3);
    m->joined_seq = sqlite3_column_int64(s, col + 4);
    m->left_seq = sqlite3_column_int64(s, col + 5);
    m->read_seq = sqlite3_column_int64(s, col + 6);
    m->delivered_seq = sqlite3_column_int64(s, col + 7);
    m->muted_until = sqlite3_column_int64(s, col + 8);
    m->joined_at = sqlite3_column_int64(s, col + 9);
    copy_column(m->display_name, sizeof(m->display_name), s, col + 10); /* NULL: "" */
}

static void read_event(sqlite3_stmt *s, struct store_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->id = sqlite3_column_int64(s, 0);
    ev->conv_id = sqlite3_column_int64(s, 1);
    ev->seq = sqlite3_column_int64(s, 2);
    ev->kind = (const char *)sqlite3_column_text(s, 3);
    ev->sender = sqlite3_column_int64(s, 4);
    ev->ts = sqlite3_column_int64(s, 5);
    ev->cmid = (const char *)sqlite3_column_text(s, 6);
    ev->target = sqlite3_column_int64(s, 7);
    ev->body = (const char *)sqlite3_column_text(s, 8);
    ev->meta = (const char *)sqlite3_column_text(s, 9);
    ev->edited_at = sqlite3_column_int64(s, 10);
    ev->recalled = sqlite3_column_int(s, 11) != 0;
    ev->hidden = sqlite3_column_int(s, 12) != 0;
    if (ev->kind == NULL) {
        ev->kind = "";
    }
}

/* Steps s to the end, handing each event to cb; found counts rows. */
static int each_event(sqlite3_stmt *s, int (*cb)(void *, const struct store_event *),
                      void *arg, int *found)
{
    struct store_event ev;
    int rc;

    *found = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_event(s, &ev);
        (*found)++;
        if (cb(arg, &ev) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

void store_conv_cleanup(struct store_conv *c)
{
    PIPIT_FREE(c->title);
    PIPIT_FREE(c->avatar_url);
    PIPIT_FREE(c->description);
    PIPIT_FREE(c->announcement);
}

int store_conv_get(struct store_conn *sc, int64_t conv_id, struct store_conv *out)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_GET);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_conv(s, 0, out);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_conv_by_direct_key(struct store_conn *sc, const char *key, int64_t *conv_id)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_BY_DIRECT_KEY);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    return store__one_int(s, conv_id);
}

int store_conv_insert(struct store_conn *sc, struct store_conv *c, const char *direct_key)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, c->app_id);
    sqlite3_bind_text(s, 2, c->type, -1, SQLITE_STATIC);
    store__bind_text(s, 3, direct_key);
    store__bind_text(s, 4, c->title);
    store__bind_text(s, 5, c->avatar_url);
    store__bind_text(s, 6, c->description);
    store__bind_text(s, 7, c->announcement);
    sqlite3_bind_int(s, 8, c->muted_all);
    sqlite3_bind_int64(s, 9, c->created_at);
    sqlite3_bind_int64(s, 10, c->created_by);
    sqlite3_bind_int64(s, 11, c->created_at);
    rc = store__run(sc, s);
    if (rc == 0) {
        c->id = sqlite3_last_insert_rowid(sc->db);
        c->last_seq = 0;
        c->last_ts = c->created_at;
    }
    return rc == PIPIT_EUSERNAME_TAKEN ? PIPIT_ESTORE : rc;
}

int store_conv_update(struct store_conn *sc, const struct store_conv *c)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_UPDATE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    store__bind_text(s, 1, c->title);
    store__bind_text(s, 2, c->avatar_url);
    store__bind_text(s, 3, c->description);
    store__bind_text(s, 4, c->announcement);
    sqlite3_bind_int(s, 5, c->muted_all);
    sqlite3_bind_int64(s, 6, c->id);
    return store__run(sc, s);
}

int store_conv_tail(struct store_conn *sc, int64_t conv_id, int64_t *seq, int64_t *ts)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_TAIL);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(s, 0);
        *ts = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_conv_save_tail(struct store_conn *sc, int64_t conv_id)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_SAVE_TAIL);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    return store__run(sc, s);
}

int store_conv_list_for_user(struct store_conn *sc, int64_t user_id,
                             int (*cb)(void *arg, const struct store_conv *c,
                                       const struct store_member *m),
                             void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_LIST_FOR_USER);
    struct store_conv c;
    struct store_member m;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int stop;

        read_member(s, read_conv(s, 0, &c), &m);
        stop = cb(arg, &c, &m);
        store_conv_cleanup(&c);
        if (stop != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_member_get(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                     struct store_member *out)
{
    sqlite3_stmt *s = cstmt(sc, CS_MEMBER_GET);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    sqlite3_bind_int64(s, 2, user_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_member(s, 0, out);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PIPIT_ENOT_FOUND : PIPIT_ESTORE;
}

int store_member_list(struct store_conn *sc, int64_t conv_id,
                      int (*cb)(void *arg, const struct store_member *m), void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_MEMBER_LIST);
    struct store_member m;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_member(s, 0, &m);
        if (cb(arg, &m) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_member_count(struct store_conn *sc, int64_t conv_id, int64_t *count)
{
    sqlite3_stmt *s = cstmt(sc, CS_MEMBER_COUNT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    return store__one_int(s, count);
}

int store_member_join(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                      const char *role, int64_t joined_seq, int64_t now_ms)
{
    sqlite3_stmt *s = cstmt(sc, CS_MEMBER_JOIN);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_text(s, 3, role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, joined_seq);
    sqlite3_bind_int64(s, 5, now_ms);
    return store__run(sc, s);
}

/* Runs a member UPDATE bound as (value, conv_id, user_id); NOT_FOUND if no row changed. */
static int member_update(struct store_conn *sc, sqlite3_stmt *s, int64_t conv_id,
                         int64_t user_id)
{

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 2, conv_id);
    sqlite3_bind_int64(s, 3, user_id);
    return store__run_one(sc, s);
}

int store_member_leave(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                       int64_t left_seq)
{
    sqlite3_stmt *s = cstmt(sc, CS_MEMBER_LEAVE);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, left_seq);
    }
    return member_update(sc, s, conv_id, user_id);
}

int store_member_set_role(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                          const char *role)
{
    sqlite3_stmt *s = cstmt(sc, CS_MEMBER_SET_ROLE);

    if (s != NULL) {
        sqlite3_bind_text(s, 1, role, -1, SQLITE_STATIC);
    }
    return member_update(sc, s, conv_id, user_id);
}

int store_member_set_muted(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                           int64_t until_ms)
{
    sqlite3_stmt *s = cstmt(sc, CS_MEMBER_SET_MUTED);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, until_ms);
    }
    return member_update(sc, s, conv_id, user_id);
}

int store_member_advance(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                         bool delivered, int64_t seq, int64_t *now)
{
    sqlite3_stmt *s = cstmt(sc, delivered ? CS_MEMBER_ADVANCE_DELIVERED : CS_MEMBER_ADVANCE_READ);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, conv_id);
    sqlite3_bind_int64(s, 3, user_id);
    return store__one_int(s, now);
}

int store_contacts(struct store_conn *sc, int64_t user_id,
                   int (*cb)(void *arg, int64_t user_id), void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONTACTS);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    return store__each_int(s, cb, arg);
}

int store_event_insert(struct store_conn *sc, struct store_event *ev)
{
    sqlite3_stmt *s = cstmt(sc, CS_EVENT_INSERT);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, ev->conv_id);
    sqlite3_bind_int64(s, 2, ev->seq);
    sqlite3_bind_text(s, 3, ev->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, ev->sender);
    sqlite3_bind_int64(s, 5, ev->ts);
    store__bind_text(s, 6, ev->cmid);
    sqlite3_bind_int64(s, 7, ev->target);
    store__bind_text(s, 8, ev->body);
    store__bind_text(s, 9, ev->meta);
    rc = store__run(sc, s);
    if (rc == 0) {
        ev->id = sqlite3_last_insert_rowid(sc->db);
    }
    /*
     * The flush indexes the messages stored past indexed_upto; one stored under
     * a lower id (freed by deleting the newest events) is queued instead.
     */
    if (rc == 0 && ev->id <= sc->search_upto && ev->body != NULL &&
        strcmp(ev->kind, "message") == 0) {
        s = cstmt(sc, CS_SEARCH_QUEUE_NEW);
        if (s == NULL) {
            return PIPIT_ESTORE;
        }
        sqlite3_bind_int64(s, 1, ev->id);
        rc = store__run(sc, s);
    }
    return rc == PIPIT_EUSERNAME_TAKEN ? PIPIT_ECMID_CONFLICT : rc;
}

/* Runs an EVENT_COLS select that must find one row. */
static int one_event(sqlite3_stmt *s, int (*cb)(void *, const struct store_event *), void *arg)
{
    int found;
    int rc = each_event(s, cb, arg, &found);

    return rc == 0 && found == 0 ? PIPIT_ENOT_FOUND : rc;
}

int store_event_by_cmid(struct store_conn *sc, int64_t sender, const char *cmid,
                        int (*cb)(void *arg, const struct store_event *ev), void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_EVENT_BY_CMID);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, sender);
    sqlite3_bind_text(s, 2, cmid, -1, SQLITE_STATIC);
    return one_event(s, cb, arg);
}

int store_event_get(struct store_conn *sc, int64_t conv_id, int64_t seq, int64_t user_id,
                    int64_t now, int (*cb)(void *arg, const struct store_event *ev), void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_EVENT_GET);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, conv_id);
    sqlite3_bind_int64(s, 3, seq);
    sqlite3_bind_int64(s, 4, now);
    return one_event(s, cb, arg);
}

int store_events_range(struct store_conn *sc, int64_t conv_id, int64_t user_id, int64_t now,
                       int64_t after, int64_t before, int limit, bool newest_first,
                       int (*cb)(void *arg, const struct store_event *ev), void *arg)
{
    sqlite3_stmt *s = cstmt(sc, newest_first ? CS_EVENTS_DESC : CS_EVENTS_ASC);
    int found;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, conv_id);
    sqlite3_bind_int64(s, 3, after);
    sqlite3_bind_int64(s, 4, before > 0 ? before : INT64_MAX);
    sqlite3_bind_int(s, 5, limit);
    sqlite3_bind_int64(s, 6, now);
    return each_event(s, cb, arg, &found);
}

int store_last_message(struct store_conn *sc, int64_t conv_id, int64_t user_id, int64_t now,
                       int64_t min_seq,
                       int (*cb)(void *arg, const struct store_event *ev), void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_LAST_MESSAGE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, conv_id);
    sqlite3_bind_int64(s, 3, min_seq);
    sqlite3_bind_int64(s, 4, now);
    return one_event(s, cb, arg);
}

int store_unread_count(struct store_conn *sc, int64_t conv_id, int64_t user_id, int64_t now,
                       int64_t read_seq, int64_t *count)
{
    sqlite3_stmt *s = cstmt(sc, CS_UNREAD);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    sqlite3_bind_int64(s, 2, read_seq);
    sqlite3_bind_int64(s, 3, user_id);
    sqlite3_bind_int64(s, 4, now);
    return store__one_int(s, count);
}

int store_event_set_body(struct store_conn *sc, int64_t conv_id, int64_t seq,
                         const char *body, int64_t edited_at, const char *meta)
{
    sqlite3_stmt *s = cstmt(sc, CS_EVENT_SET_BODY);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(s, 1, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, edited_at);
    sqlite3_bind_int64(s, 3, conv_id);
    sqlite3_bind_int64(s, 4, seq);
    store__bind_text(s, 5, meta);
    return store__run(sc, s);
}

int store_event_recall(struct store_conn *sc, int64_t conv_id, int64_t seq)
{
    sqlite3_stmt *s = cstmt(sc, CS_EVENT_RECALL);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    sqlite3_bind_int64(s, 2, seq);
    return store__run(sc, s);
}

int store_event_hide(struct store_conn *sc, int64_t user_id, int64_t event_id)
{
    sqlite3_stmt *s = cstmt(sc, CS_EVENT_HIDE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, event_id);
    return store__run(sc, s);
}

int store_conv_search(struct store_conn *sc, const struct store_conv_query *q,
                      int (*cb)(void *arg, const struct store_conv *c, int64_t members),
                      void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_SEARCH);
    struct store_conv c;
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, q->app_id);
    sqlite3_bind_int64(s, 2, q->after);
    store__bind_text(s, 3, q->pattern);
    sqlite3_bind_int(s, 4, q->limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int col = read_conv(s, 0, &c);
        int stop = cb(arg, &c, sqlite3_column_int64(s, col));

        store_conv_cleanup(&c);
        if (stop != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_conv_count(struct store_conn *sc, int64_t app_id, int64_t *count)
{
    sqlite3_stmt *s = cstmt(sc, CS_CONV_COUNT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    return store__one_int(s, count);
}

/* Runs a statement bound with the conversation's id as ?1. */
static int run_for_conv(struct store_conn *sc, enum chat_stmt id, int64_t conv_id)
{
    sqlite3_stmt *s = cstmt(sc, id);

    if (s != NULL) {
        sqlite3_bind_int64(s, 1, conv_id);
    }
    return store__run(sc, s);
}

int store_conv_delete(struct store_conn *sc, int64_t conv_id, int64_t now_ms)
{
    sqlite3_stmt *s;
    int rc = run_for_conv(sc, CS_CONV_DELETE_EVENTS, conv_id);

    if (rc == 0) {
        rc = run_for_conv(sc, CS_CONV_DELETE_MEMBERS, conv_id);
    }
    if (rc != 0) {
        return rc;
    }
    s = cstmt(sc, CS_CONV_EMPTY);
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, conv_id);
    sqlite3_bind_int64(s, 2, now_ms);
    return store__run_one(sc, s);
}

/* One result: the event as the user sees it, and its snippet for the words. */
static int search_result(struct store_conn *sc, const struct store_search_query *q, int64_t id,
                         int (*cb)(void *arg, const struct store_event *ev, const char *snippet),
                         void *arg)
{
    sqlite3_stmt *ev_stmt = cstmt(sc, CS_SEARCH_EVENT);
    sqlite3_stmt *sn_stmt = cstmt(sc, CS_SEARCH_SNIPPET);
    const unsigned char *snippet = NULL;
    struct store_event ev;
    int rc, stop = 0;

    if (ev_stmt == NULL || sn_stmt == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_text(sn_stmt, 1, q->words, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sn_stmt, 2, id);
    rc = sqlite3_step(sn_stmt);
    if (rc == SQLITE_ROW) {
        snippet = sqlite3_column_text(sn_stmt, 0);
    }
    sqlite3_bind_int64(ev_stmt, 1, q->user_id);
    sqlite3_bind_int64(ev_stmt, 2, id);
    if ((rc == SQLITE_ROW || rc == SQLITE_DONE) && sqlite3_step(ev_stmt) == SQLITE_ROW) {
        read_event(ev_stmt, &ev);
        stop = cb(arg, &ev, snippet != NULL ? (const char *)snippet : "");
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        stop = -1;
    }
    sqlite3_reset(ev_stmt);
    sqlite3_reset(sn_stmt);
    return stop < 0 ? PIPIT_ESTORE : stop;
}

/* Past this many conversations the list would cost more than it saves. */
#define SEARCH_CONVS_MAX 200

/*
 * The MATCH expression: the words, in the conversation asked for, or in any of
 * the user's while they are few enough to list (SEARCH_CONVS_MAX). The index
 * then skips other conversations' matches itself; without the list, every
 * match of a common word costs a read of its events row just to learn that it
 * is someone else's (bench/RESULTS.md).
 */
static int search_match(struct store_conn *sc, const struct store_search_query *q,
                        struct buf *out)
{
    int64_t convs[SEARCH_CONVS_MAX + 1];
    sqlite3_stmt *s;
    int n = 0, rc;

    buf_appendz(out, q->words);
    if (q->conv_id != 0) {
        buf_printf(out, " AND conv : c%lld", (long long)q->conv_id);
        return buf_append(out, "", 1);
    }
    s = cstmt(sc, CS_SEARCH_CONVS);
    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, q->user_id);
    sqlite3_bind_int(s, 2, SEARCH_CONVS_MAX + 1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        convs[n++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        return PIPIT_ESTORE;
    }
    if (n > 0 && n <= SEARCH_CONVS_MAX) {
        buf_appendz(out, " AND conv : (");
        for (int i = 0; i < n; i++) {
            buf_printf(out, "%sc%lld", i > 0 ? " OR " : "", (long long)convs[i]);
        }
        buf_appendz(out, ")");
    }
    return buf_append(out, "", 1);
}

int store_search(struct store_conn *sc, const struct store_search_query *q,
                 int (*cb)(void *arg, const struct store_event *ev, const char *snippet),
                 void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_SEARCH);
    int64_t ids[STORE_SEARCH_PAGE_MAX];
    struct buf match;
    int n = 0, rc;

    if (s == NULL || q->limit > STORE_SEARCH_PAGE_MAX) {
        return PIPIT_ESTORE;
    }
    buf_init(&match, strlen(q->words) + 32 + SEARCH_CONVS_MAX * 28);
    if (search_match(sc, q, &match) != 0) {
        buf_cleanup(&match);
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, q->user_id);
    sqlite3_bind_text(s, 2, match.data, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, q->conv_id);
    sqlite3_bind_int64(s, 4, q->sender);
    sqlite3_bind_int64(s, 5, q->before_ts);
    sqlite3_bind_int64(s, 6, q->after_ts);
    sqlite3_bind_int(s, 7, q->limit);
    sqlite3_bind_int(s, 8, q->offset);
    sqlite3_bind_int(s, 9, q->window);
    sqlite3_bind_int64(s, 10, q->now);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < STORE_SEARCH_PAGE_MAX) {
        ids[n++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    buf_cleanup(&match);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return PIPIT_ESTORE;
    }
    rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = search_result(sc, q, ids[i], cb, arg);
    }
    return rc < 0 ? rc : 0;
}

/*
 * The index follows every change to a message's text, whichever path makes it:
 * the triggers queue the message (and, before a change, the values it was
 * indexed with); store_search_flush brings its entry up to date. New messages
 * need no queue row: the flush takes them from events by id (indexed_upto).
 */
#define QUEUE_OLD                                                                        \
    "INSERT INTO search_queue (op, id, body, conv_id, event_seq) SELECT 0, old.id, "     \
    "old.body, old.conv_id, old.seq"

static const char search_triggers[] =
    "CREATE TRIGGER message_search_update AFTER UPDATE OF body ON events "
    "WHEN old.kind = 'message' AND NOT (typeof(old.body) = 'text' AND "
    "typeof(new.body) = 'blob') BEGIN "
    "INSERT INTO search_queue (op, id) SELECT 1, new.id WHERE old.body IS NULL; "
    QUEUE_OLD " WHERE old.body IS NOT NULL; END;"
    "CREATE TRIGGER message_search_delete AFTER DELETE ON events "
    "WHEN old.kind = 'message' AND old.body IS NOT NULL BEGIN " QUEUE_OLD "; END;";

static const char search_drop[] =
    "DROP TRIGGER message_search_update; "
    "DROP TRIGGER message_search_delete; DELETE FROM search_queue; "
    "INSERT INTO message_search (message_search) VALUES ('delete-all');";

/* What the index lacks: the newest event, and whether changes wait in the queue. */
struct search_pending {
    int64_t top;
    bool queued;
};

static void read_search_pending(sqlite3_stmt *s, void *out)
{
    struct search_pending *p = out;

    p->top = sqlite3_column_int64(s, 0);
    p->queued = sqlite3_column_int(s, 1) != 0;
}

static int search_pending(struct store_conn *sc, struct search_pending *p)
{
    sqlite3_stmt *s = cstmt(sc, CS_SEARCH_PENDING);

    return s != NULL && store__one_row(s, read_search_pending, p) == 0 ? 0 : PIPIT_ESTORE;
}

/* Records that the index holds every message up to event upto. */
static int search_mark(struct store_conn *sc, int64_t upto)
{
    sqlite3_stmt *mark = cstmt(sc, CS_SEARCH_MARK);

    if (mark == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(mark, 1, upto);
    return store__run_one(sc, mark);
}

int store_search_flush(struct store_conn *sc)
{
    sqlite3_stmt *removed = cstmt(sc, CS_SEARCH_REMOVE);
    sqlite3_stmt *added = cstmt(sc, CS_SEARCH_ADD);
    sqlite3_stmt *clear = cstmt(sc, CS_SEARCH_CLEAR);
    struct search_pending pending;
    int rc;

    if (removed == NULL || added == NULL || clear == NULL || search_pending(sc, &pending) != 0) {
        return PIPIT_ESTORE;
    }
    /* No message since the last flush and no change queued (a batch of pushes or
     * receipts): nothing to index, and the mark needs no write. */
    if (!pending.queued && pending.top == sc->search_upto) {
        return 0;
    }
    if (store_savepoint(sc) != 0) {
        return PIPIT_ESTORE;
    }
    rc = pending.queued ? store__run(sc, removed) : 0;
    if (rc == 0) {
        rc = store__run(sc, added);
    }
    if (rc == 0 && pending.queued) {
        rc = store__run(sc, clear);
    }
    /* Indexing adds no event: the newest is still pending.top. */
    if (rc == 0) {
        rc = search_mark(sc, pending.top);
    }
    /* A failure leaves the index and the queue as they were, for the next try. */
    if (rc != 0) {
        store_rollback_savepoint(sc);
        return PIPIT_ESTORE;
    }
    rc = store_release(sc);
    if (rc == 0) {
        sc->search_upto = pending.top;
    }
    return rc;
}

int store_search_check(struct store_conn *sc)
{
    return sqlite3_exec(sc->db, "INSERT INTO message_search (message_search) "
                        "VALUES ('integrity-check')", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : PIPIT_ESTORE;
}

/*
 * Makes the index again from the stored messages (inside a transaction), and
 * records its layout and that it holds every message up to the newest event.
 */
static int search_rebuild(struct store_conn *sc, int64_t *upto)
{
    sqlite3_stmt *set = cstmt(sc, CS_SEARCH_LAYOUT_SET);
    struct search_pending pending;

    if (set == NULL || sqlite3_exec(sc->db, "DELETE FROM search_queue; INSERT INTO "
                                    "message_search (message_search) VALUES ('rebuild')",
                                    NULL, NULL, NULL) != SQLITE_OK) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int(set, 1, SEARCH_LAYOUT);
    if (store__run(sc, set) != 0 || search_pending(sc, &pending) != 0 ||
        search_mark(sc, pending.top) != 0) {
        return PIPIT_ESTORE;
    }
    *upto = pending.top;
    return 0;
}

int store_search_rebuild(struct store_conn *sc)
{
    int present = store__one_int(cstmt(sc, CS_SEARCH_TRIGGERED), NULL);

    if (present == PIPIT_ENOT_FOUND) {
        return 0;
    }
    /* Higher than what a rollback leaves is safe: a message is then queued and indexed once. */
    return present == 0 ? search_rebuild(sc, &sc->search_upto) : PIPIT_ESTORE;
}

int store_search_enable(struct store_conn *sc, bool on, bool *rebuilt)
{
    int present = store__one_int(cstmt(sc, CS_SEARCH_TRIGGERED), NULL);
    int64_t layout = 0; /* no row: unknown, rebuilt to be sure */
    int64_t upto = 0;
    int rc;

    *rebuilt = false;
    if ((present != 0 && present != PIPIT_ENOT_FOUND) ||
        store__one_int(cstmt(sc, CS_SEARCH_LAYOUT), &layout) == PIPIT_ESTORE) {
        return PIPIT_ESTORE;
    }
    if ((present == 0) == on && (!on || layout == SEARCH_LAYOUT)) {
        /* What another process changed (the pipit tool) waits in the queue. */
        return on ? store_search_flush(sc) : 0;
    }
    if (store_begin(sc) != 0) {
        return PIPIT_ESTORE;
    }
    /* Off: the triggers go and the index is emptied; it is rebuilt when turned on. */
    if (!on) {
        rc = sqlite3_exec(sc->db, search_drop, NULL, NULL, NULL) == SQLITE_OK ? 0 : PIPIT_ESTORE;
    } else if (present != 0 &&
               sqlite3_exec(sc->db, search_triggers, NULL, NULL, NULL) != SQLITE_OK) {
        rc = PIPIT_ESTORE;
    } else {
        rc = search_rebuild(sc, &upto);
    }
    if (rc != 0) {
        store_rollback(sc);
        return rc;
    }
    if (store_commit(sc) != 0) {
        return PIPIT_ESTORE;
    }
    sc->search_upto = upto; /* 0 while off: nothing is queued */
    *rebuilt = on;
    return 0;
}

int store_search_optimize(struct store_conn *sc)
{
    return store__run(sc, cstmt(sc, CS_SEARCH_OPTIMIZE));
}

/* ---- content flags ---- */

int store_flag_insert(struct store_conn *sc, int64_t app_id, const struct store_flag *f)
{
    sqlite3_stmt *s = cstmt(sc, CS_FLAG_INSERT);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, f->conv_id);
    sqlite3_bind_int64(s, 3, f->seq);
    sqlite3_bind_int64(s, 4, f->sender);
    sqlite3_bind_text(s, 5, f->list, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, f->word, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, f->created_at);
    return store__run(sc, s);
}

int store_flag_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                    int (*cb)(void *arg, const struct store_flag *f), void *arg)
{
    sqlite3_stmt *s = cstmt(sc, CS_FLAG_LIST);
    int rc;

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, before);
    sqlite3_bind_int(s, 3, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_flag f = {
            sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
            sqlite3_column_int64(s, 3), (const char *)sqlite3_column_text(s, 4),
            (const char *)sqlite3_column_text(s, 5), sqlite3_column_int64(s, 6),
        };

        if (cb(arg, &f) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : PIPIT_ESTORE;
}

int store_flag_delete(struct store_conn *sc, int64_t app_id, int64_t id)
{
    sqlite3_stmt *s = cstmt(sc, CS_FLAG_DELETE);

    if (s == NULL) {
        return PIPIT_ESTORE;
    }
    sqlite3_bind_int64(s, 1, app_id);
    sqlite3_bind_int64(s, 2, id);
    return store__run_one(sc, s);
}
