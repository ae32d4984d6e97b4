/*
 * fuzz_backup_manifest.c: a backup's manifest.json (src/compliance/backup_manifest.h),
 * which `pipit restore` reads from an untrusted file.
 *
 * The input is the manifest's bytes. A refusal leaves the out-parameter as it was and
 * says why; a manifest taken holds the database, its paths sorted and each once, none
 * of them able to lead out of the dir it is extracted into, each found by lookup.
 */
#include <stdbool.h>
#include <string.h>

#include "compliance/backup_manifest.h"
#include "fuzz.h"

/*
 * Relative, with no empty segment and none that starts with a dot (so no "." or ".."):
 * true of every name the format allows.
 */
static bool stays_inside(const char *path)
{
    size_t n = strlen(path);

    return n > 0 && path[0] != '/' && path[0] != '.' && path[n - 1] != '/' &&
           strstr(path, "//") == NULL && strstr(path, "/.") == NULL && strchr(path, '\\') == NULL;
}

/* A stored file (not its thumbnail) is named files/ab/cd/<its SHA-256>. */
static bool named_by_hash(const struct backup_manifest_entry *e)
{
    const char *dir = "files/ab/cd/";

    if (strncmp(e->path, "files/", 6) != 0 || strlen(e->path) != strlen(dir) + TARBALL_SHA_HEX) {
        return true;
    }
    return strcmp(e->path + strlen(dir), e->sha256) == 0 &&
           strncmp(e->path + 6, e->sha256, 2) == 0 && strncmp(e->path + 9, e->sha256 + 2, 2) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct backup_manifest m, before;
    char err[1024] = "";

    memset(&m, 0xa5, sizeof(m));
    memcpy(&before, &m, sizeof(m));
    if (backup_manifest_parse((const char *)data, size, "fuzz", &m, err, sizeof(err)) != 0) {
        CHECK(err[0] != '\0');
        CHECK(memcmp(&m, &before, sizeof(m)) == 0);
        return 0;
    }
    CHECK(m.n >= 1 && m.entries != NULL);
    CHECK(backup_manifest_find(&m, BACKUP_MANIFEST_DB) != NULL);
    CHECK(memchr(m.pipit_version, '\0', sizeof(m.pipit_version)) != NULL);
    for (size_t i = 0; i < m.n; i++) {
        const struct backup_manifest_entry *e = &m.entries[i];

        CHECK(memchr(e->path, '\0', sizeof(e->path)) != NULL);
        CHECK(i == 0 || strcmp(m.entries[i - 1].path, e->path) < 0);
        CHECK(stays_inside(e->path) && strcmp(e->path, TARBALL_MANIFEST) != 0);
        CHECK(e->size >= 0);
        CHECK(tarball_is_sha256(e->sha256, strlen(e->sha256)));
        CHECK(m.sealed || named_by_hash(e));
        CHECK(backup_manifest_find(&m, e->path) == e);
    }
    backup_manifest_cleanup(&m);
    CHECK(m.entries == NULL && m.n == 0);
    return 0;
}
