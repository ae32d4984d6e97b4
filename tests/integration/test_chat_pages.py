"""Answers that stay inside a client's send queue, and presence in the conversation list.

History and sync answers carry at most a quarter of ws_send_queue_max of events (and at
least one), saying `has_more` / `more`, so a large backlog never gets a connection
dropped (docs/protocol.md, sync)."""
import pytest

from chatlib import Chat, conv_in_list, create_direct, rest_send, users
from conftest import T, poll_until

QUEUE = 64 * 1024          # ws_send_queue_max; the budget is a quarter: 16 KiB
BIG = "x" * 6000           # three of these overflow the budget


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open", "--ws-send-queue-max", "%d" % QUEUE)


def big_body(i):
    return {"type": "text", "text": "%d:%s" % (i, BIG)}


def test_history_and_sync_keep_to_the_budget(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)["id"]
    for i in range(10):
        rest_send(srv, a, d, big_body(i))
    with Chat(srv, b) as w:
        # history: asked for 200, gets a budget's worth, says there is more, and the
        # pages together hold every message once
        seen, after = [], 0
        for _ in range(20):
            h = w.ok("history", conv=d, after=after, limit=200)
            assert 1 <= len(h["events"]) <= 3, len(h["events"])
            seen += [e["seq"] for e in h["events"]]
            after = seen[-1]
            if not h["has_more"]:
                break
        assert seen == list(range(1, 11))
        # sync: the same, in rounds
        held, rounds = 0, 0
        while True:
            rounds += 1
            s = w.ok("sync", convs={str(d): held})
            entry = [c for c in s["convs"] if c["conv"]["id"] == d]
            if not entry:
                break
            evs = entry[0]["events"]
            assert evs and evs[0]["seq"] == held + 1 and len(evs) <= 3
            held = evs[-1]["seq"]
            assert rounds < 20
        assert held == 10 and rounds >= 4
        w.ping_ok()  # the connection survived every answer


def test_sync_leaves_conversations_for_the_next_round(srv):
    a, *peers = users(srv, 4)
    convs = [create_direct(srv, a, peer.id)["id"] for peer in peers]
    for cid in convs:
        for i in range(3):
            rest_send(srv, a, cid, big_body(i))
    with Chat(srv, a) as w:
        held = {}
        more_seen = False
        for _ in range(20):
            s = w.ok("sync", convs={str(k): v for k, v in held.items()})
            more_seen |= s["more"]
            if not s["convs"]:
                break
            for entry in s["convs"]:
                held[entry["conv"]["id"]] = entry["events"][-1]["seq"]
        assert more_seen
        assert held == {cid: 3 for cid in convs}


def test_direct_peer_carries_presence(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)["id"]
    peer = conv_in_list(srv, a, d)["peer"]
    assert (peer["online"], peer["last_seen"]) == (False, None)
    w = Chat(srv, b)
    try:
        poll_until(lambda: conv_in_list(srv, a, d)["peer"]["online"], T(5), what="online")
    finally:
        w.close()
    peer = poll_until(lambda: (lambda p: p if not p["online"] else None)(
        conv_in_list(srv, a, d)["peer"]), T(5), what="offline")
    assert isinstance(peer["last_seen"], int) and peer["last_seen"] > 0


def test_a_message_deleted_for_me_is_not_unread(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)["id"]
    first = rest_send(srv, b, d, {"type": "text", "text": "one"})
    rest_send(srv, b, d, {"type": "text", "text": "two"})
    assert conv_in_list(srv, a, d)["unread"] == 2
    with Chat(srv, a) as w:
        w.ok("delete", conv=d, seq=first["seq"])
    assert conv_in_list(srv, a, d)["unread"] == 1
    assert conv_in_list(srv, b, d)["unread"] == 0
