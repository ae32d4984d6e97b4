/*
 * migrations.h: the numbered schema migrations, compiled in from
 * src/store/migrations/NNNN_name.sql (see scripts/embed_migrations.cmake).
 */
#ifndef PIPIT_STORE_MIGRATIONS_H
#define PIPIT_STORE_MIGRATIONS_H

#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const size_t migrations_count;

#endif
