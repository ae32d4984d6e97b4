"""The hostile-input catalogue: what a case is, the answers it may expect, how it is sent.

A case is data: a name, what it sends (`send`, read by the case's driver) and the exact
answer a correct server gives (`expect`). An answer is a short text, so a failure reads
as "expected HTTP 400 bad_request, then closed; got HTTP 200". The drivers:

  raw_http   bytes on a fresh TCP connection (httpraw.RawHTTP)
  ws_frames  frames on a fresh WebSocket, authenticated as the prober or not (wsraw)
  ws_text    one text message on an authenticated WebSocket
  ws_op      one request {"id":"h","op":...} on an authenticated WebSocket
  rest       one HTTP request with a JSON (or any) body, as the prober, the admin or nobody
  handshake  a WebSocket opening handshake with chosen headers (Origin, Host...)

Values in `send` may hold Ref("name") (resolved against Env.refs when the case runs),
Fmt(...) (a string made of refs), Fresh(...) such as FRESH_CMID (a new value each run)
and, in ws_op fields, MISSING (leave "id" or "op" out). Env holds the one server, the
users and conversations the cases point at, and the canary. A case marked quarantine
(a known bug that kills pipitd) runs on a server of its own, Env.quarantine().
"""

import dataclasses
import itertools
import json
import os
import subprocess
import time

import pytest

import httpraw
import wsraw
from chatlib import Chat, create_direct, create_group, rest_send, text, users
from conftest import PIPITD, T

# -- answers -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    text: str

    def __repr__(self):
        return self.text


def http(status, code=None):
    """An HTTP answer; for status >= 400 `code` is error.code of the JSON error envelope."""
    return Answer("HTTP %d %s" % (status, code) if code else "HTTP %d" % status)


CLOSED = Answer("connection closed")     # EOF (or reset) without (further) answer
OPEN = Answer("connection left open")    # observed only
HANG = Answer("no answer in time")       # observed only


def refused(status, code):
    """The error answer, then the server closes the connection."""
    return (http(status, code), CLOSED)


def ws_close(code):
    """A WebSocket close frame with this code (None: with none), then the server closes TCP."""
    return Answer("WebSocket close %d" % code if code is not None
                  else "WebSocket close without a code")


ID = "h"  # the request id every ws_op case sends (unless the case is about the id)


def ws_ok(re=ID):
    return Answer("answer ok re=%s" % json.dumps(re))


def ws_err(code, re=ID):
    return Answer("answer error %s re=%s" % (code, json.dumps(re)))


def pong(payload):
    return Answer("pong %s" % payload.hex() if payload else "pong (empty)")


# -- cases -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ref:
    """A value known only once the server runs: Env.refs[name]."""
    name: str


class Fmt:
    """A string made from refs when the case runs: Fmt(" %s", Ref("direct"))."""

    def __init__(self, fmt, *refs):
        self.fmt = fmt
        self.refs = refs

    def __repr__(self):
        return "Fmt(%r, %r)" % (self.fmt, self.refs)


class Fresh:
    """A value made anew each time a case runs (a cmid must be new to be accepted)."""

    def __init__(self, make):
        self.make = make

    def __repr__(self):
        return "<fresh>"


_names = itertools.count(1)


def unique_name(prefix):
    return "%s%d-%s" % (prefix, next(_names), os.urandom(4).hex())


FRESH_CMID = Fresh(lambda: unique_name("hostile-"))
MISSING = object()  # in ws_op fields: leave this key out of the request (for "id" and "op")


@dataclasses.dataclass
class Case:
    name: str
    driver: object
    send: object
    expect: tuple
    xfail: str = None   # "BUG: ..." when pipitd is known to answer wrongly
    quarantine: bool = False  # it takes pipitd down: run it on a server of its own

    def __post_init__(self):
        if isinstance(self.expect, Answer):
            self.expect = (self.expect,)
        self.expect = tuple(self.expect)
        assert self.expect and all(isinstance(a, Answer) for a in self.expect), self
        assert self.xfail is None or self.xfail.startswith("BUG:"), self.xfail
        assert not self.quarantine or self.xfail, "only a known bug may take pipitd down"


def params(cases):
    """pytest params, one per case, named by the case; xfail cases are strict."""
    names = [c.name for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    assert not dup, "duplicate case names: %s" % sorted(dup)
    out = []
    for c in cases:
        assert not c.quarantine or c.xfail, "%s: only a known bug may take pipitd down" % c.name
        marks = [pytest.mark.xfail(reason=c.xfail, strict=True)] if c.xfail else []
        out.append(pytest.param(c, id=c.name, marks=marks))
    return out


def check(env, case):
    if case.quarantine:
        env = env.quarantine()
        try:
            got = tuple(case.driver(env, case))
        finally:
            env.check_alive(case.name, wait=T(1))
    else:
        got = tuple(case.driver(env, case))
    assert got == case.expect, "%s\n  sent:     %s\n  expected: %s\n  got:      %s" % (
        case.name, _short(case.send), ", then ".join(map(repr, case.expect)),
        ", then ".join(map(repr, got)))


def _short(obj, n=300):
    s = repr(obj)
    return s if len(s) <= n else s[:n] + "... (%d chars)" % len(s)


def resolve(env, v):
    if isinstance(v, Fresh):
        return v.make()
    if isinstance(v, Fmt):
        return v.fmt % tuple(resolve(env, r) for r in v.refs)
    if isinstance(v, Ref):
        return env.refs[v.name]
    if isinstance(v, dict):
        return {resolve(env, k): resolve(env, x) for k, x in v.items() if x is not MISSING}
    if isinstance(v, (list, tuple)):
        return [resolve(env, x) for x in v]
    return v


# -- observing ---------------------------------------------------------------------------


def answer_of(resp, method="GET"):
    if resp.status < 400 or method == "HEAD":
        return http(resp.status)
    try:
        body = resp.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    err = body.get("error") if isinstance(body, dict) and list(body) == ["error"] else None
    if (isinstance(err, dict) and set(err) == {"code", "message"}
            and isinstance(err["code"], str) and isinstance(err["message"], str)):
        return http(resp.status, err["code"])
    return http(resp.status, "<not a JSON error envelope: %r>" % resp.body[:80])


def observe_http(conn, expect, method="GET"):
    """Reads as many answers as expected (stopping at EOF or silence), then, when the
    expectation ends with CLOSED, whether the server closes (anything it sends
    meanwhile is shown as an extra answer)."""
    out = []
    want = [a for a in expect if a is not CLOSED]
    for _ in want:
        try:
            resp = conn.read_response(method=method, timeout=T(3))
        except EOFError:
            out.append(CLOSED if not conn.buf else Answer("garbage %r" % conn.buf[:60]))
            return out
        except TimeoutError:
            out.append(HANG)
            return out
        except (httpraw.HTTPError, ValueError, IndexError) as e:
            out.append(Answer("unparsable answer (%s)" % e))
            return out
        out.append(answer_of(resp, method))
    if expect[-1] is CLOSED:
        closed = conn.wait_closed(T(2))
        for _ in range(4):
            if not conn.buf:
                break
            try:
                conn.eof = False  # let read_response parse what was buffered
                resp = conn.read_response(method=method, timeout=0.2)
                out.append(Answer("extra answer " + answer_of(resp, method).text))
            except Exception:
                out.append(Answer("extra bytes %r" % conn.buf[:60]))
                break
        out.append(CLOSED if closed else OPEN)
    return out


def observe_ws(ws, expect):
    out = []
    for _ in range(10000):  # events in between do not count
        if len(out) == len(expect):
            break
        try:
            op, payload = ws.recv_message(T(3))
        except wsraw.WSClosed as e:
            if e.eof:
                out.append(CLOSED)
            else:
                out.append(ws_close(e.code))
                if not ws.http.wait_closed(T(2)):
                    out.append(Answer("TCP left open after the close handshake"))
            return out
        except TimeoutError:
            out.append(HANG)
            return out
        except wsraw.WSProtocolError as e:
            out.append(Answer("server broke RFC 6455: %s" % e))
            return out
        except OSError:
            out.append(CLOSED)
            return out
        if op == wsraw.OP_PONG:
            out.append(pong(payload))
            continue
        if op != wsraw.OP_TEXT:
            out.append(Answer("opcode %#x from server" % op))
            return out
        try:
            m = json.loads(payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            out.append(Answer("non-JSON text %r" % payload[:60]))
            return out
        if isinstance(m, dict) and "ev" in m:
            continue  # events (typing, read, message...) are not answers
        out.append(ws_answer(m))
    return out


def ws_answer(m):
    if not isinstance(m, dict) or "re" not in m:
        return Answer("not an answer: %r" % (m,))
    if "ok" in m and "error" not in m:
        return ws_ok(m["re"])
    err = m.get("error")
    if "ok" not in m and isinstance(err, dict) and set(err) == {"code", "message"}:
        return ws_err(err["code"], m["re"])
    return Answer("malformed answer %r" % (m,))


# -- drivers -----------------------------------------------------------------------------


def _method_of(data):
    return data.split(b" ", 1)[0].decode("latin-1", "replace")


def raw_http(env, case):
    """send: bytes, a callable(env) -> bytes, or a list of (bytes, seconds to wait after)."""
    send = case.send(env) if callable(case.send) else case.send
    pieces = send if isinstance(send, list) else [(send, 0)]
    with httpraw.RawHTTP(env.port, timeout=T(5)) as c:
        for data, pause in pieces:
            try:
                c.send(data)
            except OSError:
                break  # the server refused before reading everything: read its answer
            if pause:
                time.sleep(pause)
        return observe_http(c, case.expect, _method_of(pieces[0][0]))


def _ws_open(env, auth=True, origin=None):
    ws = wsraw.WSConn(env.port, timeout=T(5), origin=origin)
    if auth:
        ans = ws.auth(env.refs["p_token"])
        assert "ok" in ans, ans
    return ws


def ws_frames(env, case):
    """send: {"frames": [bytes...], "auth": bool (default True)}."""
    ws = _ws_open(env, case.send.get("auth", True))
    try:
        for f in case.send["frames"]:
            try:
                ws.send_raw(f)
            except OSError:
                break
        return observe_ws(ws, case.expect)
    finally:
        ws.close()


def ws_text(env, case):
    """send: the bytes of one text message (sent as one masked frame)."""
    ws = _ws_open(env)
    try:
        try:
            ws.send_frame(wsraw.OP_TEXT, case.send)
        except OSError:
            pass
        return observe_ws(ws, case.expect)
    finally:
        ws.close()


def ws_op(env, case):
    """send: {"op": name, "fields": {...}, "auth": bool (default True)}; the id is ID."""
    msg = {"id": ID, "op": case.send["op"]}
    msg.update(case.send.get("fields", {}))
    msg = resolve(env, msg)
    ws = _ws_open(env, case.send.get("auth", True))
    try:
        ws.send_frame(wsraw.OP_TEXT, json.dumps(msg, separators=(",", ":")).encode("utf-8"))
        return observe_ws(ws, case.expect)
    finally:
        ws.close()


def rest(env, case):
    """send: {"method", "path", "body" (JSON value, or bytes as they are), "as": "p"
    (default), "admin", "s" or None, "headers": [(name, value)...]}."""
    s = case.send
    path = resolve(env, s["path"])
    if not isinstance(path, str):
        path = "".join(str(p) for p in path)
    headers = list(s.get("headers", []))
    who = s.get("as", "p")
    if who is not None:
        headers.append(("Authorization", "Bearer " + env.refs[who + "_token"]))
    body = s.get("body", None)
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(resolve(env, body), separators=(",", ":")).encode("utf-8")
    if body is not None and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    if body is not None:
        headers.append(("Content-Length", str(len(body))))
    data = httpraw.request_bytes(s["method"], path, headers, body or b"",
                                 host="127.0.0.1:%d" % env.port)
    with httpraw.RawHTTP(env.port, timeout=T(5)) as c:
        try:
            c.send(data)
        except OSError:
            pass
        return observe_http(c, case.expect, s["method"])


def handshake(env, case):
    """send: {"origin": str or None, "host": str (default 127.0.0.1:port), "extra": [...],
    "omit": [...], "version", "key", "method", "path"}; a 101 is then closed at once."""
    s = dict(case.send)
    kw = {k: s[k] for k in ("origin", "version", "key", "method", "path") if k in s}
    extra = list(s.get("extra", []))
    omit = list(s.get("omit", []))
    if "host" in s:
        omit.append("Host")
        if s["host"] is not None:
            extra.insert(0, ("Host", s["host"].format(port=env.port)))
    if kw.get("origin") is not None:
        kw["origin"] = kw["origin"].format(port=env.port)
    data = wsraw.handshake_bytes(env.port, extra=extra, omit=omit, **kw)
    with httpraw.RawHTTP(env.port, timeout=T(5)) as c:
        c.send(data)
        return observe_http(c, case.expect, kw.get("method", "GET"))


# -- the server, its users and the canary ------------------------------------------------

ALLOWED_ORIGINS = "https://chat.example.com,https://app.example.com:8443"


def without_user_rate_limits():
    """Flags that turn the per-user request and message rates off, when this pipitd has
    them: the catalogue sends a canary message and a probe or two per case, well over
    what one user may send a second, and what it checks is each answer, not the pace."""
    out = subprocess.run([PIPITD, "--print-config-docs"], capture_output=True, timeout=T(30))
    docs = out.stdout.decode("utf-8", "replace")
    return [flag for key in ("user_request_rate", "user_message_rate") if "`%s`" % key in docs
            for flag in ("--" + key.replace("_", "-"), "0")]


class Env:
    """The one pipitd of the catalogue and what the cases refer to (refs)."""

    def __init__(self, pool, srv):
        self.pool = pool
        self.srv = srv
        self.port = srv.port
        self.refs = {}
        self.rounds = itertools.count(1)
        self.canary_a = self.canary_b = None
        self._rig = None
        self._quarantine = None
        self._cleanups = []
        self.died_after = None

    @classmethod
    def start(cls, pool):
        srv = pool.new("--registration", "open",
                       "--header-timeout", "%dms" % int(T(1) * 1000),
                       "--allowed-origins", ALLOWED_ORIGINS, *without_user_rate_limits())
        e = cls(pool, srv)
        e._setup()
        return e

    def redirect_rig(self):
        """A second server that may push to loopback, two fake push services and a user
        (cases_ssrf.REDIRECTS); made on first use."""
        if self._rig is None:
            from fake_webpush import FakeWebPush
            from pushlib import push_key
            first, second = FakeWebPush().start(), FakeWebPush().start()
            self._cleanups += [first.stop, second.stop]
            srv = self.pool.new("--push-allow-http", "yes", "--push-allow-private", "yes",
                                "--push-retry-base", "100ms", "--push-retry-cap", "400ms")
            vapid = srv.get("/v1/push/vapid-public-key").json()["key"]
            first.set_vapid_key(vapid)
            second.set_vapid_key(vapid)
            self._rig = {"srv": srv, "first": first, "second": second, "key": push_key(srv),
                         "user": users(srv, 1)[0]}
        return self._rig

    def _setup(self):
        srv = self.srv
        a, b, p, q, r, s = users(srv, 6)
        # The canary: a and b in a direct conversation, both connected.
        self.canary_conv = create_direct(srv, a, b.id)["id"]
        self.canary_a = Chat(srv, a, timeout=T(5))
        self.canary_b = Chat(srv, b, timeout=T(5))
        # The prober p, with a direct conversation (with q) and a group it owns (q, r).
        direct = create_direct(srv, p, q.id)["id"]
        group = create_group(srv, p, [q, r], title="hostile")["id"]
        p_cmid = unique_name("p-")
        p_seq = rest_send(srv, p, direct, text("mine"), cmid=p_cmid)["seq"]
        q_seq = rest_send(srv, q, direct, text("theirs"))["seq"]
        rest_send(srv, p, group, text("in the group"))
        self.refs.update({
            "p_token": p.token, "q_token": q.token, "s_token": s.token,
            "admin_token": srv.admin_token(),
            "p_id": p.id, "q_id": q.id, "r_id": r.id, "s_id": s.id,
            "direct": direct, "group": group, "p_seq": p_seq, "q_seq": q_seq,
            "p_cmid": p_cmid, "canary_conv": self.canary_conv,
        })
        self.check_health("setup")
        self.rss_baseline = self.rss()

    def quarantine(self):
        """Another server set up like this one, for the cases that crash pipitd; a new
        one once the last has died."""
        if self._quarantine is None or not self._quarantine.srv.alive():
            self._quarantine = Env.start(self.pool)
            self._cleanups.append(self._quarantine.close)
        return self._quarantine

    def check_alive(self, name, wait):
        """For a quarantined case: fails (and retires the server) if pipitd dies within
        `wait` seconds (a crash on another thread can lag the answer it cut short)."""
        if self.srv.wait_exit(wait) is not None:
            self.srv.finished = True  # the pool is not to stop it
            raise AssertionError("pipitd died (rc=%r) during %s" % (self.srv.returncode, name))

    def rss(self):
        with open("/proc/%d/status" % self.srv.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS for pipitd")

    def check_health(self, name):
        srv = self.srv
        if not srv.alive():
            self.died_after = name
            raise AssertionError("pipitd exited (rc=%r) after %s" % (srv.proc.poll(), name))
        try:
            r = srv.get("/healthz", timeout=T(5))
        except Exception as e:  # noqa: BLE001 (any failure to answer is the finding)
            raise AssertionError("/healthz failed after %s: %r" % (name, e))
        assert r.status_code == 200, "/healthz answered %d after %s" % (r.status_code, name)
        self.canary_round(name)

    def canary_round(self, name):
        cmid = "canary-%d-%s" % (next(self.rounds), os.urandom(3).hex())
        try:
            ans = self.canary_a.request("send", conv=self.canary_conv, cmid=cmid,
                                        body=text("still here after " + name[:100]))
            assert "ok" in ans, ans
            self.canary_b.wait_event(lambda e: e.get("ev") == "message" and e.get("cmid") == cmid,
                                     timeout=T(5), what="the canary's message")
        except (AssertionError, OSError, TimeoutError, wsraw.WSClosed,
                wsraw.WSProtocolError) as e:
            self._reconnect_canary()  # so that one broken case does not fail all the next
            raise AssertionError("the canary stopped working after %s: %r" % (name, e))
        self.canary_a.clear()
        self.canary_b.clear()

    def _reconnect_canary(self):
        for c in (self.canary_a, self.canary_b):
            c.close()
        try:
            self.canary_a = Chat(self.srv, self.canary_a.user, timeout=T(5))
            self.canary_b = Chat(self.srv, self.canary_b.user, timeout=T(5))
        except Exception:  # noqa: BLE001 (the next round reports it)
            pass

    def close(self):
        if not self.srv.alive():
            self.srv.finished = True  # a quarantine server a case took down
        for c in (self.canary_a, self.canary_b):
            if c is not None:
                c.close()
        for stop in self._cleanups:
            stop()
