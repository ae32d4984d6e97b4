/* test_err.c: the error table (util/err.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "util/err.h"

static void test_ok(void **state)
{
    assert_string_equal(pipit_strerror(0), "ok");
    assert_string_equal(pipit_errcode(0), "ok");
    assert_int_equal(pipit_errstatus(0), 200);
}

static void test_known_codes(void **state)
{
    assert_int_equal(pipit_errstatus(PIPIT_EBAD_REQUEST), 400);
    assert_string_equal(pipit_errcode(PIPIT_EBAD_REQUEST), "bad_request");
    assert_string_equal(pipit_strerror(PIPIT_EBAD_REQUEST), "malformed request");

    assert_int_equal(pipit_errstatus(PIPIT_EUNAUTHORIZED), 401);
    assert_string_equal(pipit_errcode(PIPIT_EUNAUTHORIZED), "unauthorized");
    assert_int_equal(pipit_errstatus(PIPIT_EFORBIDDEN_ORIGIN), 403);
    assert_string_equal(pipit_errcode(PIPIT_EFORBIDDEN_ORIGIN), "forbidden_origin");
    assert_int_equal(pipit_errstatus(PIPIT_ENOT_FOUND), 404);
    assert_int_equal(pipit_errstatus(PIPIT_EMETHOD_NOT_ALLOWED), 405);
    assert_int_equal(pipit_errstatus(PIPIT_EREQUEST_TIMEOUT), 408);
    assert_int_equal(pipit_errstatus(PIPIT_EUSERNAME_TAKEN), 409);
    assert_string_equal(pipit_errcode(PIPIT_EUSERNAME_TAKEN), "username_taken");
    assert_int_equal(pipit_errstatus(PIPIT_EPAYLOAD_TOO_LARGE), 413);
    assert_int_equal(pipit_errstatus(PIPIT_EURI_TOO_LONG), 414);
    assert_int_equal(pipit_errstatus(PIPIT_EUNSUPPORTED_MEDIA_TYPE), 415);
    assert_int_equal(pipit_errstatus(PIPIT_EBAD_WS_VERSION), 426);
    assert_string_equal(pipit_errcode(PIPIT_EBAD_WS_VERSION), "unsupported_websocket_version");
    assert_int_equal(pipit_errstatus(PIPIT_ERATE_LIMITED), 429);
    assert_int_equal(pipit_errstatus(PIPIT_EHEADERS_TOO_LARGE), 431);
    assert_int_equal(pipit_errstatus(PIPIT_EUNAVAILABLE), 503);
    assert_string_equal(pipit_errcode(PIPIT_EUNAVAILABLE), "unavailable");
    /* Internal failures never leak details on the wire. */
    assert_string_equal(pipit_errcode(PIPIT_ESTORE), "internal");
    assert_int_equal(pipit_errstatus(PIPIT_ESTORE), 500);
    assert_string_equal(pipit_strerror(PIPIT_ESTORE), "storage error");
    assert_string_equal(pipit_errcode(PIPIT_ENOMEM), "internal");
    assert_string_equal(pipit_strerror(PIPIT_EAGAIN), "need more input");
}

static void test_every_code_is_negative_and_complete(void **state)
{
    for (int e = PIPIT__ERR_BASE + 1; e < PIPIT__ERR_END; e++) {
        const char *code = pipit_errcode(e);
        int status = pipit_errstatus(e);

        assert_true(e < 0);
        assert_non_null(code);
        assert_non_null(pipit_strerror(e));
        assert_true(strlen(pipit_strerror(e)) > 0);
        assert_true(status >= 400 && status <= 599);
        /* Wire codes are snake_case. */
        assert_true(strlen(code) > 0);
        for (const char *p = code; *p; p++) {
            assert_true(islower((unsigned char)*p) || *p == '_');
        }
    }
}

static void test_unknown_is_internal_500(void **state)
{
    static const int unknown[] = { -1, 1, 42, -1001, PIPIT__ERR_BASE, PIPIT__ERR_END,
                                   PIPIT__ERR_END + 1, -100000, 100000 };

    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_int_equal(pipit_errstatus(unknown[i]), 500);
        assert_string_equal(pipit_errcode(unknown[i]), "internal");
        assert_string_equal(pipit_strerror(unknown[i]), "internal error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_known_codes),
        cmocka_unit_test(test_every_code_is_negative_and_complete),
        cmocka_unit_test(test_unknown_is_internal_500),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
