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


def test_slow_download_that_keeps_moving_is_not_cut(srv):
    size = 16 * 1024 * 1024
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(10))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    try:
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        t0 = time.monotonic()
        # ~5 MB/s: the download takes ~3 s, three times idle_timeout, but never stalls.
        while time.monotonic() - t0 < T(30):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += len(chunk)
            if got >= size:
                break
            time.sleep(0.012)
        assert got >= size, got
        assert time.monotonic() - t0 > 1.5  # really slower than idle_timeout
    finally:
        sock.close()


def test_half_closed_client_still_gets_its_answer(srv):
    token = srv.new_user().token
    for path, auth in (("/v1/me", True), ("/app.js", False), ("/healthz", False)):
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(10))
        try:
            req = "GET %s HTTP/1.1\r\nHost: x\r\n" % path
            if auth:
                req += "Authorization: Bearer %s\r\n" % token
            sock.sendall((req + "\r\n").encode())
            sock.shutdown(socket.SHUT_WR)
            data = b""
            deadline = time.monotonic() + T(10)
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 "), (path, data[:200])
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            assert len(body) == length, (path, len(body), length)
        finally:
            sock.close()


def test_refused_upload_gets_a_lingering_close(srv):
    # The server refuses from the head while the client is still sending its body.
    # RFC 9112 §9.6: close the sending side first and go on reading (and dropping)
    # for a while, so the client's data is not answered with RST, which on many
    # stacks destroys the unread 413 in the client's receive buffer.
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(10))
    try:
        sock.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break  # FIN: the answer is complete
            data += chunk
        assert data.startswith(b"HTTP/1.1 413 "), data[:100]
        # The server still takes (and drops) what the client had in flight.
        for _ in range(16):
            sock.sendall(b"x" * 65536)
            time.sleep(0.01)
    finally:
        sock.close()


def test_lingering_close_ends_by_itself(srv):
    before = open_connections(srv)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(10))
    try:
        sock.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")
        # Never close: the server gives up lingering after about two seconds.
        poll_until(lambda: open_connections(srv) <= before, T(8), what="lingering ended")
    finally:
        sock.close()
