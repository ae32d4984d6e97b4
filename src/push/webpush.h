/*
 * webpush.h: Web Push message encryption (RFC 8291, "aes128gcm" of RFC 8188).
 *
 * Each message gets a fresh sender key pair and salt, agrees a secret with the
 * subscriber's key (ECDH P-256) mixed with the subscription's auth secret, and
 * goes out as one record: salt, record size, the sender's public key, then the
 * AES-128-GCM ciphertext of the payload and its 0x02 delimiter. Only the
 * browser that subscribed can read it; the push service sees nothing.
 * Thread-safe: each thread keeps a key generator and a P-256 template.
 */
#ifndef PIPIT_PUSH_WEBPUSH_H
#define PIPIT_PUSH_WEBPUSH_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define WEBPUSH_KEY_LEN 65      /* an uncompressed P-256 point */
#define WEBPUSH_AUTH_LEN 16
#define WEBPUSH_SALT_LEN 16
#define WEBPUSH_HEADER_LEN (WEBPUSH_SALT_LEN + 4 + 1 + WEBPUSH_KEY_LEN)
/* Body = header + plaintext + delimiter + tag. */
#define WEBPUSH_OVERHEAD (WEBPUSH_HEADER_LEN + 1 + 16)
/* Push services must take 4096 bytes of body (RFC 8030 §7.2). */
#define WEBPUSH_PLAINTEXT_MAX (4096 - WEBPUSH_OVERHEAD)

/*
 * Encrypts len bytes (at most WEBPUSH_PLAINTEXT_MAX) for the subscription whose
 * keys are ua_public and auth; out holds len + WEBPUSH_OVERHEAD bytes. Returns
 * the body's length, or -1 (a key that is not a point on the curve, too long).
 */
long webpush_encrypt(const uint8_t ua_public[WEBPUSH_KEY_LEN],
                     const uint8_t auth[WEBPUSH_AUTH_LEN], const uint8_t *plain, size_t len,
                     uint8_t *out);
/* The same with the sender's key pair and the salt given (the RFC's test vector). */
long webpush_encrypt_with(EVP_PKEY *sender, const uint8_t salt[WEBPUSH_SALT_LEN],
                          const uint8_t ua_public[WEBPUSH_KEY_LEN],
                          const uint8_t auth[WEBPUSH_AUTH_LEN], const uint8_t *plain, size_t len,
                          uint8_t *out);
/* Frees what this thread set up for webpush_encrypt (call before it exits). */
void webpush_thread_end(void);
/* A P-256 key from its raw public point and, if not NULL, its 32-byte private scalar. */
EVP_PKEY *webpush_p256_key(const uint8_t pub[WEBPUSH_KEY_LEN], const uint8_t *priv32);

#endif
