#!/usr/bin/env python3
"""Users, tokens and conversations for the chat benchmarks; writes pipit-loadgen's setup file.

    chat_setup.py --data-dir DIR --port P --out FILE pairs  --pairs N
    chat_setup.py --data-dir DIR --port P --out FILE fanout --members N

Users and their session tokens are written straight into the server's SQLite file
(`DIR/pipit.db`, WAL mode, while the server runs): the REST way costs two Argon2id
runs per user (admin create, then login), about 0.1 s each on this VM, which would
make a few thousand users take minutes. A token is what `src/auth/token.c` makes: a
12-byte selector and a 24-byte verifier, base64url without padding; the store keeps
the selector and BLAKE2b-256 of the verifier. The users get an unusable password
hash, so nobody can log in as them.

Conversations go through the real REST API with the users' tokens:
pairs  - N direct conversations, `POST /v1/conversations {"type":"direct","peer":id}`
         by the sender; lines "S conv token" (sender) and "R conv token" (receiver).
fanout - one group with N members (one sender + N-1 receivers), created by the sender
         with `{"type":"group","title":...,"members":[ids]}`.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import sqlite3
import sys
import time


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_users(db_path, prefix, n):
    """Inserts n users with one token each; returns [(user_id, token)]."""
    now = int(time.time() * 1000)
    expires = now + 30 * 86400 * 1000
    db = sqlite3.connect(db_path, timeout=30)
    out = []
    with db:
        for i in range(n):
            cur = db.execute(
                "INSERT INTO users (app_id, username, password_hash, role, created_at) "
                "VALUES (1, ?, '!bench-no-login', 'user', ?)", ("%s%d" % (prefix, i), now))
            uid = cur.lastrowid
            selector, verifier = os.urandom(12), os.urandom(24)
            db.execute(
                "INSERT INTO tokens (app_id, user_id, selector, verifier_hash, created_at, "
                "expires_at) VALUES (1, ?, ?, ?, ?, ?)",
                (uid, selector, hashlib.blake2b(verifier, digest_size=32).digest(), now, expires))
            out.append((uid, b64url(selector) + b64url(verifier)))
    db.close()
    return out


class Api:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, token, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": "Bearer " + token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("mode", choices=["pairs", "fanout"])
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--members", type=int, default=1000)
    a = ap.parse_args()

    t0 = time.monotonic()
    n = 2 * a.pairs if a.mode == "pairs" else a.members
    users = make_users(os.path.join(a.data_dir, "pipit.db"), a.prefix, n)
    api = Api(a.port)
    status, me = api.call("GET", "/v1/me", users[0][1])
    if status != 200:
        sys.exit("chat_setup: a token written to the store does not work: %s %r" % (status, me))
    t1 = time.monotonic()
    lines = []
    if a.mode == "pairs":
        for i in range(a.pairs):
            (sid, stok), (rid, rtok) = users[2 * i], users[2 * i + 1]
            status, conv = api.call("POST", "/v1/conversations", stok,
                                    {"type": "direct", "peer": rid})
            if status not in (200, 201):
                sys.exit("chat_setup: POST /v1/conversations -> %s %r" % (status, conv))
            lines.append("S %d %s" % (conv["id"], stok))
            lines.append("R %d %s" % (conv["id"], rtok))
    else:
        (sid, stok) = users[0]
        status, conv = api.call("POST", "/v1/conversations", stok,
                                {"type": "group", "title": "bench fan-out",
                                 "members": [uid for uid, _ in users[1:]]})
        if status not in (200, 201):
            sys.exit("chat_setup: POST /v1/conversations (group) -> %s %r" % (status, conv))
        if conv.get("member_count") not in (None, len(users)):
            sys.exit("chat_setup: group has %r members, wanted %d" % (conv.get("member_count"),
                                                                       len(users)))
        lines.append("S %d %s" % (conv["id"], stok))
        lines.extend("R %d %s" % (conv["id"], tok) for _, tok in users[1:])
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("setup: %d users + tokens in %.1f s (store), %s in %.1f s (REST)"
          % (n, t1 - t0, "%d direct conversations" % a.pairs if a.mode == "pairs"
             else "1 group of %d" % n, time.monotonic() - t1))


if __name__ == "__main__":
    main()
