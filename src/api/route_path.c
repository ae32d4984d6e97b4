/*
 * route_path.c: see route_path.h.
 */
#include "api/route_path.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/mem.h"

bool route_match(const char *pattern, const char *path,
                 char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX])
{
    int n = 0;

    for (int i = 0; i < ROUTE_MAX_PARAMS; i++) {
        params[i][0] = '\0';
    }
    while (*pattern != '\0' && *path != '\0') {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t len = strcspn(path, "/");

            if (len == 0 || len >= ROUTE_PARAM_MAX || n == ROUTE_MAX_PARAMS) {
                return false;
            }
            memcpy(params[n], path, len);
            params[n++][len] = '\0';
            pattern += 2;
            path += len;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

int64_t route_id(const char *s)
{
    int64_t v = 0;

    if (*s == '\0' || strlen(s) > 18) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return 0;
        }
        v = v * 10 + (*s - '0');
    }
    return v;
}

int route_query_numbers(const char *query, json_t *args, const char **why)
{
    static const char *const keys[] = { "after", "before", "limit" };
    const char *q = query;

    while (*q != '\0') {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);

        for (size_t i = 0; eq != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
            size_t klen = strlen(keys[i]);
            size_t nlen = len - (size_t)(eq + 1 - q);
            char num[20];

            if ((size_t)(eq - q) != klen || strncmp(q, keys[i], klen) != 0) {
                continue;
            }
            /* At most 18 digits: always within int64_t. */
            if (nlen == 0 || nlen > 18 || strspn(eq + 1, "0123456789") < nlen) {
                *why = "after, before and limit must be non-negative integers";
                return PIPIT_EBAD_REQUEST;
            }
            memcpy(num, eq + 1, nlen);
            num[nlen] = '\0';
            json_object_set_new(args, keys[i], json_integer(strtoll(num, NULL, 10)));
        }
        q += len;
        if (*q == '&') {
            q++;
        }
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    return (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
}

/* Decodes form-encoded text of n bytes into out (n + 1 bytes); -1 on a bad escape or a NUL. */
static long query_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (in[i] == '+') {
            out[o++] = ' ';
        } else if (in[i] != '%') {
            out[o++] = in[i];
        } else if (i + 2 < n && hex_digit(in[i + 1]) >= 0 && hex_digit(in[i + 2]) >= 0) {
            out[o] = (char)(hex_digit(in[i + 1]) << 4 | hex_digit(in[i + 2]));
            if (out[o++] == '\0') {
                return -1;
            }
            i += 2;
        } else {
            return -1;
        }
    }
    out[o] = '\0';
    return (long)o;
}

int route_query_text(const char *query, const char *key, json_t *args, const char **why)
{
    size_t klen = strlen(key);

    for (const char *q = query; *q != '\0';) {
        size_t len = strcspn(q, "&");

        if (len > klen && q[klen] == '=' && strncmp(q, key, klen) == 0) {
            char *text = xmalloc(len);
            long n = query_decode(q + klen + 1, len - klen - 1, text);
            json_t *v = n >= 0 ? json_stringn(text, (size_t)n) : NULL;

            free(text);
            if (v == NULL) {
                *why = "a query parameter is not valid percent-encoded UTF-8 text";
                return PIPIT_EBAD_REQUEST;
            }
            json_object_set_new(args, key, v);
            return 0;
        }
        q += len;
        if (*q == '&') {
            q++;
        }
    }
    return 0;
}

int route_query_id(const char *query, const char *key, json_t *args, const char **why)
{
    json_t *found = json_object();
    int rc = route_query_text(query, key, found, why);
    const char *text = json_string_value(json_object_get(found, key));

    if (rc == 0 && text != NULL) {
        size_t n = strlen(text);

        if (n == 0 || n > 18 || strspn(text, "0123456789") != n) {
            *why = "a numeric query parameter is not a non-negative integer";
            rc = PIPIT_EBAD_REQUEST;
        } else {
            json_object_set_new(args, key, json_integer(route_id(text)));
        }
    }
    json_decref(found);
    return rc;
}
