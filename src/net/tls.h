/*
 * tls.h: the process-wide server TLS context.
 *
 * One SSL_CTX is built at start-up (certificate and key parsed once) and shared
 * read-only by every worker; each connection gets its own SSL on memory BIOs
 * (net/conn.c). TLS 1.2 is the floor, renegotiation is off, X25519 comes first.
 */
#ifndef PIPIT_NET_TLS_H
#define PIPIT_NET_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Returns a new context, or NULL with a message in err. Main thread. */
SSL_CTX *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);

#endif
