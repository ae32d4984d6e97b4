/* test_password.c: username rules, password strength and Argon2id (auth/password.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "util/err.h"

static void test_username_rules(void **state)
{
    char name[80];

    assert_int_equal(password_check_username("alice"), 0);
    assert_int_equal(password_check_username("A"), 0);
    assert_int_equal(password_check_username("Bob.Smith_99-x"), 0);
    assert_int_equal(password_check_username("..."), 0);
    assert_int_equal(password_check_username("0"), 0);

    memset(name, 'a', sizeof(name));
    name[64] = '\0';
    assert_int_equal(password_check_username(name), 0);
    name[64] = 'a';
    name[65] = '\0';
    assert_int_equal(password_check_username(name), PIPIT_EINVALID_USERNAME);

    static const char *const bad[] = {
        "",
        " ",
        "al ice",
        "alice ",
        " alice",
        "al\tice",
        "al\nice",
        "jos\xc3\xa9",            /* é */
        "\xd0\xb0lice",           /* Cyrillic а: a homograph */
        "al\xef\xbc\xa1",         /* fullwidth A */
        "alice\xe2\x80\x8b",      /* zero-width space */
        "a@b",
        "a/b",
        "a\\b",
        "a:b",
        "a+b",
        "a%b",
        "<script>",
        "a'b",
        "a\"b",
        "\x7f",
        "\xff",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (password_check_username(bad[i]) != PIPIT_EINVALID_USERNAME) {
            fail_msg("accepted username '%s'", bad[i]);
        }
    }
}

static void test_strength(void **state)
{
    char *pw = malloc(PASSWORD_MAX + 2);

    assert_int_equal(password_check_strength(""), PIPIT_EWEAK_PASSWORD);
    assert_int_equal(password_check_strength("1234567"), PIPIT_EWEAK_PASSWORD);
    assert_int_equal(password_check_strength("12345678"), 0);
    assert_int_equal(password_check_strength("correct horse battery staple"), 0);
    memset(pw, 'p', PASSWORD_MAX + 1);
    pw[PASSWORD_MAX] = '\0';
    assert_int_equal(password_check_strength(pw), 0);
    pw[PASSWORD_MAX] = 'p';
    pw[PASSWORD_MAX + 1] = '\0';
    assert_int_equal(password_check_strength(pw), PIPIT_EBAD_REQUEST);
    free(pw);
}

static void test_random(void **state)
{
    char a[33], b[33];

    password_random(a, 32);
    password_random(b, 32);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < 32; i++) {
        assert_true((a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= 'a' && a[i] <= 'z') ||
                    (a[i] >= '0' && a[i] <= '9'));
    }
    password_random(a, 0);
    assert_string_equal(a, "");
}

static void test_hash_and_verify(void **state)
{
    char hash[STORE_HASH_MAX];

    /* Argon2id is slow on purpose (~100 ms): one hash, two verifications, plus
     * the one in password_init(). */
    assert_int_equal(password_hash("correct horse", hash), 0);
    assert_true(strncmp(hash, "$argon2id$", 10) == 0);
    assert_true(strlen(hash) < STORE_HASH_MAX);
    assert_true(password_verify(hash, "correct horse"));
    assert_false(password_verify(hash, "correct horsE"));
    /* A corrupt stored hash never verifies. */
    assert_false(password_verify("", "correct horse"));
    assert_false(password_verify("$argon2id$garbage", "correct horse"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username_rules),
        cmocka_unit_test(test_strength),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_hash_and_verify),
    };

    if (password_init() != 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
