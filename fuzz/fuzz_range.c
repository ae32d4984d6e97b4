/*
 * fuzz_range.c: the Range header (src/http/http_range.h) and upload names
 * (files_clean_name in src/files/files.h).
 *
 * The first 8 bytes are a file size; the rest is the header text (and the name).
 * A range it accepts lies inside the file and is not empty; a cleaned name is
 * valid UTF-8, holds no control character or path separator, and fits its buffer.
 */
#include <stdbool.h>
#include <string.h>

#include "files/files.h"
#include "fuzz.h"
#include "http/http_range.h"

static bool valid_utf8(const unsigned char *s)
{
    while (*s != '\0') {
        size_t n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3
                 : (*s & 0xf8) == 0xf0 ? 4 : 0;

        if (n == 0) {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80) {
                return false;
            }
        }
        s += n;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[512];
    char name[64];
    int64_t fsize = 0, start = -1, len = -1;
    size_t n;

    if (size < 8) {
        return 0;
    }
    memcpy(&fsize, data, 8);
    fsize &= ((int64_t)1 << 50) - 1;
    n = size - 8 < sizeof(text) - 1 ? size - 8 : sizeof(text) - 1;
    memcpy(text, data + 8, n);
    text[n] = '\0';
    switch (http_range_parse(text, fsize, &start, &len)) {
    case HTTP_RANGE_OK:
        CHECK(start >= 0 && len > 0 && start + len <= fsize);
        break;
    case HTTP_RANGE_NONE:
    case HTTP_RANGE_UNSATISFIABLE:
        break;
    }
    files_clean_name(text, name, sizeof(name));
    CHECK(strlen(name) > 0 && strlen(name) < sizeof(name));
    CHECK(valid_utf8((const unsigned char *)name));
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        CHECK(*p >= 0x20 && *p != 0x7f && *p != '/' && *p != '\\');
    }
    return 0;
}
