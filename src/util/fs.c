/*
 * fs.c: see fs.h.
 */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdirs(const char *path)
{
    char tmp[4096];

    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

int fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void fs_remove_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

int fs_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        return -1;
    }
    rc = fsync(fd);
    close(fd);
    return rc;
}

void fs_dirname(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        snprintf(out, cap, ".");
    } else if (slash == path) {
        snprintf(out, cap, "/");
    } else {
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
    }
}

int fs_write_secret(const char *path, const void *data, size_t len)
{
    char tmp[4200], dir[4096];
    int fd, saved;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(tmp); /* left by a crash during an earlier attempt */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    if (fs_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    fs_dirname(path, dir, sizeof(dir));
    if (rename(tmp, path) != 0 || fs_sync_dir(dir) != 0) {
        goto fail;
    }
    return 0;

fail:
    saved = errno;
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    errno = saved;
    return -1;
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf;
    size_t got = 0;
    ssize_t n = 0;

    if (fd < 0) {
        return -1;
    }
    buf = malloc(max + 2);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    /* One byte past max tells a file that is too large. */
    while (got <= max && ((n = read(fd, buf + got, max + 1 - got)) > 0 ||
                          (n < 0 && errno == EINTR))) {
        got += n > 0 ? (size_t)n : 0;
    }
    close(fd);
    if (n < 0 || got > max) {
        int saved = n < 0 ? errno : EFBIG;

        free(buf);
        errno = saved;
        return -1;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int fs_lock(const char *path, int op)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd >= 0 && flock(fd, op) != 0) {
        int saved = errno;

        close(fd);
        errno = saved;
        fd = -1;
    }
    return fd;
}
