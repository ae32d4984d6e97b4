/*
 * fuzz_config.c: the INI config loader and the option table (src/config/config.h),
 * and what is parsed from settings later: rate_limit_exempt (net/limits.c).
 *
 * The input is a config file. Loading may fail half-way; either way the struct
 * stays valid, validates without crashing and frees everything it owns. The
 * limits are made from it or refused with a message, and answer for any address.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "config/config.h"
#include "net/limits.h"
#include "util/metrics.h"

static struct metrics metrics;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[256];
    char *text;

    if (size > 64 * 1024) {
        return 0;
    }
    text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    config_init(&cfg);
    err[0] = '\0';
    if (config_load_string(&cfg, text, err, sizeof(err)) != 0 && err[0] == '\0') {
        abort(); /* a failure always says why */
    }
    config_validate(&cfg, err, sizeof(err));
    /* Every string field is still a string. */
    if (cfg.listen == NULL || cfg.data_dir == NULL || cfg.tls_cert == NULL ||
        cfg.tls_key == NULL || cfg.allowed_origins == NULL || cfg.web_root == NULL) {
        abort();
    }
    err[0] = '\0';
    struct limits *l = limits_new(&cfg, &metrics, err, sizeof(err));
    if (l == NULL && err[0] == '\0') {
        abort();
    }
    if (l != NULL) {
        struct limit_addr a;

        limits_addr(l, cfg.listen, &a);
        limits_addr(l, "::ffff:10.0.0.1", &a);
        limits_free(&l);
    }
    config_cleanup(&cfg);
    free(text);
    return 0;
}
