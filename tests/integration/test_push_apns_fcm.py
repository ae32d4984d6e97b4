"""Push dispatcher, APNs and FCM channels, against the strict fakes.

pipitd reaches fake_apns.py (HTTP/2 only, ES256 provider token) and fake_fcm.py (OAuth2
token endpoint plus HTTP v1 send) over TLS, trusting their throwaway CA through
--push-ca-file, exactly as it reaches Apple and Google. The fakes refuse and record every
protocol mistake, so the happy-path tests also check `rejected == []`. Retries run fast
here: --push-retry-base 100ms, --push-retry-cap 400ms.

A few checks read the data dir's SQLite file (read-only) for what the API does not show:
the delivery id pipitd puts in apns-id, and the reason a queued delivery waits with.

Run: cd /work/main && /usr/bin/python3 -m pytest -q tests/integration/test_push_apns_fcm.py
"""

import json
import re
import secrets
import sqlite3
import time

import pytest

from chatlib import api, expect, users
from conftest import T, poll_until
from fake_apns import FakeAPNs
from fake_fcm import FakeFCM
from fake_tls import TestCA, split_jwt
from pushlib import push, push_key, wait_counts

FAST = ("--push-retry-base", "100ms", "--push-retry-cap", "400ms")
TOPIC = "com.example.app"
KEY_ID, TEAM_ID = "KEY1234567", "TEAM123456"
APNS_ID_RE = re.compile(r"00000000-0000-4000-8000-([0-9a-f]{12})")
INVALID_FCM_TOKEN = "The registration token is not a valid FCM registration token"


# --- fakes and servers ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return TestCA(str(tmp_path_factory.mktemp("push-ca")))


@pytest.fixture
def apns(ca):
    f = FakeAPNs(ca, team_id=TEAM_ID, key_id=KEY_ID).start()
    yield f
    f.stop()


@pytest.fixture
def fcm(ca):
    f = FakeFCM(ca).start()
    yield f
    f.stop()


def apns_flags(apns, ca, key_file, key_id=KEY_ID):
    return ("--push-ca-file", ca.ca_file, "--apns-key-file", str(key_file),
            "--apns-key-id", key_id, "--apns-team-id", TEAM_ID, "--apns-url", apns.url)


def fcm_flags(fcm, ca, account_file):
    return ("--push-ca-file", ca.ca_file, "--fcm-service-account", str(account_file),
            "--fcm-url", fcm.url)


def start_apns(server_factory, apns, ca, tmp_path, *extra, key_id=KEY_ID):
    p8 = tmp_path / "AuthKey.p8"
    apns.write_p8(str(p8))
    return server_factory.new(*(FAST + apns_flags(apns, ca, p8, key_id) + extra))


def write_account(fcm, tmp_path, **override):
    path = tmp_path / "service-account.json"
    fcm.write_service_account(str(path))
    if override:
        account = json.loads(path.read_text())
        account.update(override)
        path.write_text(json.dumps(account))
    return path


def start_fcm(server_factory, fcm, ca, tmp_path, *extra, **account_override):
    account = write_account(fcm, tmp_path, **account_override)
    return server_factory.new(*(FAST + fcm_flags(fcm, ca, account) + extra))


# --- the API, as an app server and its users use it ----------------------------------------

def apns_device(srv, apns, user, topic=TOPIC, known=True):
    """Registers a fresh iOS token with pipitd (and, if known, with the fake): (token, id)."""
    token = secrets.token_hex(32)
    if known:
        apns.register(token, topic)
    body = {"platform": "apns", "token": token, "topic": TOPIC}
    return token, expect(api(srv, "POST", "/v1/devices", user, body), 201)["id"]


def fcm_device(srv, fcm, user, known=True):
    token = "fcm:" + secrets.token_urlsafe(48)
    if known:
        fcm.register(token)
    body = {"platform": "fcm", "token": token}
    return token, expect(api(srv, "POST", "/v1/devices", user, body), 201)["id"]


def devices(srv, user):
    listed = expect(api(srv, "GET", "/v1/devices", user), 200)
    return listed["devices"] if isinstance(listed, dict) else listed


def device_ids(srv, user):
    return [d["id"] for d in devices(srv, user)]


def db_rows(srv, sql, *args):
    db = sqlite3.connect("file:%s?mode=ro" % (srv.data_dir / "pipit.db"), uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def delivery_id(srv, pid, device):
    (row,) = db_rows(srv, "SELECT id FROM deliveries WHERE push_id = ? AND device_id = ?",
                     pid, device)
    return row[0]


def wait_out_a_wrong_retry(seconds=0.8):
    """Long enough for a wrongly scheduled retry (100-400 ms here) to have happened."""
    time.sleep(seconds)


# --- APNs ------------------------------------------------------------------------------------

def test_apns_alert_carries_apples_headers_and_our_payload(server_factory, apns, ca, tmp_path):
    s = start_apns(server_factory, apns, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    token, dev = apns_device(s, apns, u)
    t0 = time.time()
    note = {"title": "Goal", "body": "2-1", "url": "https://example.com/m",
            "image": "https://example.com/i.png", "category": "score", "data": {"match": 7}}
    pid = push(s, key, [u.id], priority="high", ttl=600, collapse_key="match-7",
               notification=note)
    (msg,) = apns.wait_accepted(1, T(10))
    h = msg.headers
    assert msg.token == token
    assert h["apns-topic"] == TOPIC and h["apns-push-type"] == "alert"
    assert h["apns-priority"] == "10"
    assert abs(int(h["apns-expiration"]) - (t0 + 600)) <= 3, h["apns-expiration"]
    assert h["apns-collapse-id"] == "match-7"
    assert h["apns-id"] == "00000000-0000-4000-8000-%012x" % delivery_id(s, pid, dev)
    scheme, jwt = h["authorization"].split(" ")
    header, claims, _, _ = split_jwt(jwt)
    assert scheme == "bearer" and header == {"alg": "ES256", "kid": KEY_ID}
    assert claims["iss"] == TEAM_ID and abs(claims["iat"] - t0) <= 60
    assert msg.payload == {
        "aps": {"alert": {"title": "Goal", "body": "2-1"}, "sound": "default",
                "category": "score", "mutable-content": 1},
        "pipit": {"push": pid, "device": dev, "url": "https://example.com/m",
                  "image": "https://example.com/i.png", "data": {"match": 7}}}
    c = wait_counts(s, key, pid, "sent", sent=1)
    assert c["by_channel"]["apns"]["sent"] == 1
    # Normal priority and nothing optional: priority 5, the delivery's own collapse id (a
    # resend after a crash replaces the first copy), a bare payload.
    pid2 = push(s, key, [u.id], notification={"title": "Hi", "body": "there"})
    msg2 = apns.wait_accepted(2, T(10))[1]
    assert msg2.headers["apns-priority"] == "5"
    assert msg2.headers["apns-collapse-id"] == "d%d" % delivery_id(s, pid2, dev)
    assert msg2.payload == {"aps": {"alert": {"title": "Hi", "body": "there"},
                                    "sound": "default"},
                            "pipit": {"push": pid2, "device": dev}}
    wait_counts(s, key, pid2, "sent", sent=1)
    assert apns.rejected == []


def test_apns_fifty_devices_share_one_connection_and_one_jwt(server_factory, apns, ca,
                                                             tmp_path):
    s = start_apns(server_factory, apns, ca, tmp_path)
    key = push_key(s)
    us = users(s, 10)
    devices = {}
    for u in us:
        for _ in range(5):
            token, dev = apns_device(s, apns, u)
            devices[token] = dev
    pids = [push(s, key, [u.id for u in us]) for _ in range(2)]
    apns.wait_accepted(100, T(20))
    for pid in pids:
        wait_counts(s, key, pid, "all sent", sent=50, queued=0)
    time.sleep(0.3)
    got = apns.accepted
    assert len(got) == 100
    for pid in pids:
        mine = [m for m in got if m.payload["pipit"]["push"] == pid]
        assert sorted(m.payload["pipit"]["device"] for m in mine) == sorted(devices.values())
        assert all(devices[m.token] == m.payload["pipit"]["device"] for m in mine)
    assert len({m.apns_id for m in got}) == 100
    assert all(APNS_ID_RE.fullmatch(m.apns_id) for m in got)
    assert apns.connections == 1, "one HTTP/2 connection, many streams"
    assert len(apns.jwts) == 1, "the provider token is reused, not signed per request"
    assert apns.rejected == []


@pytest.mark.parametrize("case, status, reason", [
    ("unregistered", 410, "Unregistered"),
    ("unknown_token", 400, "BadDeviceToken"),
    ("other_app", 400, "DeviceTokenNotForTopic"),
])
def test_apns_gone_token_deletes_the_device(server_factory, apns, ca, tmp_path,
                                            case, status, reason):
    s = start_apns(server_factory, apns, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    gone, gone_id = apns_device(s, apns, u, known=case != "unknown_token")
    kept, kept_id = apns_device(s, apns, u)
    if case == "unregistered":
        apns.unregister(gone)
    elif case == "other_app":
        apns.register(gone, "com.example.other")
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "one sent, one gone", sent=1, failed=1)
    assert c["failed_by"] == {"gone": 1}, c
    ids = device_ids(s, u)
    assert kept_id in ids and gone_id not in ids
    assert [(r.token, r.status, r.reason) for r in apns.rejected] == [(gone, status, reason)]
    assert [m.token for m in apns.accepted] == [kept]


def test_apns_expired_provider_token_is_retried_with_the_young_jwt(server_factory, apns, ca,
                                                                  tmp_path):
    """A JWT under 20 minutes old is not re-signed (Apple would answer 429
    TooManyProviderTokenUpdates): the delivery waits as token_expired and goes again."""
    s = start_apns(server_factory, apns, ca, tmp_path,
                   "--push-retry-base", "1500ms", "--push-retry-cap", "1500ms")
    key = push_key(s)
    (u,) = users(s, 1)
    token, dev = apns_device(s, apns, u)
    apns.script(token, (403, "ExpiredProviderToken"))
    pid = push(s, key, [u.id])
    poll_until(lambda: db_rows(s, "SELECT state, reason FROM deliveries WHERE push_id = ?", pid)
               == [("queued", "token_expired")], T(5), what="queued as token_expired")
    apns.wait_accepted(1, T(10))
    wait_counts(s, key, pid, "sent", sent=1)
    assert apns.requests == 2
    assert len(apns.jwts) == 1
    assert [(r.status, r.reason) for r in apns.rejected] == [(403, "ExpiredProviderToken")]


def test_apns_refused_credentials_fail_unauthorized_without_retry(server_factory, apns, ca,
                                                                  tmp_path):
    s = start_apns(server_factory, apns, ca, tmp_path, key_id="WRONGKEY00")
    key = push_key(s)
    (u,) = users(s, 1)
    apns_device(s, apns, u)
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "failed", failed=1)
    assert c["failed_by"] == {"unauthorized": 1}
    wait_out_a_wrong_retry()
    assert apns.requests == 1
    assert [(r.status, r.reason) for r in apns.rejected] == [(403, "InvalidProviderToken")]


def test_apns_throttling_and_server_errors_are_retried_after_retry_after(server_factory, apns,
                                                                         ca, tmp_path):
    s = start_apns(server_factory, apns, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    token, _ = apns_device(s, apns, u)
    apns.script(token, (429, "TooManyRequests", {"Retry-After": "2"}),
                (503, "ServiceUnavailable"), (500, "InternalServerError"))
    t0 = time.monotonic()
    pid = push(s, key, [u.id])
    apns.wait_accepted(1, T(10))
    assert time.monotonic() - t0 >= 1.9, "retried before Retry-After"
    wait_counts(s, key, pid, "sent after retries", sent=1)
    assert apns.requests == 4
    assert [r.status for r in apns.rejected] == [429, 503, 500]


def test_apns_other_400_fails_rejected_without_retry(server_factory, apns, ca, tmp_path):
    s = start_apns(server_factory, apns, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    token, dev = apns_device(s, apns, u)
    apns.script(token, (400, "BadTopic"))
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "failed", failed=1)
    assert c["failed_by"] == {"rejected": 1}
    wait_out_a_wrong_retry()
    assert apns.requests == 1
    assert dev in device_ids(s, u), "a refusal that is our fault keeps the device"


@pytest.mark.parametrize("case", ["apns_no_key", "apns_unreadable_key", "fcm_no_account"])
def test_channel_without_credentials_fails_not_configured(server_factory, apns, fcm, ca,
                                                          tmp_path, case):
    garbage = tmp_path / "garbage.p8"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    if case == "apns_no_key":
        flags = ("--push-ca-file", ca.ca_file, "--apns-url", apns.url)
    elif case == "apns_unreadable_key":
        flags = apns_flags(apns, ca, garbage)
    else:
        flags = ("--push-ca-file", ca.ca_file, "--fcm-url", fcm.url)
    s = server_factory.new(*(FAST + flags))
    key = push_key(s)
    (u,) = users(s, 1)
    if case.startswith("apns"):
        apns_device(s, apns, u)
    else:
        fcm_device(s, fcm, u)
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "failed", failed=1)
    assert c["failed_by"] == {"not_configured": 1}
    assert apns.requests == 0 and fcm.requests == 0


# --- FCM ------------------------------------------------------------------------------------

def test_fcm_message_has_notification_data_and_android_fields(server_factory, fcm, ca,
                                                              tmp_path):
    s = start_fcm(server_factory, fcm, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    token, dev = fcm_device(s, fcm, u)
    note = {"title": "Goal", "body": "2-1", "url": "https://example.com/m",
            "image": "https://example.com/i.png", "category": "score",
            "data": {"match": 7, "teams": ["a", "b"]}}
    pid = push(s, key, [u.id], priority="high", ttl=600, collapse_key="match-7",
               notification=note)
    (msg,) = fcm.wait_accepted(1, T(10))
    assert msg.headers["authorization"].startswith("Bearer ya29.fake-")
    assert msg.headers["content-type"].startswith("application/json")
    m = msg.body["message"]
    assert set(msg.body) == {"message"}
    assert set(m) == {"token", "notification", "data", "android"}
    assert m["token"] == token
    assert m["notification"] == {"title": "Goal", "body": "2-1",
                                 "image": "https://example.com/i.png"}
    data = dict(m["data"])
    assert json.loads(data.pop("data")) == {"match": 7, "teams": ["a", "b"]}
    assert data == {"push": str(pid), "device": str(dev), "url": "https://example.com/m",
                    "category": "score"}
    ttl = m["android"].pop("ttl")
    assert 590 <= int(ttl[:-1]) <= 600 and ttl.endswith("s"), ttl
    assert m["android"] == {"priority": "HIGH", "collapse_key": "match-7"}
    c = wait_counts(s, key, pid, "sent", sent=1)
    assert c["by_channel"]["fcm"]["sent"] == 1
    # Normal priority, nothing optional.
    pid2 = push(s, key, [u.id], notification={"title": "Hi", "body": "there"})
    m2 = fcm.wait_accepted(2, T(10))[1].body["message"]
    assert m2["notification"] == {"title": "Hi", "body": "there"}
    assert m2["data"] == {"push": str(pid2), "device": str(dev)}
    assert m2["android"]["priority"] == "NORMAL" and "collapse_key" not in m2["android"]
    assert 86390 <= int(m2["android"]["ttl"][:-1]) <= 86400  # the default day
    assert fcm.tokens_issued == 1
    assert fcm.rejected == []


def test_fcm_access_token_is_fetched_once_for_many_sends(server_factory, fcm, ca, tmp_path):
    s = start_fcm(server_factory, fcm, ca, tmp_path)
    key = push_key(s)
    us = users(s, 10)
    tokens = [fcm_device(s, fcm, u)[0] for u in us for _ in range(3)]
    pids = [push(s, key, [u.id for u in us]) for _ in range(2)]
    fcm.wait_accepted(60, T(20))
    for pid in pids:
        wait_counts(s, key, pid, "all sent", sent=30, queued=0)
    assert sorted(m.token for m in fcm.accepted) == sorted(tokens * 2)
    assert fcm.tokens_issued == 1
    assert fcm.connections == 1
    assert fcm.rejected == []


def test_fcm_short_lived_access_token_is_renewed_before_it_expires(server_factory, fcm, ca,
                                                                   tmp_path):
    fcm.token_lifetime = 4  # pipitd renews halfway through so short a life
    s = start_fcm(server_factory, fcm, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    fcm_device(s, fcm, u)
    push(s, key, [u.id])
    fcm.wait_accepted(1, T(10))
    assert fcm.tokens_issued == 1
    time.sleep(2.5)
    pid = push(s, key, [u.id])
    fcm.wait_accepted(2, T(10))
    wait_counts(s, key, pid, "sent", sent=1)
    assert fcm.tokens_issued == 2
    assert fcm.rejected == [], "the old token was used after pipitd should have renewed it"


def test_fcm_401_drops_the_access_token_and_retries_with_a_new_one(server_factory, fcm, ca,
                                                                   tmp_path):
    fcm.token_lifetime = 1000  # pipitd keeps it for 700 s
    s = start_fcm(server_factory, fcm, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    fcm_device(s, fcm, u)
    push(s, key, [u.id])
    fcm.wait_accepted(1, T(10))
    # Google's clock moves past the token's expiry; pipitd's does not: FCM answers 401.
    fcm.clock = lambda: time.time() + 1200
    pid = push(s, key, [u.id])
    fcm.wait_accepted(2, T(10))
    wait_counts(s, key, pid, "sent after a new token", sent=1)
    assert fcm.tokens_issued == 2
    assert [(r.status, r.reason) for r in fcm.rejected] == [(401, "UNAUTHENTICATED")]


@pytest.mark.parametrize("case, script, reason", [
    ("unregistered", None, "UNREGISTERED"),
    ("other_project", (403, "SENDER_ID_MISMATCH"), "SENDER_ID_MISMATCH"),
    ("bad_token", (400, "INVALID_ARGUMENT", None, INVALID_FCM_TOKEN), "INVALID_ARGUMENT"),
])
def test_fcm_gone_token_deletes_the_device(server_factory, fcm, ca, tmp_path,
                                           case, script, reason):
    s = start_fcm(server_factory, fcm, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    gone, gone_id = fcm_device(s, fcm, u, known=case != "unregistered")
    kept, kept_id = fcm_device(s, fcm, u)
    if script is not None:
        fcm.script(gone, script)
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "one sent, one gone", sent=1, failed=1)
    assert c["failed_by"] == {"gone": 1}, c
    ids = device_ids(s, u)
    assert kept_id in ids and gone_id not in ids
    assert [(r.token, r.reason) for r in fcm.rejected] == [(gone, reason)]
    assert [m.token for m in fcm.accepted] == [kept]


def test_fcm_other_400_fails_rejected_without_retry(server_factory, fcm, ca, tmp_path):
    s = start_fcm(server_factory, fcm, ca, tmp_path)
    key = push_key(s)
    (u,) = users(s, 1)
    token, dev = fcm_device(s, fcm, u)
    fcm.script(token, (400, "INVALID_ARGUMENT", None,
                       "Invalid value at 'message.android.ttl' (Duration)"))
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "failed", failed=1)
    assert c["failed_by"] == {"rejected": 1}
    wait_out_a_wrong_retry()
    assert fcm.requests == 2, "one token request and one send, no retry"
    assert dev in device_ids(s, u)


def test_fcm_refused_service_account_fails_unauthorized(server_factory, fcm, ca, tmp_path):
    """The token endpoint answers 400 invalid_grant (a key id Google does not know): every
    delivery waiting for the token fails, none is sent."""
    s = start_fcm(server_factory, fcm, ca, tmp_path, private_key_id="0" * 40)
    key = push_key(s)
    us = users(s, 2)
    for u in us:
        fcm_device(s, fcm, u)
    pid = push(s, key, [u.id for u in us])
    c = wait_counts(s, key, pid, "failed", failed=2)
    assert c["failed_by"] == {"unauthorized": 2}
    assert fcm.tokens_issued == 0 and fcm.accepted == []
    assert {r.reason for r in fcm.rejected} == {"invalid_grant"}


def test_fcm_404_without_unregistered_keeps_the_device(server_factory, fcm, ca, tmp_path):
    """SERVER BUG (fails against channel_fcm.c as of this writing).

    A 404 that carries no FcmError UNREGISTERED is not about the token: here the service
    account names a project FCM does not know (the same happens with a wrong --fcm-url).
    fcm_judge() treats every 404 as "gone", so one misconfiguration deletes every Android
    device on the first push. push-research.md §3: classify by details[].errorCode first."""
    s = start_fcm(server_factory, fcm, ca, tmp_path, project_id="no-such-project")
    key = push_key(s)
    (u,) = users(s, 1)
    _, dev = fcm_device(s, fcm, u)
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "failed", failed=1)
    assert [(r.status, r.reason) for r in fcm.rejected] == [(404, "NOT_FOUND")]
    assert dev in device_ids(s, u), "the device was deleted on a 404 that was not UNREGISTERED"
    assert c["failed_by"] != {"gone": 1}


# --- a crash with requests in flight --------------------------------------------------------

def _kill_while_held_then_restart(s, fake, key, us, ids_of):
    """First push taken and recorded; second held by the provider when pipitd is killed.
    Returns {push id: [device ids accepted]} once the second has been sent after restart."""
    first = push(s, key, [u.id for u in us])
    fake.wait_accepted(len(us), T(10))
    wait_counts(s, key, first, "first sent", sent=len(us))
    fake.hold()
    before = fake.requests
    second = push(s, key, [u.id for u in us])
    poll_until(lambda: fake.requests - before == len(us), T(10), what="requests held")
    s.kill()
    # Let the fake's connection threads see the hang-up before their replies are released,
    # so no held reply is written into a dead socket and counted as delivered.
    time.sleep(0.3)
    fake.release()
    s.start()
    poll_until(lambda: len([m for m in fake.accepted if ids_of(m)[0] == second]) == len(us),
               T(15), what="the second push resent")
    wait_counts(s, key, second, "second sent", sent=len(us))
    time.sleep(0.5)
    by_push = {}
    for m in fake.accepted:
        pid, dev = ids_of(m)
        by_push.setdefault(pid, []).append(dev)
    return first, second, by_push


def test_apns_killed_while_sending_resends_only_what_was_not_taken(server_factory, apns, ca,
                                                                   tmp_path):
    s = start_apns(server_factory, apns, ca, tmp_path)
    key = push_key(s)
    us = users(s, 6)
    devs = sorted(apns_device(s, apns, u)[1] for u in us)
    first, second, by_push = _kill_while_held_then_restart(
        s, apns, key, us, lambda m: (m.payload["pipit"]["push"], m.payload["pipit"]["device"]))
    assert sorted(by_push[first]) == devs
    assert sorted(by_push[second]) == devs
    assert apns.rejected == []


def test_fcm_killed_while_sending_resends_only_what_was_not_taken(server_factory, fcm, ca,
                                                                  tmp_path):
    s = start_fcm(server_factory, fcm, ca, tmp_path)
    key = push_key(s)
    us = users(s, 6)
    devs = sorted(fcm_device(s, fcm, u)[1] for u in us)
    first, second, by_push = _kill_while_held_then_restart(
        s, fcm, key, us, lambda m: (int(m.body["message"]["data"]["push"]),
                                    int(m.body["message"]["data"]["device"])))
    assert sorted(by_push[first]) == devs
    assert sorted(by_push[second]) == devs
    assert fcm.rejected == []


def test_apns_sandbox_devices_go_to_the_sandbox_host(server_factory, apns, ca, tmp_path):
    """A development build's token goes to the sandbox; production never sees it (and so never
    answers BadDeviceToken for it, which would delete the device)."""
    sandbox = FakeAPNs(ca, team_id=TEAM_ID, key_id=KEY_ID, key=apns._key).start()
    try:
        s = start_apns(server_factory, apns, ca, tmp_path, "--apns-sandbox-url", sandbox.url)
        key = push_key(s)
        (u,) = users(s, 1)
        prod_token, prod_id = apns_device(s, apns, u)
        dev_token = secrets.token_hex(32)
        sandbox.register(dev_token, TOPIC)
        body = {"platform": "apns", "token": dev_token, "topic": TOPIC, "sandbox": True}
        dev_id = expect(api(s, "POST", "/v1/devices", u, body), 201)["id"]
        listed = {d["id"]: d for d in devices(s, u)}
        assert listed[dev_id]["sandbox"] is True and listed[prod_id]["sandbox"] is False
        pid = push(s, key, [u.id])
        wait_counts(s, key, pid, "both sent", sent=2)
        assert [m.token for m in sandbox.accepted] == [dev_token]
        assert [m.token for m in apns.accepted] == [prod_token]
        assert apns.rejected == [] and sandbox.rejected == []
        bad = dict(body, sandbox="yes")
        expect(api(s, "POST", "/v1/devices", u, bad), 400)
    finally:
        sandbox.stop()
