"""Accounts: register, login, logout, /v1/me, admin user creation, JSON errors, throttling."""

import json
import stat
import time

import pytest
import requests

from conftest import PASSWORD, T, error_code, unique


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


@pytest.fixture(scope="module")
def user(srv):
    return srv.register()


@pytest.fixture(scope="module")
def admin_token(srv):
    return srv.admin_token()


# -- first start ------------------------------------------------------------------------

def test_initial_admin_password_file(srv):
    path = srv.data_dir / "initial-admin-password"
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    raw = path.read_text()
    assert raw.endswith("\n") and raw.count("\n") == 1, repr(raw)
    assert len(raw.strip()) >= 12
    assert any("initial-admin-password" in l for l in srv.lines)


def test_admin_logs_in_with_initial_password(srv, admin_token):
    r = srv.get("/v1/me", token=admin_token)
    assert r.status_code == 200
    assert r.json()["username"] == "admin" and r.json()["role"] == "admin"


# -- register ---------------------------------------------------------------------------

def test_register_returns_201_token_and_user(srv):
    name = unique("reg")
    r = srv.post("/v1/auth/register", json={"username": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["token"], str) and len(body["token"]) >= 22
    assert type(body["user"]["id"]) is int
    assert body["user"]["username"] == name
    me = srv.get("/v1/me", token=body["token"])
    assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]


def test_register_when_closed_is_403(server_factory):
    s = server_factory()  # registration defaults to closed
    r = s.post("/v1/auth/register", json={"username": unique(), "password": PASSWORD})
    assert r.status_code == 403
    assert error_code(r) == "registration_closed"
    s2 = server_factory("--registration", "closed")
    r2 = s2.post("/v1/auth/register", json={"username": unique(), "password": PASSWORD})
    assert r2.status_code == 403 and error_code(r2) == "registration_closed"


@pytest.mark.parametrize("username", [
    "",
    "a" * 65,
    "has space",
    " leading",
    "trailing ",
    "../etc",
    "../../etc/passwd",
    "a/b",
    "back\\slash",
    "ünïcödé",
    "名前",
    "emoji\U0001F600",
    "tab\tname",
    "new\nline",
    "nul\x00byte",
    "semi;colon",
    "at@sign",
    "quote'\"",
    "<script>",
    "percent%20",
    "plus+sign",
], ids=lambda u: repr(u)[:24])
def test_register_rejects_invalid_username(srv, username):
    r = srv.post("/v1/auth/register", json={"username": username, "password": PASSWORD})
    assert r.status_code == 400, (username, r.status_code, r.text)
    if "\x00" in username:
        # "\u0000" inside a JSON string may be refused by the JSON parser itself.
        assert error_code(r) in ("invalid_username", "bad_request")
    else:
        assert error_code(r) == "invalid_username"


def test_register_rejects_non_string_username(srv):
    for bad in (123, None, ["x"], {"a": 1}, True):
        r = srv.post("/v1/auth/register", json={"username": bad, "password": PASSWORD})
        assert r.status_code == 400, (bad, r.text)
        assert error_code(r) in ("bad_request", "invalid_username")


@pytest.mark.parametrize("username", ["a" * 64, "x", "A.b_c-9", "..", "-", "_leading"])
def test_register_accepts_boundary_usernames(srv, username):
    r = srv.post("/v1/auth/register", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201, (username, r.text)
    assert r.json()["user"]["username"] == username


def test_register_weak_password_is_400(srv):
    for pw in ("", "1234567", "short"):
        r = srv.post("/v1/auth/register", json={"username": unique(), "password": pw})
        assert r.status_code == 400, (pw, r.text)
        assert error_code(r) == "weak_password"


def test_register_eight_char_password_is_accepted(srv):
    name = unique()
    r = srv.post("/v1/auth/register", json={"username": name, "password": "12345678"})
    assert r.status_code == 201, r.text
    assert srv.login(name, "12345678")


def test_register_taken_username_is_409(srv, user):
    r = srv.post("/v1/auth/register", json={"username": user.username, "password": PASSWORD + "x"})
    assert r.status_code == 409
    assert error_code(r) == "username_taken"
    r = srv.post("/v1/auth/register", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 409
    assert error_code(r) == "username_taken"


# -- login ------------------------------------------------------------------------------

def test_login_returns_token_and_user(srv, user):
    r = srv.post("/v1/auth/login", json={"username": user.username, "password": user.password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["id"] == user.id and body["user"]["username"] == user.username
    assert body["token"] != user.token
    for tok in (body["token"], user.token):
        assert srv.get("/v1/me", token=tok).status_code == 200


def test_login_wrong_password_and_unknown_user_give_same_401(srv, user):
    wrong = srv.post("/v1/auth/login", json={"username": user.username, "password": "not-the-password"})
    unknown = srv.post("/v1/auth/login", json={"username": unique("ghost"), "password": "not-the-password"})
    assert wrong.status_code == 401 and unknown.status_code == 401
    assert error_code(wrong) == "invalid_credentials"
    assert wrong.content == unknown.content
    assert wrong.headers.get("Content-Type") == unknown.headers.get("Content-Type")


# -- logout -----------------------------------------------------------------------------

def test_logout_kills_token_at_once(srv, user):
    tok = srv.login(user.username, user.password)
    assert srv.get("/v1/me", token=tok).status_code == 200
    r = srv.post("/v1/auth/logout", token=tok)
    assert r.status_code == 204, r.text
    assert r.content == b""
    me = srv.get("/v1/me", token=tok)
    assert me.status_code == 401 and error_code(me) == "unauthorized"
    # Other sessions of the same user are unaffected.
    assert srv.get("/v1/me", token=user.token).status_code == 200
    # The dead token cannot log out again.
    assert srv.post("/v1/auth/logout", token=tok).status_code == 401


def test_logout_without_token_is_401(srv):
    r = srv.post("/v1/auth/logout")
    assert r.status_code == 401 and error_code(r) == "unauthorized"


# -- /v1/me -----------------------------------------------------------------------------

def test_me_returns_profile(srv, user):
    r = srv.get("/v1/me", token=user.token)
    assert r.status_code == 200
    me = r.json()
    assert me["id"] == user.id and type(me["id"]) is int
    assert me["username"] == user.username
    assert me["display_name"] is None or isinstance(me["display_name"], str)
    assert me["role"] == "user"
    now_ms = time.time() * 1000
    assert type(me["created_at"]) is int
    assert now_ms - 86400e3 < me["created_at"] <= now_ms + 60e3, me["created_at"]


@pytest.mark.parametrize("auth", [
    None,
    "Bearer",
    "Bearer ",
    "Bearer garbage",
    "Bearer " + "A" * 43,
    "Basic YWRtaW46YWRtaW4=",
    "bearer-ish token",
    "Bearer tok en",
])
def test_me_without_valid_token_is_401(srv, auth):
    headers = {} if auth is None else {"Authorization": auth}
    r = srv.get("/v1/me", headers=headers)
    assert r.status_code == 401, (auth, r.text)
    assert error_code(r) == "unauthorized"


def test_me_with_tampered_token_is_401(srv, user):
    t = user.token
    mid = len(t) // 2
    flip = lambda c: "0" if c != "0" else "1"  # a digit is valid in hex and base64 alike
    for bad in (t[:-1], t + "x", flip(t[0]) + t[1:], t[:mid] + flip(t[mid]) + t[mid + 1:], t + t):
        r = srv.get("/v1/me", token=bad)
        assert r.status_code == 401, bad


# -- admin API --------------------------------------------------------------------------

def test_admin_creates_user(srv, admin_token):
    name = unique("made")
    r = srv.post("/v1/admin/users", token=admin_token,
                 json={"username": name, "password": PASSWORD, "role": "user"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert type(body["id"]) is int and body["username"] == name and body["role"] == "user"
    tok = srv.login(name, PASSWORD)
    assert srv.get("/v1/me", token=tok).json()["role"] == "user"


def test_admin_create_user_role_defaults_to_user(srv, admin_token):
    name = unique("dflt")
    r = srv.post("/v1/admin/users", token=admin_token, json={"username": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "user"


def test_admin_creates_admin_who_can_create_users(srv, admin_token):
    name = unique("boss")
    r = srv.post("/v1/admin/users", token=admin_token,
                 json={"username": name, "password": PASSWORD, "role": "admin"})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "admin"
    tok = srv.login(name, PASSWORD)
    assert srv.get("/v1/me", token=tok).json()["role"] == "admin"
    r2 = srv.post("/v1/admin/users", token=tok, json={"username": unique(), "password": PASSWORD})
    assert r2.status_code == 201, r2.text


def test_admin_create_user_by_plain_user_is_403(srv, user):
    r = srv.post("/v1/admin/users", token=user.token,
                 json={"username": unique(), "password": PASSWORD, "role": "admin"})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"


def test_admin_create_user_anonymous_is_401(srv):
    r = srv.post("/v1/admin/users", json={"username": unique(), "password": PASSWORD})
    assert r.status_code == 401
    assert error_code(r) == "unauthorized"
    r = srv.post("/v1/admin/users", token="garbage", json={"username": unique(), "password": PASSWORD})
    assert r.status_code == 401


@pytest.mark.parametrize("role", ["root", "", "Admin", 1, None, ["admin"]], ids=repr)
def test_admin_create_user_bad_role_is_400(srv, admin_token, role):
    name = unique()
    r = srv.post("/v1/admin/users", token=admin_token,
                 json={"username": name, "password": PASSWORD, "role": role})
    assert r.status_code == 400, (role, r.text)
    assert error_code(r) == "bad_request"
    # Nothing was created.
    assert srv.post("/v1/auth/login", json={"username": name, "password": PASSWORD}).status_code == 401


def test_admin_create_user_validation_errors(srv, admin_token, user):
    cases = [
        ({"username": "bad name", "password": PASSWORD}, 400, "invalid_username"),
        ({"username": "a" * 65, "password": PASSWORD}, 400, "invalid_username"),
        ({"username": unique(), "password": "short"}, 400, "weak_password"),
        ({"username": user.username, "password": PASSWORD}, 409, "username_taken"),
    ]
    for body, status, code in cases:
        r = srv.post("/v1/admin/users", token=admin_token, json=body)
        assert (r.status_code, error_code(r)) == (status, code), body


# -- JSON / content type errors ---------------------------------------------------------

BAD_BODIES = [
    b"{not json",
    b"",
    b"[]",
    b'"just a string"',
    b"null",
    b'{"username": "a"}',
    b'{"password": "aaaaaaaaaaa"}',
    b'{"username": 1, "password": "aaaaaaaaaa"}',
    b'{"username": "abc", "password": 12345678}',
    b'{"username": "abc", "password": null}',
    b'{"username": "abc", "password": "aaaaaaaaaa"} trailing',
    b'{"username": "abc", "password": "aaaaaaaaaa"',
    b"\xff\xfe{}",
]


@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/auth/register", "/v1/admin/users"])
@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda b: repr(b)[:30])
def test_bad_json_is_400_bad_request(srv, admin_token, path, body):
    token = admin_token if path.startswith("/v1/admin") else None
    r = srv.post(path, token=token, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (path, body, r.status_code, r.text)
    assert error_code(r) == "bad_request"


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/xml"])
def test_non_json_content_type_is_415(srv, ctype):
    body = json.dumps({"username": unique(), "password": PASSWORD})
    for path in ("/v1/auth/login", "/v1/auth/register"):
        r = srv.post(path, data=body, headers={"Content-Type": ctype})
        assert r.status_code == 415, (path, ctype, r.text)
        assert error_code(r) == "unsupported_media_type"


def test_json_content_type_with_charset_is_accepted(srv):
    name = unique()
    r = srv.post("/v1/auth/register", data=json.dumps({"username": name, "password": PASSWORD}),
                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text


def test_unicode_password_round_trips(srv):
    name = unique()
    pw = "pässwörd-密码-\U0001F511"
    r = srv.post("/v1/auth/register", json={"username": name, "password": pw})
    assert r.status_code == 201, r.text
    assert srv.login(name, pw)
    assert srv.post("/v1/auth/login", json={"username": name, "password": pw[:-1]}).status_code == 401


def test_log_never_contains_passwords_or_tokens(srv, user, admin_token):
    # Run after the other tests in this module have exercised every route.
    secrets = [srv.admin_password, admin_token, user.token, PASSWORD]
    log = srv.log_text()
    for s in secrets:
        assert s not in log, "secret found in log: %r" % s[:6]


# -- throttling -------------------------------------------------------------------------

def login_status(s, username, password):
    r = s.post("/v1/auth/login", json={"username": username, "password": password})
    return r


def test_login_throttled_per_account_after_free_attempts(server_factory):
    s = server_factory("--registration", "open", "--login-free-attempts", "3",
                       "--login-max-delay", "2s")
    u = s.register()
    for i in range(3):
        r = login_status(s, u.username, "wrong-password")
        assert r.status_code == 401, (i, r.text)
    r = login_status(s, u.username, "wrong-password")
    assert r.status_code == 429, r.text
    assert error_code(r) == "rate_limited"
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 2, retry
    # Throttling is per account: another user logs in fine.
    v = s.register()
    assert s.login(v.username, v.password)
    # Once the delay has passed, the right password works again.
    deadline = time.monotonic() + T(10)
    time.sleep(retry)
    while True:
        r = login_status(s, u.username, u.password)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        assert r.status_code == 429, r.text
        time.sleep(int(r.headers.get("Retry-After", "1")))
    assert r.status_code == 200, r.text


def test_parallel_guesses_get_no_more_tries_than_sequential_ones(server_factory):
    # Guesses still being checked count: a burst must not slip past the budget.
    import concurrent.futures
    s = server_factory("--registration", "open", "--login-free-attempts", "3",
                       "--login-max-delay", "2s")
    u = s.register()
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(lambda i: login_status(s, u.username, "wrong-%d" % i).status_code,
                              range(20)))
    assert codes.count(401) <= 3, codes
    assert codes.count(429) >= 17, codes
    assert set(codes) <= {401, 429}, codes


def test_login_throttled_for_unknown_user_too(server_factory):
    # Unknown users must not be distinguishable by the absence of throttling.
    s = server_factory("--login-free-attempts", "3")
    name = unique("ghost")
    for _ in range(3):
        assert login_status(s, name, "whatever-pass").status_code == 401
    r = login_status(s, name, "whatever-pass")
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_login_throttled_per_ip(server_factory):
    s = server_factory("--login-free-attempts", "3")
    # Distinct usernames, so no single account reaches its own limit (3 × 4 = 12 per IP).
    for i in range(12):
        r = login_status(s, unique("spray"), "whatever-pass")
        assert r.status_code == 401, (i, r.text)
    r = login_status(s, unique("spray"), "whatever-pass")
    assert r.status_code == 429, r.text
    assert error_code(r) == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_logout_is_at_once_on_every_worker_despite_caching(srv):
    """Workers remember tokens they checked; a logout still ends one everywhere at once."""
    user = srv.register()
    tok = srv.login(user.username, user.password)
    # Warm every worker's memory: fresh connections spread over the workers.
    for _ in range(20):
        r = requests.get(srv.url("/v1/me"), headers={"Authorization": "Bearer " + tok})
        assert r.status_code == 200
    assert srv.post("/v1/auth/logout", token=tok).status_code == 204
    for _ in range(20):
        r = requests.get(srv.url("/v1/me"), headers={"Authorization": "Bearer " + tok})
        assert r.status_code == 401, "a worker still trusted a token logged out"
