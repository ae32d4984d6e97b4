/*
 * bytes.h: big-endian integers in byte strings (network order, as the formats
 * pipit writes lay them out), and the comparison of secrets. Pure; thread-safe.
 */
#ifndef PIPIT_UTIL_BYTES_H
#define PIPIT_UTIL_BYTES_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Whether two secrets (or keyed hashes of them) are equal, in a time that
 * depends only on n, never on where they differ. Every comparison of tokens,
 * codes, hashes and MACs goes through this one.
 */
static inline bool secret_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

/* The low n bytes (1..8) of v into out, most significant first. */
static inline void bytes_put_be(uint8_t *out, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
}

/* The n bytes (1..8) at in, most significant first. */
static inline uint64_t bytes_get_be(const uint8_t *in, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        v = v << 8 | in[i];
    }
    return v;
}

#endif
