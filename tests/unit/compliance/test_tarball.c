/* test_tarball.c: the archive writer (compliance/tarball.h), read back with libarchive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compliance/tarball.h"

struct fixture {
    char dir[64];
    char out[128];
    char src[128];
    char err[512];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/pipit-test-tarball-XXXXXX");
    if (sodium_init() < 0 || mkdtemp(f->dir) == NULL) {
        return -1;
    }
    snprintf(f->out, sizeof(f->out), "%s/a.tar", f->dir);
    snprintf(f->src, sizeof(f->src), "%s/src.txt", f->dir);
    write_file(f->src, "hello, archive\n");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *de;
    char path[400];

    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* How many entries the dir holds besides src.txt (what a failure may have left). */
static int others(const struct fixture *f)
{
    DIR *d = opendir(f->dir);
    struct dirent *de;
    int n = 0;

    while ((de = readdir(d)) != NULL) {
        n += de->d_name[0] != '.' && strcmp(de->d_name, "src.txt") != 0;
    }
    closedir(d);
    return n;
}

static void test_manifest_first_then_entries_as_it_says(void **state)
{
    struct fixture *f = *state;
    struct tarball *t = NULL;
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    char *big = malloc(200000), manifest[4096];
    json_t *m;
    int64_t bytes = 0;
    ssize_t n;

    memset(big, 'x', 200000);
    assert_int_equal(tarball_new(f->out, false, &t, f->err, sizeof(f->err)), 0);
    assert_int_equal(tarball_part_begin(t, "part.jsonl"), 0);
    assert_int_equal(tarball_part_write(t, "{\"a\":1}\n", 8), 0);
    /* Files may come while a part is written; they follow it. */
    assert_int_equal(tarball_add_file(t, "files/1-src.txt", f->src), 0);
    assert_int_equal(tarball_part_write(t, big, 200000), 0); /* past the part's buffer */
    assert_int_equal(tarball_part_end(t), 0);
    assert_int_equal(tarball_finish(t, json_pack("{s:s}", "format", "test"), &bytes), 0);
    tarball_free(&t);
    assert_true(bytes > 200000);
    assert_int_equal(others(f), 1); /* a.tar: no a.tar.tmp, no spool */

    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, f->out, 10240), ARCHIVE_OK);
    assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_OK);
    assert_string_equal(archive_entry_pathname(ae), "manifest.json");
    assert_int_equal(archive_entry_perm(ae), 0600);
    n = archive_read_data(a, manifest, sizeof(manifest) - 1);
    assert_true(n > 0);
    manifest[n] = '\0';
    m = json_loads(manifest, 0, NULL);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "format")), "test");
    assert_int_equal(json_array_size(json_object_get(m, "entries")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(m, "entries"), 0), "path")),
                        "part.jsonl");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(m, "entries"), 0), "size")),
                     200008);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(m, "entries"), 1), "size")),
                     15);
    json_decref(m);
    assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_OK);
    assert_string_equal(archive_entry_pathname(ae), "part.jsonl");
    assert_int_equal(archive_entry_size(ae), 200008);
    assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_OK);
    assert_string_equal(archive_entry_pathname(ae), "files/1-src.txt");
    assert_int_equal(archive_read_next_header(a, &ae), ARCHIVE_EOF);
    archive_read_free(a);
    free(big);
}

static void test_a_file_changed_since_it_was_added_fails_and_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct tarball *t = NULL;
    int64_t bytes = 0;

    assert_int_equal(tarball_new(f->out, false, &t, f->err, sizeof(f->err)), 0);
    assert_int_equal(tarball_add_file(t, "src.txt", f->src), 0);
    write_file(f->src, "hello, changed\n"); /* same size, other bytes */
    assert_int_equal(tarball_finish(t, json_object(), &bytes), -1);
    assert_non_null(strstr(tarball_error(t), "SHA-256"));
    tarball_free(&t);
    assert_int_equal(others(f), 0);
}

static void test_known_size_and_hash_are_checked(void **state)
{
    struct fixture *f = *state;
    struct tarball *t = NULL;
    char missing[160];

    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    assert_int_equal(tarball_new(f->out, false, &t, f->err, sizeof(f->err)), 0);
    assert_int_equal(tarball_add_known(t, "x", f->src, 15, "not-a-hash"), -1);
    assert_int_equal(tarball_add_known(t, "x", f->src, 14, "00000000000000000000000000000000"
                                                          "00000000000000000000000000000000"),
                     -1);
    assert_non_null(strstr(tarball_error(t), "15 bytes, not 14"));
    assert_int_equal(tarball_add_known(t, "x", missing, 15, "00000000000000000000000000000000"
                                                            "00000000000000000000000000000000"),
                     -1);
    assert_non_null(strstr(tarball_error(t), "is missing"));
    tarball_free(&t);
    assert_int_equal(others(f), 0);
}

static void test_names_that_could_leave_the_archive_are_refused(void **state)
{
    static const char *const bad[] = { "", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b",
                                       "a/", "manifest.json", "." };
    struct fixture *f = *state;
    struct tarball *t = NULL;

    assert_int_equal(tarball_new(f->out, false, &t, f->err, sizeof(f->err)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tarball_add_file(t, bad[i], f->src), -1);
        assert_int_equal(tarball_part_begin(t, bad[i]), -1);
    }
    assert_int_equal(tarball_add_file(t, "a/b.c/d..e", f->src), 0);
    tarball_free(&t);
}

static void test_an_existing_file_is_replaced_only_with_force(void **state)
{
    struct fixture *f = *state;
    struct tarball *t = NULL;
    int64_t bytes = 0;
    struct stat st;

    write_file(f->out, "keep me");
    assert_int_equal(tarball_new(f->out, false, &t, f->err, sizeof(f->err)), -1);
    assert_null(t);
    assert_non_null(strstr(f->err, "exists"));
    assert_int_equal(tarball_new(f->out, true, &t, f->err, sizeof(f->err)), 0);
    assert_int_equal(tarball_finish(t, json_object(), &bytes), 0);
    tarball_free(&t);
    assert_int_equal(stat(f->out, &st), 0);
    assert_int_equal(st.st_size, bytes);
    assert_int_equal(st.st_mode & 0777, 0600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_manifest_first_then_entries_as_it_says, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_file_changed_since_it_was_added_fails_and_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_size_and_hash_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_that_could_leave_the_archive_are_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_existing_file_is_replaced_only_with_force,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
