"""Bots: accounts an admin makes (`/v1/admin/bots`) that sign in with an API key of
their own and act as a member wherever a user may (REST, the WebSocket, streaming),
never as an admin and never asked for a second factor; and a bot's own webhook,
told of the messages of its conversations (not its own).

The receiver (`hooklib.Receiver`) records every request and answers 200; each bot's
webhook gets a path of its own. Every delivery looked at is checked: headers, envelope
and the signature recomputed from the `webhook_secret` the create (or the PATCH that
added the webhook) answered.

Contract: docs/openapi.yaml (`/v1/admin/bots…`, API keys) and docs/operations.md
("Bots").
"""

import json
import re
import time

import pytest

from chatlib import (Chat, add_member, api, create_direct, create_group, ev, event_at, expect,
                     rest_history, rest_send, text, users)
from conftest import T, User, error_code, poll_until, unique
from fileslib import move_user_to_new_app
from hooklib import Receiver, signed_with
from wsraw import WSConn

KEY_RE = re.compile(r"pk_[A-Za-z0-9_-]{20,}")
SECRET_RE = re.compile(r"whsec_[A-Za-z0-9_-]{43}")
BOT_FIELDS = {"id", "username", "display_name", "role", "bot", "disabled", "webhook",
              "created_at"}
ENVELOPE = {"id", "type", "app", "created_at", "data"}
OPEN = ("--webhook-allow-http", "yes", "--webhook-allow-private", "yes")
FAST = ("--webhook-retry-base", "200ms", "--webhook-retry-cap", "1s",
        "--webhook-retry-for", "3s", "--webhook-timeout", "1s")


# -- deliveries as the receiver sees them --------------------------------------------------

def check_hit(hit, secret):
    """Asserts hit is a well-formed delivery signed with secret; its body."""
    h = hit.headers
    assert h.get("content-type", "").split(";")[0].strip().lower() == "application/json", h
    assert signed_with(hit, secret), ("bad signature", h, hit.body[:300])
    body = hit.json()
    assert set(body) == ENVELOPE, body
    assert h.get("x-pipit-event") == body["type"], (h, body)
    assert h.get("x-pipit-delivery") == str(body["id"]), (h, body)
    return body


def deliveries(rcv, path, secret):
    return [check_hit(h, secret) for h in rcv.hits_for(path)]


def wait_delivery(rcv, path, secret, typ, pred=lambda d: True, timeout=None):
    def find():
        for b in deliveries(rcv, path, secret):
            if b["type"] == typ and pred(b["data"]):
                return b
        return None
    return poll_until(find, timeout or T(10), what="a %s delivery to %s" % (typ, path))


# -- fixtures and helpers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def rcv():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open", "--chat-notifications", "off",
                                 *(OPEN + FAST))


@pytest.fixture(scope="module")
def people(srv):
    """Three users: a, b, c."""
    return users(srv, 3)


def bot_path(bid=None, rest=""):
    return "/v1/admin/bots" + ("" if bid is None else "/%d" % bid) + rest


def create_bot(srv, token=None, **body):
    body.setdefault("username", unique("bot"))
    return srv.post(bot_path(), token=token or srv.admin_token(), json=body)


class Bot(User):
    """A bot as a User (its key as the token), with what its create answered."""

    def __init__(self, answer):
        b = answer["bot"]
        super().__init__(b["username"], None, answer["key"], b["id"])
        self.obj = b
        self.secret = answer.get("webhook_secret")


def make_bot(srv, **body):
    return Bot(expect(create_bot(srv, **body), 201))


def get_bot(srv, bid, token=None):
    return srv.get(bot_path(bid), token=token or srv.admin_token())


def patch_bot(srv, bid, body, token=None):
    return srv.request("PATCH", bot_path(bid), token=token or srv.admin_token(), json=body)


def delete_bot(srv, bid, token=None):
    return srv.request("DELETE", bot_path(bid), token=token or srv.admin_token())


def rotate(srv, bid, token=None):
    return srv.post(bot_path(bid, "/key"), token=token or srv.admin_token())


def check_bot(obj, username=None, display_name=None, disabled=False, webhook_url=None):
    assert set(obj) == BOT_FIELDS, obj
    assert obj["bot"] is True and obj["role"] == "user", obj
    assert obj["disabled"] is disabled, obj
    assert type(obj["id"]) is int and type(obj["created_at"]) is int, obj
    if username is not None:
        assert obj["username"] == username, obj
    assert obj["display_name"] == display_name, obj
    if webhook_url is None:
        assert obj["webhook"] is None, obj
    else:
        assert set(obj["webhook"]) == {"id", "url"}, obj
        assert obj["webhook"]["url"] == webhook_url and type(obj["webhook"]["id"]) is int, obj


def admin_key(srv, *scopes):
    r = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                 json={"name": unique("k"), "scopes": list(scopes)})
    return expect(r, 201)["key"]


# -- the admin API ---------------------------------------------------------------------------

def test_create_answers_the_bot_and_its_key_once(srv):
    name = unique("helper")
    r = create_bot(srv, username=name, display_name="Helper Bot")
    body = expect(r, 201)
    assert set(body) == {"id", "bot", "key"}, body
    assert body["id"] == body["bot"]["id"], body
    check_bot(body["bot"], name, "Helper Bot")
    assert KEY_RE.fullmatch(body["key"]), body
    bid = body["bot"]["id"]
    got = expect(get_bot(srv, bid), 200)
    assert got == body["bot"], (got, body)
    assert body["key"] not in json.dumps(got)
    # Listed, with the same shape; users are not.
    listed = expect(srv.get(bot_path(), token=srv.admin_token(), params={"limit": 200}), 200)
    assert set(listed) == {"bots", "next"} and listed["next"] is None, listed
    mine = [b for b in listed["bots"] if b["id"] == bid]
    assert mine == [body["bot"]], listed
    assert all(b["bot"] is True for b in listed["bots"]), listed
    # Without a display name: null.
    plain = expect(create_bot(srv), 201)
    check_bot(plain["bot"], display_name=None)


def test_list_pages(srv):
    made = [make_bot(srv).id for _ in range(3)]
    seen = []
    params = {"limit": 2}
    for _ in range(100):
        page = expect(srv.get(bot_path(), token=srv.admin_token(), params=params), 200)
        assert len(page["bots"]) <= 2, page
        seen += [b["id"] for b in page["bots"]]
        if page["next"] is None:
            break
        params = {"limit": 2, "after": page["next"]}
    assert set(made) <= set(seen), (made, seen)
    assert len(seen) == len(set(seen)), seen
    r = srv.get(bot_path(), token=srv.admin_token(), params={"limit": 0})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text


def test_key_signs_the_bot_in_over_rest_and_websocket(srv, people):
    a = people[0]
    bot = make_bot(srv, display_name="Greeter")
    me = expect(srv.get("/v1/me", token=bot.token), 200)
    assert me["id"] == bot.id and me["username"] == bot.username, me
    with Chat(srv, bot) as wb:  # the WebSocket auth op takes the key as its token
        wb.ping_ok()
        cid = create_direct(srv, a, bot.id)["id"]
        sent = rest_send(srv, a, cid, text("hi bot"))
        got = wb.wait_event(ev("message", cid, seq=sent["seq"]))
        assert got["from"] == a.id and got["body"] == text("hi bot"), got
        reply = wb.send_msg(cid, text("hello human"))
    hist = rest_history(srv, a, cid)
    m = event_at(hist["events"], reply["seq"])
    assert m["from"] == bot.id and m["body"] == text("hello human"), m


def test_bot_websocket_stays_open(srv, people):
    """A key does not expire: the bot's socket lives as long as it is used (pinged)."""
    a = people[0]
    bot = make_bot(srv)
    cid = create_direct(srv, a, bot.id)["id"]
    with Chat(srv, bot) as wb:
        time.sleep(T(1.5))
        wb.ping_ok()
        sent = rest_send(srv, a, cid, text("still there?"))
        assert wb.wait_event(ev("message", cid, seq=sent["seq"]))["from"] == a.id


def test_bot_acts_as_a_member_of_groups(srv, people):
    a, b, c = people
    bot = make_bot(srv)
    g = create_group(srv, a, [b], title=unique("with bot"))["id"]
    # Not a member yet: the group is hidden from it, as from anyone.
    r = api(srv, "GET", "/v1/conversations/%d/messages" % g, bot)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    rest_send(srv, a, g, text("before the bot"))
    add_member(srv, a, g, bot.id)
    with Chat(srv, b) as wb, Chat(srv, bot) as wbot:
        # REST send and history as the bot
        s1 = rest_send(srv, bot, g, text("bot here"))
        e = wb.wait_event(ev("message", g, seq=s1["seq"]))
        assert e["from"] == bot.id, e
        hist = rest_history(srv, bot, g)
        texts = [x["body"]["text"] for x in hist["events"] if x["ev"] == "message"]
        assert "bot here" in texts, hist
        # a member's message reaches the bot's socket
        s2 = rest_send(srv, b, g, text("hello bot"), mentions=[bot.id])
        e2 = wbot.wait_event(ev("message", g, seq=s2["seq"]))
        assert e2["mentions"] == [bot.id], e2
        # streaming, as any member
        ack = wbot.send_msg(g, text("thin"), streaming=True)
        wbot.ok("append", conv=g, seq=ack["seq"], text="king")
        st = wb.wait_event(ev("stream", g, seq=ack["seq"]))
        assert st["text"] == "king", st
        fin = wbot.ok("append", conv=g, seq=ack["seq"], text="...", final=True)
        ed = wb.wait_event(ev("edit", g, seq=fin["seq"]))
        assert ed["streamed"] is True and ed["body"] == text("thinking..."), ed
        # edits and recalls of its own messages
        wbot.ok("edit", conv=g, seq=s1["seq"], body=text("bot here (edited)"))
        wb.wait_event(ev("edit", g, target=s1["seq"]))
    # The bot lists its conversations like a user; others' stay hidden.
    convs = expect(api(srv, "GET", "/v1/conversations", bot), 200)["conversations"]
    assert g in [x["id"] for x in convs], convs
    other = create_group(srv, a, [c], title=unique("without bot"))["id"]
    assert other not in [x["id"] for x in expect(api(srv, "GET", "/v1/conversations", bot),
                                                 200)["conversations"]]
    rest_send(srv, bot, other, text("let me in"), status=404, code="not_found")


def test_a_bot_is_never_an_admin(srv, people):
    bot = make_bot(srv)
    for method, path in (("GET", "/v1/admin/users"), ("GET", "/v1/admin/bots"),
                         ("POST", "/v1/admin/bots"), ("GET", bot_path(bot.id)),
                         ("POST", bot_path(bot.id, "/key")), ("GET", "/v1/admin/app"),
                         ("GET", "/v1/admin/api-keys"), ("GET", "/v1/admin/webhooks"),
                         ("GET", "/v1/admin/assistant")):
        kw = {"json": {"username": unique("x")}} if method == "POST" else {}
        r = srv.request(method, path, token=bot.token, **kw)
        assert r.status_code == 403 and error_code(r) == "forbidden", (method, path, r.text)
    # An admin cannot make it one either.
    r = srv.request("PATCH", "/v1/admin/users/%d" % bot.id, token=srv.admin_token(),
                    json={"role": "admin"})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    assert expect(get_bot(srv, bot.id), 200)["role"] == "user"
    r = srv.get("/v1/admin/users", token=bot.token)
    assert r.status_code == 403, r.text
    # And no password opens it.
    for pw in ("", "!bot", "x" * 12):
        r = srv.post("/v1/auth/login", json={"username": bot.username, "password": pw})
        assert r.status_code in (400, 401), (pw, r.status_code, r.text)
        assert "token" not in r.text


def test_no_password_ever_opens_a_bot(srv):
    """An admin's password reset (POST /v1/admin/users/{id}/password) must not give a bot
    a password: it signs in with its key only."""
    bot = make_bot(srv)
    pw = "a-password-for-the-bot"
    r = srv.post("/v1/admin/users/%d/password" % bot.id, token=srv.admin_token(),
                 json={"password": pw})
    login = srv.post("/v1/auth/login", json={"username": bot.username, "password": pw})
    assert r.status_code == 409 and error_code(r) == "conflict", r.text
    assert login.status_code != 200, (
        "a bot was given a password and signed in with it", r.status_code, login.text)
    assert "token" not in login.json(), login.text
    assert srv.get("/v1/me", token=bot.token).status_code == 200


def test_bot_keys_are_not_app_api_keys(srv):
    bot = make_bot(srv)
    keys = expect(srv.get("/v1/admin/api-keys", token=srv.admin_token(),
                          params={"limit": 200}), 200)
    listed = json.dumps(keys)
    assert ("bot:%s" % bot.username) not in listed and bot.username not in listed, keys
    # A bot's key is not an app key: it opens no route an app key opens for a push or
    # admin scope (it is a user).
    r = srv.post("/v1/push", token=bot.token, json={"to": {"users": [1]},
                                                     "notification": {"title": "x"}})
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text


def test_rotation_stops_the_old_key_at_once(srv, people):
    a = people[0]
    bot = make_bot(srv)
    old = bot.token
    assert expect(srv.get("/v1/me", token=old), 200)["id"] == bot.id
    with Chat(srv, bot) as w_old:
        time.sleep(T(0.5))
        w_old.ping_ok()  # open and usable until the rotation
        body = expect(rotate(srv, bot.id), 200)
        # A socket signed in with the old key is closed too.
        closed = w_old.expect_close(T(5))
        assert closed.code == 1008 or closed.eof, closed
    assert set(body) == {"bot", "key"}, body
    check_bot(body["bot"], bot.username, None)
    new = body["key"]
    assert KEY_RE.fullmatch(new) and new != old, body
    r = srv.get("/v1/me", token=old)
    assert r.status_code == 401 and error_code(r) == "unauthorized", r.text
    with WSConn(srv.port, timeout=T(5)) as w:
        ans = w.auth(old)
        assert ans.get("error", {}).get("code") == "unauthorized", ans
    assert expect(srv.get("/v1/me", token=new), 200)["id"] == bot.id
    bot.token = new
    cid = create_direct(srv, a, bot.id)["id"]
    rest_send(srv, bot, cid, text("with the new key"))
    # A second rotation: the first new key stops too.
    newer = expect(rotate(srv, bot.id), 200)["key"]
    assert srv.get("/v1/me", token=new).status_code == 401
    assert srv.get("/v1/me", token=newer).status_code == 200


def test_delete_disables_revokes_and_closes(srv, people, rcv):
    a = people[0]
    path = "/bot/" + unique("gone")
    bot = make_bot(srv, webhook_url=rcv.url(path))
    cid = create_direct(srv, a, bot.id)["id"]
    sent = rest_send(srv, bot, cid, text("last words"))
    with Chat(srv, bot) as wbot:
        time.sleep(T(0.5))
        wbot.ping_ok()  # open and usable until the delete
        r = delete_bot(srv, bot.id)
        assert r.status_code == 204 and r.content == b"", r.text
        closed = wbot.expect_close(T(5))
        assert closed.code == 1008 or closed.eof, closed
    r = srv.get("/v1/me", token=bot.token)
    assert r.status_code == 401 and error_code(r) == "unauthorized", r.text
    with WSConn(srv.port, timeout=T(5)) as w:
        assert w.auth(bot.token).get("error", {}).get("code") == "unauthorized"
    got = expect(get_bot(srv, bot.id), 200)
    check_bot(got, bot.username, None, disabled=True)  # and its webhook is gone
    # Its messages stay.
    assert event_at(rest_history(srv, a, cid)["events"], sent["seq"])["from"] == bot.id
    # A disabled bot gets no new key; deleting again is harmless.
    r = rotate(srv, bot.id)
    assert r.status_code == 409 and error_code(r) == "conflict", r.text
    r = patch_bot(srv, bot.id, {"webhook_url": rcv.url(path)})
    assert r.status_code == 409 and error_code(r) == "conflict", r.text
    assert delete_bot(srv, bot.id).status_code == 204
    # Nothing reaches its old webhook.
    rest_send(srv, a, cid, text("anyone there?"))
    time.sleep(T(0.5))
    assert rcv.hits_for(path) == [], rcv.hits_for(path)


def test_unknown_and_non_bot_ids_are_404(srv, people):
    a = people[0]
    for bid in (a.id, 1, 999999):
        for method, rest in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/key")):
            kw = {"json": {"display_name": "x"}} if method == "PATCH" else {}
            r = srv.request(method, bot_path(bid, rest), token=srv.admin_token(), **kw)
            assert r.status_code == 404 and error_code(r) == "not_found", (bid, method, r.text)
    for bad in ("abc", "0", "-1"):
        r = srv.get("/v1/admin/bots/" + bad, token=srv.admin_token())
        assert r.status_code in (400, 404), (bad, r.status_code, r.text)


@pytest.mark.parametrize("label,body", [
    ("no-username", {}),
    ("null-username", {"username": None}),
    ("empty-username", {"username": ""}),
    ("bad-username", {"username": "has space"}),
    ("long-username", {"username": "b" * 65}),
    ("number-username", {"username": 12}),
    ("display-number", {"display_name": 5}),
    ("display-long", {"display_name": "d" * 257}),
    ("webhook-number", {"webhook_url": 5}),
    ("webhook-scheme", {"webhook_url": "ftp://127.0.0.1/x"}),
    ("webhook-relative", {"webhook_url": "/just/a/path"}),
    ("webhook-fragment", {"webhook_url": "http://127.0.0.1:9/x#frag"}),
    ("webhook-userinfo", {"webhook_url": "http://u:p@127.0.0.1:9/x"}),
])
def test_create_refuses_bad_bodies(srv, label, body):
    body = dict(body)
    if "username" not in body and label != "no-username":
        body["username"] = unique("bad")
    before = expect(srv.get(bot_path(), token=srv.admin_token(), params={"limit": 200}), 200)
    r = srv.post(bot_path(), token=srv.admin_token(), json=body)
    assert r.status_code == 400 and error_code(r) == "bad_request", (label, r.text)
    after = expect(srv.get(bot_path(), token=srv.admin_token(), params={"limit": 200}), 200)
    assert after == before, label  # nothing made, not even half a bot
    if label.startswith(("display", "webhook")):
        # the name is still free: the whole create was rolled back
        expect(create_bot(srv, username=body["username"]), 201)


def test_create_refuses_a_taken_username_and_non_json(srv, people):
    r = create_bot(srv, username=people[0].username)
    assert r.status_code == 409 and error_code(r) == "username_taken", r.text
    r = srv.post(bot_path(), token=srv.admin_token(), data=b"{",
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    r = srv.post(bot_path(), token=srv.admin_token(), data=b"x",
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text


def test_https_only_webhooks_on_a_strict_server(module_server_factory):
    strict = module_server_factory()
    for url in ("http://hooks.example.com/x", "https://127.0.0.1/x", "https://localhost/x"):
        r = create_bot(strict, webhook_url=url)
        assert r.status_code == 400 and error_code(r) == "bad_request", (url, r.text)
    ok = expect(create_bot(strict, webhook_url="https://hooks.example.com/bot"), 201)
    assert SECRET_RE.fullmatch(ok["webhook_secret"]), ok


def test_patch_display_name_and_webhook(srv, rcv):
    bot = make_bot(srv, display_name="First")
    # display name
    body = expect(patch_bot(srv, bot.id, {"display_name": "Second"}), 200)
    assert set(body) == {"bot"}, body
    check_bot(body["bot"], bot.username, "Second")
    assert expect(srv.get("/v1/me", token=bot.token), 200)["display_name"] == "Second"
    body = expect(patch_bot(srv, bot.id, {"display_name": None}), 200)
    check_bot(body["bot"], bot.username, None)
    # webhook: set (a secret, once), replace (same secret), remove
    u1, u2 = rcv.url("/bot/p1-%d" % bot.id), rcv.url("/bot/p2-%d" % bot.id)
    body = expect(patch_bot(srv, bot.id, {"webhook_url": u1}), 200)
    assert set(body) == {"bot", "webhook_secret"}, body
    assert SECRET_RE.fullmatch(body["webhook_secret"]), body
    check_bot(body["bot"], bot.username, None, webhook_url=u1)
    hid = body["bot"]["webhook"]["id"]
    body = expect(patch_bot(srv, bot.id, {"webhook_url": u2}), 200)
    assert set(body) == {"bot"}, body  # no new secret
    check_bot(body["bot"], bot.username, None, webhook_url=u2)
    assert body["bot"]["webhook"]["id"] == hid
    assert expect(get_bot(srv, bot.id), 200)["webhook"] == {"id": hid, "url": u2}
    body = expect(patch_bot(srv, bot.id, {"webhook_url": None}), 200)
    check_bot(body["bot"], bot.username, None)
    assert expect(get_bot(srv, bot.id), 200)["webhook"] is None
    # null again, and an empty patch: no change
    check_bot(expect(patch_bot(srv, bot.id, {"webhook_url": None}), 200)["bot"],
              bot.username, None)
    check_bot(expect(patch_bot(srv, bot.id, {}), 200)["bot"], bot.username, None)
    # a new one after removal has a new secret
    body = expect(patch_bot(srv, bot.id, {"webhook_url": u1}), 200)
    assert SECRET_RE.fullmatch(body["webhook_secret"]), body
    # Bots' webhooks are not the app's.
    hooks = expect(srv.get("/v1/admin/webhooks", token=srv.admin_token(),
                           params={"limit": 200}), 200)["webhooks"]
    assert u1 not in [h["url"] for h in hooks], hooks


@pytest.mark.parametrize("label,body", [
    ("display-number", {"display_name": 5}),
    ("display-long", {"display_name": "d" * 257}),
    ("webhook-number", {"webhook_url": 7}),
    ("webhook-bool", {"webhook_url": True}),
    ("webhook-scheme", {"webhook_url": "gopher://127.0.0.1/x"}),
    ("webhook-fragment", {"webhook_url": "http://127.0.0.1:9/x#y"}),
])
def test_patch_refuses_bad_fields(srv, rcv, label, body):
    url = rcv.url("/bot/keep-%s" % label)
    bot = make_bot(srv, display_name="Kept", webhook_url=url)
    r = patch_bot(srv, bot.id, body)
    assert r.status_code == 400 and error_code(r) == "bad_request", (label, r.text)
    check_bot(expect(get_bot(srv, bot.id), 200), bot.username, "Kept", webhook_url=url)


def test_who_may_use_the_routes(srv, people):
    a = people[0]
    bot = make_bot(srv)
    routes = (("GET", bot_path()), ("POST", bot_path()), ("GET", bot_path(bot.id)),
              ("PATCH", bot_path(bot.id)), ("DELETE", bot_path(bot.id)),
              ("POST", bot_path(bot.id, "/key")))

    def call(method, path, token):
        kw = {}
        if method == "POST" and path == bot_path():
            kw["json"] = {"username": unique("who")}
        elif method == "PATCH":
            kw["json"] = {"display_name": "who"}
        return srv.request(method, path, token=token, **kw)

    for method, path in routes:
        r = srv.request(method, path, json={} if method in ("POST", "PATCH") else None)
        assert r.status_code == 401 and error_code(r) == "unauthorized", (method, path, r.text)
        r = call(method, path, a.token)
        assert r.status_code == 403 and error_code(r) == "forbidden", (method, path, r.text)
        for scope in ("push", "users"):
            r = call(method, path, admin_key(srv, scope))
            assert r.status_code == 403 and error_code(r) == "forbidden", (scope, method, path,
                                                                            r.text)
    # Still there, unchanged.
    check_bot(expect(get_bot(srv, bot.id), 200), bot.username, None)
    assert srv.get("/v1/me", token=bot.token).status_code == 200
    # An admin-scoped key may do it all.
    k = admin_key(srv, "admin")
    made = expect(create_bot(srv, token=k, display_name="by key"), 201)
    bid = made["bot"]["id"]
    assert expect(get_bot(srv, bid, token=k), 200)["display_name"] == "by key"
    assert bid in [b["id"] for b in expect(srv.get(bot_path(), token=k,
                                                   params={"limit": 200}), 200)["bots"]]
    assert expect(patch_bot(srv, bid, {"display_name": "k2"}, token=k), 200)
    newkey = expect(rotate(srv, bid, token=k), 200)["key"]
    assert srv.get("/v1/me", token=newkey).status_code == 200
    assert delete_bot(srv, bid, token=k).status_code == 204
    assert srv.get("/v1/me", token=newkey).status_code == 401


def test_another_apps_admin_sees_none_of_it(srv):
    bot = make_bot(srv, display_name="app one's")
    other = srv.create_user(unique("oth-admin"), role="admin")
    move_user_to_new_app(srv, other)
    tok = other.token
    for method, rest in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/key")):
        kw = {"json": {"display_name": "stolen"}} if method == "PATCH" else {}
        r = srv.request(method, bot_path(bot.id, rest), token=tok, **kw)
        assert r.status_code == 404 and error_code(r) == "not_found", (method, rest, r.text)
    listed = expect(srv.get(bot_path(), token=tok, params={"limit": 200}), 200)
    assert bot.id not in [b["id"] for b in listed["bots"]], listed
    check_bot(expect(get_bot(srv, bot.id), 200), bot.username, "app one's")
    assert srv.get("/v1/me", token=bot.token).status_code == 200


def test_every_write_is_audited_without_the_key(srv, rcv):
    bot = make_bot(srv, webhook_url=rcv.url("/bot/audited"))
    patch_bot(srv, bot.id, {"display_name": "audited"})
    key = expect(rotate(srv, bot.id), 200)["key"]
    delete_bot(srv, bot.id)
    recs = expect(srv.get("/v1/admin/audit", token=srv.admin_token(),
                          params={"limit": 200}), 200)["records"]
    actions = {r["action"] for r in recs if r.get("outcome") == "ok"}
    assert actions >= {"bot.create", "bot.update", "bot.rotate_key", "bot.delete"}, actions
    text_ = json.dumps(recs)
    for secret in (bot.token, key, bot.secret):
        assert secret not in text_, "a secret in the audit log"
    mine = [r for r in recs if r.get("target") == "user:%d" % bot.id]
    assert {r["action"] for r in mine} >= {"bot.update", "bot.rotate_key", "bot.delete"}, mine


def test_no_second_factor_for_bots(srv, people):
    """The app requires two-factor authentication of everyone; bots go on working."""
    a = people[0]
    k = admin_key(srv, "admin")
    bot = make_bot(srv)
    cid = create_direct(srv, a, bot.id)["id"]
    expect(srv.request("PATCH", "/v1/admin/app", token=k, json={"mfa_required": "all"}), 200)
    try:
        assert srv.get("/v1/me", token=bot.token).status_code == 200
        rest_send(srv, bot, cid, text("no code needed"))
        with Chat(srv, bot) as wbot:
            wbot.send_msg(cid, text("nor here"))
        # (a user who has not enrolled is held back, as the policy says)
        r = api(srv, "GET", "/v1/conversations", a)
        assert r.status_code == 403 and error_code(r) == "mfa_enrollment_required", r.text
    finally:
        expect(srv.request("PATCH", "/v1/admin/app", token=k, json={"mfa_required": "off"}),
               200)


# -- the bot's webhook -----------------------------------------------------------------------

def test_webhook_gets_its_conversations_messages_but_not_its_own(srv, people, rcv):
    a, b, c = people
    path = "/bot/" + unique("hook")
    bot = make_bot(srv, webhook_url=rcv.url(path))
    assert SECRET_RE.fullmatch(bot.secret), bot.obj
    check_bot(bot.obj, bot.username, None, webhook_url=rcv.url(path))
    g = create_group(srv, a, [b, bot.id], title=unique("hooked"))["id"]
    d = create_direct(srv, c, bot.id)["id"]
    other = create_group(srv, a, [b, c], title=unique("not the bot's"))["id"]
    with Chat(srv, b) as wb:
        s1 = rest_send(srv, a, g, text("for the group"))
        wsev = wb.wait_event(ev("message", g, seq=s1["seq"]))
        got = wait_delivery(rcv, path, bot.secret, "message.created",
                            lambda x: x["conv"] == g and x["seq"] == s1["seq"])
        assert got["data"] == wsev, (got["data"], wsev)
    s2 = rest_send(srv, c, d, text("direct to the bot"))
    wait_delivery(rcv, path, bot.secret, "message.created",
                  lambda x: x["conv"] == d and x["seq"] == s2["seq"])
    # edits and recalls
    with Chat(srv, a) as wa:
        edited = wa.ok("edit", conv=g, seq=s1["seq"], body=text("for the group, edited"))
        got = wait_delivery(rcv, path, bot.secret, "message.edited",
                            lambda x: x["seq"] == edited["seq"])
        assert got["data"]["target"] == s1["seq"], got
        recalled = wa.ok("recall", conv=g, seq=s1["seq"])
        wait_delivery(rcv, path, bot.secret, "message.recalled",
                      lambda x: x["seq"] == recalled["seq"])
    # Not its own messages; not others' conversations.
    own = rest_send(srv, bot, g, text("said by the bot"))
    with Chat(srv, bot) as wbot:
        own_ack = wbot.send_msg(d, text("also by the bot"))
        wbot.ok("edit", conv=d, seq=own_ack["seq"], body=text("edited by the bot"))
    rest_send(srv, a, other, text("a conversation without the bot"))
    marker = rest_send(srv, a, g, text("marker"))
    wait_delivery(rcv, path, bot.secret, "message.created",
                  lambda x: x["conv"] == g and x["seq"] == marker["seq"])
    time.sleep(T(0.3))
    bodies = deliveries(rcv, path, bot.secret)
    assert not [x for x in bodies if x["data"].get("from") == bot.id], bodies
    assert not [x for x in bodies if x["data"].get("conv") == other], bodies
    assert own["seq"] not in [x["data"]["seq"] for x in bodies if x["data"]["conv"] == g]
    assert {x["type"] for x in bodies} <= {"message.created", "message.edited",
                                           "message.recalled"}, bodies
    ids = [x["id"] for x in bodies]
    assert len(ids) == len(set(ids)), ids


def test_webhook_follows_membership_and_patches(srv, people, rcv):
    a, b, _ = people
    p1, p2 = "/bot/" + unique("m1"), "/bot/" + unique("m2")
    bot = make_bot(srv)  # no webhook yet
    g = create_group(srv, a, [b], title=unique("later"))["id"]
    s0 = rest_send(srv, a, g, text("before any webhook"))
    add_member(srv, a, g, bot.id)
    s_none = rest_send(srv, a, g, text("member, but no webhook yet"))
    secret = expect(patch_bot(srv, bot.id, {"webhook_url": rcv.url(p1)}), 200)["webhook_secret"]
    s1 = rest_send(srv, a, g, text("to the first url"))
    wait_delivery(rcv, p1, secret, "message.created", lambda x: x["seq"] == s1["seq"])
    # replaced: the same secret signs deliveries to the new URL
    expect(patch_bot(srv, bot.id, {"webhook_url": rcv.url(p2)}), 200)
    s2 = rest_send(srv, a, g, text("to the second url"))
    wait_delivery(rcv, p2, secret, "message.created", lambda x: x["seq"] == s2["seq"])
    # removed from the group: no more
    expect(api(srv, "DELETE", "/v1/conversations/%d/members/%d" % (g, bot.id), a), 204)
    s3 = rest_send(srv, a, g, text("the bot has left"))
    # removed webhook: nothing more even where it is a member
    d = create_direct(srv, a, bot.id)["id"]
    s4 = rest_send(srv, a, d, text("direct, still with a webhook"))
    wait_delivery(rcv, p2, secret, "message.created", lambda x: x["conv"] == d and
                  x["seq"] == s4["seq"])
    expect(patch_bot(srv, bot.id, {"webhook_url": None}), 200)
    s5 = rest_send(srv, a, d, text("direct, no webhook"))
    time.sleep(T(0.6))
    seen = [(x["data"]["conv"], x["data"]["seq"]) for x in
            deliveries(rcv, p1, secret) + deliveries(rcv, p2, secret)]
    for conv, s in ((g, s0), (g, s_none), (g, s3), (d, s5)):
        assert (conv, s["seq"]) not in seen, (conv, s, seen)
    assert [x for x in seen if x == (g, s1["seq"])] == [(g, s1["seq"])], seen
