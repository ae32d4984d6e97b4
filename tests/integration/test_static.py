"""Static files from web_root: types, validators, caching, traversal."""

import os
import time

import pytest

import httpraw
from conftest import T

SECRET = b"TOP-SECRET-OUTSIDE-WEB-ROOT"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


def get(srv, path, headers=None, method="GET"):
    return httpraw.one_request(srv.port, method, path, headers, timeout=T(10))


@pytest.mark.parametrize("path,file,ctype,cache", [
    ("/", "index.html", "text/html", "no-cache"),
    ("/index.html", "index.html", "text/html", "no-cache"),
    ("/app.js", "app.js", ("application/javascript", "text/javascript"), "public, max-age=3600"),
    ("/assets/x.css", "assets/x.css", "text/css", "public, max-age=31536000, immutable"),
    ("/data.json", "data.json", "application/json", "public, max-age=3600"),
    ("/logo.svg", "logo.svg", "image/svg+xml", "public, max-age=3600"),
    ("/img.png", "img.png", "image/png", "public, max-age=3600"),
])
def test_static_file_headers_and_body(srv, path, file, ctype, cache):
    r = get(srv, path)
    assert r.status == 200, r
    assert r.body == srv.web_files[file]
    got_type = r.header("content-type", "").split(";")[0].strip().lower()
    assert got_type in (ctype if isinstance(ctype, tuple) else (ctype,)), r.header("content-type")
    assert r.header("cache-control") == cache
    assert r.header("etag"), r
    assert r.header("last-modified"), r
    assert r.header("x-content-type-options") == "nosniff"
    assert r.header("referrer-policy") == "no-referrer"
    csp = r.header("content-security-policy", "")
    for rule in ("default-src 'self'", "script-src 'self'", "object-src 'none'",
                 "frame-ancestors 'none'", "base-uri 'none'"):
        assert rule in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert int(r.header("content-length")) == len(srv.web_files[file])


def test_last_modified_is_http_date(srv):
    from email.utils import parsedate_to_datetime

    r = get(srv, "/app.js")
    lm = parsedate_to_datetime(r.header("last-modified"))
    mtime = os.stat(srv.web_root / "app.js").st_mtime
    assert abs(lm.timestamp() - mtime) < 2
    assert r.header("last-modified").endswith("GMT")


def test_if_none_match_gives_304(srv):
    r = get(srv, "/assets/x.css")
    etag = r.header("etag")
    r304 = get(srv, "/assets/x.css", [("If-None-Match", etag)])
    assert r304.status == 304, r304
    assert r304.body == b""
    assert r304.header("etag") == etag
    # A list containing the tag also matches; a different tag does not.
    assert get(srv, "/assets/x.css", [("If-None-Match", '"nope", ' + etag)]).status == 304
    r200 = get(srv, "/assets/x.css", [("If-None-Match", '"something-else"')])
    assert r200.status == 200 and r200.body == srv.web_files["assets/x.css"]


def test_304_on_keepalive_connection_has_no_body(srv):
    etag = get(srv, "/").header("etag")
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("GET", "/", [("If-None-Match", etag)])
               + httpraw.request_bytes("GET", "/healthz"))
        assert c.read_response().status == 304
        assert c.read_response().status == 200


def test_etag_changes_when_file_changes(srv):
    path = srv.web_root / "changing.txt"
    path.write_bytes(b"version one\n")
    r1 = get(srv, "/changing.txt")
    assert r1.status == 200 and r1.body == b"version one\n"
    # Different size and a later mtime.
    path.write_bytes(b"version two, longer\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    r2 = get(srv, "/changing.txt")
    assert r2.status == 200 and r2.body == b"version two, longer\n"
    assert r2.header("etag") != r1.header("etag")
    assert get(srv, "/changing.txt", [("If-None-Match", r1.header("etag"))]).status == 200


def test_head_static_file(srv):
    r = get(srv, "/app.js", method="HEAD")
    assert r.status == 200
    assert r.body == b""
    assert int(r.header("content-length")) == len(srv.web_files["app.js"])
    assert r.header("etag")


def test_missing_file_is_404(srv):
    for path in ("/missing.html", "/assets/missing.css", "/nope/deeper/file.js"):
        r = get(srv, path)
        assert r.status == 404, (path, r)


@pytest.mark.parametrize("path", [
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/assets/../../secret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/assets/..%2f..%2fsecret.txt",
    "/..\\secret.txt",
    "/%2e%2e%5csecret.txt",
    "/assets/../app.js",
    "/./../secret.txt",
    "/app.js%00",
    "/app.js%00.png",
    "/%00",
    "/index.html%00/../../secret.txt",
    "/" + "../" * 20 + "etc/passwd",
    "/%252e%252e/secret.txt",
])
def test_traversal_is_404(srv, path):
    r = get(srv, path)
    # A literal backslash may already be refused by the request parser.
    assert r.status == 404 or ("\\" in path and r.status == 400), (path, r)
    assert SECRET not in r.body
    assert b"root:" not in r.body


def test_absolute_form_and_weird_targets_do_not_escape(srv):
    for target in ("//etc/passwd", "/./secret.txt", "/assets//../../secret.txt"):
        r = get(srv, target)
        assert r.status in (400, 404), (target, r)
        assert SECRET not in r.body and b"root:" not in r.body


def test_static_not_served_for_post(srv):
    r = get(srv, "/app.js", method="POST")
    assert r.status in (404, 405), r
    assert r.body != srv.web_files["app.js"]


def test_query_string_is_ignored_for_static(srv):
    r = get(srv, "/app.js?v=123")
    assert r.status == 200 and r.body == srv.web_files["app.js"]


def test_percent_encoded_name_is_decoded(srv):
    (srv.web_root / "with space.txt").write_bytes(b"spaced\n")
    r = get(srv, "/with%20space.txt")
    assert r.status == 200 and r.body == b"spaced\n"
