/* test_backup_manifest.c: a backup's manifest.json (compliance/backup_manifest.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/backup_manifest.h"

/* A stored file's hash, its path, and another hash (of the database, a key…). */
#define SHA_A "abcd0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
#define BLOB_A "files/ab/cd/" SHA_A
#define SHA_B "0000000000000000000000000000000000000000000000000000000000000000"
/* Not SHA-256s in hex: upper case, and a letter past f. */
#define SHA_UPPER "ABCD0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
#define SHA_G "g000000000000000000000000000000000000000000000000000000000000000"

#define HEAD                                                                            \
    "\"format\":\"pipit-backup\",\"version\":1,\"created_at\":1700000000000,"           \
    "\"pipit_version\":\"0.1.0\",\"schema_version\":7,"                                 \
    "\"counts\":{\"messages\":30,\"users\":2,\"files\":4,\"blobs\":1}"
#define ENTRY(path, size, sha) "{\"path\":\"" path "\",\"size\":" #size ",\"sha256\":\"" sha "\"}"
#define DB ENTRY("pipit.db", 8192, SHA_B)
#define MANIFEST(entries) "{" HEAD ",\"entries\":[" entries "]}"

/* The manifest's text with one more entry beside the database (path as JSON escapes it). */
static char *with_entry(const char *path, const char *sha)
{
    json_t *m = json_loads(MANIFEST(DB), 0, NULL);
    char *text;

    assert_non_null(m);
    assert_int_equal(json_array_append_new(json_object_get(m, "entries"),
                                           json_pack("{s:s,s:i,s:s}", "path", path, "size", 1,
                                                     "sha256", sha)),
                     0);
    text = json_dumps(m, JSON_COMPACT);
    assert_non_null(text);
    json_decref(m);
    return text;
}

/* Refused with exactly the message want (or, when prefix, a message starting so). */
static void refused_as(const char *text, const char *want, bool prefix)
{
    struct backup_manifest m, before;
    char err[512] = "";

    memset(&m, 0x5a, sizeof(m));
    memcpy(&before, &m, sizeof(m));
    assert_int_equal(backup_manifest_parse(text, strlen(text), "b.tar", &m, err, sizeof(err)),
                     -1);
    if (prefix) {
        if (strncmp(err, want, strlen(want)) != 0) {
            fail_msg("\"%s\" does not start with \"%s\"", err, want);
        }
    } else {
        assert_string_equal(err, want);
    }
    /* A failure leaves the out-parameter as it was. */
    assert_memory_equal(&m, &before, sizeof(m));
}

/* Taken, with the entry named path. */
static void accepted(const char *text, const char *path)
{
    struct backup_manifest m = { 0 };
    char err[512] = "";

    assert_int_equal(backup_manifest_parse(text, strlen(text), "b.tar", &m, err, sizeof(err)), 0);
    assert_non_null(backup_manifest_find(&m, path));
    backup_manifest_cleanup(&m);
}

static void refused(const char *text, const char *want)
{
    refused_as(text, want, false);
}

static void test_a_valid_manifest_gives_its_entries_sorted_and_its_facts(void **state)
{
    const char *text = MANIFEST(ENTRY(BLOB_A ".thumb", 300, SHA_B) ","
                                ENTRY("webpush.key", 32, SHA_B) "," DB ","
                                ENTRY(BLOB_A, 1000, SHA_A) "," ENTRY("0-first", 0, SHA_B));
    struct backup_manifest m = { 0 };
    const struct backup_manifest_entry *e;
    char err[512] = "";

    assert_int_equal(backup_manifest_parse(text, strlen(text), "b.tar", &m, err, sizeof(err)), 0);
    assert_int_equal(m.n, 5);
    assert_string_equal(m.entries[0].path, "0-first");
    assert_string_equal(m.entries[1].path, BLOB_A);
    assert_string_equal(m.entries[2].path, BLOB_A ".thumb");
    assert_string_equal(m.entries[3].path, "pipit.db");
    assert_string_equal(m.entries[4].path, "webpush.key");
    assert_int_equal(m.facts.schema_version, 7);
    assert_int_equal(m.facts.messages, 30);
    assert_int_equal(m.facts.users, 2);
    assert_int_equal(m.facts.files, 4);
    assert_int_equal(m.facts.blobs, 1);
    assert_string_equal(m.pipit_version, "0.1.0");

    e = backup_manifest_find(&m, BLOB_A);
    assert_non_null(e);
    assert_int_equal(e->size, 1000);
    assert_string_equal(e->sha256, SHA_A);
    e = backup_manifest_find(&m, "pipit.db");
    assert_non_null(e);
    assert_int_equal(e->size, 8192);
    assert_null(backup_manifest_find(&m, "pipit.db-wal"));
    assert_null(backup_manifest_find(&m, ""));
    assert_null(backup_manifest_find(&m, BLOB_A BLOB_A BLOB_A)); /* longer than any path */
    backup_manifest_cleanup(&m);
    assert_null(m.entries);
    backup_manifest_cleanup(&m); /* twice, and on a zeroed struct: harmless */
}

static void test_only_len_bytes_are_read(void **state)
{
    const char *valid = MANIFEST(DB);
    size_t n = strlen(valid);
    char *text = malloc(n + 5);
    struct backup_manifest m = { 0 };
    char err[512] = "";

    memcpy(text, valid, n);
    memcpy(text + n, "junk", 5); /* past len, and no NUL right after the JSON */
    assert_int_equal(backup_manifest_parse(text, n, "b.tar", &m, err, sizeof(err)), 0);
    assert_int_equal(m.n, 1);
    backup_manifest_cleanup(&m);
    assert_int_equal(backup_manifest_parse(text, n - 1, "b.tar", &m, err, sizeof(err)), -1);
    free(text);
}

static void test_bad_json_is_damaged(void **state)
{
    refused_as("", "b.tar: manifest.json is damaged: ", true);
    refused_as("{\"format\":", "b.tar: manifest.json is damaged: ", true);
    refused_as("\xff\xfe", "b.tar: manifest.json is damaged: ", true);
    /* The same key twice could say two things: refused. */
    refused_as("{\"format\":\"pipit-backup\",\"format\":\"other\"}",
               "b.tar: manifest.json is damaged: ", true);
}

static void test_another_format_or_version_is_refused(void **state)
{
    const char *other = "b.tar is not a pipit backup (its manifest.json says otherwise)";

    refused("[]", other);
    refused("{\"version\":1}", other);
    refused("{\"format\":\"pipit-export\",\"version\":1}", other);
    refused("{\"format\":\"pipit-backup\",\"version\":\"1\"}", other);
    refused("{\"format\":\"pipit-backup\",\"version\":2}",
            "b.tar is in backup format version 2; this pipit reads version 1");
    refused("{\"format\":\"pipit-backup\",\"version\":-9223372036854775808}",
            "b.tar is in backup format version -9223372036854775808; this pipit reads "
            "version 1");
}

static void test_missing_facts_are_damaged(void **state)
{
    const char *damaged = "b.tar: manifest.json is damaged: ";
    char err[512];
    struct backup_manifest m = { 0 };
    const char *no_counts = "{\"format\":\"pipit-backup\",\"version\":1,\"created_at\":1,"
                            "\"pipit_version\":\"0.1.0\",\"schema_version\":7,\"entries\":[]}";

    refused_as(no_counts, damaged, true);
    assert_int_equal(backup_manifest_parse(no_counts, strlen(no_counts), "b.tar", &m, err,
                                           sizeof(err)), -1);
    assert_non_null(strstr(err, "counts")); /* jansson's words name what is missing */
    refused_as("{\"format\":\"pipit-backup\",\"version\":1,\"created_at\":1,"
               "\"pipit_version\":\"0.1.0\",\"schema_version\":7,"
               "\"counts\":{\"messages\":1,\"users\":1,\"files\":1},\"entries\":[]}",
               damaged, true);
    refused_as("{" HEAD "}", damaged, true); /* no entries */
    refused_as("{\"format\":\"pipit-backup\",\"version\":1,\"created_at\":1,"
               "\"pipit_version\":7,\"schema_version\":7,"
               "\"counts\":{\"messages\":1,\"users\":1,\"files\":1,\"blobs\":1},\"entries\":[]}",
               damaged, true);
}

static void test_entries_that_are_not_a_list_are_damaged(void **state)
{
    const char *want = "b.tar: manifest.json is damaged: its entries are not a list";

    refused("{" HEAD ",\"entries\":{}}", want);
    refused("{" HEAD ",\"entries\":\"pipit.db\"}", want);
    refused("{" HEAD ",\"entries\":null}", want);
}

static void test_an_entry_without_a_size_or_a_sha256_is_damaged(void **state)
{
    const char *want = "b.tar: manifest.json is damaged: entry 1";

    refused(MANIFEST(DB ",{\"path\":\"k\",\"size\":1}"), want);
    refused(MANIFEST(DB ",{\"path\":\"k\",\"sha256\":\"" SHA_B "\"}"), want);
    refused(MANIFEST(DB ",{\"size\":1,\"sha256\":\"" SHA_B "\"}"), want);
    refused(MANIFEST(DB ",\"k\""), want);
    refused(MANIFEST(DB "," ENTRY("k", -1, SHA_B)), want);
    refused(MANIFEST(DB "," ENTRY("k", 1.5, SHA_B)), want);
    /* Not 64 lowercase hex digits. */
    refused(MANIFEST(DB "," ENTRY("k", 1, SHA_UPPER)), want);
    refused(MANIFEST(DB "," ENTRY("k", 1, "abcd")), want);
    refused(MANIFEST(DB "," ENTRY("k", 1, SHA_B "0")), want);
    refused(MANIFEST(DB "," ENTRY("k", 1, SHA_G)), want);
    refused(MANIFEST(ENTRY("pipit.db", 1, "")), "b.tar: manifest.json is damaged: entry 0");
}

static void test_paths_that_could_lead_elsewhere_are_refused(void **state)
{
    const char *paths[] = {
        "../pipit.db", "../../etc/passwd", "/etc/passwd", "./pipit.db", "a/b", "a\\b",
        ".hidden", "", "with space", "tab\there", "caf\xc3\xa9", "manifest.json", "files",
        "files/", "files/../pipit.db", "files/ab/cd/../../../pipit.db",
        "files/ab/cd/" SHA_A "/../x", "files/xx/yy/" SHA_A, "files/ab/cd/" SHA_A ".jpg",
        "files/ab/cd/" SHA_A ".thumb.thumb", "files/ab/cd/" SHA_A "/", "files/ab/cd/ab",
        "files/ab/cd//" SHA_A, "files/tmp/upload-1", "pipit.db-wal", "pipit.db-shm",
        "pipit.db-journal", "pipitd.lock", "key.tmp",
    };
    char longest[BACKUP_MANIFEST_PATH_MAX + 1], *text, want[512];

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        text = with_entry(paths[i], SHA_A);
        snprintf(want, sizeof(want), "b.tar: the manifest names \"%.100s\", which no backup "
                 "holds (refused)", paths[i]);
        refused(text, want);
        free(text);
    }
    /* A top-level name one byte too long to fit an entry; one byte shorter fits. */
    memset(longest, 'k', BACKUP_MANIFEST_PATH_MAX);
    longest[BACKUP_MANIFEST_PATH_MAX] = '\0';
    text = with_entry(longest, SHA_A);
    snprintf(want, sizeof(want), "b.tar: the manifest names \"%s\", which no backup holds "
             "(refused)", longest);
    refused(text, want);
    free(text);
    longest[BACKUP_MANIFEST_PATH_MAX - 1] = '\0';
    text = with_entry(longest, SHA_A);
    accepted(text, longest);
    free(text);
}

static void test_a_stored_file_must_be_named_by_its_sha256(void **state)
{
    char *text = with_entry(BLOB_A, SHA_B);

    refused(text, "b.tar: the manifest's SHA-256 of " BLOB_A " is not its name");
    free(text);
    /* A thumbnail is named by its image's hash, not its own. */
    text = with_entry(BLOB_A ".thumb", SHA_B);
    accepted(text, BLOB_A ".thumb");
    free(text);
}

static void test_a_path_named_twice_is_refused(void **state)
{
    refused(MANIFEST(DB "," ENTRY("server.key", 1, SHA_B) "," ENTRY("server.key", 2, SHA_A)),
            "b.tar: the manifest names server.key twice");
    refused(MANIFEST(DB "," DB), "b.tar: the manifest names pipit.db twice");
    refused(MANIFEST(ENTRY(BLOB_A, 1, SHA_A) "," DB "," ENTRY(BLOB_A, 1, SHA_A)),
            "b.tar: the manifest names " BLOB_A " twice");
}

static void test_a_backup_without_its_database_is_refused(void **state)
{
    refused(MANIFEST(""), "b.tar: the manifest names no pipit.db");
    refused(MANIFEST(ENTRY("server.key", 1, SHA_B) "," ENTRY(BLOB_A, 1, SHA_A)),
            "b.tar: the manifest names no pipit.db");
}

static void test_the_name_rules_pipit_backup_follows(void **state)
{
    assert_true(tarball_is_sha256(SHA_A, 64));
    assert_true(tarball_is_sha256(SHA_A "trailing", 64));
    assert_false(tarball_is_sha256(SHA_A, 63));
    assert_false(tarball_is_sha256(SHA_UPPER, 64));
    assert_false(tarball_is_sha256(SHA_G, 64));
    assert_true(backup_manifest_is_plain_name("webpush.key"));
    assert_false(backup_manifest_is_plain_name(".env"));
    assert_false(backup_manifest_is_plain_name("files"));
    assert_false(backup_manifest_is_plain_name("manifest.json"));
    assert_false(backup_manifest_is_plain_name("a/b"));
    assert_true(backup_manifest_is_transient("pipit.db"));
    assert_true(backup_manifest_is_transient("pipit.db-wal"));
    assert_true(backup_manifest_is_transient("vapid.key.tmp"));
    assert_false(backup_manifest_is_transient("vapid.key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_valid_manifest_gives_its_entries_sorted_and_its_facts),
        cmocka_unit_test(test_only_len_bytes_are_read),
        cmocka_unit_test(test_bad_json_is_damaged),
        cmocka_unit_test(test_another_format_or_version_is_refused),
        cmocka_unit_test(test_missing_facts_are_damaged),
        cmocka_unit_test(test_entries_that_are_not_a_list_are_damaged),
        cmocka_unit_test(test_an_entry_without_a_size_or_a_sha256_is_damaged),
        cmocka_unit_test(test_paths_that_could_lead_elsewhere_are_refused),
        cmocka_unit_test(test_a_stored_file_must_be_named_by_its_sha256),
        cmocka_unit_test(test_a_path_named_twice_is_refused),
        cmocka_unit_test(test_a_backup_without_its_database_is_refused),
        cmocka_unit_test(test_the_name_rules_pipit_backup_follows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
