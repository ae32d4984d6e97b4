"""Hostile JSON, each document sent twice: as a WebSocket message and as a REST body.

Over the WebSocket (driver ws_text) the document is the value of "x" in
{"id":"h","op":"ping","x":…} when it is a fragment, or the whole message. A message
that is not JSON (jansson, with duplicate keys refused and no NUL allowed) gets
{"re":null,"error":{"code":"bad_request"}}: its id cannot be trusted; a valid one gets
the ping's {"re":"h","ok":{}}. Text that is not UTF-8 closes the socket with 1007 before
any JSON is read; a message over 1 MiB closes it with 1009.

Over REST (driver rest) the body goes to POST /v1/push/999999999/events as the prober
(a route that reads a JSON object and changes nothing): a valid object gets 404
not_found (no such push), anything else 400 bad_request; a body over max_body_size
(1 MiB) 413 before it is read.
"""

import json

from catalogue import Case, http, refused, rest, ws_close, ws_err, ws_ok, ws_text

EVENTS = "/v1/push/999999999/events"
BAD_JSON = http(400, "bad_request")
VALID = http(404, "not_found")
WS_BAD = ws_err("bad_request", re=None)
MAX = 1 << 20


def frag(value_bytes):
    """A ping carrying the fragment as "x" (and a valid REST body around it)."""
    return (b'{"id":"h","op":"ping","x":' + value_bytes + b"}",
            b'{"type":"opened","x":' + value_bytes + b"}")


def whole(doc):
    return (doc, doc)


CASES = []


def both(name, docs, ws_expect, rest_expect, xfail=None):
    ws_doc, rest_doc = docs
    CASES.append(Case("json-ws-" + name, ws_text, ws_doc, ws_expect, xfail))
    CASES.append(Case("json-rest-" + name, rest,
                      {"method": "POST", "path": EVENTS, "body": rest_doc}, rest_expect, xfail))


def bad(name, docs):
    both(name, docs, WS_BAD, BAD_JSON)


def fine(name, docs):
    both(name, docs, ws_ok(), VALID)


# -- nesting -------------------------------------------------------------------------------
bad("nesting-10000-arrays", frag(b"[" * 10000 + b"]" * 10000))
bad("nesting-10000-objects", frag(b'{"a":' * 10000 + b"1" + b"}" * 10000))
bad("nesting-100000-unclosed", frag(b"[" * 100000))
fine("nesting-1000-arrays", frag(b"[" * 1000 + b"]" * 1000))
# -- numbers ---------------------------------------------------------------------------------
bad("number-1e999", frag(b"1e999"))
bad("number-minus-1e999", frag(b"-1e999"))
bad("number-1.8e308", frag(b"1.8e308"))
fine("number-1e308", frag(b"1e308"))
fine("number-underflow-1e-999", frag(b"1e-999"))
fine("number-minus-zero", frag(b"-0"))
fine("number-minus-zero-real", frag(b"-0.0"))
bad("number-2^64", frag(b"18446744073709551616"))
bad("number-2^63", frag(b"9223372036854775808"))
fine("number-2^63-1", frag(b"9223372036854775807"))
fine("number-minus-2^63", frag(b"-9223372036854775808"))
bad("number-minus-2^63-1", frag(b"-9223372036854775809"))
fine("number-huge-real", frag(b"123456789012345678901234567890.5"))
fine("number-huge-exponent-digits", frag(b"1e0000000000000000000000001"))
bad("number-1000-digit-integer", frag(b"9" * 1000))
fine("number-1000-digit-fraction", frag(b"0." + b"1" * 1000))
bad("number-leading-zero", frag(b"0123"))
bad("number-plus-sign", frag(b"+1"))
bad("number-leading-dot", frag(b".5"))
bad("number-trailing-dot", frag(b"1."))
bad("number-hex", frag(b"0x10"))
bad("number-nan", frag(b"NaN"))
bad("number-infinity", frag(b"Infinity"))
bad("number-exponent-without-digits", frag(b"1e"))
# -- strings ---------------------------------------------------------------------------------
bad("string-escaped-nul", frag(b'"a\\u0000b"'))
bad("string-lone-high-surrogate", frag(b'"\\ud800"'))
bad("string-lone-low-surrogate", frag(b'"\\udc00"'))
bad("string-surrogates-reversed", frag(b'"\\udc00\\ud800"'))
bad("string-high-surrogate-then-letter", frag(b'"\\ud800a"'))
fine("string-surrogate-pair", frag(b'"\\ud83d\\ude00"'))
bad("string-raw-tab", frag(b'"a\tb"'))
bad("string-raw-newline", frag(b'"a\nb"'))
bad("string-raw-nul", frag(b'"a\x00b"'))
bad("string-bad-escape", frag(b'"\\x41"'))
bad("string-short-unicode-escape", frag(b'"\\u12"'))
bad("string-non-hex-unicode-escape", frag(b'"\\uZZZZ"'))
bad("string-unterminated", frag(b'"abc'))
bad("string-single-quotes", frag(b"'abc'"))
fine("string-empty-key", frag(b'{"":1}'))
fine("string-100k-key", frag(b'{"' + b"k" * 100000 + b'":1}'))
fine("string-half-mib", frag(b'"' + b"s" * (MAX // 2) + b'"'))
# -- objects and arrays ----------------------------------------------------------------------
bad("duplicate-keys", frag(b'{"a":1,"a":2}'))
bad("duplicate-keys-differently-escaped", frag(b'{"a":1,"\\u0061":2}'))
bad("trailing-comma-object", frag(b'{"a":1,}'))
bad("trailing-comma-array", frag(b"[1,]"))
bad("unquoted-key", frag(b"{a:1}"))
bad("comment-block", frag(b"/* hi */ 1"))
bad("comment-line", frag(b"1 // hi"))
fine("many-keys-40000", frag(b"{" + b",".join(b'"k%d":0' % i for i in range(40000)) + b"}"))
fine("array-200000-zeros", frag(b"[" + b",".join([b"0"] * 200000) + b"]"))
# -- whole documents -------------------------------------------------------------------------
bad("top-level-array", whole(b"[]"))
bad("top-level-string", whole(b'"x"'))
bad("top-level-number", whole(b"1"))
bad("top-level-null", whole(b"null"))
bad("top-level-true", whole(b"true"))
bad("empty-document", whole(b""))
bad("whitespace-only", whole(b" \t\r\n "))
bad("byte-order-mark", (b'\xef\xbb\xbf{"id":"h","op":"ping"}', b'\xef\xbb\xbf{"type":"opened"}'))
bad("trailing-garbage", (b'{"id":"h","op":"ping"}x', b'{"type":"opened"}x'))
bad("two-documents", (b'{"id":"h","op":"ping"}{"id":"i","op":"ping"}',
                      b'{"type":"opened"}{"type":"opened"}'))
bad("duplicate-id", whole(b'{"id":"h","id":"i","op":"ping"}'))
fine("trailing-whitespace", (b'{"id":"h","op":"ping"} \r\n\t', b'{"type":"opened"} \r\n\t'))
bad("nul-byte-after-document", (b'{"id":"h","op":"ping"}\x00', b'{"type":"opened"}\x00'))
# -- bytes that are not UTF-8: the WebSocket refuses the text itself -----------------------
for label, raw in (("ff", b"\xff"), ("overlong", b"\xc0\xaf"), ("cesu-surrogate", b"\xed\xa0\x80"),
                   ("truncated", b"\xe2\x82")):
    ws_doc, rest_doc = frag(b'"' + raw + b'"')
    CASES.append(Case("json-ws-raw-invalid-utf8-" + label, ws_text, ws_doc, ws_close(1007)))
    CASES.append(Case("json-rest-raw-invalid-utf8-" + label, rest,
                      {"method": "POST", "path": EVENTS, "body": rest_doc}, BAD_JSON))
CASES.append(Case("json-rest-latin1-body", rest,
                  {"method": "POST", "path": EVENTS, "body": b'{"type":"opened","x":"caf\xe9"}'},
                  BAD_JSON))
# -- size ----------------------------------------------------------------------------------
CASES.append(Case("json-ws-1mib-string", ws_text, frag(b'"' + b"s" * MAX + b'"')[0],
                  ws_close(1009)))
CASES.append(Case("json-rest-1mib-string", rest,
                  {"method": "POST", "path": EVENTS, "body": frag(b'"' + b"s" * MAX + b'"')[1]},
                  refused(413, "payload_too_large")))
# -- the request id ------------------------------------------------------------------------
IDS = [
    ("id-minus-zero", b"-0", ws_ok(0)),
    ("id-2^63-1", b"9223372036854775807", ws_ok(9223372036854775807)),
    ("id-minus-2^63", b"-9223372036854775808", ws_ok(-9223372036854775808)),
    ("id-2^63", b"9223372036854775808", WS_BAD),
    ("id-real", b"1.0", WS_BAD),
    ("id-exponent", b"1e2", WS_BAD),
    ("id-true", b"true", WS_BAD),
    ("id-null", b"null", WS_BAD),
    ("id-object", b'{"a":1}', WS_BAD),
    ("id-array", b"[1]", WS_BAD),
    ("id-empty-string", b'""', WS_BAD),
    ("id-129-bytes", json.dumps("i" * 129).encode(), WS_BAD),
    ("id-128-bytes", json.dumps("i" * 128).encode(), ws_ok("i" * 128)),
    ("id-128-bytes-multibyte", json.dumps("\u00e9" * 64, ensure_ascii=False).encode(),
     ws_ok("\u00e9" * 64)),
    ("id-65-two-byte-chars", json.dumps("\u00e9" * 65, ensure_ascii=False).encode(), WS_BAD),
    ("id-escaped-nul", b'"a\\u0000"', WS_BAD),
]
for label, raw_id, expect in IDS:
    CASES.append(Case("json-ws-" + label, ws_text, b'{"id":' + raw_id + b',"op":"ping"}', expect))
