/*
 * jobs.h: the threads that run blocking work for the I/O workers.
 *
 * - One store writer: the only thread that writes the database. It takes every
 *   queued write job, runs each inside its own savepoint of one transaction, and
 *   commits the batch (group commit: one fsync for the whole batch). Only then
 *   does each job's done() run on its worker, so an answer built there reports
 *   durable state. A write that fails rolls back alone; a failed COMMIT fails
 *   the whole batch.
 * - A pool of reader threads, each with its own read-only connection, for store
 *   reads and other blocking work (Argon2id hashing).
 *
 * Queues are bounded: a submit that finds its queue full fails with
 * PIPIT_EUNAVAILABLE and the caller answers 503, instead of letting latency and
 * memory grow without limit.
 *
 * jobs_read/jobs_write may be called from any thread.
 */
#ifndef PIPIT_STORE_JOBS_H
#define PIPIT_STORE_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "net/worker.h"
#include "util/metrics.h"

struct jobs;
struct config;
struct keyring;

/* Opens the connections (with keys, borrowed: store_open) and starts the threads. */
int jobs_start(const struct config *cfg, const struct keyring *keys, struct metrics *metrics,
               struct jobs **out, char *err, size_t errlen);
/* Runs what is queued, then stops the threads and closes the connections. */
void jobs_stop(struct jobs **js);

struct store_conn;

/*
 * Around each batch's COMMIT, on the writer thread: begin(arg, sc) after the
 * last job, inside the transaction (non-zero fails the whole batch); then every
 * successful job's committed() (in batch order), then end(arg, ok) (ok false:
 * the batch did not commit). The chat bus publishes from here, so events leave
 * in commit order. Set before any write is submitted.
 */
void jobs_set_commit_hook(struct jobs *js, int (*begin)(void *arg, struct store_conn *sc),
                          void (*end)(void *arg, bool ok), void *arg);

/* j->run(j, struct store_conn *) on a reader; j->done on j->origin. */
int jobs_read(struct jobs *js, struct job *j);
/* j->run(j, struct store_conn *) on the writer, in a batch; done after COMMIT. */
int jobs_write(struct jobs *js, struct job *j);

#endif
