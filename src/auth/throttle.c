#include "auth/throttle.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "util/mem.h"

/* Addresses get more room: many honest users may share one (NAT, proxies). */
#define IP_FACTOR 4

struct slot {
    uint64_t key;
    int64_t first_ms;    /* start of the current window */
    int64_t next_ms;     /* no attempt before this */
    uint32_t failures;
    uint32_t inflight;   /* attempts begun and not yet ended */
};

struct throttle {
    uv_mutex_t lock;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    int64_t free_attempts;
    int64_t max_delay;
    struct slot slots[THROTTLE_SLOTS];
};

struct throttle *throttle_new(int64_t free_attempts, int64_t max_delay_ms)
{
    struct throttle *t = xcalloc(1, sizeof(*t));

    uv_mutex_init(&t->lock);
    randombytes_buf(t->hash_key, sizeof(t->hash_key));
    t->free_attempts = free_attempts;
    t->max_delay = max_delay_ms;
    return t;
}

void throttle_free(struct throttle **tp)
{
    if (*tp != NULL) {
        uv_mutex_destroy(&(*tp)->lock);
        PIPIT_FREE(*tp);
    }
}

/* Keys are prefixed by kind; accounts compare case-insensitively like usernames. */
static uint64_t key_of(struct throttle *t, char kind, const char *s)
{
    unsigned char buf[130];
    size_t n = 0;
    uint64_t h;

    buf[n++] = (unsigned char)kind;
    for (; *s != '\0' && n < sizeof(buf); s++) {
        buf[n++] = (unsigned char)tolower((unsigned char)*s);
    }
    crypto_shorthash((unsigned char *)&h, buf, n, t->hash_key);
    return h | 1; /* 0 marks an empty slot */
}

static struct slot *slot_of(struct throttle *t, uint64_t key, int64_t now)
{
    struct slot *s = &t->slots[key % THROTTLE_SLOTS];

    if (s->key != key || now - s->first_ms > THROTTLE_WINDOW_MS) {
        if (s->key == key && now < s->next_ms) {
            return s; /* still waiting out a delay that outlives the window */
        }
        memset(s, 0, sizeof(*s));
        s->key = key;
        s->first_ms = now;
    }
    return s;
}

static int64_t check_locked(struct throttle *t, uint64_t akey, uint64_t ikey, int64_t now_ms)
{
    int64_t wait = 0;

    for (int i = 0; i < 2; i++) {
        uint64_t key = i == 0 ? akey : ikey;
        int64_t budget = i == 0 ? t->free_attempts : t->free_attempts * IP_FACTOR;
        struct slot *s = &t->slots[key % THROTTLE_SLOTS];

        if (s->key != key) {
            continue;
        }
        if (s->next_ms > now_ms && s->next_ms - now_ms > wait) {
            wait = s->next_ms - now_ms;
        }
        /* Guesses still being checked would use up the free budget: wait for them. */
        if (s->inflight > 0 && (int64_t)s->failures + s->inflight >= budget && wait < 1000) {
            wait = 1000;
        }
    }
    return wait;
}

int64_t throttle_check(struct throttle *t, const char *account, const char *ip, int64_t now_ms)
{
    int64_t wait;

    uv_mutex_lock(&t->lock);
    wait = check_locked(t, key_of(t, 'a', account), key_of(t, 'i', ip), now_ms);
    uv_mutex_unlock(&t->lock);
    return wait;
}

int64_t throttle_begin(struct throttle *t, const char *account, const char *ip, int64_t now_ms)
{
    uint64_t akey, ikey;
    int64_t wait;

    uv_mutex_lock(&t->lock);
    akey = key_of(t, 'a', account);
    ikey = key_of(t, 'i', ip);
    wait = check_locked(t, akey, ikey, now_ms);
    if (wait == 0) {
        slot_of(t, akey, now_ms)->inflight++;
        slot_of(t, ikey, now_ms)->inflight++;
    }
    uv_mutex_unlock(&t->lock);
    return wait;
}

/* Ends one in-flight attempt on key (saturating: a reset slot forgot it). */
static void end_one(struct throttle *t, uint64_t key)
{
    struct slot *s = &t->slots[key % THROTTLE_SLOTS];

    if (s->key == key && s->inflight > 0) {
        s->inflight--;
    }
}

void throttle_release(struct throttle *t, const char *account, const char *ip)
{
    uv_mutex_lock(&t->lock);
    end_one(t, key_of(t, 'a', account));
    end_one(t, key_of(t, 'i', ip));
    uv_mutex_unlock(&t->lock);
}

static void fail_one(struct throttle *t, uint64_t key, int64_t free_attempts, int64_t now)
{
    struct slot *s = slot_of(t, key, now);

    s->failures++;
    if (s->failures >= free_attempts) {
        uint32_t over = s->failures - (uint32_t)free_attempts;
        int64_t delay = over >= 30 ? t->max_delay : (int64_t)1000 << over;

        if (delay > t->max_delay) {
            delay = t->max_delay;
        }
        s->next_ms = now + delay;
    }
}

void throttle_fail(struct throttle *t, const char *account, const char *ip, int64_t now_ms)
{
    uv_mutex_lock(&t->lock);
    end_one(t, key_of(t, 'a', account));
    end_one(t, key_of(t, 'i', ip));
    fail_one(t, key_of(t, 'a', account), t->free_attempts, now_ms);
    fail_one(t, key_of(t, 'i', ip), t->free_attempts * IP_FACTOR, now_ms);
    uv_mutex_unlock(&t->lock);
}

void throttle_success(struct throttle *t, const char *account, const char *ip, int64_t now_ms)
{
    uint64_t key;

    uv_mutex_lock(&t->lock);
    end_one(t, key_of(t, 'i', ip));
    key = key_of(t, 'a', account);
    if (t->slots[key % THROTTLE_SLOTS].key == key) {
        uint32_t inflight = t->slots[key % THROTTLE_SLOTS].inflight;

        /* A right password clears the account's failures, not others' guesses in flight. */
        memset(&t->slots[key % THROTTLE_SLOTS], 0, sizeof(struct slot));
        t->slots[key % THROTTLE_SLOTS].key = key;
        t->slots[key % THROTTLE_SLOTS].first_ms = now_ms;
        t->slots[key % THROTTLE_SLOTS].inflight = inflight > 0 ? inflight - 1 : 0;
    }
    uv_mutex_unlock(&t->lock);
}
