/*
 * backup_manifest.c: see backup_manifest.h.
 *
 * The entries are checked one by one as they are read, then sorted by path
 * (O(n log n)), which finds a path named twice as two neighbours and makes
 * each later lookup a binary search: a restore looks up every entry of the
 * archive and every stored file the database names.
 */
#include "compliance/backup_manifest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "files/files.h"
#include "util/mem.h"

#define BLOB_DIR "files/ab/cd/"
#define THUMB ".thumb"

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool backup_manifest_is_transient(const char *name)
{
    return strcmp(name, BACKUP_MANIFEST_DB) == 0 || strcmp(name, CONFIG_DATA_DIR_LOCK) == 0 ||
           has_suffix(name, "-wal") || has_suffix(name, "-shm") || has_suffix(name, "-journal") ||
           has_suffix(name, ".tmp");
}

bool backup_manifest_is_plain_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= BACKUP_MANIFEST_PATH_MAX || name[0] == '.' ||
        strcmp(name, TARBALL_MANIFEST) == 0 || strcmp(name, "files") == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (name[i] <= ' ' || name[i] > '~' || name[i] == '/' || name[i] == '\\') {
            return false;
        }
    }
    return true;
}

/*
 * Whether an archive may hold path: the database, a plain top-level file, or a
 * stored file or thumbnail at its content address. Nothing else, so no path
 * can lead out of the directory it is extracted into. *blob_sha gets a stored
 * file's hash (its name), NULL otherwise.
 */
static bool is_entry_path(const char *path, const char **blob_sha, bool *thumb)
{
    char want[BACKUP_MANIFEST_PATH_MAX];
    size_t n = strlen(path);
    const char *sha;

    *blob_sha = NULL;
    *thumb = false;
    if (strcmp(path, BACKUP_MANIFEST_DB) == 0) {
        return true;
    }
    if (strncmp(path, "files/", 6) != 0) {
        return backup_manifest_is_plain_name(path) && !backup_manifest_is_transient(path);
    }
    *thumb = has_suffix(path, THUMB);
    if (n != strlen(BLOB_DIR) + TARBALL_SHA_HEX + (*thumb ? strlen(THUMB) : 0)) {
        return false;
    }
    sha = path + strlen(BLOB_DIR);
    if (!tarball_is_sha256(sha, TARBALL_SHA_HEX)) {
        return false;
    }
    files_blob_relpath(sha, *thumb ? THUMB : "", want, sizeof(want));
    if (strcmp(path, want) != 0) {
        return false;
    }
    *blob_sha = sha;
    return true;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct backup_manifest_entry *)a)->path,
                  ((const struct backup_manifest_entry *)b)->path);
}

const struct backup_manifest_entry *backup_manifest_find(const struct backup_manifest *m,
                                                         const char *path)
{
    struct backup_manifest_entry key;

    if (m->n == 0 || strlen(path) >= sizeof(key.path)) {
        return NULL;
    }
    snprintf(key.path, sizeof(key.path), "%s", path);
    return bsearch(&key, m->entries, m->n, sizeof(*m->entries), entry_cmp);
}

/* The entries of list, each checked, into m->entries (sorted, each path once). */
static int read_entries(json_t *list, const char *name, struct backup_manifest *m, char *err,
                        size_t errlen)
{
    size_t cap = 0;

    for (size_t i = 0; i < json_array_size(list); i++) {
        struct backup_manifest_entry *e;
        const char *path = "", *sha = "", *blob_sha;
        json_int_t size = -1;
        bool thumb;

        if (json_unpack(json_array_get(list, i), "{s:s,s:I,s:s}", "path", &path, "size", &size,
                        "sha256", &sha) != 0 ||
            size < 0 || !tarball_is_sha256(sha, strlen(sha))) {
            snprintf(err, errlen, "%s: %s is damaged: entry %zu", name, TARBALL_MANIFEST, i);
            return -1;
        }
        if (!is_entry_path(path, &blob_sha, &thumb)) {
            snprintf(err, errlen, "%s: the manifest names \"%.100s\", which no backup holds "
                     "(refused)", name, path);
            return -1;
        }
        if (blob_sha != NULL && !thumb && !m->sealed &&
            strncmp(sha, blob_sha, TARBALL_SHA_HEX) != 0) {
            snprintf(err, errlen, "%s: the manifest's SHA-256 of %s is not its name", name, path);
            return -1;
        }
        /* Grown as entries pass, not sized by the list: a list of junk costs nothing. */
        if (m->n == cap) {
            cap = cap ? cap * 2 : 64;
            m->entries = xrealloc(m->entries, cap * sizeof(*m->entries));
        }
        e = &m->entries[m->n];
        /* is_entry_path bounds the path's length: nothing is cut short. */
        snprintf(e->path, sizeof(e->path), "%s", path);
        e->size = size;
        snprintf(e->sha256, sizeof(e->sha256), "%s", sha);
        m->n++;
    }
    if (m->n > 0) {
        qsort(m->entries, m->n, sizeof(*m->entries), entry_cmp);
    }
    for (size_t i = 1; i < m->n; i++) {
        if (strcmp(m->entries[i - 1].path, m->entries[i].path) == 0) {
            snprintf(err, errlen, "%s: the manifest names %s twice", name, m->entries[i].path);
            return -1;
        }
    }
    if (backup_manifest_find(m, BACKUP_MANIFEST_DB) == NULL) {
        snprintf(err, errlen, "%s: the manifest names no %s", name, BACKUP_MANIFEST_DB);
        return -1;
    }
    return 0;
}

int backup_manifest_parse(const char *text, size_t len, const char *name,
                          struct backup_manifest *out, char *err, size_t errlen)
{
    struct backup_manifest m = { 0 };
    json_t *root, *list = NULL;
    json_error_t jerr;
    const char *format = "", *version = "";
    json_int_t fmt_version = 0, created = 0; /* created: checked for, not used */
    json_int_t counts[4];
    int sealed = 0;
    int rc = -1;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "%s: %s is damaged: %s", name, TARBALL_MANIFEST, jerr.text);
        return -1;
    }
    if (json_unpack(root, "{s:s,s:I}", "format", &format, "version", &fmt_version) != 0 ||
        strcmp(format, BACKUP_MANIFEST_FORMAT) != 0) {
        snprintf(err, errlen, "%s is not a pipit backup (its %s says otherwise)", name,
                 TARBALL_MANIFEST);
        goto out;
    }
    if (fmt_version != BACKUP_MANIFEST_VERSION) {
        snprintf(err, errlen, "%s is in backup format version %lld; this pipit reads version %d",
                 name, (long long)fmt_version, BACKUP_MANIFEST_VERSION);
        goto out;
    }
    if (json_unpack_ex(root, &jerr, 0, "{s:I,s:s,s:i,s:{s:I,s:I,s:I,s:I},s:o}", "created_at",
                       &created, "pipit_version", &version, "schema_version",
                       &m.facts.schema_version, "counts", "messages", &counts[0], "users",
                       &counts[1], "files", &counts[2], "blobs", &counts[3], "entries",
                       &list) != 0) {
        snprintf(err, errlen, "%s: %s is damaged: %s", name, TARBALL_MANIFEST, jerr.text);
        goto out;
    }
    if (!json_is_array(list)) {
        snprintf(err, errlen, "%s: %s is damaged: its entries are not a list", name,
                 TARBALL_MANIFEST);
        goto out;
    }
    /* Optional (absent from backups made before encryption at rest): false. */
    if (json_unpack_ex(root, &jerr, 0, "{s?b}", "sealed", &sealed) != 0) {
        snprintf(err, errlen, "%s: %s is damaged: %s", name, TARBALL_MANIFEST, jerr.text);
        goto out;
    }
    m.sealed = sealed;
    m.facts.messages = counts[0];
    m.facts.users = counts[1];
    m.facts.files = counts[2];
    m.facts.blobs = counts[3];
    snprintf(m.pipit_version, sizeof(m.pipit_version), "%s", version);
    if (read_entries(list, name, &m, err, errlen) != 0) {
        goto out;
    }
    *out = m;
    m.entries = NULL;
    rc = 0;
out:
    backup_manifest_cleanup(&m);
    json_decref(root);
    return rc;
}

void backup_manifest_cleanup(struct backup_manifest *m)
{
    free(m->entries);
    m->entries = NULL;
    m->n = 0;
}
