/*
 * store_retention.h: retention settings, legal holds, the retention sweep's
 * deletions (migration 0013) and the erasure of a user (0014).
 *
 * Reads never serve what retention has expired (store_chat.h); this is what
 * deletes it. Nothing under an active hold is deleted: the sweep passes held
 * events by, and triggers refuse any other deletion and keep the bodies edits
 * and recalls replace (held_versions).
 */
#ifndef PIPIT_STORE_STORE_RETENTION_H
#define PIPIT_STORE_STORE_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_RETENTION_DAYS_MAX 36500
#define STORE_HOLD_REASON_MAX 1000
#define STORE_ACTOR_MAX 32

/* Days to keep; 0: no setting (an app's: forever; a conversation's: the app's). */
struct store_retention {
    int64_t message_days;
    int64_t file_days;
};

int store_app_retention(struct store_conn *sc, int64_t app_id, struct store_retention *out);
int store_app_set_retention(struct store_conn *sc, int64_t app_id,
                            const struct store_retention *r);
/* The conversation's own settings (not the app's). */
int store_conv_retention(struct store_conn *sc, int64_t conv_id, struct store_retention *out);
int store_conv_set_retention(struct store_conn *sc, int64_t conv_id,
                             const struct store_retention *r);

struct store_hold {
    int64_t id;
    int64_t app_id;
    int64_t user_id;            /* one of these two is set */
    int64_t conv_id;
    const char *reason;         /* borrowed: the caller's, or the statement's in a callback */
    int64_t created_at;
    char created_by[STORE_ACTOR_MAX];
    int64_t lifted_at;          /* 0: active */
    char lifted_by[STORE_ACTOR_MAX];
};

/* Sets h->id; PIPIT_ECONFLICT when the target already has an active hold. */
int store_hold_insert(struct store_conn *sc, struct store_hold *h);
/* PIPIT_ENOT_FOUND when there is no such hold in the app; its reason is copied to reason. */
int store_hold_get(struct store_conn *sc, int64_t app_id, int64_t id, struct store_hold *out,
                   char *reason, size_t cap);
/* The app's holds with id < before (0: from the newest), newest first. */
int store_hold_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                    int (*cb)(void *arg, const struct store_hold *h), void *arg);
/* Lifts an active hold, and has the sweep look again at what it kept. */
int store_hold_lift(struct store_conn *sc, int64_t id, int64_t now, const char *actor);
/* Whether deleting the conversation would delete something held (its hold, or a held sender's). */
int store_conv_holds_anything(struct store_conn *sc, int64_t conv_id, bool *held);

/* A conversation the sweep looks at: one with a retention setting, its own or its app's. */
struct store_retention_conv {
    int64_t id;
    struct store_retention keep; /* in effect: the conversation's, else the app's */
    int64_t expired_seq;        /* how far earlier passes looked */
    bool held;                  /* the conversation is under hold */
};
/* Such conversations with id > after, in id order, at most limit; cb returns
 * non-zero to stop (negative: an error, returned). */
int store_retention_convs(struct store_conn *sc, int64_t after, int limit,
                          int (*cb)(void *arg, const struct store_retention_conv *c),
                          void *arg);
/*
 * Deletes up to max events of conv_id older than `before` (ms), from seq
 * expired_seq on, with the edits and recalls that point at them, passing by
 * those of held senders. Stops at the first event that is not expired. Sets
 * *deleted and saves how far it looked.
 */
int store_retention_expire(struct store_conn *sc, int64_t conv_id, int64_t expired_seq,
                           int64_t before, int max, int *deleted);
/* Unshares up to max files shared by messages of conv_id older than `before`, but held ones. */
int store_retention_unshare(struct store_conn *sc, int64_t conv_id, int64_t before, int max,
                            int *removed);

/* Whether the user, or a conversation they wrote in, is under an active hold. */
int store_user_held(struct store_conn *sc, int64_t user_id, bool *held);

struct store_erasure {
    int64_t messages;           /* messages and edits made tombstones */
    int64_t files;              /* uploads deleted */
};
/*
 * Erases user_id: their messages and edits become tombstones (body gone, seq kept,
 * meta {"erased":true}), what holds kept of them goes, their uploads go (gone()
 * names each blob no other upload has: its bytes are the caller's to unlink after
 * COMMIT), with their sessions, devices, topics, tags, settings, deliveries and
 * the chat notifications of their messages; the account row stays, emptied, named
 * erased-<id>. Check store_user_held first: held rows make it fail. Leaves
 * secure_delete on for the rest of the transaction: call store_secure_delete_end
 * once the search index is purged too.
 */
int store_user_erase(struct store_conn *sc, int64_t user_id, int64_t now,
                     struct store_erasure *out, int (*gone)(void *arg, const char *sha256),
                     void *arg);
int store_secure_delete_end(struct store_conn *sc);

#endif
