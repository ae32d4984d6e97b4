"""Self-test of the strict APNs and FCM fakes (fake_apns.py, fake_fcm.py); no pipitd.

A small HTTP/2 client (h2, client side), `requests` (HTTP/1.1) and the curl binary (libcurl
with nghttp2, as pipitd uses) send valid and invalid requests. Shown: a valid push is
accepted and every check refuses its bad case with APNs' / FCM's status and reason, and
records it; connections are reused; a second provider JWT within 20 minutes on one
connection is 429; hold()/release(), PING, flow control, GOAWAY and concurrent streams
work; the FCM token exchange, its bad assertions, and scripted answers.

Run: cd /work/main && /usr/bin/python3 -m pytest -q tests/integration/test_fake_apns_fcm.py
"""

import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from fake_apns import FakeAPNs
from fake_fcm import FakeFCM
from fake_tls import TestCA, b64u

TOPIC = "com.example.app"
ALERT = b'{"aps":{"alert":{"title":"hi","body":"there"}}}'
APNS_ID = "0f2b7c3e-5a1d-4c8e-9b6f-2d4e6a8c0b1f"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
WAIT = 5.0


# --- a minimal HTTP/2 client -------------------------------------------------------------

class H2Client:
    """One TLS connection speaking HTTP/2 through h2; responses are read on demand."""

    def __init__(self, ca, port, alpn=("h2",)):
        raw = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.tls = ca.client_context(alpn).wrap_socket(raw, server_hostname="127.0.0.1")
        assert self.tls.selected_alpn_protocol() == "h2"
        self.tls.settimeout(0.05)
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.streams = {}
        self.ping_acks = 0
        self.terminated = None
        self.flush()

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.tls.sendall(data)

    def request(self, headers, body=b""):
        sid = self.h2.get_next_available_stream_id()
        self.streams[sid] = {"status": None, "headers": {}, "body": bytearray(), "done": False}
        self.h2.send_headers(sid, headers, end_stream=not body)
        self.flush()
        self.send_body(sid, body)
        return sid

    def send_body(self, sid, body):
        deadline = time.monotonic() + WAIT
        for _ in range(100_000):
            if not body:
                return
            room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if room == 0:
                assert time.monotonic() < deadline, "the server never opened its window"
                self.pump()
                continue
            chunk, body = body[:room], body[room:]
            self.h2.send_data(sid, chunk, end_stream=not body)
            self.flush()

    def reset(self, sid):
        self.h2.reset_stream(sid)
        self.flush()

    def ping(self):
        self.h2.ping(b"pipit-01")
        self.flush()

    def pump(self):
        """Read what has arrived (at most one recv) and apply it."""
        try:
            data = self.tls.recv(65536)
        except TimeoutError:
            return
        if not data:
            self.terminated = self.terminated or "closed"
            return
        for ev in self.h2.receive_data(data):
            self.on_event(ev)
        self.flush()

    def on_event(self, ev):
        s = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            s["headers"] = dict(ev.headers)
            s["status"] = int(s["headers"][":status"])
        elif isinstance(ev, h2.events.DataReceived):
            s["body"] += ev.data
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
            s["done"] = True
        elif isinstance(ev, h2.events.PingAckReceived):
            self.ping_acks += 1
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = ev

    def wait(self, done, timeout=WAIT):
        deadline = time.monotonic() + timeout
        for _ in range(100_000):
            if done() or time.monotonic() > deadline:
                return done()
            self.pump()
        return done()

    def response(self, sid, timeout=WAIT):
        """(status, headers, body) of a stream; AssertionError if it does not end in time."""
        done = self.wait(lambda: self.streams[sid]["done"], timeout)
        assert done, "no response on stream %d" % sid
        s = self.streams[sid]
        return s["status"], s["headers"], bytes(s["body"])

    def close(self):
        self.tls.close()


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return TestCA(str(tmp_path_factory.mktemp("ca")))


@pytest.fixture
def apns(ca):
    fake = FakeAPNs(ca).start()
    yield fake
    fake.stop()


@pytest.fixture
def p8key(apns, tmp_path):
    path = tmp_path / "AuthKey.p8"
    apns.write_p8(str(path))
    return serialization.load_pem_private_key(path.read_bytes(), None)


@pytest.fixture
def token(apns):
    tok = secrets.token_hex(32)
    apns.register(tok, TOPIC)
    return tok


@pytest.fixture
def clients(apns, ca):
    opened = []

    def connect(alpn=("h2",)):
        opened.append(H2Client(ca, apns.port, alpn))
        return opened[-1]
    yield connect
    for c in opened:
        c.close()


# --- APNs helpers ---------------------------------------------------------------------------

def es256_jwt(key, alg="ES256", kid="KEY1234567", iss="TEAM123456", iat=None, iat_delta=0,
              der=False):
    header = {"alg": alg, "kid": kid}
    claims = {"iss": iss, "iat": int(time.time()) + iat_delta if iat is None else iat}
    signing_input = (b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode()))
    sig = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    if not der:
        r, s = utils.decode_dss_signature(sig)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + b64u(sig)


def apns_headers(token, jwt, over=None):
    """A valid request's headers; `over` replaces (None removes, "+name" adds another)."""
    headers = [(":method", "POST"), (":scheme", "https"), (":authority", "127.0.0.1"),
               (":path", "/3/device/" + token), ("authorization", "bearer " + jwt),
               ("apns-topic", TOPIC), ("apns-push-type", "alert"), ("apns-priority", "10"),
               ("apns-expiration", "0"), ("apns-id", APNS_ID)]
    for name, value in (over or {}).items():
        if name.startswith("+"):
            headers.append((name[1:], value))
            continue
        headers = [(n, v) for n, v in headers if n != name]
        if value is not None:
            headers.insert(0 if name.startswith(":") else len(headers), (name, value))
    return headers


def push(client, token, jwt, over=None, body=ALERT):
    return client.response(client.request(apns_headers(token, jwt, over), body))


def reason_of(body):
    return json.loads(body)["reason"]


def sized_payload(n):
    base = {"aps": {"alert": "x"}, "pad": ""}
    base["pad"] = "y" * (n - len(json.dumps(base, separators=(",", ":"))))
    raw = json.dumps(base, separators=(",", ":")).encode()
    assert len(raw) == n
    return raw


# --- APNs: success, reuse, rotation -----------------------------------------------------------

def test_apns_valid_push_is_accepted(apns, p8key, token, clients):
    status, headers, body = push(clients(), token, es256_jwt(p8key))
    assert (status, headers["apns-id"], body) == (200, APNS_ID, b"")
    [msg] = apns.wait_accepted(1, WAIT)
    assert msg.token == token and msg.apns_id == APNS_ID
    assert msg.payload["aps"]["alert"]["title"] == "hi" and msg.headers["apns-topic"] == TOPIC
    assert apns.by_token(token.upper()) == [msg] and apns.rejected == []


def test_apns_generates_apns_id_when_absent(apns, p8key, token, clients):
    status, headers, _ = push(clients(), token, es256_jwt(p8key), {"apns-id": None})
    assert status == 200 and len(headers["apns-id"]) == 36
    assert apns.wait_accepted(1, WAIT)[0].apns_id == headers["apns-id"]


def test_apns_boundaries_are_accepted(apns, p8key, token, clients):
    c, jwt = clients(), es256_jwt(p8key)
    assert push(c, token, jwt, {"apns-collapse-id": "c" * 64})[0] == 200
    assert push(c, token, jwt, body=sized_payload(4096))[0] == 200
    bg = {"apns-push-type": "background", "apns-priority": "5"}
    assert push(c, token, jwt, bg, b'{"aps":{"content-available":1}}')[0] == 200
    assert push(c, token, jwt, {"apns-priority": None, "apns-expiration": None})[0] == 200
    assert len(apns.wait_accepted(4, WAIT)) == 4 and apns.rejected == []


def test_apns_two_pushes_share_one_connection_and_one_jwt(apns, p8key, token, clients):
    c, jwt = clients(), es256_jwt(p8key)
    assert push(c, token, jwt)[0] == 200
    assert push(c, token, jwt)[0] == 200
    assert apns.connections == 1 and apns.jwts == [jwt]
    assert len(apns.wait_accepted(2, WAIT)) == 2


def test_apns_new_jwt_within_20_minutes_on_one_connection_is_429(apns, p8key, token, clients):
    c, first, second = clients(), es256_jwt(p8key), es256_jwt(p8key, iat_delta=-1)
    assert push(c, token, first)[0] == 200
    status, _, body = push(c, token, second)
    assert (status, reason_of(body)) == (429, "TooManyProviderTokenUpdates")
    assert apns.rejected[-1].reason == "TooManyProviderTokenUpdates"
    assert push(c, token, first)[0] == 200                 # the bound token still works
    assert push(clients(), token, second)[0] == 200        # and a new connection may use another
    apns.clock = lambda: time.time() + 21 * 60
    assert push(c, token, second)[0] == 200                # 20 minutes later, rotation is fine
    assert apns.jwts == [first, second]


# --- APNs: one bad case per check --------------------------------------------------------------

BAD_APNS = [
    # id, header changes, JWT changes, body (None: a valid alert), status, reason
    ("get", {":method": "GET"}, {}, None, 405, "MethodNotAllowed"),
    ("bad-path", {":path": "/3/devices/{tok}"}, {}, None, 404, "BadPath"),
    ("no-token", {":path": "/3/device/"}, {}, None, 400, "MissingDeviceToken"),
    ("non-hex-token", {":path": "/3/device/zz{tok}"}, {}, None, 400, "BadDeviceToken"),
    ("unknown-token", {":path": "/3/device/" + "ab" * 32}, {}, None, 400, "BadDeviceToken"),
    ("duplicate-header", {"+apns-topic": TOPIC}, {}, None, 400, "DuplicateHeaders"),
    ("no-authorization", {"authorization": None}, {}, None, 403, "MissingProviderToken"),
    ("basic-authorization", {"authorization": "basic dXNlcjpw"}, {}, None, 403,
     "MissingProviderToken"),
    ("jwt-garbage", {"authorization": "bearer abc.def"}, {}, None, 403, "InvalidProviderToken"),
    ("jwt-alg", {}, {"alg": "ES384"}, None, 403, "InvalidProviderToken"),
    ("jwt-kid", {}, {"kid": "OTHERKEY00"}, None, 403, "InvalidProviderToken"),
    ("jwt-iss", {}, {"iss": "OTHERTEAM0"}, None, 403, "InvalidProviderToken"),
    ("jwt-iat-string", {}, {"iat": "now"}, None, 403, "InvalidProviderToken"),
    ("jwt-iat-future", {}, {"iat_delta": 120}, None, 403, "InvalidProviderToken"),
    ("jwt-iat-old", {}, {"iat_delta": -3700}, None, 403, "ExpiredProviderToken"),
    ("jwt-der-signature", {}, {"der": True}, None, 403, "InvalidProviderToken"),
    ("jwt-other-key", {}, {"other_key": True}, None, 403, "InvalidProviderToken"),
    ("no-topic", {"apns-topic": None}, {}, None, 400, "MissingTopic"),
    ("other-topic", {"apns-topic": "com.other.app"}, {}, None, 400, "DeviceTokenNotForTopic"),
    ("no-push-type", {"apns-push-type": None}, {}, None, 400, "InvalidPushType"),
    ("bad-push-type", {"apns-push-type": "loud"}, {}, None, 400, "InvalidPushType"),
    ("alert-without-alert", {}, {}, b'{"aps":{"badge":1}}', 400, "InvalidPushType"),
    ("background-priority-10", {"apns-push-type": "background"}, {},
     b'{"aps":{"content-available":1}}', 400, "BadPriority"),
    ("priority-7", {"apns-priority": "7"}, {}, None, 400, "BadPriority"),
    ("expiration-negative", {"apns-expiration": "-1"}, {}, None, 400, "BadExpirationDate"),
    ("expiration-text", {"apns-expiration": "soon"}, {}, None, 400, "BadExpirationDate"),
    ("collapse-id-65", {"apns-collapse-id": "c" * 65}, {}, None, 400, "BadCollapseId"),
    ("apns-id-not-uuid", {"apns-id": "not-a-uuid"}, {}, None, 400, "BadMessageId"),
    ("apns-id-uppercase", {"apns-id": APNS_ID.upper()}, {}, None, 400, "BadMessageId"),
    ("payload-empty", {}, {}, b"", 400, "PayloadEmpty"),
    ("payload-without-aps", {}, {}, b'{"alert":"x"}', 400, "PayloadEmpty"),
    ("payload-not-json", {}, {}, b"{aps", 400, "BadPayload"),
    ("payload-4097", {}, {}, sized_payload(4097), 413, "PayloadTooLarge"),
]


@pytest.mark.parametrize("over,jwt_over,body,status,reason",
                         [c[1:] for c in BAD_APNS], ids=[c[0] for c in BAD_APNS])
def test_apns_refuses_and_records(apns, p8key, token, clients,
                                   over, jwt_over, body, status, reason):
    jwt_over = dict(jwt_over)
    key = ec.generate_private_key(ec.SECP256R1()) if jwt_over.pop("other_key", False) else p8key
    over = {n: (v.format(tok=token) if isinstance(v, str) else v) for n, v in over.items()}
    got_status, headers, got_body = push(clients(), token, es256_jwt(key, **jwt_over), over,
                                         ALERT if body is None else body)
    assert (got_status, reason_of(got_body)) == (status, reason)
    assert headers["content-type"] == "application/json" and "apns-id" in headers
    assert (apns.rejected[-1].status, apns.rejected[-1].reason) == (status, reason)
    assert apns.accepted == []


def test_apns_unregistered_is_410_with_timestamp(apns, p8key, token, clients):
    apns.unregister(token, ts_ms=1700000000123)
    status, _, body = push(clients(), token, es256_jwt(p8key))
    assert status == 410
    assert json.loads(body) == {"reason": "Unregistered", "timestamp": 1700000000123}
    apns.register(token, TOPIC)                            # the device came back
    assert push(clients(), token, es256_jwt(p8key))[0] == 200


def test_apns_scripted_answers_come_in_order(apns, p8key, token, clients):
    apns.script(token, (429, "TooManyRequests", {"Retry-After": "3"}), (503, "ServiceUnavailable"))
    c, jwt = clients(), es256_jwt(p8key)
    status, headers, body = push(c, token, jwt)
    assert (status, reason_of(body), headers["retry-after"]) == (429, "TooManyRequests", "3")
    status, _, body = push(c, token, jwt)
    assert (status, reason_of(body)) == (503, "ServiceUnavailable")
    assert push(c, token, jwt)[0] == 200
    assert [(r.status, r.reason, r.scripted) for r in apns.rejected] == [
        (429, "TooManyRequests", True), (503, "ServiceUnavailable", True)]
    assert len(apns.wait_accepted(1, WAIT)) == 1


def test_apns_refuses_a_client_that_does_not_speak_h2(apns, ca):
    raw = socket.create_connection(("127.0.0.1", apns.port), timeout=WAIT)
    with ca.client_context(("http/1.1",)).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /3/device/ab HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert tls.recv(100) == b""
    assert [(r.status, r.reason) for r in apns.rejected] == [(None, "not_h2")]


# --- APNs: HTTP/2 behaviour ----------------------------------------------------------------------

def test_apns_answers_concurrent_streams_and_ping(apns, p8key, token, clients):
    c, jwt = clients(), es256_jwt(p8key)
    sids = [c.request(apns_headers(token, jwt, {"apns-id": None}), ALERT) for _ in range(20)]
    c.ping()
    assert [c.response(sid)[0] for sid in sids] == [200] * 20
    assert c.wait(lambda: c.ping_acks == 1)
    assert len(apns.wait_accepted(20, WAIT)) == 20 and apns.connections == 1


def test_apns_flow_control_lets_a_large_body_through(apns, p8key, token, clients):
    # 200 KiB is three times the default window: the client stalls unless the fake gives it back.
    status, _, body = push(clients(), token, es256_jwt(p8key), body=b"x" * 200_000)
    assert (status, reason_of(body)) == (413, "PayloadTooLarge")


def test_apns_hold_delays_only_verified_requests(apns, p8key, token, clients):
    c, jwt = clients(), es256_jwt(p8key)
    apns.hold()
    held = c.request(apns_headers(token, jwt), ALERT)
    bad = c.request(apns_headers(token, jwt, {"apns-priority": "7"}), ALERT)
    assert c.response(bad)[0] == 400                       # refusals are not held
    assert not c.wait(lambda: c.streams[held]["done"], 0.3) and apns.accepted == []
    apns.release()
    assert c.response(held)[0] == 200
    assert len(apns.wait_accepted(1, WAIT)) == 1


def test_apns_held_request_reset_or_closed_is_not_accepted(apns, p8key, token, clients):
    c1, c2, jwt = clients(), clients(), es256_jwt(p8key)
    apns.hold()
    c1.reset(c1.request(apns_headers(token, jwt), ALERT))
    c2.request(apns_headers(token, jwt), ALERT)
    c2.wait(lambda: False, 0.2)
    c2.close()
    time.sleep(0.1)
    apns.release()
    assert push(c1, token, jwt)[0] == 200                  # the connection still serves
    time.sleep(0.2)
    assert len(apns.accepted) == 1


def test_apns_goaway_closes_connections_and_new_ones_work(apns, p8key, token, clients):
    c = clients()
    assert push(c, token, es256_jwt(p8key))[0] == 200
    apns.goaway()
    assert c.wait(lambda: c.terminated is not None, 2.0)
    assert isinstance(c.terminated, h2.events.ConnectionTerminated)
    assert json.loads(c.terminated.additional_data) == {"reason": "Shutdown"}
    assert push(clients(), token, es256_jwt(p8key))[0] == 200
    assert apns.connections == 2


def test_apns_stop_is_quick_with_a_held_request(apns, p8key, token, clients):
    c = clients()
    apns.hold()
    c.request(apns_headers(token, es256_jwt(p8key)), ALERT)
    c.wait(lambda: False, 0.1)
    t0 = time.monotonic()
    apns.stop()
    assert time.monotonic() - t0 < 2.0 and apns.accepted == []


curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl binary not installed")


def run_curl(ca, *args):
    cmd = ["curl", "-sS", "--cacert", ca.ca_file, "-o", "-", "-w", "\n%{http_code} %{http_version}"]
    out = subprocess.run(cmd + list(args), capture_output=True, timeout=10, text=True)
    body, _, tail = out.stdout.rpartition("\n")
    return tail.split(" ") if tail else ["000", "0"], body


@curl
def test_apns_with_libcurl(apns, ca, p8key, token):
    hdrs = ["-H", "authorization: bearer " + es256_jwt(p8key), "-H", "apns-topic: " + TOPIC,
            "-H", "apns-push-type: alert"]
    (code, version), _ = run_curl(ca, "--http2", *hdrs, "--data-binary", ALERT.decode(),
                                  apns.url + "/3/device/" + token)
    assert (code, version) == ("200", "2")
    (code, _), _ = run_curl(ca, "--http1.1", *hdrs, "--data-binary", ALERT.decode(),
                            apns.url + "/3/device/" + token)
    assert code == "000" and apns.rejected[-1].reason == "not_h2"
    assert len(apns.wait_accepted(1, WAIT)) == 1


# --- FCM ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fcm(ca):
    fake = FakeFCM(ca, project_id="pipit-test").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def account(fcm, tmp_path_factory):
    path = tmp_path_factory.mktemp("fcm") / "service-account.json"
    fcm.write_service_account(str(path))
    sa = json.loads(path.read_text())
    return sa, serialization.load_pem_private_key(sa["private_key"].encode(), None)


@pytest.fixture
def http(ca):
    with requests.Session() as s:
        s.trust_env = False        # else REQUESTS_CA_BUNDLE from the environment beats s.verify
        s.verify = ca.ca_file
        yield s


@pytest.fixture
def device(fcm):
    tok = "fcm-" + secrets.token_urlsafe(24)
    fcm.register(tok)
    return tok


def rs256_assertion(account, header=None, claims=None, times=None, flip_signature=False):
    """A valid assertion, changed by `header`, `claims` and `times` (claim -> seconds from now)."""
    sa, key = account
    now = int(time.time())
    h = dict({"alg": "RS256", "typ": "JWT", "kid": sa["private_key_id"]}, **(header or {}))
    c = dict({"iss": sa["client_email"], "scope": SCOPE, "aud": sa["token_uri"],
              "iat": now, "exp": now + 3600}, **(claims or {}))
    c.update({name: now + delta for name, delta in (times or {}).items()})
    signing_input = b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(c).encode())
    sig = bytearray(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))
    if flip_signature:
        sig[10] ^= 1
    return signing_input + "." + b64u(bytes(sig))


def token_form(assertion, grant=GRANT):
    return urllib.parse.urlencode({"grant_type": grant, "assertion": assertion})


def exchange(http, fcm, account, **kw):
    return http.post(fcm.token_uri, data=token_form(rs256_assertion(account, **kw)),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})


def access_token(http, fcm, account):
    r = exchange(http, fcm, account)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def send_url(fcm, project="pipit-test"):
    return fcm.url + "/v1/projects/%s/messages:send" % project


def fcm_send(http, fcm, access, message, project="pipit-test", **kw):
    headers = {"Authorization": "Bearer " + access} if access else {}
    return http.post(send_url(fcm, project), json={"message": message}, headers=headers, **kw)


def accepted_for(fake, device):
    """The fake records a send just after writing its answer, so a client may be first."""
    deadline = time.monotonic() + WAIT
    for _ in range(1000):
        found = fake.by_token(device)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.01)
    return fake.by_token(device)


def fcm_error(r):
    err = r.json()["error"]
    codes = [d.get("errorCode") for d in err.get("details", [])]
    return r.status_code, err["status"], codes[0] if codes else None


def test_fcm_token_exchange_then_send(fcm, account, http, device):
    before = fcm.tokens_issued
    r = exchange(http, fcm, account)
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    assert r.json()["expires_in"] == 3599 and fcm.tokens_issued == before + 1
    message = {"token": device, "notification": {"title": "hi", "body": "there"},
               "data": {"push_id": "p1"}, "android": {"priority": "HIGH", "ttl": "3600.5s"}}
    r = fcm_send(http, fcm, r.json()["access_token"], message)
    assert r.status_code == 200 and r.json()["name"].startswith("projects/pipit-test/messages/")
    [msg] = accepted_for(fcm, device)
    assert msg.body["message"] == message and msg.headers["content-type"] == "application/json"


def test_fcm_speaks_h2_too(fcm, account, ca, device):
    c = H2Client(ca, fcm.port, ("h2", "http/1.1"))
    try:
        base = [(":scheme", "https"), (":authority", "127.0.0.1"), (":method", "POST")]
        form = token_form(rs256_assertion(account)).encode()
        exchange_headers = [(":path", "/token"),
                            ("content-type", "application/x-www-form-urlencoded")]
        status, _, body = c.response(c.request(base + exchange_headers, form))
        assert status == 200
        send = [(":path", "/v1/projects/pipit-test/messages:send"),
                ("content-type", "application/json"),
                ("authorization", "Bearer " + json.loads(body)["access_token"])]
        message = json.dumps({"message": {"token": device}}).encode()
        status, _, body = c.response(c.request(base + send, message))
        assert status == 200 and "name" in json.loads(body)
    finally:
        c.close()
    assert len(accepted_for(fcm, device)) == 1


BAD_ASSERTIONS = [
    ("bad-signature", {"flip_signature": True}, "Invalid JWT Signature."),
    ("wrong-aud", {"claims": {"aud": "https://oauth2.googleapis.com/token"}}, "aud"),
    ("wrong-kid", {"header": {"kid": "0" * 40}}, "kid"),
    ("wrong-alg", {"header": {"alg": "HS256"}}, "RS256"),
    ("wrong-iss", {"claims": {"iss": "someone@example.com"}}, "iss"),
    ("no-scope", {"claims": {"scope": "https://www.googleapis.com/auth/cloud-platform"}}, "scope"),
    ("too-long", {"times": {"exp": 3601}}, "short-lived"),
    ("iat-future", {"times": {"iat": 300, "exp": 600}}, "short-lived"),
    ("expired", {"times": {"iat": -7200, "exp": -3600}}, "short-lived"),
    ("exp-not-int", {"claims": {"exp": "later"}}, "short-lived"),
]


@pytest.mark.parametrize("kw,why", [c[1:] for c in BAD_ASSERTIONS],
                         ids=[c[0] for c in BAD_ASSERTIONS])
def test_fcm_token_endpoint_refuses_bad_assertions(fcm, account, http, kw, why):
    before = fcm.tokens_issued
    r = exchange(http, fcm, account, **kw)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert why in r.json()["error_description"]
    assert fcm.rejected[-1].reason == "invalid_grant" and fcm.tokens_issued == before


def test_fcm_token_endpoint_refuses_wrong_grant_type_and_form(fcm, account, http):
    r = http.post(fcm.token_uri, data=token_form(rs256_assertion(account), grant="password"),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    r = http.post(fcm.token_uri, json={"grant_type": GRANT, "assertion": rs256_assertion(account)})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


BAD_MESSAGES = [
    ("data-number", {"data": {"n": 3}}),
    ("data-reserved-key", {"data": {"from": "x"}}),
    ("two-targets", {"topic": "news"}),
    ("unknown-field", {"colour": "red"}),
    ("title-not-string", {"notification": {"title": 5}}),
    ("priority-lowercase", {"android": {"priority": "high"}}),
    ("ttl-not-duration", {"android": {"ttl": "1h"}}),
    ("ttl-number", {"android": {"ttl": 3600}}),
    ("android-data-number", {"android": {"data": {"k": True}}}),
]


@pytest.mark.parametrize("extra", [c[1] for c in BAD_MESSAGES], ids=[c[0] for c in BAD_MESSAGES])
def test_fcm_send_refuses_bad_messages(fcm, account, http, device, extra):
    r = fcm_send(http, fcm, access_token(http, fcm, account), dict({"token": device}, **extra))
    assert fcm_error(r) == (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert (fcm.rejected[-1].status, fcm.rejected[-1].reason) == (400, "INVALID_ARGUMENT")
    assert fcm.by_token(device) == []


def test_fcm_send_needs_json_and_one_target(fcm, account, http, device):
    access = access_token(http, fcm, account)
    r = http.post(send_url(fcm), data=json.dumps({"message": {"token": device}}),
                  headers={"Authorization": "Bearer " + access, "Content-Type": "text/plain"})
    assert fcm_error(r) == (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert fcm_error(fcm_send(http, fcm, access, {"data": {"a": "b"}}))[0] == 400


def test_fcm_send_without_valid_auth_is_401(fcm, account, http, device):
    assert fcm_error(fcm_send(http, fcm, None, {"token": device})) == (401, "UNAUTHENTICATED", None)
    assert fcm_error(fcm_send(http, fcm, "ya29.made-up", {"token": device}))[0] == 401
    access = access_token(http, fcm, account)
    fcm.clock = lambda: time.time() + 3600                 # the access token has expired
    try:
        r = fcm_send(http, fcm, access, {"token": device})
    finally:
        fcm.clock = time.time
    assert fcm_error(r) == (401, "UNAUTHENTICATED", None)
    assert fcm.rejected[-1].reason == "UNAUTHENTICATED"
    assert fcm.by_token(device) == []


def test_fcm_unregistered_and_unknown_tokens_are_404(fcm, account, http, device):
    access = access_token(http, fcm, account)
    fcm.unregister(device)
    r = fcm_send(http, fcm, access, {"token": device})
    assert fcm_error(r) == (404, "NOT_FOUND", "UNREGISTERED")
    assert fcm.rejected[-1].token == device and fcm.rejected[-1].reason == "UNREGISTERED"
    assert fcm_error(fcm_send(http, fcm, access, {"token": "never-seen"}))[2] == "UNREGISTERED"


def test_fcm_wrong_project_is_404(fcm, account, http, device):
    r = fcm_send(http, fcm, access_token(http, fcm, account), {"token": device}, project="other")
    assert fcm_error(r) == (404, "NOT_FOUND", None)


def test_fcm_scripted_429_with_retry_after(fcm, account, http, device):
    fcm.script(device, (429, "QUOTA_EXCEEDED", {"Retry-After": "7"}))
    access = access_token(http, fcm, account)
    r = fcm_send(http, fcm, access, {"token": device})
    assert fcm_error(r) == (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
    assert r.headers["Retry-After"] == "7"
    assert fcm.rejected[-1].scripted and fcm.rejected[-1].reason == "QUOTA_EXCEEDED"
    assert fcm_send(http, fcm, access, {"token": device}).status_code == 200


def test_fcm_token_lifetime_is_configurable(fcm, account, http):
    fcm.token_lifetime = 5
    try:
        r = exchange(http, fcm, account)
    finally:
        fcm.token_lifetime = 3599
    assert r.json()["expires_in"] == 5


def test_fcm_hold_and_release(fcm, account, http, device):
    access = access_token(http, fcm, account)
    result = {}

    def send_in_background():
        result["r"] = fcm_send(http, fcm, access, {"token": device}, timeout=WAIT)
    fcm.hold()
    try:
        t = threading.Thread(target=send_in_background)
        t.start()
        t.join(0.3)
        assert t.is_alive() and fcm.by_token(device) == []
    finally:
        fcm.release()
    t.join(WAIT)
    assert result["r"].status_code == 200 and len(accepted_for(fcm, device)) == 1


@curl
def test_fcm_with_libcurl_over_h2(fcm, account, http, ca, device):
    access = access_token(http, fcm, account)
    (code, version), body = run_curl(ca, "--http2", "-H", "Authorization: Bearer " + access,
                                     "-H", "Content-Type: application/json",
                                     "--data-binary", json.dumps({"message": {"token": device}}),
                                     send_url(fcm))
    assert (code, version) == ("200", "2") and "name" in json.loads(body)
