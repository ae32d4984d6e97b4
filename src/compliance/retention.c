/*
 * retention.c: see retention.h.
 */
#include "compliance/retention.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "server.h"
#include "store/jobs.h"
#include "store/store_retention.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

#define DAY_MS (86400LL * 1000)
#define CONVS_PER_STEP 64

struct retention_step {
    struct job job;
    struct server *srv;
    struct store_conn *sc;      /* while it runs */
    int64_t after;              /* the conversations after this id are still to do */
    int64_t now;
    int budget;                 /* rows this step may still delete */
    int visited;
    bool more;                  /* the pass goes on with another step */
    long deleted, unshared;     /* over the whole pass */
};

static int visit(void *arg, const struct store_retention_conv *c)
{
    struct retention_step *st = arg;
    int n = 0, rc = 0;

    st->visited++;
    if (!c->held && c->keep.message_days > 0) {
        rc = store_retention_expire(st->sc, c->id, c->expired_seq,
                                    st->now - c->keep.message_days * DAY_MS, st->budget, &n);
        st->budget -= n;
        st->deleted += n;
    }
    if (rc == 0 && !c->held && c->keep.file_days > 0 && st->budget > 0) {
        rc = store_retention_unshare(st->sc, c->id, st->now - c->keep.file_days * DAY_MS,
                                     st->budget, &n);
        st->budget -= n;
        st->unshared += n;
    }
    if (rc != 0) {
        return rc;
    }
    if (st->budget <= 0) {
        st->more = true; /* this conversation may have more: the next step does it again */
        return 1;
    }
    st->after = c->id;
    return 0;
}

static void step_run(struct job *j, void *ctx)
{
    struct retention_step *st = (struct retention_step *)j;

    st->sc = ctx;
    st->now = clock_now_ms();
    st->budget = RETENTION_STEP_ROWS;
    st->visited = 0;
    st->more = false;
    j->rc = store_retention_convs(ctx, st->after, CONVS_PER_STEP, visit, st);
    if (j->rc == 0 && st->visited == CONVS_PER_STEP) {
        st->more = true; /* there may be more conversations */
    }
}

static void step_done(struct job *j);

static int step_submit(struct server *srv, int64_t after, long deleted, long unshared)
{
    struct retention_step *st = xcalloc(1, sizeof(*st));

    st->srv = srv;
    st->after = after;
    st->deleted = deleted;
    st->unshared = unshared;
    st->job.run = step_run;
    st->job.done = step_done;
    if (jobs_write(srv->jobs, &st->job) != 0) {
        free(st);
        return -1;
    }
    return 0;
}

/* On the writer, after COMMIT: the next step, or the pass's end. */
static void step_done(struct job *j)
{
    struct retention_step *st = (struct retention_step *)j;
    struct server *srv = st->srv;
    bool next = j->rc == 0 && st->more && !atomic_load(&srv->stopping);

    if (j->rc != 0) {
        log_error(NULL, "retention: a sweep step failed (%s); the next pass tries again",
                  pipit_strerror(j->rc));
    }
    if (next && step_submit(srv, st->after, st->deleted, st->unshared) == 0) {
        free(st);
        return;
    }
    if (st->deleted > 0 || st->unshared > 0) {
        log_info(NULL, "retention: deleted %ld expired event(s) and unshared %ld file(s)",
                 st->deleted, st->unshared);
    }
    atomic_store(&srv->retention_sweeping, false);
    free(st);
}

void retention_sweep(struct server *srv)
{
    if (atomic_exchange(&srv->retention_sweeping, true)) {
        return; /* the last pass is still going */
    }
    if (step_submit(srv, 0, 0, 0) != 0) {
        atomic_store(&srv->retention_sweeping, false); /* the writer is full: the next tick */
    }
}
