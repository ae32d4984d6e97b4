/*
 * intmap.h: a hash map from non-zero int64 keys to pointers.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), grown at 3/4 load. Not thread-safe: each map has one owner.
 */
#ifndef PIPIT_UTIL_INTMAP_H
#define PIPIT_UTIL_INTMAP_H

#include <stddef.h>
#include <stdint.h>

struct intmap_slot {
    int64_t key;                /* 0 = empty */
    void *value;
};

struct intmap {
    struct intmap_slot *slots;
    size_t cap;                 /* a power of two, or 0 */
    size_t len;
};

void intmap_init(struct intmap *m);
/* Frees the table; the map is empty and ready for use again. */
void intmap_cleanup(struct intmap *m);
/* The same, after free()ing every value (maps that own malloc'd values). */
void intmap_cleanup_free(struct intmap *m);
void *intmap_get(const struct intmap *m, int64_t key);
/* Sets key to value (key != 0), replacing any previous value. */
void intmap_put(struct intmap *m, int64_t key, void *value);
/* Removes key; returns its value or NULL. */
void *intmap_remove(struct intmap *m, int64_t key);

/* Iteration: for (size_t i = 0; i < m.cap; i++) if (m.slots[i].key != 0) … */

#endif
