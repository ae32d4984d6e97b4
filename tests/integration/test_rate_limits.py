"""Rate and connection limits: per user (requests, messages) and per address
(requests before sign-in, open connections, WebSockets not yet authenticated).
Each refusal is a clear error (429 with Retry-After, or `rate_limited` with
retry_after_ms) and a metric; limits on one client leave others alone."""

import socket
import time

import pytest
import requests

from conftest import PIPITD, T, error_code, metric_sum, poll_until, run_binary, unique
from wsraw import WSConn


def limited(srv, name):
    return metric_sum(srv.metrics(), "pipit_rate_limited_total", limit=name)


def make_direct(srv, a, b):
    r = srv.post("/v1/conversations", token=a.token, json={"type": "direct", "peer": b.id})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def test_messages_per_user(server_factory):
    srv = server_factory("--user-message-rate", "2", "--user-message-burst", "3")
    alice, bob = srv.create_user(), srv.create_user()
    conv = make_direct(srv, alice, bob)
    path = "/v1/conversations/%d/messages" % conv
    body = lambda cmid: {"cmid": cmid, "body": {"type": "text", "text": cmid}}
    for i in range(3):
        assert srv.post(path, token=alice.token, json=body("m%d" % i)).status_code == 201
    r = srv.post(path, token=alice.token, json=body("over"))
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    # Over WebSocket too, and the same bucket.
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(alice.token)
        a = ws.request("send", conv=conv, cmid="ws-over", body={"type": "text", "text": "x"})
        assert a["error"]["code"] == "rate_limited", a
    # Bob is not held back by Alice.
    assert srv.post(path, token=bob.token, json=body("bob")).status_code == 201
    assert limited(srv, "user_messages") >= 2
    # Nothing refused was stored; a refused cmid goes through later, once.
    time.sleep(0.6)
    assert srv.post(path, token=alice.token, json=body("over")).status_code == 201
    texts = [e["body"]["text"] for e in srv.get(path, token=alice.token).json()["events"]
             if e.get("body")]
    assert texts.count("over") == 1 and "ws-over" not in texts, texts
    # Reading is not sending: history and read receipts go on.
    assert srv.get(path, token=alice.token).status_code == 200


def test_requests_per_user(server_factory):
    srv = server_factory("--user-request-rate", "5", "--user-request-burst", "5")
    user, other = srv.create_user(), srv.create_user()
    answers = [srv.get("/v1/me", token=user.token).status_code for _ in range(5)]
    assert answers == [200] * 5
    r = srv.get("/v1/me", token=user.token)
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    assert srv.get("/v1/me", token=other.token).status_code == 200
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(other.token)
        answers = [ws.request("ping") for _ in range(8)]
        refused = [a for a in answers if "error" in a]
        assert refused and refused[0]["error"]["code"] == "rate_limited"
        assert refused[0]["error"]["retry_after_ms"] >= 1
        # The socket stays open: a client that slows down carries on.
        time.sleep(0.5)
        assert "ok" in ws.request("ping")
    assert limited(srv, "user_requests") >= 2


def test_api_keys_are_not_limited_per_user(server_factory):
    srv = server_factory("--user-request-rate", "1", "--user-request-burst", "1")
    r = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                 json={"name": "k", "scopes": ["admin"]})
    key = r.json()["key"]
    assert all(srv.get("/v1/admin/stats", token=key).status_code == 200 for _ in range(20))


def test_requests_per_address_before_sign_in(server_factory):
    srv = server_factory("--rate-limit-exempt", "", "--ip-request-rate", "2",
                         "--ip-request-burst", "4", "--user-request-rate", "0")
    user = srv.create_user()  # spends two: the admin's login and the user's
    assert srv.get("/healthz").status_code == 200
    assert srv.get("/healthz").status_code in (200, 429)
    time.sleep(2.1)
    answers = [srv.get("/healthz").status_code for _ in range(6)]
    assert answers[:4] == [200] * 4 and answers[4:] == [429, 429], answers
    r = srv.get("/index.html")
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    # A bad token is no way around it.
    r = srv.get("/v1/me", token="x" * 48)
    assert r.status_code == 429
    # A signed-in user is limited as a user, not by the address.
    assert all(srv.get("/v1/me", token=user.token).status_code == 200 for _ in range(10))
    # Frames of a WebSocket not yet authenticated count on the address.
    time.sleep(2.1)
    with WSConn(srv.port, timeout=T(10)) as ws:
        answers = [ws.request("ping") for _ in range(5)]
        assert any(a.get("error", {}).get("code") == "rate_limited" for a in answers), answers
    time.sleep(2.1)  # /metrics is asked from the same address
    assert limited(srv, "ip_requests") >= 4


def test_loopback_is_exempt_by_default(server_factory):
    srv = server_factory("--ip-request-rate", "1", "--ip-request-burst", "1",
                         "--ip-connections-max", "2")
    assert all(srv.get("/healthz").status_code == 200 for _ in range(20))
    socks = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(5)]
    try:
        assert srv.get("/healthz").status_code == 200
    finally:
        for s in socks:
            s.close()


def closed_at_once(sock):
    sock.settimeout(T(5))
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_open_connections_per_address(server_factory):
    srv = server_factory("--rate-limit-exempt", "", "--ip-connections-max", "4",
                         "--ip-request-rate", "0")
    srv.http.close()  # the harness's keep-alive connection would take a place
    time.sleep(0.3)
    held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(4)]
    try:
        for s in held:  # each accepted and counted before the next one comes
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(T(5))
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection(("127.0.0.1", srv.port))
        assert closed_at_once(extra)
        extra.close()
        held.pop().close()
        time.sleep(0.3)
        again = socket.create_connection(("127.0.0.1", srv.port))
        again.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        again.settimeout(T(5))
        assert again.recv(100).startswith(b"HTTP/1.1 200")
        again.close()
    finally:
        for s in held:
            s.close()

    def refusals():
        # Until the server has seen the closes, a new connection may still be over the limit.
        try:
            return limited(srv, "ip_connections")
        except requests.ConnectionError:
            return None
    assert poll_until(refusals, T(5), interval=0.2, what="/metrics") >= 1


def test_unauthenticated_websockets_per_address(server_factory):
    srv = server_factory("--rate-limit-exempt", "", "--ip-preauth-max", "2",
                         "--ip-request-rate", "0", "--ip-connections-max", "0")
    user = srv.create_user()
    a, b = WSConn(srv.port, timeout=T(10)), WSConn(srv.port, timeout=T(10))
    try:
        with WSConn(srv.port, timeout=T(10)) as c:
            closed = c.expect_close(T(5))
            assert closed.code == 1008 and "unauthenticated" in closed.reason, closed
        # One authenticates: room for another.
        assert "ok" in a.auth(user.token)
        with WSConn(srv.port, timeout=T(10)) as d:
            assert "ok" in d.auth(user.token)
    finally:
        a.close()
        b.close()
    assert limited(srv, "ip_preauth") >= 1


@pytest.mark.parametrize("value", ["10.0.0.0/33", "localhost", "::/129", "10.0.0/8"])
def test_bad_exempt_list_refuses_to_start(tmp_path, value):
    r = run_binary(PIPITD, ["--data-dir", str(tmp_path / unique("d")), "--listen", "127.0.0.1:0",
                            "--rate-limit-exempt", value], timeout=T(30))
    assert r.returncode != 0
    assert b"rate_limit_exempt" in r.stderr + r.stdout
