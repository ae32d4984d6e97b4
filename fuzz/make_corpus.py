#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (run from anywhere).

The seeds are small, realistic inputs plus the edge cases each parser must
refuse; libFuzzer mutates from there. Re-running rewrites the same files.
"""
import hashlib
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- fuzz_http_parse: two split bytes, then the connection's bytes -----------

def http(name, text, split=0):
    write("fuzz_http_parse", name, struct.pack("<H", split) + text.encode("latin-1"))


http("get_simple", "GET /v1/health HTTP/1.1\r\nHost: chat.example\r\n\r\n", 20)
http("get_http10", "GET / HTTP/1.0\r\n\r\n", 3)
http("post_json", "POST /v1/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
     "Content-Length: 39\r\n\r\n{\"username\":\"alice\",\"password\":\"x\"}", 60)
http("chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n", 70)
http("pipelined", "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n"
     "Connection: close\r\n\r\nPOST /three HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 31)
http("upgrade", "GET /v1/ws HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\n"
     "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://app.example\r\n\r\n"
     "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 100)
http("space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n")
http("obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n")
http("bare_lf", "GET / HTTP/1.1\nHost: a\n\n")
http("cl_te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
http("two_cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
http("no_host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")
http("long_url", "GET /" + "a" * 200 + " HTTP/1.1\r\nHost: a\r\n\r\n", 50)
http("many_headers", "GET / HTTP/1.1\r\nHost: a\r\n" + "".join("X-%d: v\r\n" % i for i in range(12)) + "\r\n")
http("big_cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999\r\n\r\n")
http("ctl_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n")
# Regression seed: Upgrade with a body (the body once parsed as a head-less request).
http("upgrade_with_body", "POST /v1/auth/login HTTP/1.1\r\nHost: a\r\nUpgrade: foo\r\n"
     "Connection: upgrade\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0)
http("empty_values", "GET /?q=1 HTTP/1.1\r\nX-Empty:\r\nHost: a\r\nX-Sp:   \t\r\n\r\n", 9)
# The chunked framing read strictly (the shared http-parser takes any two bytes for a CRLF).
http("chunk_lax_crlf", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhelloXX0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 70)
http("chunk_ext_bws", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5 ;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", 66)
http("absolute_form", "GET http://chat.example:8080/v1/ws?x=1 HTTP/1.1\r\nHost: other\r\n"
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://chat.example:8080\r\n\r\n", 40)
http("host_twice", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")

# --- fuzz_proto: one text message ---------------------------------------------

for name, text in [
    ("auth", '{"id":"a1","op":"auth","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'),
    ("int_id", '{"id":42,"op":"ping"}'),
    ("send", '{"id":"m-17","op":"send","to":"bob","text":"hello \\u00e9\\ud83d\\ude00"}'),
    ("missing_op", '{"id":"x"}'),
    ("missing_id", '{"op":"ping"}'),
    ("empty_id", '{"id":"","op":"ping"}'),
    ("float_id", '{"id":1.5,"op":"ping"}'),
    ("bool_id", '{"id":true,"op":"ping"}'),
    ("dup_keys", '{"id":1,"op":"a","op":"b"}'),
    ("array", '[{"id":1,"op":"ping"}]'),
    ("long_id", '{"id":"' + "i" * 129 + '","op":"ping"}'),
    ("nested", '{"id":1,"op":"x","a":' + "[" * 40 + "]" * 40 + '}'),
    ("not_json", "hello"),
    ("big_int", '{"id":99999999999999999999999,"op":"ping"}'),
]:
    write("fuzz_proto", name, text)

# --- fuzz_config: an INI file ---------------------------------------------------

for name, text in [
    ("defaults", ""),
    ("typical", "# pipitd.conf\nlisten = 0.0.0.0:8080\ndata_dir = /var/lib/pipit\n"
                "registration = open\nlog_level = info\n"),
    ("sizes", "max_header_size = 16k\nmax_body_size = 1m\nws_max_message_size = 64KiB\n"
              "max_url_length = 4096\n"),
    ("durations", "header_timeout = 500ms\nidle_timeout = 5m\ntoken_ttl = 30d\n"
                  "ws_ping_interval = 2h\nshutdown_timeout = 10\n"),
    ("dashed", "data-dir = ./d\nws-ping-interval = 30s\nlogin-free-attempts = 3\n"),
    ("tls_half", "tls_cert = /etc/pipit/cert.pem\n"),
    ("tls_both", "tls_cert = /etc/cert.pem\ntls_key = /etc/key.pem\n"),
    ("section", "[server]\nlisten = 127.0.0.1:1\n"),
    ("syntax_error", "workers = 2\nthis is not a setting\n"),
    ("out_of_range", "workers = 100000\n"),
    ("junk_values", "max_body_size = lots\nheader_timeout = -1s\n"),
    ("unknown_key", "no_such_setting = 1\n"),
    ("comments", "; semicolon\n# hash\n  workers = 4 ; inline\n\n[  ]\n"),
    ("overflow", "token_ttl = 99999999999999999999d\nmax_body_size = 9223372036854775807g\n"),
    ("bad_listen", "listen = :99999\n"),
]:
    write("fuzz_config", name, text)

# --- fuzz_ws: cap byte, split seed, then client frames ---------------------------

MASK = b"\x37\xfa\x21\x3d"


def frame(first, payload, mask=True, length=None):
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        h = bytes([first, m | n])
    elif n < 65536:
        h = bytes([first, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([first, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return h + payload
    return h + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


def close(code, reason=b""):
    return frame(0x88, struct.pack(">H", code) + reason)


def ws(name, data, cap=4, seed=7):
    write("fuzz_ws", name, bytes([cap, seed]) + data)


ws("text", frame(0x81, b'{"id":1,"op":"auth","token":"x"}'))
ws("fragmented", frame(0x01, b"Hel") + frame(0x89, b"mid") + frame(0x80, b"lo"))
ws("ping", frame(0x89, b"abc") + frame(0x8A, b""))
ws("binary", frame(0x82, bytes(range(256))), cap=5)
ws("close", frame(0x81, b"bye") + close(1000, b"done"))
ws("bad_utf8", frame(0x81, b"bad \xff\xfe"))
ws("utf8_split", frame(0x01, b"caf\xc3") + frame(0x80, b"\xa9"))
ws("unmasked", frame(0x81, b"hello", mask=False))
ws("oversized", frame(0x81, b"x" * 200), cap=2)
ws("oversized_fragments", frame(0x01, b"a" * 100) + frame(0x80, b"b" * 100), cap=2)
ws("len16", frame(0x81, b"y" * 300), cap=4, seed=0)
ws("len64_top_bit", b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01" + MASK + b"z")
ws("control_fragmented", frame(0x09, b"p"))
ws("control_too_long", frame(0x89, b"c" * 126))
ws("close_one_byte", frame(0x88, b"x"))
ws("close_bad_code", close(1005))
ws("rsv1", frame(0xC1, b"deflate?"))
ws("many_small", b"".join(frame(0x81, b"%d" % i) for i in range(20)), seed=3)

# --- fuzz_http_parse: uploads (POST /up* streams its body) ---------------------

http("stream_length", "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", split=30)
http("stream_chunked", "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
http("stream_empty", "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
http("stream_over_cap", "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n" + "x" * 600)

# --- fuzz_range: 8 bytes of file size, then a Range header (and an upload name) --


def rng(name, size, text):
    write("fuzz_range", name, struct.pack("<q", size) + text.encode("utf-8"))


rng("simple", 100, "bytes=0-9")
rng("open", 100, "bytes=10-")
rng("suffix", 100, "bytes=-5")
rng("many", 100, "bytes=0-1,3-4")
rng("past_end", 100, "bytes=100-")
rng("name_path", 5, "../../etc/passwd")
rng("name_utf8", 5, "报告 ¿ñ.pdf")

# --- fuzz_search: message text, or what a user typed ---------------------------

for i, text in enumerate([b"abc\xe5\x8c\x97\xe4\xba\xac D\xc3\xa9f", "我买了iPhone手机壳".encode(),
                          "ＨＥＬＬＯ　京".encode() + b"\x80", "ガ＀〬".encode() + b"\x16",
                          b"a\" OR \"b NEAR( col:x *", "北 京 大 学 1 2 3".encode()]):
    write("fuzz_search", "seed%d" % i, text)

# --- fuzz_backup_manifest: a backup's manifest.json ------------------------------

DB_SHA = hashlib.sha256(b"SQLite format 3\0").hexdigest()
BLOB_SHA = hashlib.sha256(b"hello").hexdigest()
BLOB = "files/%s/%s/%s" % (BLOB_SHA[:2], BLOB_SHA[2:4], BLOB_SHA)


def manifest(name, entries, **head):
    m = {"format": "pipit-backup", "version": 1, "created_at": 1700000000000,
         "pipit_version": "0.1.0", "schema_version": 12,
         "counts": {"messages": 3, "users": 2, "files": 1, "blobs": 1}}
    m.update(head)
    m["entries"] = [{"path": p, "size": n, "sha256": s} for p, n, s in entries]
    write("fuzz_backup_manifest", name, json.dumps(m, separators=(",", ":")))


DB_ENTRY = ("pipit.db", 8192, DB_SHA)
manifest("valid", [DB_ENTRY, ("webpush.key", 32, DB_SHA), (BLOB, 5, BLOB_SHA),
                   (BLOB + ".thumb", 300, DB_SHA)])
manifest("dotdot", [DB_ENTRY, ("../../etc/passwd", 1, DB_SHA)])
manifest("duplicate", [DB_ENTRY, ("webpush.key", 32, DB_SHA), ("webpush.key", 32, DB_SHA)])
manifest("wrong_sha", [DB_ENTRY, (BLOB, 5, DB_SHA)])
manifest("no_database", [(BLOB, 5, BLOB_SHA)])
manifest("version_2", [DB_ENTRY], version=2)
manifest("sealed", [DB_ENTRY, (BLOB, 5 + 32 + 16, DB_SHA)], sealed=True)
manifest("sealed_not_bool", [DB_ENTRY], sealed="yes")

# --- fuzz_keys: a data-keys file, a sealed value, a sealed file ----------------------

KEY_LINE = "key 1 1796135824040 " + "ab" * 72 + "\n"
write("fuzz_keys", "one_key", "pipit-data-keys 1\n" + KEY_LINE)
write("fuzz_keys", "two_keys", "pipit-data-keys 1\n" + KEY_LINE + KEY_LINE.replace("key 1", "key 2"))
write("fuzz_keys", "header_only", "pipit-data-keys 1\n")
write("fuzz_keys", "short_line", "pipit-data-keys 1\nkey 1 0 00ff\n")
write("fuzz_keys", "sealed_value", b"\x01\x00\x00\x00\x01" + bytes(24) + b"text" + bytes(16))
write("fuzz_keys", "sealed_file", b"PSF1\x00\x00\x00\x01" + bytes(24) + b"content" + bytes(16))
