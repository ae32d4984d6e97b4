/*
 * store_internal.h: what the SQLite store's files share (not for callers).
 *
 * A connection caches its prepared statements in numbered slots: the core
 * statements (store_sqlite.c) first, then those of store_chat.c, store_push.c,
 * store_files.c, store_audit.c, store_retention.c, store_export.c and
 * store_hooks.c.
 */
#ifndef PIPIT_STORE_STORE_INTERNAL_H
#define PIPIT_STORE_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_CHAT_FIRST_STMT 48
#define STORE_PUSH_FIRST_STMT 104
#define STORE_FILES_FIRST_STMT 164
#define STORE_AUDIT_FIRST_STMT 196
#define STORE_RETENTION_FIRST_STMT 220
#define STORE_EXPORT_FIRST_STMT 260
#define STORE_HOOKS_FIRST_STMT 288
#define STORE_STMT_SLOTS 316

/*
 * The oldest ts conversation `conv` keeps at time `now` (SQL expressions), for
 * `what` ("message" or "file"): its <what>_retention_days, else its app's,
 * before now; 0 when it keeps all (migration 0013). Older messages are expired:
 * never read, whether or not the retention sweep has deleted them yet.
 */
#define KEPT_SINCE(what, conv, now)                                                   \
    "coalesce(" now " - 86400000 * (SELECT coalesce(rc." what "_retention_days, "     \
    "ra." what "_retention_days) FROM conversations rc JOIN apps ra "                 \
    "ON ra.id = rc.app_id WHERE rc.id = " conv "), 0)"

/*
 * A message's body as text, whether it is sealed (encryption at rest) or not:
 * the SQL function pipit_unseal, registered on every connection (store_open).
 * Its associated data is the message's place, so a body moved to another row
 * does not open. Bodies are written through pipit_seal(text, conv_id, seq).
 */
#define BODY(e) "pipit_unseal(" e ".body, " e ".conv_id, " e ".seq)"
/* A version of a message a legal hold kept: its place is the message's with the
 * seq negated, so it cannot be put back in the message's place. */
#define HELD_BODY(h) "pipit_unseal(" h ".body, " h ".conv_id, -" h ".seq)"
/* A push's notification and A/B variants, sealed like a body (they may carry a
 * message's preview); their places, (0, 0) and (0, 1), are no message's. */
#define NOTIFICATION(p) "pipit_unseal(" p "notification, 0, 0)"
#define VARIANTS(p) "pipit_unseal(" p "variants, 0, 1)"
/* A webhook's secret, a delivery's payload, a before-send hook's secret: places
 * (-1, 0), (-1, 1) and (-1, 2). */
#define WEBHOOK_SECRET(h) "pipit_unseal(" h "secret, -1, 0)"
#define BEFORE_SEND_SECRET(b) "pipit_unseal(" b "secret, -1, 2)"
/* An assistant's endpoint key: place (-1, 3). */
#define ASSISTANT_KEY(a) "pipit_unseal(" a "api_key, -1, 3)"
#define WEBHOOK_PAYLOAD(d) "pipit_unseal(" d "payload, -1, 1)"

struct keyring;

/*
 * The value pipit_seal made last on a connection, and its text: the triggers of
 * the same INSERT read it back at once (file_shares_insert), and this spares them
 * opening it again. Only (sealed bytes, place) as they were made give the text.
 */
struct store_last_sealed {
    uint8_t *sealed;
    size_t sealed_len;
    char *text;
    size_t text_len;
    int64_t a, b;
};

struct store_conn {
    sqlite3 *db;
    const struct keyring *keys;     /* NULL: encryption at rest is off */
    bool sealed;                    /* the database is sealed: no plain value is taken */
    struct store_last_sealed last_sealed;
    /*
     * Search on, on the writer: the index's indexed_upto as this connection
     * last set it (store_search_flush). A message stored at or below it is
     * queued for the index (store_event_insert). 0: nothing is queued.
     */
    int64_t search_upto;
    sqlite3_stmt *stmts[STORE_STMT_SLOTS];
};

/* The statement in slot, prepared from sql on first use, reset and unbound. */
sqlite3_stmt *store__stmt(struct store_conn *sc, int slot, const char *sql);
/* Steps a statement that returns no rows (or ignores them): 0, PIPIT_EUSERNAME_TAKEN
 * for a UNIQUE violation, or PIPIT_ESTORE. */
int store__run(struct store_conn *sc, sqlite3_stmt *s);
/*
 * Steps a bound select for its one row, read(s, out) reading it: 0,
 * PIPIT_ENOT_FOUND without a row, PIPIT_ESTORE on error.
 */
int store__one_row(sqlite3_stmt *s, void (*read)(sqlite3_stmt *s, void *out), void *out);
/* store__run for a statement that must change a row: PIPIT_ENOT_FOUND when none changed. */
int store__run_one(struct store_conn *sc, sqlite3_stmt *s);
/* Steps a statement yielding at most one integer row: 0 with it in *out (if not
 * NULL), PIPIT_ENOT_FOUND without a row, PIPIT_ESTORE on error. */
int store__one_int(sqlite3_stmt *s, int64_t *out);
/* Binds v, or NULL when v is NULL. */
void store__bind_text(sqlite3_stmt *s, int col, const char *v);
/* A text column into dst (cut to cap; "" for SQL NULL). */
void store__copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col);
/* A copy of a text column (free() it), or NULL for SQL NULL. */
char *store__dup_text(sqlite3_stmt *s, int col);
/* Steps a statement to its end (or until cb returns non-zero), handing cb column 0. */
int store__each_int(sqlite3_stmt *s, int (*cb)(void *arg, int64_t v), void *arg);

#endif
