/**
 * Losing the server and coming back, against a real pipitd: reconnect after a
 * restart with the outbox re-sent and missed messages synced (once, in order);
 * sync paging over a backlog larger than one page; saved seqs; request timeouts
 * while the server is stopped (SIGSTOP), with the outbox keeping a timed-out send;
 * and a logout that ends the session for good.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client, TimelineOrder } from "../dist/index.js";
import { PASSWORD, newClient, record, sleep, startServer, waitFor } from "./server.js";

let server;
const clients = [];

async function client(options) {
  const c = await newClient(server, options);
  clients.push(c);
  return c;
}

/** A REST-only client with another client's token, for sending behind a back. */
function restTwin(of) {
  return new Client({ url: server.url, token: of.token, requestTimeoutMs: 3000 });
}

function text(n) {
  return { type: "text", text: n };
}

/** Asserts seqs rise by exactly one each: nothing missing, nothing twice. */
function assertContiguous(events, from) {
  assert.deepEqual(
    events.map((e) => e.seq),
    Array.from({ length: events.length }, (_, i) => from + i),
  );
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  await server.cleanup();
});

test("after a restart: outbox re-sent, missed messages once and in order", async () => {
  // Alice comes back slowly, so Bob's messages are surely sent while she is away.
  const alice = await client({ reconnectMinMs: 800, reconnectMaxMs: 1500 });
  const bob = await client();
  await alice.connect();
  await bob.connect();
  const conv = await alice.createDirect(bob.username);
  const atAlice = record(alice, "message");
  const atBob = record(bob, "message");
  const disconnects = record(alice, "disconnected");
  const connects = record(alice, "connected");
  const syncs = record(alice, "synced");
  await alice.send(conv.id, text("before"));
  await waitFor(() => atBob.length === 1, { what: "the first message" });

  await server.stop();
  await waitFor(() => disconnects.length >= 1, { what: "alice's disconnected event" });
  assert.equal(disconnects[0].willReconnect, true);
  assert.equal(alice.state, "connecting");

  // Written while the server is down: they wait in the outbox.
  const queued = [1, 2, 3].map((i) => alice.send(conv.id, text(`queued ${i}`), { timeoutMs: 15_000 }));
  assert.equal(alice.pendingSends().length, 3);

  await server.start();
  const bobRest = restTwin(bob);
  for (let i = 1; i <= 10; i++) {
    await bobRest.postMessage(conv.id, { cmid: `bob-rest-${i}-${Math.random()}`, body: text(`missed ${i}`) });
  }
  const results = await Promise.all(queued);
  assert.equal(alice.pendingSends().length, 0);

  await waitFor(() => atAlice.length === 14 && atBob.length === 14, { timeoutMs: 10_000, what: "14 messages each" });
  await sleep(200); // a duplicate would arrive now
  for (const seen of [atAlice, atBob]) {
    assert.equal(seen.length, 14);
    assertContiguous(seen, 1);
  }
  const texts = atAlice.map((m) => m.body.text);
  for (let i = 1; i <= 10; i++) assert.ok(texts.includes(`missed ${i}`));
  for (const r of results) assert.equal(texts[r.seq - 1].startsWith("queued"), true);
  // The queued three keep their order among themselves.
  assert.deepEqual(texts.filter((t) => t.startsWith("queued")), ["queued 1", "queued 2", "queued 3"]);
  assert.ok(connects.some((c) => c.reconnect === true));
  assert.ok(syncs.reduce((n, s) => n + s.events, 0) >= 1, "some messages came through sync");
});

test("sync pages through a backlog larger than one page", async () => {
  const alice = await client({ syncLimit: 5 });
  const bob = await client();
  const conv = await alice.createDirect(bob.username);
  await alice.connect();
  await alice.send(conv.id, text("start"));
  alice.close();

  const bobRest = restTwin(bob);
  for (let i = 1; i <= 23; i++) {
    await bobRest.postMessage(conv.id, { cmid: `page-${i}-${Math.random()}`, body: text(`offline ${i}`) });
  }
  const atAlice = record(alice, "message");
  const syncs = record(alice, "synced");
  await alice.connect();
  assert.equal(atAlice.length, 23);
  assertContiguous(atAlice, 2);
  // 23 events, 5 a page: 5 rounds.
  assert.equal(syncs.length, 1);
  assert.equal(syncs[0].events, 23);
  assert.equal(syncs[0].rounds, 5);
  assert.equal(alice.getSyncedSeqs()[conv.id], 24);

  // A new client given the saved seqs gets only what is new.
  const seqs = alice.getSyncedSeqs();
  alice.close();
  await bobRest.postMessage(conv.id, { cmid: `after-${Math.random()}`, body: text("one more") });
  const again = new Client({ url: server.url, token: alice.token, seqs, requestTimeoutMs: 3000 });
  clients.push(again);
  const fresh = record(again, "message");
  await again.connect();
  assert.deepEqual(fresh.map((m) => [m.seq, m.body.text]), [[25, "one more"]]);
});

test("live delivery and sync overlap on connect: still once each, in order", async () => {
  const alice = await client();
  const bob = await client();
  const conv = await alice.createDirect(bob.username);
  const bobRest = restTwin(bob);
  const atAlice = record(alice, "message");
  // Bob keeps sending while Alice connects, so events reach her both live and
  // in her first sync.
  let stop = false;
  let sent = 0;
  const sender = (async () => {
    const deadline = Date.now() + 5000;
    while (!stop && Date.now() < deadline && sent < 200) {
      await bobRest.postMessage(conv.id, { cmid: `overlap-${sent}-${Math.random()}`, body: text(`o${sent}`) });
      sent++;
    }
  })();
  await waitFor(() => sent >= 10, { what: "bob's first messages" });
  await alice.connect();
  await waitFor(() => atAlice.length >= 10 && sent >= 30, { what: "messages during the connect" });
  stop = true;
  await sender;
  await waitFor(() => atAlice.length === sent, { what: `all ${sent} messages` });
  assertContiguous(atAlice, 1);
});

test("a backlog over the sync size budget comes in several rounds", async () => {
  const alice = await client();
  const bob = await client();
  const conv = await alice.createDirect(bob.username);
  const bobRest = restTwin(bob);
  const big = "x".repeat(60_000); // 40 of them: over the 1 MiB a sync answer may carry
  for (let i = 0; i < 40; i++) {
    await bobRest.postMessage(conv.id, { cmid: `big-${i}-${Math.random()}`, body: text(big) });
  }
  const atAlice = record(alice, "message");
  const syncs = record(alice, "synced");
  await alice.connect();
  assert.equal(atAlice.length, 40);
  assertContiguous(atAlice, 1);
  assert.ok(syncs[0].rounds >= 2, `rounds: ${syncs[0].rounds}`);
});

test("TimelineOrder: gaps count as held, held events wait for the hole", () => {
  // The server has no retention yet, so it never reports a gap: drive the
  // ordering directly with what protocol.md's example sends.
  const delivered = [];
  const gaps = [];
  const order = new TimelineOrder({
    deliver: (e) => delivered.push(e.seq),
    gap: (conv, from, to) => gaps.push([conv, from, to]),
  });
  order.seed({ 9: 20 });
  const ev = (seq, name = "message") => ({ ev: name, conv: 9, seq, id: seq, from: 1, ts: seq });
  assert.equal(order.offerLive(ev(342)), "ahead");
  assert.equal(order.offerLive(ev(20)), "duplicate");
  assert.deepEqual(order.holes(), [9]);
  assert.equal(order.applySync(9, [ev(341)], { from: 21, to: 340 }), 1);
  assert.deepEqual(gaps, [[9, 21, 340]]);
  assert.deepEqual(delivered, [341, 342]); // 342 was held until 341 came
  assert.deepEqual(order.holes(), []);
  assert.equal(order.synced(9), 342);
  // An event type this version does not know still takes its seq.
  assert.equal(order.offerLive(ev(343, "poll_closed")), "delivered");
  // A gap already behind us is not reported again.
  order.applySync(9, [], { from: 21, to: 340 });
  assert.equal(gaps.length, 1);
  order.forget(9);
  assert.deepEqual(order.snapshot(), {});
});

test("requests time out while the server is stopped; the outbox keeps the send", async () => {
  const alice = await client({ requestTimeoutMs: 500, pingIntervalMs: 300, reconnectMinMs: 100, reconnectMaxMs: 400 });
  const bob = await client();
  const conv = await alice.createDirect(bob.username);
  await alice.connect();
  await bob.connect();
  const atBob = record(bob, "message");
  const sent = record(alice, "sent");
  const disconnects = record(alice, "disconnected");

  await server.pause();
  try {
    let t0 = Date.now();
    await assert.rejects(alice.ping(), { code: "timeout", status: 0 });
    assert.ok(Date.now() - t0 < 2000);
    t0 = Date.now();
    await assert.rejects(alice.me(), { code: "timeout", status: 0 });
    assert.ok(Date.now() - t0 < 2000);
    await assert.rejects(alice.send(conv.id, text("through the stall")), { code: "timeout" });
    assert.equal(alice.pendingSends().length, 1);
    // The keepalive notices the silence and drops the socket.
    await waitFor(() => disconnects.some((d) => d.code === 4000), { what: "the keepalive drop" });
  } finally {
    server.resume();
  }

  await waitFor(() => sent.length === 1, { timeoutMs: 10_000, what: "the outbox send after resume" });
  await waitFor(() => atBob.length >= 1, { what: "bob's message" });
  await sleep(300); // the copy sent before the stall is processed now: still one message
  assert.equal(atBob.length, 1);
  assert.equal(atBob[0].body.text, "through the stall");
  assert.equal(alice.pendingSends().length, 0);
  await alice.ping();
});

test("logout closes every socket of the token; the SDK does not reconnect", async () => {
  const alice = await client();
  const bob = await client();
  const conv = await alice.createDirect(bob.username);
  await alice.connect();
  await alice.send(conv.id, text("seen"));
  alice.close();
  // Queued while offline: a logout must not leave it to go out under another login.
  const unsent = assert.rejects(alice.send(conv.id, text("never sent"), { timeoutMs: 5000 }), { code: "cancelled" });
  assert.equal(alice.pendingSends().length, 1);
  assert.deepEqual(alice.getSyncedSeqs(), { [conv.id]: 1 });
  const sameToken = new Client({ url: server.url, token: alice.token, requestTimeoutMs: 3000, reconnectMinMs: 50 });
  clients.push(sameToken);
  await sameToken.connect();
  const disconnects = record(sameToken, "disconnected");

  await alice.logout();
  assert.equal(alice.token, null);
  assert.equal(alice.user, null);
  await unsent;
  assert.deepEqual(alice.pendingSends(), []);
  assert.deepEqual(alice.getSyncedSeqs(), {});
  await waitFor(() => disconnects.length === 1, { what: "the 1008 close" });
  assert.equal(disconnects[0].code, 1008);
  assert.equal(disconnects[0].willReconnect, false);
  await sleep(200);
  assert.equal(sameToken.state, "idle");
  await assert.rejects(sameToken.me(), { status: 401, code: "unauthorized" });
  await assert.rejects(new Client({ url: server.url }).login(alice.username, "nope-nope"), { status: 401 });
  // The account itself still works.
  await alice.login(alice.username, PASSWORD);
  await alice.me();
});
