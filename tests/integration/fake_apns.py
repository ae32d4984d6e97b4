"""A strict fake of Apple's APNs provider API (HTTP/2 over TLS, token auth) for pipit's tests.

It stands in for api.push.apple.com: pipitd (libcurl + nghttp2) POSTs to
/3/device/<token> and the fake answers as APNs does (docs/internals/push-research.md §2).
Every protocol mistake is refused with APNs' status and {"reason": ...} AND recorded, so
a test can assert `apns.rejected == []`.

Checked, in this order (the first failure answers):
  :method POST (405 MethodNotAllowed); :path /3/device/<hex> (404 BadPath, 400
  MissingDeviceToken, 400 BadDeviceToken); no header sent twice (400 DuplicateHeaders);
  authorization "bearer <ES256 JWT>" (403 MissingProviderToken / InvalidProviderToken /
  ExpiredProviderToken), and at most one JWT per connection per 20 minutes (429
  TooManyProviderTokenUpdates); apns-topic (400 MissingTopic) against the token's
  registered topic (400 BadDeviceToken, DeviceTokenNotForTopic); apns-push-type
  (required, 400 InvalidPushType; "alert" needs aps.alert); apns-priority (400
  BadPriority; "background" needs 5); apns-expiration, apns-collapse-id, apns-id (400
  BadExpirationDate, BadCollapseId, BadMessageId); the payload (400 PayloadEmpty, 413
  PayloadTooLarge, 400 BadPayload for text that is not JSON, a name APNs does not use);
  then an unregistered token (410 Unregistered + timestamp), then the script.

Requests that pass every check get 200 with apns-id (or the scripted answer); those
replies wait while hold() is on. `clock` (default time.time) may be replaced to jump ahead.
Stricter than Apple in two ways, on purpose: apns-push-type is required (pipitd always
sends it) and apns-id must be lowercase, as push-research §2 says pipitd sends it.
"""

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from fake_tls import Recorder, Reply, TLSServer, is_int, split_jwt

PUSH_TYPES = frozenset({"alert", "background", "voip", "location", "complication", "fileprovider",
                        "mdm", "liveactivity", "pushtotalk", "widgets", "controls"})
PRIORITIES = frozenset({"1", "5", "10"})
HEX_RE = re.compile(r"[0-9a-fA-F]+")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DIGITS_RE = re.compile(r"[0-9]+")
DEVICE_PREFIX = "/3/device/"
TOKEN_MAX_AGE = 3600         # "APNs rejects any request whose token ... is more than one hour old"
TOKEN_MIN_ROTATION = 20 * 60  # "Refresh your token no more than once every 20 minutes"
CLOCK_SKEW = 60
MAX_COLLAPSE_ID = 64
MAX_PAYLOAD = 4096
MAX_VOIP_PAYLOAD = 5120


@dataclass(frozen=True)
class Message:
    token: str
    headers: dict
    payload: dict
    apns_id: str
    at: float


@dataclass(frozen=True)
class Rejection:
    token: object          # the device token from the path, or None
    status: object         # HTTP status, or None for a refused connection
    reason: str
    scripted: bool = False


class _Refusal(Exception):
    def __init__(self, status, reason, **extra):
        super().__init__(reason)
        self.status, self.reason, self.extra = status, reason, extra


class FakeAPNs(Recorder):
    def __init__(self, ca, team_id="TEAM123456", key_id="KEY1234567", key=None):
        super().__init__()
        self.team_id, self.key_id = team_id, key_id
        self.clock = time.time
        # key: share another fake's, as production and sandbox APNs accept one team key.
        self._key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
        self._lock = threading.Lock()
        self._topics = {}       # lowercased token -> bundle id
        self._gone = {}         # lowercased token -> Unregistered timestamp (ms)
        self._scripts = {}      # lowercased token -> [response, ...]
        self._jwts = []
        self._server = TLSServer(ca, self._handle, ("h2",), self._refused)

    # --- control ---------------------------------------------------------------------

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop()

    @property
    def port(self):
        return self._server.port

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self._server.port

    @property
    def connections(self):
        return self._server.connections

    @property
    def requests(self):
        """Complete requests received, answered or not (held ones count)."""
        return self._server.requests

    @property
    def jwts(self):
        """Every distinct bearer token seen, in order of first use."""
        with self._lock:
            return list(self._jwts)

    def write_p8(self, path):
        """The provider key pipitd signs with: PKCS#8 PEM, P-256, like Apple's .p8 files."""
        with open(path, "wb") as f:
            f.write(self._key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))

    def register(self, token_hex, topic="com.example.app"):
        with self._lock:
            self._topics[token_hex.lower()] = topic
            self._gone.pop(token_hex.lower(), None)

    def unregister(self, token_hex, ts_ms=None):
        """From now on the token answers 410 Unregistered with this timestamp."""
        stamp = int(self.clock() * 1000) if ts_ms is None else ts_ms
        with self._lock:
            self._gone[token_hex.lower()] = stamp

    def script(self, token_hex, *responses):
        """Queue (status, reason or None, extra headers or None) answers for valid requests."""
        with self._lock:
            self._scripts.setdefault(token_hex.lower(), []).extend(responses)

    def hold(self):
        self._server.hold()

    def release(self):
        self._server.release()

    def goaway(self):
        """Every open connection sends GOAWAY {"reason":"Shutdown"} and closes."""
        self._server.goaway()

    def by_token(self, token_hex):
        return [m for m in self.accepted if m.token.lower() == token_hex.lower()]

    # --- serving ---------------------------------------------------------------------

    def _refused(self, reason):
        self._record_rejected(Rejection(None, None, reason))

    def _handle(self, req):
        token = req.path[len(DEVICE_PREFIX):] if req.path.startswith(DEVICE_PREFIX) else None
        sent_id = req.headers.get("apns-id")
        apns_id = sent_id if sent_id and UUID_RE.fullmatch(sent_id) else str(uuid.uuid4())
        try:
            payload = self._check(req, token)
        except _Refusal as r:
            self._record_rejected(Rejection(token, r.status, r.reason))
            return _error_reply(r.status, r.reason, apns_id, r.extra)
        scripted = self._next_scripted(token)
        if scripted is not None:
            return self._scripted_reply(req, token, payload, apns_id, scripted)
        return self._ok_reply(req, token, payload, apns_id, 200, [])

    def _check(self, req, token):
        self._check_request_line(req, token)
        _check_no_duplicates(req)
        self._check_provider_token(req)
        self._check_topic(req, token)
        push_type = _check_apns_headers(req)
        payload = _check_payload(req, push_type)
        with self._lock:
            gone_at = self._gone.get(token.lower())
        if gone_at is not None:
            raise _Refusal(410, "Unregistered", timestamp=gone_at)
        return payload

    def _check_request_line(self, req, token):
        if req.method != "POST":
            raise _Refusal(405, "MethodNotAllowed")
        if token is None or "/" in token or "?" in token:
            raise _Refusal(404, "BadPath")
        if not token:
            raise _Refusal(400, "MissingDeviceToken")
        if not HEX_RE.fullmatch(token):
            raise _Refusal(400, "BadDeviceToken")

    def _check_provider_token(self, req):
        scheme, _, jwt = req.headers.get("authorization", "").partition(" ")
        jwt = jwt.strip()
        if scheme.lower() != "bearer" or not jwt:
            raise _Refusal(403, "MissingProviderToken")
        with self._lock:
            if jwt not in self._jwts:
                self._jwts.append(jwt)
        self._verify_jwt(jwt)
        self._check_rotation(req.conn.state, jwt)

    def _verify_jwt(self, jwt):
        try:
            header, claims, signing_input, signature = split_jwt(jwt)
        except ValueError:
            raise _Refusal(403, "InvalidProviderToken")
        iat = claims.get("iat")
        if (header.get("alg") != "ES256" or header.get("kid") != self.key_id
                or claims.get("iss") != self.team_id or not is_int(iat)
                or not self._signature_ok(signing_input, signature)
                or iat > self.clock() + CLOCK_SKEW):
            raise _Refusal(403, "InvalidProviderToken")
        if iat < self.clock() - TOKEN_MAX_AGE:
            raise _Refusal(403, "ExpiredProviderToken")

    def _signature_ok(self, signing_input, signature):
        # JOSE ES256 is raw r||s, 32 bytes each (RFC 7518 §3.4), never DER.
        if len(signature) != 64:
            return False
        der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                         int.from_bytes(signature[32:], "big"))
        try:
            self._key.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            return False

    def _check_rotation(self, conn_state, jwt):
        # Only this connection's thread touches conn_state, so no lock.
        now = self.clock()
        current = conn_state.get("jwt")
        may_rotate = current is not None and now - conn_state["jwt_since"] >= TOKEN_MIN_ROTATION
        if current is None or (jwt != current and may_rotate):
            conn_state["jwt"], conn_state["jwt_since"] = jwt, now
        elif jwt != current:
            raise _Refusal(429, "TooManyProviderTokenUpdates")

    def _check_topic(self, req, token):
        topic = req.headers.get("apns-topic")
        if not topic:
            raise _Refusal(400, "MissingTopic")
        with self._lock:
            registered = self._topics.get(token.lower())
        if registered is None:
            raise _Refusal(400, "BadDeviceToken")
        if topic != registered:
            raise _Refusal(400, "DeviceTokenNotForTopic")

    def _next_scripted(self, token):
        with self._lock:
            queue = self._scripts.get(token.lower())
            return queue.pop(0) if queue else None

    def _scripted_reply(self, req, token, payload, apns_id, response):
        status, reason, extra = (tuple(response) + (None, None))[:3]
        extra_headers = [(n.lower(), str(v)) for n, v in (extra or {}).items()]
        if 200 <= status < 300:
            return self._ok_reply(req, token, payload, apns_id, status, extra_headers)
        self._record_rejected(Rejection(token, status, reason, scripted=True))
        more = {"timestamp": int(self.clock() * 1000)} if reason == "Unregistered" else {}
        reply = _error_reply(status, reason, apns_id, more, extra_headers)
        reply.holdable = True
        return reply

    def _ok_reply(self, req, token, payload, apns_id, status, extra_headers):
        def accepted():
            self._record_accepted(Message(token, dict(req.headers), payload, apns_id, time.time()))
        return Reply(status, [("apns-id", apns_id)] + extra_headers, b"",
                     holdable=True, on_sent=accepted)


def _check_no_duplicates(req):
    names = [n for n, _ in req.header_list]
    if len(names) != len(set(names)):
        raise _Refusal(400, "DuplicateHeaders")


def _check_apns_headers(req):
    """The push type, once the apns-* headers are all well formed."""
    h = req.headers
    push_type = h.get("apns-push-type")
    if push_type not in PUSH_TYPES:
        raise _Refusal(400, "InvalidPushType")
    priority = h.get("apns-priority")
    if priority is not None and priority not in PRIORITIES:
        raise _Refusal(400, "BadPriority")
    if push_type == "background" and priority != "5":
        raise _Refusal(400, "BadPriority")
    if "apns-expiration" in h and not DIGITS_RE.fullmatch(h["apns-expiration"]):
        raise _Refusal(400, "BadExpirationDate")
    if len(h.get("apns-collapse-id", "").encode("utf-8")) > MAX_COLLAPSE_ID:
        raise _Refusal(400, "BadCollapseId")
    if "apns-id" in h and not UUID_RE.fullmatch(h["apns-id"]):
        raise _Refusal(400, "BadMessageId")
    return push_type


def _check_payload(req, push_type):
    limit = MAX_VOIP_PAYLOAD if push_type == "voip" else MAX_PAYLOAD
    if req.body_len == 0:
        raise _Refusal(400, "PayloadEmpty")
    if req.body_len > limit:
        raise _Refusal(413, "PayloadTooLarge")
    try:
        payload = json.loads(req.body.decode("utf-8"))
    except ValueError:  # includes UnicodeDecodeError
        raise _Refusal(400, "BadPayload")
    aps = payload.get("aps") if isinstance(payload, dict) else None
    if not isinstance(aps, dict):
        raise _Refusal(400, "PayloadEmpty")
    if push_type == "alert" and not isinstance(aps.get("alert"), (str, dict)):
        raise _Refusal(400, "InvalidPushType")
    return payload


def _error_reply(status, reason, apns_id, extra, extra_headers=()):
    body = dict({"reason": reason}, **extra)
    headers = [("apns-id", apns_id), ("content-type", "application/json")] + list(extra_headers)
    return Reply(status, headers, json.dumps(body).encode("utf-8"))
