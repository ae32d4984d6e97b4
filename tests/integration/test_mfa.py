"""Two-factor authentication (TOTP, RFC 6238) with recovery codes: enrol, confirm,
required at login, disable, new codes, an admin's reset, and the app's policy."""

import re
import sqlite3
import urllib.parse

import pytest

from conftest import T, User, error_code
from mfalib import Codes, enrol, login, now_step, totp
from wsraw import WSConn


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--mfa-issuer", "ACME Bank")


def test_enrolment_confirm_and_status(srv):
    user = srv.create_user()
    r = srv.get("/v1/me/mfa", token=user.token)
    assert r.json() == {"enabled": False, "required": False, "pending": False,
                        "enabled_at": None, "recovery_codes_left": 0}

    # The password is asked again: a stolen session alone cannot lock the owner out.
    r = srv.post("/v1/me/mfa", token=user.token, json={})
    assert r.status_code == 400 and error_code(r) == "bad_request"
    r = srv.post("/v1/me/mfa", token=user.token, json={"password": "not-" + user.password})
    assert r.status_code == 403 and error_code(r) == "wrong_password"

    r = srv.post("/v1/me/mfa", token=user.token, json={"password": user.password})
    assert r.status_code == 200, r.text
    secret, uri = r.json()["secret"], r.json()["otpauth_uri"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    u = urllib.parse.urlparse(uri)
    assert (u.scheme, u.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(u.path) == "/ACME Bank:" + user.username
    q = urllib.parse.parse_qs(u.query)
    assert q == {"secret": [secret], "issuer": ["ACME Bank"], "algorithm": ["SHA1"],
                 "digits": ["6"], "period": ["30"]}
    assert srv.get("/v1/me/mfa", token=user.token).json()["pending"] is True
    # Not on until confirmed: logins need no code yet.
    assert login(srv, user).status_code == 200

    bad = "%06d" % ((int(totp(secret)) + 1) % 1000000)
    r = srv.post("/v1/me/mfa/confirm", token=user.token, json={"code": bad})
    assert r.status_code == 403 and error_code(r) == "invalid_mfa_code"
    r = srv.post("/v1/me/mfa/confirm", token=user.token, json={"code": totp(secret)})
    assert r.status_code == 200, r.text
    rc = r.json()["recovery_codes"]
    assert len(rc) == 10 and len(set(rc)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", c) for c in rc), rc

    st = srv.get("/v1/me/mfa", token=user.token).json()
    assert st["enabled"] is True and st["pending"] is False and st["recovery_codes_left"] == 10
    assert isinstance(st["enabled_at"], int)
    me = srv.get("/v1/me", token=user.token).json()
    assert me["mfa_enabled"] is True and me["mfa_required"] is False
    # The session that enrolled goes on working.
    assert srv.get("/v1/conversations", token=user.token).status_code == 200

    # Already on: no second enrolment, no second confirm.
    r = srv.post("/v1/me/mfa", token=user.token, json={"password": user.password})
    assert r.status_code == 409 and error_code(r) == "conflict"
    r = srv.post("/v1/me/mfa/confirm", token=user.token, json={"code": totp(secret, now_step() + 1)})
    assert r.status_code == 409


def test_confirm_without_enrolment_is_a_conflict(srv):
    user = srv.create_user()
    r = srv.post("/v1/me/mfa/confirm", token=user.token, json={"code": "123456"})
    assert r.status_code == 409 and error_code(r) == "conflict"
    r = srv.post("/v1/me/mfa/recovery-codes", token=user.token, json={"code": "123456"})
    assert r.status_code == 409
    r = srv.post("/v1/me/mfa/disable", token=user.token,
                 json={"password": user.password, "code": "123456"})
    assert r.status_code == 409


def test_login_needs_the_code_and_takes_each_once(srv):
    user = srv.create_user()
    codes, _ = enrol(srv, user)

    r = login(srv, user)
    assert r.status_code == 401 and error_code(r) == "mfa_required"
    assert "token" not in r.json()
    # The password is checked first: a wrong one says nothing about the second factor.
    r = srv.post("/v1/auth/login", json={"username": user.username, "password": "wrong-pass",
                                         "code": codes.next()})
    assert r.status_code == 401 and error_code(r) == "invalid_credentials"

    code = codes.next()
    r = login(srv, user, code=code)
    assert r.status_code == 200, r.text
    assert srv.get("/v1/me", token=r.json()["token"]).status_code == 200
    # Seen once: refused again, however soon.
    r = login(srv, user, code=code)
    assert r.status_code == 403 and error_code(r) == "invalid_mfa_code"
    # Spaces are allowed in a code.
    c = codes.next()
    assert login(srv, user, code=c[:3] + " " + c[3:]).status_code == 200
    # Two steps ahead is too far.
    assert login(srv, user, code=totp(codes.secret, now_step() + 3)).status_code == 403


@pytest.mark.parametrize("field,value", [
    ("code", 123456), ("code", ["123456"]), ("code", {"c": 1}), ("code", True),
    ("recovery_code", 12), ("code", "1" * 65), ("device", 5),
])
def test_login_second_factor_fields_of_the_wrong_type(srv, field, value):
    user = srv.create_user()
    r = login(srv, user, **{field: value})
    assert r.status_code == 400 and error_code(r) == "bad_request"
    assert field in r.json()["error"]["message"]


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "٠١٢٣٤٥", "123456\n"])
def test_malformed_codes_are_wrong_codes(srv, code):
    user = srv.create_user()
    enrol(srv, user)
    r = login(srv, user, code=code)
    # "" is no code at all: the second factor is still wanted.
    want = (401, "mfa_required") if code == "" else (403, "invalid_mfa_code")
    assert (r.status_code, error_code(r)) == want


def test_recovery_codes_work_once(srv):
    user = srv.create_user()
    codes, rc = enrol(srv, user)

    r = login(srv, user, recovery_code=rc[0])
    assert r.status_code == 200, r.text
    r = login(srv, user, recovery_code=rc[0])
    assert r.status_code == 403 and error_code(r) == "invalid_mfa_code"
    # Case, dashes and spaces do not matter.
    loose = rc[1].upper().replace("-", " ")
    assert login(srv, user, recovery_code=loose).status_code == 200
    for bad in ["aaaa-aaaa-aaaa-aaaa", "not a code", rc[2][:-1]]:
        r = login(srv, user, recovery_code=bad)
        assert r.status_code == 403 and error_code(r) == "invalid_mfa_code", bad
    token = login(srv, user, code=codes.next()).json()["token"]
    assert srv.get("/v1/me/mfa", token=token).json()["recovery_codes_left"] == 8

    # A new set: the old codes stop working. It takes a code, not a recovery code.
    r = srv.post("/v1/me/mfa/recovery-codes", token=token, json={"recovery_code": rc[3]})
    assert r.status_code == 400
    r = srv.post("/v1/me/mfa/recovery-codes", token=token, json={"code": codes.next()})
    assert r.status_code == 200, r.text
    fresh = r.json()["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(rc)
    assert login(srv, user, recovery_code=rc[3]).status_code == 403
    assert login(srv, user, recovery_code=fresh[0]).status_code == 200


def test_wrong_codes_are_throttled_like_wrong_passwords(server_factory):
    srv = server_factory("--login-free-attempts", "3", "--login-max-delay", "60s")
    user = srv.create_user()
    codes, _ = enrol(srv, user)
    wrong = "%06d" % ((int(totp(codes.secret)) + 500000) % 1000000)
    answers = [login(srv, user, code=wrong).status_code for _ in range(6)]
    # Three free failures, then waits: even the right code must wait its turn.
    assert answers[:3] == [403, 403, 403], answers
    assert 429 in answers[3:], answers
    r = login(srv, user, code=codes.next())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_disable_needs_password_and_code(srv):
    user = srv.create_user()
    codes, rc = enrol(srv, user)
    token = user.token

    r = srv.post("/v1/me/mfa/disable", token=token, json={"password": user.password})
    assert r.status_code == 400
    r = srv.post("/v1/me/mfa/disable", token=token,
                 json={"password": "wrong-pass", "code": codes.next()})
    assert r.status_code == 403 and error_code(r) == "wrong_password"
    r = srv.post("/v1/me/mfa/disable", token=token, json={"password": user.password,
                                                         "code": "000000"})
    assert r.status_code == 403 and error_code(r) == "invalid_mfa_code"
    r = srv.post("/v1/me/mfa/disable", token=token, json={"password": user.password,
                                                         "recovery_code": rc[0]})
    assert r.status_code == 204, r.text
    assert srv.get("/v1/me/mfa", token=token).json()["enabled"] is False
    assert login(srv, user).status_code == 200
    # And on again, with a new secret.
    codes2, _ = enrol(srv, user)
    assert codes2.secret != codes.secret


def test_admin_reset_turns_mfa_off_and_ends_sessions(srv):
    user = srv.create_user()
    enrol(srv, user)
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(user.token)
        r = srv.request("DELETE", "/v1/admin/users/%d/mfa" % user.id, token=srv.admin_token())
        assert r.status_code == 204, r.text
        assert ws.expect_close(T(5)).code == 1008
    assert srv.get("/v1/me", token=user.token).status_code == 401
    r = login(srv, user)
    assert r.status_code == 200, r.text
    assert srv.get("/v1/me/mfa", token=r.json()["token"]).json()["enabled"] is False
    # Only admins; unknown users are 404.
    other = srv.create_user()
    r = srv.request("DELETE", "/v1/admin/users/%d/mfa" % user.id, token=other.token)
    assert r.status_code == 403
    r = srv.request("DELETE", "/v1/admin/users/999999/mfa", token=srv.admin_token())
    assert r.status_code == 404
    audit = srv.get("/v1/admin/audit?action=mfa.reset", token=srv.admin_token()).json()
    assert any(e["target"] == "user:%d" % user.id for e in audit["records"]), audit
    users = srv.get("/v1/admin/users/%d" % user.id, token=srv.admin_token()).json()
    assert users["mfa_enabled"] is False


def test_mfa_changes_are_audited(srv):
    user = srv.create_user()
    codes, _ = enrol(srv, user)
    login(srv, user)  # mfa_required
    login(srv, user, code="000000")
    actions = [e["action"] for e in srv.get(
        "/v1/admin/audit?actor=user:%d&limit=50" % user.id, token=srv.admin_token()
    ).json()["records"]]
    assert "mfa.begin" in actions and "mfa.enable" in actions, actions


def test_secret_is_sealed_at_rest(srv):
    user = srv.create_user()
    codes, _ = enrol(srv, user)
    db = sqlite3.connect("file:%s?mode=ro" % (srv.data_dir / "pipit.db"), uri=True)
    try:
        stored = db.execute("SELECT mfa_secret FROM users WHERE id = ?", (user.id,)).fetchone()[0]
    finally:
        db.close()
    assert isinstance(stored, bytes) and codes.secret.encode() not in stored
    for name in ("pipit.db", "pipit.db-wal"):
        path = srv.data_dir / name
        if path.exists():
            assert codes.secret.encode() not in path.read_bytes()


# -- the app's policy ---------------------------------------------------------------------

def set_policy(srv, value, token=None):
    r = srv.request("PATCH", "/v1/admin/app", token=token or srv.admin_token(),
                    json={"mfa_required": value})
    assert r.status_code == 200, r.text
    assert r.json()["mfa_required"] == value


def enrolled_admin(srv):
    """The first admin, with MFA on (a policy that covers admins needs it of its author)."""
    admin = User("admin", srv.admin_password, srv.admin_token(), 1)
    enrol(srv, admin)
    return admin


def test_policy_values_are_checked(srv):
    for bad in ["none", "", 1, None, ["all"]]:
        r = srv.request("PATCH", "/v1/admin/app", token=srv.admin_token(),
                        json={"mfa_required": bad})
        assert r.status_code == 400 and error_code(r) == "bad_request", bad
    assert srv.get("/v1/admin/app", token=srv.admin_token()).json()["mfa_required"] == "off"


def test_an_admin_without_mfa_cannot_require_it(server_factory):
    srv = server_factory()
    for value in ("admins", "all"):
        r = srv.request("PATCH", "/v1/admin/app", token=srv.admin_token(),
                        json={"mfa_required": value})
        assert r.status_code == 409 and error_code(r) == "conflict", r.text
        assert "your own account" in r.json()["error"]["message"]
    assert srv.get("/v1/admin/app", token=srv.admin_token()).json()["mfa_required"] == "off"
    # An admin-scoped API key has no second factor to set up: it may.
    key = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                   json={"name": "k", "scopes": ["admin"]}).json()["key"]
    set_policy(srv, "admins", token=key)
    set_policy(srv, "off", token=key)


def test_policy_all_makes_users_enrol_first(server_factory):
    srv = server_factory()
    admin = enrolled_admin(srv)
    user = srv.create_user()
    other_admin = srv.create_user(role="admin")
    set_policy(srv, "all", token=admin.token)

    # A session made before the policy is held to it too (at its next request).
    r = srv.get("/v1/conversations", token=user.token)
    assert r.status_code == 403 and error_code(r) == "mfa_enrollment_required"

    r = login(srv, user)
    assert r.status_code == 200, r.text
    assert r.json()["mfa_enrollment_required"] is True
    token = r.json()["token"]
    me = srv.get("/v1/me", token=token).json()
    assert me["mfa_required"] is True and me["mfa_enabled"] is False
    for method, path in [("GET", "/v1/conversations"), ("GET", "/v1/users"),
                         ("POST", "/v1/conversations"), ("GET", "/v1/devices")]:
        r = srv.request(method, path, token=token, json={} if method == "POST" else None)
        assert r.status_code == 403 and error_code(r) == "mfa_enrollment_required", path
    assert srv.get("/v1/me/sessions", token=token).status_code == 200
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert ws.auth(token)["error"]["code"] == "mfa_enrollment_required"

    user.token = token
    codes, _ = enrol(srv, user)
    # The same session may do everything now, over REST and WebSocket.
    assert srv.get("/v1/conversations", token=token).status_code == 200
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(token)
    # Required: it cannot be turned off by its user; an admin may reset it.
    r = srv.post("/v1/me/mfa/disable", token=token, json={"password": user.password,
                                                         "code": codes.next()})
    assert r.status_code == 403 and error_code(r) == "forbidden"
    # Admins are held like everyone else; the enrolled one is not.
    r = srv.get("/v1/admin/users", token=other_admin.token)
    assert r.status_code == 403 and error_code(r) == "mfa_enrollment_required"
    assert srv.get("/v1/admin/users", token=admin.token).status_code == 200


def test_policy_admins_covers_admins_only(server_factory):
    srv = server_factory()
    admin = enrolled_admin(srv)
    user = srv.create_user()
    admin2 = srv.create_user(role="admin")
    set_policy(srv, "admins", token=admin.token)
    assert srv.get("/v1/conversations", token=user.token).status_code == 200
    r = srv.get("/v1/admin/users", token=admin2.token)
    assert r.status_code == 403 and error_code(r) == "mfa_enrollment_required"
    assert login(srv, user).json().get("mfa_enrollment_required") is None
    assert login(srv, admin2).json()["mfa_enrollment_required"] is True
    enrol(srv, admin2)
    assert srv.get("/v1/admin/users", token=admin2.token).status_code == 200
    # Policy off again: nobody is held.
    set_policy(srv, "off", token=admin2.token)
    r = srv.request("DELETE", "/v1/admin/users/%d/mfa" % admin2.id, token=admin.token)
    assert r.status_code == 204
    assert srv.get("/v1/admin/users", token=login(srv, admin2).json()["token"]).status_code == 200
