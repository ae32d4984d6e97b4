/*
 * sealed_file.h: stored files sealed for encryption at rest, in chunks, so
 * that any byte range opens on its own (Range requests stay cheap):
 *
 *     "PSF1" | key id (4 bytes, big-endian) | 24-byte nonce | chunk 0 | chunk 1 ...
 *
 * Chunk i is up to SEALED_FILE_CHUNK bytes of the plaintext sealed with
 * XChaCha20-Poly1305 (16 bytes longer). Its nonce is the file's with i XORed
 * into the last 8 bytes; its associated data is the file's name (the content's
 * SHA-256, ".thumb" after it for a thumbnail), i, and whether it is the last
 * chunk: chunks cannot be reordered, dropped from the end, or moved between files.
 * An empty file is one empty last chunk.
 *
 * Blocking: file I/O; call off the I/O loops. Errors: -1 with errno (EBADMSG:
 * the bytes do not open with these keys and this name).
 */
#ifndef PIPIT_KEYS_SEALED_FILE_H
#define PIPIT_KEYS_SEALED_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEALED_FILE_CHUNK (64 * 1024)

struct keyring;

/* How large n bytes are once sealed. */
int64_t sealed_file_size(int64_t n);
/* The plaintext length of a sealed file of size bytes; -1: no sealed file has that size. */
int64_t sealed_file_plain_size(int64_t size);

/* Seals the n bytes at pt into a new file at path (mode 0600, fsynced). 0 or -1. */
int sealed_file_write(const struct keyring *kr, const char *name, const uint8_t *pt, size_t n,
                      const char *path);
/*
 * Reads up to len bytes of plaintext from plaintext offset off of the sealed
 * file open at fd (size: its size on disk) into buf. Bytes read (0 at the end)
 * or -1.
 */
ssize_t sealed_file_read(const struct keyring *kr, const char *name, int fd, int64_t size,
                         int64_t off, uint8_t *buf, size_t len);
/* The whole plaintext of the sealed file at path, malloc'd into *out. 0 or -1. */
int sealed_file_read_all(const struct keyring *kr, const char *name, const char *path,
                         uint8_t **out, size_t *len);
/* Whether the file at path is sealed under these keys with this name (its first chunk opens). */
bool sealed_file_check(const struct keyring *kr, const char *name, const char *path);

#endif
