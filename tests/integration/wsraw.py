"""A tiny raw WebSocket client (RFC 6455) for byte-exact tests.

It builds any frame a hostile or broken client might send (fragmented, control,
binary, invalid UTF-8, unmasked, reserved bits, oversized) and parses what the
server sends back, including close codes. Every read has a deadline.
"""

import base64
import hashlib
import json
import os
import struct
import time

import httpraw

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


class WSClosed(Exception):
    """The connection ended: `code` is the close code (None for EOF without a close frame)."""

    def __init__(self, code, reason="", eof=False):
        super().__init__("websocket closed: code=%r reason=%r eof=%r" % (code, reason, eof))
        self.code = code
        self.reason = reason
        self.eof = eof


class WSProtocolError(Exception):
    pass


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.masked = masked
        self.payload = payload

    def __repr__(self):
        return "<Frame fin=%d rsv=%d op=%#x masked=%d len=%d %r>" % (
            self.fin, self.rsv, self.opcode, self.masked, len(self.payload), self.payload[:80])


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(payload, key):
    if not payload:
        return b""
    # XOR through big integers: fast enough for megabytes.
    reps = (len(payload) + 3) // 4
    k = (key * reps)[: len(payload)]
    x = int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")
    return x.to_bytes(len(payload), "big")


def close_payload(code, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


def handshake_bytes(port, path="/v1/ws", key=None, version="13", origin=None,
                    method="GET", extra=None, omit=()):
    """Build the opening handshake; `omit` lists header names to leave out."""
    headers = [
        ("Host", "127.0.0.1:%d" % port),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key if key is not None else new_key()),
        ("Sec-WebSocket-Version", version),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    omit_l = {o.lower() for o in omit}
    headers = [(n, v) for n, v in headers if n.lower() not in omit_l]
    headers += list(extra or [])  # after `omit`, so a header can be replaced
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % (n, v) for n, v in headers) + "\r\n"
    return head.encode("latin-1")


def try_handshake(port, timeout=10.0, **kw):
    """Send a handshake and return the HTTP response (whatever its status)."""
    c = httpraw.RawHTTP(port, timeout=timeout)
    try:
        c.send(handshake_bytes(port, **kw))
        return c.read_response(method=kw.get("method", "GET"))
    finally:
        c.close()


class WSConn:
    """One client WebSocket over a raw socket."""

    def __init__(self, port, timeout=10.0, origin=None, extra=None, rcvbuf=None):
        self.timeout = timeout
        self.http = httpraw.RawHTTP(port, timeout=timeout, rcvbuf=rcvbuf)
        self.sock = self.http.sock
        key = new_key()
        self.http.send(handshake_bytes(port, key=key, origin=origin, extra=extra))
        resp = self.http.read_response()
        if resp.status != 101:
            self.http.close()
            raise WSProtocolError("handshake failed: %r" % resp)
        if resp.header("sec-websocket-accept") != accept_for(key):
            self.http.close()
            raise WSProtocolError("bad Sec-WebSocket-Accept in %r" % resp)
        self.handshake = resp
        self._next_id = 0
        self.close_sent = False
        self.pings_seen = []

    # -- sending -------------------------------------------------------------------
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.send_raw(build_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode("utf-8") if isinstance(text, str) else text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def send_ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def send_pong(self, payload=b""):
        self.send_frame(OP_PONG, payload)

    def send_close(self, code=1000, reason=b""):
        self.close_sent = True
        self.send_frame(OP_CLOSE, close_payload(code, reason) if code is not None else b"")

    # -- receiving -----------------------------------------------------------------
    def _need(self, n, deadline):
        while len(self.http.buf) < n:
            try:
                more = self.http._fill(deadline)
            except TimeoutError:
                raise
            if not more:
                raise WSClosed(None, eof=True)

    def recv_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        self._need(2, deadline)
        b0, b1 = self.http.buf[0], self.http.buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack("!H", self.http.buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack("!Q", self.http.buf[2:10])[0]
            pos = 10
        masked = bool(b1 & 0x80)
        if masked:
            raise WSProtocolError("server sent a masked frame (RFC 6455 5.1)")
        if n > (256 << 20):
            raise WSProtocolError("absurd frame length %d" % n)
        self._need(pos + n, deadline)
        payload = self.http.buf[pos:pos + n]
        self.http.buf = self.http.buf[pos + n:]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, payload)

    def recv_message(self, timeout=None, auto_pong=True):
        """Next data message as (opcode, payload). Raises WSClosed on a close frame/EOF.

        Server pings are recorded in `pings_seen` and, if `auto_pong`, answered."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        parts = []
        first_op = None
        for _ in range(100000):
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f.rsv:
                raise WSProtocolError("server set RSV bits: %r" % f)
            if f.opcode == OP_CLOSE:
                code, reason = None, ""
                if len(f.payload) >= 2:
                    code = struct.unpack("!H", f.payload[:2])[0]
                    reason = f.payload[2:].decode("utf-8", "replace")
                if not self.close_sent:
                    try:
                        self.send_close(code if code is not None else 1000)
                    except OSError:
                        pass
                raise WSClosed(code, reason)
            if f.opcode == OP_PING:
                self.pings_seen.append(time.monotonic())
                if auto_pong:
                    self.send_pong(f.payload)
                continue
            if f.opcode == OP_PONG:
                return (OP_PONG, f.payload) if first_op is None else self._bad(f)
            if f.opcode in (OP_TEXT, OP_BINARY):
                if first_op is not None:
                    raise WSProtocolError("new data frame inside a fragmented message")
                first_op = f.opcode
            elif f.opcode == OP_CONT:
                if first_op is None:
                    raise WSProtocolError("continuation without a start frame")
            else:
                raise WSProtocolError("unknown opcode from server: %r" % f)
            parts.append(f.payload)
            if f.fin:
                return first_op, b"".join(parts)
        raise WSProtocolError("too many frames")

    def _bad(self, f):
        raise WSProtocolError("pong inside a fragmented message: %r" % f)

    def recv_json(self, timeout=None):
        """Next text message parsed as JSON (pongs are skipped)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        for _ in range(10000):
            op, payload = self.recv_message(max(0.0, deadline - time.monotonic()))
            if op == OP_PONG:
                continue
            if op != OP_TEXT:
                raise WSProtocolError("expected a text message, got opcode %#x" % op)
            return json.loads(payload.decode("utf-8"))
        raise WSProtocolError("no text message")

    def new_id(self):
        self._next_id += 1
        return "c%d" % self._next_id

    def request(self, op, id=None, timeout=None, **fields):
        """Send {"id","op",...} and return the answer whose `re` matches (events skipped)."""
        rid = id if id is not None else self.new_id()
        msg = {"id": rid, "op": op}
        msg.update(fields)
        self.send_json(msg)
        return self.wait_answer(rid, timeout)

    def wait_answer(self, rid, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        for _ in range(10000):
            m = self.recv_json(max(0.0, deadline - time.monotonic()))
            if "re" in m and m["re"] == rid and type(m["re"]) is type(rid):
                return m
            if "ev" in m:
                continue
            raise WSProtocolError("unexpected message %r while waiting for re=%r" % (m, rid))
        raise WSProtocolError("no answer")

    def auth(self, token, timeout=None):
        return self.request("auth", token=token, timeout=timeout)

    def expect_close(self, timeout=None, auto_pong=True):
        """Read until the server closes; returns the WSClosed (code None = bare EOF/reset)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        for _ in range(1000000):
            try:
                self.recv_message(max(0.0, deadline - time.monotonic()), auto_pong=auto_pong)
            except WSClosed as e:
                if not e.eof:
                    # The server must then close the TCP connection (RFC 6455 7.1.1).
                    self.http.wait_closed(max(0.5, deadline - time.monotonic()))
                return e
            except TimeoutError:
                raise
            except OSError as e:
                # A reset counts as "dropped" (no close frame).
                return WSClosed(None, str(e), eof=True)
        raise WSProtocolError("server never closed")

    def close(self):
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
