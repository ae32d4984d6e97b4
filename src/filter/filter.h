/*
 * filter.h: the sensitive-word filter for message text and group titles.
 *
 * Word lists are files `<list>.<action>.txt` (one word per line, '#' starts a
 * comment, UTF-8) in content_filter_dir, which apply to every app, and in its
 * subdirectory `<app id>/`, which apply to that app too. The action of a list:
 * `reject` (the text is refused: content_blocked), `mask` (each match becomes
 * "***") or `flag` (kept as it is, and listed for an admin to review). A word in
 * several lists takes the strictest action.
 *
 * Matching is Aho–Corasick over normalised text, so a 10,000-word list costs a
 * text one pass: case folded (Latin, Greek, Cyrillic), full-width forms taken
 * as their ASCII, and everything that is not a letter or a digit (spaces,
 * punctuation, zero-width characters) skipped, so "F.u-ck" and "ｆｕｃｋ" match
 * "fuck" and Chinese matches with symbols between its characters; Chinese
 * sentence punctuation (，。！？；：、) ends a match. A word that
 * begins or ends with a Latin letter or digit matches only at word boundaries,
 * so "ass" does not flag "class".
 *
 * A struct filter is immutable once built; filter_set_reload() builds a new one
 * when a list file changed and swaps it in: a check holds the one it started
 * with. Thread-safe.
 */
#ifndef PIPIT_FILTER_FILTER_H
#define PIPIT_FILTER_FILTER_H

#include <stddef.h>
#include <stdint.h>

/* In order of strictness. */
enum filter_action { FILTER_NONE, FILTER_FLAG, FILTER_MASK, FILTER_REJECT };

#define FILTER_LIST_MAX 64      /* a list's name, from its file name */
#define FILTER_WORD_MAX 64      /* characters of one word, normalised */

/* What a check found: the strictest action and the list and word that caused it. */
struct filter_hit {
    enum filter_action action;
    char list[FILTER_LIST_MAX + 1];
    char word[4 * FILTER_WORD_MAX + 1];
};

struct filter;

/* Builds a matcher from words and their actions (used by tests and benchmarks too). */
struct filter *filter_new(const char *const *words, const enum filter_action *actions,
                          const char *const *lists, size_t n);
void filter_free(struct filter *f);

/*
 * Checks len bytes of UTF-8 text. Returns the strictest action found (hit says
 * which); for FILTER_MASK, *masked is the text with every masked match
 * replaced by "***" (malloc'd; the caller frees it), else NULL.
 */
enum filter_action filter_check(const struct filter *f, const char *text, size_t len,
                                char **masked, struct filter_hit *hit);

/* ---- the server's lists, from content_filter_dir, reloaded when they change ---- */

struct filter_set;

/* An empty set (no list: nothing is filtered) reading dir ("" or missing: none). */
struct filter_set *filter_set_new(const char *dir);
void filter_set_free(struct filter_set **s);
/*
 * Reads the lists again if any file changed since the last time (by name, size
 * and modification time); a list that cannot be read keeps the set as it was.
 * Returns 1 when the set changed, 0 when nothing did, -1 with a message in err.
 */
int filter_set_reload(struct filter_set *s, char *err, size_t errlen);
/* filter_check with the lists for every app and those of app_id. */
enum filter_action filter_set_check(struct filter_set *s, int64_t app_id, const char *text,
                                    size_t len, char **masked, struct filter_hit *hit);
/* How many words the set holds (for the log). */
size_t filter_set_words(struct filter_set *s);

#endif
