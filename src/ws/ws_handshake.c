#include "ws/ws_handshake.h"

#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "util/b64.h"
#include "util/err.h"

/* RFC 6455 §1.3. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool ws_origin_allowed(const char *origin, const char *host, char *const *origins,
                       size_t norigins)
{
    const char *rest = NULL;

    /* Non-browser clients send no Origin; browsers always do (RFC 6455 §10.2). */
    if (origin == NULL) {
        return true;
    }
    /*
     * Same origin: the page came from the host the client asked for. Both schemes
     * count, because behind a TLS-terminating proxy the browser says https while
     * we see plain HTTP; only whoever serves that host can put a page there.
     */
    if (strncasecmp(origin, "https://", 8) == 0) {
        rest = origin + 8;
    } else if (strncasecmp(origin, "http://", 7) == 0) {
        rest = origin + 7;
    }
    if (host != NULL && rest != NULL && strcasecmp(rest, host) == 0) {
        return true;
    }
    for (size_t i = 0; i < norigins; i++) {
        if (strcasecmp(origin, origins[i]) == 0) {
            return true;
        }
    }
    return false;
}

int ws_handshake_check(const struct http_request *req, char *const *origins, size_t norigins,
                       char accept[WS_ACCEPT_LEN + 1])
{
    const char *upgrade = http_request_header(req, "upgrade");
    const char *connection = http_request_header(req, "connection");
    const char *version = http_request_header(req, "sec-websocket-version");
    const char *key = http_request_header(req, "sec-websocket-key");
    unsigned char raw[32];
    unsigned char digest[SHA_DIGEST_LENGTH];
    char joined[64 + sizeof(ws_guid)];
    size_t klen;

    if (req->method != HTTP_GET) {
        return PIPIT_EMETHOD_NOT_ALLOWED;
    }
    if (upgrade == NULL || strcasecmp(upgrade, "websocket") != 0 ||
        !http_header_has_token(connection, "upgrade")) {
        return PIPIT_EBAD_REQUEST;
    }
    if (version == NULL || strcmp(version, "13") != 0) {
        return PIPIT_EBAD_WS_VERSION;
    }
    /* §4.2.1: the key is 16 random bytes, base64-encoded. */
    if (key == NULL || (klen = strlen(key)) != 24 ||
        b64_decode(raw, sizeof(raw), key, klen) != 16) {
        return PIPIT_EBAD_REQUEST;
    }
    if (!ws_origin_allowed(http_request_header(req, "origin"),
                           http_request_header(req, "host"), origins, norigins)) {
        return PIPIT_EFORBIDDEN_ORIGIN;
    }
    memcpy(joined, key, klen);
    memcpy(joined + klen, ws_guid, sizeof(ws_guid) - 1);
    SHA1((const unsigned char *)joined, klen + sizeof(ws_guid) - 1, digest);
    b64_encode(accept, digest, sizeof(digest));
    return 0;
}
