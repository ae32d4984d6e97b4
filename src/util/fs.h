/*
 * fs.h: small file-system steps that durable storage needs.
 *
 * Blocking: call them off the I/O loops (store threads, libuv's pool).
 */
#ifndef PIPIT_UTIL_FS_H
#define PIPIT_UTIL_FS_H

#include <stddef.h>

/* mkdir -p with mode 0700; 0 or -1 with errno. */
int fs_mkdirs(const char *path);
/* Writes all len bytes (retrying short writes and EINTR); 0, or -1 with errno. */
int fs_write_all(int fd, const void *data, size_t len);
/* Unlinks the entries of dir whose names start with prefix (what a crash left there). */
void fs_remove_prefixed(const char *dir, const char *prefix);
/* fsync(2) of a directory, so a rename or unlink inside it is durable. */
int fs_sync_dir(const char *path);
/* The directory part of path into out ("." when there is none). */
void fs_dirname(const char *path, char *out, size_t cap);
/*
 * Writes a new secret file durably: mode 0600, through path.tmp, fsync, rename,
 * fsync of the directory. 0, or -1 with errno (nothing left behind).
 */
int fs_write_secret(const char *path, const void *data, size_t len);
/*
 * Reads a whole file of at most max bytes into *out (malloc'd, NUL-terminated,
 * length in *len). 0, or -1 with errno (EFBIG when it is larger).
 */
int fs_read_file(const char *path, size_t max, char **out, size_t *len);
/*
 * Opens the lock file at path (made, mode 0600, when missing) and flock(2)s it
 * with op (LOCK_SH or LOCK_EX, | LOCK_NB). The descriptor, to close when done,
 * or -1 with errno (EWOULDBLOCK: someone holds it).
 */
int fs_lock(const char *path, int op);

#endif
