/* test_config.c: the option table and its parsers (config/config.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "util/log.h"

/* Every field of struct config, by its key. */
static const char *const all_keys[] = {
    "listen", "data_dir", "workers", "registration", "tls_cert", "tls_key",
    "allowed_origins", "web_root", "log_level", "sqlite_synchronous", "token_ttl",
    "max_header_count", "max_header_size", "max_url_length", "max_body_size",
    "header_timeout", "idle_timeout", "ws_max_message_size", "ws_send_queue_max",
    "ws_auth_timeout", "ws_ping_interval", "ws_pong_timeout", "login_free_attempts",
    "login_max_delay", "reader_threads", "store_batch_max", "shutdown_timeout",
};

static int setup(void **state)
{
    struct config *cfg = malloc(sizeof(*cfg));

    config_init(cfg);
    *state = cfg;
    return 0;
}

static int teardown(void **state)
{
    config_cleanup(*state);
    free(*state);
    return 0;
}

static void test_defaults_valid(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_validate(cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    assert_string_equal(cfg->data_dir, "./data");
    assert_string_equal(cfg->tls_cert, "");
    assert_string_equal(cfg->tls_key, "");
    assert_string_equal(cfg->allowed_origins, "");
    assert_int_equal(cfg->workers, 0);
    assert_int_equal(cfg->registration, REGISTRATION_CLOSED);
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_int_equal(cfg->sqlite_synchronous, SQLITE_SYNC_FULL);
    assert_int_equal(cfg->token_ttl, 30LL * 86400 * 1000);
    assert_int_equal(cfg->max_header_count, 64);
    assert_int_equal(cfg->max_header_size, 16 * 1024);
    assert_int_equal(cfg->max_url_length, 8 * 1024);
    assert_int_equal(cfg->max_body_size, 1024 * 1024);
    assert_int_equal(cfg->header_timeout, 10000);
    assert_int_equal(cfg->idle_timeout, 60000);
    assert_int_equal(cfg->ws_max_message_size, 1024 * 1024);
    assert_int_equal(cfg->ws_send_queue_max, 4 * 1024 * 1024);
    assert_int_equal(cfg->ws_ping_interval, 30000);
    assert_int_equal(cfg->ws_pong_timeout, 20000);
    assert_int_equal(cfg->login_free_attempts, 5);
    assert_int_equal(cfg->login_max_delay, 60000);
    assert_int_equal(cfg->reader_threads, 2);
    assert_int_equal(cfg->store_batch_max, 2048);
    assert_int_equal(cfg->shutdown_timeout, 5000);
    assert_int_equal(cfg->max_group_members, 10000);
    assert_int_equal(cfg->max_message_size, 64 * 1024);
    assert_int_equal(cfg->recall_window, 2 * 60 * 1000);
}

static void test_init_cleanup_twice(void **state)
{
    struct config c;

    config_init(&c);
    config_cleanup(&c);
    config_init(&c);
    config_cleanup(&c);
}

static void test_set_dashed_and_underscored(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "data_dir", "/var/lib/pipit", err, sizeof(err)), 0);
    assert_string_equal(cfg->data_dir, "/var/lib/pipit");
    assert_int_equal(config_set(cfg, "data-dir", "/srv/pipit", err, sizeof(err)), 0);
    assert_string_equal(cfg->data_dir, "/srv/pipit");
    assert_int_equal(config_set(cfg, "ws-ping-interval", "45s", err, sizeof(err)), 0);
    assert_int_equal(cfg->ws_ping_interval, 45000);
    assert_int_equal(config_set(cfg, "ws_ping-interval", "46s", err, sizeof(err)), 0);
    assert_int_equal(cfg->ws_ping_interval, 46000);
    assert_int_equal(config_set(cfg, "listen", "[::1]:9000", err, sizeof(err)), 0);
    assert_string_equal(cfg->listen, "[::1]:9000");
    assert_int_equal(config_set(cfg, "allowed_origins", "", err, sizeof(err)), 0);
    assert_string_equal(cfg->allowed_origins, "");
}

static void test_unknown_key_rejected(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "no_such_key", "1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no_such_key"));
    err[0] = '\0';
    assert_int_equal(config_set(cfg, "data", "x", err, sizeof(err)), -1);
    assert_true(err[0] != '\0');
    assert_int_equal(config_set(cfg, "data_dir_", "x", err, sizeof(err)), -1);
    assert_int_equal(config_set(cfg, "", "x", err, sizeof(err)), -1);
    assert_string_equal(cfg->data_dir, "./data");
    /* A NULL or zero-length err buffer is allowed. */
    assert_int_equal(config_set(cfg, "nope", "1", NULL, 0), -1);
}

static void test_missing_value(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "workers", NULL, err, sizeof(err)), -1);
    assert_true(err[0] != '\0');
    assert_int_equal(cfg->workers, 0);
}

static void test_sizes(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "max_header_size", "16k", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_header_size, 16384);
    assert_int_equal(config_set(cfg, "max_header_size", "2048", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_header_size, 2048);
    assert_int_equal(config_set(cfg, "max_header_size", "1m", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_header_size, 1048576);
    assert_int_equal(config_set(cfg, "max_body_size", "1M", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_body_size, 1048576);
    assert_int_equal(config_set(cfg, "max_body_size", "2MiB", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_body_size, 2 * 1048576);
    assert_int_equal(config_set(cfg, "max_body_size", "1g", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_body_size, 1024LL * 1048576);
    assert_int_equal(config_set(cfg, "max_body_size", "4096b", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_body_size, 4096);
    assert_int_equal(config_set(cfg, "max_body_size", "64kb", err, sizeof(err)), 0);
    assert_int_equal(cfg->max_body_size, 65536);
}

static void test_durations(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "header_timeout", "500ms", err, sizeof(err)), 0);
    assert_int_equal(cfg->header_timeout, 500);
    assert_int_equal(config_set(cfg, "header_timeout", "10s", err, sizeof(err)), 0);
    assert_int_equal(cfg->header_timeout, 10000);
    assert_int_equal(config_set(cfg, "header_timeout", "5m", err, sizeof(err)), 0);
    assert_int_equal(cfg->header_timeout, 300000);
    assert_int_equal(config_set(cfg, "header_timeout", "7", err, sizeof(err)), 0);
    assert_int_equal(cfg->header_timeout, 7000); /* bare = seconds */
    assert_int_equal(config_set(cfg, "idle_timeout", "1h", err, sizeof(err)), 0);
    assert_int_equal(cfg->idle_timeout, 3600000);
    assert_int_equal(config_set(cfg, "token_ttl", "2h", err, sizeof(err)), 0);
    assert_int_equal(cfg->token_ttl, 7200000);
    assert_int_equal(config_set(cfg, "token_ttl", "30d", err, sizeof(err)), 0);
    assert_int_equal(cfg->token_ttl, 30LL * 86400000);
    assert_int_equal(config_set(cfg, "token_ttl", "3600", err, sizeof(err)), 0);
    assert_int_equal(cfg->token_ttl, 3600000);
}

static void test_enums(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "registration", "open", err, sizeof(err)), 0);
    assert_int_equal(cfg->registration, REGISTRATION_OPEN);
    assert_int_equal(config_set(cfg, "registration", "closed", err, sizeof(err)), 0);
    assert_int_equal(cfg->registration, REGISTRATION_CLOSED);
    assert_int_equal(config_set(cfg, "log_level", "debug", err, sizeof(err)), 0);
    assert_int_equal(cfg->log_level, LOG_DEBUG);
    assert_int_equal(config_set(cfg, "log_level", "error", err, sizeof(err)), 0);
    assert_int_equal(cfg->log_level, LOG_ERROR);
    assert_int_equal(config_set(cfg, "sqlite_synchronous", "off", err, sizeof(err)), 0);
    assert_int_equal(cfg->sqlite_synchronous, SQLITE_SYNC_OFF);
    assert_int_equal(config_set(cfg, "sqlite-synchronous", "normal", err, sizeof(err)), 0);
    assert_int_equal(cfg->sqlite_synchronous, SQLITE_SYNC_NORMAL);

    err[0] = '\0';
    assert_int_equal(config_set(cfg, "registration", "maybe", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "registration"));
    assert_int_equal(cfg->registration, REGISTRATION_CLOSED);
    assert_int_equal(config_set(cfg, "registration", "", err, sizeof(err)), -1);
    assert_int_equal(config_set(cfg, "registration", "open ", err, sizeof(err)), -1);
    assert_int_equal(config_set(cfg, "log_level", "1", err, sizeof(err)), -1);
    assert_int_equal(cfg->log_level, LOG_ERROR);
}

static void test_out_of_range_and_junk(void **state)
{
    static const struct {
        const char *key;
        const char *value;
    } bad[] = {
        { "workers", "257" },          { "workers", "-1" },
        { "workers", "abc" },          { "workers", "" },
        { "workers", "4x" },           { "workers", " 4" },
        { "workers", "4 " },           { "workers", "4k" },
        { "workers", "0x10" },         { "workers", "+4" },
        { "workers", "99999999999999999999999" },
        { "max_header_count", "7" },   { "max_header_count", "1025" },
        { "max_header_size", "1023" }, { "max_header_size", "2m" },
        { "max_header_size", "16q" },  { "max_header_size", "k" },
        { "max_header_size", "16 k" }, { "max_body_size", "9999999999999g" },
        { "header_timeout", "99ms" },  { "header_timeout", "11m" },
        { "header_timeout", "10x" },   { "header_timeout", "1.5s" },
        { "header_timeout", "-10s" },  { "token_ttl", "999ms" },
        { "token_ttl", "3651d" },      { "token_ttl", "9223372036854775807d" },
        { "login_free_attempts", "0" },
        { "reader_threads", "65" },    { "store_batch_max", "100001" },
    };
    struct config *cfg = *state;
    struct config before;

    memcpy(&before, cfg, sizeof(before));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";

        if (config_set(cfg, bad[i].key, bad[i].value, err, sizeof(err)) != -1) {
            fail_msg("%s = '%s' was accepted", bad[i].key, bad[i].value);
        }
        if (err[0] == '\0' || strstr(err, bad[i].key) == NULL) {
            fail_msg("%s = '%s': message '%s' does not name the key", bad[i].key,
                     bad[i].value, err);
        }
    }
    /* Failures change nothing (string pointers included). */
    assert_memory_equal(&before, cfg, sizeof(before));
}

static void test_bounds_inclusive(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "workers", "256", err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "workers", "0", err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "max_header_size", "1k", err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "header_timeout", "100ms", err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "header_timeout", "600s", err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "token_ttl", "1s", err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "token_ttl", "3650d", err, sizeof(err)), 0);
}

static void test_string_too_long(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";
    char *big = malloc(5000);

    memset(big, 'a', 4999);
    big[4999] = '\0';
    assert_int_equal(config_set(cfg, "data_dir", big, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "data_dir"));
    assert_string_equal(cfg->data_dir, "./data");
    free(big);
}

static void test_small_err_buffer_truncates(void **state)
{
    struct config *cfg = *state;
    char err[8];

    memset(err, 'X', sizeof(err));
    assert_int_equal(config_set(cfg, "a_long_unknown_setting", "1", err, sizeof(err)), -1);
    assert_int_equal(strnlen(err, sizeof(err)), sizeof(err) - 1);
}

static void test_load_string(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";
    const char *text =
        "# a comment\n"
        "; another comment\n"
        "listen = 0.0.0.0:9090\n"
        "data-dir = /tmp/pipit-data\n"
        "\n"
        "registration = open\n"
        "max_body_size = 2m\n"
        "ws_ping_interval = 15s\n"
        "header_timeout = 2\n";

    assert_int_equal(config_load_string(cfg, text, err, sizeof(err)), 0);
    assert_string_equal(cfg->listen, "0.0.0.0:9090");
    assert_string_equal(cfg->data_dir, "/tmp/pipit-data");
    assert_int_equal(cfg->registration, REGISTRATION_OPEN);
    assert_int_equal(cfg->max_body_size, 2 * 1048576);
    assert_int_equal(cfg->ws_ping_interval, 15000);
    assert_int_equal(cfg->header_timeout, 2000);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), 0);
}

static void test_load_string_empty(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_load_string(cfg, "", err, sizeof(err)), 0);
    assert_int_equal(config_load_string(cfg, "\n\n# nothing\n", err, sizeof(err)), 0);
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
}

static void test_load_string_syntax_error(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_load_string(cfg, "workers = 2\nthis line is junk\nworkers = 3\n",
                                        err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "line 2"));
    err[0] = '\0';
    assert_int_equal(config_load_string(cfg, "[unterminated\n", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 1"));
}

static void test_load_string_bad_value(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_load_string(cfg, "workers = 2\nmax_body_size = lots\n", err,
                                        sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "max_body_size"));
    err[0] = '\0';
    assert_int_equal(config_load_string(cfg, "bogus = 1\n", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bogus"));
}

static void test_load_string_section_prefixes_key(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    /* Keys inside a section are "section.key", which the table does not know. */
    assert_int_equal(config_load_string(cfg, "[server]\nworkers = 2\n", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "server.workers"));
}

static void test_load_file(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";
    char path[] = "/tmp/pipit-test-config-XXXXXX";
    int fd = mkstemp(path);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("workers = 3\nlog-level = warn\n", f);
    fclose(f);
    assert_int_equal(config_load_file(cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg->workers, 3);
    assert_int_equal(cfg->log_level, LOG_WARN);
    unlink(path);
    assert_int_equal(config_load_file(cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
}

static void test_validate(void **state)
{
    struct config *cfg = *state;
    char err[256] = "";

    assert_int_equal(config_set(cfg, "tls_cert", "/etc/cert.pem", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "tls"));
    assert_int_equal(config_set(cfg, "tls_key", "/etc/key.pem", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "tls_cert", "", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), -1);
    assert_int_equal(config_set(cfg, "tls_key", "", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), 0);

    assert_int_equal(config_set(cfg, "listen", "localhost", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "listen"));
    assert_int_equal(config_set(cfg, "listen", "", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), -1);
    assert_int_equal(config_set(cfg, "listen", "127.0.0.1:0", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "listen", "[::1]:65535", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), 0);
    {
        static const char *const bad_listen[] = {
            "127.0.0.1:65536", "127.0.0.1:99999", ":8080", "127.0.0.1:", "127.0.0.1:http",
            "127.0.0.1:80x", "[::1]", "127.0.0.1:-1",
        };

        for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
            assert_int_equal(config_set(cfg, "listen", bad_listen[i], err, sizeof(err)), 0);
            if (config_validate(cfg, err, sizeof(err)) != -1) {
                fail_msg("listen '%s' validated", bad_listen[i]);
            }
            assert_non_null(strstr(err, "listen"));
        }
    }
    assert_int_equal(config_set(cfg, "listen", "127.0.0.1:8080", err, sizeof(err)), 0);

    assert_int_equal(config_set(cfg, "data_dir", "", err, sizeof(err)), 0);
    assert_int_equal(config_validate(cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "data_dir"));
}

static void test_print_docs_mentions_every_key(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    config_print_docs(f);
    fclose(f);
    assert_true(len > 0);
    for (size_t i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++) {
        char needle[64];

        snprintf(needle, sizeof(needle), "`%s`", all_keys[i]);
        if (strstr(text, needle) == NULL) {
            fail_msg("docs do not mention %s", all_keys[i]);
        }
    }
    /* A secret's default is never shown, but its row is. */
    assert_non_null(strstr(text, "| `tls_key` |"));
    free(text);
}

static void test_every_key_settable(void **state)
{
    struct config *cfg = *state;

    /* Every key in the struct is in the table (unknown keys would say so). */
    for (size_t i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++) {
        char err[256] = "";
        int rc = config_set(cfg, all_keys[i], "", err, sizeof(err));

        if (rc != 0 && strstr(err, "unknown") != NULL) {
            fail_msg("%s: %s", all_keys[i], err);
        }
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults_valid),
        cmocka_unit_test(test_init_cleanup_twice),
        T(test_set_dashed_and_underscored),
        T(test_unknown_key_rejected),
        T(test_missing_value),
        T(test_sizes),
        T(test_durations),
        T(test_enums),
        T(test_out_of_range_and_junk),
        T(test_bounds_inclusive),
        T(test_string_too_long),
        T(test_small_err_buffer_truncates),
        T(test_load_string),
        T(test_load_string_empty),
        T(test_load_string_syntax_error),
        T(test_load_string_bad_value),
        T(test_load_string_section_prefixes_key),
        T(test_load_file),
        T(test_validate),
        T(test_print_docs_mentions_every_key),
        T(test_every_key_settable),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
