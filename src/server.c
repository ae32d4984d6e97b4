/*
 * server.c: start-up and shutdown order of pipitd.
 *
 * Start: lock the data dir → open the store and migrate → first-start admin →
 * TLS → store threads → workers (listening) → wait for a signal.
 * Stop: workers drain (WebSockets get 1001, requests finish) → store threads run
 * what is queued and close the database → exit 0.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "audit/audit.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "filter/filter.h"
#include "net/limits.h"
#include "chat/bus.h"
#include "chat/chat.h"
#include "compliance/export.h"
#include "compliance/retention.h"
#include "files/files.h"
#include "keys/keyring.h"
#include "net/outbound.h"
#include "net/tls.h"
#include "net/worker.h"
#include "hooks/assistant.h"
#include "hooks/before_send.h"
#include "hooks/webhooks.h"
#include "push/push.h"
#include "push/vapid.h"
#include "store/jobs.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define ADMIN_PASSWORD_LEN 24

/* One pipitd per data dir: two writers would break the single-writer design. */
static int lock_data_dir(struct server *srv)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/" CONFIG_DATA_DIR_LOCK, srv->cfg.data_dir);
    srv->lock_fd = fs_lock(path, LOCK_EX | LOCK_NB);
    if (srv->lock_fd < 0 && errno == EWOULDBLOCK) {
        log_error(NULL, "data dir %s is in use by another pipitd", srv->cfg.data_dir);
        return -1;
    }
    if (srv->lock_fd < 0) {
        log_error(NULL, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes a record by the server itself (actor "system"); inside a transaction. */
static int audit_system(struct server *srv, struct store_conn *db, const char *action,
                        const char *target, const char *detail)
{
    struct store_audit_record r = { .ts = clock_now_ms(), .app_id = STORE_DEFAULT_APP,
                                    .actor = "system", .action = action, .target = target,
                                    .outcome = "ok", .detail = detail };

    return audit_append(db, srv->audit_key, &r);
}

/* The start is recorded with what may have changed since the last one: version and settings. */
static int audit_start(struct server *srv, struct store_conn *db)
{
    char detail[256];
    int rc;

    snprintf(detail, sizeof(detail), "{\"version\":\"%s\",\"pid\":%d,\"config\":\"%s\"}",
             PIPIT_VERSION, (int)getpid(), srv->cfg_digest);
    rc = store_begin(db);
    if (rc == 0) {
        rc = audit_system(srv, db, "server.start", NULL, detail);
    }
    if (rc == 0) {
        rc = store_commit(db);
    }
    if (rc != 0) {
        log_error(NULL, "audit: cannot record the start: %s", store_errmsg(db));
        store_rollback(db);
    }
    return rc;
}

/* After the writer stopped: the stop, and a checkpoint that covers it. */
static void audit_stop(struct server *srv)
{
    struct store_conn *db = NULL;
    char err[512];
    int rc = store_open(srv->cfg.data_dir, STORE_READ_WRITE, (int)srv->cfg.sqlite_synchronous,
                        srv->keys, &db, err, sizeof(err));

    if (rc == 0) {
        rc = store_begin(db);
    }
    if (rc == 0) {
        rc = audit_system(srv, db, "server.stop", NULL, NULL);
    }
    if (rc == 0) {
        rc = audit_checkpoint(db, srv->audit_key, clock_now_ms());
    }
    if (rc == 0) {
        rc = store_commit(db);
    }
    if (rc != 0) {
        log_error(NULL, "audit: cannot record the stop: %s", db != NULL ? store_errmsg(db) : err);
        if (db != NULL) {
            store_rollback(db);
        }
    }
    store_close(&db);
}

/* Why a sealed database has no keys: no master key, or no data-keys file. -1. */
static int keys_missing(struct server *srv, bool has_master, char *err, size_t errlen)
{
    if (has_master) {
        snprintf(err, errlen, "%s/" KEYRING_FILE " is missing: the data keys that open this "
                 "data dir's encrypted messages are gone (restore the file from a backup)",
                 srv->cfg.data_dir);
    } else {
        snprintf(err, errlen, "this data dir's messages are encrypted, and no master key is "
                 "configured (master_key_file, PIPIT_MASTER_KEY_FILE or PIPIT_MASTER_KEY)");
    }
    return -1;
}

/*
 * The keys of encryption at rest: none, or the data keys the master key opens
 * (master: the key, when *has_master). Checked before anything is written, so
 * that a refused start leaves the data dir as it was: the database is read as
 * an immutable file for whether it is sealed (seal_store checks again through
 * the WAL).
 */
static int open_keys(struct server *srv, uint8_t master[KEYRING_KEY_LEN], bool *has_master)
{
    char err[1024];
    bool sealed = false;
    int rc;

    if (store_sealed_at(srv->cfg.data_dir, &sealed, err, sizeof(err)) != 0) {
        log_error(NULL, "store: %s", err);
        return -1;
    }
    rc = keyring_master_load(srv->cfg.master_key_file, srv->cfg.data_dir, master, err,
                             sizeof(err));
    *has_master = rc == 1;
    if (rc >= 0) {
        rc = keyring_load(srv->cfg.data_dir, *has_master ? master : NULL, false, &srv->keys,
                          err, sizeof(err));
    }
    if (rc == 0 && sealed && srv->keys == NULL) {
        rc = keys_missing(srv, *has_master, err, sizeof(err));
    }
    if (rc != 0) {
        sodium_memzero(master, KEYRING_KEY_LEN);
        log_error(NULL, "encryption at rest: %s; nothing was changed", err);
        return -1;
    }
    return 0;
}

static void log_keys(struct server *srv)
{
    log_info(NULL, "encryption at rest: on, %zu data key(s), key %u seals new data",
             keyring_count(srv->keys), keyring_active_id(srv->keys));
}

/*
 * After the store is open: a sealed database must open with the keys (its
 * newest message does); one that is not sealed yet, with a master key, gets
 * its first data key now, and has what it stored before sealed, before
 * anything is served: files, then bodies, then the database cleared of the
 * plain text (VACUUM) and its WAL emptied. *db is reopened with the keys.
 */
static int seal_store(struct server *srv, struct store_conn **db, const uint8_t *master)
{
    int64_t started = clock_now_ms(), rows, files;
    char err[1024];
    bool sealed;
    int rc;

    if (store_sealed(*db, &sealed) != 0) {
        log_error(NULL, "store: %s", store_errmsg(*db));
        return -1;
    }
    if (sealed && srv->keys == NULL) {
        keys_missing(srv, master != NULL, err, sizeof(err));
        log_error(NULL, "encryption at rest: %s", err);
        return -1;
    }
    if (sealed) {
        if (store_check_sealed(*db) != 0) {
            log_error(NULL, "encryption at rest: the data keys do not open this data dir's "
                      "newest message (%s): is data-keys from an older backup, or the "
                      "database from another data dir? nothing was changed",
                      store_errmsg(*db));
            return -1;
        }
        log_keys(srv);
        return 0;
    }
    if (master == NULL) {
        log_warn(NULL, "encryption at rest: off (no master key configured): message bodies "
                 "and files are stored as they are");
        return 0;
    }
    if (srv->keys == NULL &&
        keyring_load(srv->cfg.data_dir, master, true, &srv->keys, err, sizeof(err)) != 0) {
        log_error(NULL, "encryption at rest: %s", err);
        return -1;
    }
    store_close(db);
    rc = store_open(srv->cfg.data_dir, STORE_READ_WRITE, (int)srv->cfg.sqlite_synchronous,
                    srv->keys, db, err, sizeof(err));
    if (rc == 0 && files_seal_stored(srv->cfg.data_dir, srv->keys, *db, &files, err,
                                     sizeof(err)) != 0) {
        rc = -1;
    }
    if (rc == 0 && store_seal_plain(*db, started, &rows) != 0) {
        snprintf(err, sizeof(err), "cannot seal the stored messages: %s", store_errmsg(*db));
        rc = -1;
    }
    /* Plain text freed before the key (edits, deletions, the old index) leaves the file. */
    if (rc == 0 && store_vacuum(*db) != 0) {
        snprintf(err, sizeof(err), "cannot rewrite the database: %s", store_errmsg(*db));
        rc = -1;
    }
    if (rc == 0) {
        rc = store_wal_truncate(srv->cfg.data_dir, err, sizeof(err));
    }
    if (rc != 0) {
        log_error(NULL, "encryption at rest: %s", err);
        return -1;
    }
    log_keys(srv);
    if (rows + files > 0) {
        log_notice(NULL, "encryption at rest: sealed %lld stored bodies and notifications and "
                   "%lld stored files in %lld ms", (long long)rows, (long long)files,
                   (long long)(clock_now_ms() - started));
    }
    return 0;
}

/* On the first start, creates user admin and writes its password once. */
static int bootstrap_admin(struct server *srv, struct store_conn *db)
{
    char password[ADMIN_PASSWORD_LEN + 2];
    char hash[STORE_HASH_MAX];
    char target[AUDIT_ACTOR_MAX];
    char path[4096];
    int64_t count = 0, id;
    int fd, rc;

    if (store_user_count(db, &count) != 0) {
        log_error(NULL, "cannot count users: %s", store_errmsg(db));
        return -1;
    }
    if (count > 0) {
        return 0;
    }
    password_random(password, ADMIN_PASSWORD_LEN);
    if (password_hash(password, hash) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/initial-admin-password", srv->cfg.data_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_error(NULL, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    strcat(password, "\n");
    rc = write(fd, password, strlen(password)) == (ssize_t)strlen(password) && fsync(fd) == 0
             ? 0
             : -1;
    close(fd);
    memset(password, 0, sizeof(password));
    if (rc != 0) {
        log_error(NULL, "cannot write %s", path);
        return -1;
    }
    rc = store_begin(db);
    if (rc == 0) {
        rc = store_user_insert(db, STORE_DEFAULT_APP, "admin", hash, "admin", clock_now_ms(), &id);
    }
    if (rc == 0) {
        audit_actor(target, false, id);
        rc = audit_system(srv, db, "user.create", target, "{\"role\":\"admin\"}");
    }
    if (rc == 0) {
        rc = store_commit(db);
    }
    if (rc != 0) {
        log_error(NULL, "cannot create the admin user: %s", store_errmsg(db));
        store_rollback(db);
        unlink(path);
        return -1;
    }
    log_notice(NULL, "created user 'admin'; its password is in %s", path);
    return 0;
}

static void split_origins(struct server *srv)
{
    char *copy = xstrdup(srv->cfg.allowed_origins);
    char *save = NULL;

    for (char *tok = strtok_r(copy, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
        size_t n = strlen(tok);

        while (n > 0 && tok[n - 1] == '/') {
            tok[--n] = '\0';
        }
        srv->origins = xrealloc(srv->origins, (srv->norigins + 1) * sizeof(*srv->origins));
        srv->origins[srv->norigins++] = xstrdup(tok);
    }
    free(copy);
}

static void on_push_retry(uv_timer_t *t)
{
    push_resume(t->data);
}

/*
 * How often the sweep looks for files no message refers to any more: a quarter
 * of their time to live, so one is late by at most that, within 1 s and 10 min.
 */
static uint64_t files_sweep_interval(const struct config *cfg)
{
    int64_t ms = cfg->file_unshared_ttl / 4;

    return (uint64_t)(ms < 1000 ? 1000 : ms > 600000 ? 600000 : ms);
}

static void on_files_sweep(uv_timer_t *t)
{
    files_sweep(t->data);
}

static void on_retention_sweep(uv_timer_t *t)
{
    retention_sweep(t->data);
}

struct checkpoint_job {
    struct job job;
    struct server *srv;
};

static void checkpoint_run(struct job *j, void *ctx)
{
    struct checkpoint_job *cj = (struct checkpoint_job *)j;

    j->rc = audit_checkpoint(ctx, cj->srv->audit_key, clock_now_ms());
}

static void checkpoint_done(struct job *j)
{
    if (j->rc != 0) {
        log_error(NULL, "audit: cannot sign a checkpoint: %s", pipit_strerror(j->rc));
    }
    free(j);
}

static void on_audit_checkpoint(uv_timer_t *t)
{
    struct checkpoint_job *cj = xcalloc(1, sizeof(*cj));
    struct server *srv = t->data;

    cj->srv = srv;
    cj->job.run = checkpoint_run;
    cj->job.done = checkpoint_done;
    if (jobs_write(srv->jobs, &cj->job) != 0) {
        free(cj); /* the writer is full: the next tick signs it */
    }
}

/* Main loop: the content filter's lists again, when one changed. */
/* Calls that ring out are ended about this often (chat/calls.c). */
#define CALLS_TICK_MS 1000

static void on_calls_tick(uv_timer_t *t)
{
    chat_calls_tick(t->data, clock_now_ms());
}

static void on_filter_reload(uv_timer_t *t)
{
    struct server *srv = t->data;
    char err[512];
    int rc = filter_set_reload(srv->filters, err, sizeof(err));

    if (rc < 0) {
        log_error(NULL, "content filter: %s; the lists stay as they were", err);
    } else if (rc > 0) {
        log_info(NULL, "content filter: %zu words loaded", filter_set_words(srv->filters));
    }
}

/* The content filter's lists, read once before listening: a list that cannot be read stops the start. */
static int open_filters(struct server *srv)
{
    char dir[4096], err[512];

    if (srv->cfg.content_filter_dir[0] != '\0') {
        snprintf(dir, sizeof(dir), "%s", srv->cfg.content_filter_dir);
    } else {
        snprintf(dir, sizeof(dir), "%s/filters", srv->cfg.data_dir);
    }
    srv->filters = filter_set_new(dir);
    if (filter_set_reload(srv->filters, err, sizeof(err)) < 0) {
        log_error(NULL, "content filter: %s", err);
        return -1;
    }
    if (filter_set_words(srv->filters) > 0) {
        log_info(NULL, "content filter: %zu words from %s", filter_set_words(srv->filters), dir);
    }
    return 0;
}

static void on_stop_signal(uv_poll_t *p, int status, int events)
{
    struct server *srv = p->data;
    struct signalfd_siginfo si;
    uv_os_fd_t fd;

    (void)events;
    if (status < 0 || uv_fileno((uv_handle_t *)p, &fd) != 0 ||
        read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
        return;
    }
    log_notice(NULL, "received %s, shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&srv->stopping, true);
    uv_stop(p->loop);
}

/*
 * Last resort during shutdown: if draining hangs (a stalled disk under the store
 * writer, say), exit anyway a little after shutdown_timeout rather than never.
 * SQLite's journal keeps the database consistent either way.
 */
static void shutdown_watchdog(void *arg)
{
    struct server *srv = arg;

    usleep((useconds_t)(srv->cfg.shutdown_timeout + 2000) * 1000);
    log_error(NULL, "shutdown did not finish in time; exiting");
    _exit(1);
}

static void server_cleanup(struct server *srv)
{
    push_dispatch_stop(srv);
    webhooks_stop(srv);
    files_stop(srv);
    jobs_stop(&srv->jobs);
    files_close(srv);
    push_dispatch_free(srv);
    webhooks_free(srv);
    before_send_free(srv);
    assistant_free(srv);
    chat_calls_free(srv);
    throttle_free(&srv->throttle);
    limits_free(&srv->limits);
    filter_set_free(&srv->filters);
    chat_free(srv->chat);
    srv->chat = NULL;
    presence_free(srv->presence);
    srv->presence = NULL;
    vapid_free(srv->vapid);
    srv->vapid = NULL;
    audit_key_free(srv->audit_key);
    srv->audit_key = NULL;
    keyring_free(srv->keys);
    srv->keys = NULL;
    if (srv->tls != NULL) {
        SSL_CTX_free(srv->tls);
        srv->tls = NULL;
    }
    for (size_t i = 0; i < srv->norigins; i++) {
        free(srv->origins[i]);
    }
    PIPIT_FREE(srv->origins);
    PIPIT_FREE(srv->web_root_real);
    srv->norigins = 0;
    if (srv->lock_fd >= 0) {
        close(srv->lock_fd);
        srv->lock_fd = -1;
    }
}

int server_run(struct server *srv)
{
    struct store_conn *db = NULL;
    uv_loop_t loop;
    uv_poll_t stop_poll;
    int stop_fd;
    uv_timer_t push_retry;
    uv_timer_t files_timer;
    uv_timer_t audit_timer;
    uv_timer_t retention_timer;
    uv_timer_t filter_timer;
    uv_timer_t calls_timer;
    uv_thread_t watchdog;
    sigset_t stop_signals;
    uint8_t master[KEYRING_KEY_LEN];    /* encryption at rest, until seal_store */
    bool has_master = false;
    char err[512];
    int rc;

    srv->lock_fd = -1;
    signal(SIGPIPE, SIG_IGN);
    log_set_level((enum log_level)srv->cfg.log_level);
    if (clock_offset_from_env() != 0) {
        log_warn(NULL, "PIPIT_CLOCK_OFFSET_MS is set: the wall clock is shifted (for tests only)");
    }
    if (fs_mkdirs(srv->cfg.data_dir) != 0) {
        log_error(NULL, "cannot create data dir %s: %s", srv->cfg.data_dir, strerror(errno));
        return 1;
    }
    if (lock_data_dir(srv) != 0) {
        return 1;
    }
    if (outbound_global_init() != 0) {
        log_error(NULL, "cannot initialise libcurl");
        goto fail;
    }
    if (password_init() != 0) {
        log_error(NULL, "cannot initialise libsodium");
        goto fail;
    }
    /* Settings read from elsewhere are checked before anything is written. */
    srv->limits = limits_new(&srv->cfg, &srv->metrics, err, sizeof(err));
    if (srv->limits == NULL) {
        log_error(NULL, "%s", err);
        goto fail;
    }
    if (open_filters(srv) != 0) {
        goto fail;
    }
    if (open_keys(srv, master, &has_master) != 0) {
        goto fail;
    }
    if (store_open(srv->cfg.data_dir, STORE_READ_WRITE, (int)srv->cfg.sqlite_synchronous,
                   srv->keys, &db, err, sizeof(err)) != 0) {
        sodium_memzero(master, sizeof(master));
        log_error(NULL, "store: %s", err);
        goto fail;
    }
    rc = seal_store(srv, &db, has_master ? master : NULL);
    sodium_memzero(master, sizeof(master));
    if (rc != 0) {
        store_close(&db);
        goto fail;
    }
    if (audit_key_open(srv->cfg.data_dir, &srv->audit_key, err, sizeof(err)) != 0) {
        log_error(NULL, "audit: %s", err);
        store_close(&db);
        goto fail;
    }
    config_digest(&srv->cfg, srv->cfg_digest);
    rc = bootstrap_admin(srv, db);
    if (rc == 0) {
        rc = audit_start(srv, db);
    }
    store_close(&db);
    if (rc != 0) {
        goto fail;
    }
    if (srv->cfg.tls_cert[0] != '\0') {
        srv->tls = tls_ctx_new(srv->cfg.tls_cert, srv->cfg.tls_key, err, sizeof(err));
        if (srv->tls == NULL) {
            log_error(NULL, "TLS: %s", err);
            goto fail;
        }
    }
    split_origins(srv);
    /* Resolved once: every static file must stay under this real path. */
    if (srv->cfg.web_root[0] != '\0') {
        srv->web_root_real = realpath(srv->cfg.web_root, NULL);
        if (srv->web_root_real == NULL) {
            log_warn(NULL, "web_root %s: %s; no static files will be served", srv->cfg.web_root,
                     strerror(errno));
        }
    }
    srv->throttle = throttle_new(srv->cfg.login_free_attempts, srv->cfg.login_max_delay);
    /*
     * SIGTERM and SIGINT stay blocked in every thread (threads started from here on
     * inherit the mask) and the main loop reads them from a signalfd. No handler
     * ever runs, so no thread can sit on a stop request: a sanitizer defers a
     * handler until its thread reaches one of its own checkpoints, and we saw
     * TSan builds under load never act on a SIGTERM that way.
     */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    srv->presence = presence_new();
    if (vapid_open(srv->cfg.data_dir, &srv->vapid, err, sizeof(err)) != 0) {
        log_error(NULL, "push: %s", err);
        goto fail;
    }
    srv->chat = chat_new(srv);
    push_dispatch_new(srv);
    webhooks_new(srv);
    assistant_new(srv);
    chat_calls_new(srv);
    if (files_open(srv, err, sizeof(err)) != 0) {
        log_error(NULL, "files: %s", err);
        goto fail;
    }
    if (export_spool_prepare(srv->cfg.data_dir, err, sizeof(err)) != 0) {
        log_error(NULL, "export: %s", err);
        goto fail;
    }
    if (jobs_start(&srv->cfg, srv->keys, &srv->metrics, &srv->jobs, err, sizeof(err)) != 0) {
        log_error(NULL, "store: %s", err);
        goto fail;
    }
    jobs_set_commit_hook(srv->jobs, chat_commit_begin, chat_commit_end, srv->chat);
    push_resume(srv);
    push_dispatch_start(srv);
    webhooks_start(srv);
    before_send_load(srv);
    files_resume(srv);
    api_install(srv);
    /* http-parser's own cap is process-wide; ours (per request) is the real one. */
    http_parser_set_max_header_size((uint32_t)srv->cfg.max_header_size + 1024);

    uv_loop_init(&loop);
    stop_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (stop_fd < 0) {
        log_error(NULL, "signalfd: %s", strerror(errno));
        uv_loop_close(&loop);
        goto fail;
    }
    uv_poll_init(&loop, &stop_poll, stop_fd);
    stop_poll.data = srv;
    uv_poll_start(&stop_poll, UV_READABLE, on_stop_signal);
    /* Unreferenced: the loop still ends when the stop signals' poll closes. */
    uv_timer_init(&loop, &push_retry);
    push_retry.data = srv;
    uv_timer_start(&push_retry, on_push_retry, PUSH_RESUME_INTERVAL_MS,
                   PUSH_RESUME_INTERVAL_MS);
    uv_unref((uv_handle_t *)&push_retry);
    uv_timer_init(&loop, &files_timer);
    files_timer.data = srv;
    uv_timer_start(&files_timer, on_files_sweep, files_sweep_interval(&srv->cfg),
                   files_sweep_interval(&srv->cfg));
    uv_unref((uv_handle_t *)&files_timer);
    uv_timer_init(&loop, &audit_timer);
    audit_timer.data = srv;
    uv_timer_start(&audit_timer, on_audit_checkpoint, (uint64_t)srv->cfg.audit_checkpoint_interval,
                   (uint64_t)srv->cfg.audit_checkpoint_interval);
    uv_unref((uv_handle_t *)&audit_timer);
    uv_timer_init(&loop, &retention_timer);
    retention_timer.data = srv;
    uv_timer_start(&retention_timer, on_retention_sweep,
                   (uint64_t)srv->cfg.retention_sweep_interval,
                   (uint64_t)srv->cfg.retention_sweep_interval);
    uv_unref((uv_handle_t *)&retention_timer);
    uv_timer_init(&loop, &filter_timer);
    filter_timer.data = srv;
    uv_timer_start(&filter_timer, on_filter_reload, (uint64_t)srv->cfg.content_filter_reload,
                   (uint64_t)srv->cfg.content_filter_reload);
    uv_unref((uv_handle_t *)&filter_timer);
    uv_timer_init(&loop, &calls_timer);
    calls_timer.data = srv;
    uv_timer_start(&calls_timer, on_calls_tick, CALLS_TICK_MS, CALLS_TICK_MS);
    uv_unref((uv_handle_t *)&calls_timer);

    if (worker_start_all(srv) != 0) {
        uv_close((uv_handle_t *)&stop_poll, NULL);
        uv_close((uv_handle_t *)&push_retry, NULL);
        uv_close((uv_handle_t *)&files_timer, NULL);
        uv_close((uv_handle_t *)&audit_timer, NULL);
        uv_close((uv_handle_t *)&retention_timer, NULL);
        uv_close((uv_handle_t *)&filter_timer, NULL);
        uv_close((uv_handle_t *)&calls_timer, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        close(stop_fd);
        goto fail;
    }
    log_notice(NULL, "pipitd listening on %s (%d workers, %s)", srv->listen_text, srv->nworkers,
             srv->tls != NULL ? "TLS" : "plain HTTP");

    uv_run(&loop, UV_RUN_DEFAULT);

    uv_thread_create(&watchdog, shutdown_watchdog, srv);
    /* Both drain within shutdown_timeout of now, side by side. */
    push_dispatch_stop_begin(srv);
    webhooks_stop_begin(srv);
    worker_stop_all(srv);
    push_dispatch_stop(srv);
    webhooks_stop(srv);
    files_stop(srv);
    /* Store threads may still post late completions: stop them before freeing workers. */
    jobs_stop(&srv->jobs);
    audit_stop(srv);
    worker_free_all(srv);
    push_dispatch_free(srv);
    webhooks_free(srv);
    before_send_free(srv);
    assistant_free(srv);
    chat_calls_free(srv);
    uv_close((uv_handle_t *)&stop_poll, NULL);
    uv_close((uv_handle_t *)&push_retry, NULL);
    uv_close((uv_handle_t *)&files_timer, NULL);
    uv_close((uv_handle_t *)&audit_timer, NULL);
    uv_close((uv_handle_t *)&retention_timer, NULL);
    uv_close((uv_handle_t *)&filter_timer, NULL);
    uv_close((uv_handle_t *)&calls_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(stop_fd);
    server_cleanup(srv);
    log_notice(NULL, "pipitd stopped");
    return 0;

fail:
    server_cleanup(srv);
    return 1;
}
