"""Shared by the webhook, before-send and bot tests: a local HTTP receiver that pipitd
calls, and the check of the signature pipitd puts on what it sends.

`Receiver` is a threaded HTTP server on 127.0.0.1 that records every request (`Hit`:
method, path, lower-case headers, raw body, when) and answers what a test scripted for
its path: answers for the next requests in order (`script`) or one for all of them
(`always`), else the receiver's default (200 "ok" unless given). An `Answer` has a
status, a body (bytes, or a JSON value sent as application/json), headers, a delay, and
may hang until `released` is set. `start()` again after `stop()` reuses the port.

The signature: `X-Pipit-Signature: t=<unix seconds>,v1=<hex>`, where v1 is
HMAC-SHA256 with the secret over `<t>.<raw body>`.
"""

import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import T, poll_until

SIG_RE = re.compile(r"t=(\d+),v1=([0-9a-fA-F]{64})")


class Answer:
    def __init__(self, status=200, body=b"ok", headers=(), delay=0.0, hang=False):
        self.status = status
        self.headers = list(headers)
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            self.headers.append(("Content-Type", "application/json"))
        self.body = body
        self.delay = delay
        self.hang = hang


class Hit:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.at = time.time()
        self.mono = time.monotonic()

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%s %s %s %r>" % (self.method, self.path, self.headers.get("x-pipit-event"),
                                  self.body[:200])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so that an Expect: 100-continue is answered at once

    def log_message(self, *args):
        pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _any(self):
        rcv = self.server.receiver
        hit = Hit(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                  self._read_body())
        ans = rcv._record(hit)
        if ans.hang:
            rcv.released.wait(T(30))
        if ans.delay:
            time.sleep(ans.delay)
        self.close_connection = True
        try:
            self.send_response(ans.status)
            for k, v in ans.headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(ans.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(ans.body)
        except OSError:
            pass  # pipitd gave up waiting (a timeout test)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _any


class Receiver:
    """An HTTP receiver on 127.0.0.1; `default` answers what no script covers."""

    def __init__(self, default=None):
        self.default = default or Answer()
        self.port = None
        self.hits = []
        self.scripts = {}
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.httpd = None

    def start(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port or 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.receiver = self
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def url(self, path, host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    def script(self, path, *answers):
        """Answers for the next requests to `path`, in order; then the default."""
        with self.lock:
            self.scripts[path] = list(answers)

    def always(self, path, answer):
        with self.lock:
            self.scripts[path] = answer

    def _record(self, hit):
        with self.lock:
            self.hits.append(hit)
            s = self.scripts.get(hit.path.split("?")[0])
            if isinstance(s, Answer):
                return s
            return s.pop(0) if s else self.default

    def hits_for(self, path):
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def wait_hits(self, path, n, timeout=None, what=None):
        return poll_until(lambda: (lambda hs: hs if len(hs) >= n else None)(self.hits_for(path)),
                          timeout or T(10), what=what or "%d requests to %s" % (n, path))


def signature(hit):
    """The match of hit's X-Pipit-Signature (groups: t, v1); asserts its form."""
    m = SIG_RE.fullmatch(hit.headers.get("x-pipit-signature", ""))
    assert m, "bad X-Pipit-Signature: %r" % hit.headers.get("x-pipit-signature")
    return m


def signed_with(hit, secret):
    """Whether hit's signature verifies with `secret` over its raw body."""
    m = signature(hit)
    want = hmac.new(secret.encode(), m.group(1).encode() + b"." + hit.body,
                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, m.group(2).lower())
