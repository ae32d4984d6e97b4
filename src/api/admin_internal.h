/*
 * admin_internal.h: what the admin console's actions share (api/admin.c: users,
 * sessions, conversations, stats, app settings; api/compliance.c: the audit log,
 * retention, legal holds, erasure). All run on store threads (chat_internal.h).
 */
#ifndef PIPIT_API_ADMIN_INTERNAL_H
#define PIPIT_API_ADMIN_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "chat/chat_internal.h"

#define ADMIN_PAGE_DEFAULT 50
#define ADMIN_PAGE_MAX 200

/* PIPIT_EFORBIDDEN unless the caller is an app admin (a user, or a key the router let in). */
int admin_only(struct chat_call *k);

/*
 * A listing's page: ?limit= (1 to max), and ?after=<id> (listings in id order)
 * or ?before=<id> (newest first). The store is asked for limit + 1 rows: a row
 * offered to a full page means there are more, and "next" is the last id given.
 */
struct admin_page {
    struct chat_call *k;
    int64_t after;
    int64_t before;
    int64_t limit;
    json_t *items;
    int64_t last_id;            /* of the last item added */
    bool more;                  /* the store had a row beyond the page */
};
int admin_page_read(struct chat_call *k, int64_t fallback, int64_t max, struct admin_page *p);
/* Whether the page is full (a store callback then stops the walk). */
bool admin_page_full(struct admin_page *p);
void admin_page_add(struct admin_page *p, int64_t id, json_t *item);
/* {"<key>":[…],"next":id|null}, or the store's error rc. */
int admin_page_answer(struct chat_call *k, struct admin_page *p, const char *key, int rc);

/* The user of the path's {id} / the conversation of its {conv}, in the caller's app (admins only). */
int admin_target_user(struct chat_call *k, struct store_conn *sc, struct store_user *u);
int admin_target_conv(struct chat_call *k, struct store_conn *sc, struct store_conv *conv);

/*
 * For an action that takes u away as an enabled admin (disabling, demoting,
 * erasing): refuses it on the caller's own account (self_why) or on the app's
 * last enabled admin (last_why). On the writer: the count cannot change under it.
 */
int admin_guard(struct chat_call *k, struct store_conn *sc, const struct store_user *u,
                const char *self_why, const char *last_why);

/* Webhooks (api/webhooks.c), for bots' own (api/bots.c) too. */
#define WEBHOOK_SECRET_SIZE 65
/* 0, or non-zero with *why: url is no webhook URL webhook_allow_* allow. */
int webhook_url_check(struct chat_call *k, const char *url, const char **why);
void webhook_new_secret(char out[WEBHOOK_SECRET_SIZE]);

/* Retention settings in the call's arguments, over r's values; *given: any was. */
struct store_retention;
int retention_args(struct chat_call *k, struct store_retention *r, bool *given);
void retention_json_add(json_t *o, const struct store_retention *r);

#endif
