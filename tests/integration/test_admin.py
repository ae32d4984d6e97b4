"""The admin console's REST routes (issue 5) and the user directory.

Contract: /tmp/spec/admin-api.md, documented in docs/openapi.yaml (tag "admin")
and docs/protocol.md (the conv_deleted event). Checked here: who may call each route
(anonymous 401, a user 403, API keys by scope, a "users" key kept off admins); user
listing, search and paging; PATCH (display name, role, disabling with its WebSockets
closed, tokens dead and logins refused; the self and last-admin guards); the admin
password reset; sessions (listed with "online", revoked one by one or all);
conversations (listing, search, members, deletion with its event, sync "removed", no
id reuse); the stats; GET /v1/users; and a 4xx for every bad input.
"""

import threading
import time

import pytest

from chatlib import Chat, api, create_direct, create_group, ev, expect, now_ms, rest_send
from conftest import T, error_code, poll_until, unique
from httpraw import one_request
from wsraw import WSConn

USER_FIELDS = {"id", "username", "display_name", "role", "created_at", "disabled", "online",
               "last_seen"}
CONV_FIELDS = {"id", "type", "title", "members", "last_seq", "created_at", "last_ts"}
STATS_FIELDS = {"ts", "uptime_s", "connections", "sessions", "users", "conversations",
                "messages_total", "pushes_total", "push_sent_total", "store_bytes"}

# Every admin route: (method, path template, body, scope a key needs).
USER_ROUTES = [
    ("GET", "/v1/admin/users", None),
    ("GET", "/v1/admin/users/{u}", None),
    ("PATCH", "/v1/admin/users/{u}", {"display_name": "x"}),
    ("POST", "/v1/admin/users/{u}/password", {"password": "another-good-pass"}),
    ("GET", "/v1/admin/users/{u}/sessions", None),
    ("DELETE", "/v1/admin/users/{u}/sessions/1", None),
    ("DELETE", "/v1/admin/users/{u}/sessions", None),
]
ADMIN_ROUTES = [
    ("GET", "/v1/admin/conversations", None),
    ("GET", "/v1/admin/conversations/{c}", None),
    ("GET", "/v1/admin/conversations/{c}/members", None),
    ("DELETE", "/v1/admin/conversations/{c}", None),
    ("GET", "/v1/admin/stats", None),
]


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def admin(srv):
    return srv.admin_token()


def key(srv, scopes):
    r = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                 json={"name": unique("key"), "scopes": list(scopes)})
    return expect(r, 201)["key"]


def get_user(srv, cred, uid, status=200, code=None):
    return expect(api(srv, "GET", "/v1/admin/users/%s" % uid, cred), status, code)


def patch_user(srv, cred, uid, body, status=200, code=None):
    return expect(api(srv, "PATCH", "/v1/admin/users/%s" % uid, cred, body), status, code)


def list_users(srv, cred, status=200, **params):
    return expect(api(srv, "GET", "/v1/admin/users", cred, params=params), status)


def sessions(srv, cred, uid):
    return expect(api(srv, "GET", "/v1/admin/users/%d/sessions" % uid, cred), 200)["sessions"]


def error_message(r):
    return r.json()["error"]["message"]


def assert_closed(chat, reason):
    e = chat.expect_close(T(5))
    assert (e.code, e.reason) == (1008, reason), e


def me_status(srv, token):
    return srv.get("/v1/me", token=token).status_code


def fill(path, uid=1, cid=1):
    return path.replace("{u}", str(uid)).replace("{c}", str(cid))


# -- who may call ----------------------------------------------------------------------------

def test_anonymous_gets_401_everywhere(srv):
    for method, path, body in USER_ROUTES + ADMIN_ROUTES + [("GET", "/v1/users", None)]:
        r = srv.request(method, fill(path), json=body)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert error_code(r) == "unauthorized"


def test_plain_user_gets_403_forbidden(srv):
    user = srv.create_user()
    for method, path, body in USER_ROUTES + ADMIN_ROUTES:
        r = api(srv, method, fill(path, uid=user.id), user, body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert error_code(r) == "forbidden"


def test_keys_need_the_named_scope(srv):
    target = srv.create_user()
    conv = create_group(srv, target, title="scoped")["id"]
    push_key, users_key = key(srv, ["push"]), key(srv, ["users"])
    for method, path, body in USER_ROUTES + ADMIN_ROUTES:
        r = api(srv, method, fill(path, uid=target.id, cid=conv), push_key, body)
        assert r.status_code == 403, (method, path, r.text)
    for method, path, body in ADMIN_ROUTES:
        r = api(srv, method, fill(path, uid=target.id, cid=conv), users_key, body)
        assert r.status_code == 403, (method, path, r.text)
    # The user routes take a "users" key, and /v1/users takes no key at all.
    assert api(srv, "GET", "/v1/admin/users", users_key).status_code == 200
    assert api(srv, "GET", "/v1/admin/users/%d" % target.id, users_key).status_code == 200
    r = api(srv, "GET", "/v1/users", users_key)
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text


def test_users_key_cannot_touch_admins_or_make_one(srv, admin):
    users_key, admin_key = key(srv, ["users"]), key(srv, ["admin"])
    other_admin = srv.create_user(role="admin")
    user = srv.create_user()
    for method, path, body in [
            ("PATCH", "/v1/admin/users/%d", {"display_name": "pwned"}),
            ("PATCH", "/v1/admin/users/%d", {"disabled": True}),
            ("POST", "/v1/admin/users/%d/password", {"password": "taken-over-pass"}),
            ("DELETE", "/v1/admin/users/%d/sessions", None)]:
        r = api(srv, method, path % other_admin.id, users_key, body)
        assert r.status_code == 403 and error_code(r) == "forbidden", (method, path, r.text)
    r = api(srv, "PATCH", "/v1/admin/users/%d" % user.id, users_key, {"role": "admin"})
    assert r.status_code == 403, r.text
    assert get_user(srv, admin, user.id)["role"] == "user"
    # It manages ordinary users; an admin key does everything.
    assert patch_user(srv, users_key, user.id, {"display_name": "Ann"})["display_name"] == "Ann"
    assert patch_user(srv, admin_key, user.id, {"role": "admin"})["role"] == "admin"
    assert me_status(srv, other_admin.token) == 200


# -- users: list, search, paging -----------------------------------------------------------

def test_user_shape_and_get(srv, admin):
    t0 = now_ms()
    user = srv.create_user()
    got = get_user(srv, admin, user.id)
    assert set(got) >= USER_FIELDS, got
    assert got["id"] == user.id and got["username"] == user.username
    assert got["role"] == "user" and got["display_name"] is None
    assert got["disabled"] is False and got["online"] is False and got["last_seen"] is None
    assert t0 - 2000 <= got["created_at"] <= now_ms() + 2000
    with Chat(srv, user):
        assert get_user(srv, admin, user.id)["online"] is True
    seen = poll_until(lambda: get_user(srv, admin, user.id)["last_seen"], T(5), what="last_seen")
    assert t0 - 2000 <= seen <= now_ms() + 2000
    assert get_user(srv, admin, user.id)["online"] is False


def test_get_unknown_user_is_404(srv, admin):
    for uid in ("987654321", "nobody", "0", "-1"):
        r = api(srv, "GET", "/v1/admin/users/%s" % uid, admin)
        assert r.status_code == 404 and error_code(r) == "not_found", (uid, r.text)


def test_list_pages_by_id(srv, admin):
    for _ in range(3):
        srv.create_user()
    everyone = list_users(srv, admin, limit=200)
    ids = [u["id"] for u in everyone["users"]]
    assert ids == sorted(ids) and len(ids) >= 4 and everyone["next"] is None
    for u in everyone["users"]:
        assert set(u) >= USER_FIELDS, u
    seen, after = [], 0
    for _ in range(100):
        page = list_users(srv, admin, limit=2, after=after)
        assert len(page["users"]) <= 2
        seen += [u["id"] for u in page["users"]]
        if page["next"] is None:
            break
        assert page["next"] == page["users"][-1]["id"]
        after = page["next"]
    assert seen == ids
    # The default page is 50.
    assert len(list_users(srv, admin)["users"]) == min(50, len(ids))


def test_list_bad_paging_is_400(srv, admin):
    for params in ({"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"limit": -1},
                   {"after": "x"}, {"after": "-5"}):
        r = api(srv, "GET", "/v1/admin/users", admin, params=params)
        assert r.status_code == 400 and error_code(r) == "bad_request", (params, r.text)


def test_search_by_username_or_display_name_any_case(srv, admin):
    tag = unique("Zq")
    a = srv.create_user(username=tag + "Alpha")
    b = srv.create_user()
    patch_user(srv, admin, b.id, {"display_name": "Mr " + tag.upper() + " Beta"})
    srv.create_user()
    found = list_users(srv, admin, q=tag.lower())["users"]
    assert sorted(u["id"] for u in found) == sorted([a.id, b.id]), found
    assert list_users(srv, admin, q=unique("none"))["users"] == []
    # Empty q lists everyone.
    assert len(list_users(srv, admin, q="", limit=200)["users"]) >= 3


def test_search_wildcards_are_literal(srv, admin):
    u = srv.create_user(username=unique("wild_"))
    patch_user(srv, admin, u.id, {"display_name": "100% \\real\\"})
    found = lambda q: {x["id"] for x in list_users(srv, admin, q=q, limit=200)["users"]}
    assert u.id in found("ld_") and u.id in found("100%") and u.id in found("\\real")
    # '%' and '_' match themselves only: nobody has "0%_1" or "%%%".
    assert found("0%_1") == set() and found("%%%") == set() and found("_%_") == set()


def test_search_text_bad_input_is_400(srv, admin):
    r = api(srv, "GET", "/v1/admin/users", admin, params={"q": "x" * 65})
    assert r.status_code == 400 and "64" in error_message(r), r.text
    assert api(srv, "GET", "/v1/admin/users", admin, params={"q": "é" * 32}).status_code == 200
    # Byte-exact: requests would "fix" a bad escape.
    for raw in ("q=%ZZ", "q=%4", "q=%", "q=%00", "q=%FF%FE", "q=%C3"):
        r = one_request(srv.port, "GET", "/v1/admin/users?" + raw,
                        [("Authorization", "Bearer " + admin)], timeout=T(10))
        assert r.status == 400 and r.json()["error"]["code"] == "bad_request", (raw, r.body)
    # '+' and %20 are spaces.
    u = srv.create_user()
    patch_user(srv, admin, u.id, {"display_name": "Space Cadet " + u.username})
    for raw in ("q=space+cadet", "q=Space%20Cadet"):
        ids = [x["id"] for x in expect(srv.get("/v1/admin/users?%s&limit=200" % raw,
                                               token=admin), 200)["users"]]
        assert u.id in ids, raw


# -- users: PATCH ------------------------------------------------------------------------------

def test_patch_display_name_and_role(srv, admin):
    u = srv.create_user()
    got = patch_user(srv, admin, u.id, {"display_name": "Ünïcode Name"})
    assert got["display_name"] == "Ünïcode Name" and set(got) >= USER_FIELDS
    assert patch_user(srv, admin, u.id, {"display_name": None})["display_name"] is None
    assert patch_user(srv, admin, u.id, {"role": "admin"})["role"] == "admin"
    # The new role counts at once, despite the workers' memory of the token.
    assert expect(api(srv, "GET", "/v1/admin/stats", u), 200)
    assert patch_user(srv, admin, u.id, {"role": "user"})["role"] == "user"
    for _ in range(10):
        r = api(srv, "GET", "/v1/admin/stats", u)
        assert r.status_code == 403, "a demoted admin kept admin rights: %s" % r.text
    assert get_user(srv, admin, u.id)["role"] == "user"
    assert expect(srv.get("/v1/me", token=u.token), 200)["role"] == "user"


def test_patch_bad_input_is_400(srv, admin):
    u = srv.create_user()
    for body in ({}, {"unknown": 1}, {"disabled": "yes"}, {"disabled": 1}, {"role": "root"},
                 {"role": None}, {"role": 1}, {"display_name": 5}, {"display_name": ["a"]},
                 {"display_name": "x" * 257}):
        r = api(srv, "PATCH", "/v1/admin/users/%d" % u.id, admin, body)
        assert r.status_code == 400 and error_code(r) == "bad_request", (body, r.text)
    assert patch_user(srv, admin, u.id, {"display_name": "x" * 256})["display_name"] == "x" * 256
    r = srv.request("PATCH", "/v1/admin/users/%d" % u.id, token=admin, data="not json",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    r = srv.request("PATCH", "/v1/admin/users/%d" % u.id, token=admin, data="[]",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    r = api(srv, "PATCH", "/v1/admin/users/987654321", admin, {"display_name": "x"})
    assert r.status_code == 404, r.text
    r = srv.request("PUT", "/v1/admin/users/%d" % u.id, token=admin, json={})
    assert r.status_code == 405 and "PATCH" in r.headers["Allow"], r.headers


def test_disable_closes_sockets_kills_tokens_refuses_login(srv, admin):
    u = srv.create_user()
    second = srv.login(u.username, u.password)
    chats = [Chat(srv, u) for _ in range(3)]
    try:
        got = patch_user(srv, admin, u.id, {"disabled": True})
        assert got["disabled"] is True and got["disabled_at"] >= now_ms() - 5000
        for c in chats:
            assert_closed(c, "account disabled")
    finally:
        for c in chats:
            c.close()
    for tok in (u.token, second):
        for _ in range(5):
            assert me_status(srv, tok) == 401
    assert sessions(srv, admin, u.id) == []
    r = srv.post("/v1/auth/login", json={"username": u.username, "password": u.password})
    assert r.status_code == 403 and error_code(r) == "account_disabled", r.text
    # A wrong password does not tell that the account exists and is disabled.
    r = srv.post("/v1/auth/login", json={"username": u.username, "password": "wrong-password"})
    assert r.status_code == 401 and error_code(r) == "invalid_credentials", r.text
    with WSConn(srv.port) as ws:
        assert ws.auth(u.token)["error"]["code"] == "unauthorized"
    # Disabling again keeps the first time; enabling lets them in again.
    assert patch_user(srv, admin, u.id, {"disabled": True})["disabled_at"] == got["disabled_at"]
    back = patch_user(srv, admin, u.id, {"disabled": False})
    assert back["disabled"] is False and back["disabled_at"] is None
    token = srv.login(u.username, u.password)
    assert me_status(srv, token) == 200


def test_no_login_outlives_a_disable_it_raced(srv, admin):
    """Logins racing a disable: whatever token they got, none works afterwards."""
    u = srv.create_user()
    got, odd, stop = [], [], threading.Event()

    def log_in():
        for _ in range(200):
            if stop.is_set():
                return
            r = srv.post("/v1/auth/login", json={"username": u.username, "password": u.password})
            if r.status_code == 200:
                got.append(r.json()["token"])
            elif r.status_code not in (403, 429):
                odd.append((r.status_code, r.text))

    threads = [threading.Thread(target=log_in) for _ in range(3)]
    for t in threads:
        t.start()
    poll_until(lambda: got, T(10), what="a login before the disable")
    patch_user(srv, admin, u.id, {"disabled": True})
    stop.set()
    for t in threads:
        t.join(T(30))
    assert got and not odd, (len(got), odd)
    assert all(me_status(srv, tok) == 401 for tok in got)
    assert sessions(srv, admin, u.id) == []


def test_disabled_users_are_listed_as_such(srv, admin):
    u = srv.create_user()
    patch_user(srv, admin, u.id, {"disabled": True})
    listed = [x for x in list_users(srv, admin, q=u.username)["users"] if x["id"] == u.id]
    assert listed and listed[0]["disabled"] is True


def test_admin_cannot_disable_or_demote_themselves(srv):
    me = srv.create_user(role="admin")
    for body, word in (({"disabled": True}, "disable"), ({"role": "user"}, "admin role")):
        r = api(srv, "PATCH", "/v1/admin/users/%d" % me.id, me, body)
        assert r.status_code == 409 and error_code(r) == "conflict", r.text
        assert "your own" in error_message(r) and word in error_message(r), r.text
    # Harmless changes to oneself are fine.
    assert patch_user(srv, me.token, me.id, {"display_name": "Me", "role": "admin",
                                             "disabled": False})["display_name"] == "Me"


def test_last_enabled_admin_is_kept(server_factory):
    s = server_factory()
    first = s.admin_token()
    first_id = expect(s.get("/v1/me", token=first), 200)["id"]
    second = s.create_user(role="admin")
    admin_key = key(s, ["admin"])
    # Two enabled admins: one may go.
    patch_user(s, second.token, first_id, {"disabled": True})
    for body in ({"disabled": True}, {"role": "user"}, {"role": "user", "disabled": True}):
        r = api(s, "PATCH", "/v1/admin/users/%d" % second.id, admin_key, body)
        assert r.status_code == 409 and error_code(r) == "conflict", (body, r.text)
        assert "last" in error_message(r), r.text
    assert get_user(s, admin_key, second.id)["role"] == "admin"
    # A disabled admin does not count, but may be demoted; enabled again, it counts.
    assert patch_user(s, admin_key, first_id, {"role": "user"})["role"] == "user"
    patch_user(s, admin_key, first_id, {"role": "admin", "disabled": False})
    assert patch_user(s, admin_key, second.id, {"role": "user"})["role"] == "user"


# -- users: password and sessions ------------------------------------------------------------

def test_password_reset_revokes_everything(srv, admin):
    u = srv.create_user()
    other = srv.login(u.username, u.password)
    chat = Chat(srv, u)
    try:
        r = api(srv, "POST", "/v1/admin/users/%d/password" % u.id, admin,
                {"password": "brand-new-password"})
        assert r.status_code == 204, r.text
        assert_closed(chat, "token revoked")
    finally:
        chat.close()
    assert me_status(srv, u.token) == 401 and me_status(srv, other) == 401
    r = srv.post("/v1/auth/login", json={"username": u.username, "password": u.password})
    assert r.status_code == 401, r.text
    assert me_status(srv, srv.login(u.username, "brand-new-password")) == 200


def test_password_reset_bad_input(srv, admin):
    u = srv.create_user()
    path = "/v1/admin/users/%d/password" % u.id
    for body, code in (({}, "bad_request"), ({"password": 12345678}, "bad_request"),
                       ({"password": "short"}, "weak_password"),
                       ({"password": "x" * 5000}, "bad_request")):
        r = api(srv, "POST", path, admin, body)
        assert r.status_code == 400 and error_code(r) == code, (body, r.text)
    for uid in ("987654321", "nobody"):
        r = api(srv, "POST", "/v1/admin/users/%s/password" % uid, admin,
                {"password": "a-good-password"})
        assert r.status_code == 404 and error_code(r) == "not_found", r.text
    assert me_status(srv, u.token) == 200  # nothing happened to them


def test_sessions_listed_with_online_and_revoked_one_by_one(srv, admin):
    u = srv.create_user()
    t_first = u.token
    t_second = srv.login(u.username, u.password)
    chat = Chat(srv, u)  # on the first token
    try:
        listed = sessions(srv, admin, u.id)
        assert len(listed) == 2, listed
        for s in listed:
            assert set(s) == {"id", "created_at", "expires_at", "online", "device", "ip",
                              "last_seen_at", "current"}, s
            assert s["current"] is False  # none is the admin's own
            assert s["expires_at"] > now_ms() > s["created_at"] - 2000
        first, second = sorted(listed, key=lambda s: s["id"])
        assert first["online"] is True and second["online"] is False
        # Revoke the one with the open socket.
        r = api(srv, "DELETE", "/v1/admin/users/%d/sessions/%d" % (u.id, first["id"]), admin)
        assert r.status_code == 204, r.text
        assert_closed(chat, "token revoked")
    finally:
        chat.close()
    assert me_status(srv, t_first) == 401 and me_status(srv, t_second) == 200
    assert [s["id"] for s in sessions(srv, admin, u.id)] == [second["id"]]
    # Gone, unknown, another user's, or not a number: 404.
    other = srv.create_user()
    other_session = sessions(srv, admin, other.id)[0]["id"]
    for sid in (first["id"], 987654321, other_session, "abc"):
        r = api(srv, "DELETE", "/v1/admin/users/%d/sessions/%s" % (u.id, sid), admin)
        assert r.status_code == 404 and error_code(r) == "not_found", (sid, r.text)
    assert me_status(srv, other.token) == 200
    r = api(srv, "GET", "/v1/admin/users/987654321/sessions", admin)
    assert r.status_code == 404, r.text


def test_revoke_all_sessions(srv, admin):
    u = srv.create_user()
    tokens = [u.token] + [srv.login(u.username, u.password) for _ in range(2)]
    chat = Chat(srv, u)
    try:
        assert api(srv, "DELETE", "/v1/admin/users/%d/sessions" % u.id, admin).status_code == 204
        assert_closed(chat, "token revoked")
    finally:
        chat.close()
    assert all(me_status(srv, t) == 401 for t in tokens)
    assert sessions(srv, admin, u.id) == []
    # Not disabled: they log in again.
    assert me_status(srv, srv.login(u.username, u.password)) == 200
    r = api(srv, "DELETE", "/v1/admin/users/987654321/sessions", admin)
    assert r.status_code == 404, r.text


# -- conversations -----------------------------------------------------------------------------

def list_convs(srv, cred, **params):
    return expect(api(srv, "GET", "/v1/admin/conversations", cred, params=params), 200)


def test_conversation_list_get_and_members(srv, admin):
    a, b, c = srv.create_user(), srv.create_user(), srv.create_user()
    title = unique("Quarterly Plans ")
    g = create_group(srv, a, [b, c], title=title)["id"]
    d = create_direct(srv, a, b.id)["id"]
    got = expect(api(srv, "GET", "/v1/admin/conversations/%d" % g, admin), 200)
    assert set(got) >= CONV_FIELDS, got
    assert (got["type"], got["title"], got["members"], got["last_seq"]) == ("group", title, 3, 1)
    assert got["last_ts"] is not None
    direct = expect(api(srv, "GET", "/v1/admin/conversations/%d" % d, admin), 200)
    assert (direct["type"], direct["title"], direct["members"]) == ("direct", None, 2)
    assert direct["last_seq"] == 0 and direct["last_ts"] is None
    rest_send(srv, a, d)
    direct = expect(api(srv, "GET", "/v1/admin/conversations/%d" % d, admin), 200)
    assert direct["last_seq"] == 1 and direct["last_ts"] >= direct["created_at"]
    # Members: the shape of the members' own route.
    mine = expect(api(srv, "GET", "/v1/conversations/%d/members" % g, a), 200)
    theirs = expect(api(srv, "GET", "/v1/admin/conversations/%d/members" % g, admin), 200)
    assert theirs == mine and len(theirs["members"]) == 3
    # Search: a group's title (any case), a direct one's member's username.
    found = [x["id"] for x in list_convs(srv, admin, q=title.upper(), limit=200)["conversations"]]
    assert found == [g]
    found = {x["id"] for x in list_convs(srv, admin, q=b.username, limit=200)["conversations"]}
    assert d in found and g not in found
    # Paging by id.
    everything = list_convs(srv, admin, limit=200)
    ids = [x["id"] for x in everything["conversations"]]
    assert ids == sorted(ids) and {g, d} <= set(ids) and everything["next"] is None
    page = list_convs(srv, admin, limit=1)
    assert len(page["conversations"]) == 1 and page["next"] == ids[0]
    assert [x["id"] for x in list_convs(srv, admin, after=ids[0], limit=200)["conversations"]] \
        == ids[1:]


def test_conversation_bad_input(srv, admin):
    for path in ("/v1/admin/conversations/987654321", "/v1/admin/conversations/abc",
                 "/v1/admin/conversations/987654321/members"):
        r = api(srv, "GET", path, admin)
        assert r.status_code == 404 and error_code(r) == "not_found", (path, r.text)
    r = api(srv, "DELETE", "/v1/admin/conversations/987654321", admin)
    assert r.status_code == 404, r.text
    for params in ({"limit": 0}, {"limit": 500}, {"q": "y" * 65}, {"after": "z"}):
        r = api(srv, "GET", "/v1/admin/conversations", admin, params=params)
        assert r.status_code == 400 and error_code(r) == "bad_request", (params, r.text)


def test_delete_conversation(srv, admin):
    a, b, c = srv.create_user(), srv.create_user(), srv.create_user()
    g = create_group(srv, a, [b, c], title="doomed")["id"]
    keep = create_group(srv, a, [b], title="kept")["id"]
    for _ in range(3):
        rest_send(srv, b, g)
    ca, cb = Chat(srv, a), Chat(srv, b)
    try:
        r = api(srv, "DELETE", "/v1/admin/conversations/%d" % g, admin)
        assert r.status_code == 204, r.text
        for chat in (ca, cb):
            got = chat.wait_event(ev("conv_deleted", conv=g), timeout=T(5))
            assert got == {"ev": "conv_deleted", "conv": g}, got
        # An offline member learns it from sync, as for a conversation they were removed from.
        synced = Chat(srv, c)
        try:
            s = synced.ok("sync", convs={str(g): 1})
            assert s["removed"] == [g] and s["convs"] == [], s
        finally:
            synced.close()
        ca.ping_ok()
    finally:
        ca.close()
        cb.close()
    for user in (a, b, c):
        assert api(srv, "GET", "/v1/conversations/%d" % g, user).status_code == 404
        listed = [x["id"] for x in expect(api(srv, "GET", "/v1/conversations", user),
                                          200)["conversations"]]
        assert g not in listed
    r = rest_send(srv, a, g, status=404)
    assert api(srv, "GET", "/v1/admin/conversations/%d" % g, admin).status_code == 404
    assert api(srv, "DELETE", "/v1/admin/conversations/%d" % g, admin).status_code == 404
    assert g not in [x["id"] for x in list_convs(srv, admin, limit=200)["conversations"]]
    # The others are untouched, and the id is never handed out again.
    assert expect(api(srv, "GET", "/v1/conversations/%d" % keep, a), 200)["id"] == keep
    fresh = create_group(srv, a, [b], title="fresh")
    assert fresh["id"] > g and fresh["last_seq"] == 1


def test_delete_direct_conversation_lets_the_pair_start_again(srv, admin):
    a, b = srv.create_user(), srv.create_user()
    d = create_direct(srv, a, b.id)["id"]
    rest_send(srv, a, d)
    assert api(srv, "DELETE", "/v1/admin/conversations/%d" % d, admin).status_code == 204
    again = create_direct(srv, b, a.id)
    assert again["id"] != d and again["last_seq"] == 0


# -- stats -------------------------------------------------------------------------------------

def stats(srv, cred):
    return expect(api(srv, "GET", "/v1/admin/stats", cred), 200)


def test_stats(server_factory):
    s = server_factory()
    admin = s.admin_token()
    before = stats(s, admin)
    assert set(before) == STATS_FIELDS, before
    assert all(type(v) is int for v in before.values()), before
    assert abs(before["ts"] - now_ms()) < 5000 and before["uptime_s"] >= 0
    assert before["users"] == 1 and before["conversations"] == 0
    assert before["messages_total"] == 0 and before["sessions"] == 0
    assert before["store_bytes"] > 0 and before["connections"] >= 1
    a, b = s.create_user(), s.create_user()
    g = create_group(s, a, [b])["id"]
    rest_send(s, a, g)
    rest_send(s, b, g)
    chats = [Chat(s, a), Chat(s, b)]
    try:
        now = stats(s, key(s, ["admin"]))
        assert now["users"] == 3 and now["conversations"] == 1
        assert now["messages_total"] == 2 and now["sessions"] == 2
        m = s.metrics()
        assert m["pipit_ws_authenticated"] == 2 and m["pipit_chat_messages_total"] == 2
    finally:
        for c in chats:
            c.close()
    poll_until(lambda: stats(s, admin)["sessions"] == 0, T(5), what="sessions back to 0")
    time.sleep(1.1)
    assert stats(s, admin)["uptime_s"] >= 1
    assert api(s, "DELETE", "/v1/admin/conversations/%d" % g, admin).status_code == 204
    assert stats(s, admin)["conversations"] == 0


# -- the user directory ------------------------------------------------------------------------

def directory(srv, user, status=200, **params):
    return expect(api(srv, "GET", "/v1/users", user, params=params), status)


def test_user_directory(srv, admin):
    tag = unique("Dir")
    me = srv.create_user(username=tag + "Me")
    peers = [srv.create_user(username="%sPeer%d" % (tag, i)) for i in range(3)]
    gone = srv.create_user(username=tag + "Gone")
    patch_user(srv, admin, gone.id, {"disabled": True})
    patch_user(srv, admin, peers[0].id, {"display_name": "First Peer"})
    with Chat(srv, peers[1]):
        found = directory(srv, me, q=tag.lower())["users"]
        assert [u["id"] for u in found] == [p.id for p in peers], found
        assert set(found[0]) == {"id", "username", "display_name", "online"}
        assert found[0]["display_name"] == "First Peer" and found[2]["display_name"] is None
        assert [u["online"] for u in found] == [False, True, False]
    assert len(directory(srv, me)["users"]) <= 20
    assert len(directory(srv, me, q=tag, limit=2)["users"]) == 2
    for params in ({"q": "x" * 65}, {"limit": 21}, {"limit": 0}):
        r = api(srv, "GET", "/v1/users", me, params=params)
        assert r.status_code == 400 and error_code(r) == "bad_request", (params, r.text)


def test_display_names_show_in_members_and_the_direct_peer(srv, admin):
    a, b = srv.create_user(), srv.create_user()
    patch_user(srv, admin, b.id, {"display_name": "Bea Ortiz"})
    conv = create_direct(srv, a, b.username)
    members = expect(api(srv, "GET", "/v1/conversations/%d/members" % conv["id"], a), 200)["members"]
    names = {m["user"]["id"]: m["user"]["display_name"] for m in members}
    assert names == {a.id: None, b.id: "Bea Ortiz"}
    listed = [c for c in expect(api(srv, "GET", "/v1/conversations", a), 200)["conversations"]
              if c["id"] == conv["id"]]
    assert listed[0]["peer"]["display_name"] == "Bea Ortiz"


def test_disabling_forgets_the_users_devices(srv, admin):
    """Someone who left gets no more pushes: their devices go with their sessions."""
    u = srv.create_user()
    expect(api(srv, "POST", "/v1/devices", u, {"platform": "fcm", "token": unique("fcm")}), 201)
    patch_user(srv, admin, u.id, {"disabled": True})
    patch_user(srv, admin, u.id, {"disabled": False})
    token = srv.login(u.username, u.password)
    assert expect(api(srv, "GET", "/v1/devices", token), 200)["devices"] == []
