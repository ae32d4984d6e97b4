/*
 * id_list.h: a growable array of 64-bit ids (row ids, user ids). Starts zeroed
 * ({ 0 }); the owner frees ids. Not thread-safe.
 */
#ifndef PIPIT_UTIL_ID_LIST_H
#define PIPIT_UTIL_ID_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "util/mem.h"

struct id_list {
    int64_t *ids;
    size_t n, cap;
};

static inline void id_list_add(struct id_list *l, int64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap != 0 ? l->cap * 2 : 16;
        l->ids = xrealloc(l->ids, l->cap * sizeof(l->ids[0]));
    }
    l->ids[l->n++] = id;
}

#endif
