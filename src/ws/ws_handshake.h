/*
 * ws_handshake.h: RFC 6455 §4.2 opening handshake checks (pure).
 *
 * Checks an HTTP request that asks for a WebSocket: method, Upgrade, Connection,
 * version, key, and Origin against the allow-list, and computes the
 * Sec-WebSocket-Accept value. No I/O; thread-safe.
 */
#ifndef PIPIT_WS_WS_HANDSHAKE_H
#define PIPIT_WS_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_parse.h"

#define WS_ACCEPT_LEN 28

/*
 * Returns 0 and writes the accept value (WS_ACCEPT_LEN chars + NUL) into accept,
 * or PIPIT_EMETHOD_NOT_ALLOWED, PIPIT_EBAD_REQUEST, PIPIT_EBAD_WS_VERSION or
 * PIPIT_EFORBIDDEN_ORIGIN.
 */
int ws_handshake_check(const struct http_request *req, char *const *origins, size_t norigins,
                       char accept[WS_ACCEPT_LEN + 1]);

/*
 * The Origin rule alone: no Origin (not a browser), the same host as the Host
 * header under http:// or https:// (a TLS-terminating proxy changes the scheme
 * we see), or an exact, case-insensitive match in origins.
 */
bool ws_origin_allowed(const char *origin, const char *host, char *const *origins,
                       size_t norigins);

#endif
