/*
 * audit.c: see audit.h.
 */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define KEY_FILE "audit-signing.key"
#define RECORD_DOMAIN "pipit-audit-v1"
#define CHECKPOINT_DOMAIN "pipit-audit-checkpoint-v1"
#define NAME_MAX_LEN 256

struct audit_key {
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES];
    uint8_t secret_key[crypto_sign_SECRETKEYBYTES];
    char public_hex[AUDIT_KEY_HEX + 1];
};

/* ---- the key ---- */

static int key_from_seed(struct audit_key *k, const uint8_t seed[crypto_sign_SEEDBYTES])
{
    if (crypto_sign_seed_keypair(k->public_key, k->secret_key, seed) != 0) {
        return -1;
    }
    sodium_bin2hex(k->public_hex, sizeof(k->public_hex), k->public_key, sizeof(k->public_key));
    return 0;
}

/* The file holds the 32-byte seed as 64 hex digits and a newline. */
static int key_read(const char *path, struct audit_key *k, char *err, size_t errlen)
{
    char text[AUDIT_KEY_HEX + 8];
    uint8_t seed[crypto_sign_SEEDBYTES];
    size_t seed_len = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;

    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n >= AUDIT_KEY_HEX) {
        text[n] = '\0';
        rc = sodium_hex2bin(seed, sizeof(seed), text, (size_t)n, " \r\n", &seed_len, NULL);
    }
    if (rc != 0 || seed_len != sizeof(seed) || key_from_seed(k, seed) != 0) {
        snprintf(err, errlen, "%s does not hold an audit signing key (64 hex digits)", path);
        rc = -1;
    }
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(text, sizeof(text));
    return rc;
}

static int key_create(const char *path, struct audit_key *k, char *err, size_t errlen)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    char text[AUDIT_KEY_HEX + 2];
    int rc;

    randombytes_buf(seed, sizeof(seed));
    sodium_bin2hex(text, sizeof(text), seed, sizeof(seed));
    text[AUDIT_KEY_HEX] = '\n';
    rc = key_from_seed(k, seed);
    if (rc == 0 && fs_write_secret(path, text, AUDIT_KEY_HEX + 1) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(text, sizeof(text));
    if (rc == 0) {
        log_info(NULL, "made a new audit signing key in %s; its public key is %s (keep a copy "
                 "outside this machine to check checkpoints with)", path, k->public_hex);
    }
    return rc;
}

int audit_key_open(const char *data_dir, struct audit_key **out, char *err, size_t errlen)
{
    struct audit_key *k = xcalloc(1, sizeof(*k));
    char path[4096];
    int rc;

    snprintf(path, sizeof(path), "%s/" KEY_FILE, data_dir);
    rc = access(path, F_OK) == 0 ? key_read(path, k, err, errlen)
                                 : key_create(path, k, err, errlen);
    if (rc != 0) {
        audit_key_free(k);
        return PIPIT_ESTORE;
    }
    *out = k;
    return 0;
}

void audit_key_free(struct audit_key *k)
{
    if (k != NULL) {
        sodium_memzero(k, sizeof(*k));
        free(k);
    }
}

const char *audit_key_public_hex(const struct audit_key *k)
{
    return k->public_hex;
}

const uint8_t *audit_key_public(const struct audit_key *k)
{
    return k->public_key;
}

void audit_actor(char out[AUDIT_ACTOR_MAX], bool key, int64_t id)
{
    snprintf(out, AUDIT_ACTOR_MAX, "%s:%" PRId64, key ? "key" : "user", id);
}

/* ---- hashing ---- */

static void put_u64(crypto_hash_sha256_state *h, int64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    }
    crypto_hash_sha256_update(h, b, sizeof(b));
}

/* A text as a presence byte and, when present, its length and bytes: no two
 * different records encode alike. */
static void put_text(crypto_hash_sha256_state *h, const char *t)
{
    uint8_t present = t != NULL;

    crypto_hash_sha256_update(h, &present, 1);
    if (t != NULL) {
        size_t n = strlen(t);

        put_u64(h, (int64_t)n);
        crypto_hash_sha256_update(h, (const uint8_t *)t, n);
    }
}

void audit_hash(const struct store_audit_record *r, uint8_t out[STORE_AUDIT_HASH_LEN])
{
    crypto_hash_sha256_state h;

    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const uint8_t *)RECORD_DOMAIN, sizeof(RECORD_DOMAIN));
    crypto_hash_sha256_update(&h, r->prev_hash, STORE_AUDIT_HASH_LEN);
    put_u64(&h, r->id);
    put_u64(&h, r->ts);
    put_u64(&h, r->app_id);
    put_text(&h, r->actor);
    put_text(&h, r->actor_name);
    put_text(&h, r->ip);
    put_text(&h, r->action);
    put_text(&h, r->target);
    put_text(&h, r->outcome);
    put_text(&h, r->detail);
    crypto_hash_sha256_final(&h, out);
}

/* What a checkpoint signs: the domain, the record's id, the time and the record's hash. */
static void checkpoint_digest(const struct store_audit_checkpoint *c,
                              uint8_t out[STORE_AUDIT_HASH_LEN])
{
    crypto_hash_sha256_state h;

    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const uint8_t *)CHECKPOINT_DOMAIN, sizeof(CHECKPOINT_DOMAIN));
    put_u64(&h, c->record_id);
    put_u64(&h, c->ts);
    crypto_hash_sha256_update(&h, c->hash, STORE_AUDIT_HASH_LEN);
    crypto_hash_sha256_final(&h, out);
}

/* ---- writing ---- */

static int checkpoint_write(struct store_conn *sc, const struct audit_key *key, int64_t record_id,
                            const uint8_t hash[STORE_AUDIT_HASH_LEN], int64_t now)
{
    struct store_audit_checkpoint c = { .ts = now, .record_id = record_id };
    uint8_t digest[STORE_AUDIT_HASH_LEN];

    memcpy(c.hash, hash, STORE_AUDIT_HASH_LEN);
    memcpy(c.public_key, key->public_key, STORE_AUDIT_KEY_LEN);
    checkpoint_digest(&c, digest);
    crypto_sign_detached(c.signature, NULL, digest, sizeof(digest), key->secret_key);
    return store_audit_checkpoint_insert(sc, &c);
}

int audit_append(struct store_conn *sc, const struct audit_key *key, struct store_audit_record *r)
{
    char name[NAME_MAX_LEN];
    const char *given_name = r->actor_name;
    int64_t last = 0;
    int rc = store_audit_last(sc, &last, r->prev_hash);

    if (rc == PIPIT_ENOT_FOUND) {
        memset(r->prev_hash, 0, STORE_AUDIT_HASH_LEN);
        rc = 0;
    }
    if (rc != 0) {
        return rc;
    }
    r->id = last + 1;
    if (r->actor_name == NULL) {
        store_audit_actor_name(sc, r->actor, name, sizeof(name));
        r->actor_name = name[0] != '\0' ? name : NULL;
    }
    audit_hash(r, r->hash);
    rc = store_audit_insert(sc, r);
    r->actor_name = given_name; /* `name` ends here */
    if (rc == 0 && r->id % AUDIT_CHECKPOINT_EVERY == 0) {
        rc = checkpoint_write(sc, key, r->id, r->hash, r->ts);
    }
    return rc;
}

int audit_begin(struct store_conn *sc)
{
    return store_savepoint(sc);
}

int audit_settle(struct store_conn *sc, const struct audit_key *key, struct store_audit_record *r,
                 int rc, bool *keep)
{
    int arc = rc != 0 ? store_rollback_savepoint(sc) : store_release(sc);

    r->outcome = rc == 0 ? "ok" : pipit_errcode(rc);
    if (arc == 0) {
        arc = audit_append(sc, key, r);
    }
    *keep = false;
    if (arc != 0) {
        log_error(NULL, "audit: cannot record %s: %s", r->action, store_errmsg(sc));
        return rc != 0 ? rc : PIPIT_ESTORE;
    }
    *keep = rc != 0;
    return rc;
}

int audit_checkpoint(struct store_conn *sc, const struct audit_key *key, int64_t now)
{
    uint8_t hash[STORE_AUDIT_HASH_LEN];
    int64_t last = 0, covered = 0;
    int rc = store_audit_last(sc, &last, hash);

    if (rc == PIPIT_ENOT_FOUND) {
        return 0;
    }
    if (rc == 0) {
        rc = store_audit_last_checkpoint(sc, &covered);
    }
    if (rc != 0 || covered >= last) {
        return rc;
    }
    return checkpoint_write(sc, key, last, hash, now);
}

/* ---- verifying ---- */

struct walk {
    struct audit_verdict *v;
    uint8_t key[STORE_AUDIT_KEY_LEN]; /* every checkpoint's signer */
    bool have_key;
    struct store_audit_checkpoint *cps; /* in checkpoint order */
    size_t ncps, cap;
    size_t next_cp;                     /* the next checkpoint to meet in the record walk */
    int64_t expect_id;
    uint8_t prev[STORE_AUDIT_HASH_LEN];
};

static int fail(struct audit_verdict *v, int64_t record, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct audit_verdict *v, int64_t record, const char *fmt, ...)
{
    va_list ap;

    v->ok = false;
    v->bad_record = record;
    va_start(ap, fmt);
    vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
    va_end(ap);
    return 1;
}

static int take_checkpoint(void *arg, const struct store_audit_checkpoint *c)
{
    struct walk *w = arg;
    uint8_t digest[STORE_AUDIT_HASH_LEN];

    if (!w->have_key) {
        memcpy(w->key, c->public_key, STORE_AUDIT_KEY_LEN);
        w->have_key = true;
    }
    if (memcmp(c->public_key, w->key, STORE_AUDIT_KEY_LEN) != 0) {
        return fail(w->v, 0, "checkpoint %" PRId64 " is signed with another key", c->id);
    }
    checkpoint_digest(c, digest);
    if (crypto_sign_verify_detached(c->signature, digest, sizeof(digest), c->public_key) != 0) {
        return fail(w->v, 0, "checkpoint %" PRId64 " has a bad signature: it was changed", c->id);
    }
    if (w->ncps > 0 && c->record_id < w->cps[w->ncps - 1].record_id) {
        return fail(w->v, 0, "checkpoint %" PRId64 " goes back to record %" PRId64
                    ": checkpoints were reordered", c->id, c->record_id);
    }
    if (w->ncps == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->cps = xrealloc(w->cps, w->cap * sizeof(*w->cps));
    }
    w->cps[w->ncps++] = *c;
    w->v->checkpoints++;
    return 0;
}

static int take_record(void *arg, const struct store_audit_record *r)
{
    struct walk *w = arg;
    uint8_t hash[STORE_AUDIT_HASH_LEN];

    if (r->id != w->expect_id) {
        return fail(w->v, w->expect_id, "record %" PRId64 " is missing: it was deleted",
                    w->expect_id);
    }
    if (memcmp(r->prev_hash, w->prev, STORE_AUDIT_HASH_LEN) != 0) {
        return fail(w->v, r->id, "record %" PRId64 " does not follow the record before it: "
                    "records were removed, inserted or reordered there", r->id);
    }
    audit_hash(r, hash);
    if (memcmp(hash, r->hash, STORE_AUDIT_HASH_LEN) != 0) {
        return fail(w->v, r->id, "record %" PRId64 " does not match its hash: it was changed "
                    "or moved", r->id);
    }
    for (; w->next_cp < w->ncps && w->cps[w->next_cp].record_id == r->id; w->next_cp++) {
        if (memcmp(w->cps[w->next_cp].hash, hash, STORE_AUDIT_HASH_LEN) != 0) {
            return fail(w->v, r->id, "record %" PRId64 " is not the one checkpoint %" PRId64
                        " signed: the log was rewritten from there on", r->id,
                        w->cps[w->next_cp].id);
        }
    }
    memcpy(w->prev, hash, STORE_AUDIT_HASH_LEN);
    w->expect_id++;
    w->v->records++;
    return 0;
}

int audit_verify(struct store_conn *sc, const uint8_t *expected_key, struct audit_verdict *v)
{
    struct walk w = { .v = v, .have_key = expected_key != NULL, .expect_id = 1 };
    int64_t last, high = 0;
    int rc;

    if (expected_key != NULL) {
        memcpy(w.key, expected_key, STORE_AUDIT_KEY_LEN);
    }
    memset(v, 0, sizeof(*v));
    v->ok = true;
    rc = store_audit_checkpoint_each(sc, take_checkpoint, &w);
    if (rc == 0 && v->ok) {
        rc = store_audit_each(sc, 0, take_record, &w);
    }
    if (rc == 0) {
        rc = store_audit_high_water(sc, &high);
    }
    last = w.expect_id - 1;
    if (rc == 0 && v->ok && w.next_cp < w.ncps) {
        fail(v, last + 1, "the log ends at record %" PRId64 " but checkpoint %" PRId64
             " signed record %" PRId64 ": records were cut off its end", last,
             w.cps[w.next_cp].id, w.cps[w.next_cp].record_id);
    } else if (rc == 0 && v->ok && high > last) {
        fail(v, last + 1, "the log ends at record %" PRId64 " but record ids up to %" PRId64
             " were given out: records were cut off its end", last, high);
    }
    free(w.cps);
    return rc;
}
