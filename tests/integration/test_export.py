"""Export (issue 6): `pipit export user|conv` and GET /v1/admin/export.

One server holds a world worth exporting: a user with a device, topics, tags, settings,
a push sent to them, messages in a direct and in a group conversation (one edited and
one recalled under a legal hold, so held_versions has their originals), an upload shared
in the group, a member who left; then the clock moves on three days, retention expires
the old messages and the sweep deletes what no hold keeps.

Checked here: the archive's layout (manifest.json first, every entry a 0600 regular
file whose size and SHA-256 the manifest gives, counts that match the parts' lines);
what the parts hold (texts, held versions, file bytes, expired-but-held events, members
who left) and what they never hold (password hashes, session and API key secrets); the
audit record of each export, refusals too; who may export; bad input; the temporary
archive under DATA_DIR/exports gone once sent, and after a restart.

Operations guide: docs/operations.md, "Export (eDiscovery and access requests)".
"""

import hashlib
import io
import json
import os
import sqlite3
import stat
import tarfile

import pytest

from chatlib import add_member, api, expect, remove_member, rest_history
from conftest import T, error_code, poll_until, run_cli, unique
from fileslib import share, upload_ok
from httpraw import one_request
from retentionlib import FAST, World

FILE_BYTES = b"quarterly numbers, confidential\n" * 40
USER_PARTS = {"account.json", "sessions.jsonl", "devices.jsonl", "topics.jsonl", "tags.jsonl",
              "notification_settings.jsonl", "memberships.jsonl", "messages.jsonl",
              "hidden_events.jsonl", "held_versions.jsonl", "deliveries.jsonl",
              "api_keys.jsonl", "holds.jsonl", "audit.jsonl", "files.jsonl"}
CONV_PARTS = {"conversation.json", "members.jsonl", "events.jsonl", "held_versions.jsonl",
              "holds.jsonl", "audit.jsonl", "files.jsonl"}


# -- reading an archive -----------------------------------------------------------------------

class Archive:
    """A checked export: manifest first, every entry as the manifest says, counts right."""

    def __init__(self, data):
        self.raw = data
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            members = t.getmembers()
            self.parts = {m.name: t.extractfile(m).read() for m in members if m.isreg()}
        assert members and members[0].name == "manifest.json", [m.name for m in members]
        for m in members:
            assert m.isreg() and stat.S_IMODE(m.mode) == 0o600, (m.name, m.type, oct(m.mode))
        self.manifest = json.loads(self.parts["manifest.json"])
        m = self.manifest
        assert m["format"] == "pipit-export" and m["version"] == 1, m
        assert isinstance(m["created_at"], int) and m["pipit_version"] and m["schema_version"]
        assert [e["path"] for e in m["entries"]] == [x.name for x in members[1:]]
        for e in m["entries"]:
            body = self.parts[e["path"]]
            assert (len(body), hashlib.sha256(body).hexdigest()) == (e["size"], e["sha256"]), e
        self.rows = {}
        for name, n in m["counts"].items():
            lines = self.parts[name].decode("utf-8").splitlines()
            assert len(lines) == n, (name, n, len(lines))
            self.rows[name] = [json.loads(line) for line in lines]
            assert all(isinstance(r, dict) for r in self.rows[name]), name
        jsons = {p for p in self.parts if p != "manifest.json" and not p.startswith("files/")}
        assert set(m["counts"]) == jsons, (sorted(m["counts"]), sorted(jsons))

    def texts(self, part):
        return [r["body"]["text"] for r in self.rows[part]
                if isinstance(r.get("body"), dict) and "text" in r["body"]]

    def files(self):
        """{file id: its bytes}, each through its files.jsonl line's path."""
        out = {}
        for f in self.rows["files.jsonl"]:
            body = self.parts[f["path"]]
            assert f["path"].startswith("files/%d-" % f["id"]), f
            assert len(body) == f["size"] and hashlib.sha256(body).hexdigest() == f["sha256"]
            out[f["id"]] = body
        return out


def secrets_of(db_path, user_id):
    """What must never leave: the user's password hash, and their tokens' stored halves."""
    c = sqlite3.connect(str(db_path))
    try:
        found = [c.execute("SELECT password_hash FROM users WHERE id = ?",
                           (user_id,)).fetchone()[0].encode()]
        for sel, ver in c.execute("SELECT selector, verifier_hash FROM tokens WHERE user_id = ?",
                                  (user_id,)):
            found += [bytes(sel), bytes(ver), bytes(sel).hex().encode(), bytes(ver).hex().encode()]
        for sel, ver in c.execute("SELECT selector, verifier_hash FROM api_keys"):
            found += [bytes(sel).hex().encode(), bytes(ver).hex().encode()]
        for p256dh, auth in c.execute("SELECT p256dh, auth FROM devices WHERE p256dh IS NOT NULL"):
            found += [bytes(p256dh), bytes(auth)]
    finally:
        c.close()
    return found


def assert_holds_none(archive, needles):
    for n in needles:
        assert n not in archive.raw, "found %r in the archive" % (n[:40],)


# -- the world --------------------------------------------------------------------------------

class ExportWorld(World):
    """The retention tests' world (a, b, a direct conversation, a group), and more in it."""

    def __init__(self, factory):
        super().__init__(factory)
        s = self.srv
        a = self.a
        self.c = s.create_user()
        # The push side of a: a device, topics, tags, settings, and a push sent to them.
        self.device_token = "fcm-export-%s:APA91b" % unique("tok")
        expect(api(s, "POST", "/v1/devices", a, {"platform": "fcm", "token": self.device_token}),
               201)
        for topic in ("news", "sports"):
            expect(api(s, "PUT", "/v1/me/topics/%s" % topic, a), 204)
        expect(api(s, "PUT", "/v1/users/%d/tags" % a.id, self.admin, {"plan": "gold"}), 200)
        expect(api(s, "PUT", "/v1/me/notification-settings", a,
                   {"timezone": "Europe/Berlin"}), 200)
        self.api_key = self.new_key("admin")
        self.push_key = self.new_key("push")
        self.push_id = expect(s.post("/v1/push", token=self.push_key["key"], json={
            "to": {"users": [a.id]},
            "notification": {"title": "export-push-title", "body": "hi"}}), 202)["id"]
        poll_until(lambda: self.rows("SELECT count(*) FROM deliveries WHERE user_id = ?",
                                     a.id)[0][0] > 0, T(10), what="the push's delivery")
        # The group is held, and so is a, its author.
        add_member(s, a, self.group, self.c)
        self.hold_group = self.hold(conv=self.group)
        self.send(a, self.direct, "alpha from a, direct")
        self.send(self.b, self.direct, "bravo from b, direct (not held)")
        edited = self.send(a, self.group, "charlie original wording")
        recalled = self.send(a, self.group, "delta regrettable words")
        self.send(self.b, self.group, "echo from b in the group")
        self.send(self.c, self.group, "foxtrot from c before leaving")
        self.hold_a = self.hold(user=a.id)
        assert self.edit(a, self.group, edited["seq"], "charlie better wording")[0] == "ok"
        assert self.op(a, "recall", conv=self.group, seq=recalled["seq"])[0] == "ok"
        self.file = upload_ok(s, a, FILE_BYTES, "Q3 report (final).txt")
        share(s, a, self.group, self.file)
        remove_member(s, a, self.group, self.c)
        # A crash's leftover in the spool, which the restart below removes.
        (s.data_dir / "exports" / "export-user-1-left-by-a-crash.tar").write_bytes(b"old")
        # Three days on, a retention of two: the old messages expire; the sweep deletes
        # b's direct message, which no hold keeps.
        self.age(3, sweep=FAST)
        self.keep(message_retention_days=2)
        poll_until(lambda: self.stored("bravo from b") == 0, T(15), what="the sweep")
        self.send(self.b, self.group, "golf, fresh after the expiry")

    def new_key(self, scope):
        return expect(self.srv.post("/v1/admin/api-keys", token=self.admin,
                                    json={"name": unique("key"), "scopes": [scope]}), 201)

    def cli(self, *args):
        return run_cli(["export"] + [str(a) for a in args] + ["--data-dir", self.srv.data_dir],
                       timeout=T(60))

    def rest(self, token=None, **params):
        return self.srv.get("/v1/admin/export", token=token or self.admin, params=params,
                            timeout=T(60))

    def spool(self):
        return sorted(os.listdir(self.srv.data_dir / "exports"))

    def audit(self, action, **match):
        recs = expect(api(self.srv, "GET", "/v1/admin/audit", self.admin,
                          params={"action": action, "limit": 200}), 200)["records"]
        return [r for r in recs if all(r.get(k) == v for k, v in match.items())]


@pytest.fixture(scope="module")
def world(module_server_factory):
    return ExportWorld(module_server_factory)


# -- a user ---------------------------------------------------------------------------------

def check_user_archive(w, x):
    a = w.a
    m = x.manifest
    assert m["subject"] == {"type": "user", "id": a.id, "app_id": 1, "username": a.username}
    assert set(m["counts"]) == USER_PARTS
    account = x.rows["account.json"]
    assert len(account) == 1 and account[0]["username"] == a.username
    assert "password_hash" not in account[0] and account[0]["role"] == "user"
    assert x.rows["sessions.jsonl"] and all(set(r) == {"id", "created_at", "expires_at"}
                                            for r in x.rows["sessions.jsonl"])
    assert [d["address"] for d in x.rows["devices.jsonl"]] == [w.device_token]
    assert [t["topic"] for t in x.rows["topics.jsonl"]] == ["news", "sports"]
    assert x.rows["tags.jsonl"] == [{"name": "plan", "value": "gold"}]
    assert x.rows["notification_settings.jsonl"][0]["settings"]["timezone"] == "Europe/Berlin"
    convs = {r["conv"]: r for r in x.rows["memberships.jsonl"]}
    assert set(convs) == {w.direct, w.group} and convs[w.group]["role"] == "owner"
    # Every event they sent, as stored: the edit's new wording, the recall, the expired ones.
    texts = x.texts("messages.jsonl")
    for words in ("alpha from a, direct", "charlie better wording"):
        assert words in texts, (words, texts)
    assert "delta regrettable words" not in texts  # recalled: the body is gone from the event
    assert not [t for t in texts if "from b" in t or "from c" in t]
    kinds = {r["kind"] for r in x.rows["messages.jsonl"]}
    assert {"message", "edit", "recall", "conv_created"} <= kinds, kinds
    assert all(r["sender"] == a.id for r in x.rows["messages.jsonl"])
    held = {r["change"]: r for r in x.rows["held_versions.jsonl"]}
    assert held["edit"]["body"]["text"] == "charlie original wording"
    assert held["recall"]["body"]["text"] == "delta regrettable words"
    deliveries = x.rows["deliveries.jsonl"]
    assert deliveries and deliveries[0]["push"] == w.push_id
    assert deliveries[0]["notification"]["title"] == "export-push-title"
    assert [h["id"] for h in x.rows["holds.jsonl"]] == [w.hold_a["id"]]
    assert {r["target"] for r in x.rows["audit.jsonl"]} >= {"user:%d" % a.id}
    assert x.files() == {w.file["id"]: FILE_BYTES}
    f = x.rows["files.jsonl"][0]
    assert f["name"] == "Q3 report (final).txt"
    assert f["path"] == "files/%d-Q3_report__final_.txt" % w.file["id"]
    assert_holds_none(x, secrets_of(w.srv.data_dir / "pipit.db", a.id) +
                      [a.token.encode(), a.password.encode(), w.api_key["key"].encode(),
                       w.push_key["key"].encode()])


def test_cli_exports_a_user(world, tmp_path):
    out = tmp_path / "a.tar"
    p = world.cli("user", world.a.username, "--out", out)
    assert p.returncode == 0, p
    assert p.stdout.decode().startswith("export: user %s (id %d): " % (world.a.username,
                                                                       world.a.id)), p.stdout
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert not os.path.exists(str(out) + ".tmp") and os.listdir(tmp_path) == ["a.tar"]
    check_user_archive(world, Archive(out.read_bytes()))
    rec = world.audit("export.user", actor="cli", target="user:%d" % world.a.id)
    assert rec and rec[0]["outcome"] == "ok", rec
    assert rec[0]["detail"]["username"] == world.a.username and rec[0]["detail"]["os_user"]
    # The export reads what is stored: it is in its own audit.jsonl.
    assert rec[0]["id"] in {r["id"] for r in Archive(out.read_bytes()).rows["audit.jsonl"]}


@pytest.mark.parametrize("by", ["id", "username"])
def test_rest_exports_a_user(world, by):
    who = world.a.id if by == "id" else world.a.username
    r = world.rest(user=who)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == "application/x-tar"
    assert r.headers["Content-Disposition"] == \
        'attachment; filename="pipit-export-user-%d.tar"' % world.a.id
    assert r.headers["Cache-Control"] == "no-store"
    check_user_archive(world, Archive(r.content))
    assert world.spool() == [], "the temporary archive outlived the answer"
    rec = world.audit("export.user", actor="user:1")[0]
    assert rec["target"] == "user:%d" % world.a.id and rec["outcome"] == "ok"
    assert rec["detail"] == {"user": who} and rec["ip"] == "127.0.0.1"


def test_the_spool_is_empty_before_the_first_byte_is_read(world):
    r = world.srv.get("/v1/admin/export", token=world.admin, params={"conv": world.group},
                      stream=True, timeout=T(60))
    try:
        assert r.status_code == 200
        assert world.spool() == []
    finally:
        r.close()  # the client leaves without reading the archive
    assert world.rest(user=world.b.id).status_code == 200  # and the server goes on


def test_exports_of_an_admin_name_their_keys_but_never_the_secrets(world):
    r = world.rest(user="admin")
    assert r.status_code == 200, r.text[:300]
    x = Archive(r.content)
    keys = {k["id"]: k for k in x.rows["api_keys.jsonl"]}
    assert world.api_key["id"] in keys and world.push_key["id"] in keys
    assert set(keys[world.api_key["id"]]) == {"id", "name", "scopes", "created_at",
                                              "last_used_at", "revoked_at"}
    assert_holds_none(x, secrets_of(world.srv.data_dir / "pipit.db", 1) +
                      [world.admin.encode(), world.srv.admin_password.encode(),
                       world.api_key["key"].encode(), world.push_key["key"].encode()])


# -- a conversation -------------------------------------------------------------------------

def check_group_archive(w, x):
    m = x.manifest
    assert m["subject"] == {"type": "conv", "id": w.group, "app_id": 1}
    assert set(m["counts"]) == CONV_PARTS
    conv = x.rows["conversation.json"][0]
    assert conv["id"] == w.group and conv["title"] == "team"
    assert conv["app_message_retention_days"] == 2 and conv["message_retention_days"] is None
    members = {r["user"]: r for r in x.rows["members.jsonl"]}
    assert set(members) == {w.a.id, w.b.id, w.c.id}
    assert members[w.c.id]["left_seq"] is not None and members[w.a.id]["left_seq"] is None
    assert members[w.c.id]["username"] == w.c.username
    events = x.rows["events.jsonl"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    texts = x.texts("events.jsonl")
    # Everyone's messages, the expired ones the hold keeps too, and the fresh one.
    for words in ("charlie better wording", "echo from b in the group",
                  "foxtrot from c before leaving", "golf, fresh after the expiry"):
        assert words in texts, (words, texts)
    assert not [t for t in texts if "direct" in t]
    held = sorted(r["body"]["text"] for r in x.rows["held_versions.jsonl"])
    assert held == ["charlie original wording", "delta regrettable words"]
    assert [h["id"] for h in x.rows["holds.jsonl"]] == [w.hold_group["id"]]
    assert x.files() == {w.file["id"]: FILE_BYTES}
    assert_holds_none(x, [w.a.token.encode(), w.b.token.encode(), w.c.token.encode()])


def test_conversation_export_holds_expired_but_held_events(world, tmp_path):
    # Readers no longer see the expired messages...
    seen = [e.get("body", {}).get("text") for e in
            rest_history(world.srv, world.b, world.group, limit=100)["events"]]
    assert "echo from b in the group" not in seen and "golf, fresh after the expiry" in seen
    # ...the export has them.
    r = world.rest(conv=world.group)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Disposition"] == \
        'attachment; filename="pipit-export-conv-%d.tar"' % world.group
    check_group_archive(world, Archive(r.content))
    assert world.spool() == []
    rec = world.audit("export.conv", actor="user:1")[0]
    assert rec["target"] == "conv:%d" % world.group and rec["outcome"] == "ok"

    out = tmp_path / "group.tar"
    p = world.cli("conv", world.group, "--out", out)
    assert p.returncode == 0, p
    assert p.stdout.decode().startswith("export: conversation %d: " % world.group), p.stdout
    x = Archive(out.read_bytes())
    check_group_archive(world, x)
    assert world.audit("export.conv", actor="cli", target="conv:%d" % world.group)
    assert "export.conv" in {r["action"] for r in x.rows["audit.jsonl"]}


def test_the_restart_emptied_the_spool(world):
    assert world.spool() == []
    assert stat.S_IMODE(os.stat(world.srv.data_dir / "exports").st_mode) == 0o700


# -- refusals ------------------------------------------------------------------------------

def test_unknown_subjects_are_refused_recorded_and_leave_nothing(world, tmp_path):
    name = "nobody-" + unique()
    for params, target in (({"user": name}, "user:" + name), ({"user": 999999}, "user:999999"),
                           ({"conv": 999999}, "conv:999999")):
        r = world.rest(**params)
        assert r.status_code == 404 and error_code(r) == "not_found", r.text
        action = "export.user" if "user" in params else "export.conv"
        rec = world.audit(action, target=target)
        assert rec and rec[0]["outcome"] == "not_found", (params, rec)
    assert world.spool() == []
    out = tmp_path / "none.tar"
    p = world.cli("user", name, "--out", out)
    assert p.returncode == 1 and b"no such user" in p.stderr, p
    p = world.cli("conv", "999998", "--out", out)
    assert p.returncode == 1 and b"no such conversation" in p.stderr, p
    assert os.listdir(tmp_path) == []
    rec = world.audit("export.user", actor="cli", target="user:" + name)
    assert rec and rec[0]["outcome"] == "not_found"


@pytest.mark.parametrize("query", [
    "", "?user=", "?conv=", "?conv=abc", "?conv=12x", "?conv=-1", "?conv=0", "?conv=1.5",
    "?user=1&conv=1", "?user=%zz", "?user=" + "x" * 65, "?usr=1", "?conv=%00",
])
def test_bad_queries_are_400(world, query):
    # Byte-exact: requests would "fix" a bad escape.
    r = one_request(world.srv.port, "GET", "/v1/admin/export" + query,
                    [("Authorization", "Bearer " + world.admin)], timeout=T(10))
    assert r.status == 400 and r.json()["error"]["code"] == "bad_request", (query, r.body)


def test_admins_only(world):
    assert world.srv.get("/v1/admin/export", params={"user": 1}).status_code == 401
    r = world.rest(token=world.a.token, user=world.a.id)
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = world.rest(token=world.push_key["key"], user=world.a.id)
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = world.rest(token=world.api_key["key"], conv=world.direct)
    assert r.status_code == 200 and Archive(r.content).manifest["subject"]["id"] == world.direct
    rec = world.audit("export.conv", target="conv:%d" % world.direct)[0]
    assert rec["actor"] == "key:%d" % world.api_key["id"]
    assert world.srv.request("POST", "/v1/admin/export", token=world.admin).status_code == 405


def test_cli_refuses_to_overwrite_and_bad_usage(world, tmp_path):
    out = tmp_path / "exists.tar"
    out.write_bytes(b"keep me")
    before = len(world.audit("export.user", actor="cli"))
    p = world.cli("user", world.b.username, "--out", out)
    assert p.returncode == 1 and b"exists" in p.stderr, p
    assert out.read_bytes() == b"keep me"
    assert len(world.audit("export.user", actor="cli")) == before, "recorded a refused write"
    p = world.cli("user", world.b.username, "--out", out, "--force")
    assert p.returncode == 0, p
    assert Archive(out.read_bytes()).manifest["subject"]["id"] == world.b.id
    for args in (["export"], ["export", "user"], ["export", "team", "x", "--out", out],
                 ["export", "conv", "abc", "--out", out, "--data-dir", world.srv.data_dir],
                 ["export", "user", "x", "--data-dir", world.srv.data_dir],
                 ["export", "user", "x", "--out", out, "--data-dir", world.srv.data_dir,
                  "--bogus"]):
        p = run_cli(args)
        assert p.returncode == 2, (args, p)
        assert b"usage:" in p.stderr or b"pipit: export: " in p.stderr, (args, p)
