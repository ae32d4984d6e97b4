"""Bad input to the chat ops and routes: each gets a clear error code, the WebSocket stays
usable, and nothing is stored.

Contract: docs/protocol.md and docs/openapi.yaml ("Wrong types / missing fields / limit out of range /
seq < 1 → 400 bad_request").
"""

import pytest

from chatlib import (Chat, all_events, api, create_group, expect, get_conv,
                     list_convs, new_cmid, remove_member, rest_send, text, users)

BR = "bad_request"
NF = "not_found"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


@pytest.fixture(scope="module")
def scene(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b, c], title="bad input")["id"]
    seq = rest_send(srv, a, g, text("target"))["seq"]
    return {"a": a, "b": b, "c": c, "g": g, "seq": seq}


def snapshot(srv, scene):
    return all_events(srv, scene["a"], scene["g"])


# Each case: (name, op, fields (with "$g" / "$seq" placeholders), expected code)
def _c(name, op, code, **fields):
    return (name, op, fields, code)


CMID = "$cmid"
WS_CASES = [
    # send
    _c("send-no-conv", "send", BR, cmid=CMID, body=text()),
    _c("send-no-cmid", "send", BR, conv="$g", body=text()),
    _c("send-no-body", "send", BR, conv="$g", cmid=CMID),
    _c("send-conv-string", "send", BR, conv="abc", cmid=CMID, body=text()),
    _c("send-conv-numeric-string", "send", BR, conv="$gstr", cmid=CMID, body=text()),
    _c("send-conv-float", "send", BR, conv=1.5, cmid=CMID, body=text()),
    _c("send-conv-null", "send", BR, conv=None, cmid=CMID, body=text()),
    _c("send-cmid-int", "send", BR, conv="$g", cmid=123, body=text()),
    _c("send-cmid-empty", "send", BR, conv="$g", cmid="", body=text()),
    _c("send-cmid-129", "send", BR, conv="$g", cmid="c" * 129, body=text()),
    _c("send-body-string", "send", BR, conv="$g", cmid=CMID, body="hello"),
    _c("send-body-array", "send", BR, conv="$g", cmid=CMID, body=[text()]),
    _c("send-body-null", "send", BR, conv="$g", cmid=CMID, body=None),
    _c("send-body-no-type", "send", BR, conv="$g", cmid=CMID, body={"text": "hi"}),
    _c("send-body-type-int", "send", BR, conv="$g", cmid=CMID, body={"type": 5, "text": "hi"}),
    _c("send-reply-to-string", "send", BR, conv="$g", cmid=CMID, body=text(), reply_to="1"),
    _c("send-reply-to-0", "send", BR, conv="$g", cmid=CMID, body=text(), reply_to=0),
    _c("send-reply-to-negative", "send", BR, conv="$g", cmid=CMID, body=text(), reply_to=-3),
    _c("send-reply-to-future", "send", BR, conv="$g", cmid=CMID, body=text(),
       reply_to="$future"),
    _c("send-mentions-string", "send", BR, conv="$g", cmid=CMID, body=text(), mentions="bob"),
    _c("send-mentions-names", "send", BR, conv="$g", cmid=CMID, body=text(), mentions=["bob"]),
    _c("send-mentions-101", "send", BR, conv="$g", cmid=CMID, body=text(),
       mentions=list(range(1, 102))),
    _c("send-unknown-conv", "send", NF, conv=987654321, cmid=CMID, body=text()),
    # edit
    _c("edit-no-seq", "edit", BR, conv="$g", body=text()),
    _c("edit-seq-string", "edit", BR, conv="$g", seq="$seqstr", body=text()),
    _c("edit-seq-0", "edit", BR, conv="$g", seq=0, body=text()),
    _c("edit-seq-negative", "edit", BR, conv="$g", seq=-1, body=text()),
    _c("edit-no-body", "edit", BR, conv="$g", seq="$seq"),
    _c("edit-body-no-type", "edit", BR, conv="$g", seq="$seq", body={"text": "x"}),
    _c("edit-body-string", "edit", BR, conv="$g", seq="$seq", body="x"),
    _c("edit-unknown-conv", "edit", NF, conv=987654321, seq=1, body=text()),
    # recall / delete
    _c("recall-no-seq", "recall", BR, conv="$g"),
    _c("recall-seq-0", "recall", BR, conv="$g", seq=0),
    _c("recall-seq-string", "recall", BR, conv="$g", seq="$seqstr"),
    _c("recall-conv-string", "recall", BR, conv="abc", seq="$seq"),
    _c("delete-seq-string", "delete", BR, conv="$g", seq="x"),
    _c("delete-seq-negative", "delete", BR, conv="$g", seq=-5),
    _c("delete-no-conv", "delete", BR, seq="$seq"),
    # read / ack / typing
    _c("read-seq-0", "read", BR, conv="$g", seq=0),
    _c("read-seq-string", "read", BR, conv="$g", seq="$seqstr"),
    _c("read-no-seq", "read", BR, conv="$g"),
    _c("ack-seq-negative", "ack", BR, conv="$g", seq=-1),
    _c("ack-seq-float", "ack", BR, conv="$g", seq=1.5),
    _c("ack-unknown-conv", "ack", NF, conv=987654321, seq=1),
    _c("typing-no-conv", "typing", BR),
    _c("typing-conv-string", "typing", BR, conv="abc"),
    _c("typing-unknown-conv", "typing", NF, conv=987654321),
    # history
    _c("history-before-and-after", "history", BR, conv="$g", before=3, after=1),
    _c("history-limit-0", "history", BR, conv="$g", limit=0),
    _c("history-limit-201", "history", BR, conv="$g", limit=201),
    _c("history-limit-string", "history", BR, conv="$g", limit="5"),
    _c("history-before-0", "history", BR, conv="$g", before=0),
    _c("history-before-negative", "history", BR, conv="$g", before=-2),
    _c("history-after-negative", "history", BR, conv="$g", after=-1),
    _c("history-before-string", "history", BR, conv="$g", before="3"),
    _c("history-no-conv", "history", BR),
    _c("history-conv-string", "history", BR, conv="abc"),
    _c("history-unknown-conv", "history", NF, conv=987654321),
    # sync
    _c("sync-convs-array", "sync", BR, convs=[1, 2]),
    _c("sync-convs-string", "sync", BR, convs="all"),
    _c("sync-held-string", "sync", BR, convs={"$gstr": "x"}),
    _c("sync-held-negative", "sync", BR, convs={"$gstr": -1}),
    _c("sync-key-not-a-number", "sync", BR, convs={"abc": 1}),
    _c("sync-limit-0", "sync", BR, limit=0),
    _c("sync-limit-201", "sync", BR, limit=201),
]


def fill(v, scene):
    subst = {"$g": scene["g"], "$gstr": str(scene["g"]), "$seq": scene["seq"],
             "$seqstr": str(scene["seq"]), "$future": scene["seq"] + 1000}
    if isinstance(v, str):
        if v == CMID:
            return new_cmid("bad")
        return subst.get(v, v)
    if isinstance(v, dict):
        return {fill(k, scene): fill(x, scene) for k, x in v.items()}
    if isinstance(v, list):
        return [fill(x, scene) for x in v]
    return v


@pytest.mark.parametrize("name,op,fields,code", WS_CASES, ids=[c[0] for c in WS_CASES])
def test_ws_bad_input(srv, scene, name, op, fields, code):
    before = snapshot(srv, scene)
    with Chat(srv, scene["a"]) as w:
        got = w.err(op, **fill(fields, scene))
        assert got == code, (name, got)
        w.ping_ok()
        # and the connection still does real work
        assert w.ok("history", conv=scene["g"], limit=1)["events"][0]["seq"] == before[-1]["seq"]
    assert snapshot(srv, scene) == before, "a refused op changed the timeline"


def test_cmid_of_128_chars_is_fine(srv, scene):
    a, g = scene["a"], scene["g"]
    cm = ("%s-" % new_cmid())[:20].ljust(128, "z")
    assert len(cm) == 128
    with Chat(srv, a) as w:
        ack = w.send_msg(g, text("long cmid"), cmid=cm)
        assert w.send_msg(g, text("long cmid"), cmid=cm)["duplicate"] is True
    ev = [e for e in all_events(srv, a, g) if e["seq"] == ack["seq"]][0]
    assert ev.get("cmid") in (cm, None)


def test_oversized_body_is_refused_and_not_stored(srv, scene):
    a, g = scene["a"], scene["g"]
    before = snapshot(srv, scene)
    big = text("y" * (64 * 1024 + 10))   # default max_message_size is 64k
    with Chat(srv, a) as w:
        assert w.err("send", conv=g, cmid=new_cmid(), body=big) == "payload_too_large"
        w.ping_ok()
    rest_send(srv, a, g, big, status=413, code="payload_too_large")
    assert snapshot(srv, scene) == before


def test_send_to_a_conversation_you_left(srv, scene):
    a, b = scene["a"], scene["b"]
    d = create_group(srv, a, [b], title="to leave")["id"]
    with Chat(srv, b) as w:
        w.send_msg(d, text("bye"))
        remove_member(srv, b, d, b)
        before = all_events(srv, a, d)
        assert w.err("send", conv=d, cmid=new_cmid(), body=text("ghost")) == "not_found"
        assert w.err("history", conv=d) == "not_found"
        w.ping_ok()
    rest_send(srv, b, d, status=404, code="not_found")
    assert all_events(srv, a, d) == before


def test_many_bad_requests_on_one_socket(srv, scene):
    """All the bad requests on one connection, pipelined: each gets its own error."""
    before = snapshot(srv, scene)
    with Chat(srv, scene["a"]) as w:
        for i, (name, op, fields, code) in enumerate(WS_CASES):
            msg = {"id": "b%d" % i, "op": op}
            msg.update(fill(fields, scene))
            w.send_json(msg)
        for i, (name, op, fields, code) in enumerate(WS_CASES):
            ans = w.wait_answer("b%d" % i)
            assert ans.get("error", {}).get("code") == code, (name, ans)
        w.ping_ok()
    assert snapshot(srv, scene) == before


# -- REST --------------------------------------------------------------------------------

REST_CASES = [
    ("create-no-type", "POST", "/v1/conversations", {"peer": 1}, 400, BR),
    ("create-type-unknown", "POST", "/v1/conversations", {"type": "channel", "title": "x"},
     400, BR),
    ("create-type-int", "POST", "/v1/conversations", {"type": 1, "peer": 1}, 400, BR),
    ("create-direct-no-peer", "POST", "/v1/conversations", {"type": "direct"}, 400, BR),
    ("create-direct-peer-list", "POST", "/v1/conversations", {"type": "direct", "peer": [1]},
     400, BR),
    ("create-direct-peer-null", "POST", "/v1/conversations", {"type": "direct", "peer": None},
     400, BR),
    ("create-group-members-string", "POST", "/v1/conversations",
     {"type": "group", "title": "x", "members": "bob"}, 400, BR),
    ("create-group-title-int", "POST", "/v1/conversations",
     {"type": "group", "title": 5, "members": []}, 400, BR),
    ("create-group-unknown-member", "POST", "/v1/conversations",
     {"type": "group", "title": "x", "members": [987654321]}, 404, NF),
    ("send-no-cmid", "POST", "/v1/conversations/$g/messages", {"body": text()}, 400, BR),
    ("send-empty-cmid", "POST", "/v1/conversations/$g/messages", {"cmid": "", "body": text()},
     400, BR),
    ("send-long-cmid", "POST", "/v1/conversations/$g/messages",
     {"cmid": "x" * 129, "body": text()}, 400, BR),
    ("send-no-body", "POST", "/v1/conversations/$g/messages", {"cmid": "$cmid"}, 400, BR),
    ("send-body-no-type", "POST", "/v1/conversations/$g/messages",
     {"cmid": "$cmid", "body": {"x": 1}}, 400, BR),
    ("send-body-string", "POST", "/v1/conversations/$g/messages",
     {"cmid": "$cmid", "body": "hi"}, 400, BR),
    ("send-reply-to-0", "POST", "/v1/conversations/$g/messages",
     {"cmid": "$cmid", "body": text(), "reply_to": 0}, 400, BR),
    ("send-unknown-conv", "POST", "/v1/conversations/987654321/messages",
     {"cmid": "$cmid", "body": text()}, 404, NF),
    ("patch-title-int", "PATCH", "/v1/conversations/$g", {"title": 5}, 400, BR),
    ("patch-muted-all-string", "PATCH", "/v1/conversations/$g", {"muted_all": "yes"}, 400, BR),
    ("patch-unknown-conv", "PATCH", "/v1/conversations/987654321", {"title": "x"}, 404, NF),
    ("add-member-no-user", "POST", "/v1/conversations/$g/members", {}, 400, BR),
    ("add-member-user-list", "POST", "/v1/conversations/$g/members", {"user": [1]}, 400, BR),
    ("add-member-unknown", "POST", "/v1/conversations/$g/members", {"user": 987654321},
     404, NF),
    ("role-unknown", "PATCH", "/v1/conversations/$g/members/$b", {"role": "boss"}, 400, BR),
    ("role-owner-via-patch", "PATCH", "/v1/conversations/$g/members/$b", {"role": "owner"},
     400, BR),
    ("role-int", "PATCH", "/v1/conversations/$g/members/$b", {"role": 1}, 400, BR),
    ("mute-string", "PATCH", "/v1/conversations/$g/members/$b", {"muted_until": "soon"},
     400, BR),
    ("owner-no-user", "POST", "/v1/conversations/$g/owner", {}, 400, BR),
    ("history-limit-0", "GET", "/v1/conversations/$g/messages?limit=0", None, 400, BR),
    ("history-limit-201", "GET", "/v1/conversations/$g/messages?limit=201", None, 400, BR),
    ("history-limit-word", "GET", "/v1/conversations/$g/messages?limit=ten", None, 400, BR),
    ("history-before-word", "GET", "/v1/conversations/$g/messages?before=abc", None, 400, BR),
    ("history-before-0", "GET", "/v1/conversations/$g/messages?before=0", None, 400, BR),
    ("history-after-negative", "GET", "/v1/conversations/$g/messages?after=-1", None, 400, BR),
    ("history-both", "GET", "/v1/conversations/$g/messages?before=3&after=1", None, 400, BR),
    ("get-unknown", "GET", "/v1/conversations/987654321", None, 404, NF),
    ("members-unknown", "GET", "/v1/conversations/987654321/members", None, 404, NF),
]


@pytest.mark.parametrize("name,method,path,body,status,code", REST_CASES,
                         ids=[c[0] for c in REST_CASES])
def test_rest_bad_input(srv, scene, name, method, path, body, status, code):
    before = snapshot(srv, scene)
    convs_before = len(list_convs(srv, scene["a"]))
    path = path.replace("$g", str(scene["g"])).replace("$b", str(scene["b"].id))
    if body is not None:
        body = {k: (new_cmid("bad") if v == "$cmid" else v) for k, v in body.items()}
    r = api(srv, method, path, scene["a"], body)
    expect(r, status, code)
    assert snapshot(srv, scene) == before
    assert len(list_convs(srv, scene["a"])) == convs_before
    roles = {m["user"]["id"]: m["role"] for m in get_conv(srv, scene["a"], scene["g"])["members"]}
    assert roles == {scene["a"].id: "owner", scene["b"].id: "member", scene["c"].id: "member"}


def test_rest_bad_json(srv, scene):
    g = scene["g"]
    before = snapshot(srv, scene)
    r = srv.request("POST", "/v1/conversations/%d/messages" % g, token=scene["a"].token,
                    data=b"{not json", headers={"Content-Type": "application/json"})
    expect(r, 400, BR)
    r = srv.request("POST", "/v1/conversations/%d/messages" % g, token=scene["a"].token,
                    json=[1, 2])
    expect(r, 400, BR)
    assert snapshot(srv, scene) == before


def test_rest_routes_need_a_token(srv, scene):
    g, b = scene["g"], scene["b"]
    for method, path, body in (
            ("GET", "/v1/conversations", None),
            ("POST", "/v1/conversations", {"type": "direct", "peer": b.id}),
            ("GET", "/v1/conversations/%d" % g, None),
            ("PATCH", "/v1/conversations/%d" % g, {"title": "x"}),
            ("GET", "/v1/conversations/%d/members" % g, None),
            ("POST", "/v1/conversations/%d/members" % g, {"user": b.id}),
            ("PATCH", "/v1/conversations/%d/members/%d" % (g, b.id), {"role": "admin"}),
            ("DELETE", "/v1/conversations/%d/members/%d" % (g, b.id), None),
            ("POST", "/v1/conversations/%d/owner" % g, {"user": b.id}),
            ("GET", "/v1/conversations/%d/messages" % g, None),
            ("POST", "/v1/conversations/%d/messages" % g, {"cmid": "x", "body": text()})):
        r = srv.request(method, path, json=body) if body else srv.request(method, path)
        expect(r, 401, "unauthorized")
        r = srv.request(method, path, token="not-a-token", json=body)
        expect(r, 401, "unauthorized")


def test_missing_token_is_told_before_an_empty_body(srv):
    """router.c: "A missing token is the first thing to tell, whatever the body holds"."""
    r = srv.request("POST", "/v1/conversations")
    expect(r, 401, "unauthorized")


def test_direct_with_self_and_unknown_peer(srv, scene):
    a = scene["a"]
    n = len(list_convs(srv, a))
    expect(api(srv, "POST", "/v1/conversations", a, {"type": "direct", "peer": a.id}), 400, BR)
    expect(api(srv, "POST", "/v1/conversations", a, {"type": "direct", "peer": "nobody-here"}),
           404, NF)
    assert len(list_convs(srv, a)) == n
