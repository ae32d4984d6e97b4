#include "util/wheel.h"

void wheel_init(struct wheel *w, int64_t now_ms)
{
    for (int i = 0; i < WHEEL_SLOTS; i++) {
        list_init(&w->slots[i]);
    }
    w->tick = 0;
    w->start_ms = now_ms;
}

void wheel_timer_init(struct wheel_timer *t, wheel_cb cb)
{
    list_init(&t->node);
    t->due_tick = 0;
    t->cb = cb;
}

void wheel_arm(struct wheel *w, struct wheel_timer *t, int64_t now_ms, int64_t delay_ms)
{
    int64_t due_ms = now_ms + (delay_ms > 0 ? delay_ms : 0);
    /* Round up so a timer never fires before its delay has passed. */
    int64_t due = (due_ms - w->start_ms + WHEEL_TICK_MS - 1) / WHEEL_TICK_MS;

    if (due <= w->tick) {
        due = w->tick + 1;
    }
    list_unlink(&t->node);
    t->due_tick = due;
    list_append(&w->slots[due % WHEEL_SLOTS], &t->node);
}

void wheel_cancel(struct wheel_timer *t)
{
    list_unlink(&t->node);
}

bool wheel_armed(const struct wheel_timer *t)
{
    return !list_empty(&t->node);
}

void wheel_advance(struct wheel *w, int64_t now_ms)
{
    int64_t target = (now_ms - w->start_ms) / WHEEL_TICK_MS;

    while (w->tick < target) {
        struct list *slot;
        struct list pending;

        w->tick++;
        slot = &w->slots[w->tick % WHEEL_SLOTS];
        /*
         * Move the due timers out first: a callback may re-arm its timer into
         * this same bucket (one revolution later), which must not loop forever.
         */
        list_init(&pending);
        for (struct list *n = slot->next, *next; n != slot; n = next) {
            struct wheel_timer *t = list_entry(n, struct wheel_timer, node);

            next = n->next;
            if (t->due_tick <= w->tick) {
                list_unlink(n);
                list_append(&pending, n);
            }
        }
        while (!list_empty(&pending)) {
            struct wheel_timer *t = list_entry(pending.next, struct wheel_timer, node);

            list_unlink(&t->node);
            t->cb(t);
        }
    }
}
