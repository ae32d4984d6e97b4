"""Erasure of a user (issue 6): POST /v1/admin/users/{id}/erase.

The main test gives a user everything pipit can hold about someone (an account with a
display name, sessions, a device, a topic, tags, settings, messages and an edit in a
direct and a group conversation, a message recalled under a hold that was lifted, an
uploaded file shared in a message, search index entries), erases them, stops the
server, and scans every byte of the data dir for each of their identifiers and texts.
None may be found outside the documented list (docs/operations.md, "Erasure"): the
audit log, which keeps the username in the records written before the erasure. Others'
history keeps its shape: the erased messages stay as tombstones at their seqs.
"""

import json
import os
import secrets
import sqlite3

import pytest

from chatlib import Chat, api, create_direct, create_group, expect, rest_history, rest_send, text
from conftest import T, error_code, poll_until, unique
from fileslib import download, upload_ok


def tag():
    return secrets.token_hex(6)


def scan(data_dir, needle):
    """(file, count) for every file under data_dir holding needle (bytes)."""
    found = []
    for root, _, names in os.walk(data_dir):
        for n in names:
            path = os.path.join(root, n)
            with open(path, "rb") as f:
                data = f.read()
            c = data.count(needle)
            if c:
                found.append((os.path.relpath(path, data_dir), c))
    return found


def erase(srv, who, token=None, status=200):
    r = srv.request("POST", "/v1/admin/users/%s/erase" % who, token=token or srv.admin_token())
    return expect(r, status)


def edit(srv, user, conv, seq, words):
    c = Chat(srv, user)
    try:
        c.ok("edit", conv=conv, seq=seq, body=text(words))
    finally:
        c.close()


def test_erasure_leaves_nothing_of_the_user(server_factory):
    s = server_factory()
    admin = s.admin_token()
    t = tag()
    name = "eve" + t
    eve = s.create_user(username=name)
    bob = s.create_user()
    expect(api(s, "PATCH", "/v1/admin/users/%d" % eve.id, admin,
               {"display_name": "Eve Display " + t}), 200)
    device_token = "fcm-devtok%s:APA91b" % t
    expect(api(s, "POST", "/v1/devices", eve, {"platform": "fcm", "token": device_token}), 201)
    expect(s.request("PUT", "/v1/me/topics/topic%s" % t, token=eve.token), 204)
    expect(api(s, "PUT", "/v1/users/%d/tags" % eve.id, admin, {"team": "tagval" + t}), 200)
    expect(api(s, "PUT", "/v1/me/notification-settings", eve, {"timezone": "Asia/Shanghai"}), 200)
    d = create_direct(s, eve, bob.id)["id"]
    g = create_group(s, bob, [eve], title="plain room")["id"]
    texts = ["firsttext%s" % t, "secondtext%s" % t, "editedtext%s" % t, "recalledtext%s" % t,
             "中文秘密%s" % t]
    m1 = rest_send(s, eve, d, body=text(texts[0]))
    rest_send(s, bob, d, body=text("bob says hi"))
    rest_send(s, eve, g, body=text(texts[1]))
    edit(s, eve, d, m1["seq"], texts[2])
    # A hold, then a recall under it (held_versions keeps the text), then the hold lifted.
    hold = expect(api(s, "POST", "/v1/admin/holds", admin, {"user": eve.id, "reason": "r"}), 201)
    m4 = rest_send(s, eve, g, body=text(texts[3]))
    c = Chat(s, eve)
    try:
        c.ok("recall", conv=g, seq=m4["seq"])
    finally:
        c.close()
    expect(api(s, "DELETE", "/v1/admin/holds/%d" % hold["id"], admin), 200)
    rest_send(s, eve, g, body=text(texts[4]))
    file_bytes = b"FILEBYTES" + t.encode() + os.urandom(4000)
    f = upload_ok(s, eve, file_bytes, "filename%s.bin" % t)
    rest_send(s, eve, d, body={"type": "file", "file": f["id"]})
    r = api(s, "GET", "/v1/search", bob, params={"q": "firsttext%s" % t})
    assert expect(r, 200)["results"] == []  # edited away; the edited text is indexed:
    r = api(s, "GET", "/v1/search", bob, params={"q": "editedtext%s" % t})
    assert len(expect(r, 200)["results"]) == 1
    before = rest_history(s, bob, d, limit=100)["events"]

    done = erase(s, eve.id)
    assert done["user"] == eve.id and done["messages"] >= 5 and done["files"] == 1

    # What others see: the same seqs, each of eve's messages a tombstone.
    after = rest_history(s, bob, d, limit=100)["events"]
    assert [e["seq"] for e in after] == [e["seq"] for e in before]
    for e in after:
        if e["from"] == eve.id and e["ev"] == "message":
            assert e.get("erased") is True and "body" not in e, e
            assert "cmid" not in e
    assert any(e["from"] == bob.id and e["body"]["text"] == "bob says hi" for e in after)
    r = api(s, "GET", "/v1/search", bob, params={"q": "editedtext%s" % t})
    assert expect(r, 200)["results"] == []
    assert download(s, bob, f["id"]).status_code == 404
    # The account: no login, no session, a placeholder name.
    assert s.post("/v1/auth/login", json={"username": name,
                                          "password": eve.password}).status_code == 401
    assert s.get("/v1/me", token=eve.token).status_code == 401
    shown = expect(api(s, "GET", "/v1/admin/users/%d" % eve.id, admin), 200)
    assert shown["username"] == "erased-%d" % eve.id and shown["display_name"] is None
    assert shown["disabled"] is True
    rec = expect(api(s, "GET", "/v1/admin/audit", admin, params={"action": "user.erase"}),
                 200)["records"][0]
    assert rec["target"] == "user:%d" % eve.id and rec["outcome"] == "ok"

    s.stop()  # a clean stop: the WAL is folded into the database
    # The documented exception: the audit log's records (their actor_name and detail).
    c = sqlite3.connect(str(s.data_dir / "pipit.db"))
    try:
        audit = [(a or "") + "\n" + (dtl or "")
                 for a, dtl in c.execute("SELECT actor_name, detail FROM audit_log")]
    finally:
        c.close()
    needles = [name, device_token, "Eve Display " + t, "tagval" + t, "topic" + t,
               "filename" + t] + texts
    for needle in needles:
        in_audit = sum(r.count(needle) for r in audit)
        found = scan(s.data_dir, needle.encode())
        assert sum(n for _, n in found) == in_audit, (needle, found, in_audit)
    assert scan(s.data_dir, file_bytes[:64]) == []
    # What the audit log keeps is what admins did: the username and the name they set.
    assert sum(r.count(name) for r in audit) >= 1
    assert all(sum(r.count(x) for r in audit) == 0 for x in texts + [device_token])


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


def test_a_hold_refuses_erasure(srv):
    admin = srv.admin_token()
    u, other = srv.create_user(), srv.create_user()
    hold = expect(api(srv, "POST", "/v1/admin/holds", admin, {"user": u.id, "reason": "x"}), 201)
    r = srv.request("POST", "/v1/admin/users/%d/erase" % u.id, token=admin)
    assert r.status_code == 409 and "legal hold" in r.json()["error"]["message"]
    expect(api(srv, "DELETE", "/v1/admin/holds/%d" % hold["id"], admin), 200)
    # Writing in a held conversation is enough.
    g = create_group(srv, other, [u], title="held room")["id"]
    rest_send(srv, u, g, body=text("in the held room"))
    hold = expect(api(srv, "POST", "/v1/admin/holds", admin, {"conv": g, "reason": "x"}), 201)
    r = srv.request("POST", "/v1/admin/users/%d/erase" % u.id, token=admin)
    assert r.status_code == 409
    assert srv.login(u.username, u.password)  # nothing changed
    assert rest_history(srv, other, g)["events"][0]["body"]["text"] == "in the held room"
    rec = expect(api(srv, "GET", "/v1/admin/audit", admin,
                     params={"action": "user.erase"}), 200)["records"][0]
    assert rec["outcome"] == "conflict"
    expect(api(srv, "DELETE", "/v1/admin/holds/%d" % hold["id"], admin), 200)
    erase(srv, u.id)


def test_bad_erasures(srv):
    admin = srv.admin_token()
    u = srv.create_user()
    assert srv.request("POST", "/v1/admin/users/987654/erase", token=admin).status_code == 404
    assert srv.request("POST", "/v1/admin/users/x/erase", token=admin).status_code == 404
    r = srv.request("POST", "/v1/admin/users/1/erase", token=admin)
    assert r.status_code == 409 and "your own" in r.json()["error"]["message"]
    r = srv.request("POST", "/v1/admin/users/%d/erase" % u.id, token=u.token)
    assert r.status_code == 403
    assert srv.request("POST", "/v1/admin/users/%d/erase" % u.id).status_code == 401
    k = expect(api(srv, "POST", "/v1/admin/api-keys", admin,
                   {"name": unique("k"), "scopes": ["users"]}), 201)["key"]
    assert srv.request("POST", "/v1/admin/users/%d/erase" % u.id, token=k).status_code == 403
    assert srv.login(u.username, u.password)


def test_an_admin_key_may_erase_and_erasing_twice_is_harmless(srv):
    admin = srv.admin_token()
    u = srv.create_user()
    k = expect(api(srv, "POST", "/v1/admin/api-keys", admin,
                   {"name": unique("k"), "scopes": ["admin"]}), 201)
    first = erase(srv, u.id, token=k["key"])
    assert first["user"] == u.id
    again = erase(srv, u.id)
    assert again["messages"] == 0 and again["files"] == 0
    rec = expect(api(srv, "GET", "/v1/admin/audit", admin,
                     params={"action": "user.erase", "actor": "key:%d" % k["id"]}),
                 200)["records"]
    assert len(rec) == 1
