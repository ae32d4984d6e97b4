"""Push, slice 1: API keys, device registration and the VAPID public key.

Contract: /tmp/spec/push-slice1.md ("Push, slice 1: API keys, devices, VAPID public key").
API keys (`pk_` + 48 base64url chars, scopes push/users/admin, shown once, stored
hashed, listed without the key, revoked at once); who may call what (user tokens vs
keys vs nothing); devices for webpush/apns/fcm/unifiedpush with their validation rules
and endpoint URL rules (https only, no userinfo, no private/loopback/… literals unless
`--push-allow-http yes` / `--push-allow-private yes`); the per-user device cap (least
recently updated one evicted); the VAPID public key, kept across restarts.
"""

import base64
import re
import secrets
import stat
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_pem_private_key)

from chatlib import api, expect, now_ms
from conftest import PASSWORD, T, error_code, poll_until, unique
from wsraw import WSClosed, WSConn

KEY_RE = re.compile(r"^pk_[A-Za-z0-9_-]{48}$")
ANY_KEY_RE = re.compile(r"pk_[A-Za-z0-9_-]{48}")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
REALM = 'Bearer realm="pipit"'
LIST_FIELDS = {"id", "name", "scopes", "created_at", "last_used_at", "revoked_at"}


# -- helpers ------------------------------------------------------------------------------

def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def point_bytes():
    """A real uncompressed P-256 public point (65 bytes, 0x04 first)."""
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)


def wp_keys():
    return {"p256dh": b64u(point_bytes()), "auth": b64u(secrets.token_bytes(16))}


def endpoint(host="push.example.com", scheme="https"):
    return "%s://%s/wp/%s" % (scheme, host, secrets.token_urlsafe(12))


def webpush(ep=None, keys=None):
    return {"platform": "webpush", "endpoint": endpoint() if ep is None else ep,
            "keys": wp_keys() if keys is None else keys}


def apns(token=None, topic="com.example.app"):
    return {"platform": "apns", "token": secrets.token_hex(32) if token is None else token,
            "topic": topic}


def fcm(token=None):
    if token is None:
        token = "fcm-%s:APA91b" % secrets.token_urlsafe(60)
    return {"platform": "fcm", "token": token}


def unifiedpush(ep=None, keys=None):
    body = {"platform": "unifiedpush", "endpoint": endpoint("up.example.com") if ep is None else ep}
    if keys is not None:
        body["keys"] = keys
    return body


MAKERS = {"webpush": webpush, "apns": apns, "fcm": fcm, "unifiedpush": unifiedpush}


def assert_401(r, what=""):
    assert r.status_code == 401, (what, r.status_code, r.text[:300])
    assert error_code(r) == "unauthorized", (what, r.text[:300])
    assert r.headers.get("WWW-Authenticate") == REALM, (what, dict(r.headers))


def assert_ms(v, lo, hi, what):
    assert type(v) is int, (what, v)
    assert lo - 2000 <= v <= hi + 2000, "%s=%r not within [%d, %d]" % (what, v, lo, hi)


def create_key(srv, cred, name=None, scopes=("push",)):
    r = srv.post("/v1/admin/api-keys", token=cred,
                 json={"name": name or unique("key"), "scopes": list(scopes)})
    return expect(r, 201)


def list_keys(srv, cred):
    return expect(srv.get("/v1/admin/api-keys", token=cred), 200)["keys"]


def listed_key(srv, cred, kid):
    for k in list_keys(srv, cred):
        if k["id"] == kid:
            return k
    return None


def register(srv, user, body, status=201):
    return expect(api(srv, "POST", "/v1/devices", user, body), status)


def devices(srv, user):
    body = expect(api(srv, "GET", "/v1/devices", user), 200)
    assert set(body) >= {"devices"} and isinstance(body["devices"], list), body
    return body["devices"]


def device_ids(srv, user):
    return [d["id"] for d in devices(srv, user)]


def bad_device(srv, user, body):
    r = api(srv, "POST", "/v1/devices", user, body)
    expect(r, 400, "bad_request")
    return r.json()["error"]["message"]


# -- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


@pytest.fixture(scope="module")
def admin(srv):
    return srv.admin_token()


@pytest.fixture(scope="module")
def plain(srv):
    """A user with role `user`."""
    return srv.register()


@pytest.fixture(scope="module")
def keys(srv, admin):
    """One key per scope: {"push": "pk_…", "users": …, "admin": …}."""
    return {s: create_key(srv, admin, name="fixture-" + s, scopes=[s])["key"]
            for s in ("push", "users", "admin")}


@pytest.fixture
def fresh(srv):
    return srv.register()


# -- API keys: creation -------------------------------------------------------------------

def test_create_key_returns_201_with_key_once(srv, admin):
    t0 = now_ms()
    r = srv.post("/v1/admin/api-keys", token=admin, json={"name": "billing", "scopes": ["push"]})
    body = expect(r, 201)
    t1 = now_ms()
    assert set(body) >= {"id", "name", "scopes", "key", "created_at"}, body
    assert type(body["id"]) is int and body["id"] > 0, body
    assert body["name"] == "billing", body
    assert body["scopes"] == ["push"], body
    assert isinstance(body["key"], str) and KEY_RE.match(body["key"]), body["key"]
    assert len(body["key"]) == 51, body["key"]
    assert_ms(body["created_at"], t0, t1, "created_at")


def test_each_key_is_different(srv, admin):
    a = create_key(srv, admin)
    b = create_key(srv, admin)
    assert a["key"] != b["key"] and a["key"][3:] != b["key"][3:], (a, b)
    assert b["id"] > a["id"], (a["id"], b["id"])


@pytest.mark.parametrize("given,canonical", [
    (["admin", "push", "users"], ["push", "users", "admin"]),
    (["users", "push"], ["push", "users"]),
    (["admin", "users"], ["users", "admin"]),
    (["admin", "push"], ["push", "admin"]),
    (["users"], ["users"]),
    (["admin"], ["admin"]),
])
def test_scopes_returned_in_canonical_order(srv, admin, given, canonical):
    body = create_key(srv, admin, scopes=given)
    assert body["scopes"] == canonical, (given, body)
    listed = listed_key(srv, admin, body["id"])
    assert listed is not None and listed["scopes"] == canonical, (given, listed)


def test_unknown_extra_fields_are_ignored(srv, admin):
    r = srv.post("/v1/admin/api-keys", token=admin,
                 json={"name": "extra", "scopes": ["users"], "colour": "red", "key": "pk_x"})
    body = expect(r, 201)
    assert body["scopes"] == ["users"] and KEY_RE.match(body["key"]), body


@pytest.mark.parametrize("name", ["a", "x" * 100, "\u00e9" * 50, "a" * 98 + "\u00e9"],
                         ids=["1-byte", "100-ascii", "100-bytes-2byte-chars", "100-bytes-mixed"])
def test_name_boundaries_accepted(srv, admin, name):
    body = create_key(srv, admin, name=name)
    assert body["name"] == name, body


BAD_KEY_BODIES = {
    "empty-object": {},
    "name-missing": {"scopes": ["push"]},
    "name-null": {"name": None, "scopes": ["push"]},
    "name-number": {"name": 5, "scopes": ["push"]},
    "name-bool": {"name": True, "scopes": ["push"]},
    "name-array": {"name": ["a"], "scopes": ["push"]},
    "name-object": {"name": {}, "scopes": ["push"]},
    "name-empty": {"name": "", "scopes": ["push"]},
    "name-101-ascii": {"name": "x" * 101, "scopes": ["push"]},
    "name-101-bytes-100-chars": {"name": "a" * 99 + "\u00e9", "scopes": ["push"]},
    "name-102-bytes-51-chars": {"name": "\u00e9" * 51, "scopes": ["push"]},
    "scopes-missing": {"name": "k"},
    "scopes-null": {"name": "k", "scopes": None},
    "scopes-string": {"name": "k", "scopes": "push"},
    "scopes-object": {"name": "k", "scopes": {"push": True}},
    "scopes-empty": {"name": "k", "scopes": []},
    "scopes-unknown": {"name": "k", "scopes": ["nope"]},
    "scopes-unknown-among-known": {"name": "k", "scopes": ["push", "root"]},
    "scopes-wrong-case": {"name": "k", "scopes": ["PUSH"]},
    "scopes-number-item": {"name": "k", "scopes": [1]},
    "scopes-null-item": {"name": "k", "scopes": ["push", None]},
    "scopes-duplicate": {"name": "k", "scopes": ["push", "push"]},
    "scopes-duplicate-admin": {"name": "k", "scopes": ["admin", "users", "admin"]},
}


@pytest.mark.parametrize("case", list(BAD_KEY_BODIES))
def test_create_key_validation_is_400_and_creates_nothing(srv, admin, case):
    before = len(list_keys(srv, admin))
    r = srv.post("/v1/admin/api-keys", token=admin, json=BAD_KEY_BODIES[case])
    expect(r, 400, "bad_request")
    assert "key" not in r.json(), r.text
    after = len(list_keys(srv, admin))
    assert after == before, "a refused body (%s) still created a key: %d -> %d" % (
        case, before, after)


def test_create_key_body_not_object_or_not_json(srv, admin):
    expect(srv.post("/v1/admin/api-keys", token=admin, json=["push"]), 400, "bad_request")
    expect(srv.post("/v1/admin/api-keys", token=admin, data=b"{not json",
                    headers={"Content-Type": "application/json"}), 400, "bad_request")
    expect(srv.post("/v1/admin/api-keys", token=admin, data=b'{"name":"k","scopes":["push"]}',
                    headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")


# -- API keys: list -----------------------------------------------------------------------

def test_list_shape_order_and_no_key_text(srv, admin, keys):
    made = [create_key(srv, admin, name=unique("list"), scopes=s)
            for s in (["push"], ["users", "admin"])]
    for cred in (admin, keys["admin"]):
        r = srv.get("/v1/admin/api-keys", token=cred)
        body = expect(r, 200)
        assert set(body) >= {"keys"} and isinstance(body["keys"], list), body
        ids = [k["id"] for k in body["keys"]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        for k in body["keys"]:
            assert set(k) >= LIST_FIELDS, k
            assert "key" not in k, k
        for m in made:
            listed = [k for k in body["keys"] if k["id"] == m["id"]]
            assert len(listed) == 1, (m["id"], ids)
            k = listed[0]
            assert k["name"] == m["name"] and k["scopes"] == m["scopes"], (k, m)
            assert k["created_at"] == m["created_at"], (k, m)
            assert k["revoked_at"] is None, k
        text = r.text
        for secret in [m["key"] for m in made] + list(keys.values()):
            assert secret not in text, "key text in the list"
            assert secret[3:] not in text, "the key's secret part in the list"
        assert not ANY_KEY_RE.search(text), ANY_KEY_RE.search(text).group(0)


def test_fresh_key_is_unused(srv, admin):
    k = create_key(srv, admin)
    listed = listed_key(srv, admin, k["id"])
    assert listed["last_used_at"] is None and listed["revoked_at"] is None, listed


def test_last_used_at_set_after_use(srv, admin):
    k = create_key(srv, admin, scopes=["admin"])
    assert listed_key(srv, admin, k["id"])["last_used_at"] is None
    t0 = now_ms()
    expect(srv.get("/v1/admin/api-keys", token=k["key"]), 200)
    got = poll_until(lambda: listed_key(srv, admin, k["id"])["last_used_at"], T(5), 0.1,
                     what="last_used_at of a key that was used")
    assert_ms(got, t0, now_ms(), "last_used_at")
    assert got >= k["created_at"], (got, k)


def test_revoked_at_set_after_revoke_and_still_listed(srv, admin):
    k = create_key(srv, admin, scopes=["push"])
    t0 = now_ms()
    expect(srv.request("DELETE", "/v1/admin/api-keys/%d" % k["id"], token=admin), 204)
    listed = listed_key(srv, admin, k["id"])
    assert listed is not None, "a revoked key must still be listed"
    assert_ms(listed["revoked_at"], t0, now_ms(), "revoked_at")
    assert listed["revoked_at"] >= listed["created_at"], listed


# -- API keys: revoke ---------------------------------------------------------------------

def test_revoke_is_204_idempotent_and_immediate(srv, admin):
    k = create_key(srv, admin, scopes=["admin"])
    expect(srv.get("/v1/admin/api-keys", token=k["key"]), 200)
    path = "/v1/admin/api-keys/%d" % k["id"]
    r = srv.request("DELETE", path, token=admin)
    assert r.status_code == 204 and r.content == b"", (r.status_code, r.text)
    # at once, on a route it could use a moment ago
    assert_401(srv.get("/v1/admin/api-keys", token=k["key"]), "revoked key, GET api-keys")
    assert_401(srv.post("/v1/admin/api-keys", token=k["key"],
                        json={"name": "x", "scopes": ["push"]}), "revoked key, POST api-keys")
    # and on every route: those a live key gets 403 on too
    assert_401(srv.get("/v1/me", token=k["key"]), "revoked key, GET /v1/me")
    assert_401(srv.get("/v1/devices", token=k["key"]), "revoked key, GET /v1/devices")
    r = srv.request("DELETE", path, token=admin)
    assert r.status_code == 204, ("second revoke", r.status_code, r.text)
    assert listed_key(srv, admin, k["id"])["revoked_at"] is not None


def test_revoked_users_key_cannot_create_users(srv, admin):
    k = create_key(srv, admin, scopes=["users"])
    r = srv.post("/v1/admin/users", token=k["key"],
                 json={"username": unique("kb"), "password": PASSWORD, "role": "user"})
    expect(r, 201)
    expect(srv.request("DELETE", "/v1/admin/api-keys/%d" % k["id"], token=admin), 204)
    r = srv.post("/v1/admin/users", token=k["key"],
                 json={"username": unique("ka"), "password": PASSWORD, "role": "user"})
    assert_401(r, "revoked users key, POST /v1/admin/users")


@pytest.mark.parametrize("tail", ["999999", "0", "abc", "1x", "-1", "1.0"])
def test_revoke_unknown_or_non_numeric_is_404(srv, admin, tail):
    r = srv.request("DELETE", "/v1/admin/api-keys/" + tail, token=admin)
    expect(r, 404, "not_found")


# -- malformed and unknown keys -----------------------------------------------------------

def _alnum(n):
    return "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                   for _ in range(n))


@pytest.mark.parametrize("bad", [
    "pk_",
    "pk_" + _alnum(47),
    "pk_" + _alnum(49),
    "pk_" + _alnum(96),
    "pk_" + _alnum(47) + "!",
    "pk_" + _alnum(47) + ".",
    "pk_" + _alnum(48),  # well formed, unknown
], ids=["bare-prefix", "47", "49", "96", "bang", "dot", "unknown"])
@pytest.mark.parametrize("path", ["/v1/admin/api-keys", "/v1/me", "/v1/devices"])
def test_malformed_or_unknown_key_is_401(srv, bad, path):
    assert_401(srv.get(path, token=bad), (bad, path))


def test_tampered_real_key_is_401(srv, keys):
    real = keys["admin"]
    flip = lambda c: "A" if c != "A" else "B"
    for bad in (real[:-1] + flip(real[-1]), real[:3] + flip(real[3]) + real[4:], real[:-1],
                real + "A", real[3:], "PK_" + real[3:]):
        assert_401(srv.get("/v1/admin/api-keys", token=bad), bad)
    expect(srv.get("/v1/admin/api-keys", token=real), 200)


# -- who may call what --------------------------------------------------------------------

CALLERS = ["admin_user", "plain_user", "key_push", "key_users", "key_admin", "none"]

# route -> caller -> expected status
TABLE = {
    "POST /v1/admin/api-keys": dict(admin_user=201, plain_user=403, key_push=403, key_users=403,
                                    key_admin=201, none=401),
    "GET /v1/admin/api-keys": dict(admin_user=200, plain_user=403, key_push=403, key_users=403,
                                   key_admin=200, none=401),
    "DELETE /v1/admin/api-keys/{id}": dict(admin_user=204, plain_user=403, key_push=403,
                                           key_users=403, key_admin=204, none=401),
    "POST /v1/admin/users": dict(admin_user=201, plain_user=403, key_push=403, key_users=201,
                                 key_admin=201, none=401),
    "POST /v1/devices": dict(admin_user=201, plain_user=201, key_push=403, key_users=403,
                             key_admin=403, none=401),
    "GET /v1/devices": dict(admin_user=200, plain_user=200, key_push=403, key_users=403,
                            key_admin=403, none=401),
    "DELETE /v1/devices/{id}": dict(admin_user=204, plain_user=204, key_push=403, key_users=403,
                                    key_admin=403, none=401),
    "GET /v1/me": dict(admin_user=200, plain_user=200, key_push=403, key_users=403,
                       key_admin=403, none=401),
    "GET /v1/conversations": dict(admin_user=200, plain_user=200, key_push=403, key_users=403,
                                  key_admin=403, none=401),
    "GET /v1/push/vapid-public-key": dict(admin_user=200, plain_user=200, none=200),
}

TABLE_CASES = [(route, caller) for route in TABLE for caller in CALLERS if caller in TABLE[route]]


@pytest.mark.parametrize("route,caller", TABLE_CASES, ids=["%s-%s" % c for c in TABLE_CASES])
def test_authorization_table(srv, admin, plain, keys, route, caller):
    want = TABLE[route][caller]
    cred = {"admin_user": admin, "plain_user": plain.token, "key_push": keys["push"],
            "key_users": keys["users"], "key_admin": keys["admin"], "none": None}[caller]
    method, path = route.split(" ", 1)
    body = None
    check_after = None

    if route == "POST /v1/admin/api-keys":
        body = {"name": unique("tbl"), "scopes": ["push"]}
    elif route == "DELETE /v1/admin/api-keys/{id}":
        victim = create_key(srv, admin, scopes=["push"])
        path = "/v1/admin/api-keys/%d" % victim["id"]

        def check_after(ok):
            revoked = listed_key(srv, admin, victim["id"])["revoked_at"]
            assert (revoked is not None) == ok, ("revoked_at after %s by %s" % (want, caller),
                                                 revoked)
    elif route == "POST /v1/admin/users":
        name = unique("tbl")
        body = {"username": name, "password": PASSWORD, "role": "user"}

        def check_after(ok):
            if not ok:  # nobody was created: the name is still free
                r2 = srv.post("/v1/admin/users", token=admin, json=body)
                assert r2.status_code == 201, ("refused create still created the user",
                                               r2.status_code, r2.text)
    elif route == "POST /v1/devices":
        body = webpush()

        def check_after(ok):
            if not ok:  # not registered: the same endpoint is new for plain
                register(srv, plain, body, 201)
    elif route == "DELETE /v1/devices/{id}":
        owner_tok = cred if caller in ("admin_user", "plain_user") else plain.token
        dev = register(srv, owner_tok, webpush())
        path = "/v1/devices/%d" % dev["id"]

        def check_after(ok):
            assert (dev["id"] in device_ids(srv, owner_tok)) != ok, (
                "device list after %s by %s" % (want, caller))

    r = srv.request(method, path, token=cred, json=body)
    assert r.status_code == want, (route, caller, r.status_code, r.text[:300])
    if want == 401:
        assert_401(r, (route, caller))
    elif want == 403:
        assert error_code(r) == "forbidden", (route, caller, r.text[:300])
    if check_after:
        check_after(want < 300)


def test_ws_auth_with_api_key_fails_like_a_bad_token(srv, keys):
    for scope in ("admin", "push", "users"):
        with WSConn(srv.port, timeout=T(10)) as c:
            ans = c.auth(keys[scope])
            assert "ok" not in ans, (scope, ans)
            assert ans.get("error", {}).get("code") == "unauthorized", (scope, ans)
            # as for a bad token: the connection is closed, or stays unauthenticated
            try:
                ans = c.request("ping")
            except TimeoutError:
                raise AssertionError("no answer and no close after a refused auth (%s key)" % scope)
            except (WSClosed, OSError):
                continue
            assert ans.get("error", {}).get("code") == "unauthenticated", (scope, ans)


# -- the database holds no key text -------------------------------------------------------

def test_database_never_holds_key_text(srv, admin):
    marker = "dbscan-" + secrets.token_hex(8)
    made = [create_key(srv, admin, name="%s-%d" % (marker, i), scopes=s)
            for i, s in enumerate((["push"], ["users"], ["admin"], ["push", "users"]))]
    for m in made:  # used once each, so a last_used_at write happens too
        srv.get("/v1/admin/api-keys", token=m["key"])
    db = srv.data_dir / "pipit.db"
    wal = srv.data_dir / "pipit.db-wal"

    def files():
        return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    # sanity: the scan sees the rows (the names are stored in clear)
    poll_until(lambda: marker.encode() in files(), T(5), 0.1, what="the key names in the db files")
    for path in (db, wal):
        if not path.exists():
            continue
        data = path.read_bytes()
        for m in made:
            key = m["key"]
            assert key.encode() not in data, "%s holds the full key" % path.name
            assert key[3:].encode() not in data, "%s holds the key's 48-char secret" % path.name
            assert unb64u(key[3:]) not in data, "%s holds the key's secret bytes" % path.name


# -- devices: registration ----------------------------------------------------------------

def check_device(body, platform, sent, t0, t1):
    assert type(body.get("id")) is int and body["id"] > 0, body
    assert body["platform"] == platform, body
    assert_ms(body.get("created_at"), t0, t1, "created_at")
    assert_ms(body.get("updated_at"), t0, t1, "updated_at")
    assert body["updated_at"] >= body["created_at"], body
    if platform == "apns":
        assert body.get("token") == sent["token"].lower(), body
        assert body.get("topic") == sent["topic"], body
        absent = ("endpoint", "keys")
    elif platform == "fcm":
        assert body.get("token") == sent["token"], body
        absent = ("endpoint", "keys", "topic")
    else:
        assert body.get("endpoint") == sent["endpoint"], body
        absent = ("token", "topic")
        if "keys" in sent:
            k = body.get("keys")
            assert isinstance(k, dict), body
            assert unb64u(k["p256dh"]) == unb64u(sent["keys"]["p256dh"]), body
            assert unb64u(k["auth"]) == unb64u(sent["keys"]["auth"]), body
        else:
            absent += ("keys",)
    for f in absent:
        assert f not in body, ("%s device has %r" % (platform, f), body)


DEVICE_SAMPLES = {
    "webpush": lambda: webpush(),
    "apns": lambda: apns(),
    "fcm": lambda: fcm(),
    "unifiedpush": lambda: unifiedpush(),
    "unifiedpush+keys": lambda: unifiedpush(keys=wp_keys()),
}


@pytest.mark.parametrize("kind", list(DEVICE_SAMPLES))
def test_register_device_201_and_listed(srv, fresh, kind):
    sent = DEVICE_SAMPLES[kind]()
    platform = sent["platform"]
    t0 = now_ms()
    body = register(srv, fresh, sent, 201)
    t1 = now_ms()
    check_device(body, platform, sent, t0, t1)
    listed = devices(srv, fresh)
    assert [d["id"] for d in listed] == [body["id"]], listed
    assert listed[0] == body, (listed[0], body)


def test_apns_token_stored_lowercase(srv, fresh):
    tok = secrets.token_hex(32).upper().replace("A", "a", 3)
    assert tok != tok.lower()
    body = register(srv, fresh, apns(token=tok), 201)
    assert body["token"] == tok.lower(), body
    assert devices(srv, fresh)[0]["token"] == tok.lower()
    # the same token in the other case is the same device
    again = register(srv, fresh, apns(token=tok.lower()), 200)
    assert again["id"] == body["id"], (again, body)
    assert device_ids(srv, fresh) == [body["id"]]


def test_padded_base64url_keys_accepted(srv, fresh):
    pt, au = point_bytes(), secrets.token_bytes(16)
    keys = {"p256dh": base64.urlsafe_b64encode(pt).decode(),
            "auth": base64.urlsafe_b64encode(au).decode()}
    assert keys["p256dh"].endswith("=") and keys["auth"].endswith("==")
    body = register(srv, fresh, webpush(keys=keys), 201)
    assert unb64u(body["keys"]["p256dh"].rstrip("=")) == pt, body
    assert unb64u(body["keys"]["auth"].rstrip("=")) == au, body


@pytest.mark.parametrize("platform", ["webpush", "apns", "fcm", "unifiedpush"])
def test_reregister_same_device_is_200_updates_and_moves_owner(srv, platform):
    alice, bob = srv.register(), srv.register()
    first = MAKERS[platform]()
    d1 = register(srv, alice, first, 201)
    other = register(srv, alice, MAKERS[platform](), 201)
    time.sleep(0.01)
    # the same (platform, token-or-endpoint) with other fields
    second = dict(first)
    if platform == "webpush":
        second["keys"] = wp_keys()
    elif platform == "apns":
        second["topic"] = "org.example.other"
    elif platform == "unifiedpush":
        second["keys"] = wp_keys()
    t0 = now_ms()
    d2 = register(srv, bob, second, 200)
    assert d2["id"] == d1["id"], (d1, d2)
    check_device(d2, platform, second, d1["created_at"], now_ms())
    assert d2["created_at"] == d1["created_at"], (d1, d2)
    assert d2["updated_at"] >= t0 - 1 and d2["updated_at"] >= d1["updated_at"], (d1, d2)
    assert device_ids(srv, alice) == [other["id"]], "the previous owner still lists it"
    assert device_ids(srv, bob) == [d1["id"]]
    assert devices(srv, bob)[0] == d2
    # the same owner again: still 200, still one device
    register(srv, bob, second, 200)
    assert device_ids(srv, bob) == [d1["id"]]


def test_same_endpoint_other_platform_is_a_new_device(srv, fresh):
    ep = endpoint()
    a = register(srv, fresh, webpush(ep=ep), 201)
    b = register(srv, fresh, unifiedpush(ep=ep), 201)
    assert a["id"] != b["id"]
    assert device_ids(srv, fresh) == sorted([a["id"], b["id"]])


def test_list_is_ordered_by_id_and_only_callers(srv, fresh, plain):
    theirs = register(srv, plain, fcm(), 201)
    made = [register(srv, fresh, MAKERS[p](), 201)["id"]
            for p in ("apns", "webpush", "fcm", "unifiedpush", "webpush")]
    assert device_ids(srv, fresh) == sorted(made), made
    # re-registering the oldest one changes its updated_at, not its place
    first = devices(srv, fresh)[0]
    body = {"platform": first["platform"], "token": first["token"], "topic": "com.example.b"}
    register(srv, fresh, body, 200)
    assert device_ids(srv, fresh) == sorted(made)
    assert theirs["id"] not in device_ids(srv, fresh)


def test_delete_device(srv, fresh, plain):
    mine = register(srv, fresh, webpush(), 201)
    keep = register(srv, fresh, apns(), 201)
    theirs = register(srv, plain, fcm(), 201)
    r = api(srv, "DELETE", "/v1/devices/%d" % mine["id"], fresh)
    assert r.status_code == 204 and r.content == b"", (r.status_code, r.text)
    assert device_ids(srv, fresh) == [keep["id"]]
    expect(api(srv, "DELETE", "/v1/devices/%d" % mine["id"], fresh), 404, "not_found")
    # someone else's device: 404 and it stays
    expect(api(srv, "DELETE", "/v1/devices/%d" % theirs["id"], fresh), 404, "not_found")
    assert theirs["id"] in device_ids(srv, plain)
    for tail in ("99999999", "0", "abc", "1x", "-1", "%d.0" % keep["id"]):
        expect(api(srv, "DELETE", "/v1/devices/" + tail, fresh), 404, "not_found")
    assert device_ids(srv, fresh) == [keep["id"]]


def test_devices_body_errors(srv, fresh):
    expect(api(srv, "POST", "/v1/devices", fresh, ["webpush"]), 400, "bad_request")
    expect(srv.post("/v1/devices", token=fresh.token, data=b"{nope",
                    headers={"Content-Type": "application/json"}), 400, "bad_request")
    expect(srv.post("/v1/devices", token=fresh.token, data=b'{"platform":"fcm","token":"x"}',
                    headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    expect(srv.request("PUT", "/v1/devices", token=fresh.token, json=fcm()), 405,
           "method_not_allowed")
    assert devices(srv, fresh) == []


# -- devices: validation ------------------------------------------------------------------

def _pt(first=0x04, n=65):
    p = bytearray(point_bytes())
    p[0] = first
    return bytes(p[:n]) if n <= 65 else bytes(p) + b"\x01" * (n - 65)


def _wk(p256dh=None, auth=None):
    k = wp_keys()
    if p256dh is not None:
        k["p256dh"] = p256dh
    if auth is not None:
        k["auth"] = auth
    return k


def _with(body, **kw):
    b = dict(body)
    for k, v in kw.items():
        if v is _DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


_DROP = object()
_GOOD_P = b64u(point_bytes())


def _spliced(i, c):
    """A valid p256dh string with the character at i replaced by c (a non-base64url one)."""
    return _GOOD_P[:i] + c + _GOOD_P[i + 1:]


BAD_DEVICES = {
    # platform
    "platform-unknown": lambda: {"platform": "gcm", "token": "abc"},
    "platform-missing": lambda: {"token": "abc"},
    "platform-number": lambda: {"platform": 1, "token": "abc"},
    "platform-null": lambda: {"platform": None, "token": "abc"},
    "empty-object": lambda: {},
    # webpush keys
    "wp-p256dh-64-bytes": lambda: webpush(keys=_wk(p256dh=b64u(_pt(n=64)))),
    "wp-p256dh-66-bytes": lambda: webpush(keys=_wk(p256dh=b64u(_pt(n=66)))),
    "wp-p256dh-33-compressed": lambda: webpush(keys=_wk(p256dh=b64u(b"\x02" + b"\x11" * 32))),
    "wp-p256dh-first-byte-02": lambda: webpush(keys=_wk(p256dh=b64u(_pt(first=0x02)))),
    "wp-p256dh-first-byte-00": lambda: webpush(keys=_wk(p256dh=b64u(_pt(first=0x00)))),
    "wp-p256dh-not-base64-star": lambda: webpush(keys=_wk(p256dh=_spliced(10, "*"))),
    "wp-p256dh-not-base64-space": lambda: webpush(keys=_wk(p256dh=_spliced(40, " "))),
    "wp-p256dh-std-base64-plus": lambda: webpush(keys=_wk(p256dh=_spliced(10, "+"))),
    "wp-p256dh-std-base64-slash": lambda: webpush(keys=_wk(p256dh=_spliced(10, "/"))),
    "wp-p256dh-empty": lambda: webpush(keys=_wk(p256dh="")),
    "wp-p256dh-number": lambda: webpush(keys=_wk(p256dh=4)),
    "wp-auth-15-bytes": lambda: webpush(keys=_wk(auth=b64u(secrets.token_bytes(15)))),
    "wp-auth-17-bytes": lambda: webpush(keys=_wk(auth=b64u(secrets.token_bytes(17)))),
    "wp-auth-32-bytes": lambda: webpush(keys=_wk(auth=b64u(secrets.token_bytes(32)))),
    "wp-auth-not-base64": lambda: webpush(keys=_wk(auth="!!" + b64u(secrets.token_bytes(16))[2:])),
    "wp-auth-empty": lambda: webpush(keys=_wk(auth="")),
    "wp-auth-null": lambda: _with(webpush(), keys={"p256dh": _GOOD_P, "auth": None}),
    "wp-keys-missing": lambda: _with(webpush(), keys=_DROP),
    "wp-keys-string": lambda: _with(webpush(), keys="p256dh"),
    "wp-keys-no-p256dh": lambda: _with(webpush(), keys={"auth": b64u(secrets.token_bytes(16))}),
    "wp-keys-no-auth": lambda: _with(webpush(), keys={"p256dh": _GOOD_P}),
    "wp-endpoint-missing": lambda: _with(webpush(), endpoint=_DROP),
    "wp-endpoint-number": lambda: _with(webpush(), endpoint=5),
    "wp-endpoint-empty": lambda: _with(webpush(), endpoint=""),
    # endpoint URL rules (webpush)
    "url-http": lambda: webpush(ep=endpoint(scheme="http")),
    "url-ftp": lambda: webpush(ep=endpoint(scheme="ftp")),
    "url-no-scheme": lambda: webpush(ep="push.example.com/x"),
    "url-no-host": lambda: webpush(ep="https:///x"),
    "url-only-scheme": lambda: webpush(ep="https://"),
    "url-userinfo": lambda: webpush(ep="https://user@push.example.com/x"),
    "url-userinfo-password": lambda: webpush(ep="https://user:pw@push.example.com/x"),
    "url-2049-bytes": lambda: webpush(ep=_long_url(2049)),
    # apns
    "apns-token-not-hex": lambda: apns(token="g" * 64),
    "apns-token-63-hex": lambda: apns(token=secrets.token_hex(32)[:63]),
    "apns-token-201-hex": lambda: apns(token=(secrets.token_hex(101))[:201]),
    "apns-token-space": lambda: apns(token=secrets.token_hex(16) + " " + secrets.token_hex(16)),
    "apns-token-number": lambda: apns(token=1234),
    "apns-token-missing": lambda: _with(apns(), token=_DROP),
    "apns-topic-space": lambda: apns(topic="com.example app"),
    "apns-topic-slash": lambda: apns(topic="com/example/app"),
    "apns-topic-unicode": lambda: apns(topic="com.\u00e9xample.app"),
    "apns-topic-empty": lambda: apns(topic=""),
    "apns-topic-256": lambda: apns(topic="a" * 256),
    "apns-topic-missing": lambda: _with(apns(), topic=_DROP),
    "apns-topic-number": lambda: apns(topic=7),
    # fcm
    "fcm-token-space": lambda: fcm(token="abc def"),
    "fcm-token-tab": lambda: fcm(token="abc\tdef"),
    "fcm-token-control": lambda: fcm(token="abc\x01def"),
    "fcm-token-del": lambda: fcm(token="abc\x7fdef"),
    "fcm-token-non-ascii": lambda: fcm(token="abc\u00e9def"),
    "fcm-token-empty": lambda: fcm(token=""),
    "fcm-token-4097": lambda: fcm(token="x" * 4097),
    "fcm-token-missing": lambda: {"platform": "fcm"},
    "fcm-token-number": lambda: {"platform": "fcm", "token": 5},
    # unifiedpush
    "up-endpoint-missing": lambda: {"platform": "unifiedpush"},
    "up-endpoint-http": lambda: unifiedpush(ep=endpoint("up.example.com", "http")),
    "up-endpoint-loopback": lambda: unifiedpush(ep=endpoint("127.0.0.1")),
    "up-endpoint-userinfo": lambda: unifiedpush(ep="https://u@up.example.com/x"),
    "up-keys-bad-p256dh": lambda: unifiedpush(keys=_wk(p256dh=b64u(_pt(n=64)))),
    "up-keys-bad-auth": lambda: unifiedpush(keys=_wk(auth=b64u(secrets.token_bytes(8)))),
    "up-keys-string": lambda: _with(unifiedpush(), keys="x"),
}


def _long_url(n):
    head = "https://push.example.com/"
    return head + "a" * (n - len(head))


@pytest.fixture(scope="module")
def vuser(srv):
    """A user whose device list must stay empty: only refused registrations."""
    return srv.register()


@pytest.mark.parametrize("case", list(BAD_DEVICES))
def test_device_validation_is_400(srv, vuser, case):
    body = BAD_DEVICES[case]()
    bad_device(srv, vuser, body)
    assert devices(srv, vuser) == [], "a refused registration (%s) was stored" % case


GOOD_DEVICES = {
    "url-2048-bytes": lambda: webpush(ep=_long_url(2048)),
    "url-with-port": lambda: webpush(ep=endpoint("push.example.com:8443")),
    "apns-token-200-hex": lambda: apns(token=secrets.token_hex(100)),
    "apns-token-64-upper": lambda: apns(token=secrets.token_hex(32).upper()),
    "apns-topic-255": lambda: apns(topic="a" * 255),
    "apns-topic-all-chars": lambda: apns(topic="Az09._-x"),
    "fcm-token-1": lambda: fcm(token=secrets.choice("abcdefghij") + ""),
    "fcm-token-4096": lambda: fcm(token=secrets.token_hex(2048)),
    "fcm-token-all-printable": lambda: fcm(
        token="".join(chr(c) for c in range(0x21, 0x7F)) + secrets.token_hex(8)),
}


@pytest.fixture(scope="module")
def huser(srv):
    """A user for registrations that are only checked by their answer (may hit the cap)."""
    return srv.register()


@pytest.mark.parametrize("case", list(GOOD_DEVICES))
def test_device_boundaries_accepted(srv, huser, case):
    sent = GOOD_DEVICES[case]()
    body = register(srv, huser, sent, 201)
    check_device(body, sent["platform"], sent, now_ms() - 10000, now_ms())


# -- endpoint hosts -----------------------------------------------------------------------

FORBIDDEN_HOSTS = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.1.1", "0.0.0.0",
    "100.64.0.1", "224.0.0.1", "[::1]", "[fe80::1]", "[fc00::1]", "[::ffff:127.0.0.1]",
    "localhost", "foo.localhost",
    # more of the same classes: range edges, ports, other spellings
    "127.255.255.254", "127.0.0.1:8443", "10.255.255.255", "172.31.255.255",
    "192.168.255.255", "169.254.255.254", "0.1.2.3", "100.127.255.255", "239.255.255.255",
    "240.0.0.1", "255.255.255.255", "[::]", "[::1]:8443", "[fd12:3456::1]", "[febf::1]",
    "[::ffff:10.0.0.1]", "[::ffff:192.168.0.1]", "[::ffff:7f00:1]", "a.b.localhost",
    "LOCALHOST", "localhost:8443",
]

PUBLIC_HOSTS = [
    "11.0.0.1", "9.255.255.255", "126.255.255.255", "128.0.0.1", "172.15.255.255",
    "172.32.0.1", "192.167.255.255", "192.169.0.1", "169.253.255.255", "169.255.0.1",
    "100.63.255.255", "100.128.0.1", "1.0.0.1", "223.255.255.255", "[2001:db8::1]",
    "[fbff::1]", "[::ffff:8.8.8.8]", "localhost.example.com", "notlocalhost",
    "localhostx.example", "push.example.com",
]


@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
def test_forbidden_host_refused_by_default(srv, vuser, host):
    bad_device(srv, vuser, webpush(ep=endpoint(host)))
    assert devices(srv, vuser) == []


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
def test_public_host_accepted_by_default(srv, huser, host):
    ep = endpoint(host)
    body = register(srv, huser, webpush(ep=ep), 201)
    assert body["endpoint"] == ep, body


@pytest.fixture(scope="module")
def open_srv(module_server_factory):
    return module_server_factory("--registration", "open",
                                 "--push-allow-private", "yes", "--push-allow-http", "yes")


@pytest.fixture(scope="module")
def open_user(open_srv):
    return open_srv.register()


@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
def test_forbidden_host_accepted_with_allow_private(open_srv, open_user, host):
    for scheme in ("https", "http"):
        ep = endpoint(host, scheme)
        body = register(open_srv, open_user, webpush(ep=ep), 201)
        assert body["endpoint"] == ep, body
    ep = endpoint(host)
    assert register(open_srv, open_user, unifiedpush(ep=ep), 201)["endpoint"] == ep


def test_allow_flags_keep_the_other_rules(open_srv, open_user):
    for ep in ("https://u@127.0.0.1/x", "http://user:pw@push.example.com/x", "ftp://127.0.0.1/x",
               "https:///x", _long_url(2049)):
        bad_device(open_srv, open_user, webpush(ep=ep))
        bad_device(open_srv, open_user, unifiedpush(ep=ep))


def test_allow_http_alone_still_refuses_private(module_server_factory):
    s = module_server_factory("--registration", "open", "--push-allow-http", "yes")
    u = s.register()
    ep = endpoint("push.example.com", "http")
    assert register(s, u, webpush(ep=ep), 201)["endpoint"] == ep
    assert register(s, u, unifiedpush(ep=endpoint("up.example.com", "http")), 201)
    for host in ("127.0.0.1", "10.1.2.3", "[::1]", "localhost"):
        bad_device(s, u, webpush(ep=endpoint(host, "http")))
        bad_device(s, u, webpush(ep=endpoint(host, "https")))


def test_allow_private_alone_still_refuses_http(module_server_factory):
    s = module_server_factory("--registration", "open", "--push-allow-private", "yes")
    u = s.register()
    for host in ("127.0.0.1", "192.168.1.1", "[fc00::1]", "foo.localhost"):
        ep = endpoint(host)
        assert register(s, u, webpush(ep=ep), 201)["endpoint"] == ep
        bad_device(s, u, webpush(ep=endpoint(host, "http")))
    bad_device(s, u, webpush(ep=endpoint("push.example.com", "http")))


# -- device cap ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cap_srv(module_server_factory):
    return module_server_factory("--registration", "open", "--max-devices-per-user", "3")


def _reg_spaced(srv, user, body, status=201):
    d = register(srv, user, body, status)
    time.sleep(0.01)  # distinct updated_at (ms)
    return d


def test_cap_evicts_least_recently_updated(cap_srv):
    u, other = cap_srv.register(), cap_srv.register()
    o = [_reg_spaced(cap_srv, other, fcm())["id"] for _ in range(3)]
    d = [_reg_spaced(cap_srv, u, MAKERS[p]())["id"] for p in ("webpush", "apns", "fcm")]
    assert device_ids(cap_srv, u) == d
    d4 = _reg_spaced(cap_srv, u, unifiedpush())
    assert device_ids(cap_srv, u) == [d[1], d[2], d4["id"]], "the oldest one should go"
    d5 = _reg_spaced(cap_srv, u, webpush())
    assert device_ids(cap_srv, u) == [d[2], d4["id"], d5["id"]]
    assert device_ids(cap_srv, other) == o, "another user's devices were touched"


def test_cap_reregistration_refreshes_and_does_not_evict(cap_srv):
    u = cap_srv.register()
    bodies = [webpush(), apns(), fcm()]
    d = [_reg_spaced(cap_srv, u, b)["id"] for b in bodies]
    # re-registering the oldest: 200, no eviction, and it becomes the newest
    again = _reg_spaced(cap_srv, u, bodies[0], 200)
    assert again["id"] == d[0]
    assert device_ids(cap_srv, u) == d, "a re-registration evicted a device"
    d4 = _reg_spaced(cap_srv, u, unifiedpush())
    assert device_ids(cap_srv, u) == [d[0], d[2], d4["id"]], (
        "the least recently updated one (the second) should go, not the re-registered first")


def test_default_cap_is_20(srv, fresh):
    made = [register(srv, fresh, fcm(), 201)["id"] for _ in range(20)]
    assert device_ids(srv, fresh) == made
    time.sleep(0.01)
    d21 = register(srv, fresh, fcm(), 201)
    assert device_ids(srv, fresh) == made[1:] + [d21["id"]]


# -- VAPID --------------------------------------------------------------------------------

def vapid_key(s, token=None):
    r = s.get("/v1/push/vapid-public-key", token=token)
    body = expect(r, 200)
    assert set(body) >= {"key"}, body
    return body["key"]


def check_vapid(key):
    assert isinstance(key, str) and B64URL_RE.match(key), "not unpadded base64url: %r" % key
    raw = unb64u(key)
    assert len(raw) == 65 and raw[0] == 0x04, (len(raw), raw[:1])
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # a point on P-256
    return raw


def test_vapid_key_without_credentials(srv, plain):
    key = vapid_key(srv)
    check_vapid(key)
    assert len(key) == 87, key
    assert vapid_key(srv, plain.token) == key
    assert vapid_key(srv) == key


def test_vapid_key_method_not_allowed(srv):
    expect(srv.post("/v1/push/vapid-public-key", json={}), 405, "method_not_allowed")


def test_vapid_key_kept_across_restart(server_factory, srv):
    s = server_factory()
    pem = s.data_dir / "vapid-private.pem"
    key = vapid_key(s)
    raw = check_vapid(key)
    assert pem.exists(), "no %s" % pem
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600, oct(pem.stat().st_mode)
    priv = load_pem_private_key(pem.read_bytes(), password=None)
    pub = priv.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert pub == raw, "the PEM's key is not the one served"
    assert key != vapid_key(srv), "two fresh data dirs got the same VAPID key"
    s.stop()
    s.start()
    assert vapid_key(s) == key, "the VAPID key changed across a restart"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600, oct(pem.stat().st_mode)


def test_users_key_cannot_create_an_admin(srv, keys):
    """A users-scoped key could otherwise make itself an admin account, log in, and
    mint admin keys: only admins and admin-scoped keys create admins."""
    name = unique("esc")
    r = srv.post("/v1/admin/users", token=keys["users"],
                 json={"username": name, "password": PASSWORD, "role": "admin"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    r = srv.post("/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 401, ("no such user was created", r.text)
    r = srv.post("/v1/admin/users", token=keys["admin"],
                 json={"username": name, "password": PASSWORD, "role": "admin"})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "admin"


def test_a_session_token_that_begins_with_pk_is_still_a_session_token(srv, fresh):
    """Session tokens are base64url, so 1 in 64³ begins with "pk_" like an API key:
    keys are told apart by their length too (51, a token's text is 48)."""
    import hashlib
    import os
    import sqlite3
    text = "pk_" + b64u(os.urandom(12))[3:]
    selector = base64.urlsafe_b64decode(text + "==")
    assert b64u(selector) == text
    verifier = os.urandom(24)
    db = sqlite3.connect(str(srv.data_dir / "pipit.db"), timeout=30)
    with db:
        db.execute("INSERT INTO tokens (app_id, user_id, selector, verifier_hash, created_at, "
                   "expires_at) VALUES (1, ?, ?, ?, ?, ?)",
                   (fresh.id, selector, hashlib.blake2b(verifier, digest_size=32).digest(),
                    now_ms(), now_ms() + 3600 * 1000))
    db.close()
    token = text + b64u(verifier)
    assert len(token) == 48 and token.startswith("pk_")
    r = srv.get("/v1/me", token=token)
    assert r.status_code == 200 and r.json()["id"] == fresh.id, r.text


def test_webpush_key_off_the_curve_is_refused(srv, plain):
    """A p256dh that is 65 bytes and starts with 0x04 but is not a point on P-256
    could never be encrypted to: refused at registration."""
    good = bytearray(point_bytes())
    good[64] ^= 1
    body = webpush(keys={"p256dh": b64u(bytes(good)), "auth": wp_keys()["auth"]})
    r = srv.post("/v1/devices", token=plain.token, json=body)
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
