#!/usr/bin/python3
"""Does the retention sweep stall chat? (issue 6: "bounded batches that never stall the server")

Fills a data dir with N expired messages (written straight into SQLite, ten days old,
queued for the search index like any message), starts pipitd, lets it index them, then
sends one message every 5 ms over a WebSocket and measures each ack's latency: first
for a baseline, then while the sweep deletes all N (retention set to one day). Prints
both latency distributions and the sweep's rate.

Usage: bench/retention_sweep.py BUILD_DIR [N]
"""

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

DAY = 86400000
PACE_S = 0.005
BASELINE_S = 10
WORDS = ("meeting report budget shipment invoice review 会议 报告 预算 发货 审核 北京 上海 "
         "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima").split()


def start(build, data, env=None):
    p = subprocess.Popen([os.path.join(build, "pipitd"), "--listen", "127.0.0.1:0",
                          "--data-dir", data, "--workers", "1", "--log-level", "info",
                          "--retention-sweep-interval", "1s", "--web-root", data,
                          # a benchmark's users go far past a person's pace
                          "--user-request-rate", "0", "--user-message-rate", "0"],
                         stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stderr.readline()
        if "listening on" in line:
            port = int(line.split("127.0.0.1:")[1].split()[0])
            return p, port
    raise SystemExit("pipitd did not start")


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(30)


def call(port, method, path, token=None, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def fill(data, conv, sender, n):
    """n messages after the conversation's last, nine days old, their search entries queued."""
    c = sqlite3.connect(os.path.join(data, "pipit.db"))
    first = c.execute("SELECT last_seq FROM conversations WHERE id = ?", (conv,)).fetchone()[0] + 1
    t0 = int(time.time() * 1000) - 9 * DAY
    rows = ((conv, first + i, "message", sender, t0 + i,
             json.dumps({"type": "text", "text": " ".join(WORDS[(i * k) % len(WORDS)]
                                                          for k in (1, 3, 7, 11))}))
            for i in range(n))
    c.executemany("INSERT INTO events (conv_id, seq, kind, sender, ts, body) "
                  "VALUES (?, ?, ?, ?, ?, ?)", rows)
    c.execute("UPDATE conversations SET last_seq = ?, last_ts = ? WHERE id = ?",
              (first + n - 1, t0 + n, conv))
    c.commit()
    c.close()


def count(data, sql):
    c = sqlite3.connect(os.path.join(data, "pipit.db"), timeout=30)
    try:
        return c.execute(sql).fetchone()[0]
    finally:
        c.close()


async def paced(port, token, conv, until):
    """Sends every PACE_S until until() is true; returns the ack latencies (ms)."""
    lat = []
    async with websockets.connect("ws://127.0.0.1:%d/v1/ws" % port, max_size=None) as ws:
        await ws.send(json.dumps({"id": "a", "op": "auth", "token": token}))
        while "re" not in json.loads(await ws.recv()):
            pass
        i = 0
        nxt = time.perf_counter()
        while not until():
            i += 1
            sent = time.perf_counter()
            await ws.send(json.dumps({"id": str(i), "op": "send", "conv": conv,
                                      "cmid": "b%d-%d" % (os.getpid(), i),
                                      "body": {"type": "text", "text": "paced %d" % i}}))
            while True:
                m = json.loads(await ws.recv())
                if m.get("re") == str(i):
                    break
            lat.append((time.perf_counter() - sent) * 1000)
            nxt += PACE_S
            await asyncio.sleep(max(0, nxt - time.perf_counter()))
    return lat


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def show(name, lat):
    print("%-14s %6d acks  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  max %6.2f ms"
          % (name, len(lat), pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999), max(lat)))


def main():
    build = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    data = tempfile.mkdtemp(prefix="pipit-retention-bench-")
    try:
        # The conversation is made ten days ago (times only grow within one).
        p, port = start(build, data, dict(os.environ, PIPIT_CLOCK_OFFSET_MS=str(-10 * DAY)))
        pw = open(os.path.join(data, "initial-admin-password")).read().strip()
        token = call(port, "POST", "/v1/auth/login", body={"username": "admin",
                                                           "password": pw})["token"]
        peer = call(port, "POST", "/v1/admin/users", token,
                    {"username": "peer", "password": "correct-horse-battery"})["id"]
        conv = call(port, "POST", "/v1/conversations", token,
                    {"type": "group", "title": "old", "members": [peer]})["id"]
        live = call(port, "POST", "/v1/conversations", token,
                    {"type": "direct", "peer": peer})["id"]
        stop(p)
        t = time.time()
        fill(data, conv, peer, n)
        print("filled %d expired messages in %.1f s" % (n, time.time() - t))
        p, port = start(build, data)
        t = time.time()
        while count(data, "SELECT count(*) FROM search_queue") > 0:
            time.sleep(0.5)
        print("indexed them in %.1f s" % (time.time() - t))
        end = time.time() + BASELINE_S
        base = asyncio.run(paced(port, token, live, lambda: time.time() > end))
        call(port, "PATCH", "/v1/admin/app", token, {"message_retention_days": 1})
        t = time.time()
        left = [n]

        def swept():
            if int((time.time() - t) * 4) % 4 == 0:  # look about every second
                left[0] = count(data, "SELECT count(*) FROM events WHERE conv_id = %d" % conv)
            return left[0] == 0 or time.time() - t > 600
        during = asyncio.run(paced(port, token, live, swept))
        took = time.time() - t
        print("the sweep deleted %d messages in %.1f s (%.0f/s), with the search index"
              % (n, took, n / took))
        show("baseline", base)
        show("during sweep", during)
        stop(p)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
