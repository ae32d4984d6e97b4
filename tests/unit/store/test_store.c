/* test_store.c: the SQLite store (store/store.h), against a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/migrations.h"
#include "store/store.h"
#include "store/store_chat.h"
#include "util/err.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
#define NOW 1700000000000LL

struct fixture {
    char dir[64];
    struct store_conn *sc;
};

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[512];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];

    snprintf(f->dir, sizeof(f->dir), "/tmp/pipit-test-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    if (store_open(f->dir, STORE_READ_WRITE, 2, NULL, &f->sc, err, sizeof(err)) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(&f->sc);
    rm_dir(f->dir);
    free(f);
    return 0;
}

static int64_t add_user(struct store_conn *sc, const char *name)
{
    int64_t id = -1;

    assert_int_equal(store_user_insert(sc, STORE_DEFAULT_APP, name, HASH, "user", NOW, &id), 0);
    assert_true(id > 0);
    return id;
}

/* Runs one query with a single integer answer on a side connection. */
static int64_t query_int(const char *dir, const char *sql)
{
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t v = -1;

    snprintf(path, sizeof(path), "%s/pipit.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void test_migrations_applied(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(query_int(f->dir, "SELECT max(version) FROM schema_migrations"),
                     migrations[migrations_count - 1].version);
    assert_int_equal(query_int(f->dir, "SELECT count(*) FROM schema_migrations"),
                     (int64_t)migrations_count);
    assert_int_equal(query_int(f->dir, "SELECT count(*) FROM apps WHERE id = 1"), 1);
    /* WAL mode is set on the file. */
    {
        char path[128];
        sqlite3 *db;
        sqlite3_stmt *s;

        snprintf(path, sizeof(path), "%s/pipit.db", f->dir);
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
}

static void test_reopen_does_not_reapply(void **state)
{
    struct fixture *f = *state;
    char err[256];

    add_user(f->sc, "keeper");
    store_close(&f->sc);
    assert_null(f->sc);
    assert_int_equal(store_open(f->dir, STORE_READ_WRITE, 1, NULL, &f->sc, err, sizeof(err)), 0);
    assert_int_equal(query_int(f->dir, "SELECT count(*) FROM schema_migrations"),
                     (int64_t)migrations_count);
    {
        struct store_user u;

        assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "keeper", &u), 0);
        assert_string_equal(u.username, "keeper");
        assert_string_equal(u.password_hash, HASH);
    }
}

static void test_open_fails_cleanly(void **state)
{
    struct store_conn *sc = (struct store_conn *)(uintptr_t)0x1;
    char err[256] = "";

    assert_int_equal(store_open("/nonexistent/dir/for/pipit", STORE_READ_WRITE, 0, NULL, &sc, err,
                                sizeof(err)),
                     PIPIT_ESTORE);
    assert_true(sc == (struct store_conn *)(uintptr_t)0x1); /* untouched */
    assert_true(err[0] != '\0');
}

static void test_read_only_needs_existing_db(void **state)
{
    struct store_conn *sc = NULL;
    char dir[] = "/tmp/pipit-test-store-empty-XXXXXX";
    char err[256] = "";

    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(dir, STORE_READ_ONLY, 0, NULL, &sc, err, sizeof(err)), PIPIT_ESTORE);
    assert_null(sc);
    rm_dir(dir);
}

static void test_user_insert_and_lookup(void **state)
{
    struct fixture *f = *state;
    struct store_user u;
    int64_t id, admin;
    int64_t count = -1;

    id = add_user(f->sc, "Alice");
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "root", HASH, "admin", NOW + 5,
                                       &admin),
                     0);
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "Alice", &u), 0);
    assert_int_equal(u.id, id);
    assert_int_equal(u.app_id, STORE_DEFAULT_APP);
    assert_string_equal(u.username, "Alice");
    assert_string_equal(u.role, "user");
    assert_false(u.has_display_name);
    assert_string_equal(u.display_name, "");
    assert_int_equal(u.created_at, NOW);
    /* Names match case-insensitively and keep their original spelling. */
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "alice", &u), 0);
    assert_string_equal(u.username, "Alice");
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "ALICE", &u), 0);

    assert_int_equal(store_user_by_id(f->sc, admin, &u), 0);
    assert_string_equal(u.username, "root");
    assert_string_equal(u.role, "admin");
    assert_int_equal(u.created_at, NOW + 5);

    assert_int_equal(store_user_count(f->sc, &count), 0);
    assert_int_equal(count, 2);
}

static void test_not_found_leaves_out_untouched(void **state)
{
    struct fixture *f = *state;
    struct store_user u, before;

    memset(&u, 0x5a, sizeof(u));
    memcpy(&before, &u, sizeof(u));
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "ghost", &u), PIPIT_ENOT_FOUND);
    assert_int_equal(store_user_by_id(f->sc, 999, &u), PIPIT_ENOT_FOUND);
    assert_int_equal(store_user_by_name(f->sc, 2, "ghost", &u), PIPIT_ENOT_FOUND);
    assert_memory_equal(&u, &before, sizeof(u));
}

static void test_duplicate_username(void **state)
{
    struct fixture *f = *state;
    int64_t id = 12345;

    add_user(f->sc, "Alice");
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "alice", HASH, "user", NOW, &id),
                     PIPIT_EUSERNAME_TAKEN);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "ALICE", HASH, "user", NOW, &id),
                     PIPIT_EUSERNAME_TAKEN);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "Alice", HASH, "user", NOW, &id),
                     PIPIT_EUSERNAME_TAKEN);
    assert_int_equal(id, 12345); /* not written on failure */
    /* The connection is still usable after the constraint error. */
    add_user(f->sc, "alice2");
}

static void test_bad_role_and_app_refused(void **state)
{
    struct fixture *f = *state;
    int64_t id;

    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "x", HASH, "root", NOW, &id),
                     PIPIT_ESTORE);
    assert_int_equal(store_user_insert(f->sc, 99, "y", HASH, "user", NOW, &id), PIPIT_ESTORE);
}

static void test_set_password(void **state)
{
    struct fixture *f = *state;
    struct store_user u;

    add_user(f->sc, "pat");
    assert_int_equal(store_user_set_password(f->sc, STORE_DEFAULT_APP, "PAT", "$new"), 0);
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "pat", &u), 0);
    assert_string_equal(u.password_hash, "$new");
    assert_int_equal(store_user_set_password(f->sc, STORE_DEFAULT_APP, "nobody", "$x"),
                     PIPIT_ENOT_FOUND);
}

struct list_acc {
    char names[8][STORE_USERNAME_MAX + 1];
    int64_t ids[8];
    int n;
    int stop_after;
};

static int collect(void *arg, const struct store_user *u)
{
    struct list_acc *acc = arg;

    snprintf(acc->names[acc->n], sizeof(acc->names[0]), "%s", u->username);
    acc->ids[acc->n] = u->id;
    acc->n++;
    return acc->stop_after != 0 && acc->n >= acc->stop_after;
}

static void test_user_list_order(void **state)
{
    struct fixture *f = *state;
    struct list_acc acc = { .n = 0 };
    static const char *const names[] = { "zed", "amy", "Mike", "bob" };

    for (size_t i = 0; i < 4; i++) {
        add_user(f->sc, names[i]);
    }
    assert_int_equal(store_user_list(f->sc, STORE_DEFAULT_APP, collect, &acc), 0);
    assert_int_equal(acc.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(acc.names[i], names[i]); /* insertion (id) order */
        if (i > 0) {
            assert_true(acc.ids[i] > acc.ids[i - 1]);
        }
    }
    /* The callback can stop the walk. */
    memset(&acc, 0, sizeof(acc));
    acc.stop_after = 2;
    assert_int_equal(store_user_list(f->sc, STORE_DEFAULT_APP, collect, &acc), 0);
    assert_int_equal(acc.n, 2);
    /* Another app sees none of them. */
    memset(&acc, 0, sizeof(acc));
    assert_int_equal(store_user_list(f->sc, 2, collect, &acc), 0);
    assert_int_equal(acc.n, 0);
    /* The statement is reusable after an early stop. */
    memset(&acc, 0, sizeof(acc));
    assert_int_equal(store_user_list(f->sc, STORE_DEFAULT_APP, collect, &acc), 0);
    assert_int_equal(acc.n, 4);
}

static void make_selector(uint8_t sel[STORE_SELECTOR_LEN], uint8_t seed)
{
    for (int i = 0; i < STORE_SELECTOR_LEN; i++) {
        sel[i] = (uint8_t)(seed * 31 + i);
    }
}

static void test_tokens(void **state)
{
    struct fixture *f = *state;
    uint8_t sel[STORE_SELECTOR_LEN], other[STORE_SELECTOR_LEN];
    uint8_t hash[STORE_VERIFIER_HASH_LEN];
    struct store_token t;
    int64_t uid = add_user(f->sc, "tok");
    int64_t tid = -1, tid2 = -1;

    make_selector(sel, 1);
    make_selector(other, 2);
    memset(hash, 0xab, sizeof(hash));
    hash[0] = 0; /* a blob with a NUL byte survives */
    assert_int_equal(store_token_insert(f->sc, STORE_DEFAULT_APP, uid, sel, hash, "phone",
                                        "127.0.0.1", NOW, NOW + 1000, &tid),
                     0);
    assert_true(tid > 0);
    assert_int_equal(store_token_lookup(f->sc, sel, &t), 0);
    assert_int_equal(t.id, tid);
    assert_int_equal(t.last_seen_at, NOW); /* the login's time until seen again */
    assert_int_equal(store_token_touch(f->sc, tid, NOW + 5, NULL), 0);
    assert_int_equal(store_token_lookup(f->sc, sel, &t), 0);
    assert_int_equal(t.last_seen_at, NOW + 5);
    assert_int_equal(t.app_id, STORE_DEFAULT_APP);
    assert_int_equal(t.expires_at, NOW + 1000);
    assert_memory_equal(t.verifier_hash, hash, sizeof(hash));
    assert_int_equal(t.user.id, uid);
    assert_string_equal(t.user.username, "tok");
    assert_int_equal(store_token_lookup(f->sc, other, &t), PIPIT_ENOT_FOUND);

    /* The same selector twice is a storage error, not "username taken". */
    assert_int_equal(store_token_insert(f->sc, STORE_DEFAULT_APP, uid, sel, hash, NULL, NULL,
                                        NOW, NOW + 1000, &tid2),
                     PIPIT_ESTORE);
    assert_int_equal(tid2, -1);
    /* A token for a user that does not exist violates the foreign key. */
    assert_int_equal(store_token_insert(f->sc, STORE_DEFAULT_APP, 9999, other, hash, NULL,
                                        NULL, NOW, NOW + 1000, &tid2),
                     PIPIT_ESTORE);

    assert_int_equal(store_token_delete(f->sc, tid), 0);
    assert_int_equal(store_token_lookup(f->sc, sel, &t), PIPIT_ENOT_FOUND);
    assert_int_equal(store_token_delete(f->sc, tid), 0); /* deleting twice is fine */
}

static void test_token_sweep(void **state)
{
    struct fixture *f = *state;
    uint8_t sel[STORE_SELECTOR_LEN];
    uint8_t hash[STORE_VERIFIER_HASH_LEN] = { 0 };
    struct store_token t;
    int64_t uid = add_user(f->sc, "sweepy");
    int64_t id;
    int deleted = -1;

    /* Expiries NOW-300 .. NOW+300 in steps of 100: three in the past. */
    for (int i = 0; i < 7; i++) {
        make_selector(sel, (uint8_t)(10 + i));
        assert_int_equal(store_token_insert(f->sc, STORE_DEFAULT_APP, uid, sel, hash, NULL,
                                            NULL, NOW - 1000, NOW + (i - 3) * 100, &id),
                         0);
    }
    assert_int_equal(store_token_sweep(f->sc, NOW, 2, &deleted), 0);
    assert_int_equal(deleted, 2); /* the limit holds */
    assert_int_equal(store_token_sweep(f->sc, NOW, 100, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(store_token_sweep(f->sc, NOW, 100, &deleted), 0);
    assert_int_equal(deleted, 0);
    for (int i = 0; i < 7; i++) {
        make_selector(sel, (uint8_t)(10 + i));
        assert_int_equal(store_token_lookup(f->sc, sel, &t), i < 3 ? PIPIT_ENOT_FOUND : 0);
    }
    /* Expiring exactly now is not yet swept (token_matches refuses it anyway). */
    assert_int_equal(query_int(f->dir, "SELECT count(*) FROM tokens"), 4);
}

static void test_mfa(void **state)
{
    struct fixture *f = *state;
    int64_t uid = add_user(f->sc, "mfa");
    uint8_t hashes[3][STORE_RECOVERY_HASH_LEN];
    char policy[STORE_MFA_POLICY_MAX];
    struct store_user u;
    struct store_mfa m;

    memset(hashes, 0, sizeof(hashes));
    for (int i = 0; i < 3; i++) {
        hashes[i][0] = (uint8_t)(i + 1);
    }
    assert_int_equal(store_mfa_get(f->sc, uid, &m), 0);
    assert_string_equal(m.secret, "");
    assert_int_equal(m.enabled_at, 0);
    /* Not begun: nothing to turn on. */
    assert_int_equal(store_mfa_enable(f->sc, uid, NOW, hashes, 3), PIPIT_ECONFLICT);
    assert_int_equal(store_mfa_begin(f->sc, uid, "GEZDGNBVGY3TQOJQ"), 0);
    assert_int_equal(store_mfa_begin(f->sc, uid, "GEZDGNBVGY3TQOJR"), 0); /* begun again */
    assert_int_equal(store_mfa_enable(f->sc, uid, NOW, hashes, 3), 0);
    assert_int_equal(store_mfa_begin(f->sc, uid, "AAAA"), PIPIT_ECONFLICT); /* on: no new secret */
    assert_int_equal(store_mfa_get(f->sc, uid, &m), 0);
    assert_string_equal(m.secret, "GEZDGNBVGY3TQOJR");
    assert_int_equal(m.enabled_at, NOW);
    assert_int_equal(m.codes_left, 3);
    assert_int_equal(store_user_by_id(f->sc, uid, &u), 0);
    assert_int_equal(u.mfa_enabled_at, NOW);
    assert_false(u.mfa_required);

    /* Steps only go forward. */
    assert_int_equal(store_mfa_use_step(f->sc, uid, 10), 0);
    assert_int_equal(store_mfa_use_step(f->sc, uid, 10), PIPIT_ECONFLICT);
    assert_int_equal(store_mfa_use_step(f->sc, uid, 9), PIPIT_ECONFLICT);
    assert_int_equal(store_mfa_use_step(f->sc, uid, 11), 0);

    /* A recovery code works once. */
    assert_int_equal(store_mfa_use_code(f->sc, uid, hashes[1]), 0);
    assert_int_equal(store_mfa_use_code(f->sc, uid, hashes[1]), PIPIT_ENOT_FOUND);
    assert_int_equal(store_mfa_get(f->sc, uid, &m), 0);
    assert_int_equal(m.codes_left, 2);
    /* A new set replaces the old. */
    assert_int_equal(store_mfa_set_codes(f->sc, uid, hashes + 1, 1), 0);
    assert_int_equal(store_mfa_use_code(f->sc, uid, hashes[0]), PIPIT_ENOT_FOUND);
    assert_int_equal(store_mfa_use_code(f->sc, uid, hashes[1]), 0);

    /* The app's policy reaches its users. */
    assert_int_equal(store_app_mfa_policy(f->sc, STORE_DEFAULT_APP, policy), 0);
    assert_string_equal(policy, "off");
    assert_int_equal(store_app_set_mfa_policy(f->sc, STORE_DEFAULT_APP, "admins"), 0);
    assert_int_equal(store_user_by_id(f->sc, uid, &u), 0);
    assert_false(u.mfa_required); /* a user, not an admin */
    assert_int_equal(store_app_set_mfa_policy(f->sc, STORE_DEFAULT_APP, "all"), 0);
    assert_int_equal(store_user_by_id(f->sc, uid, &u), 0);
    assert_true(u.mfa_required);
    assert_int_equal(store_app_set_mfa_policy(f->sc, STORE_DEFAULT_APP, "some"), PIPIT_ESTORE);

    assert_int_equal(store_mfa_clear(f->sc, uid), 0);
    assert_int_equal(store_mfa_get(f->sc, uid, &m), 0);
    assert_string_equal(m.secret, "");
    assert_int_equal(m.enabled_at, 0);
    assert_int_equal(m.codes_left, 0);
}

static void test_read_only_sees_committed(void **state)
{
    struct fixture *f = *state;
    struct store_conn *ro = NULL;
    struct store_user u;
    char err[256];
    int64_t id;

    assert_int_equal(store_open(f->dir, STORE_READ_ONLY, 0, NULL, &ro, err, sizeof(err)), 0);
    assert_int_equal(store_begin(f->sc), 0);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "pending", HASH, "user", NOW,
                                       &id),
                     0);
    /* Not visible before COMMIT... */
    assert_int_equal(store_user_by_name(ro, STORE_DEFAULT_APP, "pending", &u), PIPIT_ENOT_FOUND);
    assert_int_equal(store_commit(f->sc), 0);
    /* ...visible after. */
    assert_int_equal(store_user_by_name(ro, STORE_DEFAULT_APP, "pending", &u), 0);
    assert_int_equal(u.id, id);
    /* A read-only connection cannot write. */
    assert_int_equal(store_user_insert(ro, STORE_DEFAULT_APP, "nope", HASH, "user", NOW, &id),
                     PIPIT_ESTORE);
    store_close(&ro);
    assert_null(ro);
}

static void test_rollback(void **state)
{
    struct fixture *f = *state;
    struct store_user u;
    int64_t id;

    assert_int_equal(store_begin(f->sc), 0);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "gone", HASH, "user", NOW, &id),
                     0);
    assert_int_equal(store_rollback(f->sc), 0);
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "gone", &u), PIPIT_ENOT_FOUND);
}

static void test_savepoint_rollback_keeps_outer(void **state)
{
    struct fixture *f = *state;
    struct store_user u;
    int64_t id;

    /* The writer's batch: each job in its own savepoint of one transaction. */
    assert_int_equal(store_begin(f->sc), 0);

    assert_int_equal(store_savepoint(f->sc), 0);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "first", HASH, "user", NOW, &id),
                     0);
    assert_int_equal(store_release(f->sc), 0);

    assert_int_equal(store_savepoint(f->sc), 0);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "second", HASH, "user", NOW,
                                       &id),
                     0);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "FIRST", HASH, "user", NOW, &id),
                     PIPIT_EUSERNAME_TAKEN);
    assert_int_equal(store_rollback_savepoint(f->sc), 0);

    assert_int_equal(store_savepoint(f->sc), 0);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "third", HASH, "user", NOW, &id),
                     0);
    assert_int_equal(store_release(f->sc), 0);

    assert_int_equal(store_commit(f->sc), 0);

    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "first", &u), 0);
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "second", &u), PIPIT_ENOT_FOUND);
    assert_int_equal(store_user_by_name(f->sc, STORE_DEFAULT_APP, "third", &u), 0);
    assert_int_equal(query_int(f->dir, "SELECT count(*) FROM users"), 2);
}

static void test_commit_without_begin_fails(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_commit(f->sc), PIPIT_ESTORE);
    assert_non_null(store_errmsg(f->sc));
    assert_int_equal(store_release(f->sc), PIPIT_ESTORE);
    /* Still usable. */
    add_user(f->sc, "after");
}

/* ---- The search queue (store_search_flush) ---- */

static int count_result(void *arg, const struct store_event *ev, const char *snippet)
{
    (*(int *)arg)++;
    return 0;
}

static int hits(struct store_conn *sc, int64_t user, const char *word)
{
    char match[128];
    int n = 0;
    struct store_search_query q = { .user_id = user, .words = match,
                                    .limit = 100, .window = 100 };

    snprintf(match, sizeof(match), "{text name} : (\"%s\")", word);
    assert_int_equal(store_search(sc, &q, count_result, &n), 0);
    return n;
}

static int64_t add_message(struct store_conn *sc, int64_t conv, int64_t seq, int64_t from,
                           const char *text)
{
    char body[128];
    struct store_event ev = { .conv_id = conv, .seq = seq, .kind = "message", .sender = from,
                              .ts = NOW, .body = body };

    snprintf(body, sizeof(body), "{\"type\":\"text\",\"text\":\"%s\"}", text);
    assert_int_equal(store_event_insert(sc, &ev), 0);
    return ev.id;
}

/* Nothing is left queued, and the index holds exactly what the messages do (FTS5's own check). */
static void assert_index_in_step(struct fixture *f)
{
    assert_int_equal(query_int(f->dir, "SELECT count(*) FROM search_queue"), 0);
    assert_int_equal(store_begin(f->sc), 0);
    assert_int_equal(store_search_check(f->sc), 0);
    assert_int_equal(store_commit(f->sc), 0);
}

/* A group conversation that owner made and is the owner of. */
static int64_t add_group(struct store_conn *sc, int64_t owner)
{
    struct store_conv conv = { .app_id = STORE_DEFAULT_APP, .created_by = owner,
                               .created_at = NOW, .last_ts = NOW };

    snprintf(conv.type, sizeof(conv.type), "group");
    assert_int_equal(store_conv_insert(sc, &conv, NULL), 0);
    assert_int_equal(store_member_join(sc, conv.id, owner, "owner", 1, NOW), 0);
    return conv.id;
}

/*
 * Changes queued in one batch leave each message indexed once, as it is at the
 * flush: sent then edited, sent then recalled, edited twice, and one that was
 * indexed before the batch.
 */
static void test_search_queue_in_one_batch(void **state)
{
    struct fixture *f = *state;
    int64_t u = add_user(f->sc, "ana");
    int64_t conv;
    bool rebuilt;

    assert_int_equal(store_search_enable(f->sc, true, &rebuilt), 0);
    assert_int_equal(store_begin(f->sc), 0);
    conv = add_group(f->sc, u);
    add_message(f->sc, conv, 1, u, "old words");
    assert_int_equal(store_search_flush(f->sc), 0);
    assert_int_equal(store_commit(f->sc), 0);
    assert_int_equal(hits(f->sc, u, "old"), 1);

    assert_int_equal(store_begin(f->sc), 0);
    add_message(f->sc, conv, 2, u, "draft");
    assert_int_equal(store_event_set_body(f->sc, conv, 2,
                                          "{\"type\":\"text\",\"text\":\"final\"}", NOW, NULL), 0);
    add_message(f->sc, conv, 3, u, "oops");
    assert_int_equal(store_event_recall(f->sc, conv, 3), 0);
    assert_int_equal(store_event_set_body(f->sc, conv, 1,
                                          "{\"type\":\"text\",\"text\":\"middle\"}", NOW, NULL), 0);
    assert_int_equal(store_event_set_body(f->sc, conv, 1,
                                          "{\"type\":\"text\",\"text\":\"new words\"}", NOW, NULL), 0);
    /* Nothing changes in the index before the flush. */
    assert_int_equal(hits(f->sc, u, "old"), 1);
    assert_int_equal(store_search_flush(f->sc), 0);
    assert_int_equal(store_commit(f->sc), 0);

    assert_int_equal(hits(f->sc, u, "old"), 0);
    assert_int_equal(hits(f->sc, u, "middle"), 0);
    assert_int_equal(hits(f->sc, u, "new"), 1);
    assert_int_equal(hits(f->sc, u, "words"), 1);
    assert_int_equal(hits(f->sc, u, "draft"), 0);
    assert_int_equal(hits(f->sc, u, "final"), 1);
    assert_int_equal(hits(f->sc, u, "oops"), 0);
    assert_index_in_step(f);
}

/*
 * New messages reach the index by id, past indexed_upto. Deleting the newest
 * events frees their ids for the next messages: those are queued, so the index
 * drops the old entries and holds the new ones, once each.
 */
static void test_search_reused_ids(void **state)
{
    struct fixture *f = *state;
    int64_t u = add_user(f->sc, "ana");
    int64_t convs[2];
    struct store_event notice = { .seq = 3, .kind = "member", .sender = u, .ts = NOW,
                                  .meta = "{\"action\":\"joined\"}" };
    int64_t gone;
    bool rebuilt;

    assert_int_equal(store_search_enable(f->sc, true, &rebuilt), 0);
    assert_int_equal(store_begin(f->sc), 0);
    for (int i = 0; i < 2; i++) {
        convs[i] = add_group(f->sc, u);
    }
    notice.conv_id = convs[1];
    add_message(f->sc, convs[0], 2, u, "kept");
    gone = add_message(f->sc, convs[1], 2, u, "doomed");
    assert_int_equal(store_event_insert(f->sc, &notice), 0);
    assert_int_equal(store_search_flush(f->sc), 0);
    assert_int_equal(store_commit(f->sc), 0);
    assert_int_equal(hits(f->sc, u, "doomed"), 1);

    /*
     * The newest events go with their conversation, and the next messages take
     * their ids: the message's (queued by its deletion) and the notice's (by
     * nothing but store_event_insert).
     */
    assert_int_equal(store_begin(f->sc), 0);
    assert_int_equal(store_conv_delete(f->sc, convs[1], NOW), 0);
    assert_int_equal(add_message(f->sc, convs[0], 3, u, "phoenix"), gone);
    assert_int_equal(add_message(f->sc, convs[0], 4, u, "second"), notice.id);
    /* Stored and recalled in one batch: never in the index, nothing to remove. */
    add_message(f->sc, convs[0], 5, u, "fleeting");
    assert_int_equal(store_event_recall(f->sc, convs[0], 5), 0);
    assert_int_equal(store_search_flush(f->sc), 0);
    assert_int_equal(store_commit(f->sc), 0);

    assert_int_equal(hits(f->sc, u, "doomed"), 0);
    assert_int_equal(hits(f->sc, u, "phoenix"), 1);
    assert_int_equal(hits(f->sc, u, "second"), 1);
    assert_int_equal(hits(f->sc, u, "fleeting"), 0);
    assert_int_equal(hits(f->sc, u, "kept"), 1);
    assert_int_equal(query_int(f->dir, "SELECT indexed_upto FROM search_layout"), notice.id + 1);
    assert_index_in_step(f);
}

/*
 * A search finds a word in the user's conversations and in no other, whether
 * they are few (listed in the MATCH: up to 200) or many (told apart by the join
 * alone), and no longer in one the user left.
 */
static void test_search_across_conversations(void **state)
{
    struct fixture *f = *state;
    int64_t u = add_user(f->sc, "ana"), v = add_user(f->sc, "bob");
    int64_t convs[211]; /* the last: u never joins it */
    bool rebuilt;

    assert_int_equal(store_search_enable(f->sc, true, &rebuilt), 0);
    assert_int_equal(store_begin(f->sc), 0);
    for (int i = 0; i < 211; i++) {
        convs[i] = add_group(f->sc, v);
        add_message(f->sc, convs[i], 1, v, "hello there");
    }
    add_message(f->sc, convs[0], 2, v, "needle");
    add_message(f->sc, convs[210], 2, v, "needle");
    assert_int_equal(store_search_flush(f->sc), 0);
    assert_int_equal(store_commit(f->sc), 0);
    for (int i = 0; i < 210; i++) {
        assert_int_equal(hits(f->sc, u, "hello"), i < 100 ? i : 100); /* the window */
        assert_int_equal(store_member_join(f->sc, convs[i], u, "member", 1, NOW), 0);
        if (i == 0 || i == 199 || i == 200 || i == 209) {
            assert_int_equal(hits(f->sc, u, "needle"), 1);
        }
    }
    assert_int_equal(hits(f->sc, v, "needle"), 2);
    assert_int_equal(store_member_leave(f->sc, convs[0], u, 3), 0);
    assert_int_equal(hits(f->sc, u, "needle"), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_migrations_applied),
        T(test_search_queue_in_one_batch),
        T(test_search_reused_ids),
        T(test_search_across_conversations),
        T(test_reopen_does_not_reapply),
        cmocka_unit_test(test_open_fails_cleanly),
        cmocka_unit_test(test_read_only_needs_existing_db),
        T(test_user_insert_and_lookup),
        T(test_not_found_leaves_out_untouched),
        T(test_duplicate_username),
        T(test_bad_role_and_app_refused),
        T(test_set_password),
        T(test_user_list_order),
        T(test_tokens),
        T(test_token_sweep),
        T(test_mfa),
        T(test_read_only_sees_committed),
        T(test_rollback),
        T(test_savepoint_rollback_keeps_outer),
        T(test_commit_without_begin_fails),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
