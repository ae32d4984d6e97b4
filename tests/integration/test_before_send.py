"""The before-send hook: an app's business system is asked about each new message
before it is stored, and allows it, rejects it with a reason, or replaces its body
(docs/openapi.yaml, "Before-send hook"; src/hooks/before_send.h).

The receiver (`hooklib.Receiver`) records every request and answers what the test set
for its path: a status, a body (a JSON value or raw bytes), headers and a delay, else
404. Each hook a test makes gets a path of its own, so one receiver serves the module,
and an app has one hook at a time, so each test makes its own and deletes it at the end
(fixture `hook`).

Module server `srv` may call loopback over http, has a content filter (a reject list
and a mask list) and a 4k message cap; `guarded` allows http but no private address;
`strict` has the defaults. Every wait is bounded; everything stays on loopback.
"""

import concurrent.futures
import json
import re
import socket
import threading
import time

import pytest
import requests

from chatlib import (Chat, add_member, all_events, api, create_direct, create_group, ev,
                     expect, last_seq, messages_only, new_cmid, now_ms, remove_member, text,
                     users)
from conftest import T, error_code, poll_until, timeout_scale, unique
from fileslib import move_user_to_new_app
from hooklib import Answer, Receiver, signature, signed_with

BS = "/v1/admin/before-send"
FIELDS = {"url", "timeout_ms", "fallback", "updated_at"}
SECRET_RE = re.compile(r"whsec_[A-Za-z0-9_-]{43}")
ENVELOPE = {"type", "app", "created_at", "data"}
DATA = {"conv", "from", "cmid", "body"}
DEFAULT_REASON = "the message was not accepted"
UNCHECKED = "the message could not be checked; try again later"
MAX_MSG = 4096
OPEN = ("--webhook-allow-http", "yes", "--webhook-allow-private", "yes")


# -- the hook's answers ---------------------------------------------------------------------

def allow():
    return Answer(body={"action": "allow"})


def reject(reason=None, **extra):
    body = {"action": "reject"}
    if reason is not None:
        body["reason"] = reason
    body.update(extra)
    return Answer(body=body)


def replace(body):
    return Answer(body={"action": "replace", "body": body})


def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- the admin API ----------------------------------------------------------------------------

def put(srv, body, token=None):
    return srv.request("PUT", BS, token=token or srv.admin_token(), json=body)


def get(srv, token=None):
    return srv.get(BS, token=token or srv.admin_token())


def delete(srv, token=None):
    return srv.request("DELETE", BS, token=token or srv.admin_token())


def rotate(srv, token=None):
    return srv.post(BS + "/secret", token=token or srv.admin_token())


def app_id(srv, token=None):
    return expect(srv.get("/v1/admin/app", token=token or srv.admin_token()), 200)["id"]


class Hook:
    def __init__(self, rcv, path, obj):
        self.rcv = rcv
        self.path = path
        self.obj = obj
        self.secret = obj["secret"]

    def answer(self, a):
        self.rcv.always(self.path, a)

    def hits(self):
        return self.rcv.hits_for(self.path)


class Hooks:
    """Makes the app's hook point at a fresh path of the receiver; deletes it at the end."""

    def __init__(self, srv, rcv):
        self.srv = srv
        self.rcv = rcv
        self.tokens = set()

    def __call__(self, answer=None, url=None, token=None, srv=None, **fields):
        srv = srv or self.srv
        path = "/bs/" + unique("h")
        self.rcv.always(path, answer or allow())
        delete(srv, token)  # a fresh hook, so that the answer shows its secret
        body = {"url": url or self.rcv.url(path)}
        body.update(fields)
        obj = expect(put(srv, body, token), 200)
        self.tokens.add((srv, token))
        assert set(obj) == FIELDS | {"secret"}, obj
        return Hook(self.rcv, path, obj)

    def cleanup(self):
        for srv, token in self.tokens:
            r = delete(srv, token)
            assert r.status_code in (204, 404), r.text


# -- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rcv():
    r = Receiver(default=Answer(404, {"error": "no answer"})).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def filters(tmp_path_factory):
    d = tmp_path_factory.mktemp("bs-filters")
    (d / "banned.reject.txt").write_text("forbidden phrase\n")
    (d / "rude.mask.txt").write_text("darn\n")
    return d


@pytest.fixture(scope="module")
def srv(module_server_factory, filters):
    return module_server_factory("--registration", "open", "--chat-notifications", "off",
                                 "--max-message-size", "4k", "--content-filter-dir",
                                 str(filters), *OPEN)


@pytest.fixture(scope="module")
def guarded(module_server_factory):
    """http allowed, private addresses not (names are checked when connecting)."""
    return module_server_factory("--registration", "open", "--chat-notifications", "off",
                                 "--webhook-allow-http", "yes")


@pytest.fixture(scope="module")
def strict(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def people(srv):
    """Four users of srv: a, b, c, d."""
    return users(srv, 4)


@pytest.fixture
def hook(srv, rcv):
    h = Hooks(srv, rcv)
    yield h
    h.cleanup()


@pytest.fixture
def group(srv, people):
    """A fresh group of a (owner) and b."""
    a, b = people[:2]
    return create_group(srv, a, [b], title=unique("bs"))["id"]


def send(srv, user, conv, body=None, cmid=None):
    payload = {"cmid": cmid or new_cmid("bs"), "body": body or text()}
    return api(srv, "POST", "/v1/conversations/%d/messages" % conv, user, payload)


def message(r):
    return r.json()["error"]["message"]


def is_rejected(r, msg=None):
    assert r.status_code == 403 and error_code(r) == "message_rejected", (r.status_code, r.text)
    if msg is not None:
        assert message(r) == msg, r.text


def stored(srv, user, conv):
    """The messages of conv: [(cmid, body)]."""
    return [(e.get("cmid"), e["body"]) for e in messages_only(all_events(srv, user, conv))]


def ws_send(w, conv, body=None, cmid=None):
    """The whole answer to a WebSocket send ({"re","ok"} or {"re","error"})."""
    return w.request("send", conv=conv, cmid=cmid or new_cmid("bsw"), body=body or text())


# -- the admin API ----------------------------------------------------------------------------

def test_no_hook_is_404_everywhere(srv):
    delete(srv)
    for r in (get(srv), delete(srv), rotate(srv)):
        assert r.status_code == 404 and error_code(r) == "not_found", r.text


def test_put_creates_and_shows_the_secret_once(srv, rcv):
    delete(srv)
    url = rcv.url("/bs/" + unique("create"))
    before = now_ms()
    obj = expect(put(srv, {"url": url}), 200)
    try:
        assert set(obj) == FIELDS | {"secret"}, obj
        assert SECRET_RE.fullmatch(obj["secret"]), obj
        assert obj["url"] == url and obj["timeout_ms"] == 2000 and obj["fallback"] == "allow", obj
        assert before - 1000 <= obj["updated_at"] <= now_ms() + 1000, obj
        got = expect(get(srv), 200)
        assert set(got) == FIELDS, got
        assert got == {k: obj[k] for k in FIELDS}, (got, obj)
        assert obj["secret"] not in get(srv).text
    finally:
        expect(delete(srv), 204)
    r = get(srv)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    # a new hook after a delete has a new secret
    again = expect(put(srv, {"url": url, "timeout_ms": 100, "fallback": "reject"}), 200)
    try:
        assert again["timeout_ms"] == 100 and again["fallback"] == "reject", again
        assert SECRET_RE.fullmatch(again["secret"]) and again["secret"] != obj["secret"]
    finally:
        expect(delete(srv), 204)


def test_a_later_put_keeps_the_secret_and_the_fields_it_omits(srv, rcv, hook, people, group):
    a = people[0]
    h = hook(timeout_ms=500, fallback="reject")
    path2 = "/bs/" + unique("moved")
    rcv.always(path2, allow())
    r = expect(put(srv, {"url": rcv.url(path2)}), 200)
    assert set(r) == FIELDS, "a later PUT shows no secret: %r" % r
    assert r["url"] == rcv.url(path2) and r["timeout_ms"] == 500 and r["fallback"] == "reject"
    r = expect(put(srv, {"url": rcv.url(path2), "timeout_ms": 3000}), 200)
    assert r["timeout_ms"] == 3000 and r["fallback"] == "reject", r
    r = expect(put(srv, {"url": rcv.url(path2), "fallback": "allow"}), 200)
    assert r["timeout_ms"] == 3000 and r["fallback"] == "allow", r
    assert r["updated_at"] >= h.obj["updated_at"], r
    assert expect(get(srv), 200) == r
    expect(send(srv, a, group), 201)
    assert h.hits() == [], "the old URL was called"
    hits = rcv.hits_for(path2)
    assert len(hits) == 1 and signed_with(hits[0], h.secret), hits


def test_rotation_changes_the_signing_secret(srv, hook, people, group):
    a = people[0]
    h = hook(timeout_ms=700, fallback="reject")
    expect(send(srv, a, group), 201)
    r = expect(rotate(srv), 200)
    assert set(r) == FIELDS | {"secret"}, r
    assert SECRET_RE.fullmatch(r["secret"]) and r["secret"] != h.secret, r
    assert {k: r[k] for k in ("url", "timeout_ms", "fallback")} == {
        k: h.obj[k] for k in ("url", "timeout_ms", "fallback")}, (r, h.obj)
    assert r["secret"] not in get(srv).text
    expect(send(srv, a, group), 201)
    first, second = h.hits()
    assert signed_with(first, h.secret) and not signed_with(first, r["secret"])
    assert signed_with(second, r["secret"]) and not signed_with(second, h.secret)


BAD_PUTS = [
    ("no url", {}),
    ("url null", {"url": None}),
    ("url a number", {"url": 5}),
    ("url not a URL", {"url": "not a url"}),
    ("url ftp", {"url": "ftp://hooks.example.com/x"}),
    ("url relative", {"url": "/bs/x"}),
    ("url with a fragment", {"url": "http://hooks.example.com/x#frag"}),
    ("url with a password", {"url": "http://user:pw@hooks.example.com/x"}),
    ("url too long", {"url": "http://hooks.example.com/" + "x" * 2100}),
    ("timeout 99", {"timeout_ms": 99}),
    ("timeout 10001", {"timeout_ms": 10001}),
    ("timeout 0", {"timeout_ms": 0}),
    ("timeout negative", {"timeout_ms": -1}),
    ("timeout a string", {"timeout_ms": "2000"}),
    ("timeout a float", {"timeout_ms": 2000.5}),
    ("timeout a bool", {"timeout_ms": True}),
    ("fallback deny", {"fallback": "deny"}),
    ("fallback upper case", {"fallback": "ALLOW"}),
    ("fallback empty", {"fallback": ""}),
    ("fallback null", {"fallback": None}),
    ("fallback a bool", {"fallback": True}),
    ("fallback a number", {"fallback": 1}),
]


@pytest.mark.parametrize("label,fields", BAD_PUTS, ids=[b[0] for b in BAD_PUTS])
def test_bad_puts_are_400_and_change_nothing(srv, rcv, hook, label, fields):
    h = hook(timeout_ms=300, fallback="reject")
    body = {"url": h.obj["url"]}
    body.update(fields)
    if label == "no url":
        del body["url"]
    r = put(srv, body)
    assert r.status_code == 400 and error_code(r) == "bad_request", (label, r.status_code, r.text)
    assert expect(get(srv), 200) == {k: h.obj[k] for k in FIELDS}


def test_bad_json_bodies_are_400(srv, hook):
    h = hook()
    for raw in (b"[]", b'"x"', b"{", b'{"url": "http://127.0.0.1:1/x", "url": "http://a/"}'):
        r = srv.request("PUT", BS, token=srv.admin_token(), data=raw,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and error_code(r) == "bad_request", (raw, r.text)
    assert expect(get(srv), 200)["url"] == h.obj["url"]


def test_timeout_bounds_are_accepted(srv, hook):
    h = hook()
    for t in (100, 10000):
        assert expect(put(srv, {"url": h.obj["url"], "timeout_ms": t}), 200)["timeout_ms"] == t


def test_who_may_use_the_routes(srv, rcv, hook, people):
    a = people[0]
    h = hook()
    routes = (("GET", BS), ("PUT", BS), ("DELETE", BS), ("POST", BS + "/secret"))

    def call(method, path, token):
        kw = {"json": {"url": rcv.url("/bs/x")}} if method == "PUT" else {}
        return srv.request(method, path, token=token, **kw)

    for method, path in routes:
        r = srv.request(method, path, **({"json": {"url": rcv.url("/bs/x")}}
                                          if method == "PUT" else {}))
        assert r.status_code == 401 and error_code(r) == "unauthorized", (method, path, r.text)
        r = call(method, path, a.token)
        assert r.status_code == 403 and error_code(r) == "forbidden", (method, path, r.text)
    keys = {}
    for scope in ("admin", "push", "users"):
        keys[scope] = expect(srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                                      json={"name": unique("k"), "scopes": [scope]}), 201)["key"]
    for scope in ("push", "users"):
        for method, path in routes:
            r = call(method, path, keys[scope])
            assert r.status_code == 403 and error_code(r) == "forbidden", (scope, method, r.text)
    got = expect(get(srv), 200)  # untouched by all of the above
    assert got == {k: h.obj[k] for k in FIELDS}, got
    # scope admin: the whole life of a hook
    k = keys["admin"]
    expect(delete(srv, k), 204)
    path = "/bs/" + unique("key")
    rcv.always(path, allow())
    made = expect(put(srv, {"url": rcv.url(path), "fallback": "reject"}, k), 200)
    assert SECRET_RE.fullmatch(made["secret"]), made
    assert expect(get(srv, k), 200)["fallback"] == "reject"
    rot = expect(rotate(srv, k), 200)
    assert rot["secret"] != made["secret"]
    expect(delete(srv, k), 204)
    r = get(srv, k)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text


def test_every_change_is_audited(srv, hook):
    h = hook()
    expect(put(srv, {"url": h.obj["url"], "timeout_ms": 1234}), 200)
    rot = expect(rotate(srv), 200)
    expect(delete(srv), 204)
    recs = expect(srv.get("/v1/admin/audit", token=srv.admin_token(),
                          params={"limit": 200}), 200)["records"]
    actions = [r["action"] for r in recs if r.get("action", "").startswith("before_send.")
               and r.get("outcome") == "ok"]
    assert {"before_send.put", "before_send.delete", "before_send.rotate_secret"} <= set(
        actions), actions
    assert actions.count("before_send.put") >= 2, actions
    targets = {r.get("target") for r in recs if r.get("action", "").startswith("before_send.")}
    assert targets == {"app:%d" % app_id(srv)}, targets
    dump = json.dumps(recs)
    assert h.secret not in dump and rot["secret"] not in dump, "a secret in the audit log"


def test_another_apps_admin_and_messages_are_apart(srv, rcv, hook, people, group):
    a = people[0]
    h = hook(reject("app one says no"))
    other_admin = srv.create_user(unique("bs-adm2"), role="admin")
    x, y = srv.create_user(unique("bs-x")), srv.create_user(unique("bs-y"))
    for u in (other_admin, x, y):
        move_user_to_new_app(srv, u, app_id=7)
    tok = other_admin.token
    r = get(srv, tok)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    d = create_direct(srv, x, y.id)["id"]
    expect(send(srv, x, d, text("app two, no hook")), 201)
    assert h.hits() == [], "app one's hook saw app two's message"
    # app two's own hook: its requests say app two; app one's hook still answers app one
    path2 = "/bs/" + unique("app2")
    rcv.always(path2, allow())
    made = expect(put(srv, {"url": rcv.url(path2)}, tok), 200)
    try:
        assert made["secret"] != h.secret
        expect(send(srv, x, d, text("app two, hooked")), 201)
        hit = rcv.hits_for(path2)[0]
        assert hit.json()["app"] == app_id(srv, tok) != app_id(srv), hit
        assert signed_with(hit, made["secret"])
        is_rejected(send(srv, a, group), "app one says no")
        assert h.hits()[0].json()["app"] == app_id(srv), h.hits()
        assert len(rcv.hits_for(path2)) == 1
    finally:
        expect(delete(srv, tok), 204)
    assert expect(get(srv), 200)["url"] == h.obj["url"], "app two's delete touched app one's"


# -- the URL guard ------------------------------------------------------------------------------

PRIVATE_HOSTS = ["127.0.0.1", "127.1", "2130706433", "[::1]", "[::ffff:127.0.0.1]", "10.0.0.1",
                 "192.168.1.1", "169.254.169.254", "0.0.0.0", "localhost", "hooks.localhost"]


def test_private_urls_refused_without_allow_private(guarded, srv, rcv):
    delete(guarded)
    for host in PRIVATE_HOSTS:
        for scheme in ("http", "https"):
            url = "%s://%s:%d/bs" % (scheme, host, rcv.port)
            r = put(guarded, {"url": url})
            assert r.status_code == 400 and error_code(r) == "bad_request", (url, r.text)
    r = get(guarded)
    assert r.status_code == 404, "a refused PUT made a hook: %s" % r.text
    ok = expect(put(guarded, {"url": "http://hooks.example.com/bs"}), 200)
    try:
        r = put(guarded, {"url": "http://10.1.2.3/bs"})
        assert r.status_code == 400 and error_code(r) == "bad_request", r.text
        assert expect(get(guarded), 200)["url"] == ok["url"]
    finally:
        expect(delete(guarded), 204)


def test_https_required_by_default(strict):
    delete(strict)
    r = put(strict, {"url": "http://hooks.example.com/bs"})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    r = put(strict, {"url": "https://127.0.0.1/bs"})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    expect(put(strict, {"url": "https://hooks.example.com/bs"}), 200)
    expect(delete(strict), 204)


def loopback_name():
    """A name resolving only to loopback that a URL check does not know as local."""
    name = socket.gethostname()
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)}
    except OSError:
        addrs = set()
    if (not addrs or not all(a.startswith("127.") or a == "::1" for a in addrs)
            or "localhost" in name.lower() or "." in name.rstrip(".")):
        pytest.skip("no name here resolves to loopback but localhost (%s: %s)" % (name, addrs))
    return name


def test_a_name_resolving_to_loopback_is_refused_when_connecting(guarded, rcv, hook):
    name = loopback_name()
    a, b = users(guarded, 2)
    d = create_direct(guarded, a, b.id)["id"]
    path = "/bs/" + unique("rebind")
    rcv.always(path, allow())
    hook(url=rcv.url(path, host=name), srv=guarded, fallback="reject", timeout_ms=1000)
    is_rejected(send(guarded, a, d), UNCHECKED)
    expect(put(guarded, {"url": rcv.url(path, host=name), "fallback": "allow"}), 200)
    expect(send(guarded, a, d), 201)
    assert rcv.hits_for(path) == [], "the guard let a request through"


# -- what the hook gets ---------------------------------------------------------------------

def check_request(hit, h):
    """Asserts hit is a well-formed, correctly signed before-send request; its body."""
    assert hit.method == "POST" and hit.path == h.path, hit
    hd = hit.headers
    assert hd.get("content-type", "").split(";")[0].strip().lower() == "application/json", hd
    assert hd.get("x-pipit-event") == "message.before_send", hd
    assert hd.get("user-agent", "").startswith("pipit/"), hd
    m = signature(hit)
    assert abs(int(m.group(1)) - hit.at) <= 5, ("t is not now", m.group(1), hit.at)
    assert signed_with(hit, h.secret), ("the signature does not verify", hd, hit.body[:300])
    body = hit.json()
    assert isinstance(body, dict) and set(body) == ENVELOPE, body
    assert body["type"] == "message.before_send", body
    assert isinstance(body["data"], dict) and set(body["data"]) == DATA, body
    return body


def test_request_shape_and_signature(srv, hook, people, group):
    a = people[0]
    h = hook()
    body = {"type": "text", "text": "ünïcødé ✓ \"quoted\" \\ back",
            "meta": {"n": [1, 2.5, None]}}
    cm = 'q"uo\\te/✓-' + new_cmid()
    t0 = now_ms()
    expect(send(srv, a, group, body, cmid=cm), 201)
    t1 = now_ms()
    hits = h.hits()
    assert len(hits) == 1, hits
    got = check_request(hits[0], h)
    assert got["app"] == app_id(srv), got
    assert t0 - 1000 <= got["created_at"] <= t1 + 1000, (t0, got, t1)
    assert got["data"] == {"conv": group, "from": a.id, "cmid": cm, "body": body}, got
    # the same over the WebSocket, with reply_to and mentions (not shown to the hook)
    with Chat(srv, a) as w:
        cm2 = new_cmid("ws")
        ans = w.request("send", conv=group, cmid=cm2, body=text("over ws"), reply_to=1,
                        mentions=[people[1].id])
        assert "ok" in ans, ans
    got = check_request(h.hits()[1], h)
    assert got["data"] == {"conv": group, "from": a.id, "cmid": cm2, "body": text("over ws")}, got
    # the hook sees the text after the content filter's mask lists
    expect(send(srv, a, group, text("oh darn")), 201)
    assert check_request(h.hits()[2], h)["data"]["body"] == text("oh ***")


def test_allow_stores_the_message_as_sent(srv, hook, people, group):
    a, b = people[:2]
    h = hook(allow())
    with Chat(srv, b) as wb:
        body = {"type": "text", "text": "allowed"}
        cm = new_cmid()
        ack = expect(send(srv, a, group, body, cmid=cm), 201)
        e = wb.wait_event(ev("message", group, seq=ack["seq"]))
        assert e["body"] == body and e["from"] == a.id, e
        with Chat(srv, a) as wa:
            ans = ws_send(wa, group, text("ws allowed"))
            assert "ok" in ans, ans
            assert ans["ok"]["seq"] == ack["seq"] + 1, ans
        wb.wait_event(ev("message", group, seq=ack["seq"] + 1))
    hist = stored(srv, b, group)
    assert hist[-2] == (cm, body) and hist[-1][1] == text("ws allowed"), hist
    assert len(h.hits()) == 2
    # an allow's other fields change nothing (a body is only read with replace)
    h.answer(Answer(body={"action": "allow", "body": text("ignored"), "reason": "x"}))
    cm2 = new_cmid()
    expect(send(srv, a, group, text("as sent"), cmid=cm2), 201)
    assert stored(srv, b, group)[-1] == (cm2, text("as sent"))


def test_reject_with_a_reason_rest_and_ws(srv, hook, people, group):
    a, b = people[:2]
    h = hook(reject("links are not allowed here"))
    before = last_seq(srv, a, group)
    with Chat(srv, b) as wb:
        cm = new_cmid()
        is_rejected(send(srv, a, group, text("see http://x"), cmid=cm),
                    "links are not allowed here")
        with Chat(srv, a) as wa:
            ans = ws_send(wa, group, text("ws http://x"))
            assert ans.get("error", {}).get("code") == "message_rejected", ans
            assert ans["error"]["message"] == "links are not allowed here", ans
            assert "ok" not in ans, ans
            wa.ping_ok()  # the session goes on
        wb.no_event(ev("message", group))
    assert last_seq(srv, a, group) == before, "a rejected message was stored"
    assert len(h.hits()) == 2
    # the next message works, the seq has no hole, and the rejected cmid is free
    h.answer(allow())
    ack = expect(send(srv, a, group, text("plain"), cmid=cm), 201)
    assert ack["seq"] == before + 1 and not ack.get("duplicate"), ack
    assert stored(srv, b, group)[-1] == (cm, text("plain"))


REASONS = [
    ("no reason", {}, DEFAULT_REASON),
    ("empty reason", {"reason": ""}, DEFAULT_REASON),
    ("reason a number", {"reason": 5}, DEFAULT_REASON),
    ("reason null", {"reason": None}, DEFAULT_REASON),
    ("control characters", {"reason": "no\nlinks\there\x7f!\rx\x1b"}, "no links here ! x "),
    # JSON allows \u0000 in a string (RFC 8259 section 7): still a rejection, not a bad answer
    ("NUL", {"reason": "a\x00b"}, "a b"),
    ("C1 controls", {"reason": "a\u0085b\u009bc"}, "a b c"),
    ("long", {"reason": "x" * 300}, "x" * 200),
    ("exactly 200", {"reason": "y" * 200}, "y" * 200),
    ("unicode kept", {"reason": "nicht erlaubt: ✗ 禁止"}, "nicht erlaubt: ✗ 禁止"),
    ("cut inside a character", {"reason": "a" + "é" * 150}, None),
]


@pytest.mark.parametrize("label,fields,want", REASONS, ids=[r[0] for r in REASONS])
def test_the_reason_the_sender_sees(srv, hook, people, group, label, fields, want):
    a = people[0]
    body = {"action": "reject"}
    body.update(fields)
    hook(Answer(body=body))
    before = last_seq(srv, a, group)
    r = send(srv, a, group)
    with Chat(srv, a) as w:
        try:
            ans = w.request("send", conv=group, cmid=new_cmid("bsw"), body=text(),
                            timeout=T(3))
        except TimeoutError:
            ans = "no answer within %.0fs" % T(3)
    want = want or ("a" + "é" * 99)  # cut at 200 bytes, on a character's boundary
    try:
        rest = (r.status_code, json.loads(r.content.decode("utf-8")))  # strict UTF-8
    except ValueError:
        rest = (r.status_code, r.content[:300])
    if isinstance(ans, dict):
        ans.pop("re", None)
    err = {"error": {"code": "message_rejected", "message": want}}
    assert (rest, ans) == ((403, err), err), "REST answer, then WebSocket answer"
    assert last_seq(srv, a, group) == before


def test_replace_stores_the_new_body(srv, hook, people, group):
    a, b = people[:2]
    new = {"type": "text", "text": "[removed by policy]", "by": "hook", "n": [1, {"x": None}]}
    h = hook(replace(new))
    with Chat(srv, b) as wb, Chat(srv, a) as wa:
        cm = new_cmid()
        ack = expect(send(srv, a, group, text("my phone is 555-0100"), cmid=cm), 201)
        e = wb.wait_event(ev("message", group, seq=ack["seq"]))
        assert e["body"] == new and e["from"] == a.id and e.get("cmid") == cm, e
        mine = wa.wait_event(ev("message", group, seq=ack["seq"]))
        assert mine["body"] == new, mine
        ans = ws_send(wa, group, text("call 555-0199"))
        assert "ok" in ans, ans
        e2 = wb.wait_event(ev("message", group, seq=ans["ok"]["seq"]))
        assert e2["body"] == new, e2
    hist = stored(srv, b, group)
    assert hist[-2][0] == cm and hist[-2][1] == new and hist[-1][1] == new, hist
    assert "555-01" not in json.dumps(all_events(srv, b, group)), "the original body was kept"
    assert len(h.hits()) == 2


BAD_REPLACEMENTS = [
    ("no type", {"text": "no type"}, 400, "bad_request"),
    ("type not a string", {"type": 5, "text": "x"}, 400, "bad_request"),
    ("bad file", {"type": "file", "file": "abc"}, 400, "bad_request"),
    ("rejected word", {"type": "text", "text": "a forbidden phrase here"}, 400, "content_blocked"),
    ("too large", {"type": "text", "text": "z" * (MAX_MSG + 10)}, 413, "payload_too_large"),
]


@pytest.mark.parametrize("label,new,status,code", BAD_REPLACEMENTS,
                         ids=[b[0] for b in BAD_REPLACEMENTS])
def test_a_replacement_is_checked_like_a_senders_body(srv, hook, people, group, label, new,
                                                      status, code):
    a = people[0]
    hook(replace(new), fallback="allow")
    before = last_seq(srv, a, group)
    r = send(srv, a, group, text("fine"))
    assert r.status_code == status and error_code(r) == code, (label, r.status_code, r.text)
    assert last_seq(srv, a, group) == before, "an invalid replacement was stored"


def test_a_replacement_goes_through_the_mask_list(srv, hook, people, group):
    a, b = people[:2]
    hook(replace({"type": "text", "text": "well darn it"}))
    ack = expect(send(srv, a, group, text("fine")), 201)
    assert stored(srv, b, group)[-1][1] == {"type": "text", "text": "well *** it"}, ack


def test_a_body_the_filter_rejects_never_reaches_the_hook(srv, hook, people, group):
    a = people[0]
    h = hook()
    r = send(srv, a, group, text("the forbidden phrase"))
    assert r.status_code == 400 and error_code(r) == "content_blocked", r.text
    assert h.hits() == []


# -- fallback -------------------------------------------------------------------------------

def failures(opposite):
    """Answers that are not a valid decision; `opposite` is the action a hook that
    was believed would take (the fallback must win)."""
    return {
        "timeout": (Answer(body={"action": opposite}, delay=1.0), {"timeout_ms": 200}),
        "500": (Answer(500, {"action": opposite}), {}),
        "404": (Answer(404, {"action": opposite}), {}),
        "redirect": (Answer(302, {"action": opposite}, headers=[("Location", "/bs/elsewhere")]),
                     {}),
        "invalid json": (Answer(body=b'{"action": "%s"' % opposite.encode()), {}),
        "empty body": (Answer(body=b""), {}),
        "not an object": (Answer(body=[opposite]), {}),
        "no action": (Answer(body={"reason": "x"}), {}),
        "action not a string": (Answer(body={"action": 1}), {}),
        "unknown action": (Answer(body={"action": "approve"}), {}),
        "replace without an object body": (Answer(body={"action": "replace", "body": "hi"}), {}),
        "oversized answer": (Answer(body={"action": opposite, "pad": "p" * (2 * MAX_MSG + 8192)}),
                             {}),
        "refused": (None, {}),
    }


KINDS = list(failures("allow"))


@pytest.mark.parametrize("fallback", ["allow", "reject"])
@pytest.mark.parametrize("kind", KINDS)
def test_fallback(srv, rcv, hook, people, group, fallback, kind):
    a, b = people[:2]
    opposite = "reject" if fallback == "allow" else "allow"
    answer, fields = failures(opposite)[kind]
    url = "http://127.0.0.1:%d/bs/refused" % closed_port() if answer is None else None
    h = hook(answer, url=url, fallback=fallback, **fields)
    before = last_seq(srv, a, group)
    body = text("fallback %s on %s" % (fallback, kind))
    cm = new_cmid()
    t0 = time.monotonic()
    r = send(srv, a, group, body, cmid=cm)
    took = time.monotonic() - t0
    if fallback == "allow":
        ack = expect(r, 201)
        assert ack["seq"] == before + 1, ack
        assert stored(srv, b, group)[-1] == (cm, body), "not stored as sent"
    else:
        is_rejected(r, UNCHECKED)
        assert last_seq(srv, a, group) == before, "stored despite fallback reject"
    if answer is not None:
        assert len(h.hits()) == 1, h.hits()
    if kind == "timeout" and timeout_scale() == 1:
        assert took < 0.95, "the answer waited for the slow hook (%.2fs)" % took


def test_a_slow_hook_blocks_no_one_else(srv, hook, people, group):
    a, b = people[:2]
    delay = 0.5
    h = hook(Answer(body={"action": "allow"}, delay=delay))
    n = 4
    with Chat(srv, b) as wb:
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
            futs = [ex.submit(send, srv, a, group, text("slow %d" % i)) for i in range(n)]
            # meanwhile the server answers others at once
            time.sleep(0.1)
            t1 = time.monotonic()
            wb.ping_ok()
            assert expect(srv.get("/v1/me", token=b.token), 200)["id"] == b.id
            quick = time.monotonic() - t1
            results = [f.result(timeout=T(10)) for f in futs]
        took = time.monotonic() - t0
    for r in results:
        expect(r, 201)
    assert len(h.hits()) == n
    if timeout_scale() == 1:
        assert quick < delay * 0.8, "other requests waited for the hook (%.2fs)" % quick
        assert took < delay * n * 0.75, "the hook's requests ran one at a time (%.2fs)" % took


# -- who and what reaches the hook ------------------------------------------------------------

def test_a_non_members_message_never_reaches_the_hook(srv, hook, people):
    a, b, c, d = people
    g = create_group(srv, a, [b, d], title=unique("bs-nm"))["id"]
    remove_member(srv, d, g, d)  # d left
    h = hook(allow())
    for u in (c, d):
        r = send(srv, u, g)
        assert r.status_code == 404 and error_code(r) == "not_found", (u, r.text)
        with Chat(srv, u) as w:
            ans = ws_send(w, g)
            assert ans.get("error", {}).get("code") == "not_found", ans
    r = send(srv, c, 999999999)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    assert h.hits() == [], "the hook saw a non-member's message: %r" % h.hits()
    expect(send(srv, b, g), 201)
    assert len(h.hits()) == 1
    add_member(srv, a, g, c)
    expect(send(srv, c, g), 201)  # a member now
    assert len(h.hits()) == 2


def test_edits_and_recalls_do_not_call_the_hook(srv, hook, people, group):
    a, b = people[:2]
    h = hook(allow())
    with Chat(srv, a) as wa:
        m = wa.send_msg(group, text("first"))
        assert len(h.hits()) == 1
        h.answer(reject("no"))
        ed = wa.ok("edit", conv=group, seq=m["seq"], body=text("edited"))
        assert isinstance(ed["seq"], int), ed
        rc = wa.ok("recall", conv=group, seq=m["seq"])
        assert rc is not None
    assert len(h.hits()) == 1, h.hits()


def test_after_delete_the_hook_is_not_called(srv, hook, people, group):
    a = people[0]
    h = hook(allow())
    expect(send(srv, a, group), 201)
    h.answer(reject("should not be asked"))
    expect(delete(srv), 204)
    expect(send(srv, a, group), 201)
    with Chat(srv, a) as w:
        assert "ok" in ws_send(w, group)
    assert len(h.hits()) == 1, h.hits()
    r = get(srv)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text


def test_a_resend_of_the_same_cmid_returns_the_same_seq(srv, hook, people, group):
    a, b = people[:2]
    hook(allow())
    cm = new_cmid()
    first = expect(send(srv, a, group, text("once"), cmid=cm), 201)
    again = expect(send(srv, a, group, text("once"), cmid=cm), 200)
    assert again.get("duplicate") is True and again["seq"] == first["seq"], (first, again)
    with Chat(srv, a) as w:
        ans = ws_send(w, group, text("once"), cmid=cm)
        assert ans["ok"]["duplicate"] is True and ans["ok"]["seq"] == first["seq"], ans
    assert [c for c, _ in stored(srv, b, group)].count(cm) == 1
    assert last_seq(srv, a, group) == first["seq"]


def test_a_resend_of_a_stored_message_is_a_duplicate_whatever_the_hook_says_now(
        srv, hook, people, group):
    # docs/openapi.yaml (sendMessage): a repeat of a stored cmid is answered 200 with the
    # original seq. A client whose first answer was lost must not be told "rejected"
    # about a message its peers already have.
    a = people[0]
    h = hook(allow())
    cm = new_cmid()
    first = expect(send(srv, a, group, text("kept"), cmid=cm), 201)
    h.answer(reject("changed my mind"))
    again = send(srv, a, group, text("kept"), cmid=cm)
    assert again.status_code == 200, (
        "a resend of stored message seq %d got %d %s" % (first["seq"], again.status_code,
                                                          again.text))
    assert again.json().get("duplicate") is True and again.json()["seq"] == first["seq"]


# -- stopping -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fallback", ["allow", "reject"])
def test_a_stop_during_a_check_ends_in_time(server_factory, rcv, fallback):
    s = server_factory("--registration", "open", "--chat-notifications", "off",
                       "--shutdown-timeout", "2s", *OPEN)
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    path = "/bs/" + unique("stop")
    rcv.always(path, Answer(body={"action": "allow"}, delay=T(8)))
    expect(put(s, {"url": rcv.url(path), "timeout_ms": 10000, "fallback": fallback}), 200)
    out = {}

    def go():
        try:
            out["r"] = send(s, a, d)
        except requests.RequestException as e:
            out["e"] = e
    th = threading.Thread(target=go, daemon=True)
    th.start()
    poll_until(lambda: rcv.hits_for(path), T(5), what="the hook's request")
    s.stop(timeout=T(4))  # SIGTERM: exit 0 within shutdown_timeout, not the hook's 8 s
    th.join(T(5))
    assert not th.is_alive(), "the send was never answered"
    if "r" in out:  # else the connection was closed, also fine
        # the request cut short is no answer: the fallback, or "try again"
        r = out["r"]
        got = (r.status_code, error_code(r) if r.status_code >= 400 else None)
        ok = {(503, "unavailable"), (201, None) if fallback == "allow"
              else (403, "message_rejected")}
        assert got in ok, (r.status_code, r.text)
