/* test_keys.c: the data keys (keys/keyring.h) and sealed files (keys/sealed_file.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keyring.h"
#include "keys/sealed_file.h"

struct fixture {
    char dir[64];
    char path[128];
    uint8_t master[KEYRING_KEY_LEN];
    char err[1024];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || sodium_init() < 0) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/pipit-keys-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/" KEYRING_FILE, f->dir);
    randombytes_buf(f->master, sizeof(f->master));
    unsetenv("PIPIT_MASTER_KEY");
    unsetenv("PIPIT_MASTER_KEY_FILE");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    free(f);
    return 0;
}

static struct keyring *load(struct fixture *f, const uint8_t *master, bool create)
{
    struct keyring *kr = NULL;

    assert_int_equal(keyring_load(f->dir, master, create, &kr, f->err, sizeof(f->err)), 0);
    return kr;
}

static void file_text(const char *path, char *out, size_t cap)
{
    FILE *fp = fopen(path, "r");
    size_t n;

    assert_non_null(fp);
    n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* No master and no file: off. A master makes the file with key 1, and opens it again. */
static void test_load_creates_and_reopens(void **state)
{
    struct fixture *f = *state;
    uint8_t sealed[5 + KEYRING_OVERHEAD], opened[5];
    struct keyring *kr;

    assert_null(load(f, NULL, true));
    assert_int_equal(access(f->path, F_OK), -1);
    kr = load(f, f->master, true);
    assert_non_null(kr);
    assert_int_equal(keyring_count(kr), 1);
    assert_int_equal(keyring_active_id(kr), 1);
    keyring_seal(kr, (const uint8_t *)"ad", 2, (const uint8_t *)"hello", 5, sealed);
    keyring_free(kr);

    kr = load(f, f->master, false);
    assert_int_equal(keyring_unseal(kr, (const uint8_t *)"ad", 2, sealed, sizeof(sealed), opened),
                     0);
    assert_memory_equal(opened, "hello", 5);
    keyring_free(kr);
}

/* Wrong master, none, a damaged file: refused, unchanged; no file and not to make one: none. */
static void test_load_refusals(void **state)
{
    struct fixture *f = *state;
    uint8_t wrong[KEYRING_KEY_LEN];
    struct keyring *kr = NULL;
    char before[4096], after[4096];

    /* Not asked to make one: none, and no file. */
    assert_int_equal(keyring_load(f->dir, f->master, false, &kr, f->err, sizeof(f->err)), 0);
    assert_null(kr);
    assert_int_equal(access(f->path, F_OK), -1);
    keyring_free(load(f, f->master, true));
    file_text(f->path, before, sizeof(before));

    randombytes_buf(wrong, sizeof(wrong));
    assert_int_equal(keyring_load(f->dir, wrong, true, &kr, f->err, sizeof(f->err)), -1);
    assert_non_null(strstr(f->err, "does not open"));
    assert_int_equal(keyring_load(f->dir, NULL, true, &kr, f->err, sizeof(f->err)), -1);
    assert_non_null(strstr(f->err, "no master key"));
    file_text(f->path, after, sizeof(after));
    assert_string_equal(before, after);

    write_text(f->path, "pipit-data-keys 1\nkey 1 0 00ff\n");
    assert_int_equal(keyring_load(f->dir, f->master, true, &kr, f->err, sizeof(f->err)), -1);
    assert_non_null(strstr(f->err, "damaged"));
    write_text(f->path, "something else\n");
    assert_int_equal(keyring_load(f->dir, f->master, true, &kr, f->err, sizeof(f->err)), -1);
    assert_non_null(strstr(f->err, "not a pipit data keys file"));
    assert_null(kr);
}

/* Rotation adds a key that seals from then on; the old one still opens; a new master rewraps. */
static void test_rotate(void **state)
{
    struct fixture *f = *state;
    uint8_t old_sealed[3 + KEYRING_OVERHEAD], new_sealed[3 + KEYRING_OVERHEAD], out[3];
    uint8_t next[KEYRING_KEY_LEN];
    const uint8_t *index_key;
    uint8_t index_before[KEYRING_INDEX_KEY_LEN];
    struct keyring *kr = load(f, f->master, true);
    uint32_t id = 0;

    keyring_seal(kr, NULL, 0, (const uint8_t *)"old", 3, old_sealed);
    memcpy(index_before, keyring_index_key(kr), sizeof(index_before));
    keyring_free(kr);

    assert_int_equal(keyring_rotate(f->dir, f->master, NULL, &id, f->err, sizeof(f->err)), 0);
    assert_int_equal(id, 2);
    kr = load(f, f->master, false);
    assert_int_equal(keyring_active_id(kr), 2);
    keyring_seal(kr, NULL, 0, (const uint8_t *)"new", 3, new_sealed);
    assert_int_equal(new_sealed[4], 2); /* the key id, big-endian */
    assert_int_equal(keyring_unseal(kr, NULL, 0, old_sealed, sizeof(old_sealed), out), 0);
    assert_memory_equal(out, "old", 3);
    index_key = keyring_index_key(kr);
    assert_memory_equal(index_key, index_before, sizeof(index_before));
    keyring_free(kr);

    randombytes_buf(next, sizeof(next));
    assert_int_equal(keyring_rotate(f->dir, f->master, next, &id, f->err, sizeof(f->err)), 0);
    assert_int_equal(id, 3);
    assert_int_equal(keyring_load(f->dir, f->master, false, &kr, f->err, sizeof(f->err)), -1);
    kr = load(f, next, false);
    assert_int_equal(keyring_count(kr), 3);
    assert_int_equal(keyring_unseal(kr, NULL, 0, new_sealed, sizeof(new_sealed), out), 0);
    assert_memory_equal(out, "new", 3);
    keyring_free(kr);
}

/* A sealed value moved (other ad), altered, cut short or unknown does not open. */
static void test_unseal_refuses_tampering(void **state)
{
    struct fixture *f = *state;
    struct keyring *kr = load(f, f->master, true);
    uint8_t sealed[4 + KEYRING_OVERHEAD], copy[sizeof(sealed)], out[4];

    keyring_seal(kr, (const uint8_t *)"1:2", 3, (const uint8_t *)"text", 4, sealed);
    assert_true(keyring_is_sealed(sealed, sizeof(sealed)));
    assert_int_equal(keyring_unseal(kr, (const uint8_t *)"1:3", 3, sealed, sizeof(sealed), out),
                     -1);
    for (size_t i = 0; i < sizeof(sealed); i++) {
        memcpy(copy, sealed, sizeof(copy));
        copy[i] ^= 0x01;
        assert_int_equal(keyring_unseal(kr, (const uint8_t *)"1:2", 3, copy, sizeof(copy), out),
                         -1);
    }
    assert_int_equal(keyring_unseal(kr, (const uint8_t *)"1:2", 3, sealed, 10, out), -1);
    assert_int_equal(keyring_unseal(kr, (const uint8_t *)"1:2", 3, sealed, sizeof(sealed), out),
                     0);
    keyring_free(kr);
}

/* The master key file: 64 hex digits, outside the data dir; or the environment. */
static void test_master_load(void **state)
{
    struct fixture *f = *state;
    uint8_t m[KEYRING_KEY_LEN];
    char outside[128], inside[128], hex[KEYRING_KEY_HEX + 2];

    assert_int_equal(keyring_master_load(NULL, f->dir, m, f->err, sizeof(f->err)), 0);
    sodium_bin2hex(hex, sizeof(hex), f->master, sizeof(f->master));
    snprintf(outside, sizeof(outside), "%s.master", f->dir);
    strcat(hex, "\n");
    write_text(outside, hex);
    assert_int_equal(keyring_master_load(outside, f->dir, m, f->err, sizeof(f->err)), 1);
    assert_memory_equal(m, f->master, sizeof(m));
    unlink(outside);

    snprintf(inside, sizeof(inside), "%s/master.key", f->dir);
    write_text(inside, hex);
    assert_int_equal(keyring_master_load(inside, f->dir, m, f->err, sizeof(f->err)), -1);
    assert_non_null(strstr(f->err, "inside the data dir"));

    write_text(outside, "not hex at all, not hex at all, not hex at all, not hex at all!!\n");
    assert_int_equal(keyring_master_load(outside, f->dir, m, f->err, sizeof(f->err)), -1);
    unlink(outside);

    hex[KEYRING_KEY_HEX] = '\0';
    setenv("PIPIT_MASTER_KEY", hex, 1);
    assert_int_equal(keyring_master_load(NULL, f->dir, m, f->err, sizeof(f->err)), 1);
    assert_memory_equal(m, f->master, sizeof(m));
    setenv("PIPIT_MASTER_KEY", "abcd", 1);
    assert_int_equal(keyring_master_load(NULL, f->dir, m, f->err, sizeof(f->err)), -1);
    unsetenv("PIPIT_MASTER_KEY");
}

/* Sizes, whole reads, reads at any offset across chunk edges, and tampering. */
static void test_sealed_file(void **state)
{
    static const size_t sizes[] = { 0, 1, SEALED_FILE_CHUNK - 1, SEALED_FILE_CHUNK,
                                    SEALED_FILE_CHUNK + 1, 3 * SEALED_FILE_CHUNK + 17 };
    struct fixture *f = *state;
    struct keyring *kr = load(f, f->master, true);
    char path[160];

    snprintf(path, sizeof(path), "%s/blob", f->dir);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        uint8_t *pt = malloc(n + 1), *back = NULL, *piece = malloc(n + 1);
        size_t len = 0;
        struct sealed_file sf;
        struct stat st;
        int fd;

        randombytes_buf(pt, n);
        unlink(path);
        assert_int_equal(sealed_file_write(kr, "abc", pt, n, path), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, sealed_file_size((int64_t)n));
        assert_int_equal(sealed_file_plain_size(st.st_size), (int64_t)n);
        assert_int_equal(sealed_file_read_all(kr, "abc", path, &back, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(back, pt, n);
        free(back);
        assert_true(sealed_file_check(kr, "abc", path));
        assert_false(sealed_file_check(kr, "abd", path)); /* another file's name */

        fd = open(path, O_RDWR);
        assert_int_equal(sealed_file_open(&sf, kr, "abc", fd), 0);
        assert_int_equal(sf.plain_size, (int64_t)n);
        for (size_t off = 0; off < n; off += n / 7 + 1) {
            size_t want = n - off < 1000 ? n - off : 1000;
            ssize_t got = sealed_file_read(&sf, piece, want, (int64_t)off);

            assert_int_equal(got, (ssize_t)want);
            assert_memory_equal(piece, pt + off, want);
        }
        assert_int_equal(sealed_file_read(&sf, piece, 1, (int64_t)n), 0);
        if (n > 0) {
            /* One flipped byte in the last chunk: that range no longer opens. */
            uint8_t b;

            assert_int_equal(pread(fd, &b, 1, st.st_size - 1), 1);
            b ^= 0x80;
            assert_int_equal(pwrite(fd, &b, 1, st.st_size - 1), 1);
            assert_int_equal(sealed_file_read(&sf, piece, 1, (int64_t)n - 1), -1);
        }
        sealed_file_close(&sf);
        close(fd);
        if (n > 0) {
            /* Cut short by a chunk's tag: the size names no sealed file, or loses the end. */
            assert_int_equal(truncate(path, st.st_size - 16), 0);
            assert_int_not_equal(sealed_file_read_all(kr, "abc", path, &back, &len), 0);
        }
        free(pt);
        free(piece);
    }
    assert_int_equal(sealed_file_plain_size(10), -1);
    assert_int_equal(sealed_file_plain_size(32 + 16 + SEALED_FILE_CHUNK + 16), -1);
    keyring_free(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_creates_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unseal_refuses_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
