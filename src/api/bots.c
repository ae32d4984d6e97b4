/*
 * bots.c: bot accounts (/v1/admin/bots…), on the call path of chat actions.
 *
 * A bot is a user of the app (users.bot) that signs in with an API key of its
 * own instead of a password (api/session.c): with it, it joins conversations,
 * sends, streams and reads like any member, over REST or a WebSocket. It may
 * have a webhook of its own, told of the messages of its conversations
 * (hooks/webhooks.h, webhooks_emit_bots). A bot is never an admin and never
 * asked for a second factor.
 */
#include <stdio.h>
#include <string.h>

#include "api/admin_internal.h"
#include "api/api.h"
#include "auth/password.h"
#include "hooks/assistant.h"
#include "hooks/webhooks.h"
#include "server.h"
#include "store/store_hooks.h"
#include "store/store_push.h"
#include "util/err.h"

#define BOT_EVENTS "[\"message.created\",\"message.edited\",\"message.recalled\"]"
/* Never a valid Argon2id hash: no password opens a bot. */
#define NO_PASSWORD "!bot"

/* The bot as the console shows it, with its webhook (id, url) or null. */
static json_t *bot_json(struct chat_call *k, struct store_conn *sc, const struct store_user *u)
{
    json_t *o = api_user_json(u, true);
    struct store_webhook w = { 0 };

    json_object_set_new(o, "disabled", json_boolean(u->disabled_at != 0));
    if (store_webhook_of_bot(sc, u->id, &w) == 0) {
        json_object_set_new(o, "webhook", json_pack("{s:I,s:s}", "id", (json_int_t)w.id, "url",
                                                    w.url));
    } else {
        json_object_set_new(o, "webhook", json_null());
    }
    store_webhook_cleanup(&w);
    return o;
}

/* The bot of the path's {id}, in the caller's app. */
static int target_bot(struct chat_call *k, struct store_conn *sc, struct store_user *u)
{
    int rc = admin_target_user(k, sc, u);

    if ((rc == 0 && !u->bot) || rc == PIPIT_ENOT_FOUND) {
        k->why = "no such bot";
        rc = PIPIT_ENOT_FOUND;
    }
    return rc;
}

/* A new key for the bot (its others revoked), its text in text. */
static int new_key(struct chat_call *k, struct store_conn *sc, const struct store_user *u,
                   char text[API_KEY_TEXT_SIZE])
{
    struct store_api_key key = { .app_id = u->app_id, .created_at = k->now, .bot_id = u->id };
    int rc = store_api_key_revoke(sc, u->app_id, 0, u->id, k->now);

    snprintf(key.name, sizeof(key.name), "bot:%s", u->username);
    rc = rc == PIPIT_ENOT_FOUND ? 0 : rc;
    return rc != 0 ? rc : api_key_mint(sc, &key, k->who.user_id, text);
}

/*
 * webhook_url: a string sets the bot's webhook (a new one gets a secret, put in
 * the answer), null removes it, absent leaves it.
 */
static int set_webhook(struct chat_call *k, struct store_conn *sc, const struct store_user *u,
                       json_t *answer)
{
    json_t *url = json_object_get(k->args, "webhook_url");
    struct store_webhook w = { 0 };
    const char *why = NULL;
    int rc;

    if (url == NULL) {
        return 0;
    }
    if (!json_is_null(url) && !json_is_string(url)) {
        return chat_bad(k, "webhook_url must be an https URL or null");
    }
    rc = store_webhook_of_bot(sc, u->id, &w);
    if (rc != 0 && rc != PIPIT_ENOT_FOUND) {
        return rc;
    }
    if (json_is_null(url)) {
        rc = rc == 0 ? store_webhook_delete(sc, u->app_id, w.id) : 0;
    } else if (webhook_url_check(k, json_string_value(url), &why) != 0) {
        rc = chat_bad(k, why);
    } else if (rc == 0) {
        free(w.url);
        w.url = xstrdup(json_string_value(url));
        w.updated_at = k->now;
        rc = store_webhook_update(sc, &w);
    } else {
        w = (struct store_webhook){ .app_id = u->app_id, .url = xstrdup(json_string_value(url)),
                                    .events = xstrdup(BOT_EVENTS), .enabled = true,
                                    .created_at = k->now, .updated_at = k->now,
                                    .bot_id = u->id };
        webhook_new_secret(w.secret);
        rc = store_webhook_insert(sc, &w);
        if (rc == 0) {
            json_object_set_new(answer, "webhook_secret", json_string(w.secret));
        }
    }
    if (rc == 0) {
        webhooks_changed(k->srv);
    }
    store_webhook_cleanup(&w);
    return rc;
}

/* POST /v1/admin/bots {username, display_name?, webhook_url?}: the key is shown once. */
int bot_create(struct chat_call *k, struct store_conn *sc)
{
    const char *username, *display = NULL;
    char key[API_KEY_TEXT_SIZE];
    struct store_user u;
    json_t *answer;
    bool has;
    int rc = admin_only(k);

    if (rc == 0 && (chat_arg_opt_string(k, "username", STORE_USERNAME_MAX, &username, &has) != 0 ||
                    username == NULL || password_check_username(username) != 0)) {
        return chat_bad(k, "username must be 1 to 64 letters, digits, '.', '_' or '-'");
    }
    if (rc == 0 && chat_arg_opt_string(k, "display_name", STORE_DISPLAY_MAX, &display, &has) != 0) {
        return chat_bad(k, "display_name must be a string of at most 256 bytes");
    }
    if (rc == 0) {
        int64_t id;

        rc = store_user_insert(sc, k->who.app_id, username, NO_PASSWORD, "user", k->now, &id);
        if (rc == 0) {
            rc = store_user_by_id(sc, id, &u);
        }
    }
    if (rc == 0) {
        u.bot = true;
        u.has_display_name = display != NULL && display[0] != '\0';
        snprintf(u.display_name, sizeof(u.display_name), "%s", u.has_display_name ? display : "");
        rc = store_user_update(sc, &u);
    }
    if (rc == 0) {
        rc = new_key(k, sc, &u, key);
    }
    answer = json_object();
    if (rc == 0) {
        rc = set_webhook(k, sc, &u, answer);
    }
    if (rc == 0) {
        json_object_set_new(answer, "id", json_integer(u.id)); /* the audit log's target */
        json_object_set_new(answer, "bot", bot_json(k, sc, &u));
        json_object_set_new(answer, "key", json_string(key));
        k->result = answer;
        k->status = 201;
        return 0;
    }
    json_decref(answer);
    return rc;
}

static int collect_bot(void *arg, const struct store_user *u)
{
    struct admin_page *p = arg;

    if (admin_page_full(p)) {
        return 1;
    }
    admin_page_add(p, u->id, api_user_json(u, true));
    return 0;
}

/* GET /v1/admin/bots */
int bot_list(struct chat_call *k, struct store_conn *sc)
{
    struct store_user_query q = { .app_id = k->who.app_id, .bots_only = true };
    struct admin_page p;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = admin_page_read(k, ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, &p);
    }
    if (rc != 0) {
        return rc;
    }
    q.after = p.after;
    q.limit = (int)p.limit + 1;
    rc = store_user_search(sc, &q, collect_bot, &p);
    if (rc == 0) {
        /* Each with its webhook, as GET of one shows it. */
        size_t i;
        json_t *o;

        json_array_foreach(p.items, i, o) {
            struct store_user u;

            if (store_user_by_id(sc, json_integer_value(json_object_get(o, "id")), &u) == 0) {
                json_array_set_new(p.items, i, bot_json(k, sc, &u));
            }
        }
    }
    return admin_page_answer(k, &p, "bots", rc);
}

/* GET /v1/admin/bots/{id} */
int bot_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_user u;
    int rc = target_bot(k, sc, &u);

    if (rc == 0) {
        k->result = bot_json(k, sc, &u);
    }
    return rc;
}

/* PATCH /v1/admin/bots/{id} {display_name?, webhook_url?} */
int bot_update(struct chat_call *k, struct store_conn *sc)
{
    const char *display;
    struct store_user u;
    json_t *answer;
    bool has;
    int rc = target_bot(k, sc, &u);

    if (rc == 0 && u.disabled_at != 0) {
        k->why = "the bot is disabled";
        return PIPIT_ECONFLICT;
    }
    if (rc == 0 && chat_arg_opt_string(k, "display_name", STORE_DISPLAY_MAX, &display, &has) != 0) {
        return chat_bad(k, "display_name must be a string of at most 256 bytes, or null");
    }
    if (rc == 0 && has) {
        u.has_display_name = display != NULL && display[0] != '\0';
        snprintf(u.display_name, sizeof(u.display_name), "%s", u.has_display_name ? display : "");
        rc = store_user_update(sc, &u);
        k->after_commit = api_auth_changed; /* cached sign-ins carry the name */
    }
    answer = json_object();
    if (rc == 0) {
        rc = set_webhook(k, sc, &u, answer);
    }
    if (rc == 0) {
        json_object_set_new(answer, "bot", bot_json(k, sc, &u));
        k->result = answer;
        return 0;
    }
    json_decref(answer);
    return rc;
}

static void close_bot_sessions(struct chat_call *k)
{
    api_revoke_user(k->srv, json_integer_value(json_object_get(k->args, "id")), 0,
                    "the bot's key was replaced or revoked");
}

/* POST /v1/admin/bots/{id}/key: a new key; the old ones stop working at once. */
int bot_rotate_key(struct chat_call *k, struct store_conn *sc)
{
    char key[API_KEY_TEXT_SIZE];
    struct store_user u;
    int rc = target_bot(k, sc, &u);

    if (rc == 0 && u.disabled_at != 0) {
        k->why = "the bot is disabled";
        rc = PIPIT_ECONFLICT;
    }
    if (rc == 0) {
        rc = new_key(k, sc, &u, key);
    }
    if (rc == 0) {
        k->result = json_pack("{s:o,s:s}", "bot", bot_json(k, sc, &u), "key", key);
        k->after_commit_call = close_bot_sessions; /* they signed in with an old key */
    }
    return rc;
}

/*
 * DELETE /v1/admin/bots/{id}: disabled for good, its keys revoked, its webhook
 * removed (its messages stay, like any disabled user's).
 */
int bot_delete(struct chat_call *k, struct store_conn *sc)
{
    struct store_webhook w = { 0 };
    struct store_user u;
    int rc = target_bot(k, sc, &u);

    if (rc == 0) {
        u.disabled_at = u.disabled_at != 0 ? u.disabled_at : k->now;
        rc = store_user_update(sc, &u);
    }
    if (rc == 0) {
        rc = store_api_key_revoke(sc, u.app_id, 0, u.id, k->now);
        rc = rc == PIPIT_ENOT_FOUND ? 0 : rc;
    }
    if (rc == 0 && store_webhook_of_bot(sc, u.id, &w) == 0) {
        rc = store_webhook_delete(sc, u.app_id, w.id);
        webhooks_changed(k->srv);
    }
    assistant_changed(k->srv); /* if it was the assistant's, it answers no more */
    store_webhook_cleanup(&w);
    if (rc == 0) {
        k->status = 204;
        k->after_commit_call = close_bot_sessions;
    }
    return rc;
}

/* ---- the AI assistant (hooks/assistant.h): a bot with a model behind it ---- */

#define MODEL_MAX 200
#define API_KEY_MAX 512
#define PROMPT_MAX 16384

static json_t *assistant_json(struct chat_call *k, struct store_conn *sc,
                              const struct store_assistant *a)
{
    struct store_user bot;
    json_t *o = json_pack("{s:s,s:s,s:b,s:o,s:I,s:I,s:I,s:I,s:b,s:I}", "base_url", a->base_url,
                          "model", a->model, "has_api_key",
                          a->api_key != NULL && a->api_key[0] != '\0', "system_prompt",
                          text_or_null(a->system_prompt),
                          "context_messages", (json_int_t)a->context_messages,
                          "user_per_minute", (json_int_t)a->user_per_minute, "app_per_minute",
                          (json_int_t)a->app_per_minute, "timeout_ms",
                          (json_int_t)a->timeout_ms, "enabled", a->enabled, "updated_at",
                          (json_int_t)a->updated_at);

    if (store_user_by_id(sc, a->bot_id, &bot) == 0) {
        json_object_set_new(o, "bot", api_user_json(&bot, false));
    }
    return o;
}

/* GET /v1/admin/assistant */
int assistant_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_assistant a = { 0 };
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_assistant_get(sc, k->who.app_id, &a);
        k->why = rc == PIPIT_ENOT_FOUND ? "this app has no assistant" : NULL;
    }
    if (rc == 0) {
        k->result = assistant_json(k, sc, &a);
    }
    store_assistant_cleanup(&a);
    return rc;
}

/* A string argument into *field (kept when absent; null clears it when nullable). */
static int string_arg(struct chat_call *k, const char *key, size_t max, bool nullable,
                      char **field, const char *why)
{
    const char *v;
    bool has;

    if (chat_arg_opt_string(k, key, max, &v, &has) != 0 || (has && v == NULL && !nullable)) {
        return chat_bad(k, why);
    }
    if (has) {
        free(*field);
        *field = v != NULL && v[0] != '\0' ? xstrdup(v) : NULL;
    }
    return 0;
}

/* The bot the assistant speaks as: made on first use, named by username (default "assistant"). */
static int assistant_bot_user(struct chat_call *k, struct store_conn *sc, int64_t *bot_id)
{
    const char *username = "assistant", *display = "Assistant";
    struct store_user u;
    bool has;
    int rc;

    if (chat_arg_opt_string(k, "username", STORE_USERNAME_MAX, &username, &has) != 0 ||
        (has && (username == NULL || password_check_username(username) != 0))) {
        return chat_bad(k, "username must be 1 to 64 letters, digits, '.', '_' or '-'");
    }
    username = has ? username : "assistant";
    rc = store_user_insert(sc, k->who.app_id, username, NO_PASSWORD, "user", k->now, bot_id);
    if (rc == PIPIT_EUSERNAME_TAKEN) {
        /* A bot of that name (the assistant's, before it was removed) serves again. */
        bool keyed = false;

        rc = store_user_by_name(sc, k->who.app_id, username, &u);
        if (rc == 0) {
            rc = store_api_key_any_of_bot(sc, u.id, &keyed);
        }
        /* Only an assistant's bot (it never had a key; those of /v1/admin/bots do). */
        if (rc == 0 && (!u.bot || keyed)) {
            k->why = "that username is taken: give the assistant another (\"username\")";
            return PIPIT_EUSERNAME_TAKEN;
        }
        *bot_id = u.id;
        u.disabled_at = 0;
    } else if (rc == 0) {
        rc = store_user_by_id(sc, *bot_id, &u);
    }
    if (rc == 0) {
        u.bot = true;
        u.has_display_name = true;
        snprintf(u.display_name, sizeof(u.display_name), "%s", display);
        rc = store_user_update(sc, &u);
    }
    return rc;
}

static void assistant_changed_call(struct chat_call *k)
{
    assistant_changed(k->srv);
}

/*
 * PUT /v1/admin/assistant {base_url, model, api_key?, system_prompt?,
 * context_messages?, user_per_minute?, app_per_minute?, timeout_ms?, enabled?,
 * username? (the first time)}: fields left out keep their values.
 */
int assistant_put(struct chat_call *k, struct store_conn *sc)
{
    struct store_assistant a = { .app_id = k->who.app_id, .context_messages = 20,
                                 .user_per_minute = 10, .app_per_minute = 120,
                                 .timeout_ms = 60000, .enabled = true };
    json_t *enabled = json_object_get(k->args, "enabled");
    const char *why = NULL;
    bool fresh = false, has;
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_assistant_get(sc, k->who.app_id, &a);
        fresh = rc == PIPIT_ENOT_FOUND;
        rc = fresh ? 0 : rc;
    }
    if (rc == 0) {
        rc = string_arg(k, "base_url", 2048, false, &a.base_url,
                        "base_url must be the endpoint's URL, e.g. https://llm.internal/v1");
    }
    if (rc == 0 && (a.base_url == NULL || webhook_url_check(k, a.base_url, &why) != 0)) {
        rc = chat_bad(k, why != NULL ? why : "base_url is required");
    }
    if (rc == 0) {
        rc = string_arg(k, "model", MODEL_MAX, false, &a.model,
                        "model must be a string of 1 to 200 bytes");
    }
    if (rc == 0 && a.model == NULL) {
        rc = chat_bad(k, "model is required");
    }
    if (rc == 0 && json_is_string(json_object_get(k->args, "api_key")) &&
        json_string_length(json_object_get(k->args, "api_key")) == 0) {
        rc = chat_bad(k, "api_key must not be empty: null removes it, and leaving it out keeps it");
    }
    if (rc == 0) {
        rc = string_arg(k, "api_key", API_KEY_MAX, true, &a.api_key,
                        "api_key must be a string of at most 512 bytes, or null");
    }
    if (rc == 0) {
        rc = string_arg(k, "system_prompt", PROMPT_MAX, true, &a.system_prompt,
                        "system_prompt must be a string of at most 16384 bytes, or null");
    }
    if (rc == 0 && (chat_arg_opt_int(k, "context_messages", 1, 100, &a.context_messages,
                                     &has) != 0 ||
                    chat_arg_opt_int(k, "user_per_minute", 1, 1000, &a.user_per_minute,
                                     &has) != 0 ||
                    chat_arg_opt_int(k, "app_per_minute", 1, 100000, &a.app_per_minute,
                                     &has) != 0 ||
                    chat_arg_opt_int(k, "timeout_ms", 1000, 300000, &a.timeout_ms, &has) != 0)) {
        rc = chat_bad(k, "context_messages is 1 to 100, user_per_minute 1 to 1000, "
                         "app_per_minute 1 to 100000, timeout_ms 1000 to 300000");
    }
    if (rc == 0 && enabled != NULL && !json_is_boolean(enabled)) {
        rc = chat_bad(k, "enabled must be true or false");
    }
    a.enabled = enabled != NULL ? json_is_true(enabled) : a.enabled;
    if (rc == 0 && fresh) {
        rc = assistant_bot_user(k, sc, &a.bot_id);
    }
    if (rc == 0) {
        a.updated_at = k->now;
        rc = store_assistant_put(sc, &a);
    }
    if (rc == 0) {
        assistant_changed(k->srv);
        k->after_commit_call = assistant_changed_call; /* and after a rolled-back batch */
        k->result = assistant_json(k, sc, &a);
    }
    store_assistant_cleanup(&a);
    return rc;
}

/* DELETE /v1/admin/assistant: its settings go; its bot and its messages stay. */
int assistant_delete(struct chat_call *k, struct store_conn *sc)
{
    int rc = admin_only(k);

    if (rc == 0) {
        rc = store_assistant_delete(sc, k->who.app_id);
        k->why = rc == PIPIT_ENOT_FOUND ? "this app has no assistant" : NULL;
    }
    if (rc == 0) {
        assistant_changed(k->srv);
        k->after_commit_call = assistant_changed_call;
        k->status = 204;
    }
    return rc;
}
