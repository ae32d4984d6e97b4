"""1,000 concurrent WebSocket connections, each authenticating and pinging."""

import asyncio
import json
import time

import pytest
import websockets

from conftest import T, metric_sum

CONNECTIONS = 1000
TASKS = 10
TOKENS = 5


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


def test_thousand_websockets_authenticate_and_ping(srv):
    tokens = [srv.register().token for _ in range(TOKENS)]
    per_task = CONNECTIONS // TASKS
    budget = min(120.0, T(60))
    t_start = time.monotonic()

    async def open_one(k, i):
        ws = await websockets.connect(srv.ws_url, open_timeout=T(20), ping_interval=None,
                                      close_timeout=T(5), compression=None, max_queue=4)
        await ws.send(json.dumps({"id": i, "op": "auth", "token": tokens[(k + i) % TOKENS]}))
        ans = json.loads(await asyncio.wait_for(ws.recv(), T(20)))
        assert ans.get("re") == i and ans["ok"]["protocol"] == 1, ans
        await ws.send(json.dumps({"id": "p%d" % i, "op": "ping"}))
        ans = json.loads(await asyncio.wait_for(ws.recv(), T(20)))
        assert ans == {"re": "p%d" % i, "ok": {}}, ans
        return ws

    async def worker(k, conns):
        # Each task opens its share one after another and keeps every connection open.
        for i in range(per_task):
            conns.append(await open_one(k, k * per_task + i))

    async def ping_all(conns, tag):
        async def one(n, ws):
            await ws.send(json.dumps({"id": "%s%d" % (tag, n), "op": "ping"}))
            ans = json.loads(await asyncio.wait_for(ws.recv(), T(30)))
            assert ans == {"re": "%s%d" % (tag, n), "ok": {}}, ans
        await asyncio.gather(*(one(n, ws) for n, ws in enumerate(conns)))

    async def run():
        conns = []
        try:
            await asyncio.wait_for(
                asyncio.gather(*(worker(k, conns) for k in range(TASKS))), budget)
            assert len(conns) == CONNECTIONS
            # All 1,000 are open at once: the gauge sees them, and every one still answers.
            loop = asyncio.get_running_loop()
            m = await loop.run_in_executor(None, srv.metrics)
            assert metric_sum(m, "pipit_connections") >= CONNECTIONS, m
            remaining = budget - (time.monotonic() - t_start)
            assert remaining > 0, "out of time after opening connections"
            await asyncio.wait_for(ping_all(conns, "again"), remaining)
            health = await loop.run_in_executor(None, lambda: srv.get("/healthz").status_code)
            assert health == 200
        finally:
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True), T(30))
        codes = [ws.close_code for ws in conns]
        assert codes.count(1000) == CONNECTIONS, {c: codes.count(c) for c in set(codes)}

    asyncio.run(run())
    assert time.monotonic() - t_start <= 120.0

    # The server lets go of them.
    deadline = time.monotonic() + T(10)
    while time.monotonic() < deadline:
        if metric_sum(srv.metrics(), "pipit_connections") < 10:
            break
        time.sleep(0.1)
    assert metric_sum(srv.metrics(), "pipit_connections") < 10
