"""Call signalling (docs/protocol.md, Calls) and TURN credentials (GET /v1/turn).

pipit carries no media: over the WebSocket it tells a conversation's members of a call
(invite, ringing, accept, reject, cancel, hangup, end) and relays offers, answers and
ICE candidates, each only to the participant it is for; a finished call leaves a
`call_record` on the timeline. These tests drive real sessions against one pipitd
(ring timeout 5 s, at most 3 participants, a TURN secret) and check, besides the happy
paths, that a stranger sees nothing of a call and can do nothing to it, that every op
refuses bad input, that a callee with no session gets a "call" push on their device
(a FakeWebPush subscription), and that the TURN credential is the HMAC coturn expects.
"""

import base64
import hashlib
import hmac
import time

import pytest

from chatlib import Chat, api, close_all, create_direct, create_group, expect, now_ms, users
from conftest import T
from fake_webpush import FakeWebPush
from pushlib import push_key

RING_MS = 5000
MAX_PARTS = 3
TURN_SECRET = "pipit-test-turn-secret"
TURN_URLS = ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"]
TURN_TTL_S = 90 * 60
SIGNAL_MAX = 16384
OPS = ("call_ringing", "call_accept", "call_reject", "call_cancel", "call_hangup", "call_signal")

FLAGS = ("--call-ring-timeout", "%ds" % (RING_MS // 1000),
         "--call-max-participants", str(MAX_PARTS),
         "--turn-secret", TURN_SECRET,
         # A space after the comma: the server trims it.
         "--turn-urls", ", ".join(TURN_URLS),
         "--turn-ttl", "90m",
         "--push-allow-http", "yes", "--push-allow-private", "yes",
         "--push-retry-base", "100ms")


@pytest.fixture(scope="module")
def fake():
    f = FakeWebPush().start()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory, fake):
    s = module_server_factory.new(*FLAGS)
    fake.set_vapid_key(expect(s.get("/v1/push/vapid-public-key"), 200)["key"])
    return s


# -- helpers -------------------------------------------------------------------------------

def is_call(type_, call=None, **match):
    """A predicate for `call` events of one type (of one call, with these field values)."""
    def pred(e):
        if e.get("ev") != "call" or e.get("type") != type_:
            return False
        if call is not None and e.get("call") != call:
            return False
        return all(e.get(k) == v for k, v in match.items())
    pred.__name__ = "call_%s" % type_
    return pred


def is_record(call):
    def pred(e):
        return e.get("ev") == "call_record" and e.get("call") == call
    pred.__name__ = "call_record"
    return pred


def await_ev(chat, pred, timeout=None):
    """Reads events until one matching pred is kept; returns it, leaving it in
    chat.events (so the order of everything seen can be checked afterwards)."""
    deadline = time.monotonic() + (timeout if timeout is not None else T(5))
    while True:
        for e in chat.events:
            if pred(e):
                return e
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("%r: no %s; events seen: %r"
                                 % (chat, getattr(pred, "__name__", "event"), chat.events[-20:]))
        try:
            m = chat.recv_json(left)
        except TimeoutError:
            continue
        assert "ev" in m, "unexpected non-event %r" % (m,)
        chat.events.append(m)


def trail(chat, call):
    """What `chat` saw of `call`, in order: ("call", type) or (ev, None) per event."""
    return [(e["ev"], e.get("type")) for e in chat.events if e.get("call") == call]


def invite(chat, conv, **fields):
    t0 = now_ms()
    ok = chat.ok("call_invite", conv=conv, **fields)
    assert set(ok) == {"call", "ring_until"}, ok
    assert isinstance(ok["call"], int) and ok["call"] > 0, ok
    assert t0 + RING_MS - 1000 <= ok["ring_until"] <= now_ms() + RING_MS + 1000, ok
    return ok["call"], ok["ring_until"]


def check_record(rec, *, call, conv, caller, media, participants, missed, reason):
    assert rec["ev"] == "call_record" and rec["call"] == call and rec["conv"] == conv, rec
    assert rec["from"] == caller, rec
    for k in ("seq", "id", "ts", "created_at", "ended_at", "duration_ms"):
        assert isinstance(rec[k], int), (k, rec)
    assert rec["media"] == media, rec
    assert rec["participants"] == sorted(participants), rec
    assert rec["missed"] is missed and rec["reason"] == reason, rec
    assert rec["created_at"] <= rec["ended_at"] == rec["ts"], rec
    if missed:
        assert rec["started_at"] is None and rec["duration_ms"] == 0, rec
    else:
        assert rec["created_at"] <= rec["started_at"] <= rec["ended_at"], rec
        assert rec["duration_ms"] == rec["ended_at"] - rec["started_at"], rec
    return rec


def in_history(srv, chat, user, conv, seq):
    """The event at seq, from the WebSocket history op and from REST; both must agree."""
    ws = [e for e in chat.history(conv, limit=50)["events"] if e["seq"] == seq]
    rest = [e for e in expect(api(srv, "GET", "/v1/conversations/%d/messages" % conv, user),
                              200)["events"] if e["seq"] == seq]
    assert len(ws) == 1 and ws == rest, (ws, rest)
    return ws[0]


# -- a 1:1 call, start to end ----------------------------------------------------------------

def test_one_to_one_call_flow(srv):
    alice, bob, carol = users(srv, 3)
    conv = create_direct(srv, alice, bob.id)["id"]
    A, B, B2, C = Chat(srv, alice), Chat(srv, bob), Chat(srv, bob), Chat(srv, carol)
    try:
        call, ring_until = invite(A, conv, media="video")

        # Every session of every member rings, the caller's own included.
        for s in (A, B, B2):
            e = await_ev(s, is_call("invite", call))
            assert e == {"ev": "call", "type": "invite", "call": call, "conv": conv,
                         "from": alice.id, "media": "video", "ring_until": ring_until}, e

        # A stranger can do nothing to it, and learns nothing (not even that it exists).
        assert C.err("call_invite", conv=conv) == "not_found"
        for op in OPS:
            assert C.err(op, call=call, to=alice.id, data={"type": "offer", "sdp": "x"}) \
                == "not_found", op

        # Ringing goes to the caller only.
        assert B.ok("call_ringing", call=call) == {}
        e = await_ev(A, is_call("ringing", call))
        assert e == {"ev": "call", "type": "ringing", "call": call, "conv": conv,
                     "from": bob.id}, e

        assert B.ok("call_accept", call=call) == {}
        for s in (A, B, B2):
            e = await_ev(s, is_call("accept", call))
            assert e == {"ev": "call", "type": "accept", "call": call, "conv": conv,
                         "from": bob.id}, e

        # Offer, answer and candidates, both ways, each only to its `to`, in order.
        offer = {"type": "offer", "sdp": "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\n"
                                         "a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP "
                                         "webrtc-datachannel\r\n", "note": "ünïcödé ✓"}
        answer = {"type": "answer", "sdp": "v=0\r\no=- 98 2 IN IP4 127.0.0.1\r\n"}
        cands_a = [{"candidate": "candidate:%d 1 udp 2122260223 192.0.2.1 %d typ host" % (i, 50000 + i),
                    "sdpMid": "0", "sdpMLineIndex": 0} for i in range(3)]
        cands_b = [{"candidate": "candidate:%d 1 udp 41885439 198.51.100.7 %d typ relay" % (i, 60000 + i),
                    "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None} for i in range(2)]
        assert A.ok("call_signal", call=call, to=bob.id, data=offer) == {}
        for c in cands_a:
            A.ok("call_signal", call=call, to=bob.id, data=c)
        assert B.ok("call_signal", call=call, to=alice.id, data=answer) == {}
        for c in cands_b:
            B.ok("call_signal", call=call, to=alice.id, data=c)
        for s in (B, B2):  # every session of `to`
            await_ev(s, lambda e: is_call("signal", call)(e) and e["data"] == cands_a[-1])
            got = [e for e in s.events if is_call("signal", call)(e)]
            assert [e["data"] for e in got] == [offer] + cands_a, got
            assert all(e["from"] == alice.id and e["conv"] == conv for e in got), got
        await_ev(A, lambda e: is_call("signal", call)(e) and e["data"] == cands_b[-1])
        got = [e for e in A.events if is_call("signal", call)(e)]
        assert [e["data"] for e in got] == [answer] + cands_b, got
        assert all(e["from"] == bob.id for e in got), got

        time.sleep(0.3)  # a call that lasted a while
        seq_before = expect(api(srv, "GET", "/v1/conversations/%d" % conv, alice), 200)["last_seq"]
        assert A.ok("call_hangup", call=call) == {}
        for s in (A, B, B2):
            await_ev(s, is_call("hangup", call, **{"from": alice.id}))
            end = await_ev(s, is_call("end", call))
            assert end["reason"] == "ended" and end["from"] == alice.id, end
            assert set(end) == {"ev", "type", "call", "conv", "from", "reason", "duration_ms"}, end
            rec = await_ev(s, is_record(call))
            check_record(rec, call=call, conv=conv, caller=alice.id, media="video",
                         participants=[alice.id, bob.id], missed=False, reason="ended")
            assert rec["seq"] == seq_before + 1, (rec, seq_before)
            assert rec["duration_ms"] >= 250 and end["duration_ms"] == rec["duration_ms"], (end, rec)

        # The whole story, in order, as each side saw it.
        assert trail(A, call) == [("call", "invite"), ("call", "ringing"), ("call", "accept")] + \
            [("call", "signal")] * 3 + [("call", "hangup"), ("call", "end"), ("call_record", None)]
        for s in (B, B2):
            assert trail(s, call) == [("call", "invite"), ("call", "accept")] + \
                [("call", "signal")] * 4 + [("call", "hangup"), ("call", "end"),
                                            ("call_record", None)], s

        # The record is on the timeline: history (WebSocket and REST) and sync.
        rec = [e for e in B.events if is_record(call)(e)][0]
        assert in_history(srv, B, bob, conv, rec["seq"]) == rec
        synced = B.ok("sync", convs={str(conv): seq_before})
        (entry,) = [c for c in synced["convs"] if c["conv"]["id"] == conv]
        assert entry["events"] == [rec], entry

        # The call is gone: its ops are not_found, and a new call can start.
        for op in OPS:
            assert B.err(op, call=call, to=alice.id, data={}) == "not_found", op
        call2, _ = invite(B, conv)
        assert call2 != call
        await_ev(A, is_call("invite", call2, media="audio"))  # audio by default
        assert A.ok("call_reject", call=call2) == {}
        await_ev(B, is_record(call2))

        # Carol saw nothing at all, and her socket still works.
        C.pump(T(0.3))
        assert C.events == [], C.events
        C.ping_ok()
    finally:
        close_all(A, B, B2, C)


# -- calls nobody takes -----------------------------------------------------------------------

def test_reject_ends_a_one_to_one_call_as_missed(srv):
    alice, bob = users(srv, 2)
    conv = create_direct(srv, alice, bob.id)["id"]
    A, B = Chat(srv, alice), Chat(srv, bob)
    try:
        call, _ = invite(A, conv)
        await_ev(B, is_call("invite", call))
        assert B.ok("call_ringing", call=call) == {}
        assert B.ok("call_reject", call=call) == {}
        for s in (A, B):
            await_ev(s, is_call("reject", call, **{"from": bob.id}))
            end = await_ev(s, is_call("end", call))
            assert end["reason"] == "rejected" and end["duration_ms"] == 0, end
            check_record(await_ev(s, is_record(call)), call=call, conv=conv, caller=alice.id,
                         media="audio", participants=[alice.id, bob.id], missed=True,
                         reason="rejected")
        assert trail(B, call) == [("call", "invite"), ("call", "reject"), ("call", "end"),
                                  ("call_record", None)]
        assert B.err("call_reject", call=call) == "not_found"
        assert B.err("call_accept", call=call) == "not_found"
    finally:
        close_all(A, B)


def test_cancel_by_the_caller_only_and_only_before_an_answer(srv):
    alice, bob = users(srv, 2)
    conv = create_direct(srv, alice, bob.id)["id"]
    A, B = Chat(srv, alice), Chat(srv, bob)
    try:
        # Cancelled while ringing.
        call, _ = invite(A, conv, media="video")
        await_ev(B, is_call("invite", call))
        assert B.err("call_cancel", call=call) == "conflict"  # not the caller
        assert A.ok("call_cancel", call=call) == {}
        for s in (A, B):
            end = await_ev(s, is_call("end", call, **{"from": alice.id}))
            assert end["reason"] == "cancelled" and end["duration_ms"] == 0, end
            check_record(await_ev(s, is_record(call)), call=call, conv=conv, caller=alice.id,
                         media="video", participants=[alice.id, bob.id], missed=True,
                         reason="cancelled")
        assert A.err("call_cancel", call=call) == "not_found"

        # The caller's hangup before any answer is a cancel too.
        call, _ = invite(A, conv)
        await_ev(B, is_call("invite", call))
        assert A.ok("call_hangup", call=call) == {}
        end = await_ev(B, is_call("end", call))
        assert end["reason"] == "cancelled", end
        assert await_ev(B, is_record(call))["missed"] is True

        # Once answered, cancel is refused: hang up instead.
        call, _ = invite(A, conv)
        assert B.ok("call_accept", call=call) == {}
        await_ev(A, is_call("accept", call))
        assert A.err("call_cancel", call=call) == "conflict"
        assert B.err("call_reject", call=call) == "conflict"  # in the call: hang up instead
        assert B.ok("call_hangup", call=call) == {}
        end = await_ev(A, is_call("end", call, **{"from": bob.id}))
        assert end["reason"] == "ended", end
        check_record(await_ev(A, is_record(call)), call=call, conv=conv, caller=alice.id,
                     media="audio", participants=[alice.id, bob.id], missed=False,
                     reason="ended")
    finally:
        close_all(A, B)


def test_unanswered_call_times_out_as_missed_and_answered_one_does_not(srv):
    alice, bob, dan, eve = users(srv, 4)
    missed_conv = create_direct(srv, alice, bob.id)["id"]
    live_conv = create_direct(srv, dan, eve.id)["id"]
    A, B, D, E = Chat(srv, alice), Chat(srv, bob), Chat(srv, dan), Chat(srv, eve)
    try:
        missed, ring_until = invite(A, missed_conv)
        live, _ = invite(D, live_conv, media="video")
        assert B.ok("call_ringing", call=missed) == {}  # ringing does not stop the clock
        assert E.ok("call_accept", call=live) == {}

        for s in (A, B):
            end = await_ev(s, is_call("end", missed), timeout=T(RING_MS / 1000 + 5))
            assert end["reason"] == "timeout" and end["duration_ms"] == 0, end
            rec = check_record(await_ev(s, is_record(missed)), call=missed, conv=missed_conv,
                               caller=alice.id, media="audio",
                               participants=[alice.id, bob.id], missed=True, reason="timeout")
            assert rec["ended_at"] >= ring_until, (rec, ring_until)
        assert A.err("call_accept", call=missed) == "not_found"
        assert B.err("call_accept", call=missed) == "not_found"

        # The answered call outlived the ring timeout.
        assert D.ok("call_signal", call=live, to=eve.id, data={"type": "offer", "sdp": "v=0"}) == {}
        await_ev(E, is_call("signal", live))
        assert not [e for e in D.events + E.events if is_call("end", live)(e)]
        assert E.ok("call_hangup", call=live) == {}
        check_record(await_ev(D, is_record(live)), call=live, conv=live_conv, caller=dan.id,
                     media="video", participants=[dan.id, eve.id], missed=False, reason="ended")
    finally:
        close_all(A, B, D, E)


# -- groups ------------------------------------------------------------------------------------

def test_group_call_signals_reach_only_their_participant(srv):
    ann, ben, cat, out = users(srv, 4)
    conv = create_group(srv, ann, [ben, cat], title="trio")["id"]
    A, B, C, O = Chat(srv, ann), Chat(srv, ben), Chat(srv, cat), Chat(srv, out)
    try:
        call, _ = invite(A, conv)
        for s in (A, B, C):
            await_ev(s, is_call("invite", call))
        assert B.ok("call_ringing", call=call) == {}
        await_ev(A, is_call("ringing", call, **{"from": ben.id}))
        assert B.ok("call_accept", call=call) == {}
        assert C.ok("call_accept", call=call) == {}
        for s in (A, B, C):
            await_ev(s, is_call("accept", call, **{"from": cat.id}))

        # ann → ben, ben → cat, cat → ann: each reaches its `to` alone.
        for src, dst, to in ((A, B, ben), (B, C, cat), (C, A, ann)):
            data = {"type": "offer", "sdp": "for %s" % to.username}
            assert src.ok("call_signal", call=call, to=to.id, data=data) == {}
            got = await_ev(dst, lambda e, d=data: is_call("signal", call)(e) and e["data"] == d)
            assert got["from"] == src.user.id and got["conv"] == conv, got
        for s in (A, B, C):
            s.pump(T(0.3))
            sigs = [e["data"]["sdp"] for e in s.events if is_call("signal", call)(e)]
            assert sigs == ["for %s" % s.user.username], (s, sigs)
        rings = [s for s in (B, C) if any(is_call("ringing", call)(e) for e in s.events)]
        assert rings == [], "ringing goes to the caller only"

        # ben leaves; ann and cat go on; nobody can signal ben now.
        assert B.ok("call_hangup", call=call) == {}
        for s in (A, B, C):
            await_ev(s, is_call("hangup", call, **{"from": ben.id}))
        assert A.err("call_signal", call=call, to=ben.id, data={}) == "conflict"
        assert B.err("call_signal", call=call, to=ann.id, data={}) == "conflict"
        assert A.ok("call_signal", call=call, to=cat.id, data={"candidate": ""}) == {}
        assert not [e for e in A.events + C.events if is_call("end", call)(e)]

        assert A.ok("call_hangup", call=call) == {}
        for s in (A, B, C):
            end = await_ev(s, is_call("end", call))
            assert end["reason"] == "ended", end
            check_record(await_ev(s, is_record(call)), call=call, conv=conv, caller=ann.id,
                         media="audio", participants=[ann.id, ben.id, cat.id], missed=False,
                         reason="ended")
        O.pump(T(0.2))
        assert O.events == [], O.events
    finally:
        close_all(A, B, C, O)


def test_member_removed_during_a_call_is_out_of_it(srv):
    """Removed from the group, cat is a stranger to its call too: she can no longer
    join it, signal in it, nor hear what is said in it; the others see her hang up,
    and the call goes on between them."""
    ann, ben, cat = users(srv, 3)
    conv = create_group(srv, ann, [ben, cat], title="trio")["id"]
    A, B, C = Chat(srv, ann), Chat(srv, ben), Chat(srv, cat)
    try:
        call, _ = invite(A, conv)
        await_ev(C, is_call("invite", call))
        assert B.ok("call_accept", call=call) == {}
        expect(api(srv, "DELETE", "/v1/conversations/%d/members/%d" % (conv, cat.id), ann), 204)
        await_ev(C, lambda e: e.get("ev") == "member" and e.get("user") == cat.id)
        for s in (A, B):
            await_ev(s, is_call("hangup", call, **{"from": cat.id}))
        for op in OPS:
            assert C.err(op, call=call, to=ann.id, data={"type": "offer", "sdp": "x"}) \
                == "not_found", op
        assert A.err("call_signal", call=call, to=cat.id, data={"candidate": "x"}) == "conflict"
        assert A.ok("call_signal", call=call, to=ben.id, data={"candidate": "y"}) == {}
        await_ev(B, is_call("signal", call))
        assert not [e for e in A.events + B.events if is_call("end", call)(e)]
        assert A.ok("call_hangup", call=call) == {}
        rec = await_ev(B, is_record(call))
        # Whether cat, who was in the call for a while, is listed is left open.
        check_record(rec, call=call, conv=conv, caller=ann.id, media="audio",
                     participants=rec["participants"], missed=False, reason="ended")
        assert {ann.id, ben.id} <= set(rec["participants"]), rec
        C.pump(T(0.3))
        assert trail(C, call) == [("call", "invite"), ("call", "accept")], C.events
    finally:
        close_all(A, B, C)


def test_caller_leaving_the_group_before_an_answer_cancels_the_call(srv):
    ann, ben, cat = users(srv, 3)
    conv = create_group(srv, ann, [ben, cat], title="trio")["id"]
    A, B = Chat(srv, ann), Chat(srv, ben)
    try:
        # ben calls, then leaves the group while it rings.
        call, _ = invite(B, conv)
        await_ev(A, is_call("invite", call))
        expect(api(srv, "DELETE", "/v1/conversations/%d/members/%d" % (conv, ben.id), ben), 204)
        end = await_ev(A, is_call("end", call))
        assert end["reason"] == "cancelled", end
        rec = await_ev(A, is_record(call))
        check_record(rec, call=call, conv=conv, caller=ben.id, media="audio",
                     participants=rec["participants"], missed=True, reason="cancelled")
        assert {ann.id, cat.id} <= set(rec["participants"]), rec
        assert A.err("call_accept", call=call) == "not_found"
    finally:
        close_all(A, B)


def test_group_call_goes_on_until_everyone_rejected(srv):
    ann, ben, cat = users(srv, 3)
    conv = create_group(srv, ann, [ben, cat], title="trio")["id"]
    A, B, C = Chat(srv, ann), Chat(srv, ben), Chat(srv, cat)
    try:
        call, _ = invite(A, conv)
        assert B.ok("call_reject", call=call) == {}
        await_ev(C, is_call("reject", call, **{"from": ben.id}))
        assert not [e for e in A.events + C.events if is_call("end", call)(e)]
        assert B.err("call_accept", call=call) == "conflict"  # declined already
        assert C.ok("call_reject", call=call) == {}
        end = await_ev(A, is_call("end", call))
        assert end["reason"] == "rejected", end
        check_record(await_ev(A, is_record(call)), call=call, conv=conv, caller=ann.id,
                     media="audio", participants=[ann.id, ben.id, cat.id], missed=True,
                     reason="rejected")
    finally:
        close_all(A, B, C)


# -- one at a time, and how many ------------------------------------------------------------

def test_one_call_per_conversation(srv):
    alice, bob, carol = users(srv, 3)
    conv = create_direct(srv, alice, bob.id)["id"]
    other = create_direct(srv, alice, carol.id)["id"]
    A, B = Chat(srv, alice), Chat(srv, bob)
    try:
        call, _ = invite(A, conv)
        assert A.err("call_invite", conv=conv) == "conflict"
        assert B.err("call_invite", conv=conv, media="video") == "conflict"
        # Another conversation is another call, even with the same caller.
        call2, _ = invite(A, other)
        assert call2 != call
        assert A.ok("call_cancel", call=call2) == {}
        assert A.ok("call_cancel", call=call) == {}
        await_ev(B, is_record(call))
        call3, _ = invite(B, conv)
        assert call3 not in (call, call2)
        assert B.ok("call_cancel", call=call3) == {}
    finally:
        close_all(A, B)


def test_conversation_size_limits(srv):
    owner, a, b, c = users(srv, 4)
    big = create_group(srv, owner, [a, b, c], title="four")["id"]
    alone = create_group(srv, owner, [], title="just me")["id"]
    O, A = Chat(srv, owner), Chat(srv, a)
    try:
        assert O.err("call_invite", conv=big) == "conflict"   # 4 > call_max_participants 3
        assert A.err("call_invite", conv=big) == "conflict"
        assert O.err("call_invite", conv=alone) == "conflict"  # nobody to call
        expect(api(srv, "DELETE", "/v1/conversations/%d/members/%d" % (big, c.id), owner), 204)
        call, _ = invite(O, big)  # 3 members now
        await_ev(A, is_call("invite", call))
        assert O.ok("call_cancel", call=call) == {}
        A.pump(T(0.2))
    finally:
        close_all(O, A)


# -- bad input ---------------------------------------------------------------------------------

def test_bad_input_for_every_op(srv):
    alice, bob, carol = users(srv, 3)
    conv = create_direct(srv, alice, bob.id)["id"]
    A, B = Chat(srv, alice), Chat(srv, bob)
    try:
        # call_invite
        assert A.err("call_invite") == "bad_request"
        for bad in ("1", 1.5, True, None, [conv], {"id": conv}, 0, -conv):
            assert A.err("call_invite", conv=bad) == "bad_request", bad
        for bad in (5, "screen", "", None, "AUDIO", ["audio"], {"kind": "audio"}):
            assert A.err("call_invite", conv=conv, media=bad) == "bad_request", bad
        assert A.err("call_invite", conv=2 ** 62) == "not_found"

        call, _ = invite(A, conv)
        await_ev(B, is_call("invite", call))

        # The call id, for every op.
        for op in OPS:
            assert A.err(op) == "bad_request", op
            for bad in ("1", str(call), 1.5, True, None, [call], {"id": call}, 0, -call):
                assert A.err(op, call=bad, to=bob.id, data={}) == "bad_request", (op, bad)
            for unknown in (call + 1000, 2 ** 62):
                assert A.err(op, call=unknown, to=bob.id, data={}) == "not_found", (op, unknown)

        # call_signal's `to` and `data`.
        assert A.err("call_signal", call=call, data={}) == "bad_request"
        for bad in ("x", str(bob.id), 1.5, 0, -1, None, True, [bob.id]):
            assert A.err("call_signal", call=call, to=bad, data={}) == "bad_request", bad
        for who in (alice.id, carol.id, 2 ** 62):  # self, a non-participant, nobody
            assert A.err("call_signal", call=call, to=who, data={}) == "conflict", who
        assert A.err("call_signal", call=call, to=bob.id) == "bad_request"
        for bad in ("v=0", 5, None, True, [], [{"type": "offer"}]):
            assert A.err("call_signal", call=call, to=bob.id, data=bad) == "bad_request", bad
        # 16 KiB as compact JSON is the most: {"sdp":"…"} is 10 bytes around the text.
        fits = {"sdp": "x" * (SIGNAL_MAX - 10)}
        assert A.err("call_signal", call=call, to=bob.id,
                     data={"sdp": "x" * (SIGNAL_MAX - 9)}) == "payload_too_large"
        assert A.err("call_signal", call=call, to=bob.id,
                     data={"sdp": "x" * 100000}) == "payload_too_large"
        assert A.ok("call_signal", call=call, to=bob.id, data=fits) == {}
        got = await_ev(B, is_call("signal", call))
        assert got["data"] == fits

        # The server's own op is not offered.
        assert A.err("call_expire") == "unknown_op"

        # None of that hurt the call.
        assert B.ok("call_accept", call=call) == {}
        assert B.ok("call_hangup", call=call) == {}
        rec = await_ev(A, is_record(call))
        assert rec["reason"] == "ended"
        assert trail(B, call) == [("call", "invite"), ("call", "signal"), ("call", "accept"),
                                  ("call", "hangup"), ("call", "end"), ("call_record", None)]
        A.ping_ok()
        B.ping_ok()
    finally:
        close_all(A, B)


# -- push to callees with no session -----------------------------------------------------------

def device(srv, fake, user):
    sub = fake.subscribe()
    expect(api(srv, "POST", "/v1/devices", user, dict(sub, platform="webpush")), 201)
    return fake.sid(sub["endpoint"])


def test_offline_callee_gets_a_call_push(srv, fake):
    alice, bob, carol, dave, erin = users(srv, 5)
    bob_sid = device(srv, fake, bob)      # no session: gets the push
    device(srv, fake, carol)              # a session open: gets the invite event instead
    device(srv, fake, alice)              # the caller: never
    dave_sid = device(srv, fake, dave)    # chat pushes off, calls on
    device(srv, fake, erin)               # calls off
    expect(api(srv, "PUT", "/v1/me/notification-settings", dave,
               {"categories": {"chat": False}}), 200)
    expect(api(srv, "PUT", "/v1/me/notification-settings", erin,
               {"categories": {"call": False}}), 200)
    group = create_group(srv, alice, [bob, carol], title="Night shift")["id"]
    to_dave = create_direct(srv, alice, dave.id)["id"]
    to_erin = create_direct(srv, alice, erin.id)["id"]
    A, C = Chat(srv, alice), Chat(srv, carol)
    base = len(fake.accepted)
    try:
        call, _ = invite(A, group)
        await_ev(C, is_call("invite", call))
        msgs = fake.wait_accepted(base + 1, T(10))[base:]
        (msg,) = msgs
        assert msg.sid == bob_sid
        j = msg.json
        assert j["title"] == "%s is calling" % alice.username, j
        assert j["body"] == "Voice call", j
        assert j["category"] == "call" and j["priority"] == "high", j
        assert j["data"] == {"conv": group, "call": call, "media": "audio"}, j
        assert msg.urgency == "high", msg.urgency

        video, _ = invite(A, to_dave, media="video")
        (msg,) = fake.wait_accepted(base + 2, T(10))[base + 1:]
        assert msg.sid == dave_sid
        assert msg.json["body"] == "Video call" and msg.json["category"] == "call", msg.json
        assert msg.json["data"] == {"conv": to_dave, "call": video, "media": "video"}

        muted, _ = invite(A, to_erin)
        for c in (call, video, muted):
            assert A.ok("call_cancel", call=c) == {}
        await_ev(A, is_record(muted))
        time.sleep(0.8)  # room for a push that should not come (erin's, or a record's)
        assert len(fake.accepted) == base + 2, [m.json for m in fake.accepted[base:]]
    finally:
        close_all(A, C)


# -- TURN credentials --------------------------------------------------------------------------

def turn_password(username, secret=TURN_SECRET):
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def test_turn_credentials(srv):
    alice, bob = users(srv, 2)
    t0 = int(time.time())
    body = expect(srv.get("/v1/turn", token=alice.token), 200)
    t1 = int(time.time())
    assert set(body) == {"urls", "username", "credential", "ttl", "expires_at"}, body
    assert body["urls"] == TURN_URLS, body
    assert body["ttl"] == TURN_TTL_S, body
    expiry, _, uid = body["username"].partition(":")
    assert uid == str(alice.id), body
    assert t0 + TURN_TTL_S - 1 <= int(expiry) <= t1 + TURN_TTL_S + 1, body
    assert body["expires_at"] == int(expiry) * 1000, body
    assert body["credential"] == turn_password(body["username"]), body
    assert len(base64.b64decode(body["credential"])) == 20

    other = expect(srv.get("/v1/turn", token=bob.token), 200)
    assert other["username"].endswith(":%d" % bob.id)
    assert other["credential"] == turn_password(other["username"])
    assert other["credential"] != turn_password(other["username"], "another secret")

    admin = expect(srv.get("/v1/turn", token=srv.admin_token()), 200)
    assert admin["credential"] == turn_password(admin["username"])


def test_turn_needs_a_signed_in_user(srv):
    expect(srv.get("/v1/turn"), 401, "unauthorized")
    expect(srv.get("/v1/turn", token="not-a-token"), 401)
    expect(srv.get("/v1/turn", token=push_key(srv)), 403, "forbidden")
    user = srv.new_user()
    expect(srv.post("/v1/turn", token=user.token, json={}), 405)


def test_turn_without_a_secret_is_not_found(server_factory):
    s = server_factory.new("--turn-urls", "turn:127.0.0.1:3478")
    user = s.new_user()
    expect(s.get("/v1/turn", token=user.token), 404, "not_found")
    expect(s.get("/v1/turn"), 401)
