"""Shared helpers for the chat integration tests (docs/protocol.md and docs/openapi.yaml).

`Chat` is an authenticated WebSocket session that keeps every event it sees (also
while it waits for an answer), so a test can look for events afterwards. The REST
helpers assert the status the contract gives for the happy path.
"""

import concurrent.futures
import itertools
import json
import re
import time

from conftest import T, error_code, poll_until
from wsraw import WSConn

_cmids = itertools.count(1)


def now_ms():
    return int(time.time() * 1000)


def new_cmid(prefix="m"):
    return "%s-%d-%d" % (prefix, int(time.time() * 1000) % 100000000, next(_cmids))


def text(s="hello"):
    return {"type": "text", "text": s}


def compact_len(obj):
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def users(srv, n):
    """n fresh users (registered concurrently: password hashing is the slow part)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        return list(ex.map(lambda _: srv.new_user(), range(n)))


# -- WebSocket ---------------------------------------------------------------------------

class Chat(WSConn):
    """One authenticated WebSocket session of `user`; events are kept in `self.events`."""

    def __init__(self, srv, user, timeout=None):
        super().__init__(srv.port, timeout=timeout or T(10))
        self.srv = srv
        self.user = user
        self.events = []
        self.answers = {}
        try:
            ans = self.auth(user.token)
            assert "ok" in ans, ans
        except Exception:
            self.close()
            raise

    def __repr__(self):
        return "<Chat %s>" % (self.user.username,)

    def wait_answer(self, rid, timeout=None):
        """The answer to request `rid`; events and other answers met meanwhile are kept
        (answers may come in any order: the protocol matches them by `re`)."""
        key = (type(rid).__name__, rid)
        if key in self.answers:
            return self.answers.pop(key)
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        for _ in range(100000):
            m = self.recv_json(max(0.0, deadline - time.monotonic()))
            if "re" in m:
                k = (type(m["re"]).__name__, m["re"])
                if k == key:
                    return m
                assert k not in self.answers, "two answers for re=%r" % (m["re"],)
                self.answers[k] = m
                continue
            if "ev" in m:
                self.events.append(m)
                continue
            raise AssertionError("unexpected message %r while waiting for re=%r" % (m, rid))
        raise AssertionError("no answer")

    def ok(self, op, **fields):
        ans = self.request(op, **fields)
        assert "ok" in ans and "error" not in ans, (op, fields, ans)
        return ans["ok"]

    def err(self, op, **fields):
        """The error code of an op expected to fail (asserts the error envelope)."""
        ans = self.request(op, **fields)
        assert "error" in ans and "ok" not in ans, (op, fields, ans)
        e = ans["error"]
        assert isinstance(e.get("code"), str) and isinstance(e.get("message"), str), ans
        return e["code"]

    def ping_ok(self):
        assert self.request("ping").get("ok") == {}, "socket no longer usable"

    # events
    def pump(self, seconds):
        """Read events for `seconds` (answers to nobody are an error)."""
        deadline = time.monotonic() + seconds
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                m = self.recv_json(left)
            except TimeoutError:
                return
            assert "ev" in m, "unexpected non-event %r" % (m,)
            self.events.append(m)

    def take(self, pred):
        for i, e in enumerate(self.events):
            if pred(e):
                return self.events.pop(i)
        return None

    def wait_event(self, pred, timeout=None, what="event"):
        """The first kept or newly read event matching pred (removed from the buffer)."""
        deadline = time.monotonic() + (timeout if timeout is not None else T(5))
        for _ in range(100000):
            e = self.take(pred)
            if e is not None:
                return e
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                m = self.recv_json(left)
            except TimeoutError:
                break
            assert "ev" in m, "unexpected non-event %r" % (m,)
            self.events.append(m)
        raise AssertionError("%r: no %s within timeout; events seen: %r"
                             % (self, what, self.events[-20:]))

    def no_event(self, pred, wait=None, what="event"):
        """Asserts no event matching pred is kept or arrives within `wait` seconds."""
        self.pump(wait if wait is not None else T(0.4))
        bad = [e for e in self.events if pred(e)]
        assert not bad, "%r: unexpected %s: %r" % (self, what, bad)

    def clear(self):
        self.events = []

    # chat ops
    def send_msg(self, conv, body=None, cmid=None, **extra):
        return self.ok("send", conv=conv, cmid=cmid or new_cmid(), body=body or text(), **extra)

    def history(self, conv, **kw):
        return self.ok("history", conv=conv, **kw)


def worker_of(srv, chat):
    """The worker ("w1", "w2", …) that serves `chat`, from the server's log."""
    port = chat.sock.getsockname()[1]
    pat = re.compile(r" (w\d+) c\d+ 127\.0\.0\.1:%d websocket authenticated" % port)

    def find():
        for line in reversed(srv.lines[-5000:]):
            m = pat.search(line)
            if m:
                return m.group(1)
        return None
    return poll_until(find, T(5), what="the log line of %r's auth" % (chat,))


def spread_over_workers(srv, user, socks, max_extra=24):
    """Opens more sessions of `user` (appended to socks) until socks are served by at
    least two workers, so fan-out crosses workers."""
    for _ in range(max_extra + 1):
        if len({worker_of(srv, s) for s in socks}) >= 2:
            return
        socks.append(Chat(srv, user))
    raise AssertionError("all %d sessions landed on one worker" % len(socks))


def ev(name, conv=None, **match):
    """A predicate for events named `name` (in `conv`, with the given field values)."""
    def pred(e):
        if e.get("ev") != name:
            return False
        if conv is not None and e.get("conv") != conv:
            return False
        return all(e.get(k) == v for k, v in match.items())
    pred.__name__ = "ev_%s" % name
    return pred


# -- REST --------------------------------------------------------------------------------

def api(srv, method, path, user, json=None, params=None):
    kw = {}
    if json is not None:
        kw["json"] = json
    if params is not None:
        kw["params"] = params
    token = user if isinstance(user, str) else user.token
    return srv.request(method, path, token=token, **kw)


def expect(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    if code is not None:
        assert error_code(resp) == code, resp.text[:500]
    if status == 204:
        return None
    return resp.json()


def create_direct(srv, user, peer, status=201):
    r = api(srv, "POST", "/v1/conversations", user, {"type": "direct", "peer": peer})
    return expect(r, status)


def create_group(srv, owner, members=(), title=None, **extra):
    body = {"type": "group", "title": title or "group", "members": [
        m if isinstance(m, (int, str)) else m.id for m in members]}
    body.update(extra)
    r = api(srv, "POST", "/v1/conversations", owner, body)
    return expect(r, 201)


def get_conv(srv, user, cid):
    return expect(api(srv, "GET", "/v1/conversations/%d" % cid, user), 200)


def list_convs(srv, user):
    body = expect(api(srv, "GET", "/v1/conversations", user), 200)
    return body["conversations"]


def conv_in_list(srv, user, cid):
    for c in list_convs(srv, user):
        if c["id"] == cid:
            return c
    return None


def members(srv, user, cid):
    return expect(api(srv, "GET", "/v1/conversations/%d/members" % cid, user), 200)["members"]


def member_of(srv, user, cid, uid):
    for m in members(srv, user, cid):
        if m["user"]["id"] == uid:
            return m
    return None


def add_member(srv, actor, cid, who, status=201, code=None):
    r = api(srv, "POST", "/v1/conversations/%d/members" % cid, actor,
            {"user": who if isinstance(who, (int, str)) else who.id})
    return expect(r, status, code)


def remove_member(srv, actor, cid, who, status=204, code=None):
    uid = who if isinstance(who, int) else who.id
    r = api(srv, "DELETE", "/v1/conversations/%d/members/%d" % (cid, uid), actor)
    return expect(r, status, code)


def patch_member(srv, actor, cid, who, body, status=200, code=None):
    uid = who if isinstance(who, int) else who.id
    r = api(srv, "PATCH", "/v1/conversations/%d/members/%d" % (cid, uid), actor, body)
    return expect(r, status, code)


def patch_conv(srv, actor, cid, body, status=200, code=None):
    r = api(srv, "PATCH", "/v1/conversations/%d" % cid, actor, body)
    return expect(r, status, code)


def transfer_owner(srv, actor, cid, who, status=200, code=None):
    r = api(srv, "POST", "/v1/conversations/%d/owner" % cid, actor, {"user": who.id})
    return expect(r, status, code)


def rest_send(srv, user, cid, body=None, cmid=None, status=201, code=None, **extra):
    payload = {"cmid": cmid or new_cmid(), "body": body or text()}
    payload.update(extra)
    r = api(srv, "POST", "/v1/conversations/%d/messages" % cid, user, payload)
    return expect(r, status, code)


def rest_history(srv, user, cid, **params):
    r = api(srv, "GET", "/v1/conversations/%d/messages" % cid, user, params=params or None)
    return expect(r, 200)


def all_events(srv, user, cid):
    """Every visible timeline event of cid, ascending (REST history paged with before=)."""
    out = []
    params = {"limit": 200}
    for _ in range(1000):
        r = api(srv, "GET", "/v1/conversations/%d/messages" % cid, user, params=params)
        body = expect(r, 200)
        out += body["events"]
        if not body["has_more"] or not body["events"]:
            out.reverse()
            return out
        params = {"limit": 200, "before": body["events"][-1]["seq"]}
    raise AssertionError("history never ended")


def last_seq(srv, user, cid):
    return get_conv(srv, user, cid)["last_seq"]


def messages_only(events):
    return [e for e in events if e["ev"] == "message"]


def event_at(events, seq):
    for e in events:
        if e["seq"] == seq:
            return e
    return None


def close_all(*socks):
    for s in socks:
        try:
            s.close()
        except Exception:
            pass
