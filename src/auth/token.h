/*
 * token.h: session tokens.
 *
 * A token is 12 random bytes of selector and 24 of verifier (288 bits), sent as
 * 48 base64url characters. The store keeps the selector (to find the row) and a
 * BLAKE2b hash of the verifier; the presented verifier's hash is compared in
 * constant time. A leaked database therefore holds no usable token, and a lookup
 * leaks no timing about the secret part. Thread-safe.
 */
#ifndef PIPIT_AUTH_TOKEN_H
#define PIPIT_AUTH_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define TOKEN_VERIFIER_LEN 24
#define TOKEN_TEXT_LEN 48
/* An API key is this prefix and then a token's text (same parts, own table). */
#define TOKEN_KEY_PREFIX "pk_"

struct token_parts {
    uint8_t selector[STORE_SELECTOR_LEN];
    uint8_t verifier_hash[STORE_VERIFIER_HASH_LEN];
};

/* Makes a new token: its text (TOKEN_TEXT_LEN + NUL) and what the store keeps. */
void token_new(char text[TOKEN_TEXT_LEN + 1], struct token_parts *parts);
/* Splits presented text; 0, or PIPIT_EUNAUTHORIZED when malformed. */
int token_parse(const char *text, struct token_parts *parts);
/* Constant-time check of a presented token against the stored row. */
bool token_matches(const struct token_parts *presented, const struct store_token *stored,
                   int64_t now_ms);

#endif
