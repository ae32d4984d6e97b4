/*
 * mem.h: allocation that never returns NULL.
 *
 * Every buffer and queue in pipit has a cap chosen at creation, so running out of
 * memory means the host is broken, not that a client was clever. Like Redis, we
 * abort with a message instead of carrying thousands of untested NULL branches.
 */
#ifndef PIPIT_UTIL_MEM_H
#define PIPIT_UTIL_MEM_H

#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Frees and NULLs its argument. */
#define PIPIT_FREE(p)                                                           \
    do {                                                                        \
        free(p);                                                                \
        (p) = NULL;                                                             \
    } while (0)

#endif
