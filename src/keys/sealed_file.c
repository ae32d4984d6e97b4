/*
 * sealed_file.c: see sealed_file.h.
 */
#include "keys/sealed_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keyring.h"
#include "util/fs.h"
#include "util/mem.h"

#define MAGIC "PSF1"
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HEADER_LEN (4 + 4 + NONCE_LEN)
#define SEALED_CHUNK (SEALED_FILE_CHUNK + TAG_LEN)
#define AD_DOMAIN "pipit-file-v1"
#define NAME_MAX_LEN 96

struct header {
    const uint8_t *key;
    uint8_t nonce[NONCE_LEN];
};

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
    for (int b = 0; b < 8; b++) {
        nonce[NONCE_LEN - 1 - b] ^= (uint8_t)(i >> (8 * b));
    }
    memcpy(ad, AD_DOMAIN, sizeof(AD_DOMAIN));   /* with its NUL */
    len = sizeof(AD_DOMAIN);
    memcpy(ad + len, name, n);
    len += n;
    ad[len++] = '\0';
    for (int b = 7; b >= 0; b--) {
        ad[len++] = (uint8_t)(i >> (8 * b));
    }
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
    size_t at = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int saved;

    if (fd < 0) {
        free(chunk);
        return -1;
    }
    memcpy(header, MAGIC, 4);
    for (int b = 0; b < 4; b++) {
        header[4 + b] = (uint8_t)(id >> (24 - 8 * b));
    }
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
    free(chunk);
    return 0;

fail:
    saved = errno;
    if (fd >= 0) {
        close(fd);
    }
    unlink(path);
    free(chunk);
    errno = saved;
    return -1;
}

static int read_header(const struct keyring *kr, int fd, struct header *h)
{
    uint8_t b[HEADER_LEN];
    uint32_t id = 0;

    if (pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        errno = errno != 0 ? errno : EBADMSG;
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        id = id << 8 | b[4 + i];
    }
    h->key = memcmp(b, MAGIC, 4) == 0 ? keyring__key(kr, id) : NULL;
    if (h->key == NULL) {
        errno = EBADMSG;
        return -1;
    }
    memcpy(h->nonce, b + 8, NONCE_LEN);
    return 0;
}

/* Opens chunk i (n bytes of plaintext; last or not) into chunk (SEALED_CHUNK bytes). */
static int read_chunk(const struct header *h, const char *name, int fd, uint64_t i, size_t n,
                      bool last, uint8_t *chunk)
{
    uint8_t nonce[NONCE_LEN], ad[sizeof(AD_DOMAIN) + NAME_MAX_LEN + 10];
    size_t adlen = chunk_params(name, h->nonce, i, last, nonce, ad);
    ssize_t r = pread(fd, chunk, n + TAG_LEN, HEADER_LEN + (int64_t)i * SEALED_CHUNK);

    if (r != (ssize_t)(n + TAG_LEN)) {
        errno = r < 0 ? errno : EBADMSG;
        return -1;
    }
    /* In place: libsodium allows the output to be the input. */
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(chunk, NULL, NULL, chunk, n + TAG_LEN, ad,
                                                   adlen, nonce, h->key) != 0) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

ssize_t sealed_file_read(const struct keyring *kr, const char *name, int fd, int64_t size,
                         int64_t off, uint8_t *buf, size_t len)
{
    int64_t plain = sealed_file_plain_size(size);
    struct header h;
    uint8_t *chunk;
    size_t got = 0;
    int rc = 0;

    if (plain < 0 || off < 0) {
        errno = EBADMSG;
        return -1;
    }
    if (off >= plain || len == 0) {
        return 0;
    }
    if (read_header(kr, fd, &h) != 0) {
        return -1;
    }
    chunk = xmalloc(SEALED_CHUNK);
    while (rc == 0 && got < len && off < plain) {
        uint64_t i = (uint64_t)(off / SEALED_FILE_CHUNK);
        int64_t start = (int64_t)i * SEALED_FILE_CHUNK;
        size_t n = plain - start < SEALED_FILE_CHUNK ? (size_t)(plain - start) : SEALED_FILE_CHUNK;
        size_t skip = (size_t)(off - start), take = n - skip;

        rc = read_chunk(&h, name, fd, i, n, start + (int64_t)n == plain, chunk);
        if (rc == 0) {
            take = take < len - got ? take : len - got;
            memcpy(buf + got, chunk + skip, take);
            got += take;
            off += (int64_t)take;
        }
    }
    sodium_memzero(chunk, SEALED_CHUNK);
    free(chunk);
    return rc == 0 ? (ssize_t)got : -1;
}

int sealed_file_read_all(const struct keyring *kr, const char *name, const char *path,
                         uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int64_t plain;
    uint8_t *buf;
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) != 0 || (plain = sealed_file_plain_size(st.st_size)) < 0) {
        errno = errno != 0 ? errno : EBADMSG;
        close(fd);
        return -1;
    }
    buf = xmalloc((size_t)plain + 1);
    n = sealed_file_read(kr, name, fd, st.st_size, 0, buf, (size_t)plain);
    close(fd);
    if (n != plain) {
        free(buf);
        errno = n < 0 ? errno : EBADMSG;
        return -1;
    }
    *out = buf;
    *len = (size_t)plain;
    return 0;
}

bool sealed_file_check(const struct keyring *kr, const char *name, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *chunk = xmalloc(SEALED_CHUNK);
    struct header h;
    struct stat st;
    int64_t plain = -1;
    bool ok;

    ok = fd >= 0 && fstat(fd, &st) == 0 && (plain = sealed_file_plain_size(st.st_size)) >= 0 &&
         read_header(kr, fd, &h) == 0 &&
         read_chunk(&h, name, fd, 0, plain < SEALED_FILE_CHUNK ? (size_t)plain : SEALED_FILE_CHUNK,
                    plain <= SEALED_FILE_CHUNK, chunk) == 0;
    if (fd >= 0) {
        close(fd);
    }
    sodium_memzero(chunk, SEALED_CHUNK);
    free(chunk);
    return ok;
}
