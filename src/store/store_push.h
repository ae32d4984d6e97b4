/*
 * store_push.h: API keys and devices (migration 0003_push.sql).
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
};

/* k: app_id, name, scopes, verifier_hash, created_at set; sets k->id. created_by 0 = a key. */
int store_api_key_insert(struct store_conn *sc, struct store_api_key *k,
                         const uint8_t selector[STORE_SELECTOR_LEN], int64_t created_by);
int store_api_key_lookup(struct store_conn *sc, const uint8_t selector[STORE_SELECTOR_LEN],
                         struct store_api_key *out);
/* The app's keys, revoked ones too, by id. */
int store_api_key_list(struct store_conn *sc, int64_t app_id,
                       int (*cb)(void *arg, const struct store_api_key *k), void *arg);
/* Revokes (once: a second revoke keeps the first time); PIPIT_ENOT_FOUND if no such key. */
int store_api_key_revoke(struct store_conn *sc, int64_t app_id, int64_t id, int64_t now);
int store_api_key_touch(struct store_conn *sc, int64_t id, int64_t now);

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
};

/*
 * Registers d (app_id, user_id, platform, address, topic, keys, updated_at set):
 * a new row, or the existing one for (app, platform, address), updated and
 * moved to d->user_id. Fills id and created_at; *created says which.
 */
int store_device_upsert(struct store_conn *sc, struct store_device *d, bool *created);
/* The user's devices, by id. */
int store_device_list(struct store_conn *sc, int64_t user_id,
                      int (*cb)(void *arg, const struct store_device *d), void *arg);
/* PIPIT_ENOT_FOUND unless the device exists and is the user's. */
int store_device_delete(struct store_conn *sc, int64_t user_id, int64_t id);
/* Deletes the user's least recently updated devices beyond the newest `keep`. */
int store_device_trim(struct store_conn *sc, int64_t user_id, int keep);

#endif
