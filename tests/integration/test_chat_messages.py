"""Messages: send (WS and REST), fan-out, cmid idempotency, size cap, edit, recall,
delete-for-me, read/delivered receipts, typing, presence and history paging.

Contract: docs/protocol.md and docs/openapi.yaml.
"""

import time

import pytest

from chatlib import (Chat, add_member, all_events, api, close_all, compact_len,
                     create_direct, create_group, ev, event_at, expect, get_conv,
                     conv_in_list, member_of, messages_only, new_cmid, now_ms,
                     patch_member, remove_member, rest_history, rest_send,
                     spread_over_workers, text, users)
from conftest import T

MAX_MSG = 2048
RECALL_WINDOW_MS = int(T(1.5) * 1000)
EVENT_KEYS = {"ev", "conv", "seq", "id", "from", "ts"}


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open", "--max-message-size", "2k",
                                 "--recall-window", "%dms" % RECALL_WINDOW_MS)


def sized_body(n):
    """A text body whose compact JSON is exactly n bytes."""
    b = text("")
    b["text"] = "x" * (n - compact_len(b))
    assert compact_len(b) == n
    return b


def check_ack(ack):
    assert isinstance(ack["seq"], int) and ack["seq"] >= 1, ack
    assert isinstance(ack["id"], int), ack
    assert isinstance(ack["ts"], int) and abs(ack["ts"] - now_ms()) < 60000, ack
    assert not ack.get("duplicate"), ack


# -- send --------------------------------------------------------------------------------

def test_send_over_ws_ack_has_seq_id_ts(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as w:
        base = get_conv(srv, a, d["id"])["last_seq"]
        ack = w.send_msg(d["id"], text("hi"))
        check_ack(ack)
        assert ack["seq"] == base + 1
        ack2 = w.send_msg(d["id"], text("again"))
        assert ack2["seq"] == base + 2 and ack2["id"] != ack["id"]
        assert ack2["ts"] >= ack["ts"]
    evs = all_events(srv, b, d["id"])
    m = event_at(evs, ack["seq"])
    assert EVENT_KEYS <= set(m), m
    assert m["ev"] == "message" and m["id"] == ack["id"] and m["ts"] == ack["ts"]
    assert m["from"] == a.id and m["conv"] == d["id"] and m["body"] == text("hi")


def test_send_over_rest_201(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    cm = new_cmid()
    ack = rest_send(srv, a, d["id"], text("rest"), cmid=cm, status=201)
    check_ack(ack)
    m = event_at(all_events(srv, b, d["id"]), ack["seq"])
    assert m["body"] == text("rest") and m["from"] == a.id and m.get("cmid") == cm


def test_body_may_carry_other_fields(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    body = {"type": "image", "url": "https://img.example/1.png", "w": 640, "h": 480,
            "meta": {"alt": "ünïcødé ✓", "tags": ["a", "b"]}}
    with Chat(srv, a) as w:
        ack = w.send_msg(d["id"], body)
    assert event_at(all_events(srv, b, d["id"]), ack["seq"])["body"] == body


def test_seqs_gapless_from_1_including_membership_events(srv):
    o, b, c = users(srv, 3)
    g = create_group(srv, o, [b])
    with Chat(srv, o) as w:
        w.send_msg(g["id"])
        rest_send(srv, b, g["id"])
        add_member(srv, o, g["id"], c)
        w.send_msg(g["id"])
        patch_member(srv, o, g["id"], b, {"role": "admin"})
        rest_send(srv, c, g["id"])
        remove_member(srv, c, g["id"], c)
        ack = w.send_msg(g["id"])
    evs = all_events(srv, o, g["id"])
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(1, len(evs) + 1)), seqs
    assert ack["seq"] == seqs[-1] == get_conv(srv, o, g["id"])["last_seq"]
    kinds = [(e["ev"], e.get("action")) for e in evs]
    assert ("member", "joined") in kinds and ("member", "role") in kinds
    assert ("member", "left") in kinds
    assert len(set(e["id"] for e in evs)) == len(evs)


def test_direct_conversation_seqs_start_at_1(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    ack = rest_send(srv, a, d["id"])
    evs = all_events(srv, a, d["id"])
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert evs[-1]["seq"] == ack["seq"]


def test_duplicate_cmid_returns_same_seq_and_stores_nothing(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    cm = new_cmid()
    with Chat(srv, a) as w:
        first = w.send_msg(d["id"], text("once"), cmid=cm)
        again = w.send_msg(d["id"], text("once"), cmid=cm)
        assert again["duplicate"] is True
        assert (again["seq"], again["id"]) == (first["seq"], first["id"])
        # a different body with the same cmid is still the same message
        third = w.send_msg(d["id"], text("changed?"), cmid=cm)
        assert third["duplicate"] is True and third["seq"] == first["seq"]
    r = api(srv, "POST", "/v1/conversations/%d/messages" % d["id"], a,
            {"cmid": cm, "body": text("once")})
    body = expect(r, 200)
    assert body["duplicate"] is True and body["seq"] == first["seq"]
    evs = all_events(srv, b, d["id"])
    assert [e.get("cmid") for e in messages_only(evs)].count(cm) == 1
    assert event_at(evs, first["seq"])["body"] == text("once")
    assert get_conv(srv, a, d["id"])["last_seq"] == first["seq"]


def test_duplicate_is_not_fanned_out_again(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        cm = new_cmid()
        first = wa.send_msg(d["id"], cmid=cm)
        wb.wait_event(ev("message", d["id"], seq=first["seq"]))
        wa.send_msg(d["id"], cmid=cm)
        wb.no_event(ev("message", d["id"]))


def test_same_cmid_from_another_sender_is_another_message(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    cm = new_cmid()
    x = rest_send(srv, a, d["id"], cmid=cm)
    y = rest_send(srv, b, d["id"], cmid=cm, status=201)
    assert y["seq"] == x["seq"] + 1


def test_same_cmid_to_another_conversation_is_409(srv):
    a, b, c = users(srv, 3)
    d1 = create_direct(srv, a, b.id)
    d2 = create_direct(srv, a, c.id)
    cm = new_cmid()
    rest_send(srv, a, d1["id"], cmid=cm)
    before = get_conv(srv, a, d2["id"])["last_seq"]
    with Chat(srv, a) as w:
        assert w.err("send", conv=d2["id"], cmid=cm, body=text()) == "cmid_conflict"
        w.ping_ok()
    rest_send(srv, a, d2["id"], cmid=cm, status=409, code="cmid_conflict")
    assert get_conv(srv, a, d2["id"])["last_seq"] == before


def test_every_session_of_every_member_gets_the_message(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b, c])
    socks = []
    try:
        # Eight sockets: with --workers 2 they spread over both workers.
        a1, a2, a3 = Chat(srv, a), Chat(srv, a), Chat(srv, a)
        b1, b2 = Chat(srv, b), Chat(srv, b)
        c1 = Chat(srv, c)
        socks = [a1, a2, a3, b1, b2, c1]
        spread_over_workers(srv, c, socks)
        receivers = [s for s in socks if s is not a1]
        ack = a1.send_msg(g["id"], text("to all"), mentions=[b.id])
        for s in receivers:
            e = s.wait_event(ev("message", g["id"], seq=ack["seq"]))
            assert EVENT_KEYS <= set(e), e
            assert e["id"] == ack["id"] and e["from"] == a.id and e["ts"] == ack["ts"]
            assert e["body"] == text("to all") and e["mentions"] == [b.id]
            assert "cmid" not in e or isinstance(e["cmid"], str)
        for s in receivers:
            s.no_event(ev("message", g["id"], seq=ack["seq"]), wait=0.05)
        # a non-member's session gets nothing
        (outsider,) = users(srv, 1)
        with Chat(srv, outsider) as o1:
            a2.send_msg(g["id"])
            o1.no_event(lambda e: True)
    finally:
        close_all(*socks)


def test_sending_session_gets_its_own_message_event(srv):
    """docs/protocol.md, send: "Every member's sessions, the sender's included, get a
    message event" (protocol.md: "every online session of every member")."""
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as w:
        cm = new_cmid()
        ack = w.send_msg(d["id"], text("me too"), cmid=cm)
        e = w.wait_event(ev("message", d["id"], seq=ack["seq"]))
        assert e["id"] == ack["id"] and e["cmid"] == cm and e["body"] == text("me too")
        w.no_event(ev("message", d["id"], seq=ack["seq"]))
        ack = rest_send(srv, a, d["id"], text("from REST"))
        w.wait_event(ev("message", d["id"], seq=ack["seq"]))


def test_live_events_arrive_in_seq_order(srv):
    a, b = users(srv, 2)
    g = create_group(srv, a, [b])
    with Chat(srv, a) as wa, Chat(srv, b) as wb, Chat(srv, b) as wb2:
        n = 30
        for i in range(n):
            wa.send_json({"id": "s%d" % i, "op": "send", "conv": g["id"], "cmid": new_cmid(),
                          "body": text(str(i))})
        acks = [wa.wait_answer("s%d" % i) for i in range(n)]
        seqs = [x["ok"]["seq"] for x in acks]
        assert seqs == list(range(seqs[0], seqs[0] + n)), seqs
        for w in (wb, wb2):
            got = []
            for _ in range(n):
                e = w.wait_event(ev("message", g["id"]))
                got.append((e["seq"], e["body"]["text"]))
            assert got == [(seqs[0] + i, str(i)) for i in range(n)], got


def test_body_size_cap(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as w:
        ok = w.send_msg(d["id"], sized_body(MAX_MSG))
        before = get_conv(srv, a, d["id"])["last_seq"]
        assert before == ok["seq"]
        assert w.err("send", conv=d["id"], cmid=new_cmid(),
                     body=sized_body(MAX_MSG + 1)) == "payload_too_large"
        assert w.err("send", conv=d["id"], cmid=new_cmid(),
                     body=sized_body(MAX_MSG * 4)) == "payload_too_large"
        w.ping_ok()
        rest_send(srv, a, d["id"], sized_body(MAX_MSG + 1), status=413, code="payload_too_large")
        assert get_conv(srv, a, d["id"])["last_seq"] == before
        # an edit is a body too
        assert w.err("edit", conv=d["id"], seq=ok["seq"],
                     body=sized_body(MAX_MSG + 1)) == "payload_too_large"
        assert get_conv(srv, a, d["id"])["last_seq"] == before
    assert len(messages_only(all_events(srv, b, d["id"]))) == 1


def test_reply_to_and_mentions_are_echoed(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b, c])
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        first = wa.send_msg(g["id"], text("question"))
        rep = wa.send_msg(g["id"], text("answer"), reply_to=first["seq"], mentions=[b.id, c.id])
        e = wb.wait_event(ev("message", g["id"], seq=rep["seq"]))
        assert e["reply_to"] == first["seq"] and sorted(e["mentions"]) == sorted([b.id, c.id])
        al = wa.send_msg(g["id"], text("hey all"), mentions="all")
        e = wb.wait_event(ev("message", g["id"], seq=al["seq"]))
        assert e["mentions"] == "all"
    evs = all_events(srv, c, g["id"])
    h = event_at(evs, rep["seq"])
    assert h["reply_to"] == first["seq"] and sorted(h["mentions"]) == sorted([b.id, c.id])
    assert event_at(evs, al["seq"])["mentions"] == "all"
    assert "reply_to" not in event_at(evs, first["seq"]) or \
        event_at(evs, first["seq"])["reply_to"] is None


# -- edit --------------------------------------------------------------------------------

def test_edit_own_message(srv):
    a, b = users(srv, 2)
    g = create_group(srv, a, [b])
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        m = wa.send_msg(g["id"], text("tpyo"))
        ed = wa.ok("edit", conv=g["id"], seq=m["seq"], body=text("typo"))
        assert ed["seq"] == m["seq"] + 1 and isinstance(ed["id"], int) and ed["id"] != m["id"]
        e = wb.wait_event(ev("edit", g["id"], seq=ed["seq"]))
        assert e["target"] == m["seq"] and e["body"] == text("typo") and e["from"] == a.id
        assert e["id"] == ed["id"]
        # not someone else's message
        assert wb.err("edit", conv=g["id"], seq=m["seq"], body=text("hijack")) == "forbidden"
        wb.ping_ok()
    evs = all_events(srv, b, g["id"])
    msg = event_at(evs, m["seq"])
    assert msg["body"] == text("typo") and msg["edited"] is True
    assert isinstance(msg["edited_at"], int) and msg["edited_at"] >= m["ts"]
    edit = event_at(evs, ed["seq"])
    assert edit["ev"] == "edit" and edit["target"] == m["seq"] and edit["body"] == text("typo")
    assert get_conv(srv, a, g["id"])["last_seq"] == ed["seq"]


def test_edit_not_other_events(srv):
    a, b = users(srv, 2)
    g = create_group(srv, a, [b])
    patch_member(srv, a, g["id"], b, {"role": "admin"})
    mev = [e for e in all_events(srv, a, g["id"]) if e["ev"] == "member"][-1]
    assert mev["action"] == "role"
    with Chat(srv, a) as w:
        before = get_conv(srv, a, g["id"])["last_seq"]
        assert w.err("edit", conv=g["id"], seq=mev["seq"], body=text("x")) == "forbidden"
        m = w.send_msg(g["id"])
        ed = w.ok("edit", conv=g["id"], seq=m["seq"], body=text("v2"))
        # an edit event is not a message either
        assert w.err("edit", conv=g["id"], seq=ed["seq"], body=text("v3")) == "forbidden"
        # no event at that seq
        assert w.err("edit", conv=g["id"], seq=ed["seq"] + 50, body=text("v3")) == "not_found"
        assert get_conv(srv, a, g["id"])["last_seq"] == before + 2


# -- recall ------------------------------------------------------------------------------

def test_recall_own_within_window(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        m = wa.send_msg(d["id"], text("oops"))
        ed = wa.ok("edit", conv=d["id"], seq=m["seq"], body=text("oops v2"))
        rc = wa.ok("recall", conv=d["id"], seq=m["seq"])
        assert rc["seq"] == ed["seq"] + 1 and isinstance(rc["id"], int)
        e = wb.wait_event(ev("recall", d["id"], seq=rc["seq"]))
        assert e["target"] == m["seq"] and e["from"] == a.id
        # cannot edit a recalled message
        assert wa.err("edit", conv=d["id"], seq=m["seq"], body=text("zombie")) == "forbidden"
    with Chat(srv, b) as wb2:
        synced = [x for x in wb2.ok("sync")["convs"] if x["conv"]["id"] == d["id"]][0]
    assert synced["events"] == all_events(srv, b, d["id"])
    for viewer in (a, b):
        evs = all_events(srv, viewer, d["id"])
        msg = event_at(evs, m["seq"])
        assert msg["recalled"] is True and "body" not in msg, msg
        edit = event_at(evs, ed["seq"])
        assert edit["ev"] == "edit" and edit["target"] == m["seq"] and "body" not in edit, edit
        rec = event_at(evs, rc["seq"])
        assert rec["ev"] == "recall" and rec["target"] == m["seq"]
    # a recalled message is not unread and is not shown as last_message with a body
    c = conv_in_list(srv, b, d["id"])
    assert c["unread"] == 0
    if c.get("last_message") and c["last_message"]["seq"] == m["seq"]:
        assert "body" not in c["last_message"]


def test_recall_after_window_is_forbidden_but_group_admin_may(srv):
    o, adm, m = users(srv, 3)
    g = create_group(srv, o, [adm, m])
    patch_member(srv, o, g["id"], adm, {"role": "admin"})
    with Chat(srv, m) as wm, Chat(srv, adm) as wadm, Chat(srv, o) as wo:
        x1 = wm.send_msg(g["id"], text("old 1"))
        x2 = wm.send_msg(g["id"], text("old 2"))
        x3 = wm.send_msg(g["id"], text("old 3"))
        own_admin = wadm.send_msg(g["id"], text("admin's own"))
        time.sleep(RECALL_WINDOW_MS / 1000 + 0.4)
        before = get_conv(srv, o, g["id"])["last_seq"]
        assert wm.err("recall", conv=g["id"], seq=x1["seq"]) == "forbidden"
        wm.ping_ok()
        assert get_conv(srv, o, g["id"])["last_seq"] == before
        # admins and the owner recall others' messages any time, and their own
        wadm.ok("recall", conv=g["id"], seq=x1["seq"])
        wo.ok("recall", conv=g["id"], seq=x2["seq"])
        wadm.ok("recall", conv=g["id"], seq=own_admin["seq"])
    evs = all_events(srv, m, g["id"])
    assert event_at(evs, x1["seq"])["recalled"] is True
    assert event_at(evs, x2["seq"])["recalled"] is True
    assert event_at(evs, x3["seq"])["body"] == text("old 3")
    rec = [e for e in evs if e["ev"] == "recall"]
    assert {(e["target"], e["from"]) for e in rec} == {
        (x1["seq"], adm.id), (x2["seq"], o.id), (own_admin["seq"], adm.id)}


def test_member_cannot_recall_others(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b, c])
    d = create_direct(srv, b, c.id)
    with Chat(srv, b) as wb, Chat(srv, c) as wc:
        x = wc.send_msg(g["id"])
        assert wb.err("recall", conv=g["id"], seq=x["seq"]) == "forbidden"
        y = wc.send_msg(d["id"])
        # no admins in a direct conversation
        assert wb.err("recall", conv=d["id"], seq=y["seq"]) == "forbidden"
    assert "body" in event_at(all_events(srv, b, g["id"]), x["seq"])
    assert "body" in event_at(all_events(srv, b, d["id"]), y["seq"])


# -- delete for me -----------------------------------------------------------------------

def test_delete_for_me(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        mine = wa.send_msg(d["id"], text("mine"))
        theirs = wb.send_msg(d["id"], text("theirs"))
        wb.wait_event(ev("message", d["id"], seq=mine["seq"]))
        wb.clear()
        before = get_conv(srv, a, d["id"])["last_seq"]
        assert wa.ok("delete", conv=d["id"], seq=mine["seq"]) == {}
        assert wa.ok("delete", conv=d["id"], seq=theirs["seq"]) == {}
        # not a timeline event: no seq taken, no event for the peer
        assert get_conv(srv, a, d["id"])["last_seq"] == before
        wb.no_event(lambda e: e.get("conv") == d["id"] and (
            e.get("ev") not in ("message", "read", "delivered") or e["seq"] > theirs["seq"]))
        h = wa.history(d["id"])["events"]
    with Chat(srv, a) as wa2:
        synced = [x for x in wa2.ok("sync")["convs"] if x["conv"]["id"] == d["id"]][0]
    for seq in (mine["seq"], theirs["seq"]):
        e = event_at(synced["events"], seq)
        assert e["deleted"] is True and "body" not in e, e
        e = event_at(h, seq)
        assert e["deleted"] is True and "body" not in e, e
        e = event_at(all_events(srv, a, d["id"]), seq)
        assert e["deleted"] is True and "body" not in e, e
        e = event_at(all_events(srv, b, d["id"]), seq)
        assert "body" in e and not e.get("deleted"), e


# -- read / delivered --------------------------------------------------------------------

def test_read_receipts(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b, c])
    cid = g["id"]
    xs = [rest_send(srv, b, cid, text("m%d" % i)) for i in range(3)]
    assert conv_in_list(srv, a, cid)["unread"] == 3
    with Chat(srv, a) as a1, Chat(srv, a) as a2, Chat(srv, b) as wb, Chat(srv, c) as wc:
        r = a1.ok("read", conv=cid, seq=xs[1]["seq"])
        assert r == {"read_seq": xs[1]["seq"]}
        for s in (a2, wb, wc):
            e = s.wait_event(ev("read", cid, user=a.id))
            assert e["seq"] == xs[1]["seq"], e
        assert conv_in_list(srv, a, cid)["unread"] == 1
        assert conv_in_list(srv, a, cid)["read_seq"] == xs[1]["seq"]
        # never moves back
        assert a1.ok("read", conv=cid, seq=xs[0]["seq"]) == {"read_seq": xs[1]["seq"]}
        assert conv_in_list(srv, a, cid)["read_seq"] == xs[1]["seq"]
        # capped at the last seq
        last = get_conv(srv, a, cid)["last_seq"]
        assert a1.ok("read", conv=cid, seq=last + 1000) == {"read_seq": last}
        e = wb.wait_event(ev("read", cid, user=a.id))
        assert e["seq"] == last
        assert conv_in_list(srv, a, cid)["unread"] == 0
        # the read position is not a timeline event
        assert get_conv(srv, a, cid)["last_seq"] == last
    m = member_of(srv, b, cid, a.id)
    assert m["read_seq"] == last


def test_unread_skips_recalled_and_own(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    x1 = rest_send(srv, b, d["id"])
    rest_send(srv, b, d["id"])
    rest_send(srv, a, d["id"])
    assert conv_in_list(srv, a, d["id"])["unread"] == 2
    with Chat(srv, b) as wb:
        wb.ok("recall", conv=d["id"], seq=x1["seq"])
    assert conv_in_list(srv, a, d["id"])["unread"] == 1


def test_ack_delivered(srv):
    a, b, c = users(srv, 3)
    d = create_direct(srv, a, b.id)
    g = create_group(srv, a, [b, c])
    with Chat(srv, a) as wa, Chat(srv, b) as wb, Chat(srv, c) as wc:
        x = wa.send_msg(d["id"])
        assert wb.ok("ack", conv=d["id"], seq=x["seq"]) == {"delivered_seq": x["seq"]}
        e = wa.wait_event(ev("delivered", d["id"], user=b.id))
        assert e["seq"] == x["seq"]
        assert member_of(srv, a, d["id"], b.id)["delivered_seq"] == x["seq"]
        # never moves back, capped at the last seq
        x2 = wa.send_msg(d["id"])
        assert wb.ok("ack", conv=d["id"], seq=x["seq"] - 1 if x["seq"] > 1 else 1) == {
            "delivered_seq": x["seq"]}
        assert wb.ok("ack", conv=d["id"], seq=x2["seq"] + 500) == {"delivered_seq": x2["seq"]}
        e = wa.wait_event(ev("delivered", d["id"], user=b.id))
        assert e["seq"] == x2["seq"]
        x = x2
        # groups: stored, but not sent to the others
        y = wa.send_msg(g["id"])
        assert wc.ok("ack", conv=g["id"], seq=y["seq"]) == {"delivered_seq": y["seq"]}
        assert member_of(srv, a, g["id"], c.id)["delivered_seq"] == y["seq"]
        wa.no_event(ev("delivered", g["id"]))
        wb.no_event(ev("delivered", g["id"]), wait=0.05)
        assert get_conv(srv, a, d["id"])["last_seq"] == x["seq"]


# -- typing ------------------------------------------------------------------------------

def test_typing(srv):
    a, b = users(srv, 2)
    g = create_group(srv, a, [b])
    with Chat(srv, a) as a1, Chat(srv, a) as a2, Chat(srv, b) as wb:
        assert a1.ok("typing", conv=g["id"]) == {}
        e = wb.wait_event(ev("typing", g["id"], user=a.id))
        assert "seq" not in e
        a2.no_event(ev("typing"))
        a1.no_event(ev("typing"), wait=0.05)
        for _ in range(4):
            a1.ok("typing", conv=g["id"])
        assert a1.err("typing", conv=g["id"]) == "rate_limited"
        a1.ping_ok()
        # the limit is per session
        assert a2.ok("typing", conv=g["id"]) == {}
    assert get_conv(srv, a, g["id"])["last_seq"] == g["last_seq"]


# -- presence ----------------------------------------------------------------------------

def test_presence_first_and_last_device(srv):
    a, b, c = users(srv, 3)
    create_direct(srv, a, b.id)
    create_group(srv, c, [a])  # a group is not a contact
    wb = Chat(srv, b)
    wc = Chat(srv, c)
    a1 = a2 = None
    try:
        a1 = Chat(srv, a)
        e = wb.wait_event(ev("presence", user=a.id))
        assert e["online"] is True and e["last_seen"] is None, e
        a2 = Chat(srv, a)
        wb.no_event(ev("presence", user=a.id))
        a2.close()
        wb.no_event(ev("presence", user=a.id))
        t0 = now_ms()
        a1.close()
        e = wb.wait_event(ev("presence", user=a.id))
        assert e["online"] is False, e
        assert isinstance(e["last_seen"], int) and t0 - 5000 <= e["last_seen"] <= now_ms() + 1000
        wc.no_event(ev("presence", user=a.id), wait=0.05)
        # back online: last_seen is the time it went offline
        offline_at = e["last_seen"]
        a1 = Chat(srv, a)
        e = wb.wait_event(ev("presence", user=a.id))
        assert e["online"] is True and e["last_seen"] == offline_at, e
    finally:
        close_all(wb, wc, a1, a2)


# -- history -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hist_conv(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    for i in range(12):
        rest_send(srv, a if i % 2 else b, d["id"], text("h%d" % i))
    last = get_conv(srv, a, d["id"])["last_seq"]
    return a, d["id"], last


def seqs(body):
    return [e["seq"] for e in body["events"]]


def test_history_newest_first_by_default(srv, hist_conv):
    a, cid, last = hist_conv
    with Chat(srv, a) as w:
        h = w.history(cid, limit=3)
        assert seqs(h) == [last, last - 1, last - 2] and h["has_more"] is True
        h = w.history(cid)
        assert seqs(h) == list(range(last, 0, -1)) and h["has_more"] is False


def test_history_before_and_after(srv, hist_conv):
    a, cid, last = hist_conv
    with Chat(srv, a) as w:
        h = w.history(cid, before=last - 2, limit=3)
        assert seqs(h) == [last - 3, last - 4, last - 5] and h["has_more"] is True
        h = w.history(cid, before=4, limit=10)
        assert seqs(h) == [3, 2, 1] and h["has_more"] is False
        h = w.history(cid, before=1)
        assert seqs(h) == [] and h["has_more"] is False
        h = w.history(cid, after=last - 3, limit=10)
        assert seqs(h) == [last - 2, last - 1, last] and h["has_more"] is False
        h = w.history(cid, after=2, limit=2)
        assert seqs(h) == [3, 4] and h["has_more"] is True
        h = w.history(cid, after=last)
        assert seqs(h) == [] and h["has_more"] is False
        h = w.history(cid, after=1, limit=200)
        assert seqs(h) == list(range(2, last + 1))
        # after may be 0 (docs/protocol.md): from the start
        h = w.history(cid, after=0, limit=3)
        assert seqs(h) == [1, 2, 3] and h["has_more"] is True


def test_history_limit_bounds(srv, hist_conv):
    a, cid, last = hist_conv
    with Chat(srv, a) as w:
        assert len(w.history(cid, limit=1)["events"]) == 1
        assert len(w.history(cid, limit=200)["events"]) == last
        for bad in (0, 201, -1, 1000):
            assert w.err("history", conv=cid, limit=bad) == "bad_request", bad
        w.ping_ok()


def test_rest_history_matches_ws(srv, hist_conv):
    a, cid, last = hist_conv
    with Chat(srv, a) as w:
        for params in ({"limit": 3}, {"before": last - 2, "limit": 3}, {"after": 2, "limit": 2},
                       {"after": last - 3}, {}):
            rest = rest_history(srv, a, cid, **params)
            ws = w.history(cid, **params)
            assert rest == ws, params
    for bad in ({"limit": 0}, {"limit": 201}, {"before": 3, "after": 1}):
        r = api(srv, "GET", "/v1/conversations/%d/messages" % cid, a, params=bad)
        expect(r, 400, "bad_request")


def test_history_default_limit_is_50(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as w:
        for i in range(55):
            w.send_json({"id": "q%d" % i, "op": "send", "conv": d["id"], "cmid": new_cmid(),
                         "body": text(str(i))})
        for i in range(55):
            assert "ok" in w.wait_answer("q%d" % i)
        h = w.history(d["id"])
        assert len(h["events"]) == 50 and h["has_more"] is True
        h = w.history(d["id"], after=0 + 1)
        assert len(h["events"]) == 50 and h["has_more"] is True


def test_same_cmid_raced_from_two_sockets_is_stored_once(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as w1, Chat(srv, a) as w2:
        for i in range(10):
            cm = new_cmid("race")
            for w in (w1, w2):
                w.send_json({"id": "r%d" % i, "op": "send", "conv": d["id"], "cmid": cm,
                             "body": text("race %d" % i)})
            x, y = w1.wait_answer("r%d" % i)["ok"], w2.wait_answer("r%d" % i)["ok"]
            assert (x["seq"], x["id"], x["ts"]) == (y["seq"], y["id"], y["ts"]), (x, y)
            assert sorted([bool(x.get("duplicate")), bool(y.get("duplicate"))]) == [False, True]
    evs = messages_only(all_events(srv, b, d["id"]))
    assert len(evs) == 10 and len({e["cmid"] for e in evs}) == 10


def test_sync_default_limit_is_100(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    with Chat(srv, a) as w:
        for i in range(105):
            w.send_json({"id": "p%d" % i, "op": "send", "conv": d["id"], "cmid": new_cmid(),
                         "body": text(str(i))})
        for i in range(105):
            assert "ok" in w.wait_answer("p%d" % i)
        last = get_conv(srv, a, d["id"])["last_seq"]
        entry = [x for x in w.ok("sync")["convs"] if x["conv"]["id"] == d["id"]][0]
        assert len(entry["events"]) == 100 and entry["has_more"] is True
        held = entry["events"][-1]["seq"]
        entry = [x for x in w.ok("sync", convs={str(d["id"]): held})["convs"]
                 if x["conv"]["id"] == d["id"]][0]
        assert entry["events"][-1]["seq"] == last and entry["has_more"] is False


def test_refused_sends_in_one_batch_leave_no_gap(srv):
    """Seqs come from the writer's cache and reach the conversation row once per
    batch: sends refused in the middle of a batch (duplicate cmid, a cmid already
    used in another conversation, a reply to the future) must not take a seq."""
    a, b = users(srv, 2)
    d1 = create_direct(srv, a, b.id)
    d2 = create_group(srv, a, [b.id], title="other")
    used = new_cmid("used")
    with Chat(srv, a) as w:
        assert "ok" in w.request("send", conv=d2["id"], cmid=used, body=text("in d2"))
        start = get_conv(srv, a, d1["id"])["last_seq"]
        plan = []
        for i in range(40):
            cm = new_cmid("b%d" % i)
            plan.append(("ok", {"cmid": cm}))
            if i % 4 == 1:
                plan.append(("dup", {"cmid": cm}))
            if i % 4 == 2:
                plan.append(("cmid_conflict", {"cmid": used}))
            if i % 4 == 3:
                plan.append(("bad_request", {"cmid": new_cmid("f"), "reply_to": 10 ** 6}))
        for n, (_, extra) in enumerate(plan):
            w.send_json(dict({"id": "s%d" % n, "op": "send", "conv": d1["id"],
                              "body": text("m%d" % n)}, **extra))
        seqs = []
        for n, (want, _) in enumerate(plan):
            ans = w.wait_answer("s%d" % n)
            if want in ("ok", "dup"):
                assert "ok" in ans, (n, ans)
                assert bool(ans["ok"].get("duplicate")) == (want == "dup"), (n, ans)
                if want == "ok":
                    seqs.append(ans["ok"]["seq"])
            else:
                assert ans["error"]["code"] == want, (n, ans)
        assert seqs == list(range(start + 1, start + 41))
        conv = get_conv(srv, a, d1["id"])
        assert conv["last_seq"] == start + 40
        assert conv["last_message"]["seq"] == start + 40
        ack = w.ok("send", conv=d1["id"], cmid=new_cmid("after"), body=text("after"))
        assert ack["seq"] == start + 41
    evs = all_events(srv, b, d1["id"])
    assert [e["seq"] for e in evs] == list(range(1, start + 42))
    assert get_conv(srv, a, d2["id"])["last_seq"] == 2


def test_seqs_continue_after_restart(server_factory):
    """The conversation row written back before COMMIT is what a restarted writer
    counts from."""
    s = server_factory.new("--registration", "open")
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)
    for i in range(5):
        assert rest_send(s, a, d["id"], body=text(str(i)))["seq"] == i + 1
    s.stop()
    s.start()
    assert get_conv(s, a, d["id"])["last_seq"] == 5
    assert rest_send(s, a, d["id"], body=text("after"))["seq"] == 6
