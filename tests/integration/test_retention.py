"""Retention and legal hold (issue 6).

Time: pipitd's wall clock is shifted with PIPIT_CLOCK_OFFSET_MS, and a restart moves it
forward (the data persists), so messages sent before it are days old after it. Offsets
only grow, so the users' tokens (30 days) stay valid.

Checked here: expired messages are never served (history, sync with its explicit gap,
search, the conversation list, edits and recalls of them, their files) even before the
sweep runs; a conversation's own retention overrides the app's either way; the sweep
deletes expired messages with their edits, search entries and file shares, and the files
go; a legal hold on a user or on a conversation keeps everything it covers from the
sweep and from deletion, keeps what edits and recalls replace, and lifting it lets the
sweep go on; every change is audited; bad input gets a clear 4xx and changes nothing.
"""

import sqlite3

import pytest

from chatlib import Chat, api, expect, rest_history, rest_send
from conftest import T, error_code, poll_until, unique
from fileslib import download, upload_ok
from retentionlib import FAST, SLOW, World


# -- expired messages are never served --------------------------------------------------------

def test_expired_messages_are_never_served_before_the_sweep(server_factory):
    w = World(server_factory)
    old = w.send(w.a, w.direct, "alpha old news")
    assert w.edit(w.a, w.direct, old["seq"], "alpha old news, edited")[0] == "ok"
    w.send(w.b, w.direct, "beta old reply")
    w.age(3)
    settings = w.keep(message_retention_days=2)
    assert settings["message_retention_days"] == 2 and settings["file_retention_days"] is None
    fresh = w.send(w.a, w.direct, "gamma fresh")

    assert w.texts(w.b, w.direct) == ["gamma fresh"]
    assert w.search(w.b, "alpha") == [] and w.search(w.b, "beta") == []
    assert w.search(w.b, "gamma") == ["gamma fresh"]
    conv = expect(api(w.srv, "GET", "/v1/conversations/%d" % w.direct, w.b), 200)
    assert conv["last_message"]["seq"] == fresh["seq"] and conv["unread"] == 1
    # The edit and the messages are unreachable, for changes too.
    assert w.edit(w.a, w.direct, old["seq"], "again") == ("error", "not_found")
    assert w.op(w.a, "recall", conv=w.direct, seq=old["seq"]) == ("error", "not_found")
    # Sync from the start: the expired range is an explicit gap.
    c = Chat(w.srv, w.b)
    try:
        entry = [e for e in c.ok("sync", convs={str(w.direct): 0})["convs"]
                 if e["conv"]["id"] == w.direct][0]
    finally:
        c.close()
    assert entry["gap"] == {"from": 1, "to": fresh["seq"] - 1}, entry
    assert [e["seq"] for e in entry["events"]] == [fresh["seq"]]
    # Nothing was deleted yet: the sweep has not run.
    assert w.stored("alpha old news") == 2


def test_a_conversations_own_retention_overrides_the_apps(server_factory):
    w = World(server_factory)
    w.send(w.a, w.direct, "direct old")
    w.send(w.a, w.group, "group old")
    w.age(5)
    w.keep(message_retention_days=3)
    assert w.texts(w.b, w.direct) == [] and w.texts(w.b, w.group) == []
    # Longer for the group: its old message is back (still stored).
    got = w.keep_conv(w.group, message_retention_days=10)
    assert got == {"id": w.group, "message_retention_days": 10, "file_retention_days": None}
    assert w.texts(w.b, w.group) == ["group old"]
    shown = expect(api(w.srv, "GET", "/v1/admin/conversations/%d" % w.group, w.admin), 200)
    assert shown["message_retention_days"] == 10
    # Shorter than the app's, with the app keeping everything.
    w.keep(message_retention_days=None)
    w.keep_conv(w.group, message_retention_days=4)
    assert w.texts(w.b, w.direct) == ["direct old"] and w.texts(w.b, w.group) == []
    w.keep_conv(w.group, message_retention_days=None)
    assert w.texts(w.b, w.group) == ["group old"]


def test_file_retention_hides_shared_files(server_factory):
    w = World(server_factory)
    f = upload_ok(w.srv, w.a, b"old report bytes " * 100, "report.txt")
    rest_send(w.srv, w.a, w.direct, body={"type": "file", "file": f["id"]})
    assert download(w.srv, w.b, f["id"]).status_code == 200
    w.age(3)
    w.keep(file_retention_days=2)
    assert download(w.srv, w.b, f["id"]).status_code == 404
    assert download(w.srv, w.a, f["id"]).status_code == 404  # the owner's too
    # The message stays (no message retention): only its file expired.
    events = rest_history(w.srv, w.b, w.direct)["events"]
    assert any(e.get("body", {}).get("file") == f["id"] for e in events)
    w.keep(file_retention_days=None)
    assert download(w.srv, w.b, f["id"]).status_code == 200


# -- the sweep --------------------------------------------------------------------------------

def test_the_sweep_deletes_messages_edits_search_entries_and_files(server_factory):
    w = World(server_factory, SLOW, "--file-unshared-ttl", "1s")
    old = w.send(w.a, w.direct, "alpha to be swept")
    assert w.edit(w.a, w.direct, old["seq"], "alpha to be swept, edited")[0] == "ok"
    f = upload_ok(w.srv, w.a, b"attachment " * 300, "a.txt")
    rest_send(w.srv, w.a, w.direct, body={"type": "file", "file": f["id"]})
    w.send(w.a, w.group, "group kept")
    w.age(3, sweep=FAST)
    w.keep_conv(w.direct, message_retention_days=2)
    poll_until(lambda: w.stored("alpha to be swept") == 0, T(10), what="the sweep")
    assert w.rows("SELECT count(*) FROM events WHERE conv_id = ? AND target IS NOT NULL",
                  w.direct)[0][0] == 0
    assert w.rows("SELECT count(*) FROM file_shares WHERE conv_id = ?", w.direct)[0][0] == 0
    # Gone for real: with the retention lifted, nothing comes back, in search neither.
    w.keep_conv(w.direct, message_retention_days=None)
    assert w.texts(w.b, w.direct) == []
    assert w.search(w.a, "alpha") == []
    # The file nobody shares any more is swept by the files sweep.
    poll_until(lambda: download(w.srv, w.a, f["id"]).status_code == 404, T(15),
               what="the unshared file to be swept")
    # The group had no retention: untouched.
    assert w.texts(w.b, w.group) == ["group kept"]
    # The sweep's new floor: it starts after what it examined.
    assert w.rows("SELECT expired_seq FROM conversations WHERE id = ?", w.direct)[0][0] >= 2


def test_the_sweep_keeps_what_is_not_expired(server_factory):
    w = World(server_factory)
    w.send(w.a, w.direct, "old one")
    w.age(3, sweep=FAST)
    w.send(w.a, w.direct, "new one")
    w.keep(message_retention_days=2)
    poll_until(lambda: w.stored("old one") == 0, T(10), what="the sweep")
    assert w.texts(w.b, w.direct) == ["new one"]
    assert w.stored("new one") == 1


# -- legal hold ------------------------------------------------------------------------------

def test_holds_keep_messages_from_the_sweep_until_lifted(server_factory):
    w = World(server_factory)
    w.send(w.a, w.direct, "held author's words")
    w.send(w.b, w.direct, "free author's words")
    w.send(w.b, w.group, "held room's words")
    user_hold = w.hold(user=w.a.username)
    conv_hold = w.hold(conv=w.group)
    assert user_hold["user"] == w.a.id and user_hold["conv"] is None and user_hold["active"]
    assert conv_hold["conv"] == w.group and conv_hold["created_by"] == "user:1"
    w.age(3, sweep=FAST)
    w.keep(message_retention_days=2)
    # One pass sees every conversation: the one that deleted the free words passed the others.
    poll_until(lambda: w.stored("free author's words") == 0, T(10), what="the sweep")
    assert w.stored("held author's words") == 1
    assert w.stored("held room's words") == 1
    # Still expired for readers.
    assert w.texts(w.b, w.direct) == [] and w.texts(w.b, w.group) == []
    # A held conversation cannot be deleted.
    r = api(w.srv, "DELETE", "/v1/admin/conversations/%d" % w.group, w.admin)
    assert r.status_code == 409 and "legal hold" in r.json()["error"]["message"]
    # Lifting lets the sweep go on.
    lifted = w.lift(user_hold["id"])
    assert lifted["active"] is False and lifted["lifted_by"] == "user:1"
    assert lifted["reason"] == "case 2026-17"
    poll_until(lambda: w.stored("held author's words") == 0, T(10), what="the sweep after lift")
    assert w.stored("held room's words") == 1
    w.lift(conv_hold["id"])
    poll_until(lambda: w.stored("held room's words") == 0, T(10), what="the sweep after lift")
    expect(api(w.srv, "DELETE", "/v1/admin/conversations/%d" % w.group, w.admin), 204)
    holds = expect(api(w.srv, "GET", "/v1/admin/holds", w.admin), 200)
    assert [h["id"] for h in holds["holds"]] == [conv_hold["id"], user_hold["id"]]
    assert all(not h["active"] for h in holds["holds"]) and holds["next"] is None


def test_a_hold_keeps_what_edits_and_recalls_replace(server_factory):
    w = World(server_factory)
    first = w.send(w.a, w.direct, "original wording")
    second = w.send(w.a, w.direct, "regrettable words")
    unheld = w.send(w.b, w.direct, "b's own words")
    w.hold(user=w.a.id)
    assert w.edit(w.a, w.direct, first["seq"], "better wording")[0] == "ok"
    assert w.op(w.a, "recall", conv=w.direct, seq=second["seq"])[0] == "ok"
    assert w.edit(w.b, w.direct, unheld["seq"], "b changed")[0] == "ok"
    # Members see the changes...
    assert w.texts(w.b, w.direct) == ["better wording", "b changed"]
    # ...and the originals are kept for eDiscovery (b was not under hold).
    kept = w.rows("SELECT seq, change, pipit_unseal(body, conv_id, -seq) FROM held_versions "
                  "WHERE conv_id = ? ORDER BY id",
                  w.direct)
    assert [(s, ch) for s, ch, _ in kept] == [(first["seq"], "edit"), (second["seq"], "recall")]
    assert "original wording" in kept[0][2] and "regrettable words" in kept[1][2]


def test_nothing_held_can_be_deleted_through_sql(server_factory):
    w = World(server_factory)
    w.send(w.a, w.direct, "evidence")
    w.hold(conv=w.direct)
    c = w.db()
    try:
        with pytest.raises(sqlite3.DatabaseError, match="legal hold"):
            c.execute("DELETE FROM events WHERE conv_id = ?", (w.direct,))
    finally:
        c.close()
    assert w.stored("evidence") == 1


def test_changes_are_audited(server_factory):
    w = World(server_factory)
    w.keep(message_retention_days=30)
    w.keep_conv(w.group, file_retention_days=7)
    h = w.hold(user=w.b.id, reason="subpoena 12")
    w.lift(h["id"])
    recs = expect(api(w.srv, "GET", "/v1/admin/audit", w.admin, params={"limit": 20}),
                  200)["records"]
    by_action = {}
    for r in recs:
        by_action.setdefault(r["action"], r)
    assert by_action["app.update"]["detail"] == {"message_retention_days": 30}
    assert by_action["conv.update"]["target"] == "conv:%d" % w.group
    assert by_action["conv.update"]["detail"]["file_retention_days"] == 7
    assert by_action["hold.create"]["target"] == "hold:%d" % h["id"]
    assert by_action["hold.create"]["detail"]["reason"] == "subpoena 12"
    assert by_action["hold.lift"]["target"] == "hold:%d" % h["id"]
    assert by_action["hold.lift"]["outcome"] == "ok"


# -- bad input ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(module_server_factory):
    class F:
        pass
    f = F()
    f.new = lambda *a, **kw: module_server_factory.new(*a, **kw)
    return World(f)


@pytest.mark.parametrize("settings", [
    {"message_retention_days": 0}, {"message_retention_days": 36501},
    {"message_retention_days": "7"}, {"file_retention_days": 1.5},
    {"file_retention_days": -1}, {"message_retention_days": True},
])
def test_bad_retention_is_400_and_changes_nothing(world, settings):
    before = expect(api(world.srv, "GET", "/v1/admin/app", world.admin), 200)
    r = api(world.srv, "PATCH", "/v1/admin/app", world.admin, dict(settings, max_file_size=999))
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    r = api(world.srv, "PATCH", "/v1/admin/conversations/%d" % world.group, world.admin, settings)
    assert r.status_code == 400, r.text
    assert expect(api(world.srv, "GET", "/v1/admin/app", world.admin), 200) == before


def test_conversation_retention_bad_targets(world):
    r = api(world.srv, "PATCH", "/v1/admin/conversations/999999", world.admin,
            {"message_retention_days": 3})
    assert r.status_code == 404
    r = api(world.srv, "PATCH", "/v1/admin/conversations/%d" % world.group, world.admin, {})
    assert r.status_code == 400 and "nothing to change" in r.json()["error"]["message"]
    r = api(world.srv, "PATCH", "/v1/admin/conversations/%d" % world.group, world.a,
            {"message_retention_days": 3})
    assert r.status_code == 403


@pytest.mark.parametrize("body, status", [
    ({"reason": "x"}, 400),                                  # no target
    ({"user": 1, "conv": 1, "reason": "x"}, 400),            # both
    ({"user": "nobody-" + unique(), "reason": "x"}, 404),    # unknown user
    ({"user": 999999, "reason": "x"}, 404),
    ({"conv": 999999, "reason": "x"}, 404),                  # unknown conversation
    ({"conv": "1", "reason": "x"}, 400),
    ({"user": 1}, 400),                                      # no reason
    ({"user": 1, "reason": ""}, 400),
    ({"user": 1, "reason": "r" * 1001}, 400),
    ({"user": 1, "reason": 5}, 400),
    ({"user": [1], "reason": "x"}, 400),
])
def test_bad_holds(world, body, status):
    before = expect(api(world.srv, "GET", "/v1/admin/holds", world.admin), 200)["holds"]
    r = api(world.srv, "POST", "/v1/admin/holds", world.admin, body)
    assert r.status_code == status, (body, r.text)
    assert expect(api(world.srv, "GET", "/v1/admin/holds", world.admin), 200)["holds"] == before


def test_overlapping_holds_and_lifting_twice(world):
    h = world.hold(conv=world.direct)
    r = api(world.srv, "POST", "/v1/admin/holds", world.admin,
            {"conv": world.direct, "reason": "another case"})
    assert r.status_code == 409 and "already under a legal hold" in r.json()["error"]["message"]
    world.lift(h["id"])
    world.lift(h["id"], status=409)
    world.lift(999999, status=404)
    again = world.hold(conv=world.direct)  # a new hold after the lift is fine
    world.lift(again["id"])


def test_holds_are_for_admins(world):
    for method, path, body in (("POST", "/v1/admin/holds", {"user": 1, "reason": "x"}),
                               ("GET", "/v1/admin/holds", None),
                               ("DELETE", "/v1/admin/holds/1", None)):
        assert api(world.srv, method, path, world.a, body).status_code == 403
        assert world.srv.request(method, path, json=body).status_code == 401
