/*
 * jobs.c: store writer (group commit) and reader pool.
 *
 * Group commit: the writer sleeps until work arrives, then takes everything
 * queued (up to store_batch_max) into one transaction. While it waits for the
 * fsync, new jobs queue up and form the next batch, so batches grow with load
 * and a lone write is never held back waiting for company.
 *
 * When idle for a minute the writer also deletes expired tokens, in small
 * batches so it never holds the write lock for long.
 */
#include "store/jobs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config/config.h"
#include "store/store.h"
#include "store/store_chat.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

#define JOBS_QUEUE_MAX 65536
#define SWEEP_INTERVAL_MS 60000
#define SWEEP_BATCH 1000
/*
 * When a batch shows concurrent writers (two jobs or more) but is small, the
 * writer waits this long for more before committing. A commit's cost is mostly
 * per transaction (WAL frames for every page touched, the fsync), so at a few
 * thousand writes a second this turns batches of 2 into batches of 10 for a
 * quarter of a millisecond of latency. A lone write never waits, and neither
 * does a batch of COMMIT_GATHER_BELOW or more: it shares the commit's cost
 * already, and its senders wait on this writer, so a pause there only delays
 * the next batch (bench/RESULTS.md, 2026-12-03: POST /v1/push +20-35 %).
 */
#define COMMIT_GATHER_US 250
#define COMMIT_GATHER_BELOW 8

struct job_queue {
    uv_mutex_t lock;
    uv_cond_t cond;
    struct job *head;
    struct job *tail;
    size_t len;
    bool stopping;
};

struct reader {
    struct jobs *js;
    uv_thread_t thread;
    struct store_conn *db;
};

struct jobs {
    struct metrics *metrics;
    size_t batch_max;
    struct job_queue writes;
    struct job_queue reads;
    uv_thread_t writer;
    struct store_conn *wdb;
    struct reader *readers;
    int nreaders;
    int (*commit_begin)(void *arg, struct store_conn *sc);
    void (*commit_end)(void *arg, bool ok);
    void *commit_arg;
};

static void queue_init(struct job_queue *q)
{
    memset(q, 0, sizeof(*q));
    uv_mutex_init(&q->lock);
    uv_cond_init(&q->cond);
}

static void queue_destroy(struct job_queue *q)
{
    uv_mutex_destroy(&q->lock);
    uv_cond_destroy(&q->cond);
}

static int queue_push(struct job_queue *q, struct job *j)
{
    j->next = NULL;
    uv_mutex_lock(&q->lock);
    if (q->len >= JOBS_QUEUE_MAX || q->stopping) {
        uv_mutex_unlock(&q->lock);
        return PIPIT_EUNAVAILABLE;
    }
    if (q->tail != NULL) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
    q->len++;
    uv_cond_signal(&q->cond);
    uv_mutex_unlock(&q->lock);
    return 0;
}

/* Takes up to max jobs, waiting up to timeout_ms (forever if < 0). */
static struct job *queue_take(struct job_queue *q, size_t max, int64_t timeout_ms,
                              bool *stopping)
{
    struct job *head, *last;
    size_t n = 1;

    uv_mutex_lock(&q->lock);
    while (q->head == NULL && !q->stopping) {
        if (timeout_ms < 0) {
            uv_cond_wait(&q->cond, &q->lock);
        } else if (uv_cond_timedwait(&q->cond, &q->lock,
                                     (uint64_t)timeout_ms * 1000000) == UV_ETIMEDOUT) {
            break;
        }
    }
    *stopping = q->stopping;
    head = q->head;
    if (head == NULL) {
        uv_mutex_unlock(&q->lock);
        return NULL;
    }
    last = head;
    while (n < max && last->next != NULL) {
        last = last->next;
        n++;
    }
    q->head = last->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    q->len -= n;
    last->next = NULL;
    uv_mutex_unlock(&q->lock);
    return head;
}

static void complete(struct job *j)
{
    if (j->origin != NULL) {
        worker_post(j->origin, j);
    } else {
        j->done(j);
    }
}

/*
 * Hands a committed batch back with one post (one wake-up) per origin worker:
 * a paced load commits a few jobs at a time, and a wake-up per job cost a
 * context switch per message.
 */
static void complete_batch(struct job *batch)
{
    while (batch != NULL) {
        struct worker *w = batch->origin;
        struct job *mine = NULL, **mine_end = &mine;
        struct job *rest = NULL, **rest_end = &rest;

        for (struct job *j = batch, *next; j != NULL; j = next) {
            next = j->next;
            if (j->origin == w) {
                *mine_end = j;
                mine_end = &j->next;
            } else {
                *rest_end = j;
                rest_end = &j->next;
            }
        }
        *mine_end = NULL;
        *rest_end = NULL;
        if (w != NULL) {
            worker_post_chain(w, mine);
        } else {
            for (struct job *j = mine, *next; j != NULL; j = next) {
                next = j->next;
                j->done(j);
            }
        }
        batch = rest;
    }
}

static void reader_thread(void *arg)
{
    struct reader *r = arg;
    char name[16];
    bool stopping;

    snprintf(name, sizeof(name), "store-reader-%d", (int)(r - r->js->readers));
    pthread_setname_np(pthread_self(), name);
    for (;;) {
        struct job *j = queue_take(&r->js->reads, 1, -1, &stopping);

        if (j == NULL) {
            if (stopping) {
                return;
            }
            continue;
        }
        j->rc = 0;
        j->run(j, r->db);
        complete(j);
    }
}

static void writer_commit_batch(struct jobs *js, struct job *batch)
{
    size_t n = 0;
    int rc = store_begin(js->wdb);

    for (struct job *j = batch; j != NULL; j = j->next) {
        n++;
        if (rc != 0) {
            j->rc = rc;
            continue;
        }
        j->rc = store_savepoint(js->wdb);
        if (j->rc != 0) {
            continue;
        }
        j->keep = false;
        j->run(j, js->wdb);
        if (j->rc < 0 && !j->keep) {
            store_rollback_savepoint(js->wdb);
        } else {
            store_release(js->wdb);
        }
    }
    if (rc == 0 && js->commit_begin != NULL && js->commit_begin(js->commit_arg, js->wdb) != 0) {
        log_error(NULL, "store pre-commit failed: %s", store_errmsg(js->wdb));
        store_rollback(js->wdb);
        rc = PIPIT_ESTORE;
    } else if (rc == 0 && store_commit(js->wdb) != 0) {
        log_error(NULL, "store commit failed: %s", store_errmsg(js->wdb));
        store_rollback(js->wdb);
        rc = PIPIT_ESTORE;
    }
    if (rc != 0) {
        for (struct job *j = batch; j != NULL; j = j->next) {
            j->rc = rc;
        }
    } else {
        atomic_fetch_add_explicit(&js->metrics->store_commits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&js->metrics->store_writes, (long)n, memory_order_relaxed);
        for (struct job *j = batch; j != NULL; j = j->next) {
            if (j->committed != NULL && j->rc >= 0) {
                j->committed(j, js->commit_arg);
            }
        }
    }
    if (js->commit_end != NULL) {
        js->commit_end(js->commit_arg, rc == 0);
    }
    complete_batch(batch);
}

static void writer_sweep(struct jobs *js)
{
    int deleted = 0;

    if (store_begin(js->wdb) != 0) {
        return;
    }
    if (store_token_sweep(js->wdb, clock_now_ms(), SWEEP_BATCH, &deleted) != 0 ||
        store_commit(js->wdb) != 0) {
        store_rollback(js->wdb);
        return;
    }
    if (deleted > 0) {
        log_info(NULL, "deleted %d expired tokens", deleted);
    }
}

/* Tops a small batch of concurrent writes up with those arriving meanwhile. */
static struct job *gather(struct jobs *js, struct job *batch)
{
    struct job *last = batch;
    size_t n = 1;
    bool stopping;

    while (last->next != NULL) {
        last = last->next;
        n++;
    }
    if (n < 2 || n >= COMMIT_GATHER_BELOW || n >= js->batch_max) {
        return batch;
    }
    usleep(COMMIT_GATHER_US);
    last->next = queue_take(&js->writes, js->batch_max - n, 0, &stopping);
    return batch;
}

static void writer_thread(void *arg)
{
    struct jobs *js = arg;
    int64_t last_sweep = clock_mono_ms();
    bool stopping;

    pthread_setname_np(pthread_self(), "store-writer");
    for (;;) {
        int64_t wait = SWEEP_INTERVAL_MS - (clock_mono_ms() - last_sweep);
        struct job *batch = queue_take(&js->writes, js->batch_max, wait > 0 ? wait : 0,
                                       &stopping);

        if (batch != NULL) {
            writer_commit_batch(js, gather(js, batch));
            continue;
        }
        if (stopping) {
            return;
        }
        writer_sweep(js);
        last_sweep = clock_mono_ms();
    }
}

int jobs_start(const struct config *cfg, const struct keyring *keys, struct metrics *metrics,
               struct jobs **out, char *err, size_t errlen)
{
    struct jobs *js = xcalloc(1, sizeof(*js));
    int64_t started;
    bool rebuilt;

    js->metrics = metrics;
    js->batch_max = (size_t)cfg->store_batch_max;
    queue_init(&js->writes);
    queue_init(&js->reads);
    if (store_open(cfg->data_dir, STORE_READ_WRITE, (int)cfg->sqlite_synchronous, keys, &js->wdb,
                   err, errlen) != 0) {
        goto fail;
    }
    /* The writer's index pages stay in memory instead of being read back per batch. */
    store_set_cache_size(js->wdb, cfg->sqlite_cache_size);
    started = clock_now_ms();
    if (store_search_enable(js->wdb, cfg->search != 0, &rebuilt) != 0) {
        snprintf(err, errlen, "cannot turn search %s: %s", cfg->search ? "on" : "off",
                 store_errmsg(js->wdb));
        goto fail;
    }
    if (rebuilt) {
        log_notice(NULL, "search: indexed the stored messages in %lld ms",
                   (long long)(clock_now_ms() - started));
    }
    js->readers = xcalloc((size_t)cfg->reader_threads, sizeof(*js->readers));
    for (int i = 0; i < cfg->reader_threads; i++) {
        js->readers[i].js = js;
        if (store_open(cfg->data_dir, STORE_READ_ONLY, 0, keys, &js->readers[i].db, err,
                       errlen) != 0) {
            goto fail;
        }
        store_set_mmap_size(js->readers[i].db, cfg->sqlite_mmap_size);
        js->nreaders = i + 1;
    }
    uv_thread_create(&js->writer, writer_thread, js);
    for (int i = 0; i < js->nreaders; i++) {
        uv_thread_create(&js->readers[i].thread, reader_thread, &js->readers[i]);
    }
    *out = js;
    return 0;

fail:
    for (int i = 0; i < js->nreaders; i++) {
        store_close(&js->readers[i].db);
    }
    free(js->readers);
    store_close(&js->wdb);
    queue_destroy(&js->writes);
    queue_destroy(&js->reads);
    free(js);
    return PIPIT_ESTORE;
}

static void queue_stop(struct job_queue *q)
{
    uv_mutex_lock(&q->lock);
    q->stopping = true;
    uv_cond_broadcast(&q->cond);
    uv_mutex_unlock(&q->lock);
}

void jobs_stop(struct jobs **jsp)
{
    struct jobs *js = *jsp;

    if (js == NULL) {
        return;
    }
    /* Queued jobs still run: queue_take hands them out before reporting stop. */
    queue_stop(&js->reads);
    queue_stop(&js->writes);
    for (int i = 0; i < js->nreaders; i++) {
        uv_thread_join(&js->readers[i].thread);
        store_close(&js->readers[i].db);
    }
    uv_thread_join(&js->writer);
    store_close(&js->wdb);
    free(js->readers);
    queue_destroy(&js->writes);
    queue_destroy(&js->reads);
    free(js);
    *jsp = NULL;
}

void jobs_set_commit_hook(struct jobs *js, int (*begin)(void *arg, struct store_conn *sc),
                          void (*end)(void *arg, bool ok), void *arg)
{
    js->commit_begin = begin;
    js->commit_end = end;
    js->commit_arg = arg;
}

int jobs_read(struct jobs *js, struct job *j)
{
    return queue_push(&js->reads, j);
}

int jobs_write(struct jobs *js, struct job *j)
{
    return queue_push(&js->writes, j);
}
