/*
 * fuzz_endpoint.c: device endpoint checks (src/push/endpoint.h).
 *
 * The input is a URL. The check never reads out of bounds, always explains a
 * refusal, and what it accepts without the private-address allowance it also
 * accepts with it (the allowances only widen), and never a URL with userinfo.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "push/endpoint.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    const char *why = NULL;
    int strict, wide;

    memcpy(url, data, size);
    url[size] = '\0';
    strict = push_endpoint_check(url, false, false, &why);
    CHECK(strict == 0 || (strict == PIPIT_EBAD_REQUEST && why != NULL));
    wide = push_endpoint_check(url, true, true, &why);
    CHECK(wide == 0 || (wide == PIPIT_EBAD_REQUEST && why != NULL));
    CHECK(strict != 0 || wide == 0);
    if (wide == 0) {
        const char *auth = strstr(url, "://") + 3;

        CHECK(memchr(auth, '@', strcspn(auth, "/?#")) == NULL);
    }
    free(url);
    return 0;
}
