"""Shared plumbing for the strict TLS push fakes (fake_apns.py, fake_fcm.py).

- TestCA: a throwaway CA and a server certificate for 127.0.0.1, ::1 and localhost,
  written as PEM files. pipitd trusts the fakes through push_ca_file (libcurl's
  CURLOPT_CAINFO), so it verifies them exactly as it verifies Apple and Google.
- TLSServer: a loopback HTTPS server with one thread per connection. It speaks HTTP/2
  (the h2 library, server side: many streams per connection, flow control, PING) and,
  if asked, HTTP/1.1, and hands every complete request to a handler that returns a
  Reply. A reply marked `holdable` is not written while the server is held (hold() /
  release(), bounded to HOLD_MAX seconds), so tests can catch pipitd with pushes in
  flight. A reply runs its on_sent callback only once its bytes are written; that is
  where the fakes record acceptance, so a request whose client went away is never
  counted as delivered.
- Recorder: the accepted / rejected lists both fakes keep, and wait_accepted().
- split_jwt / b64u: strict compact-JWS parsing for the providers' tokens.

Threads: an accept loop and one daemon thread per connection. Handlers run on the
connection threads, so the fakes guard their own state with a lock; per-connection
state lives in ConnInfo.state and is touched only by that connection's thread.
Every loop is bounded by a count and by MAX_LIFETIME seconds.
"""

import base64
import datetime
import http
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Optional

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TICK = 0.05              # how often a connection thread looks at the hold, stop and GOAWAY flags
HOLD_MAX = 60.0          # a held reply is written anyway after this long
MAX_LIFETIME = 3600.0    # no fake thread outlives this, whatever happens
MAX_LOOPS = 10_000_000   # and no loop turns more often than this
HANDSHAKE_TIMEOUT = 5.0
SEND_TIMEOUT = 5.0
STOP_TIMEOUT = 2.0
LINGER = 1.0             # how long a closing connection waits for the peer to close too
MAX_STREAMS = 1000       # what APNs advertises once a connection is established
MAX_BODY = 1 << 20       # request bodies beyond this are counted, not kept
MAX_HEAD = 64 * 1024     # HTTP/1.1 request line plus headers


# --- certificates -----------------------------------------------------------------------

def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _valid_for_a_year(builder):
    # Start a day back so a skewed clock in a test VM still accepts the certificate.
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(
        now + datetime.timedelta(days=365))


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class TestCA:
    """A CA plus a server certificate signed by it, made once per instance in `dirpath`."""

    __test__ = False  # a helper, not a pytest test class, despite the name

    def __init__(self, dirpath):
        os.makedirs(dirpath, exist_ok=True)
        self.ca_file = os.path.join(dirpath, "ca.pem")
        self.cert_file = os.path.join(dirpath, "server.pem")
        self.key_file = os.path.join(dirpath, "server.key")
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = self._make_ca(ca_key)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._make_server_cert(key, ca_key, ca_cert)
        _write(self.ca_file, _pem_cert(ca_cert))
        _write(self.cert_file, _pem_cert(cert))
        _write(self.key_file, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    @staticmethod
    def _make_ca(ca_key):
        builder = (x509.CertificateBuilder()
                   .subject_name(_name("pipit test CA")).issuer_name(_name("pipit test CA"))
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=False, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                                  critical=False))
        return _valid_for_a_year(builder).sign(ca_key, hashes.SHA256())

    @staticmethod
    def _make_server_cert(key, ca_key, ca_cert):
        names = [x509.DNSName("localhost"),
                 x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                 x509.IPAddress(ipaddress.ip_address("::1"))]
        builder = (x509.CertificateBuilder()
                   .subject_name(_name("localhost")).issuer_name(ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                  critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       ca_key.public_key()), critical=False))
        return _valid_for_a_year(builder).sign(ca_key, hashes.SHA256())

    def server_context(self, alpn=("h2",)):
        """A TLS >= 1.2 server context with the certificate loaded and ALPN set."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        ctx.set_alpn_protocols(list(alpn))
        return ctx

    def client_context(self, alpn=("h2",)):
        """A verifying client context that trusts only this CA (for tests)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.set_alpn_protocols(list(alpn))
        return ctx


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# --- JWT helpers ------------------------------------------------------------------------

_B64U_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    """Strict base64url without padding (RFC 7515 §2); ValueError otherwise."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    if not set(raw) <= _B64U_ALPHABET or len(raw) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


def split_jwt(jwt):
    """(header dict, claims dict, signing input bytes, signature bytes); ValueError if malformed."""
    parts = jwt.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three parts")
    header, claims = json.loads(b64u_decode(parts[0])), json.loads(b64u_decode(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("JWT header and claims must be objects")
    return header, claims, (parts[0] + "." + parts[1]).encode("ascii"), b64u_decode(parts[2])


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# --- requests, replies, records -----------------------------------------------------------

@dataclass
class ConnInfo:
    id: int
    protocol: str                    # "h2" or "http/1.1"
    state: dict = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    headers: dict                    # lowercased name -> last value; no pseudo-headers
    header_list: list                # [(name, value)] as received; no pseudo-headers
    body: bytes                      # at most MAX_BODY bytes
    body_len: int                    # the real length
    conn: ConnInfo


@dataclass
class Reply:
    status: int
    headers: list = field(default_factory=list)
    body: bytes = b""
    holdable: bool = False           # wait while the server is held
    on_sent: Optional[Callable[[], None]] = None   # runs once the reply is written


class Recorder:
    """Accepted and rejected records behind one lock; accessors return copies."""

    def __init__(self):
        self._cond = threading.Condition()
        self._accepted = []
        self._rejected = []

    @property
    def accepted(self):
        with self._cond:
            return list(self._accepted)

    @property
    def rejected(self):
        with self._cond:
            return list(self._rejected)

    def _record_accepted(self, message):
        with self._cond:
            self._accepted.append(message)
            self._cond.notify_all()

    def _record_rejected(self, rejection):
        with self._cond:
            self._rejected.append(rejection)

    def wait_accepted(self, n, timeout):
        """Block until at least n messages were accepted; AssertionError otherwise."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._accepted) >= n, timeout):
                return list(self._accepted)
            raise AssertionError("%s: %d of %d messages accepted after %.1fs; rejected: %r" % (
                type(self).__name__, len(self._accepted), n, timeout, self._rejected))


# --- the server -------------------------------------------------------------------------

class TLSServer:
    """HTTPS on 127.0.0.1:<free port>; `alpn` lists what it speaks ("h2", "http/1.1")."""

    def __init__(self, ca, handler, alpn, on_refused):
        self._ctx = ca.server_context(alpn)
        self._alpn = tuple(alpn)
        self._handler = handler
        self._on_refused = on_refused          # on_refused(reason) for connections turned away
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._holding = False
        self._releases = 0
        self._goaways = 0
        self._sockets = set()
        self._threads = []
        self._listener = None
        self.connections = 0
        self.requests = 0                      # complete requests handed to the handler
        self.port = None

    def start(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TICK)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def stop(self):
        """Close the listener and every connection; threads are gone within STOP_TIMEOUT."""
        deadline = time.monotonic() + STOP_TIMEOUT
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            live, threads = list(self._sockets), list(self._threads)
        for sock in live:
            _shutdown(sock)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def hold(self):
        with self._lock:
            self._holding = True

    def release(self):
        with self._lock:
            self._holding = False
            self._releases += 1

    def goaway(self):
        """Ask every open connection to send GOAWAY and close."""
        with self._lock:
            self._goaways += 1

    def hold_epoch(self):
        """None when not held; else a token that may_send() compares against."""
        with self._lock:
            return self._releases if self._holding else None

    def may_send(self, epoch, since):
        with self._lock:
            released = not self._holding or self._releases > epoch
        return released or time.monotonic() - since > HOLD_MAX

    def goaways(self):
        with self._lock:
            return self._goaways

    def call_handler(self, request):
        with self._lock:
            self.requests += 1
        try:
            return self._handler(request)
        except Exception:  # a bug in the fake itself: say so loudly, answer 500
            traceback.print_exc()
            return Reply(500, [("content-type", "text/plain")], b"fake server error")

    def refuse(self, reason):
        if not self._stopping.is_set():
            self._on_refused(reason)

    def _spawn(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _accept_loop(self):
        deadline = time.monotonic() + MAX_LIFETIME
        for _ in range(MAX_LOOPS):
            if self._stopping.is_set() or time.monotonic() > deadline:
                return
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(raw, True)
            self._spawn(self._serve, raw)

    def _track(self, sock, add):
        with self._lock:
            (self._sockets.add if add else self._sockets.discard)(sock)
        if add and self._stopping.is_set():
            _shutdown(sock)

    def _serve(self, raw):
        tls = self._handshake(raw)
        if tls is None:
            return
        try:
            session = self._open_session(tls)
            if session is not None:
                self._run(session, tls)
            self._linger(tls)
        finally:
            self._track(tls, False)
            tls.close()

    def _linger(self, tls):
        """Half-close, then read until the peer closes too. Closing with unread input
        would send a TCP RST, which can destroy our last bytes (a GOAWAY) in flight."""
        try:
            tls.shutdown(socket.SHUT_WR)
            tls.settimeout(TICK)
            for _ in range(int(LINGER / TICK) + 1):
                if self._stopping.is_set() or not _drain(tls):
                    return
        except OSError:
            pass

    def _handshake(self, raw):
        """The TLS socket, or None. Polls so that stop() is never kept waiting."""
        try:
            tls = self._ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except OSError:
            self._track(raw, False)
            raw.close()
            return None
        self._track(raw, False)
        self._track(tls, True)
        tls.settimeout(TICK)
        for _ in range(int(HANDSHAKE_TIMEOUT / TICK)):
            if self._stopping.is_set():
                break
            try:
                tls.do_handshake()
                return tls
            except TimeoutError:
                continue
            except (OSError, ValueError) as e:
                self.refuse("tls_handshake: %s" % e)
                break
        self._track(tls, False)
        tls.close()
        return None

    def _open_session(self, tls):
        protocol = tls.selected_alpn_protocol()
        if protocol is None and "http/1.1" in self._alpn:
            protocol = "http/1.1"       # no ALPN offered: plain HTTPS
        with self._lock:
            self.connections += 1
            info = ConnInfo(self.connections, protocol or "")
        if protocol not in self._alpn:
            self.refuse("not_h2" if self._alpn == ("h2",) else "alpn_mismatch")
            return None
        cls = _H2Session if protocol == "h2" else _H1Session
        return cls(self, tls, info)

    def _run(self, session, tls):
        deadline = time.monotonic() + MAX_LIFETIME
        tls.settimeout(TICK)
        for _ in range(MAX_LOOPS):
            if self._stopping.is_set() or time.monotonic() > deadline:
                return
            session.tick()
            if session.closed:
                return
            try:
                data = tls.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            session.feed(data)


def _drain(sock):
    """Read and drop what has arrived; False once the peer has closed."""
    try:
        return sock.recv(65536) != b""
    except TimeoutError:
        return True


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# --- one connection, either protocol -------------------------------------------------------

class _Session:
    """What both protocols share: held replies and writing with on_sent callbacks."""

    def __init__(self, server, tls, info):
        self.server, self.tls, self.info = server, tls, info
        self.pending = {}       # key -> (reply, hold epoch, since)
        self.closed = False
        self._goaways_seen = server.goaways()

    def write(self, data, callbacks=()):
        if self.closed:
            return
        try:
            self.tls.settimeout(SEND_TIMEOUT)
            self.tls.sendall(data)
            self.tls.settimeout(TICK)
        except OSError:
            self.closed = True  # the client went away: nothing written counts as sent
            return
        for callback in callbacks:
            if callback is not None:
                callback()

    def dispatch(self, key, request):
        reply = self.server.call_handler(request)
        epoch = self.server.hold_epoch() if reply.holdable else None
        if epoch is None:
            self.respond(key, reply)
        else:
            self.pending[key] = (reply, epoch, time.monotonic())

    def tick(self):
        due = [k for k, (_, epoch, since) in self.pending.items()
               if self.server.may_send(epoch, since)]
        for key in due:
            self.respond(key, self.pending.pop(key)[0])
        if self.server.goaways() != self._goaways_seen:
            self._goaways_seen = self.server.goaways()
            self.goaway()
        self.after_tick()

    def after_tick(self):
        pass


class _Incoming:
    """An HTTP/2 request being received: headers, then body bytes up to MAX_BODY."""

    def __init__(self, headers):
        self.headers = headers
        self.body = bytearray()
        self.length = 0

    def add(self, data):
        self.length += len(data)
        room = MAX_BODY - len(self.body)
        if room > 0:
            self.body += data[:room]


def _split_headers(headers):
    pseudo = {n: v for n, v in headers if n.startswith(":")}
    plain = [(n, v) for n, v in headers if not n.startswith(":")]
    return pseudo, plain


class _H2Session(_Session):
    """RFC 9113 server side through h2: each stream is answered on its own."""

    def __init__(self, server, tls, info):
        super().__init__(server, tls, info)
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config)
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS})
        self.streams = {}       # stream id -> _Incoming
        self.outbound = {}      # stream id -> [body left, reply]: waiting for flow-control window
        self.after = []         # on_sent callbacks for what the next flush writes
        self.flush()

    def flush(self):
        data = self.h2.data_to_send()
        callbacks, self.after = self.after, []
        if data:
            self.write(data, callbacks)

    def after_tick(self):
        self.flush()

    def feed(self, data):
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            # h2 has queued a GOAWAY; send it and hang up, as a real server would.
            self.server.refuse("h2_protocol_error: %s" % e)
            self.flush()
            self.closed = True
            return
        for event in events:
            self.on_event(event)
        self.flush()

    def on_event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = _Incoming(ev.headers)
            if ev.stream_ended is None and ("expect", "100-continue") in ev.headers:
                self.h2.send_headers(ev.stream_id, [(":status", "100")])  # RFC 9110 §10.1.1
        elif isinstance(ev, h2.events.DataReceived):
            self.on_data(ev)
        elif isinstance(ev, h2.events.StreamEnded):
            incoming = self.streams.pop(ev.stream_id, None)
            if incoming is not None:
                self.dispatch(ev.stream_id, self.request_of(incoming))
        elif isinstance(ev, h2.events.StreamReset):
            self.forget(ev.stream_id)
        elif isinstance(ev, h2.events.WindowUpdated):
            for stream_id in list(self.outbound):
                self.push_body(stream_id)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.flush()
            self.closed = True

    def on_data(self, ev):
        incoming = self.streams.get(ev.stream_id)
        if incoming is not None:
            incoming.add(ev.data)
        try:
            # Give the window back at once, so a client is never stalled by us (RFC 9113 §5.2).
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        except h2.exceptions.ProtocolError:
            pass  # the stream closed meanwhile

    def request_of(self, incoming):
        pseudo, plain = _split_headers(incoming.headers)
        return Request(pseudo.get(":method", ""), pseudo.get(":path", ""),
                       {n.lower(): v for n, v in plain}, plain, bytes(incoming.body),
                       incoming.length, self.info)

    def forget(self, stream_id):
        self.streams.pop(stream_id, None)
        self.pending.pop(stream_id, None)
        self.outbound.pop(stream_id, None)

    def respond(self, stream_id, reply):
        headers = [(":status", str(reply.status))] + list(reply.headers)
        if reply.body:
            headers.append(("content-length", str(len(reply.body))))
        try:
            self.h2.send_headers(stream_id, headers, end_stream=not reply.body)
        except h2.exceptions.ProtocolError:
            return  # the client reset the stream: nothing is sent
        if reply.body:
            self.outbound[stream_id] = [reply.body, reply]
            self.push_body(stream_id)
        else:
            self.after.append(reply.on_sent)

    def push_body(self, stream_id):
        body, reply = self.outbound[stream_id]
        try:
            for _ in range(len(body)):
                room = min(self.h2.local_flow_control_window(stream_id),
                           self.h2.max_outbound_frame_size)
                if not body or room <= 0:
                    break
                chunk, body = body[:room], body[room:]
                self.h2.send_data(stream_id, chunk, end_stream=not body)
        except h2.exceptions.ProtocolError:
            self.outbound.pop(stream_id, None)
            return
        if body:
            self.outbound[stream_id][0] = body  # the rest waits for WINDOW_UPDATE
        else:
            del self.outbound[stream_id]
            self.after.append(reply.on_sent)

    def goaway(self):
        # APNs says why in the GOAWAY debug data, as JSON.
        self.h2.close_connection(error_code=0, additional_data=b'{"reason":"Shutdown"}')
        self.pending.clear()
        self.flush()
        self.closed = True


class _H1Session(_Session):
    """HTTP/1.1 with keep-alive, Content-Length bodies and Expect: 100-continue; one
    request at a time (a held reply also holds what the client pipelined behind it)."""

    def __init__(self, server, tls, info):
        super().__init__(server, tls, info)
        self.buf = bytearray()
        self.sent_continue = False
        self.close_after = False

    def feed(self, data):
        self.buf += data
        self.parse_all()

    def after_tick(self):
        self.parse_all()

    def parse_all(self):
        for _ in range(64):
            if self.pending or self.closed:
                return
            request = self.parse_one()
            if request is None:
                return
            self.dispatch(0, request)

    def parse_one(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self.bad(431, "request head too large")
            return None
        parsed = self.parse_head(bytes(self.buf[:end]))
        if parsed is None:
            return None
        method, path, plain, length = parsed
        if len(self.buf) < end + 4 + length:
            self.maybe_continue(plain)
            return None
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        self.sent_continue = False
        return Request(method, path, {n: v for n, v in plain}, plain, body, length, self.info)

    def parse_head(self, head):
        """(method, path, headers, body length), or None after answering a bad request."""
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ")
            plain = [_header_line(line) for line in lines[1:]]
        except ValueError:
            return self.bad(400, "malformed request head")
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            return self.bad(505, "HTTP version %r" % version)
        headers = {n: v for n, v in plain}
        if "transfer-encoding" in headers:
            return self.bad(411, "chunked bodies are not accepted; send Content-Length")
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            return self.bad(413 if length.isdigit() else 400, "Content-Length %r" % length)
        connection = headers.get("connection", "").lower()
        self.close_after = (connection == "close"
                            or (version == "HTTP/1.0" and connection != "keep-alive"))
        return method, path, plain, int(length)

    def maybe_continue(self, plain):
        expect = dict(plain).get("expect", "").lower()
        if expect == "100-continue" and not self.sent_continue:
            self.sent_continue = True
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def bad(self, status, why):
        self.server.refuse("bad_http: %s" % why)
        self.close_after = True
        self.respond(0, Reply(status, [("content-type", "text/plain")], why.encode() + b"\n"))
        return None

    def respond(self, _key, reply):
        lines = ["HTTP/1.1 %d %s" % (reply.status, _phrase(reply.status))]
        lines += ["%s: %s" % (n, v) for n, v in reply.headers]
        lines.append("Content-Length: %d" % len(reply.body))
        if self.close_after:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.write(head + reply.body, [reply.on_sent])
        if self.close_after:
            self.closed = True

    def goaway(self):
        self.pending.clear()
        self.closed = True


def _header_line(line):
    name, sep, value = line.partition(":")
    if not sep or not name or name != name.strip():
        raise ValueError("bad header line")
    return name.lower(), value.strip()


def _phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
