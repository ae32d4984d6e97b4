"""Streaming messages: a `send` with "streaming": true opens a text message that its
sender grows (op `append`) or rewrites (op `replace`), over the WebSocket or REST
(`POST /v1/conversations/{conv}/messages/{seq}/append|replace`).

Each chunk is stored at once and reaches every member's sessions as an
{"ev":"stream"} without a seq of its own; the final chunk ends the stream with an
`edit` event ("streamed": true, the whole body, its own seq), so `sync` and `history`
give late and returning clients the finished text, never marked edited. Errors:
409 conflict (not streaming, or finished), 403 forbidden (someone else's message),
413 payload_too_large (the whole text over max_message_size), 400 bad_request (bad
types), 404 not_found (not a member); the content filter applies to each chunk, and
each chunk counts against the sender's message rate limit. Webhooks: message.created
at the start, message.edited at the end, nothing for the chunks.

Contract: docs/protocol.md (Streaming messages) and docs/openapi.yaml.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatlib import (Chat, api, compact_len, create_direct, create_group, ev,
                     event_at, expect, last_seq, new_cmid, rest_history, rest_send, text,
                     users)
from conftest import T, error_code, poll_until, unique

MAX_MSG = 2048
STREAM_KEYS = {"ev", "conv", "seq", "op", "text"}
ACK_KEYS = {"seq", "id", "ts"}


@pytest.fixture(scope="module")
def filter_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream-filters")
    (d / "rude.mask.txt").write_text("fuck\n")
    (d / "banned.reject.txt").write_text("forbidden phrase\n")
    (d / "review.flag.txt").write_text("lottery\n")
    return d


@pytest.fixture(scope="module")
def srv(module_server_factory, filter_dir):
    return module_server_factory("--registration", "open", "--max-message-size", "2k",
                                 "--chat-notifications", "off",
                                 "--content-filter-dir", str(filter_dir),
                                 "--webhook-allow-http", "yes",
                                 "--webhook-allow-private", "yes",
                                 "--webhook-retry-base", "200ms", "--webhook-timeout", "2s")


@pytest.fixture(scope="module")
def people(srv):
    """a (the streamer), b (a member), c (another member), x (not a member)."""
    return users(srv, 4)


@pytest.fixture
def group(srv, people):
    a, b, c, _ = people
    return create_group(srv, a, [b, c], title=unique("stream"))["id"]


# -- helpers -----------------------------------------------------------------------------

def stream_path(conv, seq, op):
    return "/v1/conversations/%d/messages/%d/%s" % (conv, seq, op)


def rest_stream(srv, user, conv, seq, op, chunk, final=None, status=200, code=None, raw=None):
    payload = raw if raw is not None else {"text": chunk}
    if final is not None and raw is None:
        payload["final"] = final
    r = api(srv, "POST", stream_path(conv, seq, op), user, payload)
    return expect(r, status, code)


def ws_open(w, conv, initial="", **extra):
    """Opens a streaming message over the WebSocket; its ack."""
    return w.send_msg(conv, text(initial), streaming=True, **extra)


def rest_open(srv, user, conv, initial="", **extra):
    return rest_send(srv, user, conv, text(initial), streaming=True, **extra)


def message_at(srv, user, conv, seq):
    """The message at seq as REST history shows it now."""
    body = rest_history(srv, user, conv, limit=200)
    m = event_at(body["events"], seq)
    assert m is not None, (seq, body)
    return m


def check_progress(ans, seq, length):
    assert set(ans) == {"seq", "length"}, ans
    assert ans["seq"] == seq and ans["length"] == length, (ans, seq, length)


def check_final_ack(ans, msg_seq):
    assert set(ans) >= ACK_KEYS, ans
    assert ans["seq"] > msg_seq and isinstance(ans["id"], int) and isinstance(ans["ts"], int)
    assert not ans.get("duplicate"), ans


def check_finished(m, want_text):
    """A message as history/sync show it once its stream ended."""
    assert m["ev"] == "message", m
    assert m["body"] == text(want_text), m
    assert "streaming" not in m, m
    assert "edited" not in m and "edited_at" not in m, m


def check_stream_event(e, conv, seq, op, chunk):
    assert set(e) == STREAM_KEYS, e
    assert (e["conv"], e["seq"], e["op"], e["text"]) == (conv, seq, op, chunk), e


# -- live: a member sees the chunks, in order, then the final edit --------------------------

def test_ws_member_sees_chunks_live_in_order_then_final_edit(srv, people, group):
    a, b, c, _ = people
    with Chat(srv, a) as wa, Chat(srv, a) as wa2, Chat(srv, b) as wb:
        ack = ws_open(wa, group, "Hel")
        msg = wb.wait_event(ev("message", group, seq=ack["seq"]))
        assert msg["streaming"] is True and msg["body"] == text("Hel"), msg
        assert msg["from"] == a.id and "edited" not in msg, msg

        chunks = ["lo", ", wo", "rld", ""]
        total = "Hel"
        for ch in chunks:
            total += ch
            check_progress(wa.ok("append", conv=group, seq=ack["seq"], text=ch),
                           ack["seq"], len(total.encode()))
        for ch in chunks:
            got = wb.wait_event(ev("stream", group))
            check_stream_event(got, group, ack["seq"], "append", ch)
            # The sender's other sessions follow the stream too.
            mine = wa2.wait_event(ev("stream", group))
            check_stream_event(mine, group, ack["seq"], "append", ch)

        # No seq is taken by the chunks.
        assert last_seq(srv, b, group) == ack["seq"]

        fin = wa.ok("append", conv=group, seq=ack["seq"], text="!", final=True)
        check_final_ack(fin, ack["seq"])
        assert fin["seq"] == ack["seq"] + 1
        edit = wb.wait_event(ev("edit", group, seq=fin["seq"]))
        assert edit["streamed"] is True and edit["target"] == ack["seq"], edit
        assert edit["body"] == text("Hello, world!") and edit["from"] == a.id, edit
        assert edit["id"] == fin["id"] and edit["ts"] == fin["ts"], (edit, fin)
        assert "streaming" not in edit, edit
        # The final chunk comes only inside the edit, not as a stream event.
        wb.no_event(ev("stream", group), wait=T(0.3))

    check_finished(message_at(srv, b, group, ack["seq"]), "Hello, world!")
    e = message_at(srv, c, group, fin["seq"])
    assert e["ev"] == "edit" and e["streamed"] is True and e["target"] == ack["seq"], e
    assert e["body"] == text("Hello, world!"), e


def test_pipelined_appends_keep_their_order(srv, people, group):
    a, b, _, _ = people
    parts = ["<%d>" % i for i in range(40)]
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        ack = ws_open(wa, group, "")
        ids = []
        for p in parts:
            rid = wa.new_id()
            wa.send_json({"id": rid, "op": "append", "conv": group, "seq": ack["seq"], "text": p})
            ids.append(rid)
        lengths = [wa.wait_answer(rid)["ok"]["length"] for rid in ids]
        assert lengths == [len("".join(parts[:i + 1])) for i in range(len(parts))], lengths
        got = [wb.wait_event(ev("stream", group, seq=ack["seq"]))["text"] for _ in parts]
        assert got == parts
        fin = wa.ok("append", conv=group, seq=ack["seq"], text="", final=True)
        edit = wb.wait_event(ev("edit", group, seq=fin["seq"]))
        assert edit["body"]["text"] == "".join(parts), edit
    check_finished(message_at(srv, a, group, ack["seq"]), "".join(parts))


# -- history and sync ------------------------------------------------------------------------

def test_history_during_stream_shows_partial_text_streaming(srv, people, group):
    a, b, _, _ = people
    ack = rest_open(srv, a, group, "Once")
    m = message_at(srv, b, group, ack["seq"])
    assert m["streaming"] is True and m["body"] == text("Once"), m
    rest_stream(srv, a, group, ack["seq"], "append", " upon")
    rest_stream(srv, a, group, ack["seq"], "append", " a time")
    m = message_at(srv, b, group, ack["seq"])
    assert m["streaming"] is True and m["body"] == text("Once upon a time"), m
    assert "edited" not in m, m
    # The WebSocket history op says the same.
    with Chat(srv, b) as wb:
        h = wb.history(group, limit=10)
        m2 = event_at(h["events"], ack["seq"])
        assert m2["streaming"] is True and m2["body"] == text("Once upon a time"), m2
    fin = rest_stream(srv, a, group, ack["seq"], "append", ".", final=True)
    check_final_ack(fin, ack["seq"])
    check_finished(message_at(srv, b, group, ack["seq"]), "Once upon a time.")
    # Only the message and the one edit are on the timeline.
    assert last_seq(srv, a, group) == fin["seq"] == ack["seq"] + 1


def test_sync_for_late_and_reconnecting_clients(srv, people, group):
    a, b, c, _ = people
    with Chat(srv, a) as wa:
        ack = ws_open(wa, group, "alpha")
        # b's device holds the timeline up to the streaming message, then goes away.
        with Chat(srv, b) as wb:
            s = wb.ok("sync", convs={})
            entry = [e for e in s["convs"] if e["conv"]["id"] == group][0]
            m = event_at(entry["events"], ack["seq"])
            assert m["streaming"] is True and m["body"] == text("alpha"), m
            held = max(e["seq"] for e in entry["events"])
            assert held == ack["seq"]
        wa.ok("append", conv=group, seq=ack["seq"], text=" beta")
        wa.ok("replace", conv=group, seq=ack["seq"], text="gamma")
        fin = wa.ok("append", conv=group, seq=ack["seq"], text=" delta", final=True)

    # b comes back: the edit brings the finished text.
    with Chat(srv, b) as wb:
        s = wb.ok("sync", convs={str(group): held})
        entry = [e for e in s["convs"] if e["conv"]["id"] == group][0]
        assert [e["seq"] for e in entry["events"]] == [fin["seq"]], entry
        e = entry["events"][0]
        assert e["ev"] == "edit" and e["streamed"] is True and e["target"] == ack["seq"], e
        assert e["body"] == text("gamma delta"), e
        # No stream events are replayed.
        wb.no_event(ev("stream"), wait=T(0.2))

    # A new device of c: the message comes finished, not streaming, not edited.
    with Chat(srv, c) as wc:
        s = wc.ok("sync", convs={})
        entry = [e for e in s["convs"] if e["conv"]["id"] == group][0]
        check_finished(event_at(entry["events"], ack["seq"]), "gamma delta")
        e = event_at(entry["events"], fin["seq"])
        assert e["ev"] == "edit" and e["streamed"] is True, e
    check_finished(message_at(srv, c, group, ack["seq"]), "gamma delta")


def test_member_offline_during_the_whole_stream(srv, people):
    a, b, _, _ = people
    d = create_direct(srv, a, b.id)["id"]
    ack = rest_open(srv, a, d, "one")
    for w in (" two", " three"):
        rest_stream(srv, a, d, ack["seq"], "append", w)
    rest_stream(srv, a, d, ack["seq"], "append", " four", final=True)
    with Chat(srv, b) as wb:
        s = wb.ok("sync", convs={str(d): ack["seq"] - 1})
        entry = [e for e in s["convs"] if e["conv"]["id"] == d][0]
        check_finished(event_at(entry["events"], ack["seq"]), "one two three four")


# -- replace ----------------------------------------------------------------------------------

def test_replace_rewrites_the_whole_text(srv, people, group):
    a, b, _, _ = people
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        ack = ws_open(wa, group, "draft")
        wb.wait_event(ev("message", group, seq=ack["seq"]))
        check_progress(wa.ok("replace", conv=group, seq=ack["seq"], text="a better draft"),
                       ack["seq"], len("a better draft"))
        check_stream_event(wb.wait_event(ev("stream", group)), group, ack["seq"], "replace",
                           "a better draft")
        assert message_at(srv, b, group, ack["seq"])["body"] == text("a better draft")
        # append goes on from the replaced text
        check_progress(wa.ok("append", conv=group, seq=ack["seq"], text=" + more"),
                       ack["seq"], len("a better draft + more"))
        check_stream_event(wb.wait_event(ev("stream", group)), group, ack["seq"], "append",
                           " + more")
        # replacing with "" empties it
        check_progress(wa.ok("replace", conv=group, seq=ack["seq"], text=""), ack["seq"], 0)
        check_stream_event(wb.wait_event(ev("stream", group)), group, ack["seq"], "replace", "")
        m = message_at(srv, b, group, ack["seq"])
        assert m["body"] == text("") and m["streaming"] is True, m
        fin = wa.ok("replace", conv=group, seq=ack["seq"], text="the answer", final=True)
        check_final_ack(fin, ack["seq"])
        edit = wb.wait_event(ev("edit", group, seq=fin["seq"]))
        assert edit["streamed"] is True and edit["body"] == text("the answer"), edit
        wb.no_event(ev("stream", group), wait=T(0.2))
    check_finished(message_at(srv, b, group, ack["seq"]), "the answer")


def test_rest_append_and_replace_reach_ws_members(srv, people, group):
    a, b, _, _ = people
    with Chat(srv, b) as wb:
        ack = rest_open(srv, a, group, "")
        assert set(ack) >= ACK_KEYS
        msg = wb.wait_event(ev("message", group, seq=ack["seq"]))
        assert msg["streaming"] is True and msg["body"] == text(""), msg
        check_progress(rest_stream(srv, a, group, ack["seq"], "append", "Hi"), ack["seq"], 2)
        check_progress(rest_stream(srv, a, group, ack["seq"], "append", " there", final=False),
                       ack["seq"], 8)
        check_progress(rest_stream(srv, a, group, ack["seq"], "replace", "Hello"), ack["seq"], 5)
        got = [wb.wait_event(ev("stream", group)) for _ in range(3)]
        check_stream_event(got[0], group, ack["seq"], "append", "Hi")
        check_stream_event(got[1], group, ack["seq"], "append", " there")
        check_stream_event(got[2], group, ack["seq"], "replace", "Hello")
        fin = rest_stream(srv, a, group, ack["seq"], "append", " world", final=True)
        check_final_ack(fin, ack["seq"])
        edit = wb.wait_event(ev("edit", group, seq=fin["seq"]))
        assert edit["streamed"] is True and edit["target"] == ack["seq"], edit
        assert edit["body"] == text("Hello world"), edit
    check_finished(message_at(srv, b, group, ack["seq"]), "Hello world")


def test_length_counts_utf8_bytes_and_body_keeps_other_fields(srv, people, group):
    a, b, _, _ = people
    body = {"type": "text", "text": "", "format": "markdown"}
    with Chat(srv, a) as wa:
        ack = wa.send_msg(group, body, streaming=True)
        check_progress(wa.ok("append", conv=group, seq=ack["seq"], text="é"), ack["seq"], 2)
        check_progress(wa.ok("append", conv=group, seq=ack["seq"], text="日本"), ack["seq"], 8)
        check_progress(wa.ok("append", conv=group, seq=ack["seq"], text="🐦"), ack["seq"], 12)
        wa.ok("append", conv=group, seq=ack["seq"], text="", final=True)
    m = message_at(srv, b, group, ack["seq"])
    assert m["body"] == {"type": "text", "text": "é日本🐦", "format": "markdown"}, m
    assert "streaming" not in m and "edited" not in m, m


def test_streaming_false_is_an_ordinary_message(srv, people, group):
    a, _, _, _ = people
    ack = rest_send(srv, a, group, text("plain"), streaming=False)
    m = message_at(srv, a, group, ack["seq"])
    assert "streaming" not in m and m["body"] == text("plain"), m
    for op in ("append", "replace"):
        rest_stream(srv, a, group, ack["seq"], op, "x", status=409, code="conflict")


def test_reply_to_and_mentions_kept_with_streaming(srv, people, group):
    a, b, _, _ = people
    first = rest_send(srv, b, group, text("question?"))
    ack = rest_open(srv, a, group, "ans", reply_to=first["seq"], mentions=[b.id])
    m = message_at(srv, b, group, ack["seq"])
    assert m["streaming"] is True and m["reply_to"] == first["seq"], m
    assert m["mentions"] == [b.id], m
    rest_stream(srv, a, group, ack["seq"], "append", "wer", final=True)
    m = message_at(srv, b, group, ack["seq"])
    check_finished(m, "answer")
    assert m["reply_to"] == first["seq"] and m["mentions"] == [b.id], m


def test_a_later_ordinary_edit_is_marked_edited(srv, people, group):
    a, b, _, _ = people
    ack = rest_open(srv, a, group, "v1")
    rest_stream(srv, a, group, ack["seq"], "append", "", final=True)
    check_finished(message_at(srv, b, group, ack["seq"]), "v1")
    with Chat(srv, a) as wa:
        wa.ok("edit", conv=group, seq=ack["seq"], body=text("v2"))
    m = message_at(srv, b, group, ack["seq"])
    assert m["body"] == text("v2") and m.get("edited") is True, m
    assert "streaming" not in m, m


# -- errors -------------------------------------------------------------------------------------

def test_after_final_append_and_replace_conflict(srv, people, group):
    a, b, _, _ = people
    ack = rest_open(srv, a, group, "done")
    fin = rest_stream(srv, a, group, ack["seq"], "append", ".", final=True)
    for op in ("append", "replace"):
        rest_stream(srv, a, group, ack["seq"], op, "more", status=409, code="conflict")
        rest_stream(srv, a, group, ack["seq"], op, "more", final=True, status=409,
                    code="conflict")
    with Chat(srv, a) as wa:
        for op in ("append", "replace"):
            assert wa.err(op, conv=group, seq=ack["seq"], text="x") == "conflict"
            assert wa.err(op, conv=group, seq=ack["seq"], text="x", final=True) == "conflict"
    check_finished(message_at(srv, b, group, ack["seq"]), "done.")
    assert last_seq(srv, a, group) == fin["seq"]


def test_someone_elses_message_is_forbidden(srv, people, group):
    a, b, _, _ = people
    ack = rest_open(srv, a, group, "mine")
    with Chat(srv, b) as wb:
        for op in ("append", "replace"):
            rest_stream(srv, b, group, ack["seq"], op, "theirs", status=403, code="forbidden")
            rest_stream(srv, b, group, ack["seq"], op, "theirs", final=True, status=403,
                        code="forbidden")
            assert wb.err(op, conv=group, seq=ack["seq"], text="theirs") == "forbidden"
    m = message_at(srv, a, group, ack["seq"])
    assert m["body"] == text("mine") and m["streaming"] is True, m
    rest_stream(srv, a, group, ack["seq"], "append", "", final=True)


def test_non_streaming_message_conflicts(srv, people, group):
    a, b, _, _ = people
    plain = rest_send(srv, a, group, text("plain"))
    with Chat(srv, a) as wa:
        for op in ("append", "replace"):
            rest_stream(srv, a, group, plain["seq"], op, "x", status=409, code="conflict")
            assert wa.err(op, conv=group, seq=plain["seq"], text="x", final=True) == "conflict"
    m = message_at(srv, b, group, plain["seq"])
    assert m["body"] == text("plain") and "edited" not in m, m


def test_not_a_message_or_recalled_is_forbidden(srv, people, group):
    a, _, _, _ = people
    # seq 1 of a group is its conv_created event.
    rest_stream(srv, a, group, 1, "append", "x", status=403, code="forbidden")
    ack = rest_open(srv, a, group, "oops")
    with Chat(srv, a) as wa:
        wa.ok("recall", conv=group, seq=ack["seq"])
        for op in ("append", "replace"):
            assert wa.err(op, conv=group, seq=ack["seq"], text="x") == "forbidden"
            rest_stream(srv, a, group, ack["seq"], op, "x", status=403, code="forbidden")


def test_non_member_and_unknown_get_not_found(srv, people, group):
    a, _, _, x = people
    ack = rest_open(srv, a, group, "private")
    with Chat(srv, x) as wx:
        for op in ("append", "replace"):
            rest_stream(srv, x, group, ack["seq"], op, "x", status=404, code="not_found")
            assert wx.err(op, conv=group, seq=ack["seq"], text="x") == "not_found"
    for op in ("append", "replace"):
        # no such event, no such conversation, not a number
        rest_stream(srv, a, group, ack["seq"] + 1000, op, "x", status=404, code="not_found")
        rest_stream(srv, a, 10 ** 9, 1, op, "x", status=404, code="not_found")
        r = srv.post("/v1/conversations/%d/messages/abc/%s" % (group, op), token=a.token,
                     json={"text": "x"})
        assert r.status_code == 404 and error_code(r) == "not_found", r.text
    m = message_at(srv, a, group, ack["seq"])
    assert m["body"] == text("private") and m["streaming"] is True, m


def test_no_token_is_unauthorized(srv, people, group):
    a, _, _, _ = people
    ack = rest_open(srv, a, group, "")
    r = srv.post(stream_path(group, ack["seq"], "append"), json={"text": "x"})
    assert r.status_code == 401, r.text


def test_too_long_is_payload_too_large_and_keeps_the_text(srv, people, group):
    a, b, _, _ = people
    overhead = compact_len(text(""))
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        ack = ws_open(wa, group, "start")
        # One chunk larger than the limit by itself.
        for op in ("append", "replace"):
            assert wa.err(op, conv=group, seq=ack["seq"], text="y" * (MAX_MSG + 1)) == \
                "payload_too_large"
            rest_stream(srv, a, group, ack["seq"], op, "y" * (MAX_MSG + 1), status=413,
                        code="payload_too_large")
        # The whole body fits exactly: accepted; one more byte: refused.
        fill = MAX_MSG - overhead - len("start")
        check_progress(wa.ok("append", conv=group, seq=ack["seq"], text="z" * fill),
                       ack["seq"], MAX_MSG - overhead)
        assert wa.err("append", conv=group, seq=ack["seq"], text="z") == "payload_too_large"
        rest_stream(srv, a, group, ack["seq"], "append", "z", status=413,
                    code="payload_too_large")
        rest_stream(srv, a, group, ack["seq"], "append", "z", final=True, status=413,
                    code="payload_too_large")
        # A replace is measured by its own text, not added to the old one.
        assert wa.err("replace", conv=group, seq=ack["seq"],
                      text="w" * (MAX_MSG - overhead + 1)) == "payload_too_large"
        m = message_at(srv, b, group, ack["seq"])
        assert m["streaming"] is True and m["body"] == text("start" + "z" * fill), m
        # Refused chunks reached nobody.
        wb.wait_event(ev("stream", group, op="append", text="z" * fill))
        wb.no_event(ev("stream", group), wait=T(0.3))
        # A replace by a shorter text is fine.
        check_progress(wa.ok("replace", conv=group, seq=ack["seq"], text="short"),
                       ack["seq"], 5)
        wa.ok("append", conv=group, seq=ack["seq"], text="", final=True)
    check_finished(message_at(srv, b, group, ack["seq"]), "short")


@pytest.mark.parametrize("fields", [
    {},                                   # no text
    {"text": None},
    {"text": 5},
    {"text": ["a"]},
    {"text": {"t": "a"}},
    {"text": "a", "final": "yes"},
    {"text": "a", "final": 1},
], ids=["missing", "null", "number", "array", "object", "final-string", "final-int"])
# (null for an optional field, final or streaming, reads as absent, as everywhere.)
def test_bad_types_are_bad_request(srv, people, group, fields):
    a, _, _, _ = people
    ack = rest_open(srv, a, group, "keep")
    with Chat(srv, a) as wa:
        for op in ("append", "replace"):
            r = api(srv, "POST", stream_path(group, ack["seq"], op), a, fields)
            assert r.status_code == 400 and error_code(r) == "bad_request", (op, fields, r.text)
            assert wa.err(op, conv=group, seq=ack["seq"], **fields) == "bad_request", fields
    m = message_at(srv, a, group, ack["seq"])
    assert m["body"] == text("keep") and m["streaming"] is True, m


def test_bad_conv_or_seq_over_ws_is_bad_request(srv, people, group):
    a, _, _, _ = people
    ack = rest_open(srv, a, group, "")
    with Chat(srv, a) as wa:
        for op in ("append", "replace"):
            for bad in ({"seq": ack["seq"]}, {"conv": group},
                        {"conv": group, "seq": "1"}, {"conv": group, "seq": 0},
                        {"conv": group, "seq": -3}, {"conv": group, "seq": 1.5},
                        {"conv": str(group), "seq": ack["seq"]}):
                assert wa.err(op, text="x", **bad) == "bad_request", (op, bad)
    # REST: a body that is not a JSON object
    for raw in (b"[]", b"\"x\"", b"{not json"):
        r = srv.post(stream_path(group, ack["seq"], "append"), token=a.token, data=raw,
                     headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.status_code, r.text)


@pytest.mark.parametrize("extra", [
    {"streaming": "yes", "body": text("x")},
    {"streaming": 1, "body": text("x")},
    {"streaming": True, "body": {"type": "image", "file": 1}},
    {"streaming": True, "body": {"type": "text"}},
    {"streaming": True, "body": {"type": "text", "text": 42}},
], ids=["string", "int", "no-text", "text-missing", "text-number"])
def test_send_with_bad_streaming_is_bad_request(srv, people, group, extra):
    a, _, _, _ = people
    before = last_seq(srv, a, group)
    payload = {"cmid": new_cmid()}
    payload.update(extra)
    r = api(srv, "POST", "/v1/conversations/%d/messages" % group, a, payload)
    assert r.status_code == 400 and error_code(r) == "bad_request", (extra, r.text)
    with Chat(srv, a) as wa:
        assert wa.err("send", conv=group, cmid=new_cmid(), **extra) == "bad_request", extra
    assert last_seq(srv, a, group) == before


# -- content filter ------------------------------------------------------------------------------

def test_content_filter_applies_to_each_chunk(srv, people, group):
    a, b, _, _ = people
    with Chat(srv, a) as wa, Chat(srv, b) as wb:
        ack = ws_open(wa, group, "ok ")
        # reject: nothing stored, nothing sent
        assert wa.err("append", conv=group, seq=ack["seq"],
                      text="a forbidden phrase") == "content_blocked"
        rest_stream(srv, a, group, ack["seq"], "replace", "forbidden phrase", status=400,
                    code="content_blocked")
        rest_stream(srv, a, group, ack["seq"], "append", "forbidden phrase", final=True,
                    status=400, code="content_blocked")
        m = message_at(srv, b, group, ack["seq"])
        assert m["body"] == text("ok ") and m["streaming"] is True, m
        wb.no_event(ev("stream", group), wait=T(0.2))
        # mask: the chunk is stored and sent masked
        check_progress(wa.ok("append", conv=group, seq=ack["seq"], text="what the F.u.c.k"),
                       ack["seq"], len("ok what the ***"))
        got = wb.wait_event(ev("stream", group))
        check_stream_event(got, group, ack["seq"], "append", "what the ***")
        fin = wa.ok("append", conv=group, seq=ack["seq"], text=" fuck", final=True)
        edit = wb.wait_event(ev("edit", group, seq=fin["seq"]))
        assert edit["body"] == text("ok what the *** ***"), edit
    check_finished(message_at(srv, b, group, ack["seq"]), "ok what the *** ***")


def test_initial_text_goes_through_the_filter(srv, people, group):
    a, _, _, _ = people
    rest_send(srv, a, group, text("forbidden phrase"), streaming=True, status=400,
              code="content_blocked")
    ack = rest_open(srv, a, group, "fuck")
    assert message_at(srv, a, group, ack["seq"])["body"] == text("***")


def test_flagged_chunk_is_listed_for_review(srv, people, group):
    a, b, _, _ = people
    admin = srv.admin_token()
    ack = rest_open(srv, a, group, "and the winner ")
    rest_stream(srv, a, group, ack["seq"], "append", "of the Lottery is")
    rest_stream(srv, a, group, ack["seq"], "append", " you", final=True)
    check_finished(message_at(srv, b, group, ack["seq"]), "and the winner of the Lottery is you")
    flags = expect(srv.get("/v1/admin/content-flags", token=admin), 200)["flags"]
    mine = [f for f in flags if f["conv"] == group and f["seq"] == ack["seq"]]
    assert len(mine) == 1, ("a chunk with a flagged word is listed for review like an edit",
                            flags)
    assert (mine[0]["sender"], mine[0]["word"]) == (a.id, "lottery"), mine


def test_rejected_phrase_split_over_chunks(srv, people, group):
    a, b, _, _ = people
    ack = rest_open(srv, a, group, "a forbidden")
    r = api(srv, "POST", stream_path(group, ack["seq"], "append"), a,
            {"text": " phrase", "final": True})
    assert r.status_code == 400 and error_code(r) == "content_blocked", r.text


# -- search ---------------------------------------------------------------------------------------

def test_search_finds_the_finished_text(srv, people, group):
    a, b, _, _ = people
    ack = rest_open(srv, a, group, "aardvark ")
    rest_stream(srv, a, group, ack["seq"], "append", "bandicoot")
    rest_stream(srv, a, group, ack["seq"], "replace", "capybara ")
    rest_stream(srv, a, group, ack["seq"], "append", "dugong", final=True)

    def found(q):
        body = expect(api(srv, "GET", "/v1/search", b, params={"q": q, "conv": group}), 200)
        return [(r["seq"], r["body"]["text"]) for r in body["results"]]
    poll_until(lambda: found("dugong") == [(ack["seq"], "capybara dugong")], T(5),
               what="the finished text in search")
    assert found("capybara") == [(ack["seq"], "capybara dugong")]
    assert found("aardvark") == [] and found("bandicoot") == []


# -- rate limits --------------------------------------------------------------------------------

def test_chunks_count_against_the_message_rate_limit(server_factory):
    s = server_factory("--user-message-rate", "1", "--user-message-burst", "4")
    a, b = s.create_user(), s.create_user()
    d = create_direct(s, a, b.id)["id"]
    ack = rest_open(s, a, d, "")                                     # 1
    rest_stream(s, a, d, ack["seq"], "append", "a")                  # 2
    rest_stream(s, a, d, ack["seq"], "replace", "ab")                # 3
    with Chat(s, a) as wa:
        wa.ok("append", conv=d, seq=ack["seq"], text="c")            # 4
        assert wa.err("append", conv=d, seq=ack["seq"], text="d") == "rate_limited"
        r = api(s, "POST", stream_path(d, ack["seq"], "replace"), a, {"text": "zz"})
        assert r.status_code == 429 and error_code(r) == "rate_limited", r.text
        r = api(s, "POST", "/v1/conversations/%d/messages" % d, a,
                {"cmid": new_cmid(), "body": text("shared bucket")})
        assert r.status_code == 429, r.text
        # b is not held back by a.
        rest_send(s, b, d, text("from b"))
    m = message_at(s, b, d, ack["seq"])
    assert m["body"] == text("abc") and m["streaming"] is True, m
    # The bucket refills: the stream can go on and end.
    poll_until(lambda: api(s, "POST", stream_path(d, ack["seq"], "append"), a,
                           {"text": "!", "final": True}).status_code == 200,
               T(5), interval=0.3, what="the message bucket to refill")
    check_finished(message_at(s, b, d, ack["seq"]), "abc!")


# -- webhooks ------------------------------------------------------------------------------------

class _Hits(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with self.server.lock:
            self.server.hits.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")
        self.close_connection = True


@pytest.fixture(scope="module")
def receiver():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    httpd.daemon_threads = True
    httpd.hits = []
    httpd.lock = threading.Lock()
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_webhooks_created_at_start_edited_at_end(srv, people, group, receiver):
    a, _, _, _ = people
    path = "/hook/" + unique("s")
    url = "http://127.0.0.1:%d%s" % (receiver.server_address[1], path)
    hook = expect(srv.post("/v1/admin/webhooks", token=srv.admin_token(),
                           json={"url": url, "events": ["message.created", "message.edited"]}),
                  201)
    try:
        ack = rest_open(srv, a, group, "hook ")
        for ch in ("me ", "up"):
            rest_stream(srv, a, group, ack["seq"], "append", ch)
        rest_stream(srv, a, group, ack["seq"], "replace", "hooked")
        fin = rest_stream(srv, a, group, ack["seq"], "append", "!", final=True)

        def mine():
            with receiver.lock:
                return [b for p, b in receiver.hits if p == path]
        got = poll_until(lambda: (lambda hs: hs if len(hs) >= 2 else None)(mine()), T(10),
                         what="two webhook deliveries")
        time.sleep(T(0.5))  # nothing more comes for the chunks
        got = mine()
        assert [b["type"] for b in got] == ["message.created", "message.edited"], got
        created, edited = got[0]["data"], got[1]["data"]
        assert created["seq"] == ack["seq"] and created["streaming"] is True, created
        assert created["body"] == text("hook "), created
        assert edited["seq"] == fin["seq"] and edited["target"] == ack["seq"], edited
        assert edited["streamed"] is True and edited["body"] == text("hooked!"), edited
    finally:
        srv.request("DELETE", "/v1/admin/webhooks/%d" % hook["id"], token=srv.admin_token())
