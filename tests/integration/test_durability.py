"""Durability: no acknowledged message is ever lost, and a cmid is never stored twice.

Several clients send messages under load into a direct and a group conversation while
pipitd is killed with SIGKILL at random moments (10-12 times) and restarted on the same
data dir. A client-side ledger records, per cmid, the (conv, seq, id) the server acked,
or that the send is "in doubt" (sent, no answer before the kill). After every restart:

- history (REST, paged) of each conversation holds seqs 1..last_seq with no gap and no
  repeat, and last_seq matches the conversation's `last_seq`;
- every acked cmid is there, at its acked seq and id, from its sender, with the exact
  body; every message in history is one the ledger sent (no phantoms), each cmid once;
- every in-doubt cmid is retried (same cmid, same body, same user): if history shows it
  was committed before the kill, the retry must answer that seq with `duplicate: true`,
  otherwise a new seq without `duplicate`; some retries are sent twice at once
  (pipelined on one connection) and both answers must name the same message;
- a sample of acked cmids is re-sent and must answer the original seq and id with
  `duplicate: true`.

Most senders use WebSocket sessions (several requests in flight each); one uses REST.
The run ends with a load-free round that settles every in-doubt cmid, one more SIGKILL,
and a final check. Runs with the default `sqlite_synchronous` and with `normal` (which
the docs say loses nothing on a process crash).

The seed is random per run and printed; set PIPIT_DURABILITY_SEED to replay one (the
kill moments then repeat; what was in flight at each kill of course does not exactly).
On failure the ledger is written next to the server's data dir.
"""

import asyncio
import collections
import hashlib
import itertools
import json
import os
import random
import sqlite3
import signal
import time

import pytest
import requests
import websockets

from conftest import T

WINDOW = 4            # requests in flight per WebSocket session
REST_WINDOW = 2       # requests in flight for the REST sender
REACK_SAMPLE = 6      # acked cmids re-sent per sender per round
DOUBLE_RETRY_P = 0.3  # share of in-doubt retries sent twice at once


class ConnLost(Exception):
    """The connection to pipitd went away (expected only after we killed it)."""


class Problem(Exception):
    pass


def make_body(cmid):
    """The body is a function of the cmid, so history can be checked without the ledger."""
    h = hashlib.sha256(cmid.encode()).hexdigest()
    n = int(h[:2], 16)  # 0..255 extra characters
    return {"type": "text", "text": "%s|%s|\u00e9\u2713\U0001f426" % (cmid, (h * 4)[:n])}


class Job:
    def __init__(self, sender, cmid):
        self.sender = sender
        self.cmid = cmid
        self.conv = sender.conv
        self.body = make_body(cmid)
        self.attempts = 0
        self.committed = None  # (seq, id) found in history for an in-doubt cmid, else None

    def __repr__(self):
        return "<%s conv=%s attempts=%d>" % (self.cmid, self.conv, self.attempts)


class Sender:
    def __init__(self, name, user, conv, transport):
        self.name = name
        self.user = user
        self.conv = conv
        self.transport = transport  # "ws" or "rest"
        self.counter = itertools.count(1)

    def new_job(self):
        return Job(self, "%s.%d" % (self.name, next(self.counter)))


class Ledger:
    def __init__(self, seed):
        self.seed = seed
        self.jobs = {}       # cmid -> Job (every cmid ever sent)
        self.acked = {}      # cmid -> (conv, seq, id)
        self.in_doubt = {}   # cmid -> Job
        self.problems = []
        self.stats = collections.Counter()
        self.log = []

    def note(self, msg):
        self.log.append(msg)
        print(msg)

    def problem(self, msg):
        self.problems.append("[seed %d] %s" % (self.seed, msg))

    def sent(self, job):
        self.jobs[job.cmid] = job
        if job.cmid not in self.acked:
            self.in_doubt[job.cmid] = job
        job.attempts += 1

    def ack(self, job, seq, id_):
        prev = self.acked.get(job.cmid)
        if prev is not None and (prev[1], prev[2]) != (seq, id_):
            self.problem("cmid %s acked twice with different messages: %r then seq=%r id=%r"
                         % (job.cmid, prev, seq, id_))
        self.acked[job.cmid] = (job.conv, seq, id_)
        self.in_doubt.pop(job.cmid, None)

    def dump(self, path):
        data = {
            "seed": self.seed,
            "acked": {c: list(v) for c, v in self.acked.items()},
            "in_doubt": {c: {"conv": j.conv, "attempts": j.attempts}
                         for c, j in self.in_doubt.items()},
            "problems": self.problems,
            "log": self.log,
        }
        path.write_text(json.dumps(data, indent=1, sort_keys=True))


class RoundState:
    def __init__(self):
        self.killed = False


# -- transports ---------------------------------------------------------------------------

class WsSession:
    def __init__(self, srv, token, ledger, state):
        self.url = srv.ws_url
        self.token = token
        self.ledger = ledger
        self.state = state
        self.ws = None
        self.waiters = {}
        self.ids = itertools.count(1)
        self.closed = False
        self.reader = None

    async def open(self):
        try:
            self.ws = await asyncio.wait_for(
                websockets.connect(self.url, ping_interval=None, max_size=None, close_timeout=1,
                                   open_timeout=T(10)), T(10))
        except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
            raise ConnLost("connect: %r" % e)
        self.reader = asyncio.create_task(self._read())
        ans = await self.request("auth", token=self.token)
        if "ok" not in ans:
            raise Problem("auth after restart failed: %r" % ans)

    async def _read(self):
        try:
            async for raw in self.ws:
                m = json.loads(raw)
                if "re" in m:
                    fut = self.waiters.pop(m["re"], None)
                    if fut is None:
                        self.ledger.problem("answer to nothing we asked: %r" % m)
                    elif not fut.done():
                        fut.set_result(m)
                elif "ev" in m:
                    self.ledger.stats["live_events"] += 1
                else:
                    self.ledger.problem("unexpected message: %r" % m)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True
            for fut in self.waiters.values():
                if not fut.done():
                    fut.set_exception(ConnLost("connection closed"))
            self.waiters.clear()

    async def request(self, op, **fields):
        if self.closed:
            raise ConnLost("connection closed")
        rid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.waiters[rid] = fut
        msg = {"id": rid, "op": op}
        msg.update(fields)
        try:
            await self.ws.send(json.dumps(msg))
        except websockets.ConnectionClosed:
            self.waiters.pop(rid, None)
            raise ConnLost("send on closed connection")
        try:
            return await asyncio.wait_for(fut, T(10))
        except asyncio.TimeoutError:
            self.waiters.pop(rid, None)
            if self.state.killed:
                raise ConnLost("no answer, server killed")
            raise Problem("no answer to %s within %.0fs" % (op, T(10)))

    async def send(self, job):
        return await self.request("send", conv=job.conv, cmid=job.cmid, body=job.body)

    async def close(self):
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 2)
            except Exception:
                pass
        if self.reader is not None:
            self.reader.cancel()
            try:
                await self.reader
            except BaseException:
                pass


class RestSession:
    """POST /v1/conversations/{id}/messages; answers are turned into op-style dicts."""

    def __init__(self, srv, token, ledger, state):
        self.base = srv.base_url
        self.token = token
        self.state = state
        self.pool = []

    async def open(self):
        pass

    def _http(self):
        s = requests.Session()
        s.trust_env = False
        return s

    async def send(self, job):
        http = self.pool.pop() if self.pool else self._http()

        def post():
            return http.post("%s/v1/conversations/%d/messages" % (self.base, job.conv),
                             json={"cmid": job.cmid, "body": job.body},
                             headers={"Authorization": "Bearer " + self.token},
                             timeout=T(10), allow_redirects=False)
        try:
            r = await asyncio.to_thread(post)
        except requests.Timeout:
            if self.state.killed:
                raise ConnLost("timeout, server killed")
            raise Problem("REST send %s: no answer within %.0fs" % (job.cmid, T(10)))
        except requests.ConnectionError as e:
            raise ConnLost("REST: %r" % e)
        self.pool.append(http)
        try:
            body = r.json()
        except ValueError:
            raise Problem("REST send %s: %d, not JSON: %r"
                          % (job.cmid, r.status_code, r.text[:200]))
        if r.status_code in (200, 201) and isinstance(body, dict) and "seq" in body:
            dup = body.get("duplicate") is True
            if r.status_code != (200 if dup else 201):
                raise Problem("REST send %s: status %d with duplicate=%r: %r"
                              % (job.cmid, r.status_code, body.get("duplicate"), body))
            return {"ok": body}
        return {"error": body, "status": r.status_code}

    async def close(self):
        for s in self.pool:
            s.close()


# -- one sender's round -------------------------------------------------------------------

def check_ok(ans, job, what):
    """(seq, id, duplicate) of an ok answer to a send; anything else is a problem."""
    ok = ans.get("ok")
    if not (isinstance(ok, dict) and isinstance(ok.get("seq"), int)
            and isinstance(ok.get("id"), int)):
        raise Problem("%s %s (conv %d): bad answer %r" % (what, job.cmid, job.conv, ans))
    return ok["seq"], ok["id"], ok.get("duplicate") is True


async def sender_round(srv, sender, ledger, state, rnd, new_sends):
    """Retry this sender's in-doubt cmids, re-send a few acked ones, then (if new_sends)
    send new messages until the connection dies."""
    Session = WsSession if sender.transport == "ws" else RestSession
    sess = Session(srv, sender.user.token, ledger, state)
    try:
        await sess.open()
    except ConnLost:
        if state.killed:
            return
        raise
    retries = sorted((j for j in ledger.in_doubt.values() if j.sender is sender),
                     key=lambda j: j.attempts)
    acked_mine = sorted(c for c, v in ledger.acked.items()
                        if ledger.jobs[c].sender is sender)
    reacks = rnd.sample(acked_mine, min(REACK_SAMPLE, len(acked_mine)))
    queue = collections.deque([("retry", j) for j in retries] +
                              [("reack", ledger.jobs[c]) for c in reacks])
    doubles = {j.cmid for j in retries if rnd.random() < DOUBLE_RETRY_P}

    async def attempt_new(job):
        ledger.sent(job)
        ans = await sess.send(job)
        seq, id_, dup = check_ok(ans, job, "send")
        if dup:
            ledger.problem("first send of %s answered duplicate:true (seq %d)" % (job.cmid, seq))
        ledger.ack(job, seq, id_)
        ledger.stats["acked_new"] += 1

    async def attempt_retry(job):
        expected = job.committed  # what history held after the last restart
        ledger.sent(job)
        n = 2 if job.cmid in doubles and sender.transport == "ws" else 1
        answers = await asyncio.gather(*[sess.send(job) for _ in range(n)])
        got = [check_ok(a, job, "retry") for a in answers]
        if len({(s, i) for s, i, _ in got}) != 1:
            ledger.problem("concurrent retries of %s named different messages: %r"
                           % (job.cmid, answers))
        fresh = [g for g in got if not g[2]]
        if expected is not None:
            if fresh or any((s, i) != expected for s, i, _ in got):
                ledger.problem("retry of %s (in history at seq/id %r before the retry) answered %r"
                               % (job.cmid, expected, answers))
        elif len(fresh) != 1:
            ledger.problem("retry of %s (absent from history after restart) answered %r; "
                           "expected exactly one new message" % (job.cmid, answers))
        seq, id_, _ = got[0]
        ledger.ack(job, seq, id_)
        ledger.stats["retried_dup" if expected is not None else "retried_new"] += 1
        ledger.stats["double_retries"] += n == 2

    async def attempt_reack(job):
        want = ledger.acked[job.cmid]
        ans = await sess.send(job)
        seq, id_, dup = check_ok(ans, job, "re-send")
        if not dup or (seq, id_) != (want[1], want[2]):
            ledger.problem("re-send of acked %s (conv %d seq %d id %d) answered %r"
                           % (job.cmid, want[0], want[1], want[2], ans))
        ledger.stats["reacked"] += 1

    async def worker():
        while not state.killed:
            if queue:
                kind, job = queue.popleft()
            elif new_sends:
                kind, job = "new", sender.new_job()
            else:
                return
            try:
                if kind == "new":
                    await attempt_new(job)
                elif kind == "retry":
                    await attempt_retry(job)
                else:
                    await attempt_reack(job)
            except ConnLost as e:
                if state.killed:
                    return
                raise Problem("%s lost its connection while the server was up: %s"
                              % (sender.name, e))

    try:
        window = WINDOW if sender.transport == "ws" else REST_WINDOW
        await asyncio.gather(*[worker() for _ in range(window)])
    finally:
        await sess.close()


async def run_round(srv, senders, ledger, rnd, kill_after, new_sends):
    state = RoundState()
    tasks = [asyncio.create_task(sender_round(srv, s, ledger, state, rnd, new_sends))
             for s in senders]
    if kill_after is None:
        done, pending = await asyncio.wait(tasks, timeout=T(30))
        for t in pending:
            t.cancel()
        if pending:
            ledger.problem("load-free round did not finish within %.0fs" % T(30))
    else:
        done, _ = await asyncio.wait(tasks, timeout=kill_after, return_when=asyncio.FIRST_EXCEPTION)
        state.killed = True
        if not srv.alive():
            ledger.problem("pipitd died on its own (rc=%r)" % srv.proc.poll())
        else:
            srv.send_signal(signal.SIGKILL)
        done, pending = await asyncio.wait(tasks, timeout=T(15))
        for t in pending:
            t.cancel()
        if pending:
            ledger.problem("%d senders still busy %.0fs after the kill" % (len(pending), T(15)))
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            e = t.exception()
            ledger.problem("sender failed: %s: %s" % (type(e).__name__, e))
    return state


# -- history check ------------------------------------------------------------------------

def fetch_history(srv, conv, token):
    events = []
    after = 0
    for _ in range(100000):
        r = srv.get("/v1/conversations/%d/messages?after=%d&limit=200" % (conv, after), token=token)
        assert r.status_code == 200, (conv, after, r.status_code, r.text)
        page = r.json()
        evs = page["events"]
        events.extend(evs)
        if not page["has_more"]:
            break
        assert evs, ("has_more with an empty page", conv, after)
        after = evs[-1]["seq"]
    return events


def verify(srv, convs, ledger, token, stage):
    """Check history against the ledger; note what each in-doubt cmid looks like."""
    t0 = time.monotonic()
    before = len(ledger.problems)
    counts = {}
    for conv in convs:
        events = fetch_history(srv, conv, token)
        r = srv.get("/v1/conversations/%d" % conv, token=token)
        assert r.status_code == 200, (r.status_code, r.text)
        last_seq = r.json()["last_seq"]
        seqs = [e.get("seq") for e in events]
        if seqs != list(range(1, len(seqs) + 1)):
            have = set(s for s in seqs if isinstance(s, int))
            missing = sorted(set(range(1, max(have | {0}) + 1)) - have)
            repeated = sorted(s for s, n in collections.Counter(seqs).items() if n > 1)
            unordered = [(a, b) for a, b in zip(seqs, seqs[1:])
                         if not (isinstance(a, int) and isinstance(b, int) and a < b)]
            ledger.problem("%s: conv %d seqs not 1..%d: missing %s, repeated %s, out of order %s"
                           % (stage, conv, len(seqs), missing[:50], repeated[:50], unordered[:20]))
        if seqs and last_seq != seqs[-1]:
            ledger.problem("%s: conv %d last_seq %r but history ends at %r"
                           % (stage, conv, last_seq, seqs[-1]))
        by_cmid = {}
        for e in events:
            if e.get("conv") != conv:
                ledger.problem("%s: event in conv %d history says conv %r: %r"
                               % (stage, conv, e.get("conv"), e))
            if e.get("ev") != "message":
                continue
            cmid = e.get("cmid")
            job = ledger.jobs.get(cmid)
            if cmid in by_cmid:
                ledger.problem("%s: conv %d: cmid %r stored twice, at seq %r and seq %r"
                               % (stage, conv, cmid, by_cmid[cmid]["seq"], e["seq"]))
                continue
            by_cmid[cmid] = e
            if job is None:
                ledger.problem("%s: conv %d seq %r: message the ledger never sent: %r"
                               % (stage, conv, e.get("seq"), e))
                continue
            if job.conv != conv or e.get("from") != job.sender.user.id or e.get("body") != job.body:
                ledger.problem("%s: conv %d seq %r cmid %s: wrong content: from=%r body=%r; "
                               "sent conv %d from %d body %r"
                               % (stage, conv, e.get("seq"), cmid, e.get("from"), e.get("body"),
                                  job.conv, job.sender.user.id, job.body))
        acked_here = 0
        for cmid, (c, seq, id_) in ledger.acked.items():
            if c != conv:
                continue
            acked_here += 1
            e = by_cmid.get(cmid)
            if e is None:
                at = next((x for x in events if x.get("seq") == seq), None)
                ledger.problem("%s: LOST acked cmid %s (conv %d seq %d id %d); "
                               "history at seq %d: %r"
                               % (stage, cmid, conv, seq, id_, seq, at))
            elif (e["seq"], e.get("id")) != (seq, id_):
                ledger.problem("%s: acked cmid %s was conv %d seq %d id %d, "
                               "history has seq %r id %r"
                               % (stage, cmid, conv, seq, id_, e["seq"], e.get("id")))
        doubt_here = 0
        doubt_committed = 0
        for cmid, job in ledger.in_doubt.items():
            if job.conv != conv:
                continue
            doubt_here += 1
            e = by_cmid.get(cmid)
            job.committed = (e["seq"], e.get("id")) if e is not None else None
            doubt_committed += e is not None
        unacked_in_history = sum(1 for c in by_cmid if c not in ledger.acked)
        if unacked_in_history != doubt_committed:
            ledger.problem("%s: conv %d has %d messages neither acked nor in doubt"
                           % (stage, conv, unacked_in_history - doubt_committed))
        counts[conv] = (len(events), acked_here, doubt_here, doubt_committed)
    ledger.note("%s: history checked in %.2fs: %s" % (
        stage, time.monotonic() - t0,
        ", ".join("conv %d: %d events, %d acked, %d in doubt (%d committed)" % ((c,) + v)
                  for c, v in counts.items())))
    return len(ledger.problems) == before


# -- the test -----------------------------------------------------------------------------

@pytest.mark.parametrize("synchronous", [None, "normal"], ids=["sync-default", "sync-normal"])
def test_acked_messages_survive_sigkill(server_factory, synchronous):
    seed = int(os.environ.get("PIPIT_DURABILITY_SEED") or random.SystemRandom().randrange(1 << 32))
    schedule_rnd = random.Random(seed)
    kills = schedule_rnd.randint(10, 12)
    schedule = [schedule_rnd.uniform(0.2, 1.0) for _ in range(kills)]
    rnd = random.Random(seed + 1)  # retry choices; its use depends on timing
    ledger = Ledger(seed)
    ledger.note("durability seed %d (replay: PIPIT_DURABILITY_SEED=%d), sqlite_synchronous=%s, "
                "kills after %s s of load" % (seed, seed, synchronous or "default",
                                              ", ".join("%.2f" % x for x in schedule)))
    args = ("--sqlite-synchronous", synchronous) if synchronous else ()
    srv = server_factory(*args)
    t_start = time.monotonic()

    alice, bob, carol = srv.create_user(), srv.create_user(), srv.create_user()
    r = srv.post("/v1/conversations", token=alice.token, json={"type": "direct", "peer": bob.id})
    assert r.status_code == 201, (r.status_code, r.text)
    direct = r.json()["id"]
    r = srv.post("/v1/conversations", token=alice.token,
                 json={"type": "group", "title": "durability", "members": [bob.id, carol.id]})
    assert r.status_code == 201, (r.status_code, r.text)
    group = r.json()["id"]
    convs = [direct, group]

    senders = [
        Sender("a-dm", alice, direct, "ws"),
        Sender("b-dm", bob, direct, "ws"),
        Sender("a-g1", alice, group, "ws"),
        Sender("a-g2", alice, group, "ws"),  # a second device of alice, same conversation
        Sender("b-g", bob, group, "ws"),
        Sender("c-g", carol, group, "ws"),
        Sender("c-g-rest", carol, group, "rest"),
    ]

    def fail_if_problems(where):
        if ledger.problems:
            path = srv.tmp / "durability-ledger.json"
            ledger.dump(path)
            pytest.fail("%s: %d problem(s) (ledger in %s):\n%s" % (
                where, len(ledger.problems), path, "\n".join(ledger.problems[:60])), pytrace=False)

    for k, kill_after in enumerate(schedule, 1):
        t0 = time.monotonic()
        asyncio.run(run_round(srv, senders, ledger, rnd, kill_after, new_sends=True))
        srv.kill()
        fail_if_problems("round %d" % k)
        t1 = time.monotonic()
        srv.start()
        ledger.note("kill %d/%d after %.2fs of load (round %.2fs); restarted in %.2fs; "
                    "%d acked, %d in doubt so far"
                    % (k, kills, kill_after, t1 - t0, time.monotonic() - t1,
                       len(ledger.acked), len(ledger.in_doubt)))
        verify(srv, convs, ledger, alice.token, "after kill %d" % k)
        fail_if_problems("after kill %d" % k)

    # Settle: retry everything still in doubt with the server left alone.
    asyncio.run(run_round(srv, senders, ledger, rnd, None, new_sends=False))
    fail_if_problems("settling round")
    assert not ledger.in_doubt, "[seed %d] still in doubt after the settling round: %r" % (
        seed, sorted(ledger.in_doubt))
    verify(srv, convs, ledger, alice.token, "after settling")
    fail_if_problems("after settling")

    # The retries' acks must be durable too.
    srv.send_signal(signal.SIGKILL)
    srv.kill()
    srv.start()
    verify(srv, convs, ledger, alice.token, "final")
    fail_if_problems("final")
    # And the file itself is sound after a dozen kills mid-write.
    db = sqlite3.connect("file:%s?mode=ro" % (srv.data_dir / "pipit.db"), uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
    for conv in convs:
        mine = sum(1 for c, v in ledger.acked.items() if v[0] == conv)
        assert mine > 0, "[seed %d] no message was acked in conv %d" % (seed, conv)
    ledger.note("done in %.1fs: %d kills, %s" % (time.monotonic() - t_start, kills,
                                                 dict(sorted(ledger.stats.items()))))
