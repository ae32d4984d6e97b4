/*
 * http_range.h: the Range header of a request for one file (RFC 9110 §14).
 *
 * Only single byte ranges are honoured; a header this server does not act on
 * (another unit, several ranges, bad syntax) is ignored, as the RFC allows,
 * and the whole file is sent. Pure; any thread.
 */
#ifndef PIPIT_HTTP_HTTP_RANGE_H
#define PIPIT_HTTP_HTTP_RANGE_H

#include <stdint.h>

enum http_range { HTTP_RANGE_NONE, HTTP_RANGE_OK, HTTP_RANGE_UNSATISFIABLE };

/*
 * For a file of size bytes: HTTP_RANGE_OK with the first byte and the length
 * to send, HTTP_RANGE_NONE to send it all (no header, or one to ignore), or
 * HTTP_RANGE_UNSATISFIABLE (answer 416).
 */
enum http_range http_range_parse(const char *header, int64_t size, int64_t *start,
                                 int64_t *len);

#endif
