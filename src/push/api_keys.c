/*
 * api_keys.c: the admin routes for business servers' API keys.
 *
 * A key is shown once, at creation; the store keeps its selector and a hash of
 * its secret part (auth/token.h), so a copy of the database holds no usable key.
 * The routes run as store actions (chat/chat_internal.h's call path).
 */
#include <string.h>

#include "auth/token.h"
#include "api/api.h"
#include "chat/chat_internal.h"
#include "store/store_push.h"
#include "util/err.h"

static const struct {
    const char *name;
    unsigned bit;
} scope_names[] = {
    { "push", STORE_SCOPE_PUSH },
    { "users", STORE_SCOPE_USERS },
    { "admin", STORE_SCOPE_ADMIN },
};

#define NSCOPES (sizeof(scope_names) / sizeof(scope_names[0]))

static int read_scopes(struct chat_call *k, unsigned *out)
{
    json_t *list = json_object_get(k->args, "scopes");
    json_t *v;
    size_t i;

    *out = 0;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        return chat_bad(k, "scopes must be a non-empty array of \"push\", \"users\", \"admin\"");
    }
    json_array_foreach(list, i, v) {
        unsigned bit = 0;

        for (size_t s = 0; s < NSCOPES && json_is_string(v); s++) {
            if (strcmp(json_string_value(v), scope_names[s].name) == 0) {
                bit = scope_names[s].bit;
            }
        }
        if (bit == 0) {
            return chat_bad(k, "scopes must be a non-empty array of \"push\", \"users\", \"admin\"");
        }
        if (*out & bit) {
            return chat_bad(k, "a scope is listed twice");
        }
        *out |= bit;
    }
    return 0;
}

static json_t *scopes_json(unsigned bits)
{
    json_t *a = json_array();

    for (size_t s = 0; s < NSCOPES; s++) {
        if (bits & scope_names[s].bit) {
            json_array_append_new(a, json_string(scope_names[s].name));
        }
    }
    return a;
}

static json_t *key_json(const struct store_api_key *key)
{
    return json_pack("{s:I,s:s,s:o,s:I,s:o,s:o}", "id", (json_int_t)key->id, "name", key->name,
                     "scopes", scopes_json(key->scopes), "created_at",
                     (json_int_t)key->created_at, "last_used_at", time_or_null(key->last_used_at),
                     "revoked_at", time_or_null(key->revoked_at));
}

_Static_assert(sizeof(TOKEN_KEY_PREFIX) + TOKEN_TEXT_LEN <= API_KEY_TEXT_SIZE, "a key fits");

int api_key_mint(struct store_conn *sc, struct store_api_key *key, int64_t created_by,
                 char text[API_KEY_TEXT_SIZE])
{
    struct token_parts parts;

    memcpy(text, TOKEN_KEY_PREFIX, strlen(TOKEN_KEY_PREFIX));
    token_new(text + strlen(TOKEN_KEY_PREFIX), &parts);
    memcpy(key->verifier_hash, parts.verifier_hash, sizeof(key->verifier_hash));
    return store_api_key_insert(sc, key, parts.selector, created_by);
}

int api_key_create(struct chat_call *k, struct store_conn *sc)
{
    struct store_api_key key = { .app_id = k->who.app_id, .created_at = k->now };
    char text[API_KEY_TEXT_SIZE];
    const char *name;
    bool has_name; /* a missing name and a null one are refused alike */
    int rc = chat_arg_opt_string(k, "name", STORE_KEY_NAME_MAX, &name, &has_name);

    if (rc == 0 && (name == NULL || name[0] == '\0')) {
        rc = chat_bad(k, "name must be a string of 1 to 100 bytes");
    }
    if (rc == 0) {
        rc = read_scopes(k, &key.scopes);
    }
    if (rc != 0) {
        return rc;
    }
    snprintf(key.name, sizeof(key.name), "%s", name);
    rc = api_key_mint(sc, &key, k->who.user_id, text);
    if (rc == 0) {
        k->result = key_json(&key);
        json_object_del(k->result, "last_used_at");
        json_object_del(k->result, "revoked_at");
        json_object_set_new(k->result, "key", json_string(text));
        k->status = 201;
    }
    return rc;
}

static int collect_key(void *arg, const struct store_api_key *key)
{
    json_array_append_new(arg, key_json(key));
    return 0;
}

int api_key_list(struct chat_call *k, struct store_conn *sc)
{
    json_t *keys = json_array();
    int rc = store_api_key_list(sc, k->who.app_id, collect_key, keys);

    if (rc != 0) {
        json_decref(keys);
        return rc;
    }
    k->result = json_pack("{s:o}", "keys", keys);
    return 0;
}

int api_key_revoke(struct chat_call *k, struct store_conn *sc)
{
    int64_t id;
    int rc = chat_arg_id(k, "id", &id);

    if (rc == 0) {
        rc = store_api_key_revoke(sc, k->who.app_id, id, 0, k->now);
        /* Workers remember keys they checked: they forget them once this commits. */
        k->after_commit = api_revoke_keys;
    }
    if (rc == PIPIT_ENOT_FOUND) {
        k->why = "no such API key";
    }
    k->status = 204;
    return rc;
}
