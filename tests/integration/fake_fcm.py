"""A strict fake of Firebase Cloud Messaging HTTP v1 and Google's OAuth2 token endpoint.

It stands in for oauth2.googleapis.com/token and fcm.googleapis.com on one HTTPS port,
speaking both HTTP/2 and HTTP/1.1 (ALPN picks; libcurl offers h2 first). The rules are
push-research.md §3:

POST /token (form: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, assertion=<JWT>)
  The RS256 assertion must carry kid == private_key_id and verify with the service
  account's key (PKCS#1 v1.5, SHA-256); iss == client_email; scope holds
  .../auth/firebase.messaging; aud == the token URI; iat at most 60 s ahead; exp in the
  future; exp - iat <= 3600. Else 400 {"error":"invalid_grant","error_description":...}.
  Success: {"access_token","expires_in": token_lifetime,"token_type":"Bearer"}.

POST /v1/projects/<project>/messages:send
  Authorization: Bearer <issued, unexpired access token> (else 401 UNAUTHENTICATED);
  <project> == project_id (else 404 NOT_FOUND); Content-Type application/json; body
  {"message": {...}, "validate_only"?} with no unknown field names, exactly one of
  token/topic/condition, data a map of string to string without reserved keys,
  notification fields strings, android.priority NORMAL|HIGH, android.ttl a Duration like
  "3600s" (else 400 INVALID_ARGUMENT); a token that is not registered, or was
  unregistered, gets 404 UNREGISTERED; then the script; else 200 {"name": ...}.
Errors are google.rpc bodies with details[].errorCode (FcmError) where FCM sends one; the
401 and the wrong-project 404 carry no errorCode, as Google's front end answers those.

Replies to sends that pass every check wait while hold() is on. `clock` (default
time.time) may be replaced to jump ahead, e.g. past an access token's expiry.
"""

import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fake_tls import Recorder, Reply, TLSServer, is_int, split_jwt

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
SEND_RE = re.compile(r"/v1/projects/([^/?#]+)/messages:send")
TTL_RE = re.compile(r"[0-9]+(\.[0-9]{1,9})?s")
CLOCK_SKEW = 60
MAX_ASSERTION_LIFETIME = 3600
JSON_TYPE = [("content-type", "application/json; charset=UTF-8")]

MESSAGE_FIELDS = frozenset({"name", "data", "notification", "android", "webpush", "apns",
                            "fcm_options", "token", "topic", "condition"})
TARGETS = ("token", "topic", "condition")
NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
ANDROID_FIELDS = frozenset({"collapse_key", "priority", "ttl", "restricted_package_name", "data",
                            "notification", "fcm_options", "direct_boot_ok"})
ANDROID_PRIORITIES = frozenset({"NORMAL", "HIGH"})
RESERVED_DATA_KEYS = frozenset({"from", "message_type"})
RPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass(frozen=True)
class Message:
    token: object          # message.token, or None for a topic/condition target
    body: dict             # the whole parsed request body
    headers: dict
    at: float


@dataclass(frozen=True)
class Rejection:
    token: object          # message.token when known, else None
    status: object         # HTTP status, or None for a refused connection
    reason: str            # FCM errorCode, google.rpc status, "invalid_grant", ...
    detail: str = ""
    scripted: bool = False


class _RpcError(Exception):
    def __init__(self, code, message, error_code=None, token=None):
        super().__init__(message)
        self.code, self.message, self.error_code, self.token = code, message, error_code, token


class _BadGrant(Exception):
    pass


def _invalid(message):
    return _RpcError(400, message, "INVALID_ARGUMENT")


class FakeFCM(Recorder):
    def __init__(self, ca, project_id="pipit-test"):
        super().__init__()
        self.project_id = project_id
        self.private_key_id = secrets.token_hex(20)
        self.client_email = "pipit-push@%s.iam.gserviceaccount.com" % project_id
        self.token_lifetime = 3599
        self.clock = time.time
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._lock = threading.Lock()
        self._access = {}       # access token -> expiry on self.clock
        self._issued = 0
        self._sent = 0
        self._registered = set()
        self._scripts = {}      # token -> [response, ...]
        self._server = TLSServer(ca, self._handle, ("h2", "http/1.1"), self._refused)

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
    def token_uri(self):
        return self.url + "/token"

    @property
    def connections(self):
        return self._server.connections

    @property
    def requests(self):
        """Complete requests received, answered or not (held ones count)."""
        return self._server.requests

    @property
    def tokens_issued(self):
        with self._lock:
            return self._issued

    def write_service_account(self, path):
        account = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode("ascii"),
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }
        with open(path, "w") as f:
            json.dump(account, f, indent=2)

    def register(self, token):
        with self._lock:
            self._registered.add(token)

    def unregister(self, token):
        with self._lock:
            self._registered.discard(token)

    def script(self, token, *responses):
        """Queue (status, errorCode or None, extra headers or None, message or None) answers
        for valid sends; the message defaults to "Scripted failure."."""
        with self._lock:
            self._scripts.setdefault(token, []).extend(responses)

    def hold(self):
        self._server.hold()

    def release(self):
        self._server.release()

    def by_token(self, token):
        return [m for m in self.accepted if m.token == token]

    # --- serving ---------------------------------------------------------------------

    def _refused(self, reason):
        self._record_rejected(Rejection(None, None, reason))

    def _handle(self, req):
        path = req.path.split("?", 1)[0]
        if path == "/token":
            return self._token_endpoint(req)
        match = SEND_RE.fullmatch(path)
        try:
            if match is None:
                raise _RpcError(404, "The requested URL %s was not found." % path)
            return self._send_endpoint(req, match.group(1))
        except _RpcError as e:
            reason = e.error_code or RPC_STATUS.get(e.code, str(e.code))
            self._record_rejected(Rejection(e.token, e.code, reason, e.message))
            return _rpc_reply(e.code, e.message, e.error_code)

    # /token ------------------------------------------------------------------------

    def _token_endpoint(self, req):
        try:
            self._check_grant(req)
        except _BadGrant as e:
            self._record_rejected(Rejection(None, 400, "invalid_grant", str(e)))
            body = {"error": "invalid_grant", "error_description": str(e)}
            return Reply(400, JSON_TYPE, json.dumps(body).encode("utf-8"))
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            lifetime = self.token_lifetime
            self._access[token] = self.clock() + lifetime
            self._issued += 1
        body = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
        return Reply(200, JSON_TYPE, json.dumps(body).encode("utf-8"))

    def _check_grant(self, req):
        form = _form_of(req)
        if form.get("grant_type") != GRANT_TYPE:
            raise _BadGrant("Invalid grant_type: %s" % form.get("grant_type", ""))
        try:
            header, claims, signing_input, signature = split_jwt(form.get("assertion", ""))
        except ValueError:
            raise _BadGrant("Invalid JWT: malformed assertion.")
        if header.get("alg") != "RS256":
            raise _BadGrant("Invalid JWT: alg must be RS256.")
        if header.get("kid") != self.private_key_id:
            raise _BadGrant("Invalid JWT: kid is not this account's private_key_id.")
        if not self._signature_ok(signing_input, signature):
            raise _BadGrant("Invalid JWT Signature.")
        self._check_claims(claims)

    def _signature_ok(self, signing_input, signature):
        try:
            self._key.public_key().verify(signature, signing_input,
                                          padding.PKCS1v15(), hashes.SHA256())
            return True
        except InvalidSignature:
            return False

    def _check_claims(self, claims):
        if claims.get("iss") != self.client_email:
            raise _BadGrant("Invalid JWT: iss is not the service account's client_email.")
        scope = claims.get("scope")
        if not isinstance(scope, str) or SCOPE not in scope.split(" "):
            raise _BadGrant("Invalid OAuth scope or ID token audience provided.")
        if claims.get("aud") != self.token_uri:
            raise _BadGrant("Invalid JWT: aud must be %s." % self.token_uri)
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.clock()
        if (not is_int(iat) or not is_int(exp) or iat > now + CLOCK_SKEW or exp <= now
                or exp - iat > MAX_ASSERTION_LIFETIME):
            raise _BadGrant("Invalid JWT: Token must be a short-lived token (60 minutes) and "
                            "in a reasonable timeframe. Check your iat and exp values in the "
                            "JWT claim.")

    # messages:send -----------------------------------------------------------------

    def _send_endpoint(self, req, project):
        if req.method != "POST":
            raise _RpcError(405, "Method %s is not allowed; use POST." % req.method)
        if not self._access_ok(req.headers.get("authorization", "")):
            raise _RpcError(401, "Request had invalid authentication credentials. Expected "
                                 "OAuth 2 access token, login cookie or other valid "
                                 "authentication credential.")
        if project != self.project_id:
            raise _RpcError(404, "Requested entity was not found.")
        body = _json_body(req)
        message = _check_send_body(body)
        token = message.get("token")
        with self._lock:
            known = token is None or token in self._registered
            queue = self._scripts.get(token) if known else None
            response = queue.pop(0) if queue else None
        if not known:
            raise _RpcError(404, "Requested entity was not found.", "UNREGISTERED", token)
        if response is not None:
            return self._scripted_reply(req, token, body, response)
        return self._ok_reply(req, token, body, {})

    def _access_ok(self, authorization):
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            expiry = self._access.get(token.strip())
        return scheme.lower() == "bearer" and expiry is not None and self.clock() < expiry

    def _scripted_reply(self, req, token, body, response):
        status, error_code, extra, message = (tuple(response) + (None, None, None))[:4]
        extra = {n.lower(): str(v) for n, v in (extra or {}).items()}
        if 200 <= status < 300:
            return self._ok_reply(req, token, body, extra, status)
        reason = error_code or RPC_STATUS.get(status, str(status))
        self._record_rejected(Rejection(token, status, reason, "scripted", scripted=True))
        reply = _rpc_reply(status, message or "Scripted failure.", error_code, list(extra.items()))
        reply.holdable = True
        return reply

    def _ok_reply(self, req, token, body, extra, status=200):
        with self._lock:
            self._sent += 1
            n = self._sent
        dry_run = body.get("validate_only", False)
        name = "projects/%s/messages/%s" % (self.project_id,
                                             "fake_message_for_dry_run" if dry_run else n)

        def accepted():
            if not dry_run:  # a dry run delivers nothing
                self._record_accepted(Message(token, body, dict(req.headers), time.time()))
        return Reply(status, JSON_TYPE + list(extra.items()),
                     json.dumps({"name": name}).encode("utf-8"), holdable=True, on_sent=accepted)


def _form_of(req):
    """The /token form as {name: value}; _BadGrant unless it is a clean urlencoded POST."""
    if req.method != "POST":
        raise _BadGrant("The token endpoint takes POST, not %s." % req.method)
    ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise _BadGrant("Content-Type must be application/x-www-form-urlencoded, not %r." % ctype)
    try:
        pairs = urllib.parse.parse_qsl(req.body.decode("ascii"), keep_blank_values=True,
                                       strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise _BadGrant("The request body is not a urlencoded form.")
    form = dict(pairs)
    if len(form) != len(pairs):
        raise _BadGrant("A form field appears twice.")
    return form


def _json_body(req):
    ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise _invalid("Content-Type must be application/json, not %r." % ctype)
    try:
        return json.loads(req.body.decode("utf-8"))
    except ValueError:
        raise _invalid("Invalid JSON payload received.")


def _check_send_body(body):
    """The message, once every rule holds; _RpcError INVALID_ARGUMENT otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise _invalid("Invalid JSON payload received. \"message\" must be an object.")
    _check_names(body, {"message", "validate_only"}, "")
    if not isinstance(body.get("validate_only", False), bool):
        raise _invalid("Invalid value at 'validate_only' (TYPE_BOOL).")
    message = body["message"]
    _check_names(message, MESSAGE_FIELDS, "message")
    targets = [t for t in TARGETS if t in message]
    if len(targets) != 1:
        raise _invalid("Exactly one of message.token, message.topic or message.condition "
                       "is required.")
    if not isinstance(message[targets[0]], str) or not message[targets[0]]:
        raise _invalid("Invalid value at 'message.%s' (TYPE_STRING)." % targets[0])
    _check_data(message.get("data"), "message.data")
    _check_notification(message.get("notification"))
    _check_android(message.get("android"))
    for name in ("apns", "webpush", "fcm_options"):
        _check_object(message.get(name), "message." + name)
    return message


def _check_names(obj, allowed, where):
    for name in obj:
        if name not in allowed:
            raise _invalid("Invalid JSON payload received. Unknown name \"%s\" at '%s'."
                           % (name, where))


def _check_object(value, where):
    if value is not None and not isinstance(value, dict):
        raise _invalid("Invalid value at '%s': must be an object." % where)


def _check_data(data, where):
    _check_object(data, where)
    for i, (key, value) in enumerate((data or {}).items()):
        if not isinstance(value, str):
            raise _invalid("Invalid value at '%s[%d].value' (TYPE_STRING)." % (where, i))
        if key in RESERVED_DATA_KEYS or key.startswith(("google", "gcm")):
            raise _invalid("Invalid data key %r at '%s': the name is reserved." % (key, where))


def _check_notification(notification):
    _check_object(notification, "message.notification")
    _check_names(notification or {}, NOTIFICATION_FIELDS, "message.notification")
    for name, value in (notification or {}).items():
        if not isinstance(value, str):
            raise _invalid("Invalid value at 'message.notification.%s' (TYPE_STRING)." % name)


def _check_android(android):
    _check_object(android, "message.android")
    android = android or {}
    _check_names(android, ANDROID_FIELDS, "message.android")
    if "priority" in android and android["priority"] not in ANDROID_PRIORITIES:
        raise _invalid("Invalid value at 'message.android.priority' "
                       "(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority).")
    ttl = android.get("ttl")
    if ttl is not None and not (isinstance(ttl, str) and TTL_RE.fullmatch(ttl)):
        raise _invalid("Invalid value at 'message.android.ttl' "
                       "(type.googleapis.com/google.protobuf.Duration).")
    _check_data(android.get("data"), "message.android.data")
    _check_object(android.get("notification"), "message.android.notification")


def _rpc_reply(code, message, error_code, extra_headers=()):
    error = {"code": code, "message": message, "status": RPC_STATUS.get(code, "UNKNOWN")}
    if error_code:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    headers = JSON_TYPE + list(extra_headers)
    if code == 401:
        headers.append(("www-authenticate", 'Bearer realm="https://accounts.google.com/"'))
    return Reply(code, headers, json.dumps({"error": error}).encode("utf-8"))
