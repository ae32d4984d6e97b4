/*
 * wishes.c: what each user wants from notifications, and the app's categories.
 *
 * A user's settings (GET/PUT /v1/me/notification-settings) are one JSON object,
 * checked here and stored as is:
 *   categories           {"<category>": false} turns a category off (on by default)
 *   quiet_hours          {"start":"HH:MM","end":"HH:MM","tz":"<IANA zone>"} or null
 *   caps                 {"<category>": {"per_hour": N, "per_day": N}}
 *   muted_conversations  [conversation ids]: no chat notifications from them
 *   private_previews     true: chat notifications say "new message", not the text
 *   timezone             "<IANA zone>" for send_at_local (else quiet_hours.tz, else UTC)
 * The app says which categories are urgent (PUT /v1/push/categories/{name}): a
 * high-priority push of an urgent category passes quiet hours.
 *
 * Store actions on chat's call path (chat/chat_internal.h); wishes_decide() runs
 * on the writer while a push is expanded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/chat_internal.h"
#include "push/push.h"
#include "store/store_push.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/tz.h"

#define ENTRIES_MAX 100          /* categories, caps */
#define MUTED_MAX 1000
#define CAP_MAX 10000
#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)

/* Whether y-mo-d is a day of the calendar (no 31 November, no 29 February 2027). */
static bool real_date(int y, int mo, int d)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return mo >= 1 && mo <= 12 && d >= 1 && d <= days[mo - 1] + (mo == 2 && leap);
}

static bool digits(const char *s, size_t n)
{
    return strspn(s, "0123456789") >= n;
}

/* "HH:MM" → minute of the day, or -1. */
static int minute_of(const char *s)
{
    int h, m;

    if (s == NULL || strlen(s) != 5 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2)) {
        return -1;
    }
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    return h <= 23 && m <= 59 ? h * 60 + m : -1;
}

static bool zone_ok(json_t *v)
{
    const struct tz *tz;

    return json_is_string(v) && tz_get(json_string_value(v), &tz) == 0;
}

static const char *check_categories(json_t *v)
{
    const char *name;
    json_t *on;

    if (!json_is_object(v) || json_object_size(v) > ENTRIES_MAX) {
        return "categories must map at most 100 category names to true or false";
    }
    json_object_foreach(v, name, on) {
        if (!push_name_ok(name) || !json_is_boolean(on)) {
            return "categories must map at most 100 category names to true or false";
        }
    }
    return NULL;
}

static const char *check_quiet_hours(json_t *v)
{
    static const char *const keys[] = { "start", "end", "tz" };
    int start, end;

    if (json_is_null(v)) {
        return NULL;
    }
    if (!json_is_object(v) || json_object_size(v) != 3) {
        return "quiet_hours must be null or {\"start\":\"HH:MM\",\"end\":\"HH:MM\",\"tz\":zone}";
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_object_get(v, keys[i]) == NULL) {
            return "quiet_hours must be null or {\"start\":\"HH:MM\",\"end\":\"HH:MM\",\"tz\":zone}";
        }
    }
    start = minute_of(json_string_value(json_object_get(v, "start")));
    end = minute_of(json_string_value(json_object_get(v, "end")));
    if (start < 0 || end < 0 || start == end) {
        return "quiet_hours.start and end are different times, HH:MM (24-hour clock)";
    }
    if (!zone_ok(json_object_get(v, "tz"))) {
        return "quiet_hours.tz must be an IANA time zone, like Asia/Shanghai";
    }
    return NULL;
}

static const char *check_caps(json_t *v)
{
    static const char *const why =
        "caps must map at most 100 category names to {\"per_hour\":N,\"per_day\":N} (1 to 10000)";
    const char *name, *key;
    json_t *cap, *n;

    if (!json_is_object(v) || json_object_size(v) > ENTRIES_MAX) {
        return why;
    }
    json_object_foreach(v, name, cap) {
        if (!push_name_ok(name) || !json_is_object(cap) || json_object_size(cap) == 0) {
            return why;
        }
        json_object_foreach(cap, key, n) {
            if ((strcmp(key, "per_hour") != 0 && strcmp(key, "per_day") != 0) ||
                !json_is_integer(n) || json_integer_value(n) < 1 ||
                json_integer_value(n) > CAP_MAX) {
                return why;
            }
        }
    }
    return NULL;
}

static const char *check_muted(json_t *v)
{
    size_t i;
    json_t *id;

    if (!json_is_array(v) || json_array_size(v) > MUTED_MAX) {
        return "muted_conversations must list at most 1000 conversation ids";
    }
    json_array_foreach(v, i, id) {
        if (!json_is_integer(id) || json_integer_value(id) < 1) {
            return "muted_conversations must list at most 1000 conversation ids";
        }
    }
    return NULL;
}

/* The settings as GET shows them: every key, defaults filled in. */
static json_t *with_defaults(json_t *s)
{
    json_t *out = json_pack("{s:o,s:n,s:o,s:o,s:b,s:n}", "categories", json_object(),
                            "quiet_hours", "caps", json_object(), "muted_conversations",
                            json_array(), "private_previews", 0, "timezone");

    if (s != NULL) {
        json_object_update(out, s);
    }
    return out;
}

int settings_get(struct chat_call *k, struct store_conn *sc)
{
    char *text = NULL;
    json_t *s = NULL;
    int rc = store_settings_get(sc, k->who.user_id, &text);

    if (rc != 0 && rc != PIPIT_ENOT_FOUND) {
        return rc;
    }
    if (text != NULL) {
        s = json_loads(text, 0, NULL);
        free(text);
    }
    k->result = with_defaults(s);
    json_decref(s);
    return 0;
}

const char *wishes_check(json_t *body)
{
    const char *key, *why = NULL;
    json_t *v;

    if (!json_is_object(body)) {
        return "the settings are a JSON object";
    }
    json_object_foreach(body, key, v) {
        if (strcmp(key, "categories") == 0) {
            why = check_categories(v);
        } else if (strcmp(key, "quiet_hours") == 0) {
            why = check_quiet_hours(v);
        } else if (strcmp(key, "caps") == 0) {
            why = check_caps(v);
        } else if (strcmp(key, "muted_conversations") == 0) {
            why = check_muted(v);
        } else if (strcmp(key, "private_previews") == 0) {
            why = json_is_boolean(v) ? NULL : "private_previews must be true or false";
        } else if (strcmp(key, "timezone") == 0) {
            why = json_is_null(v) || zone_ok(v)
                      ? NULL
                      : "timezone must be null or an IANA time zone, like Europe/Paris";
        } else {
            why = "unknown setting: the keys are categories, quiet_hours, caps, "
                  "muted_conversations, private_previews, timezone";
        }
        if (why != NULL) {
            return why;
        }
    }
    return NULL;
}

int settings_put(struct chat_call *k, struct store_conn *sc)
{
    json_t *body = json_object_get(k->args, "body");
    const char *why = wishes_check(body);
    char *text;
    int rc;

    if (why != NULL) {
        return chat_bad(k, why);
    }
    text = json_dumps(body, JSON_COMPACT);
    rc = store_settings_put(sc, k->who.user_id, text, k->now);
    free(text);
    if (rc == 0) {
        k->result = with_defaults(body);
    }
    return rc;
}

/* ---- the app's categories ---- */

int category_put(struct chat_call *k, struct store_conn *sc)
{
    const char *name = json_string_value(json_object_get(k->args, "name"));
    json_t *body = json_object_get(k->args, "body");
    json_t *urgent = json_object_get(body, "urgent");
    int rc;

    if (!push_name_ok(name)) {
        return chat_bad(k, "a category is 1 to 64 of A-Z a-z 0-9 _ . -");
    }
    if (!json_is_boolean(urgent) || json_object_size(body) != 1) {
        return chat_bad(k, "the body is {\"urgent\": true or false}");
    }
    rc = store_category_put(sc, k->who.app_id, name, json_is_true(urgent));
    if (rc == 0) {
        k->result = json_pack("{s:s,s:O}", "name", name, "urgent", urgent);
    }
    return rc;
}

int category_delete(struct chat_call *k, struct store_conn *sc)
{
    const char *name = json_string_value(json_object_get(k->args, "name"));

    if (!push_name_ok(name)) {
        return chat_bad(k, "a category is 1 to 64 of A-Z a-z 0-9 _ . -");
    }
    k->status = 204;
    return store_category_delete(sc, k->who.app_id, name);
}

static int collect_category(void *arg, const char *name, bool urgent)
{
    json_array_append_new(arg, json_pack("{s:s,s:b}", "name", name, "urgent", urgent));
    return 0;
}

int category_list(struct chat_call *k, struct store_conn *sc)
{
    json_t *list = json_array();
    int rc = store_category_list(sc, k->who.app_id, collect_category, list);

    if (rc != 0) {
        json_decref(list);
        return rc;
    }
    k->result = json_pack("{s:o}", "categories", list);
    return 0;
}

/* ---- deciding ---- */

json_t *wishes_load(struct store_conn *sc, int64_t user_id)
{
    char *text = NULL;
    json_t *s = NULL;

    if (store_settings_get(sc, user_id, &text) == 0) {
        s = json_loads(text, 0, NULL);
    }
    free(text);
    return s;
}

const char *wishes_zone(json_t *settings)
{
    const char *zone = json_string_value(json_object_get(settings, "timezone"));

    if (zone == NULL) {
        zone = json_string_value(json_object_get(json_object_get(settings, "quiet_hours"), "tz"));
    }
    return zone != NULL ? zone : "UTC";
}

/* Whether the user has had their fill of the category. */
static int capped(struct store_conn *sc, int64_t user_id, json_t *cap, const struct push_facts *f,
                  bool *out)
{
    static const struct { const char *key; int64_t window; } limits[] = {
        { "per_hour", HOUR_MS }, { "per_day", DAY_MS },
    };
    int rc = 0;

    *out = false;
    for (size_t i = 0; rc == 0 && !*out && i < sizeof(limits) / sizeof(limits[0]); i++) {
        json_t *max = json_object_get(cap, limits[i].key);
        int64_t n = 0;

        if (max != NULL) {
            rc = store_push_recent(sc, user_id, f->category, f->now - limits[i].window, f->now,
                                   f->push_id, &n);
            *out = n >= json_integer_value(max);
        }
    }
    return rc;
}

/* When quiet hours that hold now end (ms), or 0 when they do not hold. */
static int64_t quiet_until(json_t *quiet, int64_t now)
{
    int start = minute_of(json_string_value(json_object_get(quiet, "start")));
    int end = minute_of(json_string_value(json_object_get(quiet, "end")));
    const struct tz *tz;
    int m;

    if (start < 0 || end < 0 || tz_get(json_string_value(json_object_get(quiet, "tz")), &tz) != 0) {
        return 0;
    }
    m = tz_local_minute(tz, now / 1000);
    if (start < end ? (m < start || m >= end) : (m < start && m >= end)) {
        return 0;
    }
    return tz_next_local(tz, now / 1000, end) * 1000;
}

int wishes_decide(struct store_conn *sc, int64_t user_id, json_t *settings,
                  const struct push_facts *f, enum wish *w, int64_t *until)
{
    bool over = false;
    int rc = 0;

    *w = WISH_SEND;
    *until = 0;
    if (settings == NULL) {
        return 0;
    }
    if (f->category != NULL) {
        json_t *cap = json_object_get(json_object_get(settings, "caps"), f->category);

        if (json_is_false(json_object_get(json_object_get(settings, "categories"), f->category))) {
            *w = WISH_OPTED_OUT;
            return 0;
        }
        if (cap != NULL) {
            rc = capped(sc, user_id, cap, f, &over);
            if (rc != 0 || over) {
                *w = WISH_CAPPED;
                return rc;
            }
        }
    }
    if (!(f->high && f->urgent)) {
        *until = quiet_until(json_object_get(settings, "quiet_hours"), f->now);
        if (*until > f->now) {
            *w = WISH_HOLD;
        }
    }
    return 0;
}

/* RFC 3339 with a zone ("2026-12-24T09:00:00Z", "…+08:00") → ms, or -1. */
int64_t wishes_parse_instant(const char *s)
{
    int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, used = 0;
    struct tm t = { 0 };
    int64_t at;

    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &used) != 5) {
        return -1;
    }
    s += used;
    if (*s == ':' && sscanf(s, ":%2d%n", &sec, &used) == 1) {
        s += used;
    }
    if (strcmp(s, "Z") != 0 && strcmp(s, "z") != 0 &&
        !((*s == '+' || *s == '-') && strlen(s) == 6 && sscanf(s + 1, "%2d:%2d", &oh, &om) == 2)) {
        return -1;
    }
    if (!real_date(y, mo, d) || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59) {
        return -1;
    }
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = mi;
    t.tm_sec = sec;
    at = (int64_t)timegm(&t) - (*s == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return at * 1000;
}

bool wishes_local_ok(const char *when)
{
    return when != NULL && strlen(when) == 16 && digits(when, 4) && when[4] == '-' &&
           digits(when + 5, 2) && when[7] == '-' && digits(when + 8, 2) && when[10] == 'T' &&
           minute_of(when + 11) >= 0 && real_date(atoi(when), atoi(when + 5), atoi(when + 8));
}

int64_t wishes_local_time(const char *zone, const char *when)
{
    struct tm t = { 0 };
    const struct tz *tz;
    int64_t naive, utc;
    int minute;

    if (!wishes_local_ok(when) || tz_get(zone, &tz) != 0) {
        tz_get("UTC", &tz);
    }
    minute = minute_of(when + 11);
    t.tm_year = atoi(when) - 1900;
    t.tm_mon = atoi(when + 5) - 1;
    t.tm_mday = atoi(when + 8);
    naive = (int64_t)timegm(&t) + minute * 60;
    /* Two passes find the offset in force then; from 3 h before, the wall clock's next hh:mm. */
    utc = naive - tz_offset(tz, naive);
    utc = naive - tz_offset(tz, utc);
    return tz_next_local(tz, utc - 3 * 3600, minute) * 1000;
}
