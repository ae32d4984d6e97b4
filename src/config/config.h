/*
 * config.h: every pipitd setting, described once in a declarative table.
 *
 * The table in config.c drives the INI file parser, the --key value flags,
 * --test-config and docs/config.md (pipitd --print-config-docs). Adding a setting
 * means adding a field here and a row there, nothing else.
 *
 * Values: strings are owned char * (never NULL), numbers are int64_t; durations
 * are stored in milliseconds and sizes in bytes. A struct config is built on the
 * main thread before any worker starts and is read-only afterwards.
 */
#ifndef PIPIT_CONFIG_CONFIG_H
#define PIPIT_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum registration_mode { REGISTRATION_CLOSED, REGISTRATION_OPEN };
enum sqlite_sync_mode { SQLITE_SYNC_FULL, SQLITE_SYNC_NORMAL, SQLITE_SYNC_OFF };
enum chat_notifications { CHAT_NOTIFY_FULL, CHAT_NOTIFY_PRIVATE, CHAT_NOTIFY_OFF };

/* In data_dir: locked (flock) by the pipitd that uses it, and by what needs it unused. */
#define CONFIG_DATA_DIR_LOCK "pipitd.lock"

struct config {
    char *listen;
    char *data_dir;
    char *master_key_file;      /* encryption at rest (keys/keyring.h); "": environment */
    int64_t workers;
    int64_t registration;       /* enum registration_mode */
    char *tls_cert;
    char *tls_key;
    char *allowed_origins;      /* comma-separated exact origins */
    char *mfa_issuer;           /* what authenticator apps call this server */
    char *web_root;
    int64_t log_level;          /* enum log_level */
    int64_t sqlite_synchronous; /* enum sqlite_sync_mode */
    int64_t sqlite_cache_size;
    int64_t sqlite_mmap_size;
    int64_t push_allow_http;      /* 0 no, 1 yes */
    int64_t push_allow_private;   /* 0 no, 1 yes */
    int64_t max_devices_per_user;
    int64_t chat_notifications;   /* enum chat_notifications */
    int64_t push_concurrency;
    int64_t push_request_timeout; /* ms */
    int64_t push_retry_base;      /* ms */
    int64_t push_retry_cap;       /* ms */
    int64_t push_max_attempts;
    char *push_ca_file;           /* "" = the system's CAs */
    int64_t webhook_allow_http;   /* 0 no, 1 yes */
    int64_t webhook_allow_private; /* 0 no, 1 yes */
    int64_t webhook_timeout;      /* ms */
    int64_t webhook_retry_base;   /* ms */
    int64_t webhook_retry_cap;    /* ms */
    int64_t webhook_retry_for;    /* ms */
    int64_t webhook_concurrency;
    int64_t webhook_keep;         /* ms */
    int64_t call_max_participants;
    int64_t call_ring_timeout;    /* ms */
    char *turn_urls;              /* comma-separated; "" = none */
    char *turn_secret;            /* coturn's static-auth-secret; "" = no TURN */
    int64_t turn_ttl;             /* ms */
    char *vapid_subject;
    char *apns_key_file;
    char *apns_key_id;
    char *apns_team_id;
    char *apns_url;
    char *apns_sandbox_url;
    char *fcm_service_account;
    char *fcm_url;
    char *fcm_token_url;          /* "" = the service account's token_uri */
    int64_t token_ttl;          /* ms */
    int64_t token_idle_ttl;     /* ms; 0: off */
    int64_t max_header_count;
    int64_t max_header_size;
    int64_t max_url_length;
    int64_t max_body_size;
    int64_t header_timeout;     /* ms */
    int64_t idle_timeout;       /* ms */
    int64_t ws_max_message_size;
    int64_t ws_send_queue_max;
    int64_t ws_auth_timeout;    /* ms */
    int64_t ws_ping_interval;   /* ms */
    int64_t ws_pong_timeout;    /* ms */
    int64_t login_free_attempts;
    int64_t login_max_delay;    /* ms */
    /* Rates per second, bursts in requests, 0: off (net/limits.h). */
    int64_t user_request_rate, user_request_burst;
    int64_t user_message_rate, user_message_burst;
    int64_t ip_request_rate, ip_request_burst;
    int64_t ip_connections_max, ip_preauth_max;
    char *rate_limit_exempt;    /* comma-separated CIDRs */
    char *content_filter_dir;   /* word lists (filter/filter.h); "": data_dir/filters */
    int64_t content_filter_reload; /* ms between looks for changed lists */
    int64_t reader_threads;
    int64_t store_batch_max;
    int64_t shutdown_timeout;   /* ms */
    int64_t max_group_members;
    int64_t max_message_size;
    int64_t recall_window;      /* ms */
    int64_t max_file_size;
    int64_t file_unshared_ttl;  /* ms */
    int64_t thumbnail_size;     /* px */
    int64_t strip_image_location; /* 0 no, 1 yes */
    int64_t search;             /* 0 no, 1 yes */
    int64_t audit_checkpoint_interval; /* ms */
    int64_t retention_sweep_interval; /* ms */
};

/* Fills every field with its default. */
void config_init(struct config *cfg);
void config_cleanup(struct config *cfg);

#define CONFIG_DIGEST_HEX 64
/* SHA-256 of every setting's value, in hex: the same settings give the same digest. */
void config_digest(const struct config *cfg, char out[CONFIG_DIGEST_HEX + 1]);

/*
 * Sets one key from text. Dashes and underscores in the key are interchangeable.
 * Returns 0, or -1 with a message in err.
 */
int config_set(struct config *cfg, const char *key, const char *value,
               char *err, size_t errlen);

/* Parses INI text (file contents); keys may be inside [sections] as "section.key". */
int config_load_string(struct config *cfg, const char *text, char *err, size_t errlen);
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Checks the settings against each other (TLS needs both files, …). */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* Writes docs/config.md. */
void config_print_docs(FILE *out);

#endif
