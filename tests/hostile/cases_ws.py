"""WebSocket frames and the opening handshake (drivers ws_frames and handshake).

Expected close codes follow docs/protocol.md ("Close codes") and RFC 6455: 1002 for
anything RFC 6455 calls a protocol error (unmasked client frame, RSV bits without an
extension, reserved opcodes, control frames that are fragmented or over 125 bytes, bad
continuations, a 64-bit length with its top bit set, a 1-byte or invalid close code),
1003 for a binary message, 1007 for text (or a close reason) that is not UTF-8, 1009 for
a message over ws_max_message_size (1 MiB). A close frame from the client is answered
with a close carrying the same code (RFC 6455 §5.5.1), or none when it had none.
"""

import struct

import wsraw
from catalogue import (Case, handshake, http, pong, raw_http, refused, ws_close, ws_frames,
                       ws_ok)

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 0xA
PING = b'{"id":"h","op":"ping"}'
MAX = 1 << 20


def F(op, payload=b"", fin=True, mask=True, rsv=0):
    return wsraw.build_frame(op, payload, fin=fin, mask=mask, rsv=rsv)


def head64(op, length, fin=True):
    """A frame header declaring `length` in the 64-bit form, masked with a zero key."""
    return bytes([(0x80 if fin else 0) | op, 0x80 | 127]) + struct.pack("!Q", length) + b"\0" * 4


def head16(op, length):
    return bytes([0x80 | op, 0x80 | 126]) + struct.pack("!H", length) + b"\0" * 4


def close(code, reason=b""):
    return F(OP_CLOSE, struct.pack("!H", code) + reason)


def c(name, frames, expect, auth=True, xfail=None):
    return Case("ws-" + name, ws_frames, {"frames": list(frames), "auth": auth}, expect, xfail)


P1002, P1007, P1009 = ws_close(1002), ws_close(1007), ws_close(1009)

CASES = [
    c("baseline-ping-op", [F(OP_TEXT, PING)], ws_ok()),
    # -- masking and reserved bits (RFC 6455 §5.1, §5.2) -------------------------------
    c("unmasked-text", [F(OP_TEXT, PING, mask=False)], P1002),
    c("unmasked-text-before-auth", [F(OP_TEXT, PING, mask=False)], P1002, auth=False),
    c("unmasked-ping", [F(OP_PING, b"x", mask=False)], P1002),
    c("unmasked-close", [F(OP_CLOSE, struct.pack("!H", 1000), mask=False)], P1002),
    c("unmasked-continuation", [F(OP_TEXT, PING[:5], fin=False), F(OP_CONT, PING[5:], mask=False)],
      P1002),
    c("zero-mask-key-is-fine", [wsraw.build_frame(OP_TEXT, PING, mask_key=b"\0\0\0\0")], ws_ok()),
] + [
    c("rsv%d-set-on-text" % bit, [F(OP_TEXT, PING, rsv=1 << (3 - bit))], P1002) for bit in (1, 2, 3)
] + [
    c("rsv-all-set-on-text", [F(OP_TEXT, PING, rsv=7)], P1002),
    c("rsv1-set-on-ping", [F(OP_PING, b"x", rsv=4)], P1002),
    c("rsv1-set-on-continuation", [F(OP_TEXT, PING[:5], fin=False), F(OP_CONT, PING[5:], rsv=4)],
      P1002),
] + [
    c("reserved-opcode-%x" % op, [F(op, b"x")], P1002)
    for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)
] + [
    c("reserved-opcode-empty-payload", [F(0x5, b"")], P1002),
    # -- control frames (RFC 6455 §5.5) --------------------------------------------------
    c("ping-125-bytes-gets-pong", [F(OP_PING, b"p" * 125)], pong(b"p" * 125)),
    c("ping-empty-gets-pong", [F(OP_PING, b"")], pong(b"")),
    c("ping-binary-payload-gets-pong", [F(OP_PING, bytes(range(125)))], pong(bytes(range(125)))),
    c("ping-126-bytes", [F(OP_PING, b"p" * 126)], P1002),
    c("ping-64k-declared", [head16(OP_PING, 65535)], P1002),
    c("ping-2^62-declared", [head64(OP_PING, 1 << 62)], P1002),
    c("pong-126-bytes", [F(OP_PONG, b"p" * 126)], P1002),
    c("close-126-bytes", [F(OP_CLOSE, struct.pack("!H", 1000) + b"r" * 124)], P1002),
    c("fragmented-ping", [F(OP_PING, b"x", fin=False)], P1002),
    c("fragmented-pong", [F(OP_PONG, b"x", fin=False)], P1002),
    c("fragmented-close", [F(OP_CLOSE, struct.pack("!H", 1000), fin=False)], P1002),
    c("unsolicited-pong-ignored", [F(OP_PONG, b"hi"), F(OP_TEXT, PING)], ws_ok()),
    c("ping-between-fragments", [F(OP_TEXT, PING[:7], fin=False), F(OP_PING, b"mid"),
                                 F(OP_CONT, PING[7:])], (pong(b"mid"), ws_ok())),
    c("ping-flood-500", [F(OP_PING, b"%03d" % i) for i in range(500)], pong(b"000")),
    # -- fragmentation (RFC 6455 §5.4) ---------------------------------------------------
    c("continuation-without-start", [F(OP_CONT, PING)], P1002),
    c("continuation-without-start-not-fin", [F(OP_CONT, PING, fin=False)], P1002),
    c("text-inside-fragmented-text", [F(OP_TEXT, PING[:5], fin=False), F(OP_TEXT, PING[5:])],
      P1002),
    c("binary-inside-fragmented-text", [F(OP_TEXT, PING[:5], fin=False), F(OP_BIN, PING[5:])],
      P1002),
    c("fragments-one-byte-each",
      [F(OP_TEXT, PING[:1], fin=False)] + [F(OP_CONT, PING[i:i + 1], fin=False)
                                          for i in range(1, len(PING) - 1)]
      + [F(OP_CONT, PING[-1:])], ws_ok()),
    c("empty-fragments-around", [F(OP_TEXT, b"", fin=False), F(OP_CONT, PING, fin=False),
                                 F(OP_CONT, b"")], ws_ok()),
    c("frame-bytes-one-write-each", [bytes([b]) for b in F(OP_TEXT, PING)], ws_ok()),
    c("two-messages-one-write", [F(OP_TEXT, PING) + F(OP_TEXT, b'{"id":"h2","op":"ping"}')],
      (ws_ok(), ws_ok("h2"))),
    c("close-between-fragments", [F(OP_TEXT, PING[:5], fin=False), close(1000)], ws_close(1000)),
    # -- lengths (RFC 6455 §5.2, docs: ws_max_message_size) ------------------------------
    c("length-64bit-top-bit-set", [head64(OP_TEXT, 1 << 63)], P1002),
    c("length-2^64-1", [head64(OP_TEXT, (1 << 64) - 1)], P1002),
    c("length-2^63-1", [head64(OP_TEXT, (1 << 63) - 1)], P1009),
    c("length-2^32", [head64(OP_TEXT, 1 << 32)], P1009),
    c("length-limit-plus-one-declared", [head64(OP_TEXT, MAX + 1)], P1009),
    # §5.2: "the minimal number of bytes MUST be used to encode the length".
    c("length-64bit-for-small-payload", [head64(OP_TEXT, len(PING)) + PING], P1002),
    c("length-16bit-for-small-payload", [head16(OP_TEXT, len(PING)) + PING], P1002),
    c("length-64bit-for-16bit-payload", [head64(OP_TEXT, 200) + b"x" * 200], P1002),
    c("message-over-limit-in-one-frame",
      [F(OP_TEXT, b'{"id":"h","op":"ping","pad":"' + b"z" * MAX + b'"}')], P1009),
    c("message-over-limit-in-fragments",
      [F(OP_TEXT, b'{"id":"h","op":"ping","pad":"' + b"z" * (MAX // 2), fin=False),
       F(OP_CONT, b"z" * (MAX // 2), fin=False), F(OP_CONT, b"z" * 100, fin=False)], P1009),
    c("message-at-limit-is-answered",
      [F(OP_TEXT, b'{"id":"h","op":"ping","pad":"' + b"z" * (MAX - 32) + b'"}')], ws_ok()),
    c("fragments-with-huge-continuation-declared",
      [F(OP_TEXT, PING[:5], fin=False), head64(OP_CONT, (1 << 63) - 1)], P1009),
    # -- data types ----------------------------------------------------------------------
    c("binary-message", [F(OP_BIN, PING)], ws_close(1003)),
    c("binary-message-before-auth", [F(OP_BIN, b"\x00\x01")], ws_close(1003), auth=False),
    c("binary-fragmented", [F(OP_BIN, b"ab", fin=False), F(OP_CONT, b"cd")], ws_close(1003)),
    # -- UTF-8 (RFC 6455 §8.1) -----------------------------------------------------------
    c("utf8-valid-edge-code-points",
      [F(OP_TEXT, '{"id":"h","op":"ping","x":"\u0080\u07ff\u0800\uffff\U00010000\U0010ffff"}'
         .encode("utf-8"))], ws_ok()),
    c("utf8-noncharacter-is-valid", [F(OP_TEXT, '{"id":"h","op":"ping","x":"\ufffe"}'
                                       .encode("utf-8"))], ws_ok()),
    c("utf8-split-across-fragments-valid",
      [F(OP_TEXT, b'{"id":"h","op":"ping","x":"\xe2\x82', fin=False), F(OP_CONT, b'\xac"}')],
      ws_ok()),
]

INVALID_UTF8 = [
    ("ff", b"\xff"),
    ("fe", b"\xfe"),
    ("lone-continuation", b"\x80"),
    ("truncated-2-byte", b"\xc3"),
    ("truncated-3-byte", b"\xe2\x82"),
    ("truncated-4-byte", b"\xf0\x9f\x98"),
    ("overlong-slash-2-byte", b"\xc0\xaf"),
    ("overlong-nul-2-byte", b"\xc0\x80"),
    ("overlong-slash-3-byte", b"\xe0\x80\xaf"),
    ("overlong-4-byte", b"\xf0\x80\x80\xaf"),
    ("surrogate-high", b"\xed\xa0\x80"),
    ("surrogate-low", b"\xed\xbf\xbf"),
    ("surrogate-pair-cesu", b"\xed\xa0\xbd\xed\xb8\x80"),
    ("above-u10ffff", b"\xf4\x90\x80\x80"),
    ("f5-lead", b"\xf5\x80\x80\x80"),
    ("5-byte-form", b"\xf8\x88\x80\x80\x80"),
    ("6-byte-form", b"\xfc\x84\x80\x80\x80\x80"),
    ("continuation-missing-mid", b"\xe2\x28\xa1"),
]
for label, bad in INVALID_UTF8:
    CASES.append(c("utf8-invalid-" + label,
                   [F(OP_TEXT, b'{"id":"h","op":"ping","x":"' + bad + b'"}')], P1007))
CASES += [
    c("utf8-invalid-before-auth", [F(OP_TEXT, b'{"id":"h","op":"auth","token":"\xff"}')], P1007,
      auth=False),
    c("utf8-invalid-split-across-fragments",
      [F(OP_TEXT, b'{"id":"h","op":"ping","x":"\xc3', fin=False), F(OP_CONT, b'\x28"}')], P1007),
    c("utf8-invalid-in-first-fragment-fails-fast",
      [F(OP_TEXT, b'{"id":"h","x":"\xff', fin=False)], P1007),
    c("utf8-truncated-at-message-end",
      [F(OP_TEXT, b'{"id":"h","op":"ping"}\xe2\x82', fin=False), F(OP_CONT, b"")], P1007),
]

# -- the close handshake (RFC 6455 §5.5.1, §7.4) -----------------------------------------
VALID_CLOSE = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999]
# 1012-1014 are left out: registered with IANA since RFC 6455, refusing them is debatable.
INVALID_CLOSE = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
for code in VALID_CLOSE:
    CASES.append(c("close-code-%d-echoed" % code, [close(code)], ws_close(code)))
for code in INVALID_CLOSE:
    CASES.append(c("close-code-%d-invalid" % code, [close(code)], P1002))
CASES += [
    c("close-empty-payload-echoed-empty", [F(OP_CLOSE, b"")], ws_close(None)),
    c("close-1-byte-payload", [F(OP_CLOSE, b"\x03")], P1002),
    c("close-reason-123-bytes", [close(1000, b"r" * 123)], ws_close(1000)),
    c("close-reason-utf8-valid", [close(1000, "bye \u00e9\U0001f600".encode("utf-8"))],
      ws_close(1000)),
    c("close-reason-invalid-utf8", [close(1000, b"\xff\xfe")], P1007),
    c("close-reason-truncated-utf8", [close(1000, b"ok \xe2\x82")], P1007),
    c("close-before-auth", [close(1000)], ws_close(1000), auth=False),
    c("data-after-close-ignored", [close(1000), F(OP_TEXT, PING)], ws_close(1000)),
]

# -- the opening handshake (RFC 6455 §4.2.1, docs "Opening the connection") --------------
KEY15 = "MDEyMzQ1Njc4OWFiY2Rl"         # base64 of 15 bytes
KEY17 = "MDEyMzQ1Njc4OWFiY2RlZmc="     # 17 bytes
NOT_B64 = "!!!!!!!!!!!!!!!!!!!!!!=="   # 24 characters, not base64


def h(name, send, expect, xfail=None):
    return Case("handshake-" + name, handshake, send, expect, xfail)


BAD = http(400, "bad_request")
V426 = http(426, "unsupported_websocket_version")

CASES += [
    h("baseline", {}, http(101)),
    h("key-missing", {"omit": ["Sec-WebSocket-Key"]}, BAD),
    h("key-empty", {"key": ""}, BAD),
    h("key-not-base64", {"key": NOT_B64}, BAD),
    h("key-15-bytes", {"key": KEY15}, BAD),
    h("key-17-bytes", {"key": KEY17}, BAD),
    h("key-huge", {"key": "A" * 10000}, BAD),
    h("key-twice", {"extra": [("Sec-WebSocket-Key", wsraw.new_key())]}, BAD),
    h("version-8", {"version": "8"}, V426),
    h("version-12", {"version": "12"}, V426),
    h("version-14", {"version": "14"}, V426),
    h("version-13-and-8-list", {"version": "13, 8"}, V426),
    h("version-missing", {"omit": ["Sec-WebSocket-Version"]}, V426),
    h("version-twice", {"extra": [("Sec-WebSocket-Version", "13")]}, BAD),
    h("upgrade-missing", {"omit": ["Upgrade"]}, BAD),
    h("upgrade-h2c", {"omit": ["Upgrade"], "extra": [("Upgrade", "h2c")]}, BAD),
    h("upgrade-mixed-case-ok", {"omit": ["Upgrade"], "extra": [("Upgrade", "WebSocket")]},
      http(101)),
    h("connection-missing", {"omit": ["Connection"]}, BAD),
    h("connection-keep-alive-only",
      {"omit": ["Connection"], "extra": [("Connection", "keep-alive")]}, BAD),
    h("connection-token-list-ok", {"omit": ["Connection"],
                                   "extra": [("Connection", "keep-alive, Upgrade")]}, http(101)),
    h("method-post", {"method": "POST"}, http(405, "method_not_allowed")),
    h("method-put", {"method": "PUT"}, http(405, "method_not_allowed")),
    h("method-head", {"method": "HEAD"}, http(405)),  # HEAD: no body to check
    h("path-trailing-slash", {"path": "/v1/ws/"}, http(404, "not_found")),
    h("path-query-ignored", {"path": "/v1/ws?token=x"}, http(101)),
    h("subprotocol-offered-none-chosen", {"extra": [("Sec-WebSocket-Protocol", "chat, superchat")]},
      http(101)),
    h("extension-offered-none-chosen",
      {"extra": [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]},
      http(101)),
]


def handshake_http10(env):
    return wsraw.handshake_bytes(env.port).replace(b"HTTP/1.1\r\n", b"HTTP/1.0\r\n", 1)


CASES.append(Case("handshake-http-1.0", raw_http, handshake_http10,
                  refused(400, "bad_request")))
