/* test_endpoint.c: which device endpoints registration accepts (push/endpoint.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "push/endpoint.h"
#include "util/err.h"

static int check(const char *url, bool allow_http, bool allow_private)
{
    const char *why = NULL;
    int rc = push_endpoint_check(url, allow_http, allow_private, &why);

    assert_true(rc == 0 || (rc == PIPIT_EBAD_REQUEST && why != NULL && why[0] != '\0'));
    return rc;
}

static void test_public_https_endpoints_pass(void **state)
{
    static const char *const ok[] = {
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://push.example.com:8443/x?y=1#z",
        "https://8.8.8.8/x",
        "https://[2001:db8::1]/x",
        "https://172.32.0.1/x",
        "https://100.128.0.1/",
        "https://localhost.example.com/x",
        "HTTPS://Push.Example.COM/x",
        "https://365.de/",                  /* digits first, but a name */
        "https://1e100.de/",
        "https://8.8.8.8./x",
        "https://[2606:4700::1111]/x",
        "https://[2002:808:808::1]/x",      /* 6to4 of a public address */
        "https://[64:ff9b::808:808]/x",     /* NAT64 of a public address */
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(check(ok[i], false, false), 0);
    }
}

static void test_private_addresses_in_every_spelling_are_refused(void **state)
{
    static const char *const refused[] = {
        "https://127.0.0.1/x", "https://127.1/x", "https://2130706433/x",
        "https://0x7f000001/x", "https://0177.0.0.1/x", "https://10.1.2.3/x",
        "https://172.16.0.1/x", "https://172.31.255.255/x", "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data", "https://0.0.0.0/x",
        "https://100.64.0.1/x", "https://224.0.0.1/x", "https://255.255.255.255/x",
        "https://[::1]/x", "https://[::]/x", "https://[fe80::1]/x", "https://[fc00::1]/x",
        "https://[fd12::1]/x", "https://[::ffff:127.0.0.1]/x", "https://[::ffff:10.0.0.1]:443/x",
        "https://[ff02::1]/x", "https://localhost/x", "https://LOCALHOST:8080/x",
        "https://localhost./x", "https://a.b.localhost/x",
        "https://0x7f.0x0.0x0.0x1/x", "https://198.18.0.1/x", "https://[64:ff9b::a00:1]/x",
        "https://[64:ff9b:1::1]/x", "https://[2002:a00:1::]/x", "https://[::ffff:0:a00:1]/x",
        "https://[2001:0:4136:e378::1]/x", "https://[100::1]/x", "https://ip6-localhost/x",
        "https://ip6-loopback/x", "https://localhost.localdomain/x",
    };

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(check(refused[i], false, false), PIPIT_EBAD_REQUEST);
        assert_int_equal(check(refused[i], false, true), 0); /* allowed by config */
    }
}

static void test_malformed_urls_are_refused_whatever_the_config(void **state)
{
    static const char *const bad[] = {
        "", "push.example.com/x", "ftp://push.example.com/x", "https://", "https:///x",
        "https://user:pw@push.example.com/x", "https://push.example.com@127.0.0.1/x",
        "https://a\\@b/x", "https://push.example.com:/x", "https://push.example.com:99999/x",
        "https://push.example.com:80a/x", "https://[::1/x", "https://push example.com/x",
        "https://push.example.com/\x01", "https://push.example.com/\xc3\xa9",
        "https://%31%32%37.0.0.1/x", "https://loc%61lhost/x", "https://a_b.example.com/x",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(check(bad[i], true, true), PIPIT_EBAD_REQUEST);
    }
}

static void test_a_number_that_is_no_address_is_refused(void **state)
{
    assert_int_equal(check("https://999.1.1.1/x", false, false), PIPIT_EBAD_REQUEST);
    assert_int_equal(check("https://1.2.3.256/x", false, false), PIPIT_EBAD_REQUEST);
}

static void test_http_needs_config(void **state)
{
    assert_int_equal(check("http://push.example.com/x", false, false), PIPIT_EBAD_REQUEST);
    assert_int_equal(check("http://push.example.com/x", true, false), 0);
    assert_int_equal(check("http://127.0.0.1:8080/x", true, false), PIPIT_EBAD_REQUEST);
    assert_int_equal(check("http://127.0.0.1:8080/x", true, true), 0);
}

static void test_length_cap(void **state)
{
    char url[PUSH_ENDPOINT_MAX + 2];
    size_t prefix = strlen("https://push.example.com/");

    memcpy(url, "https://push.example.com/", prefix);
    memset(url + prefix, 'a', PUSH_ENDPOINT_MAX - prefix);
    url[PUSH_ENDPOINT_MAX] = '\0';
    assert_int_equal(check(url, false, false), 0);
    url[PUSH_ENDPOINT_MAX] = 'a';
    url[PUSH_ENDPOINT_MAX + 1] = '\0';
    assert_int_equal(check(url, false, false), PIPIT_EBAD_REQUEST);
}

static void test_connected_address_check(void **state)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    struct sockaddr_in6 b = { .sin6_family = AF_INET6 };

    inet_pton(AF_INET, "93.184.216.34", &a.sin_addr);
    assert_false(push_address_is_private((struct sockaddr *)&a));
    inet_pton(AF_INET, "192.168.0.10", &a.sin_addr);
    assert_true(push_address_is_private((struct sockaddr *)&a));
    inet_pton(AF_INET6, "2606:4700::1111", &b.sin6_addr);
    assert_false(push_address_is_private((struct sockaddr *)&b));
    inet_pton(AF_INET6, "::ffff:169.254.169.254", &b.sin6_addr);
    assert_true(push_address_is_private((struct sockaddr *)&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_https_endpoints_pass),
        cmocka_unit_test(test_private_addresses_in_every_spelling_are_refused),
        cmocka_unit_test(test_malformed_urls_are_refused_whatever_the_config),
        cmocka_unit_test(test_a_number_that_is_no_address_is_refused),
        cmocka_unit_test(test_http_needs_config),
        cmocka_unit_test(test_length_cap),
        cmocka_unit_test(test_connected_address_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
