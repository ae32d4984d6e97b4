/* test_filter.c: the sensitive-word filter (filter/filter.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter/filter.h"

static struct filter *make(void)
{
    static const char *const words[] = { "fuck", "ass", "傻逼", "bad word", "法轮", "shit", "spam" };
    static const enum filter_action actions[] = { FILTER_MASK, FILTER_MASK, FILTER_MASK,
                                                  FILTER_REJECT, FILTER_REJECT, FILTER_MASK,
                                                  FILTER_FLAG };
    static const char *const lists[] = { "rude", "rude", "rude", "banned", "banned", "rude",
                                         "review" };

    return filter_new(words, actions, lists, 7);
}

static enum filter_action check(const struct filter *f, const char *text, char **masked,
                                struct filter_hit *hit)
{
    return filter_check(f, text, strlen(text), masked, hit);
}

static void expect_mask(const struct filter *f, const char *text, const char *want)
{
    struct filter_hit hit;
    char *masked;

    assert_int_equal(check(f, text, &masked, &hit), FILTER_MASK);
    assert_non_null(masked);
    assert_string_equal(masked, want);
    assert_string_equal(hit.list, "rude");
    free(masked);
}

static void expect_none(const struct filter *f, const char *text)
{
    struct filter_hit hit;
    char *masked;

    assert_int_equal(check(f, text, &masked, &hit), FILTER_NONE);
    assert_null(masked);
}

static void test_masks_with_normalisation(void **state)
{
    struct filter *f = make();

    expect_mask(f, "what the fuck", "what the ***");
    expect_mask(f, "FuCk you", "*** you");
    expect_mask(f, "ｆｕｃｋ!", "***!");                /* full-width */
    expect_mask(f, "f.u-c k this", "*** this");         /* separators inside */
    expect_mask(f, "f\xe2\x80\x8buck", "***");          /* zero-width space */
    expect_mask(f, "你是傻逼吗", "你是***吗");
    expect_mask(f, "你是傻 逼吗", "你是***吗");          /* a space between Chinese characters */
    expect_mask(f, "shit, fuck and ass", "***, *** and ***");
    expect_none(f, "fuckshitty");               /* a word inside a longer word */
    expect_mask(f, "fuck-shit", "***-***");
    filter_free(f);
}

static void test_word_boundaries(void **state)
{
    struct filter *f = make();

    expect_none(f, "a class of its own");   /* "ass" inside a word */
    expect_none(f, "assess the spammer");   /* "spam" inside "spammer" */
    expect_none(f, "");
    expect_mask(f, "ass", "***");
    expect_mask(f, "(ass)", "(***)");
    filter_free(f);
}

static void test_strictest_action_wins(void **state)
{
    struct filter *f = make();
    struct filter_hit hit;
    char *masked;

    assert_int_equal(check(f, "fuck this bad word", &masked, &hit), FILTER_REJECT);
    assert_null(masked);
    assert_string_equal(hit.list, "banned");
    assert_string_equal(hit.word, "bad word");
    assert_int_equal(check(f, "badword", &masked, &hit), FILTER_REJECT); /* no space needed */
    assert_int_equal(check(f, "法 轮", &masked, &hit), FILTER_REJECT);
    assert_int_equal(check(f, "法.轮*功", &masked, &hit), FILTER_REJECT);
    /* Chinese sentence punctuation ends a word: no match across it. */
    assert_int_equal(check(f, "方法，轮到你了", &masked, &hit), FILTER_NONE);
    assert_int_equal(check(f, "方法。轮到你了", &masked, &hit), FILTER_NONE);
    assert_int_equal(check(f, "buy spam now", &masked, &hit), FILTER_FLAG);
    assert_null(masked);
    assert_string_equal(hit.list, "review");
    assert_string_equal(hit.word, "spam");
    assert_int_equal(check(f, "spam and shit", &masked, &hit), FILTER_MASK);
    assert_string_equal(masked, "spam and ***");
    free(masked);
    filter_free(f);
}

static void test_overlaps_and_bad_bytes(void **state)
{
    static const char *const words[] = { "一二三", "二三四", "三四" };
    static const enum filter_action actions[] = { FILTER_MASK, FILTER_MASK, FILTER_MASK };
    static const char *const lists[] = { "l", "l", "l" };
    struct filter *f = filter_new(words, actions, lists, 3);
    struct filter_hit hit;
    char *masked;

    /* Overlapping matches are masked as one. */
    assert_int_equal(check(f, "一二三四 e", &masked, &hit), FILTER_MASK);
    assert_string_equal(masked, "*** e");
    free(masked);
    /* Bytes that are not UTF-8 stay as they were and separate nothing. */
    assert_int_equal(check(f, "x 一二三\xff\xfe 三四 y", &masked, &hit), FILTER_MASK);
    assert_string_equal(masked, "x ***\xff\xfe *** y");
    free(masked);
    filter_free(f);
    /* No words: nothing matches. */
    f = filter_new(NULL, NULL, NULL, 0);
    expect_none(f, "anything");
    filter_free(f);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_lists_on_disk_and_reload(void **state)
{
    char dir[] = "/tmp/pipit-filter-XXXXXX", path[256], err[256];
    struct filter_set *s;
    struct filter_hit hit;
    char *masked;

    assert_non_null(mkdtemp(dir));
    s = filter_set_new(dir);
    assert_int_equal(filter_set_reload(s, err, sizeof(err)), 0); /* no lists yet */
    assert_int_equal(filter_set_check(s, 1, "fuck", 4, &masked, &hit), FILTER_NONE);

    snprintf(path, sizeof(path), "%s/rude.mask.txt", dir);
    write_file(path, "# words to hide\nfuck\n\n  shit  \n");
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    write_file(path, "ignored\n");
    snprintf(path, sizeof(path), "%s/2", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/2/local.reject.txt", dir);
    write_file(path, "acme secret\n");
    assert_int_equal(filter_set_reload(s, err, sizeof(err)), 1);
    assert_int_equal(filter_set_reload(s, err, sizeof(err)), 0); /* unchanged */
    assert_int_equal(filter_set_words(s), 3);

    assert_int_equal(filter_set_check(s, 1, "oh shit", 7, &masked, &hit), FILTER_MASK);
    assert_string_equal(masked, "oh ***");
    free(masked);
    /* App 2's list applies to app 2 only. */
    assert_int_equal(filter_set_check(s, 1, "acme secret", 11, &masked, &hit), FILTER_NONE);
    assert_int_equal(filter_set_check(s, 2, "the acme secret, shit", 21, &masked, &hit),
                     FILTER_REJECT);
    assert_string_equal(hit.list, "local");
    assert_null(masked);

    /* A change is seen at the next reload. */
    snprintf(path, sizeof(path), "%s/rude.mask.txt", dir);
    write_file(path, "darn\n");
    assert_int_equal(filter_set_reload(s, err, sizeof(err)), 1);
    assert_int_equal(filter_set_check(s, 1, "oh shit", 7, &masked, &hit), FILTER_NONE);
    assert_int_equal(filter_set_check(s, 1, "darn", 4, &masked, &hit), FILTER_MASK);
    free(masked);

    unlink(path);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/2/local.reject.txt", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/2", dir);
    rmdir(path);
    assert_int_equal(filter_set_reload(s, err, sizeof(err)), 1); /* all gone */
    assert_int_equal(filter_set_check(s, 1, "darn", 4, &masked, &hit), FILTER_NONE);
    rmdir(dir);
    filter_set_free(&s);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_with_normalisation),
        cmocka_unit_test(test_word_boundaries),
        cmocka_unit_test(test_strictest_action_wins),
        cmocka_unit_test(test_overlaps_and_bad_bytes),
        cmocka_unit_test(test_lists_on_disk_and_reload),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
