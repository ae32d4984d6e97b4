/*
 * export.c: see export.h.
 *
 * One pass: the files sweep is held off (so every stored file the snapshot
 * names stays on disk), one read transaction streams each part's rows into
 * the archive's spool and notes the stored files, then the archive is written
 * with those files' bytes, each checked against its SHA-256 (its name).
 */
#include "compliance/export.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compliance/tarball.h"
#include "files/files.h"
#include "keys/sealed_file.h"
#include "store/store_backup.h"
#include "store/store_chat.h"
#include "store/store_export.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/fs.h"

#define FORMAT_NAME "pipit-export"
#define FORMAT_VERSION 1
#define FILES_PART "files.jsonl"
#define SPOOL_PREFIX "export-"
/* Of a file's name in its entry path (files/<id>-<name>), in bytes. */
#define SAFE_NAME_MAX 100

/* A part of the archive: one row set of the store, one JSON object a line. */
struct part {
    const char *path;
    enum store_export_rows rows;
};

static const struct part user_parts[] = {
    { "account.json", STORE_EXPORT_USER_ACCOUNT },
    { "sessions.jsonl", STORE_EXPORT_USER_SESSIONS },
    { "devices.jsonl", STORE_EXPORT_USER_DEVICES },
    { "topics.jsonl", STORE_EXPORT_USER_TOPICS },
    { "tags.jsonl", STORE_EXPORT_USER_TAGS },
    { "notification_settings.jsonl", STORE_EXPORT_USER_SETTINGS },
    { "memberships.jsonl", STORE_EXPORT_USER_MEMBERSHIPS },
    { "messages.jsonl", STORE_EXPORT_USER_MESSAGES },
    { "hidden_events.jsonl", STORE_EXPORT_USER_HIDDEN },
    { "held_versions.jsonl", STORE_EXPORT_USER_HELD },
    { "deliveries.jsonl", STORE_EXPORT_USER_DELIVERIES },
    { "api_keys.jsonl", STORE_EXPORT_USER_API_KEYS },
    { "holds.jsonl", STORE_EXPORT_USER_HOLDS },
    { "audit.jsonl", STORE_EXPORT_USER_AUDIT },
};

static const struct part conv_parts[] = {
    { "conversation.json", STORE_EXPORT_CONV },
    { "members.jsonl", STORE_EXPORT_CONV_MEMBERS },
    { "events.jsonl", STORE_EXPORT_CONV_EVENTS },
    { "held_versions.jsonl", STORE_EXPORT_CONV_HELD },
    { "holds.jsonl", STORE_EXPORT_CONV_HOLDS },
    { "audit.jsonl", STORE_EXPORT_CONV_AUDIT },
};

int export_find_user(struct store_conn *sc, int64_t app_id, const char *name, int64_t id,
                     struct export_subject *out)
{
    struct store_user u;
    int rc = name != NULL ? store_user_by_name(sc, app_id, name, &u)
                          : store_user_by_id(sc, id, &u);

    if (rc == 0 && u.app_id != app_id) {
        rc = PIPIT_ENOT_FOUND;
    }
    if (rc == 0) {
        *out = (struct export_subject){ .kind = EXPORT_USER, .id = u.id, .app_id = u.app_id };
        snprintf(out->username, sizeof(out->username), "%s", u.username);
    }
    sodium_memzero(u.password_hash, sizeof(u.password_hash));
    return rc;
}

int export_find_conv(struct store_conn *sc, int64_t app_id, int64_t id,
                     struct export_subject *out)
{
    struct store_conv c;
    int rc = store_conv_get(sc, id, &c);

    if (rc != 0) {
        return rc;
    }
    if ((app_id != 0 && c.app_id != app_id) || c.deleted_at != 0) {
        rc = PIPIT_ENOT_FOUND;
    } else {
        *out = (struct export_subject){ .kind = EXPORT_CONV, .id = c.id, .app_id = c.app_id };
    }
    store_conv_cleanup(&c);
    return rc;
}

const char *export_action(enum export_kind kind)
{
    return kind == EXPORT_USER ? "export.user" : "export.conv";
}

void export_target(const struct export_subject *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%lld", s->kind == EXPORT_USER ? "user" : "conv", (long long)s->id);
}

/* ---- Building ---- */

struct build {
    struct tarball *t;
    const char *data_dir;
    const struct keyring *keys; /* stored files are sealed (NULL: plain) */
    bool tar_failed;            /* the tarball has the message */
    int64_t lines;              /* of the part being written */
    struct export_summary *sum;
    char *err;
    size_t errlen;
};

static int put_line(struct build *b, const char *json, size_t len)
{
    if (tarball_part_write(b->t, json, len) != 0 || tarball_part_write(b->t, "\n", 1) != 0) {
        b->tar_failed = true;
        return -1;
    }
    b->lines++;
    return 0;
}

static int row_line(void *arg, const char *json, size_t len)
{
    return put_line(arg, json, len);
}

/* files/<id>-<name>, the name cut down to what any file system and archiver takes. */
static void file_entry_path(const struct store_file *f, char *out, size_t cap)
{
    char safe[SAFE_NAME_MAX + 1];
    size_t n = 0;

    for (const char *p = f->name; *p != '\0' && n < SAFE_NAME_MAX; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_';

        safe[n++] = plain ? *p : '_';
    }
    safe[n] = '\0';
    snprintf(out, cap, "files/%lld-%s", (long long)f->id, n > 0 ? safe : "file");
}

/* tarball_add_read's source: a sealed stored file, opened a piece at a time. */
static ssize_t read_sealed(void *sf, void *buf, size_t cap, int64_t off)
{
    return sealed_file_read(sf, buf, cap, off);
}

/*
 * The stored file's content, as an entry, the way its kind of storage needs:
 * opened when it is sealed, and checked against its size and hash either way.
 */
static int add_stored(struct build *b, const char *path, const char *src,
                      const struct store_file *f)
{
    struct sealed_file sf;
    int fd;
    int rc = -1;

    if (b->keys == NULL) {
        b->tar_failed = tarball_add_known(b->t, path, src, f->blob.size, f->blob.sha256) != 0;
        return b->tar_failed ? -1 : 0;
    }
    fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || sealed_file_open(&sf, b->keys, f->blob.sha256, fd) != 0) {
        snprintf(b->err, b->errlen, "cannot read %s: %s", src, strerror(errno));
    } else {
        rc = tarball_add_read(b->t, path, read_sealed, &sf, f->blob.size, f->blob.sha256);
        b->tar_failed = rc != 0;
        sealed_file_close(&sf);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* store_export_files' callback: the file's line, and its bytes as an entry of their own. */
static int file_line(void *arg, const struct store_file *f)
{
    struct build *b = arg;
    char path[SAFE_NAME_MAX + 64], src[4400], rel[128];
    json_t *o;
    char *text;
    int rc;

    file_entry_path(f, path, sizeof(path));
    files_blob_relpath(f->blob.sha256, "", rel, sizeof(rel));
    snprintf(src, sizeof(src), "%s/%s", b->data_dir, rel);
    if (add_stored(b, path, src, f) != 0) {
        return -1;
    }
    o = json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:I,s:s}", "id", (json_int_t)f->id, "owner",
                  (json_int_t)f->owner, "name", f->name, "mime", f->blob.mime, "size",
                  (json_int_t)f->blob.size, "sha256", f->blob.sha256, "created_at",
                  (json_int_t)f->created_at, "path", path);
    text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL) {
        snprintf(b->err, b->errlen, "file %lld: its name is not valid UTF-8", (long long)f->id);
        return -1;
    }
    rc = put_line(b, text, strlen(text));
    free(text);
    if (rc == 0) {
        b->sum->files++;
    }
    return rc;
}

/* Why a walk over the store stopped: the tarball's, the store's, or a line's own message. */
static int walk_failed(struct build *b, struct store_conn *sc, int rc, const char *part)
{
    if (b->tar_failed) {
        snprintf(b->err, b->errlen, "%s", tarball_error(b->t));
    } else if (rc == PIPIT_ESTORE) {
        snprintf(b->err, b->errlen, "cannot read %s from the database: %s", part,
                 store_errmsg(sc));
    }
    return PIPIT_EINTERNAL;
}

/* One part: its lines, and their count in counts. */
static int write_part(struct build *b, struct store_conn *sc, const struct export_subject *s,
                      const struct part *p, json_t *counts)
{
    int rc;

    b->lines = 0;
    if (tarball_part_begin(b->t, p != NULL ? p->path : FILES_PART) != 0) {
        b->tar_failed = true;
        return walk_failed(b, sc, -1, NULL);
    }
    rc = p != NULL ? store_export_rows(sc, p->rows, s->id, row_line, b)
                   : store_export_files(sc, s->kind == EXPORT_CONV, s->id, file_line, b);
    if (rc == 0 && tarball_part_end(b->t) != 0) {
        b->tar_failed = true;
        rc = -1;
    }
    if (rc != 0) {
        return walk_failed(b, sc, rc, p != NULL ? p->path : FILES_PART);
    }
    json_object_set_new(counts, p != NULL ? p->path : FILES_PART, json_integer(b->lines));
    b->sum->lines += b->lines;
    return 0;
}

static json_t *subject_json(const struct export_subject *s)
{
    json_t *o = json_pack("{s:s,s:I,s:I}", "type", s->kind == EXPORT_USER ? "user" : "conv",
                          "id", (json_int_t)s->id, "app_id", (json_int_t)s->app_id);

    if (s->kind == EXPORT_USER) {
        json_object_set_new(o, "username", json_string(s->username));
    }
    return o;
}

/* Every part, in one read transaction; the subject must still be there in it. */
static int write_parts(struct build *b, struct store_conn *sc, const struct export_subject *s,
                       json_t *counts)
{
    const struct part *parts = s->kind == EXPORT_USER ? user_parts : conv_parts;
    size_t n = s->kind == EXPORT_USER ? sizeof(user_parts) / sizeof(user_parts[0])
                                      : sizeof(conv_parts) / sizeof(conv_parts[0]);
    struct export_subject now;
    int rc;

    if (store_export_begin(sc) != 0) {
        snprintf(b->err, b->errlen, "cannot read the database: %s", store_errmsg(sc));
        return PIPIT_EINTERNAL;
    }
    rc = s->kind == EXPORT_USER ? export_find_user(sc, s->app_id, NULL, s->id, &now)
                                : export_find_conv(sc, s->app_id, s->id, &now);
    if (rc == PIPIT_ENOT_FOUND) {
        snprintf(b->err, b->errlen, "the %s is gone", s->kind == EXPORT_USER ? "user"
                                                                              : "conversation");
    } else if (rc != 0) {
        rc = walk_failed(b, sc, rc, s->kind == EXPORT_USER ? "the user" : "the conversation");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = write_part(b, sc, s, &parts[i], counts);
    }
    if (rc == 0) {
        rc = write_part(b, sc, s, NULL, counts);
    }
    store_export_end(sc);
    return rc;
}

int export_write(struct store_conn *sc, const char *data_dir, const struct keyring *keys,
                 const struct export_subject *s, const char *out, bool force,
                 struct export_summary *sum, char *err, size_t errlen)
{
    struct export_summary got = { 0 };
    struct build b = { .data_dir = data_dir, .keys = keys, .sum = &got, .err = err,
                       .errlen = errlen };
    json_t *counts = json_object();
    int lock_fd = -1;
    int rc = PIPIT_EINTERNAL;

    err[0] = '\0';
    if (tarball_new(out, force, &b.t, err, errlen) != 0) {
        json_decref(counts);
        return PIPIT_EINTERNAL;
    }
    if (files_sweep_hold(data_dir, &lock_fd) != 0) {
        snprintf(err, errlen, "cannot lock %s/files/sweep.lock: %s", data_dir, strerror(errno));
        goto out;
    }
    rc = write_parts(&b, sc, s, counts);
    if (rc != 0) {
        goto out;
    }
    if (tarball_finish(b.t,
                       json_pack("{s:s,s:i,s:I,s:s,s:i,s:o,s:O}", "format", FORMAT_NAME,
                                 "version", FORMAT_VERSION, "created_at",
                                 (json_int_t)clock_now_ms(), "pipit_version", PIPIT_VERSION,
                                 "schema_version", store_backup_schema_latest(), "subject",
                                 subject_json(s), "counts", counts),
                       &got.bytes) != 0) {
        snprintf(err, errlen, "%s", tarball_error(b.t));
        rc = PIPIT_EINTERNAL;
        goto out;
    }
    *sum = got;
out:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    tarball_free(&b.t);
    json_decref(counts);
    return rc;
}

/* ---- The admin route's spool ---- */

void export_spool_path(const char *data_dir, const struct export_subject *s, char *out,
                       size_t cap)
{
    unsigned char r[8];
    char hex[sizeof(r) * 2 + 1];

    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(out, cap, "%s/" EXPORT_DIR "/" SPOOL_PREFIX "%s-%lld-%s.tar", data_dir,
             s->kind == EXPORT_USER ? "user" : "conv", (long long)s->id, hex);
}

int export_spool_prepare(const char *data_dir, char *err, size_t errlen)
{
    char dir[4200];

    snprintf(dir, sizeof(dir), "%s/" EXPORT_DIR, data_dir);
    if (fs_mkdirs(dir) != 0 || chmod(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    fs_remove_prefixed(dir, SPOOL_PREFIX);
    return 0;
}
