/*
 * vapid.h: the server's VAPID key pair (RFC 8292), by which Web Push services
 * know the pushes come from the server browsers subscribed with.
 *
 * Made on first start and kept in DATA_DIR/vapid-private.pem (mode 0600): a new
 * key would orphan every browser subscription, so it is never replaced.
 */
#ifndef PIPIT_PUSH_VAPID_H
#define PIPIT_PUSH_VAPID_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct vapid;

/* Loads the key, or makes and saves it; 0 or PIPIT_ESTORE with a message in err. */
int vapid_open(const char *data_dir, struct vapid **out, char *err, size_t errlen);
void vapid_free(struct vapid *v);
/* The public key as browsers take it: base64url (no padding) of the 65-byte point. */
const char *vapid_public_key(const struct vapid *v);

/*
 * Appends the Authorization header value for a push to endpoint (RFC 8292 §3):
 * "vapid t=<JWT>, k=<public key>", the JWT (ES256) naming the endpoint's origin
 * as audience, expiring at exp (Unix seconds; push services refuse more than
 * 24 h ahead) and giving subject (a mailto: or https: contact). 0, or -1 when
 * endpoint is not an http(s) URL or signing fails. Thread-safe.
 */
int vapid_authorization(const struct vapid *v, const char *endpoint, int64_t exp,
                        const char *subject, struct buf *out);

/*
 * An URL's origin, as a VAPID audience: "https://Host:443/path" → "https://host"
 * (scheme, lowercase host, and the port only if not the default). 0, or -1 when
 * url is not an http(s) URL.
 */
int vapid_origin(const char *url, char *out, size_t cap);

#endif
