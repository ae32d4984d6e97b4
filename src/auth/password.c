#include "auth/password.h"

#include <sodium.h>
#include <string.h>

#include "util/err.h"

/* A hash of a random secret nobody knows, made once, for password_burn(). */
static char burn_hash[crypto_pwhash_STRBYTES];

int password_init(void)
{
    char secret[33];

    if (sodium_init() < 0) {
        return PIPIT_EINTERNAL;
    }
    password_random(secret, sizeof(secret) - 1);
    return password_hash(secret, burn_hash);
}

int password_check_username(const char *username)
{
    size_t n = strlen(username);

    if (n < 1 || n > STORE_USERNAME_MAX) {
        return PIPIT_EINVALID_USERNAME;
    }
    for (size_t i = 0; i < n; i++) {
        char c = username[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return PIPIT_EINVALID_USERNAME;
        }
    }
    return 0;
}

int password_check_strength(const char *password)
{
    size_t n = strlen(password);

    if (n < PASSWORD_MIN) {
        return PIPIT_EWEAK_PASSWORD;
    }
    if (n > PASSWORD_MAX) {
        return PIPIT_EBAD_REQUEST;
    }
    return 0;
}

int password_hash(const char *password, char out[STORE_HASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= STORE_HASH_MAX, "hash buffer too small");
    if (crypto_pwhash_str_alg(out, password, strlen(password),
                              crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return PIPIT_ENOMEM;
    }
    return 0;
}

bool password_verify(const char *hash, const char *password)
{
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void password_burn(const char *password)
{
    volatile int sink = crypto_pwhash_str_verify(burn_hash, password, strlen(password));

    (void)sink;
}

void password_random(char *out, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

    for (size_t i = 0; i < len; i++) {
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    }
    out[len] = '\0';
}
