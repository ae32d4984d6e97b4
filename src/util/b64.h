/*
 * b64.h: base64 (RFC 4648 §4, padded) and base64url (§5, unpadded).
 * Pure functions; thread-safe.
 */
#ifndef PIPIT_UTIL_B64_H
#define PIPIT_UTIL_B64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
#define B64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Writes NUL-terminated text to out (B64_ENCODED_SIZE(n) bytes); returns its length. */
size_t b64_encode(char *out, const uint8_t *in, size_t n);
size_t b64url_encode(char *out, const uint8_t *in, size_t n);

/*
 * Decodes text of length n into out (at most cap bytes). Returns the decoded
 * length, or -1 on any character outside the alphabet, bad padding or overflow.
 */
long b64_decode(uint8_t *out, size_t cap, const char *in, size_t n);
long b64url_decode(uint8_t *out, size_t cap, const char *in, size_t n);

#endif
