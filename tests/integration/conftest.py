"""Integration test harness: starts the real pipitd and talks to it as clients do.

Binaries: `$PIPITD` (default `<repo>/build/pipitd`) and `$PIPIT` (default
`<repo>/build/pipit`). Every server gets a fresh data dir and web root under pytest's
tmp dir, listens on 127.0.0.1 port 0, and is stopped with SIGTERM at the end (it must
exit 0 within 6 s). When a test fails, the log lines every server printed during that
test are attached to the report.

Every server and `pipit` command runs with encryption at rest on: the suite sets
`$PIPIT_MASTER_KEY` (MASTER_KEY) for the processes it starts unless the environment
already names a master key. A test that wants it off passes `env=NO_MASTER_KEY`.

Sanitizer builds are slower: timeouts are multiplied by `$PIPIT_TEST_TIMEOUT_SCALE`,
which defaults to 4 when the binary contains AddressSanitizer, else 1.
"""

import functools
import itertools
import json
import os
import re
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
PIPITD = os.environ.get("PIPITD") or str(REPO / "build" / "pipitd")
PIPIT = os.environ.get("PIPIT") or str(REPO / "build" / "pipit")

READY_RE = re.compile(r"pipitd listening on 127\.0\.0\.1:(\d+)")
PASSWORD = "correct-horse-battery"

# Encryption at rest for every process the suite starts (see the docstring).
MASTER_KEY = "5e" * 32
if not (os.environ.get("PIPIT_MASTER_KEY") or os.environ.get("PIPIT_MASTER_KEY_FILE")):
    os.environ["PIPIT_MASTER_KEY"] = MASTER_KEY
NO_MASTER_KEY = {"PIPIT_MASTER_KEY": "", "PIPIT_MASTER_KEY_FILE": ""}

_names = itertools.count(1)
_ALL_SERVERS = []


def _raise_fd_limit():
    # 1,000 WebSocket clients plus the server's side of them; children inherit this.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


_raise_fd_limit()


@functools.lru_cache(maxsize=None)
def timeout_scale():
    env = os.environ.get("PIPIT_TEST_TIMEOUT_SCALE")
    if env:
        return float(env)
    try:
        data = Path(PIPITD).read_bytes()
    except OSError:
        return 1.0
    return 4.0 if (b"__asan_init" in data or b"AddressSanitizer" in data) else 1.0


def T(seconds):
    """A timeout scaled for slow (sanitizer) builds."""
    return seconds * timeout_scale()


def unique(prefix="u"):
    return "%s%d" % (prefix, next(_names))


def poll_until(fn, timeout, interval=0.05, what="condition"):
    """Call fn() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last=%r)" % (timeout, what, last))


def make_web_root(root):
    root = Path(root)
    (root / "assets").mkdir(parents=True, exist_ok=True)
    files = {
        "index.html": b"<!doctype html><title>pipit</title><p>hello pipit</p>\n",
        "app.js": b"console.log('pipit app');\n",
        "assets/x.css": b"body { color: #123456; }\n",
        "data.json": b'{"static": true}\n',
        "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
        "img.png": bytes.fromhex("89504e470d0a1a0a") + b"\0" * 16,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


class Server:
    """One pipitd process."""

    def __init__(self, tmp, args=(), data_dir=None, web_root=None, config_file=None,
                 base_flags=True, env=None):
        self.tmp = Path(tmp)
        self.args = [str(a) for a in args]
        self.data_dir = Path(data_dir) if data_dir else self.tmp / "data"
        if web_root is None:
            web_root = self.tmp / "web"
            self.web_files = make_web_root(web_root)
            (self.tmp / "secret.txt").write_bytes(b"TOP-SECRET-OUTSIDE-WEB-ROOT\n")
        self.web_root = Path(web_root)
        self.config_file = config_file
        self.base_flags = base_flags
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.lines = []
        self.finished = False  # stopped (or killed) on purpose
        self.returncode = None
        self._ready = threading.Event()
        self._reader = None
        self._admin_token = None
        self.http = requests.Session()
        self.http.trust_env = False  # never route 127.0.0.1 through a proxy
        _ALL_SERVERS.append(self)

    # -- process ---------------------------------------------------------------------
    def command(self):
        cmd = [PIPITD]
        if self.config_file:
            cmd += ["--config", str(self.config_file)]
        if self.base_flags:
            # Per-user rate limits off: tests act faster than people; test_rate_limits.py
            # sets its own (later flags win).
            cmd += ["--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
                    "--workers", "2", "--log-level", "debug", "--web-root", str(self.web_root),
                    "--user-request-rate", "0", "--user-message-rate", "0"]
        return cmd + self.args

    def start(self, wait=True):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lines = self.lines if self.lines else []
        self._ready.clear()
        self.port = None
        self.finished = False
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=str(self.tmp), env=self.env)
        self._reader = threading.Thread(target=self._read_log, args=(self.proc,), daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready()
        return self

    def _read_log(self, proc):
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if self.port is None:
                m = READY_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    self._ready.set()
        proc.stdout.close()

    def wait_ready(self, timeout=None):
        deadline = time.monotonic() + (timeout or T(15))
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                return self
            if self.proc.poll() is not None:
                self._reader.join(T(5))
                raise AssertionError("pipitd exited with %r before it was ready:\n%s"
                                     % (self.proc.returncode, self.log_text()))
        raise AssertionError("pipitd not ready within %.0fs:\n%s" % (timeout or T(15), self.log_text()))

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(T(5))
        self.returncode = rc
        return rc

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=None, expect_rc=0):
        """Send `sig` and require exit code `expect_rc` within `timeout` (6 s scaled)."""
        timeout = timeout or T(6)
        if self.proc is None or self.finished:
            return self.returncode
        self.finished = True
        if self.proc.poll() is not None:
            self._reader.join(T(5))
            self.returncode = self.proc.returncode
            raise AssertionError("pipitd had already exited (rc=%r) before it was stopped:\n%s"
                                 % (self.returncode, self.log_tail()))
        t0 = time.monotonic()
        self.send_signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.proc.kill()
            self.wait_exit(T(5))
            raise AssertionError("pipitd did not exit within %.1fs of %s:\n%s"
                                 % (timeout, sig.name, self.log_tail()))
        self.stop_seconds = time.monotonic() - t0
        if expect_rc is not None:
            assert rc == expect_rc, "pipitd exited with %r after %s, expected %r:\n%s" % (
                rc, sig.name, expect_rc, self.log_tail())
        return rc

    def kill(self):
        self.finished = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        self.wait_exit(T(10))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        return "\n".join(self.lines)

    def log_tail(self, n=200):
        return "\n".join(self.lines[-n:])

    # -- HTTP helpers ----------------------------------------------------------------
    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, path):
        return self.base_url + path

    @property
    def ws_url(self):
        return "ws://127.0.0.1:%d/v1/ws" % self.port

    def request(self, method, path, token=None, headers=None, **kw):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        kw.setdefault("timeout", T(10))
        kw.setdefault("allow_redirects", False)
        return self.http.request(method, self.url(path), headers=h, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    @property
    def admin_password(self):
        return (self.data_dir / "initial-admin-password").read_text().rstrip("\n")

    def register(self, username=None, password=PASSWORD):
        username = username or unique()
        r = self.post("/v1/auth/register", json={"username": username, "password": password})
        assert r.status_code == 201, (r.status_code, r.text)
        body = r.json()
        return User(username, password, body["token"], body["user"]["id"])

    def login(self, username, password):
        r = self.post("/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["token"]

    def admin_token(self):
        if self._admin_token is None:
            self._admin_token = self.login("admin", self.admin_password)
        return self._admin_token

    def create_user(self, username=None, password=PASSWORD, role="user"):
        """Create a user through the admin API and log it in."""
        username = username or unique()
        r = self.post("/v1/admin/users", token=self.admin_token(),
                      json={"username": username, "password": password, "role": role})
        assert r.status_code == 201, (r.status_code, r.text)
        token = self.login(username, password)
        return User(username, password, token, r.json()["id"])

    def new_user(self):
        if "open" in self.args and "--registration" in self.args:
            return self.register()
        return self.create_user()

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, r.text
        return parse_metrics(r.text)


class User:
    def __init__(self, username, password, token, id):
        self.username = username
        self.password = password
        self.token = token
        self.id = id

    def __repr__(self):
        return "<User %s id=%r>" % (self.username, self.id)


def parse_metrics(text):
    """Prometheus text format -> {"name{labels}": float} (labels kept verbatim)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def metric_sum(metrics, name, **labels):
    """Sum of every series of `name` whose labels include `labels` (substring match on values)."""
    total = 0.0
    found = False
    for key, value in metrics.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if all(k in got and v in got[k] for k, v in labels.items()):
            total += value
            found = True
    return total if found else None


class ServerPool:
    """Starts servers on demand and stops every one of them at teardown."""

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.servers = []

    def new(self, *args, start=True, **kw):
        tmp = self.tmp_path_factory.mktemp("pipitd")
        s = Server(tmp, args=args, **kw)
        self.servers.append(s)
        if start:
            s.start()
        return s

    __call__ = new

    def stop_all(self):
        errors = []
        for s in self.servers:
            if s.proc is None or s.finished:
                continue
            try:
                s.stop()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def server_factory(tmp_path_factory):
    pool = ServerPool(tmp_path_factory)
    yield pool
    pool.stop_all()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory):
    pool = ServerPool(tmp_path_factory)
    yield pool
    pool.stop_all()


def run_binary(binary, args, input=None, timeout=None, cwd=None):
    return subprocess.run([binary] + [str(a) for a in args], input=input, capture_output=True,
                          timeout=timeout or T(30), cwd=cwd)


def run_cli(args, input=None, timeout=None):
    return run_binary(PIPIT, args, input=input, timeout=timeout)


def run_pipitd(args, timeout=None, cwd=None):
    return run_binary(PIPITD, args, timeout=timeout, cwd=cwd)


def dir_contents(path, skip=()):
    """Everything under path: relative name -> bytes (None for a directory), but the
    names in skip. To show that something did not change a directory."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, path)
            if rel not in skip:
                out[rel] = open(p, "rb").read() if os.path.isfile(p) else None
    return out


def error_code(resp):
    """The `error.code` of a JSON error body (asserts the envelope shape)."""
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    assert isinstance(body["error"].get("message"), str), body
    return body["error"]["code"]


# -- logs of failing tests ----------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._pipit_log_marks = {id(s): len(s.lines) for s in _ALL_SERVERS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    marks = getattr(item, "_pipit_log_marks", {})
    for n, s in enumerate(_ALL_SERVERS):
        start = marks.get(id(s), 0)
        new = s.lines[start:]
        if not new:
            continue
        head = ""
        if len(new) > 400:
            head = "... (%d earlier lines omitted)\n" % (len(new) - 400)
            new = new[-400:]
        title = "pipitd log (%s, port %s, %s)" % (
            s.tmp.name, s.port, "running" if s.alive() else "rc=%r" % s.returncode)
        rep.sections.append((title, head + "\n".join(new)))


def pytest_report_header(config):
    return "pipitd: %s (exists=%s, timeout scale %.1f); pipit: %s" % (
        PIPITD, os.path.exists(PIPITD), timeout_scale(), PIPIT)


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"))
