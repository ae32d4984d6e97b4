/*
 * route_path.c: see route_path.h.
 */
#include "api/route_path.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

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
