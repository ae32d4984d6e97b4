"""HTTP/1.1 basics: health, metrics, routing errors, keep-alive, pipelining, chunked, HEAD."""

import json
import re

import pytest

import httpraw
import wsraw
from conftest import PASSWORD, T, error_code, metric_sum, parse_metrics, poll_until, unique


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


def test_ready_line_printed_exactly_once(srv):
    lines = [l for l in srv.lines if "pipitd listening on" in l]
    assert len(lines) == 1, lines
    assert "127.0.0.1:%d" % srv.port in lines[0]


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR) ")
CONN_LOG_LINE = re.compile(LOG_LINE.pattern + r"w\d+ c\d+ 127\.0\.0\.1:\d+ \S")


def test_log_lines_have_timestamp_level_worker_connection_and_peer(srv):
    assert srv.get("/healthz").status_code == 200
    # The reader thread may lag behind the server under load: wait for the line.
    poll_until(lambda: any(CONN_LOG_LINE.match(l) for l in srv.lines), T(5),
               what="a log line with worker, connection and peer")
    lines = [l for l in srv.lines if l.strip()]
    bad = [l for l in lines if not LOG_LINE.match(l)]
    assert not bad, bad[:5]


def test_workers_zero_means_one_per_core(server_factory):
    s = server_factory("--workers", "0")
    for _ in range(4):
        assert httpraw.one_request(s.port, "GET", "/healthz", [("Connection", "close")]).status == 200


def test_healthz_returns_status_ok(srv):
    r = srv.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_healthz_served_by_both_workers_over_many_connections(srv):
    # Each worker owns a SO_REUSEPORT listener; 20 fresh connections land on both
    # (all on one worker by chance: probability 2^-19).
    start = len(srv.lines)
    for _ in range(20):
        r = httpraw.one_request(srv.port, "GET", "/healthz", [("Connection", "close")], timeout=T(10))
        assert r.status == 200 and json.loads(r.body) == {"status": "ok"}

    def workers_seen():
        found = set()
        for line in srv.lines[start:]:
            m = re.search(r" (w\d+) c\d+ \S+ GET /healthz ", line)
            if m:
                found.add(m.group(1))
        return found if len(found) == 2 else None

    poll_until(workers_seen, T(5), what="request log lines from both workers")


def test_metrics_has_required_series_and_content_type(srv):
    srv.get("/healthz")
    r = srv.get("/metrics")
    assert r.status_code == 200
    ctype = r.headers["Content-Type"].replace(" ", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    m = parse_metrics(r.text)
    names = {k.partition("{")[0] for k in m}
    for name in ("pipit_connections", "pipit_connections_total", "pipit_http_requests_total",
                 "pipit_ws_frames_in_total", "pipit_ws_frames_out_total",
                 "pipit_store_commits_total"):
        assert name in names, (name, sorted(names))
    series = [k for k in m if k.startswith("pipit_http_requests_total{")]
    assert series and all('route="' in k and 'status="' in k for k in series), series
    assert metric_sum(m, "pipit_connections") >= 1


def test_metrics_counters_move(srv):
    before = srv.metrics()
    for _ in range(3):
        assert httpraw.one_request(srv.port, "GET", "/healthz").status == 200
    srv.post("/v1/auth/register", json={"username": unique(), "password": PASSWORD})
    with wsraw.WSConn(srv.port, timeout=T(10)) as ws:
        tok = srv.register().token
        assert "ok" in ws.auth(tok)
        assert ws.request("ping") ["ok"] == {}
    after = srv.metrics()

    def delta(name, **labels):
        return (metric_sum(after, name, **labels) or 0) - (metric_sum(before, name, **labels) or 0)

    assert delta("pipit_connections_total") >= 4
    assert delta("pipit_http_requests_total", route="healthz", status="200") >= 3
    assert delta("pipit_ws_frames_in_total") >= 2
    assert delta("pipit_ws_frames_out_total") >= 2
    assert delta("pipit_store_commits_total") >= 1


def test_unknown_api_path_is_404_not_found(srv):
    for method, path in (("GET", "/v1/nope"), ("POST", "/v1/nope"), ("POST", "/v1/auth/nope")):
        r = srv.request(method, path, json={})
        assert r.status_code == 404, (method, path, r.status_code)
        assert error_code(r) == "not_found"


@pytest.mark.parametrize("method,path,allowed", [
    ("POST", "/healthz", "GET"),
    ("DELETE", "/healthz", "GET"),
    ("POST", "/metrics", "GET"),
    ("GET", "/v1/auth/login", "POST"),
    ("GET", "/v1/auth/register", "POST"),
    ("GET", "/v1/auth/logout", "POST"),
    ("PUT", "/v1/auth/login", "POST"),
    ("DELETE", "/v1/me", "GET"),
    ("POST", "/v1/me", "GET"),
    ("PUT", "/v1/admin/users", "GET"),
])
def test_known_path_wrong_method_is_405_with_allow(srv, method, path, allowed):
    r = srv.request(method, path)
    assert r.status_code == 405, r.text
    assert error_code(r) == "method_not_allowed"
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert allowed in allow, r.headers


def test_keep_alive_serves_several_requests_on_one_socket(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        for i in range(5):
            c.send(httpraw.request_bytes("GET", "/healthz"))
            r = c.read_response()
            assert r.status == 200, (i, r)
            assert json.loads(r.body) == {"status": "ok"}
            assert "close" not in r.header("connection", "").lower()
        c.send(httpraw.request_bytes("GET", "/v1/me"))
        assert c.read_response().status == 401


def test_connection_close_header_closes_after_response(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("GET", "/healthz", [("Connection", "close")]))
        assert c.read_response().status == 200
        assert c.wait_closed(T(5))
        assert c.buf == b""


def test_pipelined_requests_answered_in_order(srv):
    body = json.dumps({"username": unique(), "password": "x"}).encode()
    reqs = (httpraw.request_bytes("GET", "/healthz")
            + httpraw.request_bytes("GET", "/v1/me")
            + httpraw.request_bytes("POST", "/v1/auth/login",
                                    [("Content-Type", "application/json")], body)
            + httpraw.request_bytes("GET", "/no-such-static-file.txt")
            + httpraw.request_bytes("POST", "/healthz"))
    with httpraw.RawHTTP(srv.port, timeout=T(15)) as c:
        c.send(reqs)  # one write
        statuses = [c.read_response().status for _ in range(5)]
        assert statuses == [200, 401, 401, 404, 405]
        # The connection is still usable afterwards.
        c.send(httpraw.request_bytes("GET", "/healthz"))
        assert c.read_response().status == 200


def test_pipelined_three_requests_in_one_write(srv):
    reqs = b"".join(httpraw.request_bytes(m, p) for m, p in
                    (("GET", "/healthz"), ("GET", "/v1/nope"), ("GET", "/v1/me")))
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(reqs)
        r1, r2, r3 = (c.read_response() for _ in range(3))
    assert (r1.status, r2.status, r3.status) == (200, 404, 401)
    assert json.loads(r1.body) == {"status": "ok"}
    assert json.loads(r2.body)["error"]["code"] == "not_found"
    assert json.loads(r3.body)["error"]["code"] == "unauthorized"


def test_chunked_request_body_is_accepted(srv):
    name = unique()
    body = json.dumps({"username": name, "password": PASSWORD}).encode()
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes(
            "POST", "/v1/auth/register",
            [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
            httpraw.chunked(body, [1, 5, 7, 3])))
        r = c.read_response()
        assert r.status == 201, r
        assert r.json()["user"]["username"] == name
        # Keep-alive still works after a chunked body.
        c.send(httpraw.request_bytes("GET", "/v1/me", [("Authorization", "Bearer " + r.json()["token"])]))
        r2 = c.read_response()
        assert r2.status == 200 and r2.json()["username"] == name


def test_chunked_body_with_trailers_is_accepted_and_trailers_ignored(srv):
    body = json.dumps({"username": unique(), "password": "wrong-password"}).encode()
    enc = httpraw.chunked(body, [6, 6])
    assert enc.endswith(b"0\r\n\r\n")
    enc = enc[:-2] + b"X-Trailer: " + b"t" * 3000 + b"\r\nAnother: 1\r\n\r\n"
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("POST", "/v1/auth/login",
                                     [("Content-Type", "application/json"),
                                      ("Transfer-Encoding", "chunked")]) + enc)
        r = c.read_response()
        assert r.status == 401 and r.json()["error"]["code"] == "invalid_credentials"
        c.send(httpraw.request_bytes("GET", "/healthz"))
        assert c.read_response().status == 200


def test_chunked_body_sent_in_separate_writes(srv):
    body = json.dumps({"username": unique(), "password": "wrong-password"}).encode()
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("POST", "/v1/auth/login",
                                     [("Content-Type", "application/json"),
                                      ("Transfer-Encoding", "chunked")]))
        enc = httpraw.chunked(body, [4, 4, 4])
        for i in range(0, len(enc), 7):
            c.send(enc[i:i + 7])
        r = c.read_response()
        assert r.status == 401 and r.json()["error"]["code"] == "invalid_credentials"


def test_head_healthz_has_headers_but_no_body(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("HEAD", "/healthz"))
        r = c.read_response(method="HEAD")
        assert r.status == 200
        assert r.body == b""
        # If the server had sent a body, the next response would not parse.
        c.send(httpraw.request_bytes("GET", "/healthz"))
        r2 = c.read_response()
        assert r2.status == 200 and json.loads(r2.body) == {"status": "ok"}
        if r.header("content-length") is not None:
            assert int(r.header("content-length")) == len(r2.body)


def test_malformed_request_line_is_400_then_close(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(b"THIS IS NOT HTTP\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert r.json()["error"]["code"] == "bad_request"
        assert c.wait_closed(T(5))


def test_malformed_header_line_is_400_then_close(srv):
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert c.wait_closed(T(5))


def test_conflicting_content_length_and_chunked_is_rejected(srv):
    # Request smuggling guard: both framings at once must not be accepted silently.
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert c.wait_closed(T(5))


def test_server_survives_garbage_and_still_serves(srv):
    for junk in (b"\x00\xff\xfe\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
        with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
            c.send(junk)
            try:
                r = c.read_response()
                assert r.status >= 400, (junk, r)
            except EOFError:
                pass
    assert srv.get("/healthz").status_code == 200
