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
 * PIPIT_EFORBIDDEN_ORIGIN. tls tells the scheme of our own origin.
 */
int ws_handshake_check(const struct http_request *req, bool tls,
                       char *const *origins, size_t norigins,
                       char accept[WS_ACCEPT_LEN + 1]);

/* Same-origin or listed: the Origin rule alone, exposed for tests. */
bool ws_origin_allowed(const char *origin, const char *host, bool tls,
                       char *const *origins, size_t norigins);

#endif
