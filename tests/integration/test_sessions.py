"""A user's own sessions (list, revoke one, revoke all others), password change,
and idle expiry: what ends a session ends its WebSockets at once."""

import time

import pytest

from conftest import T, error_code, poll_until
from wsraw import WSConn


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


def login(srv, user, device=None, agent=None):
    body = {"username": user.username, "password": user.password}
    if device is not None:
        body["device"] = device
    headers = {"User-Agent": agent} if agent is not None else None
    r = srv.post("/v1/auth/login", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def sessions(srv, token):
    r = srv.get("/v1/me/sessions", token=token)
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


def test_list_shows_device_address_and_which_is_this_one(srv):
    user = srv.create_user()  # its first session: python-requests' User-Agent
    phone = login(srv, user, device="Ana's phone 📱")
    laptop = login(srv, user, agent="Mozilla/5.0 (X11; Linux) caf\xe9")
    t0 = int(time.time() * 1000)
    listed = sessions(srv, phone)
    assert len(listed) == 3
    by_device = {s["device"]: s for s in listed}
    assert "Ana's phone 📱" in by_device
    assert "Mozilla/5.0 (X11; Linux) caf?" in by_device  # printable ASCII of the agent
    assert any(d.startswith("python-requests") for d in by_device), by_device
    for s in listed:
        assert s["ip"] == "127.0.0.1"
        assert s["created_at"] <= s["last_seen_at"] <= t0 + 5000
        assert s["expires_at"] > s["created_at"]
        assert s["online"] is False
        assert s["current"] is (s["device"] == "Ana's phone 📱")
    assert [s["id"] for s in listed] == sorted(s["id"] for s in listed)
    # The other session sees itself as current.
    assert [s["current"] for s in sessions(srv, laptop)].count(True) == 1


def test_long_device_names_are_cut(srv):
    user = srv.create_user()
    r = srv.post("/v1/auth/login", json={"username": user.username, "password": user.password,
                                         "device": "x" * 201})
    assert r.status_code == 400 and "device" in r.json()["error"]["message"]
    token = login(srv, user, agent="A" * 5000)
    assert max(len(s["device"]) for s in sessions(srv, token)) == 200


def test_online_sessions_are_marked(srv):
    user = srv.create_user()
    other = login(srv, user)
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(other)
        listed = {s["current"]: s for s in sessions(srv, user.token)}
        assert listed[False]["online"] is True and listed[True]["online"] is False


def test_revoke_one_session_closes_its_websocket(srv):
    user = srv.create_user()
    other = login(srv, user, device="other")
    with WSConn(srv.port, timeout=T(10)) as ws, WSConn(srv.port, timeout=T(10)) as mine:
        assert "ok" in ws.auth(other)
        assert "ok" in mine.auth(user.token)
        sid = next(s["id"] for s in sessions(srv, user.token) if s["device"] == "other")
        r = srv.request("DELETE", "/v1/me/sessions/%d" % sid, token=user.token)
        assert r.status_code == 204, r.text
        assert ws.expect_close(T(5)).code == 1008
        assert mine.request("ping", timeout=T(5)).get("ok") is not None
    assert srv.get("/v1/me", token=other).status_code == 401
    assert srv.get("/v1/me", token=user.token).status_code == 200
    r = srv.request("DELETE", "/v1/me/sessions/%d" % sid, token=user.token)
    assert r.status_code == 404 and error_code(r) == "not_found"


def test_cannot_revoke_someone_elses_session(srv):
    alice, bob = srv.create_user(), srv.create_user()
    bob_sid = sessions(srv, bob.token)[0]["id"]
    for path in ["/v1/me/sessions/%d" % bob_sid, "/v1/me/sessions/0", "/v1/me/sessions/x",
                 "/v1/me/sessions/99999999999999999999"]:
        r = srv.request("DELETE", path, token=alice.token)
        assert r.status_code == 404, (path, r.status_code)
    assert srv.get("/v1/me", token=bob.token).status_code == 200


def test_revoking_the_current_session_is_a_logout(srv):
    user = srv.create_user()
    sid = sessions(srv, user.token)[0]["id"]
    assert srv.request("DELETE", "/v1/me/sessions/%d" % sid, token=user.token).status_code == 204
    assert srv.get("/v1/me", token=user.token).status_code == 401


def test_revoke_all_others_keeps_this_one(srv):
    user = srv.create_user()
    others = [login(srv, user) for _ in range(3)]
    with WSConn(srv.port, timeout=T(10)) as ws, WSConn(srv.port, timeout=T(10)) as mine:
        assert "ok" in ws.auth(others[0])
        assert "ok" in mine.auth(user.token)
        r = srv.request("DELETE", "/v1/me/sessions", token=user.token)
        assert r.status_code == 204, r.text
        assert ws.expect_close(T(5)).code == 1008
        assert mine.request("ping", timeout=T(5)).get("ok") is not None
    for t in others:
        assert srv.get("/v1/me", token=t).status_code == 401
    listed = sessions(srv, user.token)
    assert len(listed) == 1 and listed[0]["current"] is True
    audit = srv.get("/v1/admin/audit?action=session.revoke_others",
                    token=srv.admin_token()).json()["records"]
    assert any(e["target"] == "user:%d" % user.id for e in audit), audit


def test_api_keys_have_no_sessions(srv):
    r = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                 json={"name": "k", "scopes": ["admin"]})
    key = r.json()["key"]
    for method, path in [("GET", "/v1/me/sessions"), ("DELETE", "/v1/me/sessions"),
                         ("POST", "/v1/me/password"), ("GET", "/v1/me/mfa")]:
        r = srv.request(method, path, token=key, json={} if method == "POST" else None)
        assert r.status_code == 403, (path, r.status_code)


def test_admin_sees_devices_and_addresses(srv):
    user = srv.create_user()
    login(srv, user, device="tablet")
    r = srv.get("/v1/admin/users/%d/sessions" % user.id, token=srv.admin_token())
    assert r.status_code == 200
    listed = r.json()["sessions"]
    assert {s["device"] for s in listed} >= {"tablet"}
    assert all(s["ip"] == "127.0.0.1" and "last_seen_at" in s for s in listed)
    assert all(s["current"] is False for s in listed)  # none is the admin's own


# -- password change ----------------------------------------------------------------------

def test_password_change_ends_every_session_and_hands_out_a_new_one(srv):
    user = srv.create_user()
    other = login(srv, user)
    with WSConn(srv.port, timeout=T(10)) as ws_other, WSConn(srv.port, timeout=T(10)) as ws_mine:
        assert "ok" in ws_other.auth(other)
        assert "ok" in ws_mine.auth(user.token)
        r = srv.post("/v1/me/password", token=user.token,
                     json={"password": user.password, "new_password": "a-new-long-password"})
        assert r.status_code == 200, r.text
        new = r.json()["token"]
        assert r.json()["user"]["id"] == user.id
        # Every session ends, the caller's own too: its socket was on the old token.
        assert ws_other.expect_close(T(5)).code == 1008
        assert ws_mine.expect_close(T(5)).code == 1008
    for t in (other, user.token):
        assert srv.get("/v1/me", token=t).status_code == 401
    assert srv.get("/v1/me", token=new).status_code == 200
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(new)
    assert srv.post("/v1/auth/login", json={"username": user.username,
                                            "password": user.password}).status_code == 401
    user.password = "a-new-long-password"
    login(srv, user)


@pytest.mark.parametrize("body,status,code", [
    ({}, 400, "bad_request"),
    ({"password": "x"}, 400, "bad_request"),
    ({"password": "wrong-password", "new_password": "long-enough-1"}, 403, "wrong_password"),
    ({"password": None, "new_password": "long-enough-1"}, 400, "bad_request"),
    ({"password": 12345678, "new_password": "long-enough-1"}, 400, "bad_request"),
])
def test_password_change_refusals(srv, body, status, code):
    user = srv.create_user()
    r = srv.post("/v1/me/password", token=user.token, json=body)
    assert (r.status_code, error_code(r)) == (status, code)
    assert srv.get("/v1/me", token=user.token).status_code == 200


def test_password_change_checks_the_new_one(srv):
    user = srv.create_user()
    r = srv.post("/v1/me/password", token=user.token,
                 json={"password": user.password, "new_password": "short"})
    assert r.status_code == 400 and error_code(r) == "weak_password"
    assert login(srv, user)


def test_wrong_current_passwords_are_throttled(server_factory):
    srv = server_factory("--login-free-attempts", "2")
    user = srv.create_user()
    answers = [srv.post("/v1/me/password", token=user.token,
                        json={"password": "wrong-one-%d" % i,
                              "new_password": "long-enough-1"}).status_code
               for i in range(5)]
    assert answers[:2] == [403, 403] and 429 in answers[2:], answers
    # The session itself is not ended by the guesses.
    assert srv.get("/v1/me", token=user.token).status_code == 200


# -- idle expiry --------------------------------------------------------------------------

def test_idle_sessions_end_but_used_ones_do_not(server_factory):
    srv = server_factory("--token-idle-ttl", "2s")
    user = srv.create_user()
    idle = login(srv, user)
    # Used every half second for 3 s (past the idle time): it stays.
    for _ in range(6):
        time.sleep(0.5)
        assert srv.get("/v1/me", token=user.token).status_code == 200
    time.sleep(2.5)
    r = srv.get("/v1/me", token=idle)
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert ws.auth(idle)["error"]["code"] == "unauthorized"
    # Gone from the list too (both are idle by now; a new session lists itself only).
    assert [s["current"] for s in sessions(srv, login(srv, user))] == [True]


def test_an_open_websocket_keeps_its_session_alive(server_factory):
    srv = server_factory("--token-idle-ttl", "2s")
    user = srv.create_user()
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(user.token)
        time.sleep(3)
        assert srv.get("/v1/me", token=user.token).status_code == 200
        assert ws.request("ping", timeout=T(5)).get("ok") is not None
    # Idle from when the socket closed.
    time.sleep(1)
    assert srv.get("/v1/me", token=user.token).status_code == 200
    time.sleep(2.5)
    assert srv.get("/v1/me", token=user.token).status_code == 401


def test_idle_expiry_can_be_off(server_factory):
    srv = server_factory("--token-idle-ttl", "0")
    user = srv.create_user()
    time.sleep(1.2)
    assert srv.get("/v1/me", token=user.token).status_code == 200
