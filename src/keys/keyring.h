/*
 * keyring.h: encryption at rest.
 *
 * A master key (32 bytes, 64 hex digits) lives outside the data dir: in the
 * file named by `master_key_file`, or PIPIT_MASTER_KEY_FILE, or the hex itself
 * in PIPIT_MASTER_KEY. It only wraps the data keys, which live in
 * DATA_DIR/data-keys, each sealed with XChaCha20-Poly1305 under the master key:
 *
 *     pipit-data-keys 1
 *     key <id> <created ms> <hex: 24-byte nonce, then the sealed 32-byte key>
 *
 * The newest key (highest id) seals new data; every older one stays to open
 * what it sealed. A sealed value names its key:
 *
 *     0x01 | key id (4 bytes, big-endian) | 24-byte nonce | ciphertext and tag
 *
 * (the nonce: 16 random bytes drawn when the keyring is loaded, then a counter)
 *
 * with associated data chosen by the caller (a message's conversation and seq),
 * so a sealed value moved to another row does not open.
 *
 * The search index cannot hold ciphertext: its terms are keyed hashes
 * (keyring_index_key), under a key derived from the first data key, which stays
 * the same across rotations so the index stays valid.
 */
#ifndef PIPIT_KEYS_KEYRING_H
#define PIPIT_KEYS_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYRING_KEY_LEN 32
#define KEYRING_KEY_HEX (2 * KEYRING_KEY_LEN)
#define KEYRING_FILE "data-keys"
/* 1 version byte, 4 key id, 24 nonce, 16 tag. */
#define KEYRING_OVERHEAD 45
#define KEYRING_INDEX_KEY_LEN 16

struct keyring;

/*
 * The master key, from file (when not NULL or empty), else the environment.
 * 1 with it in master; 0 when none is configured; -1 with a message in err for
 * a file that cannot be read, does not hold 64 hex digits, or is inside
 * data_dir (a backup of the data dir must not carry the key that opens it).
 */
int keyring_master_load(const char *file, const char *data_dir,
                        uint8_t master[KEYRING_KEY_LEN], char *err, size_t errlen);

/*
 * The data keys of data_dir, opened with master (NULL: none configured).
 * Without a data-keys file, makes one with a first key when master is given
 * and create is true.
 * 0 with *out set (NULL: there are no data keys, and none was made), or -1
 * with a message in err: data keys without a master key, a master key that
 * does not open them, a damaged file. Nothing on disk changes on failure.
 */
int keyring_load(const char *data_dir, const uint8_t *master, bool create,
                 struct keyring **out, char *err, size_t errlen);
void keyring_free(struct keyring *kr);
/*
 * The len bytes of a data keys file (named name in messages), each key opened
 * with master: 0 with *out, or -1 with a message in err (*out untouched).
 */
int keyring_parse(const char *text, size_t len, const char *name,
                  const uint8_t master[KEYRING_KEY_LEN], struct keyring **out, char *err,
                  size_t errlen);

/*
 * Adds a new data key (it seals from now on) and writes every key wrapped by
 * new_master (NULL: the same master). The server must be stopped. 0 with the
 * new key's id in *id, or -1 with a message in err and nothing changed.
 */
int keyring_rotate(const char *data_dir, const uint8_t master[KEYRING_KEY_LEN],
                   const uint8_t *new_master, uint32_t *id, char *err, size_t errlen);

/* The keys' count and the id of the one that seals. */
size_t keyring_count(const struct keyring *kr);
uint32_t keyring_active_id(const struct keyring *kr);

/*
 * Seals n bytes of pt into out (n + KEYRING_OVERHEAD bytes) under the active key.
 * Any thread, at once: a keyring does not change once loaded but for the counter
 * of its nonces, which is atomic. The rest of this API reads only.
 */
void keyring_seal(const struct keyring *kr, const uint8_t *ad, size_t adlen,
                  const uint8_t *pt, size_t n, uint8_t *out);
/*
 * Opens what keyring_seal made (n bytes) into out (n - KEYRING_OVERHEAD
 * bytes). 0, or -1 when it is not a sealed value, names an unknown key, or
 * was altered (or moved: a different ad).
 */
int keyring_unseal(const struct keyring *kr, const uint8_t *ad, size_t adlen,
                   const uint8_t *sealed, size_t n, uint8_t *out);
/* Whether the first bytes look like a sealed value (version byte). */
bool keyring_is_sealed(const uint8_t *v, size_t n);

/* The key of the search index's term hashes. */
const uint8_t *keyring_index_key(const struct keyring *kr);

/* For keys/ only (sealed_file.c): key id's bytes (NULL: no such key). */
const uint8_t *keyring__key(const struct keyring *kr, uint32_t id);

#endif
