/* test_store_backup.c: database snapshots and checks (store/store_backup.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/migrations.h"
#include "store/store.h"
#include "store/store_backup.h"
#include "store/store_files.h"
#include "util/err.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
#define NOW 1700000000000LL
/* Rows of 2 KiB: about 14 MiB, so the snapshot takes several steps. */
#define FILLER_ROWS 7000
#define STR_(x) #x
#define STR(x) STR_(x)

struct fixture {
    char dir[64];
    char snap[128];
    struct store_conn *sc;
};

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* A fresh data dir with a migrated database open in f->sc. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256] = "";

    snprintf(f->dir, sizeof(f->dir), "/tmp/pipit-test-backup-XXXXXX");
    if (mkdtemp(f->dir) == NULL ||
        store_open(f->dir, STORE_READ_WRITE, 2, NULL, &f->sc, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s %s\n", f->dir, err);
        return -1;
    }
    snprintf(f->snap, sizeof(f->snap), "%s/snapshot.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(&f->sc);
    nftw(f->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

/* The live server's writer, as another connection: every commit keeps filler and tally in step. */
struct writer {
    char path[128];
    atomic_bool stop;
    atomic_long commits;
};

static void *write_on(void *arg)
{
    struct writer *w = arg;
    sqlite3 *db = open_db(w->path);

    while (!atomic_load(&w->stop)) {
        exec(db, "BEGIN IMMEDIATE; INSERT INTO filler (pad) VALUES (randomblob(2000)); "
                 "UPDATE tally SET n = n + 1; COMMIT");
        atomic_fetch_add(&w->commits, 1);
    }
    sqlite3_close(db);
    return NULL;
}

static void test_snapshot_is_one_commit_while_writes_go_on(void **state)
{
    struct fixture *f = *state;
    struct writer w = { 0 };
    struct store_conn *snap = NULL;
    unsigned char header[20];
    struct stat st;
    pthread_t t;
    char err[256] = "";
    sqlite3 *db;
    FILE *fp;
    long before, after;

    snprintf(w.path, sizeof(w.path), "%s/pipit.db", f->dir);
    db = open_db(w.path);
    exec(db, "CREATE TABLE filler (pad BLOB); CREATE TABLE tally (n INTEGER); "
             "INSERT INTO tally VALUES (0)");
    exec(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
             "WHERE i < " STR(FILLER_ROWS) ") "
             "INSERT INTO filler SELECT randomblob(2000) FROM c");
    sqlite3_close(db);
    assert_int_equal(pthread_create(&t, NULL, write_on, &w), 0);
    while (atomic_load(&w.commits) < 20) {
        usleep(1000);
    }
    before = atomic_load(&w.commits);
    /*
     * Each commit would restart a stepped backup that let go of its read
     * transaction between steps: this one would then hardly ever finish.
     */
    assert_int_equal(store_backup_snapshot(f->dir, f->snap, err, sizeof(err)), 0);
    after = atomic_load(&w.commits);
    atomic_store(&w.stop, true);
    pthread_join(t, NULL);

    /* One commit's state: the tally counts exactly the rows written after the filler. */
    db = open_db(f->snap);
    assert_int_equal(query_int(db, "SELECT count(*) FROM filler") - FILLER_ROWS,
                     query_int(db, "SELECT n FROM tally"));
    assert_in_range(query_int(db, "SELECT n FROM tally"), before, after);
    sqlite3_close(db);
    /* A single file in rollback-journal mode (header bytes 18 and 19 are 1), only ours to read. */
    fp = fopen(f->snap, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(header, 1, sizeof(header), fp), sizeof(header));
    fclose(fp);
    assert_int_equal(header[18], 1);
    assert_int_equal(header[19], 1);
    assert_int_equal(stat(f->snap, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(store_backup_open(f->snap, &snap, err, sizeof(err)), 0);
    assert_int_equal(store_backup_check(snap, true, err, sizeof(err)), 0);
    store_close(&snap);
}

static void test_snapshot_refuses_what_it_cannot_do(void **state)
{
    struct fixture *f = *state;
    char err[256] = "", elsewhere[128];
    struct stat st;
    FILE *fp = fopen(f->snap, "w");

    /* The destination exists: left as it was. */
    assert_non_null(fp);
    fputs("mine", fp);
    fclose(fp);
    assert_int_equal(store_backup_snapshot(f->dir, f->snap, err, sizeof(err)), PIPIT_ESTORE);
    assert_non_null(strstr(err, "File exists"));
    assert_int_equal(stat(f->snap, &st), 0);
    assert_int_equal(st.st_size, 4);
    /* No database: nothing made. */
    snprintf(elsewhere, sizeof(elsewhere), "%s/copy.db", f->dir);
    assert_int_equal(store_backup_snapshot("/nonexistent/pipit", elsewhere, err, sizeof(err)),
                     PIPIT_ESTORE);
    assert_non_null(strstr(err, "/nonexistent/pipit/pipit.db"));
    assert_int_equal(access(elsewhere, F_OK), -1);
}

static int note_blob(void *arg, const char *sha256, int64_t size, bool thumb_ready)
{
    char *seen = arg;

    snprintf(seen + strlen(seen), 64, "%.4s:%lld:%d ", sha256, (long long)size, thumb_ready);
    return 0;
}

static void add_blob(struct store_conn *sc, int64_t owner, char c, const char *thumb)
{
    struct store_blob b = { .size = 10, .mime = "text/plain" };
    int64_t id;

    memset(b.sha256, c, STORE_SHA256_HEX);
    snprintf(b.thumb, sizeof(b.thumb), "%s", thumb);
    assert_int_equal(store_blob_insert(sc, &b, NOW), 0);
    assert_int_equal(store_file_insert(sc, STORE_DEFAULT_APP, owner, b.sha256, "f", NOW, &id), 0);
}

static void test_facts_blobs_and_a_damaged_index(void **state)
{
    struct fixture *f = *state;
    struct store_backup_facts facts;
    struct store_conn *snap = NULL;
    char err[256] = "", seen[512] = "";
    int64_t owner;
    sqlite3 *db;

    assert_int_equal(store_begin(f->sc), 0);
    assert_int_equal(store_user_insert(f->sc, STORE_DEFAULT_APP, "owner", HASH, "user", NOW,
                                       &owner),
                     0);
    add_blob(f->sc, owner, 'b', "ready");
    add_blob(f->sc, owner, 'a', "pending");
    assert_int_equal(store_commit(f->sc), 0);
    assert_int_equal(store_backup_snapshot(f->dir, f->snap, err, sizeof(err)), 0);

    assert_int_equal(store_backup_open(f->snap, &snap, err, sizeof(err)), 0);
    assert_int_equal(store_backup_facts(snap, &facts, err, sizeof(err)), 0);
    assert_int_equal(facts.schema_version, store_backup_schema_latest());
    assert_int_equal(store_backup_schema_latest(), migrations[migrations_count - 1].version);
    assert_int_equal(facts.users, 1);
    assert_int_equal(facts.files, 2);
    assert_int_equal(facts.blobs, 2);
    assert_int_equal(facts.messages, 0);
    assert_int_equal(store_backup_each_blob(snap, note_blob, seen, err, sizeof(err)), 0);
    assert_string_equal(seen, "aaaa:10:0 bbbb:10:1 ");
    store_close(&snap);

    /* An index that no longer matches its table: only the full check reads for that. */
    db = open_db(f->snap);
    exec(db, "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = "
             "'CREATE INDEX files_owner ON files(app_id, name)' WHERE name = 'files_owner'");
    sqlite3_close(db);
    assert_int_equal(store_backup_open(f->snap, &snap, err, sizeof(err)), 0);
    assert_int_equal(store_backup_check(snap, true, err, sizeof(err)), PIPIT_ESTORE);
    assert_non_null(strstr(err, "damaged"));
    store_close(&snap);
}

static void test_open_needs_a_database(void **state)
{
    struct store_conn *sc = NULL;
    struct store_backup_facts facts = { .users = 42 };
    char err[256] = "", path[] = "/tmp/pipit-test-backup-notdb-XXXXXX", text[200];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    memset(text, 'x', sizeof(text)); /* past the 100-byte header SQLite reads first */
    assert_int_equal(write(fd, text, sizeof(text)), (ssize_t)sizeof(text));
    close(fd);
    if (store_backup_open(path, &sc, err, sizeof(err)) == 0) {
        assert_int_equal(store_backup_facts(sc, &facts, err, sizeof(err)), PIPIT_ESTORE);
        assert_int_equal(facts.users, 42); /* untouched */
        store_close(&sc);
    }
    assert_true(err[0] != '\0');
    unlink(path);
    assert_int_equal(store_backup_open("/nonexistent/x.db", &sc, err, sizeof(err)), PIPIT_ESTORE);
    assert_null(sc);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_snapshot_is_one_commit_while_writes_go_on),
        T(test_snapshot_refuses_what_it_cannot_do),
        T(test_facts_blobs_and_a_damaged_index),
        cmocka_unit_test(test_open_needs_a_database),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
