/*
 * exif.c: see exif.h.
 *
 * Design. Two passes over the container: the first only checks its structure, so that a
 * refusal has no side effects; the second finds each metadata block and edits it in place.
 * Container edits stay inside block payloads, so the second pass meets the same structure.
 *
 * EXIF is a TIFF structure (TIFF 6.0 §2): a header, then IFDs of 12-byte entries whose
 * values sit inline or at an offset from the header. The GPS IFD hangs off the GPSInfo
 * entry (tag 0x8825) of IFD0 (Exif 2.32 §4.6.3). The walk visits IFD0, the IFDs chained
 * after it (IFD1 holds the thumbnail) and the Exif sub-IFD, each once (a chain that loops
 * back ends there), at most MAX_IFDS of them, and in each:
 *  - removes the GPSInfo entry: the later entries shift down one slot, so they stay sorted
 *    as strict readers require; the count drops by one, the next-IFD offset moves up with
 *    them and the freed 12 bytes are zeroed. An IFD cut short by the end of the block has
 *    no room to shift, so there the entry is zeroed where it stands;
 *  - then zeroes the GPS IFD: first the values its entries point to (the part inside the
 *    block), then its count, entries and next offset.
 * A second walk checks that no GPSInfo entry is left. If one is (a crafted file whose
 * values overlap its IFDs), or the walk met more IFDs than its bound, or the header is not
 * TIFF, the whole block becomes an empty TIFF (a header and an IFD0 without entries)
 * followed by zeros: the block is lost, the image is not. Offsets that point outside the
 * block are never followed: a reader bounded by the block cannot follow them either.
 *
 * XMP is RDF/XML, where GPS properties (exif:GPSLatitude, drone-dji:GpsLongitude...) can be
 * nested anywhere. Rather than edit XML, a packet that mentions "gps", "latitude" or
 * "longitude" (any case; NUL bytes between the letters are skipped, so UTF-16 and UTF-32
 * text is caught too) is replaced whole by an empty x:xmpmeta element padded with spaces,
 * the whitespace padding XMP packets allow. Its other properties (rating, edit history) go
 * with it: over-blanking is the safe direction. A JPEG extended-XMP chunk is one slice of a
 * larger packet, so a word may be split between two slices: a slice is also blanked when it
 * ends with the first two or more letters of a word or starts with the last two or more
 * (one side of any split holds at least two letters of a word of three or more).
 *
 * PNG text chunks that cannot be read without inflating them (zTXt, compressed iTXt) and
 * ImageMagick's hex-encoded "Raw profile type exif/APP1/xmp" copies are not parsed: when
 * the keyword says XMP or EXIF, the data is zeroed and the chunk renamed "nuLl", a private
 * ancillary type that decoders skip. Every edited chunk gets its CRC recomputed.
 *
 * Containers: JPEG segments are walked from SOI through every scan (APPn may sit between
 * the scans of a progressive image) to EOI, skipping stray bytes before a marker as
 * decoders do; after EOI, the APP1 segments of any further images (the MPF secondary images
 * of phone photos: depth maps, gain maps) are found by their signatures and stripped the
 * same way. PNG chunks are walked to IEND, RIFF chunks to the RIFF size; bytes after those
 * are not looked at. What counts as malformed (-1) is only what hides part of the file
 * from the walk: a length that runs past the end, a second SOI, a missing signature.
 *
 * Not covered: EXIF inside a Photoshop APP13 resource, GPS in maker notes, thumbnails with
 * EXIF of their own, textual locations (city names in IPTC or XMP).
 */
#include "files/exif.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#define TAG_GPS_IFD 0x8825
#define TAG_EXIF_IFD 0x8769
#define IFD_ENTRY_SIZE 12
/* Real files have IFD0, IFD1, Exif and GPS; a walk that meets more wipes the block. */
#define MAX_IFDS 16

#define JPEG_SOI 0xd8
#define JPEG_EOI 0xd9
#define JPEG_SOS 0xda
#define JPEG_APP1 0xe1
#define JPEG_TEM 0x01

/* ---- bytes ---- */

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool starts_with(const uint8_t *p, size_t n, const char *prefix, size_t prefix_len)
{
    return n >= prefix_len && memcmp(p, prefix, prefix_len) == 0;
}

static uint8_t ascii_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Counts saturate: the answer is "how many", and no file holds INT_MAX blocks. */
static int add_removed(int total, int more)
{
    return more > INT_MAX - total ? INT_MAX : total + more;
}

/* ---- EXIF (TIFF) ---- */

struct tiff {
    uint8_t *p;         /* the block, starting at the byte-order mark */
    size_t n;
    bool big_endian;
};

/* The IFDs one walk visits, and the GPS IFD offsets it unlinked. */
struct ifd_walk {
    uint32_t ifds[MAX_IFDS];
    bool chained[MAX_IFDS];     /* in IFD0's chain: its next offset is followed */
    size_t n_ifds;
    uint32_t gps[MAX_IFDS];
    size_t n_gps;
    bool overflow;              /* a bound was hit: a reader may see more than the walk */
};

static uint32_t tiff_u16(const struct tiff *t, size_t at)
{
    const uint8_t *q = t->p + at;

    return t->big_endian ? (uint32_t)q[0] << 8 | q[1] : (uint32_t)q[1] << 8 | q[0];
}

static uint32_t tiff_u32(const struct tiff *t, size_t at)
{
    const uint8_t *q = t->p + at;

    return t->big_endian ? be32(q) : le32(q);
}

static void tiff_put16(struct tiff *t, size_t at, uint32_t v)
{
    uint8_t *q = t->p + at;

    q[t->big_endian ? 0 : 1] = (uint8_t)(v >> 8);
    q[t->big_endian ? 1 : 0] = (uint8_t)v;
}

static void tiff_put32(struct tiff *t, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        t->p[at + (size_t)(t->big_endian ? i : 3 - i)] = (uint8_t)(v >> (24 - 8 * i));
    }
}

/* "II*\0" or "MM\0*" (TIFF 6.0 §2, Image File Header). */
static bool tiff_open(struct tiff *t, uint8_t *p, size_t n)
{
    t->p = p;
    t->n = n;
    if (n < 8 || p[0] != p[1] || (p[0] != 'I' && p[0] != 'M')) {
        return false;
    }
    t->big_endian = p[0] == 'M';
    return tiff_u16(t, 2) == 42;
}

/* Bytes per value of a field type (TIFF 6.0 §2; 13 is the IFD type of TIFF Tech Note 1).
 * Unknown types count as inline: the entry is zeroed anyway. */
static unsigned tiff_type_size(uint32_t type)
{
    static const uint8_t sizes[] = { 0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4 };

    return type < sizeof(sizes) ? sizes[type] : 0;
}

/* Offset 0 is the header itself, which writers use to mean "none". */
static bool ifd_readable(const struct tiff *t, uint32_t at)
{
    return at != 0 && t->n >= 2 && at <= t->n - 2;
}

static size_t entry_at(size_t ifd, size_t i)
{
    return ifd + 2 + i * IFD_ENTRY_SIZE;
}

/* How many entries of the IFD at `at` lie inside the block (a reader of a cut IFD sees no
 * more), and whether the whole IFD, next offset included, does. */
static size_t ifd_entries(const struct tiff *t, size_t at, bool *whole)
{
    size_t count = tiff_u16(t, at);
    size_t room = t->n - at - 2;
    size_t fit = room / IFD_ENTRY_SIZE;

    *whole = count <= fit && room - count * IFD_ENTRY_SIZE >= 4;
    return count < fit ? count : fit;
}

static void walk_add(struct ifd_walk *w, const struct tiff *t, uint32_t at, bool chained)
{
    if (!ifd_readable(t, at)) {
        return;
    }
    for (size_t i = 0; i < w->n_ifds; i++) {
        if (w->ifds[i] == at) {
            return; /* seen: a loop */
        }
    }
    if (w->n_ifds == MAX_IFDS) {
        w->overflow = true;
        return;
    }
    w->ifds[w->n_ifds] = at;
    w->chained[w->n_ifds++] = chained;
}

/* Removes entry i of the IFD at `at`, of which k entries lie in the block. */
static void ifd_remove(struct tiff *t, size_t at, size_t i, size_t k, bool whole)
{
    uint8_t *entry = t->p + entry_at(at, i);
    uint8_t *last = t->p + entry_at(at, k - 1);
    uint32_t next;

    if (!whole) {
        memset(entry, 0, IFD_ENTRY_SIZE);
        return;
    }
    next = tiff_u32(t, entry_at(at, k));
    memmove(entry, entry + IFD_ENTRY_SIZE, (size_t)(last - entry));
    tiff_put16(t, at, (uint32_t)(k - 1));
    tiff_put32(t, entry_at(at, k - 1), next);
    memset(last + 4, 0, IFD_ENTRY_SIZE);
}

/* Unlinks the GPSInfo entries of the walk's IFD number `slot`, noting their targets, and
 * queues the IFDs it leads to. */
static void ifd_unlink_gps(struct tiff *t, struct ifd_walk *w, size_t slot)
{
    size_t at = w->ifds[slot];
    bool whole;
    size_t k = ifd_entries(t, at, &whole);
    size_t i = 0;

    while (i < k) {
        size_t entry = entry_at(at, i);
        uint32_t tag = tiff_u16(t, entry);
        uint32_t value = tiff_u32(t, entry + 8);

        if (tag == TAG_EXIF_IFD) {
            walk_add(w, t, value, false);
        } else if (tag == TAG_GPS_IFD) {
            if (w->n_gps == MAX_IFDS) {
                w->overflow = true;
            } else {
                w->gps[w->n_gps++] = value;
            }
            ifd_remove(t, at, i, k, whole);
            if (whole) {
                k--;
                continue; /* the next entry moved into slot i */
            }
        }
        i++;
    }
    if (w->chained[slot] && whole) {
        walk_add(w, t, tiff_u32(t, entry_at(at, k)), true);
    }
}

/* Unlinks every GPSInfo entry a reader reaches from IFD0. */
static void tiff_walk(struct tiff *t, struct ifd_walk *w)
{
    memset(w, 0, sizeof(*w));
    walk_add(w, t, tiff_u32(t, 4), true);
    for (size_t i = 0; i < w->n_ifds; i++) {
        ifd_unlink_gps(t, w, i);
    }
}

/* Zeroes p[lo, hi) except the part that falls in [keep_lo, keep_hi); lo < hi. */
static void zero_outside(uint8_t *p, size_t lo, size_t hi, size_t keep_lo, size_t keep_hi)
{
    if (lo < keep_lo) {
        memset(p + lo, 0, (hi < keep_lo ? hi : keep_lo) - lo);
    }
    if (hi > keep_hi) {
        size_t from = lo > keep_hi ? lo : keep_hi;

        memset(p + from, 0, hi - from);
    }
}

/* Zeroes the GPS IFD at `at` and the values it points to. The IFD itself is zeroed last,
 * so a value that overlaps it cannot erase entries before they are read. */
static void gps_ifd_zero(struct tiff *t, uint32_t at)
{
    bool whole;
    size_t k, end;
    uint64_t ifd_end;

    if (!ifd_readable(t, at)) {
        return;
    }
    k = ifd_entries(t, at, &whole);
    ifd_end = (uint64_t)at + 2 + (uint64_t)tiff_u16(t, at) * IFD_ENTRY_SIZE + 4;
    end = ifd_end < t->n ? (size_t)ifd_end : t->n;
    for (size_t i = 0; i < k; i++) {
        size_t entry = entry_at(at, i);
        uint64_t size = (uint64_t)tiff_u32(t, entry + 4) * tiff_type_size(tiff_u16(t, entry + 2));
        uint32_t off = tiff_u32(t, entry + 8);

        if (size > 4 && off < t->n) {
            size_t hi = size < t->n - off ? off + (size_t)size : t->n;

            zero_outside(t->p, off, hi, at, end);
        }
    }
    memset(t->p + at, 0, end - at);
}

/* Makes the block an empty TIFF followed by zeros (all zeros if too short for one).
 * Returns 1 if a byte changed. */
static int tiff_wipe(uint8_t *p, size_t n)
{
    static const uint8_t empty[14] = { 'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    uint8_t changed = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t v = n >= sizeof(empty) && i < sizeof(empty) ? empty[i] : 0;

        changed |= p[i] ^ v;
        p[i] = v;
    }
    return changed != 0;
}

/* Whether a reader of the block finds no GPS IFD. */
static bool tiff_clean(uint8_t *p, size_t n)
{
    struct tiff t;
    struct ifd_walk w;

    if (!tiff_open(&t, p, n)) {
        return false;
    }
    tiff_walk(&t, &w);
    return w.n_gps == 0 && !w.overflow;
}

static int tiff_strip(uint8_t *p, size_t n)
{
    struct tiff t;
    struct ifd_walk w;
    int removed;

    if (!tiff_open(&t, p, n)) {
        return tiff_wipe(p, n);
    }
    tiff_walk(&t, &w);
    for (size_t i = 0; i < w.n_gps; i++) {
        gps_ifd_zero(&t, w.gps[i]);
    }
    removed = (int)w.n_gps;
    if (w.overflow || (removed > 0 && !tiff_clean(p, n))) {
        removed = add_removed(removed, tiff_wipe(p, n));
    }
    return removed;
}

/* EXIF as PNG and WebP store it: TIFF, though some writers keep JPEG's "Exif\0\0". */
static int exif_payload_strip(uint8_t *p, size_t n)
{
    if (starts_with(p, n, "Exif\0\0", 6)) {
        return tiff_strip(p + 6, n - 6);
    }
    return tiff_strip(p, n);
}

/* ---- XMP ---- */

static const char *const location_words[] = { "gps", "latitude", "longitude" };
#define N_LOCATION_WORDS (sizeof(location_words) / sizeof(location_words[0]))
#define EMPTY_XMP "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/>"

/* Whether `word` starts at p[i], in any case, with up to 3 NUL bytes before each later
 * letter (UTF-16 and UTF-32 text). */
static bool word_at(const uint8_t *p, size_t n, size_t i, const char *word)
{
    for (size_t j = 0; word[j] != '\0'; j++) {
        for (int nul = 0; j > 0 && nul < 3 && i < n && p[i] == 0; nul++) {
            i++;
        }
        if (i >= n || ascii_lower(p[i]) != (uint8_t)word[j]) {
            return false;
        }
        i++;
    }
    return true;
}

static bool mentions_location(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = ascii_lower(p[i]);

        if (c != 'g' && c != 'l') {
            continue;
        }
        for (size_t w = 0; w < N_LOCATION_WORDS; w++) {
            if (word_at(p, n, i, location_words[w])) {
                return true;
            }
        }
    }
    return false;
}

static bool same_letters(const uint8_t *p, const char *word, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (ascii_lower(p[i]) != (uint8_t)word[i]) {
            return false;
        }
    }
    return true;
}

/* Whether a location word may be split at an edge of this slice. */
static bool edge_may_split_word(const uint8_t *p, size_t n)
{
    for (size_t w = 0; w < N_LOCATION_WORDS; w++) {
        const char *word = location_words[w];
        size_t m = strlen(word);

        for (size_t a = 2; a < m && a <= n; a++) {
            if (same_letters(p + n - a, word, a) || same_letters(p, word + m - a, a)) {
                return true;
            }
        }
    }
    return false;
}

/* A whole packet becomes an empty one padded with spaces; a slice becomes spaces. */
static int xmp_blank(uint8_t *p, size_t n, bool slice)
{
    size_t head = 0;

    if (!slice && n >= sizeof(EMPTY_XMP) - 1) {
        head = sizeof(EMPTY_XMP) - 1;
        memcpy(p, EMPTY_XMP, head);
    }
    memset(p + head, ' ', n - head);
    return 1;
}

static int xmp_strip(uint8_t *p, size_t n)
{
    return mentions_location(p, n) ? xmp_blank(p, n, false) : 0;
}

static int xmp_slice_strip(uint8_t *p, size_t n)
{
    if (mentions_location(p, n) || edge_may_split_word(p, n)) {
        return xmp_blank(p, n, true);
    }
    return 0;
}

/* ---- JPEG (ITU T.81 Annex B; APP1 "Exif" per Exif 2.32 §4.5.4; XMP and extended XMP in
 * APP1 per XMP part 3) ---- */

#define XMP_SIG "http://ns.adobe.com/xap/1.0/"
#define XMP_SIG_ALT "XMP\0://ns.adobe.com/xap/1.0/" /* a known writer bug, still read */
#define XMP_EXT_SIG "http://ns.adobe.com/xmp/extension/"
/* After the extension signature and its NUL: GUID (32), full length (4), offset (4). */
#define XMP_EXT_HEADER (sizeof(XMP_EXT_SIG) + 32 + 4 + 4)

enum app1_kind { APP1_OTHER, APP1_EXIF, APP1_XMP, APP1_XMP_SLICE };

static enum app1_kind jpeg_app1_kind(const uint8_t *p, size_t n)
{
    if (starts_with(p, n, "Exif\0", 5)) {
        return APP1_EXIF;
    }
    if (starts_with(p, n, XMP_SIG, sizeof(XMP_SIG)) ||
        starts_with(p, n, XMP_SIG_ALT, sizeof(XMP_SIG_ALT))) {
        return APP1_XMP;
    }
    return starts_with(p, n, XMP_EXT_SIG, sizeof(XMP_EXT_SIG)) ? APP1_XMP_SLICE : APP1_OTHER;
}

static int jpeg_app1_strip(uint8_t *p, size_t n)
{
    size_t skip;

    switch (jpeg_app1_kind(p, n)) {
    case APP1_EXIF:
        return n > 6 ? tiff_strip(p + 6, n - 6) : 0; /* "Exif\0" and a pad byte */
    case APP1_XMP:
        return xmp_strip(p + sizeof(XMP_SIG), n - sizeof(XMP_SIG));
    case APP1_XMP_SLICE:
        skip = n < XMP_EXT_HEADER ? n : XMP_EXT_HEADER;
        return xmp_slice_strip(p + skip, n - skip);
    default:
        return 0;
    }
}

/* Where the entropy-coded data that starts at `at` ends: the offset of the next marker, or
 * n if the data runs to the end. Inside it 0xFF is followed by 0x00 (stuffing) or a
 * restart marker; fill bytes 0xFF may precede the marker (T.81 B.1.1.2, F.1.2.3). */
static size_t jpeg_scan_end(const uint8_t *p, size_t at, size_t n)
{
    while (at < n) {
        const uint8_t *ff = memchr(p + at, 0xff, n - at);
        uint8_t next;

        if (ff == NULL) {
            return n;
        }
        at = (size_t)(ff - p);
        if (at + 1 >= n) {
            return n;
        }
        next = p[at + 1];
        if (next == 0x00 || (next >= 0xd0 && next <= 0xd7)) {
            at += 2;
        } else if (next == 0xff) {
            at += 1;
        } else {
            return at;
        }
    }
    return n;
}

/* Walks the JPEG whose SOI is at p[0]; with `edit`, strips each APP1 on the way. *end gets
 * the offset after its EOI, or n when the last scan runs to the end of the buffer. Returns
 * the records removed, or -1 if the structure is broken. */
static int jpeg_walk(uint8_t *p, size_t n, bool edit, size_t *end)
{
    size_t at = 2;
    int removed = 0;

    if (n < 2 || p[0] != 0xff || p[1] != JPEG_SOI) {
        return -1;
    }
    for (;;) {
        uint8_t marker;
        size_t len;

        if (at < n && p[at] != 0xff) {
            /* Stray bytes before a marker: decoders skip to the next 0xFF (libjpeg's
             * next_marker), and so does this walk, to see the segments they see. */
            const uint8_t *ff = memchr(p + at, 0xff, n - at);

            at = ff != NULL ? (size_t)(ff - p) : n;
        }
        while (at < n && p[at] == 0xff) {
            at++;
        }
        if (at >= n) {
            return -1;
        }
        marker = p[at++];
        if (marker == 0x00) {
            continue; /* 0xFF 0x00 outside a scan is a stray byte pair too */
        }
        if (marker == JPEG_EOI) {
            *end = at;
            return removed;
        }
        if (marker == JPEG_TEM || (marker >= 0xd0 && marker <= 0xd7)) {
            continue; /* standalone markers carry no length */
        }
        if (marker == JPEG_SOI || n - at < 2) {
            return -1;
        }
        len = be16(p + at);
        if (len < 2 || len > n - at) {
            return -1;
        }
        if (edit && marker == JPEG_APP1) {
            removed = add_removed(removed, jpeg_app1_strip(p + at + 2, len - 2));
        }
        at += len;
        if (marker == JPEG_SOS) {
            at = jpeg_scan_end(p, at, n);
            if (at == n) {
                *end = n;
                return removed;
            }
        }
    }
}

/* MPF (CIPA DC-007) and its kin append more JPEGs after the first EOI, each with its own
 * metadata. Rather than parse what follows EOI (it may hold anything), the search looks for
 * APP1 segments with a known signature and strips each as in the main image (a segment cut
 * by the end of the buffer up to that end). It resumes after the segment, so it never reads
 * a byte it has edited, and a second pass finds the same segments. */
static int jpeg_trailer_strip(uint8_t *p, size_t at, size_t n)
{
    int removed = 0;

    while (n - at >= 4) {
        const uint8_t *ff = memchr(p + at, 0xff, n - at - 3);
        size_t len;

        if (ff == NULL) {
            break;
        }
        at = (size_t)(ff - p);
        len = be16(p + at + 2);
        len = len < 2 ? 0 : len - 2;
        if (len > n - at - 4) {
            len = n - at - 4;
        }
        if (p[at + 1] != JPEG_APP1 || jpeg_app1_kind(p + at + 4, len) == APP1_OTHER) {
            at++;
            continue;
        }
        removed = add_removed(removed, jpeg_app1_strip(p + at + 4, len));
        at += 4 + len;
    }
    return removed;
}

static int jpeg_strip(uint8_t *p, size_t n)
{
    size_t end;
    int removed;

    if (jpeg_walk(p, n, false, &end) < 0) {
        return -1;
    }
    removed = jpeg_walk(p, n, true, &end);
    if (removed < 0) {
        return -1; /* cannot happen: edits stay inside segment payloads */
    }
    return add_removed(removed, jpeg_trailer_strip(p, end, n));
}

/* ---- PNG (ISO 15948: chunks §5.3, CRC §5.5, text chunks §11.3.4; eXIf from the PNG
 * extensions 1.5.0; XMP in iTXt "XML:com.adobe.xmp" per XMP part 3) ---- */

static const uint8_t png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
#define PNG_XMP_KEYWORD "XML:com.adobe.xmp"
#define PNG_KEYWORD_MAX 79
#define PNG_RENAMED "nuLl" /* ancillary, private, safe to copy: skipped by decoders */

/* CRC-32 of ISO 3309 as PNG uses it (§5.5), four bits at a time. */
static uint32_t png_crc(const uint8_t *p, size_t n)
{
    static const uint32_t nibble[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    uint32_t c = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        c = (c >> 4) ^ nibble[(c ^ p[i]) & 15];
        c = (c >> 4) ^ nibble[(c ^ (p[i] >> 4)) & 15];
    }
    return c ^ 0xffffffffu;
}

static bool type_is(const uint8_t *type, const char *name)
{
    return memcmp(type, name, 4) == 0;
}

static bool keyword_is(const uint8_t *kw, size_t len, const char *name, bool any_case)
{
    if (len != strlen(name)) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t a = any_case ? ascii_lower(kw[i]) : kw[i];
        uint8_t b = any_case ? ascii_lower((uint8_t)name[i]) : (uint8_t)name[i];

        if (a != b) {
            return false;
        }
    }
    return true;
}

/* Zeroes a chunk's data and renames it so that no reader looks inside. */
static int png_chunk_wipe(uint8_t *chunk, size_t len)
{
    memcpy(chunk, PNG_RENAMED, 4);
    memset(chunk + 4, 0, len);
    return 1;
}

/* The text of an uncompressed iTXt chunk after its keyword's NUL: compression flag and
 * method, language tag, translated keyword (§11.3.4.5). NULL if compressed or broken. */
static uint8_t *png_itxt_text(uint8_t *p, size_t n, size_t *text_len)
{
    uint8_t *end = p + n;
    uint8_t *nul;

    if (n < 2 || p[0] != 0) {
        return NULL;
    }
    p += 2;
    for (int field = 0; field < 2; field++) {
        nul = memchr(p, 0, (size_t)(end - p));
        if (nul == NULL) {
            return NULL;
        }
        p = nul + 1;
    }
    *text_len = (size_t)(end - p);
    return p;
}

/* tEXt, zTXt, iTXt: XMP (and ImageMagick's raw EXIF or XMP profiles) by keyword. */
static int png_text_strip(uint8_t *chunk, size_t len)
{
    uint8_t *data = chunk + 4;
    uint8_t *nul = memchr(data, 0, len < PNG_KEYWORD_MAX + 1 ? len : PNG_KEYWORD_MAX + 1);
    size_t kw_len, text_len;
    uint8_t *text;

    if (nul == NULL) {
        return 0; /* no keyword: readers drop the chunk */
    }
    kw_len = (size_t)(nul - data);
    if (keyword_is(data, kw_len, "Raw profile type exif", true) ||
        keyword_is(data, kw_len, "Raw profile type app1", true) ||
        keyword_is(data, kw_len, "Raw profile type xmp", true)) {
        return png_chunk_wipe(chunk, len);
    }
    if (!keyword_is(data, kw_len, PNG_XMP_KEYWORD, false)) {
        return 0;
    }
    if (type_is(chunk, "tEXt")) {
        return xmp_strip(nul + 1, len - kw_len - 1);
    }
    text = type_is(chunk, "iTXt") ? png_itxt_text(nul + 1, len - kw_len - 1, &text_len) : NULL;
    return text != NULL ? xmp_strip(text, text_len) : png_chunk_wipe(chunk, len);
}

/* One chunk: type then data. Returns the records removed. */
static int png_chunk_strip(uint8_t *chunk, size_t len)
{
    if (type_is(chunk, "eXIf") || type_is(chunk, "exIf")) {
        return exif_payload_strip(chunk + 4, len);
    }
    if (type_is(chunk, "zxIf")) {
        return png_chunk_wipe(chunk, len); /* ImageMagick's old compressed EXIF */
    }
    if (type_is(chunk, "tEXt") || type_is(chunk, "zTXt") || type_is(chunk, "iTXt")) {
        return png_text_strip(chunk, len);
    }
    return 0;
}

/* Walks the chunks up to IEND (or the end of the buffer, at a chunk boundary). */
static int png_walk(uint8_t *p, size_t n, bool edit)
{
    size_t at = sizeof(png_signature);
    int removed = 0;

    while (at < n) {
        uint8_t *chunk;
        size_t len;

        if (n - at < 12) {
            return -1;
        }
        chunk = p + at + 4; /* type, then data */
        len = be32(p + at);
        if (len > n - at - 12) {
            return -1;
        }
        if (edit) {
            int r = png_chunk_strip(chunk, len);

            if (r > 0) {
                put_be32(chunk + 4 + len, png_crc(chunk, 4 + len));
                removed = add_removed(removed, r);
            }
        }
        at += 12 + len;
        if (type_is(chunk, "IEND")) {
            break;
        }
    }
    return removed;
}

/* ---- WebP (RIFF; the WebP container specification, "Extended file format") ---- */

static int webp_walk(uint8_t *p, size_t n, bool edit)
{
    uint32_t riff = le32(p + 4);
    size_t end, at = 12;
    int removed = 0;

    if (riff < 4 || riff > n - 8) {
        return -1;
    }
    end = 8 + (size_t)riff;
    while (at < end) {
        uint8_t *chunk = p + at;
        size_t len;

        if (end - at < 8) {
            return -1;
        }
        len = le32(chunk + 4);
        if (len > end - at - 8) {
            return -1;
        }
        if (edit && memcmp(chunk, "EXIF", 4) == 0) {
            removed = add_removed(removed, exif_payload_strip(chunk + 8, len));
        } else if (edit && memcmp(chunk, "XMP ", 4) == 0) {
            removed = add_removed(removed, xmp_strip(chunk + 8, len));
        }
        at += 8 + len + (len & 1); /* chunks are padded to even sizes */
    }
    return removed;
}

/* ---- the entry point ---- */

int exif_strip_location(uint8_t *buf, size_t len)
{
    if (buf == NULL) {
        return -1;
    }
    if (len >= 3 && buf[0] == 0xff && buf[1] == JPEG_SOI && buf[2] == 0xff) {
        return jpeg_strip(buf, len);
    }
    if (starts_with(buf, len, (const char *)png_signature, sizeof(png_signature))) {
        return png_walk(buf, len, false) < 0 ? -1 : png_walk(buf, len, true);
    }
    if (starts_with(buf, len, "RIFF", 4) && len >= 12 && memcmp(buf + 8, "WEBP", 4) == 0) {
        return webp_walk(buf, len, false) < 0 ? -1 : webp_walk(buf, len, true);
    }
    return -1;
}
