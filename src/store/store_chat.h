/*
 * store_chat.h: conversations, members and timelines in the store.
 *
 * Same rules as store.h: one connection per thread, writes only on the store
 * writer inside its batch transaction, 0 or a PIPIT_E* code. Text fields of
 * rows handed to a callback are borrowed and valid only during the call; rows
 * returned through an out-parameter own their strings (store_conv_cleanup).
 */
#ifndef PIPIT_STORE_STORE_CHAT_H
#define PIPIT_STORE_STORE_CHAT_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct store_conv {
    int64_t id;
    int64_t app_id;
    char type[8];               /* "direct" or "group" */
    char *title;                /* NULL when unset */
    char *avatar_url;
    char *description;
    char *announcement;
    bool muted_all;
    int64_t last_seq;
    int64_t last_ts;
    int64_t created_by;
    int64_t created_at;
    int64_t deleted_at;         /* ms; 0: in use (a deleted one is an empty row) */
};

struct store_member {
    int64_t conv_id;
    int64_t user_id;
    char username[STORE_USERNAME_MAX + 1];
    char role[8];               /* "owner", "admin" or "member" */
    int64_t joined_seq;
    int64_t left_seq;           /* 0 while a member */
    int64_t read_seq;
    int64_t delivered_seq;
    int64_t muted_until;        /* ms; 0 = not muted */
    int64_t joined_at;
    char display_name[STORE_DISPLAY_MAX + 1]; /* "" when the user has none */
};

struct store_event {
    int64_t id;
    int64_t conv_id;
    int64_t seq;
    const char *kind;           /* message, edit, recall, member, conv_updated */
    int64_t sender;
    int64_t ts;
    const char *cmid;           /* NULL unless a message */
    int64_t target;             /* edit/recall: the message's seq; else 0 */
    const char *body;           /* JSON object text, NULL when none or recalled */
    const char *meta;           /* JSON object text, NULL when none */
    int64_t edited_at;          /* 0 when never edited */
    bool recalled;
    bool hidden;                /* deleted by the reading user for themselves */
};

void store_conv_cleanup(struct store_conv *c);

int store_conv_get(struct store_conn *sc, int64_t conv_id, struct store_conv *out);
int store_conv_by_direct_key(struct store_conn *sc, const char *key, int64_t *conv_id);
/* Inserts c (id, last_seq ignored); sets c->id. direct_key NULL for groups. */
int store_conv_insert(struct store_conn *sc, struct store_conv *c, const char *direct_key);
/* Writes back title, avatar_url, description, announcement, muted_all. */
int store_conv_update(struct store_conn *sc, const struct store_conv *c);
/*
 * The seq and time of the conversation's newest event. The writer hands out seqs
 * from its cache and writes last_seq/last_ts back once per batch
 * (store_conv_save_tail, before COMMIT), so inside a batch the events are ahead
 * of the row: this reads both and takes the newer.
 */
int store_conv_tail(struct store_conn *sc, int64_t conv_id, int64_t *seq, int64_t *ts);
/* Copies the newest event's seq and time into the conversation's row. */
int store_conv_save_tail(struct store_conn *sc, int64_t conv_id);

/* Which conversations store_conv_search returns (deleted ones never). */
struct store_conv_query {
    int64_t app_id;
    /* LIKE, '\' escapes: a group's title or the username of a direct one's member; NULL: all. */
    const char *pattern;
    int64_t after;              /* ids above this one */
    int limit;
};
/* The conversations q selects in id order, each with its current member count. */
int store_conv_search(struct store_conn *sc, const struct store_conv_query *q,
                      int (*cb)(void *arg, const struct store_conv *c, int64_t members),
                      void *arg);
/* The app's conversations that are not deleted. */
int store_conv_count(struct store_conn *sc, int64_t app_id, int64_t *count);
/*
 * Deletes the conversation's events (and so who hid them), its members and their
 * read state, and empties its row, which stays, marked deleted, to keep its id.
 */
int store_conv_delete(struct store_conn *sc, int64_t conv_id, int64_t now_ms);

/* The user's membership rows (left ones too), with conversations, newest activity first. */
int store_conv_list_for_user(struct store_conn *sc, int64_t user_id,
                             int (*cb)(void *arg, const struct store_conv *c,
                                       const struct store_member *m),
                             void *arg);

int store_member_get(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                     struct store_member *out);
/* Current members (left_seq NULL), ordered by user id. */
int store_member_list(struct store_conn *sc, int64_t conv_id,
                      int (*cb)(void *arg, const struct store_member *m), void *arg);
int store_member_count(struct store_conn *sc, int64_t conv_id, int64_t *count);
/* Adds the user, or brings a former member back (fresh read position and mute). */
int store_member_join(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                      const char *role, int64_t joined_seq, int64_t now_ms);
int store_member_leave(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                       int64_t left_seq);
int store_member_set_role(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                          const char *role);
int store_member_set_muted(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                           int64_t until_ms);
/* Moves read_seq (or delivered_seq) forward to seq; *now is the resulting value. */
int store_member_advance(struct store_conn *sc, int64_t conv_id, int64_t user_id,
                         bool delivered, int64_t seq, int64_t *now);
/* Users who share a direct conversation with user_id (presence contacts). */
int store_contacts(struct store_conn *sc, int64_t user_id,
                   int (*cb)(void *arg, int64_t user_id), void *arg);

/* Inserts ev (its id is set); PIPIT_ECMID_CONFLICT if (sender, cmid) exists. */
int store_event_insert(struct store_conn *sc, struct store_event *ev);
/* The event with (sender, cmid): calls cb once, or PIPIT_ENOT_FOUND. */
int store_event_by_cmid(struct store_conn *sc, int64_t sender, const char *cmid,
                        int (*cb)(void *arg, const struct store_event *ev), void *arg);
/*
 * Reads of events take `now` (ms): what the conversation's retention has expired
 * by then (migration 0013) is left out, as if already deleted, and so is an edit
 * or recall of an expired message.
 */
/* One event by seq as user_id sees it: cb once, or PIPIT_ENOT_FOUND. */
int store_event_get(struct store_conn *sc, int64_t conv_id, int64_t seq, int64_t user_id,
                    int64_t now, int (*cb)(void *arg, const struct store_event *ev), void *arg);
/*
 * Events with after < seq < before (0 = unbounded) as user_id sees them, at most
 * limit, ascending or newest first.
 */
int store_events_range(struct store_conn *sc, int64_t conv_id, int64_t user_id, int64_t now,
                       int64_t after, int64_t before, int limit, bool newest_first,
                       int (*cb)(void *arg, const struct store_event *ev), void *arg);
/* The newest message event with seq >= min_seq as user_id sees it: cb once, or PIPIT_ENOT_FOUND. */
int store_last_message(struct store_conn *sc, int64_t conv_id, int64_t user_id, int64_t now,
                       int64_t min_seq,
                       int (*cb)(void *arg, const struct store_event *ev), void *arg);
/* Messages from others above read_seq, not recalled, not deleted by user_id for themselves. */
int store_unread_count(struct store_conn *sc, int64_t conv_id, int64_t user_id, int64_t now,
                       int64_t read_seq, int64_t *count);
/* A message's new body; marked edited at edited_at (0: not), and its meta replaced (NULL: kept). */
int store_event_set_body(struct store_conn *sc, int64_t conv_id, int64_t seq,
                         const char *body, int64_t edited_at, const char *meta);
/* Clears the content of a message and of the edits that point at it. */
int store_event_recall(struct store_conn *sc, int64_t conv_id, int64_t seq);
int store_event_hide(struct store_conn *sc, int64_t user_id, int64_t event_id);

/* ---- Search (migration 0011) ---- */

/* Marks around the matches in a search snippet. */
#define STORE_HIT_OPEN '\x02'
#define STORE_HIT_CLOSE '\x03'

/* Most results one store_search call returns. */
#define STORE_SEARCH_PAGE_MAX 128

struct store_search_query {
    int64_t user_id;            /* whose view: their conversations, from when they joined */
    /*
     * The FTS5 expression of the user's words (search/query.h) for the columns
     * {text name}; store_search narrows it to the conversations itself.
     */
    const char *words;
    int64_t conv_id;            /* 0: every conversation */
    int64_t sender;             /* 0: anyone */
    int64_t before_ts;          /* ms; 0: no bound */
    int64_t after_ts;
    int limit;
    int offset;
    int window;                 /* how many of the newest matches are ranked */
    int64_t now;                /* ms: expired messages are not found (retention) */
};
/*
 * The messages q->user_id may see that match: of the newest q->window of them,
 * the best first (bm25, then newest):
 * not recalled, not hidden by the user, in a conversation they are a member of,
 * from the seq they joined at. cb gets each with a snippet of its text, the
 * matches between STORE_HIT_OPEN and STORE_HIT_CLOSE.
 */
int store_search(struct store_conn *sc, const struct store_search_query *q,
                 int (*cb)(void *arg, const struct store_event *ev, const char *snippet),
                 void *arg);
/*
 * Applies the queued index changes (the triggers' search_queue) to the index.
 * Writer only, inside the batch's transaction and outside any job's savepoint
 * (FTS5 writes out a segment at every savepoint): once per batch, before
 * COMMIT. On failure nothing changed: the queue waits for the next flush.
 */
int store_search_flush(struct store_conn *sc);
/*
 * Merges the whole index into one segment, so that terms deleted from it are
 * gone from the file too, not just marked (an erasure). Seconds per million
 * messages, on the writer.
 */
int store_search_optimize(struct store_conn *sc);
/* Where search is on, makes the index again from the stored messages (in a transaction). */
int store_search_rebuild(struct store_conn *sc);
/* FTS5's integrity check: 0 when the index holds exactly what the messages do. */
int store_search_check(struct store_conn *sc);
/*
 * Creates (on) or drops (off) the triggers that keep the message index in step
 * with events. Turning it on where it was off, or finding an index made with
 * another token layout (SEARCH_LAYOUT), rebuilds the index from the stored
 * messages (*rebuilt set); off empties it. Writer only, outside a batch.
 */
int store_search_enable(struct store_conn *sc, bool on, bool *rebuilt);

/* A text the content filter flagged for review: a message, or a title (seq 0). */
struct store_flag {
    int64_t id;
    int64_t conv_id, seq, sender;
    const char *list, *word;
    int64_t created_at;
};
int store_flag_insert(struct store_conn *sc, int64_t app_id, const struct store_flag *f);
/* The app's flags, newest first, below id `before` (0: from the newest). */
int store_flag_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                    int (*cb)(void *arg, const struct store_flag *f), void *arg);
/* Resolves (deletes) a flag: PIPIT_ENOT_FOUND when the app has no such flag. */
int store_flag_delete(struct store_conn *sc, int64_t app_id, int64_t id);

#endif
