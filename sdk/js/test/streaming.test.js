/**
 * Streaming messages through the SDK against a real pipitd: send() with
 * `streaming: true`, appendMessage() and replaceMessage() with their answers, the
 * `stream` events a member gets (not timeline events: no seq of their own, no
 * `timeline` event, no ack), the final `edit` with `streamed: true`, what history
 * shows during and after, a client that syncs afterwards, and the typed errors.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client, PipitError } from "../dist/index.js";
import { newClient, record, sleep, startServer, waitFor } from "./server.js";

let server;
const clients = [];

async function connectedClient(options) {
  const client = await newClient(server, options);
  clients.push(client);
  await client.connect();
  return client;
}

function text(t) {
  return { type: "text", text: t };
}

before(async () => {
  server = await startServer(["--max-message-size", "1k"]);
});

after(async () => {
  for (const c of clients) c.close();
  await server.cleanup();
});

test("a streamed message: chunks live as `stream` events, then one final edit", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const streams = record(bob, "stream");
  const timeline = record(bob, "timeline");
  const edits = record(bob, "edit");
  const messages = record(bob, "message");

  const sent = await alice.send(conv.id, text("Hel"), { streaming: true });
  await waitFor(() => messages.length === 1, { what: "the streaming message" });
  assert.equal(messages[0].seq, sent.seq);
  assert.equal(messages[0].streaming, true);
  assert.equal(messages[0].body.text, "Hel");

  const progress = await alice.appendMessage(conv.id, sent.seq, "lo");
  assert.deepEqual(progress, { seq: sent.seq, length: 5 });
  assert.deepEqual(await alice.appendMessage(conv.id, sent.seq, ", wörld", { final: false }), { seq: sent.seq, length: 13 });
  assert.deepEqual(await alice.replaceMessage(conv.id, sent.seq, "Hello, world"), { seq: sent.seq, length: 12 });
  await waitFor(() => streams.length === 3, { what: "three stream events" });
  assert.deepEqual(streams, [
    { ev: "stream", conv: conv.id, seq: sent.seq, op: "append", text: "lo" },
    { ev: "stream", conv: conv.id, seq: sent.seq, op: "append", text: ", wörld" },
    { ev: "stream", conv: conv.id, seq: sent.seq, op: "replace", text: "Hello, world" },
  ]);
  // Chunks take no seq: the timeline saw only the message.
  assert.deepEqual(timeline.map((e) => e.ev), ["message"]);
  assert.equal(bob.getSyncedSeqs()[conv.id], sent.seq);

  const page = await bob.history(conv.id);
  const during = page.events.find((e) => e.seq === sent.seq);
  assert.equal(during.streaming, true);
  assert.equal(during.body.text, "Hello, world");

  const fin = await alice.appendMessage(conv.id, sent.seq, "!", { final: true });
  assert.equal(fin.seq, sent.seq + 1);
  assert.equal(typeof fin.id, "number");
  assert.equal(typeof fin.ts, "number");
  await waitFor(() => edits.length === 1, { what: "the final edit" });
  assert.equal(edits[0].seq, fin.seq);
  assert.equal(edits[0].target, sent.seq);
  assert.equal(edits[0].streamed, true);
  assert.deepEqual(edits[0].body, text("Hello, world!"));
  assert.deepEqual(timeline.map((e) => e.ev), ["message", "edit"]);
  await sleep(100);
  assert.equal(streams.length, 3, "the final chunk comes only in the edit");

  // History and a fresh device's sync: the finished text, neither streaming nor edited.
  for (const events of [
    (await bob.listMessages(conv.id)).events,
    (await bob.sync({})).convs.find((c) => c.conv.id === conv.id).events,
  ]) {
    const m = events.find((e) => e.seq === sent.seq);
    assert.deepEqual(m.body, text("Hello, world!"));
    assert.equal(m.streaming, undefined);
    assert.equal(m.edited, undefined);
  }
});

test("a member who connects after the stream gets the finished text by sync", async () => {
  const alice = await connectedClient();
  const bob = await newClient(server);
  clients.push(bob);
  const conv = await alice.createDirect(bob.username);
  bob.setSyncedSeqs({ [conv.id]: 0 });

  const sent = await alice.send(conv.id, text(""), { streaming: true });
  await alice.appendMessage(conv.id, sent.seq, "first ");
  await alice.replaceMessage(conv.id, sent.seq, "all of it", { final: true });

  const timeline = record(bob, "timeline");
  const streams = record(bob, "stream");
  await bob.connect();
  await waitFor(() => timeline.length === 2, { what: "the message and its edit by sync" });
  assert.deepEqual(timeline.map((e) => e.ev), ["message", "edit"]);
  assert.deepEqual(timeline[0].body, text("all of it"));
  assert.equal(timeline[0].streaming, undefined);
  assert.equal(timeline[1].streamed, true);
  assert.equal(streams.length, 0, "chunks are not replayed");
});

test("postMessage over REST with streaming, grown over the socket", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const streams = record(bob, "stream");
  const sent = await alice.postMessage(conv.id, { cmid: `rest-${Math.random()}`, body: text("a"), streaming: true });
  await alice.appendMessage(conv.id, sent.seq, "b");
  await waitFor(() => streams.length === 1, { what: "the chunk" });
  assert.equal(streams[0].text, "b");
  await alice.appendMessage(conv.id, sent.seq, "c", { final: true });
  const m = (await bob.listMessages(conv.id)).events.find((e) => e.seq === sent.seq);
  assert.deepEqual(m.body, text("abc"));
});

test("typed errors of append and replace", async () => {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const carol = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  const plain = await alice.send(conv.id, text("plain"));
  const open = await alice.send(conv.id, text("open"), { streaming: true });

  const code = (code) => (err) => {
    assert.ok(err instanceof PipitError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.status, 0);
    return true;
  };
  await assert.rejects(alice.appendMessage(conv.id, plain.seq, "x"), code("conflict"));
  await assert.rejects(bob.appendMessage(conv.id, open.seq, "x"), code("forbidden"));
  await assert.rejects(bob.replaceMessage(conv.id, open.seq, "x", { final: true }), code("forbidden"));
  await assert.rejects(carol.appendMessage(conv.id, open.seq, "x"), code("not_found"));
  await assert.rejects(alice.appendMessage(conv.id, open.seq, "x".repeat(1025)), code("payload_too_large"));
  await assert.rejects(alice.appendMessage(conv.id, open.seq, 5), code("bad_request"));
  await assert.rejects(alice.send(conv.id, { type: "image" }, { streaming: true }), code("bad_request"));

  await alice.replaceMessage(conv.id, open.seq, "closed", { final: true });
  await assert.rejects(alice.appendMessage(conv.id, open.seq, "x"), code("conflict"));
  await assert.rejects(alice.replaceMessage(conv.id, open.seq, "x"), code("conflict"));

  const stranger = new Client({ url: server.url });
  await assert.rejects(stranger.appendMessage(conv.id, open.seq, "x"), { code: "not_connected" });
});
