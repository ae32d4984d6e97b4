/*
 * server.h: the one server struct, wired by server.c.
 *
 * Everything process-wide hangs off struct server and is passed explicitly; there
 * are no other mutable globals. Fields are set on the main thread before the
 * workers start and are read-only afterwards, except the atomics and the
 * subsystems that document their own locking (store, throttle).
 */
#ifndef PIPIT_SERVER_H
#define PIPIT_SERVER_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "util/metrics.h"
#include "ws/ws_conn.h"

struct worker;
struct jobs;
struct throttle;
struct limits;
struct filter_set;
struct chat;
struct presence;
struct http_exchange;
struct http_request;
struct dispatcher;
struct webhooks;
struct before_send_index;
struct assistants;
struct calls;
struct files;
struct audit_key;
struct keyring;

struct server {
    struct config cfg;
    struct metrics metrics;
    struct jobs *jobs;           /* store writer + blocking pool */
    struct throttle *throttle;   /* login throttling, shared by workers */
    struct limits *limits;       /* rate and connection limits (net/limits.h) */
    struct filter_set *filters;  /* the content filter's word lists (filter/filter.h) */
    struct chat *chat;           /* the store writer's chat state (chat/chat.h) */
    struct presence *presence;   /* who is online (chat/bus.h) */
    struct vapid *vapid;         /* the Web Push key pair (push/vapid.h) */
    struct dispatcher *dispatch; /* sends deliveries to providers (push/dispatch.c) */
    struct files *files;         /* uploads, downloads, thumbnails (files/files.h) */
    struct audit_key *audit_key; /* signs the audit log's checkpoints (audit/audit.h) */
    struct keyring *keys;        /* encryption at rest (keys/keyring.h); NULL: off */
    char cfg_digest[CONFIG_DIGEST_HEX + 1]; /* recorded in the audit log at each start */
    struct worker *dispatch_worker;
    struct webhooks *webhooks;  /* tells business systems of events (hooks/webhooks.h) */
    struct worker *webhooks_worker;
    struct calls *calls;        /* calls ringing or on (chat/calls.c), the writer's */
    struct assistants *assistants; /* the AI assistants (hooks/assistant.h) */
    struct before_send_index *before_send; /* apps with a before-send hook (hooks/before_send.h) */
    SSL_CTX *tls;                /* NULL: plain TCP */
    char *web_root_real;         /* web_root's real path; NULL: no static files */
    char **origins;              /* allowed_origins, split */
    size_t norigins;

    struct worker **workers;
    int nworkers;
    struct sockaddr_storage listen_addr; /* with the real port once bound */
    char listen_text[80];

    /* Answers every HTTP request (api/router.c); set before the workers start. */
    void (*http_handler)(struct http_exchange *x);
    /*
     * For a request head (arg: its struct conn): the cap on a body the handler
     * reads as a stream (an upload), or 0 for a body read whole before the
     * handler is called. NULL: nothing streams.
     */
    uint64_t (*http_stream_limit)(void *arg, const struct http_request *req);
    /* Whole WebSocket text messages go here (api/session.c). */
    struct ws_handlers ws_handlers;

    int64_t started_at;          /* wall-clock ms when the API was installed (uptime) */
    int lock_fd;                 /* flock on data_dir/CONFIG_DATA_DIR_LOCK */
    atomic_bool stopping;
    atomic_bool retention_sweeping; /* a retention pass is running (compliance/retention.c) */
    atomic_bool exporting;       /* an export is being built: one at a time (api/export.c) */
    /* Bumped by every revocation, before it is answered: workers drop what they cached. */
    atomic_ulong auth_epoch;
};

/* Runs pipitd with a loaded config: returns the process exit code. */
int server_run(struct server *srv);

#endif
