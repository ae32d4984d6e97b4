"""Self-test of the strict fake Web Push / UnifiedPush endpoint (fake_webpush.py). No pipitd.

The sender here is written independently of the fake: it derives keys with cryptography's
HKDF class where the fake uses plain HMAC, and it is itself checked against the RFC 8291
Appendix A vector byte for byte. So when the fake accepts this sender's requests, both sides
agree with the RFC, not just with each other.
"""

import base64
import http.client
import json
import os
import socket
import threading
import time
import urllib.parse

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fake_webpush import FakeWebPush, Reject, Rejection, check_vapid

# RFC 8291 Appendix A (push-research §1.4).
VEC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
VEC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
VEC_UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
VEC_UA_PUBLIC = ("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpk"
                 "NtoIAiw4")
VEC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
VEC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
VEC_BODY = ("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLoc"
            "InmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLV"
            "WGNWQexSgSxsj_Qulcy4a-fN")

# RFC 8292 §2.4 example (push-research §1.5); exp is in 2016, so the clock is injected.
RFC8292_T = ("eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJl"
             "eHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOe"
             "pC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA")
RFC8292_K = "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(public_key):
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def private_key(raw32):
    return ec.derive_private_key(int.from_bytes(raw32, "big"), ec.SECP256R1())


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


# --- the test sender: RFC 8291 encrypt + RFC 8292 sign ---------------------------------------


def encrypt(plaintext, p256dh, auth, as_key=None, salt=None, rs=4096):
    """One aes128gcm record as RFC 8291 §3-§4 describe; as_key and salt fixed only for vectors."""
    as_key = as_key or ec.generate_private_key(ec.SECP256R1())
    salt = salt or os.urandom(16)
    ua_public = unb64u(p256dh)
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    as_public = point(as_key.public_key())
    ikm = hkdf(unb64u(auth), as_key.exchange(ec.ECDH(), peer),
               b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    return salt + rs.to_bytes(4, "big") + bytes([65]) + as_public + ciphertext


def sign_jwt(key, claims, header=None):
    header = header or {"typ": "JWT", "alg": "ES256"}
    signing_input = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Push:
    """A Web Push request; every field can be spoiled by a test."""

    def __init__(self, fake, subscription, plaintext=b'{"title":"hi","n":1}', vapid=None):
        self.fake = fake
        self.endpoint = subscription["endpoint"]
        self.keys = subscription.get("keys")
        self.plaintext = plaintext
        self.vapid = vapid or ec.generate_private_key(ec.SECP256R1())
        self.headers = {"Content-Type": "application/octet-stream",
                        "Content-Encoding": "aes128gcm", "TTL": "60"}
        self.claims = {"aud": fake.base, "exp": int(time.time()) + 12 * 3600,
                       "sub": "mailto:ops@example.com"}
        self.k = point(self.vapid.public_key())
        self.body = None

    def build(self):
        body = self.body if self.body is not None else encrypt(
            self.plaintext, self.keys["p256dh"], self.keys["auth"])
        headers = dict(self.headers)
        if "Authorization" not in headers:
            headers["Authorization"] = "vapid t=%s, k=%s" % (sign_jwt(self.vapid, self.claims),
                                                             b64u(self.k))
        return body, {k: v for k, v in headers.items() if v is not None}

    def send(self, **kwargs):
        body, headers = self.build()
        return post(self.endpoint, body, headers, **kwargs)


def post(url, body, headers, length=True, chunked=False, method="POST"):
    """Send one request with exactly these headers; returns (status, headers, body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.putrequest(method, parts.path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        elif length:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def poll(fn, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.01)
    raise AssertionError("condition not met within %.1fs" % timeout)


@pytest.fixture
def fake():
    f = FakeWebPush()
    f.start()
    try:
        yield f
    finally:
        f.stop()


# --- vectors -----------------------------------------------------------------------------


def test_sender_reproduces_rfc8291_appendix_a():
    body = encrypt(VEC_PLAINTEXT, VEC_UA_PUBLIC, VEC_AUTH,
                   as_key=private_key(unb64u(VEC_AS_PRIVATE)), salt=unb64u(VEC_SALT))
    assert b64u(body) == VEC_BODY


def test_rfc8292_example_jwt_verifies():
    auth = "vapid t=%s, k=%s" % (RFC8292_T, RFC8292_K)
    claims, k = check_vapid(auth, "https://push.example.net", now=1453523768 - 60)
    assert claims["sub"] == "mailto:push@example.com" and k == unb64u(RFC8292_K)
    with pytest.raises(Reject) as exc:
        check_vapid(auth, "https://push.example.net", now=1453523768 + 1)
    assert (exc.value.status, exc.value.reason) == (403, "vapid_expired")


def test_fake_decrypts_rfc8291_vector(fake):
    sub = fake.subscribe(keys=(unb64u(VEC_UA_PRIVATE), unb64u(VEC_AUTH)))
    assert sub["keys"] == {"p256dh": VEC_UA_PUBLIC, "auth": VEC_AUTH}
    push = Push(fake, sub)
    push.body = unb64u(VEC_BODY)
    status, _, _ = push.send()
    assert status == 201, fake.rejected
    assert fake.accepted[0].plaintext == VEC_PLAINTEXT
    assert fake.accepted[0].json is None


# --- the happy path ----------------------------------------------------------------------


def test_valid_push_is_accepted_and_decrypted(fake):
    sub = fake.subscribe()
    assert len(unb64u(sub["keys"]["p256dh"])) == 65 and len(unb64u(sub["keys"]["auth"])) == 16
    push = Push(fake, sub)
    push.headers.update({"Urgency": "high", "Topic": "chat_42-x", "TTL": "3600"})
    fake.set_vapid_key(b64u(push.k))
    status, headers, _ = push.send()
    assert status == 201, fake.rejected
    assert headers["location"].startswith(fake.base + "/msg/")
    [msg] = fake.wait_accepted(1, 2)
    assert (msg.sid, msg.kind) == (fake.sid(sub["endpoint"]), "webpush")
    assert msg.plaintext == push.plaintext and msg.json == {"title": "hi", "n": 1}
    assert (msg.ttl, msg.urgency, msg.topic) == (3600, "high", "chat_42-x")
    assert msg.claims == push.claims
    assert msg.headers["content-encoding"] == "aes128gcm"
    assert fake.rejected == [] and fake.requests == 1
    assert fake.by_sid(msg.sid) == [msg] and fake.by_sid("nope") == []


def test_keep_alive_connection_serves_several_pushes(fake):
    sub = fake.subscribe()
    parts = urllib.parse.urlsplit(sub["endpoint"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        for i in range(3):
            body, headers = Push(fake, sub, plaintext=b"m%d" % i).build()
            conn.request("POST", parts.path, body=body, headers=headers)
            assert conn.getresponse().read() == b""
    finally:
        conn.close()
    assert [m.plaintext for m in fake.wait_accepted(3, 2)] == [b"m0", b"m1", b"m2"]


def test_wait_accepted_times_out_with_a_useful_message(fake):
    with pytest.raises(AssertionError, match="wanted 1 accepted.*have 0"):
        fake.wait_accepted(1, 0.1)


# --- every protocol mistake is refused and recorded --------------------------------------


def _other_key():
    return point(ec.generate_private_key(ec.SECP256R1()).public_key())


def _flip_last_byte(push):
    body, _ = push.build()
    push.body = body[:-1] + bytes([body[-1] ^ 1])


def _bad_signature(push):
    _, headers = push.build()
    token = headers["Authorization"].split("t=")[1].split(",")[0]
    head, claims, sig = token.split(".")
    sig = b64u(bytes([unb64u(sig)[0] ^ 1]) + unb64u(sig)[1:])
    push.headers["Authorization"] = headers["Authorization"].replace(token, "%s.%s.%s" % (head, claims, sig))


BAD = {
    "wrong_aud": (lambda p: p.claims.update(aud="https://127.0.0.1:1"), 403, "vapid_aud"),
    "expired": (lambda p: p.claims.update(exp=int(time.time()) - 10), 403, "vapid_expired"),
    "exp_beyond_24h": (lambda p: p.claims.update(exp=int(time.time()) + 24 * 3600 + 120), 403,
                       "vapid_exp_too_far"),
    "bad_sub": (lambda p: p.claims.update(sub="ops@example.com"), 403, "vapid_sub"),
    "bad_signature": (_bad_signature, 403, "vapid_signature"),
    "k_not_server_key": (lambda p: p.fake.set_vapid_key(b64u(_other_key())), 403,
                         "vapid_key_mismatch"),
    "k_not_signer": (lambda p: setattr(p, "k", _other_key()), 403, "vapid_signature"),
    "no_authorization": (lambda p: p.headers.update(Authorization=None), 401, "missing_auth"),
    "webpush_scheme": (lambda p: p.headers.update(Authorization="WebPush abc"), 401, "missing_auth"),
    "missing_ttl": (lambda p: p.headers.update(TTL=None), 400, "missing_ttl"),
    "negative_ttl": (lambda p: p.headers.update(TTL="-1"), 400, "bad_ttl"),
    "bad_urgency": (lambda p: p.headers.update(Urgency="urgent"), 400, "bad_urgency"),
    "bad_topic": (lambda p: p.headers.update(Topic="has space"), 400, "bad_topic"),
    "long_topic": (lambda p: p.headers.update(Topic="x" * 33), 400, "bad_topic"),
    "body_4097": (lambda p: setattr(p, "body", b"\0" * 4097), 413, "too_large"),
    "flipped_ciphertext": (_flip_last_byte, 400, "decrypt_failed"),
    "wrong_encoding": (lambda p: p.headers.update({"Content-Encoding": "aesgcm"}), 400,
                       "bad_content_encoding"),
    "no_encoding": (lambda p: p.headers.update({"Content-Encoding": None}), 400,
                    "bad_content_encoding"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_mistake_is_refused_and_recorded(fake, case):
    spoil, status, reason = BAD[case]
    sub = fake.subscribe()
    push = Push(fake, sub)
    spoil(push)
    got, _, body = push.send()
    assert (got, json.loads(body)["error"]) == (status, reason)
    assert fake.rejected == [Rejection(fake.sid(sub["endpoint"]), status, reason)]
    assert fake.accepted == [] and fake.requests == 1


def test_framing_and_routing_mistakes(fake):
    sub = fake.subscribe()
    sid = fake.sid(sub["endpoint"])
    body, headers = Push(fake, sub).build()
    assert post(sub["endpoint"], body, headers, length=False)[0] == 411
    assert post(sub["endpoint"], body, headers, chunked=True)[0] == 400
    assert post(sub["endpoint"], b"", {}, method="GET")[0] == 405
    assert post(fake.base + "/wp/s999x", body, headers)[0] == 404
    assert post(fake.base + "/elsewhere", body, headers)[0] == 404
    assert fake.rejected == [Rejection(sid, 411, "length_required"), Rejection(sid, 400, "chunked"),
                             Rejection(sid, 405, "method_not_allowed"),
                             Rejection("s999x", 404, "unknown_subscription"),
                             Rejection(None, 404, "unknown_path")]
    assert fake.accepted == [] and fake.requests == 5


# --- scripting, unsubscribe, hold --------------------------------------------------------


def test_scripted_responses_come_after_validation(fake):
    sub = fake.subscribe()
    fake.script(sub["endpoint"], (429, {"Retry-After": "7"}, b"slow down"), (202, None, None))
    status, headers, body = Push(fake, sub).send()
    assert (status, headers["retry-after"], body) == (429, "7", b"slow down")
    assert Push(fake, sub).send()[0] == 202
    assert Push(fake, sub).send()[0] == 201
    assert fake.rejected == [Rejection(fake.sid(sub["endpoint"]), 429, "scripted")]
    assert len(fake.accepted) == 2


def test_unsubscribe_answers_410(fake):
    sub = fake.subscribe()
    fake.unsubscribe(sub["endpoint"])
    assert Push(fake, sub).send()[0] == 410
    assert fake.rejected == [Rejection(fake.sid(sub["endpoint"]), 410, "gone")]


def test_hold_delays_the_answer_until_release(fake):
    sub = fake.subscribe()
    fake.hold()
    result = []
    sender = threading.Thread(target=lambda: result.append(Push(fake, sub).send()), daemon=True)
    sender.start()
    poll(lambda: fake.holding == 1)
    time.sleep(0.1)
    assert result == [] and fake.accepted == []
    fake.release()
    sender.join(3)
    assert result[0][0] == 201 and len(fake.accepted) == 1


def test_client_gone_while_held_is_not_accepted(fake):
    sub = fake.subscribe()
    body, headers = Push(fake, sub).build()
    head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (
        urllib.parse.urlsplit(sub["endpoint"]).path, fake.port, len(body))
    head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    fake.hold()
    with socket.create_connection(("127.0.0.1", fake.port), timeout=3) as sock:
        sock.sendall(head.encode() + body)
        poll(lambda: fake.holding == 1)
    poll(lambda: fake.holding == 0)
    fake.release()
    assert fake.accepted == [] and fake.rejected == []
    assert fake.dropped == [fake.sid(sub["endpoint"])]


# --- UnifiedPush -------------------------------------------------------------------------


def test_unifiedpush_stores_the_raw_body(fake):
    sub = fake.subscribe_up()
    assert sub["endpoint"].startswith(fake.base + "/up/")
    assert post(sub["endpoint"], b'{"a":1}', {"TTL": "30"})[0] == 201
    assert post(sub["endpoint"], b"raw", {})[0] == 201
    assert post(sub["endpoint"], b"x", {"TTL": "soon"})[0] == 400
    assert post(sub["endpoint"], b"x" * 4097, {})[0] == 413
    assert post(sub["endpoint"], b"x", {}, length=False)[0] == 411
    status, _, body = post(sub["endpoint"], b"", {}, method="GET")
    assert (status, json.loads(body)) == (200, {"unifiedpush": {"version": 1}})
    first, second = fake.accepted
    assert (first.kind, first.json, first.ttl, first.claims) == ("unifiedpush", {"a": 1}, 30, {})
    assert (second.plaintext, second.ttl) == (b"raw", None)
    sid = fake.sid(sub["endpoint"])
    assert fake.rejected == [Rejection(sid, 400, "bad_ttl"), Rejection(sid, 413, "too_large"),
                             Rejection(sid, 411, "length_required")]
    fake.unsubscribe(sub["endpoint"])
    assert post(sub["endpoint"], b"x", {})[0] == 410


def test_stop_closes_the_listener_quickly():
    fake = FakeWebPush().start()
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()


def test_stop_drops_held_requests_and_idle_connections():
    fake = FakeWebPush().start()
    sub = fake.subscribe()
    idle = socket.create_connection(("127.0.0.1", fake.port), timeout=3)
    fake.hold()
    result = []

    def send():
        try:
            result.append(Push(fake, sub).send())
        except (OSError, http.client.HTTPException) as exc:
            result.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    poll(lambda: fake.holding == 1)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    sender.join(3)
    assert isinstance(result[0], Exception) and fake.accepted == []
    assert idle.recv(1) == b""  # the server side was shut down, not left open
    idle.close()
