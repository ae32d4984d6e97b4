"""Files (issue 8): uploads and their limits, MIME sniffing, names, who may download,
Range and conditional requests, thumbnails, location stripping, deduplication and the
sweep of files no message refers to.

Contract: docs/openapi.yaml and docs/protocol.md (files);
design: docs/internals/files-and-search.md.
"""

import hashlib
import os
import random
import re
import select
import socket
import sqlite3
import threading
import time
import urllib.parse

import pytest

import httpraw
from chatlib import (Chat, add_member, api, create_direct, create_group, expect, new_cmid,
                     remove_member, rest_send, text, users)
from conftest import T, error_code, poll_until
from fileslib import (CAMERA, admin_app, blob_files, blob_path, check_file_json, download,
                      exif_tiff, file_body, gps_marks, gray_jpeg, jpeg_exif_block, jpeg_segment,
                      jpeg_with_exif, move_file_to_app, move_user_to_new_app, png, png_chunk,
                      png_chunks, png_header_only, readable, sha256, share, slow_png,
                      stored_content,
                      tiff_ifd0_tags, tmp_files, upload, upload_ok, wait_thumbnail,
                      webp_chunk_types, webp_size, webp_with_exif, xmp_segment)

LIMIT = 64 * 1024            # max_file_size of the `lim` server
THUMB_LIM = 64               # its thumbnail_size
IDLE = 1                     # idle_timeout (s) of the `idle` server
SECURITY_HEADERS = {
    "Cache-Control": "private, no-cache",
    "Accept-Ranges": "bytes",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


@pytest.fixture(scope="module")
def lim(module_server_factory):
    return module_server_factory("--registration", "open", "--max-file-size", "64k",
                                 "--thumbnail-size", str(THUMB_LIM))


@pytest.fixture(scope="module")
def idle(module_server_factory):
    return module_server_factory("--registration", "open", "--idle-timeout", "%ds" % IDLE)


def check_headers(r, f):
    for k, v in SECURITY_HEADERS.items():
        assert r.headers.get(k) == v, (k, r.headers)
    assert r.headers["ETag"] == '"%s"' % f["sha256"], r.headers
    assert r.headers["Content-Type"] == f["mime"], r.headers


def disposition(r):
    """(kind, filename, filename* decoded) of a Content-Disposition."""
    cd = r.headers["Content-Disposition"]
    m = re.fullmatch(r'(inline|attachment); filename="([^"\\\x00-\x1f\x7f-\xff]*)"; '
                     r"filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)", cd)
    assert m, "malformed Content-Disposition %r" % cd
    return m.group(1), m.group(2), urllib.parse.unquote(m.group(3), errors="strict")


def raw_head(token=None, length=None, chunked=False, expect100=False, name="x.bin",
             extra=()):
    headers = []
    if token is not None:
        headers.append(("Authorization", "Bearer " + token))
    if length is not None:
        headers.append(("Content-Length", str(length)))
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    if expect100:
        headers.append(("Expect", "100-continue"))
    headers += list(extra)
    return httpraw.request_bytes("POST", "/v1/files?name=" + name, headers)


def send_while_open(c, pieces, max_seconds):
    """Sends pieces until the server answers or closes; False if all were sent."""
    deadline = time.monotonic() + max_seconds
    for piece in pieces:
        if time.monotonic() > deadline or c.readable_within(0):
            return True
        _, w, _ = select.select([], [c.sock], [], max(0.0, deadline - time.monotonic()))
        if not w:
            return True
        try:
            c.sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def no_tmp_left(srv):
    return poll_until(lambda: tmp_files(srv) == [], T(5), what="an empty files/tmp")


# -- upload ------------------------------------------------------------------------------------

def test_upload_answer_and_round_trip(srv):
    a = srv.new_user()
    # Several write buffers of the upload. Seeded: random bytes now and then carry a
    # format's magic number (one CI run drew audio/x-mp4a-latm); these do not.
    data = random.Random(1536).randbytes(1536 * 1024 + 7)
    r = upload(srv, a, data, "blob.bin", headers={"Content-Type": "image/png"})
    f = expect(r, 201)
    check_file_json(f, data, "blob.bin")
    assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert f["mime"] == "application/octet-stream"
    assert f["thumbnail"] is None and "width" not in f and "height" not in f, f
    got = download(srv, a, f["id"])
    assert got.status_code == 200
    assert got.content == data
    assert int(got.headers["Content-Length"]) == len(data)
    check_headers(got, f)
    kind, ascii_name, utf8_name = disposition(got)
    assert (kind, ascii_name, utf8_name) == ("attachment", "blob.bin", "blob.bin")


def test_chunked_upload_round_trip(srv):
    a = srv.new_user()
    data = os.urandom(700 * 1024)

    def pieces():
        for i in range(0, len(data), 33333):
            yield data[i:i + 33333]
    r = srv.request("POST", "/v1/files", token=a.token, params={"name": "c.bin"},
                    data=pieces(), timeout=T(30))
    f = expect(r, 201)
    assert f["size"] == len(data) and f["sha256"] == sha256(data)
    assert download(srv, a, f["id"]).content == data


def test_empty_file(srv):
    a = srv.new_user()
    f = upload_ok(srv, a, b"", "empty.txt")
    assert f["size"] == 0 and f["sha256"] == sha256(b""), f
    assert f["thumbnail"] is None
    got = download(srv, a, f["id"])
    assert got.status_code == 200 and got.content == b""
    assert got.headers["Content-Length"] == "0"


def test_each_upload_gets_its_own_id_on_one_connection(srv):
    a = srv.new_user()
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        ids = []
        for i in range(3):
            body = b"upload number %d\n" % i
            c.send(httpraw.request_bytes("POST", "/v1/files?name=n%d.txt" % i,
                                         [("Authorization", "Bearer " + a.token)], body))
            r = c.read_response()
            assert r.status == 201, r
            f = r.json()
            assert f["name"] == "n%d.txt" % i and f["sha256"] == sha256(body)
            ids.append(f["id"])
    assert len(set(ids)) == 3 and ids == sorted(ids)
    for i, fid in enumerate(ids):
        assert download(srv, a, fid).content == b"upload number %d\n" % i


def test_upload_without_name_is_called_file(srv):
    a = srv.new_user()
    r = srv.request("POST", "/v1/files", token=a.token, data=b"nameless")
    assert expect(r, 201)["name"] == "file"


def test_upload_needs_a_session_token_before_the_body_is_read(srv):
    a = srv.new_user()
    for token, expect100 in ((None, True), ("not-a-token", True), (a.token[:-2] + "xx", True),
                             (None, False), ("not-a-token", False)):
        with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
            # 10 MB announced, none sent: the answer cannot wait for the body.
            c.send(raw_head(token, length=10 << 20, expect100=expect100))
            r = c.read_response(timeout=T(5))
            assert r.status == 401, (token, r)
            assert r.json()["error"]["code"] == "unauthorized"
            assert c.wait_closed(T(5)), "connection kept open after a refused upload"
    r = upload(srv, None, b"x")
    assert r.status_code == 401 and error_code(r) == "unauthorized"


def test_upload_with_an_api_key_is_403(srv):
    r = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                 json={"name": "files-key", "scopes": ["push", "users", "admin"]})
    key = expect(r, 201)["key"]
    r = upload(srv, key, b"from a key")
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(raw_head(key, length=1 << 20, expect100=True))
        assert c.read_response(timeout=T(5)).status == 403


def test_upload_route_spelled_with_escapes_is_refused(srv):
    a = srv.new_user()
    auth = [("Authorization", "Bearer " + a.token)]
    r = httpraw.one_request(srv.port, "POST", "/v1/%66iles?name=x", auth, b"abc", timeout=T(10))
    assert r.status == 400, r
    assert r.json()["error"]["message"] == "send uploads to /v1/files as spelled"
    # Not streamed: such a request is held to max_body_size (1m) like any other.
    r = httpraw.one_request(srv.port, "POST", "/v1/%66iles", auth, b"a" * (2 << 20),
                            timeout=T(10))
    assert r.status == 413, r
    for path in ("/v1//files", "/v1/files/", "/v1/files/../files?name=q"):
        assert httpraw.one_request(srv.port, "POST", path, auth, b"abc").status == 404, path
    assert httpraw.one_request(srv.port, "GET", "/healthz").status == 200


def test_pipelined_uploads_and_a_request_after_them(srv):
    a = srv.new_user()
    auth = [("Authorization", "Bearer " + a.token)]
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("POST", "/v1/files?name=p1", auth, b"first body")
               + httpraw.request_bytes("POST", "/v1/files?name=p2", auth, b"second body!")
               + httpraw.request_bytes("GET", "/healthz"))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert (r1.status, r2.status, r3.status) == (201, 201, 200), (r1, r2, r3)
    assert r1.json()["sha256"] == sha256(b"first body") and r1.json()["name"] == "p1"
    assert r2.json()["sha256"] == sha256(b"second body!") and r2.json()["name"] == "p2"


def test_chunk_extensions_and_trailers_are_allowed(srv):
    a = srv.new_user()
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, chunked=True, name="ext.txt")
               + b"5;foo=bar\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
        r = c.read_response()
    assert r.status == 201, r
    assert r.json()["sha256"] == sha256(b"hello world")


@pytest.mark.parametrize("case", ["bad-chunk", "cut-short", "cl-and-te"])
def test_broken_upload_bodies_are_400_and_leave_nothing(srv, case):
    a = srv.new_user()
    before = blob_files(srv)
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        if case == "bad-chunk":
            c.send(raw_head(a.token, chunked=True) + b"5\r\nhello\r\nzz\r\n")
        elif case == "cut-short":
            c.send(raw_head(a.token, length=100) + b"only ten!!")
            c.sock.shutdown(socket.SHUT_WR)
        else:
            c.send(raw_head(a.token, length=5, chunked=True) + b"5\r\nhello\r\n0\r\n\r\n")
        r = c.read_response(timeout=T(5))
        assert r.status == 400 and r.json()["error"]["code"] == "bad_request", r
        assert c.wait_closed(T(5))
    no_tmp_left(srv)
    assert blob_files(srv) == before


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/v1/files", "POST"), ("PUT", "/v1/files", "POST"),
    ("POST", "/v1/files/1", "GET, HEAD"), ("DELETE", "/v1/files/1", "GET, HEAD"),
    ("POST", "/v1/files/1/thumbnail", "GET, HEAD"),
])
def test_other_methods_are_405(srv, method, path, allow):
    a = srv.new_user()
    r = httpraw.one_request(srv.port, method, path, [("Authorization", "Bearer " + a.token)],
                            b"x", timeout=T(10))
    assert r.status == 405 and r.header("allow") == allow, r


# -- size limits --------------------------------------------------------------------------------

def test_upload_at_the_limit_is_stored_one_more_byte_is_413(lim):
    a = lim.new_user()
    f = upload_ok(lim, a, b"a" * LIMIT, "max.bin")
    assert f["size"] == LIMIT
    r = upload(lim, a, b"a" * (LIMIT + 1), "over.bin")
    assert r.status_code == 413 and error_code(r) == "payload_too_large", r.text
    assert str(LIMIT) in r.json()["error"]["message"]
    no_tmp_left(lim)


def test_announced_length_over_the_limit_is_413_without_100_continue(lim):
    a = lim.new_user()
    with httpraw.RawHTTP(lim.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, length=LIMIT + 1, expect100=True))
        r = c.read_response(timeout=T(5))
        assert r.status == 413, "expected 413 and no 100 Continue, got %r" % (r,)
        assert r.json()["error"]["code"] == "payload_too_large"
        assert c.wait_closed(T(5))
        assert b"100 Continue" not in c.buf
    # A huge announced length is refused just as fast.
    with httpraw.RawHTTP(lim.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, length=1 << 40, expect100=True))
        assert c.read_response(timeout=T(5)).status == 413


def test_expect_100_continue_under_the_limit(lim):
    a = lim.new_user()
    body = b"hello continue"
    with httpraw.RawHTTP(lim.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, length=len(body), expect100=True, name="cont.txt"))
        first = c.read_response(timeout=T(5))
        assert first.status == 100, first
        c.send(body)
        r = c.read_response(timeout=T(10))
        assert r.status == 201, r
        assert r.json()["sha256"] == sha256(body)


def test_chunked_body_crossing_the_limit_is_413_and_closed(lim):
    a = lim.new_user()
    with httpraw.RawHTTP(lim.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, chunked=True))
        piece = b"2000\r\n" + b"z" * 0x2000 + b"\r\n"
        n = 4 * LIMIT // 0x2000
        send_while_open(c, [piece] * n + [b"0\r\n\r\n"], T(10))
        r = c.read_response(timeout=T(5))
        assert r.status == 413, r
        assert r.json()["error"]["code"] == "payload_too_large"
        assert c.wait_closed(T(5)), "connection left open after 413"
    no_tmp_left(lim)
    # A chunked body under the limit is fine.
    with httpraw.RawHTTP(lim.port, timeout=T(10)) as c:
        body = b"q" * (LIMIT - 10)
        c.send(raw_head(a.token, chunked=True) + httpraw.chunked(body, [1000, 5000, 20000]))
        r = c.read_response(timeout=T(10))
        assert r.status == 201, r
        assert r.json()["size"] == len(body)


def test_per_app_limit_and_null_resets_it(lim):
    a = lim.new_user()
    admin = lim.admin_token()
    got = admin_app(lim)
    assert got == {"id": got["id"], "max_file_size": None, "max_file_size_default": LIMIT,
                   "message_retention_days": None, "file_retention_days": None,
                   "mfa_required": "off"}, got
    try:
        assert admin_app(lim, {"max_file_size": 1000})["max_file_size"] == 1000
        assert admin_app(lim)["max_file_size"] == 1000
        upload_ok(lim, a, b"k" * 1000)
        r = upload(lim, a, b"k" * 1001)
        assert r.status_code == 413 and "1000" in r.json()["error"]["message"], r.text
        # The app's cap may also be above the server's default.
        admin_app(lim, {"max_file_size": 2 * LIMIT})
        upload_ok(lim, a, b"k" * (LIMIT + 5000))
        with httpraw.RawHTTP(lim.port, timeout=T(10)) as c:
            c.send(raw_head(a.token, length=2 * LIMIT + 1, expect100=True))
            assert c.read_response(timeout=T(5)).status == 413
        back = admin_app(lim, {"max_file_size": None})
        assert back["max_file_size"] is None and back["max_file_size_default"] == LIMIT
        assert upload(lim, a, b"k" * (LIMIT + 5000)).status_code == 413
        upload_ok(lim, a, b"k" * LIMIT)
        # Not for plain users, and only sane values.
        r = api(lim, "PATCH", "/v1/admin/app", a, {"max_file_size": 5})
        assert r.status_code == 403, r.text
        assert api(lim, "GET", "/v1/admin/app", a).status_code == 403
        for bad in (0, -1, "100", 1.5, True, (1 << 40) + 1, [1]):
            r = api(lim, "PATCH", "/v1/admin/app", admin, {"max_file_size": bad})
            assert r.status_code == 400 and error_code(r) == "bad_request", (bad, r.text)
        assert admin_app(lim)["max_file_size"] is None
    finally:
        admin_app(lim, {"max_file_size": None})


def test_client_disconnecting_mid_upload_leaves_no_temporary_file(srv):
    a = srv.new_user()
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, length=4 << 20))
        c.send(os.urandom(300 * 1024))
        poll_until(lambda: tmp_files(srv), T(5), what="the upload's temporary file")
    no_tmp_left(srv)
    # The server goes on serving, uploads included.
    assert httpraw.one_request(srv.port, "GET", "/healthz").status == 200
    f = upload_ok(srv, a, b"after the cut", "after.txt")
    assert download(srv, a, f["id"]).content == b"after the cut"


def test_stalled_upload_gets_408_after_idle_timeout(idle):
    a = idle.new_user()
    with httpraw.RawHTTP(idle.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, length=100000))
        c.send(b"s" * 50000)
        t0 = time.monotonic()
        r = c.read_response(timeout=T(IDLE + 5))
        elapsed = time.monotonic() - t0
        assert r.status == 408, r
        assert r.json()["error"]["code"] == "request_timeout"
        assert c.wait_closed(T(5))
    assert IDLE * 0.8 <= elapsed <= T(IDLE + 4), elapsed
    no_tmp_left(idle)
    assert httpraw.one_request(idle.port, "GET", "/healthz").status == 200


def test_slow_but_steady_upload_is_not_cut_off(idle):
    """The idle timer counts from the last byte, not from the request's start."""
    a = idle.new_user()
    pieces = [os.urandom(4000) for _ in range(8)]
    data = b"".join(pieces)
    with httpraw.RawHTTP(idle.port, timeout=T(10)) as c:
        c.send(raw_head(a.token, length=len(data), name="slow.bin"))
        t0 = time.monotonic()
        for p in pieces:
            assert not c.readable_within(IDLE * 0.3), "answered before the body was sent"
            c.send(p)
        assert time.monotonic() - t0 > IDLE * 1.5
        r = c.read_response(timeout=T(10))
        assert r.status == 201, r
        assert r.json()["sha256"] == sha256(data)


# -- MIME sniffing ------------------------------------------------------------------------------

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' \
      b'<script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script>" \
       b"</body></html>\n"
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c0000000001000100"
                    "0002024401003b")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.mark.parametrize("case", [
    # (name, claimed content type, data, sniffed type, disposition)
    ("x.html", "text/html", "png", "image/png", "inline"),
    ("photo.png", "image/png", HTML, "text/html", "attachment"),
    ("pic.jpg", "image/jpeg", SVG, "image/svg+xml", "attachment"),
    ("logo.svg", "image/svg+xml", SVG, "image/svg+xml", "attachment"),
    ("notes.txt", "text/plain", b"just some words\nand more\n", "text/plain", "attachment"),
    ("anim.png", "image/png", GIF, "image/gif", "inline"),
    ("doc.txt", "text/plain", PDF, "application/pdf", "attachment"),
], ids=["png-as-html", "html-as-png", "svg-as-jpg", "svg", "text", "gif-as-png", "pdf-as-txt"])
def test_type_is_sniffed_never_taken_from_the_client(srv, case):
    name, claimed, data, mime, kind = case
    if data == "png":
        data = png(16, 16)
    a = srv.new_user()
    f = upload_ok(srv, a, data, name, headers={"Content-Type": claimed})
    assert f["mime"] == mime, f
    assert f["name"] == name
    r = download(srv, a, f["id"])
    assert r.status_code == 200 and r.content == data
    check_headers(r, f)
    assert r.headers["Content-Type"] == mime
    assert disposition(r)[0] == kind, r.headers["Content-Disposition"]
    if mime == "image/png":
        assert f["thumbnail"] is not None and (f["width"], f["height"]) == (16, 16), f
    elif kind == "attachment":
        assert f["thumbnail"] is None, f
        assert download(srv, a, f["id"], thumb=True).status_code == 404


# -- names --------------------------------------------------------------------------------------

LONG_NAME = "a" + "é" * 200 + ".txt"


@pytest.mark.parametrize("given,stored", [
    ("../../etc/passwd", "passwd"),
    ("a\\b\\c.txt", "c.txt"),
    ("C:\\Users\\me\\secret.doc", "secret.doc"),
    ("/abs/path/x.png", "x.png"),
    ("dir/", "file"),
    ("tab\there.txt", "tab_here.txt"),
    ("line\r\nX-Injected: 1.txt", "line__X-Injected: 1.txt"),
    ("nul\x01\x7f.txt", "nul__.txt"),
    (".htaccess", "htaccess"),
    (" . .hidden name ", "hidden name"),
    ("...", "file"),
    ("", "file"),
    ("报告.pdf", "报告.pdf"),
    ("emoji 😀.txt", "emoji 😀.txt"),
    (LONG_NAME, "a" + "é" * 127),
])
def test_file_names_are_cleaned(srv, given, stored):
    a = srv.new_user()
    f = upload_ok(srv, a, b"named", given)
    assert f["name"] == stored, (given, f["name"])
    assert len(f["name"].encode("utf-8")) <= 255
    r = download(srv, a, f["id"])
    assert "X-Injected" not in r.headers
    _, ascii_name, utf8_name = disposition(r)
    assert utf8_name == stored
    assert ascii_name == "".join(c if 0x20 <= ord(c) < 0x7f and c not in '"\\' else "_" * len(
        c.encode("utf-8")) for c in stored)


def test_invalid_utf8_in_the_name_is_refused(srv):
    # Decided: a query that is not UTF-8 is refused, like every query parameter, before
    # the body is read; control characters in valid UTF-8 become '_' (tested above).
    a = srv.new_user()
    r = srv.request("POST", "/v1/files?name=ab%FFcd%C3.txt", token=a.token, data=b"x")
    expect(r, 400, "bad_request")
    # An overlong encoding of "/" is not a separator, and not UTF-8 either.
    r = srv.request("POST", "/v1/files?name=x%C0%AFy.txt", token=a.token, data=b"x")
    expect(r, 400, "bad_request")
    assert_tmp_empty = srv.data_dir / "files" / "tmp"
    assert list(assert_tmp_empty.iterdir()) == []


@pytest.mark.parametrize("query,stored", [
    ("a%2Fb.txt", "b.txt"),          # an escaped slash is still a separator
    ("a%5Cb.txt", "b.txt"),
    ("a+b.txt", "a b.txt"),
    ("100%25.txt", "100%.txt"),
    ("a%zzb", "a%zzb"),
    ("first&name=second", "first"),
    ("%2E%2E%2F%2E%2E%2Fx", "x"),
])
def test_name_query_decoding(srv, query, stored):
    a = srv.new_user()
    r = srv.request("POST", "/v1/files?name=" + query, token=a.token, data=b"x")
    assert expect(r, 201)["name"] == stored


def test_long_name_is_cut_at_a_character_boundary(srv):
    a = srv.new_user()
    for name in ("é" * 200, "b" * 300, "ab" + "😀" * 80):
        f = upload_ok(srv, a, b"x", name)
        raw = f["name"].encode("utf-8")
        assert 252 <= len(raw) <= 255, (name[:5], len(raw))
        assert name.startswith(f["name"])


def test_quotes_and_backslashes_cannot_break_content_disposition(srv):
    a = srv.new_user()
    name = 'say "hi"; filename=evil.exe; x=\'1\'.txt'
    f = upload_ok(srv, a, b"q", name)
    assert f["name"] == name
    r = download(srv, a, f["id"])
    kind, ascii_name, utf8_name = disposition(r)
    assert kind == "attachment"
    assert ascii_name == 'say _hi_; filename=evil.exe; x=\'1\'.txt'
    assert utf8_name == name
    assert r.headers["Content-Disposition"].count('"') == 2


def test_utf8_name_in_content_disposition(srv):
    a = srv.new_user()
    f = upload_ok(srv, a, PDF, "报告.pdf")
    r = download(srv, a, f["id"])
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"______.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf")


# -- who may download ---------------------------------------------------------------------------

@pytest.fixture
def shared(srv):
    """Owner o shares an image in group g with m; `later` joins after; `stranger` is not in it."""
    o, m, later, stranger = users(srv, 4)
    g = create_group(srv, o, [m])["id"]
    f = upload_ok(srv, o, png(40, 30), "pic.png")
    assert wait_thumbnail(srv, o, f["id"]).status_code == 200
    ack = share(srv, o, g, f, kind="image")
    add_member(srv, o, g, later)

    class S:
        pass
    s = S()
    s.o, s.m, s.later, s.stranger, s.g, s.f, s.ack = o, m, later, stranger, g, f, ack
    return s


def test_unshared_file_only_its_owner_reads(srv):
    o, m = users(srv, 2)
    create_group(srv, o, [m])
    f = upload_ok(srv, o, png(20, 20), "mine.png")
    wait_thumbnail(srv, o, f["id"])
    assert readable(srv, o, f["id"])
    assert not readable(srv, m, f["id"])
    r = download(srv, m, f["id"])
    assert error_code(r) == "not_found" and r.json()["error"]["message"] == "no such file"


def test_members_read_a_shared_file_others_do_not(srv, shared):
    s = shared
    assert readable(srv, s.o, s.f["id"])
    assert readable(srv, s.m, s.f["id"])
    assert not readable(srv, s.stranger, s.f["id"])
    assert not readable(srv, s.later, s.f["id"]), "joined after the sharing message"
    # Shared again after they joined: now they may.
    share(srv, s.m, s.g, s.f)
    assert readable(srv, s.later, s.f["id"])
    r = download(srv, None, s.f["id"])
    assert r.status_code == 401


def test_download_answers_are_the_same_for_strangers_and_missing_files(srv, shared):
    s = shared
    r1 = download(srv, s.stranger, s.f["id"])
    r2 = download(srv, s.stranger, s.f["id"] + 100000)
    assert (r1.status_code, r1.json()) == (r2.status_code, r2.json()) == (
        404, {"error": {"code": "not_found", "message": "no such file"}})


@pytest.mark.parametrize("how", ["left", "kicked"])
def test_member_who_left_loses_access(srv, shared, how):
    s = shared
    assert readable(srv, s.m, s.f["id"])
    remove_member(srv, s.m if how == "left" else s.o, s.g, s.m)
    assert not readable(srv, s.m, s.f["id"])
    assert readable(srv, s.o, s.f["id"])


def test_recalling_the_sharing_message_unshares(srv, shared):
    s = shared
    with Chat(srv, s.o) as w:
        w.ok("recall", conv=s.g, seq=s.ack["seq"])
    assert not readable(srv, s.m, s.f["id"])
    assert readable(srv, s.o, s.f["id"]), "the owner keeps their upload"


def test_edit_removing_the_file_unshares_and_keeping_it_does_not(srv, shared):
    s = shared
    with Chat(srv, s.o) as w:
        body = file_body(s.f)
        body["caption"] = "edited caption"
        w.ok("edit", conv=s.g, seq=s.ack["seq"], body=body)
        assert readable(srv, s.m, s.f["id"])
        w.ok("edit", conv=s.g, seq=s.ack["seq"], body=text("no file any more"))
    assert not readable(srv, s.m, s.f["id"])
    assert readable(srv, s.o, s.f["id"])


def test_another_share_keeps_access_after_one_is_recalled(srv, shared):
    s = shared
    second = share(srv, s.o, s.g, s.f)
    with Chat(srv, s.o) as w:
        w.ok("recall", conv=s.g, seq=s.ack["seq"])
        assert readable(srv, s.m, s.f["id"])
        assert readable(srv, s.later, s.f["id"]), "the second share is after their join"
        w.ok("recall", conv=s.g, seq=second["seq"])
    assert not readable(srv, s.m, s.f["id"])
    assert not readable(srv, s.later, s.f["id"])


def test_file_stays_readable_after_its_owner_leaves(srv, shared):
    s = shared
    mine = upload_ok(srv, s.m, b"m's handout", "handout.txt")
    share(srv, s.m, s.g, mine)
    remove_member(srv, s.m, s.g, s.m)
    assert readable(srv, s.o, mine["id"], thumb=False)
    assert readable(srv, s.m, mine["id"], thumb=False), "still the owner"


def test_deleted_conversation_unshares(srv, shared):
    s = shared
    r = api(srv, "DELETE", "/v1/admin/conversations/%d" % s.g, srv.admin_token())
    assert r.status_code == 204, r.text
    assert not readable(srv, s.m, s.f["id"])
    assert readable(srv, s.o, s.f["id"])


def test_forwarding_a_file_shared_with_you(srv, shared):
    s = shared
    d = create_direct(srv, s.m, s.stranger.id)["id"]
    share(srv, s.m, d, s.f)                     # m may: it was shared with them
    assert readable(srv, s.stranger, s.f["id"])
    # The forward stays readable where it was sent even after m leaves the group
    # (and m still reads it through the direct conversation).
    remove_member(srv, s.m, s.g, s.m)
    assert readable(srv, s.stranger, s.f["id"])
    assert readable(srv, s.m, s.f["id"])
    # Who joined the group after the share cannot pass it on.
    d2 = create_direct(srv, s.later, s.stranger.id)["id"]
    rest_send(srv, s.later, d2, file_body(s.f), status=404, code="not_found")


def test_referring_to_a_file_you_cannot_read_is_404(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)["id"]
    theirs = upload_ok(srv, b, b"b's private notes", "notes.txt")
    r = api(srv, "POST", "/v1/conversations/%d/messages" % d, a,
            {"cmid": new_cmid(), "body": file_body(theirs)})
    assert r.status_code == 404, r.text
    assert r.json()["error"] == {"code": "not_found", "message": "no such file"}
    r = api(srv, "POST", "/v1/conversations/%d/messages" % d, a,
            {"cmid": new_cmid(), "body": {"type": "file", "file": 987654321}})
    assert r.status_code == 404 and error_code(r) == "not_found"
    # Nothing was shared by the refused sends.
    assert not readable(srv, a, theirs["id"], thumb=False)
    with Chat(srv, a) as w:
        assert w.err("send", conv=d, cmid=new_cmid(), body=file_body(theirs)) == "not_found"
        m = w.send_msg(d, text("plain"))
        # The same check on edit.
        assert w.err("edit", conv=d, seq=m["seq"], body=file_body(theirs)) == "not_found"
        mine = upload_ok(srv, a, b"a's", "a.txt")
        w.ok("edit", conv=d, seq=m["seq"], body=file_body(mine))
    assert readable(srv, b, mine["id"], thumb=False)


@pytest.mark.parametrize("bad", ["7", 0, -1, 1.5, True, None, [1], {"id": 1}])
def test_file_field_must_be_a_positive_integer(srv, bad):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)["id"]
    r = api(srv, "POST", "/v1/conversations/%d/messages" % d, a,
            {"cmid": new_cmid(), "body": {"type": "file", "file": bad}})
    assert r.status_code == 400 and error_code(r) == "bad_request", (bad, r.text)


@pytest.mark.parametrize("fid", ["abc", "0", "-1", "99999999999999999999", "1e3", "0x1",
                                 "%31", "1;2"])
def test_bad_file_ids_are_404(srv, fid):
    a = srv.new_user()
    upload_ok(srv, a, b"something to have a file 1")
    for thumb in (False, True):
        for method in ("GET", "HEAD"):
            r = download(srv, a, fid, thumb=thumb, method=method)
            assert r.status_code == 404, (fid, thumb, method, r.status_code)
            if method == "GET":
                assert error_code(r) == "not_found"


def test_another_apps_files_are_404(srv):
    a, x = users(srv, 2)
    mine = upload_ok(srv, a, b"app one's file", "one.txt")
    move_user_to_new_app(srv, x)
    # x now lives in app 2: the directory of app 1 is not theirs any more.
    seen = expect(api(srv, "GET", "/v1/users", x, params={"q": a.username}), 200)["users"]
    assert seen == [], seen
    assert expect(api(srv, "GET", "/v1/users", a, params={"q": x.username}), 200)["users"] == []
    theirs = upload_ok(srv, x, b"app two's file", "two.txt")
    assert readable(srv, x, theirs["id"], thumb=False)
    assert not readable(srv, a, theirs["id"], thumb=False)
    assert not readable(srv, x, mine["id"], thumb=False)
    # A file row of another app is not readable even by the user named as its owner.
    moved = upload_ok(srv, a, b"moved away", "moved.txt")
    assert readable(srv, a, moved["id"], thumb=False)
    move_file_to_app(srv, moved["id"])
    assert not readable(srv, a, moved["id"], thumb=False)


# -- Range and conditional requests -------------------------------------------------------------

RANGE_DATA = bytes(range(100))


@pytest.fixture(scope="module")
def ranged(srv):
    a = srv.new_user()
    return a, upload_ok(srv, a, RANGE_DATA, "r.bin")


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=10-", 10, 99),
    ("bytes=-5", 95, 99),
    ("bytes=5-5", 5, 5),
    ("bytes=90-200", 90, 99),
    ("bytes=-500", 0, 99),
    ("bytes=0-99", 0, 99),
    ("bytes = 3-4", 3, 4),
])
def test_single_range_is_206(srv, ranged, header, start, end):
    a, f = ranged
    r = download(srv, a, f["id"], headers={"Range": header})
    assert r.status_code == 206, (header, r.status_code)
    assert r.headers["Content-Range"] == "bytes %d-%d/100" % (start, end)
    assert r.content == RANGE_DATA[start:end + 1]
    assert int(r.headers["Content-Length"]) == end - start + 1
    assert r.headers["ETag"] == '"%s"' % f["sha256"]


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=5000-"])
def test_unsatisfiable_range_is_416(srv, ranged, header):
    a, f = ranged
    r = download(srv, a, f["id"], headers={"Range": header})
    assert r.status_code == 416, (header, r.status_code)
    assert error_code(r) == "range_not_satisfiable"
    assert r.headers["Content-Range"] == "bytes */100"


@pytest.mark.parametrize("header", ["bytes=0-1,3-4", "bytes=abc", "items=0-5", "bytes 0-5",
                                    "bytes=5-1", "bytes=--5", "bytes=0-5x", "bytes=",
                                    "bytes=99999999999999999999999-"])
def test_several_or_bad_ranges_get_the_whole_file(srv, ranged, header):
    a, f = ranged
    r = download(srv, a, f["id"], headers={"Range": header})
    assert r.status_code == 200, (header, r.status_code)
    assert r.content == RANGE_DATA and "Content-Range" not in r.headers


def test_range_of_an_empty_file_is_416(srv):
    a = srv.new_user()
    f = upload_ok(srv, a, b"", "e")
    for header in ("bytes=0-0", "bytes=-1", "bytes=0-"):
        r = download(srv, a, f["id"], headers={"Range": header})
        assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */0", header


def test_range_deep_inside_a_large_file(srv):
    a = srv.new_user()
    data = os.urandom(3 << 20)
    f = upload_ok(srv, a, data, "big.bin")
    r = download(srv, a, f["id"], headers={"Range": "bytes=2000000-2000099"})
    assert r.status_code == 206 and r.content == data[2000000:2000100]
    r = download(srv, a, f["id"], headers={"Range": "bytes=-70000"})
    assert r.status_code == 206 and r.content == data[-70000:]


def test_if_range(srv, ranged):
    a, f = ranged
    etag = '"%s"' % f["sha256"]
    r = download(srv, a, f["id"], headers={"Range": "bytes=0-9", "If-Range": etag})
    assert r.status_code == 206 and r.content == RANGE_DATA[:10]
    for other in ('"0000"', "W/" + etag, "Wed, 21 Oct 2015 07:28:00 GMT"):
        r = download(srv, a, f["id"], headers={"Range": "bytes=0-9", "If-Range": other})
        assert r.status_code == 200 and r.content == RANGE_DATA, other


def test_if_none_match(srv, ranged):
    a, f = ranged
    etag = '"%s"' % f["sha256"]
    for value in (etag, "W/" + etag, '"nope", ' + etag, "*"):
        r = download(srv, a, f["id"], headers={"If-None-Match": value})
        assert r.status_code == 304, value
        assert r.content == b"" and r.headers["ETag"] == etag
    r = download(srv, a, f["id"], headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200 and r.content == RANGE_DATA
    # Still 404 for someone who may not read it, whatever they claim to have.
    b = srv.new_user()
    assert download(srv, b, f["id"], headers={"If-None-Match": etag}).status_code == 404


def test_head_sends_headers_and_no_body(srv, ranged):
    a, f = ranged
    r = download(srv, a, f["id"], method="HEAD")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == "100"
    assert r.headers["ETag"] == '"%s"' % f["sha256"]
    # On the wire: the next response on the connection starts right after the head.
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        auth = [("Authorization", "Bearer " + a.token)]
        c.send(httpraw.request_bytes("HEAD", "/v1/files/%d" % f["id"], auth)
               + httpraw.request_bytes("GET", "/v1/files/%d" % f["id"], auth
                                       + [("Range", "bytes=0-3")]))
        h = c.read_response(method="HEAD")
        assert h.status == 200 and h.header("content-length") == "100"
        g = c.read_response()
        assert g.status == 206 and g.body == RANGE_DATA[:4]


# -- thumbnails ---------------------------------------------------------------------------------

def test_thumbnail_of_a_png(srv):
    a = srv.new_user()
    f = upload_ok(srv, a, png(1200, 800), "wide.png")
    assert (f["mime"], f["width"], f["height"]) == ("image/png", 1200, 800), f
    assert f["thumbnail"] == "/v1/files/%d/thumbnail" % f["id"]
    r = wait_thumbnail(srv, a, f["id"])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/webp"
    assert r.content[:4] == b"RIFF" and r.content[8:12] == b"WEBP"
    w, h = webp_size(r.content)
    assert w == 320 and h in (213, 214), (w, h)
    assert r.headers["ETag"] == '"%s-thumb"' % f["sha256"]
    assert disposition(r)[0] == "inline"
    for k, v in SECURITY_HEADERS.items():
        assert r.headers.get(k) == v, k
    # libvips agrees about its size when it comes back as an upload.
    back = upload_ok(srv, a, r.content, "thumb.webp")
    assert (back["mime"], back["width"], back["height"]) == ("image/webp", w, h), back
    # Conditional and range requests work on thumbnails too.
    etag = r.headers["ETag"]
    assert download(srv, a, f["id"], thumb=True,
                    headers={"If-None-Match": etag}).status_code == 304
    part = download(srv, a, f["id"], thumb=True, headers={"Range": "bytes=0-11"})
    assert part.status_code == 206 and part.content == r.content[:12]
    head = download(srv, a, f["id"], thumb=True, method="HEAD")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(r.content))


def test_thumbnail_is_upright(srv):
    """EXIF orientation 6 (rotate 90° clockwise): a landscape image shows as portrait."""
    a = srv.new_user()
    orient = (b"MM\0*\0\0\0\x08" + b"\0\x01" + bytes.fromhex("011200030000000100060000")
              + b"\0\0\0\0")
    f = upload_ok(srv, a, png(600, 400, [png_chunk(b"eXIf", orient)]), "rot.png")
    r = wait_thumbnail(srv, a, f["id"])
    assert r.status_code == 200
    w, h = webp_size(r.content)
    assert h == 320 and w in (213, 214), (w, h)


def test_jpeg_photo_is_stripped_measured_and_thumbnailed_upright(srv):
    """A phone photo's shape: real JPEG data after an Exif block with GPS and orientation 6."""
    a = srv.new_user()
    data = gray_jpeg(640, 480, jpeg_segment(0xE1, b"Exif\0\0" + exif_tiff(True, 6)))
    f = upload_ok(srv, a, data, "IMG_0001.JPG")
    assert (f["mime"], f["width"], f["height"]) == ("image/jpeg", 640, 480), f
    got = download(srv, a, f["id"]).content
    assert len(got) == len(data) and f["sha256"] == sha256(got)
    for mark in gps_marks(True):
        assert mark not in got
    assert tiff_ifd0_tags(jpeg_exif_block(got)) == [0x010F, 0x0112]
    assert got.endswith(data[-50:]), "the image data is untouched"
    r = wait_thumbnail(srv, a, f["id"])
    assert r.status_code == 200, r.text
    assert webp_size(r.content) == (240, 320), "EXIF orientation 6 is applied"
    small = upload_ok(srv, a, gray_jpeg(33, 17), "tiny.jpg")
    assert (small["width"], small["height"]) == (33, 17)
    assert webp_size(wait_thumbnail(srv, a, small["id"]).content) == (33, 17)


def test_thumbnail_is_never_larger_than_the_image(srv):
    a = srv.new_user()
    f = upload_ok(srv, a, png(100, 50), "small.png")
    r = wait_thumbnail(srv, a, f["id"])
    assert r.status_code == 200 and webp_size(r.content) == (100, 50)


def test_thumbnail_size_setting(lim):
    a = lim.new_user()
    f = upload_ok(lim, a, png(200, 400), "tall.png")
    r = wait_thumbnail(lim, a, f["id"])
    assert r.status_code == 200 and webp_size(r.content) == (32, THUMB_LIM)


def exif_chunk_tags(webp):
    """The IFD0 tags of a WebP's EXIF chunk, or [] when it has none."""
    at = 12
    for _ in range(100):
        if at + 8 > len(webp):
            return []
        n = int.from_bytes(webp[at + 4:at + 8], "little")
        if webp[at:at + 4] == b"EXIF":
            block = webp[at + 8:at + 8 + n]
            return tiff_ifd0_tags(block[6:] if block.startswith(b"Exif\0\0") else block)
        at += 8 + n + (n & 1)
    return []


def test_thumbnail_carries_none_of_the_images_metadata(server_factory):
    """Even with location stripping off, the thumbnail holds no camera, GPS or XMP data
    (libvips 8.14 may still write an EXIF chunk, with only the sizes it sets itself)."""
    s = server_factory.new("--registration", "open", "--strip-image-location", "no")
    a = s.new_user()
    xmp = png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + b"<x:xmpmeta>GPSLatitude"
                    b" secret-xmp-marker</x:xmpmeta>")
    data = png(640, 480, [png_chunk(b"eXIf", exif_tiff(True)), xmp])
    f = upload_ok(s, a, data, "cam.png")
    got = download(s, a, f["id"]).content
    assert got == data and CAMERA[:-1] in got, "kept: stripping is off"
    r = wait_thumbnail(s, a, f["id"])
    assert r.status_code == 200 and webp_size(r.content) == (320, 240)
    chunks = webp_chunk_types(r.content)
    assert b"XMP " not in chunks and b"ICCP" not in chunks, chunks
    for leak in [CAMERA[:-1], b"secret-xmp-marker"] + gps_marks(True) + gps_marks(False):
        assert leak not in r.content, leak
    tags = exif_chunk_tags(r.content)
    assert 0x010F not in tags and 0x8825 not in tags, [hex(t) for t in tags]


def test_gif_gets_size_and_thumbnail(srv):
    a = srv.new_user()
    f = upload_ok(srv, a, GIF, "dot.gif")
    assert f["mime"] == "image/gif"
    assert (f.get("width"), f.get("height")) == (1, 1), f
    assert f["thumbnail"] == "/v1/files/%d/thumbnail" % f["id"], f
    r = wait_thumbnail(srv, a, f["id"])
    assert r.status_code == 200 and webp_size(r.content) == (1, 1)


def test_files_that_are_not_images_have_no_thumbnail(srv):
    a = srv.new_user()
    for data, name in ((b"plain text", "t.txt"), (SVG, "s.svg"), (PDF, "p.pdf")):
        f = upload_ok(srv, a, data, name)
        assert f["thumbnail"] is None and "width" not in f, f
        r = download(srv, a, f["id"], thumb=True)
        assert r.status_code == 404 and error_code(r) == "not_found", (name, r.text)
        assert download(srv, a, f["id"], thumb=True, method="HEAD").status_code == 404


def test_huge_image_gets_no_thumbnail_and_does_not_hang(srv):
    a = srv.new_user()
    t0 = time.monotonic()
    f = upload_ok(srv, a, png_header_only(20000, 20000), "huge.png")
    assert time.monotonic() - t0 < T(5)
    assert f["mime"] == "image/png" and (f["width"], f["height"]) == (20000, 20000), f
    assert f["thumbnail"] is None
    assert download(srv, a, f["id"], thumb=True).status_code == 404
    assert httpraw.one_request(srv.port, "GET", "/healthz", timeout=T(2)).status == 200


def test_broken_image_at_the_pixel_limit_does_not_block_the_server(srv):
    """10000x10000 is allowed a thumbnail; its data is cut short. Whatever libvips makes of
    it, the thumbnail stops being 'pending' and the server keeps answering meanwhile."""
    a = srv.new_user()
    f = upload_ok(srv, a, png_header_only(10000, 10000), "cut.png")
    assert (f["width"], f["height"]) == (10000, 10000)
    deadline = time.monotonic() + T(60)
    for _ in range(100000):
        t0 = time.monotonic()
        assert httpraw.one_request(srv.port, "GET", "/healthz", timeout=T(2)).status == 200
        assert time.monotonic() - t0 < T(1)
        r = download(srv, a, f["id"], thumb=True)
        if r.status_code != 503:
            break
        assert time.monotonic() < deadline, "thumbnail still pending"
        time.sleep(0.1)
    assert r.status_code in (200, 404), r.status_code
    ok = upload_ok(srv, a, png(30, 30), "next.png")
    assert wait_thumbnail(srv, a, ok["id"]).status_code == 200


# -- location stripping -------------------------------------------------------------------------

def location_cases():
    return {
        "jpeg-exif-be": (lambda: jpeg_with_exif(exif_tiff(True)), True, "image/jpeg"),
        "jpeg-exif-le": (lambda: jpeg_with_exif(exif_tiff(False)), False, "image/jpeg"),
        "png-exif": (lambda: png(8, 8, [png_chunk(b"eXIf", exif_tiff(True))]), True,
                     "image/png"),
        "webp-exif": (lambda: webp_with_exif(exif_tiff(False)), False, "image/webp"),
    }


@pytest.mark.parametrize("case", sorted(location_cases()))
def test_gps_is_stripped_from_exif(srv, case):
    make, big_endian, mime = location_cases()[case]
    data = make()
    for mark in gps_marks(big_endian):
        assert mark in data
    a = srv.new_user()
    f = upload_ok(srv, a, data, "where.img")
    assert f["mime"] == mime, f
    got = download(srv, a, f["id"]).content
    assert len(got) == len(data) == f["size"]
    for mark in gps_marks(big_endian):
        assert mark not in got, "GPS values still in the stored file"
    assert CAMERA[:-1] in got, "the rest of the EXIF should be kept"
    assert f["sha256"] == sha256(got) != sha256(data)
    if mime == "image/jpeg":
        assert tiff_ifd0_tags(jpeg_exif_block(data)) == [0x010F, 0x8825]
        assert tiff_ifd0_tags(jpeg_exif_block(got)) == [0x010F], "GPSInfo entry still there"
    if mime == "image/png":
        chunks = png_chunks(got)
        assert all(ok for _, _, ok in chunks), "a chunk's CRC is wrong after the edit"
        assert [c for c, _, _ in chunks] == [b"IHDR", b"eXIf", b"IDAT", b"IEND"]
        assert (f["width"], f["height"]) == (8, 8)
        assert tiff_ifd0_tags(chunks[1][1]) == [0x010F]


def test_gps_is_stripped_from_xmp(srv):
    a = srv.new_user()
    data = b"\xFF\xD8" + xmp_segment() + b"\xFF\xD9"
    f = upload_ok(srv, a, data, "xmp.jpg")
    got = download(srv, a, f["id"]).content
    assert len(got) == len(data) and f["sha256"] == sha256(got)
    assert b"GPSLatitude" not in got and b"37,46.4979N" not in got
    assert got.startswith(b"\xFF\xD8\xFF\xE1") and got.endswith(b"\xFF\xD9")


def test_image_without_location_is_stored_unchanged(srv):
    a = srv.new_user()
    data = jpeg_with_exif(b"MM\0*\0\0\0\x08\0\0\0\0\0\0")
    f = upload_ok(srv, a, data, "clean.jpg")
    assert f["sha256"] == sha256(data) and download(srv, a, f["id"]).content == data
    p = png(12, 12)
    f = upload_ok(srv, a, p, "clean.png")
    assert f["sha256"] == sha256(p) and download(srv, a, f["id"]).content == p


def test_damaged_image_is_refused(srv):
    a = srv.new_user()
    before = blob_files(srv)
    cut = b"\xFF\xD8" + jpeg_segment(0xE1, b"Exif\0\0" + exif_tiff())[:-20]
    r = upload(srv, a, cut, "cut.jpg")
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    assert "location" in r.json()["error"]["message"]
    no_tmp_left(srv)
    assert blob_files(srv) == before


def test_strip_image_location_no_keeps_the_bytes(server_factory):
    s = server_factory.new("--registration", "open", "--strip-image-location", "no")
    a = s.new_user()
    for data in (jpeg_with_exif(exif_tiff(True)),
                 png(8, 8, [png_chunk(b"eXIf", exif_tiff(True))])):
        f = upload_ok(s, a, data, "keep")
        assert f["sha256"] == sha256(data)
        assert download(s, a, f["id"]).content == data


# -- deduplication ------------------------------------------------------------------------------

def test_identical_content_is_stored_once(srv):
    a, b = users(srv, 2)
    data = os.urandom(50000)
    before = set(blob_files(srv))
    fa = upload_ok(srv, a, data, "from-a.bin")
    fb = upload_ok(srv, b, data, "from-b.bin")
    assert fa["id"] != fb["id"]
    assert fa["sha256"] == fb["sha256"] == sha256(data)
    assert (fa["name"], fb["name"]) == ("from-a.bin", "from-b.bin")
    added = set(blob_files(srv)) - before
    assert added == {str(blob_path(srv, fa["sha256"]))}, added
    assert stored_content(srv, fa["sha256"]) == data
    # Each upload is its owner's own: the same bytes do not open the other's file.
    assert download(srv, a, fa["id"]).content == data
    assert download(srv, b, fb["id"]).content == data
    assert download(srv, a, fb["id"]).status_code == 404
    assert disposition(download(srv, b, fb["id"]))[1] == "from-b.bin"


def test_second_upload_of_an_image_shares_its_thumbnail(srv):
    a, b = users(srv, 2)
    data = png(300, 200)
    fa = upload_ok(srv, a, data, "one.png")
    ta = wait_thumbnail(srv, a, fa["id"])
    assert ta.status_code == 200
    fb = upload_ok(srv, b, data, "two.png")
    assert fb["thumbnail"] == "/v1/files/%d/thumbnail" % fb["id"]
    assert (fb["width"], fb["height"]) == (300, 200)
    tb = download(srv, b, fb["id"], thumb=True)
    assert tb.status_code == 200 and tb.content == ta.content


# -- the sweep of unshared files ----------------------------------------------------------------

TTL_MS = int(T(1.5) * 1000)


@pytest.fixture(scope="module")
def swept(module_server_factory):
    return module_server_factory("--registration", "open",
                                 "--file-unshared-ttl", "%dms" % TTL_MS)


def gone_for(srv, user, fid):
    return lambda: download(srv, user, fid).status_code == 404


def test_unshared_files_are_swept_shared_ones_stay(swept):
    s = swept
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    keep_data, lose_data = os.urandom(3000), os.urandom(3000)
    keep = upload_ok(s, a, keep_data, "keep.bin")
    share(s, a, d, keep)
    lose = upload_ok(s, a, lose_data, "lose.bin")
    poll_until(gone_for(s, a, lose["id"]), T(10), what="the unshared upload to be swept")
    assert not blob_path(s, lose["sha256"]).exists()
    assert download(s, a, keep["id"]).content == keep_data
    assert download(s, b, keep["id"]).content == keep_data
    assert blob_path(s, keep["sha256"]).exists()
    # Too late to share what was swept.
    rest_send(s, a, d, file_body(lose), status=404, code="not_found")


def test_recalled_share_lets_the_file_go_with_its_thumbnail(swept):
    s = swept
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    f = upload_ok(s, a, png(50, 40), "gone.png")
    ack = share(s, a, d, f, kind="image")
    assert wait_thumbnail(s, a, f["id"]).status_code == 200
    assert blob_path(s, f["sha256"], ".thumb").exists()
    # Kept for now: well past its ttl, it is still shared.
    time.sleep(TTL_MS / 1000 + 1.2)
    assert download(s, b, f["id"]).status_code == 200
    with Chat(s, a) as w:
        w.ok("recall", conv=d, seq=ack["seq"])
    poll_until(gone_for(s, a, f["id"]), T(10), what="the recalled file to be swept")
    poll_until(lambda: not blob_path(s, f["sha256"]).exists(), T(5), what="the blob to go")
    assert not blob_path(s, f["sha256"], ".thumb").exists()


def test_a_blob_lives_while_any_file_uses_it(swept):
    s = swept
    a, b, c = users(s, 3)
    d = create_direct(s, b, c.id)["id"]
    data = png(30, 20)
    fa = upload_ok(s, a, data, "a.png")      # never shared
    fb = upload_ok(s, b, data, "b.png")
    ack = share(s, b, d, fb)
    assert fa["sha256"] == fb["sha256"]
    poll_until(gone_for(s, a, fa["id"]), T(10), what="a's unshared file to be swept")
    assert stored_content(s, fb["sha256"]) == data
    assert download(s, c, fb["id"]).content == data
    assert wait_thumbnail(s, c, fb["id"]).status_code == 200
    with Chat(s, b) as w:
        w.ok("recall", conv=d, seq=ack["seq"])
    poll_until(gone_for(s, b, fb["id"]), T(10), what="b's file to be swept")
    poll_until(lambda: not blob_path(s, fb["sha256"]).exists(), T(5), what="the blob to go")
    assert not blob_path(s, fb["sha256"], ".thumb").exists()


def writer_blocked_batch(s, user, cid, hold_first, then, settle):
    """Holds the database's write lock so the store writer waits with a message send in its
    batch; meanwhile a sweep tick queues the sweep, then `then()` queues more writes, which
    all land in the writer's next batch, in that order."""
    db = sqlite3.connect(str(s.data_dir / "pipit.db"), timeout=30, isolation_level=None)
    results = {}
    try:
        db.execute("BEGIN IMMEDIATE")
        sender = threading.Thread(target=lambda: results.update(
            send=api(s, "POST", "/v1/conversations/%d/messages" % cid, user,
                     {"cmid": new_cmid(), "body": text("blocker")}).status_code))
        sender.start()
        time.sleep(hold_first)      # a sweep tick (every 1 s) happens while the writer waits
        worker = threading.Thread(target=lambda: results.update(then=then()))
        worker.start()
        time.sleep(settle)          # the upload reaches the writer's queue
    finally:
        db.execute("COMMIT")
        db.close()
    sender.join(T(30))
    worker.join(T(30))
    assert results.get("send") == 201, results
    return results["then"]


def test_reupload_in_the_sweeps_batch_keeps_its_bytes(server_factory):
    s = server_factory.new("--registration", "open", "--file-unshared-ttl", "1s")
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    for attempt in range(2):
        data = os.urandom(5000)
        old = upload_ok(s, a, data, "old-%d.bin" % attempt)   # unshared: swept after 1 s
        new = writer_blocked_batch(s, a, d, 1.4, lambda: upload_ok(s, a, data, "new.bin"),
                                   T(0.5))
        assert new["sha256"] == old["sha256"]
        assert download(s, a, old["id"]).status_code == 404, "the old file was swept"
        r = download(s, a, new["id"])
        assert r.status_code == 200 and r.content == data, \
            "attempt %d: the new upload answers %d" % (attempt, r.status_code)
        assert blob_path(s, new["sha256"]).exists()
        # Share it, so the next attempt starts from a quiet sweep.
        share(s, a, d, new)


def test_thumbnail_made_while_its_file_is_swept_is_not_left_behind(server_factory):
    s = server_factory.new("--registration", "open", "--file-unshared-ttl", "1s")
    a = s.new_user()
    f = upload_ok(s, a, slow_png(), "slow.png")
    assert f["thumbnail"] is not None and (f["width"], f["height"]) == (10000, 10000)

    def thumb_state():
        st = download(s, a, f["id"], thumb=True).status_code
        return None if st == 503 else st
    if poll_until(thumb_state, T(20), interval=0.05, what="the file or thumbnail") == 200:
        pytest.skip("the thumbnail was made before the sweep: too fast to show the race")
    assert download(s, a, f["id"]).status_code == 404, "swept while its thumbnail was made"
    folder = blob_path(s, f["sha256"]).parent
    poll_until(lambda: not any(n.endswith(".tmp") for n in os.listdir(folder)), T(60),
               interval=0.2, what="the thumbnailer to finish")
    # The thumbnailer is free again (a later image gets its thumbnail). Shared, so that
    # the 1 s sweep cannot take it while a loaded machine's thumbnailer catches up.
    ok = upload_ok(s, a, png(20, 10), "after.png")
    share(s, a, create_direct(s, a, s.new_user().id)["id"], ok, kind="image")
    assert wait_thumbnail(s, a, ok["id"], timeout=T(60)).status_code == 200
    assert not blob_path(s, f["sha256"]).exists()
    assert not blob_path(s, f["sha256"], ".thumb").exists(), "orphaned thumbnail"


def test_restart_keeps_what_is_referenced(server_factory):
    ttl = int(T(3) * 1000)
    s = server_factory.new("--registration", "open", "--file-unshared-ttl", "%dms" % ttl)
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    kept = []
    for i in range(4):
        data = png(400 + i, 300)
        f = upload_ok(s, a, data, "k%d.png" % i)
        share(s, a, d, f, kind="image")
        kept.append((f, data))
    loose = upload_ok(s, a, b"loose bytes", "loose.txt")
    s.stop()
    (s.data_dir / "files" / "tmp" / "up-leftover").write_bytes(b"a crash left this")
    s.start()
    assert tmp_files(s) == [], "temporary files are removed at start"
    for f, data in kept:
        assert download(s, b, f["id"]).content == data
        r = wait_thumbnail(s, b, f["id"])
        assert r.status_code == 200 and webp_size(r.content)[0] == 320
    poll_until(gone_for(s, a, loose["id"]), T(15), what="the unshared file to be swept")
    for f, data in kept:
        assert download(s, b, f["id"]).content == data
        assert blob_path(s, f["sha256"]).exists()
    s.stop()
    s.start()
    for f, data in kept:
        assert download(s, a, f["id"]).content == data
        assert download(s, b, f["id"], thumb=True).status_code == 200
