"""Request limits and timeouts: 408, 413, 414, 431, idle timeout."""

import select
import time

import pytest

import httpraw
from conftest import T

MAX_URL = 1024
MAX_HEADER_COUNT = 20
MAX_HEADER_SIZE = 4096
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(
        "--max-url-length", "1k", "--max-header-count", str(MAX_HEADER_COUNT),
        "--max-header-size", "4k", "--max-body-size", "64k",
        "--header-timeout", "1s", "--idle-timeout", "2s")


@pytest.fixture(scope="module")
def default_srv(module_server_factory):
    return module_server_factory()


def send_and_read(port, data, method="GET"):
    with httpraw.RawHTTP(port, timeout=T(10)) as c:
        c.send(data)
        r = c.read_response(method=method)
    return r, None


def send_until_answer(c, chunks, max_seconds):
    """Send chunks until the server answers (or closes); never blocks past the deadline."""
    deadline = time.monotonic() + max_seconds
    c.sock.setblocking(True)
    for chunk in chunks:
        if time.monotonic() > deadline:
            break
        if c.readable_within(0):
            return True
        view = memoryview(chunk)
        while view:
            _, w, _ = select.select([], [c.sock], [], max(0.0, deadline - time.monotonic()))
            if c.readable_within(0):
                return True
            if not w:
                return False
            try:
                n = c.sock.send(view)
            except (BrokenPipeError, ConnectionResetError):
                return True
            view = view[n:]
    return True


# -- URL length -------------------------------------------------------------------------

def test_url_under_limit_is_served(srv):
    r, _ = send_and_read(srv.port, httpraw.request_bytes("GET", "/healthz?" + "a" * (MAX_URL // 2)))
    assert r.status == 200


def test_url_too_long_is_414(srv):
    r, closed = send_and_read(srv.port, httpraw.request_bytes("GET", "/healthz?" + "a" * (MAX_URL * 2)))
    assert r.status == 414
    assert r.json()["error"]["code"] == "uri_too_long"


def test_default_url_limit_is_8k(default_srv):
    ok, _ = send_and_read(default_srv.port, httpraw.request_bytes("GET", "/healthz?" + "a" * 4000))
    assert ok.status == 200
    big, _ = send_and_read(default_srv.port, httpraw.request_bytes("GET", "/healthz?" + "a" * 9000))
    assert big.status == 414


# -- headers ----------------------------------------------------------------------------

def test_header_count_under_limit_is_served(srv):
    hdrs = [("X-H%d" % i, "v") for i in range(MAX_HEADER_COUNT // 2)]
    r, _ = send_and_read(srv.port, httpraw.request_bytes("GET", "/healthz", hdrs))
    assert r.status == 200


def test_too_many_headers_is_431(srv):
    hdrs = [("X-H%d" % i, "v") for i in range(MAX_HEADER_COUNT * 2)]
    r, _ = send_and_read(srv.port, httpraw.request_bytes("GET", "/healthz", hdrs))
    assert r.status == 431
    assert r.json()["error"]["code"] == "headers_too_large"


def test_header_too_large_is_431(srv):
    r, _ = send_and_read(srv.port, httpraw.request_bytes(
        "GET", "/healthz", [("X-Big", "b" * (MAX_HEADER_SIZE * 2))]))
    assert r.status == 431
    assert r.json()["error"]["code"] == "headers_too_large"


def test_headers_total_size_too_large_is_431(srv):
    # Each header is small, the count is within the limit, the total is not.
    hdrs = [("X-H%d" % i, "c" * 400) for i in range(MAX_HEADER_COUNT - 5)]
    r, _ = send_and_read(srv.port, httpraw.request_bytes("GET", "/healthz", hdrs))
    assert r.status == 431


def test_default_header_count_limit_is_64(default_srv):
    ok, _ = send_and_read(default_srv.port, httpraw.request_bytes(
        "GET", "/healthz", [("X-H%d" % i, "v") for i in range(40)]))
    assert ok.status == 200
    big, _ = send_and_read(default_srv.port, httpraw.request_bytes(
        "GET", "/healthz", [("X-H%d" % i, "v") for i in range(100)]))
    assert big.status == 431


# -- body -------------------------------------------------------------------------------

def test_body_under_limit_is_read(srv):
    # A body close to (but under) the limit reaches the JSON layer: 400, not 413.
    # Unterminated JSON object, so the answer proves the body was read and parsed.
    body = b'{"username": "x", "password": "' + b"p" * (MAX_BODY - 200) + b'"'
    r, _ = send_and_read(srv.port, httpraw.request_bytes(
        "POST", "/v1/auth/login", [("Content-Type", "application/json")], body))
    assert r.status == 400, r
    assert r.json()["error"]["code"] == "bad_request"


def test_content_length_too_large_is_413_without_sending_body(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("POST", "/v1/auth/login",
                                     [("Content-Type", "application/json"),
                                      ("Content-Length", str(MAX_BODY * 4))]))
        r = c.read_response(timeout=T(5))
        assert r.status == 413
        assert r.json()["error"]["code"] == "payload_too_large"


def test_content_length_too_large_with_body_is_413(srv):
    body = b"x" * (MAX_BODY * 2)
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("POST", "/v1/auth/register",
                                     [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))]))
        send_until_answer(c, [body[i:i + 8192] for i in range(0, len(body), 8192)], T(10))
        r = c.read_response(timeout=T(5))
        assert r.status == 413


def test_chunked_body_too_large_is_413(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("POST", "/v1/auth/login",
                                     [("Content-Type", "application/json"),
                                      ("Transfer-Encoding", "chunked")]))
        piece = b"2000\r\n" + b"y" * 0x2000 + b"\r\n"
        n = (MAX_BODY * 3) // 0x2000
        send_until_answer(c, [piece] * n + [b"0\r\n\r\n"], T(10))
        r = c.read_response(timeout=T(5))
        assert r.status == 413
        assert r.json()["error"]["code"] == "payload_too_large"


# -- timeouts ---------------------------------------------------------------------------

def test_partial_request_head_gets_408_then_close(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        t0 = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        r = c.read_response(timeout=T(6))
        elapsed = time.monotonic() - t0
        assert r.status == 408
        assert r.json()["error"]["code"] == "request_timeout"
        assert c.wait_closed(T(3))
    assert 0.5 <= elapsed <= T(5), elapsed


def test_slowloris_trickle_still_times_out(srv):
    # Sending one byte at a time must not reset the head timer.
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        t0 = time.monotonic()
        for b in head:
            if time.monotonic() - t0 > T(6):
                break
            try:
                c.send(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if c.readable_within(0.1):
                break
        got = c.read_response(timeout=T(6))
        assert time.monotonic() - t0 <= T(7)
    assert got.status == 408


def test_idle_keep_alive_connection_is_closed(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("GET", "/healthz"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.wait_closed(T(8)), "idle connection still open"
        assert time.monotonic() - t0 >= 1.0


def test_server_still_healthy_after_limit_errors(srv):
    assert httpraw.one_request(srv.port, "GET", "/healthz").status == 200
