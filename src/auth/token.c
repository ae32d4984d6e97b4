#include "auth/token.h"

#include <sodium.h>
#include <string.h>

#include "util/b64.h"
#include "util/bytes.h"
#include "util/err.h"

#define SELECTOR_TEXT_LEN 16 /* base64url of 12 bytes */

static void hash_verifier(const uint8_t *verifier, uint8_t out[STORE_VERIFIER_HASH_LEN])
{
    crypto_generichash(out, STORE_VERIFIER_HASH_LEN, verifier, TOKEN_VERIFIER_LEN, NULL, 0);
}

void token_new(char text[TOKEN_TEXT_LEN + 1], struct token_parts *parts)
{
    uint8_t verifier[TOKEN_VERIFIER_LEN];

    randombytes_buf(parts->selector, sizeof(parts->selector));
    randombytes_buf(verifier, sizeof(verifier));
    b64url_encode(text, parts->selector, sizeof(parts->selector));
    b64url_encode(text + SELECTOR_TEXT_LEN, verifier, sizeof(verifier));
    hash_verifier(verifier, parts->verifier_hash);
    sodium_memzero(verifier, sizeof(verifier));
}

int token_parse(const char *text, struct token_parts *parts)
{
    uint8_t verifier[TOKEN_VERIFIER_LEN];

    if (text == NULL || strlen(text) != TOKEN_TEXT_LEN ||
        b64url_decode(parts->selector, sizeof(parts->selector), text, SELECTOR_TEXT_LEN) !=
            STORE_SELECTOR_LEN ||
        b64url_decode(verifier, sizeof(verifier), text + SELECTOR_TEXT_LEN,
                      TOKEN_TEXT_LEN - SELECTOR_TEXT_LEN) != TOKEN_VERIFIER_LEN) {
        return PIPIT_EUNAUTHORIZED;
    }
    hash_verifier(verifier, parts->verifier_hash);
    sodium_memzero(verifier, sizeof(verifier));
    return 0;
}

bool token_matches(const struct token_parts *presented, const struct store_token *stored,
                   int64_t now_ms)
{
    return secret_equal(presented->verifier_hash, stored->verifier_hash,
                        STORE_VERIFIER_HASH_LEN) &&
           stored->expires_at > now_ms;
}
