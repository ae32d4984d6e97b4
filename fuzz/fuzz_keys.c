/*
 * fuzz_keys.c: what encryption at rest reads from disk (src/keys/): a data dir's
 * data-keys file (keyring_parse), a sealed value (keyring_unseal) and a sealed
 * stored file (sealed_file_open, sealed_file_read), all from the untrusted bytes of a data dir.
 *
 * The input is all three at once. A keys file is refused with a message and no
 * keyring, or taken with at least one key; nothing that was not sealed with the
 * fuzzer's keyring opens (no one can forge a tag), and no read goes past a buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "keys/keyring.h"
#include "keys/sealed_file.h"

static const uint8_t master[KEYRING_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

/* A real keyring (made once, in a temporary dir): what the inputs are opened with. */
static struct keyring *fuzz_keys(void)
{
    static struct keyring *kr;
    char dir[] = "/tmp/pipit-fuzz-keys-XXXXXX", path[64], err[512];

    if (kr == NULL) {
        CHECK(mkdtemp(dir) != NULL);
        CHECK(keyring_load(dir, master, true, &kr, err, sizeof(err)) == 0 && kr != NULL);
        snprintf(path, sizeof(path), "%s/" KEYRING_FILE, dir);
        unlink(path);
        rmdir(dir);
    }
    return kr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct keyring *kr = (struct keyring *)0x1, *good = fuzz_keys();
    struct sealed_file sf;
    uint8_t out[4096];
    char err[1024] = "";
    int fd;

    if (keyring_parse((const char *)data, size, "fuzz", master, &kr, err, sizeof(err)) != 0) {
        CHECK(err[0] != '\0' && kr == (struct keyring *)0x1);
    } else {
        CHECK(keyring_count(kr) >= 1 && keyring_active_id(kr) >= 1);
        keyring_free(kr);
    }
    if (size >= KEYRING_OVERHEAD && size - KEYRING_OVERHEAD <= sizeof(out)) {
        CHECK(keyring_unseal(good, NULL, 0, data, size, out) == -1);
    }
    fd = memfd_create("sealed", 0);
    CHECK(fd >= 0);
    CHECK(write(fd, data, size) == (ssize_t)size);
    if (sealed_file_open(&sf, good, "fuzz", fd) == 0) {
        for (int64_t off = 0; off < 3 * SEALED_FILE_CHUNK; off += SEALED_FILE_CHUNK - 1) {
            CHECK(sealed_file_read(&sf, out, sizeof(out), off) <= 0);
        }
        sealed_file_close(&sf);
    }
    close(fd);
    return 0;
}
