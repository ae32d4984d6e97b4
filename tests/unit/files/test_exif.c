/*
 * test_exif.c: location stripping (files/exif.h) on real images.
 *
 * The pixel data comes from libjpeg, libpng and libwebp (tiny 8x8 and 4x4 images, kept
 * below as bytes); the metadata is built here: a camera-like EXIF block (IFD0 with
 * orientation, an Exif IFD, a GPS IFD, IFD1 with a thumbnail) in both byte orders, XMP
 * packets with and without GPS properties. After stripping, a TIFF reader written
 * separately from the module's checks that no GPS tag is left and that everything else
 * is; the coordinates' bytes must be gone from the whole file; every byte outside the
 * metadata blocks must be unchanged, and the container (JPEG markers, PNG CRCs, RIFF
 * sizes) must still be valid. Stripping twice changes nothing the second time. If exiftool
 * is installed, it reads the results too (it is not, on the build machine: that test then
 * reports itself skipped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files/exif.h"

#define CAP 8192

/* ---- real images (8x8 gray JPEG, baseline and progressive; 4x4 lossless WebP; 4x4 gray
 * PNG), as the libraries wrote them ---- */

static const uint8_t jpeg_plain[] = {
    0xff, 0xd8, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x10, 0x0b, 0x0c, 0x0e, 0x0c,
    0x0a, 0x10, 0x0e, 0x0d, 0x0e, 0x12, 0x11, 0x10, 0x13, 0x18, 0x28, 0x1a,
    0x18, 0x16, 0x16, 0x18, 0x31, 0x23, 0x25, 0x1d, 0x28, 0x3a, 0x33, 0x3d,
    0x3c, 0x39, 0x33, 0x38, 0x37, 0x40, 0x48, 0x5c, 0x4e, 0x40, 0x44, 0x57,
    0x45, 0x37, 0x38, 0x50, 0x6d, 0x51, 0x57, 0x5f, 0x62, 0x67, 0x68, 0x67,
    0x3e, 0x4d, 0x71, 0x79, 0x70, 0x64, 0x78, 0x5c, 0x65, 0x67, 0x63, 0xff,
    0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
    0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02,
    0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00,
    0xb5, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05,
    0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11,
    0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71,
    0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52,
    0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18,
    0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53,
    0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67,
    0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
    0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
    0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8,
    0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x8e, 0xd0,
    0x7f, 0x62, 0xe8, 0x4f, 0x72, 0x83, 0x13, 0xbe, 0x23, 0x87, 0x8f, 0xe3,
    0x3d, 0x0f, 0x42, 0x38, 0x00, 0x9e, 0x7a, 0xe3, 0x1d, 0xeb, 0xff, 0xd9,
};

static const uint8_t jpeg_progressive[] = {
    0xff, 0xd8, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x10, 0x0b, 0x0c, 0x0e, 0x0c,
    0x0a, 0x10, 0x0e, 0x0d, 0x0e, 0x12, 0x11, 0x10, 0x13, 0x18, 0x28, 0x1a,
    0x18, 0x16, 0x16, 0x18, 0x31, 0x23, 0x25, 0x1d, 0x28, 0x3a, 0x33, 0x3d,
    0x3c, 0x39, 0x33, 0x38, 0x37, 0x40, 0x48, 0x5c, 0x4e, 0x40, 0x44, 0x57,
    0x45, 0x37, 0x38, 0x50, 0x6d, 0x51, 0x57, 0x5f, 0x62, 0x67, 0x68, 0x67,
    0x3e, 0x4d, 0x71, 0x79, 0x70, 0x64, 0x78, 0x5c, 0x65, 0x67, 0x63, 0xff,
    0xc2, 0x00, 0x0b, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
    0xff, 0xc4, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0xda,
    0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x3f, 0xff, 0xc4, 0x00,
    0x16, 0x10, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x23, 0xff, 0xda, 0x00,
    0x08, 0x01, 0x01, 0x00, 0x01, 0x05, 0x02, 0x18, 0xa3, 0xff, 0xc4, 0x00,
    0x18, 0x10, 0x00, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x12, 0x31, 0x41, 0xff,
    0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x06, 0x3f, 0x02, 0x96, 0xd2, 0x3f,
    0xff, 0xc4, 0x00, 0x18, 0x10, 0x00, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x21,
    0x31, 0x91, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3f, 0x21,
    0x9c, 0x97, 0xd4, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00,
    0x10, 0x7f, 0xff, 0xc4, 0x00, 0x19, 0x10, 0x00, 0x02, 0x03, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x11, 0x21, 0x31, 0x41, 0x00, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00,
    0x01, 0x3f, 0x10, 0x14, 0xf4, 0xb8, 0x37, 0x46, 0x88, 0x80, 0x09, 0x9b,
    0x4b, 0x7b, 0xff, 0xd9,
};

static const uint8_t webp_plain[] = {
    0x52, 0x49, 0x46, 0x46, 0x64, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50,
    0x56, 0x50, 0x38, 0x4c, 0x58, 0x00, 0x00, 0x00, 0x2f, 0x03, 0xc0, 0x00,
    0x10, 0x7f, 0xa0, 0xa6, 0x6d, 0x03, 0xe6, 0xae, 0x34, 0x01, 0x94, 0x3f,
    0xd2, 0x82, 0x50, 0xc8, 0x36, 0x02, 0x24, 0xb0, 0x7b, 0x00, 0xce, 0x9f,
    0xec, 0x40, 0x14, 0xb2, 0x8d, 0x00, 0xc7, 0x04, 0x76, 0x0f, 0xc0, 0x31,
    0x9c, 0x42, 0xb6, 0x11, 0xe0, 0x98, 0xc0, 0xee, 0x01, 0x38, 0xab, 0x2b,
    0x03, 0xfe, 0x13, 0x68, 0x5b, 0x02, 0x04, 0xda, 0x96, 0xc0, 0xb6, 0x11,
    0xd8, 0xb6, 0x7b, 0x04, 0x40, 0x24, 0x00, 0x11, 0x6d, 0xf2, 0xc9, 0x17,
    0x1b, 0x5c, 0xb0, 0xc5, 0x05, 0x9f, 0x22, 0xfa, 0x1f, 0x3d, 0x28, 0x67,
};

static const uint8_t png_plain[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
    0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04,
    0x08, 0x00, 0x00, 0x00, 0x00, 0x8c, 0x9a, 0xc1, 0xa2, 0x00, 0x00, 0x00,
    0x01, 0x73, 0x52, 0x47, 0x42, 0x00, 0xae, 0xce, 0x1c, 0xe9, 0x00, 0x00,
    0x00, 0x1c, 0x49, 0x44, 0x41, 0x54, 0x08, 0x99, 0x63, 0x64, 0x10, 0x10,
    0x10, 0x60, 0x74, 0x10, 0x10, 0x10, 0x60, 0x71, 0x10, 0x10, 0x10, 0x60,
    0x3c, 0x20, 0x20, 0x20, 0x00, 0x00, 0x10, 0x44, 0x02, 0x08, 0x2b, 0xc0,
    0x20, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
    0x60, 0x82,
};

/* ---- writing bytes ---- */

struct out {
    uint8_t p[CAP];
    size_t n;
    bool be; /* TIFF byte order */
};

static void put_at(struct out *o, size_t at, uint32_t v, int size)
{
    assert_true(at + (size_t)size <= CAP);
    for (int i = 0; i < size; i++) {
        o->p[at + (size_t)(o->be ? i : size - 1 - i)] = (uint8_t)(v >> (8 * (size - 1 - i)));
    }
}

static void put(struct out *o, uint32_t v, int size)
{
    put_at(o, o->n, v, size);
    o->n += (size_t)size;
}

static void put_raw(struct out *o, const void *p, size_t n)
{
    assert_true(o->n + n <= CAP);
    memcpy(o->p + o->n, p, n);
    o->n += n;
}

static void put_be(struct out *o, uint32_t v, int size)
{
    bool be = o->be;

    o->be = true;
    put(o, v, size);
    o->be = be;
}

static void put_le(struct out *o, uint32_t v, int size)
{
    bool be = o->be;

    o->be = false;
    put(o, v, size);
    o->be = be;
}

/* ---- building EXIF ---- */

enum { BYTE = 1, ASCII = 2, SHORT = 3, LONG = 4, RATIONAL = 5, UNDEFINED = 7 };

struct ifd {
    size_t at, count, used;
};

/* Reserves an IFD of `count` entries at the current end; values that do not fit inline go
 * after it, in the order they are added. */
static void ifd_open(struct out *o, struct ifd *d, size_t count)
{
    d->at = o->n;
    d->count = count;
    d->used = 0;
    put(o, (uint32_t)count, 2);
    memset(o->p + o->n, 0, count * 12 + 4);
    o->n += count * 12 + 4;
}

/* Adds an entry whose value is `size` bytes in the file's byte order; returns where its
 * value field is. */
static size_t ifd_add(struct out *o, struct ifd *d, uint32_t tag, uint32_t type, uint32_t count,
                      const uint8_t *value, size_t size)
{
    size_t e = d->at + 2 + 12 * d->used++;

    assert_true(d->used <= d->count);
    put_at(o, e, tag, 2);
    put_at(o, e + 2, type, 2);
    put_at(o, e + 4, count, 4);
    if (size <= 4) {
        memcpy(o->p + e + 8, value, size);
    } else {
        put_at(o, e + 8, (uint32_t)o->n, 4);
        put_raw(o, value, size);
        if (size & 1) {
            put(o, 0, 1);
        }
    }
    return e + 8;
}

static size_t ifd_add_num(struct out *o, struct ifd *d, uint32_t tag, uint32_t type, uint32_t v)
{
    uint8_t value[4] = { 0 };
    struct out tmp = { .be = o->be };

    put(&tmp, v, type == SHORT ? 2 : 4);
    memcpy(value, tmp.p, 4);
    return ifd_add(o, d, tag, type, 1, value, 4);
}

static void ifd_next(struct out *o, const struct ifd *d, uint32_t next)
{
    put_at(o, d->at + 2 + 12 * d->count, next, 4);
}

/* Rationals in the block's byte order, as a GPS IFD stores them. */
static size_t rationals(bool be, const uint32_t *v, size_t count, uint8_t *dst)
{
    struct out tmp = { .be = be };

    for (size_t i = 0; i < 2 * count; i++) {
        put(&tmp, v[i], 4);
    }
    memcpy(dst, tmp.p, tmp.n);
    return tmp.n;
}

static const uint32_t LATITUDE[6] = { 48, 1, 51, 1, 29391234, 1000000 };
static const uint32_t LONGITUDE[6] = { 2, 1, 17, 1, 39276543, 1000000 };
static const uint32_t ALTITUDE[2] = { 3512345, 100000 };
static const char DATE_STAMP[] = "2023:11:30";
static const uint8_t THUMB[] = { 0xff, 0xd8, 0xff, 0xd9 };

struct tiff_opts {
    bool be;
    bool no_gps;
    bool loop;              /* IFD1's next offset points back at IFD0 */
    bool wild_gps;          /* GPS values: an offset past the block, a count that overflows */
    bool gps_outside;       /* the GPSInfo entry points past the block */
    bool gps_last;          /* GPSInfo is IFD0's last entry (no PrintIM after it) */
};

/* A camera-like EXIF block. IFD0: Make, Orientation = 6, ExifIFD, GPSInfo, PrintIM; then
 * the Exif IFD (DateTimeOriginal), IFD1 (a thumbnail), and last the GPS IFD. */
static size_t make_tiff(uint8_t *dst, const struct tiff_opts *opt)
{
    static struct out o;
    struct ifd ifd0, exif, ifd1, gps;
    size_t exif_ptr, gps_ptr = 0, thumb_ptr;
    uint8_t v[64];
    size_t n0 = 3 + (opt->no_gps ? 0 : 1) + (opt->gps_last ? 0 : 1);

    memset(&o, 0, sizeof(o));
    o.be = opt->be;
    put_raw(&o, opt->be ? "MM" : "II", 2);
    put(&o, 42, 2);
    put(&o, 8, 4);
    ifd_open(&o, &ifd0, n0);
    ifd_add(&o, &ifd0, 0x010f, ASCII, 6, (const uint8_t *)"Phone", 6);
    ifd_add_num(&o, &ifd0, 0x0112, SHORT, 6);
    exif_ptr = ifd_add_num(&o, &ifd0, 0x8769, LONG, 0);
    if (!opt->no_gps) {
        gps_ptr = ifd_add_num(&o, &ifd0, 0x8825, LONG, 0);
    }
    if (!opt->gps_last) {
        ifd_add(&o, &ifd0, 0xc4a5, UNDEFINED, 4, (const uint8_t *)"PIM", 4);
    }

    put_at(&o, exif_ptr, (uint32_t)o.n, 4);
    ifd_open(&o, &exif, 1);
    ifd_add(&o, &exif, 0x9003, ASCII, 20, (const uint8_t *)"2024:05:01 12:34:56", 20);

    ifd_next(&o, &ifd0, (uint32_t)o.n);
    ifd_open(&o, &ifd1, 3);
    ifd_add_num(&o, &ifd1, 0x0103, SHORT, 6);
    thumb_ptr = ifd_add_num(&o, &ifd1, 0x0201, LONG, 0);
    ifd_add_num(&o, &ifd1, 0x0202, LONG, sizeof(THUMB));
    ifd_next(&o, &ifd1, opt->loop ? 8 : 0);
    put_at(&o, thumb_ptr, (uint32_t)o.n, 4);
    put_raw(&o, THUMB, sizeof(THUMB));

    if (!opt->no_gps) {
        put_at(&o, gps_ptr, opt->gps_outside ? 0xffffff00u : (uint32_t)o.n, 4);
        ifd_open(&o, &gps, 7);
        ifd_add(&o, &gps, 0x0000, BYTE, 4, (const uint8_t *)"\x02\x03\x00\x00", 4);
        ifd_add(&o, &gps, 0x0001, ASCII, 2, (const uint8_t *)"N", 2);
        ifd_add(&o, &gps, 0x0002, RATIONAL, 3, v, rationals(o.be, LATITUDE, 3, v));
        ifd_add(&o, &gps, 0x0003, ASCII, 2, (const uint8_t *)"E", 2);
        ifd_add(&o, &gps, 0x0004, RATIONAL, 3, v, rationals(o.be, LONGITUDE, 3, v));
        size_t alt = ifd_add(&o, &gps, 0x0006, RATIONAL, 1, v, rationals(o.be, ALTITUDE, 1, v));
        size_t date = ifd_add(&o, &gps, 0x001d, ASCII, 11, (const uint8_t *)DATE_STAMP, 11);
        if (opt->wild_gps) {
            put_at(&o, alt, 0xfffffff0u, 4);
            put_at(&o, date - 4, 0xffffffffu, 4); /* count x 8 overflows 32 bits */
            put_at(&o, date - 6, RATIONAL, 2);
        }
    }
    memcpy(dst, o.p, o.n);
    return o.n;
}

/* ---- reading EXIF, independently of the module ---- */

struct view {
    bool tiff;              /* a TIFF header and a readable IFD0 */
    int gps;                /* GPSInfo entries seen, plus the entries of their GPS IFDs */
    int orientation;
    bool datetime;          /* the Exif IFD's DateTimeOriginal */
    bool thumbnail;         /* IFD1 points at the thumbnail bytes */
    bool sorted;            /* IFD0's tags ascend */
    int ifd0_entries;
};

struct reader {
    const uint8_t *p;
    size_t n;
    bool be;
};

static uint32_t rd(const struct reader *r, size_t at, int size)
{
    uint32_t v = 0;

    for (int i = 0; i < size; i++) {
        v = v << 8 | r->p[at + (size_t)(r->be ? i : size - 1 - i)];
    }
    return v;
}

static bool ifd_ok(const struct reader *r, uint32_t at)
{
    return at >= 8 && (size_t)at + 2 <= r->n && (size_t)at + 2 + 12 * rd(r, at, 2) <= r->n;
}

static void read_ifd(const struct reader *r, uint32_t at, int depth, bool is_ifd0, struct view *v)
{
    uint32_t count, prev = 0;

    if (depth > 4 || !ifd_ok(r, at)) {
        return;
    }
    count = rd(r, at, 2);
    if (is_ifd0) {
        v->ifd0_entries = (int)count;
        v->sorted = true;
    }
    for (uint32_t i = 0; i < count; i++) {
        size_t e = at + 2 + 12 * i;
        uint32_t tag = rd(r, e, 2), value = rd(r, e + 8, 4);

        if (is_ifd0 && i > 0 && tag <= prev) {
            v->sorted = false;
        }
        prev = tag;
        if (tag == 0x0112 && is_ifd0) {
            v->orientation = (int)rd(r, e + 8, 2);
        } else if (tag == 0x8769) {
            read_ifd(r, value, depth + 1, false, v);
        } else if (tag == 0x8825) {
            v->gps++;
            if (ifd_ok(r, value)) {
                v->gps += (int)rd(r, value, 2);
            }
        } else if (tag == 0x9003 && value + 20 <= r->n && memcmp(r->p + value, "2024", 4) == 0) {
            v->datetime = true;
        } else if (tag == 0x0201 && value + 4 <= r->n && memcmp(r->p + value, THUMB, 4) == 0) {
            v->thumbnail = true;
        }
    }
}

static struct view read_exif(const uint8_t *p, size_t n)
{
    struct view v = { 0 };
    struct reader r = { p, n, n >= 2 && p[0] == 'M' };
    uint32_t ifd0, ifd1;

    if (n < 8 || !(memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0)) {
        return v;
    }
    ifd0 = rd(&r, 4, 4);
    if (!ifd_ok(&r, ifd0)) {
        return v;
    }
    v.tiff = true;
    read_ifd(&r, ifd0, 0, true, &v);
    if ((size_t)ifd0 + 2 + 12 * rd(&r, ifd0, 2) + 4 <= n) {
        ifd1 = rd(&r, ifd0 + 2 + 12 * rd(&r, ifd0, 2), 4);
        if (ifd1 != ifd0) {
            read_ifd(&r, ifd1, 0, false, &v);
        }
    }
    return v;
}

/* None of the location's bytes is left anywhere in the file. */
static void assert_no_coordinates(const uint8_t *p, size_t n)
{
    uint8_t blob[24];

    for (int be = 0; be <= 1; be++) {
        assert_null(memmem(p, n, blob, rationals(be, LATITUDE, 3, blob)));
        assert_null(memmem(p, n, blob, rationals(be, LONGITUDE, 3, blob)));
        assert_null(memmem(p, n, blob, rationals(be, ALTITUDE, 1, blob)));
    }
    assert_null(memmem(p, n, DATE_STAMP, sizeof(DATE_STAMP) - 1));
    assert_null(memmem(p, n, "GPSLat", 6));
    assert_null(memmem(p, n, "GPSLon", 6));
}

/* A stripped camera block: location gone, the rest readable. */
static void assert_stripped_camera_block(const uint8_t *tiff, size_t n)
{
    struct view v = read_exif(tiff, n);

    assert_true(v.tiff);
    assert_int_equal(v.gps, 0);
    assert_int_equal(v.orientation, 6);
    assert_true(v.datetime);
    assert_true(v.thumbnail);
    assert_true(v.sorted);
    assert_no_coordinates(tiff, n);
}

/* ---- XMP ---- */

#define XMP_HEAD "<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>" \
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF " \
    "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" "
#define XMP_TAIL "/></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
static const char XMP_GPS[] = XMP_HEAD "xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" "
    "exif:GPSLatitude=\"48,51.489N\" exif:GPSLongitude=\"2,17.654E\"" XMP_TAIL;
static const char XMP_PLAIN[] = XMP_HEAD "xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" "
    "xmp:Rating=\"5\"" XMP_TAIL;
static const char XMP_EMPTY[] = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/>";
#define XMP_SIG "http://ns.adobe.com/xap/1.0/"
#define XMP_EXT_SIG "http://ns.adobe.com/xmp/extension/"

static void assert_blank_xmp(const uint8_t *p, size_t n)
{
    assert_true(n >= sizeof(XMP_EMPTY) - 1);
    assert_memory_equal(p, XMP_EMPTY, sizeof(XMP_EMPTY) - 1);
    for (size_t i = sizeof(XMP_EMPTY) - 1; i < n; i++) {
        assert_int_equal(p[i], ' ');
    }
}

/* ---- JPEG ---- */

/* An APP1 segment: signature (with its NUL, when sig_len says so) and payload. */
static void put_app1(struct out *o, const void *sig, size_t sig_len, const void *payload, size_t n)
{
    put_be(o, 0xffe1, 2);
    put_be(o, (uint32_t)(2 + sig_len + n), 2);
    put_raw(o, sig, sig_len);
    put_raw(o, payload, n);
}

/* Where one metadata payload sits in a built file. */
struct span {
    size_t at, len;
};

static struct span put_exif_app1(struct out *o, const struct tiff_opts *opt)
{
    uint8_t tiff[CAP];
    size_t n = make_tiff(tiff, opt);
    struct span s = { o->n + 4 + 6, n };

    put_app1(o, "Exif\0\0", 6, tiff, n);
    return s;
}

static struct span put_xmp_app1(struct out *o, const char *xmp)
{
    struct span s = { o->n + 4 + sizeof(XMP_SIG), strlen(xmp) };

    put_app1(o, XMP_SIG, sizeof(XMP_SIG), xmp, strlen(xmp));
    return s;
}

/* The image's own segments after SOI; `from` skips its SOI. */
static void put_image_rest(struct out *o, const uint8_t *img, size_t n)
{
    put_raw(o, img + 2, n - 2);
}

static void put_soi(struct out *o)
{
    put_be(o, 0xffd8, 2);
}

/* The markers of the JPEG at p, in order, SOI to EOI (entropy-coded data skipped). */
static size_t jpeg_markers(const uint8_t *p, size_t n, uint8_t *markers, size_t max)
{
    size_t at = 0, count = 0;

    while (at + 1 < n && count < max) {
        uint8_t m;

        assert_int_equal(p[at], 0xff);
        m = p[at + 1];
        markers[count++] = m;
        at += 2;
        if (m == 0xd8) {
            continue;
        }
        if (m == 0xd9) {
            break;
        }
        at += (size_t)p[at] << 8 | p[at + 1];
        if (m == 0xda) {
            while (at + 1 < n && !(p[at] == 0xff && p[at + 1] != 0 &&
                                   (p[at + 1] < 0xd0 || p[at + 1] > 0xd7))) {
                at++;
            }
        }
    }
    return count;
}

static void assert_same_markers(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t ma[64], mb[64];
    size_t ca = jpeg_markers(a, n, ma, 64), cb = jpeg_markers(b, n, mb, 64);

    assert_int_equal(ca, cb);
    assert_memory_equal(ma, mb, ca);
    assert_int_equal(mb[0], 0xd8);
    assert_int_equal(mb[cb - 1], 0xd9);
}

/* Every byte outside the spans is unchanged. */
static void assert_same_outside(const uint8_t *a, const uint8_t *b, size_t n,
                                const struct span *spans, size_t count)
{
    for (size_t i = 0; i < n; i++) {
        bool inside = false;

        for (size_t s = 0; s < count; s++) {
            inside |= i >= spans[s].at && i < spans[s].at + spans[s].len;
        }
        if (!inside && a[i] != b[i]) {
            fail_msg("byte %zu outside the metadata changed", i);
        }
    }
}

/* Strips a copy of `in`: returns the result and checks the second pass changes nothing. */
static int strip(const struct out *in, struct out *res)
{
    uint8_t again[CAP];
    int r;

    *res = *in;
    r = exif_strip_location(res->p, res->n);
    if (r >= 0) {
        memcpy(again, res->p, res->n);
        assert_int_equal(exif_strip_location(again, res->n), 0);
        assert_memory_equal(again, res->p, res->n);
    } else {
        assert_memory_equal(in->p, res->p, in->n);
    }
    return r;
}

static void check_jpeg_camera(const uint8_t *img, size_t img_len, bool be)
{
    static struct out in, res;
    struct tiff_opts opt = { .be = be };
    struct span s;

    memset(&in, 0, sizeof(in));
    put_soi(&in);
    s = put_exif_app1(&in, &opt);
    put_image_rest(&in, img, img_len);
    assert_int_equal(read_exif(in.p + s.at, s.len).gps, 8);

    assert_int_equal(strip(&in, &res), 1);
    assert_stripped_camera_block(res.p + s.at, s.len);
    assert_int_equal(read_exif(res.p + s.at, s.len).ifd0_entries, 4);
    assert_same_outside(in.p, res.p, in.n, &s, 1);
    assert_same_markers(in.p, res.p, in.n);
}

static void test_jpeg_little_endian(void **state)
{
    check_jpeg_camera(jpeg_plain, sizeof(jpeg_plain), false);
}

static void test_jpeg_big_endian(void **state)
{
    check_jpeg_camera(jpeg_plain, sizeof(jpeg_plain), true);
}

static void test_jpeg_progressive(void **state)
{
    check_jpeg_camera(jpeg_progressive, sizeof(jpeg_progressive), false);
}

/* GPSInfo as the last entry: nothing to shift, the count still drops. */
static void test_jpeg_gps_last_entry(void **state)
{
    static struct out in, res;
    struct tiff_opts opt = { .gps_last = true };
    struct span s;
    struct view v;

    put_soi(&in);
    s = put_exif_app1(&in, &opt);
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));
    assert_int_equal(strip(&in, &res), 1);
    v = read_exif(res.p + s.at, s.len);
    assert_int_equal(v.ifd0_entries, 3);
    assert_int_equal(v.gps, 0);
    assert_true(v.thumbnail);
    assert_no_coordinates(res.p, res.n);
}

static void test_jpeg_without_location(void **state)
{
    static struct out in, res;
    struct tiff_opts opt = { .no_gps = true };

    put_soi(&in);
    put_exif_app1(&in, &opt);
    put_xmp_app1(&in, XMP_PLAIN);
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));
    assert_int_equal(strip(&in, &res), 0);
    assert_memory_equal(in.p, res.p, in.n);
}

static void test_jpeg_xmp(void **state)
{
    static struct out in, res;
    struct tiff_opts opt = { 0 };
    struct span s[3];

    put_soi(&in);
    s[0] = put_exif_app1(&in, &opt);
    s[1] = put_xmp_app1(&in, XMP_GPS);
    s[2] = put_xmp_app1(&in, XMP_PLAIN); /* a second packet, without location: kept */
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));

    assert_int_equal(strip(&in, &res), 2);
    assert_blank_xmp(res.p + s[1].at, s[1].len);
    assert_memory_equal(res.p + s[2].at, XMP_PLAIN, s[2].len);
    assert_stripped_camera_block(res.p + s[0].at, s[0].len);
    assert_same_outside(in.p, res.p, in.n, s, 2);
    assert_same_markers(in.p, res.p, in.n);
}

/* A UTF-16 packet, and DJI's spelling. */
static void test_jpeg_xmp_variants(void **state)
{
    static struct out in, res;
    static const uint8_t utf16[] = "<\0x\0 \0e\0x\0i\0f\0:\0G\0P\0S\0A\0l\0t\0=\0\"\0"
                                   "1\0\"\0/\0>\0";
    static const char dji[] = "<x drone-dji:GpsLatitude=\"1\"/>";
    struct span s[2];

    put_soi(&in);
    s[0] = (struct span){ in.n + 4 + sizeof(XMP_SIG), sizeof(utf16) };
    put_app1(&in, XMP_SIG, sizeof(XMP_SIG), utf16, sizeof(utf16));
    s[1] = put_xmp_app1(&in, dji);
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));

    assert_int_equal(strip(&in, &res), 2);
    assert_blank_xmp(res.p + s[0].at, s[0].len);
    for (size_t i = 0; i < s[1].len; i++) {
        assert_int_equal(res.p[s[1].at + i], ' '); /* shorter than an empty packet */
    }
    assert_same_outside(in.p, res.p, in.n, s, 2);
}

/* Extended XMP: a word split between two slices is caught on one side or the other. */
static void test_jpeg_extended_xmp(void **state)
{
    static struct out in, res;
    static const char *const slices[] = {
        "<rdf:Description GDepth:Data=\"abc\" exif:GP", /* ends with "GP" */
        "SLatitude=\"48,51N\"/>",                         /* starts with "SL": kept alone */
        "<a exif:G",                                      /* ends with "G" only */
        "PSAltitude=\"35\"/>",                            /* starts with "PS" */
        "<rdf:Description GDepth:Mime=\"image/jpeg\"/>",  /* nothing */
    };
    static const bool blanked[] = { true, true, false, true, false }; /* 1 names "Latitude" */
    uint8_t header[32 + 8];
    struct span s[5];

    memset(header, 'A', sizeof(header));
    put_soi(&in);
    for (size_t i = 0; i < 5; i++) {
        size_t len = strlen(slices[i]);
        uint8_t payload[128];

        memcpy(payload, header, sizeof(header));
        memcpy(payload + sizeof(header), slices[i], len);
        s[i] = (struct span){ in.n + 4 + sizeof(XMP_EXT_SIG) + sizeof(header), len };
        put_app1(&in, XMP_EXT_SIG, sizeof(XMP_EXT_SIG), payload, sizeof(header) + len);
    }
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));

    assert_int_equal(strip(&in, &res), 3);
    for (size_t i = 0; i < 5; i++) {
        bool spaces = true;

        for (size_t j = 0; j < s[i].len; j++) {
            spaces &= res.p[s[i].at + j] == ' ';
        }
        assert_int_equal(spaces, blanked[i]);
    }
    assert_same_outside(in.p, res.p, in.n, s, 5);
}

/* An APP1 between the scans of a progressive image. */
static void test_jpeg_app1_between_scans(void **state)
{
    static struct out in, res;
    struct tiff_opts opt = { .be = true };
    const uint8_t *second_sos = NULL;
    struct span s;
    size_t head;

    for (size_t i = 2, seen = 0; i + 1 < sizeof(jpeg_progressive); i++) {
        if (jpeg_progressive[i] == 0xff && jpeg_progressive[i + 1] == 0xda && ++seen == 2) {
            second_sos = jpeg_progressive + i;
            break;
        }
    }
    assert_non_null(second_sos);
    head = (size_t)(second_sos - jpeg_progressive);
    put_raw(&in, jpeg_progressive, head);
    s = put_exif_app1(&in, &opt);
    put_raw(&in, second_sos, sizeof(jpeg_progressive) - head);

    assert_int_equal(strip(&in, &res), 1);
    assert_stripped_camera_block(res.p + s.at, s.len);
    assert_same_outside(in.p, res.p, in.n, &s, 1);
    assert_same_markers(in.p, res.p, in.n);
}

/* MPF: a second JPEG after the first EOI carries its own EXIF. */
static void test_jpeg_secondary_image(void **state)
{
    static struct out in, res;
    struct tiff_opts opt = { 0 };
    struct span s[2];

    put_soi(&in);
    s[0] = put_exif_app1(&in, &opt);
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));
    put_raw(&in, "\xff\xd8\xff junk", 8); /* an SOI look-alike */
    put_soi(&in);
    opt.be = true;
    s[1] = put_exif_app1(&in, &opt);
    put_image_rest(&in, jpeg_progressive, sizeof(jpeg_progressive));

    assert_int_equal(strip(&in, &res), 2);
    assert_stripped_camera_block(res.p + s[0].at, s[0].len);
    assert_stripped_camera_block(res.p + s[1].at, s[1].len);
    assert_same_outside(in.p, res.p, in.n, s, 2);
}

/* ---- EXIF structure ---- */

static int strip_tiff(const uint8_t *tiff, size_t n, struct out *res, struct span *s)
{
    static struct out in;

    memset(&in, 0, sizeof(in));
    put_soi(&in);
    s->at = in.n + 4 + 6;
    s->len = n;
    put_app1(&in, "Exif\0\0", 6, tiff, n);
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));
    return strip(&in, res);
}

static void test_tiff_ifd_loop(void **state)
{
    static struct out res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { .loop = true };
    size_t n = make_tiff(tiff, &opt);
    struct span s;

    assert_int_equal(strip_tiff(tiff, n, &res, &s), 1);
    assert_stripped_camera_block(res.p + s.at, s.len);
}

/* GPS values past the block and a count x size that overflows: the IFD is still zeroed. */
static void test_tiff_wild_gps_values(void **state)
{
    static struct out res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { .wild_gps = true, .be = true };
    size_t n = make_tiff(tiff, &opt);
    struct span s;
    struct view v;
    uint8_t blob[24];

    assert_int_equal(strip_tiff(tiff, n, &res, &s), 1);
    v = read_exif(res.p + s.at, s.len);
    assert_int_equal(v.gps, 0);
    assert_int_equal(v.orientation, 6);
    assert_true(v.datetime && v.thumbnail && v.sorted);
    /* The altitude's bytes stay, unreferenced: its entry pointed elsewhere. */
    assert_null(memmem(res.p, res.n, blob, rationals(true, LATITUDE, 3, blob)));
    assert_null(memmem(res.p, res.n, blob, rationals(true, LONGITUDE, 3, blob)));
    assert_null(memmem(res.p, res.n, DATE_STAMP, sizeof(DATE_STAMP) - 1));
}

/* The GPSInfo entry points past the block: it is unlinked all the same. */
static void test_tiff_gps_pointer_outside(void **state)
{
    static struct out res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { .gps_outside = true };
    size_t n = make_tiff(tiff, &opt);
    struct span s;
    struct view v;

    assert_int_equal(strip_tiff(tiff, n, &res, &s), 1);
    v = read_exif(res.p + s.at, s.len);
    assert_int_equal(v.gps, 0);
    assert_int_equal(v.orientation, 6);
    assert_true(v.sorted);
}

/* The block ends inside IFD0 after the GPSInfo entry: no room to shift, so the entry is
 * zeroed in place; the entries before it survive. */
static void test_tiff_cut_ifd0(void **state)
{
    static struct out res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { 0 };
    struct span s;
    struct reader r;

    make_tiff(tiff, &opt);
    assert_int_equal(strip_tiff(tiff, 8 + 2 + 12 * 4 + 6, &res, &s), 1);
    r = (struct reader){ res.p + s.at, s.len, false };
    for (size_t i = 0; i < 4; i++) {
        assert_int_not_equal(rd(&r, 8 + 2 + 12 * i, 2), 0x8825);
    }
    assert_int_equal(rd(&r, 8 + 2 + 12 * 1, 2), 0x0112);
    assert_int_equal(rd(&r, 8 + 2 + 12 * 3, 4), 0);
}

/* A block that is not TIFF is replaced by an empty one. */
static void test_tiff_bad_header(void **state)
{
    static struct out res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { 0 };
    size_t n = make_tiff(tiff, &opt);
    struct span s;
    struct view v;

    tiff[2] = 43;
    assert_int_equal(strip_tiff(tiff, n, &res, &s), 1);
    v = read_exif(res.p + s.at, s.len);
    assert_true(v.tiff);
    assert_int_equal(v.ifd0_entries, 0);
    assert_no_coordinates(res.p, res.n);
}

/* A chain longer than any camera writes: the block is wiped. */
static void test_tiff_long_chain(void **state)
{
    static struct out res;
    static struct out o;
    struct span s;
    struct view v;
    struct ifd d;

    o.be = false;
    put_raw(&o, "II", 2);
    put(&o, 42, 2);
    put(&o, 8, 4);
    for (int i = 0; i < 40; i++) {
        ifd_open(&o, &d, 1);
        ifd_add_num(&o, &d, 0x0112, SHORT, 1);
        ifd_next(&o, &d, (uint32_t)o.n);
    }
    ifd_next(&o, &d, 0);
    assert_int_equal(strip_tiff(o.p, o.n, &res, &s), 1);
    v = read_exif(res.p + s.at, s.len);
    assert_true(v.tiff);
    assert_int_equal(v.ifd0_entries, 0);
}

static void test_jpeg_malformed(void **state)
{
    static struct out in, res;
    struct tiff_opts opt = { 0 };
    uint8_t gif[] = "GIF89a\x01\x00\x01\x00";
    size_t after_app1;

    put_soi(&in);
    put_exif_app1(&in, &opt);
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));
    after_app1 = 4 + ((size_t)in.p[4] << 8 | in.p[5]);

    /* Each broken copy is refused and left as it was (strip() checks that). */
    for (size_t cut = 0; cut < 40; cut++) {
        struct out bad = in;

        bad.n = cut; /* ends before the first scan */
        assert_int_equal(strip(&bad, &res), -1);
    }
    {
        struct out bad = in;

        bad.p[5] = 0xff; /* the APP1 length runs past the end */
        bad.p[4] = 0xff;
        assert_int_equal(strip(&bad, &res), -1);
    }
    {
        struct out bad = in;

        bad.p[after_app1 + 1] = 0xd8; /* a second SOI */
        assert_int_equal(strip(&bad, &res), -1);
    }
    {
        struct out bad = in;

        bad.p[after_app1] = 0x00; /* stray bytes before a marker: skipped, as decoders do */
        assert_int_equal(strip(&bad, &res), 1);
    }
    {
        struct out bad = in;

        bad.p[4] = 0;
        bad.p[5] = 1; /* a length below 2 */
        assert_int_equal(strip(&bad, &res), -1);
    }
    assert_int_equal(exif_strip_location(gif, sizeof(gif) - 1), -1);
    assert_int_equal(exif_strip_location(NULL, 0), -1);
    assert_int_equal(exif_strip_location(gif, 0), -1);
}

/* ---- PNG ---- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
        }
    }
    return ~c;
}

/* A chunk; returns where its data starts. */
static size_t put_chunk(struct out *o, const char *type, const void *data, size_t n)
{
    size_t at = o->n;

    put_be(o, (uint32_t)n, 4);
    put_raw(o, type, 4);
    put_raw(o, data, n);
    put_be(o, crc_bitwise(o->p + at + 4, 4 + n), 4);
    return at + 8;
}

#define PNG_AFTER_IHDR 33

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void assert_png_crcs(const uint8_t *p, size_t n)
{
    size_t at = 8;

    while (at + 12 <= n) {
        uint32_t len = be32(p + at);

        assert_true(at + 12 + len <= n);
        assert_int_equal(crc_bitwise(p + at + 4, 4 + len), be32(p + at + 8 + len));
        at += 12 + len;
    }
    assert_int_equal(at, n);
}

/* Builds "<keyword>\0<flag><method>\0\0<text>" for iTXt, or "<keyword>\0<text>" for tEXt. */
static size_t text_chunk(uint8_t *dst, const char *keyword, bool itxt, const char *text)
{
    size_t kw = strlen(keyword) + 1, n = 0;

    memcpy(dst, keyword, kw);
    n = kw;
    if (itxt) {
        memcpy(dst + n, "\0\0\0\0", 4);
        n += 4;
    }
    memcpy(dst + n, text, strlen(text));
    return n + strlen(text);
}

static void test_png(void **state)
{
    static struct out in, res;
    uint8_t tiff[CAP], text[CAP];
    struct tiff_opts opt = { .be = true };
    size_t n = make_tiff(tiff, &opt);
    struct span s[6];
    size_t itxt_head = sizeof("XML:com.adobe.xmp") + 4;

    put_raw(&in, png_plain, PNG_AFTER_IHDR);
    s[0] = (struct span){ put_chunk(&in, "eXIf", tiff, n), n + 4 };
    s[1].len = text_chunk(text, "XML:com.adobe.xmp", true, XMP_GPS);
    s[1].at = put_chunk(&in, "iTXt", text, s[1].len);
    s[1].len += 4;
    s[2].len = text_chunk(text, "Comment", false, "GPS test, not metadata");
    s[2].at = put_chunk(&in, "tEXt", text, s[2].len);
    s[3].len = text_chunk(text, "Raw profile type exif", false, "\nexif\n 20\n4578696600004d4d\n");
    s[3].at = put_chunk(&in, "tEXt", text, s[3].len) - 4; /* renamed: its type changes too */
    s[3].len += 8;
    s[4].len = text_chunk(text, "XML:com.adobe.xmp", false, "x\x9c compressed");
    s[4].at = put_chunk(&in, "zTXt", text, s[4].len) - 4;
    s[4].len += 8;
    s[5].len = text_chunk(text, "XML:com.adobe.xmp", true, XMP_PLAIN);
    s[5].at = put_chunk(&in, "iTXt", text, s[5].len);
    put_raw(&in, png_plain + PNG_AFTER_IHDR, sizeof(png_plain) - PNG_AFTER_IHDR);

    assert_int_equal(strip(&in, &res), 4);
    assert_stripped_camera_block(res.p + s[0].at, n);
    assert_blank_xmp(res.p + s[1].at + itxt_head, strlen(XMP_GPS));
    assert_memory_equal(res.p + s[2].at, in.p + s[2].at, s[2].len);   /* a user's comment */
    assert_memory_equal(res.p + s[3].at, "nuLl", 4);
    assert_memory_equal(res.p + s[4].at, "nuLl", 4);
    assert_memory_equal(res.p + s[5].at, in.p + s[5].at, s[5].len);
    s[1].len += 4;
    s[2].len = 0;
    s[5].len = 0;
    assert_same_outside(in.p, res.p, in.n, s, 6);
    assert_png_crcs(res.p, res.n);
    assert_no_coordinates(res.p, res.n);
}

/* "Exif\0\0" before the TIFF header, as some writers put it. */
static void test_png_exif_prefix(void **state)
{
    static struct out in, res;
    uint8_t data[CAP];
    struct tiff_opts opt = { 0 };
    size_t n = make_tiff(data + 6, &opt), at;

    memcpy(data, "Exif\0\0", 6);
    put_raw(&in, png_plain, PNG_AFTER_IHDR);
    at = put_chunk(&in, "eXIf", data, n + 6);
    put_raw(&in, png_plain + PNG_AFTER_IHDR, sizeof(png_plain) - PNG_AFTER_IHDR);
    assert_int_equal(strip(&in, &res), 1);
    assert_stripped_camera_block(res.p + at + 6, n);
    assert_png_crcs(res.p, res.n);
}

static void test_png_malformed(void **state)
{
    static struct out in, res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { 0 };
    size_t n = make_tiff(tiff, &opt);

    put_raw(&in, png_plain, PNG_AFTER_IHDR);
    put_chunk(&in, "eXIf", tiff, n);
    put_raw(&in, png_plain + PNG_AFTER_IHDR, sizeof(png_plain) - PNG_AFTER_IHDR);
    for (size_t cut = 9, boundary = 8; cut < in.n; cut++) {
        struct out bad = in;

        bad.n = cut;
        if (cut > boundary) {
            boundary += 12 + be32(in.p + boundary);
        }
        /* Cut at a chunk boundary nothing is hidden: accepted. */
        assert_int_equal(strip(&bad, &res), cut != boundary ? -1 : cut > PNG_AFTER_IHDR);
    }
    in.p[PNG_AFTER_IHDR] = 0x7f; /* eXIf's length runs past the end */
    assert_int_equal(strip(&in, &res), -1);
}

/* ---- WebP ---- */

/* VP8X (EXIF and XMP flags), the lossless image, EXIF, XMP. */
static void make_webp(struct out *o, const uint8_t *exif, size_t exif_len, const char *xmp,
                      struct span *s)
{
    static const uint8_t vp8x[10] = { 0x1c, 0, 0, 0, 3, 0, 0, 3, 0, 0 }; /* alpha|EXIF|XMP, 4x4 */
    size_t xmp_len = strlen(xmp);

    put_raw(o, "RIFF", 4);
    put_le(o, 0, 4);
    put_raw(o, "WEBPVP8X", 8);
    put_le(o, sizeof(vp8x), 4);
    put_raw(o, vp8x, sizeof(vp8x));
    put_raw(o, webp_plain + 12, sizeof(webp_plain) - 12);
    put_raw(o, "EXIF", 4);
    put_le(o, (uint32_t)exif_len, 4);
    s[0] = (struct span){ o->n, exif_len };
    put_raw(o, exif, exif_len);
    if (exif_len & 1) {
        put(o, 0, 1);
    }
    put_raw(o, "XMP ", 4);
    put_le(o, (uint32_t)xmp_len, 4);
    s[1] = (struct span){ o->n, xmp_len };
    put_raw(o, xmp, xmp_len);
    if (xmp_len & 1) {
        put(o, 0, 1);
    }
    o->p[4] = (uint8_t)(o->n - 8);
    o->p[5] = (uint8_t)((o->n - 8) >> 8);
}

static void test_webp(void **state)
{
    static struct out in, res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { 0 };
    size_t n = make_tiff(tiff, &opt);
    struct span s[2];

    make_webp(&in, tiff, n, XMP_GPS, s);
    assert_int_equal(strip(&in, &res), 2);
    assert_stripped_camera_block(res.p + s[0].at, s[0].len);
    assert_blank_xmp(res.p + s[1].at, s[1].len);
    assert_same_outside(in.p, res.p, in.n, s, 2);
}

static void test_webp_malformed(void **state)
{
    static struct out in, res;
    uint8_t tiff[CAP];
    struct tiff_opts opt = { 0 };
    size_t n = make_tiff(tiff, &opt);
    struct span s[2];

    make_webp(&in, tiff, n, XMP_GPS, s);
    {
        struct out bad = in;

        bad.n -= 1; /* the RIFF size says more than there is */
        assert_int_equal(strip(&bad, &res), -1);
    }
    {
        struct out bad = in;

        bad.p[s[0].at - 3] = 0x40; /* EXIF's size runs past the RIFF end */
        assert_int_equal(strip(&bad, &res), -1);
    }
}

/* ---- mutations: no crash, a refusal changes nothing, stripping twice is stripping once ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void mutate_many(const struct out *base)
{
    static struct out in, res;

    for (int round = 0; round < 3000; round++) {
        int r;

        in = *base;
        for (int k = 1 + (int)(rng() % 4); k > 0; k--) {
            in.p[rng() % in.n] = (uint8_t)rng();
        }
        if (rng() % 8 == 0) {
            in.n -= rng() % in.n;
        }
        r = strip(&in, &res);
        assert_true(r >= -1);
        if (r == 0) {
            assert_memory_equal(in.p, res.p, in.n);
        }
    }
}

static void test_mutations(void **state)
{
    static struct out jpeg, png, webp;
    uint8_t tiff[CAP], text[CAP];
    struct tiff_opts opt = { 0 };
    size_t n = make_tiff(tiff, &opt);
    struct span s[2];

    put_soi(&jpeg);
    put_exif_app1(&jpeg, &opt);
    put_xmp_app1(&jpeg, XMP_GPS);
    put_image_rest(&jpeg, jpeg_progressive, sizeof(jpeg_progressive));
    mutate_many(&jpeg);

    put_raw(&png, png_plain, PNG_AFTER_IHDR);
    put_chunk(&png, "eXIf", tiff, n);
    put_chunk(&png, "iTXt", text, text_chunk(text, "XML:com.adobe.xmp", true, XMP_GPS));
    put_raw(&png, png_plain + PNG_AFTER_IHDR, sizeof(png_plain) - PNG_AFTER_IHDR);
    mutate_many(&png);

    opt.be = true;
    n = make_tiff(tiff, &opt);
    make_webp(&webp, tiff, n, XMP_GPS, s);
    mutate_many(&webp);
}

/* ---- a second opinion, where exiftool is installed ---- */

static void test_exiftool(void **state)
{
    static const char *const tool = "/usr/bin/exiftool";
    static struct out in, res;
    struct tiff_opts opt = { 0 };
    char path[] = "/tmp/pipit-exif-XXXXXX";
    char cmd[256], line[512];
    bool saw_gps = false, saw_orientation = false;
    FILE *f;
    int fd;

    if (access(tool, X_OK) != 0) {
        skip();
    }
    put_soi(&in);
    put_exif_app1(&in, &opt);
    put_xmp_app1(&in, XMP_GPS);
    put_image_rest(&in, jpeg_plain, sizeof(jpeg_plain));
    assert_int_equal(strip(&in, &res), 2);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, res.p, res.n), (ssize_t)res.n);
    close(fd);
    snprintf(cmd, sizeof(cmd), "%s -a -G1 -s %s 2>&1", tool, path);
    f = popen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        saw_gps |= strstr(line, "GPS") != NULL;
        saw_orientation |= strstr(line, "Orientation") != NULL;
    }
    pclose(f);
    unlink(path);
    assert_false(saw_gps);
    assert_true(saw_orientation);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_little_endian),
        cmocka_unit_test(test_jpeg_big_endian),
        cmocka_unit_test(test_jpeg_progressive),
        cmocka_unit_test(test_jpeg_gps_last_entry),
        cmocka_unit_test(test_jpeg_without_location),
        cmocka_unit_test(test_jpeg_xmp),
        cmocka_unit_test(test_jpeg_xmp_variants),
        cmocka_unit_test(test_jpeg_extended_xmp),
        cmocka_unit_test(test_jpeg_app1_between_scans),
        cmocka_unit_test(test_jpeg_secondary_image),
        cmocka_unit_test(test_tiff_ifd_loop),
        cmocka_unit_test(test_tiff_wild_gps_values),
        cmocka_unit_test(test_tiff_gps_pointer_outside),
        cmocka_unit_test(test_tiff_cut_ifd0),
        cmocka_unit_test(test_tiff_bad_header),
        cmocka_unit_test(test_tiff_long_chain),
        cmocka_unit_test(test_jpeg_malformed),
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_png_exif_prefix),
        cmocka_unit_test(test_png_malformed),
        cmocka_unit_test(test_webp),
        cmocka_unit_test(test_webp_malformed),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_exiftool),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
