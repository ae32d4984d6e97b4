/*
 * fuzz_filter.c: the content filter (src/filter/filter.c): word lists and the
 * texts they are matched against, both from untrusted hands (an operator's
 * files, any user's message).
 *
 * The input is words, one per line, then a NUL byte, then a text. Building
 * never fails; a check never reads past the text, and a masked text is the
 * text with spans of at least one byte replaced by "***" (at most three times
 * as long).
 */
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"
#include "fuzz.h"

#define WORDS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t wlen = nul != NULL ? (size_t)(nul - data) : size;
    char *words_text = malloc(wlen + 1), *line, *save = NULL;
    const char *words[WORDS_MAX], *lists[WORDS_MAX];
    enum filter_action actions[WORDS_MAX];
    size_t n = 0, tlen = nul != NULL ? size - wlen - 1 : 0;
    char *text = malloc(tlen + 1), *masked;
    struct filter_hit hit;
    struct filter *f;

    memcpy(words_text, data, wlen);
    words_text[wlen] = '\0';
    for (line = strtok_r(words_text, "\n", &save); line != NULL && n < WORDS_MAX;
         line = strtok_r(NULL, "\n", &save)) {
        words[n] = line;
        lists[n] = "fuzz";
        actions[n] = (enum filter_action)(1 + (unsigned char)line[0] % 3);
        n++;
    }
    memcpy(text, nul != NULL ? nul + 1 : data, tlen);
    text[tlen] = '\0';
    f = filter_new(words, actions, lists, n);
    if (filter_check(f, text, tlen, &masked, &hit) == FILTER_MASK) {
        CHECK(masked != NULL && strlen(masked) <= 3 * tlen);
    } else {
        CHECK(masked == NULL);
    }
    free(masked);
    filter_free(f);
    free(text);
    free(words_text);
    return 0;
}
