"""Webhooks (issue 9): the admin API, what reaches a receiver, retries and durability.

The receiver (`hooklib.Receiver`) records every request and answers what a test scripted
for its path (a status sequence, `Retry-After`, a redirect, an answer slower than
`webhook_timeout`, or a hang until released), else 200. Each webhook gets a path of its
own, so one receiver serves a module. Every request a test looks at is checked as a delivery: the
headers, the envelope, and the signature recomputed from the secret and the raw body.

Servers run with short retries (base 200ms, cap 1s, given up after 3s, timeout 1s)
so that a failed delivery, a retry and Retry-After take seconds. Module server `srv`
may send to loopback over http; `guarded` may use http but no private address (the
guard at create and at connect time); `strict` has the defaults. The check at connect
time needs a name that resolves to loopback and is not `localhost` (refused when saved):
this machine's host name, when /etc/hosts maps it there (else that test is skipped).
The durability tests restart (SIGTERM, then SIGKILL) servers of their own on the same
data dir.
"""

import json
import re
import socket
import time

import pytest

from chatlib import (Chat, add_member, create_direct, create_group, ev, expect,
                     now_ms, remove_member, rest_send, text, users)
from conftest import T, error_code, metric_sum, poll_until, unique
from fileslib import move_user_to_new_app
from hooklib import Answer, Hit, Receiver, signature, signed_with

EVENTS = ["message.created", "message.edited", "message.recalled", "conversation.created",
          "member.joined", "member.left", "user.created", "push.finished", "push.opened",
          "push.clicked"]
HOOK_FIELDS = {"id", "url", "events", "description", "enabled", "created_at", "updated_at",
               "queued", "failed", "bot"}
DELIVERY_FIELDS = {"id", "event", "state", "attempts", "created_at", "next_at", "finished_at",
                   "last_status", "last_error"}
ENVELOPE = {"id", "type", "app", "created_at", "data"}
SECRET_RE = re.compile(r"whsec_[A-Za-z0-9_-]{43}")
METRIC = "pipit_webhook_deliveries_total"


def ms(seconds):
    return "%dms" % int(seconds * 1000)


RETRY_FOR = T(3)
TIMEOUT = T(1)
FAST = ("--webhook-retry-base", "200ms", "--webhook-retry-cap", "1s",
        "--webhook-retry-for", ms(RETRY_FOR), "--webhook-timeout", ms(TIMEOUT))
OPEN = ("--webhook-allow-http", "yes", "--webhook-allow-private", "yes")


# -- deliveries as a receiver sees them -----------------------------------------------------

def check_hit(hit, hook, secret=None):
    """Asserts `hit` is a well-formed, correctly signed delivery of `hook`; its body."""
    secret = secret or hook.secret
    assert hit.method == "POST" and hit.path == hook.path, hit
    h = hit.headers
    assert h.get("content-type", "").split(";")[0].strip().lower() == "application/json", h
    assert h.get("user-agent", "").startswith("pipit/"), h
    t = int(signature(hit).group(1))
    assert signed_with(hit, secret), (
        "signature does not verify with the webhook's secret", h, hit.body[:300])
    assert abs(t - hit.at) <= 5, ("t is not now", t, hit.at)
    body = hit.json()
    assert isinstance(body, dict) and set(body) == ENVELOPE, body
    assert h.get("x-pipit-event") == body["type"], (h, body)
    assert h.get("x-pipit-delivery") == str(body["id"]), (h, body)
    assert type(body["id"]) is int and body["id"] > 0, body
    assert type(body["app"]) is int and type(body["created_at"]) is int, body
    assert isinstance(body["data"], dict), body
    return body


def bodies(rcv, hook):
    return [check_hit(h, hook) for h in rcv.hits_for(hook.path)]


def wait_body(rcv, hook, typ, pred=lambda d: True, timeout=None):
    """The first delivery of type `typ` to `hook` whose data matches pred."""
    def find():
        for b in bodies(rcv, hook):
            if b["type"] == typ and pred(b["data"]):
                return b
        return None
    return poll_until(find, timeout or T(10), what="a %s delivery to %s" % (typ, hook.path))


def types_of(rcv, hook):
    return [b["type"] for b in bodies(rcv, hook)]


# -- the admin API --------------------------------------------------------------------------

class Hook:
    def __init__(self, obj, path, secret):
        self.obj = obj
        self.id = obj["id"]
        self.path = path
        self.secret = secret

    def __repr__(self):
        return "<Hook %d %s>" % (self.id, self.path)


def hook_path(hid, rest=""):
    return "/v1/admin/webhooks/%d%s" % (hid, rest)


def create(srv, body, token=None):
    return srv.post("/v1/admin/webhooks", token=token or srv.admin_token(), json=body)


def make_hook(srv, rcv, events=("*",), token=None, path=None, host="127.0.0.1", **extra):
    path = path or "/h/" + unique("w")
    body = {"url": rcv.url(path, host), "events": list(events)}
    body.update(extra)
    obj = expect(create(srv, body, token), 201)
    return Hook(obj, path, obj["secret"])


def get_hook(srv, hid, token=None):
    return expect(srv.get(hook_path(hid), token=token or srv.admin_token()), 200)


def patch(srv, hid, body, token=None):
    return srv.request("PATCH", hook_path(hid), token=token or srv.admin_token(), json=body)


def delete(srv, hid, token=None):
    return srv.request("DELETE", hook_path(hid), token=token or srv.admin_token())


def ping(srv, hid, token=None):
    return srv.post(hook_path(hid, "/ping"), token=token or srv.admin_token())


def deliveries(srv, hid, token=None, **params):
    r = srv.get(hook_path(hid, "/deliveries"), token=token or srv.admin_token(),
                params=params or None)
    return expect(r, 200)


def delivery(srv, hid, did):
    for d in deliveries(srv, hid, limit=200)["deliveries"]:
        if d["id"] == did:
            assert set(d) == DELIVERY_FIELDS, d
            return d
    raise AssertionError("delivery %d not listed for webhook %d" % (did, hid))


def wait_delivery(srv, hid, did, state, timeout=None):
    return poll_until(lambda: (lambda d: d if d["state"] == state else None)(
        delivery(srv, hid, did)), timeout or T(10),
        what="delivery %d of webhook %d %s" % (did, hid, state))


def retry(srv, hid, did, token=None):
    return srv.post(hook_path(hid, "/deliveries/%d/retry" % did), token=token or srv.admin_token())


def metric(srv, outcome):
    return metric_sum(srv.metrics(), METRIC, outcome=outcome) or 0.0


def app_id(srv, token=None):
    return expect(srv.get("/v1/admin/app", token=token or srv.admin_token()), 200)["id"]


class Hooks:
    """Makes webhooks on a server and deletes them at the end of the test."""

    def __init__(self, srv, rcv):
        self.srv = srv
        self.rcv = rcv
        self.made = []

    def __call__(self, events=("*",), **kw):
        h = make_hook(self.srv, self.rcv, events, **kw)
        self.made.append((h.id, kw.get("token")))
        return h

    def cleanup(self):
        for hid, token in self.made:
            delete(self.srv, hid, token)


# -- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rcv():
    r = Receiver().start()
    yield r
    r.released.set()
    r.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open", "--chat-notifications", "off",
                                 *(OPEN + FAST))


@pytest.fixture(scope="module")
def guarded(module_server_factory):
    """http allowed, private addresses not (names are checked when connecting)."""
    return module_server_factory("--webhook-allow-http", "yes", *FAST)


@pytest.fixture(scope="module")
def strict(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def people(srv):
    """Four users of srv: a, b, c, d."""
    return users(srv, 4)


@pytest.fixture
def hooks(srv, rcv):
    h = Hooks(srv, rcv)
    yield h
    h.cleanup()


# -- the admin API ----------------------------------------------------------------------------

def test_create_shows_the_secret_once_and_the_object(srv, rcv, hooks):
    before = now_ms()
    url = rcv.url("/h/" + unique("create"))
    r = create(srv, {"url": url, "events": ["message.created", "member.joined"],
                     "description": "crm sync"})
    w = expect(r, 201)
    hooks.made.append((w["id"], None))
    assert set(w) == HOOK_FIELDS | {"secret"}, w
    assert SECRET_RE.fullmatch(w["secret"]), w["secret"]
    assert w["url"] == url and w["events"] == ["message.created", "member.joined"], w
    assert w["description"] == "crm sync" and w["enabled"] is True, w
    assert w["queued"] == 0 and w["failed"] == 0, w
    assert before - 1000 <= w["created_at"] <= now_ms() + 1000, w
    assert w["updated_at"] >= w["created_at"], w

    got = get_hook(srv, w["id"])
    assert set(got) == HOOK_FIELDS, got
    assert {k: got[k] for k in HOOK_FIELDS} == {k: w[k] for k in HOOK_FIELDS}
    listed = expect(srv.get("/v1/admin/webhooks", token=srv.admin_token()), 200)
    assert set(listed) == {"webhooks", "next"}, listed
    mine = [x for x in listed["webhooks"] if x["id"] == w["id"]]
    assert mine and set(mine[0]) == HOOK_FIELDS, listed
    assert w["secret"] not in json.dumps(listed) and w["secret"] not in json.dumps(got)

    # description null and enabled default; ["*"] stored as given
    w2 = expect(create(srv, {"url": url, "events": ["*"]}), 201)
    hooks.made.append((w2["id"], None))
    assert w2["description"] is None and w2["enabled"] is True and w2["events"] == ["*"], w2
    assert w2["secret"] != w["secret"]


def test_list_newest_first_and_pages(guarded):
    tok = guarded.admin_token()
    made = []
    for i in range(5):
        made.append(expect(create(guarded, {"url": "http://hooks.example.com/p%d" % i,
                                            "events": ["user.created"], "enabled": False}),
                           201)["id"])
    try:
        every = expect(guarded.get("/v1/admin/webhooks", token=tok, params={"limit": 200}), 200)
        ids = [w["id"] for w in every["webhooks"]]
        assert ids == sorted(ids, reverse=True) and set(made) <= set(ids), ids
        assert every["next"] is None, every
        seen, before = [], None
        for _ in range(50):
            params = {"limit": 2}
            if before is not None:
                params["before"] = before
            page = expect(guarded.get("/v1/admin/webhooks", token=tok, params=params), 200)
            assert len(page["webhooks"]) <= 2, page
            seen += [w["id"] for w in page["webhooks"]]
            if page["next"] is None:
                break
            assert page["next"] == page["webhooks"][-1]["id"], page
            before = page["next"]
        assert seen == ids, (seen, ids)
        for params in ({"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"before": "x"}):
            r = guarded.get("/v1/admin/webhooks", token=tok, params=params)
            assert r.status_code == 400 and error_code(r) == "bad_request", (params, r.text)
    finally:
        for hid in made:
            delete(guarded, hid)


def test_patch_each_field(srv, rcv, hooks):
    h = hooks(["message.created"], description="first")
    created = h.obj
    time.sleep(0.01)
    new_url = rcv.url(h.path + "-moved")
    for body, field, want in (
            ({"url": new_url}, "url", new_url),
            ({"events": ["member.joined", "member.left"]}, "events", ["member.joined", "member.left"]),
            ({"events": ["*"]}, "events", ["*"]),
            ({"description": "second"}, "description", "second"),
            ({"enabled": False}, "enabled", False),
            ({"enabled": True}, "enabled", True)):
        r = patch(srv, h.id, body)
        got = expect(r, 200)
        assert set(got) == HOOK_FIELDS, got
        assert got[field] == want, (body, got)
        assert got["updated_at"] >= created["created_at"], got
        assert get_hook(srv, h.id)[field] == want, body
    final = get_hook(srv, h.id)
    assert final["url"] == new_url and final["events"] == ["*"] and final["enabled"] is True
    assert final["created_at"] == created["created_at"], final


def test_patch_changes_only_the_fields_given(srv, rcv, hooks):
    h = hooks(["user.created"], description="keep me")
    got = expect(patch(srv, h.id, {"enabled": False}), 200)
    assert got["url"] == h.obj["url"] and got["events"] == ["user.created"], got
    assert got["description"] == "keep me" and got["enabled"] is False, got


BAD_BODIES = [
    ("url-missing", {"events": ["*"]}),
    ("url-int", {"url": 7, "events": ["*"]}),
    ("url-null", {"url": None, "events": ["*"]}),
    ("url-not-absolute", {"url": "/hook", "events": ["*"]}),
    ("url-ftp", {"url": "ftp://hooks.example.com/x", "events": ["*"]}),
    ("url-userinfo", {"url": "http://user:pw@hooks.example.com/x", "events": ["*"]}),
    ("url-userinfo-name-only", {"url": "http://user@hooks.example.com/x", "events": ["*"]}),
    ("url-fragment", {"url": "http://hooks.example.com/x#frag", "events": ["*"]}),
    ("url-2049-bytes", {"url": "http://hooks.example.com/" + "a" * (2049 - 25), "events": ["*"]}),
    ("url-empty", {"url": "", "events": ["*"]}),
    ("events-missing", {"url": "http://hooks.example.com/x"}),
    ("events-empty", {"url": "http://hooks.example.com/x", "events": []}),
    ("events-string", {"url": "http://hooks.example.com/x", "events": "message.created"}),
    ("events-unknown", {"url": "http://hooks.example.com/x", "events": ["message.deleted"]}),
    ("events-ping", {"url": "http://hooks.example.com/x", "events": ["ping"]}),
    ("events-case", {"url": "http://hooks.example.com/x", "events": ["Message.Created"]}),
    ("events-duplicate", {"url": "http://hooks.example.com/x",
                          "events": ["message.created", "message.created"]}),
    ("events-int", {"url": "http://hooks.example.com/x", "events": [7]}),
    ("events-null-item", {"url": "http://hooks.example.com/x", "events": [None]}),
    ("events-null", {"url": "http://hooks.example.com/x", "events": None}),
    ("description-int", {"url": "http://hooks.example.com/x", "events": ["*"], "description": 7}),
    ("description-257-bytes", {"url": "http://hooks.example.com/x", "events": ["*"],
                               "description": "d" * 257}),
    ("enabled-string", {"url": "http://hooks.example.com/x", "events": ["*"], "enabled": "yes"}),
    ("enabled-int", {"url": "http://hooks.example.com/x", "events": ["*"], "enabled": 1}),
]


@pytest.mark.parametrize("label,body", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_create_refuses_bad_bodies(srv, label, body):
    before = expect(srv.get("/v1/admin/webhooks", token=srv.admin_token(),
                            params={"limit": 200}), 200)["webhooks"]
    r = create(srv, dict(body, enabled=False) if "enabled" not in body else body)
    if r.status_code == 201:
        delete(srv, r.json()["id"])
    assert r.status_code == 400 and error_code(r) == "bad_request", (label, r.status_code, r.text)
    after = expect(srv.get("/v1/admin/webhooks", token=srv.admin_token(),
                           params={"limit": 200}), 200)["webhooks"]
    assert [w["id"] for w in after] == [w["id"] for w in before], "a refused create made one"


# In a PATCH, a missing field is left alone (and what null means is not specified).
BAD_PATCHES = [b for b in BAD_BODIES if not b[0].endswith(("-missing", "-null"))]


@pytest.mark.parametrize("label,body", BAD_PATCHES, ids=[b[0] for b in BAD_PATCHES])
def test_patch_refuses_bad_fields(srv, rcv, hooks, label, body):
    h = hooks(["user.created"], enabled=False)
    field = label.split("-")[0]
    r = patch(srv, h.id, {field: body[field]})
    assert r.status_code == 400 and error_code(r) == "bad_request", (label, r.status_code, r.text)
    assert get_hook(srv, h.id) == {k: h.obj[k] for k in HOOK_FIELDS}, "a refused PATCH changed it"


def test_limits_that_are_allowed(srv, hooks, rcv):
    # exactly 2048 bytes of URL and 256 bytes of description are fine
    url = rcv.url("/h/")
    url += "a" * (2048 - len(url))
    assert len(url) == 2048
    w = expect(create(srv, {"url": url, "events": ["user.created"], "description": "d" * 256,
                            "enabled": False}), 201)
    hooks.made.append((w["id"], None))
    assert w["url"] == url and w["description"] == "d" * 256, w
    every = expect(create(srv, {"url": url, "events": EVENTS, "enabled": False}), 201)
    hooks.made.append((every["id"], None))
    assert every["events"] == EVENTS, every


def test_delete_then_404(srv, rcv):
    h = make_hook(srv, rcv, ["user.created"])
    assert ping(srv, h.id).status_code == 202
    r = delete(srv, h.id)
    assert r.status_code == 204 and not r.content, (r.status_code, r.text)
    for method, rest in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/ping"),
                         ("POST", "/secret"), ("GET", "/deliveries")):
        kw = {"json": {"enabled": True}} if method == "PATCH" else {}
        r = srv.request(method, hook_path(h.id, rest), token=srv.admin_token(), **kw)
        assert r.status_code == 404 and error_code(r) == "not_found", (method, rest, r.text)
    listed = expect(srv.get("/v1/admin/webhooks", token=srv.admin_token(),
                            params={"limit": 200}), 200)
    assert h.id not in [w["id"] for w in listed["webhooks"]]


def test_ids_are_never_reused(server_factory, rcv):
    """Receivers deduplicate on X-Pipit-Delivery, and lists page by id, newest first: a
    new delivery's id is above every id used before, even once the webhook that had it
    (and its records) was deleted. The same for webhooks."""
    s = server_factory(*OPEN)
    first = make_hook(s, rcv, ["user.created"])
    d1 = expect(ping(s, first.id), 202)["delivery"]
    rcv.wait_hits(first.path, 1)
    expect(delete(s, first.id), 204)
    again = make_hook(s, rcv, ["user.created"], path=first.path)  # the same receiver
    d2 = expect(ping(s, again.id), 202)["delivery"]
    hits = rcv.wait_hits(first.path, 2)
    assert d2 > d1 and hits[1].headers["x-pipit-delivery"] != hits[0].headers[
        "x-pipit-delivery"], "delivery id %d was used again (%d)" % (d1, d2)
    assert again.id > first.id, "webhook id %d was used again (%d)" % (first.id, again.id)


def test_unknown_ids_are_404(srv, rcv, hooks):
    h = hooks(["user.created"])
    for method, path in (("GET", hook_path(999999999)), ("DELETE", hook_path(999999999)),
                         ("POST", hook_path(999999999, "/ping")),
                         ("GET", hook_path(999999999, "/deliveries")),
                         ("POST", hook_path(h.id, "/deliveries/999999999/retry"))):
        r = srv.request(method, path, token=srv.admin_token())
        assert r.status_code == 404 and error_code(r) == "not_found", (method, path, r.text)


def test_who_may_use_the_routes(srv, rcv, people, hooks):
    a = people[0]
    h = hooks(["user.created"])
    # no credentials, a plain user
    r = srv.get("/v1/admin/webhooks")
    assert r.status_code == 401 and error_code(r) == "unauthorized", r.text
    for method, path in (("GET", "/v1/admin/webhooks"), ("POST", "/v1/admin/webhooks"),
                         ("GET", hook_path(h.id)), ("DELETE", hook_path(h.id)),
                         ("POST", hook_path(h.id, "/secret")), ("POST", hook_path(h.id, "/ping")),
                         ("GET", hook_path(h.id, "/deliveries"))):
        kw = {"json": {"url": rcv.url("/h/x"), "events": ["*"]}} if method == "POST" else {}
        r = srv.request(method, path, token=a.token, **kw)
        assert r.status_code == 403 and error_code(r) == "forbidden", (method, path, r.text)
    assert get_hook(srv, h.id)["id"] == h.id  # still there
    # API keys: admin scope works, push and users scopes do not
    keys = {}
    for scope in ("admin", "push", "users"):
        keys[scope] = expect(srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                                      json={"name": unique("k"), "scopes": [scope]}), 201)["key"]
    k = hooks(["user.created"], token=keys["admin"])
    assert get_hook(srv, k.id, token=keys["admin"])["id"] == k.id
    assert ping(srv, k.id, token=keys["admin"]).status_code == 202
    assert deliveries(srv, k.id, token=keys["admin"])["deliveries"]
    for scope in ("push", "users"):
        r = create(srv, {"url": rcv.url("/h/x"), "events": ["*"]}, token=keys[scope])
        assert r.status_code == 403 and error_code(r) == "forbidden", (scope, r.text)
        r = srv.get("/v1/admin/webhooks", token=keys[scope])
        assert r.status_code == 403 and error_code(r) == "forbidden", (scope, r.text)


def test_another_apps_admin_sees_none_of_it(srv, rcv, people, hooks):
    h = hooks(["*"], description="app one's")
    other = srv.create_user(unique("oth-admin"), role="admin")
    move_user_to_new_app(srv, other)
    tok = other.token
    for method, rest in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/ping"),
                         ("POST", "/secret"), ("GET", "/deliveries")):
        kw = {"json": {"enabled": False}} if method == "PATCH" else {}
        r = srv.request(method, hook_path(h.id, rest), token=tok, **kw)
        assert r.status_code == 404 and error_code(r) == "not_found", (method, rest, r.text)
    listed = expect(srv.get("/v1/admin/webhooks", token=tok, params={"limit": 200}), 200)
    assert h.id not in [w["id"] for w in listed["webhooks"]], listed
    assert get_hook(srv, h.id)["enabled"] is True  # untouched
    # app 2's own webhook: its pings say app 2, and app 1's events never reach it
    mine = hooks(["*"], token=tok)
    did = expect(ping(srv, mine.id, token=tok), 202)["delivery"]
    body = check_hit(rcv.wait_hits(mine.path, 1)[0], mine)
    assert body["id"] == did and body["type"] == "ping", body
    assert body["app"] == app_id(srv, tok) and body["app"] != app_id(srv), body
    a, b = people[:2]
    g = create_group(srv, a, [b], title="app one only")["id"]
    seq = rest_send(srv, a, g, text("for app one"))["seq"]
    wait_body(rcv, h, "message.created", lambda d: d["conv"] == g and d["seq"] == seq)
    one = srv.create_user(unique("app-one-user"))
    wait_body(rcv, h, "user.created", lambda d: d["id"] == one.id)
    time.sleep(T(0.5))
    assert types_of(rcv, mine) == ["ping"], types_of(rcv, mine)
    first = bodies(rcv, h)[0]["id"]
    r = retry(srv, h.id, first, token=tok)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text


def test_rotation_changes_the_signing_secret(srv, rcv, hooks):
    h = hooks(["user.created"])
    did = expect(ping(srv, h.id), 202)["delivery"]
    first = rcv.wait_hits(h.path, 1)[0]
    assert check_hit(first, h)["id"] == did
    r = srv.post(hook_path(h.id, "/secret"), token=srv.admin_token())
    w = expect(r, 200)
    assert set(w) == HOOK_FIELDS | {"secret"}, w
    assert SECRET_RE.fullmatch(w["secret"]) and w["secret"] != h.secret, w
    assert w["secret"] not in json.dumps(get_hook(srv, h.id))
    old = h.secret
    h.secret = w["secret"]
    did2 = expect(ping(srv, h.id), 202)["delivery"]
    second = rcv.wait_hits(h.path, 2)[1]
    assert check_hit(second, h)["id"] == did2
    assert signed_with(second, w["secret"]) and not signed_with(second, old)
    assert signed_with(first, old) and not signed_with(first, w["secret"])


def test_every_write_is_audited(srv, rcv):
    h = make_hook(srv, rcv, ["user.created"])
    patch(srv, h.id, {"description": "audited"})
    srv.post(hook_path(h.id, "/secret"), token=srv.admin_token())
    ping(srv, h.id)
    delete(srv, h.id)
    recs = expect(srv.get("/v1/admin/audit", token=srv.admin_token(),
                          params={"limit": 200}), 200)["records"]
    mine = [r for r in recs if r.get("target") == "webhook:%d" % h.id]
    actions = {r["action"] for r in mine if r.get("outcome") == "ok"}
    assert actions >= {"webhook.create", "webhook.update", "webhook.rotate_secret",
                       "webhook.ping", "webhook.delete"}, mine
    assert not any(h.secret in json.dumps(r) for r in recs), "a secret in the audit log"


def test_at_most_100_webhooks_per_app(guarded):
    tok = guarded.admin_token()
    have = len(expect(guarded.get("/v1/admin/webhooks", token=tok, params={"limit": 200}),
                      200)["webhooks"])
    made = []
    try:
        for i in range(100 - have):
            made.append(expect(create(guarded, {"url": "http://hooks.example.com/n%d" % i,
                                                "events": ["user.created"], "enabled": False}),
                               201)["id"])
        r = create(guarded, {"url": "http://hooks.example.com/one-too-many",
                             "events": ["user.created"], "enabled": False})
        assert r.status_code == 409 and error_code(r) == "conflict", (r.status_code, r.text)
        expect(delete(guarded, made.pop()), 204)
        made.append(expect(create(guarded, {"url": "http://hooks.example.com/again",
                                            "events": ["user.created"], "enabled": False}),
                           201)["id"])
    finally:
        for hid in made:
            delete(guarded, hid)


# -- the URL guard ------------------------------------------------------------------------------

PRIVATE = ["127.0.0.1", "127.9.9.9", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001",
           "127.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "10.0.0.1", "172.16.5.4",
           "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "[::]", "[fd00::1]",
           "[fe80::1]"]


def test_private_literals_refused_without_allow_private(guarded, srv, rcv):
    for host in PRIVATE:
        for scheme in ("http", "https"):
            url = "%s://%s:%d/hook" % (scheme, host, rcv.port)
            r = create(guarded, {"url": url, "events": ["*"]})
            assert r.status_code == 400 and error_code(r) == "bad_request", (url, r.text)
    ok = expect(create(guarded, {"url": "http://hooks.example.com/x", "events": ["*"],
                                 "enabled": False}), 201)
    try:
        r = patch(guarded, ok["id"], {"url": "http://2130706433/x"})
        assert r.status_code == 400 and error_code(r) == "bad_request", r.text
        assert get_hook(guarded, ok["id"])["url"] == "http://hooks.example.com/x"
    finally:
        delete(guarded, ok["id"])
    # the same URLs with webhook_allow_private = yes
    made = []
    try:
        for host in PRIVATE:
            url = "http://%s:%d/hook" % (host, rcv.port)
            made.append(expect(create(srv, {"url": url, "events": ["user.created"],
                                            "enabled": False}), 201)["id"])
    finally:
        for hid in made:
            delete(srv, hid)


def test_http_refused_without_allow_http(strict):
    r = create(strict, {"url": "http://hooks.example.com/x", "events": ["*"]})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    r = create(strict, {"url": "https://127.0.0.1/x", "events": ["*"]})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    w = expect(create(strict, {"url": "https://hooks.example.com/x", "events": ["*"],
                               "enabled": False}), 201)
    expect(delete(strict, w["id"]), 204)


def refused_at_connect(srv, rcv, host, path):
    """A webhook to `host` on rcv's port is accepted, and its ping fails on every attempt
    without reaching rcv; the failed delivery."""
    w = expect(create(srv, {"url": rcv.url(path, host=host), "events": ["*"]}), 201)
    try:
        before = metric(srv, "failed")
        did = expect(ping(srv, w["id"]), 202)["delivery"]
        d = wait_delivery(srv, w["id"], did, "failed", timeout=RETRY_FOR + T(10))
        assert d["attempts"] >= 1 and d["last_status"] is None, d
        assert isinstance(d["last_error"], str) and re.search(
            r"address|private|loopback|local|not allowed|forbidden|blocked", d["last_error"],
            re.I), d
        assert d["finished_at"] is not None and d["next_at"] is None, d
        assert rcv.hits_for(path) == [], "the guard let a request through"
        assert metric(srv, "failed") >= before + 1
        assert get_hook(srv, w["id"])["failed"] >= 1
        return d
    finally:
        delete(srv, w["id"])


def loopback_name():
    """A name that resolves only to loopback addresses and is not one of the local names
    a URL check knows (localhost...): this machine's host name, when /etc/hosts says so."""
    name = socket.gethostname()
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)}
    except OSError:
        addrs = set()
    if (not addrs or not all(a.startswith("127.") or a == "::1" for a in addrs)
            or "localhost" in name.lower() or "." in name.rstrip(".")):
        pytest.skip("no name here resolves to loopback but localhost (%s: %s)" % (name, addrs))
    return name


def test_a_name_resolving_to_loopback_is_refused_when_connecting(guarded, rcv):
    name = loopback_name()
    refused_at_connect(guarded, rcv, name, "/h/" + unique("ssrf-name"))


def test_local_names_are_refused_at_create(guarded, srv, rcv):
    # docs/openapi.yaml: the name localhost, and names under .localhost, as for a push
    # endpoint; accepted with webhook_allow_private = yes.
    for host in ("localhost", "LOCALHOST", "localhost.", "hooks.localhost"):
        url = rcv.url("/h/local", host=host)
        r = create(guarded, {"url": url, "events": ["*"]})
        assert r.status_code == 400 and error_code(r) == "bad_request", (url, r.text)
        w = expect(create(srv, {"url": url, "events": ["*"], "enabled": False}), 201)
        delete(srv, w["id"])


# -- what a receiver gets ---------------------------------------------------------------------

def test_ping_envelope_headers_and_signature(srv, rcv, hooks):
    h = hooks(["user.created"])  # a ping goes whatever the event list
    t0 = now_ms()
    r = ping(srv, h.id)
    body = expect(r, 202)
    assert set(body) == {"delivery"} and type(body["delivery"]) is int, body
    hit = rcv.wait_hits(h.path, 1)[0]
    got = check_hit(hit, h)
    assert got["id"] == body["delivery"] and got["type"] == "ping" and got["data"] == {}, got
    assert got["app"] == app_id(srv), got
    assert t0 - 1000 <= got["created_at"] <= now_ms() + 1000, got
    d = wait_delivery(srv, h.id, body["delivery"], "delivered")
    assert d["event"] == "ping" and d["attempts"] == 1 and d["last_status"] == 200, d
    assert d["finished_at"] is not None and d["next_at"] is None, d
    # a tampered body would not verify
    assert not signed_with(Hit("POST", h.path, hit.headers, hit.body + b" "), h.secret)


def test_ping_of_a_disabled_webhook_is_409(srv, rcv, hooks):
    h = hooks(["*"], enabled=False)
    r = ping(srv, h.id)
    assert r.status_code == 409 and error_code(r) == "conflict", r.text
    time.sleep(T(0.3))
    assert rcv.hits_for(h.path) == []


def test_message_created_edited_recalled(srv, rcv, people, hooks):
    a, b = people[:2]
    h = hooks(["message.created", "message.edited", "message.recalled"])
    g = create_group(srv, a, [b], title="messages")["id"]
    with Chat(srv, b) as cb, Chat(srv, a) as ca:
        t0 = now_ms()
        sent = rest_send(srv, a, g, text("hello hooks"))
        wsev = cb.wait_event(ev("message", g, seq=sent["seq"]))
        got = wait_body(rcv, h, "message.created", lambda d: d.get("seq") == sent["seq"]
                        and d.get("conv") == g)
        assert got["data"] == wsev, (got["data"], wsev)
        assert t0 - 1000 <= got["created_at"] <= now_ms() + 1000, got

        # over the WebSocket too
        ws_sent = ca.send_msg(g, text("over ws"))
        wsev2 = cb.wait_event(ev("message", g, seq=ws_sent["seq"]))
        got2 = wait_body(rcv, h, "message.created", lambda d: d.get("seq") == ws_sent["seq"])
        assert got2["data"] == wsev2

        edited = ca.ok("edit", conv=g, seq=sent["seq"], body=text("hello hooks, edited"))
        wsedit = cb.wait_event(ev("edit", g, seq=edited["seq"]))
        got3 = wait_body(rcv, h, "message.edited", lambda d: d.get("seq") == edited["seq"])
        assert got3["data"] == wsedit, (got3["data"], wsedit)
        assert got3["data"]["target"] == sent["seq"]

        recalled = ca.ok("recall", conv=g, seq=ws_sent["seq"])
        wsrecall = cb.wait_event(ev("recall", g, seq=recalled["seq"]))
        got4 = wait_body(rcv, h, "message.recalled", lambda d: d.get("seq") == recalled["seq"])
        assert got4["data"] == wsrecall, (got4["data"], wsrecall)
    ids = [b_["id"] for b_ in bodies(rcv, h)]
    assert len(set(ids)) == len(ids) == 4, bodies(rcv, h)


def test_conversation_created_group_and_direct(srv, rcv, people, hooks):
    a, b, c = people[:3]
    h = hooks(["conversation.created"])
    with Chat(srv, b) as cb:
        g = create_group(srv, a, [b, c], title="made for hooks")["id"]
        wsev = cb.wait_event(ev("conv_created", g))
    got = wait_body(rcv, h, "conversation.created", lambda d: d.get("conv") == g)
    d = got["data"]
    assert set(d) >= {"conv", "type", "title", "from", "ts", "member_count"}, d
    assert d["type"] == "group" and d["title"] == "made for hooks" and d["from"] == a.id, d
    assert d["member_count"] == wsev["member_count"], (d, wsev)
    assert abs(d["ts"] - wsev["ts"]) <= 1000, (d, wsev)

    # a fresh direct conversation between two users who have none yet
    x, y = users(srv, 2)
    dc = create_direct(srv, x, y.id, status=201)["id"]
    got = wait_body(rcv, h, "conversation.created", lambda d: d.get("conv") == dc)
    d = got["data"]
    assert d["type"] == "direct" and d["title"] is None and d["from"] == x.id, d
    assert sorted(d["members"]) == sorted([x.id, y.id]) and d["member_count"] == 2, d
    # the same direct conversation again, from either side: no event
    assert create_direct(srv, x, y.id, status=200)["id"] == dc
    assert create_direct(srv, y, x.id, status=200)["id"] == dc
    g2 = create_group(srv, a, [], title="marker")["id"]
    wait_body(rcv, h, "conversation.created", lambda d: d.get("conv") == g2)
    time.sleep(T(0.3))
    convs = [b_["data"]["conv"] for b_ in bodies(rcv, h)]
    assert convs.count(dc) == 1, convs


def test_member_joined_left_removed(srv, rcv, people, hooks):
    a, b, c, d = people
    h = hooks(["member.joined", "member.left"])
    g = create_group(srv, a, [b], title="members")["id"]
    with Chat(srv, a) as ca:
        add_member(srv, a, g, c)
        joined = ca.wait_event(ev("member", g, action="joined", user=c.id))
        add_member(srv, a, g, d)
        ca.wait_event(ev("member", g, action="joined", user=d.id))
        remove_member(srv, c, g, c)  # c leaves
        left = ca.wait_event(ev("member", g, action="left", user=c.id))
        remove_member(srv, a, g, d)  # a removes d
        removed = ca.wait_event(ev("member", g, action="removed", user=d.id))
    j = wait_body(rcv, h, "member.joined", lambda x: x["conv"] == g and x["user"] == c.id)
    assert set(j["data"]) >= {"conv", "seq", "user", "by", "ts", "action"}, j
    assert j["data"]["action"] == "joined" and j["data"]["by"] == a.id, j
    assert j["data"]["seq"] == joined["seq"], (j, joined)
    lf = wait_body(rcv, h, "member.left", lambda x: x["conv"] == g and x["user"] == c.id)
    assert lf["data"]["action"] == "left" and lf["data"]["by"] == c.id, lf
    assert lf["data"]["seq"] == left["seq"], (lf, left)
    rm = wait_body(rcv, h, "member.left", lambda x: x["conv"] == g and x["user"] == d.id)
    assert rm["data"]["action"] == "removed" and rm["data"]["by"] == a.id, rm
    assert rm["data"]["seq"] == removed["seq"], (rm, removed)
    kinds = sorted((b_["type"], b_["data"]["user"]) for b_ in bodies(rcv, h)
                   if b_["data"].get("conv") == g and b_["data"]["user"] in (c.id, d.id))
    assert kinds == sorted([("member.joined", c.id), ("member.joined", d.id),
                            ("member.left", c.id), ("member.left", d.id)]), kinds


def test_user_created_by_admin_and_by_registration(srv, rcv, hooks):
    h = hooks(["user.created"])
    made = srv.create_user(unique("hooked"))
    got = wait_body(rcv, h, "user.created", lambda d: d.get("id") == made.id)
    assert set(got["data"]) >= {"id", "username", "role", "ts"}, got
    assert got["data"]["username"] == made.username and got["data"]["role"] == "user", got
    boss = srv.create_user(unique("hooked-admin"), role="admin")
    got = wait_body(rcv, h, "user.created", lambda d: d.get("id") == boss.id)
    assert got["data"]["role"] == "admin", got
    reg = srv.register(unique("selfmade"))
    got = wait_body(rcv, h, "user.created", lambda d: d.get("id") == reg.id)
    assert got["data"]["username"] == reg.username and got["data"]["role"] == "user", got
    assert all(b_["data"].get("password") is None and "password" not in json.dumps(b_)
               for b_ in bodies(rcv, h))


def inapp_push(srv, chat, user):
    """A push from the admin to `user`, delivered in-app on `chat`: its id."""
    r = srv.post("/v1/push", token=srv.admin_token(),
                 json={"to": {"users": [user.id]}, "notification": {"title": unique("hooked")}})
    pid = expect(r, 202)["id"]
    chat.wait_event(lambda e: e.get("ev") == "notification" and e.get("push") == pid,
                    what="the in-app notification")
    return pid


def test_push_opened_and_clicked(srv, rcv, people, hooks):
    a = people[0]
    h = hooks(["push.opened", "push.clicked"])
    with Chat(srv, a) as ca:
        pid = inapp_push(srv, ca, a)
    r = srv.post("/v1/push/%d/events" % pid, token=a.token, json={"type": "opened"})
    assert r.status_code == 204, r.text
    got = wait_body(rcv, h, "push.opened", lambda d: d.get("push") == pid)
    assert set(got["data"]) >= {"push", "user", "device", "ts"}, got
    assert got["data"]["user"] == a.id and got["data"]["device"] is None, got
    r = srv.post("/v1/push/%d/events" % pid, token=a.token, json={"type": "clicked"})
    assert r.status_code == 204, r.text
    got = wait_body(rcv, h, "push.clicked", lambda d: d.get("push") == pid)
    assert got["data"]["user"] == a.id and got["data"]["device"] is None, got
    # reported again: recorded once, so no second event
    srv.post("/v1/push/%d/events" % pid, token=a.token, json={"type": "opened"})
    ping(srv, h.id)
    wait_body(rcv, h, "ping")
    time.sleep(T(0.3))
    assert sorted(t for t in types_of(rcv, h) if t != "ping") == ["push.clicked", "push.opened"]


def test_push_finished(srv, rcv, people, hooks):
    a = people[1]
    h = hooks(["push.finished"])
    with Chat(srv, a) as ca:
        pid = inapp_push(srv, ca, a)
        got = wait_body(rcv, h, "push.finished", lambda d: d.get("push") == pid,
                        timeout=T(15))
    assert set(got["data"]) >= {"push", "ts", "stats"}, got
    assert isinstance(got["data"]["stats"], dict), got


def test_event_filtering(srv, rcv, people, hooks):
    a, b, c = people[:3]
    only_msg = hooks(["message.created"])
    everything = hooks(["*"])
    members = hooks(["member.joined", "member.left"])
    second = hooks(["message.created"])
    off = hooks(["*"])
    did = expect(ping(srv, off.id), 202)["delivery"]
    rcv.wait_hits(off.path, 1)
    expect(patch(srv, off.id, {"enabled": False}), 200)

    g = create_group(srv, a, [b], title="filtering")["id"]
    add_member(srv, a, g, c)
    seq = rest_send(srv, a, g, text("filtered"))["seq"]

    for hk in (only_msg, second, everything):
        wait_body(rcv, hk, "message.created", lambda d: d["conv"] == g and d["seq"] == seq)
    wait_body(rcv, members, "member.joined", lambda d: d["conv"] == g and d["user"] == c.id)
    wait_body(rcv, everything, "member.joined", lambda d: d["conv"] == g and d["user"] == c.id)
    wait_body(rcv, everything, "conversation.created", lambda d: d["conv"] == g)
    time.sleep(T(0.5))
    assert types_of(rcv, only_msg) == ["message.created"], types_of(rcv, only_msg)
    assert types_of(rcv, second) == ["message.created"], types_of(rcv, second)
    assert set(types_of(rcv, members)) == {"member.joined"}, types_of(rcv, members)
    assert [b_["id"] for b_ in bodies(rcv, off)] == [did], "a disabled webhook got events"
    assert [d["id"] for d in deliveries(srv, off.id)["deliveries"]] == [did]
    assert [d["event"] for d in deliveries(srv, only_msg.id)["deliveries"]] == ["message.created"]
    # each webhook has its own delivery (and id) for the same event
    ids = {bodies(rcv, hk)[0]["id"] for hk in (only_msg, second)}
    assert len(ids) == 2, ids


def test_disabling_holds_queued_ones_and_stops_new_events(srv, rcv, people, hooks):
    a, b = people[:2]
    h = hooks(["message.created"])
    rcv.script(h.path, Answer(500), Answer(200))
    g = create_group(srv, a, [b], title="disable")["id"]
    s1 = rest_send(srv, a, g, text("queued"))["seq"]
    rcv.wait_hits(h.path, 1)
    expect(patch(srv, h.id, {"enabled": False}), 200)
    rest_send(srv, a, g, text("after disabling"))
    # held: not sent while disabled, however long its retry would have waited
    time.sleep(T(1.5))
    assert len(rcv.hits_for(h.path)) == 1, "a disabled webhook was sent to"
    [d] = deliveries(srv, h.id)["deliveries"]
    assert d["state"] == "queued", d
    # enabled again: the held one goes; the event of while it was disabled never does
    expect(patch(srv, h.id, {"enabled": True}), 200)
    got = wait_body(rcv, h, "message.created", lambda d_: d_["seq"] == s1)
    wait_delivery(srv, h.id, got["id"], "delivered")
    time.sleep(T(0.5))
    assert {b_["data"]["seq"] for b_ in bodies(rcv, h)} == {s1}
    assert [x["id"] for x in deliveries(srv, h.id)["deliveries"]] == [got["id"]]


# -- retries ------------------------------------------------------------------------------------

def test_500_twice_then_200(srv, rcv, hooks):
    h = hooks(["user.created"])
    rcv.script(h.path, Answer(500), Answer(500, body=b"still broken"), Answer(200))
    before = metric(srv, "delivered"), metric(srv, "retried")
    did = expect(ping(srv, h.id), 202)["delivery"]
    hits = rcv.wait_hits(h.path, 3)
    d = wait_delivery(srv, h.id, did, "delivered")
    assert d["attempts"] == 3 and d["last_status"] == 200, d
    bs = [check_hit(x, h) for x in hits]
    assert {x.headers["x-pipit-delivery"] for x in hits} == {str(did)}
    assert all(x == bs[0] for x in bs), "the body changed between attempts"
    assert hits[1].mono - hits[0].mono >= 0.05 and hits[2].mono - hits[1].mono >= 0.05
    time.sleep(T(0.5))
    assert len(rcv.hits_for(h.path)) == 3, "sent again after a 200"
    after = metric(srv, "delivered"), metric(srv, "retried")
    assert after[0] >= before[0] + 1 and after[1] >= before[1] + 2, (before, after)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(srv, rcv, hooks, status):
    h = hooks(["user.created"])
    rcv.script(h.path, Answer(status, headers=[("Retry-After", "1")]), Answer(200))
    did = expect(ping(srv, h.id), 202)["delivery"]
    hits = rcv.wait_hits(h.path, 2)
    gap = hits[1].mono - hits[0].mono
    assert 0.85 <= gap <= T(2.5), "Retry-After: 1 was followed by a retry after %.2fs" % gap
    wait_delivery(srv, h.id, did, "delivered")


def test_a_redirect_is_not_followed(srv, rcv, hooks):
    h = hooks(["user.created"])
    elsewhere = "/h/" + unique("elsewhere")
    rcv.script(h.path, Answer(302, headers=[("Location", rcv.url(elsewhere))]), Answer(200))
    did = expect(ping(srv, h.id), 202)["delivery"]
    hits = rcv.wait_hits(h.path, 2)
    d = wait_delivery(srv, h.id, did, "delivered")
    assert d["attempts"] == 2, d
    assert {x.headers["x-pipit-delivery"] for x in hits} == {str(did)}
    assert rcv.hits_for(elsewhere) == [], "the redirect was followed"


def test_a_redirect_every_time_fails(srv, rcv, hooks):
    h = hooks(["user.created"])
    elsewhere = "/h/" + unique("elsewhere")
    rcv.always(h.path, Answer(301, headers=[("Location", rcv.url(elsewhere))]))
    did = expect(ping(srv, h.id), 202)["delivery"]
    d = wait_delivery(srv, h.id, did, "failed", timeout=RETRY_FOR + T(10))
    assert d["last_status"] == 301, d
    assert rcv.hits_for(elsewhere) == []


def test_a_slow_answer_times_out_and_is_retried(srv, rcv, hooks):
    h = hooks(["user.created"])
    rcv.script(h.path, Answer(200, delay=TIMEOUT + 0.8), Answer(200))
    did = expect(ping(srv, h.id), 202)["delivery"]
    hits = rcv.wait_hits(h.path, 2, timeout=T(10))
    assert hits[1].mono - hits[0].mono >= TIMEOUT * 0.9, "retried before the timeout"
    d = wait_delivery(srv, h.id, did, "delivered")
    assert d["attempts"] == 2, d


def test_failed_after_retry_for_then_manual_retry(srv, rcv, hooks):
    h = hooks(["user.created"])
    rcv.always(h.path, Answer(500))
    failed_before = metric(srv, "failed")
    did = expect(ping(srv, h.id), 202)["delivery"]
    # queued (or sending) now: a retry is refused
    r = retry(srv, h.id, did)
    assert r.status_code == 409 and error_code(r) == "conflict", r.text
    w = get_hook(srv, h.id)
    assert w["queued"] == 1 and w["failed"] == 0, w
    d = wait_delivery(srv, h.id, did, "failed", timeout=RETRY_FOR + T(10))
    assert d["last_status"] == 500 and d["attempts"] >= 3, d
    assert d["finished_at"] is not None and d["next_at"] is None, d
    # given up once the next attempt would fall past the window (the cap is 1s, plus jitter)
    took = d["finished_at"] - d["created_at"]
    assert (RETRY_FOR - 1.6) * 1000 <= took <= (RETRY_FOR + T(2)) * 1000, (took, d)
    n = len(rcv.hits_for(h.path))
    assert n == d["attempts"], (n, d)
    w = get_hook(srv, h.id)
    assert w["queued"] == 0 and w["failed"] == 1, w
    assert [x["id"] for x in deliveries(srv, h.id, state="failed")["deliveries"]] == [did]
    assert deliveries(srv, h.id, state="delivered")["deliveries"] == []
    assert metric(srv, "failed") >= failed_before + 1

    # a manual retry while the receiver still fails: the window and the backoff start again
    r = retry(srv, h.id, did)
    again = expect(r, 202)
    assert set(again) == DELIVERY_FIELDS, again
    assert again["id"] == did and again["state"] == "queued" and again["attempts"] == 0
    d2 = wait_delivery(srv, h.id, did, "failed", timeout=RETRY_FOR + T(10))
    assert d2["attempts"] >= 2, (d, d2)

    # and once it answers 200
    rcv.always(h.path, Answer(200))
    expect(retry(srv, h.id, did), 202)
    d3 = wait_delivery(srv, h.id, did, "delivered")
    assert d3["last_status"] == 200 and d3["attempts"] == 1, d3
    last = rcv.hits_for(h.path)[-1]
    assert check_hit(last, h)["id"] == did
    r = retry(srv, h.id, did)
    assert r.status_code == 409 and error_code(r) == "conflict", r.text
    w = get_hook(srv, h.id)
    assert w["failed"] == 0 and w["queued"] == 0, w
    recs = expect(srv.get("/v1/admin/audit", token=srv.admin_token(),
                          params={"limit": 50, "action": "webhook.retry"}), 200)["records"]
    assert [r_["outcome"] for r_ in recs if r_.get("target") == "webhook:%d" % h.id][:3] == [
        "conflict", "ok", "ok"], recs
    bad = srv.get(hook_path(h.id, "/deliveries"), token=srv.admin_token(),
                  params={"state": "lost"})
    assert bad.status_code == 400 and error_code(bad) == "bad_request", bad.text


def test_deliveries_list_newest_first_and_pages(srv, rcv, hooks):
    h = hooks(["user.created"])
    dids = [expect(ping(srv, h.id), 202)["delivery"] for _ in range(5)]
    rcv.wait_hits(h.path, 5)
    every = deliveries(srv, h.id, limit=200)
    got = [d["id"] for d in every["deliveries"]]
    assert got == sorted(dids, reverse=True) and every["next"] is None, every
    seen, before = [], None
    for _ in range(10):
        params = {"limit": 2}
        if before is not None:
            params["before"] = before
        page = deliveries(srv, h.id, **params)
        seen += [d["id"] for d in page["deliveries"]]
        if page["next"] is None:
            break
        before = page["next"]
    assert seen == got


def test_metrics_count_delivered(srv, rcv, hooks):
    h = hooks(["user.created"])
    before = metric(srv, "delivered")
    did = expect(ping(srv, h.id), 202)["delivery"]
    wait_delivery(srv, h.id, did, "delivered")
    poll_until(lambda: metric(srv, "delivered") >= before + 1, T(5),
               what="%s{outcome=delivered} to grow" % METRIC)


# -- durability ---------------------------------------------------------------------------------

DURABLE = OPEN + ("--webhook-retry-base", "200ms", "--webhook-retry-cap", "500ms",
                  "--webhook-timeout", ms(T(5)), "--chat-notifications", "off")


def test_queued_deliveries_survive_a_restart(server_factory):
    s = server_factory(*DURABLE)
    down = Receiver().start()
    down.stop()  # its port refuses connections for now
    try:
        h = make_hook(s, down, ["message.created"])
        a, b = users(s, 2)
        g = create_group(s, a, [b], title="durable")["id"]
        seqs = [rest_send(s, a, g, text("while down %d" % i))["seq"] for i in range(3)]

        def tried():
            ds = deliveries(s, h.id)["deliveries"]
            # (attempts counts an attempt from its start; last_error once it failed)
            return ds if len(ds) == 3 and all(d["last_error"] for d in ds) else None
        ds = poll_until(tried, T(10), what="a failed attempt at each delivery")
        for d in ds:
            assert d["state"] in ("queued", "sending") and d["attempts"] >= 1, d
            assert d["last_status"] is None, d
        s.stop()
        down.start()
        s.start()
        for d in ds:
            wait_delivery(s, h.id, d["id"], "delivered", timeout=T(15))
        got = [check_hit(x, h) for x in down.hits_for(h.path)]
        assert {x["id"] for x in got} == {d["id"] for d in ds}, got
        assert sorted({x["data"]["seq"] for x in got}) == seqs, got
    finally:
        down.released.set()
        down.stop()


def test_deliveries_survive_sigkill(server_factory):
    s = server_factory(*DURABLE)
    rcv = Receiver().start()
    down = Receiver().start()
    down.stop()
    try:
        hang = make_hook(s, rcv, ["message.created"])
        queued = make_hook(s, down, ["message.created"])
        rcv.always(hang.path, Answer(hang=True))
        a, b = users(s, 2)
        g = create_group(s, a, [b], title="killed")["id"]
        seqs = [rest_send(s, a, g, text("before the kill %d" % i))["seq"] for i in range(3)]
        rcv.wait_hits(hang.path, 1)  # at least one delivery is being sent (and hangs)
        poll_until(lambda: all(d["attempts"] >= 1 for d in deliveries(s, queued.id)["deliveries"])
                   and len(deliveries(s, queued.id)["deliveries"]) == 3, T(10),
                   what="an attempt at each delivery to the closed port")
        sent_before = {x.headers["x-pipit-delivery"] for x in rcv.hits_for(hang.path)}
        s.kill()
        rcv.always(hang.path, Answer(200))
        rcv.released.set()
        down.start()
        s.start()
        for hk, r in ((hang, rcv), (queued, down)):
            ds = deliveries(s, hk.id)["deliveries"]
            assert len(ds) == 3, ds
            for d in ds:
                wait_delivery(s, hk.id, d["id"], "delivered", timeout=T(15))
            got = [check_hit(x, hk) for x in r.hits_for(hk.path)]
            assert {x["id"] for x in got} == {d["id"] for d in ds}, got
            assert sorted({x["data"]["seq"] for x in got}) == seqs, got
            # at-least-once: a repeat carries the same delivery id and the same body
            by_id = {}
            for x in got:
                assert by_id.setdefault(x["id"], x) == x, (by_id[x["id"]], x)
        # a delivery cut short by the kill was sent again
        after = [x.headers["x-pipit-delivery"] for x in rcv.hits_for(hang.path)]
        for did in sent_before:
            assert after.count(did) >= 2, (did, after)
    finally:
        rcv.released.set()
        rcv.stop()
        down.stop()


def test_the_guard_applies_to_webhooks_saved_before_a_restart(server_factory):
    """Saved while webhook_allow_private was yes; after a restart without it, every attempt
    is refused (the settings are checked at each attempt, not only when saving)."""
    s = server_factory(*(OPEN + FAST))
    rcv = Receiver().start()
    try:
        h = make_hook(s, rcv, ["user.created"])
        did = expect(ping(s, h.id), 202)["delivery"]
        wait_delivery(s, h.id, did, "delivered")
        s.stop()
        i = s.args.index("--webhook-allow-private")
        del s.args[i:i + 2]
        s.start()
        assert get_hook(s, h.id)["url"] == h.obj["url"]
        did2 = expect(ping(s, h.id), 202)["delivery"]
        d = wait_delivery(s, h.id, did2, "failed", timeout=RETRY_FOR + T(10))
        assert d["last_status"] is None and re.search(r"private", d["last_error"] or ""), d
        assert len(rcv.hits_for(h.path)) == 1, rcv.hits_for(h.path)
    finally:
        rcv.stop()

