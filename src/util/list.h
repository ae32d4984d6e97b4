/*
 * list.h: intrusive circular doubly-linked list (the Linux kernel's shape).
 * Embed a struct list in the element; the head is a struct list whose next and
 * prev point at itself when empty. O(1) insert and unlink; not thread-safe.
 */
#ifndef PIPIT_UTIL_LIST_H
#define PIPIT_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *next;
    struct list *prev;
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list *l)
{
    l->next = l;
    l->prev = l;
}

static inline bool list_empty(const struct list *l)
{
    return l->next == l;
}

/* Inserts n before head, that is at the tail. */
static inline void list_append(struct list *head, struct list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Unlinks n and leaves it pointing at itself, so a second unlink is harmless. */
static inline void list_unlink(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

#endif
