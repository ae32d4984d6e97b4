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

static size_t header_count(const struct http_request *req, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        n += strcasecmp(req->headers[i].name, name) == 0;
    }
    return n;
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
    /* §4.1: HTTP/1.1 or later; §11.3.1, §11.3.5: the key and the version appear once. */
    if (req->version_minor < 1 || upgrade == NULL || strcasecmp(upgrade, "websocket") != 0 ||
        !http_header_has_token(connection, "upgrade") ||
        header_count(req, "sec-websocket-key") > 1 ||
        header_count(req, "sec-websocket-version") > 1) {
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
    /* RFC 6454 §7.3: one Origin; with two, which one a check reads is a guess. */
    if (header_count(req, "origin") > 1 ||
        !ws_origin_allowed(http_request_header(req, "origin"),
                           http_request_header(req, "host"), origins, norigins)) {
        return PIPIT_EFORBIDDEN_ORIGIN;
    }
    memcpy(joined, key, klen);
    memcpy(joined + klen, ws_guid, sizeof(ws_guid) - 1);
    SHA1((const unsigned char *)joined, klen + sizeof(ws_guid) - 1, digest);
    b64_encode(accept, digest, sizeof(digest));
    return 0;
}
