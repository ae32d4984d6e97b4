/* test_proto.c: session protocol frames (proto/proto.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "util/err.h"

static int decode(const char *text, struct proto_frame *f, const char **why)
{
    *why = NULL;
    return proto_decode(text, strlen(text), f, why);
}

static void expect_bad(const char *text)
{
    struct proto_frame f;
    const char *why = NULL;

    if (decode(text, &f, &why) != PIPIT_EBAD_REQUEST) {
        fail_msg("accepted: %s", text);
    }
    if (why == NULL || why[0] == '\0') {
        fail_msg("no reason for: %s", text);
    }
    proto_frame_free(&f);
}

static void test_string_id(void **state)
{
    struct proto_frame f;
    const char *why;

    assert_int_equal(decode("{\"id\":\"a1\",\"op\":\"auth\",\"token\":\"x\"}", &f, &why), 0);
    assert_true(json_is_string(f.id));
    assert_string_equal(json_string_value(f.id), "a1");
    assert_string_equal(f.op, "auth");
    assert_string_equal(json_string_value(json_object_get(f.root, "token")), "x");
    proto_frame_free(&f);
    assert_null(f.root);
    assert_null(f.id);
    assert_null(f.op);
}

static void test_integer_id(void **state)
{
    struct proto_frame f;
    const char *why;

    assert_int_equal(decode("{\"op\":\"ping\",\"id\":42}", &f, &why), 0);
    assert_true(json_is_integer(f.id));
    assert_int_equal(json_integer_value(f.id), 42);
    assert_string_equal(f.op, "ping");
    proto_frame_free(&f);
    assert_int_equal(decode("{\"op\":\"ping\",\"id\":-7}", &f, &why), 0);
    proto_frame_free(&f);
    assert_int_equal(decode("{\"op\":\"ping\",\"id\":0}", &f, &why), 0);
    proto_frame_free(&f);
}

static void test_id_length_bounds(void **state)
{
    struct proto_frame f;
    const char *why;
    char text[512];
    char id[PROTO_ID_MAX + 2];

    memset(id, 'i', sizeof(id));
    id[PROTO_ID_MAX] = '\0'; /* 128: fine */
    snprintf(text, sizeof(text), "{\"id\":\"%s\",\"op\":\"x\"}", id);
    assert_int_equal(decode(text, &f, &why), 0);
    proto_frame_free(&f);
    id[PROTO_ID_MAX] = 'i'; /* 129: too long */
    id[PROTO_ID_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "{\"id\":\"%s\",\"op\":\"x\"}", id);
    assert_int_equal(decode(text, &f, &why), PIPIT_EBAD_REQUEST);
    assert_null(f.id);
    proto_frame_free(&f);
}

static void test_op_length_bounds(void **state)
{
    struct proto_frame f;
    const char *why;
    char text[512];
    char op[PROTO_OP_MAX + 2];

    memset(op, 'o', sizeof(op));
    op[PROTO_OP_MAX] = '\0';
    snprintf(text, sizeof(text), "{\"id\":1,\"op\":\"%s\"}", op);
    assert_int_equal(decode(text, &f, &why), 0);
    proto_frame_free(&f);
    op[PROTO_OP_MAX] = 'o';
    op[PROTO_OP_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "{\"id\":1,\"op\":\"%s\"}", op);
    assert_int_equal(decode(text, &f, &why), PIPIT_EBAD_REQUEST);
    proto_frame_free(&f);
}

static void test_bad_frames(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "{",
        "{\"id\":1,\"op\":\"x\"",
        "{\"id\":1,\"op\":\"x\"} trailing",
        "[]",
        "[{\"id\":1,\"op\":\"x\"}]",
        "\"string\"",
        "42",
        "null",
        "true",
        "{}",
        "{\"op\":\"x\"}",                       /* missing id */
        "{\"id\":\"\",\"op\":\"x\"}",           /* empty id */
        "{\"id\":1.5,\"op\":\"x\"}",            /* float id */
        "{\"id\":1e3,\"op\":\"x\"}",
        "{\"id\":{},\"op\":\"x\"}",             /* object id */
        "{\"id\":[1],\"op\":\"x\"}",
        "{\"id\":true,\"op\":\"x\"}",           /* bool id */
        "{\"id\":false,\"op\":\"x\"}",
        "{\"id\":null,\"op\":\"x\"}",
        "{\"id\":1}",                           /* missing op */
        "{\"id\":1,\"op\":\"\"}",               /* empty op */
        "{\"id\":1,\"op\":7}",                  /* op wrong type */
        "{\"id\":1,\"op\":null}",
        "{\"id\":1,\"op\":[\"x\"]}",
        "{\"id\":1,\"op\":{\"x\":1}}",
        "{\"id\":1,\"op\":true}",
        "{\"id\":1,\"op\":\"x\",\"op\":\"y\"}", /* duplicate keys */
        "{\"id\":1,\"id\":2,\"op\":\"x\"}",
        "{\"id\":\"a\\u0000b\",\"op\":\"x\"}",  /* NUL inside a string */
        "{\"id\":1,\"op\":\"x\",\"v\":NaN}",
        "{\"id\":1,\"op\":\"\xff\"}",           /* invalid UTF-8 */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_bad(bad[i]);
    }
}

static void test_embedded_nul_rejected(void **state)
{
    static const char text[] = "{\"id\":1,\"op\":\"x\"}\0{\"id\":2}";
    struct proto_frame f;
    const char *why;

    assert_int_equal(proto_decode(text, sizeof(text) - 1, &f, &why), PIPIT_EBAD_REQUEST);
    proto_frame_free(&f);
}

static void test_id_kept_when_op_bad(void **state)
{
    struct proto_frame f;
    const char *why;

    /* The error answer must be able to name the request it refuses. */
    assert_int_equal(decode("{\"id\":\"req-9\"}", &f, &why), PIPIT_EBAD_REQUEST);
    assert_non_null(f.id);
    assert_string_equal(json_string_value(f.id), "req-9");
    assert_null(f.op);
    assert_non_null(strstr(why, "op"));
    proto_frame_free(&f);

    assert_int_equal(decode("{\"id\":5,\"op\":5}", &f, &why), PIPIT_EBAD_REQUEST);
    assert_non_null(f.id);
    assert_int_equal(json_integer_value(f.id), 5);
    proto_frame_free(&f);
}

static void test_id_null_when_invalid(void **state)
{
    struct proto_frame f;
    const char *why;

    assert_int_equal(decode("{\"id\":1.5,\"op\":\"x\"}", &f, &why), PIPIT_EBAD_REQUEST);
    assert_null(f.id);
    assert_non_null(strstr(why, "id"));
    proto_frame_free(&f);
    assert_int_equal(decode("garbage", &f, &why), PIPIT_EBAD_REQUEST);
    assert_null(f.id);
    assert_null(f.root);
    proto_frame_free(&f); /* safe on a failed decode */
}

static void test_proto_ok_shape(void **state)
{
    json_t *id = json_string("r1");
    json_t *msg = proto_ok(id, json_pack("{s:i}", "n", 3));
    char *text;

    assert_non_null(msg);
    text = json_dumps(msg, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"ok\":{\"n\":3},\"re\":\"r1\"}");
    free(text);
    json_decref(msg);
    /* id was copied (or referenced), not stolen. */
    assert_string_equal(json_string_value(id), "r1");
    json_decref(id);

    msg = proto_ok(NULL, NULL);
    text = json_dumps(msg, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"ok\":{},\"re\":null}");
    free(text);
    json_decref(msg);
}

static void test_proto_error_shape(void **state)
{
    json_t *id = json_integer(7);
    json_t *msg = proto_error(id, PIPIT_EUNKNOWN_OP, NULL);
    char *text;

    text = json_dumps(msg, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text,
                        "{\"error\":{\"code\":\"unknown_op\",\"message\":\"unknown op\"},\"re\":7}");
    free(text);
    json_decref(msg);
    json_decref(id);

    msg = proto_error(NULL, PIPIT_EBAD_REQUEST, "\"id\" is missing");
    text = json_dumps(msg, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"error\":{\"code\":\"bad_request\",\"message\":\"\\\"id\\\" "
                              "is missing\"},\"re\":null}");
    free(text);
    json_decref(msg);
}

static void test_decode_then_answer(void **state)
{
    struct proto_frame f;
    const char *why;
    json_t *ans;

    assert_int_equal(decode("{\"id\":\"q\",\"op\":\"nope\"}", &f, &why), 0);
    ans = proto_error(f.id, PIPIT_EUNKNOWN_OP, NULL);
    proto_frame_free(&f); /* the answer must not depend on the frame */
    assert_string_equal(json_string_value(json_object_get(ans, "re")), "q");
    json_decref(ans);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_id),
        cmocka_unit_test(test_integer_id),
        cmocka_unit_test(test_id_length_bounds),
        cmocka_unit_test(test_op_length_bounds),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_embedded_nul_rejected),
        cmocka_unit_test(test_id_kept_when_op_bad),
        cmocka_unit_test(test_id_null_when_invalid),
        cmocka_unit_test(test_proto_ok_shape),
        cmocka_unit_test(test_proto_error_shape),
        cmocka_unit_test(test_decode_then_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
