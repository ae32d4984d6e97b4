/*
 * sealed_file.c: see sealed_file.h.
 */
#include "keys/sealed_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keyring.h"
#include "util/bytes.h"
#include "util/fs.h"
#include "util/mem.h"

#define MAGIC "PSF1"
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HEADER_LEN (4 + 4 + NONCE_LEN)
#define SEALED_CHUNK (SEALED_FILE_CHUNK + TAG_LEN)
#define AD_DOMAIN "pipit-file-v1"
#define NAME_MAX_LEN 96

_Static_assert(SEALED_FILE_NONCE == NONCE_LEN, "the nonce's length");
_Static_assert(SEALED_FILE_NAME_MAX == NAME_MAX_LEN, "the longest name");

int64_t sealed_file_size(int64_t n)
{
    int64_t chunks = n == 0 ? 1 : (n + SEALED_FILE_CHUNK - 1) / SEALED_FILE_CHUNK;

    return HEADER_LEN + n + chunks * TAG_LEN;
}

int64_t sealed_file_plain_size(int64_t size)
{
    int64_t body = size - HEADER_LEN, full, rem;

    if (body < TAG_LEN) {
        return -1;
    }
    full = body / SEALED_CHUNK;
    rem = body % SEALED_CHUNK;
    /* The writer never ends a file with an empty chunk after full ones. */
    if (rem != 0 && (rem < TAG_LEN || (rem == TAG_LEN && full > 0))) {
        return -1;
    }
    return full * SEALED_FILE_CHUNK + (rem != 0 ? rem - TAG_LEN : 0);
}

/* Chunk i's nonce and associated data. */
static size_t chunk_params(const char *name, const uint8_t file_nonce[NONCE_LEN], uint64_t i,
                           bool last, uint8_t nonce[NONCE_LEN],
                           uint8_t ad[sizeof(AD_DOMAIN) + NAME_MAX_LEN + 10])
{
    size_t n = strnlen(name, NAME_MAX_LEN), len = 0;

    memcpy(nonce, file_nonce, NONCE_LEN);
    bytes_put_be(nonce + NONCE_LEN - 8, bytes_get_be(nonce + NONCE_LEN - 8, 8) ^ i, 8);
    memcpy(ad, AD_DOMAIN, sizeof(AD_DOMAIN));   /* with its NUL */
    len = sizeof(AD_DOMAIN);
    memcpy(ad + len, name, n);
    len += n;
    ad[len++] = '\0';
    bytes_put_be(ad + len, i, 8);
    len += 8;
    ad[len++] = last;
    return len;
}

int sealed_file_write(const struct keyring *kr, const char *name, const uint8_t *pt, size_t n,
                      const char *path)
{
    uint32_t id = keyring_active_id(kr);
    const uint8_t *key = keyring__key(kr, id);
    uint8_t header[HEADER_LEN];
    uint8_t *chunk = xmalloc(SEALED_CHUNK);
    char tmp[4200];
    size_t at = 0;
    int fd, saved;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(tmp); /* left by a crash */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(chunk);
        return -1;
    }
    memcpy(header, MAGIC, 4);
    bytes_put_be(header + 4, id, 4);
    randombytes_buf(header + 8, NONCE_LEN);
    if (fs_write_all(fd, header, sizeof(header)) != 0) {
        goto fail;
    }
    for (uint64_t i = 0; i == 0 || at < n; i++) {
        size_t take = n - at < SEALED_FILE_CHUNK ? n - at : SEALED_FILE_CHUNK;
        uint8_t nonce[NONCE_LEN], ad[sizeof(AD_DOMAIN) + NAME_MAX_LEN + 10];
        size_t adlen = chunk_params(name, header + 8, i, at + take == n, nonce, ad);

        crypto_aead_xchacha20poly1305_ietf_encrypt(chunk, NULL, pt + at, take, ad, adlen, NULL,
                                                   nonce, key);
        if (fs_write_all(fd, chunk, take + TAG_LEN) != 0) {
            goto fail;
        }
        at += take;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        goto fail;
    }
    free(chunk);
    return 0;

fail:
    saved = errno;
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    free(chunk);
    errno = saved;
    return -1;
}

int sealed_file_open(struct sealed_file *sf, const struct keyring *kr, const char *name,
                     int fd)
{
    uint8_t b[HEADER_LEN];
    struct stat st;

    memset(sf, 0, sizeof(*sf));
    if (fstat(fd, &st) != 0) {
        return -1;
    }
    sf->plain_size = sealed_file_plain_size(st.st_size);
    if (sf->plain_size < 0 || pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        errno = EBADMSG;
        return -1;
    }
    sf->key = memcmp(b, MAGIC, 4) == 0 ? keyring__key(kr, (uint32_t)bytes_get_be(b + 4, 4))
                                       : NULL;
    if (sf->key == NULL) {
        errno = EBADMSG;
        return -1;
    }
    memcpy(sf->nonce, b + 8, NONCE_LEN);
    snprintf(sf->name, sizeof(sf->name), "%s", name);
    sf->fd = fd;
    sf->chunk = xmalloc(SEALED_CHUNK);
    return 0;
}

void sealed_file_close(struct sealed_file *sf)
{
    if (sf->chunk != NULL) {
        sodium_memzero(sf->chunk, SEALED_CHUNK);
        free(sf->chunk);
        sf->chunk = NULL;
    }
}

/* Opens chunk i into sf->chunk: its plaintext bytes (at most SEALED_FILE_CHUNK), or -1. */
static ssize_t read_chunk(struct sealed_file *sf, uint64_t i)
{
    int64_t start = (int64_t)i * SEALED_FILE_CHUNK;
    size_t n = sf->plain_size - start < SEALED_FILE_CHUNK ? (size_t)(sf->plain_size - start)
                                                          : SEALED_FILE_CHUNK;
    uint8_t nonce[NONCE_LEN], ad[sizeof(AD_DOMAIN) + NAME_MAX_LEN + 10];
    size_t adlen = chunk_params(sf->name, sf->nonce, i, start + (int64_t)n == sf->plain_size,
                                nonce, ad);
    ssize_t r = pread(sf->fd, sf->chunk, n + TAG_LEN, HEADER_LEN + (int64_t)i * SEALED_CHUNK);

    if (r != (ssize_t)(n + TAG_LEN)) {
        errno = r < 0 ? errno : EBADMSG;
        return -1;
    }
    /* In place: libsodium allows the output to be the input. */
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(sf->chunk, NULL, NULL, sf->chunk, n + TAG_LEN,
                                                   ad, adlen, nonce, sf->key) != 0) {
        errno = EBADMSG;
        return -1;
    }
    return (ssize_t)n;
}

ssize_t sealed_file_read(struct sealed_file *sf, void *buf, size_t len, int64_t off)
{
    size_t got = 0;

    if (off < 0) {
        errno = EINVAL;
        return -1;
    }
    while (got < len && off < sf->plain_size) {
        uint64_t i = (uint64_t)(off / SEALED_FILE_CHUNK);
        size_t skip = (size_t)(off - (int64_t)i * SEALED_FILE_CHUNK), take;
        ssize_t n = read_chunk(sf, i);

        if (n < 0) {
            return -1;
        }
        take = (size_t)n - skip < len - got ? (size_t)n - skip : len - got;
        memcpy((uint8_t *)buf + got, sf->chunk + skip, take);
        got += take;
        off += (int64_t)take;
    }
    return (ssize_t)got;
}

int sealed_file_read_all(const struct keyring *kr, const char *name, const char *path,
                         uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct sealed_file sf;
    uint8_t *buf = NULL;
    ssize_t n = -1;

    if (fd >= 0 && sealed_file_open(&sf, kr, name, fd) == 0) {
        buf = xmalloc((size_t)sf.plain_size + 1);
        n = sealed_file_read(&sf, buf, (size_t)sf.plain_size, 0);
        if (n >= 0 && n != sf.plain_size) {
            errno = EBADMSG;
            n = -1;
        }
        sealed_file_close(&sf);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (n < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = (size_t)n;
    return 0;
}

bool sealed_file_check(const struct keyring *kr, const char *name, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct sealed_file sf;
    bool ok = false;

    if (fd >= 0 && sealed_file_open(&sf, kr, name, fd) == 0) {
        ok = read_chunk(&sf, 0) >= 0; /* an empty file too has a chunk to open */
        sealed_file_close(&sf);
    }
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}
