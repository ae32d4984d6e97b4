"""Push, slice 2: topics, tags, POST /v1/push, in-app delivery, analytics and push events.

Contract: /tmp/spec/push-slice2.md ("Push, slice 2: sending — POST /v1/push, topics,
tags, in-app delivery, counts"), on top of /tmp/spec/push-slice1.md (API keys with
scopes, user tokens, devices; error envelope and codes).

Topics (user tokens only; names 1..64 of [A-Za-z0-9_.-]); tags (set by a `users`/`admin`
key or an admin user; at most 20, name rules, values 0..256 bytes, replace-all); sending
(who may send, every validation rule, 202 {"id"}, dedup within 24 h); delivery (an online
user gets `ev:"notification"` on every session, an offline one a queued delivery per
device or a `no_device` suppression; users/topic/tags/all targets); analytics (the
counts, the list newest first with paging); events (delivered/opened/clicked on the
in-app or a device delivery, their implications, counted once, 404/400/401).

Deliveries are asynchronous: counts are read by polling GET /v1/push/{id} until the
state is "done" and the expected counts are there (at most 10 s, scaled).
"""

import base64
import json
import secrets
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chatlib import Chat, api, close_all, ev, expect, now_ms, users
from conftest import T, error_code, poll_until, unique
from pushlib import unreachable_providers

REALM = 'Bearer realm="pipit"'
COUNT_INTS = ("targeted", "queued", "sent", "failed", "expired", "suppressed",
              "delivered", "opened", "clicked")
DETAIL_FIELDS = {"id", "created_at", "expires_at", "state", "to", "notification", "counts"}
LIST_FIELDS = {"id", "created_at", "state", "notification", "counts"}
EVENT_BASE = {"ev", "push", "priority", "ts"}
DEFAULT_TTL = 86400
MAX_TTL = 2419200
_DROP = object()


# -- helpers ------------------------------------------------------------------------------

def assert_401(r, what=""):
    assert r.status_code == 401, (what, r.status_code, r.text[:300])
    assert error_code(r) == "unauthorized", (what, r.text[:300])
    assert r.headers.get("WWW-Authenticate") == REALM, (what, dict(r.headers))


def assert_status(r, status, what=""):
    """status 401/403/400/404 also check the error code."""
    assert r.status_code == status, (what, r.status_code, r.text[:400])
    if status == 401:
        assert_401(r, what)
    elif status in CODES:
        assert error_code(r) == CODES[status], (what, r.text[:400])


CODES = {400: "bad_request", 403: "forbidden", 404: "not_found"}


def raw_json(srv, method, path, cred, obj):
    """Sends any JSON value (None included: json=None would send no body)."""
    return srv.request(method, path, token=cred, data=json.dumps(obj).encode(),
                       headers={"Content-Type": "application/json"})


def create_key(srv, admin, scopes):
    r = srv.post("/v1/admin/api-keys", token=admin,
                 json={"name": unique("key"), "scopes": list(scopes)})
    return expect(r, 201)["key"]


def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def webpush_dev():
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)
    return {"platform": "webpush",
            "endpoint": "https://push.example.com/wp/%s" % secrets.token_urlsafe(12),
            "keys": {"p256dh": b64u(point), "auth": b64u(secrets.token_bytes(16))}}


def fcm_dev():
    return {"platform": "fcm", "token": "fcm-%s:APA91b" % secrets.token_urlsafe(40)}


def apns_dev():
    return {"platform": "apns", "token": secrets.token_hex(32), "topic": "com.example.app"}


def add_device(srv, user, body):
    return expect(api(srv, "POST", "/v1/devices", user, body), 201)["id"]


def post_push(srv, cred, body):
    return srv.post("/v1/push", token=cred, json=body)


def send(srv, cred, to, notification=None, **extra):
    """POST /v1/push with a fresh title; asserts 202 {"id"} (not a duplicate), returns the id."""
    body = {"to": to, "notification": notification or {"title": unique("title")}}
    body.update(extra)
    r = post_push(srv, cred, body)
    got = expect(r, 202)
    assert type(got.get("id")) is int and got["id"] > 0, got
    assert not got.get("duplicate"), ("a new push answered as a duplicate", got)
    return got["id"]


def get_push(srv, cred, pid):
    return expect(srv.get("/v1/push/%d" % pid, token=cred), 200)


def list_pushes(srv, cred, **params):
    body = expect(srv.get("/v1/push", token=cred, params=params or None), 200)
    assert set(body) >= {"pushes", "has_more"}, body
    assert isinstance(body["pushes"], list) and type(body["has_more"]) is bool, body
    return body


def newest_id(srv, cred):
    p = list_pushes(srv, cred, limit=1)["pushes"]
    return p[0]["id"] if p else None


def cget(counts, path):
    """counts["a"]["b"]… by "a.b…"; a missing channel/reason reads as 0."""
    cur = counts
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return 0
        cur = cur[part]
    return cur


def wait_push(srv, cred, pid, want=None, timeout=None):
    """GET /v1/push/{id} until state "done" and every counts path in `want` has its value."""
    want = want or {}
    deadline = time.monotonic() + (timeout or T(10))
    body = None
    while True:
        body = get_push(srv, cred, pid)
        counts = body.get("counts") or {}
        if body.get("state") == "done" and all(cget(counts, k) == v for k, v in want.items()):
            return body
        if time.monotonic() > deadline:
            bad = {k: {"got": cget(counts, k), "want": v} for k, v in want.items()
                   if cget(counts, k) != v}
            raise AssertionError("push %d: state=%r, counts not as expected %r; answer: %s"
                                 % (pid, body.get("state"), bad, json.dumps(body)[:1500]))
        time.sleep(0.05)


def check_counts_shape(c):
    for k in COUNT_INTS:
        assert type(c.get(k)) is int and c[k] >= 0, ("counts.%s" % k, c)
    assert isinstance(c.get("suppressed_by"), dict), c
    for reason, n in c["suppressed_by"].items():
        assert type(n) is int and n >= 0, ("suppressed_by", reason, c)
    assert isinstance(c.get("by_channel"), dict), c
    for ch, sub in c["by_channel"].items():
        assert isinstance(sub, dict), ("by_channel", ch, c)
        for k, n in sub.items():
            assert type(n) is int and n >= 0, ("by_channel", ch, k, c)


def check_notification_event(e, pid, notif, priority, t0):
    """The exact fields of ev:"notification": absent optional fields left out."""
    want = EVENT_BASE | set(notif)
    assert set(e) == want, ("fields of the notification event", sorted(e), sorted(want), e)
    assert e["ev"] == "notification" and e["push"] == pid, e
    for k, v in notif.items():
        assert e[k] == v, ("field %s" % k, e[k], v)
    assert e["priority"] == priority, e
    assert type(e["ts"]) is int and t0 - 2000 <= e["ts"] <= now_ms() + 2000, ("ts (ms)", e)


def notif_of(pid):
    return ev("notification", push=pid)


def post_event(srv, cred, pid, typ, device=None):
    body = {"type": typ}
    if device is not None:
        body["device"] = device
    return api(srv, "POST", "/v1/push/%s/events" % pid, cred, body)


def event_ok(srv, user, pid, typ, device=None):
    r = post_event(srv, user, pid, typ, device)
    assert r.status_code == 204 and r.content == b"", (typ, device, r.status_code, r.text[:300])


def topics(srv, user):
    body = expect(api(srv, "GET", "/v1/me/topics", user), 200)
    assert set(body) >= {"topics"} and isinstance(body["topics"], list), body
    return body["topics"]


def topic_req(srv, method, cred, name):
    return srv.request(method, "/v1/me/topics/" + name, token=cred)


def tags_path(who):
    return "/v1/users/%s/tags" % (who,)


def put_tags(srv, cred, who, tags):
    body = expect(raw_json(srv, "PUT", tags_path(who), cred, tags), 200)
    assert set(body) >= {"tags"}, body
    return body["tags"]


def get_tags(srv, cred, who):
    body = expect(srv.get(tags_path(who), token=cred), 200)
    assert set(body) >= {"tags"}, body
    return body["tags"]


def with_(base, **over):
    b = json.loads(json.dumps(base))
    for k, v in over.items():
        if v is _DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


# -- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(module_server_factory, tmp_path_factory):
    return module_server_factory("--registration", "open",
                                 *unreachable_providers(tmp_path_factory.mktemp("providers")))


@pytest.fixture(scope="module")
def admin(srv):
    return srv.admin_token()


@pytest.fixture(scope="module")
def keys(srv, admin):
    """One key per scope: {"push": "pk_…", "users": …, "admin": …}."""
    return {s: create_key(srv, admin, [s]) for s in ("push", "users", "admin")}


@pytest.fixture(scope="module")
def plain(srv):
    """A user with role `user` (never online, no device)."""
    return srv.register()


def cred_for(caller, admin, plain, keys):
    return {"admin_user": admin, "plain_user": plain.token, "key_push": keys["push"],
            "key_users": keys["users"], "key_admin": keys["admin"], "none": None}[caller]


# -- topics -------------------------------------------------------------------------------

def test_topics_subscribe_list_sorted_unsubscribe(srv):
    u, other = users(srv, 2)
    assert topics(srv, u) == []
    names = ["news", "Alerts", "a.b", "a-b", "a_b", "z9", "0start", "B"]
    for t in names:
        r = topic_req(srv, "PUT", u.token, t)
        assert r.status_code == 204 and r.content == b"", (t, r.status_code, r.text[:300])
    assert topics(srv, u) == sorted(names), "GET /v1/me/topics must be sorted"
    expect(topic_req(srv, "PUT", other.token, "only-other"), 204)
    assert topics(srv, other) == ["only-other"], "another user's topics are listed"
    r = topic_req(srv, "DELETE", u.token, "news")
    assert r.status_code == 204 and r.content == b"", (r.status_code, r.text[:300])
    assert topics(srv, u) == sorted(set(names) - {"news"})
    assert topics(srv, other) == ["only-other"]


def test_topics_subscribe_and_unsubscribe_are_idempotent(srv):
    u = srv.register()
    for _ in range(3):
        expect(topic_req(srv, "PUT", u.token, "sports"), 204)
    assert topics(srv, u) == ["sports"], "subscribing twice must not list the topic twice"
    expect(topic_req(srv, "DELETE", u.token, "sports"), 204)
    expect(topic_req(srv, "DELETE", u.token, "sports"), 204)  # already gone
    expect(topic_req(srv, "DELETE", u.token, "never-subscribed"), 204)
    assert topics(srv, u) == []


# (not "." or "..": HTTP clients drop such dot segments from a URL path, RFC 3986 5.2.4)
@pytest.mark.parametrize("name", ["a", "x" * 64, "Az09_.-", "-", "...", ".x"],
                         ids=["1-char", "64-chars", "all-classes", "dash", "dots", "leading-dot"])
def test_topic_name_boundaries_accepted(srv, name):
    u = srv.register()
    expect(topic_req(srv, "PUT", u.token, name), 204)
    assert topics(srv, u) == [name]
    expect(topic_req(srv, "DELETE", u.token, name), 204)
    assert topics(srv, u) == []


# path segment as sent (percent-encoded where a raw char can't go in a URL)
BAD_TOPICS = {
    "65-chars": "x" * 65,
    "space": "a%20b",
    "at": "a@b",
    "plus": "a+b",
    "star": "a*b",
    "colon": "a:b",
    "comma": "a,b",
    "tilde": "a~b",
    "percent": "a%25b",
    "non-ascii": "%C3%A9t%C3%A9",
}


@pytest.fixture(scope="module")
def tuser(srv):
    """A user whose topic list must stay empty: only refused subscriptions."""
    return srv.register()


@pytest.mark.parametrize("case", list(BAD_TOPICS))
def test_topic_name_validation_is_400(srv, tuser, case):
    name = BAD_TOPICS[case]
    for method in ("PUT", "DELETE"):
        assert_status(topic_req(srv, method, tuser.token, name), 400, (method, name))
    assert topics(srv, tuser) == [], "a refused topic (%s) was stored" % case


def test_topic_empty_name_is_404(srv, tuser):
    # "PUT /v1/me/topics/" names no topic: a path parameter is never empty, so it is
    # no route at all (decided: 404 not_found, not 400).
    for method in ("PUT", "DELETE"):
        r = topic_req(srv, method, tuser.token, "")
        assert r.status_code == 404 and error_code(r) == "not_found", (method, r.text)
    assert topics(srv, tuser) == []


@pytest.mark.parametrize("name", ["a/b", "a%2Fb"], ids=["slash", "encoded-slash"])
def test_topic_with_slash_is_refused(srv, tuser, name):
    # A '/' splits the URL path into one more segment (the router matches percent-decoded
    # segments), so the request may not reach the topic rule at all: 404 (no such route)
    # is as right as 400. Either way nothing may be subscribed.
    for method in ("PUT", "DELETE"):
        r = topic_req(srv, method, tuser.token, name)
        assert r.status_code in (400, 404), (method, name, r.status_code, r.text[:300])
        assert error_code(r) == {400: "bad_request", 404: "not_found"}[r.status_code], r.text
    assert topics(srv, tuser) == []


@pytest.mark.parametrize("scope", ["push", "users", "admin"])
def test_topics_refuse_api_keys(srv, keys, scope):
    k = keys[scope]
    assert_status(topic_req(srv, "PUT", k, "news"), 403, ("PUT", scope))
    assert_status(topic_req(srv, "DELETE", k, "news"), 403, ("DELETE", scope))
    assert_status(srv.get("/v1/me/topics", token=k), 403, ("GET", scope))


def test_topics_without_credentials_401(srv):
    assert_401(topic_req(srv, "PUT", None, "news"), "PUT")
    assert_401(topic_req(srv, "DELETE", None, "news"), "DELETE")
    assert_401(srv.get("/v1/me/topics"), "GET")


# -- tags ---------------------------------------------------------------------------------

def test_tags_put_replaces_all_get_by_id_and_username(srv, keys):
    k = keys["users"]
    u, bystander = users(srv, 2)
    assert get_tags(srv, k, u.id) == {}, "a new user has no tags"
    put_tags(srv, k, bystander.id, {"plan": "silver"})
    got = put_tags(srv, k, u.id, {"plan": "gold", "city": "sh"})
    assert got == {"plan": "gold", "city": "sh"}, got
    assert get_tags(srv, k, u.id) == {"plan": "gold", "city": "sh"}
    assert get_tags(srv, k, u.username) == {"plan": "gold", "city": "sh"}
    # replace all, by username: plan and city are gone
    got = put_tags(srv, k, u.username, {"lang": "fr"})
    assert got == {"lang": "fr"}, got
    assert get_tags(srv, k, u.id) == {"lang": "fr"}, "PUT must replace all the tags"
    assert put_tags(srv, k, u.id, {}) == {}
    assert get_tags(srv, k, u.username) == {}
    assert get_tags(srv, k, bystander.id) == {"plan": "silver"}, "another user's tags changed"


@pytest.mark.parametrize("who", ["99999999", "no-such-user-xyz"])
def test_tags_unknown_user_404(srv, keys, who):
    assert_status(raw_json(srv, "PUT", tags_path(who), keys["users"], {"a": "b"}), 404, who)
    assert_status(srv.get(tags_path(who), token=keys["users"]), 404, who)


GOOD_TAGS = {
    "20-tags": {"t%02d" % i: "v%d" % i for i in range(20)},
    "name-64": {"n" * 64: "v"},
    "name-1": {"n": "v"},
    "name-all-classes": {"Az09_.-": "v"},
    "value-empty": {"a": ""},
    "value-256-ascii": {"a": "v" * 256},
    "value-256-bytes-2byte": {"a": "\u00e9" * 128},
}


@pytest.mark.parametrize("case", list(GOOD_TAGS))
def test_tags_limits_accepted(srv, keys, case):
    u = srv.register()
    tags = GOOD_TAGS[case]
    assert put_tags(srv, keys["users"], u.id, tags) == tags
    assert get_tags(srv, keys["users"], u.id) == tags


BAD_TAGS = {
    "21-tags": {"t%02d" % i: "v" for i in range(21)},
    "name-empty": {"": "v"},
    "name-65": {"n" * 65: "v"},
    "name-space": {"a b": "v"},
    "name-slash": {"a/b": "v"},
    "name-colon": {"a:b": "v"},
    "name-non-ascii": {"\u00e9": "v"},
    "value-257-ascii": {"a": "v" * 257},
    "value-257-bytes-129-chars": {"a": "\u00e9" * 128 + "a"},
    "value-number": {"a": 5},
    "value-bool": {"a": True},
    "value-null": {"a": None},
    "value-array": {"a": ["x"]},
    "value-nested-object": {"a": {"b": "c"}},
    "body-array": [{"a": "b"}],
    "body-string": "a=b",
    "body-number": 5,
    "body-null": None,
}


@pytest.fixture(scope="module")
def taguser(srv, keys):
    u = srv.register()
    put_tags(srv, keys["users"], u.id, {"keep": "yes"})
    return u


@pytest.mark.parametrize("case", list(BAD_TAGS))
def test_tags_validation_is_400_and_changes_nothing(srv, keys, taguser, case):
    r = raw_json(srv, "PUT", tags_path(taguser.id), keys["users"], BAD_TAGS[case])
    assert_status(r, 400, case)
    assert get_tags(srv, keys["users"], taguser.id) == {"keep": "yes"}, (
        "a refused PUT (%s) changed the tags" % case)


def test_tags_body_not_json_or_not_json_type(srv, keys, taguser):
    r = srv.request("PUT", tags_path(taguser.id), token=keys["users"], data=b"{nope",
                    headers={"Content-Type": "application/json"})
    assert_status(r, 400, "not JSON")
    r = srv.request("PUT", tags_path(taguser.id), token=keys["users"], data=b'{"a":"b"}',
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and error_code(r) == "unsupported_media_type", (
        r.status_code, r.text[:300])
    assert get_tags(srv, keys["users"], taguser.id) == {"keep": "yes"}


TAG_WHO = dict(key_users=200, key_admin=200, admin_user=200, key_push=403, plain_user=403,
               none=401)


@pytest.mark.parametrize("caller", list(TAG_WHO))
def test_tags_who_may_call(srv, admin, plain, keys, caller):
    want = TAG_WHO[caller]
    cred = cred_for(caller, admin, plain, keys)
    u = srv.register()
    put_tags(srv, keys["admin"], u.id, {"before": "1"})
    r = raw_json(srv, "PUT", tags_path(u.id), cred, {"after": "2"})
    assert_status(r, want, ("PUT", caller))
    r = srv.get(tags_path(u.username), token=cred)
    assert_status(r, want, ("GET", caller))
    now = get_tags(srv, admin, u.id)
    if want == 200:
        assert r.json()["tags"] == {"after": "2"}, r.text
        assert now == {"after": "2"}, now
    else:
        assert now == {"before": "1"}, ("a refused PUT by %s changed the tags" % caller, now)


def test_plain_user_cannot_tag_themselves(srv, plain):
    assert_status(raw_json(srv, "PUT", tags_path(plain.id), plain.token, {"a": "b"}), 403)
    assert_status(srv.get(tags_path(plain.username), token=plain.token), 403)


# -- POST /v1/push: who, answer ----------------------------------------------------------

SEND_WHO = dict(key_push=202, key_admin=202, admin_user=202, key_users=403, plain_user=403,
                none=401)


@pytest.mark.parametrize("caller", list(SEND_WHO))
def test_send_who_may_call(srv, admin, plain, keys, caller):
    want = SEND_WHO[caller]
    cred = cred_for(caller, admin, plain, keys)
    before = newest_id(srv, admin)
    r = post_push(srv, cred, {"to": {"users": [plain.id]},
                              "notification": {"title": "who-" + caller}})
    assert_status(r, want, caller)
    after = newest_id(srv, admin)
    if want == 202:
        body = r.json()
        assert type(body.get("id")) is int and not body.get("duplicate"), body
        assert after == body["id"], ("the new push is not the newest listed", after, body)
        assert get_push(srv, admin, body["id"])["notification"]["title"] == "who-" + caller
    else:
        assert after == before, ("a refused send (%s) created push %r" % (caller, after))


def test_send_answer_is_202_with_id_and_detail(srv, keys, plain):
    notif = {"title": "Sale", "body": "50% off", "data": {"sku": "A1", "n": [1, 2]},
             "url": "https://shop.example.com/sale", "image": "https://img.example.com/s.png",
             "category": "promo"}
    t0 = now_ms()
    r = post_push(srv, keys["push"], {"to": {"topic": "no-subscribers-here"},
                                      "notification": notif, "ttl": 3600})
    assert r.status_code == 202, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"id"}, ("a new push answers {\"id\": N}", body)
    pid = body["id"]
    d = wait_push(srv, keys["push"], pid, {"targeted": 0})
    assert set(d) >= DETAIL_FIELDS, d
    assert d["id"] == pid, d
    assert type(d["created_at"]) is int and t0 - 2000 <= d["created_at"] <= now_ms() + 2000, d
    assert type(d["expires_at"]) is int, d
    assert abs(d["expires_at"] - d["created_at"] - 3600 * 1000) <= 1000, (
        "expires_at should be created_at + ttl", d["created_at"], d["expires_at"])
    assert d["to"] == {"topic": "no-subscribers-here"}, d["to"]
    for k, v in notif.items():
        assert d["notification"].get(k) == v, ("notification.%s" % k, d["notification"])
    check_counts_shape(d["counts"])


def test_send_default_ttl_is_a_day(srv, keys, plain):
    pid = send(srv, keys["push"], {"users": [plain.id]})
    d = get_push(srv, keys["push"], pid)
    assert abs(d["expires_at"] - d["created_at"] - DEFAULT_TTL * 1000) <= 1000, d


# -- POST /v1/push: validation ------------------------------------------------------------

_BASE = {"to": {"users": ["someone"]}, "notification": {"title": "t"}}


def _p(**over):
    return with_(_BASE, **over)


def _n(**over):
    return with_(_BASE, notification=with_(_BASE["notification"], **over))


BAD_PUSH = {
    # to
    "to-missing": _p(to=_DROP),
    "to-null": _p(to=None),
    "to-empty-object": _p(to={}),
    "to-string": _p(to="all"),
    "to-array": _p(to=["someone"]),
    "to-two-kinds-users-topic": _p(to={"users": ["someone"], "topic": "news"}),
    "to-two-kinds-all-tags": _p(to={"all": True, "tags": {"plan": "gold"}}),
    "to-two-kinds-topic-all": _p(to={"topic": "news", "all": True}),
    "to-users-empty": _p(to={"users": []}),
    "to-users-string": _p(to={"users": "someone"}),
    "to-users-object": _p(to={"users": {"someone": 1}}),
    "to-users-float": _p(to={"users": [1.5]}),
    "to-users-bool": _p(to={"users": [True]}),
    "to-users-null-item": _p(to={"users": [None]}),
    "to-users-array-item": _p(to={"users": [["someone"]]}),
    "to-users-object-item": _p(to={"users": [{"id": 1}]}),
    "to-users-10001": _p(to={"users": list(range(1000000, 1010001))}),
    "to-topic-number": _p(to={"topic": 5}),
    "to-topic-null": _p(to={"topic": None}),
    "to-topic-array": _p(to={"topic": ["news"]}),
    "to-tags-empty": _p(to={"tags": {}}),
    "to-tags-6-pairs": _p(to={"tags": {"k%d" % i: "v" for i in range(6)}}),
    "to-tags-number-value": _p(to={"tags": {"plan": 5}}),
    "to-tags-array": _p(to={"tags": ["plan"]}),
    "to-tags-string": _p(to={"tags": "plan=gold"}),
    "to-all-false": _p(to={"all": False}),
    "to-all-string": _p(to={"all": "true"}),
    "to-all-number": _p(to={"all": 1}),
    # notification
    "notification-missing": _p(notification=_DROP),
    "notification-null": _p(notification=None),
    "notification-string": _p(notification="hello"),
    "notification-array": _p(notification=[{"title": "t"}]),
    "title-missing": _n(title=_DROP, body="b"),
    "title-number": _n(title=5),
    "title-null": _n(title=None),
    "title-257-ascii": _n(title="t" * 257),
    "title-257-bytes-129-chars": _n(title="\u00e9" * 128 + "t"),
    "body-4097-ascii": _n(body="b" * 4097),
    "body-4097-bytes-2byte": _n(body="\u00e9" * 2048 + "b"),
    "body-number": _n(body=5),
    "data-string": _n(data="x"),
    "data-array": _n(data=[1, 2]),
    "data-number": _n(data=5),
    "url-2049": _n(url="https://example.com/" + "u" * (2049 - 20)),
    "url-number": _n(url=5),
    "image-2049": _n(image="https://example.com/" + "i" * (2049 - 20)),
    "image-object": _n(image={"src": "x"}),
    "category-empty": _n(category=""),
    "category-65": _n(category="c" * 65),
    "category-space": _n(category="a b"),
    "category-slash": _n(category="a/b"),
    "category-non-ascii": _n(category="\u00e9"),
    "category-number": _n(category=5),
    # options
    "ttl-negative": _p(ttl=-1),
    "ttl-2419201": _p(ttl=MAX_TTL + 1),
    "ttl-string": _p(ttl="60"),
    "ttl-float": _p(ttl=1.5),
    "ttl-bool": _p(ttl=True),
    "priority-other": _p(priority="urgent"),
    "priority-upper": _p(priority="HIGH"),
    "priority-empty": _p(priority=""),
    "priority-number": _p(priority=1),
    "collapse-key-65": _p(collapse_key="c" * 65),
    "collapse-key-number": _p(collapse_key=5),
    "dedup-key-empty": _p(dedup_key=""),
    "dedup-key-129": _p(dedup_key="d" * 129),
    "dedup-key-number": _p(dedup_key=5),
}


@pytest.mark.parametrize("case", list(BAD_PUSH))
def test_send_validation_is_400_and_creates_nothing(srv, admin, keys, case):
    before = newest_id(srv, admin)
    r = post_push(srv, keys["push"], BAD_PUSH[case])
    assert_status(r, 400, case)
    assert "id" not in r.json(), r.text[:300]
    after = newest_id(srv, admin)
    assert after == before, "a refused send (%s) created push %r" % (case, after)


def test_url_and_image_2049_really_are_2049(srv):
    assert len(BAD_PUSH["url-2049"]["notification"]["url"]) == 2049
    assert len(BAD_PUSH["image-2049"]["notification"]["image"]) == 2049
    assert len(BAD_PUSH["to-users-10001"]["to"]["users"]) == 10001


MALFORMED = {
    "send_at-ms": {"send_at": now_ms() + 3600 * 1000},
    "send_at-no-zone": {"send_at": "2030-01-01T09:00:00"},
    "send_at-too-far": {"send_at": "2099-01-01T09:00:00Z"},
    "send_at_local-with-zone": {"send_at_local": "2030-01-01T09:00Z"},
    "send_at_local-seconds": {"send_at_local": "2030-01-01T09:00:00"},
    "both-schedules": {"send_at": "2030-01-01T09:00:00Z", "send_at_local": "2030-01-01T09:00"},
    "variants-no-weight": {"variants": [{"name": "a", "notification": {"title": "A"}}]},
    "variants-empty": {"variants": []},
    "variants-6": {"variants": [{"name": "v%d" % i, "weight": 1, "notification": {}}
                                for i in range(6)]},
    "variants-same-name": {"variants": [{"name": "a", "weight": 1, "notification": {}},
                                        {"name": "a", "weight": 1, "notification": {}}]},
    "variants-bad-title": {"variants": [{"name": "a", "weight": 1,
                                         "notification": {"title": 5}}]},
    "holdout-alone": {"holdout": 10},
    "data-over-3072-bytes": {"notification": {"title": "t", "data": {"x": "a" * 3070}}},
    "variants-change-category": {"variants": [{"name": "a", "weight": 1,
                                               "notification": {"category": "other"}}]},
    "send_at-31-november": {"send_at": "2030-11-31T09:00:00Z"},
    "send_at_local-29-february-2027": {"send_at_local": "2027-02-29T09:00"},
    "holdout-negative": {"holdout": -1, "variants": [{"name": "a", "weight": 1,
                                                      "notification": {}}]},
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_send_malformed_schedule_or_variants_is_400(srv, admin, keys, case):
    before = newest_id(srv, admin)
    r = post_push(srv, keys["push"], _p(**MALFORMED[case]))
    assert_status(r, 400, case)
    assert newest_id(srv, admin) == before, "a refused send (%s) created a push" % case


def test_send_body_not_an_object_or_not_json(srv, admin, keys):
    before = newest_id(srv, admin)
    for obj in ([_BASE], "x", 5, None):
        assert_status(raw_json(srv, "POST", "/v1/push", keys["push"], obj), 400, obj)
    r = srv.post("/v1/push", token=keys["push"], data=b"{nope",
                 headers={"Content-Type": "application/json"})
    assert_status(r, 400, "not JSON")
    r = srv.post("/v1/push", token=keys["push"], data=json.dumps(_BASE).encode(),
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and error_code(r) == "unsupported_media_type", (
        r.status_code, r.text[:300])
    assert newest_id(srv, admin) == before


GOOD_PUSH = {
    "title-256-ascii": lambda: _n(title="t" * 256),
    "title-256-bytes-2byte": lambda: _n(title="\u00e9" * 128),
    "body-4096-ascii": lambda: _n(body="b" * 4096),
    "body-4096-bytes-2byte": lambda: _n(body="\u00e9" * 2048),
    "data-empty": lambda: _n(data={}),
    "data-nested": lambda: _n(data={"a": {"b": [1, "x", None, True]}, "n": 2.5}),
    "url-2048": lambda: _n(url="https://example.com/" + "u" * (2048 - 20)),
    "image-2048": lambda: _n(image="https://example.com/" + "i" * (2048 - 20)),
    "category-64": lambda: _n(category="c" * 64),
    "category-all-classes": lambda: _n(category="Az09_.-"),
    "ttl-0": lambda: _p(ttl=0),
    "ttl-max": lambda: _p(ttl=MAX_TTL),
    "priority-high": lambda: _p(priority="high"),
    "priority-normal": lambda: _p(priority="normal"),
    "collapse-key-64": lambda: _p(collapse_key="c" * 64),
    "dedup-key-1": lambda: _p(dedup_key=secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
    "dedup-key-128": lambda: _p(dedup_key=secrets.token_hex(64)),
}


@pytest.mark.parametrize("case", list(GOOD_PUSH))
def test_send_boundaries_accepted(srv, keys, plain, case):
    body = GOOD_PUSH[case]()
    body["to"] = {"users": [plain.id]}
    r = post_push(srv, keys["push"], body)
    assert r.status_code == 202, (case, r.status_code, r.text[:300])
    got = r.json()
    assert type(got.get("id")) is int and not got.get("duplicate"), (case, got)
    d = get_push(srv, keys["push"], got["id"])
    for k, v in body["notification"].items():
        assert d["notification"].get(k) == v, ("notification.%s" % k, case)
    if "ttl" in body:
        assert abs(d["expires_at"] - d["created_at"] - body["ttl"] * 1000) <= 1000, (case, d)


def test_send_to_10000_users_accepted_unknown_ignored(srv, keys):
    u = srv.register()
    ids = [u.id] + list(range(1000000, 1009999))
    assert len(ids) == 10000
    pid = send(srv, keys["push"], {"users": ids})
    wait_push(srv, keys["push"], pid, {"targeted": 1, "suppressed": 1})


# -- dedup --------------------------------------------------------------------------------

def test_dedup_key_gives_same_id_duplicate_and_sends_nothing(srv, admin, keys):
    u = srv.register()
    k = "order-%s" % secrets.token_hex(8)
    with Chat(srv, u) as c:
        pid = send(srv, keys["push"], {"users": [u.id]}, {"title": "first"}, dedup_key=k)
        c.wait_event(notif_of(pid), what="the first notification")
        wait_push(srv, admin, pid, {"targeted": 1, "sent": 1})
        # the same key again, by every kind of sender of the app, with another body
        for cred in (keys["push"], admin, keys["admin"]):
            r = post_push(srv, cred, {"to": {"users": [u.id]},
                                      "notification": {"title": "second"}, "dedup_key": k})
            assert r.status_code == 202, (r.status_code, r.text[:300])
            body = r.json()
            assert body.get("id") == pid and body.get("duplicate") is True, (
                "a reused dedup_key must answer the earlier id with duplicate true", pid, body)
        c.no_event(ev("notification"), wait=T(0.8), what="notification of a duplicate")
        assert newest_id(srv, admin) == pid, "a duplicate created a new push"
        d = wait_push(srv, admin, pid, {"targeted": 1, "sent": 1, "by_channel.inapp.sent": 1})
        assert d["notification"]["title"] == "first", d["notification"]
        # another key is another push
        pid2 = send(srv, keys["push"], {"users": [u.id]}, dedup_key=k + "-b")
        assert pid2 != pid
        c.wait_event(notif_of(pid2), what="the notification of another dedup_key")


# -- delivery -----------------------------------------------------------------------------

FULL_NOTIF = {"title": "Your order shipped", "body": "Arrives Tuesday \u2708",
              "data": {"order": 42, "tags": ["a", "b"], "x": {"y": None, "z": True}},
              "url": "https://shop.example.com/o/42", "image": "https://img.example.com/42.png",
              "category": "order.shipped"}


def test_online_user_gets_notification_on_every_session(srv, keys):
    u, other = users(srv, 2)
    socks = [Chat(srv, u), Chat(srv, u), Chat(srv, other)]
    try:
        t0 = now_ms()
        pid = send(srv, keys["push"], {"users": [u.id]}, FULL_NOTIF, priority="high")
        for c in socks[:2]:
            e = c.wait_event(notif_of(pid), what="the notification on each session")
            check_notification_event(e, pid, FULL_NOTIF, "high", t0)
        socks[2].no_event(ev("notification"), what="notification to a user not targeted")
        for c in socks[:2]:
            c.no_event(notif_of(pid), wait=0.1, what="a second copy on one session")
        d = wait_push(srv, keys["push"], pid, {
            "targeted": 1, "sent": 1, "queued": 0, "suppressed": 0, "failed": 0,
            "by_channel.inapp.sent": 1})
        check_counts_shape(d["counts"])
    finally:
        close_all(*socks)


def test_notification_leaves_out_absent_optional_fields(srv, keys):
    u = srv.register()
    with Chat(srv, u) as c:
        t0 = now_ms()
        pid = send(srv, keys["push"], {"users": [u.username]}, {"title": "just a title"})
        e = c.wait_event(notif_of(pid))
        check_notification_event(e, pid, {"title": "just a title"}, "normal", t0)
        # some optional fields only
        notif = {"title": "t2", "url": "https://example.com/x"}
        pid2 = send(srv, keys["push"], {"users": [u.id]}, notif)
        e = c.wait_event(notif_of(pid2))
        check_notification_event(e, pid2, notif, "normal", now_ms() - 5000)


def test_online_user_with_a_device_gets_only_inapp(srv, keys):
    u = srv.register()
    add_device(srv, u, fcm_dev())
    with Chat(srv, u) as c:
        pid = send(srv, keys["push"], {"users": [u.id]})
        c.wait_event(notif_of(pid))
        wait_push(srv, keys["push"], pid, {"targeted": 1, "sent": 1, "queued": 0,
                                           "by_channel.inapp.sent": 1, "by_channel.fcm.queued": 0})


def test_offline_user_two_devices_two_queued(srv, keys):
    u = srv.register()
    add_device(srv, u, webpush_dev())
    add_device(srv, u, apns_dev())
    pid = send(srv, keys["push"], {"users": [u.id]})
    d = wait_push(srv, keys["push"], pid, {
        "targeted": 1, "queued": 2, "sent": 0, "suppressed": 0, "failed": 0,
        "by_channel.webpush.queued": 1, "by_channel.apns.queued": 1,
        "by_channel.inapp.sent": 0})
    check_counts_shape(d["counts"])


def test_offline_user_without_device_suppressed_no_device(srv, keys):
    u = srv.register()
    pid = send(srv, keys["push"], {"users": [u.username]})
    d = wait_push(srv, keys["push"], pid, {
        "targeted": 1, "suppressed": 1, "suppressed_by.no_device": 1,
        "queued": 0, "sent": 0})
    check_counts_shape(d["counts"])


def test_unknown_users_ignored_and_duplicates_counted_once(srv, keys):
    a, b = users(srv, 2)
    with Chat(srv, a) as c:
        to = {"users": [a.id, "no-such-user-%s" % secrets.token_hex(4), 987654321, b.username,
                        a.username, a.id]}
        pid = send(srv, keys["push"], to)
        c.wait_event(notif_of(pid))
        c.no_event(notif_of(pid), wait=T(0.5), what="a second notification for one user")
        wait_push(srv, keys["push"], pid, {"targeted": 2, "sent": 1, "suppressed": 1,
                                           "suppressed_by.no_device": 1})


def test_only_unknown_users_targets_nobody(srv, keys):
    pid = send(srv, keys["push"], {"users": ["nobody-%s" % secrets.token_hex(4), 987654322]})
    wait_push(srv, keys["push"], pid, {"targeted": 0, "sent": 0, "queued": 0, "suppressed": 0})


def test_topic_target_reaches_only_subscribers(srv, keys, admin):
    t = unique("topic")
    sub, nosub, gone, offline = users(srv, 4)
    for u in (sub, gone, offline):
        expect(topic_req(srv, "PUT", u.token, t), 204)
    expect(topic_req(srv, "PUT", nosub.token, t + "x"), 204)
    expect(topic_req(srv, "DELETE", gone.token, t), 204)
    socks = [Chat(srv, sub), Chat(srv, nosub), Chat(srv, gone)]
    try:
        pid = send(srv, keys["push"], {"topic": t})
        socks[0].wait_event(notif_of(pid), what="the notification of a subscriber")
        socks[1].no_event(ev("notification"), what="notification to a non-subscriber")
        socks[2].no_event(ev("notification"), what="notification to an unsubscribed user")
        d = wait_push(srv, admin, pid, {"targeted": 2, "sent": 1, "suppressed": 1,
                                        "by_channel.inapp.sent": 1})
        assert d["to"] == {"topic": t}, d["to"]
    finally:
        close_all(*socks)


def test_tags_target_needs_all_pairs(srv, keys):
    plan = unique("plan")
    both, wrong_city, no_city, superset, no_plan = users(srv, 5)
    k = keys["users"]
    put_tags(srv, k, both.id, {"plan": plan, "city": "sh"})
    put_tags(srv, k, wrong_city.id, {"plan": plan, "city": "bj"})
    put_tags(srv, k, no_city.id, {"plan": plan})
    put_tags(srv, k, superset.id, {"plan": plan, "city": "sh", "lang": "zh"})
    put_tags(srv, k, no_plan.id, {"city": "sh"})
    socks = [Chat(srv, both), Chat(srv, wrong_city), Chat(srv, no_city), Chat(srv, no_plan)]
    try:
        pid = send(srv, keys["push"], {"tags": {"plan": plan, "city": "sh"}})
        socks[0].wait_event(notif_of(pid), what="the notification of a user with both tags")
        for c in socks[1:]:
            c.no_event(ev("notification"), wait=0.3, what="notification to a partial match")
        wait_push(srv, keys["push"], pid, {"targeted": 2, "sent": 1, "suppressed": 1})
    finally:
        close_all(*socks)


def test_all_target_reaches_every_user_of_the_app(server_factory, tmp_path):
    s = server_factory("--registration", "open", *unreachable_providers(tmp_path))
    adm = s.admin_token()
    made = [s.register() for _ in range(3)]
    with Chat(s, made[0]) as c:
        pid = send(s, adm, {"all": True})
        c.wait_event(notif_of(pid))
        # the 3 users made here plus the admin
        d = wait_push(s, adm, pid, {"targeted": 4, "sent": 1, "suppressed": 3,
                                    "suppressed_by.no_device": 3, "by_channel.inapp.sent": 1})
        assert d["to"] == {"all": True}, d["to"]
        late = s.register()
        add_device(s, late, fcm_dev())
        pid2 = send(s, adm, {"all": True})
        c.wait_event(notif_of(pid2))
        wait_push(s, adm, pid2, {"targeted": 5, "sent": 1, "suppressed": 3, "queued": 1,
                                 "by_channel.fcm.queued": 1})


# -- analytics ----------------------------------------------------------------------------

def test_counts_of_a_mixed_push(srv, keys, admin):
    online, two_dev, no_dev = users(srv, 3)
    add_device(srv, two_dev, fcm_dev())
    add_device(srv, two_dev, webpush_dev())
    with Chat(srv, online) as c:
        pid = send(srv, admin, {"users": [online.id, two_dev.username, no_dev.id, "ghost-x1"]})
        c.wait_event(notif_of(pid))
        d = wait_push(srv, keys["push"], pid, {
            "targeted": 3, "sent": 1, "queued": 2, "suppressed": 1, "failed": 0, "expired": 0,
            "delivered": 0, "opened": 0, "clicked": 0, "suppressed_by.no_device": 1,
            "by_channel.inapp.sent": 1, "by_channel.fcm.queued": 1,
            "by_channel.webpush.queued": 1})
    check_counts_shape(d["counts"])
    assert set(d) >= DETAIL_FIELDS, d
    assert d["state"] == "done", d
    inapp = d["counts"]["by_channel"]["inapp"]
    assert set(inapp) >= {"queued", "sent", "delivered", "opened", "clicked"}, inapp


READ_WHO = dict(key_push=200, key_admin=200, admin_user=200, key_users=403, plain_user=403,
                none=401)


@pytest.mark.parametrize("caller", list(READ_WHO))
def test_read_who_may_call(srv, admin, plain, keys, caller):
    want = READ_WHO[caller]
    cred = cred_for(caller, admin, plain, keys)
    pid = send(srv, admin, {"users": [plain.id]}, {"title": "read-" + caller})
    r = srv.get("/v1/push/%d" % pid, token=cred)
    assert_status(r, want, ("GET /v1/push/{id}", caller))
    if want == 200:
        assert r.json()["id"] == pid and r.json()["notification"]["title"] == "read-" + caller
    r = srv.get("/v1/push", token=cred)
    assert_status(r, want, ("GET /v1/push", caller))
    if want == 200:
        assert pid in [p["id"] for p in r.json()["pushes"]], r.text[:500]


def test_push_key_reads_a_push_sent_by_the_admin_user(srv, admin, keys, plain):
    pid = send(srv, admin, {"users": [plain.id]}, {"title": "by-admin"})
    d = get_push(srv, keys["push"], pid)
    assert d["id"] == pid and d["notification"]["title"] == "by-admin", d
    pid2 = send(srv, keys["push"], {"users": [plain.id]}, {"title": "by-key"})
    assert get_push(srv, admin, pid2)["notification"]["title"] == "by-key"


@pytest.mark.parametrize("tail", ["99999999", "0", "abc", "1x", "-1"])
def test_read_unknown_or_non_numeric_is_404(srv, keys, tail):
    assert_status(srv.get("/v1/push/" + tail, token=keys["push"]), 404, tail)


@pytest.fixture(scope="module")
def lsrv(module_server_factory):
    """A server of its own for the list, so its pushes are all known."""
    s = module_server_factory()
    s.keys = {"push": create_key(s, s.admin_token(), ["push"])}
    return s


def _walk(s, cred, limit, before=None, pages=1000):
    out, last = [], None
    params = {"limit": limit}
    if before is not None:
        params["before"] = before
    for _ in range(pages):
        last = list_pushes(s, cred, **params)
        out += last["pushes"]
        if not last["has_more"]:
            return out, last
        assert last["pushes"], ("has_more with an empty page", last)
        params["before"] = last["pushes"][-1]["id"]
    raise AssertionError("the list never ended")


def test_list_newest_first_with_paging(lsrv):
    k = lsrv.keys["push"]
    titles = ["list-%d" % i for i in range(5)]
    ids = [send(lsrv, k, {"all": True}, {"title": t}) for t in titles]
    assert ids == sorted(ids) and len(set(ids)) == 5, ids
    body = list_pushes(lsrv, k, limit=2)
    got = [p["id"] for p in body["pushes"]]
    assert got == [ids[4], ids[3]] and body["has_more"] is True, body
    for p in body["pushes"]:
        assert set(p) >= LIST_FIELDS, p
        assert p["state"] in ("expanding", "done"), p
        assert p["notification"]["title"] == titles[ids.index(p["id"])], p
        check_counts_shape(p["counts"])
    # before= is exclusive
    body = list_pushes(lsrv, k, limit=2, before=ids[3])
    assert [p["id"] for p in body["pushes"]] == [ids[2], ids[1]] and body["has_more"], body
    everything, last = _walk(lsrv, k, 2)
    all_ids = [p["id"] for p in everything]
    assert all_ids == sorted(all_ids, reverse=True) and len(set(all_ids)) == len(all_ids), all_ids
    assert all_ids[:5] == ids[::-1], all_ids
    assert last["has_more"] is False
    n = len(all_ids)
    # a page that holds exactly what is left has has_more false
    body = list_pushes(lsrv, k, limit=n)
    assert len(body["pushes"]) == n and body["has_more"] is False, (n, body["has_more"])
    if n > 1:
        body = list_pushes(lsrv, k, limit=n - 1)
        assert len(body["pushes"]) == n - 1 and body["has_more"] is True, (n, body["has_more"])
    body = list_pushes(lsrv, k, before=min(all_ids))
    assert body["pushes"] == [] and body["has_more"] is False, body


def test_list_default_limit_50_max_200(lsrv):
    k = lsrv.keys["push"]
    have = len(_walk(lsrv, k, 200)[0])
    for i in range(max(0, 201 - have)):
        send(lsrv, k, {"users": ["nobody"]}, {"title": "bulk-%d" % i})
    body = list_pushes(lsrv, k)
    assert len(body["pushes"]) == 50 and body["has_more"] is True, (
        "default limit", len(body["pushes"]), body["has_more"])
    ids = [p["id"] for p in body["pushes"]]
    assert ids == sorted(ids, reverse=True), ids
    body = list_pushes(lsrv, k, limit=200)
    assert len(body["pushes"]) == 200 and body["has_more"] is True, len(body["pushes"])
    r = lsrv.get("/v1/push", token=k, params={"limit": 201})
    if r.status_code == 200:  # clamped to the max
        assert len(r.json()["pushes"]) == 200, len(r.json()["pushes"])
    else:
        assert_status(r, 400, "limit above the max")


# -- events -------------------------------------------------------------------------------

def test_inapp_events_implications_and_counted_once(srv, keys):
    u1, u2, u3 = users(srv, 3)
    socks = [Chat(srv, u) for u in (u1, u2, u3)]
    try:
        pid = send(srv, keys["push"], {"users": [u1.id, u2.id, u3.id]})
        for c in socks:
            c.wait_event(notif_of(pid))
        zero = {"delivered": 0, "opened": 0, "clicked": 0}
        wait_push(srv, keys["push"], pid, dict(zero, targeted=3, sent=3))
        event_ok(srv, u1, pid, "delivered")
        event_ok(srv, u2, pid, "opened")      # implies delivered
        event_ok(srv, u3, pid, "clicked")     # implies opened and delivered
        want = {"delivered": 3, "opened": 2, "clicked": 1, "by_channel.inapp.delivered": 3,
                "by_channel.inapp.opened": 2, "by_channel.inapp.clicked": 1}
        wait_push(srv, keys["push"], pid, want, timeout=T(5))
        # repeats, and weaker events after stronger ones: nothing changes
        for u, typ in ((u1, "delivered"), (u2, "opened"), (u2, "delivered"), (u3, "clicked"),
                       (u3, "opened"), (u3, "delivered")):
            event_ok(srv, u, pid, typ)
        time.sleep(0.3)
        c = get_push(srv, keys["push"], pid)["counts"]
        assert {k: cget(c, k) for k in want} == want, ("repeated events were counted again", c)
        # a stronger event later still counts
        event_ok(srv, u1, pid, "clicked")
        wait_push(srv, keys["push"], pid, {"delivered": 3, "opened": 3, "clicked": 2,
                                           "by_channel.inapp.clicked": 2}, timeout=T(5))
    finally:
        close_all(*socks)


def test_device_events_count_on_that_device_channel(srv, keys):
    u = srv.register()
    d_fcm = add_device(srv, u, fcm_dev())
    d_wp = add_device(srv, u, webpush_dev())
    pid = send(srv, keys["push"], {"users": [u.id]})
    wait_push(srv, keys["push"], pid, {"queued": 2, "delivered": 0})
    event_ok(srv, u, pid, "opened", d_fcm)
    wait_push(srv, keys["push"], pid, {
        "delivered": 1, "opened": 1, "clicked": 0,
        "by_channel.fcm.delivered": 1, "by_channel.fcm.opened": 1,
        "by_channel.webpush.delivered": 0, "by_channel.inapp.delivered": 0}, timeout=T(5))
    event_ok(srv, u, pid, "clicked", d_wp)
    want = {"delivered": 2, "opened": 2, "clicked": 1, "by_channel.fcm.clicked": 0,
            "by_channel.webpush.delivered": 1, "by_channel.webpush.opened": 1,
            "by_channel.webpush.clicked": 1}
    wait_push(srv, keys["push"], pid, want, timeout=T(5))
    for typ in ("opened", "delivered"):
        event_ok(srv, u, pid, typ, d_fcm)
    event_ok(srv, u, pid, "clicked", d_wp)
    time.sleep(0.3)
    c = get_push(srv, keys["push"], pid)["counts"]
    assert {k: cget(c, k) for k in want} == want, ("repeated device events counted again", c)


def test_events_404_when_the_caller_has_no_such_delivery(srv, keys):
    offline, online, outsider = users(srv, 3)
    d_off = add_device(srv, offline, apns_dev())
    d_on = add_device(srv, online, fcm_dev())  # online at send time: no delivery to it
    with Chat(srv, online) as c:
        pid = send(srv, keys["push"], {"users": [offline.id, online.id]})
        c.wait_event(notif_of(pid))
        wait_push(srv, keys["push"], pid, {"targeted": 2, "sent": 1, "queued": 1})
        cases = [
            (outsider, None, "not targeted"),
            (outsider, d_off, "not targeted, another's device"),
            (online, d_off, "targeted, another's device"),
            (offline, d_on, "another's device"),
            (online, d_on, "own device without a delivery (was online)"),
            (online, 99999999, "unknown device"),
        ]
        for user, dev, what in cases:
            for typ in ("delivered", "clicked"):
                assert_status(post_event(srv, user, pid, typ, dev), 404, (what, typ))
        for tail in ("99999999", "abc"):
            assert_status(post_event(srv, online, tail, "delivered"), 404, ("push", tail))
        time.sleep(0.2)
        c2 = get_push(srv, keys["push"], pid)["counts"]
        assert (c2["delivered"], c2["opened"], c2["clicked"]) == (0, 0, 0), (
            "a refused event was counted", c2)


def test_events_bad_type_400(srv, keys):
    u = srv.register()
    with Chat(srv, u) as c:
        pid = send(srv, keys["push"], {"users": [u.id]})
        c.wait_event(notif_of(pid))
    path = "/v1/push/%d/events" % pid
    for body in ({"type": "read"}, {"type": ""}, {"type": "DELIVERED"}, {"type": 1},
                 {"type": None}, {}, {"device": 1}):
        assert_status(raw_json(srv, "POST", path, u.token, body), 400, body)
    for obj in (["delivered"], "delivered", None):
        assert_status(raw_json(srv, "POST", path, u.token, obj), 400, obj)
    c2 = wait_push(srv, keys["push"], pid, {"targeted": 1})["counts"]
    assert c2["delivered"] == 0, ("a refused event was counted", c2)


def test_events_need_a_user_token(srv, keys, admin):
    u = srv.register()
    pid = send(srv, keys["push"], {"users": [u.id]})
    path = "/v1/push/%d/events" % pid
    assert_401(srv.post(path, json={"type": "delivered"}), "no credentials")
    assert_401(srv.post(path, token="pk_" + "A" * 48, json={"type": "delivered"}), "unknown key")
    for scope in ("push", "users", "admin"):
        # a key is not a user (slice 1: user routes refuse keys with 403)
        assert_status(srv.post(path, token=keys[scope], json={"type": "delivered"}), 403, scope)
    c = wait_push(srv, keys["push"], pid, {"targeted": 1})["counts"]
    assert c["delivered"] == 0, c


# -- durability: a restart in the middle of an expansion ---------------------------------

def add_users_offline(srv, n, prefix):
    """n users written straight into the stopped server's database (hashing n
    passwords through the API would take minutes); they can never log in."""
    import sqlite3
    db = sqlite3.connect(str(srv.data_dir / "pipit.db"), timeout=30)
    with db:
        for i in range(n):
            db.execute("INSERT INTO users (app_id, username, password_hash, role, created_at) "
                       "VALUES (1, ?, '!no-login', 'user', ?)", ("%s%d" % (prefix, i), now_ms()))
    db.close()


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.1])
def test_killed_mid_expansion_resumes_without_loss_or_double(server_factory, delay):
    """An `all` push to 1,501 users is expanded in chunks of 500; pipitd is killed
    (SIGKILL) right after the 202, at a few different moments. After a restart the
    push is done and every user has exactly one delivery: the chunk in flight was
    either committed with its cursor or rolled back with it."""
    s = server_factory.new()
    token = s.admin_token()
    s.stop()
    add_users_offline(s, 1500, unique("bulk"))
    s.start()
    pid = send(s, token, {"all": True})
    time.sleep(delay)
    s.kill()
    s.start()
    body = wait_push(s, token, pid, want={"targeted": 1501}, timeout=T(30))
    c = body["counts"]
    total = sum(c[k] for k in ("queued", "sent", "failed", "expired", "suppressed"))
    assert total == 1501, ("one delivery per user, none twice", c)
    assert c["suppressed_by"] == {"no_device": 1501}, c


def test_a_repeated_dedup_key_with_a_bad_body_is_still_400(srv, admin):
    """A repeat is answered as a duplicate only when it is a valid request itself."""
    key = unique("dk")
    first = send(srv, admin, {"users": [1]}, dedup_key=key)
    r = post_push(srv, admin, {"to": {"bogus": 1}, "notification": {"title": "x"},
                               "dedup_key": key})
    assert_status(r, 400, "invalid repeat")
    r = post_push(srv, admin, {"to": {"users": [1]}, "notification": {"title": "x"},
                               "dedup_key": key})
    assert expect(r, 202) == {"id": first, "duplicate": True}


def test_a_failed_chunk_is_retried_without_a_restart(server_factory):
    """A store error stops one chunk (here a trigger refuses one user's delivery for
    a second); the push is resumed within the retry interval (10 s), and every user
    still gets exactly one delivery."""
    import sqlite3
    s = server_factory.new()
    token = s.admin_token()
    s.stop()
    add_users_offline(s, 1200, unique("retry"))
    s.start()
    db = sqlite3.connect(str(s.data_dir / "pipit.db"), timeout=30, isolation_level=None)
    victim = db.execute("SELECT id FROM users ORDER BY id LIMIT 1 OFFSET 700").fetchone()[0]
    db.execute("CREATE TRIGGER refuse_once BEFORE INSERT ON deliveries WHEN NEW.user_id = %d "
               "BEGIN SELECT RAISE(ABORT, 'transient'); END" % victim)
    try:
        pid = send(s, token, {"all": True})
        poll_until(lambda: "to be resumed" in s.log_text(), T(5), what="the failed chunk")
        assert get_push(s, token, pid)["state"] == "expanding"
    finally:
        db.execute("DROP TRIGGER IF EXISTS refuse_once")
        db.close()
    body = wait_push(s, token, pid, want={"targeted": 1201}, timeout=T(30))
    c = body["counts"]
    assert c["suppressed_by"] == {"no_device": 1201}, c


def test_in_app_acks_over_the_websocket(srv, keys):
    u = srv.register()
    with Chat(srv, u) as c:
        pid = send(srv, keys["push"], {"users": [u.id]})
        c.wait_event(notif_of(pid))
        assert c.ok("push_event", push=pid, type="opened") == {}
        c.ok("push_event", push=pid, type="opened")  # a repeat changes nothing
        wait_push(srv, keys["push"], pid, {"by_channel.inapp.delivered": 1,
                                           "by_channel.inapp.opened": 1,
                                           "by_channel.inapp.clicked": 0})
        assert c.err("push_event", push=pid, type="bounced") == "bad_request"
        assert c.err("push_event", push=pid + 1000, type="opened") == "not_found"
        assert c.err("push_event", type="opened") == "bad_request"
        c.ok("push_event", push=pid, type="clicked")
        wait_push(srv, keys["push"], pid, {"by_channel.inapp.clicked": 1})
