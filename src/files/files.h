/*
 * files.h: uploaded files — receiving, storing, serving, thumbnails, cleanup.
 *
 * The life of an upload (upload.c):
 *   1. POST /v1/files streams its body (http_body_read) into a temporary file
 *      under data_dir/files/tmp, written off the loop (libuv's thread pool),
 *      a piece at a time, with the app's size cap checked as bytes arrive;
 *   2. on libuv's pool (blob.c): fsync, the MIME type sniffed from the content
 *      (libmagic), the location stripped from JPEG/PNG/WebP metadata in place
 *      (exif.c), the SHA-256 of what will be served, an image's size (libvips);
 *   3. on the store writer: the temporary file renamed to its content address
 *      data_dir/files/ab/cd/<sha256> (or dropped when that content is already
 *      stored), and the blob and file rows inserted in the same transaction;
 *   4. the answer: 201 {"id","size","mime","sha256","url","name",…}.
 * An image's thumbnail is then made by the thumbnailer thread (thumb.c).
 *
 * Downloads (download.c) are checked on a reader against ownership and shares
 * and sent from the file with Range and ETag support. A sweep (sweep in this
 * file's users: files_sweep) deletes files no message refers to once they are
 * older than file_unshared_ttl, and a blob's bytes when no file is left.
 */
#ifndef PIPIT_FILES_FILES_H
#define PIPIT_FILES_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "store/store_files.h"

struct server;
struct keyring;
struct store_conn;
struct http_exchange;
struct http_request;

/* Creates data_dir/files, empties its tmp/, loads libmagic and libvips, starts the thumbnailer. */
int files_open(struct server *srv, char *err, size_t errlen);
/* Stops the thumbnailer thread (before the store threads stop: it writes). */
void files_stop(struct server *srv);
/* Releases what files_open took (after the store threads stopped). */
void files_close(struct server *srv);
/*
 * Encryption at rest, at start before files_open: seals every stored file and
 * thumbnail db names that is not sealed yet (stored before the master key was
 * configured), each through a new file renamed over it. *sealed: how many.
 * 0, or -1 with a message in err.
 */
int files_seal_stored(const char *data_dir, const struct keyring *keys, struct store_conn *db,
                      int64_t *sealed, char *err, size_t errlen);
/* After start-up: queues the thumbnails a restart interrupted. */
void files_resume(struct server *srv);
/* Main loop, periodically: one pass of the sweep, in bounded steps on the writer. */
void files_sweep(struct server *srv);
/*
 * On the writer, in the transaction that deleted the blob's row (an erasure):
 * unlinks its bytes and thumbnail at once, so an upload of the same content later
 * in the batch, which adds the row again, renames its own bytes into place after.
 */
void files_remove_blob(struct server *srv, const char *sha256);

/* Route handlers (the router has authenticated the caller). */
void files_upload(struct http_exchange *x);
void files_download(struct http_exchange *x);
void files_thumbnail(struct http_exchange *x);

/* ---- Shared by the files/ sources ---- */

/* data_dir/files/ab/cd/<sha256><suffix>; the directories are made by files_place(). */
void files_blob_path(const struct server *srv, const char *sha256, const char *suffix,
                     char *out, size_t cap);
/* files/ab/cd/<sha256><suffix>: where a blob (or its thumbnail) lives under the data dir. */
void files_blob_relpath(const char *sha256, const char *suffix, char *out, size_t cap);
/*
 * Holds the sweep off while blobs a database snapshot names are copied (`pipit
 * backup`, exports): LOCK_SH on data_dir/files/sweep.lock, after a sweep step
 * under way (which holds LOCK_EX for one batch at most). Any thread; blocks.
 * *fd is the lock, to close when done, or -1 when there is no files/ dir
 * (nothing to hold). 0, or -1 with errno.
 */
int files_sweep_hold(const char *data_dir, int *fd);
/*
 * The raster images (JPEG, PNG, GIF, WebP): the only types browsers are let
 * show inline (all else downloads), and the only ones the thumbnailer decodes.
 */
bool files_mime_raster(const char *mime);

/*
 * A file name as the uploader gave it, made safe to show and to put in a
 * Content-Disposition: the last path segment, control characters and invalid
 * UTF-8 replaced by '_', cut to fit at a character boundary; "file" when empty.
 */
void files_clean_name(const char *name, char *out, size_t cap);
/* {"id","name","size","mime","sha256","url","width","height","thumbnail"}. */
json_t *files_json(int64_t id, const char *name, const struct store_blob *b);

#endif
