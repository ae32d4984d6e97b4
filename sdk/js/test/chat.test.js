/**
 * Chat over the realtime session against a real pipitd: login and connect, live
 * send and receive, exactly-once with a cmid, edit and recall, typing, read and
 * delivery receipts, a conversation that starts with our own `joined`, history,
 * and the typed errors of both transports.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client, PipitError } from "../dist/index.js";
import { PASSWORD, newClient, record, sleep, startServer, waitFor } from "./server.js";

let server;
const clients = [];

async function connectedClient(options) {
  const client = await newClient(server, options);
  clients.push(client);
  await client.connect();
  return client;
}

/** Sends a marker and waits for `receiver` to see it: everything before it has arrived. */
async function roundTrip(sender, receiver, conv) {
  const seen = record(receiver, "message");
  const marker = `marker-${Math.random()}`;
  await sender.send(conv, { type: "text", text: marker });
  await waitFor(() => seen.some((m) => m.body?.text === marker), { what: "the marker" });
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  await server.cleanup();
});

test("login, me and connect", async () => {
  const first = await newClient(server);
  const client = new Client({ url: server.url, requestTimeoutMs: 3000 });
  clients.push(client);
  const session = await client.login(first.username, PASSWORD);
  assert.equal(session.user.username, first.username);
  assert.equal(client.token, session.token);
  const me = await client.me();
  assert.equal(me.username, first.username);
  assert.equal(client.state, "idle");

  const connected = record(client, "connected");
  const info = await client.connect();
  assert.equal(info.user.id, me.id);
  assert.equal(info.protocol, 1);
  assert.equal(info.reconnect, false);
  assert.equal(client.state, "ready");
  assert.equal(client.user.username, first.username);
  assert.equal(connected.length, 1);
  await client.ping();
});

test("a login as someone else drops the previous user's outbox and seqs", async () => {
  const alice = await newClient(server);
  const bob = await newClient(server);
  const conv = await alice.createDirect(bob.username);
  alice.setSyncedSeqs({ [conv.id]: 0 });
  const queued = assert.rejects(alice.send(conv.id, { type: "text", text: "from alice" }), { code: "cancelled" });
  await alice.login(alice.username, PASSWORD); // the same user keeps them
  assert.equal(alice.pendingSends().length, 1);
  await alice.login(bob.username, PASSWORD);
  await queued;
  assert.deepEqual(alice.pendingSends(), []);
  assert.deepEqual(alice.getSyncedSeqs(), {});
  assert.equal(alice.user.id, bob.user.id);
});

test("messages arrive live, once each, in seq order", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const atBob = record(bob, "message");
  const atAlice = record(alice, "message");

  const first = await alice.send(conv.id, { type: "text", text: "hello" });
  assert.equal(first.seq, 1);
  await waitFor(() => atBob.length === 1, { what: "bob's first message" });
  assert.equal(atBob[0].body.text, "hello");
  assert.equal(atBob[0].from, alice.user.id);
  assert.equal(atBob[0].seq, 1);

  // Twenty at once, from both sides: each member sees 21 messages, seqs 1..21.
  const sends = [];
  for (let i = 0; i < 10; i++) {
    sends.push(alice.send(conv.id, { type: "text", text: `a${i}` }));
    sends.push(bob.send(conv.id, { type: "text", text: `b${i}` }, { reply_to: 1 }));
  }
  const results = await Promise.all(sends);
  assert.equal(new Set(results.map((r) => r.seq)).size, 20);
  await waitFor(() => atBob.length === 21 && atAlice.length === 21, { what: "21 messages on both sides" });
  for (const seen of [atBob, atAlice]) {
    assert.deepEqual(seen.map((m) => m.seq), Array.from({ length: 21 }, (_, i) => i + 1));
  }
  // The sender's own event carries its cmid, to match the pending message.
  assert.ok(atAlice.every((m) => typeof m.cmid === "string" && m.cmid.length > 0));
  assert.equal(alice.pendingSends().length, 0);
  assert.equal(alice.getSyncedSeqs()[conv.id], 21);
});

test("a resend with the same cmid is stored once", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const atBob = record(bob, "message");

  const cmid = `fixed-${Math.random()}`;
  const once = await alice.send(conv.id, { type: "text", text: "only once" }, { cmid });
  const again = await alice.send(conv.id, { type: "text", text: "only once, again" }, { cmid });
  assert.equal(again.seq, once.seq);
  assert.equal(again.id, once.id);
  assert.equal(again.duplicate, true);
  assert.equal(once.duplicate, undefined);

  await roundTrip(alice, bob, conv.id);
  assert.equal(atBob.filter((m) => m.cmid === cmid).length, 1);
});

test("edit and recall reach the other member as events", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const timeline = record(bob, "timeline");
  const edits = record(bob, "edit");
  const recalls = record(bob, "recall");

  const sent = await alice.send(conv.id, { type: "text", text: "draft" });
  const edited = await alice.edit(conv.id, sent.seq, { type: "text", text: "final" });
  assert.equal(edited.seq, sent.seq + 1);
  await waitFor(() => edits.length === 1, { what: "the edit event" });
  assert.equal(edits[0].target, sent.seq);
  assert.equal(edits[0].body.text, "final");

  const recalled = await alice.recall(conv.id, sent.seq);
  await waitFor(() => recalls.length === 1, { what: "the recall event" });
  assert.equal(recalls[0].target, sent.seq);
  assert.equal(recalls[0].seq, recalled.seq);
  assert.deepEqual(timeline.map((e) => e.ev), ["message", "edit", "recall"]);

  // History shows the message in its current state.
  const page = await bob.history(conv.id, { after: 0 });
  const message = page.events.find((e) => e.seq === sent.seq);
  assert.equal(message.recalled, true);
  assert.equal(message.body, undefined);

  await assert.rejects(bob.edit(conv.id, sent.seq, { type: "text", text: "not mine" }), (err) => {
    assert.ok(err instanceof PipitError);
    assert.equal(err.code, "forbidden");
    return true;
  });
});

test("typing reaches the others, not the typist", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const atBob = record(bob, "typing");
  const atAlice = record(alice, "typing");
  await alice.typing(conv.id);
  await waitFor(() => atBob.length === 1, { what: "the typing event" });
  assert.deepEqual(atBob[0], { ev: "typing", conv: conv.id, user: alice.user.id });
  await roundTrip(bob, alice, conv.id);
  assert.equal(atAlice.length, 0);
});

test("read receipts, and delivery receipts from auto-ack", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const reads = record(alice, "read");
  const delivered = record(alice, "delivered");

  const sent = await alice.send(conv.id, { type: "text", text: "did you see this?" });
  // Bob's client acks what it delivered by itself; in a direct conversation the
  // sender hears of it.
  await waitFor(() => delivered.some((d) => d.user === bob.user.id && d.seq === sent.seq), {
    what: "the delivered event",
  });

  assert.equal(await bob.read(conv.id, sent.seq), sent.seq);
  await waitFor(() => reads.some((r) => r.user === bob.user.id && r.seq === sent.seq), { what: "the read event" });
  assert.equal(reads.find((r) => r.user === bob.user.id).conv, conv.id);
  // Never moves back.
  assert.equal(await bob.read(conv.id, 0 + 1), sent.seq);
});

test("presence: a contact coming online and going offline", async () => {
  const alice = await connectedClient();
  const bob = await newClient(server);
  await alice.createDirect(bob.username);
  const presence = record(alice, "presence");
  await bob.connect();
  await waitFor(() => presence.length === 1, { what: "bob online" });
  assert.equal(presence[0].user, bob.user.id);
  assert.equal(presence[0].online, true);
  bob.close();
  await waitFor(() => presence.length === 2, { what: "bob offline" });
  assert.equal(presence[1].online, false);
  assert.equal(typeof presence[1].last_seen, "number");
});

test("groups: created, updated, and a member added later syncs from its joined", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const carol = await connectedClient();
  const atBob = record(bob, "timeline");
  const atCarol = record(carol, "timeline");
  const carolConvs = record(carol, "conversation");

  const group = await alice.createGroup({ title: "Trip", members: [bob.username] });
  await alice.updateConversation(group.id, { title: "Weekend trip" });
  await alice.send(group.id, { type: "text", text: "before carol" });
  await waitFor(() => atBob.length === 3, { what: "bob's three events" });
  assert.deepEqual(atBob.map((e) => e.ev), ["conv_created", "conv_updated", "message"]);
  assert.equal(atBob[1].changes.title, "Weekend trip");

  // Carol's first event is her own `joined` at seq 4: a hole to her client,
  // which syncs and gets the timeline from her joining on.
  await alice.addMember(group.id, carol.username);
  await alice.send(group.id, { type: "text", text: "welcome carol" });
  await waitFor(() => atCarol.length === 2, { what: "carol's joined and message" });
  assert.deepEqual(atCarol.map((e) => [e.ev, e.seq]), [["member", 4], ["message", 5]]);
  assert.equal(atCarol[0].action, "joined");
  assert.equal(atCarol[0].user, carol.user.id);
  assert.ok(carolConvs.some((c) => c.id === group.id && c.title === "Weekend trip"));
});

test("history pages and delete-for-me", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  for (let i = 1; i <= 5; i++) {
    await alice.send(conv.id, { type: "text", text: `m${i}` });
  }
  const newest = await bob.history(conv.id, { limit: 2 });
  assert.deepEqual(newest.events.map((e) => e.seq), [5, 4]);
  assert.equal(newest.has_more, true);
  const older = await bob.history(conv.id, { before: 4, limit: 10 });
  assert.deepEqual(older.events.map((e) => e.seq), [3, 2, 1]);
  assert.equal(older.has_more, false);

  await bob.delete(conv.id, 2);
  const mine = await bob.listMessages(conv.id, { after: 1, limit: 1 });
  assert.equal(mine.events[0].deleted, true);
  const theirs = await alice.listMessages(conv.id, { after: 1, limit: 1 });
  assert.equal(theirs.events[0].body.text, "m2");
});

test("typed errors over REST and the socket", async () => {
  const alice = await connectedClient();

  await assert.rejects(alice.getConversation(987654), (err) => {
    assert.ok(err instanceof PipitError);
    assert.equal(err.status, 404);
    assert.equal(err.code, "not_found");
    assert.equal(typeof err.message, "string");
    return true;
  });
  await assert.rejects(alice.history(987654), { name: "PipitError", status: 0, code: "not_found" });
  await assert.rejects(alice.createGroup({ title: 5 }), { status: 400, code: "bad_request" });
  await assert.rejects(alice.history(1, { before: 5, after: 1 }), { code: "bad_request" });

  const stranger = new Client({ url: server.url });
  await assert.rejects(stranger.login(alice.username, "wrong-password"), { status: 401, code: "invalid_credentials" });
  await assert.rejects(stranger.register(alice.username, PASSWORD), { status: 409, code: "username_taken" });
  await assert.rejects(stranger.me(), { status: 401, code: "unauthorized" });
  await assert.rejects(stranger.ping(), { code: "not_connected" });

  // A refused send leaves the outbox and says so.
  const failed = record(alice, "send_failed");
  await assert.rejects(alice.send(987654, { type: "text", text: "nowhere" }), { code: "not_found" });
  assert.equal(alice.pendingSends().length, 0);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].error.code, "not_found");

  // A token the server refuses stops the session instead of retrying forever.
  const impostor = new Client({ url: server.url, token: "not-a-token", requestTimeoutMs: 3000 });
  const errors = record(impostor, "error");
  await assert.rejects(impostor.connect(), { code: "unauthorized" });
  await sleep(100);
  assert.equal(impostor.state, "idle");
  assert.equal(errors.length, 1);
});
