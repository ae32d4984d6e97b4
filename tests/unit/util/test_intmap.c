/* test_intmap.c: the int64 → pointer hash map (util/intmap.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "util/intmap.h"

#define KEYS 4096

/* Random puts and removes checked against a plain array, keys clustered to force
 * long probe runs and wrap-around at the table's end. */
static void test_matches_reference(void **state)
{
    static void *ref[KEYS];
    struct intmap m;
    size_t live = 0;

    (void)state;
    intmap_init(&m);
    srand(7);
    for (int round = 0; round < 200000; round++) {
        int64_t k = 1 + rand() % (KEYS - 1);
        int op = rand() % 3;

        if (op < 2) {
            void *v = (void *)(intptr_t)(round + 1);

            live += ref[k] == NULL;
            ref[k] = v;
            intmap_put(&m, k * 64, v); /* multiples of 64 collide on purpose */
        } else {
            assert_ptr_equal(intmap_remove(&m, k * 64), ref[k]);
            live -= ref[k] != NULL;
            ref[k] = NULL;
        }
        if (round % 1000 == 0) {
            for (int64_t j = 1; j < KEYS; j++) {
                assert_ptr_equal(intmap_get(&m, j * 64), ref[j]);
            }
        }
        assert_int_equal(m.len, live);
    }
    assert_null(intmap_get(&m, 12345));
    assert_null(intmap_remove(&m, 12345));
    intmap_cleanup(&m);
}

static void test_empty(void **state)
{
    struct intmap m;

    (void)state;
    intmap_init(&m);
    assert_null(intmap_get(&m, 1));
    assert_null(intmap_remove(&m, 1));
    intmap_put(&m, -5, &m);
    assert_ptr_equal(intmap_get(&m, -5), &m);
    intmap_cleanup(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
