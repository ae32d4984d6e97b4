/*
 * store_export.h: what an export reads (compliance/export.h): every row the
 * store holds about a user or a conversation, as stored.
 *
 * These reads go around the retention filter of store_chat.h on purpose: an
 * export for eDiscovery wants what is stored, expired messages kept under a
 * legal hold and the bodies edits and recalls replaced (held_versions)
 * included. Secrets never leave: no password hash, no token or API key
 * selector or verifier, no Web Push encryption keys.
 *
 * Rows are streamed to the callback as SQLite steps through them (nothing is
 * gathered in memory); each is one JSON object, built by SQLite, whose text is
 * borrowed for the call. A callback's non-zero return stops the walk and is
 * returned. Between store_export_begin and store_export_end every read sees
 * the same commit, so the parts of one export agree with each other.
 *
 * Any connection (a reader's, or the CLI's); the writer's never (a long read
 * there would hold every write). 0, or PIPIT_ESTORE.
 */
#ifndef PIPIT_STORE_STORE_EXPORT_H
#define PIPIT_STORE_STORE_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_files.h"

/* The row sets; the comment says what `id` is and the order of the rows. */
enum store_export_rows {
    STORE_EXPORT_USER_ACCOUNT,      /* user: their users row (one) */
    STORE_EXPORT_USER_SESSIONS,     /* user: session tokens, by id */
    STORE_EXPORT_USER_DEVICES,      /* user: push devices, by id */
    STORE_EXPORT_USER_TOPICS,       /* user: topic subscriptions, by topic */
    STORE_EXPORT_USER_TAGS,         /* user: tags, by name */
    STORE_EXPORT_USER_SETTINGS,     /* user: notification settings (none or one) */
    STORE_EXPORT_USER_MEMBERSHIPS,  /* user: member rows, left ones too, by conversation */
    STORE_EXPORT_USER_MESSAGES,     /* user: every event they sent, by id */
    STORE_EXPORT_USER_HIDDEN,       /* user: events they deleted for themselves, by id */
    STORE_EXPORT_USER_HELD,         /* user: held versions of what they sent, by id */
    STORE_EXPORT_USER_DELIVERIES,   /* user: pushes to them, with what each said, by push */
    STORE_EXPORT_USER_API_KEYS,     /* user: API keys they made (no secrets), by id */
    STORE_EXPORT_USER_HOLDS,        /* user: legal holds on them, by id */
    STORE_EXPORT_USER_AUDIT,        /* user: audit records with them as actor or target */
    STORE_EXPORT_CONV,              /* conversation: its row, with the retention (one) */
    STORE_EXPORT_CONV_MEMBERS,      /* conversation: every member row, left ones too */
    STORE_EXPORT_CONV_EVENTS,       /* conversation: every stored event, by seq */
    STORE_EXPORT_CONV_HELD,         /* conversation: held versions, by seq */
    STORE_EXPORT_CONV_HOLDS,        /* conversation: legal holds on it, by id */
    STORE_EXPORT_CONV_AUDIT,        /* conversation: audit records with it as target */
    STORE_EXPORT_ROWS_COUNT
};

/* A read transaction on sc, ended by store_export_end (which never fails the export). */
int store_export_begin(struct store_conn *sc);
void store_export_end(struct store_conn *sc);

int store_export_rows(struct store_conn *sc, enum store_export_rows what, int64_t id,
                      int (*cb)(void *arg, const char *json, size_t len), void *arg);
/*
 * The files of user `id` (its uploads) or of conversation `id` (those its
 * messages share), with their blobs, by id.
 */
int store_export_files(struct store_conn *sc, bool conv, int64_t id,
                       int (*cb)(void *arg, const struct store_file *f), void *arg);

#endif
