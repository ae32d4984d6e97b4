/*
 * store_push.h: API keys and devices (migration 0003_push.sql); topics, tags,
 * pushes and their deliveries (0004_push_send.sql).
 *
 * Same rules as store.h: one connection per thread, writes on the writer only,
 * PIPIT_ENOT_FOUND when a row that must exist does not.
 */
#ifndef PIPIT_STORE_STORE_PUSH_H
#define PIPIT_STORE_STORE_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* What an API key may do (the bits of api_keys.scopes). */
#define STORE_SCOPE_PUSH 1u
#define STORE_SCOPE_USERS 2u
#define STORE_SCOPE_ADMIN 4u

#define STORE_KEY_NAME_MAX 100

struct store_api_key {
    int64_t id;
    int64_t app_id;
    char name[STORE_KEY_NAME_MAX + 1];
    unsigned scopes;
    uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN];
    int64_t created_at;
    int64_t last_used_at;       /* 0: never */
    int64_t revoked_at;         /* 0: in force */
    int64_t bot_id;             /* a bot's key: it signs in as that user (api/bots.c); 0: the app's */
};

/* k: app_id, name, scopes, verifier_hash, created_at set; sets k->id. created_by 0 = a key. */
int store_api_key_insert(struct store_conn *sc, struct store_api_key *k,
                         const uint8_t selector[STORE_SELECTOR_LEN], int64_t created_by);
int store_api_key_lookup(struct store_conn *sc, const uint8_t selector[STORE_SELECTOR_LEN],
                         struct store_api_key *out);
/* The app's keys, revoked ones too, by id. */
int store_api_key_list(struct store_conn *sc, int64_t app_id,
                       int (*cb)(void *arg, const struct store_api_key *k), void *arg);
/*
 * Revokes the app's key id (not a bot's), or with bot_id every key of that bot
 * (id ignored); once: a second revoke keeps the first time. PIPIT_ENOT_FOUND if
 * there is no such key.
 */
int store_api_key_revoke(struct store_conn *sc, int64_t app_id, int64_t id, int64_t bot_id,
                         int64_t now);
int store_api_key_touch(struct store_conn *sc, int64_t id, int64_t now);
/* Whether the bot was ever given a key (revoked ones count). */
int store_api_key_any_of_bot(struct store_conn *sc, int64_t bot_id, bool *any);

#define STORE_ADDRESS_MAX 4096
#define STORE_TOPIC_MAX 255
#define STORE_P256DH_LEN 65
#define STORE_AUTH_LEN 16

struct store_device {
    int64_t id;
    int64_t app_id;
    int64_t user_id;
    char platform[16];
    char address[STORE_ADDRESS_MAX + 1]; /* token, or endpoint URL */
    char topic[STORE_TOPIC_MAX + 1];     /* "" when none */
    bool has_keys;
    uint8_t p256dh[STORE_P256DH_LEN];
    uint8_t auth[STORE_AUTH_LEN];
    int64_t created_at;
    int64_t updated_at;
    bool sandbox;                        /* APNs: a development build's token */
};

/*
 * Registers d (app_id, user_id, platform, address, topic, keys, updated_at set):
 * a new row, or the existing one for (app, platform, address), updated and
 * moved to d->user_id. Fills id and created_at; *created says which.
 */
int store_device_upsert(struct store_conn *sc, struct store_device *d, bool *created);
/*
 * The user's devices, by id. All are read before cb is called, so cb may
 * write; its non-zero return stops the walk and is returned.
 */
int store_device_list(struct store_conn *sc, int64_t user_id,
                      int (*cb)(void *arg, const struct store_device *d), void *arg);
/* PIPIT_ENOT_FOUND unless the device exists and is the user's. */
int store_device_delete(struct store_conn *sc, int64_t user_id, int64_t id);
/* Deletes the user's least recently updated devices beyond the newest `keep`. */
int store_device_trim(struct store_conn *sc, int64_t user_id, int keep);

/* ---- topics and tags ---- */

#define STORE_NAME_MAX 64   /* a topic, a tag name, a category */
#define STORE_TAG_VALUE_MAX 256

int store_topic_subscribe(struct store_conn *sc, int64_t app_id, const char *topic,
                          int64_t user_id);
int store_topic_unsubscribe(struct store_conn *sc, int64_t app_id, const char *topic,
                            int64_t user_id);
/* The user's topics, sorted. */
int store_topic_list(struct store_conn *sc, int64_t user_id,
                     int (*cb)(void *arg, const char *topic), void *arg);
/* Replaces all of the user's tags with names[i] = values[i]. */
int store_tags_replace(struct store_conn *sc, int64_t user_id, const char *const *names,
                       const char *const *values, size_t n);
int store_tags_list(struct store_conn *sc, int64_t user_id,
                    int (*cb)(void *arg, const char *name, const char *value), void *arg);
/* 0 when the user has the tag with that value, PIPIT_ENOT_FOUND when not. */
int store_tag_check(struct store_conn *sc, int64_t user_id, const char *name, const char *value);

/* ---- pushes and their deliveries ---- */

struct store_push {
    int64_t id;
    int64_t app_id;
    int64_t created_at;
    int64_t expires_at;
    char *target;           /* JSON text, owned */
    char *notification;     /* JSON text, owned */
    char priority[8];
    char *collapse_key;     /* NULL if none */
    char *dedup_key;        /* NULL if none */
    bool done;              /* expanded to every recipient */
    int64_t cursor;         /* the last user expanded */
    char *category;         /* NULL if none */
    int64_t send_at;        /* ms; 0: now */
    char *send_at_local;    /* "YYYY-MM-DDTHH:MM" in each user's zone; NULL if none */
    char *variants;         /* JSON array; NULL if none */
    int holdout;            /* weight of the group that gets nothing */
};

void store_push_cleanup(struct store_push *p);
/* Inserts p, as done when p->done (the caller expands it at once), else expanding; sets p->id. */
int store_push_insert(struct store_conn *sc, struct store_push *p);
/* The push of the app with dedup_key made at or after since; PIPIT_ENOT_FOUND if none. */
int store_push_by_dedup(struct store_conn *sc, int64_t app_id, const char *dedup_key,
                        int64_t since, int64_t *id);
/* Frees an old push's dedup_key for reuse (after its 24 hours). */
int store_push_release_dedup(struct store_conn *sc, int64_t app_id, const char *dedup_key);
/* app_id 0: any app (the expander). */
int store_push_get(struct store_conn *sc, int64_t app_id, int64_t id, struct store_push *out);
/* The app's pushes with id < before (0: any), newest first, at most limit. */
int store_push_list(struct store_conn *sc, int64_t app_id, int64_t before, int limit,
                    int (*cb)(void *arg, const struct store_push *p), void *arg);
int store_push_set_cursor(struct store_conn *sc, int64_t id, int64_t cursor, bool done);
/* Pushes not yet expanded to everyone (to resume after a restart). */
int store_push_expanding(struct store_conn *sc, int (*cb)(void *arg, int64_t id), void *arg);

enum store_audience {
    STORE_AUDIENCE_TOPIC,
    STORE_AUDIENCE_TAG,
    STORE_AUDIENCE_ALL,
    STORE_AUDIENCE_CONV,
};
/*
 * Up to limit users of the app after user id `after`, in id order: subscribers of
 * topic (a), users with tag a = b, everyone, or the members of conversation a
 * (its id in decimal).
 */
int store_push_audience(struct store_conn *sc, enum store_audience kind, int64_t app_id,
                        const char *a, const char *b, int64_t after, int limit,
                        int (*cb)(void *arg, int64_t user_id), void *arg);

struct store_delivery {
    int64_t push_id;
    int64_t user_id;
    int64_t device_id;      /* 0: none (in-app, pending, or nothing to send to) */
    const char *channel;
    const char *state;
    const char *reason;     /* NULL: none */
    int64_t next_at;        /* queued: due at (ms); 0: now */
    int variant;            /* -1: none */
    int64_t now;            /* ms: when a sent row was sent, when a row due now became due */
};
/* state `sending`: handed to the dispatcher at once, as its first attempt. id may be NULL. */
int store_delivery_insert(struct store_conn *sc, const struct store_delivery *d, int64_t *id);
int store_delivery_delete(struct store_conn *sc, int64_t id);
/* Per (channel, state, reason, variant): how many, and how many delivered, opened, clicked. */
struct store_delivery_count {
    const char *channel;
    const char *state;
    const char *reason;         /* "" when none */
    int variant;                /* -1: none */
    int64_t n, delivered, opened, clicked;
};
int store_delivery_counts(struct store_conn *sc, int64_t push_id,
                          int (*cb)(void *arg, const struct store_delivery_count *r), void *arg);
int store_delivery_targeted(struct store_conn *sc, int64_t push_id, int64_t *users);
/*
 * Marks a push (not a chat message's notification) finished when it is fully
 * expanded and none of its deliveries is queued or sending; *finished: it was
 * marked now (false: not yet, or already before).
 */
int store_push_finish(struct store_conn *sc, int64_t push_id, int64_t now, bool *finished);
enum store_push_event { STORE_EVENT_DELIVERED, STORE_EVENT_OPENED, STORE_EVENT_CLICKED };
/*
 * Records an event on the user's delivery of the push: the device's, or the
 * in-app one when device_id is 0 (opened implies delivered, clicked both; a
 * repeat changes nothing; *first says whether this one was new). PIPIT_ENOT_FOUND
 * when the user has no such delivery.
 */
int store_delivery_event(struct store_conn *sc, int64_t push_id, int64_t user_id,
                         int64_t device_id, enum store_push_event ev, int64_t now, bool *first);


/* ---- sending (the push dispatcher) ---- */

/* A delivery claimed for sending, with what its request needs. */
struct store_outgoing {
    int64_t id;
    int64_t push_id;
    int64_t user_id;
    int64_t app_id;
    char channel[16];
    int attempts;               /* this one included */
    int64_t expires_at;         /* ms */
    char *notification;         /* JSON text, owned */
    char priority[8];
    char *collapse_key;         /* NULL if none */
    char *variant_notification; /* JSON: the variant's fields over notification; NULL if none */
    struct store_device device; /* id 0: the device was deleted meanwhile */
};
void store_outgoing_cleanup(struct store_outgoing *o);
/*
 * Claims up to max deliveries due at now (queued, next_at <= now), oldest due
 * first: each becomes `sending` with one more attempt, and cb gets it (and owns
 * its strings); a `pending` one goes to pending() instead, to be decided. Writer
 * only.
 */
int store_delivery_claim(struct store_conn *sc, int64_t now, int max,
                         int (*cb)(void *arg, struct store_outgoing *o),
                         int (*pending)(void *arg, int64_t id, int64_t push_id, int64_t user_id),
                         void *arg);
/* When the earliest queued delivery is due (ms; 0 now), or -1 if none is queued. */
int store_delivery_next_due(struct store_conn *sc, int64_t *next_at);
/*
 * Ends an attempt of a `sending` delivery: state sent, failed or expired; or
 * queued again, due at next_at. sent_at 0: unchanged.
 */
int store_delivery_finish(struct store_conn *sc, int64_t id, const char *state,
                          const char *reason, int64_t next_at, int64_t sent_at);
/* At start-up: deliveries left `sending` by the last run are queued again. */
int store_delivery_recover(struct store_conn *sc, int64_t *count);
/* Deletes a device the provider says is gone, unless it was registered again since. */
int store_device_forget(struct store_conn *sc, int64_t id, int64_t updated_at);

/* ---- the user's wishes ---- */

/* The user's settings as stored (JSON text, owned); PIPIT_ENOT_FOUND if never set. */
int store_settings_get(struct store_conn *sc, int64_t user_id, char **json);
int store_settings_put(struct store_conn *sc, int64_t user_id, const char *json, int64_t now);
int store_category_put(struct store_conn *sc, int64_t app_id, const char *name, bool urgent);
int store_category_delete(struct store_conn *sc, int64_t app_id, const char *name);
int store_category_list(struct store_conn *sc, int64_t app_id,
                        int (*cb)(void *arg, const char *name, bool urgent), void *arg);
/* Whether the app calls the category urgent (false for one it never named). */
int store_category_urgent(struct store_conn *sc, int64_t app_id, const char *name, bool *urgent);
/* How many pushes of category went to the user from `since` to `now` (ms), except one. */
int store_push_recent(struct store_conn *sc, int64_t user_id, const char *category, int64_t since,
                      int64_t now, int64_t except_push, int64_t *n);

#endif
