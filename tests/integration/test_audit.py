"""The audit log (issue 6): what is recorded, the admin routes, and tamper evidence.

Checked here: a record (time, actor, ip, action, target, outcome) for logins that
succeed and fail, logouts, registrations, every audited admin action, refusals
included, API keys as actors, the CLI, and the server's start and stop; that a
change whose record cannot be written does not happen; GET /v1/admin/audit with its
filters, paging and bad input; the chain's hashes recomputed here from the documented
format; checkpoints (every 100 records, on the timer, at stop); and `pipit audit
verify` and GET /v1/admin/audit/verify finding a changed record, a deleted one, two
swapped, a truncated log, a forged checkpoint, a rewritten chain and a foreign key.
"""

import hashlib
import shutil
import sqlite3
import struct
import time

import pytest

from chatlib import api, create_group, expect, now_ms
from conftest import PASSWORD, T, error_code, poll_until, run_cli, unique

RECORD_FIELDS = {"id", "ts", "actor", "actor_name", "ip", "action", "target", "outcome",
                 "detail", "hash"}


# -- helpers ------------------------------------------------------------------------------

def records(srv, token=None, **params):
    r = srv.get("/v1/admin/audit", token=token or srv.admin_token(), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def all_records(srv, **params):
    """Every record matching params, newest first, through the pages."""
    out, before = [], None
    while True:
        p = dict(params, limit=200)
        if before is not None:
            p["before"] = before
        page = records(srv, **p)
        out += page["records"]
        if page["next"] is None:
            return out
        before = page["next"]


def newest(srv, action, **match):
    """The newest record of `action` whose fields match."""
    for rec in all_records(srv, action=action):
        if all(rec.get(k) == v for k, v in match.items()):
            return rec
    raise AssertionError("no %s record matching %r" % (action, match))


def verify_rest(srv):
    r = srv.get("/v1/admin/audit/verify", token=srv.admin_token())
    assert r.status_code == 200, r.text
    return r.json()


def verify_cli(data_dir, *extra):
    p = run_cli(["audit", "verify", "--data-dir", data_dir] + list(extra))
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def db(data_dir):
    c = sqlite3.connect(str(data_dir / "pipit.db"), timeout=10, isolation_level=None)
    return c


def drop_guards(c):
    for t in ("audit_log_no_update", "audit_log_no_delete", "audit_checkpoints_no_update",
              "audit_checkpoints_no_delete"):
        c.execute("DROP TRIGGER IF EXISTS " + t)


# The documented record hash (docs/operations.md, "Audit log"): SHA-256 over the domain
# "pipit-audit-v1" with its NUL, the previous hash, id, ts and app_id as 8-byte
# big-endian integers, then each text as a presence byte and, when present, its
# 8-byte length and bytes.
def record_hash(row, prev):
    rid, ts, app_id, actor, actor_name, ip, action, target, outcome, detail = row
    h = hashlib.sha256(b"pipit-audit-v1\0" + prev + struct.pack(">qqq", rid, ts, app_id))
    for t in (actor, actor_name, ip, action, target, outcome, detail):
        if t is None:
            h.update(b"\0")
        else:
            b = t.encode()
            h.update(b"\1" + struct.pack(">q", len(b)) + b)
    return h.digest()


COLS = "id, ts, app_id, actor, actor_name, ip, action, target, outcome, detail"


def rechain(c, start=1):
    """Recomputes every hash from record `start` on, as a forger with SQL access would."""
    prev = bytes(32)
    if start > 1:
        prev = c.execute("SELECT hash FROM audit_log WHERE id = ?", (start - 1,)).fetchone()[0]
    for row in c.execute("SELECT %s FROM audit_log WHERE id >= ? ORDER BY id" % COLS,
                         (start,)).fetchall():
        h = record_hash(row, prev)
        c.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", (prev, h, row[0]))
        prev = h


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


def admin_key(srv, scopes=("admin",)):
    r = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                 json={"name": unique("key"), "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return r.json()


# -- what is recorded ---------------------------------------------------------------------

def test_start_and_bootstrap_admin_are_recorded(srv):
    start = newest(srv, "server.start")
    assert start["actor"] == "system" and start["outcome"] == "ok"
    assert start["detail"]["version"] and len(start["detail"]["config"]) == 64
    first = all_records(srv)[-1]
    assert first["id"] == 1 and first["action"] == "user.create" and first["target"] == "user:1"
    assert set(first) == RECORD_FIELDS


def test_login_success_and_failures(srv):
    u = srv.new_user()
    t0 = now_ms()
    srv.login(u.username, u.password)
    r = srv.post("/v1/auth/login", json={"username": u.username, "password": "wrong-password"})
    assert r.status_code == 401
    ghost = unique("ghost")
    r = srv.post("/v1/auth/login", json={"username": ghost, "password": "wrong-password"})
    assert r.status_code == 401
    ok = newest(srv, "auth.login", target="user:%d" % u.id, outcome="ok")
    assert ok["actor"] == "user:%d" % u.id and ok["actor_name"] == u.username
    assert ok["ip"] == "127.0.0.1" and t0 - 1000 <= ok["ts"] <= now_ms() + 1000
    bad = newest(srv, "auth.login", target="user:%d" % u.id, outcome="invalid_credentials")
    assert bad["actor"] == "anonymous" and bad["detail"] is None
    unknown = newest(srv, "auth.login", actor="anonymous", target=None)
    assert unknown["detail"] == {"username": ghost}
    assert unknown["outcome"] == "invalid_credentials"
    # The password is never recorded, in any field.
    assert "wrong-password" not in str(all_records(srv))


def test_logout_and_registration(srv):
    u = srv.register()
    expect(srv.post("/v1/auth/logout", token=u.token), 204)
    reg = newest(srv, "user.register", target="user:%d" % u.id)
    assert reg["actor"] == "user:%d" % u.id
    assert reg["detail"] == {"role": "user", "username": u.username}
    out = newest(srv, "auth.logout", target="user:%d" % u.id)
    assert out["actor"] == "user:%d" % u.id and out["outcome"] == "ok"


def test_admin_actions_are_recorded_with_their_arguments(srv):
    admin = srv.admin_token()
    u = srv.create_user()
    expect(api(srv, "PATCH", "/v1/admin/users/%d" % u.id, admin, {"role": "admin"}), 200)
    expect(api(srv, "PATCH", "/v1/admin/users/%d" % u.id, admin, {"role": "user"}), 200)
    expect(srv.post("/v1/admin/users/%d/password" % u.id, token=admin,
                    json={"password": "a-brand-new-secret"}), 204)
    expect(api(srv, "DELETE", "/v1/admin/users/%d/sessions" % u.id, admin), 204)
    expect(api(srv, "PATCH", "/v1/admin/app", admin, {"max_file_size": 123456}), 200)
    expect(api(srv, "PATCH", "/v1/admin/app", admin, {"max_file_size": None}), 200)
    g = create_group(srv, admin, title="to delete")
    expect(api(srv, "DELETE", "/v1/admin/conversations/%d" % g["id"], admin), 204)

    me = "user:1"
    promote = newest(srv, "user.update", target="user:%d" % u.id, detail={"id": u.id, "role": "admin"})
    assert promote["actor"] == me and promote["actor_name"] == "admin"
    assert promote["outcome"] == "ok"
    created = newest(srv, "user.create", target="user:%d" % u.id)
    assert created["actor"] == me and created["detail"]["username"] == u.username
    reset = newest(srv, "user.password_reset", target="user:%d" % u.id)
    assert reset["actor"] == me and reset["detail"] is None
    assert "a-brand-new-secret" not in str(all_records(srv))
    assert newest(srv, "session.revoke_all", target="user:%d" % u.id)["actor"] == me
    app = newest(srv, "app.update", target="app:1", detail={"max_file_size": 123456})
    assert app["outcome"] == "ok"
    gone = newest(srv, "conv.delete", target="conv:%d" % g["id"])
    assert gone["actor"] == me


def test_refusals_are_recorded_and_change_nothing(srv):
    admin = srv.admin_token()
    r = api(srv, "PATCH", "/v1/admin/users/1", admin, {"disabled": True})
    assert r.status_code == 409
    rec = newest(srv, "user.update", target="user:1", detail={"disabled": True, "id": 1})
    assert rec["outcome"] == "conflict"
    r = api(srv, "PATCH", "/v1/admin/users/987654", admin, {"display_name": "x"})
    assert r.status_code == 404
    assert newest(srv, "user.update", target="user:987654")["outcome"] == "not_found"
    me = api(srv, "GET", "/v1/admin/users/1", admin).json()
    assert me["disabled"] is False


def test_api_keys_as_targets_and_actors(srv):
    k = admin_key(srv)
    created = newest(srv, "api_key.create", target="api_key:%d" % k["id"])
    assert created["detail"] == {"name": k["name"], "scopes": ["admin"]}
    assert k["key"] not in str(created)  # the secret is shown once, never recorded
    expect(srv.request("PUT", "/v1/push/categories/audited", token=k["key"],
                       json={"urgent": True}), 200)
    put = newest(srv, "push_category.put", target="category:audited")
    assert put["actor"] == "key:%d" % k["id"] and put["actor_name"] == k["name"]
    expect(srv.request("DELETE", "/v1/push/categories/audited", token=k["key"]), 204)
    assert newest(srv, "push_category.delete", target="category:audited")["outcome"] == "ok"
    expect(srv.request("DELETE", "/v1/admin/api-keys/%d" % k["id"], token=srv.admin_token()),
           204)
    assert newest(srv, "api_key.revoke", target="api_key:%d" % k["id"])["actor"] == "user:1"


def test_every_record_hash_matches_the_documented_format(srv):
    recs = sorted(all_records(srv), key=lambda r: r["id"])
    c = db(srv.data_dir)
    try:
        rows = c.execute("SELECT %s, prev_hash, hash FROM audit_log ORDER BY id" % COLS).fetchall()
    finally:
        c.close()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    prev = bytes(32)
    for row in rows:
        assert row[10] == prev, row[0]
        assert record_hash(row[:10], prev) == row[11], row[0]
        prev = row[11]
    by_id = {r["id"]: r for r in recs}
    assert by_id[rows[-1][0]]["hash"] == rows[-1][11].hex()


# -- the admin routes ---------------------------------------------------------------------

def test_filters_and_paging(srv):
    u = srv.new_user()
    for _ in range(3):
        srv.login(u.username, u.password)
    mine = records(srv, actor=u.username, action="auth.login")["records"]
    assert len(mine) == 3 and all(r["actor"] == "user:%d" % u.id for r in mine)
    assert records(srv, actor="user:%d" % u.id, action="auth.login")["records"] == mine
    assert len(records(srv, actor=u.username)["records"]) == 4  # and the registration
    assert records(srv, actor=unique("nobody"))["records"] == []
    logins = all_records(srv, action="auth.login")
    assert logins and all(r["action"] == "auth.login" for r in logins)
    ids = [r["id"] for r in logins]
    assert ids == sorted(ids, reverse=True)  # newest first
    t = mine[1]["ts"]
    window = records(srv, actor=u.username, action="auth.login", **{"from": t, "to": t})["records"]
    assert window and all(r["ts"] == t for r in window)
    assert records(srv, actor=u.username, **{"from": now_ms() + 60000})["records"] == []
    # Pages of 2 walk the same records as one page.
    everything = records(srv, limit=200)["records"]
    walked, before = [], None
    while True:
        params = {"limit": 2}
        if before:
            params["before"] = before
        page = records(srv, **params)
        assert len(page["records"]) <= 2
        walked += page["records"]
        if page["next"] is None:
            break
        before = page["next"]
        if len(walked) >= len(everything):
            break
    assert [r["id"] for r in walked[:len(everything)]] == [r["id"] for r in everything]


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"before": "abc"}, {"before": "-1"},
    {"from": "yesterday"}, {"to": "-5"}, {"actor": "%00"},
])
def test_bad_query_is_400(srv, params):
    query = "&".join("%s=%s" % kv for kv in params.items())
    r = srv.get("/v1/admin/audit?" + query, token=srv.admin_token())
    assert r.status_code == 400, (params, r.text)
    assert error_code(r) == "bad_request"


def test_who_may_read_the_log(srv):
    u = srv.new_user()
    for path in ("/v1/admin/audit", "/v1/admin/audit/verify"):
        assert srv.get(path).status_code == 401
        r = srv.get(path, token=u.token)
        assert r.status_code == 403 and error_code(r) == "forbidden"
        users_key = admin_key(srv, ("users",))["key"]
        assert srv.get(path, token=users_key).status_code == 403
        assert srv.get(path, token=admin_key(srv)["key"]).status_code == 200


def test_verify_on_the_untouched_log(srv):
    v = verify_rest(srv)
    assert v["ok"] is True and v["records"] >= 20 and len(v["public_key"]) == 64
    assert "problem" not in v
    rc, out = verify_cli(srv.data_dir)  # read-only, beside the running server
    assert rc == 0, out
    assert out.startswith("ok: ") and "records" in out


# -- checkpoints --------------------------------------------------------------------------

def test_a_checkpoint_every_100_records(server_factory):
    s = server_factory()
    admin = s.admin_token()
    before = verify_rest(s)["checkpoints"]
    for i in range(101):
        expect(api(s, "PATCH", "/v1/admin/app", admin, {"max_file_size": 1000 + i}), 200)
    v = verify_rest(s)
    assert v["ok"] and v["checkpoints"] >= before + 1
    c = db(s.data_dir)
    try:
        ids = [r[0] for r in c.execute("SELECT record_id FROM audit_checkpoints")]
    finally:
        c.close()
    assert 100 in ids


def test_checkpoint_on_the_timer_and_at_stop(server_factory):
    s = server_factory("--audit-checkpoint-interval", "1s")
    s.admin_token()
    last = lambda: db(s.data_dir).execute(  # noqa: E731
        "SELECT max(record_id) FROM audit_checkpoints").fetchone()[0]
    newest_id = lambda: db(s.data_dir).execute(  # noqa: E731
        "SELECT max(id) FROM audit_log").fetchone()[0]
    poll_until(lambda: last() == newest_id(), T(10), what="a checkpoint of the newest record")
    s.stop()
    assert last() == newest_id()
    c = db(s.data_dir)
    try:
        assert c.execute("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()[0] \
            == "server.stop"
    finally:
        c.close()


# -- when the record cannot be written ----------------------------------------------------

def test_no_record_no_change(server_factory):
    s = server_factory()
    admin = s.admin_token()
    u = s.new_user()
    c = db(s.data_dir)
    c.execute("CREATE TRIGGER audit_blocked BEFORE INSERT ON audit_log "
              "BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END")
    try:
        r = api(s, "PATCH", "/v1/admin/users/%d" % u.id, admin, {"display_name": "Changed"})
        assert r.status_code == 500, r.text
        assert "audit" in r.json()["error"]["message"]
        r = s.post("/v1/auth/login", json={"username": u.username, "password": u.password})
        assert r.status_code == 500, r.text
        r = api(s, "POST", "/v1/admin/api-keys", admin, {"name": "x", "scopes": ["push"]})
        assert r.status_code == 500
    finally:
        c.execute("DROP TRIGGER audit_blocked")
        c.close()
    got = expect(api(s, "GET", "/v1/admin/users/%d" % u.id, admin), 200)
    assert got["display_name"] is None
    keys = expect(api(s, "GET", "/v1/admin/api-keys", admin), 200)
    assert all(k["name"] != "x" for k in keys["keys"])
    # Working again, and the log is whole.
    expect(api(s, "PATCH", "/v1/admin/users/%d" % u.id, admin, {"display_name": "Changed"}), 200)
    assert verify_rest(s)["ok"]


def test_sql_cannot_change_or_delete_records(srv):
    c = db(srv.data_dir)
    try:
        for stmt in ("UPDATE audit_log SET outcome = 'ok' WHERE id = 1",
                     "DELETE FROM audit_log WHERE id = 1",
                     "UPDATE audit_log SET id = id + 1000 WHERE id = 2"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                c.execute(stmt)
    finally:
        c.close()


# -- tampering ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stopped_dir(module_server_factory, tmp_path_factory):
    """A data dir with a few hundred records and checkpoints, its server stopped."""
    s = module_server_factory()
    admin = s.admin_token()
    for i in range(230):
        expect(api(s, "PATCH", "/v1/admin/app", admin, {"max_file_size": 5000 + i}), 200)
    s.stop()
    rc, out = verify_cli(s.data_dir)
    assert rc == 0, out
    return s.data_dir


@pytest.fixture
def copy(stopped_dir, tmp_path):
    d = tmp_path / "data"
    shutil.copytree(stopped_dir, d)
    c = db(d)
    drop_guards(c)
    yield d, c
    c.close()


def count(c, table="audit_log"):
    return c.execute("SELECT count(*) FROM " + table).fetchone()[0]


def broken(d, *extra):
    rc, out = verify_cli(d, *extra)
    assert rc == 1, out
    assert out.startswith("broken: "), out
    return out


@pytest.mark.parametrize("sql, found", [
    ("UPDATE audit_log SET outcome = 'forbidden' WHERE id = 50",
     "record 50 does not match its hash"),
    ("UPDATE audit_log SET ip = '10.0.0.1' WHERE id = 7", "record 7 does not match"),
    ("DELETE FROM audit_log WHERE id = 120", "record 120 is missing"),
    ("DELETE FROM audit_log WHERE id = 1", "record 1 is missing"),
    ("DELETE FROM audit_log WHERE id > 150", "ends at record 150"),
    ("UPDATE audit_checkpoints SET record_id = record_id - 1 WHERE id = 1", "bad signature"),
], ids=["changed", "changed-ip", "deleted", "deleted-first", "truncated", "forged-checkpoint"])
def test_tampering_is_found(copy, sql, found):
    d, c = copy
    c.execute(sql)
    assert found in broken(d)


def test_swapped_records(copy):
    d, c = copy
    a = c.execute("SELECT %s, prev_hash, hash FROM audit_log WHERE id = 60" % COLS).fetchone()
    b = c.execute("SELECT %s, prev_hash, hash FROM audit_log WHERE id = 61" % COLS).fetchone()
    c.execute("DELETE FROM audit_log WHERE id IN (60, 61)")
    q = "INSERT INTO audit_log (%s, prev_hash, hash) VALUES (%s)" % (COLS, ",".join("?" * 12))
    c.execute(q, (60,) + b[1:])
    c.execute(q, (61,) + a[1:])
    assert "record 60 " in broken(d)


def test_truncated_after_the_last_checkpoint(copy):
    d, c = copy
    last_cp = c.execute("SELECT max(record_id) FROM audit_checkpoints").fetchone()[0]
    newest_id = c.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    assert newest_id == last_cp  # signed at stop
    # Add unsigned records the way a later run would, then cut them off again:
    # AUTOINCREMENT's high-water mark still shows it.
    rows = c.execute("SELECT %s, prev_hash, hash FROM audit_log WHERE id = ?" % COLS,
                     (newest_id,)).fetchone()
    c.execute("INSERT INTO audit_log (%s, prev_hash, hash) VALUES (%s)"
              % (COLS, ",".join("?" * 12)), (newest_id + 1,) + rows[1:])
    c.execute("DELETE FROM audit_log WHERE id = ?", (newest_id + 1,))
    out = broken(d)
    assert "were given out" in out


def test_rewritten_chain_is_caught_by_a_checkpoint(copy):
    d, c = copy
    c.execute("UPDATE audit_log SET outcome = 'forbidden' WHERE id = 42")
    rechain(c, 42)
    assert "is not the one checkpoint" in broken(d)


def test_checkpoint_signed_by_another_key(copy):
    d, c = copy
    other = "11" * 32
    out = broken(d, "--public-key", other)
    assert "signed with another key" in out


def test_right_public_key_passes(copy, stopped_dir):
    d, c = copy
    rc, out = verify_cli(stopped_dir)
    assert rc == 0
    # The key the server logged at its first start, given explicitly.
    c2 = db(d)
    try:
        pk = c2.execute("SELECT hex(public_key) FROM audit_checkpoints LIMIT 1").fetchone()[0]
    finally:
        c2.close()
    rc, out = verify_cli(d, "--public-key", pk.lower())
    assert rc == 0, out


@pytest.mark.parametrize("bad", ["", "xyz", "11" * 31, "11" * 33])
def test_bad_public_key_argument(stopped_dir, bad):
    rc, out = verify_cli(stopped_dir, "--public-key", bad)
    assert rc == 1 and "64 hex digits" in out


def test_verify_usage_and_missing_dir(tmp_path):
    assert run_cli(["audit"]).returncode == 2
    assert run_cli(["audit", "verify"]).returncode == 2
    assert run_cli(["audit", "check", "--data-dir", str(tmp_path)]).returncode == 2
    rc, out = verify_cli(tmp_path / "nowhere")
    assert rc == 1 and "pipit:" in out


def test_rest_verify_sees_tampering_while_running(server_factory):
    s = server_factory()
    s.admin_token()
    c = db(s.data_dir)
    try:
        drop_guards(c)
        c.execute("UPDATE audit_log SET target = 'user:999' WHERE id = 1")
    finally:
        c.close()
    v = verify_rest(s)
    assert v["ok"] is False and v["record"] == 1 and "changed" in v["problem"]


# -- the CLI is an actor too ----------------------------------------------------------------

def test_cli_user_commands_are_recorded(server_factory, tmp_path):
    s = server_factory(start=False)
    s.start()
    s.stop()
    name = unique("cli")
    p = run_cli(["user", "add", name, "--password-stdin", "--data-dir", s.data_dir],
                input=(PASSWORD + "\n").encode())
    assert p.returncode == 0, p.stderr
    p = run_cli(["user", "passwd", name, "--password-stdin", "--data-dir", s.data_dir],
                input=b"another-strong-password\n")
    assert p.returncode == 0, p.stderr
    c = db(s.data_dir)
    try:
        rows = c.execute("SELECT actor, action, detail FROM audit_log WHERE actor = 'cli' "
                         "ORDER BY id").fetchall()
    finally:
        c.close()
    assert [r[1] for r in rows] == ["user.create", "user.password_reset"]
    assert name in rows[0][2] and "os_user" in rows[0][2]
    rc, out = verify_cli(s.data_dir)
    assert rc == 0, out
    s.start()
    assert verify_rest(s)["ok"]
