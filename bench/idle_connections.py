#!/usr/bin/env python3
"""Memory per idle, authenticated WebSocket connection.

Starts build/pipitd on a free loopback port, registers one user, then opens
N connections from P client processes (the open-file cap is per process), each
authenticating and pinging once, and holds them while it reads the server's
RSS from /proc. Prints RSS before/after and the delta per connection, plus
the connect+auth rate. Bounded: N connections, one ping each, 120 s at most.

    /usr/bin/python3 bench/idle_connections.py [N] [P]
"""
import asyncio
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPITD = os.environ.get("PIPITD", os.path.join(ROOT, "build", "pipitd"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def hold(port, token, n, ready, release):
    conns = []
    for i in range(n):
        ws = await websockets.connect("ws://127.0.0.1:%d/v1/ws" % port, ping_interval=None,
                                      max_queue=4, compression=None)
        await ws.send(json.dumps({"id": 1, "op": "auth", "token": token}))
        r = json.loads(await ws.recv())
        assert "ok" in r, r
        await ws.send(json.dumps({"id": 2, "op": "ping"}))
        await ws.recv()
        conns.append(ws)
    ready.set()
    await asyncio.get_running_loop().run_in_executor(None, release.wait, 120)
    for ws in conns:
        await ws.close()


def worker(port, token, n, ready, release):
    asyncio.run(hold(port, token, n, ready, release))


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    tmp = tempfile.mkdtemp(prefix="pipit-bench-")
    # The log goes to a file: a pipe nobody drains would stall the server.
    log = open(os.path.join(tmp, "pipitd.log"), "w+")
    srv = subprocess.Popen([PIPITD, "--listen", "127.0.0.1:0", "--data-dir", tmp,
                            "--workers", "1", "--registration", "open",
                            "--sqlite-synchronous", "normal"],
                           stderr=log, text=True)
    port = None
    deadline = time.time() + 15
    while port is None and time.time() < deadline:
        time.sleep(0.05)
        with open(log.name) as f:
            m = re.search(r"pipitd listening on 127\.0\.0\.1:(\d+)", f.read())
        if m:
            port = int(m.group(1))
    assert port, "server did not start"
    try:
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/auth/register" % port,
            data=json.dumps({"username": "bench", "password": "benchmark-password"}).encode(),
            headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(req))["token"]
        time.sleep(0.5)
        before = rss_kib(srv.pid)
        ready = [mp.Event() for _ in range(procs)]
        release = mp.Event()
        t0 = time.time()
        workers = [mp.Process(target=worker, args=(port, token, total // procs, ready[i], release))
                   for i in range(procs)]
        for w in workers:
            w.start()
        for e in ready:
            if not e.wait(120):
                raise SystemExit("clients did not connect in time")
        elapsed = time.time() - t0
        time.sleep(1)
        after = rss_kib(srv.pid)
        n = (total // procs) * procs
        print("connections:           %d (server: 1 worker thread)" % n)
        print("connect+auth+ping:     %.1f s (%.0f/s, client-bound: Python)" % (elapsed, n / elapsed))
        print("server RSS before:     %d KiB" % before)
        print("server RSS with conns: %d KiB" % after)
        print("RSS per connection:    %.0f bytes" % ((after - before) * 1024.0 / n))
        release.set()
        for w in workers:
            w.join(30)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
