"""HTTP/1.1 framing, heads, smuggling and targets, as raw bytes (driver raw_http).

The answers follow src/http/http_parse.c and http_conn.c and RFC 9110/9112: a request
the parser refuses is answered 400 (431 for too many or too large headers, 414 for a
long target, 413 for a body over max_body_size, 408 when the head or body does not
arrive within header_timeout, 1 s here) with a JSON error, and the connection is then
closed; routing errors (404, 405, 401) keep it open. Where RFC 9110 only says SHOULD
or MAY (501 for a method or transfer coding nobody implements, 505 for HTTP/2 and later,
a server-wide "OPTIONS *"), pipit's 400 stands: the request is refused and the
connection closed, which is what matters here.
"""

from catalogue import CLOSED, Case, http, raw_http, refused

SECRET_FILE = "secret.txt"  # lies next to the web root (conftest.make_web_root)


def req(method="GET", target="/healthz", headers=(("Host", "127.0.0.1"),), body=b"",
        version="HTTP/1.1", eol=b"\r\n"):
    """A request as bytes; headers are (name, value) pairs of str or bytes, kept as given."""
    def b(x):
        return x if isinstance(x, bytes) else x.encode("latin-1")
    head = b(method) + b" " + b(target) + b" " + b(version) + eol
    for name, value in headers:
        head += b(name) + b": " + b(value) + eol
    return head + eol + b(body)


H = ("Host", "127.0.0.1")
CLOSE = ("Connection", "close")
BR = refused(400, "bad_request")
OK = http(200)
NF = http(404, "not_found")


def post(target, body, *headers):
    """A POST with the given headers (Host first); framing headers are the case's."""
    return req("POST", target, (H,) + headers, body)


def c(name, send, expect, xfail=None):
    return Case("http-" + name, raw_http, send, expect, xfail)


def slug(path):
    return "".join(ch if ch.isalnum() else "_" for ch in path)[:40]


def many_headers(n):
    return (H,) + tuple(("X-H%d" % i, "v") for i in range(n - 1))


CASES = [
    # -- the request line ------------------------------------------------------------
    c("baseline-get-healthz", req(), OK),
    c("leading-empty-lines-are-noise", b"\r\n\r\n" + req(), OK),
    c("garbage-bytes", b"\x00\x01\x02\x03\r\n\r\n", BR),
    c("tls-client-hello-on-plain-port", bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40, BR),
    c("http2-prior-knowledge-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", BR),
    c("http-0.9-request", b"GET /\r\n\r\n", BR),
    c("http-1.0-without-host-served-then-closed", req(headers=(), version="HTTP/1.0"),
      (OK, CLOSED)),
    c("version-2.0", req(version="HTTP/2.0"), BR),
    c("version-3.0", req(version="HTTP/3.0"), BR),
    c("version-1.2-is-1.x", req(version="HTTP/1.2"), OK),
    c("version-lowercase", req(version="http/1.1"), BR),
    c("version-missing-minor", req(version="HTTP/1"), BR),
    c("version-garbage", req(version="HTTP/x.y"), BR),
    c("request-line-extra-token", req(version="HTTP/1.1 extra"), BR),
    c("request-line-tabs", b"GET\t/healthz\tHTTP/1.1\r\nHost: x\r\n\r\n", BR),
    # RFC 9112 §3: recipients MAY split the request line on any run of whitespace.
    c("request-line-double-space", b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", OK),
    c("method-lowercase", req("get"), BR),
    c("method-unknown", req("BREW"), BR),
    c("method-huge-64k", req("A" * 65536), BR),
    c("method-with-nul", req("GE\x00T"), BR),
    c("method-known-not-routed-propfind", req("PROPFIND"), http(405, "method_not_allowed")),
    c("method-trace", req("TRACE"), http(405, "method_not_allowed")),
    c("method-post-on-get-route", req("POST", headers=(H, ("Content-Length", "0"))),
      http(405, "method_not_allowed")),
    c("method-connect-authority-form", req("CONNECT", "127.0.0.1:22"), BR),
    c("target-asterisk-get", req(target="*"), BR),
    c("target-asterisk-options", req("OPTIONS", "*"), BR),
    c("target-authority-form-get", req(target="127.0.0.1:8080"), BR),
    c("target-absolute-form", req(target="http://127.0.0.1/healthz"), OK),
    c("target-absolute-form-https-with-port", req(target="https://chat.example.com:443/healthz"),
      OK),
    c("target-absolute-form-traversal", req(target="http://x/../" + SECRET_FILE), NF),
    c("target-absolute-form-no-path", req(target="http://127.0.0.1"), http(200)),
    c("target-raw-space", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", BR),
    c("target-raw-control-byte", req(target="/heal\x01thz"), BR),
    # http-parser takes raw UTF-8 in a target (curl sends it so); it names no file here.
    c("target-raw-high-bytes", req(target="/\xff\xfe"), NF),
    c("target-empty", b"GET  HTTP/1.1\r\nHost: x\r\n\r\n", BR),
    c("target-too-long-414", req(target="/" + "a" * 9000), refused(414, "uri_too_long")),
    c("target-at-the-limit-404", req(target="/" + "a" * 8191), NF),
    # -- header lines ----------------------------------------------------------------
    c("header-value-20k-431", req(headers=(H, ("X-Big", "v" * 20000))),
      refused(431, "headers_too_large")),
    c("header-name-20k-431", req(headers=(H, ("X" * 20000, "v"))),
      refused(431, "headers_too_large")),
    c("header-line-1mib-431", req(headers=(H, ("X-Huge", "v" * (1 << 20)))),
      refused(431, "headers_too_large")),
    c("headers-64-is-the-limit", req(headers=many_headers(64)), OK),
    c("headers-65-431", req(headers=many_headers(65)), refused(431, "headers_too_large")),
    c("headers-5000-431", req(headers=many_headers(5000)), refused(431, "headers_too_large")),
    c("headers-total-over-16k-431",
      req(headers=(H,) + tuple(("X-M%d" % i, "v" * 1000) for i in range(20))),
      refused(431, "headers_too_large")),
    c("header-without-colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", BR),
    c("header-space-before-colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", BR),
    c("header-name-empty", b"GET /healthz HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", BR),
    c("header-name-non-token", req(headers=(H, ("X(A)", "1"))), BR),
    c("header-name-utf8", req(headers=(H, ("X-\xc3\xa9", "1"))), BR),
    c("header-obs-fold", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", BR),
    c("header-obs-fold-tab", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tfolded\r\n\r\n",
      BR),
    c("header-first-line-folded", b"GET /healthz HTTP/1.1\r\n Host: x\r\n\r\n", BR),
    c("header-value-nul", req(headers=(H, ("X-A", "a\x00b"))), BR),
    c("header-name-nul", req(headers=(H, ("X-\x00A", "b"))), BR),
    c("header-value-bare-cr", req(headers=(H, ("X-A", "a\rb"))), BR),
    c("header-value-vertical-tab", req(headers=(H, ("X-A", "a\x0bb"))), BR),
    c("header-value-del", req(headers=(H, ("X-A", "a\x7fb"))), BR),
    c("header-value-obs-text-allowed", req(headers=(H, ("X-A", "caf\xe9 \xff"))), OK),
    c("bare-lf-line-ends", req(eol=b"\n"), BR),
    c("bare-lf-inside-head", b"GET /healthz HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", BR),
    c("bare-cr-line-ends", b"GET /healthz HTTP/1.1\rHost: x\r\r", BR),
    c("cr-cr-lf", b"GET /healthz HTTP/1.1\r\r\nHost: x\r\n\r\n", BR),
    c("host-missing-http-1.1", req(headers=()), BR),
    c("host-twice", req(headers=(H, ("Host", "evil.example"))), BR),
    c("host-with-space", req(headers=(("Host", "exa mple.com"),)), BR),
    c("host-with-slash", req(headers=(("Host", "example.com/evil"),)), BR),
    c("host-with-userinfo", req(headers=(("Host", "user@example.com"),)), BR),
    c("host-empty-is-allowed", req(headers=(("Host", ""),)), OK),
    c("host-ipv6-literal", req(headers=(("Host", "[::1]:8080"),)), OK),
    # -- Content-Length --------------------------------------------------------------
    c("content-length-twice-same", post("/healthz", b"x", ("Content-Length", "1"),
                                        ("Content-Length", "1")), BR),
    c("content-length-twice-different", post("/healthz", b"xx", ("Content-Length", "1"),
                                             ("Content-Length", "2")), BR),
    c("content-length-list", post("/healthz", b"x", ("Content-Length", "1, 1")), BR),
    c("content-length-negative", post("/healthz", b"x", ("Content-Length", "-1")), BR),
    c("content-length-plus", post("/healthz", b"x", ("Content-Length", "+1")), BR),
    c("content-length-hex", post("/healthz", b"x" * 16, ("Content-Length", "0x10")), BR),
    c("content-length-inner-space", post("/healthz", b"x" * 11, ("Content-Length", "1 1")), BR),
    c("content-length-empty", post("/healthz", b"", ("Content-Length", "")), BR),
    c("content-length-overflows-u64",
      post("/healthz", b"", ("Content-Length", "99999999999999999999999")), BR),
    c("content-length-2^63-413", post("/v1/auth/login", b"", ("Content-Length", str(1 << 63))),
      refused(413, "payload_too_large")),
    c("content-length-over-max-body-413",
      post("/v1/auth/login", b"", ("Content-Length", str((1 << 20) + 1))),
      refused(413, "payload_too_large")),
    c("content-length-over-max-expect-100-413",
      post("/v1/auth/login", b"", ("Content-Length", str(50 << 20)), ("Expect", "100-continue")),
      refused(413, "payload_too_large")),
    c("content-length-body-never-comes-408",
      post("/v1/auth/login", b"{", ("Content-Length", "100")), refused(408, "request_timeout")),
    c("head-never-ends-408", b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
      refused(408, "request_timeout")),
    c("body-on-get-is-read-and-ignored",
      req(headers=(H, ("Content-Length", "5"), CLOSE), body=b"hello"), (OK, CLOSED)),
    # -- Transfer-Encoding and chunks ------------------------------------------------
    c("cl-and-te-together", post("/healthz", b"0\r\n\r\n", ("Content-Length", "5"),
                                 ("Transfer-Encoding", "chunked")), BR),
    c("te-and-cl-together", post("/healthz", b"0\r\n\r\n", ("Transfer-Encoding", "chunked"),
                                 ("Content-Length", "5")), BR),
    c("smuggle-cl-te-hidden-request",
      post("/healthz", b"0\r\n\r\nGET /v1/me HTTP/1.1\r\nHost: x\r\n\r\n",
           ("Content-Length", "44"), ("Transfer-Encoding", "chunked")), BR),
    c("smuggle-body-holds-a-request-answered-once",
      req(headers=(H, CLOSE, ("Content-Length", "32")),
          body=b"GET /v1/me HTTP/1.1\r\nHost: x\r\n\r\n"), (OK, CLOSED)),
    c("te-identity", post("/healthz", b"x", ("Transfer-Encoding", "identity")), BR),
    c("te-chunked-then-identity", post("/healthz", b"0\r\n\r\n",
                                       ("Transfer-Encoding", "chunked, identity")), BR),
    c("te-gzip-only", post("/healthz", b"x", ("Transfer-Encoding", "gzip")), BR),
    c("te-chunked-twice", post("/healthz", b"0\r\n\r\n", ("Transfer-Encoding", "chunked"),
                               ("Transfer-Encoding", "chunked")), BR),
    c("te-xchunked", post("/healthz", b"0\r\n\r\n", ("Transfer-Encoding", "xchunked")), BR),
    c("te-space-before-colon",
      b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", BR),
    c("te-vertical-tab-before-value",
      post("/healthz", b"0\r\n\r\n", ("Transfer-Encoding", "\x0bchunked")), BR),
    # RFC 9112 §6.1: in HTTP/1.0 the framing counts as faulty: answer, then close.
    c("te-in-http-1.0-keep-alive-closes",
      req("POST", headers=(H, ("Connection", "keep-alive"), ("Transfer-Encoding", "chunked")),
          body=b"0\r\n\r\n", version="HTTP/1.0"), (http(405, "method_not_allowed"), CLOSED)),
    c("te-gzip-then-chunked", post("/healthz", b"0\r\n\r\n",
                                   ("Transfer-Encoding", "gzip, chunked")), BR),
    c("chunked-case-insensitive-ok", post("/healthz", b"0\r\n\r\n",
                                          ("Transfer-Encoding", "Chunked")),
      http(405, "method_not_allowed")),
    c("chunk-size-not-hex", post("/healthz", b"zz\r\nhello\r\n0\r\n\r\n",
                                 ("Transfer-Encoding", "chunked")), BR),
    c("chunk-size-negative", post("/healthz", b"-5\r\nhello\r\n0\r\n\r\n",
                                  ("Transfer-Encoding", "chunked")), BR),
    c("chunk-size-0x-prefix", post("/healthz", b"0x5\r\nhello\r\n0\r\n\r\n",
                                   ("Transfer-Encoding", "chunked")), BR),
    c("chunk-size-overflow", post("/healthz", b"1" + b"0" * 20 + b"\r\nx\r\n0\r\n\r\n",
                                  ("Transfer-Encoding", "chunked")), BR),
    c("chunk-size-empty", post("/healthz", b"\r\nhello\r\n0\r\n\r\n",
                               ("Transfer-Encoding", "chunked")), BR),
    c("chunk-data-longer-than-size", post("/healthz", b"3\r\nhello\r\n0\r\n\r\n",
                                          ("Transfer-Encoding", "chunked")), BR),
    c("chunk-data-without-crlf", post("/healthz", b"5\r\nhelloXX0\r\n\r\n",
                                      ("Transfer-Encoding", "chunked")), BR),
    c("chunk-size-bare-lf", post("/healthz", b"5\nhello\r\n0\r\n\r\n",
                                 ("Transfer-Encoding", "chunked")), BR),
    c("chunk-extension-is-fine",
      post("/healthz", b"2;name=value ; x=\"q\"\r\n{}\r\n0\r\n\r\n",
           ("Transfer-Encoding", "chunked")), http(405, "method_not_allowed")),
    c("chunk-extension-huge",
      post("/v1/auth/login", b"2;" + b"e" * 100000 + b"\r\n{}\r\n0\r\n\r\n",
           ("Transfer-Encoding", "chunked")), refused(431, "headers_too_large")),
    c("chunk-size-trailing-space", post("/healthz", b"5 \r\nhello\r\n0\r\n\r\n",
                                        ("Transfer-Encoding", "chunked")), BR),
    c("chunk-size-lf-inside-extension", post("/healthz", b"5;a\nb\r\nhello\r\n0\r\n\r\n",
                                             ("Transfer-Encoding", "chunked")), BR),
    c("chunk-size-cr-then-not-lf", post("/healthz", b"5\rXhello\r\n0\r\n\r\n",
                                        ("Transfer-Encoding", "chunked")), BR),
    c("chunk-data-cr-without-lf", post("/healthz", b"5\r\nhello\rX0\r\n\r\n",
                                       ("Transfer-Encoding", "chunked")), BR),
    c("chunk-trailer-obs-fold", post("/healthz", b"0\r\nX-T: 1\r\n folded\r\n\r\n",
                                     ("Transfer-Encoding", "chunked")), BR),
    c("chunk-trailer-bare-lf", post("/healthz", b"0\r\nX-T: 1\n\r\n",
                                    ("Transfer-Encoding", "chunked")), BR),
    c("chunk-last-then-pipelined-request",
      post("/healthz", b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
           ("Transfer-Encoding", "chunked")), (http(405, "method_not_allowed"), OK)),
    c("chunked-over-max-body-413",
      post("/v1/auth/login", b"100000\r\n" + b"a" * 0x100000 + b"\r\n1\r\na\r\n0\r\n\r\n",
           ("Transfer-Encoding", "chunked")), refused(413, "payload_too_large")),
    c("chunked-final-chunk-missing-408",
      post("/v1/auth/login", b"2\r\n{}\r\n", ("Transfer-Encoding", "chunked")),
      refused(408, "request_timeout")),
    c("chunked-trailer-never-ends-408",
      post("/v1/auth/login", b"2\r\n{}\r\n0\r\nX-Trailer: 1\r\n", ("Transfer-Encoding", "chunked")),
      refused(408, "request_timeout")),
    c("chunked-trailers-over-16k-431",
      post("/v1/auth/login", b"2\r\n{}\r\n0\r\n" + b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 1000)
                                                            for i in range(20)) + b"\r\n",
           ("Transfer-Encoding", "chunked")), refused(431, "headers_too_large")),
    # -- upgrades and odd methods on plain routes ------------------------------------
    c("upgrade-h2c-ignored", req(headers=(H, ("Connection", "Upgrade, HTTP2-Settings"),
                                          ("Upgrade", "h2c"),
                                          ("HTTP2-Settings", "AAMAAABkAAQAAP__"))), OK),
    c("upgrade-websocket-on-healthz-ignored",
      req(headers=(H, ("Connection", "Upgrade"), ("Upgrade", "websocket"))), OK),
    c("head-healthz", req("HEAD"), OK),
    c("options-on-route", req("OPTIONS", "/v1/me"), http(405, "method_not_allowed")),
    c("delete-on-static", req("DELETE", "/index.html"), http(405, "method_not_allowed")),
    # -- authorization ---------------------------------------------------------------
    c("bearer-empty", req(target="/v1/me", headers=(H, ("Authorization", "Bearer "))),
      http(401, "unauthorized")),
    c("bearer-garbage", req(target="/v1/me", headers=(H, ("Authorization", "Bearer \xff\xfe'--"))),
      http(401, "unauthorized")),
    c("bearer-nul", req(target="/v1/me", headers=(H, ("Authorization", "Bearer a\x00b"))), BR),
    c("bearer-12k", req(target="/v1/me", headers=(H, ("Authorization", "Bearer " + "a" * 12000))),
      http(401, "unauthorized")),
    c("basic-auth", req(target="/v1/me", headers=(H, ("Authorization", "Basic YTpi"))),
      http(401, "unauthorized")),
    c("two-authorization-headers",
      req(target="/v1/me", headers=(H, ("Authorization", "Bearer x"),
                                    ("Authorization", "Bearer y"))),
      http(401, "unauthorized")),
    # -- content type of JSON routes -------------------------------------------------
    c("json-route-text-plain-415",
      post("/v1/auth/login", b"{}", ("Content-Type", "text/plain"), ("Content-Length", "2")),
      http(415, "unsupported_media_type")),
    c("json-route-form-415",
      post("/v1/auth/login", b"a=b", ("Content-Type", "application/x-www-form-urlencoded"),
           ("Content-Length", "3")), http(415, "unsupported_media_type")),
    c("json-route-jsonx-415",
      post("/v1/auth/login", b"{}", ("Content-Type", "application/jsonx"), ("Content-Length", "2")),
      http(415, "unsupported_media_type")),
    c("json-route-charset-param-ok",
      post("/v1/auth/login", b"{}", ("Content-Type", "application/json; charset=utf-8"),
           ("Content-Length", "2")), http(400, "bad_request")),
]

# Paths: traversal against the static files and tricks against /v1 routes. Static misses
# and refused traversal are 404 not_found (JSON); /v1 paths are matched exactly, never
# normalised, so a trick names no route (404) rather than another one.
TRAVERSAL = [
    "/../" + SECRET_FILE,
    "/%2e%2e/" + SECRET_FILE,
    "/%2E%2E/" + SECRET_FILE,
    "/.%2e/" + SECRET_FILE,
    "/%2e%2e%2f" + SECRET_FILE,
    "/assets/../../" + SECRET_FILE,
    "/assets/%2e%2e/%2e%2e/" + SECRET_FILE,
    "/assets/..%2f..%2f" + SECRET_FILE,
    "/%2e%2e%5c" + SECRET_FILE,
    "/..%5c" + SECRET_FILE,
    "/%c0%ae%c0%ae/" + SECRET_FILE,
    "/%e0%80%ae%e0%80%ae/" + SECRET_FILE,
    "/%c0%af..%c0%af" + SECRET_FILE,
    "/%252e%252e/" + SECRET_FILE,
    "/app.js%00",
    "/app.js%00.png",
    "/index.html%00/../../" + SECRET_FILE,
    "//etc/passwd",
    "/" + "../" * 30 + "etc/passwd",
    "/%2f%2fetc%2fpasswd",
    "/assets",
    "/%ff%fe",
]

V1_TRICKS = [
    ("/v1/../healthz", NF),
    ("/v1/me/../admin/users", NF),
    ("/v1//me", NF),
    ("/v1/me/", NF),
    ("/V1/ME", NF),
    ("/v1/me%00", NF),
    ("/v1/me%2f", NF),
    ("/v1/conversations/0", NF),
    ("/v1/conversations/-1", NF),
    ("/v1/conversations/1e3", NF),
    ("/v1/conversations/0x10", NF),
    ("/v1/conversations/+1", NF),
    ("/v1/conversations/%201", NF),
    ("/v1/conversations/99999999999999999999", NF),
    ("/v1/conversations/9223372036854775807", NF),
    ("/v1/conversations/1%2f2", NF),
    ("/v1/conversations/%2e%2e", NF),
    ("/v1/admin/users", http(403, "forbidden")),
    ("/v1/admin%2fusers", NF),
]

for i, path in enumerate(TRAVERSAL):
    CASES.append(c("static-traversal-%02d-%s" % (i, slug(path)), req(target=path), NF))
CASES.append(c("static-backslash-raw", req(target="/..\\" + SECRET_FILE), NF))
CASES.append(c("path-percent-incomplete", req(target="/%"), BR))
CASES.append(c("path-percent-one-digit", req(target="/%2"), BR))
CASES.append(c("path-percent-not-hex", req(target="/%zz"), BR))
CASES.append(c("path-percent-encoded-digit-is-the-digit",
               lambda env: req(target="/v1/conversations/%%%x%s" % (
                   0x30 + int(str(env.refs["direct"])[0]), str(env.refs["direct"])[1:]),
                   headers=(H, ("Authorization", "Bearer " + env.refs["p_token"]))), OK))
for i, (path, answer) in enumerate(V1_TRICKS):
    CASES.append(c("v1-path-%02d-%s" % (i, slug(path)),
                   lambda env, path=path: req(target=path, headers=(
                       H, ("Authorization", "Bearer " + env.refs["p_token"]))), answer))
