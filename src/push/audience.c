/*
 * audience.c: what a push can be addressed to besides user ids: the topics
 * users subscribe to themselves, and the tags a business server sets on them.
 * Store actions on chat's call path (chat/chat_internal.h).
 */
#include <string.h>

#include "chat/chat_internal.h"
#include "push/push.h"
#include "store/store_push.h"
#include "util/err.h"

#define TAGS_MAX 20

bool push_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n >= 1 && n <= STORE_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int topic_arg(struct chat_call *k, const char **topic)
{
    *topic = json_string_value(json_object_get(k->args, "topic"));
    return push_name_ok(*topic) ? 0 : chat_bad(k, "a topic is 1 to 64 of A-Z a-z 0-9 _ . -");
}

int topic_subscribe(struct chat_call *k, struct store_conn *sc)
{
    const char *topic;
    int rc = topic_arg(k, &topic);

    k->status = 204;
    return rc != 0 ? rc : store_topic_subscribe(sc, k->who.app_id, topic, k->who.user_id);
}

int topic_unsubscribe(struct chat_call *k, struct store_conn *sc)
{
    const char *topic;
    int rc = topic_arg(k, &topic);

    k->status = 204;
    return rc != 0 ? rc : store_topic_unsubscribe(sc, k->who.app_id, topic, k->who.user_id);
}

static int collect_topic(void *arg, const char *topic)
{
    json_array_append_new(arg, json_string(topic));
    return 0;
}

int topic_list(struct chat_call *k, struct store_conn *sc)
{
    json_t *topics = json_array();
    int rc = store_topic_list(sc, k->who.user_id, collect_topic, topics);

    if (rc != 0) {
        json_decref(topics);
        return rc;
    }
    k->result = json_pack("{s:o}", "topics", topics);
    return 0;
}

static int collect_tag(void *arg, const char *name, const char *value)
{
    json_object_set_new(arg, name, json_string(value));
    return 0;
}

static int answer_tags(struct chat_call *k, struct store_conn *sc, int64_t user_id)
{
    json_t *tags = json_object();
    int rc = store_tags_list(sc, user_id, collect_tag, tags);

    if (rc != 0) {
        json_decref(tags);
        return rc;
    }
    k->result = json_pack("{s:o}", "tags", tags);
    return 0;
}

int tags_put(struct chat_call *k, struct store_conn *sc)
{
    json_t *body = json_object_get(k->args, "body");
    const char *names[TAGS_MAX], *values[TAGS_MAX];
    struct store_user u;
    const char *name;
    json_t *value;
    size_t n = 0;
    int rc;

    if (json_object_size(body) > TAGS_MAX) {
        return chat_bad(k, "at most 20 tags");
    }
    json_object_foreach(body, name, value) {
        if (!push_name_ok(name)) {
            return chat_bad(k, "a tag name is 1 to 64 of A-Z a-z 0-9 _ . -");
        }
        if (!json_is_string(value) || json_string_length(value) > STORE_TAG_VALUE_MAX) {
            return chat_bad(k, "a tag value is a string of at most 256 bytes");
        }
        names[n] = name;
        values[n++] = json_string_value(value);
    }
    rc = chat_resolve_user(k, sc, json_object_get(k->args, "user"), &u);
    if (rc == 0) {
        rc = store_tags_replace(sc, u.id, names, values, n);
    }
    return rc != 0 ? rc : answer_tags(k, sc, u.id);
}

int tags_get(struct chat_call *k, struct store_conn *sc)
{
    struct store_user u;
    int rc = chat_resolve_user(k, sc, json_object_get(k->args, "user"), &u);

    return rc != 0 ? rc : answer_tags(k, sc, u.id);
}
