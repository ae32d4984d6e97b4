/*
 * worker.h: I/O worker threads, one libuv loop each.
 *
 * A worker accepts on its own SO_REUSEPORT listener and owns the connections it
 * accepted for their whole life: no other thread touches them. Other threads talk
 * to a worker only through worker_post(), which queues a job whose done callback
 * then runs on the worker's loop (a mutex-guarded list plus an eventfd: the lock
 * is held for a pointer swap, never while work runs).
 *
 * Each worker also runs a timer wheel (util/wheel.h) ticked by one uv_timer, so a
 * connection's timeouts cost O(1) and no per-connection libuv timer.
 */
#ifndef PIPIT_NET_WORKER_H
#define PIPIT_NET_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "util/intmap.h"
#include "util/list.h"
#include "util/log.h"
#include "util/wheel.h"

struct server;
struct worker;

/*
 * A unit of work that crosses threads. run() executes on the thread that takes
 * the job (a store thread), done() on the origin worker's loop. The job is owned
 * by its creator, who usually embeds it and frees it in done().
 */
struct job {
    struct job *next;
    struct worker *origin;                 /* where done() runs */
    void (*run)(struct job *j, void *ctx); /* ctx: the executing thread's resource */
    void (*done)(struct job *j);
    /* Optional, writes only: on the writer right after COMMIT, in batch order. */
    void (*committed)(struct job *j, void *hook_arg);
    int rc;                                /* run()'s result, for done() */
    /* Writes: what run() wrote stays although rc < 0 (the audit record of a refusal). */
    bool keep;
    bool orphaned;    /* done() runs off the loop: the worker has stopped (worker_post) */
};

#define WORKER_READ_BUF (64 * 1024)

struct worker {
    int id;
    struct server *srv;        /* borrowed */
    uv_thread_t thread;
    uv_loop_t loop;
    uv_tcp_t listener;
    /*
     * Posts wake the loop through an eventfd, not a uv_async_t: libuv 1.44's
     * uv_async_send leaves a flag set across its write(), and the woken loop
     * spins (997 pauses, then sched_yield) until the sender clears it; with both
     * threads on one core the sender is preempted right there, every time.
     */
    int wake_fd;
    uv_poll_t wake;
    uv_timer_t ticker;
    uv_idle_t flusher;         /* runs conn_flush_dirty() while `dirty` is not empty */
    struct list dirty;         /* connections with output queued this turn */
    struct wheel wheel;
    struct log_ctx log;

    uv_mutex_t inbox_lock;
    struct job *inbox_head;    /* guarded by inbox_lock */
    struct job *inbox_tail;
    bool inbox_closed;         /* the loop is ending; see worker_post() */
    bool draining;             /* drain_inbox() is running (loop thread only) */

    struct list conns;         /* every live connection of this worker */
    struct intmap by_user;     /* user id → authenticated sessions (chat/bus.c) */
    struct intmap auth_cache;  /* tokens and keys checked lately (api/session.c) */
    unsigned long auth_epoch;  /* the server's auth_epoch auth_cache was filled under */
    size_t nconns;
    uint64_t next_conn_id;
    bool stopping;
    bool listening;
    int64_t stop_deadline;     /* monotonic ms after which connections are cut */

    const struct worker_service *service; /* NULL: an I/O worker */
    bool stop_asked;           /* a service's stop job is posted */
    void *service_data;
    int holds;                 /* a service's unfinished work; see worker_hold() */

    char read_buf[WORKER_READ_BUF]; /* one read buffer per loop, never per connection */
    char tls_buf[WORKER_READ_BUF];  /* decrypted bytes */
};

/* Creates the workers' listeners (on the calling thread) and starts the threads. */
int worker_start_all(struct server *srv);
/* Asks every worker to drain and stop, waits for them, frees them. */
void worker_stop_all(struct server *srv);

/* Frees the workers after worker_stop_all(). */
void worker_free_all(struct server *srv);

/*
 * A worker without a listener that runs a service on its loop instead (the push
 * dispatcher), so the service gets the inbox, the timer wheel and job completions
 * like any worker. start() runs on the new thread before its loop; stop() on the
 * loop when the server stops. The loop ends once the service has released every
 * hold it took for work still under way (requests in flight, store jobs).
 */
struct worker_service {
    const char *name;                  /* the thread's name, at most 15 bytes */
    void (*start)(struct worker *w);
    void (*stop)(struct worker *w);
};
int worker_start_service(struct server *srv, const struct worker_service *svc, void *data,
                         struct worker **out);
/* Asks it to stop, without waiting (once). */
void worker_stop_service_begin(struct worker *w);
/* Stops it (if not asked yet) and waits for its holds to be released and its thread to end. */
void worker_stop_service(struct worker *w);
/*
 * Frees it, after worker_stop_service() and once no thread can still post to it
 * (posts to a stopped worker run at once, on the poster's thread); NULLs *w.
 */
void worker_free_service(struct worker **w);
/* Loop thread: a stopping service worker stays up while it holds anything. */
void worker_hold(struct worker *w);
void worker_release(struct worker *w);

/*
 * Any thread: queue j; j->done runs on w's loop. Once a stopping worker has lost
 * its last connection, done runs at once on the caller's thread instead, so late
 * messages are never lost nor leaked; such jobs must not assume the loop thread.
 */
void worker_post(struct worker *w, struct job *j);
/* Posts jobs linked by ->next, in order, with one wake-up. */
void worker_post_chain(struct worker *w, struct job *head);

/*
 * A wake-up for a service's loop that any thread may send, coalesced: while one
 * is queued, more are dropped (the one queued does their work). fn(data) runs
 * on the loop, unless the worker has stopped.
 */
struct worker_kick {
    struct job job;
    atomic_bool pending;
    void (*fn)(void *data);
    void *data;
};
void worker_kick_init(struct worker_kick *k, void (*fn)(void *data), void *data);
void worker_kick(struct worker *w, struct worker_kick *k);

/* conn.c: a connection queued output; flush before the loop next waits. */
void worker_want_flush(struct worker *w);

/* conn.c tells the worker a connection was freed. */
void worker__conn_gone(struct worker *w);

/* Loop thread: the worker's current monotonic time. */
int64_t worker_now(struct worker *w);

#endif
