/*
 * exif.h: removes location (GPS) metadata from an uploaded image, in place.
 *
 * A phone photo carries its GPS coordinates in EXIF and often again in XMP; pipit serves
 * stored images to other chat members, so it removes them before the image is shared
 * (issue 8). Nothing is re-encoded and nothing moves: the bytes that held the location are
 * overwritten and the file keeps its length, so pixels, orientation and every other tag
 * survive, and the caller can edit the stored file through a MAP_SHARED mapping or a
 * buffer it writes back.
 *
 * Formats: JPEG (APP1 "Exif", APP1 XMP and extended XMP, also in the secondary images an
 * MPF file appends after the first EOI), PNG (eXIf, XMP in iTXt/tEXt/zTXt, ImageMagick's
 * "Raw profile type exif/APP1/xmp" text chunks) and WebP (RIFF "EXIF" and "XMP " chunks).
 * The edits are described in exif.c.
 *
 * Ownership: the caller owns buf; nothing is allocated. Threads: pure (no globals), any
 * thread. Errors: -1 for a buffer this module cannot vouch for (see below); in that case
 * buf is left untouched.
 */
#ifndef PIPIT_FILES_EXIF_H
#define PIPIT_FILES_EXIF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Strips location data from the image held whole in buf[0..len): the metadata of a WebP
 * comes after its pixels, and PNG and JPEG may carry some after theirs too, so a prefix of
 * the file is not enough.
 *
 * Returns the number of location records removed: GPS IFDs unlinked and zeroed, XMP
 * packets that named GPS coordinates blanked, and unreadable EXIF or compressed XMP blocks
 * wiped whole. 0 means nothing was found and buf is unchanged.
 *
 * Returns -1, with buf unchanged, when buf is not a JPEG, PNG or WebP, or when its container
 * is malformed (a segment or chunk that runs past the end, bytes where a JPEG marker must
 * be): then some metadata might be hidden where this walk cannot see it, so the caller must
 * not serve the file as a location-free image (refuse it, or keep it private to the
 * uploader). A broken EXIF block inside a sound container is not an error: it is wiped.
 *
 * Never reads or writes outside buf[0..len); bounded work (linear in len, times a small
 * constant).
 */
int exif_strip_location(uint8_t *buf, size_t len);

#endif
