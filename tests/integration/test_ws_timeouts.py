"""WebSocket timers and back-pressure: auth timeout, server pings, dead peers, slow readers."""

import json
import select
import time

import pytest

import wsraw
from conftest import T, metric_sum
from wsraw import OP_PING, OP_TEXT, WSConn

TIMER_FLAGS = ("--registration", "open", "--ws-auth-timeout", "1s",
               "--ws-ping-interval", "1s", "--ws-pong-timeout", "1s")


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(*TIMER_FLAGS)


@pytest.fixture(scope="module")
def user(srv):
    return srv.register()


def test_no_auth_within_timeout_closes_1008(srv):
    with WSConn(srv.port, timeout=T(10)) as c:
        t0 = time.monotonic()
        closed = c.expect_close(T(8))
        elapsed = time.monotonic() - t0
    assert closed.code == 1008, closed
    assert 0.5 <= elapsed <= T(5), elapsed


def test_bad_token_then_auth_timeout_closes_1008(srv):
    with WSConn(srv.port, timeout=T(10)) as c:
        t0 = time.monotonic()
        assert c.auth("not-a-token")["error"]["code"] == "unauthorized"
        closed = c.expect_close(T(8))
        elapsed = time.monotonic() - t0
    assert closed.code == 1008, closed
    assert elapsed <= T(5), elapsed


def test_authenticated_client_answering_pings_stays_connected(srv, user):
    with WSConn(srv.port, timeout=T(10)) as c:
        assert "ok" in c.auth(user.token)
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            try:
                c.recv_message(timeout=max(0.05, deadline - time.monotonic()), auto_pong=True)
            except TimeoutError:
                break
        assert len(c.pings_seen) >= 2, c.pings_seen
        ans = c.request("ping")
        assert ans.get("ok") == {}, ans


def test_client_that_never_answers_pings_is_dropped(srv, user):
    with WSConn(srv.port, timeout=T(10)) as c:
        assert "ok" in c.auth(user.token)
        t0 = time.monotonic()
        # Read (so we see the pings) but never send anything again.
        closed = c.expect_close(T(10), auto_pong=False)
        elapsed = time.monotonic() - t0
    assert c.pings_seen, "no server ping before the drop"
    # Dropped without a close code (docs/protocol.md, Close codes).
    assert closed.eof and closed.code is None, closed
    assert 1.0 <= elapsed <= T(6), elapsed


def test_client_that_never_reads_nor_sends_is_dropped(server_factory):
    s = server_factory(*TIMER_FLAGS)
    u = s.register()
    c = WSConn(s.port, timeout=T(10))
    try:
        assert "ok" in c.auth(u.token)
        with_ws = metric_sum(s.metrics(), "pipit_connections")
        t0 = time.monotonic()
        # Only /metrics is polled; the WebSocket is never read from or written to.
        s_val = None
        deadline = time.monotonic() + T(10)
        while time.monotonic() < deadline:
            s_val = metric_sum(s.metrics(), "pipit_connections")
            if s_val <= with_ws - 1:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        assert s_val is not None and s_val <= with_ws - 1, (with_ws, s_val)
        assert elapsed >= 1.0, elapsed
        # What is left in the socket: at most pings (and maybe a close), then EOF.
        closed = c.expect_close(T(5), auto_pong=False)
        assert closed.eof and closed.code is None, closed
    finally:
        c.close()


def flood_until_dropped(sock, batch, limit):
    """Sends batch over and over without reading, until the server drops the
    connection, `limit` bytes or 30 s (scaled). Returns (dropped, bytes sent)."""
    sock.setblocking(False)
    sent = 0
    pending = b""
    deadline = time.monotonic() + T(30)
    while time.monotonic() < deadline and sent < limit:
        if not pending:
            pending = batch
        _, w, _ = select.select([], [sock], [], 0.5)
        if not w:
            continue
        try:
            n = sock.send(pending)
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return True, sent
        pending = pending[n:]
        sent += n
    return False, sent


def test_slow_reader_is_dropped_and_server_stays_healthy(server_factory):
    s = server_factory("--registration", "open", "--ws-send-queue-max", "64k")
    u = s.register()
    c = WSConn(s.port, timeout=T(10), rcvbuf=4096)
    try:
        assert "ok" in c.auth(u.token)
        # Each ping echoes a 120-byte id; pings go out in batches while we never read.
        # Kernel buffers take a few MB before the server's own queue starts to grow.
        frame = wsraw.build_frame(OP_TEXT, json.dumps({"id": "i" * 120, "op": "ping"}))
        dropped, sent = flood_until_dropped(c.sock, frame * 256, 100 << 20)
        assert dropped, "server still accepting after %d bytes sent without reading" % sent
        # The server is healthy and serves new WebSockets.
        assert s.get("/healthz").json() == {"status": "ok"}
        with WSConn(s.port, timeout=T(10)) as d:
            assert "ok" in d.auth(u.token)
            assert d.request("ping").get("ok") == {}
    finally:
        c.close()


def test_ping_frame_from_server_is_a_real_ping(srv, user):
    with WSConn(srv.port, timeout=T(10)) as c:
        assert "ok" in c.auth(user.token)
        f = c.recv_frame(T(5))
        assert f.opcode == OP_PING and f.fin and len(f.payload) <= 125, f
        c.send_pong(f.payload)
        assert c.request("ping").get("ok") == {}


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_ping_flood_without_reading_is_dropped_even_before_auth(server_factory):
    # Every ping is answered by a pong; a client that never reads them must not be
    # able to park them in the server's memory.
    s = server_factory("--ws-send-queue-max", "64k")
    rss_before = _rss_kib(s.proc.pid)
    c = WSConn(s.port, timeout=T(10), rcvbuf=4096)
    try:
        batch = wsraw.build_frame(wsraw.OP_PING, b"p" * 125) * 512
        dropped, sent = flood_until_dropped(c.sock, batch, 200 << 20)
        assert dropped, "still accepting pings after %d bytes without reading" % sent
        assert _rss_kib(s.proc.pid) - rss_before < 64 * 1024, "server memory grew"
        assert s.get("/healthz").json() == {"status": "ok"}
    finally:
        c.close()
