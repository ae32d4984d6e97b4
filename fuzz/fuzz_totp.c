/*
 * fuzz_totp.c: what a client sends as a second factor (src/auth/totp.c): a
 * TOTP code (totp_match) and a recovery code (recovery_code_hash), and a stored
 * secret read back (totp_code). No input crashes or reads past its end; a code
 * that is not six digits never matches.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/totp.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    uint8_t hash[STORE_RECOVERY_HASH_LEN];
    size_t digits = 0;
    uint32_t code;
    int64_t step;

    memcpy(text, data, size);
    text[size] = '\0';
    step = totp_match("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", text, 1111111111000, 0);
    for (const char *p = text; *p != '\0'; p++) {
        digits += *p >= '0' && *p <= '9';
    }
    CHECK(step == 0 || digits == TOTP_DIGITS);
    (void)recovery_code_hash(text, hash);
    if (totp_code(text, 12345, &code) == 0) {
        CHECK(code < 1000000);
    }
    free(text);
    return 0;
}
