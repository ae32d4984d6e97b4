/*
 * tarball.h: the one way pipit writes an archive (`pipit backup`, exports).
 *
 * An archive is a POSIX tar (pax headers only where a size or a name needs
 * them) of regular files, each mode 0600, with manifest.json first: the
 * caller's fields (format, version, counts…) and "entries", the path, size
 * and SHA-256 of every other entry, in the order they follow. A reader can
 * check each entry as it comes, against a manifest it has already read.
 *
 * What goes in:
 *   - files on disk (tarball_add_file: hashed when added; tarball_add_known:
 *     a size and hash the caller knows, as for a stored file named by its
 *     hash). Each is hashed again as it is copied, and must not have changed;
 *   - parts written by the caller (tarball_part_*), spooled to unnamed
 *     temporary files beside the archive (O_TMPFILE), so a part of any size
 *     costs no memory and a crash leaves none of them behind.
 * The manifest is built when the archive is written: memory grows with the
 * number of entries (a few hundred bytes each), never with their size.
 *
 * The archive is written to FILE.tmp, fsynced and renamed to FILE only when
 * whole; an existing FILE is replaced only when `force` was given. Freeing a
 * tarball that was not finished removes FILE.tmp.
 *
 * Blocking (file I/O): the CLI, or a store thread. One thread at a time.
 * Errors: 0, or -1 with a one-line message (tarball_error); after a failure
 * only tarball_free is of use.
 */
#ifndef PIPIT_COMPLIANCE_TARBALL_H
#define PIPIT_COMPLIANCE_TARBALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TARBALL_MANIFEST "manifest.json"
#define TARBALL_SHA_HEX 64

/* Whether the n bytes at s are a SHA-256 in lowercase hex (an entry's checksum, a blob's name). */
bool tarball_is_sha256(const char *s, size_t n);

struct tarball;

/*
 * Starts the archive `out`: creates out.tmp (0600). Fails when out exists and
 * force is false. On failure *t is NULL and err holds the message.
 */
int tarball_new(const char *out, bool force, struct tarball **t, char *err, size_t errlen);
/* Removes out.tmp unless the archive was finished; NULLs *t. */
void tarball_free(struct tarball **t);
const char *tarball_error(const struct tarball *t);

/* The regular file at src as entry `name`, hashed now. */
int tarball_add_file(struct tarball *t, const char *name, const char *src);
/* The regular file at src as `name`, with the size and SHA-256 (hex) it must have
 * (NULL: its size is known, its hash taken now). */
int tarball_add_known(struct tarball *t, const char *name, const char *src, int64_t size,
                      const char *sha256);

/*
 * Entry `name` with the bytes read_at gives from offset 0 on (0: the end, -1
 * with errno: failed), which must have this size and SHA-256 (hex), copied now
 * into an unnamed file beside the archive: for content that is not a plain file
 * (one sealed at rest).
 */
int tarball_add_read(struct tarball *t, const char *name,
                     ssize_t (*read_at)(void *arg, void *buf, size_t cap, int64_t off), void *arg,
                     int64_t size, const char *sha256);

/*
 * Entry `name` from the bytes tarball_part_write gives, up to tarball_part_end.
 * One part at a time; files may be added meanwhile (they follow it).
 */
int tarball_part_begin(struct tarball *t, const char *name);
int tarball_part_write(struct tarball *t, const void *data, size_t len);
int tarball_part_end(struct tarball *t);

/*
 * Writes the archive: manifest.json (the fields of head, then "entries"), then
 * every entry, each checked against its size and hash; fsyncs and renames it
 * to `out`. Takes the reference to head. *bytes: the archive's size.
 */
int tarball_finish(struct tarball *t, json_t *head, int64_t *bytes);

#endif
