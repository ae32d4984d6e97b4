/*
 * store_files.h: uploaded files, their blobs and shares, and message search
 * (migrations 0010 and 0011).
 *
 * A blob is one distinct content (by SHA-256); a file is one upload of it, with
 * an owner and a name; a share is a message that refers to a file. Shares are
 * kept by triggers on events, so this API never writes them.
 */
#ifndef PIPIT_STORE_STORE_FILES_H
#define PIPIT_STORE_STORE_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_SHA256_HEX 64
#define STORE_MIME_MAX 127
#define STORE_FILE_NAME_MAX 255

struct store_blob {
    char sha256[STORE_SHA256_HEX + 1];
    int64_t size;
    char mime[STORE_MIME_MAX + 1];
    int64_t width;              /* 0: unknown (not an image, or unreadable) */
    int64_t height;
    char thumb[8];              /* none, pending, ready, failed */
};

struct store_file {
    int64_t id;
    int64_t app_id;
    int64_t owner;
    int64_t created_at;         /* ms */
    char name[STORE_FILE_NAME_MAX + 1];
    struct store_blob blob;
};

int store_blob_get(struct store_conn *sc, const char *sha256, struct store_blob *out);
int store_blob_insert(struct store_conn *sc, const struct store_blob *b, int64_t now_ms);
int store_blob_set_thumb(struct store_conn *sc, const char *sha256, const char *state);
/* Calls cb with each blob whose thumbnail is pending (made before a restart). */
int store_blob_each_pending(struct store_conn *sc, int (*cb)(void *arg, const char *sha256),
                            void *arg);
/* True when no blob row has this content (after a delete: its bytes may go). */
int store_blob_gone(struct store_conn *sc, const char *sha256, bool *gone);

int store_file_insert(struct store_conn *sc, int64_t app_id, int64_t owner,
                      const char *sha256, const char *name, int64_t now_ms, int64_t *id);
/* The file with its blob; PIPIT_ENOT_FOUND when there is none. */
int store_file_get(struct store_conn *sc, int64_t id, struct store_file *out);
/*
 * 0 when user_id may read file_id: they own it, or they are a member of a
 * conversation with a message referring to it, from when they could see that
 * message, within the retention in effect at `now`. PIPIT_ENOT_FOUND otherwise
 * (the same answer as for no such file).
 */
int store_file_readable(struct store_conn *sc, int64_t file_id, int64_t user_id, int64_t now);
/*
 * One bounded step of the sweep: looks at up to limit files after id `after`;
 * deletes those created before `before_ms` that no message refers to, and the
 * blobs left without a file (cb gets each such blob's sha256, to remove its
 * bytes once the deletion is committed). *last: the last id looked at (0 when
 * the end was reached); *deleted counts the files deleted.
 */
int store_file_sweep(struct store_conn *sc, int64_t after, int64_t before_ms, int limit,
                     int (*cb)(void *arg, const char *sha256), void *arg, int64_t *last,
                     int *deleted);

/* An app's upload cap in bytes; 0 when it has none of its own (max_file_size). */
int store_app_file_limit(struct store_conn *sc, int64_t app_id, int64_t *max);
/* Sets it; max 0 clears it. */
int store_app_set_file_limit(struct store_conn *sc, int64_t app_id, int64_t max);

#endif
