"""The sync op, visibility from a member's join, and a concurrent-send fan-out check.

Contract: docs/protocol.md and docs/openapi.yaml.
"""

import threading
import time

import pytest

from chatlib import (Chat, add_member, all_events, close_all, create_direct, create_group,
                     ev, get_conv, remove_member, rest_send, spread_over_workers, text,
                     users)
from conftest import T


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


def by_conv(sync):
    assert set(sync) >= {"convs", "removed"}, sync
    assert isinstance(sync["convs"], list) and isinstance(sync["removed"], list), sync
    out = {}
    for entry in sync["convs"]:
        cid = entry["conv"]["id"]
        assert cid not in out, "conversation %r listed twice" % cid
        assert isinstance(entry["has_more"], bool), entry
        out[cid] = entry
    return out


def seqs(events):
    return [e["seq"] for e in events]


@pytest.fixture
def world(srv):
    """a: a direct conversation with b (3 messages) and a group of c's (2 messages)."""
    a, b, c = users(srv, 3)
    d = create_direct(srv, a, b.id)
    for i in range(3):
        rest_send(srv, b if i % 2 else a, d["id"], text("d%d" % i))
    g = create_group(srv, c, [a, b], title="g")
    for i in range(2):
        rest_send(srv, c, g["id"], text("g%d" % i))
    return a, b, c, d["id"], g["id"]


def test_new_device_gets_all_conversations_and_events(srv, world):
    a, b, c, d, g = world
    with Chat(srv, a) as w:
        s = w.ok("sync")
        got = by_conv(s)
        assert set(got) == {d, g}, got.keys()
        assert s["removed"] == []
        for cid in (d, g):
            entry = got[cid]
            conv = entry["conv"]
            assert conv["last_seq"] == get_conv(srv, a, cid)["last_seq"]
            assert {"type", "title", "read_seq", "unread", "role", "member_count"} <= set(conv)
            assert entry["has_more"] is False and "gap" not in entry
            assert entry["events"] == all_events(srv, a, cid)
            assert entry["events"], entry
            # gapless up to last_seq, from 1 (the direct one) or from a's own joined
            first = entry["events"][0]["seq"]
            assert seqs(entry["events"]) == list(range(first, conv["last_seq"] + 1))
        assert got[d]["events"][0]["seq"] == 1
        assert got[d]["conv"]["type"] == "direct" and got[g]["conv"]["type"] == "group"
        # the same with an explicit empty map
        assert by_conv(w.ok("sync", convs={})).keys() == {d, g}


def test_held_seqs_give_only_newer_events(srv, world):
    a, b, c, d, g = world
    last_d = get_conv(srv, a, d)["last_seq"]
    last_g = get_conv(srv, a, g)["last_seq"]
    with Chat(srv, a) as w:
        s = w.ok("sync", convs={str(d): last_d - 2, str(g): last_g})
        got = by_conv(s)
        assert set(got) == {d}, got.keys()   # g: nothing new, not listed
        assert seqs(got[d]["events"]) == [last_d - 1, last_d]
        assert got[d]["has_more"] is False
        assert s["removed"] == []
        # all held: nothing at all
        s = w.ok("sync", convs={str(d): last_d, str(g): last_g})
        assert s["convs"] == [] and s["removed"] == []
        # something new arrives
        x = rest_send(srv, b, d, text("new"))
        s = w.ok("sync", convs={str(d): last_d, str(g): last_g})
        got = by_conv(s)
        assert set(got) == {d} and seqs(got[d]["events"]) == [x["seq"]]
        assert got[d]["events"][0]["body"] == text("new")


def test_per_conversation_cap_with_has_more(srv, world):
    a, b, c, d, g = world
    last_d = get_conv(srv, a, d)["last_seq"]
    with Chat(srv, a) as w:
        first = all_events(srv, a, d)[0]["seq"]
        held = 0
        collected = []
        for _ in range(last_d + 2):
            got = by_conv(w.ok("sync", convs={str(d): held, str(g): 10 ** 6}, limit=2))
            if d not in got:
                break
            evs = got[d]["events"]
            assert 1 <= len(evs) <= 2
            start = held + 1 if held else first
            assert seqs(evs) == list(range(start, start + len(evs))), evs
            collected += evs
            held = evs[-1]["seq"]
            assert got[d]["has_more"] is (held < last_d)
        assert seqs(collected) == list(range(first, last_d + 1))
        for bad in (0, 201, "5"):
            assert w.err("sync", limit=bad) == "bad_request", bad
        w.ping_ok()


def test_removed_lists_convs_left_kicked_or_unknown(srv):
    o, a, b = users(srv, 3)
    g1 = create_group(srv, o, [a, b])["id"]
    g2 = create_group(srv, o, [a, b])["id"]
    g3 = create_group(srv, o, [b])["id"]      # never a's
    keep = create_group(srv, o, [a])["id"]
    held = {str(g1): get_conv(srv, a, g1)["last_seq"], str(g2): get_conv(srv, a, g2)["last_seq"],
            str(keep): get_conv(srv, a, keep)["last_seq"], str(g3): 1, "987654321": 5}
    remove_member(srv, o, g1, a)        # kicked
    remove_member(srv, a, g2, a)        # left
    rest_send(srv, o, g1, text("after the kick"))
    with Chat(srv, a) as w:
        s = w.ok("sync", convs=held)
        assert sorted(s["removed"]) == sorted([g1, g2, g3, 987654321]), s["removed"]
        assert by_conv(s).keys() == set()
        # a new device does not see them either
        assert by_conv(w.ok("sync")).keys() == {keep}


def test_conversation_the_client_did_not_know_appears(srv, world):
    a, b, c, d, g = world
    held = {str(d): get_conv(srv, a, d)["last_seq"], str(g): get_conv(srv, a, g)["last_seq"]}
    # one made with a in it, one that a was added to later
    n = create_group(srv, b, [a], title="new one")["id"]
    x = rest_send(srv, b, n, text("welcome"))
    m = create_group(srv, b, [c], title="older")["id"]
    rest_send(srv, c, m, text("before a"))
    joined = add_member(srv, b, m, a)["joined_seq"]
    y = rest_send(srv, c, m, text("after a"))
    with Chat(srv, a) as w:
        got = by_conv(w.ok("sync", convs=held))
        assert set(got) == {n, m}
        assert got[n]["conv"]["title"] == "new one"
        evs = got[n]["events"]
        assert evs[-1]["seq"] == x["seq"] and evs[-1]["body"] == text("welcome")
        assert seqs(evs) == list(range(evs[0]["seq"], x["seq"] + 1))
        evs = got[m]["events"]
        # "its events start with your own joined" (docs/protocol.md, sync)
        assert (evs[0]["ev"], evs[0]["action"], evs[0]["user"]) == ("member", "joined", a.id)
        assert seqs(evs) == list(range(joined, y["seq"] + 1))


def test_new_member_sees_events_from_own_join(srv):
    o, b, late = users(srv, 3)
    g = create_group(srv, o, [b])["id"]
    for i in range(4):
        rest_send(srv, o, g, text("before %d" % i))
    joined = add_member(srv, o, g, late)["joined_seq"]
    after = rest_send(srv, b, g, text("after"))
    with Chat(srv, late) as w:
        got = by_conv(w.ok("sync"))
        evs = got[g]["events"]
        assert evs[0]["ev"] == "member" and evs[0]["action"] == "joined"
        assert evs[0]["user"] == late.id and evs[0]["seq"] == joined
        assert seqs(evs) == list(range(joined, after["seq"] + 1))
        # history agrees: nothing before the join
        h = w.ok("history", conv=g, limit=200)
        assert min(seqs(h["events"])) == joined and h["has_more"] is False
        h = w.ok("history", conv=g, before=joined)
        assert h["events"] == [] and h["has_more"] is False
    assert min(seqs(all_events(srv, late, g))) == joined


def test_new_member_unread_counts_only_visible_messages(srv):
    """`unread` = messages from others above read_seq; a new member cannot see (and so
    cannot read) the messages from before their join, so those are not unread."""
    o, late = users(srv, 2)
    g = create_group(srv, o, [])["id"]
    for i in range(4):
        rest_send(srv, o, g, text("before %d" % i))
    add_member(srv, o, g, late)
    rest_send(srv, o, g, text("after"))
    c = get_conv(srv, late, g)
    assert c["unread"] == 1, c


def test_sync_then_live_leaves_no_hole(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)["id"]
    rest_send(srv, b, d)
    with Chat(srv, a) as w:
        s = by_conv(w.ok("sync"))
        held = s[d]["events"][-1]["seq"]
        x = rest_send(srv, b, d, text("live"))
        e = w.wait_event(ev("message", d, seq=x["seq"]))
        assert e["seq"] == held + 1


# -- concurrency -------------------------------------------------------------------------

N_SENDERS = 4
N_MSGS = 50


def test_concurrent_senders_gapless_and_ordered_fanout(srv):
    """4 senders on separate sockets each send 50 messages to one 5-member group whose
    members have 1–2 sessions each (8 sockets, over 2 workers). Every seq is distinct and
    gapless; every session, the senders' own included (docs/protocol.md, send), gets
    every message exactly once, in increasing seq order."""
    us = users(srv, 5)
    g = create_group(srv, us[0], us[1:], title="busy")["id"]
    base = get_conv(srv, us[0], g)["last_seq"]
    per_user = [2, 2, 1, 2, 1]
    socks = []
    try:
        for u, n in zip(us, per_user):
            for _ in range(n):
                socks.append(Chat(srv, u, timeout=T(30)))
        spread_over_workers(srv, us[4], socks)
        # one sender per user for the first four users
        senders = {}
        for i in range(N_SENDERS):
            senders[i] = next(s for s in socks if s.user is us[i])
        sender_of = {id(s): i for i, s in senders.items()}
        total = N_SENDERS * N_MSGS
        start = threading.Barrier(len(socks))
        acks = {i: [] for i in range(N_SENDERS)}
        received = {id(s): [] for s in socks}
        errors = []

        def expected_done(s):
            return len(received[id(s)]) >= total

        def run(s):
            try:
                start.wait(T(10))
                if id(s) in sender_of:
                    k = sender_of[id(s)]
                    for i in range(N_MSGS):
                        s.send_json({"id": "k%d" % i, "op": "send", "conv": g,
                                     "cmid": "conc%d-%d" % (k, i),
                                     "body": text("%d/%d" % (k, i))})
                    for i in range(N_MSGS):
                        ans = s.wait_answer("k%d" % i, timeout=T(30))
                        assert "ok" in ans, ans
                        acks[k].append(ans["ok"])
                deadline = time.monotonic() + T(30)
                last_new = time.monotonic()
                while time.monotonic() < deadline:
                    n = len(received[id(s)])
                    for e in s.events:
                        if e.get("ev") == "message" and e.get("conv") == g:
                            received[id(s)].append(e)
                    s.events = []
                    if expected_done(s):
                        break
                    if len(received[id(s)]) > n:
                        last_new = time.monotonic()
                    elif time.monotonic() - last_new > T(3):
                        break   # nothing more is coming; the checks below tell what is missing
                    s.pump(0.05)
                # anything extra (a duplicate) would show up now
                s.pump(T(0.3))
                for e in s.events:
                    if e.get("ev") == "message" and e.get("conv") == g:
                        received[id(s)].append(e)
                s.events = []
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append("%r: %r" % (s, e))

        threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(T(90))
        assert not any(t.is_alive() for t in threads), "a client thread hung"
        assert not errors, errors

        all_seqs = sorted(a["seq"] for k in acks for a in acks[k])
        assert all_seqs == list(range(base + 1, base + total + 1)), "seqs not gapless/distinct"
        for k in acks:
            ks = [a["seq"] for a in acks[k]]
            assert ks == sorted(ks), "one sender's messages out of order: %r" % ks
        seq_of = {}
        for k in acks:
            for i, a in enumerate(acks[k]):
                seq_of["conc%d-%d" % (k, i)] = a["seq"]
        # sessions that did not send first, then the senders' own sessions
        for s in sorted(socks, key=lambda x: id(x) in sender_of):
            got = received[id(s)]
            ss = [e["seq"] for e in got]
            assert ss == sorted(set(ss)), "%r: duplicates or out of order" % s
            for e in got:
                assert seq_of[e["cmid"]] == e["seq"], e
                k, i = e["cmid"][4:].split("-")
                assert e["body"] == text("%s/%s" % (k, i)) and e["from"] == us[int(k)].id
            want = set(range(base + 1, base + total + 1))
            missed = want - set(ss)
            assert not missed, "%r (%s) missed %d messages, e.g. %r" % (
                s, "a sender" if id(s) in sender_of else "not a sender", len(missed),
                sorted(missed)[:5])
        evs = all_events(srv, us[4], g)
        assert [e["seq"] for e in evs] == list(range(1, base + total + 1))
    finally:
        close_all(*socks)
