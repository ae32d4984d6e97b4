"""WebSocket /v1/ws: handshake, Origin, session protocol, framing errors, close codes."""

import asyncio
import base64
import json
import os
import struct

import pytest
import websockets

import httpraw
import wsraw
from conftest import T
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, WSConn

ALLOWED = "https://app.example"
MAX_MSG = 4096


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open", "--allowed-origins", ALLOWED,
                                 "--ws-max-message-size", "4k")


@pytest.fixture(scope="module")
def user(srv):
    return srv.register()


@pytest.fixture
def ws(srv):
    c = WSConn(srv.port, timeout=T(10))
    yield c
    c.close()


@pytest.fixture
def authed(srv, user):
    c = WSConn(srv.port, timeout=T(10))
    ans = c.auth(user.token)
    assert "ok" in ans, ans
    yield c
    c.close()


def assert_usable(c):
    ans = c.request("ping")
    assert ans.get("ok") == {}, ans


# -- handshake --------------------------------------------------------------------------

def test_handshake_returns_101_with_accept(srv):
    key = wsraw.new_key()
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(wsraw.handshake_bytes(srv.port, key=key))
        r = c.read_response()
    assert r.status == 101, r
    assert r.header("upgrade", "").lower() == "websocket"
    assert "upgrade" in r.header("connection", "").lower()
    assert r.header("sec-websocket-accept") == wsraw.accept_for(key)
    assert r.header("sec-websocket-extensions") is None  # we offered none


@pytest.mark.parametrize("kw", [
    dict(extra=[], omit=[]),
    dict(extra=[("Connection", "keep-alive, Upgrade")], omit=["Connection"]),
    dict(extra=[("Upgrade", "WebSocket")], omit=["Upgrade"]),
    dict(extra=[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]),
], ids=["plain", "connection-token-list", "upgrade-mixed-case", "extension-offered"])
def test_handshake_variants_accepted(srv, kw):
    key = wsraw.new_key()
    with httpraw.RawHTTP(srv.port, timeout=T(10)) as c:
        c.send(wsraw.handshake_bytes(srv.port, key=key, **kw))
        r = c.read_response()
    assert r.status == 101, r
    assert r.header("sec-websocket-accept") == wsraw.accept_for(key)
    assert r.header("sec-websocket-extensions") is None


@pytest.mark.parametrize("kw,statuses", [
    (dict(omit=["Sec-WebSocket-Key"]), {400}),
    (dict(key="not base64 !!"), {400}),
    (dict(key=base64.b64encode(b"0123456789").decode()), {400}),
    (dict(key=base64.b64encode(b"0123456789abcdefghij").decode()), {400}),
    (dict(key=""), {400}),
    (dict(omit=["Upgrade"]), {400}),
    (dict(omit=["Upgrade"], extra=[("Upgrade", "h2c")]), {400}),
    (dict(omit=["Connection"]), {400}),
    (dict(omit=["Connection"], extra=[("Connection", "keep-alive")]), {400}),
    (dict(omit=["Sec-WebSocket-Version"]), {400, 426}),
    (dict(method="POST"), {400, 405}),
    (dict(method="PUT"), {400, 405}),
], ids=["no-key", "key-not-base64", "key-10-bytes", "key-20-bytes", "key-empty", "no-upgrade",
        "upgrade-h2c", "no-connection", "connection-keepalive", "no-version", "POST", "PUT"])
def test_handshake_errors_are_rejected(srv, kw, statuses):
    r = wsraw.try_handshake(srv.port, timeout=T(10), **kw)
    assert r.status in statuses, r
    assert r.header("sec-websocket-accept") is None
    if r.status == 400:
        assert r.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("version", ["8", "12", "14", "abc"])
def test_handshake_wrong_version_is_426(srv, version):
    r = wsraw.try_handshake(srv.port, timeout=T(10), version=version)
    assert r.status == 426, r
    assert r.header("sec-websocket-version") == "13"
    assert r.json()["error"]["code"] == "unsupported_websocket_version"


def test_plain_get_on_ws_path_is_rejected(srv):
    r = srv.get("/v1/ws")
    assert r.status_code in (400, 426), r.status_code
    assert r.status_code != 101


# -- Origin -----------------------------------------------------------------------------

def _origin_cases():
    return [
        (None, 101),
        ("http://127.0.0.1:{port}", 101),
        ("https://127.0.0.1:{port}", 101),
        (ALLOWED, 101),
        ("null", 403),
        ("https://app.example.evil", 403),
        ("https://evil.example", 403),
        ("https://evil.app.example", 403),
        ("http://app.example", 403),
        ("https://app.example:8443", 403),
        ("https://app.example/", 403),
        ("https://app.exampl", 403),
        ("ws://app.example", 403),
        ("http://127.0.0.1:{otherport}", 403),
        ("http://localhost:{port}", 403),
        ("", 403),
    ]


@pytest.mark.parametrize("origin,status", _origin_cases(), ids=lambda x: repr(x))
def test_origin_check(srv, origin, status):
    if origin is not None:
        origin = origin.format(port=srv.port, otherport=srv.port + 1 if srv.port < 65535 else 1024)
    r = wsraw.try_handshake(srv.port, timeout=T(10), origin=origin)
    assert r.status == status, (origin, r)
    if status == 403:
        assert r.json()["error"]["code"] == "forbidden_origin"


def test_allowed_origin_can_authenticate(srv, user):
    with WSConn(srv.port, timeout=T(10), origin=ALLOWED) as c:
        assert "ok" in c.auth(user.token)
        assert_usable(c)


def test_origin_rejected_without_allowed_origins_config(server_factory):
    s = server_factory()
    r = wsraw.try_handshake(s.port, timeout=T(10), origin=ALLOWED)
    assert r.status == 403
    ok = wsraw.try_handshake(s.port, timeout=T(10), origin="http://127.0.0.1:%d" % s.port)
    assert ok.status == 101


def test_multiple_allowed_origins(server_factory):
    s = server_factory("--allowed-origins", "https://a.example,https://b.example:8443")
    for origin, status in (("https://a.example", 101), ("https://b.example:8443", 101),
                           ("https://b.example", 403), ("https://c.example", 403)):
        r = wsraw.try_handshake(s.port, timeout=T(10), origin=origin)
        assert r.status == status, (origin, r)


# -- auth -------------------------------------------------------------------------------

def test_auth_ok_returns_user_and_protocol(ws, user):
    ans = ws.request("auth", id="a1", token=user.token)
    assert ans["re"] == "a1"
    assert ans["ok"]["protocol"] == 1
    assert ans["ok"]["user"]["id"] == user.id and ans["ok"]["user"]["username"] == user.username
    assert_usable(ws)


def test_auth_bad_token_is_unauthorized_and_connection_stays_open(ws, user):
    for bad in ("garbage", "", user.token + "x"):
        ans = ws.request("auth", token=bad)
        assert ans["error"]["code"] == "unauthorized", ans
        assert isinstance(ans["error"]["message"], str)
    ans = ws.request("ping")
    assert ans["error"]["code"] == "unauthenticated", ans
    ans = ws.auth(user.token)
    assert "ok" in ans, ans
    assert_usable(ws)


def test_auth_token_wrong_type_is_bad_request_or_unauthorized(ws):
    ans = ws.request("auth", token=12345)
    assert ans["error"]["code"] in ("bad_request", "unauthorized"), ans
    ans = ws.request("auth")
    assert ans["error"]["code"] in ("bad_request", "unauthorized"), ans


def test_op_before_auth_is_unauthenticated(ws, user):
    for op in ("ping", "send", "whatever"):
        ans = ws.request(op)
        assert ans["error"]["code"] == "unauthenticated", (op, ans)
    assert "ok" in ws.auth(user.token)
    assert_usable(ws)


# -- ops --------------------------------------------------------------------------------

def test_ping_op_returns_empty_ok(authed):
    ans = authed.request("ping", id="p-1")
    assert ans == {"re": "p-1", "ok": {}}


def test_integer_id_echoed_as_integer(authed):
    authed.send_json({"id": 42, "op": "ping"})
    ans = authed.recv_json()
    assert ans["re"] == 42 and type(ans["re"]) is int and ans["ok"] == {}


def test_many_requests_answered_in_order(authed):
    for i in range(50):
        authed.send_json({"id": i, "op": "ping"})
    got = [authed.recv_json()["re"] for _ in range(50)]
    assert got == list(range(50))


def test_unknown_op(authed):
    ans = authed.request("no_such_op")
    assert ans["error"]["code"] == "unknown_op", ans
    assert_usable(authed)


@pytest.mark.parametrize("text,re", [
    ("not json", None),
    ("{", None),
    ("[1,2,3]", None),
    ('"a string"', None),
    ("42", None),
    ("null", None),
    ("", None),
    ('{"op":"ping"}', None),
    ('{"id":"x1"}', "x1"),
    ('{"id":"x2","op":42}', "x2"),
    ('{"id":7}', 7),
], ids=lambda x: repr(x))
def test_bad_request_keeps_connection_usable(authed, text, re):
    authed.send_text(text)
    ans = authed.recv_json()
    assert "re" in ans and ans["re"] == re, ans
    assert ans["error"]["code"] == "bad_request", ans
    assert_usable(authed)


def test_bad_request_before_auth_keeps_connection_usable(ws, user):
    ws.send_text("not json")
    ans = ws.recv_json()
    assert ans["re"] is None and ans["error"]["code"] == "bad_request"
    assert "ok" in ws.auth(user.token)


def test_unicode_in_frames_is_fine(authed):
    ans = authed.request("ping", id="ключ-🔑")
    assert ans["re"] == "ключ-🔑" and ans["ok"] == {}


def test_client_ping_frame_gets_pong_with_same_payload(authed):
    authed.send_ping(b"hello-ping")
    op, payload = authed.recv_message()
    assert (op, payload) == (OP_PONG, b"hello-ping")
    assert_usable(authed)


def test_unsolicited_pong_is_ignored(authed):
    authed.send_pong(b"unsolicited")
    assert_usable(authed)


def test_fragmented_message_with_ping_in_between(authed):
    msg = json.dumps({"id": "frag", "op": "ping", "pad": "é" * 10}, ensure_ascii=False).encode("utf-8")
    # Split inside a multi-byte character: fragments need not be valid UTF-8 alone.
    cut1 = msg.index("é".encode()) + 1
    cut2 = len(msg) - 5
    authed.send_frame(OP_TEXT, msg[:cut1], fin=False)
    authed.send_frame(OP_CONT, msg[cut1:cut2], fin=False)
    authed.send_frame(OP_PING, b"mid", fin=True)
    authed.send_frame(OP_CONT, msg[cut2:], fin=True)
    op, payload = authed.recv_message()
    assert (op, payload) == (OP_PONG, b"mid")
    ans = authed.recv_json()
    assert ans == {"re": "frag", "ok": {}}


def test_many_small_fragments_reassembled(authed):
    msg = json.dumps({"id": "tiny", "op": "ping"}).encode()
    for i, b in enumerate(msg):
        authed.send_frame(OP_TEXT if i == 0 else OP_CONT, bytes([b]), fin=(i == len(msg) - 1))
    assert authed.recv_json() == {"re": "tiny", "ok": {}}


def test_message_just_under_limit_is_accepted(authed):
    msg = {"id": "big", "op": "ping", "pad": ""}
    msg["pad"] = "x" * (MAX_MSG - len(json.dumps(msg)) - 16)
    authed.send_json(msg)
    assert authed.recv_json() == {"re": "big", "ok": {}}


def test_message_with_16bit_length_under_limit(srv, user):
    # Exercise the 126 length form: a 2 KiB frame on a default-limit connection.
    with WSConn(srv.port, timeout=T(10)) as c:
        assert "ok" in c.auth(user.token)
        c.send_json({"id": "l", "op": "ping", "pad": "y" * 2000})
        assert c.recv_json() == {"re": "l", "ok": {}}


# -- close codes ------------------------------------------------------------------------

def expect_code(c, code):
    closed = c.expect_close(T(10))
    assert closed.code == code, closed


def test_binary_frame_closes_1003(authed):
    authed.send_frame(OP_BINARY, b'{"id":"b","op":"ping"}')
    expect_code(authed, 1003)


def test_binary_frame_before_auth_closes_1003(ws):
    ws.send_frame(OP_BINARY, b"\x00\x01")
    expect_code(ws, 1003)


@pytest.mark.parametrize("payload", [
    b'{"id":"u","op":"ping","x":"\xff"}',
    b'{"id":"u","op":"ping","x":"\xc3"}',
    b'{"id":"u","op":"ping","x":"\xed\xa0\x80"}',  # UTF-16 surrogate
    b'{"id":"u","op":"ping","x":"\xc0\xaf"}',  # overlong '/'
])
def test_invalid_utf8_closes_1007(authed, payload):
    authed.send_frame(OP_TEXT, payload)
    expect_code(authed, 1007)


def test_invalid_utf8_across_fragments_closes_1007(authed):
    authed.send_frame(OP_TEXT, b'{"id":"u","op":"ping","x":"\xc3', fin=False)
    authed.send_frame(OP_CONT, b'\x28"}', fin=True)
    expect_code(authed, 1007)


def test_invalid_utf8_close_reason_closes_1007_or_1002(authed):
    authed.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"\xff\xfe")
    closed = authed.expect_close(T(10))
    assert closed.code in (1002, 1007), closed


PROTOCOL_VIOLATIONS = {
    "unmasked-text": lambda c: c.send_frame(OP_TEXT, b'{"id":1,"op":"ping"}', mask=False),
    "unmasked-ping": lambda c: c.send_frame(OP_PING, b"x", mask=False),
    "rsv1-set": lambda c: c.send_frame(OP_TEXT, b'{"id":1,"op":"ping"}', rsv=4),
    "rsv3-set": lambda c: c.send_frame(OP_TEXT, b'{"id":1,"op":"ping"}', rsv=1),
    "reserved-opcode-3": lambda c: c.send_frame(0x3, b"x"),
    "reserved-opcode-b": lambda c: c.send_frame(0xB, b"x"),
    "fragmented-ping": lambda c: c.send_frame(OP_PING, b"x", fin=False),
    "ping-126-bytes": lambda c: c.send_frame(OP_PING, b"p" * 126),
    "continuation-without-start": lambda c: c.send_frame(OP_CONT, b"x", fin=True),
    "text-inside-fragmented": lambda c: (c.send_frame(OP_TEXT, b'{"id":', fin=False),
                                         c.send_frame(OP_TEXT, b'1}', fin=True)),
    "close-1-byte-payload": lambda c: c.send_frame(OP_CLOSE, b"\x03"),
    "close-code-1005": lambda c: c.send_frame(OP_CLOSE, struct.pack("!H", 1005)),
    "close-code-999": lambda c: c.send_frame(OP_CLOSE, struct.pack("!H", 999)),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_VIOLATIONS))
def test_protocol_violation_closes_1002(authed, name):
    PROTOCOL_VIOLATIONS[name](authed)
    expect_code(authed, 1002)


def test_unmasked_frame_before_auth_closes_1002(ws):
    ws.send_frame(OP_TEXT, b'{"id":1,"op":"ping"}', mask=False)
    expect_code(ws, 1002)


def test_message_over_limit_closes_1009(authed):
    authed.send_json({"id": "huge", "op": "ping", "pad": "z" * (MAX_MSG + 100)})
    expect_code(authed, 1009)


def test_fragmented_message_over_limit_closes_1009(authed):
    piece = b"z" * 2000
    authed.send_frame(OP_TEXT, b'{"id":"h","op":"ping","pad":"' + piece, fin=False)
    authed.send_frame(OP_CONT, piece, fin=False)
    # This fragment takes the message past 4 KiB; nothing more is sent, so the server
    # has no unread bytes when it closes.
    authed.send_frame(OP_CONT, piece, fin=False)
    expect_code(authed, 1009)


def test_huge_declared_frame_length_closes_1009(authed):
    # The header claims 1 GiB. The server must close with 1009 long before that much
    # arrives (at the header, or once the limit is passed): we send at most 256 KiB.
    key = os.urandom(4)
    authed.send_raw(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 1 << 30) + key)
    chunk = wsraw.apply_mask(b"a" * 4096, key)  # valid UTF-8 once unmasked
    for _ in range(64):
        if authed.http.readable_within(0.01):
            break
        try:
            authed.send_raw(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
    expect_code(authed, 1009)


def test_client_close_is_echoed(authed):
    authed.send_close(1000, b"bye")
    closed = authed.expect_close(T(10))
    assert closed.code == 1000 and not closed.eof, closed


def test_server_still_healthy_after_ws_errors(srv):
    assert srv.get("/healthz").json() == {"status": "ok"}


# -- logout closes sockets ----------------------------------------------------------------

def test_logout_closes_websockets_of_that_token_with_1008(srv):
    u = srv.register()
    other_token = srv.login(u.username, u.password)
    a = WSConn(srv.port, timeout=T(10))
    b = WSConn(srv.port, timeout=T(10))
    keep = WSConn(srv.port, timeout=T(10))
    try:
        for c, tok in ((a, u.token), (b, u.token), (keep, other_token)):
            assert "ok" in c.auth(tok)
        r = srv.post("/v1/auth/logout", token=u.token)
        assert r.status_code == 204
        for c in (a, b):
            closed = c.expect_close(T(10))
            assert closed.code == 1008, closed
        # The same user's other session is untouched.
        assert_usable(keep)
        # The dead token cannot authenticate a new socket.
        with WSConn(srv.port, timeout=T(10)) as d:
            assert d.auth(u.token)["error"]["code"] == "unauthorized"
    finally:
        for c in (a, b, keep):
            c.close()


# -- a real client library ----------------------------------------------------------------

def test_websockets_library_client(srv, user):
    async def run():
        async with websockets.connect(srv.ws_url, open_timeout=T(10), ping_interval=None,
                                      close_timeout=T(5)) as c:
            await c.send(json.dumps({"id": 1, "op": "auth", "token": user.token}))
            ans = json.loads(await asyncio.wait_for(c.recv(), T(10)))
            assert ans["re"] == 1 and ans["ok"]["protocol"] == 1
            pong_waiter = await c.ping(b"lib")
            await asyncio.wait_for(pong_waiter, T(10))
            await c.send(json.dumps({"id": 2, "op": "ping"}))
            assert json.loads(await asyncio.wait_for(c.recv(), T(10))) == {"re": 2, "ok": {}}
        assert c.close_code == 1000
    asyncio.run(run())
