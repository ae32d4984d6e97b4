/*
 * config.c: the option table and the code it drives.
 *
 * Each row names a key, its type, where it lives in struct config, its default
 * (as the text a user would write) and its bounds. Parsing a file, a flag or a
 * default all go through config_set(), so a default is validated exactly like
 * user input and the docs can never disagree with the code.
 */
#include "config/config.h"

#include <errno.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_SIZE, CFG_DURATION, CFG_ENUM };

#define CFG_SECRET 1u /* never printed */

struct cfg_opt {
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def;
    int64_t min, max;            /* for INT, SIZE (bytes) and DURATION (ms) */
    const char *const *choices;  /* for ENUM: index = stored value */
    unsigned flags;
    const char *help;
};

static const char *const registration_choices[] = { "closed", "open", NULL };
static const char *const yes_no_choices[] = { "no", "yes", NULL };
static const char *const log_level_choices[] = { "debug", "info", "warn", "error", NULL };
static const char *const sync_choices[] = { "full", "normal", "off", NULL };
static const char *const chat_notify_choices[] = { "full", "private", "off", NULL };

#define KIB (1024LL)
#define MIB (1024LL * 1024)
#define SEC 1000LL
#define DAY (86400LL * 1000)
#define OFF(f) offsetof(struct config, f)

static const struct cfg_opt cfg_table[] = {
    { "listen", CFG_STR, OFF(listen), "127.0.0.1:8080", 0, 0, NULL, 0,
      "Address and port to listen on (`ADDR:PORT`, IPv6 as `[::1]:8080`). Port 0 picks a free port; the log shows the real one." },
    { "data_dir", CFG_STR, OFF(data_dir), "./data", 0, 0, NULL, 0,
      "Directory holding the SQLite store, uploaded files (`files/`), the lock file and, after the first start, `initial-admin-password`. Back up the store and `files/` together (see docs/operations.md)." },
    { "master_key_file", CFG_STR, OFF(master_key_file), "", 0, 0, NULL, 0,
      "File holding the master key of encryption at rest (64 hex digits; `pipit keys generate` makes one), outside `data_dir`. Empty: the file named by the environment variable `PIPIT_MASTER_KEY_FILE`, else the key itself in `PIPIT_MASTER_KEY`, else none: bodies and files are stored as they are. Once a data dir holds encrypted data, pipitd refuses to start without the key that opens it (docs/operations.md)." },
    { "workers", CFG_INT, OFF(workers), "0", 0, 256, NULL, 0,
      "Number of I/O worker threads, each with its own event loop and listener. 0 means one per CPU core." },
    { "registration", CFG_ENUM, OFF(registration), "closed", 0, 0, registration_choices, 0,
      "`open` lets anyone create an account with `POST /v1/auth/register`; `closed` leaves it to admins." },
    { "mfa_issuer", CFG_STR, OFF(mfa_issuer), "pipit", 0, 0, NULL, 0,
      "The name authenticator apps show for this server's accounts (the issuer of the TOTP secrets users enrol, e.g. `ACME Bank`)." },
    { "tls_cert", CFG_STR, OFF(tls_cert), "", 0, 0, NULL, 0,
      "PEM certificate chain. With `tls_key` set too, the listener speaks TLS only." },
    { "tls_key", CFG_STR, OFF(tls_key), "", 0, 0, NULL, CFG_SECRET,
      "PEM private key for `tls_cert` (ECDSA P-256 recommended: half the handshake cost of RSA-2048)." },
    { "allowed_origins", CFG_STR, OFF(allowed_origins), "", 0, 0, NULL, 0,
      "Comma-separated origins (`https://chat.example.com`) whose pages may open WebSockets, besides the server's own origin. Exact match only." },
    { "web_root", CFG_STR, OFF(web_root), "./web/dist", 0, 0, NULL, 0,
      "Directory of static files served for paths outside `/v1/`: the chat web app at `/` and the admin console at `/admin/`, as `make build` writes them. Resolved once at start-up; if it does not exist then, no static files are served." },
    { "log_level", CFG_ENUM, OFF(log_level), "info", 0, 0, log_level_choices, 0,
      "Least severe level written to stderr." },
    { "sqlite_synchronous", CFG_ENUM, OFF(sqlite_synchronous), "full", 0, 0, sync_choices, 0,
      "SQLite durability. `full`: an acknowledged write survives power loss. `normal`: faster, may lose the last commits on power loss (never on a crash). `off`: tests only." },
    { "push_allow_http", CFG_ENUM, OFF(push_allow_http), "no", 0, 0, yes_no_choices, 0,
      "Whether devices may register Web Push or UnifiedPush endpoints over plain `http://` (`yes` for a closed network or tests)." },
    { "push_allow_private", CFG_ENUM, OFF(push_allow_private), "no", 0, 0, yes_no_choices, 0,
      "Whether device endpoints may point at loopback, private, link-local or shared addresses (`yes` when the push services run inside the organisation's own network, or for tests). `no` keeps a client from making the server send requests into the internal network." },
    { "max_devices_per_user", CFG_INT, OFF(max_devices_per_user), "20", 1, 1000, NULL, 0,
      "Most devices a user may register; registering one more removes the user's least recently updated device." },
    { "chat_notifications", CFG_ENUM, OFF(chat_notifications), "full", 0, 0, chat_notify_choices, 0,
      "Push notifications for chat messages to members with no session open. `full`: sender and a preview of the text; `private`: only \"New message\", for every user (each user can also choose private previews for themselves); `off`: none." },
    { "push_concurrency", CFG_INT, OFF(push_concurrency), "256", 1, 100000, NULL, 0,
      "Most push requests (Web Push, UnifiedPush, APNs, FCM) in flight at once. HTTP/2 providers multiplex them over one connection each." },
    { "push_request_timeout", CFG_DURATION, OFF(push_request_timeout), "15s", 1 * SEC, 600 * SEC, NULL, 0,
      "How long one request to a push provider may take, connecting included, before it counts as failed and is retried." },
    { "push_retry_base", CFG_DURATION, OFF(push_retry_base), "1s", 10, 3600 * SEC, NULL, 0,
      "First delay before retrying a delivery a provider could not take (network error, 429, 5xx). Each retry doubles it, up to `push_retry_cap`, with random jitter; a `Retry-After` from the provider is honoured." },
    { "push_retry_cap", CFG_DURATION, OFF(push_retry_cap), "10m", 10, 86400 * SEC, NULL, 0,
      "Longest delay between two attempts of one delivery." },
    { "push_max_attempts", CFG_INT, OFF(push_max_attempts), "12", 1, 1000, NULL, 0,
      "Attempts per delivery before it is given up as failed (`retries_exhausted`). A delivery whose push outlives its TTL is given up earlier, as expired." },
    { "push_ca_file", CFG_STR, OFF(push_ca_file), "", 0, 0, NULL, 0,
      "PEM file of the certificate authorities trusted for push providers and webhook receivers, instead of the system's. For a provider or business system behind an internal CA, or tests." },
    { "webhook_allow_http", CFG_ENUM, OFF(webhook_allow_http), "no", 0, 0, yes_no_choices, 0,
      "Whether webhooks may use plain `http://` URLs (`yes` only on a network you trust: the payloads carry message text)." },
    { "webhook_allow_private", CFG_ENUM, OFF(webhook_allow_private), "no", 0, 0, yes_no_choices, 0,
      "Whether webhook URLs may lead to loopback, private, link-local or shared addresses, checked when a webhook is saved and again at every connection. `yes` when the business systems are on the organisation's own network (the usual case on premises): then any admin can make the server send requests inside it, so keep admin accounts few and protected by two-factor authentication." },
    { "webhook_timeout", CFG_DURATION, OFF(webhook_timeout), "10s", 1 * SEC, 600 * SEC, NULL, 0,
      "How long one webhook request may take, connecting included, before the attempt counts as failed." },
    { "webhook_retry_base", CFG_DURATION, OFF(webhook_retry_base), "2s", 10, 3600 * SEC, NULL, 0,
      "First delay before retrying a webhook delivery that failed (no answer, or not 2xx). Each retry doubles it, up to `webhook_retry_cap`, with random jitter; a `Retry-After` on 429 or 503 is honoured." },
    { "webhook_retry_cap", CFG_DURATION, OFF(webhook_retry_cap), "10m", 10, 86400 * SEC, NULL, 0,
      "Longest delay between two attempts of one webhook delivery." },
    { "webhook_retry_for", CFG_DURATION, OFF(webhook_retry_for), "24h", 1 * SEC, 30 * DAY, NULL, 0,
      "How long a webhook delivery is retried, from its event (or from an admin's retry), before it is marked failed." },
    { "webhook_concurrency", CFG_INT, OFF(webhook_concurrency), "16", 1, 10000, NULL, 0,
      "Most webhook requests in flight at once." },
    { "webhook_keep", CFG_DURATION, OFF(webhook_keep), "7d", 1 * SEC, 365 * DAY, NULL, 0,
      "How long the records of finished webhook deliveries (delivered or failed) stay visible to admins. A failed delivery keeps its payload until then, for a retry; a delivered one drops it at once." },
    { "call_max_participants", CFG_INT, OFF(call_max_participants), "8", 2, 64, NULL, 0,
      "Most members a conversation may have for a call in it (pipit only signals: each participant sends media to each other, so keep this small)." },
    { "call_ring_timeout", CFG_DURATION, OFF(call_ring_timeout), "45s", 5 * SEC, 600 * SEC, NULL, 0,
      "How long a call rings before it ends as missed when nobody accepts it." },
    { "turn_urls", CFG_STR, OFF(turn_urls), "", 0, 0, NULL, 0,
      "Comma-separated TURN server URLs handed to clients with their credentials (`GET /v1/turn`), e.g. `turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349`." },
    { "turn_secret", CFG_STR, OFF(turn_secret), "", 0, 0, NULL, CFG_SECRET,
      "The shared secret of the TURN server's REST API scheme (coturn: `use-auth-secret` with `static-auth-secret=` this value). Empty: `GET /v1/turn` answers 404 and calls use STUN and direct paths only." },
    { "turn_ttl", CFG_DURATION, OFF(turn_ttl), "1h", 60 * SEC, 7 * DAY, NULL, 0,
      "How long the TURN credentials of `GET /v1/turn` stay valid." },
    { "vapid_subject", CFG_STR, OFF(vapid_subject), "mailto:webpush@pipit.invalid", 0, 0, NULL, 0,
      "Contact put in every VAPID token (`mailto:` or `https:`), so a push service can reach the operator. Set a real one: Apple's service refuses placeholder addresses." },
    { "apns_key_file", CFG_STR, OFF(apns_key_file), "", 0, 0, NULL, 0,
      "APNs token-auth key (`AuthKey_XXXXXXXXXX.p8` from Apple). Empty: iOS devices cannot be reached, and their deliveries fail as `not_configured`." },
    { "apns_key_id", CFG_STR, OFF(apns_key_id), "", 0, 0, NULL, 0,
      "The 10-character Key ID of `apns_key_file`." },
    { "apns_team_id", CFG_STR, OFF(apns_team_id), "", 0, 0, NULL, 0,
      "The 10-character Apple Developer Team ID that owns the key." },
    { "apns_url", CFG_STR, OFF(apns_url), "https://api.push.apple.com", 0, 0, NULL, 0,
      "APNs base URL for devices of release builds." },
    { "apns_sandbox_url", CFG_STR, OFF(apns_sandbox_url), "https://api.sandbox.push.apple.com", 0, 0, NULL, 0,
      "APNs base URL for devices registered with `\"sandbox\": true` (development builds of an app, whose tokens production APNs refuses)." },
    { "fcm_service_account", CFG_STR, OFF(fcm_service_account), "", 0, 0, NULL, 0,
      "Firebase service-account JSON file (from the Firebase console). Empty: Android devices cannot be reached, and their deliveries fail as `not_configured`." },
    { "fcm_url", CFG_STR, OFF(fcm_url), "https://fcm.googleapis.com", 0, 0, NULL, 0,
      "FCM HTTP v1 base URL." },
    { "fcm_token_url", CFG_STR, OFF(fcm_token_url), "", 0, 0, NULL, 0,
      "OAuth2 token URL for the service account. Empty: the account file's `token_uri`." },
    { "sqlite_cache_size", CFG_SIZE, OFF(sqlite_cache_size), "64m", 1 * MIB, 64 * 1024 * MIB, NULL, 0,
      "Page cache of the store writer's connection. Every message updates index pages spread over the database; when they stay cached a batch does not read them back. Readers keep SQLite's default (2 MiB each)." },
    { "sqlite_mmap_size", CFG_SIZE, OFF(sqlite_mmap_size), "0", 0, 64 * 1024 * MIB, NULL, 0,
      "How much of the database file the reader threads map into memory instead of reading it with system calls. `0` (the default) turns it off: searches read pages all over the file, and the first touch of each mapped page is a page fault, which on virtual machines costs more than the read it saves (search p99 on a million messages 50-59 ms read, 75-87 ms mapped; bench/RESULTS.md). Worth trying on bare metal with a database that fits in memory." },
    { "token_ttl", CFG_DURATION, OFF(token_ttl), "30d", 1 * SEC, 3650 * DAY, NULL, 0,
      "Lifetime of a session token from login." },
    { "token_idle_ttl", CFG_DURATION, OFF(token_idle_ttl), "14d", 0, 3650 * DAY, NULL, 0,
      "A session not used for this long ends: its token is refused from then on. A session counts as used while one of its WebSockets is open; otherwise by its requests (recorded at most once a minute). `0` turns idle expiry off." },
    { "max_header_count", CFG_INT, OFF(max_header_count), "64", 8, 1024, NULL, 0,
      "Most header fields in one request; more is answered 431." },
    { "max_header_size", CFG_SIZE, OFF(max_header_size), "16k", 1 * KIB, 1 * MIB, NULL, 0,
      "Most bytes in a request's target, header names and values together; more is answered 431." },
    { "max_url_length", CFG_SIZE, OFF(max_url_length), "8k", 256, 1 * MIB, NULL, 0,
      "Longest request target; longer is answered 414." },
    { "max_body_size", CFG_SIZE, OFF(max_body_size), "1m", 1 * KIB, 1024 * MIB, NULL, 0,
      "Largest request body; larger is answered 413 before it is read." },
    { "header_timeout", CFG_DURATION, OFF(header_timeout), "10s", 100, 600 * SEC, NULL, 0,
      "Time a client has to send a whole request head; then 408 and the connection closes." },
    { "idle_timeout", CFG_DURATION, OFF(idle_timeout), "60s", 100, 3600 * SEC, NULL, 0,
      "How long a keep-alive HTTP connection may wait for its next request." },
    { "ws_max_message_size", CFG_SIZE, OFF(ws_max_message_size), "1m", 1 * KIB, 64 * MIB, NULL, 0,
      "Largest WebSocket message (after reassembly); larger closes the connection with 1009." },
    { "ws_send_queue_max", CFG_SIZE, OFF(ws_send_queue_max), "4m", 16 * KIB, 1024 * MIB, NULL, 0,
      "Most unsent bytes queued for one WebSocket. A client that stops reading past this is disconnected." },
    { "ws_auth_timeout", CFG_DURATION, OFF(ws_auth_timeout), "10s", 100, 600 * SEC, NULL, 0,
      "Time a new WebSocket has to authenticate; then it is closed with 1008." },
    { "ws_ping_interval", CFG_DURATION, OFF(ws_ping_interval), "30s", 100, 3600 * SEC, NULL, 0,
      "The server pings a WebSocket that has been silent this long." },
    { "ws_pong_timeout", CFG_DURATION, OFF(ws_pong_timeout), "20s", 100, 3600 * SEC, NULL, 0,
      "A WebSocket that sends nothing this long after a ping is taken for dead and dropped." },
    { "login_free_attempts", CFG_INT, OFF(login_free_attempts), "5", 1, 1000, NULL, 0,
      "Failed logins per account (and four times as many per IP address) before further attempts are slowed down." },
    { "login_max_delay", CFG_DURATION, OFF(login_max_delay), "60s", 1 * SEC, 3600 * SEC, NULL, 0,
      "Longest wait imposed between login attempts after repeated failures. The delay doubles per failure up to this cap, so a real user is never locked out for longer." },
    { "user_request_rate", CFG_INT, OFF(user_request_rate), "100", 0, 1000000, NULL, 0,
      "Requests per second one user may make, over REST and WebSocket ops together, on average; more are refused with 429 / `rate_limited`. `0`: no limit." },
    { "user_request_burst", CFG_INT, OFF(user_request_burst), "500", 1, 10000000, NULL, 0,
      "How many requests one user may make at once before `user_request_rate` applies (a client syncing many conversations after a reconnect)." },
    { "user_message_rate", CFG_INT, OFF(user_message_rate), "20", 0, 1000000, NULL, 0,
      "Messages per second one user may send (sends, edits and recalls), on average; more are refused with `rate_limited`. `0`: no limit." },
    { "user_message_burst", CFG_INT, OFF(user_message_burst), "100", 1, 10000000, NULL, 0,
      "How many messages one user may send at once before `user_message_rate` applies." },
    { "ip_request_rate", CFG_INT, OFF(ip_request_rate), "300", 0, 1000000, NULL, 0,
      "Requests per second from one address by clients not signed in (logins, registrations, static files, bad tokens, WebSocket frames before auth); signed-in users are limited by `user_request_rate` instead, API keys not at all. IPv6 addresses count by /64. `0`: no limit." },
    { "ip_request_burst", CFG_INT, OFF(ip_request_burst), "1500", 1, 10000000, NULL, 0,
      "How many such requests one address may make at once before `ip_request_rate` applies." },
    { "ip_connections_max", CFG_INT, OFF(ip_connections_max), "2000", 0, 10000000, NULL, 0,
      "Most open connections from one address (IPv6: one /64); more are closed at once. `0`: no limit." },
    { "ip_preauth_max", CFG_INT, OFF(ip_preauth_max), "200", 0, 10000000, NULL, 0,
      "Most WebSockets from one address that have not authenticated yet; more are closed with 1008. `0`: no limit." },
    { "rate_limit_exempt", CFG_STR, OFF(rate_limit_exempt), "127.0.0.0/8,::1", 0, 0, NULL, 0,
      "Addresses (comma-separated, CIDR) the per-address limits do not apply to. Loopback by default: a reverse proxy on this machine sends every client from there (and should limit them itself). Per-user limits apply whatever the address. Empty: none." },
    { "content_filter_dir", CFG_STR, OFF(content_filter_dir), "", 0, 0, NULL, 0,
      "Directory of sensitive-word lists for message text and group titles: files `<list>.<action>.txt` (action `reject`, `mask` or `flag`; one word per line, `#` comments) apply to every app, those in a subdirectory named by an app's id to that app. Empty: `<data_dir>/filters`. No directory or no lists: nothing is filtered." },
    { "content_filter_reload", CFG_DURATION, OFF(content_filter_reload), "10s", 100, 3600 * SEC, NULL, 0,
      "How often the word lists are looked at for changes; a changed list applies from then on, without a restart (a list that cannot be read leaves the lists as they were, and says so in the log)." },
    { "reader_threads", CFG_INT, OFF(reader_threads), "2", 1, 64, NULL, 0,
      "Threads for blocking work off the I/O loops: store reads and Argon2id password hashing (64 MiB each while running)." },
    { "store_batch_max", CFG_INT, OFF(store_batch_max), "2048", 1, 100000, NULL, 0,
      "Most writes committed in one group-commit transaction. Under load batches grow to this size, so one fsync is shared by up to this many writes; a small value caps durable writes per second on a disk with slow flushes." },
    { "shutdown_timeout", CFG_DURATION, OFF(shutdown_timeout), "5s", 100, 600 * SEC, NULL, 0,
      "On SIGTERM/SIGINT, time given to in-flight requests and writes before the process exits anyway." },
    { "max_group_members", CFG_INT, OFF(max_group_members), "10000", 2, 1000000, NULL, 0,
      "Most members in one group conversation; adding more is refused with `member_limit`." },
    { "max_message_size", CFG_SIZE, OFF(max_message_size), "64k", 256, 16 * MIB, NULL, 0,
      "Largest message body (as compact JSON); larger is refused with `payload_too_large`." },
    { "recall_window", CFG_DURATION, OFF(recall_window), "2m", 0, 3650 * DAY, NULL, 0,
      "How long after sending a member may recall their own message. Group owners and admins may recall any message at any time." },
    { "max_file_size", CFG_SIZE, OFF(max_file_size), "100m", 1 * KIB, 1024 * 1024 * MIB, NULL, 0,
      "Largest upload (`POST /v1/files`) for apps that set no cap of their own (`PATCH /v1/admin/app`); larger is answered 413, before the body is read when its length is announced." },
    { "file_unshared_ttl", CFG_DURATION, OFF(file_unshared_ttl), "24h", 1 * SEC, 3650 * DAY, NULL, 0,
      "How long an uploaded file is kept while no message refers to it (never sent, or its messages recalled or deleted). Then the sweep deletes it, and its bytes once no other upload has the same content." },
    { "thumbnail_size", CFG_INT, OFF(thumbnail_size), "320", 32, 2048, NULL, 0,
      "Longest side, in pixels, of the thumbnails made for uploaded images (WebP)." },
    { "strip_image_location", CFG_ENUM, OFF(strip_image_location), "yes", 0, 0, yes_no_choices, 0,
      "Whether GPS location metadata (EXIF, XMP) is removed from uploaded JPEG, PNG and WebP images before they are stored and served. Nothing is re-encoded. With `yes`, an image too damaged to be checked is refused." },
    { "retention_sweep_interval", CFG_DURATION, OFF(retention_sweep_interval), "1m", 100,
      1 * DAY, NULL, 0,
      "How often the retention sweep looks for messages and shared files past their retention (set per app and per conversation by admins) and deletes them, 64 rows per store batch (a few milliseconds each, between other writes). Expired messages are never served even before the sweep deletes them." },
    { "audit_checkpoint_interval", CFG_DURATION, OFF(audit_checkpoint_interval), "10m", 1 * SEC,
      30 * DAY, NULL, 0,
      "How often the audit log's newest record is signed (a checkpoint with the data dir's audit-signing.key), when there is a new one. Checkpoints are also signed every 100 records and at stop; records after the last checkpoint could be cut off undetected by someone who can write the database." },
    { "search", CFG_ENUM, OFF(search), "yes", 0, 0, yes_no_choices, 0,
      "Whether messages are indexed for full-text search. Turning it off drops the index at the next start (saving the indexing work on every message); turning it on again rebuilds it from the stored messages at start-up." },
};

#define CFG_COUNT (sizeof(cfg_table) / sizeof(cfg_table[0]))

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Compares keys treating '-' and '_' alike. */
static bool key_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a;
        char y = *b == '-' ? '_' : *b;

        if (x != y) {
            return false;
        }
    }
    return *a == *b;
}

static const struct cfg_opt *cfg_find(const char *key)
{
    for (size_t i = 0; i < CFG_COUNT; i++) {
        if (key_equal(cfg_table[i].name, key)) {
            return &cfg_table[i];
        }
    }
    return NULL;
}

/* Parses a whole number with an optional unit suffix; -1 on junk or overflow. */
static int parse_scaled(const char *s, const char *const *units, const int64_t *scales,
                        int64_t dflt_scale, int64_t *out)
{
    char *end;
    long long v;
    int64_t scale = dflt_scale;

    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0) {
        return -1;
    }
    if (*end != '\0') {
        size_t i;

        for (i = 0; units[i] != NULL; i++) {
            if (strcasecmp(end, units[i]) == 0) {
                scale = scales[i];
                break;
            }
        }
        if (units[i] == NULL) {
            return -1;
        }
    }
    if (v > INT64_MAX / scale) {
        return -1;
    }
    *out = v * scale;
    return 0;
}

static int parse_value(const struct cfg_opt *o, const char *value, int64_t *out,
                       char *err, size_t errlen)
{
    static const char *const size_units[] = { "b", "k", "kb", "kib", "m", "mb", "mib",
                                              "g", "gb", "gib", NULL };
    static const int64_t size_scales[] = { 1, KIB, KIB, KIB, MIB, MIB, MIB,
                                           1024 * MIB, 1024 * MIB, 1024 * MIB };
    static const char *const dur_units[] = { "ms", "s", "m", "h", "d", NULL };
    static const int64_t dur_scales[] = { 1, SEC, 60 * SEC, 3600 * SEC, DAY };
    int rc;

    switch (o->type) {
    case CFG_ENUM:
        for (int64_t i = 0; o->choices[i] != NULL; i++) {
            if (strcmp(value, o->choices[i]) == 0) {
                *out = i;
                return 0;
            }
        }
        set_err(err, errlen, "%s: '%s' is not one of the allowed values", o->name, value);
        return -1;
    case CFG_INT:
        rc = parse_scaled(value, (const char *const[]){ NULL }, NULL, 1, out);
        break;
    case CFG_SIZE:
        rc = parse_scaled(value, size_units, size_scales, 1, out);
        break;
    case CFG_DURATION:
        rc = parse_scaled(value, dur_units, dur_scales, SEC, out);
        break;
    default:
        return -1;
    }
    if (rc != 0) {
        set_err(err, errlen, "%s: '%s' is not a valid %s", o->name, value,
                o->type == CFG_INT ? "number" : o->type == CFG_SIZE ? "size" : "duration");
        return -1;
    }
    if (*out < o->min || *out > o->max) {
        set_err(err, errlen, "%s: '%s' is out of range", o->name, value);
        return -1;
    }
    return 0;
}

int config_set(struct config *cfg, const char *key, const char *value,
               char *err, size_t errlen)
{
    const struct cfg_opt *o = cfg_find(key);
    char *field;
    int64_t v;

    if (o == NULL) {
        set_err(err, errlen, "unknown setting '%s'", key);
        return -1;
    }
    if (value == NULL) {
        set_err(err, errlen, "%s: missing value", o->name);
        return -1;
    }
    field = (char *)cfg + o->offset;
    if (o->type == CFG_STR) {
        char **s = (char **)(void *)field;

        if (strlen(value) > 4096) {
            set_err(err, errlen, "%s: value too long", o->name);
            return -1;
        }
        free(*s);
        *s = xstrdup(value);
        return 0;
    }
    if (parse_value(o, value, &v, err, errlen) != 0) {
        return -1;
    }
    *(int64_t *)(void *)field = v;
    return 0;
}

void config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < CFG_COUNT; i++) {
        char err[256];

        /* The defaults are constant and tested; a failure here is a bug. */
        if (config_set(cfg, cfg_table[i].name, cfg_table[i].def, err, sizeof(err)) != 0) {
            fprintf(stderr, "pipit: bad default: %s\n", err);
            abort();
        }
    }
}

void config_digest(const struct config *cfg, char out[CONFIG_DIGEST_HEX + 1])
{
    crypto_hash_sha256_state h;
    unsigned char sum[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < CFG_COUNT; i++) {
        const struct cfg_opt *o = &cfg_table[i];
        const char *field = (const char *)cfg + o->offset;
        char line[128];

        /* name=value and a NUL each: no two settings hash alike. */
        crypto_hash_sha256_update(&h, (const unsigned char *)o->name, strlen(o->name) + 1);
        if (o->type == CFG_STR) {
            const char *s = *(char *const *)(const void *)field;

            crypto_hash_sha256_update(&h, (const unsigned char *)s, strlen(s) + 1);
        } else {
            snprintf(line, sizeof(line), "%lld", (long long)*(const int64_t *)(const void *)field);
            crypto_hash_sha256_update(&h, (const unsigned char *)line, strlen(line) + 1);
        }
    }
    crypto_hash_sha256_final(&h, sum);
    sodium_bin2hex(out, CONFIG_DIGEST_HEX + 1, sum, sizeof(sum));
}

void config_cleanup(struct config *cfg)
{
    for (size_t i = 0; i < CFG_COUNT; i++) {
        if (cfg_table[i].type == CFG_STR) {
            char **s = (char **)(void *)((char *)cfg + cfg_table[i].offset);

            PIPIT_FREE(*s);
        }
    }
}

struct ini_state {
    struct config *cfg;
    char *err;
    size_t errlen;
    int failed;
};

static int config_ini_line(void *user, const char *section, const char *name, const char *value)
{
    struct ini_state *st = user;
    char key[256];

    if (st->failed) {
        return 0;
    }
    if (section != NULL && section[0] != '\0') {
        snprintf(key, sizeof(key), "%s.%s", section, name);
    } else {
        snprintf(key, sizeof(key), "%s", name);
    }
    if (config_set(st->cfg, key, value, st->err, st->errlen) != 0) {
        st->failed = 1;
        return 0;
    }
    return 1;
}

static int ini_result(int rc, struct ini_state *st, const char *what)
{
    if (st->failed) {
        return -1;
    }
    if (rc != 0) {
        if (rc > 0) {
            set_err(st->err, st->errlen, "%s: syntax error on line %d", what, rc);
        } else {
            set_err(st->err, st->errlen, "%s: cannot read", what);
        }
        return -1;
    }
    return 0;
}

int config_load_string(struct config *cfg, const char *text, char *err, size_t errlen)
{
    struct ini_state st = { cfg, err, errlen, 0 };

    return ini_result(ini_parse_string(text, config_ini_line, &st), &st, "config");
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct ini_state st = { cfg, err, errlen, 0 };

    return ini_result(ini_parse(path, config_ini_line, &st), &st, path);
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
    if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
        set_err(err, errlen, "tls_cert and tls_key must be set together");
        return -1;
    }
    const char *colon = strrchr(cfg->listen, ':');
    long port = -1;

    /* Digits only: strtol alone would take " 80", "+80" and "-0". */
    if (colon != NULL && colon[1] != '\0' && strlen(colon + 1) <= 5 &&
        strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
        port = strtol(colon + 1, NULL, 10);
    }
    if (colon == NULL || colon == cfg->listen || port < 0 || port > 65535) {
        set_err(err, errlen, "listen: expected ADDR:PORT with a port from 0 to 65535, got '%s'",
                cfg->listen);
        return -1;
    }
    if (cfg->data_dir[0] == '\0') {
        set_err(err, errlen, "data_dir must not be empty");
        return -1;
    }
    return 0;
}

static const char *type_name(const struct cfg_opt *o)
{
    switch (o->type) {
    case CFG_STR:
        return "string";
    case CFG_INT:
        return "integer";
    case CFG_SIZE:
        return "size";
    case CFG_DURATION:
        return "duration";
    case CFG_ENUM:
        return "choice";
    }
    return "?";
}

void config_print_docs(FILE *out)
{
    fputs("# Configuration\n\n"
          "Generated by `pipitd --print-config-docs` from the option table in\n"
          "`src/config/config.c`; do not edit by hand (`make docs` regenerates it).\n\n"
          "Settings come from an INI file (`pipitd --config FILE`, `key = value`, `#` or `;`\n"
          "comments) and from flags (`--key value`), flags winning. Dashes and underscores\n"
          "in keys are interchangeable: `--data-dir DIR` sets `data_dir`.\n"
          "`pipitd --test-config` checks the result and exits.\n\n"
          "Sizes take `k`, `m` or `g` (powers of 1024; bare numbers are bytes). Durations\n"
          "take `ms`, `s`, `m`, `h` or `d` (bare numbers are seconds).\n\n"
          "| key | type | default | meaning |\n|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < CFG_COUNT; i++) {
        const struct cfg_opt *o = &cfg_table[i];

        fprintf(out, "| `%s` | %s", o->name, type_name(o));
        if (o->type == CFG_ENUM) {
            fputs(":", out);
            for (size_t j = 0; o->choices[j] != NULL; j++) {
                fprintf(out, "%s `%s`", j ? "," : "", o->choices[j]);
            }
        }
        if (o->def[0] != '\0') {
            fprintf(out, " | `%s` | %s |\n", o->def, o->help);
        } else {
            fprintf(out, " | (empty) | %s |\n", o->help);
        }
    }
}
