/*
 * fuzz_exif.c: location stripping (src/files/exif.h).
 *
 * The first byte picks what the rest is: even, a whole file (JPEG, PNG, WebP or anything);
 * odd, a TIFF block that the harness wraps in a JPEG APP1 "Exif" segment, so the fuzzer
 * works on IFD structures without first having to discover JPEG framing.
 *
 * exif_strip_location never touches bytes outside the buffer (it gets an exact-size heap
 * copy, so AddressSanitizer sees any overrun), keeps a refused or untouched buffer as it
 * was (-1 and 0 change nothing), and is idempotent: once stripped, a second pass finds
 * nothing left to remove and changes nothing.
 */
#include <string.h>

#include "files/exif.h"
#include "fuzz.h"

#define APP1_MAX 65533 /* a segment length is 16 bits and counts itself */

/* SOI, APP1 "Exif\0\0" + tiff, EOI. Returns the size, or 0 if the block is too long. */
static size_t wrap_in_jpeg(const uint8_t *tiff, size_t n, uint8_t *out)
{
    size_t seg = 2 + 6 + n;

    if (seg > APP1_MAX) {
        return 0;
    }
    memcpy(out, "\xff\xd8\xff\xe1", 4);
    out[4] = (uint8_t)(seg >> 8);
    out[5] = (uint8_t)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tiff, n);
    memcpy(out + 12 + n, "\xff\xd9", 2);
    return 12 + n + 2;
}

/* The input as the module sees it, in a heap block of exactly its size, so that any read or
 * write past the end is caught. NULL if there is nothing to test. */
static uint8_t *make_input(const uint8_t *data, size_t size, size_t *len)
{
    uint8_t *wrapped, *exact;

    if (size == 0) {
        return NULL;
    }
    if (!(data[0] & 1)) {
        *len = size - 1;
        exact = *len > 0 ? malloc(*len) : NULL;
        if (exact != NULL) {
            memcpy(exact, data + 1, *len);
        }
        return exact;
    }
    wrapped = malloc(size + 14);
    CHECK(wrapped != NULL);
    *len = wrap_in_jpeg(data + 1, size - 1, wrapped);
    exact = *len > 0 ? malloc(*len) : NULL;
    if (exact != NULL) {
        memcpy(exact, wrapped, *len);
    }
    free(wrapped);
    return exact;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *buf = make_input(data, size, &len);
    uint8_t *before;
    int rc;

    if (buf == NULL) {
        return 0;
    }
    before = malloc(len);
    CHECK(before != NULL);
    memcpy(before, buf, len);

    rc = exif_strip_location(buf, len);
    CHECK(rc >= -1);
    if (rc <= 0) {
        CHECK(memcmp(buf, before, len) == 0);
    } else {
        memcpy(before, buf, len);
        CHECK(exif_strip_location(buf, len) == 0);
        CHECK(memcmp(buf, before, len) == 0);
    }
    free(buf);
    free(before);
    return 0;
}
