"""A strict fake Web Push service and UnifiedPush distributor for integration tests.

pipitd posts to it over plain HTTP/1.1 on 127.0.0.1. It plays the part of a browser
vendor's push service (Mozilla autopush, FCM webpush, Apple) on `/wp/<sid>` and of a
UnifiedPush distributor on `/up/<sid>`. It is meant to be at least as strict as the real
services: every protocol mistake is answered with the status a real service would send
AND recorded in `rejected`, so a test can assert that there were none.

Checks on `/wp/<sid>` follow RFC 8030 §5 (headers), RFC 8292 (VAPID) and RFC 8291 /
RFC 8188 (aes128gcm). The facts are collected in docs/internals/push-research.md §1 and §4.
Order of checks: method, subscription, framing, headers, size, VAPID, decryption; only then
are scripted responses and hold() applied, so a scripted status is never a shortcut past
validation.

Beyond the brief's API: `holding` (requests waiting for release()), `dropped` (sids of valid
requests whose client left before the answer), `check_vapid()` (usable on its own, with an
injectable clock), `FakeWebPush(now=...)`, and a GET on `/up/<sid>` answering UnifiedPush
discovery `{"unifiedpush":{"version":1}}` (neither accepted nor rejected).

Concurrency: ThreadingHTTPServer serves each connection on its own daemon thread. All
shared state lives behind one lock (`_cond`); the public lists are returned as copies.
Every wait is bounded: hold() for 60 s, idle keep-alive connections for 60 s.
"""

import base64
import binascii
import collections
import dataclasses
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import select
import socket
import socketserver
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX_BODY = 4096  # RFC 8030 §7.2: a push service need not accept more
MAX_DRAIN = 1 << 20  # larger bodies are not read; the connection is closed instead
MAX_VAPID_LIFETIME = 24 * 3600  # RFC 8292 §2: exp no more than 24 h ahead
HOLD_LIMIT = 60.0
IDLE_LIMIT = 60.0
URGENCIES = ("very-low", "low", "normal", "high")
TOPIC_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
TTL_RE = re.compile(r"[0-9]{1,10}")
B64U_RE = re.compile(r"[A-Za-z0-9_-]*")
PATH_RE = re.compile(r"/(wp|up)/([A-Za-z0-9]+)")
KINDS = {"wp": "webpush", "up": "unifiedpush"}
LINGER = 0.5  # seconds to drain a closing connection so the client sees our answer, not a reset


# --- small helpers ------------------------------------------------------------------------


def b64u_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    """Strict base64url without padding (RFC 7515 §2), as JWS and VAPID `k` require."""
    if not B64U_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def _public_bytes(public_key):
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _origin(base):
    parts = urllib.parse.urlsplit(base)
    return "%s://%s" % (parts.scheme, parts.netloc)


class Reject(Exception):
    """A protocol mistake: answered with `status` and recorded with `reason`."""

    def __init__(self, status, reason):
        super().__init__("%d %s" % (status, reason))
        self.status = status
        self.reason = reason


@dataclasses.dataclass
class Message:
    sid: str
    kind: str  # "webpush" | "unifiedpush"
    plaintext: bytes
    json: object  # the parsed plaintext when it is JSON, else None
    ttl: object  # int; None only for a UnifiedPush request without TTL
    urgency: object
    topic: object
    claims: dict  # VAPID JWT claims (webpush only; {} for unifiedpush)
    headers: dict  # lowercased names
    at: float


@dataclasses.dataclass(frozen=True)
class Rejection:
    sid: object  # None when the path named no subscription
    status: int
    reason: str


@dataclasses.dataclass
class _Subscriber:
    sid: str
    kind: str
    ua_private: object = None  # ec.EllipticCurvePrivateKey, webpush only
    auth: bytes = b""
    gone: bool = False
    script: collections.deque = dataclasses.field(default_factory=collections.deque)


# --- RFC 8292 VAPID -------------------------------------------------------------------------


def _parse_vapid_authorization(value):
    """`vapid t=<jwt>, k=<key>` -> (t, k). Parameters may come in any order."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise Reject(401, "missing_auth")
    params = {}
    for item in rest.split(","):
        name, eq, val = item.strip().partition("=")
        name = name.strip().lower()
        if not eq or name not in ("t", "k") or name in params:
            raise Reject(403, "vapid_malformed")
        params[name] = val.strip()
    if set(params) != {"t", "k"}:
        raise Reject(403, "vapid_malformed")
    return params["t"], params["k"]


def _vapid_public_key(k):
    try:
        raw = b64u_decode(k)
    except (ValueError, binascii.Error):
        raise Reject(403, "vapid_bad_key") from None
    if len(raw) != 65 or raw[0] != 4:
        raise Reject(403, "vapid_bad_key")
    try:
        return raw, ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise Reject(403, "vapid_bad_key") from None


def _jwt_parts(token):
    parts = token.split(".")
    if len(parts) != 3:
        raise Reject(403, "vapid_malformed")
    try:
        header = json.loads(b64u_decode(parts[0]))
        claims = json.loads(b64u_decode(parts[1]))
        signature = b64u_decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Reject(403, "vapid_malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Reject(403, "vapid_malformed")
    return parts, header, claims, signature


def _check_claims(claims, origin, now):
    if claims.get("aud") != origin:
        raise Reject(403, "vapid_aud")
    exp = claims.get("exp")
    if type(exp) is not int:  # bool and float are not NumericDate integers here
        raise Reject(403, "vapid_exp")
    if exp <= now:
        raise Reject(403, "vapid_expired")
    if exp > now + MAX_VAPID_LIFETIME:
        raise Reject(403, "vapid_exp_too_far")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
        raise Reject(403, "vapid_sub")


def check_vapid(authorization, origin, now, expected_key=None):
    """Verify an RFC 8292 Authorization header value; returns (claims, k_bytes) or raises Reject.

    `expected_key` is the server's key as base64url; `now` is injectable so the RFC 8292
    §2.4 example (long expired) can still check the signature path.
    """
    if not authorization:
        raise Reject(401, "missing_auth")
    token, k = _parse_vapid_authorization(authorization)
    k_raw, public_key = _vapid_public_key(k)
    if expected_key is not None and k_raw != b64u_decode(expected_key):
        raise Reject(403, "vapid_key_mismatch")
    parts, header, claims, signature = _jwt_parts(token)
    if header.get("typ") != "JWT" or header.get("alg") != "ES256":
        raise Reject(403, "vapid_header")
    if len(signature) != 64:  # JWS ES256 is raw r||s, never DER (RFC 7518 §3.4)
        raise Reject(403, "vapid_signature")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public_key.verify(der, (parts[0] + "." + parts[1]).encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Reject(403, "vapid_signature") from None
    _check_claims(claims, origin, now)
    return claims, k_raw


# --- RFC 8291 / RFC 8188 aes128gcm ----------------------------------------------------------


def _derive_cek_nonce(ua_private, auth, as_public_raw, salt):
    """push-research §1.3: ECDH, then the RFC 8291 §3.4 and RFC 8188 §2.2 HKDF chain."""
    as_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public_raw)
    ecdh_secret = ua_private.exchange(ec.ECDH(), as_public)
    ua_public_raw = _public_bytes(ua_private.public_key())
    key_info = b"WebPush: info\x00" + ua_public_raw + as_public_raw
    ikm = _hmac(_hmac(auth, ecdh_secret), key_info + b"\x01")
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    return cek, nonce


def decrypt_aes128gcm(body, ua_private, auth):
    """Decrypt a single-record RFC 8291 body; raises Reject(400, "decrypt_failed") on any fault."""
    try:
        return _decrypt(body, ua_private, auth)
    except (ValueError, InvalidTag, IndexError):
        raise Reject(400, "decrypt_failed") from None


def _decrypt(body, ua_private, auth):
    if len(body) < 21:
        raise ValueError("short header")
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    if rs < 18 or idlen != 65:  # RFC 8291 §4: keyid is the sender's 65-byte public key
        raise ValueError("bad header")
    as_public_raw, ciphertext = body[21:21 + idlen], body[21 + idlen:]
    if len(as_public_raw) != 65 or len(ciphertext) < 17 or len(ciphertext) > rs:
        raise ValueError("not exactly one record")  # RFC 8291 §4: a single record
    cek, nonce = _derive_cek_nonce(ua_private, auth, as_public_raw, salt)
    record = AESGCM(cek).decrypt(nonce, ciphertext, None).rstrip(b"\x00")
    if not record.endswith(b"\x02"):  # RFC 8188 §2: the last record's delimiter
        raise ValueError("bad delimiter")
    return record[:-1]


# --- the HTTP handler -----------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_LIMIT
    server_version = "fake-webpush"
    sys_version = ""

    def __getattr__(self, name):
        # Every method (GET, PUT, BREW...) comes here so a wrong one is answered 405 and recorded.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self):
        self.server.fake._track(self.connection, False)
        super().finish()
        self._linger()

    def _linger(self):
        """Half-close, then drain what the client still sends (bounded), so closing a socket
        with unread input does not turn our last answer into a TCP reset."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline, budget = time.monotonic() + LINGER, MAX_DRAIN
            while budget > 0 and time.monotonic() < deadline:
                readable, _, _ = select.select([self.connection], [], [], deadline - time.monotonic())
                chunk = self.connection.recv(65536) if readable else b""
                if not chunk:
                    return
                budget -= len(chunk)
        except (OSError, ValueError):
            pass

    def log_message(self, *args):
        pass  # tests read `accepted` and `rejected`, not stderr

    def _handle(self):
        self.server.fake._serve(self)

    def drain_body(self):
        """Read a Content-Length body so a rejection keeps the connection in sync."""
        if self.headers.get_all("Transfer-Encoding"):
            self.close_connection = True
            return b""
        lengths = self.headers.get_all("Content-Length") or [""]
        length = lengths[0].strip()
        if len(lengths) > 1 or not length.isdigit() or int(length) > MAX_DRAIN:
            self.close_connection = True
            return b""
        return self.rfile.read(int(length))

    def peer_gone(self):
        """True once the client has closed its end (EOF or reset on a peek)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def respond(self, status, headers, body):
        body = body or b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of deliveries must not wait in SYN retries

    def server_bind(self):
        # HTTPServer.server_bind would call getfqdn(), a reverse DNS lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# --- the fake -------------------------------------------------------------------------------


class FakeWebPush:
    """See the module docstring. The public API is what the integration tests use."""

    def __init__(self, now=time.time):
        self._now = now
        self._cond = threading.Condition()
        self._subs = {}
        self._sids = itertools.count(1)
        self._msg_ids = itertools.count(1)
        self._accepted = []
        self._rejected = []
        self._dropped = []
        self._requests = 0
        self._held = False
        self._holding = 0
        self._stopping = False
        self._vapid_key = None
        self._connections = set()
        self._thread = None
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port

    # lifecycle

    def start(self):
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-webpush", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Close the listener and every open connection; held handlers give up unanswered."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            connections = list(self._connections)
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(2.0)
            assert not self._thread.is_alive(), "fake web push server thread did not stop"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # subscriptions

    def set_vapid_key(self, b64u):
        raw = b64u_decode(b64u)
        assert len(raw) == 65 and raw[0] == 4, "VAPID key must be a 65-byte uncompressed point"
        with self._cond:
            self._vapid_key = b64u

    def subscribe(self, keys=None):
        """A new Web Push subscriber. keys=(ua_private_32_bytes, auth_16_bytes) fixes the keys
        (RFC 8291 Appendix A); otherwise a fresh P-256 key pair and auth secret are made."""
        if keys is None:
            ua_private = ec.generate_private_key(ec.SECP256R1())
            auth = os.urandom(16)
        else:
            ua_private = ec.derive_private_key(int.from_bytes(keys[0], "big"), ec.SECP256R1())
            auth = bytes(keys[1])
        sub = self._add(_Subscriber(sid="", kind="webpush", ua_private=ua_private, auth=auth))
        return {
            "endpoint": "%s/wp/%s" % (self.base, sub.sid),
            "keys": {
                "p256dh": b64u_encode(_public_bytes(ua_private.public_key())),
                "auth": b64u_encode(auth),
            },
        }

    def subscribe_up(self):
        sub = self._add(_Subscriber(sid="", kind="unifiedpush"))
        return {"endpoint": "%s/up/%s" % (self.base, sub.sid)}

    def sid(self, endpoint):
        path = urllib.parse.urlsplit(endpoint).path
        match = PATH_RE.fullmatch(path)
        if not match:
            raise ValueError("not an endpoint of this fake: %r" % endpoint)
        return match.group(2)

    def script(self, endpoint, *responses):
        for response in responses:
            assert len(response) == 3, "a scripted response is (status, headers, body)"
        with self._cond:
            self._subs[self.sid(endpoint)].script.extend(responses)

    def unsubscribe(self, endpoint):
        with self._cond:
            self._subs[self.sid(endpoint)].gone = True

    # hold / release

    def hold(self):
        with self._cond:
            self._held = True

    def release(self):
        with self._cond:
            self._held = False
            self._cond.notify_all()

    @property
    def holding(self):
        """How many valid requests are waiting for release() right now."""
        with self._cond:
            return self._holding

    # observations

    @property
    def accepted(self):
        with self._cond:
            return list(self._accepted)

    @property
    def rejected(self):
        with self._cond:
            return list(self._rejected)

    @property
    def dropped(self):
        """sids of valid requests whose client went away before the answer was sent."""
        with self._cond:
            return list(self._dropped)

    @property
    def requests(self):
        with self._cond:
            return self._requests

    def by_sid(self, sid):
        with self._cond:
            return [m for m in self._accepted if m.sid == sid]

    def wait_accepted(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._accepted) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "fake web push: wanted %d accepted within %.1fs, have %d; "
                        "requests=%d rejected=%r dropped=%r" % (
                            n, timeout, len(self._accepted), self._requests,
                            self._rejected[-10:], self._dropped[-10:]))
                self._cond.wait(min(left, 0.1))
            return list(self._accepted)

    # internals

    def _add(self, sub):
        with self._cond:
            sub.sid = "s%d%s" % (next(self._sids), os.urandom(6).hex())
            self._subs[sub.sid] = sub
        return sub

    def _track(self, conn, is_open):
        with self._cond:
            if is_open:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _serve(self, handler):
        with self._cond:
            self._requests += 1
        body = handler.drain_body()
        match = PATH_RE.fullmatch(urllib.parse.urlsplit(handler.path).path)
        sid = match.group(2) if match else None
        try:
            message = self._validate(handler, match, sid, body)
        except Reject as rej:
            self._reject(handler, sid, rej.status, rej.reason)
            return
        if message is None:  # UnifiedPush discovery: not a push
            handler.respond(200, {"Content-Type": "application/json"},
                            b'{"unifiedpush":{"version":1}}')
            return
        if not self._wait_while_held(handler):
            self._drop(handler, sid)
            return
        self._answer(handler, message)

    def _validate(self, handler, match, sid, body):
        """The Message a valid push would deliver; None for a discovery GET; else Reject."""
        if match is None:
            raise Reject(404, "unknown_path")
        kind = KINDS[match.group(1)]
        # UnifiedPush SERV_1.2.0: a GET on the endpoint is discovery, answered, not a push.
        discovery = kind == "unifiedpush" and handler.command == "GET"
        if handler.command != "POST" and not discovery:
            raise Reject(405, "method_not_allowed")
        with self._cond:
            sub = self._subs.get(sid)
        if sub is None or sub.kind != kind:
            raise Reject(404, "unknown_subscription")
        if sub.gone:
            raise Reject(410, "gone")
        if discovery:
            return None
        _check_framing(handler.headers)
        if sub.kind == "webpush":
            return self._validate_webpush(handler.headers, sub, body)
        return self._validate_unifiedpush(handler.headers, sub, body)

    def _validate_webpush(self, headers, sub, body):
        encoding = _single(headers, "Content-Encoding")
        if encoding is None or encoding.strip().lower() != "aes128gcm":
            raise Reject(400, "bad_content_encoding")
        ttl = _ttl(headers, required=True)
        urgency = _single(headers, "Urgency")
        if urgency is not None and urgency not in URGENCIES:
            raise Reject(400, "bad_urgency")
        topic = _single(headers, "Topic")
        if topic is not None and not TOPIC_RE.fullmatch(topic):
            raise Reject(400, "bad_topic")
        if len(body) > MAX_BODY:
            raise Reject(413, "too_large")
        with self._cond:
            expected_key = self._vapid_key
        claims, _ = check_vapid(_single(headers, "Authorization"), _origin(self.base),
                                self._now(), expected_key)
        plaintext = decrypt_aes128gcm(body, sub.ua_private, sub.auth)
        return _message(sub.sid, "webpush", plaintext, ttl, urgency, topic, claims, headers)

    def _validate_unifiedpush(self, headers, sub, body):
        if len(body) > MAX_BODY:
            raise Reject(413, "too_large")
        ttl = _ttl(headers, required=False)
        return _message(sub.sid, "unifiedpush", body, ttl, _single(headers, "Urgency"),
                        _single(headers, "Topic"), {}, headers)

    def _wait_while_held(self, handler):
        """Block while hold() is on (at most HOLD_LIMIT s); False if the client left meanwhile."""
        deadline = time.monotonic() + HOLD_LIMIT
        with self._cond:
            if self._held:
                self._holding += 1
                try:
                    while self._held and not self._stopping and time.monotonic() < deadline:
                        self._cond.wait(0.05)
                        if handler.peer_gone():
                            return False
                finally:
                    self._holding -= 1
            return not self._stopping and not handler.peer_gone()

    def _answer(self, handler, message):
        with self._cond:
            sub = self._subs[message.sid]
            scripted = sub.script.popleft() if sub.script else None
            msg_id = next(self._msg_ids)
        if scripted is None:
            headers = {"Location": "%s/msg/%d" % (self.base, msg_id)}
            if message.kind == "webpush":
                headers["TTL"] = str(message.ttl)  # RFC 8030 §5.2: the TTL actually applied
            status, body = 201, b""
        else:
            status, headers, body = scripted
        if not 200 <= status < 300:
            self._reject(handler, message.sid, status, "scripted", (headers, body))
            return
        with self._cond:
            self._accepted.append(message)
            self._cond.notify_all()
        try:
            handler.respond(status, headers, body)
        except OSError:
            with self._cond:
                self._accepted.remove(message)
            self._drop(handler, message.sid)

    def _reject(self, handler, sid, status, reason, scripted=None):
        """Record a non-2xx answer, then send it (the scripted one, or a JSON error body)."""
        with self._cond:
            self._rejected.append(Rejection(sid, status, reason))
            self._cond.notify_all()
        if scripted is not None:
            headers, body = scripted
        else:
            headers = {"Content-Type": "application/json"}
            body = json.dumps({"code": status, "errno": status, "error": reason}).encode()
        try:
            handler.respond(status, headers, body)
        except OSError:
            handler.close_connection = True

    def _drop(self, handler, sid):
        with self._cond:
            self._dropped.append(sid)
        handler.close_connection = True


def _single(headers, name):
    """The one value of a header, None if absent; a repeated header is a protocol error."""
    values = headers.get_all(name) or []
    if len(values) > 1:
        raise Reject(400, "duplicate_" + name.lower())
    return values[0].strip() if values else None


def _check_framing(headers):
    if headers.get_all("Transfer-Encoding"):
        raise Reject(400, "chunked")
    length = _single(headers, "Content-Length")
    if length is None:
        raise Reject(411, "length_required")
    if not length.isdigit():
        raise Reject(400, "bad_content_length")
    if int(length) > MAX_DRAIN:
        raise Reject(413, "too_large")


def _ttl(headers, required):
    value = _single(headers, "TTL")
    if value is None:
        if required:
            raise Reject(400, "missing_ttl")
        return None
    if not TTL_RE.fullmatch(value):
        raise Reject(400, "bad_ttl")
    return int(value)


def _message(sid, kind, plaintext, ttl, urgency, topic, claims, headers):
    try:
        parsed = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        parsed = None
    return Message(
        sid=sid, kind=kind, plaintext=plaintext, json=parsed, ttl=ttl, urgency=urgency,
        topic=topic, claims=claims, headers={k.lower(): v for k, v in headers.items()},
        at=time.time())
