"""The content filter: word lists per app, loaded from files and reloaded when they
change; reject (content_blocked), mask (***) or flag for review, over message text
and group titles, Chinese included."""

import time

import pytest

from conftest import T, error_code, poll_until
from wsraw import WSConn


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    d = tmp_path_factory.mktemp("filters")
    (d / "rude.mask.txt").write_text("# hidden words\nfuck\n傻逼\n")
    (d / "banned.reject.txt").write_text("forbidden phrase\n法轮\n")
    (d / "review.flag.txt").write_text("lottery\n")
    (d / "1").mkdir()
    (d / "1" / "acme.reject.txt").write_text("project falcon\n")
    (d / "README").write_text("not a list\n")
    return d


@pytest.fixture(scope="module")
def srv(module_server_factory, lists):
    return module_server_factory("--content-filter-dir", str(lists),
                                 "--content-filter-reload", "200ms")


@pytest.fixture(scope="module")
def pair(srv):
    alice, bob = srv.create_user(), srv.create_user()
    r = srv.post("/v1/conversations", token=alice.token, json={"type": "direct", "peer": bob.id})
    return alice, bob, r.json()["id"]


def send(srv, user, conv, text, cmid=None):
    return srv.post("/v1/conversations/%d/messages" % conv, token=user.token,
                    json={"cmid": cmid or "c%f" % time.time(), "body": {"type": "text",
                                                                       "text": text}})


def history_texts(srv, user, conv):
    r = srv.get("/v1/conversations/%d/messages" % conv, token=user.token)
    return [e["body"]["text"] for e in r.json()["events"] if (e.get("body") or {}).get("text")]


def test_masked_words_never_reach_the_store(srv, pair):
    alice, bob, conv = pair
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(bob.token)
        r = send(srv, alice, conv, "what the F.u.c.k, 你是傻 逼")
        assert r.status_code == 201, r.text
        ev = ws.recv_json(timeout=T(5))
        while ev.get("ev") != "message":
            ev = ws.recv_json(timeout=T(5))
        assert ev["body"]["text"] == "what the ***, 你是***"
    assert "what the ***, 你是***" in history_texts(srv, bob, conv)
    # A word inside a longer word is left alone.
    assert send(srv, alice, conv, "fuckingham palace").status_code == 201
    assert "fuckingham palace" in history_texts(srv, bob, conv)


def test_rejected_text_is_refused_and_stores_nothing(srv, pair):
    alice, bob, conv = pair
    r = send(srv, alice, conv, "this is a FORBIDDEN   phrase!")
    assert r.status_code == 400 and error_code(r) == "content_blocked"
    with WSConn(srv.port, timeout=T(10)) as ws:
        assert "ok" in ws.auth(alice.token)
        a = ws.request("send", conv=conv, cmid="ws-bad", body={"type": "text", "text": "法 轮 功"})
        assert a["error"]["code"] == "content_blocked", a
        # Edits are held to the same lists.
        ok = ws.request("send", conv=conv, cmid="ws-good", body={"type": "text", "text": "fine"})
        seq = ok["ok"]["seq"]
        a = ws.request("edit", conv=conv, seq=seq, body={"type": "text", "text": "forbidden phrase"})
        assert a["error"]["code"] == "content_blocked", a
        a = ws.request("edit", conv=conv, seq=seq, body={"type": "text", "text": "fuck"})
        assert "ok" in a, a
    texts = history_texts(srv, bob, conv)
    assert "fine" not in texts and "***" in texts, texts  # the edit took
    assert not any("forbidden" in t.lower() or "法" in t for t in texts), texts


def test_flagged_text_is_kept_and_listed_for_admins(srv, pair):
    alice, bob, conv = pair
    r = send(srv, alice, conv, "you won the Lottery")
    assert r.status_code == 201
    seq = r.json()["seq"]
    assert "you won the Lottery" in history_texts(srv, bob, conv)
    admin = srv.admin_token()
    flags = srv.get("/v1/admin/content-flags", token=admin).json()["flags"]
    mine = [f for f in flags if f["conv"] == conv and f["seq"] == seq]
    assert len(mine) == 1, flags
    f = mine[0]
    assert (f["sender"], f["list"], f["word"]) == (alice.id, "review", "lottery")
    assert f["created_at"] > 0
    # Only admins see or resolve them.
    assert srv.get("/v1/admin/content-flags", token=alice.token).status_code == 403
    r = srv.request("DELETE", "/v1/admin/content-flags/%d" % f["id"], token=alice.token)
    assert r.status_code == 403
    r = srv.request("DELETE", "/v1/admin/content-flags/%d" % f["id"], token=admin)
    assert r.status_code == 204
    r = srv.request("DELETE", "/v1/admin/content-flags/%d" % f["id"], token=admin)
    assert r.status_code == 404
    assert all(x["id"] != f["id"] for x in
               srv.get("/v1/admin/content-flags", token=admin).json()["flags"])


def test_group_titles(srv, pair):
    alice, bob, _ = pair
    r = srv.post("/v1/conversations", token=alice.token,
                 json={"type": "group", "title": "fuck club", "members": [bob.id]})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "*** club"
    group = r.json()["id"]
    r = srv.post("/v1/conversations", token=alice.token,
                 json={"type": "group", "title": "法轮 fans", "members": [bob.id]})
    assert r.status_code == 400 and error_code(r) == "content_blocked"
    r = srv.request("PATCH", "/v1/conversations/%d" % group, token=alice.token,
                    json={"title": "forbidden phrase"})
    assert r.status_code == 400 and error_code(r) == "content_blocked"
    r = srv.request("PATCH", "/v1/conversations/%d" % group, token=alice.token,
                    json={"title": "lottery winners"})
    assert r.status_code == 200 and r.json()["title"] == "lottery winners"
    flags = srv.get("/v1/admin/content-flags", token=srv.admin_token()).json()["flags"]
    assert any(f["conv"] == group and f["seq"] == 0 and f["word"] == "lottery" for f in flags)


def test_app_lists_apply_to_their_app(srv, pair):
    alice, _, conv = pair
    r = send(srv, alice, conv, "about Project-Falcon")
    assert r.status_code == 400 and error_code(r) == "content_blocked"


def test_lists_are_reloaded_when_they_change(srv, pair, lists):
    alice, bob, conv = pair
    tries = iter(range(1000))

    def sent_as(text, want):
        n = next(tries)
        assert send(srv, alice, conv, "%s %d" % (text, n)).status_code == 201
        return "%s %d" % (want, n) in history_texts(srv, bob, conv)

    assert sent_as("darn it", "darn it")
    (lists / "mild.mask.txt").write_text("darn\n")
    try:
        poll_until(lambda: sent_as("darn it", "*** it"), T(5), interval=0.2, what="the new list")
    finally:
        (lists / "mild.mask.txt").unlink()
    poll_until(lambda: sent_as("darn again", "darn again"), T(5), interval=0.2,
               what="the list gone")


def test_no_lists_filter_nothing(server_factory):
    srv = server_factory()
    alice, bob = srv.create_user(), srv.create_user()
    conv = srv.post("/v1/conversations", token=alice.token,
                    json={"type": "direct", "peer": bob.id}).json()["id"]
    assert send(srv, alice, conv, "fuck 法轮 lottery").status_code == 201
    assert srv.get("/v1/admin/content-flags", token=srv.admin_token()).json()["flags"] == []
