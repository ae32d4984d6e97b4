/*
 * route_path.h: the pure parsing behind the router (fuzzed: fuzz/fuzz_route.c).
 *
 * A route pattern is a path whose "{}" segments each match one non-empty segment
 * of the request's (percent-decoded) path and are captured as parameters.
 *
 * Thread-safe: no state.
 */
#ifndef PIPIT_API_ROUTE_PATH_H
#define PIPIT_API_ROUTE_PATH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define ROUTE_MAX_PARAMS 2
#define ROUTE_PARAM_MAX 128     /* bytes of a captured segment, NUL included */

/* Whether path matches pattern; params (all cleared first) get the "{}" segments. */
bool route_match(const char *pattern, const char *path,
                 char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX]);

/* "123" → 123; anything else (a name, 0, a sign, more than 18 digits) → 0. */
int64_t route_id(const char *s);

/*
 * Copies the query's after=, before= and limit= into args as integers (other keys
 * are ignored). PIPIT_EBAD_REQUEST with *why when one is not a plain number.
 */
int route_query_numbers(const char *query, json_t *args, const char **why);

/*
 * Copies the query's first `key`=… into args as a number (a non-negative
 * integer); PIPIT_EBAD_REQUEST with *why for anything else. Nothing set when absent.
 */
int route_query_id(const char *query, const char *key, json_t *args, const char **why);

/*
 * Copies the query's first `key`=… into args as a string, decoded ('+' is a
 * space, %XX a byte). PIPIT_EBAD_REQUEST with *why for a bad escape, a NUL, or
 * bytes that are not UTF-8. Nothing is set when the key is absent.
 */
int route_query_text(const char *query, const char *key, json_t *args, const char **why);

#endif
