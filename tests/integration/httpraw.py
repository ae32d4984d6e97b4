"""A tiny byte-exact HTTP/1.1 client over a raw socket.

`requests` normalises URLs (`/../` disappears), adds headers and hides how many
responses came back on one connection. The tests that care about those details
(pipelining, limits, traversal, timeouts) use this instead. Every read has a deadline.
"""

import select
import socket
import time


class HTTPError(Exception):
    pass


class Response:
    def __init__(self, version, status, reason, header_list, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.header_list = header_list
        self.headers = {}
        for name, value in header_list:
            key = name.lower()
            if key in self.headers:
                self.headers[key] += ", " + value
            else:
                self.headers[key] = value
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        import json

        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %r headers=%r body=%r>" % (
            self.status,
            self.reason,
            self.header_list,
            self.body[:300],
        )


class RawHTTP:
    """One TCP connection to 127.0.0.1:port. Reads are buffered and deadline-bound."""

    def __init__(self, port, timeout=10.0, rcvbuf=None):
        self.port = port
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read more bytes into the buffer; returns False on EOF."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out waiting for data from the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("timed out waiting for data from the server")
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, marker, deadline, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise HTTPError("no %r within %d bytes" % (marker, limit))
            if not self._fill(deadline):
                raise EOFError("connection closed before %r; got %r" % (marker, self.buf[:200]))
        idx = self.buf.index(marker)
        out = self.buf[:idx]
        self.buf = self.buf[idx + len(marker):]
        return out

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise EOFError("connection closed after %d of %d body bytes" % (len(self.buf), n))
        out = self.buf[:n]
        self.buf = self.buf[n:]
        return out

    def read_response(self, method="GET", timeout=None):
        """Parse one response. `method` matters only for HEAD (no body)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        head = self._read_until(b"\r\n\r\n", deadline)
        lines = head.split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HTTPError("bad status line %r" % status_line)
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        header_list = []
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise HTTPError("bad header line %r" % line)
            header_list.append((name.strip(), value.strip()))
        resp = Response(version, status, reason, header_list, b"")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = resp.header("transfer-encoding", "")
        if "chunked" in te.lower():
            body = b""
            while True:
                size_line = self._read_until(b"\r\n", deadline)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while self._read_until(b"\r\n", deadline):
                        pass
                    break
                body += self._read_exact(size, deadline)
                self._read_until(b"\r\n", deadline)
            resp.body = body
        elif resp.header("content-length") is not None:
            resp.body = self._read_exact(int(resp.header("content-length")), deadline)
        else:
            while self._fill(deadline):
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def wait_closed(self, timeout):
        """True if the server closes the connection within `timeout` seconds.

        Bytes that arrive meanwhile are kept in the buffer (see `buf`)."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                if len(self.buf) > (64 << 20):
                    raise HTTPError("server keeps sending")
        except TimeoutError:
            return False
        return True

    def readable_within(self, timeout):
        if self.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)


def request_bytes(method, path, headers=None, body=b"", host="127.0.0.1"):
    """Build a request. `headers` is a list of (name, value); Host is added unless given."""
    headers = list(headers or [])
    if not any(n.lower() == "host" for n, _ in headers):
        headers.insert(0, ("Host", host))
    if body and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
        headers.append(("Content-Length", str(len(body))))
    if isinstance(body, str):
        body = body.encode("utf-8")
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % (n, v) for n, v in headers)
    head += "\r\n"
    return head.encode("latin-1") + body


def chunked(body, sizes):
    """Encode `body` as chunked transfer coding, splitting it at the given sizes."""
    out = b""
    pos = 0
    for size in sizes:
        piece = body[pos:pos + size]
        if not piece:
            break
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        pos += len(piece)
    if pos < len(body):
        piece = body[pos:]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def one_request(port, method, path, headers=None, body=b"", timeout=10.0):
    with RawHTTP(port, timeout=timeout) as c:
        c.send(request_bytes(method, path, headers, body, host="127.0.0.1:%d" % port))
        return c.read_response(method=method)
