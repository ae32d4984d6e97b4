"""Authorization: every WebSocket op and REST route for each kind of caller.

One group with an owner, an admin, a member, a muted member, a kicked member and an
outsider. Non-members (never in it, or kicked) get 404 `not_found` for everything about
the conversation; a muted member cannot send (403 `muted`) but reads as usual.
Contract: docs/protocol.md and docs/openapi.yaml.
"""

import pytest

from chatlib import (Chat, add_member, api, create_direct, create_group, expect, get_conv,
                     new_cmid, now_ms, patch_member, remove_member, rest_send, text, users)

ROLES = ["owner", "admin", "member", "muted", "kicked", "outsider"]
OK = "ok"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


@pytest.fixture(scope="module")
def scene(srv):
    o, adm, m, mu, k, out = users(srv, 6)
    cid = create_group(srv, o, [adm, m, mu, k], title="authz")["id"]
    patch_member(srv, o, cid, adm, {"role": "admin"})
    patch_member(srv, o, cid, mu, {"muted_until": now_ms() + 3600 * 1000})
    remove_member(srv, o, cid, k)
    return {"cid": cid, "users": {"owner": o, "admin": adm, "member": m, "muted": mu,
                                  "kicked": k, "outsider": out}}


def last(srv, scene):
    return get_conv(srv, scene["users"]["owner"], scene["cid"])["last_seq"]


def msg_by(srv, scene, role, label="x"):
    """A fresh message from `role` (owner, admin or member)."""
    return rest_send(srv, scene["users"][role], scene["cid"], text(label))["seq"]


# -- WebSocket ops -------------------------------------------------------------------------

# op -> {role: expected}; expected is "ok", an error code, or absent (not specified).
WS_EXPECT = {
    "send": dict(owner=OK, admin=OK, member=OK, muted="muted", kicked="not_found",
                 outsider="not_found"),
    "history": dict(owner=OK, admin=OK, member=OK, muted=OK, kicked="not_found",
                    outsider="not_found"),
    "read": dict(owner=OK, admin=OK, member=OK, muted=OK, kicked="not_found",
                 outsider="not_found"),
    "ack": dict(owner=OK, admin=OK, member=OK, muted=OK, kicked="not_found",
                outsider="not_found"),
    "typing": dict(owner=OK, admin=OK, member=OK, kicked="not_found", outsider="not_found"),
    "delete": dict(owner=OK, admin=OK, member=OK, muted=OK, kicked="not_found",
                   outsider="not_found"),
    # edit of the caller's own message (a member's message for the others)
    "edit_own": dict(owner=OK, admin=OK, member=OK, kicked="not_found", outsider="not_found"),
    # edit of someone else's message: own messages only, whatever the rank
    "edit_other": dict(owner="forbidden", admin="forbidden", muted="forbidden",
                       kicked="not_found", outsider="not_found"),
    # recall of the member's message (fresh, inside the default 2 m window)
    "recall_other": dict(owner=OK, admin=OK, muted="forbidden", kicked="not_found",
                         outsider="not_found"),
    "recall_own": dict(owner=OK, admin=OK, member=OK),
}

WS_CASES = [(op, role) for op in WS_EXPECT for role in ROLES if role in WS_EXPECT[op]]


def ws_fields(srv, scene, op, role):
    cid = scene["cid"]
    if op == "send":
        return "send", dict(conv=cid, cmid=new_cmid(), body=text("authz"))
    if op == "history":
        return "history", dict(conv=cid, limit=5)
    if op in ("read", "ack"):
        return op, dict(conv=cid, seq=msg_by(srv, scene, "member"))
    if op == "typing":
        return "typing", dict(conv=cid)
    if op == "delete":
        return "delete", dict(conv=cid, seq=msg_by(srv, scene, "member"))
    if op == "edit_own":
        author = role if role in ("owner", "admin", "member") else "member"
        return "edit", dict(conv=cid, seq=msg_by(srv, scene, author), body=text("edited"))
    if op == "edit_other":
        return "edit", dict(conv=cid, seq=msg_by(srv, scene, "member"), body=text("edited"))
    if op == "recall_other":
        return "recall", dict(conv=cid, seq=msg_by(srv, scene, "member"))
    if op == "recall_own":
        return "recall", dict(conv=cid, seq=msg_by(srv, scene, role))
    raise AssertionError(op)


# ops that add a timeline event when they succeed
TIMELINE_OPS = {"send", "edit", "recall"}


@pytest.mark.parametrize("op,role", WS_CASES, ids=["%s-%s" % c for c in WS_CASES])
def test_ws_op(srv, scene, op, role):
    want = WS_EXPECT[op][role]
    wire_op, fields = ws_fields(srv, scene, op, role)
    before = last(srv, scene)
    with Chat(srv, scene["users"][role]) as w:
        ans = w.request(wire_op, **fields)
        if want == OK:
            assert "ok" in ans, (op, role, ans)
            if wire_op in TIMELINE_OPS:
                assert ans["ok"]["seq"] == before + 1, ans
        else:
            assert "error" in ans and "ok" not in ans, (op, role, ans)
            assert ans["error"]["code"] == want, (op, role, ans)
        w.ping_ok()
    after = last(srv, scene)
    if want == OK and wire_op in TIMELINE_OPS:
        assert after == before + 1
    else:
        assert after == before, "a refused or non-timeline op changed last_seq"


@pytest.mark.parametrize("role", ["kicked", "outsider"])
def test_unknown_and_foreign_conversation_look_the_same(srv, scene, role):
    u = scene["users"][role]
    with Chat(srv, u) as w:
        for cid in (scene["cid"], 987654321):
            assert w.err("send", conv=cid, cmid=new_cmid(), body=text()) == "not_found"
            assert w.err("history", conv=cid) == "not_found"
            assert w.err("read", conv=cid, seq=1) == "not_found"
            assert w.err("typing", conv=cid) == "not_found"


def test_kicked_member_sync_lists_it_removed(srv, scene):
    with Chat(srv, scene["users"]["kicked"]) as w:
        s = w.ok("sync", convs={str(scene["cid"]): 1})
        assert s["removed"] == [scene["cid"]]
        assert all(e["conv"]["id"] != scene["cid"] for e in s["convs"])
        s = w.ok("sync")
        assert all(e["conv"]["id"] != scene["cid"] for e in s["convs"])


def test_outsider_gets_no_live_events(srv, scene):
    with Chat(srv, scene["users"]["outsider"]) as wo, Chat(srv, scene["users"]["kicked"]) as wk:
        msg_by(srv, scene, "member", "secret")
        with Chat(srv, scene["users"]["member"]) as wm:
            wm.ok("typing", conv=scene["cid"])
        wo.no_event(lambda e: e.get("conv") == scene["cid"])
        wk.no_event(lambda e: e.get("conv") == scene["cid"], wait=0.05)


# -- REST ----------------------------------------------------------------------------------

def _fresh_member(srv, scene):
    (x,) = users(srv, 1)
    add_member(srv, scene["users"]["owner"], scene["cid"], x)
    return x


# route -> (method, path builder, body builder, {role: status or (status, code)})
def rest_cases():
    nf = (404, "not_found")
    fb = (403, "forbidden")
    return {
        "get_conv": ("GET", lambda srv, s, c: "/v1/conversations/%d" % c, None,
                     dict(owner=200, admin=200, member=200, muted=200, kicked=nf, outsider=nf)),
        "get_members": ("GET", lambda srv, s, c: "/v1/conversations/%d/members" % c, None,
                        dict(owner=200, admin=200, member=200, muted=200, kicked=nf,
                             outsider=nf)),
        "get_messages": ("GET", lambda srv, s, c: "/v1/conversations/%d/messages" % c, None,
                         dict(owner=200, admin=200, member=200, muted=200, kicked=nf,
                              outsider=nf)),
        "post_message": ("POST", lambda srv, s, c: "/v1/conversations/%d/messages" % c,
                         lambda srv, s: {"cmid": new_cmid(), "body": text("rest authz")},
                         dict(owner=201, admin=201, member=201, muted=(403, "muted"),
                              kicked=nf, outsider=nf)),
        "patch_conv": ("PATCH", lambda srv, s, c: "/v1/conversations/%d" % c,
                       lambda srv, s: {"announcement": "changed"},
                       dict(owner=200, admin=200, member=fb, muted=fb, kicked=nf, outsider=nf)),
        "add_member": ("POST", lambda srv, s, c: "/v1/conversations/%d/members" % c,
                       lambda srv, s: {"user": users(srv, 1)[0].id},
                       dict(owner=201, admin=201, member=fb, muted=fb, kicked=nf, outsider=nf)),
        "kick_member": ("DELETE", lambda srv, s, c: "/v1/conversations/%d/members/%d" % (
                            c, _fresh_member(srv, s).id), None,
                        dict(owner=204, admin=204, member=fb, muted=fb, kicked=nf, outsider=nf)),
        "mute_member": ("PATCH", lambda srv, s, c: "/v1/conversations/%d/members/%d" % (
                            c, _fresh_member(srv, s).id),
                        lambda srv, s: {"muted_until": now_ms() + 60000},
                        dict(owner=200, admin=200, member=fb, muted=fb, kicked=nf, outsider=nf)),
        "role_member": ("PATCH", lambda srv, s, c: "/v1/conversations/%d/members/%d" % (
                            c, _fresh_member(srv, s).id),
                        lambda srv, s: {"role": "admin"},
                        dict(owner=200, admin=fb, member=fb, muted=fb, kicked=nf, outsider=nf)),
        "transfer_owner": ("POST", lambda srv, s, c: "/v1/conversations/%d/owner" % c,
                           lambda srv, s: {"user": s["users"]["member"].id},
                           dict(admin=fb, member=fb, muted=fb, kicked=nf, outsider=nf)),
    }


REST = rest_cases()
REST_CASES = [(r, role) for r in REST for role in ROLES if role in REST[r][3]]


@pytest.mark.parametrize("route,role", REST_CASES, ids=["%s-%s" % c for c in REST_CASES])
def test_rest_route(srv, scene, route, role):
    method, path_fn, body_fn, expected = REST[route]
    want = expected[role]
    status, code = want if isinstance(want, tuple) else (want, None)
    path = path_fn(srv, scene, scene["cid"])
    body = body_fn(srv, scene) if body_fn else None
    before = last(srv, scene)
    r = api(srv, method, path, scene["users"][role], body)
    expect(r, status, code)
    if status >= 400:
        assert last(srv, scene) == before, "a refused request changed the timeline"
    if route == "get_conv" and status == 200:
        assert r.json()["role"] == {"muted": "member"}.get(role, role)


def test_direct_conversation_outsider_gets_404_everywhere(srv):
    a, b, out = users(srv, 3)
    cid = create_direct(srv, a, b.id)["id"]
    seq = rest_send(srv, a, cid)["seq"]
    for method, path, body in (
            ("GET", "/v1/conversations/%d" % cid, None),
            ("GET", "/v1/conversations/%d/members" % cid, None),
            ("GET", "/v1/conversations/%d/messages" % cid, None),
            ("POST", "/v1/conversations/%d/messages" % cid, {"cmid": new_cmid(), "body": text()}),
            ("PATCH", "/v1/conversations/%d" % cid, {"title": "x"}),
            ("POST", "/v1/conversations/%d/members" % cid, {"user": out.id}),
            ("DELETE", "/v1/conversations/%d/members/%d" % (cid, a.id), None)):
        expect(api(srv, method, path, out, body), 404, "not_found")
    with Chat(srv, out) as w:
        for op, f in (("send", dict(cmid=new_cmid(), body=text())), ("history", {}),
                      ("read", dict(seq=seq)), ("ack", dict(seq=seq)), ("typing", {}),
                      ("edit", dict(seq=seq, body=text())), ("recall", dict(seq=seq)),
                      ("delete", dict(seq=seq))):
            assert w.err(op, conv=cid, **f) == "not_found", op
        w.ping_ok()
    assert get_conv(srv, a, cid)["last_seq"] == seq
