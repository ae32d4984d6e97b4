/*
 * assistant.c: the private AI assistant (assistant.h).
 */
#include "hooks/assistant.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "hooks/sse.h"
#include "hooks/webhooks.h"
#include "net/outbound.h"
#include "net/worker.h"
#include "server.h"
#include "store/jobs.h"
#include "store/store_chat.h"
#include "store/store_hooks.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/intmap.h"
#include "util/log.h"
#include "util/mem.h"

#define LINE_MAX_BYTES (256 * 1024)   /* one server-sent event, at most */
#define ANSWER_MAX (1 << 20)          /* a whole JSON answer, at most */
#define WINDOW_MS 60000               /* the limits count questions per minute */
#define NOTE_ROOM 512                 /* bytes kept free for a closing note */
#define BUSY_TEXT "I am answering too many questions right now. Please ask again in a minute."

struct assistants {
    /* The store writer's. */
    struct intmap bots;           /* app id → its enabled assistant's bot id */
    bool stale;
    /* The service thread's: questions counted in the current minute. */
    struct intmap counts;         /* user id, or -(app id) → struct window */
};

struct window {
    int64_t start;
    int64_t n;
};

/* One question being answered. */
struct ask {
    struct job job;
    struct server *srv;
    int64_t app_id, conv, seq, sender;
    struct store_assistant cfg;
    json_t *messages;             /* the request's, oldest first */
    int64_t reply;                /* the seq of the streaming answer */
    CURL *easy;
    struct curl_slist *headers;
    struct outbound_guard guard;
    char *request;
    struct sse sse;
    struct buf raw;               /* an answer that is not an event stream */
    bool is_stream;
    bool decided;                 /* is_stream was decided, at the first bytes */
    bool done_seen;               /* "[DONE]" */
    struct buf pending;           /* text not appended yet */
    bool appending;               /* an append is being stored */
    bool answered;                /* the endpoint's answer is over */
    bool final_sent;
    bool broken;                  /* an append failed: only the end is sent */
    bool any_text;                /* the model said something */
    bool cut;                     /* the answer outgrew the message: the rest is dropped */
    size_t streamed;              /* bytes of text appended so far */
};

void assistant_new(struct server *srv)
{
    struct assistants *a = xcalloc(1, sizeof(*a));

    intmap_init(&a->bots);
    intmap_init(&a->counts);
    a->stale = true;
    srv->assistants = a;
}

void assistant_free(struct server *srv)
{
    struct assistants *a = srv->assistants;

    if (a == NULL) {
        return;
    }
    intmap_cleanup(&a->bots);
    intmap_cleanup_free(&a->counts);
    free(a);
    srv->assistants = NULL;
}

/* ---- on the writer ---- */

static int add_bot(void *arg, int64_t app_id, int64_t bot_id)
{
    intmap_put(arg, app_id, (void *)(intptr_t)bot_id);
    return 0;
}

int64_t assistant_bot(struct server *srv, struct store_conn *sc, int64_t app_id)
{
    struct assistants *a = srv->assistants;

    if (a->stale) {
        intmap_cleanup(&a->bots);
        a->stale = store_assistant_bots(sc, add_bot, &a->bots) != 0;
    }
    return (int64_t)(intptr_t)intmap_get(&a->bots, app_id);
}

void assistant_changed(struct server *srv)
{
    srv->assistants->stale = true;
}

/* ---- answering, on the service thread ---- */

static void ask_free(struct ask *q)
{
    if (q->easy != NULL) {
        curl_easy_cleanup(q->easy);
    }
    curl_slist_free_all(q->headers);
    free(q->request);
    sse_cleanup(&q->sse);
    buf_cleanup(&q->raw);
    buf_cleanup(&q->pending);
    json_decref(q->messages);
    store_assistant_cleanup(&q->cfg);
    free(q);
}

static struct chat_caller bot_caller(const struct ask *q)
{
    return (struct chat_caller){ .user_id = q->cfg.bot_id, .app_id = q->app_id };
}

static void flush(struct ask *q);

static void appended(void *arg, int rc, json_t *result, const char *why)
{
    struct ask *q = arg;

    q->appending = false;
    if (rc != 0 && !q->final_sent) {
        /* The message cannot take more (too long, or gone): the rest is dropped. */
        log_warn(NULL, "assistant: cannot add to message %lld in conversation %lld: %s",
                 (long long)q->reply, (long long)q->conv, why != NULL ? why : pipit_strerror(rc));
        q->broken = true;
    }
    if (q->final_sent) {
        ask_free(q); /* the answer is over too: final waits for it */
        return;
    }
    flush(q);
}

/* Stores what came meanwhile, one append at a time; the last one is final. */
static void flush(struct ask *q)
{
    struct chat_caller who = bot_caller(q);
    bool final = q->answered;
    json_t *args;

    if (q->broken) {
        buf_reset(&q->pending);
    }
    if (q->appending || q->final_sent || (q->pending.len == 0 && !final)) {
        return;
    }
    args = json_pack("{s:I,s:I,s:s%,s:b}", "conv", (json_int_t)q->conv, "seq",
                     (json_int_t)q->reply, "text",
                     q->pending.data != NULL ? q->pending.data : "", q->pending.len, "final",
                     final);
    q->streamed += q->pending.len;
    buf_reset(&q->pending);
    q->appending = true;
    q->final_sent = final;
    chat_call_internal(q->srv, webhooks_worker(q->srv), &who, "append", args, appended, q);
}

/* The endpoint said something: a piece of the answer, as text. */
static void take_text(struct ask *q, const char *text)
{
    size_t room, n;

    if (text == NULL || q->cut) {
        return;
    }
    q->any_text |= text[0] != '\0';
    /* What fits of the message (whole characters), less room for the note. */
    room = (size_t)q->srv->cfg.max_message_size - q->streamed - q->pending.len;
    room = room > NOTE_ROOM ? room - NOTE_ROOM : 0;
    n = strlen(text);
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80) {
            n--;
        }
        q->cut = true;
        log_warn(NULL, "assistant: the answer in conversation %lld is too long; cut",
                 (long long)q->conv);
    }
    buf_append(&q->pending, text, n);
}

static int on_event(void *arg, const char *data, size_t len)
{
    struct ask *q = arg;
    json_t *chunk;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        q->done_seen = true;
        return 0;
    }
    chunk = json_loadb(data, len, 0, NULL);
    take_text(q, json_string_value(json_object_get(
                     json_object_get(json_array_get(json_object_get(chunk, "choices"), 0),
                                     "delta"),
                     "content")));
    json_decref(chunk);
    return 0;
}

static size_t on_bytes(char *p, size_t size, size_t n, void *arg)
{
    struct ask *q = arg;
    size_t len = size * n;

    if (!q->decided) {
        const char *type = NULL;

        curl_easy_getinfo(q->easy, CURLINFO_CONTENT_TYPE, &type);
        q->is_stream = type != NULL && strncmp(type, "text/event-stream", 17) == 0;
        q->decided = true;
    }
    if (q->is_stream ? sse_feed(&q->sse, p, len) != 0 : buf_append(&q->raw, p, len) != 0) {
        return 0; /* too much: the transfer fails */
    }
    flush(q);
    return len;
}

/* The endpoint's answer is over: the last of the text, or a note of what went wrong. */
static void on_answered(void *arg, CURL *easy, CURLcode result)
{
    struct ask *q = arg;
    long status = 0;
    char note[300] = "";

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_OK && status >= 200 && status < 300 && !q->is_stream) {
        json_t *answer = json_loadb(q->raw.data != NULL ? q->raw.data : "", q->raw.len, 0, NULL);
        const char *text = json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(answer, "choices"), 0), "message"),
            "content"));

        if (text == NULL) {
            snprintf(note, sizeof(note), "the model's answer could not be read");
        }
        take_text(q, text);
        json_decref(answer);
    } else if (result == CURLE_OPERATION_TIMEDOUT) {
        snprintf(note, sizeof(note), "the model took longer than %lld s",
                 (long long)(q->cfg.timeout_ms / 1000));
    } else if (result == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(note, sizeof(note), "the server is restarting");
    } else if (result != CURLE_OK && q->guard.refused > 0 && q->guard.refused == q->guard.tried) {
        snprintf(note, sizeof(note), "its endpoint is on a private address, which "
                                     "webhook_allow_private does not allow");
    } else if (result != CURLE_OK) {
        snprintf(note, sizeof(note), "the model could not be reached (%s)",
                 curl_easy_strerror(result));
    } else if (status < 200 || status >= 300) {
        snprintf(note, sizeof(note), "the model answered HTTP %ld", status);
    } else if (q->cut) {
        snprintf(note, sizeof(note), "the answer was longer than a message may be, and is cut");
    }
    if (note[0] != '\0') {
        log_warn(NULL, "assistant: conversation %lld: %s", (long long)q->conv, note);
        buf_printf(&q->pending, "%s[The assistant could not answer: %s.]",
                   q->any_text ? "\n\n" : "", note);
    }
    q->answered = true;
    flush(q);
}

static void ask_model(struct ask *q)
{
    struct outbound *ob = webhooks_outbound(q->srv);
    json_t *body = json_pack("{s:s,s:b,s:O}", "model", q->cfg.model, "stream", 1, "messages",
                             q->messages);
    size_t base = strlen(q->cfg.base_url);
    char *url = xmalloc(base + sizeof("/chat/completions"));

    /* "http://host/v1/" and "http://host/v1" alike. */
    memcpy(url, q->cfg.base_url, base);
    base -= base > 0 && url[base - 1] == '/';
    memcpy(url + base, "/chat/completions", sizeof("/chat/completions"));
    q->request = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    sse_init(&q->sse, LINE_MAX_BYTES, on_event, q);
    buf_init(&q->raw, ANSWER_MAX);
    q->headers = curl_slist_append(q->headers, "Content-Type: application/json");
    q->headers = curl_slist_append(q->headers, "Accept: text/event-stream");
    q->headers = curl_slist_append(q->headers, "Expect:");
    if (q->cfg.api_key != NULL && q->cfg.api_key[0] != '\0') {
        char line[600];

        snprintf(line, sizeof(line), "Authorization: Bearer %s", q->cfg.api_key);
        q->headers = curl_slist_append(q->headers, line);
    }
    q->easy = ob != NULL ? curl_easy_init() : NULL;
    if (q->easy == NULL || q->request == NULL) {
        free(url);
        on_answered(q, q->easy, CURLE_ABORTED_BY_CALLBACK);
        return;
    }
    webhooks_request_options(q->srv, q->easy, url, q->cfg.timeout_ms, &q->guard);
    free(url);
    curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->headers);
    curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->request);
    curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, on_bytes);
    curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
    if (outbound_start(ob, q->easy, on_answered, q) != 0) {
        on_answered(q, q->easy, CURLE_FAILED_INIT);
    }
}

static void opened(void *arg, int rc, json_t *result, const char *why)
{
    struct ask *q = arg;

    if (rc != 0) {
        /* The bot was removed from the conversation meanwhile, say: no answer. */
        log_info(NULL, "assistant: cannot answer in conversation %lld: %s", (long long)q->conv,
                 why != NULL ? why : pipit_strerror(rc));
        ask_free(q);
        return;
    }
    q->reply = json_integer_value(json_object_get(result, "seq"));
    ask_model(q);
}

/* A fixed window per key: whether one more question fits in this minute. */
static bool fits(struct assistants *a, int64_t key, int64_t limit, int64_t now)
{
    struct window *w = intmap_get(&a->counts, key);

    if (w == NULL) {
        w = xcalloc(1, sizeof(*w));
        intmap_put(&a->counts, key, w);
    }
    if (now - w->start >= WINDOW_MS) {
        w->start = now;
        w->n = 0;
    }
    return w->n < limit;
}

static void count(struct assistants *a, int64_t key)
{
    struct window *w = intmap_get(&a->counts, key);

    w->n++;
}

static void busy_sent(void *arg, int rc, json_t *result, const char *why)
{
    ask_free(arg);
}

/* Back on the service thread with the settings and the context: answer, or say "busy". */
static void loaded(struct job *j)
{
    struct ask *q = (struct ask *)j;
    struct assistants *a = q->srv->assistants;
    struct chat_caller who = bot_caller(q);
    int64_t now = clock_now_ms();
    char cmid[64];

    if (j->orphaned || j->rc != 0) {
        if (!j->orphaned && j->rc != PIPIT_ENOT_FOUND) {
            log_error(NULL, "assistant: cannot read conversation %lld: %s", (long long)q->conv,
                      pipit_strerror(j->rc));
        }
        ask_free(q);
        return;
    }
    /* One answer per question, whatever happens: a retry finds the first. */
    snprintf(cmid, sizeof(cmid), "assistant:%lld:%lld", (long long)q->conv, (long long)q->seq);
    if (a->counts.len > 100000) {
        intmap_cleanup_free(&a->counts); /* stale windows of many users: all restart */
    }
    if (!fits(a, q->sender, q->cfg.user_per_minute, now) ||
        !fits(a, -q->app_id, q->cfg.app_per_minute, now)) {
        chat_call_internal(q->srv, webhooks_worker(q->srv), &who, "send",
                           json_pack("{s:I,s:s,s:I,s:{s:s,s:s}}", "conv", (json_int_t)q->conv,
                                     "cmid", cmid, "reply_to", (json_int_t)q->seq, "body",
                                     "type", "text", "text", BUSY_TEXT),
                           busy_sent, q);
        return;
    }
    count(a, q->sender);
    count(a, -q->app_id);
    chat_call_internal(q->srv, webhooks_worker(q->srv), &who, "send",
                       json_pack("{s:I,s:s,s:I,s:b,s:{s:s,s:s}}", "conv", (json_int_t)q->conv,
                                 "cmid", cmid, "reply_to", (json_int_t)q->seq, "streaming", 1,
                                 "body", "type", "text", "text", ""),
                       opened, q);
}

/* The conversation as the model reads it: newest first here, reversed at the end. */
static int add_context(void *arg, const struct store_event *ev)
{
    struct ask *q = arg;
    json_t *body, *msg;
    const char *text;
    char name[32];

    if (json_array_size(q->messages) >= (size_t)q->cfg.context_messages) {
        return 1; /* enough */
    }
    if (strcmp(ev->kind, "message") != 0 || ev->body == NULL) {
        return 0;
    }
    body = json_loads(ev->body, 0, NULL);
    text = json_string_value(json_object_get(body, "text"));
    if (text != NULL && text[0] != '\0') {
        msg = json_pack("{s:s,s:s}", "role", ev->sender == q->cfg.bot_id ? "assistant" : "user",
                        "content", text);
        if (ev->sender != q->cfg.bot_id) {
            /* Who said it, for a group: the model can tell people apart. */
            snprintf(name, sizeof(name), "user%lld", (long long)ev->sender);
            json_object_set_new(msg, "name", json_string(name));
        }
        json_array_insert_new(q->messages, 0, msg);
    }
    json_decref(body);
    return 0;
}

static void load_run(struct job *j, void *ctx)
{
    struct ask *q = (struct ask *)j;
    struct store_member m;
    struct store_user bot;

    j->rc = store_assistant_get(ctx, q->app_id, &q->cfg);
    if (j->rc == 0 && (!q->cfg.enabled || store_user_by_id(ctx, q->cfg.bot_id, &bot) != 0 ||
                       bot.disabled_at != 0)) {
        j->rc = PIPIT_ENOT_FOUND;
    }
    /* What the bot may see: from when it joined (its history shows no more). */
    if (j->rc == 0) {
        j->rc = store_member_get(ctx, q->conv, q->cfg.bot_id, &m);
    }
    if (j->rc != 0) {
        return;
    }
    q->messages = json_array();
    /* Newest first, until context_messages texts: other events (edits, members) are
     * skipped, so more are read, within a bound. */
    j->rc = store_events_range(ctx, q->conv, q->cfg.bot_id, clock_now_ms(), m.joined_seq - 1,
                               q->seq + 1, (int)q->cfg.context_messages * 4 + 16, true,
                               add_context, q);
    if (j->rc == 0 && q->cfg.system_prompt != NULL && q->cfg.system_prompt[0] != '\0') {
        json_array_insert_new(q->messages, 0, json_pack("{s:s,s:s}", "role", "system",
                                                        "content", q->cfg.system_prompt));
    }
}

void assistant_ask(struct server *srv, int64_t app_id, int64_t conv, int64_t seq, int64_t sender)
{
    struct worker *w = webhooks_worker(srv);
    struct ask *q;

    if (w == NULL) {
        return;
    }
    q = xcalloc(1, sizeof(*q));
    q->srv = srv;
    q->app_id = app_id;
    q->conv = conv;
    q->seq = seq;
    q->sender = sender;
    buf_init(&q->pending, (size_t)srv->cfg.max_message_size);
    q->job.origin = w;
    q->job.run = load_run;
    q->job.done = loaded;
    if (jobs_read(srv->jobs, &q->job) != 0) {
        log_warn(NULL, "assistant: busy; the question in conversation %lld is not answered",
                 (long long)conv);
        ask_free(q);
    }
}
