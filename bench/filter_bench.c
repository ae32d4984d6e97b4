/*
 * filter_bench.c: what the content filter's scan costs one message, on one core.
 *
 *   pipit-filter-bench WORDS_FILE [MESSAGES]
 *
 * Builds the matcher from WORDS_FILE (one word per line, all "mask"), then checks
 * MESSAGES (default 200,000) chat-like texts of 200 bytes, English-like and
 * Chinese in turn (the load generator's vocabulary), and prints the build time
 * and the CPU time per check. Timed with CLOCK_PROCESS_CPUTIME_ID: neighbours on
 * a shared machine do not count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/filter.h"

static double cpu_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* About 200 bytes of chat-like text, as bench/loadgen.c --words makes it. */
static void fill(char *out, size_t n, unsigned seed, int chinese)
{
    static const char *const en[] = { "meeting", "tomorrow", "report", "please", "check",
                                      "the", "new", "design", "before", "lunch", "thanks",
                                      "budget", "review", "client", "deadline", "call" };
    static const char *const zh[] = { "明天", "开会", "报告", "请", "检查", "新的", "设计",
                                      "午饭", "谢谢", "预算", "客户", "截止", "电话", "北京" };
    size_t o = 0;

    for (unsigned i = seed * 2654435761u;; i = i * 1103515245u + 12345u) {
        const char *w = chinese ? zh[(i >> 16) % 14] : en[(i >> 16) % 16];
        size_t len = strlen(w) + (chinese ? 0 : 1);

        if (o + len > n) {
            break;
        }
        memcpy(out + o, w, strlen(w));
        if (!chinese) {
            out[o + len - 1] = ' ';
        }
        o += len;
    }
    out[o] = '\0';
}

int main(int argc, char **argv)
{
    size_t n = 0, cap = 1024;
    char **words = malloc(cap * sizeof(*words)), line[1024];
    long messages = argc > 2 ? atol(argv[2]) : 200000;
    FILE *fp = argc > 1 ? fopen(argv[1], "r") : NULL;
    char texts[64][256];
    int hits = 0;

    if (fp == NULL || messages <= 0) {
        fprintf(stderr, "usage: pipit-filter-bench WORDS_FILE [MESSAGES]\n");
        return 2;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (n == cap) {
            cap *= 2;
            words = realloc(words, cap * sizeof(*words));
        }
        words[n++] = strdup(line);
    }
    fclose(fp);
    enum filter_action *actions = malloc(n * sizeof(*actions));
    const char **lists = malloc(n * sizeof(*lists));
    for (size_t i = 0; i < n; i++) {
        actions[i] = FILTER_MASK;
        lists[i] = "bench";
    }
    for (int i = 0; i < 64; i++) {
        fill(texts[i], 200, (unsigned)i + 1, i & 1);
    }
    double t0 = cpu_us();
    struct filter *f = filter_new((const char *const *)words, actions, lists, n);
    double t1 = cpu_us();

    for (long m = 0; m < messages; m++) {
        struct filter_hit hit;
        char *masked;
        const char *t = texts[m % 64];

        hits += filter_check(f, t, strlen(t), &masked, &hit) != FILTER_NONE;
        free(masked);
    }
    double t2 = cpu_us();
    printf("RESULT words=%zu build_ms=%.1f check_us=%.2f messages=%ld matched=%d\n", n,
           (t1 - t0) / 1e3, (t2 - t1) / (double)messages, messages, hits);
    filter_free(f);
    return 0;
}
