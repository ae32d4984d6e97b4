/*
 * intmap.c: see intmap.h.
 */
#include "util/intmap.h"

#include <stdlib.h>

#include "util/mem.h"

static size_t slot_of(const struct intmap *m, int64_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */

    return (size_t)(h >> 32) & (m->cap - 1);
}

void intmap_init(struct intmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

void intmap_cleanup(struct intmap *m)
{
    free(m->slots);
    intmap_init(m);
}

void intmap_cleanup_free(struct intmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key != 0) {
            free(m->slots[i].value);
        }
    }
    intmap_cleanup(m);
}

void *intmap_get(const struct intmap *m, int64_t key)
{
    if (m->cap == 0) {
        return NULL;
    }
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) {
            return m->slots[i].value;
        }
        if (m->slots[i].key == 0) {
            return NULL;
        }
    }
}

static void grow(struct intmap *m)
{
    struct intmap old = *m;

    m->cap = old.cap != 0 ? old.cap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    m->len = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key != 0) {
            intmap_put(m, old.slots[i].key, old.slots[i].value);
        }
    }
    free(old.slots);
}

void intmap_put(struct intmap *m, int64_t key, void *value)
{
    size_t i;

    if ((m->len + 1) * 4 > m->cap * 3) {
        grow(m);
    }
    for (i = slot_of(m, key); m->slots[i].key != 0; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) {
            m->slots[i].value = value;
            return;
        }
    }
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->len++;
}

void *intmap_remove(struct intmap *m, int64_t key)
{
    size_t mask = m->cap - 1;
    size_t i, j;
    void *value;

    if (m->cap == 0) {
        return NULL;
    }
    for (i = slot_of(m, key); m->slots[i].key != key; i = (i + 1) & mask) {
        if (m->slots[i].key == 0) {
            return NULL;
        }
    }
    value = m->slots[i].value;
    m->len--;
    /* Backward shift: move later entries of the probe run into the hole. */
    for (j = (i + 1) & mask; m->slots[j].key != 0; j = (j + 1) & mask) {
        size_t home = slot_of(m, m->slots[j].key);

        /* Move j into i unless its home lies cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].value = NULL;
    return value;
}
