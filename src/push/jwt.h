/*
 * jwt.h: signing JSON Web Tokens (RFC 7519) for the push providers: VAPID and
 * APNs take ES256 (P-256), Google's OAuth2 token endpoint RS256.
 */
#ifndef PIPIT_PUSH_JWT_H
#define PIPIT_PUSH_JWT_H

#include <openssl/evp.h>

#include "util/buf.h"

/*
 * Appends base64url(header) "." base64url(claims) "." base64url(signature) to
 * out, signed with key: ES256 for an EC P-256 key (r and s, 32 bytes each, as
 * JOSE wants, not DER), RS256 for an RSA key. 0, or -1. Thread-safe.
 */
int jwt_sign(EVP_PKEY *key, const char *header, const char *claims, struct buf *out);

/* A PEM private key from a file (PKCS #8, as Apple's .p8); NULL if unreadable. */
EVP_PKEY *jwt_key_load(const char *path);

#endif
