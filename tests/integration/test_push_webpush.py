"""Push dispatcher, Web Push and UnifiedPush channels, against a strict fake push service.

The fake (fake_webpush.py) decrypts every message with the subscriber's private key,
verifies the VAPID JWT against the server's public key, and refuses (and records) any
protocol mistake, so every test also checks `fake.rejected` is empty unless it scripted
a refusal. Retries run fast here: --push-retry-base 100ms, --push-retry-cap 400ms.
"""

import re
import time

import pytest

from chatlib import api, expect, users
from conftest import T, metric_sum, poll_until
from fake_webpush import FakeWebPush
from pushlib import push, push_key, wait_counts

FAST = ("--push-allow-http", "yes", "--push-allow-private", "yes",
        "--push-retry-base", "100ms", "--push-retry-cap", "400ms")


@pytest.fixture
def fake():
    f = FakeWebPush().start()
    yield f
    f.stop()


def start(server_factory, fake, *extra, **kw):
    s = server_factory.new(*(FAST + extra), **kw)
    key = expect(s.get("/v1/push/vapid-public-key"), 200)["key"]
    fake.set_vapid_key(key)
    return s


def register(srv, user, sub, platform="webpush"):
    body = dict(sub, platform=platform)
    return expect(api(srv, "POST", "/v1/devices", user, body), 201)["id"]


def test_webpush_message_arrives_decrypted_with_valid_vapid(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    sub = fake.subscribe()
    dev = register(s, u, sub)
    pid = push(s, key, [u.id], priority="high", ttl=600, collapse_key="score",
               notification={"title": "Goal", "body": "2-1", "url": "https://example.com/m",
                             "data": {"match": 7}})
    (msg,) = fake.wait_accepted(1, T(10))
    assert msg.kind == "webpush"
    assert msg.json["title"] == "Goal" and msg.json["body"] == "2-1"
    assert msg.json["push"] == pid and msg.json["device"] == dev
    assert msg.json["data"] == {"match": 7} and msg.json["url"] == "https://example.com/m"
    assert 590 <= msg.ttl <= 600, msg.ttl
    assert msg.urgency == "high" and msg.topic == "score"
    assert msg.claims["sub"].startswith("mailto:")
    c = wait_counts(s, key, pid, "sent", sent=1)
    assert c["by_channel"]["webpush"]["sent"] == 1
    assert fake.rejected == []


def test_collapse_key_that_is_not_a_topic_is_hashed_and_normal_urgency(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    register(s, u, fake.subscribe())
    push(s, key, [u.id], collapse_key="news: today's headlines (evening edition)")
    (msg,) = fake.wait_accepted(1, T(10))
    assert msg.urgency == "normal"
    assert len(msg.topic) == 32, msg.topic
    push(s, key, [u.id], collapse_key="news: today's headlines (evening edition)")
    msgs = fake.wait_accepted(2, T(10))
    assert msgs[1].topic == msg.topic  # the same key gives the same Topic
    # One VAPID token per push service, reused (signed again only near its expiry).
    assert msgs[0].headers["authorization"] == msgs[1].headers["authorization"]
    assert fake.rejected == []


def test_without_collapse_key_the_topic_is_the_delivery(server_factory, fake):
    """A resend after a crash then replaces a first copy the push service still holds."""
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    register(s, u, fake.subscribe())
    push(s, key, [u.id])
    push(s, key, [u.id])
    a, b = fake.wait_accepted(2, T(10))
    assert re.fullmatch(r"d[0-9]+", a.topic) and re.fullmatch(r"d[0-9]+", b.topic)
    assert a.topic != b.topic


def test_unifiedpush_gets_the_payload_as_json(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    dev = register(s, u, fake.subscribe_up(), platform="unifiedpush")
    pid = push(s, key, [u.id], notification={"title": "Hi", "body": "there"})
    (msg,) = fake.wait_accepted(1, T(10))
    assert msg.kind == "unifiedpush"
    assert msg.json["title"] == "Hi" and msg.json["push"] == pid and msg.json["device"] == dev
    wait_counts(s, key, pid, "sent", sent=1)


def test_every_device_of_every_user_gets_exactly_one(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    us = users(s, 20)
    subs = {}
    for u in us:
        for _ in range(3):
            sub = fake.subscribe()
            subs[fake.sid(sub["endpoint"])] = register(s, u, sub)
    pid = push(s, key, [u.id for u in us])
    fake.wait_accepted(60, T(20))
    wait_counts(s, key, pid, "all sent", sent=60, queued=0)
    time.sleep(0.3)
    got = fake.accepted
    assert len(got) == 60
    assert sorted(m.json["device"] for m in got) == sorted(subs.values())
    assert fake.rejected == []


def test_gone_subscription_deletes_the_device(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    gone, kept = fake.subscribe(), fake.subscribe()
    gone_id = register(s, u, gone)
    kept_id = register(s, u, kept)
    fake.unsubscribe(gone["endpoint"])
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "one sent, one gone", sent=1, failed=1)
    assert c["failed_by"] == {"gone": 1}, c
    devices = expect(api(s, "GET", "/v1/devices", u), 200)
    ids = [d["id"] for d in (devices["devices"] if isinstance(devices, dict) else devices)]
    assert kept_id in ids and gone_id not in ids
    # The next push goes to the remaining device only.
    pid2 = push(s, key, [u.id])
    wait_counts(s, key, pid2, "sent", sent=1, failed=0)


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_both_mean_gone(server_factory, fake, status):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    sub = fake.subscribe()
    register(s, u, sub)
    fake.script(sub["endpoint"], (status, None, None))
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "gone", failed=1)
    assert c["failed_by"] == {"gone": 1}


def test_server_errors_are_retried_until_accepted(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    sub = fake.subscribe()
    register(s, u, sub)
    fake.script(sub["endpoint"], (500, None, None), (503, None, None), (502, None, None))
    pid = push(s, key, [u.id])
    fake.wait_accepted(1, T(10))
    wait_counts(s, key, pid, "sent after retries", sent=1)
    assert fake.requests == 4
    assert [r.status for r in fake.rejected] == [500, 503, 502]


def test_retry_after_is_honoured(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    sub = fake.subscribe()
    register(s, u, sub)
    fake.script(sub["endpoint"], (429, {"Retry-After": "2"}, None))
    t0 = time.monotonic()
    pid = push(s, key, [u.id])
    poll_until(lambda: fake.rejected, T(5), what="the 429")
    (msg,) = fake.wait_accepted(1, T(10))
    assert time.monotonic() - t0 >= 1.9, "retried before Retry-After"
    wait_counts(s, key, pid, "sent", sent=1)


def test_permanent_refusal_is_not_retried(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    sub = fake.subscribe()
    register(s, u, sub)
    fake.script(sub["endpoint"], (400, None, None))
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "failed", failed=1)
    assert c["failed_by"] == {"rejected": 1}
    time.sleep(0.8)
    assert fake.requests == 1


def test_attempts_are_capped(server_factory, fake):
    s = start(server_factory, fake, "--push-max-attempts", "3")
    key = push_key(s)
    (u,) = users(s, 1)
    sub = fake.subscribe()
    register(s, u, sub)
    fake.script(sub["endpoint"], *[(503, None, None)] * 10)
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "given up", failed=1)
    assert c["failed_by"] == {"retries_exhausted": 1}
    assert fake.requests == 3


def test_a_push_past_its_ttl_expires_instead_of_retrying(server_factory, fake):
    s = start(server_factory, fake, "--push-retry-base", "1500ms", "--push-retry-cap", "3s")
    key = push_key(s)
    (u,) = users(s, 1)
    sub = fake.subscribe()
    register(s, u, sub)
    fake.script(sub["endpoint"], *[(503, None, None)] * 10)
    pid = push(s, key, [u.id], ttl=1)
    wait_counts(s, key, pid, "expired", expired=1)
    assert fake.accepted == []


def test_payload_too_large_for_web_push_fails_cleanly(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    register(s, u, fake.subscribe())
    pid = push(s, key, [u.id], notification={"title": "x" * 256, "body": "y" * 4000})
    c = wait_counts(s, key, pid, "failed", failed=1)
    assert c["failed_by"] == {"payload_too_large": 1}
    assert fake.requests == 0


def test_endpoint_that_turned_private_is_refused_at_connect_time(server_factory, fake):
    """Registered while private addresses were allowed; sent after they no longer are."""
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    register(s, u, fake.subscribe())
    s.stop()
    s.args = [a for a in s.args]
    i = s.args.index("--push-allow-private")
    s.args[i + 1] = "no"
    s.start()
    pid = push(s, key, [u.id])
    c = wait_counts(s, key, pid, "refused", failed=1)
    assert c["failed_by"] == {"private_address": 1}
    assert fake.requests == 0


def test_killed_while_sending_resends_only_what_was_not_taken(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    us = users(s, 6)
    subs = [fake.subscribe() for _ in us]
    for u, sub in zip(us, subs):
        register(s, u, sub)
    # A first push is taken and recorded: it must never be sent again.
    first = push(s, key, [u.id for u in us])
    fake.wait_accepted(6, T(10))
    wait_counts(s, key, first, "first sent", sent=6)
    # The second is in flight (held by the provider) when the server dies.
    fake.hold()
    second = push(s, key, [u.id for u in us])
    poll_until(lambda: fake.holding == 6, T(10), what="6 requests held")
    s.kill()
    fake.release()
    s.start()
    poll_until(lambda: len([m for m in fake.accepted if m.json["push"] == second]) == 6,
               T(15), what="the second push resent")
    wait_counts(s, key, second, "second sent", sent=6)
    time.sleep(0.5)
    by_push = {}
    for m in fake.accepted:
        by_push.setdefault(m.json["push"], []).append(m.json["device"])
    assert len(by_push[first]) == 6 and len(set(by_push[first])) == 6
    assert len(by_push[second]) == 6 and len(set(by_push[second])) == 6
    assert fake.rejected == []


def test_clean_stop_with_requests_in_flight_exits_and_resends_after(server_factory, fake):
    s = start(server_factory, fake, "--shutdown-timeout", "2s")
    key = push_key(s)
    (u,) = users(s, 1)
    register(s, u, fake.subscribe())
    fake.hold()
    pid = push(s, key, [u.id])
    poll_until(lambda: fake.holding == 1, T(10), what="held")
    t0 = time.monotonic()
    s.stop()  # exits 0
    assert time.monotonic() - t0 < T(5)
    fake.release()
    s.start()
    poll_until(lambda: len(fake.accepted) == 1, T(10), what="resent after restart")
    wait_counts(s, key, pid, "sent", sent=1)


def test_no_device_stays_sending_after_a_burst(server_factory, fake):
    """Concurrency limit below the burst: everything still ends up sent."""
    s = start(server_factory, fake, "--push-concurrency", "4")
    key = push_key(s)
    us = users(s, 30)
    for u in us:
        register(s, u, fake.subscribe())
    pids = [push(s, key, [u.id for u in us]) for _ in range(3)]
    fake.wait_accepted(90, T(30))
    for pid in pids:
        wait_counts(s, key, pid, "sent", sent=30, queued=0)


def test_requests_in_flight_never_pass_the_concurrency_limit(server_factory, fake):
    """Deliveries handed over at once and those claimed later share the same slots."""
    s = start(server_factory, fake, "--push-concurrency", "4")
    key = push_key(s)
    us = users(s, 12)
    for u in us:
        register(s, u, fake.subscribe())
    fake.hold()
    pids = [push(s, key, [u.id for u in us[i::3]]) for i in range(3)]
    def inflight():
        return metric_sum(s.metrics(), "pipit_push_inflight")
    # In parallel over HTTP/1.1, not one at a time behind the first.
    poll_until(lambda: fake.holding == 4, T(10), what="four requests held")
    time.sleep(0.5)  # no fifth one may start meanwhile
    assert fake.holding == 4 and inflight() == 4 and len(fake.accepted) == 0
    fake.release()
    fake.wait_accepted(12, T(30))
    for pid in pids:
        wait_counts(s, key, pid, "sent", sent=4, queued=0)
    poll_until(lambda: metric_sum(s.metrics(), "pipit_push_inflight") == 0, T(5),
               what="no request in flight")


def test_metrics_count_pushes_and_attempts(server_factory, fake):
    s = start(server_factory, fake)
    key = push_key(s)
    (u,) = users(s, 1)
    ok, gone = fake.subscribe(), fake.subscribe()
    register(s, u, ok)
    register(s, u, gone)
    fake.script(gone["endpoint"], (410, None, None))
    fake.script(ok["endpoint"], (503, None, None))
    pid = push(s, key, [u.id])
    wait_counts(s, key, pid, "settled", sent=1, failed=1)

    def value(outcome):
        return metric_sum(s.metrics(), "pipit_push_attempts_total", outcome=outcome)
    poll_until(lambda: value("sent") == 1, T(5), what="sent counted")
    assert value("gone") == 1 and value("retry") == 1 and value("failed") == 0
    assert metric_sum(s.metrics(), "pipit_pushes_total") == 1
    assert metric_sum(s.metrics(), "pipit_push_inflight") == 0
