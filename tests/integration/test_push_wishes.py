"""Push wishes: notification settings, categories, quiet hours, caps, scheduling, A/B variants.

What is checked (src/push/wishes.c, src/push/send.c):
- GET/PUT /v1/me/notification-settings: the defaults, a round trip, PUT replacing all,
  the accepted bounds, and every malformed value answered 400 bad_request with the stored
  settings left as they were.
- The app's categories (PUT/GET/DELETE /v1/push/categories): who may call, validation.
- Per user at expansion: opted_out, capped (per hour and per day), quiet hours in the
  user's zone (held as a `pending` row, sent when they end, suppressed when the TTL ends
  first, passed by a high-priority push of an urgent category), send_at, send_at_local,
  and A/B variants with a holdout (payload and in-app fields, by_variant counts, spread).

Time: pipitd's wall clock is shifted with PIPIT_CLOCK_OFFSET_MS; a restart moves it (the
data persists). The fake push service shares the shift (`Shifted`), else it would refuse
the VAPID tokens pipitd signs with its shifted clock. Offsets only grow within a test, so
user tokens (30 days) stay valid. Tests without a clock shift put quiet hours around the
real "now" in the user's zone instead.

Devices are FakeWebPush subscriptions (deliveries are observed decrypted); online users
are chatlib WebSocket sessions (ev "notification").
"""

import datetime
import json
import time
from zoneinfo import ZoneInfo

import pytest

from chatlib import Chat, api, close_all, ev, expect, users
from conftest import T, error_code, poll_until, unique
from fake_webpush import FakeWebPush
from pushlib import push_key

FAST = ("--push-allow-http", "yes", "--push-allow-private", "yes",
        "--push-retry-base", "100ms", "--push-retry-cap", "400ms", "--registration", "open")
DEFAULTS = {"categories": {}, "quiet_hours": None, "caps": {}, "muted_conversations": [],
            "private_previews": False, "timezone": None}
SETTINGS = "/v1/me/notification-settings"
MINUTE = 60
HOUR = 3600
QUIET_NIGHT = {"start": "22:00", "end": "07:00"}


# -- time -----------------------------------------------------------------------------------

def offset_to(instant):
    """The PIPIT_CLOCK_OFFSET_MS that makes pipitd's "now" the Unix time `instant`."""
    return int(round((instant - time.time()) * 1000))


def next_wall(zone, hh, mm, after):
    """The first instant after `after` at which the wall clock of `zone` reads hh:mm."""
    z = ZoneInfo(zone)
    day = datetime.datetime.fromtimestamp(after, z).date()
    for n in range(3):
        d = day + datetime.timedelta(days=n)
        at = datetime.datetime(d.year, d.month, d.day, hh, mm, tzinfo=z).timestamp()
        if at > after:
            return at
    raise AssertionError("no %02d:%02d in %s after %r" % (hh, mm, zone, after))


def wall(zone, instant):
    return datetime.datetime.fromtimestamp(instant, ZoneInfo(zone)).strftime("%H:%M")


def rfc3339(instant):
    return datetime.datetime.fromtimestamp(int(instant), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def quiet_around_now(zone, before_min=60, after_min=120):
    """Quiet hours in `zone` that began `before_min` ago and end in `after_min` (real time)."""
    now = time.time()
    return {"start": wall(zone, now - before_min * MINUTE),
            "end": wall(zone, now + after_min * MINUTE), "tz": zone}


# -- servers --------------------------------------------------------------------------------

class Shifted:
    """A pipitd with a shifted wall clock, a fake push service sharing it, and a push key."""

    def __init__(self, server_factory, at=None):
        self.offset_ms = 0 if at is None else offset_to(at)
        self.fake = FakeWebPush(now=self.now)
        self.fake.start()
        self.srv = server_factory.new(*FAST, start=False,
                                      env={"PIPIT_CLOCK_OFFSET_MS": str(self.offset_ms)})
        self.srv.start()
        self.fake.set_vapid_key(expect(self.srv.get("/v1/push/vapid-public-key"), 200)["key"])
        self.key = push_key(self.srv)

    def now(self):
        return time.time() + self.offset_ms / 1000.0

    def restart_at(self, instant):
        """Stops pipitd and starts it again with its clock at `instant` (data kept)."""
        self.srv.stop()
        self.offset_ms = offset_to(instant)
        self.srv.env["PIPIT_CLOCK_OFFSET_MS"] = str(self.offset_ms)
        self.srv.start()


@pytest.fixture(scope="module")
def world(module_server_factory):
    """One server on the real clock for the tests that need no clock shift."""
    w = Shifted(module_server_factory)
    yield w
    w.fake.stop()


@pytest.fixture(scope="module")
def urgent_category(world):
    name = unique("alerts")
    expect(world.srv.request("PUT", "/v1/push/categories/" + name, token=world.key,
                             json={"urgent": True}), 200)
    expect(world.srv.request("PUT", "/v1/push/categories/calm", token=world.key,
                             json={"urgent": False}), 200)
    return name


@pytest.fixture
def shifted(server_factory):
    made = []

    def make(at=None):
        made.append(Shifted(server_factory, at))
        return made[-1]
    yield make
    for w in made:
        w.fake.stop()


# -- helpers --------------------------------------------------------------------------------

def put_settings(srv, user, body, status=200):
    return expect(api(srv, "PUT", SETTINGS, user, body), status)


def get_settings(srv, user):
    return expect(api(srv, "GET", SETTINGS, user), 200)


def with_defaults(**over):
    out = json.loads(json.dumps(DEFAULTS))
    out.update(over)
    return out


def device(w, user):
    """Registers a fake Web Push subscription for user; returns its sid at the fake."""
    sub = w.fake.subscribe()
    expect(api(w.srv, "POST", "/v1/devices", user, dict(sub, platform="webpush")), 201)
    return w.fake.sid(sub["endpoint"])


def push(w, to, title=None, status=202, **extra):
    body = {"to": {"users": [u.id for u in to]},
            "notification": {"title": title or unique("t"), "body": "hello"}}
    notification = extra.pop("notification", None)
    if notification:
        body["notification"].update(notification)
    body.update(extra)
    r = w.srv.post("/v1/push", token=w.key, json=body)
    return expect(r, status)["id"] if status == 202 else r


def cget(counts, path):
    """counts["a"]["b"]… by "a.b…"; what is missing reads as 0."""
    cur = counts
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return 0
        cur = cur[part]
    return cur


def read_push(w, pid):
    return expect(w.srv.get("/v1/push/%d" % pid, token=w.key), 200)


def wait_counts(w, pid, want, timeout=None):
    """GET /v1/push/{id} until expanded and every path in `want` has its value."""
    last = {}

    def check():
        nonlocal last
        last = read_push(w, pid)
        c = last["counts"]
        return last if last["state"] == "done" and all(
            cget(c, k) == v for k, v in want.items()) else None
    try:
        return poll_until(check, timeout or T(10), what="push %d counts" % pid)["counts"]
    except AssertionError:
        bad = {k: (cget(last.get("counts", {}), k), v) for k, v in want.items()
               if cget(last.get("counts", {}), k) != v}
        raise AssertionError("push %d: (got, want) %r; answer %s"
                             % (pid, bad, json.dumps(last)[:1500])) from None


def got(w, sid, pid=None):
    return [m for m in w.fake.by_sid(sid) if pid is None or m.json["push"] == pid]


def wait_got(w, sid, pid, n=1):
    return poll_until(lambda: len(got(w, sid, pid)) >= n and got(w, sid, pid), T(10),
                      what="%d message(s) of push %d at %s" % (n, pid, sid))


def notif(pid):
    return ev("notification", push=pid)


# -- settings -------------------------------------------------------------------------------

def test_settings_default_and_round_trip(world):
    srv = world.srv
    u = srv.register()
    assert get_settings(srv, u) == DEFAULTS
    full = {"categories": {"news": True, "promo": False},
            "quiet_hours": {"start": "22:30", "end": "06:45", "tz": "Asia/Shanghai"},
            "caps": {"promo": {"per_hour": 2, "per_day": 5}, "news": {"per_day": 10000}},
            "muted_conversations": [3, 1, 2], "private_previews": True,
            "timezone": "Europe/Paris"}
    assert put_settings(srv, u, full) == full
    assert get_settings(srv, u) == full
    # PUT replaces everything: what is left out is back to its default.
    assert put_settings(srv, u, {"private_previews": True}) == with_defaults(private_previews=True)
    assert get_settings(srv, u) == with_defaults(private_previews=True)
    assert put_settings(srv, u, {}) == DEFAULTS
    # Each user has their own.
    other = srv.register()
    put_settings(srv, other, {"timezone": "America/New_York"})
    assert get_settings(srv, u) == DEFAULTS
    assert srv.get(SETTINGS).status_code == 401
    assert srv.request("PUT", SETTINGS, json={}).status_code == 401


def test_settings_bounds_accepted(world):
    srv = world.srv
    u = srv.register()
    edge = {"categories": {"c%d" % i: i % 2 == 0 for i in range(100)},
            "caps": {"low": {"per_hour": 1}, "high": {"per_hour": 10000, "per_day": 1},
                     "c" * 64: {"per_day": 10000}},
            "muted_conversations": list(range(1, 1001)),
            "quiet_hours": {"start": "00:00", "end": "23:59", "tz": "UTC"},
            "private_previews": False, "timezone": None}
    assert put_settings(srv, u, edge) == edge
    assert get_settings(srv, u) == edge
    put_settings(srv, u, {"quiet_hours": None, "timezone": "Asia/Kolkata"})
    assert get_settings(srv, u) == with_defaults(timezone="Asia/Kolkata")


MALFORMED = {
    "unknown-key": {"sound": True},
    "categories-array": {"categories": ["news"]},
    "categories-not-bool": {"categories": {"news": 1}},
    "categories-null-value": {"categories": {"news": None}},
    "categories-bad-name": {"categories": {"bad name": False}},
    "categories-long-name": {"categories": {"c" * 65: False}},
    "categories-101": {"categories": {"c%d" % i: True for i in range(101)}},
    "quiet-string": {"quiet_hours": "22:00-07:00"},
    "quiet-start-equals-end": {"quiet_hours": {"start": "07:00", "end": "07:00", "tz": "UTC"}},
    "quiet-hour-24": {"quiet_hours": {"start": "24:00", "end": "07:00", "tz": "UTC"}},
    "quiet-minute-60": {"quiet_hours": {"start": "22:60", "end": "07:00", "tz": "UTC"}},
    "quiet-one-digit": {"quiet_hours": {"start": "7:00", "end": "22:00", "tz": "UTC"}},
    "quiet-seconds": {"quiet_hours": {"start": "22:00:00", "end": "07:00", "tz": "UTC"}},
    "quiet-number": {"quiet_hours": {"start": 2200, "end": "07:00", "tz": "UTC"}},
    "quiet-no-tz": {"quiet_hours": {"start": "22:00", "end": "07:00"}},
    "quiet-tz-null": {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": None}},
    "quiet-mars": {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Mars/Base"}},
    "quiet-tz-path": {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "../etc/passwd"}},
    "quiet-extra-key": {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "UTC",
                                        "days": [1]}},
    "caps-array": {"caps": [{"per_hour": 1}]},
    "caps-empty": {"caps": {"promo": {}}},
    "caps-zero": {"caps": {"promo": {"per_hour": 0}}},
    "caps-10001": {"caps": {"promo": {"per_day": 10001}}},
    "caps-negative": {"caps": {"promo": {"per_day": -1}}},
    "caps-float": {"caps": {"promo": {"per_hour": 1.5}}},
    "caps-string": {"caps": {"promo": {"per_hour": "2"}}},
    "caps-unknown": {"caps": {"promo": {"per_week": 2}}},
    "caps-number": {"caps": {"promo": 2}},
    "caps-bad-name": {"caps": {"no/slash": {"per_hour": 2}}},
    "muted-zero": {"muted_conversations": [0]},
    "muted-string": {"muted_conversations": ["1"]},
    "muted-object": {"muted_conversations": {"1": True}},
    "muted-1001": {"muted_conversations": list(range(1, 1002))},
    "previews-string": {"private_previews": "yes"},
    "previews-number": {"private_previews": 1},
    "previews-null": {"private_previews": None},
    "timezone-mars": {"timezone": "Mars/Base"},
    "timezone-empty": {"timezone": ""},
    "timezone-number": {"timezone": 8},
    "timezone-offset": {"timezone": "+08:00"},
    "timezone-dots": {"timezone": "Asia/../UTC"},
    "timezone-absolute": {"timezone": "/etc/localtime"},
    "timezone-folder": {"timezone": "Asia"},
    "timezone-not-tzif": {"timezone": "zone.tab"},
    "timezone-lowercase": {"timezone": "asia/shanghai"},
    "good-and-bad": {"timezone": "Europe/Paris", "private_previews": "no"},
}


@pytest.fixture(scope="module")
def settled(world):
    """A user whose stored settings every malformed PUT must leave alone."""
    u = world.srv.register()
    stored = {"categories": {"promo": False}, "timezone": "Asia/Tokyo",
              "caps": {"news": {"per_hour": 3}}}
    put_settings(world.srv, u, stored)
    return u, with_defaults(**stored)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_settings_malformed_is_400_and_changes_nothing(world, settled, case):
    u, stored = settled
    r = api(world.srv, "PUT", SETTINGS, u, MALFORMED[case])
    assert r.status_code == 400, (case, r.status_code, r.text[:300])
    assert error_code(r) == "bad_request", r.text[:300]
    assert get_settings(world.srv, u) == stored, case


def test_settings_body_not_an_object(world, settled):
    u, stored = settled
    for raw in (b"[]", b"5", b"null", b"{nope"):
        r = world.srv.request("PUT", SETTINGS, token=u.token, data=raw,
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.status_code, r.text[:300])
    assert get_settings(world.srv, u) == stored


# -- categories -----------------------------------------------------------------------------

def test_categories_routes_and_permissions(world):
    srv = world.srv
    admin = srv.admin_token()
    plain = srv.register()
    users_key = expect(srv.post("/v1/admin/api-keys", token=admin,
                                json={"name": unique("key"), "scopes": ["users"]}), 201)["key"]
    names = [unique("zeta"), unique("alpha"), unique("mid")]
    assert expect(srv.request("PUT", "/v1/push/categories/" + names[0], token=world.key,
                              json={"urgent": True}), 200) == {"name": names[0], "urgent": True}
    assert expect(srv.request("PUT", "/v1/push/categories/" + names[1], token=admin,
                              json={"urgent": False}), 200) == {"name": names[1], "urgent": False}
    expect(srv.request("PUT", "/v1/push/categories/" + names[2], token=world.key,
                       json={"urgent": False}), 200)
    # PUT again replaces the flag.
    expect(srv.request("PUT", "/v1/push/categories/" + names[2], token=world.key,
                       json={"urgent": True}), 200)
    listed = expect(srv.get("/v1/push/categories", token=admin), 200)["categories"]
    assert [c["name"] for c in listed] == sorted(c["name"] for c in listed)
    mine = {c["name"]: c["urgent"] for c in listed if c["name"] in names}
    assert mine == {names[0]: True, names[1]: False, names[2]: True}
    assert all(set(c) == {"name", "urgent"} for c in listed)
    expect(srv.request("DELETE", "/v1/push/categories/" + names[0], token=world.key), 204)
    listed = expect(srv.get("/v1/push/categories", token=world.key), 200)["categories"]
    assert names[0] not in [c["name"] for c in listed]
    # Who may call.
    for token, status in ((plain.token, 403), (users_key, 403), (None, 401)):
        # Any user may read them (for their settings); only admins and push keys change them.
        read = 200 if token == plain.token else status
        assert srv.get("/v1/push/categories", token=token).status_code == read
        assert srv.request("PUT", "/v1/push/categories/x", token=token,
                           json={"urgent": True}).status_code == status
        assert srv.request("DELETE", "/v1/push/categories/" + names[1],
                           token=token).status_code == status
    assert names[1] in [c["name"] for c in expect(
        srv.get("/v1/push/categories", token=admin), 200)["categories"]]
    # Validation.
    for body in ({}, {"urgent": "yes"}, {"urgent": None}, {"urgent": True, "x": 1}):
        r = srv.request("PUT", "/v1/push/categories/ok", token=world.key, json=body)
        assert r.status_code == 400 and error_code(r) == "bad_request", (body, r.text)
    for name in ("bad%20name", "c" * 65, "a%2Fb"):
        r = srv.request("PUT", "/v1/push/categories/" + name, token=world.key,
                        json={"urgent": True})
        assert r.status_code in (400, 404), (name, r.status_code, r.text)


# -- opted out, caps ------------------------------------------------------------------------

def test_category_turned_off_is_suppressed_opted_out(world, urgent_category):
    srv = world.srv
    u, other = users(srv, 2)
    put_settings(srv, u, {"categories": {"promo": False, "news": True}})
    socks = [Chat(srv, u), Chat(srv, other)]
    try:
        promo = push(world, [u, other], notification={"category": "promo"})
        c = wait_counts(world, promo, {"targeted": 2, "sent": 1, "suppressed": 1,
                                       "suppressed_by.opted_out": 1,
                                       "by_channel.inapp.sent": 1})
        socks[1].wait_event(notif(promo), what="promo for the user who did not opt out")
        socks[0].no_event(notif(promo), what="promo for the user who turned it off")
        for pid in (push(world, [u], notification={"category": "news"}), push(world, [u])):
            wait_counts(world, pid, {"sent": 1, "suppressed": 0})
            socks[0].wait_event(notif(pid), what="a push of a category left on")
        assert c["suppressed_by"] == {"opted_out": 1}, c
        # Urgent and high priority do not override a category turned off.
        put_settings(srv, u, {"categories": {urgent_category: False}})
        pid = push(world, [u], priority="high", notification={"category": urgent_category})
        wait_counts(world, pid, {"suppressed_by.opted_out": 1, "sent": 0})
        socks[0].no_event(notif(pid), what="an urgent push of a category turned off")
    finally:
        close_all(*socks)


def test_cap_per_hour_suppresses_the_third_and_spares_other_categories(world):
    srv = world.srv
    u, uncapped = users(srv, 2)
    put_settings(srv, u, {"caps": {"news": {"per_hour": 2}, "promo": {"per_day": 1}}})
    socks = [Chat(srv, u), Chat(srv, uncapped)]
    try:
        news = []
        for _ in range(3):
            pid = push(world, [u, uncapped], notification={"category": "news"})
            news.append(pid)
            wait_counts(world, pid, {"targeted": 2})
        for pid in news[:2]:
            wait_counts(world, pid, {"sent": 2, "suppressed": 0})
            socks[0].wait_event(notif(pid), what="news within the cap")
        wait_counts(world, news[2], {"sent": 1, "suppressed": 1, "suppressed_by.capped": 1})
        socks[1].wait_event(notif(news[2]), what="the third news for the uncapped user")
        socks[0].no_event(notif(news[2]), what="the third news past per_hour 2")
        # Other categories are not counted against news.
        sports = push(world, [u], notification={"category": "sports"})
        wait_counts(world, sports, {"sent": 1, "suppressed": 0})
        socks[0].wait_event(notif(sports))
        plain = push(world, [u])
        wait_counts(world, plain, {"sent": 1})
        # per_day 1: the second promo is capped; a capped push does not count itself.
        p1 = push(world, [u], notification={"category": "promo"})
        wait_counts(world, p1, {"sent": 1})
        for _ in range(2):
            p2 = push(world, [u], notification={"category": "promo"})
            wait_counts(world, p2, {"suppressed_by.capped": 1, "sent": 0})
        socks[0].no_event(notif(p2))
    finally:
        close_all(*socks)


# -- quiet hours ----------------------------------------------------------------------------

def test_quiet_hours_across_zones_hold_until_morning(shifted):
    t0 = next_wall("Asia/Shanghai", 23, 0, time.time() + 60)
    assert not ("07:00" > wall("America/New_York", t0) or wall("America/New_York", t0) >= "22:00")
    w = shifted(t0)
    a, b = users(w.srv, 2)
    put_settings(w.srv, a, {"quiet_hours": dict(QUIET_NIGHT, tz="Asia/Shanghai")})
    put_settings(w.srv, b, {"quiet_hours": dict(QUIET_NIGHT, tz="America/New_York")})
    sa, sb = device(w, a), device(w, b)
    pid = push(w, [a, b], title="night")
    wait_got(w, sb, pid)
    c = wait_counts(w, pid, {"targeted": 2, "sent": 1, "queued": 1,
                             "by_channel.pending.queued": 1, "by_channel.webpush.sent": 1})
    assert c["suppressed"] == 0 and c["failed"] == 0, c
    time.sleep(0.5)
    assert got(w, sa) == [], "a user in quiet hours got the push at 23:00 in her zone"
    # 06:58 in Shanghai: still quiet.
    w.restart_at(next_wall("Asia/Shanghai", 6, 58, t0))
    time.sleep(1.5)
    assert got(w, sa) == [], "sent before the end of quiet hours"
    wait_counts(w, pid, {"sent": 1, "queued": 1, "by_channel.pending.queued": 1})
    # 07:01: the held push goes out, once.
    w.restart_at(next_wall("Asia/Shanghai", 7, 1, t0))
    (msg,) = wait_got(w, sa, pid)
    assert msg.json["title"] == "night"
    c = wait_counts(w, pid, {"targeted": 2, "sent": 2, "queued": 0,
                             "by_channel.webpush.sent": 2, "by_channel.pending.queued": 0})
    time.sleep(1.0)
    assert len(got(w, sa)) == 1 and len(got(w, sb)) == 1, (got(w, sa), got(w, sb))
    assert w.fake.rejected == []


def test_quiet_hours_pass_only_high_priority_of_an_urgent_category(world, urgent_category):
    srv = world.srv
    u = srv.register()
    put_settings(srv, u, {"quiet_hours": quiet_around_now("Asia/Kolkata")})
    with Chat(srv, u) as c:
        passed = push(world, [u], priority="high", notification={"category": urgent_category})
        c.wait_event(notif(passed), what="high + urgent during quiet hours")
        wait_counts(world, passed, {"sent": 1, "by_channel.inapp.sent": 1})
        held = [push(world, [u], priority="high", notification={"category": "calm"}),
                push(world, [u], priority="high", notification={"category": "unknown"}),
                push(world, [u], priority="high"),
                push(world, [u], priority="normal", notification={"category": urgent_category})]
        for pid in held:
            wait_counts(world, pid, {"targeted": 1, "queued": 1, "sent": 0,
                                     "by_channel.pending.queued": 1})
        c.no_event(lambda e: e.get("push") in held, what="a held push during quiet hours")


def test_quiet_hours_longer_than_the_ttl_suppress(world):
    srv = world.srv
    u = srv.register()
    put_settings(srv, u, {"quiet_hours": quiet_around_now("America/Sao_Paulo")})
    short = push(world, [u], ttl=600)
    wait_counts(world, short, {"targeted": 1, "suppressed": 1, "queued": 0,
                               "suppressed_by.quiet_hours": 1})
    long = push(world, [u], ttl=3 * HOUR)
    wait_counts(world, long, {"targeted": 1, "queued": 1, "suppressed": 0,
                              "by_channel.pending.queued": 1})


def test_quiet_hours_do_not_touch_users_outside_them(world):
    srv = world.srv
    u = srv.register()
    # Hours that are quiet now in Kolkata, but kept in Chicago (10.5 or 11.5 hours behind).
    quiet = dict(quiet_around_now("Asia/Kolkata"), tz="America/Chicago")
    put_settings(srv, u, {"quiet_hours": quiet})
    with Chat(srv, u) as c:
        pid = push(world, [u])
        c.wait_event(notif(pid))
        wait_counts(world, pid, {"sent": 1, "queued": 0, "by_channel.inapp.sent": 1})


# -- scheduling -----------------------------------------------------------------------------

def test_send_at_waits_for_its_time_then_arrives_once(shifted):
    w = shifted()
    u, sleeper = users(w.srv, 2)
    sid, sleeper_sid = device(w, u), device(w, sleeper)
    at = int(w.now()) + 2 * HOUR
    # The sleeper's quiet hours (UTC) begin before send_at and end 30 minutes after it.
    put_settings(w.srv, sleeper, {"quiet_hours": {"start": wall("UTC", at - 30 * MINUTE),
                                                  "end": wall("UTC", at + 30 * MINUTE),
                                                  "tz": "UTC"}})
    pid = push(w, [u, sleeper], title="later", send_at=rfc3339(at), ttl=600)
    long = push(w, [sleeper], title="later, long", send_at=rfc3339(at))
    # The TTL runs from send_at.
    assert read_push(w, pid)["expires_at"] == (at + 600) * 1000
    assert read_push(w, long)["expires_at"] == (at + 86400) * 1000
    wait_counts(w, pid, {"targeted": 2, "queued": 2, "by_channel.pending.queued": 2})
    wait_counts(w, long, {"targeted": 1, "queued": 1, "by_channel.pending.queued": 1})
    time.sleep(1.0)
    assert w.fake.accepted == []
    w.restart_at(at - 2 * MINUTE)
    time.sleep(1.5)
    assert w.fake.accepted == [], "sent before send_at"
    # Due: sent to u; for the sleeper the quiet hours decide now.
    w.restart_at(at + MINUTE)
    (msg,) = wait_got(w, sid, pid)
    assert msg.json["title"] == "later"
    wait_counts(w, pid, {"sent": 1, "queued": 0, "suppressed_by.quiet_hours": 1,
                         "by_channel.pending.queued": 0})
    wait_counts(w, long, {"sent": 0, "queued": 1, "by_channel.pending.queued": 1})
    time.sleep(1.0)
    assert len(got(w, sid)) == 1 and got(w, sleeper_sid) == []
    # The end of the sleeper's quiet hours.
    w.restart_at(at + 31 * MINUTE)
    (msg,) = wait_got(w, sleeper_sid, long)
    assert msg.json["title"] == "later, long"
    wait_counts(w, long, {"sent": 1, "queued": 0})
    # A time already past means now.
    past = push(w, [u], title="past", send_at=rfc3339(w.now() - HOUR))
    wait_got(w, sid, past)
    wait_counts(w, past, {"sent": 1, "queued": 0})
    time.sleep(0.5)
    assert len(got(w, sid, pid)) == 1 and len(got(w, sleeper_sid)) == 1
    assert w.fake.rejected == []


def test_send_at_bounds(world):
    u = world.srv.register()
    for bad in ({"send_at": rfc3339(time.time() + 31 * 86400)},
                {"send_at": "2026-12-24T09:00:00"},
                {"send_at_local": "2026-12-24T09:00:00Z"},
                {"send_at": rfc3339(time.time() + HOUR), "send_at_local": "2026-12-24T09:00"}):
        r = push(world, [u], status=400, **bad)
        assert error_code(r) == "bad_request", (bad, r.text)
    pid = push(world, [u], send_at=rfc3339(time.time() + 29 * 86400))
    wait_counts(world, pid, {"targeted": 1, "queued": 1, "by_channel.pending.queued": 1})


def test_send_at_local_follows_each_users_zone(shifted):
    w = shifted()
    east, west, by_quiet_tz = users(w.srv, 3)
    put_settings(w.srv, east, {"timezone": "Asia/Shanghai"})
    put_settings(w.srv, west, {})   # no zone: UTC
    # No timezone: the zone of the quiet hours (which do not cover 09:00).
    put_settings(w.srv, by_quiet_tz, {"quiet_hours": {"start": "02:00", "end": "03:00",
                                                      "tz": "Asia/Shanghai"}})
    sids = {x.id: device(w, x) for x in (east, west, by_quiet_tz)}
    day = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)).date()
    when = "%sT09:00" % day.isoformat()
    pid = push(w, [east, west, by_quiet_tz], title="morning", send_at_local=when, ttl=600)
    wait_counts(w, pid, {"targeted": 3, "queued": 3, "by_channel.pending.queued": 3})
    shanghai_9 = datetime.datetime(day.year, day.month, day.day, 9, 0,
                                   tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    utc_9 = datetime.datetime(day.year, day.month, day.day, 9, 0,
                              tzinfo=datetime.timezone.utc).timestamp()
    assert utc_9 - shanghai_9 == 8 * HOUR
    # The TTL runs from the last zone's 09:00 (UTC-12).
    assert read_push(w, pid)["expires_at"] == (utc_9 + 12 * HOUR + 600) * 1000
    w.restart_at(shanghai_9 + MINUTE)
    wait_got(w, sids[east.id], pid)
    wait_got(w, sids[by_quiet_tz.id], pid)
    wait_counts(w, pid, {"sent": 2, "queued": 1, "by_channel.pending.queued": 1})
    time.sleep(1.0)
    assert got(w, sids[west.id]) == [], "09:00 Shanghai is 01:00 UTC: too early for UTC"
    w.restart_at(utc_9 + MINUTE)
    wait_got(w, sids[west.id], pid)
    wait_counts(w, pid, {"sent": 3, "queued": 0, "expired": 0})
    time.sleep(1.0)
    for x in (east, west, by_quiet_tz):
        msgs = got(w, sids[x.id])
        assert len(msgs) == 1 and msgs[0].json["title"] == "morning", (x, msgs)
    assert w.fake.rejected == []


# -- variants -------------------------------------------------------------------------------

VARIANTS = [
    {"name": "red", "weight": 1, "notification": {"title": "Red sale"}},
    {"name": "green", "weight": 1, "notification": {"title": "Green sale",
                                                    "url": "https://example.com/g"}},
    {"name": "blue", "weight": 1, "notification": {"title": "Blue sale", "data": {"v": 3}}},
]
TITLE_TO_VARIANT = {v["notification"]["title"]: v["name"] for v in VARIANTS}
ROW_STATES = ("queued", "sent", "failed", "expired", "suppressed")


def rows(bucket):
    return sum(bucket.get(s, 0) for s in ROW_STATES)


@pytest.fixture(scope="module")
def crowd(world):
    """About 200 users: most with one device and offline, 6 online, 6 with nothing."""
    us = users(world.srv, 200)
    online, bare, with_device = us[:6], us[6:12], us[12:]
    sids = {u.id: device(world, u) for u in with_device}
    return us, online, bare, sids


def variant_push(world, crowd):
    """One push with 3 variants and a holdout to the crowd; what each user saw."""
    us, online, bare, sids = crowd
    socks = [Chat(world.srv, u) for u in online]
    try:
        pid = push(world, us, title="Base sale", variants=VARIANTS, holdout=1,
                   notification={"body": "base body"})
        counts = wait_counts(world, pid, {"targeted": len(us), "queued": 0}, timeout=T(30))
        seen = {}

        def events_in():
            for u, c in zip(online, socks):
                c.pump(0.05)
                evs = [e for e in c.events if e.get("push") == pid]
                assert len(evs) <= 1, evs
                if evs:
                    seen[u.id] = evs[0]
            return len(seen) == cget(counts, "by_channel.inapp.sent")
        poll_until(events_in, T(5), what="the in-app events of push %d" % pid)
        for c in socks:
            c.no_event(lambda e: e.get("push") == pid and e not in seen.values(), wait=0.2)
    finally:
        close_all(*socks)
    for u in us[12:]:
        msgs = got(world, sids[u.id], pid)
        assert len(msgs) <= 1, (u, msgs)
        if msgs:
            seen[u.id] = msgs[0].json
    return pid, counts, seen


def check_variant_push(world, crowd, pid, counts, seen):
    us, online, bare, sids = crowd
    by_variant = counts["by_variant"]
    assert set(by_variant) <= {"red", "green", "blue", "holdout"}, by_variant
    # Every payload carries its variant's fields over the push's.
    for uid, n in seen.items():
        name = TITLE_TO_VARIANT.get(n["title"])
        assert name is not None, n
        assert n["body"] == "base body", n
        assert n.get("url") == ("https://example.com/g" if name == "green" else None), n
        assert n.get("data") == ({"v": 3} if name == "blue" else None), n
    for v in VARIANTS:
        b = by_variant.get(v["name"], {})
        shown = sum(1 for n in seen.values() if n["title"] == v["notification"]["title"])
        assert b.get("sent", 0) == shown, (v["name"], b, shown)
        assert 0.15 <= rows(b) / len(us) <= 0.35, ("uneven split", v["name"], by_variant)
    # The holdout: suppressed, and those with a device or a session got nothing.
    hold = by_variant.get("holdout", {})
    assert rows(hold) == hold.get("suppressed", 0) == counts["suppressed_by"].get("holdout", 0)
    reachable = [u for u in us if u not in bare]
    silent = [u for u in reachable if u.id not in seen]
    bare_held = hold.get("suppressed", 0) - len(silent)
    assert 0 <= bare_held <= len(bare), ("a reachable user outside the holdout got nothing",
                                        len(silent), by_variant)
    assert counts["suppressed_by"].get("no_device", 0) == len(bare) - bare_held, counts
    # Users with no device still carry their variant in the counts.
    assert sum(by_variant.get(v["name"], {}).get("suppressed", 0) for v in VARIANTS) == \
        len(bare) - bare_held, by_variant
    assert 0.1 <= rows(hold) / len(us) <= 0.4, ("holdout share", by_variant)
    # Every row is in one bucket; each user has one row.
    assert sum(rows(b) for b in by_variant.values()) == counts["targeted"] == len(us), by_variant
    assert counts["failed"] == 0 and counts["expired"] == 0, counts


def test_variants_split_payloads_and_counts(world, crowd):
    pid, counts, seen = variant_push(world, crowd)
    check_variant_push(world, crowd, pid, counts, seen)
    # A second read gives the same counts.
    assert read_push(world, pid)["counts"] == counts
    # A second push with the same variants assigns again, by its own id.
    pid2, counts2, seen2 = variant_push(world, crowd)
    assert pid2 != pid
    check_variant_push(world, crowd, pid2, counts2, seen2)
    both = set(seen) & set(seen2)
    assert len(both) > 50
    moved = [uid for uid in both if seen[uid]["title"] != seen2[uid]["title"]]
    assert moved, "two pushes put every user in the same variant"
    assert world.fake.rejected == []


def only_bucket(counts):
    (name, bucket), = [(k, b) for k, b in counts["by_variant"].items() if rows(b) > 0]
    return name, bucket


def test_variant_of_one_user_is_stable(shifted):
    """The variant counted for a held (scheduled) user is the one it gets when due, and an
    in-app event carries the variant the counts show."""
    w = shifted()
    dev_user, app_user = users(w.srv, 2)
    sid = device(w, dev_user)
    at = int(w.now()) + HOUR
    held = [push(w, [dev_user], variants=VARIANTS, send_at=rfc3339(at)) for _ in range(4)]
    before = {}
    for pid in held:
        c = wait_counts(w, pid, {"targeted": 1, "queued": 1, "by_channel.pending.queued": 1})
        before[pid], bucket = only_bucket(c)
        assert bucket["queued"] == 1, c
        assert only_bucket(read_push(w, pid)["counts"])[0] == before[pid]
    with Chat(w.srv, app_user) as c:
        for _ in range(4):
            pid = push(w, [app_user], variants=VARIANTS)
            e = c.wait_event(notif(pid))
            counts = wait_counts(w, pid, {"sent": 1, "by_channel.inapp.sent": 1})
            name, bucket = only_bucket(counts)
            assert bucket["sent"] == 1 and TITLE_TO_VARIANT[e["title"]] == name, (e, counts)
    w.restart_at(at + MINUTE)
    for pid in held:
        (msg,) = wait_got(w, sid, pid)
        assert TITLE_TO_VARIANT[msg.json["title"]] == before[pid], (msg.json, before[pid])
        c = wait_counts(w, pid, {"sent": 1, "queued": 0})
        assert only_bucket(c) == (before[pid], c["by_variant"][before[pid]])
    assert w.fake.rejected == []


# -- caps and held pushes ---------------------------------------------------------------------

def test_cap_holds_for_pushes_released_together_at_the_end_of_quiet_hours(shifted):
    """SERVER BUG (found by this test): three "news" pushes, created two hours apart during the
    user's quiet hours, all come due at 07:00; with caps news per_hour 1 the user must get one
    and the other two must be suppressed "capped". pipitd counts a cap's window by when each
    push was created (pushes.created_at), not when it went to the user, so all three go out
    at 07:00 within the same second."""
    t0 = next_wall("UTC", 23, 0, time.time() + 60)
    w = shifted(t0)
    u, = users(w.srv, 1)
    sid = device(w, u)
    put_settings(w.srv, u, {"quiet_hours": dict(QUIET_NIGHT, tz="UTC"),
                            "caps": {"news": {"per_hour": 1}}})
    held = []
    for hours in (0, 2, 4):
        if hours:
            w.restart_at(t0 + hours * HOUR)
        pid = push(w, [u], notification={"category": "news"})
        wait_counts(w, pid, {"targeted": 1, "queued": 1, "by_channel.pending.queued": 1})
        held.append(pid)
    w.restart_at(next_wall("UTC", 7, 1, t0))
    counts = [wait_counts(w, pid, {"targeted": 1, "queued": 0}) for pid in held]
    time.sleep(0.5)
    sent = sum(c["sent"] for c in counts)
    capped = sum(cget(c, "suppressed_by.capped") for c in counts)
    assert (sent, capped, len(got(w, sid))) == (1, 2, 1), (
        "SERVER BUG: per_hour 1, yet %d of the 3 held news pushes were sent at 07:00 "
        "(%d capped, %d arrived)" % (sent, capped, len(got(w, sid))))


def test_a_push_reads_back_with_its_schedule_variants_and_holdout(world):
    (u,) = users(world.srv, 1)
    at = int(time.time()) + 3600
    pid = push(world, [u], variants=VARIANTS, holdout=2, send_at=rfc3339(at),
               collapse_key="sale")
    p = read_push(world, pid)
    assert p["variants"] == VARIANTS and p["holdout"] == 2
    assert p["send_at"] == at * 1000 and p["collapse_key"] == "sale"
    tomorrow = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
                ).strftime("%Y-%m-%dT09:00")
    local = push(world, [u], send_at_local=tomorrow)
    p = read_push(world, local)
    assert p["send_at_local"] == tomorrow
    assert "variants" not in p and "holdout" not in p and "send_at" not in p


def test_any_user_may_list_the_categories_but_only_admins_change_them(world, urgent_category):
    (u,) = users(world.srv, 1)
    names = {c["name"]: c["urgent"] for c in
             expect(world.srv.get("/v1/push/categories", token=u.token), 200)["categories"]}
    assert names[urgent_category] is True
    r = world.srv.request("PUT", "/v1/push/categories/mine", token=u.token, json={"urgent": True})
    assert r.status_code == 403
