#include "auth/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/bytes.h"
#include "util/err.h"

static const char upper32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char lower32[] = "abcdefghijklmnopqrstuvwxyz234567";

#define RECOVERY_LEN 10         /* bytes: 80 bits, 16 base32 characters */
#define RECOVERY_CHARS 16

/* n bytes (a multiple of 5) as 8n/5 base32 characters of alphabet. */
static void base32_encode(char *out, const uint8_t *in, size_t n, const char *alphabet)
{
    for (size_t i = 0; i < n; i += 5) {
        uint64_t v = bytes_get_be(in + i, 5);

        for (int k = 0; k < 8; k++) {
            *out++ = alphabet[(v >> (35 - 5 * k)) & 31];
        }
    }
    *out = '\0';
}

/* The value of a base32 character, either case; -1 for anything else. */
static int base32_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a';
    }
    return c >= '2' && c <= '7' ? c - '2' + 26 : -1;
}

/* Base32 text (no padding) into at most cap bytes; the byte count, or -1. */
static int base32_decode(uint8_t *out, size_t cap, const char *text)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    for (; *text != '\0'; text++) {
        int v = base32_value(*text);

        if (v < 0) {
            return -1;
        }
        acc = acc << 5 | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            if (n == cap) {
                return -1;
            }
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (int)n;
}

void totp_secret_new(char text[TOTP_SECRET_TEXT_LEN + 1])
{
    uint8_t key[TOTP_SECRET_LEN];

    randombytes_buf(key, sizeof(key));
    base32_encode(text, key, sizeof(key), upper32);
    sodium_memzero(key, sizeof(key));
}

int totp_code(const char *secret, int64_t step, uint32_t *code)
{
    uint8_t key[64], msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int keylen = base32_decode(key, sizeof(key), secret);
    uint32_t bin;

    if (keylen <= 0) {
        return PIPIT_EBAD_REQUEST;
    }
    bytes_put_be(msg, (uint64_t)step, 8);
    if (HMAC(EVP_sha1(), key, keylen, msg, sizeof(msg), mac, &maclen) == NULL || maclen < 20) {
        sodium_memzero(key, sizeof(key));
        return PIPIT_EINTERNAL;
    }
    sodium_memzero(key, sizeof(key));
    /* RFC 4226 §5.3: dynamic truncation. */
    bin = (uint32_t)bytes_get_be(mac + (mac[maclen - 1] & 0x0f), 4) & 0x7fffffff;
    *code = bin % 1000000;
    return 0;
}

int64_t totp_match(const char *secret, const char *code, int64_t now_ms, int64_t last_step)
{
    char given[TOTP_DIGITS + 1];
    int64_t now_step = now_ms / TOTP_PERIOD_MS, found = 0;
    size_t n = 0;

    for (; *code != '\0'; code++) {
        if (*code == ' ') {
            continue;
        }
        if (*code < '0' || *code > '9' || n == TOTP_DIGITS) {
            return 0;
        }
        given[n++] = *code;
    }
    if (n != TOTP_DIGITS) {
        return 0;
    }
    given[n] = '\0';
    for (int64_t step = now_step - 1; step <= now_step + 1; step++) {
        char expect[TOTP_DIGITS + 1];
        uint32_t v;

        if (totp_code(secret, step, &v) != 0) {
            return 0;
        }
        snprintf(expect, sizeof(expect), "%06u", v);
        if (secret_equal(expect, given, TOTP_DIGITS) && step > last_step && found == 0) {
            found = step;
        }
    }
    return found;
}

/* RFC 3986 unreserved characters stay; everything else is %XX. */
static size_t percent_encode(char *out, size_t cap, const char *s)
{
    size_t n = 0;

    for (; *s != '\0' && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[n++] = (char)c;
        } else {
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
        }
    }
    out[n] = '\0';
    return n;
}

void totp_uri(char out[TOTP_URI_MAX], const char *issuer, const char *account,
              const char *secret)
{
    char is[3 * 64 + 1], acc[3 * STORE_USERNAME_MAX + 1];

    percent_encode(is, sizeof(is), issuer);
    percent_encode(acc, sizeof(acc), account);
    snprintf(out, TOTP_URI_MAX, "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1"
             "&digits=%d&period=%d", is, acc, secret, is, TOTP_DIGITS, TOTP_PERIOD_MS / 1000);
}

static void recovery_hash(const char chars[RECOVERY_CHARS], uint8_t hash[STORE_RECOVERY_HASH_LEN])
{
    static const char domain[] = "pipit-recovery-code-v1";

    crypto_generichash(hash, STORE_RECOVERY_HASH_LEN, (const uint8_t *)chars, RECOVERY_CHARS,
                       (const uint8_t *)domain, sizeof(domain) - 1);
}

void recovery_code_new(char text[RECOVERY_CODE_TEXT_LEN + 1],
                       uint8_t hash[STORE_RECOVERY_HASH_LEN])
{
    uint8_t raw[RECOVERY_LEN];
    char chars[RECOVERY_CHARS + 1];

    randombytes_buf(raw, sizeof(raw));
    base32_encode(chars, raw, sizeof(raw), lower32);
    recovery_hash(chars, hash);
    snprintf(text, RECOVERY_CODE_TEXT_LEN + 1, "%.4s-%.4s-%.4s-%.4s", chars, chars + 4,
             chars + 8, chars + 12);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(chars, sizeof(chars));
}

int recovery_code_hash(const char *text, uint8_t hash[STORE_RECOVERY_HASH_LEN])
{
    char chars[RECOVERY_CHARS];
    size_t n = 0;

    for (; *text != '\0'; text++) {
        int v = base32_value(*text);

        if (*text == '-' || *text == ' ') {
            continue;
        }
        if (v < 0 || n == RECOVERY_CHARS) {
            return PIPIT_EBAD_REQUEST;
        }
        chars[n++] = lower32[v];
    }
    if (n != RECOVERY_CHARS) {
        return PIPIT_EBAD_REQUEST;
    }
    recovery_hash(chars, hash);
    sodium_memzero(chars, sizeof(chars));
    return 0;
}
