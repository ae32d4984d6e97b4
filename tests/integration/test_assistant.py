"""The private AI assistant (`/v1/admin/assistant`): a bot per app that answers with the
app's own OpenAI-compatible endpoint.

`FakeModel` is a threaded HTTP server on 127.0.0.1 that plays an on-premises model
server (vLLM, llama.cpp, Ollama): it records every request (path, headers, JSON body)
and answers as the test set it: `sse` (text/event-stream, in several chunks with small
sleeps, optionally held mid-way until the test releases it), `tricky` (the same with CRLF
line ends, comments, other fields, a role-only delta and lines cut across writes),
`json` (one plain JSON answer), `500`, `stall` (a first chunk, then nothing until long
after timeout_ms). By default the answer is "Echo: <the last user message>".

A question is a message in a direct conversation with the assistant's bot, or one that
mentions the bot (by id) in a group it belongs to. The bot opens a streaming message (a
reply to the question, cmid `assistant:<conv>:<seq>`), appends what the model writes
(ev "stream") and ends it with an edit ("streamed": true); an error ends it with a note;
over the per-user or per-app limit it answers a fixed "busy" text instead.

Contract: docs/openapi.yaml (`/v1/admin/assistant`) and docs/operations.md ("Private AI
assistant").
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatlib import (Chat, add_member, create_direct, create_group, ev, expect, rest_history, rest_send,
                     text, users)
from conftest import T, User, error_code, poll_until, unique

OPEN = ("--webhook-allow-http", "yes", "--webhook-allow-private", "yes")
BUSY = "I am answering too many questions right now. Please ask again in a minute."
NOTE = "[The assistant could not answer: "
API_KEY = "sk-local-0123456789abcdef-very-secret"
PROMPT = "You are the helpful assistant of Example Corp. Answer briefly."
ANSWER_FIELDS = {"base_url", "model", "has_api_key", "system_prompt", "context_messages",
                 "user_per_minute", "app_per_minute", "timeout_ms", "enabled", "updated_at",
                 "bot"}


# -- the fake model server -------------------------------------------------------------------

class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-case name -> value
        self.raw = body
        self.at = time.monotonic()

    @property
    def body(self):
        return json.loads(self.raw)

    @property
    def last_user(self):
        users_ = [m for m in self.body["messages"] if m["role"] == "user"]
        return users_[-1]["content"] if users_ else None

    def __repr__(self):
        return "<%s %s %r>" % (self.method, self.path, self.raw[:300])


def sse_event(content=None, role=None, finish=None):
    delta = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    doc = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1795500000,
           "model": "test-model",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return "data: %s\n\n" % json.dumps(doc)


class _ModelHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        model = self.server.model
        n = int(self.headers.get("Content-Length") or 0)
        req = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                      self.rfile.read(n) if n else b"")
        model.record(req)
        try:
            answer = model.answer_for(req)
        except Exception:
            answer = "Echo: ?"
        mode = model.mode
        self.close_connection = True
        try:
            if mode == "500":
                self.plain(500, b'{"error":{"message":"the model is loading"}}')
            elif mode == "json":
                doc = {"id": "chatcmpl-2", "object": "chat.completion", "model": "test-model",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": answer}}]}
                self.plain(200, json.dumps(doc).encode())
            elif mode in ("sse", "tricky", "stall"):
                self.stream(model, mode, answer)
            else:
                self.plain(404, b"no such mode")
        except OSError:
            pass  # pipitd gave up (a timeout): fine

    def plain(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, data):
        data = data.encode() if isinstance(data, str) else data
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream(self, model, mode, answer):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        pieces = model.split(answer)
        if mode == "stall":
            self.chunk(sse_event(pieces[0], role="assistant"))
            model.released.wait(T(8))  # far beyond timeout_ms
            return
        if mode == "tricky":
            self.chunk(": keep-alive comment\r\n\r\n")
            self.chunk("event: message\r\nid: 1\r\nretry: 1000\r\n" +
                       sse_event(role="assistant").replace("\n", "\r\n"))
        else:
            self.chunk(sse_event(role="assistant"))
        for i, p in enumerate(pieces):
            ev_ = sse_event(p)
            if mode == "tricky":
                ev_ = ev_.replace("\n", "\r\n") if i % 2 else ev_
                cut = len(ev_) // 2
                self.chunk(ev_[:cut])
                time.sleep(0.03)
                self.chunk(ev_[cut:])
            else:
                self.chunk(ev_)
            if model.hold_after is not None and i + 1 == model.hold_after:
                model.held.set()
                model.released.wait(T(10))
            time.sleep(model.gap)
        self.chunk(sse_event(finish="stop"))
        self.chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeModel:
    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.held = threading.Event()
        self.reset()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ModelHandler)
        self.httpd.daemon_threads = True
        self.httpd.model = self
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def reset(self, mode="sse"):
        """Back to streaming echoes; the requests recorded so far are forgotten."""
        self.released.set()  # let a held answer from before end
        with self.lock:
            self.requests = []
        self.mode = mode
        self.reply = None         # a fixed answer instead of the echo
        self.pieces = 4
        self.gap = 0.05
        self.hold_after = None    # pieces sent before the answer waits for release()
        self.held = threading.Event()
        self.released = threading.Event()

    def stop(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path="/v1"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def record(self, req):
        with self.lock:
            self.requests.append(req)

    def answer_for(self, req):
        return self.reply if self.reply is not None else "Echo: %s" % req.last_user

    def split(self, answer):
        n = max(1, min(self.pieces, len(answer)))
        size = -(-len(answer) // n)
        return [answer[i:i + size] for i in range(0, len(answer), size)]

    def release(self):
        self.released.set()

    def seen(self):
        with self.lock:
            return list(self.requests)

    def wait_requests(self, n, timeout=None):
        return poll_until(lambda: (lambda r: r if len(r) >= n else None)(self.seen()),
                          timeout or T(10), what="%d requests to the fake model" % n)


# -- fixtures and helpers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    m = FakeModel()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open", "--chat-notifications", "off", *OPEN)


def baseline(fake, **over):
    body = {"base_url": fake.url("/v1/"), "model": "test-model", "api_key": API_KEY,
            "system_prompt": PROMPT, "context_messages": 20, "user_per_minute": 1000,
            "app_per_minute": 100000, "timeout_ms": 60000, "enabled": True}
    body.update(over)
    return body


def put(srv, body, token=None):
    return srv.request("PUT", "/v1/admin/assistant", token=token or srv.admin_token(), json=body)


def get(srv, token=None):
    return srv.get("/v1/admin/assistant", token=token or srv.admin_token())


@pytest.fixture
def bot(srv, model):
    """The assistant set to the baseline (made the first time), the fake model reset; the
    assistant's bot as a User whose token is None (no key)."""
    model.reset()
    a = expect(put(srv, baseline(model)), 200)
    return User(a["bot"]["username"], None, None, a["bot"]["id"])


@pytest.fixture(scope="module")
def fresh(module_server_factory):
    """A server whose app never gets an assistant (for the refusals of a first PUT)."""
    return module_server_factory("--chat-notifications", "off", *OPEN)


@pytest.fixture(scope="module")
def people(srv):
    return users(srv, 4)


def talk_to(srv, bot_id):
    """A new user and their direct conversation with the bot (a pair has one)."""
    u = srv.new_user()
    return u, create_direct(srv, u, bot_id)["id"]


def find_reply(srv, user, conv, q_seq, bot_id):
    """The bot's reply to q_seq as the user's history shows it, or None."""
    for e in rest_history(srv, user, conv, limit=200)["events"]:
        if e["ev"] == "message" and e.get("reply_to") == q_seq and e["from"] == bot_id:
            return e
    return None


def wait_answer(srv, user, conv, q_seq, bot_id, timeout=None):
    """The bot's finished reply to q_seq (no longer streaming)."""
    def done():
        m = find_reply(srv, user, conv, q_seq, bot_id)
        return m if m is not None and not m.get("streaming") else None
    return poll_until(done, timeout or T(10), what="the assistant's answer to %d/%d"
                      % (conv, q_seq))


def check_reply(m, conv, q_seq, bot_id, want_text):
    assert m["from"] == bot_id and m["reply_to"] == q_seq, m
    assert m["cmid"] == "assistant:%d:%d" % (conv, q_seq), m
    assert m["body"] == text(want_text), m
    assert "streaming" not in m and "edited" not in m, m


def ask(srv, user, conv, question, **extra):
    return rest_send(srv, user, conv, text(question), **extra)["seq"]


def no_more_requests(model, n, wait=None):
    time.sleep(wait if wait is not None else T(0.6))
    got = model.seen()
    assert len(got) == n, "expected %d requests to the model, got %d: %r" % (n, len(got), got)


# -- the admin API ---------------------------------------------------------------------------

def test_first_put_makes_the_bot_and_never_shows_the_key(server_factory, model):
    s = server_factory("--chat-notifications", "off", *OPEN)
    tok = s.admin_token()
    r = get(s)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    r = s.request("DELETE", "/v1/admin/assistant", token=tok)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    r = put(s, {"base_url": model.url("/v1"), "model": "llama-3.1-8b-instruct",
                "api_key": API_KEY, "username": "helper-ai"})
    a = expect(r, 200)
    assert set(a) == ANSWER_FIELDS, a
    assert a["base_url"] == model.url("/v1") and a["model"] == "llama-3.1-8b-instruct", a
    assert a["has_api_key"] is True and a["system_prompt"] is None, a
    assert (a["context_messages"], a["user_per_minute"], a["app_per_minute"],
            a["timeout_ms"], a["enabled"]) == (20, 10, 120, 60000, True), a
    assert a["bot"]["username"] == "helper-ai" and type(a["bot"]["id"]) is int, a
    assert type(a["updated_at"]) is int, a
    assert API_KEY not in r.text
    g = expect(get(s), 200)
    assert g == a and API_KEY not in json.dumps(g), (g, a)
    # The bot is a bot (listed with the others), with a display name.
    b = expect(s.get("/v1/admin/bots/%d" % a["bot"]["id"], token=tok), 200)
    assert b["bot"] is True and b["username"] == "helper-ai" and b["role"] == "user", b
    assert b["display_name"] == "Assistant", b
    # Later PUTs change what they give and keep the rest; username is for the first only.
    a2 = expect(put(s, {"system_prompt": PROMPT, "user_per_minute": 5, "username": "other"}),
                200)
    assert a2["bot"] == a["bot"], a2
    assert a2["system_prompt"] == PROMPT and a2["user_per_minute"] == 5, a2
    assert a2["base_url"] == a["base_url"] and a2["has_api_key"] is True, a2
    assert a2["updated_at"] >= a["updated_at"], a2
    a3 = expect(put(s, {"api_key": None, "system_prompt": None, "enabled": False}), 200)
    assert a3["has_api_key"] is False and a3["system_prompt"] is None, a3
    assert a3["enabled"] is False and a3["user_per_minute"] == 5, a3
    # An empty key is a mistake, not a removal (null removes it).
    r = put(s, {"api_key": ""})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    a4 = expect(put(s, {"enabled": True, "timeout_ms": 1000, "context_messages": 100,
                        "app_per_minute": 100000}), 200)
    assert a4["has_api_key"] is False and a4["enabled"] is True, a4
    assert (a4["timeout_ms"], a4["context_messages"], a4["app_per_minute"]) == (1000, 100,
                                                                               100000), a4
    # The audit log: assistant.put, target app:<id>, the key "(not recorded)".
    expect(put(s, {"api_key": API_KEY}), 200)
    recs = expect(s.get("/v1/admin/audit", token=tok, params={"limit": 200}), 200)["records"]
    puts = [x for x in recs if x["action"] == "assistant.put" and x["outcome"] == "ok"]
    assert len(puts) == 5, puts
    assert all(x["target"].startswith("app:") for x in puts), puts
    with_key = [x for x in puts if "api_key" in (x["detail"] or {})]
    assert with_key and all(x["detail"]["api_key"] in ("(not recorded)", None)
                            for x in with_key), with_key
    assert API_KEY not in json.dumps(recs), "the endpoint's key is in the audit log"
    assert API_KEY not in s.log_text(), "the endpoint's key is in the server log"


def test_delete_then_put_again(server_factory, model):
    s = server_factory("--chat-notifications", "off", *OPEN)
    tok = s.admin_token()
    model.reset()
    a = expect(put(s, baseline(model)), 200)
    u = s.create_user()
    d = create_direct(s, u, a["bot"]["id"])["id"]
    q = ask(s, u, d, "are you there?")
    wait_answer(s, u, d, q, a["bot"]["id"])
    assert len(model.seen()) == 1
    r = s.request("DELETE", "/v1/admin/assistant", token=tok)
    assert r.status_code == 204 and r.content == b"", r.text
    assert get(s).status_code == 404
    q2 = ask(s, u, d, "still there?")
    no_more_requests(model, 1)
    assert find_reply(s, u, d, q2, a["bot"]["id"]) is None
    # Its bot and its messages stay; a new assistant speaks as the same bot again.
    b = expect(s.get("/v1/admin/bots/%d" % a["bot"]["id"], token=tok), 200)
    assert b["disabled"] is False, b
    assert find_reply(s, u, d, q, a["bot"]["id"]) is not None
    a2 = expect(put(s, baseline(model)), 200)
    assert a2["bot"] == a["bot"], (a2, a)
    q3 = ask(s, u, d, "back again?")
    check_reply(wait_answer(s, u, d, q3, a["bot"]["id"]), d, q3, a["bot"]["id"],
                "Echo: back again?")
    # A name that is a person's, not a bot's, is refused.
    expect(s.request("DELETE", "/v1/admin/assistant", token=tok), 204)
    person = s.create_user()
    r = put(s, baseline(model, username=person.username))
    assert r.status_code == 409 and error_code(r) == "username_taken", r.text
    assert get(s).status_code == 404
    recs = expect(s.get("/v1/admin/audit", token=tok, params={"limit": 200}), 200)["records"]
    assert "assistant.delete" in [x["action"] for x in recs if x["outcome"] == "ok"], recs


@pytest.mark.parametrize("label,body", [
    ("no-base-url", {"model": "m"}),
    ("null-base-url", {"base_url": None, "model": "m"}),
    ("base-url-number", {"base_url": 5, "model": "m"}),
    ("base-url-scheme", {"base_url": "ftp://127.0.0.1/v1", "model": "m"}),
    ("base-url-relative", {"base_url": "/v1", "model": "m"}),
    ("base-url-fragment", {"base_url": "http://127.0.0.1:9/v1#x", "model": "m"}),
    ("base-url-long", {"base_url": "http://127.0.0.1/" + "a" * 2050, "model": "m"}),
    ("no-model", {"base_url": "http://127.0.0.1:9/v1"}),
    ("empty-model", {"base_url": "http://127.0.0.1:9/v1", "model": ""}),
    ("long-model", {"base_url": "http://127.0.0.1:9/v1", "model": "m" * 201}),
    ("model-number", {"base_url": "http://127.0.0.1:9/v1", "model": 3}),
    ("api-key-number", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": 1}),
    ("api-key-long", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "k" * 513}),
    ("prompt-long", {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                     "system_prompt": "p" * 16385}),
    ("prompt-list", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "system_prompt": []}),
    ("context-0", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "context_messages": 0}),
    ("context-101", {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                     "context_messages": 101}),
    ("context-string", {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                        "context_messages": "5"}),
    ("user-0", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "user_per_minute": 0}),
    ("user-1001", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "user_per_minute": 1001}),
    ("app-0", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "app_per_minute": 0}),
    ("app-100001", {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                    "app_per_minute": 100001}),
    ("timeout-999", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout_ms": 999}),
    ("timeout-300001", {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                        "timeout_ms": 300001}),
    ("timeout-float", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout_ms": 1500.5}),
    ("enabled-string", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "enabled": "yes"}),
    ("username-bad", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "username": "a b"}),
    ("username-null", {"base_url": "http://127.0.0.1:9/v1", "model": "m", "username": None}),
])
def test_first_put_refuses_bad_bodies(fresh, label, body):
    s = fresh
    r = put(s, body)
    assert r.status_code == 400 and error_code(r) == "bad_request", (label, r.text)
    r = get(s)
    assert r.status_code == 404, (label, r.text)  # nothing made
    bots = expect(s.get("/v1/admin/bots", token=s.admin_token()), 200)["bots"]
    assert bots == [], (label, bots)


def test_later_put_refuses_bad_fields_and_changes_nothing(srv, model, bot):
    before = expect(get(srv), 200)
    for body in ({"base_url": "ftp://x/v1"}, {"base_url": None}, {"model": None},
                 {"model": ""}, {"context_messages": 0}, {"timeout_ms": 10},
                 {"user_per_minute": -1}, {"app_per_minute": "many"}, {"enabled": 1},
                 {"api_key": 42}, {"system_prompt": 7}):
        r = put(srv, body)
        assert r.status_code == 400 and error_code(r) == "bad_request", (body, r.text)
        assert expect(get(srv), 200) == before, body
    r = srv.request("PUT", "/v1/admin/assistant", token=srv.admin_token(), data=b"[1]",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    r = srv.request("PUT", "/v1/admin/assistant", token=srv.admin_token(), data=b"x",
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text


def test_base_url_follows_the_webhook_rules(server_factory):
    strict = server_factory("--chat-notifications", "off")
    for url in ("http://llm.example.com/v1", "https://127.0.0.1/v1", "https://10.1.2.3/v1",
                "https://localhost:8000/v1", "https://[::1]/v1"):
        r = put(strict, {"base_url": url, "model": "m"})
        assert r.status_code == 400 and error_code(r) == "bad_request", (url, r.text)
    assert get(strict).status_code == 404
    a = expect(put(strict, {"base_url": "https://llm.example.com/v1", "model": "m"}), 200)
    assert a["base_url"] == "https://llm.example.com/v1", a
    http_only = server_factory("--chat-notifications", "off", "--webhook-allow-http", "yes")
    r = put(http_only, {"base_url": "http://127.0.0.1:8000/v1", "model": "m"})
    assert r.status_code == 400 and error_code(r) == "bad_request", r.text
    expect(put(http_only, {"base_url": "http://llm.example.com/v1", "model": "m"}), 200)


def test_who_may_use_the_routes(srv, model, bot, people):
    a = people[0]
    before = expect(get(srv), 200)
    keys = {}
    for scope in ("admin", "push", "users"):
        keys[scope] = expect(srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                                      json={"name": unique("k"), "scopes": [scope]}), 201)["key"]
    for method in ("GET", "PUT", "DELETE"):
        kw = {"json": baseline(model, model="hijacked")} if method == "PUT" else {}
        r = srv.request(method, "/v1/admin/assistant", **kw)
        assert r.status_code == 401 and error_code(r) == "unauthorized", (method, r.text)
        for tok in (a.token, keys["push"], keys["users"]):
            r = srv.request(method, "/v1/admin/assistant", token=tok, **kw)
            assert r.status_code == 403 and error_code(r) == "forbidden", (method, r.text)
    assert expect(get(srv), 200) == before
    k = keys["admin"]
    assert expect(get(srv, token=k), 200) == before
    a2 = expect(put(srv, {"model": "by-key"}, token=k), 200)
    assert a2["model"] == "by-key" and a2["bot"] == before["bot"], a2


# -- answering -------------------------------------------------------------------------------

def test_direct_question_streamed_live_then_final(srv, model, bot, people):
    model.reply = "Hello there, friend! How can I help?"
    model.pieces = 6
    model.hold_after = 3
    a, d = talk_to(srv, bot.id)
    with Chat(srv, a) as wa:
        q = wa.send_msg(d, text("Who are you?"))["seq"]
        opened = wa.wait_event(ev("message", d, reply_to=q))
        assert opened["from"] == bot.id and opened["streaming"] is True, opened
        assert opened["cmid"] == "assistant:%d:%d" % (d, q), opened
        assert opened["body"] == text(""), opened
        r_seq = opened["seq"]
        assert model.held.wait(T(10)), "the model was never asked"
        # While the model is held mid-answer, the asker has seen the first half, live.
        first = "".join(model.split(model.reply)[:3])
        got = ""
        while got != first:
            e = wa.wait_event(ev("stream", d, seq=r_seq))
            assert e["op"] == "append" and set(e) == {"ev", "conv", "seq", "op", "text"}, e
            got += e["text"]
            assert first.startswith(got), (got, first)
        m = find_reply(srv, a, d, q, bot.id)
        assert m["streaming"] is True and m["body"] == text(first), m
        assert wa.take(ev("edit", d)) is None  # not over yet
        model.release()
        fin = wa.wait_event(ev("edit", d, target=r_seq))
        assert fin["streamed"] is True and fin["from"] == bot.id, fin
        assert fin["body"] == text(model.reply), fin
        # Every chunk before the end came as a stream event, in order.
        rest = "".join(e["text"] for e in wa.events if e.get("ev") == "stream")
        assert model.reply.startswith(got + rest), (got, rest)
    check_reply(wait_answer(srv, a, d, q, bot.id), d, q, bot.id, model.reply)
    # The request: the path under base_url, the key, the model, streaming, the context.
    [req] = model.seen()
    assert req.method == "POST" and req.path == "/v1/chat/completions", req
    assert req.headers.get("authorization") == "Bearer " + API_KEY, req.headers
    assert req.headers.get("content-type", "").startswith("application/json"), req.headers
    assert "text/event-stream" in req.headers.get("accept", ""), req.headers
    body = req.body
    assert set(body) == {"model", "stream", "messages"}, body
    assert body["model"] == "test-model" and body["stream"] is True, body
    assert body["messages"] == [
        {"role": "system", "content": PROMPT},
        {"role": "user", "name": "user%d" % a.id, "content": "Who are you?"},
    ], body
    # The answer never asks the model again (its own messages never trigger).
    no_more_requests(model, 1)


def test_conversation_is_the_context(srv, model, bot, people):
    a, d = talk_to(srv, bot.id)
    q1 = ask(srv, a, d, "first question")
    wait_answer(srv, a, d, q1, bot.id)
    q2 = ask(srv, a, d, "second question")
    check_reply(wait_answer(srv, a, d, q2, bot.id), d, q2, bot.id, "Echo: second question")
    reqs = model.wait_requests(2)
    name = "user%d" % a.id
    assert reqs[1].body["messages"] == [
        {"role": "system", "content": PROMPT},
        {"role": "user", "name": name, "content": "first question"},
        {"role": "assistant", "content": "Echo: first question"},
        {"role": "user", "name": name, "content": "second question"},
    ], reqs[1].body


def test_context_messages_counts_text_messages(srv, model, bot, people):
    """context_messages 3: the three most recent text messages, oldest first, the
    question last (finished answers' edit events are not messages)."""
    a, d = talk_to(srv, bot.id)
    for i in range(2):
        wait_answer(srv, a, d, ask(srv, a, d, "q%d" % i), bot.id)
    expect(put(srv, {"context_messages": 3, "system_prompt": None}), 200)
    q = ask(srv, a, d, "q2")
    wait_answer(srv, a, d, q, bot.id)
    req = model.wait_requests(3)[2]
    name = "user%d" % a.id
    assert req.body["messages"] == [
        {"role": "user", "name": name, "content": "q1"},
        {"role": "assistant", "content": "Echo: q1"},
        {"role": "user", "name": name, "content": "q2"},
    ], req.body


def test_question_over_the_websocket_and_other_devices_follow(srv, model, bot, people):
    a, d = talk_to(srv, bot.id)
    with Chat(srv, a) as w1, Chat(srv, a) as w2:
        q = w1.send_msg(d, text("ws question"))["seq"]
        opened = w2.wait_event(ev("message", d, reply_to=q))
        fin = w2.wait_event(ev("edit", d, target=opened["seq"]), timeout=T(10))
        assert fin["body"] == text("Echo: ws question") and fin["streamed"] is True, fin
        chunks = [e["text"] for e in w2.events if e.get("ev") == "stream"]
        assert "".join(chunks) == "Echo: ws question"[:len("".join(chunks))], chunks


def test_group_answers_mentions_only(srv, model, bot, people):
    a, b, c, _ = people
    g = create_group(srv, a, [b, bot.id], title=unique("team"))["id"]
    rest_send(srv, b, g, text("lunch at noon?"))
    q_none = ask(srv, a, g, "no mention here")
    q_other = ask(srv, a, g, "only b is mentioned", mentions=[b.id])
    q_all = ask(srv, a, g, "everyone look", mentions="all")
    recalled = ask(srv, b, g, "a secret that was taken back")
    with Chat(srv, b) as wb:
        wb.ok("recall", conv=g, seq=recalled)
    rest_send(srv, b, g, {"type": "sticker", "name": "thumbs-up"})  # not text: not sent
    with Chat(srv, a) as wa:
        q = ask(srv, a, g, "@assistant what time is lunch?", mentions=[b.id, bot.id])
        opened = wa.wait_event(ev("message", g, reply_to=q))
        wa.wait_event(ev("edit", g, target=opened["seq"]))
    check_reply(wait_answer(srv, a, g, q, bot.id), g, q, bot.id,
                "Echo: @assistant what time is lunch?")
    no_more_requests(model, 1)
    req = model.seen()[0]
    msgs = req.body["messages"]
    assert msgs[0] == {"role": "system", "content": PROMPT}, msgs
    assert msgs[-1] == {"role": "user", "name": "user%d" % a.id,
                        "content": "@assistant what time is lunch?"}, msgs
    # Everyone is told apart by name; the recalled message is not sent to the model.
    assert {"role": "user", "name": "user%d" % b.id, "content": "lunch at noon?"} in msgs, msgs
    assert "a secret that was taken back" not in req.raw.decode(), msgs
    assert "thumbs-up" not in req.raw.decode(), msgs
    assert all(set(m_) <= {"role", "name", "content"} and isinstance(m_["content"], str)
               for m_ in msgs), msgs
    for q_ in (q_none, q_other, q_all):
        assert find_reply(srv, a, g, q_, bot.id) is None, q_
    # A group without the bot: a mention of it asks nothing.
    g2 = create_group(srv, a, [c], title=unique("no bot"))["id"]
    ask(srv, a, g2, "hello assistant?", mentions=[bot.id])
    no_more_requests(model, 1)


def test_context_starts_where_the_bot_joined(srv, model, bot, people):
    """A member added later never sees the events before its `joined` (protocol.md):
    the model, reading as the bot, must not either."""
    a, b = people[:2]
    g = create_group(srv, a, [b], title=unique("late bot"))["id"]
    rest_send(srv, b, g, text("said before the bot was here"))
    add_member(srv, a, g, bot.id)
    rest_send(srv, b, g, text("said after it joined"))
    q = ask(srv, a, g, "what did we say?", mentions=[bot.id])
    wait_answer(srv, a, g, q, bot.id)
    [req] = model.seen()
    assert "said before the bot was here" not in req.raw.decode(), req.body["messages"]
    assert req.body["messages"][1:] == [
        {"role": "user", "name": "user%d" % b.id, "content": "said after it joined"},
        {"role": "user", "name": "user%d" % a.id, "content": "what did we say?"},
    ], req.body["messages"]


def test_its_own_messages_never_ask_it(srv, model, bot, people):
    a, b = people[:2]
    # Give the assistant's bot a key, and speak as it.
    key = expect(srv.post("/v1/admin/bots/%d/key" % bot.id, token=srv.admin_token()),
                 200)["key"]
    me = User(bot.username, None, key, bot.id)
    a, d = talk_to(srv, bot.id)
    g = create_group(srv, a, [b, bot.id], title=unique("self"))["id"]
    rest_send(srv, me, d, text("talking to myself"))
    rest_send(srv, me, g, text("mentioning myself"), mentions=[bot.id])
    rest_send(srv, me, d, text("and a reply to myself"), reply_to=1)
    no_more_requests(model, 0)
    # Someone else still asks it.
    q = ask(srv, a, d, "are you ok?")
    wait_answer(srv, a, d, q, bot.id)
    no_more_requests(model, 1)


def test_another_bot_may_ask_it(srv, model, bot, people):
    other = expect(srv.post("/v1/admin/bots", token=srv.admin_token(),
                            json={"username": unique("asker")}), 201)
    asker = User(other["bot"]["username"], None, other["key"], other["bot"]["id"])
    d = create_direct(srv, asker, bot.id)["id"]
    q = ask(srv, asker, d, "bot to bot")
    check_reply(wait_answer(srv, asker, d, q, bot.id), d, q, bot.id, "Echo: bot to bot")


def test_plain_json_answer(srv, model, bot, people):
    model.mode = "json"
    model.reply = "A whole answer at once."
    a, d = talk_to(srv, bot.id)
    with Chat(srv, a) as wa:
        q = ask(srv, a, d, "json please")
        opened = wa.wait_event(ev("message", d, reply_to=q))
        fin = wa.wait_event(ev("edit", d, target=opened["seq"]))
        assert fin["body"] == text("A whole answer at once.") and fin["streamed"] is True, fin
    check_reply(wait_answer(srv, a, d, q, bot.id), d, q, bot.id, "A whole answer at once.")
    assert model.seen()[0].body["stream"] is True


def test_tricky_event_stream(srv, model, bot, people):
    model.mode = "tricky"
    model.reply = "Line one.\nLine two: \u00e9\u4e2d\u6587 \u2014 done."
    model.pieces = 5
    a, d = talk_to(srv, bot.id)
    q = ask(srv, a, d, "tricky")
    check_reply(wait_answer(srv, a, d, q, bot.id), d, q, bot.id, model.reply)


def test_model_error_ends_with_a_note(srv, model, bot, people):
    model.mode = "500"
    a, d = talk_to(srv, bot.id)
    with Chat(srv, a) as wa:
        q = ask(srv, a, d, "will this fail?")
        opened = wa.wait_event(ev("message", d, reply_to=q))
        fin = wa.wait_event(ev("edit", d, target=opened["seq"]))
    want = NOTE + "the model answered HTTP 500.]"
    assert fin["body"] == text(want), fin
    check_reply(wait_answer(srv, a, d, q, bot.id), d, q, bot.id, want)
    assert "the model is loading" not in want


def test_timeout_keeps_the_start_and_adds_a_note(srv, model, bot, people):
    expect(put(srv, {"timeout_ms": 1000}), 200)
    model.mode = "stall"
    model.reply = "I was saying something long"
    model.pieces = 3
    first = model.split(model.reply)[0]
    a, d = talk_to(srv, bot.id)
    t0 = time.monotonic()
    q = ask(srv, a, d, "slow one")
    m = wait_answer(srv, a, d, q, bot.id, timeout=T(10))
    took = time.monotonic() - t0
    check_reply(m, d, q, bot.id, first + "\n\n" + NOTE + "the model took longer than 1 s.]")
    assert 0.9 <= took <= T(6), took
    model.release()


def test_unreachable_endpoint_ends_with_a_note(srv, model, bot, people):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    expect(put(srv, {"base_url": "http://127.0.0.1:%d/v1" % port}), 200)
    a, d = talk_to(srv, bot.id)
    q = ask(srv, a, d, "anyone?")
    m = wait_answer(srv, a, d, q, bot.id)
    assert m["body"]["text"].startswith(NOTE + "the model could not be reached"), m
    assert m["body"]["text"].endswith(".]"), m


def test_no_api_key_no_authorization(srv, model, bot, people):
    expect(put(srv, {"api_key": None, "base_url": model.url("/v1")}), 200)
    a, d = talk_to(srv, bot.id)
    q = ask(srv, a, d, "no key")
    wait_answer(srv, a, d, q, bot.id)
    [req] = model.seen()
    assert req.path == "/v1/chat/completions", req
    assert "authorization" not in req.headers, req.headers


def test_per_user_limit_answers_busy(srv, model, bot, people):
    expect(put(srv, {"user_per_minute": 2}), 200)
    u = srv.new_user()  # a user who has asked nothing this minute
    d = create_direct(srv, u, bot.id)["id"]
    q1 = ask(srv, u, d, "one")
    wait_answer(srv, u, d, q1, bot.id)
    q2 = ask(srv, u, d, "two")
    wait_answer(srv, u, d, q2, bot.id)
    with Chat(srv, u) as wu:
        q3 = ask(srv, u, d, "three")
        busy = wu.wait_event(ev("message", d, reply_to=q3))
        assert busy["body"] == text(BUSY) and "streaming" not in busy, busy
        assert busy["from"] == bot.id and busy["cmid"] == "assistant:%d:%d" % (d, q3), busy
    check_reply(wait_answer(srv, u, d, q3, bot.id), d, q3, bot.id, BUSY)
    no_more_requests(model, 2, wait=T(0.3))
    # Someone else is still answered.
    v = srv.new_user()
    d2 = create_direct(srv, v, bot.id)["id"]
    qv = ask(srv, v, d2, "my turn")
    check_reply(wait_answer(srv, v, d2, qv, bot.id), d2, qv, bot.id, "Echo: my turn")


def test_per_app_limit_answers_busy(server_factory, model):
    s = server_factory("--chat-notifications", "off", *OPEN)
    model.reset()
    a = expect(put(s, baseline(model, app_per_minute=2)), 200)
    bot_id = a["bot"]["id"]
    people_ = [s.create_user() for _ in range(3)]
    convs = [create_direct(s, p, bot_id)["id"] for p in people_]
    answers = []
    for p, d in zip(people_, convs):
        q = ask(s, p, d, "from %s" % p.username)
        answers.append(wait_answer(s, p, d, q, bot_id)["body"]["text"])
    assert answers[:2] == ["Echo: from %s" % p.username for p in people_[:2]], answers
    assert answers[2] == BUSY, answers
    assert len(model.seen()) == 2


def test_disabled_then_deleted_answers_nothing(server_factory, model):
    s = server_factory("--chat-notifications", "off", *OPEN)
    model.reset()
    a = expect(put(s, baseline(model)), 200)
    bot_id = a["bot"]["id"]
    u = s.create_user()
    d = create_direct(s, u, bot_id)["id"]
    expect(put(s, {"enabled": False}), 200)
    q = ask(s, u, d, "disabled?")
    no_more_requests(model, 0)
    assert find_reply(s, u, d, q, bot_id) is None
    expect(put(s, {"enabled": True}), 200)
    q = ask(s, u, d, "enabled again?")
    wait_answer(s, u, d, q, bot_id)
    assert expect(s.request("DELETE", "/v1/admin/assistant", token=s.admin_token()), 204) \
        is None
    q = ask(s, u, d, "deleted?")
    no_more_requests(model, 1)
    assert find_reply(s, u, d, q, bot_id) is None


def test_a_disabled_assistant_bot_answers_nothing(server_factory, model):
    """DELETE /v1/admin/bots/{id} on the assistant's bot: either refused (the assistant
    needs it) or the bot is disabled and then says nothing more."""
    s = server_factory("--chat-notifications", "off", *OPEN)
    model.reset()
    bot_id = expect(put(s, baseline(model)), 200)["bot"]["id"]
    u, d = talk_to(s, bot_id)
    r = s.request("DELETE", "/v1/admin/bots/%d" % bot_id, token=s.admin_token())
    if r.status_code == 409:
        return
    assert r.status_code == 204, r.text
    q = ask(s, u, d, "are you still there?")
    no_more_requests(model, 0)
    assert find_reply(s, u, d, q, bot_id) is None, "a disabled user answered"
