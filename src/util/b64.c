#include "util/b64.h"

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t encode(char *out, const uint8_t *in, size_t n, const char *alpha, int pad)
{
    size_t o = 0;
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        if (i + 1 < n) {
            out[o++] = alpha[(v >> 6) & 63];
        } else if (pad) {
            out[o++] = '=';
        }
        if (pad) {
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return o;
}

size_t b64_encode(char *out, const uint8_t *in, size_t n)
{
    return encode(out, in, n, b64_std, 1);
}

size_t b64url_encode(char *out, const uint8_t *in, size_t n)
{
    return encode(out, in, n, b64_url, 0);
}

static int sextet(char c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

static long decode(uint8_t *out, size_t cap, const char *in, size_t n, int url)
{
    uint32_t acc = 0;
    size_t o = 0;
    size_t i;
    int bits = 0;

    if (!url) {
        /* Padded form: length is a multiple of 4 and at most two '='. */
        if (n % 4 != 0) {
            return -1;
        }
        if (n > 0 && in[n - 1] == '=') {
            n--;
            if (in[n - 1] == '=') {
                n--;
            }
        }
    } else if (n % 4 == 1) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        int v = sextet(in[i], url);

        if (v < 0) {
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) {
                return -1;
            }
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero, or two encodings would decode alike. */
    if ((acc & ((1u << bits) - 1)) != 0) {
        return -1;
    }
    return (long)o;
}

long b64_decode(uint8_t *out, size_t cap, const char *in, size_t n)
{
    return decode(out, cap, in, n, 0);
}

long b64url_decode(uint8_t *out, size_t cap, const char *in, size_t n)
{
    return decode(out, cap, in, n, 1);
}
