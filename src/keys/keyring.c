/*
 * keyring.c: see keyring.h.
 */
#include "keys/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/bytes.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define FILE_HEADER "pipit-data-keys 1\n"
#define WRAP_DOMAIN "pipit-data-key-v1"
#define INDEX_CONTEXT "pipitidx"        /* crypto_kdf context: 8 bytes */
#define SEALED_VERSION 0x01
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define WRAPPED_LEN (NONCE_LEN + KEYRING_KEY_LEN + TAG_LEN)
#define WRAPPED_HEX "144"              /* 2 * WRAPPED_LEN, for sscanf */
#define KEYS_MAX 4096                   /* far more rotations than anyone makes */
#define FILE_MAX (KEYS_MAX * 256)

_Static_assert(KEYRING_OVERHEAD == 1 + 4 + NONCE_LEN + TAG_LEN, "sealed layout");
_Static_assert(2 * WRAPPED_LEN == 144, "WRAPPED_HEX");

struct data_key {
    uint32_t id;
    int64_t created_at;
    uint8_t key[KEYRING_KEY_LEN];
};

struct keyring {
    struct data_key *keys;      /* by id, ascending */
    size_t n;
    uint8_t index_key[KEYRING_INDEX_KEY_LEN];
    /*
     * Nonces of keyring_seal: 16 random bytes drawn when the keyring is loaded,
     * then a counter. Unique without a getrandom(2) call per message, which took
     * as long as the sealing itself.
     */
    uint8_t nonce_prefix[NONCE_LEN - 8];
    _Atomic uint64_t nonce_count;
};

/* ---- the master key ---- */

static int hex_key(const char *text, size_t len, uint8_t key[KEYRING_KEY_LEN])
{
    size_t got = 0;
    const char *end = NULL;

    if (sodium_hex2bin(key, KEYRING_KEY_LEN, text, len, NULL, &got, &end) != 0 ||
        got != KEYRING_KEY_LEN) {
        return -1;
    }
    /* Only a line end may follow. */
    while (end < text + len && (*end == '\n' || *end == '\r')) {
        end++;
    }
    return end == text + len ? 0 : -1;
}

/* Whether path is data_dir or inside it, after resolving both. */
static bool inside(const char *path, const char *data_dir)
{
    char p[PATH_MAX], d[PATH_MAX];
    size_t n;

    if (realpath(path, p) == NULL || realpath(data_dir, d) == NULL) {
        return false;
    }
    n = strlen(d);
    return strncmp(p, d, n) == 0 && (p[n] == '/' || p[n] == '\0' || n == 1);
}

int keyring_master_load(const char *file, const char *data_dir,
                        uint8_t master[KEYRING_KEY_LEN], char *err, size_t errlen)
{
    const char *hex = getenv("PIPIT_MASTER_KEY");
    char text[KEYRING_KEY_HEX + 8];
    struct stat st;
    ssize_t n;
    int fd, rc;

    if (file == NULL || file[0] == '\0') {
        file = getenv("PIPIT_MASTER_KEY_FILE");
    }
    if (file == NULL || file[0] == '\0') {
        if (hex == NULL || hex[0] == '\0') {
            return 0;
        }
        if (hex_key(hex, strlen(hex), master) != 0) {
            sodium_memzero(master, KEYRING_KEY_LEN);
            snprintf(err, errlen, "PIPIT_MASTER_KEY must be 64 hex digits");
            return -1;
        }
        return 1;
    }
    if (inside(file, data_dir)) {
        snprintf(err, errlen, "the master key file %s is inside the data dir %s: keep it "
                 "elsewhere, or a copy of the data dir carries the key that opens it",
                 file, data_dir);
        return -1;
    }
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read the master key file %s: %s", file, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
        log_warn(NULL, "the master key file %s can be read by others than its owner "
                 "(chmod 0400 it)", file);
    }
    n = read(fd, text, sizeof(text));
    close(fd);
    rc = n > 0 && n < (ssize_t)sizeof(text) && hex_key(text, (size_t)n, master) == 0 ? 1 : -1;
    sodium_memzero(text, sizeof(text));
    if (rc < 0) {
        sodium_memzero(master, KEYRING_KEY_LEN);
        snprintf(err, errlen, "the master key file %s must hold 64 hex digits "
                 "(make one with `pipit keys generate`)", file);
    }
    return rc;
}

/* ---- the data keys file ---- */

static void wrap_ad(uint32_t id, uint8_t ad[sizeof(WRAP_DOMAIN) + 4])
{
    memcpy(ad, WRAP_DOMAIN, sizeof(WRAP_DOMAIN));       /* with its NUL */
    bytes_put_be(ad + sizeof(WRAP_DOMAIN), id, 4);
}

static void wrap(const uint8_t master[KEYRING_KEY_LEN], const struct data_key *k,
                 uint8_t out[WRAPPED_LEN])
{
    uint8_t ad[sizeof(WRAP_DOMAIN) + 4];

    wrap_ad(k->id, ad);
    randombytes_buf(out, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_LEN, NULL, k->key, KEYRING_KEY_LEN,
                                               ad, sizeof(ad), NULL, out, master);
}

static int unwrap(const uint8_t master[KEYRING_KEY_LEN], const uint8_t in[WRAPPED_LEN],
                  struct data_key *k)
{
    uint8_t ad[sizeof(WRAP_DOMAIN) + 4];

    wrap_ad(k->id, ad);
    return crypto_aead_xchacha20poly1305_ietf_decrypt(k->key, NULL, NULL, in + NONCE_LEN,
                                                      WRAPPED_LEN - NONCE_LEN, ad, sizeof(ad),
                                                      in, master);
}

static void keys_path(const char *data_dir, char *path, size_t cap)
{
    snprintf(path, cap, "%s/" KEYRING_FILE, data_dir);
}

/* The file's text, every key wrapped by master. */
static int write_file(const char *data_dir, const uint8_t master[KEYRING_KEY_LEN],
                      const struct keyring *kr, char *err, size_t errlen)
{
    size_t cap = sizeof(FILE_HEADER) + kr->n * (2 * WRAPPED_LEN + 64);
    char *text = xmalloc(cap);
    size_t len = strlen(FILE_HEADER);
    char path[4096];
    int rc;

    memcpy(text, FILE_HEADER, len);
    for (size_t i = 0; i < kr->n; i++) {
        uint8_t w[WRAPPED_LEN];
        char hex[2 * WRAPPED_LEN + 1];

        wrap(master, &kr->keys[i], w);
        sodium_bin2hex(hex, sizeof(hex), w, sizeof(w));
        len += (size_t)snprintf(text + len, cap - len, "key %" PRIu32 " %" PRId64 " %s\n",
                                kr->keys[i].id, kr->keys[i].created_at, hex);
    }
    keys_path(data_dir, path, sizeof(path));
    rc = fs_write_secret(path, text, len);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    }
    free(text);
    return rc == 0 ? 0 : -1;
}

/* What every loaded keyring sets up: the index key, and its nonces' random half. */
static void prepare(struct keyring *kr)
{
    randombytes_buf(kr->nonce_prefix, sizeof(kr->nonce_prefix));
    crypto_kdf_derive_from_key(kr->index_key, sizeof(kr->index_key), 1, INDEX_CONTEXT,
                               kr->keys[0].key);
}

static void add_key(struct keyring *kr, uint32_t id, int64_t created_at)
{
    struct data_key *k;

    kr->keys = xrealloc(kr->keys, (kr->n + 1) * sizeof(*kr->keys));
    k = &kr->keys[kr->n++];
    k->id = id;
    k->created_at = created_at;
}

/* The lines of text (NUL-terminated) into kr, each key opened with master. */
static int parse_lines(const char *name, const char *text, const uint8_t master[KEYRING_KEY_LEN],
                       struct keyring *kr, char *err, size_t errlen)
{
    const char *p = text;
    size_t line = 1;

    if (strncmp(p, FILE_HEADER, strlen(FILE_HEADER)) != 0) {
        snprintf(err, errlen, "%s is not a pipit data keys file (version 1)", name);
        return -1;
    }
    p += strlen(FILE_HEADER);
    while (*p != '\0') {
        char hex[2 * WRAPPED_LEN + 2];
        uint8_t w[WRAPPED_LEN];
        uint32_t id;
        int64_t created_at;
        size_t got = 0;
        int used = 0;

        line++;
        if (sscanf(p, "key %" SCNu32 " %" SCNd64 " %" WRAPPED_HEX "[0-9a-f]%n", &id,
                   &created_at, hex, &used) != 3 || p[used] != '\n' ||
            sodium_hex2bin(w, sizeof(w), hex, strlen(hex), NULL, &got, NULL) != 0 ||
            got != sizeof(w) || id == 0 || (kr->n > 0 && id <= kr->keys[kr->n - 1].id) ||
            kr->n >= KEYS_MAX) {
            snprintf(err, errlen, "%s: line %zu is damaged", name, line);
            return -1;
        }
        add_key(kr, id, created_at);
        if (unwrap(master, w, &kr->keys[kr->n - 1]) != 0) {
            snprintf(err, errlen, "the master key does not open %s (key %" PRIu32 "): it is "
                     "not the key these data keys were wrapped with, or the file was altered",
                     name, id);
            return -1;
        }
        p += used + 1;
    }
    if (kr->n == 0) {
        snprintf(err, errlen, "%s holds no key", name);
        return -1;
    }
    return 0;
}

int keyring_parse(const char *text, size_t len, const char *name,
                  const uint8_t master[KEYRING_KEY_LEN], struct keyring **out, char *err,
                  size_t errlen)
{
    struct keyring *kr = xcalloc(1, sizeof(*kr));
    char *copy = xmalloc(len + 1);
    int rc = -1;

    memcpy(copy, text, len);
    copy[len] = '\0';
    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "%s is damaged", name);
    } else {
        rc = parse_lines(name, copy, master, kr, err, errlen);
    }
    sodium_memzero(copy, len);
    free(copy);
    if (rc != 0) {
        keyring_free(kr);
        return -1;
    }
    prepare(kr);
    *out = kr;
    return 0;
}

/* The data dir's keys into *out: 1 done, 0 there are none, -1 failed. */
static int read_file(const char *data_dir, const uint8_t *master, struct keyring **out,
                     char *err, size_t errlen)
{
    char path[4096];
    char *text;
    size_t len;
    int rc;

    keys_path(data_dir, path, sizeof(path));
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        return 0;
    }
    if (master == NULL) {
        snprintf(err, errlen, "%s holds encryption keys but no master key is configured "
                 "(master_key_file, PIPIT_MASTER_KEY_FILE or PIPIT_MASTER_KEY)", path);
        return -1;
    }
    if (fs_read_file(path, FILE_MAX, &text, &len) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    rc = keyring_parse(text, len, path, master, out, err, errlen);
    sodium_memzero(text, len);
    free(text);
    return rc == 0 ? 1 : -1;
}

int keyring_load(const char *data_dir, const uint8_t *master, bool create,
                 struct keyring **out, char *err, size_t errlen)
{
    struct keyring *kr = NULL;
    int rc = read_file(data_dir, master, &kr, err, errlen);

    if (rc == 0 && master != NULL && create) {
        kr = xcalloc(1, sizeof(*kr));
        add_key(kr, 1, clock_now_ms());
        crypto_aead_xchacha20poly1305_ietf_keygen(kr->keys[0].key);
        prepare(kr);
        if (write_file(data_dir, master, kr, err, errlen) != 0) {
            rc = -1;
        } else {
            log_info(NULL, "encryption at rest: made data key 1 in %s/" KEYRING_FILE
                     ", wrapped by the master key", data_dir);
            rc = 1;
        }
    }
    if (rc <= 0) {
        keyring_free(kr);
        *out = NULL;
        return rc;
    }
    *out = kr;
    return 0;
}

void keyring_free(struct keyring *kr)
{
    if (kr != NULL) {
        sodium_memzero(kr->keys, kr->n * sizeof(*kr->keys));
        free(kr->keys);
        sodium_memzero(kr, sizeof(*kr));
        free(kr);
    }
}

int keyring_rotate(const char *data_dir, const uint8_t master[KEYRING_KEY_LEN],
                   const uint8_t *new_master, uint32_t *id, char *err, size_t errlen)
{
    struct keyring *kr = NULL;
    int rc = read_file(data_dir, master, &kr, err, errlen);

    if (rc == 0) {
        snprintf(err, errlen, "%s/" KEYRING_FILE " does not exist: encryption at rest was "
                 "never turned on here (start pipitd with a master key)", data_dir);
        rc = -1;
    }
    if (rc > 0) {
        *id = kr->keys[kr->n - 1].id + 1;
        add_key(kr, *id, clock_now_ms());
        crypto_aead_xchacha20poly1305_ietf_keygen(kr->keys[kr->n - 1].key);
        rc = write_file(data_dir, new_master != NULL ? new_master : master, kr, err, errlen);
    }
    keyring_free(kr);
    return rc < 0 ? -1 : 0;
}

size_t keyring_count(const struct keyring *kr)
{
    return kr->n;
}

uint32_t keyring_active_id(const struct keyring *kr)
{
    return kr->keys[kr->n - 1].id;
}

/* ---- sealing ---- */

static const struct data_key *key_by_id(const struct keyring *kr, uint32_t id)
{
    size_t lo = 0, hi = kr->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (kr->keys[mid].id == id) {
            return &kr->keys[mid];
        }
        if (kr->keys[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

void keyring_seal(const struct keyring *kr, const uint8_t *ad, size_t adlen,
                  const uint8_t *pt, size_t n, uint8_t *out)
{
    const struct data_key *k = &kr->keys[kr->n - 1];

    out[0] = SEALED_VERSION;
    bytes_put_be(out + 1, k->id, 4);
    /* The counter is the keyring's one mutable part, shared by every thread that seals. */
    uint64_t count = atomic_fetch_add(&((struct keyring *)kr)->nonce_count, 1);

    memcpy(out + 5, kr->nonce_prefix, sizeof(kr->nonce_prefix));
    bytes_put_be(out + 5 + sizeof(kr->nonce_prefix), count, 8);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 5 + NONCE_LEN, NULL, pt, n, ad, adlen,
                                               NULL, out + 5, k->key);
}

bool keyring_is_sealed(const uint8_t *v, size_t n)
{
    return n >= KEYRING_OVERHEAD && v[0] == SEALED_VERSION;
}

int keyring_unseal(const struct keyring *kr, const uint8_t *ad, size_t adlen,
                   const uint8_t *sealed, size_t n, uint8_t *out)
{
    const struct data_key *k;

    if (!keyring_is_sealed(sealed, n)) {
        return -1;
    }
    k = key_by_id(kr, (uint32_t)bytes_get_be(sealed + 1, 4));
    if (k == NULL) {
        return -1;
    }
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, sealed + 5 + NONCE_LEN,
                                                      n - 5 - NONCE_LEN, ad, adlen,
                                                      sealed + 5, k->key) == 0
               ? 0
               : -1;
}

const uint8_t *keyring_index_key(const struct keyring *kr)
{
    return kr->index_key;
}

const uint8_t *keyring__key(const struct keyring *kr, uint32_t id)
{
    const struct data_key *k = key_by_id(kr, id);

    return k != NULL ? k->key : NULL;
}
