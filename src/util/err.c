#include "util/err.h"

#include <stddef.h>

struct err_info {
    int status;
    const char *code;
    const char *msg;
};

static const struct err_info err_table[] = {
#define XX(name, status, code, msg) { status, code, msg },
    PIPIT_ERR_MAP(XX)
#undef XX
};

static const struct err_info *err_lookup(int err)
{
    int i = err - PIPIT__ERR_BASE - 1;

    if (i < 0 || (size_t)i >= sizeof(err_table) / sizeof(err_table[0])) {
        return &err_table[PIPIT_EINTERNAL - PIPIT__ERR_BASE - 1];
    }
    return &err_table[i];
}

const char *pipit_strerror(int err)
{
    return err == 0 ? "ok" : err_lookup(err)->msg;
}

const char *pipit_errcode(int err)
{
    return err == 0 ? "ok" : err_lookup(err)->code;
}

int pipit_errstatus(int err)
{
    return err == 0 ? 200 : err_lookup(err)->status;
}
