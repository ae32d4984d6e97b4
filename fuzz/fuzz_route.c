/*
 * fuzz_route.c: the router's path matching and query numbers (src/api/route_path.h).
 *
 * The input is "pattern\npath\nquery". Matching never reads or writes out of
 * bounds, captures only segments without '/', and a match rebuilt from the
 * pattern and its parameters gives back the path; query numbers are non-negative
 * integers or a bad_request; a decoded ?q= is a string no longer than the query,
 * or a bad_request.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/route_path.h"
#include "fuzz.h"
#include "util/err.h"

/* Rebuilds the path a match stands for: the pattern with each "{}" replaced. */
static void rebuild(const char *pattern, char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX],
                    char *out, size_t cap)
{
    size_t o = 0;
    int n = 0;

    while (*pattern != '\0' && o + ROUTE_PARAM_MAX < cap) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t len = strlen(params[n]);

            memcpy(out + o, params[n++], len);
            o += len;
            pattern += 2;
        } else {
            out[o++] = *pattern++;
        }
    }
    out[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX];
    char *pattern, *path, *query, *nl;
    const char *why = NULL;
    json_t *args;
    const char *key;
    json_t *v;

    memcpy(text, data, size);
    text[size] = '\0';
    pattern = text;
    path = (nl = strchr(pattern, '\n')) != NULL ? (*nl = '\0', nl + 1) : pattern + strlen(pattern);
    query = (nl = strchr(path, '\n')) != NULL ? (*nl = '\0', nl + 1) : path + strlen(path);

    if (route_match(pattern, path, params)) {
        char back[4096];

        for (int i = 0; i < ROUTE_MAX_PARAMS; i++) {
            CHECK(strlen(params[i]) < ROUTE_PARAM_MAX && strchr(params[i], '/') == NULL);
        }
        if (strlen(pattern) + ROUTE_MAX_PARAMS * ROUTE_PARAM_MAX < sizeof(back)) {
            rebuild(pattern, params, back, sizeof(back));
            CHECK(strcmp(back, path) == 0);
        }
    }
    {
        int64_t id = route_id(path);

        CHECK(id >= 0);
        CHECK(id == 0 || strspn(path, "0123456789") == strlen(path));
    }
    args = json_object();
    if (route_query_numbers(query, args, &why) == 0) {
        json_object_foreach(args, key, v) {
            CHECK(json_is_integer(v) && json_integer_value(v) >= 0);
        }
    } else {
        CHECK(why != NULL);
    }
    json_decref(args);
    args = json_object();
    why = NULL;
    if (route_query_text(query, "q", args, &why) == 0) {
        v = json_object_get(args, "q");
        /* A string jansson took, so valid UTF-8 without NUL, and never longer than its source. */
        CHECK(v == NULL || (json_is_string(v) && json_string_length(v) <= strlen(query) &&
                            strlen(json_string_value(v)) == json_string_length(v)));
    } else {
        CHECK(why != NULL && json_object_get(args, "q") == NULL);
    }
    json_decref(args);
    free(text);
    return 0;
}
