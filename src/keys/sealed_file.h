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

/*
 * Seals the n bytes at pt into the file at path (mode 0600), through path.tmp,
 * fsync and a rename: path is the whole sealed file or what it was before (the
 * caller syncs the directory when the new name must last). 0 or -1.
 */
int sealed_file_write(const struct keyring *kr, const char *name, const uint8_t *pt, size_t n,
                      const char *path);
#define SEALED_FILE_NONCE 24
#define SEALED_FILE_NAME_MAX 96

/* A sealed file being read: its header checked once, and one chunk's buffer. */
struct sealed_file {
    const uint8_t *key;         /* the data key its header names (the keyring's) */
    uint8_t nonce[SEALED_FILE_NONCE];
    char name[SEALED_FILE_NAME_MAX + 1];
    int fd;                     /* borrowed: the caller closes it */
    int64_t plain_size;
    uint8_t *chunk;
};

/*
 * Reads the header of the sealed file open at fd, named name, under kr's keys.
 * 0 (then sealed_file_close), or -1 (EBADMSG: not a sealed file, or a key kr
 * does not have).
 */
int sealed_file_open(struct sealed_file *sf, const struct keyring *kr, const char *name,
                     int fd);
/*
 * Up to len bytes of plaintext from plaintext offset off into buf: the bytes
 * read (0 at the end), or -1 (EBADMSG: a chunk on the way does not open).
 */
ssize_t sealed_file_read(struct sealed_file *sf, void *buf, size_t len, int64_t off);
/* Frees sf's buffer (not its descriptor). */
void sealed_file_close(struct sealed_file *sf);
/* The whole plaintext of the sealed file at path, malloc'd into *out. 0 or -1. */
int sealed_file_read_all(const struct keyring *kr, const char *name, const char *path,
                         uint8_t **out, size_t *len);
/* Whether the file at path is sealed under these keys with this name (its first chunk opens). */
bool sealed_file_check(const struct keyring *kr, const char *name, const char *path);

#endif
