/*
 * before_send.c: the before-send hook (before_send.h).
 */
#include "hooks/before_send.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "hooks/webhooks.h"
#include "net/conn.h"
#include "net/outbound.h"
#include "server.h"
#include "store/jobs.h"
#include "store/store_hooks.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/intmap.h"
#include "util/mem.h"
#include "util/utf8.h"

#define REASON_MAX 200            /* bytes of a rejection's reason shown to the sender */
#define ANSWER_SLACK 4096         /* an answer may be this much larger than a message body */

/* Which apps have a hook: read by every worker, written after commits. */
struct before_send_index {
    uv_rwlock_t lock;
    struct intmap apps;           /* app id → (void *)1 */
    bool loaded;
};

/* One message being checked. */
struct check {
    struct job job;               /* a read, then posts to the sender, then back */
    struct chat_call *k;
    void (*resume)(struct chat_call *k, int rc, bool orphaned);
    struct worker *origin;
    int64_t conv;
    bool member;
    bool resend;                  /* the sender's cmid is stored already */
    bool has_hook;
    struct store_before_send hook;
    CURL *easy;
    struct curl_slist *headers;
    struct buf body;
    struct buf answer;
    struct outbound_guard guard;
    long status;                  /* 0: no answer */
    bool cut;                     /* the server is stopping: no answer will come */
};

/* ---- the index ---- */

static int add_app(void *arg, int64_t app_id)
{
    intmap_put(arg, app_id, (void *)1);
    return 0;
}

static void load_run(struct job *j, void *ctx)
{
    struct server *srv = *(struct server **)(j + 1);
    struct before_send_index *ix = srv->before_send;
    struct intmap apps;

    intmap_init(&apps);
    j->rc = store_before_send_apps(ctx, add_app, &apps);
    uv_rwlock_wrlock(&ix->lock);
    if (j->rc == 0) {
        intmap_cleanup(&ix->apps);
        ix->apps = apps;
        ix->loaded = true;
    } else {
        intmap_cleanup(&apps); /* stays "every app may", so hooks still run */
    }
    uv_rwlock_wrunlock(&ix->lock);
}

static void load_done(struct job *j)
{
    free(j);
}

void before_send_load(struct server *srv)
{
    struct before_send_index *ix = xcalloc(1, sizeof(*ix));
    struct job *j = xcalloc(1, sizeof(*j) + sizeof(srv));

    uv_rwlock_init(&ix->lock);
    intmap_init(&ix->apps);
    srv->before_send = ix;
    memcpy(j + 1, &srv, sizeof(srv));
    j->run = load_run;
    j->done = load_done;
    if (jobs_read(srv->jobs, j) != 0) {
        free(j);
    }
}

void before_send_free(struct server *srv)
{
    struct before_send_index *ix = srv->before_send;

    if (ix == NULL) {
        return;
    }
    intmap_cleanup(&ix->apps);
    uv_rwlock_destroy(&ix->lock);
    free(ix);
    srv->before_send = NULL;
}

bool before_send_wanted(struct server *srv, int64_t app_id)
{
    struct before_send_index *ix = srv->before_send;
    bool wanted;

    uv_rwlock_rdlock(&ix->lock);
    wanted = !ix->loaded || intmap_get(&ix->apps, app_id) != NULL;
    uv_rwlock_rdunlock(&ix->lock);
    return wanted;
}

void before_send_set(struct server *srv, int64_t app_id, bool has)
{
    struct before_send_index *ix = srv->before_send;

    uv_rwlock_wrlock(&ix->lock);
    if (has) {
        intmap_put(&ix->apps, app_id, (void *)1);
    } else {
        intmap_remove(&ix->apps, app_id);
    }
    uv_rwlock_wrunlock(&ix->lock);
}

/* ---- checking a message ---- */

static void check_free(struct check *c)
{
    if (c->easy != NULL) {
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->headers);
    buf_cleanup(&c->body);
    buf_cleanup(&c->answer);
    store_before_send_cleanup(&c->hook);
    free(c);
}

/*
 * A rejection's reason as the sender sees it: control characters (C0, DEL, C1,
 * NUL) as spaces, cut to REASON_MAX bytes between characters; NULL if empty.
 */
static char *shown_reason(const char *s, size_t n)
{
    struct buf b;
    size_t i = 0;

    buf_init(&b, REASON_MAX + 1);
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);

        if (len == 0 || b.len + len > REASON_MAX) {
            break; /* jansson gave valid UTF-8: only the cap stops here */
        }
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
            buf_append(&b, " ", 1);
        } else {
            buf_append(&b, s + i, len);
        }
        i += len;
    }
    if (b.len == 0) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* What the hook said, on the sender's worker: the message goes on, changed, or not. */
static int apply(struct check *c)
{
    struct chat_call *k = c->k;
    json_t *answer = NULL, *body;
    const char *action = NULL;
    int rc = PIPIT_EMESSAGE_REJECTED;

    if (c->status >= 200 && c->status < 300) {
        answer = json_loadb(c->answer.data != NULL ? c->answer.data : "", c->answer.len,
                            JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        action = json_string_value(json_object_get(answer, "action"));
    }
    body = json_object_get(answer, "body");
    if (action != NULL && strcmp(action, "allow") == 0) {
        rc = 0;
    } else if (action != NULL && strcmp(action, "reject") == 0) {
        json_t *reason = json_object_get(answer, "reason");

        free(k->why_text);
        k->why_text = json_is_string(reason) ? shown_reason(json_string_value(reason),
                                                            json_string_length(reason))
                                             : NULL;
        k->why = k->why_text != NULL ? k->why_text : "the message was not accepted";
    } else if (action != NULL && strcmp(action, "replace") == 0 && json_is_object(body)) {
        /* The new body is checked like a sender's: type, size, files, the filter. */
        json_object_set(k->args, "body", body);
        free(k->body_text);
        free(k->meta_text);
        free(k->flag); /* what the filter flagged in the old text is gone with it */
        k->body_text = k->meta_text = NULL;
        k->flag = NULL;
        rc = k->action->prepare(k);
    } else {
        rc = c->hook.reject_on_failure ? PIPIT_EMESSAGE_REJECTED : 0;
        k->why = "the message could not be checked; try again later";
    }
    json_decref(answer);
    return rc;
}

static void answered(struct job *j)
{
    struct check *c = (struct check *)j;
    struct chat_call *k = c->k;
    /* Stopping is not the hook's answer: no fallback, the sender tries again. */
    int rc = j->orphaned || c->cut ? PIPIT_EUNAVAILABLE : apply(c);

    c->resume(k, rc, j->orphaned);
    check_free(c);
}

/* Back to the sender's worker with the answer (status 0: none). */
static void reply(struct check *c)
{
    c->job.done = answered;
    c->job.orphaned = false; /* a post to a stopped sender ran here at once: not ours */
    worker_post(c->origin, &c->job);
}

static void on_answer(void *arg, CURL *easy, CURLcode result)
{
    struct check *c = arg;

    c->cut = result == CURLE_ABORTED_BY_CALLBACK;
    if (result == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &c->status);
    }
    reply(c);
}

/* On the webhooks service's thread: the request. */
static void ask(struct job *j)
{
    struct check *c = (struct check *)j;
    struct chat_call *k = c->k;
    struct outbound *ob = j->orphaned ? NULL : webhooks_outbound(k->srv);
    char line[160];

    if (ob == NULL || (c->easy = curl_easy_init()) == NULL) {
        c->cut = true; /* stopping: the sender tries again later */
        reply(c);
        return;
    }
    buf_init(&c->body, (size_t)k->srv->cfg.max_message_size + ANSWER_SLACK);
    buf_init(&c->answer, (size_t)k->srv->cfg.max_message_size + ANSWER_SLACK);
    buf_printf(&c->body, "{\"type\":\"message.before_send\",\"app\":%lld,\"created_at\":%lld,"
               "\"data\":{\"conv\":%lld,\"from\":%lld,\"cmid\":", (long long)k->who.app_id,
               (long long)clock_now_ms(), (long long)c->conv, (long long)k->who.user_id);
    buf_append_json_string(&c->body, json_string_value(json_object_get(k->args, "cmid")),
                           json_string_length(json_object_get(k->args, "cmid")));
    buf_printf(&c->body, ",\"body\":%s}}", k->body_text);
    c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    c->headers = curl_slist_append(c->headers, "X-Pipit-Event: message.before_send");
    webhooks_signature(c->hook.secret, c->body.data, c->body.len, line, sizeof(line));
    c->headers = curl_slist_append(c->headers, line);
    webhooks_request_options(k->srv, c->easy, c->hook.url, c->hook.timeout_ms, &c->guard);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body.data);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)c->body.len);
    /* Too long for any valid answer: the transfer fails, and so the check. */
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, outbound_keep_all);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->answer);
    if (outbound_start(ob, c->easy, on_answer, c) != 0) {
        reply(c);
    }
}

static int is_there(void *arg, const struct store_event *ev)
{
    (void)arg;
    (void)ev;
    return 0;
}

/* On a reader: is the sender a member, is this a resend, and what is the hook. */
static void look_run(struct job *j, void *ctx)
{
    struct check *c = (struct check *)j;
    struct store_member m;

    c->member = store_member_get(ctx, c->conv, c->k->who.user_id, &m) == 0 && m.left_seq == 0;
    /* A resend of a stored message is a duplicate, whatever the hook would say now. */
    c->resend = store_event_by_cmid(ctx, c->k->who.user_id,
                                    json_string_value(json_object_get(c->k->args, "cmid")),
                                    is_there, NULL) == 0;
    j->rc = store_before_send_get(ctx, c->k->who.app_id, &c->hook);
    c->has_hook = j->rc == 0;
    if (j->rc == PIPIT_ENOT_FOUND) {
        j->rc = 0;
    }
}

static void looked(struct job *j)
{
    struct check *c = (struct check *)j;
    struct worker *sender = webhooks_worker(c->k->srv);

    if (j->orphaned || j->rc != 0 || !c->has_hook || !c->member || c->resend || sender == NULL) {
        /* No hook; not a member (the write refuses it, and the hook never sees it); or a
         * resend (the write answers with the stored message). No thread to ask: later. */
        int rc = j->orphaned || (c->has_hook && c->member && !c->resend && sender == NULL)
                     ? PIPIT_EUNAVAILABLE : j->rc;

        c->resume(c->k, rc, j->orphaned);
        check_free(c);
        return;
    }
    c->job.done = ask;
    worker_post(sender, &c->job);
}

void before_send_run(struct chat_call *k,
                     void (*resume)(struct chat_call *k, int rc, bool orphaned))
{
    struct check *c = xcalloc(1, sizeof(*c));

    c->k = k;
    c->resume = resume;
    c->origin = k->c->w;
    c->conv = json_integer_value(json_object_get(k->args, "conv"));
    c->job.origin = c->origin;
    c->job.run = look_run;
    c->job.done = looked;
    if (jobs_read(k->srv->jobs, &c->job) != 0) {
        free(c);
        resume(k, PIPIT_EUNAVAILABLE, false);
    }
}
