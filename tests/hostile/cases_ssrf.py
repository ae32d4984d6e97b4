"""SSRF: push endpoints a client registers (POST /v1/devices) that point inside.

With the defaults (push_allow_http no, push_allow_private no) a Web Push or UnifiedPush
endpoint must be an https URL to a public host: src/push/endpoint.c refuses plain http,
userinfo, ports out of range, percent-encoded or non-ASCII hosts, and every loopback,
private, link-local, shared, multicast or unspecified address in any spelling a resolver
accepts (inet_aton's "127.1", "2130706433", "0x7f000001", "0177.0.0.1"; IPv4-mapped,
-compatible, NAT64 and 6to4 IPv6) or local name, with 400 bad_request. A public name is
accepted (its address is checked when the push is sent: test_push_webpush.py). Those
devices belong to user s, to whom no push or chat message is ever sent, so nothing
leaves loopback.

Redirects: the push sender never follows one (no CURLOPT_FOLLOWLOCATION); the REDIRECTS
cases show it with two fake push services on a second server that allows loopback (so
the fake can be reached at all): the first answers 30x with a Location on the second,
which must get no request, and the delivery fails as "rejected".

Webhooks (issue 9): WEBHOOKS registers URLs with POST /v1/admin/webhooks as the admin,
under the defaults (webhook_allow_http no, webhook_allow_private no). A webhook's URL
follows a push endpoint's rules: every endpoint refused above is refused, and so are
fragments and a few more spellings, with 400 bad_request; other names are accepted,
their addresses being checked when connecting. Every webhook a case may create is
disabled, so no event is ever sent anywhere. Then the other fields (events, description,
enabled) of each wrong kind, and the routes that take a webhook id, on a disabled
webhook of the admin's made on first use.
"""

import base64
import os

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from catalogue import Answer, Case, Ref, http, rest
from chatlib import api, expect
from pushlib import wait_counts

_point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    Encoding.X962, PublicFormat.UncompressedPoint)
KEYS = {"p256dh": base64.urlsafe_b64encode(_point).rstrip(b"=").decode(),
        "auth": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()}
REFUSED = http(400, "bad_request")
REGISTERED = http(201)


def device(name, body, expect, xfail=None):
    return Case("ssrf-" + name, rest, {"method": "POST", "path": "/v1/devices", "as": "s",
                                       "body": body}, expect, xfail)


def webpush(endpoint):
    return {"platform": "webpush", "endpoint": endpoint, "keys": KEYS}


def unifiedpush(endpoint):
    return {"platform": "unifiedpush", "endpoint": endpoint}


# (label, endpoint): every one refused, for webpush and for unifiedpush.
INSIDE = [
    ("loopback", "https://127.0.0.1/push"),
    ("loopback-other", "https://127.45.6.7/push"),
    ("loopback-short-127.1", "https://127.1/push"),
    ("loopback-short-127.0.1", "https://127.0.1/push"),
    ("loopback-decimal", "https://2130706433/push"),
    ("loopback-hex", "https://0x7f000001/push"),
    ("loopback-hex-dotted", "https://0x7f.0x0.0x0.0x1/push"),
    ("loopback-octal", "https://0177.0.0.1/push"),
    ("loopback-octal-short", "https://0177.1/push"),
    ("loopback-octal-whole", "https://017700000001/push"),
    ("loopback-zero-padded", "https://127.000.000.001/push"),
    ("loopback-trailing-dot", "https://127.0.0.1./push"),
    ("loopback-with-port", "https://127.0.0.1:8080/push"),
    ("loopback-uppercase-scheme", "HTTPS://127.0.0.1/push"),
    ("ipv6-loopback", "https://[::1]/push"),
    ("ipv6-loopback-long", "https://[0:0:0:0:0:0:0:1]/push"),
    ("ipv6-loopback-with-port", "https://[::1]:443/push"),
    ("ipv4-mapped-dotted", "https://[::ffff:127.0.0.1]/push"),
    ("ipv4-mapped-hex", "https://[::ffff:7f00:1]/push"),
    ("ipv4-mapped-long", "https://[0:0:0:0:0:ffff:7f00:1]/push"),
    ("ipv4-mapped-private", "https://[::ffff:10.0.0.1]/push"),
    ("ipv4-compatible", "https://[::127.0.0.1]/push"),
    ("nat64-loopback", "https://[64:ff9b::7f00:1]/push"),
    ("nat64-metadata", "https://[64:ff9b::a9fe:a9fe]/push"),
    ("6to4-loopback", "https://[2002:7f00:1::]/push"),
    ("unspecified", "https://0.0.0.0/push"),
    ("unspecified-short", "https://0/push"),
    ("unspecified-ipv6", "https://[::]/push"),
    ("10-slash-8", "https://10.0.0.1/push"),
    ("10-slash-8-top", "https://10.255.255.255/push"),
    ("10-slash-8-decimal", "https://167772161/push"),
    ("10-slash-8-hex", "https://0x0a000001/push"),
    ("172-16-slash-12", "https://172.16.0.1/push"),
    ("172-16-slash-12-top", "https://172.31.255.255/push"),
    ("192-168-slash-16", "https://192.168.1.1/push"),
    ("192-168-octal", "https://0300.0250.1.1/push"),
    ("link-local-metadata", "https://169.254.169.254/latest/meta-data/"),
    ("link-local-metadata-decimal", "https://2852039166/latest/meta-data/"),
    ("shared-cgnat", "https://100.64.0.1/push"),
    ("benchmarking", "https://198.18.0.1/push"),
    ("ietf-protocol-assignments", "https://192.0.0.1/push"),
    ("multicast", "https://224.0.0.1/push"),
    ("broadcast", "https://255.255.255.255/push"),
    ("reserved-240", "https://240.0.0.1/push"),
    ("ipv6-unique-local-fd", "https://[fd00::1]/push"),
    ("ipv6-unique-local-fc", "https://[fc00::1]/push"),
    ("ipv6-link-local", "https://[fe80::1]/push"),
    ("ipv6-link-local-zone", "https://[fe80::1%25eth0]/push"),
    ("ipv6-site-local", "https://[fec0::1]/push"),
    ("ipv6-multicast", "https://[ff02::1]/push"),
    ("ipv6-teredo", "https://[2001::1]/push"),
    ("localhost", "https://localhost/push"),
    ("localhost-uppercase", "https://LOCALHOST/push"),
    ("localhost-trailing-dot", "https://localhost./push"),
    ("localhost-subdomain", "https://push.localhost/push"),
    ("ip6-localhost", "https://ip6-localhost/push"),
    ("ip6-loopback", "https://ip6-loopback/push"),
    ("localdomain", "https://localhost.localdomain/push"),
    ("plain-http", "http://push.example.com/push"),
    ("plain-http-loopback", "http://127.0.0.1/push"),
    ("userinfo-loopback", "https://evil@127.0.0.1/push"),
    ("userinfo-public-looking", "https://push.example.com@127.0.0.1/push"),
    ("userinfo-password", "https://user:pass@push.example.com/push"),
    ("backslash-authority", "https://127.0.0.1\\@push.example.com/push"),
    ("percent-encoded-host", "https://%31%32%37.0.0.1/push"),
    ("fullwidth-localhost", "https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/push"),
    ("port-zero", "https://push.example.com:0/push"),
    ("port-too-big", "https://push.example.com:99999/push"),
    ("port-not-a-number", "https://push.example.com:https/push"),
    ("ipv4-too-many-parts", "https://1.1.1.1.1/push"),
    ("ipv4-octet-256", "https://256.0.0.1/push"),
    ("ipv6-unclosed", "https://[::1/push"),
    ("ipv6-brackets-around-ipv4", "https://[127.0.0.1]/push"),
    ("empty-host", "https:///push"),
    ("scheme-only", "https://"),
    ("no-scheme", "push.example.com/push"),
    ("scheme-ftp", "ftp://push.example.com/push"),
    ("scheme-file", "file:///etc/passwd"),
    ("scheme-gopher", "gopher://127.0.0.1:6379/_INFO"),
    ("scheme-javascript", "javascript:alert(1)"),
    ("leading-space", " https://push.example.com/push"),
    ("inner-tab", "https://push.example.com/\tpush"),
    ("header-injection", "https://push.example.com/push\r\nX-Evil: 1"),
    ("nul-inside", "https://push.example.com/\u0001push"),
    ("longer-than-2048", "https://push.example.com/" + "a" * 2048),
]
# Public destinations are accepted (the control group: the refusals above are not blanket).
OUTSIDE = [
    ("public-name", "https://push.example.com/push/abc"),
    ("public-ipv4", "https://8.8.8.8/push"),
    ("public-172-32", "https://172.32.0.1/push"),
    ("public-172-15", "https://172.15.255.255/push"),
    ("public-ipv4-mapped", "https://[::ffff:8.8.8.8]/push"),
    ("public-ipv6", "https://[2606:4700:4700::1111]/push"),
    ("public-with-port", "https://push.example.com:8443/push"),
    ("name-resolving-inside-checked-later", "https://127.0.0.1.nip.io/push"),
]

CASES = []
for label, url in INSIDE:
    CASES.append(device("webpush-" + label, webpush(url), REFUSED))
    CASES.append(device("unifiedpush-" + label, unifiedpush(url), REFUSED))
for label, url in OUTSIDE:
    CASES.append(device("webpush-" + label, webpush(url), REGISTERED))
    CASES.append(device("unifiedpush-" + label, unifiedpush(url), REGISTERED))
CASES += [
    device("platform-missing", {"endpoint": "https://push.example.com/x", "keys": KEYS}, REFUSED),
    device("platform-uppercase", dict(webpush("https://push.example.com/x"), platform="WEBPUSH"),
           REFUSED),
    device("platform-unknown", dict(webpush("https://push.example.com/x"), platform="webhook"),
           REFUSED),
    device("endpoint-missing", {"platform": "webpush", "keys": KEYS}, REFUSED),
    device("endpoint-not-a-string", dict(webpush("x"), endpoint=["https://push.example.com/"]),
           REFUSED),
    device("webpush-keys-missing", {"platform": "webpush",
                                    "endpoint": "https://push.example.com/x"}, REFUSED),
    device("webpush-p256dh-off-curve",
           dict(webpush("https://push.example.com/x"),
                keys=dict(KEYS, p256dh=base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64)
                          .rstrip(b"=").decode())), REFUSED),
    device("webpush-auth-15-bytes",
           dict(webpush("https://push.example.com/x"),
                keys=dict(KEYS, auth=base64.urlsafe_b64encode(b"a" * 15).rstrip(b"=").decode())),
           REFUSED),
]


# -- redirects ---------------------------------------------------------------------------


def push_redirect(env, case):
    """Registers a device on the rig's first fake, scripts it to answer case.send
    (status, kind), pushes, and reports the outcome and what the second fake got."""
    status, kind = case.send
    rig = env.redirect_rig()
    first, second, srv, key, user = rig["first"], rig["second"], rig["srv"], rig["key"], rig["user"]
    sub = first.subscribe() if kind == "webpush" else first.subscribe_up()
    target = second.subscribe() if kind == "webpush" else second.subscribe_up()
    dev = expect(api(srv, "POST", "/v1/devices", user, dict(sub, platform=kind)), 201)["id"]
    first.script(sub["endpoint"], (status, {"Location": target["endpoint"]}, b""))
    before = second.requests
    r = srv.post("/v1/push", token=key, json={"to": {"users": [user.id]},
                                               "notification": {"title": "redirect"}})
    pid = expect(r, 202)["id"]
    counts = wait_counts(srv, key, pid, "the delivery's outcome", failed=1)
    expect(api(srv, "DELETE", "/v1/devices/%d" % dev, user), 204)
    return [Answer("push failed %s; redirect target got %d requests" % (
        sorted(counts.get("failed_by", {}).items()), second.requests - before))]


NOT_FOLLOWED = Answer("push failed [('rejected', 1)]; redirect target got 0 requests")
REDIRECTS = [
    Case("ssrf-redirect-%s-%d-not-followed" % (kind, status), push_redirect, (status, kind),
         NOT_FOLLOWED)
    for kind in ("webpush", "unifiedpush") for status in (301, 302, 303, 307, 308)
]

# -- webhooks ------------------------------------------------------------------------------

WH_FIELDS = {"id", "url", "events", "description", "enabled", "created_at", "updated_at",
             "queued", "failed", "bot"}
WH_EVENTS = ["message.created"]


def webhook(name, body, expect, path="/v1/admin/webhooks", method="POST", who="admin",
            xfail=None):
    if body is None and method in ("POST", "PATCH"):
        body = b""  # with Content-Length: 0
    return Case("webhook-" + name, webhook_rest, {"method": method, "path": path, "as": who,
                                                  "body": body}, expect, xfail)


def webhook_url(name, url, expect):
    return webhook(name, {"url": url, "events": WH_EVENTS, "enabled": False}, expect)


def webhook_rest(env, case):
    """rest, once the admin has a disabled webhook (Ref("webhook"), made on first use)."""
    if "webhook" not in env.refs:
        r = env.srv.post("/v1/admin/webhooks", token=env.refs["admin_token"],
                         json={"url": "https://hooks.example.com/hostile", "events": WH_EVENTS,
                               "enabled": False})
        assert r.status_code == 201 and WH_FIELDS <= set(r.json()), r.text
        env.refs["webhook"] = r.json()["id"]
    return rest(env, case)


# A webhook's URL follows the rules of a device's push endpoint (docs/openapi.yaml,
# POST /v1/admin/webhooks): every endpoint above is refused, and a few more.
WEBHOOK_INSIDE = INSIDE + [
    ("fragment", "https://hooks.example.com/x#frag"),
    ("fragment-after-query", "https://hooks.example.com/x?a=1#frag"),
    ("userinfo-user-only", "https://user@hooks.example.com/x"),
    ("userinfo-empty-password", "https://user:@hooks.example.com/x"),
    ("plain-http-public", "http://hooks.example.com/x"),
    ("plain-http-uppercase", "HTTP://hooks.example.com/x"),
    ("loopback-hex-first-part", "https://0x7f.0.0.1/x"),
    ("loopback-octal-every-part", "https://0177.00.00.01/x"),
    ("loopback-hex-two-parts", "https://0x7f.1/x"),
    ("private-hex-dotted", "https://0xc0.0xa8.0.1/x"),
    ("shared-top", "https://100.127.255.255/x"),
    ("link-local-other", "https://169.254.0.1/x"),
    ("ipv4-mapped-link-local", "https://[::ffff:169.254.169.254]/x"),
    ("ipv4-mapped-unspecified", "https://[::ffff:0.0.0.0]/x"),
    ("ipv4-mapped-shared", "https://[::ffff:100.64.0.1]/x"),
    ("ipv6-loopback-uppercase-mapped", "https://[::FFFF:127.0.0.1]/x"),
    ("url-huge", "https://hooks.example.com/" + "a" * 65536),
    ("url-empty", ""),
    ("url-relative", "/hook"),
    ("url-scheme-relative", "//hooks.example.com/x"),
    ("url-space-in-host", "https://hooks example.com/x"),
]
WEBHOOK_OUTSIDE = [
    ("public-name", "https://hooks.example.com/in/abc?x=1"),
    ("public-ipv4", "https://8.8.8.8/hook"),
    ("public-172-32", "https://172.32.0.1/hook"),
    ("public-172-15", "https://172.15.255.255/hook"),
    ("public-ipv4-mapped", "https://[::ffff:8.8.8.8]/hook"),
    ("public-ipv6", "https://[2606:4700:4700::1111]/hook"),
    ("public-with-port", "https://hooks.example.com:8443/hook"),
    ("name-resolving-inside-checked-later", "https://127.0.0.1.nip.io/hook"),
    ("exactly-2048-bytes", "https://hooks.example.com/" + "a" * (2048 - 26)),
]
CREATED = http(201)
CONFLICT = http(409, "conflict")
NOT_FOUND = http(404, "not_found")
U = "https://hooks.example.com/x"
WH = Ref("webhook")


def wh_path(rest_=""):
    return ["/v1/admin/webhooks/", WH, rest_]


WEBHOOKS = [webhook_url("url-" + label, url, REFUSED) for label, url in WEBHOOK_INSIDE]
WEBHOOKS += [webhook_url("url-" + label, url, CREATED) for label, url in WEBHOOK_OUTSIDE]
WEBHOOKS += [
    # url and events: missing, of the wrong type
    webhook("url-missing", {"events": WH_EVENTS, "enabled": False}, REFUSED),
    webhook("url-int", {"url": 7, "events": WH_EVENTS, "enabled": False}, REFUSED),
    webhook("url-null", {"url": None, "events": WH_EVENTS, "enabled": False}, REFUSED),
    webhook("url-array", {"url": [U], "events": WH_EVENTS, "enabled": False}, REFUSED),
    webhook("url-object", {"url": {"href": U}, "events": WH_EVENTS, "enabled": False}, REFUSED),
    webhook("events-missing", {"url": U, "enabled": False}, REFUSED),
    webhook("events-empty", {"url": U, "events": [], "enabled": False}, REFUSED),
    webhook("events-string", {"url": U, "events": "message.created", "enabled": False}, REFUSED),
    webhook("events-star-string", {"url": U, "events": "*", "enabled": False}, REFUSED),
    webhook("events-null", {"url": U, "events": None, "enabled": False}, REFUSED),
    webhook("events-object", {"url": U, "events": {"message.created": True}, "enabled": False},
            REFUSED),
    webhook("events-unknown", {"url": U, "events": ["message.deleted"], "enabled": False}, REFUSED),
    webhook("events-unknown-among-known", {"url": U, "events": ["message.created", "nope"],
                                           "enabled": False}, REFUSED),
    webhook("events-ping", {"url": U, "events": ["ping"], "enabled": False}, REFUSED),
    webhook("events-uppercase", {"url": U, "events": ["MESSAGE.CREATED"], "enabled": False},
            REFUSED),
    webhook("events-trailing-space", {"url": U, "events": ["message.created "], "enabled": False},
            REFUSED),
    webhook("events-nul", {"url": U, "events": ["message.created\u0000"], "enabled": False},
            REFUSED),
    webhook("events-empty-string", {"url": U, "events": [""], "enabled": False}, REFUSED),
    webhook("events-duplicate", {"url": U, "events": ["member.left", "member.left"],
                                 "enabled": False}, REFUSED),
    webhook("events-star-twice", {"url": U, "events": ["*", "*"], "enabled": False}, REFUSED),
    webhook("events-int", {"url": U, "events": [7], "enabled": False}, REFUSED),
    webhook("events-null-item", {"url": U, "events": [None], "enabled": False}, REFUSED),
    webhook("events-nested", {"url": U, "events": [["message.created"]], "enabled": False},
            REFUSED),
    webhook("events-10000-unknown", {"url": U, "events": ["e%d" % i for i in range(10000)],
                                     "enabled": False}, REFUSED),
    webhook("description-int", {"url": U, "events": WH_EVENTS, "description": 7,
                                "enabled": False}, REFUSED),
    webhook("description-257-bytes", {"url": U, "events": WH_EVENTS, "description": "d" * 257,
                                      "enabled": False}, REFUSED),
    webhook("description-129-two-byte-chars", {"url": U, "events": WH_EVENTS,
                                               "description": "\u00e9" * 129, "enabled": False},
            REFUSED),
    webhook("enabled-string", {"url": U, "events": WH_EVENTS, "enabled": "false"}, REFUSED),
    webhook("enabled-int", {"url": U, "events": WH_EVENTS, "enabled": 0}, REFUSED),
    webhook("enabled-no-string", {"url": U, "events": WH_EVENTS, "enabled": "no"}, REFUSED),
    # bodies that are not an object
    webhook("body-array", [{"url": U, "events": WH_EVENTS}], REFUSED),
    webhook("body-string", "https://hooks.example.com/x", REFUSED),
    webhook("body-not-json", b"url=https://hooks.example.com/x", REFUSED),
    # who
    webhook("as-plain-user", {"url": U, "events": WH_EVENTS, "enabled": False},
            http(403, "forbidden"), who="p"),
    webhook("without-credentials", {"url": U, "events": WH_EVENTS, "enabled": False},
            http(401, "unauthorized"), who=None),
    # the routes that take an id (WH: a disabled webhook of the admin's)
    webhook("get", None, http(200), path=wh_path(), method="GET"),
    webhook("patch-url-loopback", {"url": "https://127.0.0.1/x"}, REFUSED, path=wh_path(),
            method="PATCH"),
    webhook("patch-url-decimal", {"url": "https://2130706433/x"}, REFUSED, path=wh_path(),
            method="PATCH"),
    webhook("patch-url-mapped", {"url": "https://[::ffff:127.0.0.1]/x"}, REFUSED,
            path=wh_path(), method="PATCH"),
    webhook("patch-url-http", {"url": "http://hooks.example.com/x"}, REFUSED, path=wh_path(),
            method="PATCH"),
    webhook("patch-url-fragment", {"url": U + "#f"}, REFUSED, path=wh_path(), method="PATCH"),
    webhook("patch-events-empty", {"events": []}, REFUSED, path=wh_path(), method="PATCH"),
    webhook("patch-events-unknown", {"events": ["nope"]}, REFUSED, path=wh_path(),
            method="PATCH"),
    webhook("patch-events-duplicate", {"events": ["user.created", "user.created"]}, REFUSED,
            path=wh_path(), method="PATCH"),
    webhook("patch-enabled-string", {"enabled": "true"}, REFUSED, path=wh_path(),
            method="PATCH"),
    webhook("patch-description-257-bytes", {"description": "d" * 257}, REFUSED,
            path=wh_path(), method="PATCH"),
    webhook("patch-body-array", [], REFUSED, path=wh_path(), method="PATCH"),
    webhook("patch-description-ok", {"description": "hostile"}, http(200), path=wh_path(),
            method="PATCH"),
    webhook("ping-disabled", None, CONFLICT, path=wh_path("/ping")),
    webhook("rotate-secret", None, http(200), path=wh_path("/secret")),
    webhook("deliveries", None, http(200), path=wh_path("/deliveries"), method="GET"),
    webhook("deliveries-state-unknown", None, REFUSED, path=wh_path("/deliveries?state=lost"),
            method="GET"),
    webhook("deliveries-state-empty", None, REFUSED, path=wh_path("/deliveries?state="),
            method="GET"),
    webhook("deliveries-limit-0", None, REFUSED, path=wh_path("/deliveries?limit=0"),
            method="GET"),
    webhook("deliveries-limit-201", None, REFUSED, path=wh_path("/deliveries?limit=201"),
            method="GET"),
    webhook("deliveries-limit-text", None, REFUSED, path=wh_path("/deliveries?limit=ten"),
            method="GET"),
    webhook("deliveries-before-text", None, REFUSED, path=wh_path("/deliveries?before=x"),
            method="GET"),
    webhook("retry-unknown-delivery", None, NOT_FOUND,
            path=wh_path("/deliveries/999999999/retry")),
    webhook("list-limit-0", None, REFUSED, path="/v1/admin/webhooks?limit=0", method="GET"),
    webhook("list-limit-201", None, REFUSED, path="/v1/admin/webhooks?limit=201", method="GET"),
    webhook("list-before-negative", None, REFUSED, path="/v1/admin/webhooks?before=-5",
            method="GET"),
    webhook("unknown-id", None, NOT_FOUND, path="/v1/admin/webhooks/999999999", method="GET"),
    webhook("unknown-id-ping", None, NOT_FOUND, path="/v1/admin/webhooks/999999999/ping"),
    webhook("unknown-id-delete", None, NOT_FOUND, path="/v1/admin/webhooks/999999999",
            method="DELETE"),
    webhook("as-plain-user-get", None, http(403, "forbidden"), path=wh_path(), method="GET",
            who="p"),
    webhook("as-plain-user-delete", None, http(403, "forbidden"), path=wh_path(),
            method="DELETE", who="p"),
]
