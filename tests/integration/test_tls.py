"""TLS: with tls_cert and tls_key set, the listener speaks TLS only (HTTPS and WSS)."""

import asyncio
import json
import shutil
import ssl
import subprocess

import pytest
import requests
import websockets

import httpraw
from conftest import T


@pytest.fixture(scope="module")
def tls_srv(module_server_factory, tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=T(30))
    s = module_server_factory("--registration", "open", "--tls-cert", cert, "--tls-key", key)
    s.cert = cert
    return s


def test_https_healthz_and_register(tls_srv):
    sess = requests.Session()
    sess.trust_env = False
    r = sess.get("https://127.0.0.1:%d/healthz" % tls_srv.port, verify=str(tls_srv.cert), timeout=T(10))
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = sess.post("https://127.0.0.1:%d/v1/auth/register" % tls_srv.port, verify=str(tls_srv.cert),
                  json={"username": "tlsuser", "password": "tls-password"}, timeout=T(10))
    assert r.status_code == 201, r.text


def test_plain_http_is_not_served_on_tls_listener(tls_srv):
    with httpraw.RawHTTP(tls_srv.port, timeout=T(10)) as c:
        c.send(httpraw.request_bytes("GET", "/healthz"))
        try:
            r = c.read_response(timeout=T(5))
        except (EOFError, httpraw.HTTPError, ValueError):
            r = None
    assert r is None or r.status >= 400, r


def test_wss_auth_and_ping(tls_srv):
    sess = requests.Session()
    sess.trust_env = False
    r = sess.post("https://127.0.0.1:%d/v1/auth/login" % tls_srv.port, verify=str(tls_srv.cert),
                  json={"username": "tlsuser", "password": "tls-password"}, timeout=T(10))
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    ctx = ssl.create_default_context(cafile=str(tls_srv.cert))

    async def run():
        async with websockets.connect("wss://127.0.0.1:%d/v1/ws" % tls_srv.port, ssl=ctx,
                                      open_timeout=T(10), ping_interval=None) as c:
            await c.send(json.dumps({"id": 1, "op": "auth", "token": token}))
            ans = json.loads(await asyncio.wait_for(c.recv(), T(10)))
            assert ans["ok"]["protocol"] == 1, ans
            await c.send(json.dumps({"id": 2, "op": "ping"}))
            assert json.loads(await asyncio.wait_for(c.recv(), T(10))) == {"re": 2, "ok": {}}
    asyncio.run(run())


def test_tls_connection_ends_with_close_notify(tls_srv):
    # A clean end tells the client the answer is complete (and keeps sessions resumable).
    import socket
    ctx = ssl.create_default_context(cafile=str(tls_srv.cert))
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    raw = socket.create_connection(("127.0.0.1", tls_srv.port), timeout=T(10))
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)  # SSLEOFError here would mean no close_notify
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b'{"status":"ok"}'), data
