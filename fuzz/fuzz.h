/* fuzz.h: what every fuzz target shares. */
#ifndef PIPIT_FUZZ_FUZZ_H
#define PIPIT_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* A broken invariant is a crash, so libFuzzer keeps the input. */
#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            abort();                                                            \
        }                                                                       \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
