/*
 * fuzz_config.c: the INI config loader and the option table (src/config/config.h).
 *
 * The input is a config file. Loading may fail half-way; either way the struct
 * stays valid, validates without crashing and frees everything it owns.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "config/config.h"

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
    config_cleanup(&cfg);
    free(text);
    return 0;
}
