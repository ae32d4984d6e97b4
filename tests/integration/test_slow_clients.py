"""Clients that stop reading cannot hold a connection: the answer waits at most idle_timeout."""

import socket
import time

import pytest

from conftest import T, metric_sum, poll_until


@pytest.fixture(scope="module")
def srv(module_server_factory):
    s = module_server_factory("--idle-timeout", "1s")
    # Far more than the socket buffers hold, so the answer stays queued in pipitd.
    (s.web_root / "big.bin").write_bytes(b"x" * (16 * 1024 * 1024))
    return s


def open_connections(srv):
    return metric_sum(srv.metrics(), "pipit_connections")


def test_peer_that_never_reads_its_last_answer_is_dropped(srv):
    before = open_connections(srv)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(10))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        poll_until(lambda: open_connections(srv) >= before + 1, T(5), what="connection counted")
        t0 = time.monotonic()
        # Never read: pipitd must give up on its own after about idle_timeout.
        poll_until(lambda: open_connections(srv) <= before, T(10), what="connection dropped")
        assert time.monotonic() - t0 <= T(6)
    finally:
        sock.close()


def test_server_still_serves_after_dropping(srv):
    r = srv.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
