"""Process lifecycle: graceful shutdown, restart, data-dir lock, CLI, configuration."""

import json
import signal
import socket
import time

import pytest

import httpraw
from conftest import PASSWORD, T, run_cli, run_pipitd, unique
from wsraw import WSConn


# -- shutdown ---------------------------------------------------------------------------

def test_sigterm_closes_websockets_1001_finishes_inflight_request_and_exits_0(server_factory):
    s = server_factory("--registration", "open")
    u = s.register()
    ws = WSConn(s.port, timeout=T(10))
    idle_ws = WSConn(s.port, timeout=T(10))  # never authenticated
    assert "ok" in ws.auth(u.token)
    body = json.dumps({"username": u.username, "password": u.password}).encode()
    inflight = httpraw.RawHTTP(s.port, timeout=T(10))
    try:
        # A login takes an Argon2id hash (~100 ms): it is in flight when SIGTERM lands.
        inflight.send(httpraw.request_bytes("POST", "/v1/auth/login",
                                            [("Content-Type", "application/json")], body))
        time.sleep(0.05)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        r = inflight.read_response(timeout=T(6))
        assert r.status == 200, r
        assert r.json()["token"]
        closed = ws.expect_close(T(6))
        assert closed.code == 1001, closed
        closed2 = idle_ws.expect_close(T(6))
        assert closed2.code == 1001, closed2
        rc = s.wait_exit(T(6))
        elapsed = time.monotonic() - t0
        s.finished = True
        assert rc == 0, (rc, s.log_tail())
        assert elapsed <= T(5), elapsed
    finally:
        for c in (ws, idle_ws, inflight):
            c.close()
    # Nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()


def test_sigint_exits_0(server_factory):
    s = server_factory()
    assert s.get("/healthz").status_code == 200
    s.stop(sig=signal.SIGINT)


def test_sigterm_with_idle_keepalive_connection_exits_promptly(server_factory):
    s = server_factory()
    with httpraw.RawHTTP(s.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("GET", "/healthz"))
        assert c.read_response().status == 200
        s.stop()
        assert s.stop_seconds <= T(5), s.stop_seconds
        assert c.wait_closed(T(2))


# -- restart / data dir ---------------------------------------------------------------

def test_restart_with_same_data_dir_keeps_users_tokens_and_admin_password(server_factory, tmp_path):
    data = tmp_path / "data"
    a = server_factory("--registration", "open", data_dir=data)
    pw_file = data / "initial-admin-password"
    pw_before = pw_file.read_bytes()
    mtime_before = pw_file.stat().st_mtime_ns
    u = a.register()
    admin_tok = a.admin_token()
    a.stop()

    b = server_factory("--registration", "open", data_dir=data)
    assert pw_file.read_bytes() == pw_before
    assert pw_file.stat().st_mtime_ns == mtime_before
    me = b.get("/v1/me", token=u.token)
    assert me.status_code == 200 and me.json()["id"] == u.id
    assert b.get("/v1/me", token=admin_tok).json()["role"] == "admin"
    assert b.login(u.username, u.password)
    assert b.login("admin", pw_before.decode().rstrip("\n"))
    r = b.post("/v1/auth/register", json={"username": u.username, "password": PASSWORD})
    assert r.status_code == 409
    # A new user gets a new id.
    v = b.register()
    assert v.id != u.id
    with WSConn(b.port, timeout=T(10)) as c:
        assert c.auth(u.token)["ok"]["user"]["id"] == u.id


def test_logout_survives_restart(server_factory, tmp_path):
    data = tmp_path / "data"
    a = server_factory("--registration", "open", data_dir=data)
    u = a.register()
    assert a.post("/v1/auth/logout", token=u.token).status_code == 204
    a.stop()
    b = server_factory(data_dir=data)
    assert b.get("/v1/me", token=u.token).status_code == 401


def test_second_server_on_same_data_dir_fails(server_factory, tmp_path):
    data = tmp_path / "data"
    a = server_factory(data_dir=data)
    b = server_factory(data_dir=data, start=False)
    b.start(wait=False)
    rc = b.wait_exit(T(15))
    b.finished = True
    assert rc is not None, "second pipitd did not exit:\n" + b.log_tail()
    assert rc != 0
    assert not any("pipitd listening on" in l for l in b.lines)
    assert b.lines, "no error message printed"
    # The first one is unaffected.
    assert a.get("/healthz").json() == {"status": "ok"}
    assert a.login("admin", a.admin_password)


# -- CLI --------------------------------------------------------------------------------

def _initialised_data_dir(server_factory, tmp_path):
    data = tmp_path / "data"
    s = server_factory(data_dir=data)
    s.stop()
    return data, s


def test_cli_user_add_and_list_then_login(server_factory, tmp_path):
    data, first = _initialised_data_dir(server_factory, tmp_path)
    p = run_cli(["user", "add", "alice", "--password-stdin", "--data-dir", data],
                input=b"alice-password\n")
    assert p.returncode == 0, p
    out = p.stdout.decode()
    assert out.startswith("created user alice (id "), out
    alice_id = int(out.split("(id ")[1].split(")")[0])

    p = run_cli(["user", "add", "bob", "--admin", "--password-stdin", "--data-dir", data],
                input=b"bob-password-123\n")
    assert p.returncode == 0, p
    bob_id = int(p.stdout.decode().split("(id ")[1].split(")")[0])
    assert bob_id != alice_id

    p = run_cli(["user", "list", "--data-dir", data])
    assert p.returncode == 0, p
    rows = [l.split("\t") for l in p.stdout.decode().splitlines() if l.strip()]
    assert all(len(r) == 3 for r in rows), rows
    table = {r[1]: (int(r[0]), r[2]) for r in rows}
    assert table["admin"][1] == "admin"
    assert table["alice"] == (alice_id, "user")
    assert table["bob"] == (bob_id, "admin")

    s = server_factory(data_dir=data)
    tok = s.login("alice", "alice-password")
    me = s.get("/v1/me", token=tok).json()
    assert me["id"] == alice_id and me["role"] == "user"
    btok = s.login("bob", "bob-password-123")
    assert s.get("/v1/me", token=btok).json()["role"] == "admin"
    r = s.post("/v1/admin/users", token=btok, json={"username": unique(), "password": PASSWORD})
    assert r.status_code == 201
    # The trailing newline from stdin is not part of the password.
    assert s.post("/v1/auth/login", json={"username": "alice",
                                          "password": "alice-password\n"}).status_code == 401


def test_cli_user_add_errors(server_factory, tmp_path):
    data, _ = _initialised_data_dir(server_factory, tmp_path)
    p = run_cli(["user", "add", "admin", "--password-stdin", "--data-dir", data], input=b"whatever-pass\n")
    assert p.returncode == 1, p
    assert (p.stderr + p.stdout).strip(), "no message"
    p = run_cli(["user", "add", "bad name", "--password-stdin", "--data-dir", data], input=b"whatever-pass\n")
    assert p.returncode == 1, p
    assert (p.stderr + p.stdout).strip()
    p = run_cli(["user", "add", "../x", "--password-stdin", "--data-dir", data], input=b"whatever-pass\n")
    assert p.returncode == 1, p
    p = run_cli(["user", "list", "--data-dir", data])
    names = [l.split("\t")[1] for l in p.stdout.decode().splitlines() if l.strip()]
    assert names == ["admin"], names


def test_cli_usage_errors_exit_nonzero(tmp_path):
    for args in (["bogus-command"], ["user", "frobnicate", "--data-dir", tmp_path],
                 ["user", "add", "--password-stdin", "--data-dir", tmp_path]):
        p = run_cli(args, input=b"")
        assert p.returncode != 0, (args, p)


# -- pipitd flags and config --------------------------------------------------------------

def test_version_help_and_config_docs():
    p = run_pipitd(["--version"])
    assert p.returncode == 0 and p.stdout.strip(), p
    p = run_pipitd(["--help"])
    assert p.returncode == 0 and b"--config" in p.stdout + p.stderr, p
    p = run_pipitd(["--print-config-docs"])
    assert p.returncode == 0, p
    docs = p.stdout.decode()
    for key in ("listen", "data_dir", "workers", "registration", "tls_cert", "tls_key",
                "allowed_origins", "web_root", "log_level", "sqlite_synchronous", "token_ttl",
                "max_header_count", "max_header_size", "max_url_length", "max_body_size",
                "header_timeout", "idle_timeout", "ws_max_message_size", "ws_send_queue_max",
                "ws_auth_timeout", "ws_ping_interval", "ws_pong_timeout", "login_free_attempts",
                "login_max_delay", "reader_threads", "shutdown_timeout"):
        assert key in docs, key


def test_test_config_good_file(tmp_path):
    cfg = tmp_path / "good.conf"
    cfg.write_text("# comment\nlisten = 127.0.0.1:0\nregistration = open\n"
                   "data_dir = %s\ntoken_ttl = 2h\nmax_body_size = 2m\n"
                   "ws_ping_interval = 500ms\nallowed_origins = https://a.example,https://b.example\n"
                   % (tmp_path / "d"))
    p = run_pipitd(["--test-config", "--config", cfg], cwd=tmp_path)
    assert p.returncode == 0, p
    assert b"configuration ok" in p.stdout + p.stderr
    # --test-config does not start a server.
    assert b"listening on" not in p.stdout + p.stderr


def test_test_config_without_file_uses_defaults(tmp_path):
    p = run_pipitd(["--test-config"], cwd=tmp_path)
    assert p.returncode == 0, p
    assert b"configuration ok" in p.stdout + p.stderr


@pytest.mark.parametrize("content,key", [
    ("no_such_key = 1\n", "no_such_key"),
    ("registration = maybe\n", "registration"),
    ("workers = many\n", "workers"),
    ("listen = nonsense\n", "listen"),
    ("listen = 127.0.0.1:99999\n", "listen"),
    ("log_level = loud\n", "log_level"),
    ("token_ttl = 5 parsecs\n", "token_ttl"),
    ("max_body_size = huge\n", "max_body_size"),
    ("sqlite_synchronous = sometimes\n", "sqlite_synchronous"),
    ("ws_ping_interval = -1s\n", "ws_ping_interval"),
    ("this line has no equals sign\n", None),
], ids=lambda x: repr(x)[:30])
def test_test_config_bad_file(tmp_path, content, key):
    cfg = tmp_path / "bad.conf"
    cfg.write_text(content)
    p = run_pipitd(["--test-config", "--config", cfg], cwd=tmp_path)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 1, (content, p)
    assert "configuration ok" not in out
    assert out.strip(), "no error message"
    if key:
        assert key in out or key.replace("_", "-") in out, out


def test_test_config_missing_file(tmp_path):
    p = run_pipitd(["--test-config", "--config", tmp_path / "absent.conf"], cwd=tmp_path)
    assert p.returncode == 1, p
    assert (p.stdout + p.stderr).strip()


@pytest.mark.parametrize("args,key", [
    (["--registration", "maybe"], "registration"),
    (["--workers", "many"], "workers"),
    (["--log-level", "loud"], "log"),
    (["--token-ttl", "5x"], "token"),
    (["--max-body-size", "huge"], "max"),
    (["--listen", "127.0.0.1:99999"], "listen"),
    (["--no-such-flag", "1"], "no-such-flag"),
    (["--workers"], "workers"),
], ids=lambda x: repr(x)[:30])
def test_bad_flag_values_exit_1_with_message(tmp_path, args, key):
    p = run_pipitd(["--test-config"] + args, cwd=tmp_path)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 1, (args, p)
    assert "configuration ok" not in out
    assert key in out or key.replace("-", "_") in out, out
    # The server itself refuses to start with the same flags.
    p2 = run_pipitd(["--listen", "127.0.0.1:0", "--data-dir", tmp_path / "d"] + args,
                    cwd=tmp_path, timeout=T(15))
    assert p2.returncode == 1, (args, p2)
    assert b"listening on" not in p2.stdout + p2.stderr


def test_underscore_and_dash_flags_are_interchangeable(tmp_path):
    for flag in ("--max_body_size", "--max-body-size"):
        p = run_pipitd(["--test-config", flag, "2m"], cwd=tmp_path)
        assert p.returncode == 0, (flag, p)


def test_config_file_values_apply_and_flags_override_them(server_factory, tmp_path):
    cfg = tmp_path / "pipit.conf"
    cfg.write_text(
        "# the file asks for port 1 and open registration; flags override both\n"
        "listen = 127.0.0.1:1\n"
        "registration = open\n"
        "max_url_length = 1k\n"
        "ws_max_message_size = 2k\n")
    s = server_factory("--registration", "closed", config_file=cfg)
    assert s.port != 1
    r = s.post("/v1/auth/register", json={"username": unique(), "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "registration_closed"
    # File-only value applies (the default would be 8k).
    big = httpraw.one_request(s.port, "GET", "/healthz?" + "a" * 2000)
    assert big.status == 414
    ok = httpraw.one_request(s.port, "GET", "/healthz?" + "a" * 100)
    assert ok.status == 200


def test_config_file_alone_configures_server(server_factory, tmp_path):
    data = tmp_path / "cfgdata"
    web = tmp_path / "cfgweb"
    web.mkdir()
    (web / "index.html").write_text("from config\n")
    cfg = tmp_path / "pipit.conf"
    cfg.write_text("listen = 127.0.0.1:0\ndata_dir = %s\nweb_root = %s\nregistration = open\n"
                   "workers = 1\nlog_level = debug\n" % (data, web))
    s = server_factory(config_file=cfg, base_flags=False, data_dir=data, web_root=web)
    assert (data / "initial-admin-password").exists()
    assert s.get("/").text == "from config\n"
    assert s.post("/v1/auth/register", json={"username": unique(), "password": PASSWORD}).status_code == 201


def test_cli_user_passwd_resets_a_password(server_factory, tmp_path):
    data, first = _initialised_data_dir(server_factory, tmp_path)
    p = run_cli(["user", "passwd", "admin", "--password-stdin", "--data-dir", data],
                input=b"brand-new-admin-pass\n")
    assert p.returncode == 0, p
    p = run_cli(["user", "passwd", "nobody", "--password-stdin", "--data-dir", data],
                input=b"brand-new-admin-pass\n")
    assert p.returncode == 1, p
    p = run_cli(["user", "passwd", "admin", "--password-stdin", "--data-dir", data],
                input=b"short\n")
    assert p.returncode == 1, p
    s = server_factory(data_dir=data)
    assert s.post("/v1/auth/login", json={"username": "admin",
                                          "password": first.admin_password}).status_code == 401
    tok = s.login("admin", "brand-new-admin-pass")
    assert s.get("/v1/me", token=tok).json()["role"] == "admin"
