/*
 * utf8.h: decoding one UTF-8 character, strictly (RFC 3629).
 *
 * Pure; any thread.
 */
#ifndef PIPIT_UTIL_UTF8_H
#define PIPIT_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * The character at s (n > 0 bytes readable) into *cp; returns its length
 * (1–4), or 0 when the bytes there are not UTF-8: a stray continuation byte,
 * a truncated sequence, an overlong form, a surrogate or a value past U+10FFFF.
 */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
