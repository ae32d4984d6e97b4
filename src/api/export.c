/*
 * export.c: GET /v1/admin/export?user=<id or username> and ?conv=<id>, the
 * archive of everything pipit holds about a user or a conversation
 * (compliance/export.h; docs/operations.md, "Export (eDiscovery and access
 * requests)"). An admin, or an API key with the admin scope (the router).
 *
 *   loop:    the query: exactly one of user and conv, or 400
 *   writer:  the subject, looked up in the caller's app, and the audit record
 *            (export.user / export.conv, target user:<id> / conv:<id>), kept
 *            whatever the outcome: an unknown subject is recorded not_found
 *            and answered 404; no record, no export
 *   reader:  the archive, built into DATA_DIR/exports/export-….tar, opened and
 *            unlinked at once: the descriptor keeps the bytes until they are
 *            sent or the exchange ends, and no name is left to clean up
 *   loop:    http_respond_file() sends it, as an attachment, never cached
 * An archive that cannot be built is answered 500 and logged; its record says
 * "ok" still, for the export was authorised. A crash mid-build leaves a file
 * that the next start removes (export_spool_prepare). One export runs at a
 * time (srv->exporting, from the request to the end of the answer's job): a
 * second is answered 503, unrecorded, like other requests refused for load.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "audit/audit.h"
#include "compliance/export.h"
#include "server.h"
#include "store/jobs.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/mem.h"

struct export_job {
    struct job job;
    struct conn *c;
    struct server *srv;
    bool building;              /* the second step: the reader's */
    enum export_kind kind;
    char given[ROUTE_PARAM_MAX]; /* the user as asked (an id or a username), or the conv id */
    int64_t app_id;
    char actor[AUDIT_ACTOR_MAX];
    struct export_subject subject;
    int fd;                     /* the built archive, unlinked */
    int64_t size;
    char err[1024];
};

static void export_job_free(struct export_job *ej)
{
    if (ej->fd >= 0) {
        close(ej->fd);
    }
    atomic_store(&ej->srv->exporting, false);
    conn_unref(ej->c);
    free(ej);
}

/* Writer: the subject in the caller's app, and the record of the export, found or not. */
static void audit_run(struct job *j, void *ctx)
{
    struct export_job *ej = (struct export_job *)j;
    struct store_conn *db = ctx;
    char target[ROUTE_PARAM_MAX + 8];
    struct store_audit_record r = { .ts = clock_now_ms(), .app_id = ej->app_id,
                                    .actor = ej->actor, .ip = ej->c->ip,
                                    .action = export_action(ej->kind), .target = target };
    int64_t id = route_id(ej->given);
    json_t *d;
    char *text;
    int rc;

    if ((j->rc = audit_begin(db)) != 0) {
        return;
    }
    if (ej->kind == EXPORT_CONV) {
        rc = export_find_conv(db, ej->app_id, id, &ej->subject);
        d = json_pack("{s:I}", "conv", (json_int_t)id);
    } else {
        /* Digits are an id, as in the routes' {user}; anything else a username. */
        rc = export_find_user(db, ej->app_id, id != 0 ? NULL : ej->given, id, &ej->subject);
        d = id != 0 ? json_pack("{s:I}", "user", (json_int_t)id)
                    : json_pack("{s:s}", "user", ej->given);
    }
    if (rc == 0) {
        export_target(&ej->subject, target, sizeof(target));
    } else {
        snprintf(target, sizeof(target), "%s:%s", ej->kind == EXPORT_USER ? "user" : "conv",
                 ej->given);
    }
    r.detail = text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    j->rc = audit_settle(db, ej->c->w->srv->audit_key, &r, rc, &j->keep);
    free(text);
    json_decref(d);
}

/* Reader: the archive, open and already unlinked. */
static void build_run(struct job *j, void *ctx)
{
    struct export_job *ej = (struct export_job *)j;
    const char *data_dir = ej->c->w->srv->cfg.data_dir;
    struct export_summary sum;
    char path[4400];
    struct stat st;

    export_spool_path(data_dir, &ej->subject, path, sizeof(path));
    j->rc = export_write(ctx, data_dir, ej->srv->keys, &ej->subject, path, false, &sum, ej->err,
                         sizeof(ej->err));
    if (j->rc != 0) {
        return;
    }
    ej->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (ej->fd < 0 || fstat(ej->fd, &st) != 0) {
        snprintf(ej->err, sizeof(ej->err), "cannot open the archive: %s", strerror(errno));
        j->rc = PIPIT_EIO;
    } else {
        ej->size = (int64_t)st.st_size;
    }
    unlink(path);
}

static void export_done(struct job *j);

static void export_submit(struct export_job *ej, bool building)
{
    struct jobs *js = ej->c->w->srv->jobs;
    int rc;

    ej->building = building;
    ej->job = (struct job){ .origin = ej->c->w, .run = building ? build_run : audit_run,
                            .done = export_done };
    rc = building ? jobs_read(js, &ej->job) : jobs_write(js, &ej->job);
    if (rc != 0) {
        http_respond_error(&ej->c->http->x, rc, NULL, "Retry-After: 1\r\n");
        export_job_free(ej);
    }
}

static void answer(struct http_exchange *x, struct export_job *ej)
{
    char headers[256];
    int fd = ej->fd;

    ej->fd = -1;
    snprintf(headers, sizeof(headers),
             "Content-Disposition: attachment; filename=\"pipit-export-%s-%lld.tar\"\r\n"
             "Cache-Control: no-store\r\n",
             ej->kind == EXPORT_USER ? "user" : "conv", (long long)ej->subject.id);
    log_info(&ej->c->log, "export of %s %lld: sending %lld bytes",
             ej->kind == EXPORT_USER ? "user" : "conversation", (long long)ej->subject.id,
             (long long)ej->size);
    http_respond_file(x, 200, "application/x-tar", headers, fd, 0, ej->size, NULL);
}

static void export_done(struct job *j)
{
    struct export_job *ej = (struct export_job *)j;
    struct conn *c = ej->c;
    struct http_exchange *x = !j->orphaned && c->http != NULL && !c->closing ? &c->http->x
                                                                            : NULL;

    if (ej->building && j->rc != 0) {
        log_error(&c->log, "export of %s %lld failed: %s",
                  ej->kind == EXPORT_USER ? "user" : "conversation", (long long)ej->subject.id,
                  ej->err[0] != '\0' ? ej->err : pipit_strerror(j->rc));
    }
    if (x == NULL) {
        export_job_free(ej);
        return;
    }
    if (j->rc == PIPIT_ENOT_FOUND) {
        http_respond_error(x, j->rc, ej->kind == EXPORT_USER ? "no such user"
                                                              : "no such conversation", NULL);
    } else if (j->rc != 0) {
        http_respond_error(x, PIPIT_EINTERNAL,
                           ej->building ? "the export could not be built"
                                        : "the audit log cannot be written; nothing was exported",
                           NULL);
    } else if (!ej->building) {
        export_submit(ej, true);
        return;
    } else {
        answer(x, ej);
    }
    export_job_free(ej);
}

/* ?user=<id or username> or ?conv=<id>: exactly one. */
static int read_query(struct http_exchange *x, struct export_job *ej, const char **why)
{
    json_t *q = json_object();
    json_t *user, *conv;
    int rc = route_query_text(x->query, "user", q, why);

    if (rc == 0) {
        rc = route_query_id(x->query, "conv", q, why);
    }
    user = json_object_get(q, "user");
    conv = json_object_get(q, "conv");
    if (rc == 0 && (user == NULL) == (conv == NULL)) {
        *why = "give user (an id or a username) or conv (an id), not both";
        rc = PIPIT_EBAD_REQUEST;
    } else if (rc == 0 && user != NULL &&
               (json_string_length(user) == 0 || json_string_length(user) > STORE_USERNAME_MAX)) {
        *why = "user is a user id or a username";
        rc = PIPIT_EBAD_REQUEST;
    } else if (rc == 0 && conv != NULL && json_integer_value(conv) < 1) {
        *why = "conv is a conversation id";
        rc = PIPIT_EBAD_REQUEST;
    }
    if (rc == 0) {
        ej->kind = user != NULL ? EXPORT_USER : EXPORT_CONV;
        if (user != NULL) {
            snprintf(ej->given, sizeof(ej->given), "%s", json_string_value(user));
        } else {
            snprintf(ej->given, sizeof(ej->given), "%lld", (long long)json_integer_value(conv));
        }
    }
    json_decref(q);
    return rc;
}

void export_download(struct http_exchange *x)
{
    struct api_request *ar = api_request_of(x);
    struct export_job *ej = xcalloc(1, sizeof(*ej));
    const char *why = NULL;
    int rc = read_query(x, ej, &why);

    if (rc != 0) {
        free(ej);
        http_respond_error(x, rc, why, NULL);
        return;
    }
    /*
     * An export holds a reader thread while it builds, and there are few of
     * them (reader_threads): a second one waits for the first to finish.
     */
    if (atomic_exchange(&x->conn->w->srv->exporting, true)) {
        free(ej);
        http_respond_error(x, PIPIT_EUNAVAILABLE, "another export is under way; try again "
                           "when it is done", "Retry-After: 5\r\n");
        return;
    }
    ej->c = x->conn;
    ej->srv = x->conn->w->srv;
    ej->fd = -1;
    ej->app_id = ar->who.user.app_id;
    api_actor(&ar->who, ej->actor);
    conn_ref(ej->c);
    export_submit(ej, false);
}
