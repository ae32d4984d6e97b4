"""Hostile Origin (and Host) headers on the WebSocket handshake (driver handshake).

The rule (docs/protocol.md "Origin policy", src/ws/ws_handshake.c): no Origin, the
server's own origin (http:// or https:// followed by the Host header, case aside), or
an exact, case-insensitive match in allowed_origins
(catalogue.ALLOWED_ORIGINS: https://chat.example.com and https://app.example.com:8443)
gets 101; anything else 403 forbidden_origin. Browsers serialise an origin as
scheme://host[:port] with no default port, path or trailing slash, so every other
spelling is refused rather than normalised.
"""

from catalogue import Case, handshake, http

OK = http(101)
NO = http(403, "forbidden_origin")


KEEP = object()  # the handshake's own Host header


def o(name, origin, expect, host=KEEP, xfail=None, **extra):
    send = {"origin": origin}
    if host is not KEEP:
        send["host"] = host  # None: no Host header at all
    send.update(extra)
    return Case("origin-" + name, handshake, send, expect, xfail)


CASES = [
    o("absent", None, OK),
    o("own-http", "http://127.0.0.1:{port}", OK),
    o("own-https-behind-proxy", "https://127.0.0.1:{port}", OK),
    o("own-scheme-uppercase", "HTTP://127.0.0.1:{port}", OK),
    o("allowed-exact", "https://chat.example.com", OK),
    o("allowed-case-aside", "HTTPS://CHAT.EXAMPLE.COM", OK),
    o("allowed-with-port", "https://app.example.com:8443", OK),
    o("null", "null", NO),
    o("empty", "", NO),
    o("evil", "https://evil.example", NO),
    o("own-as-prefix-of-evil", "http://127.0.0.1:{port}.evil.example", NO),
    o("own-host-then-evil-port", "http://127.0.0.1.evil.example:{port}", NO),
    o("own-without-port", "http://127.0.0.1", NO),
    o("own-other-port", "http://127.0.0.1:1", NO),
    o("own-localhost-name", "http://localhost:{port}", NO),
    o("own-ipv6-loopback", "http://[::1]:{port}", NO),
    o("own-trailing-slash", "http://127.0.0.1:{port}/", NO),
    o("own-with-path", "http://127.0.0.1:{port}/v1/ws", NO),
    o("own-userinfo", "http://evil@127.0.0.1:{port}", NO),
    o("own-ws-scheme", "ws://127.0.0.1:{port}", NO),
    o("own-no-scheme", "127.0.0.1:{port}", NO),
    o("allowed-as-prefix", "https://chat.example.com.evil.example", NO),
    o("allowed-as-suffix", "https://evilchat.example.com", NO),
    o("allowed-subdomain", "https://evil.chat.example.com", NO),
    o("allowed-truncated", "https://chat.example.co", NO),
    o("allowed-one-more-letter", "https://chat.example.comm", NO),
    o("allowed-other-scheme", "http://chat.example.com", NO),
    o("allowed-default-port-spelled", "https://chat.example.com:443", NO),
    o("allowed-trailing-slash", "https://chat.example.com/", NO),
    o("allowed-with-path", "https://chat.example.com/app", NO),
    o("allowed-port-dropped", "https://app.example.com", NO),
    o("allowed-other-port", "https://app.example.com:8444", NO),
    o("allowed-list-in-one-header", "https://chat.example.com, https://evil.example", NO),
    o("allowed-percent-nul", "https://chat.example.com%00.evil.example", NO),
    o("allowed-userinfo", "https://chat.example.com@evil.example", NO),
    o("file-scheme", "file://", NO),
    o("extension-scheme", "chrome-extension://abcdefghijklmnop", NO),
    o("data-uri", "data:text/html,hi", NO),
    o("very-long", "https://" + "a" * 8000 + ".example", NO),
    o("allowed-then-evil-second-header", "https://chat.example.com", NO,
      extra=[("Origin", "https://evil.example")]),
    o("evil-then-allowed-second-header", "https://evil.example", NO,
      extra=[("Origin", "https://chat.example.com")]),
    # The Host header decides what "own" means; a page can only claim the host it was
    # loaded from (a DNS rebinding page still has no token), so these are consistent.
    o("host-evil-and-origin-evil-consistent", "http://evil.example:{port}", OK,
      host="evil.example:{port}"),
    o("host-evil-origin-ours", "http://127.0.0.1:{port}", NO, host="evil.example:{port}"),
    o("host-missing", "http://127.0.0.1:{port}", http(400, "bad_request"), host=None),
    o("host-with-userinfo", "http://127.0.0.1:{port}", http(400, "bad_request"),
      host="evil@127.0.0.1:{port}"),
    o("host-twice", "http://127.0.0.1:{port}", http(400, "bad_request"),
      extra=[("Host", "evil.example")]),
    # Absolute-form: the target's authority is the host (RFC 9112 §3.2.2).
    o("absolute-form-authority-is-the-host", "http://evil.example", OK,
      path="http://evil.example/v1/ws"),
    o("absolute-form-origin-of-host-header", "http://127.0.0.1:{port}", NO,
      path="http://evil.example/v1/ws"),
]
