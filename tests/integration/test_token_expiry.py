"""Token lifetime: an expired token stops working on REST and closes its WebSockets."""

import time

import pytest

from conftest import T, error_code
from wsraw import WSConn


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open", "--token-ttl", "2s")


def test_expired_token_is_refused_by_rest(srv):
    user = srv.register()
    assert srv.get("/v1/me", token=user.token).status_code == 200
    time.sleep(2.3)
    r = srv.get("/v1/me", token=user.token)
    assert r.status_code == 401
    assert error_code(r) == "unauthorized"


def test_expired_token_is_refused_by_ws_auth(srv):
    user = srv.register()
    time.sleep(2.3)
    with WSConn(srv.port, timeout=T(10)) as c:
        assert c.auth(user.token)["error"]["code"] == "unauthorized"


def test_websocket_closes_1008_when_its_token_expires(srv):
    user = srv.register()
    with WSConn(srv.port, timeout=T(10)) as c:
        t0 = time.monotonic()
        assert "ok" in c.auth(user.token)
        closed = c.expect_close(T(6))
        elapsed = time.monotonic() - t0
    assert closed.code == 1008, closed
    assert elapsed <= T(4), elapsed


def test_token_ttl_below_one_second_is_refused(tmp_path):
    from conftest import run_pipitd
    r = run_pipitd(["--test-config", "--token-ttl", "500ms"])
    assert r.returncode == 1
    assert b"token_ttl" in (r.stderr + r.stdout)
