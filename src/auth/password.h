/*
 * password.h: Argon2id password hashing (libsodium) and the rules for names.
 *
 * Hashing costs ~100 ms and 64 MiB (libsodium's INTERACTIVE limits), so it runs
 * only on store/pool threads, never on an I/O worker. Thread-safe.
 */
#ifndef PIPIT_AUTH_PASSWORD_H
#define PIPIT_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024

/* Call once at start-up (initialises libsodium). Returns 0 or PIPIT_EINTERNAL. */
int password_init(void);

/* 0, or PIPIT_EINVALID_USERNAME: 1-64 of A-Z a-z 0-9 . _ - */
int password_check_username(const char *username);
/* 0, or PIPIT_EWEAK_PASSWORD (shorter than PASSWORD_MIN) / PIPIT_EBAD_REQUEST (too long). */
int password_check_strength(const char *password);

/* Writes an encoded hash ("$argon2id$…") into out. */
int password_hash(const char *password, char out[STORE_HASH_MAX]);
/* True when password matches hash. */
bool password_verify(const char *hash, const char *password);
/*
 * Spends the time of one verification without a stored hash, so "no such user"
 * answers as slowly as "wrong password".
 */
void password_burn(const char *password);

/* Fills out with a random password of len characters (letters and digits). */
void password_random(char *out, size_t len);

#endif
