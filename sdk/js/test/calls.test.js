/**
 * Calls through the SDK against a real pipitd: startCall(), ringing(),
 * acceptCall(), signalCall(), hangUp(), rejectCall() and cancelCall() with the
 * `call` events each side gets and the `call_record` timeline event that follows
 * the end; typed errors; getTurnCredentials() (the HMAC coturn checks),
 * turnIceServers() and callIceServers(); and PeerLink's offer/answer/candidate
 * exchange through pipit, with a scripted RTCPeerConnection (Node has none; the
 * browser test tests/browser/calls.test.js runs the real one through coturn).
 */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, test } from "node:test";

import { Client, PeerLink, PipitError, callIceServers, turnIceServers } from "../dist/index.js";
import { newClient, record, sleep, startServer, waitFor } from "./server.js";

const TURN_SECRET = "sdk-test-turn-secret";
const TURN_URLS = ["turn:127.0.0.1:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"];

let server;
let bare; // a server with no TURN configured
const clients = [];

before(async () => {
  server = await startServer([
    "--call-ring-timeout", "5s",
    "--turn-secret", TURN_SECRET,
    "--turn-urls", TURN_URLS.join(","),
    "--turn-ttl", "10m",
  ]);
  bare = await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  await server.cleanup();
  await bare.cleanup();
});

async function connectedClient(srv = server) {
  const client = await newClient(srv);
  clients.push(client);
  await client.connect();
  return client;
}

/** Two connected users with a direct conversation. */
async function pair() {
  const alice = await connectedClient();
  const bob = await connectedClient();
  const conv = await alice.createDirect(bob.username);
  return { alice, bob, conv: conv.id };
}

const code = (want) => (err) => {
  assert.ok(err instanceof PipitError, String(err));
  assert.equal(err.code, want);
  return true;
};

function callEvents(seen, call, type) {
  return seen.filter((e) => e.call === call && (type === undefined || e.type === type));
}

test("a call from invite to record: events, signals, history", async () => {
  const { alice, bob, conv } = await pair();
  const aCalls = record(alice, "call");
  const bCalls = record(bob, "call");
  const bRecords = record(bob, "call_record");
  const bTimeline = record(bob, "timeline");

  const before = Date.now();
  const invite = await alice.startCall(conv, { media: "video" });
  assert.equal(typeof invite.call, "number");
  assert.ok(invite.ring_until >= before + 4000 && invite.ring_until <= Date.now() + 6000, JSON.stringify(invite));
  await waitFor(() => callEvents(bCalls, invite.call, "invite").length === 1, { what: "bob's invite" });
  assert.deepEqual(callEvents(bCalls, invite.call, "invite")[0], {
    ev: "call", type: "invite", call: invite.call, conv, from: alice.user.id, media: "video", ring_until: invite.ring_until,
  });

  await bob.ringing(invite.call);
  await waitFor(() => callEvents(aCalls, invite.call, "ringing").length === 1, { what: "alice hears it ring" });
  await bob.acceptCall(invite.call);
  await waitFor(() => callEvents(aCalls, invite.call, "accept").length === 1, { what: "alice's accept" });
  assert.equal(callEvents(aCalls, invite.call, "accept")[0].from, bob.user.id);

  const offer = { type: "offer", sdp: "v=0\r\n" };
  const answer = { type: "answer", sdp: "v=0\r\n" };
  const candidate = { candidate: { candidate: "candidate:1 1 udp 1 192.0.2.1 5000 typ host", sdpMid: "0", sdpMLineIndex: 0 } };
  await alice.signalCall(invite.call, bob.user.id, offer);
  await alice.signalCall(invite.call, bob.user.id, candidate);
  await bob.signalCall(invite.call, alice.user.id, answer);
  await waitFor(() => callEvents(bCalls, invite.call, "signal").length === 2, { what: "bob's signals" });
  await waitFor(() => callEvents(aCalls, invite.call, "signal").length === 1, { what: "alice's signal" });
  assert.deepEqual(callEvents(bCalls, invite.call, "signal").map((e) => e.data), [offer, candidate]);
  assert.deepEqual(callEvents(aCalls, invite.call, "signal").map((e) => [e.from, e.data]), [[bob.user.id, answer]]);

  await sleep(50);
  await bob.hangUp(invite.call);
  await waitFor(() => bRecords.length === 1, { what: "the call record" });
  // alice's socket is another: her end may come a moment after bob's record
  await waitFor(() => callEvents(aCalls, invite.call, "end").length === 1, { what: "alice's end" });
  const end = callEvents(aCalls, invite.call, "end")[0];
  assert.equal(end.reason, "ended");
  assert.equal(end.from, bob.user.id);
  const rec = bRecords[0];
  assert.equal(rec.ev, "call_record");
  assert.equal(rec.call, invite.call);
  assert.equal(rec.conv, conv);
  assert.equal(rec.from, alice.user.id);
  assert.equal(rec.media, "video");
  assert.deepEqual(rec.participants, [alice.user.id, bob.user.id].sort((x, y) => x - y));
  assert.equal(rec.missed, false);
  assert.equal(rec.reason, "ended");
  assert.equal(rec.duration_ms, end.duration_ms);
  assert.equal(rec.duration_ms, rec.ended_at - rec.started_at);
  assert.ok(rec.duration_ms >= 40);
  // The record is a timeline event: delivered once, in order, counted as synced, in history.
  assert.deepEqual(bTimeline.filter((e) => e.ev === "call_record"), [rec]);
  assert.equal(bob.getSyncedSeqs()[conv], rec.seq);
  const page = await bob.listMessages(conv);
  assert.deepEqual(page.events.find((e) => e.seq === rec.seq), rec);
  // `call` events are not timeline events.
  assert.equal(bTimeline.filter((e) => e.ev === "call").length, 0);
  assert.deepEqual(callEvents(bCalls, invite.call).map((e) => e.type), ["invite", "accept", "signal", "signal", "hangup", "end"]);
});

test("reject, cancel, and the typed errors of the call ops", async () => {
  const { alice, bob, conv } = await pair();
  const carol = await connectedClient();
  const aRecords = record(alice, "call_record");

  const first = await alice.startCall(conv);
  await assert.rejects(alice.startCall(conv), code("conflict"));
  await assert.rejects(bob.startCall(conv, { media: "video" }), code("conflict"));
  await assert.rejects(carol.startCall(conv), code("not_found"));
  await assert.rejects(carol.acceptCall(first.call), code("not_found"));
  await assert.rejects(carol.signalCall(first.call, alice.user.id, { type: "offer", sdp: "x" }), code("not_found"));
  await assert.rejects(bob.cancelCall(first.call), code("conflict"));
  await assert.rejects(alice.signalCall(first.call, alice.user.id, {}), code("conflict"));
  await assert.rejects(alice.signalCall(first.call, carol.user.id, {}), code("conflict"));
  await assert.rejects(alice.signalCall(first.call, bob.user.id, "v=0"), code("bad_request"));
  await assert.rejects(alice.signalCall(first.call, bob.user.id, { sdp: "x".repeat(16384) }), code("payload_too_large"));
  await assert.rejects(alice.startCall(conv, { media: "hologram" }), code("bad_request"));
  await bob.rejectCall(first.call);
  await waitFor(() => aRecords.length === 1, { what: "the rejected call's record" });
  assert.equal(aRecords[0].reason, "rejected");
  assert.equal(aRecords[0].missed, true);
  assert.equal(aRecords[0].started_at, null);
  await assert.rejects(bob.acceptCall(first.call), code("not_found"));

  const second = await alice.startCall(conv);
  await alice.cancelCall(second.call);
  await waitFor(() => aRecords.length === 2, { what: "the cancelled call's record" });
  assert.equal(aRecords[1].reason, "cancelled");

  const offline = new Client({ url: server.url });
  await assert.rejects(offline.startCall(conv), code("not_connected"));
  await assert.rejects(offline.hangUp(second.call), code("not_connected"));
});

test("getTurnCredentials: the coturn REST-secret credential, and 404 without TURN", async () => {
  const alice = await newClient(server);
  clients.push(alice);
  const turn = await alice.getTurnCredentials();
  assert.deepEqual(turn.urls, TURN_URLS);
  assert.equal(turn.ttl, 600);
  const [expiry, uid] = turn.username.split(":");
  assert.equal(Number(uid), alice.user.id);
  assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 600)) < 5, turn.username);
  assert.equal(turn.expires_at, Number(expiry) * 1000);
  assert.equal(turn.credential, createHmac("sha1", TURN_SECRET).update(turn.username).digest("base64"));
  assert.deepEqual(turnIceServers(turn), [{ urls: TURN_URLS, username: turn.username, credential: turn.credential }]);
  const stun = { urls: "stun:stun.example.com:3478" };
  const servers = await callIceServers(alice, [stun]);
  assert.equal(servers.length, 2);
  assert.deepEqual(servers[0].urls, TURN_URLS);
  assert.deepEqual(servers[1], stun);

  const elsewhere = await newClient(bare);
  clients.push(elsewhere);
  await assert.rejects(elsewhere.getTurnCredentials(), (err) => code("not_found")(err) && err.status === 404);
  assert.deepEqual(await callIceServers(elsewhere, [stun]), [stun]);
  assert.deepEqual(await callIceServers(elsewhere), []);

  const anonymous = new Client({ url: server.url });
  await assert.rejects(anonymous.getTurnCredentials(), (err) => err.status === 401);
});

/* ---- PeerLink, with an RTCPeerConnection scripted just enough for signalling ---- */

let fakeIds = 0;

class FakePeerConnection extends EventTarget {
  constructor(configuration) {
    super();
    this.id = ++fakeIds;
    this.configuration = configuration;
    this.signalingState = "stable";
    this.localDescription = null;
    this.remoteDescription = null;
    this.added = [];
    this.closed = false;
    this.gathered = false;
  }

  createDataChannel(label) {
    setTimeout(() => this.dispatchEvent(new Event("negotiationneeded")), 0);
    return { label };
  }

  async setLocalDescription(description) {
    await sleep(1);
    const type = description?.type ?? (this.signalingState === "have-remote-offer" ? "answer" : "offer");
    this.localDescription = { type, sdp: description?.sdp ?? `sdp-${type}-of-${this.id}` };
    this.signalingState = type === "offer" ? "have-local-offer" : "stable";
    if (!this.gathered) {
      this.gathered = true;
      setTimeout(() => {
        for (let i = 1; i <= 2; i++) {
          const init = { candidate: `candidate:${i} 1 udp 1 10.0.0.${this.id} ${5000 + i} typ host`, sdpMid: "0", sdpMLineIndex: 0 };
          this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate: { ...init, toJSON: () => init } }));
        }
        this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate: null }));
      }, 5);
    }
  }

  async setRemoteDescription(description) {
    await sleep(1);
    // An offer in have-local-offer is an implicit rollback (the polite side of a glare).
    this.remoteDescription = { type: description.type, sdp: description.sdp };
    this.signalingState = description.type === "offer" ? "have-remote-offer" : "stable";
  }

  async addIceCandidate(candidate) {
    if (this.remoteDescription === null) {
      throw new Error("InvalidStateError: no remote description");
    }
    this.added.push(candidate);
  }

  close() {
    this.closed = true;
    this.signalingState = "closed";
  }
}

async function acceptedCall() {
  const { alice, bob, conv } = await pair();
  const invite = await alice.startCall(conv);
  await bob.acceptCall(invite.call);
  return { alice, bob, call: invite.call };
}

function link(client, call, peer, errors) {
  const l = new PeerLink(client, { call, peer, RTCPeerConnection: FakePeerConnection, configuration: { iceTransportPolicy: "relay" } });
  l.onerror = (err) => errors.push(err);
  return l;
}

test("PeerLink: offer, answer and candidates go through pipit, each to its peer", async () => {
  const { alice, bob, call } = await acceptedCall();
  const errors = [];
  const a = link(alice, call, bob.user.id, errors);
  const b = link(bob, call, alice.user.id, errors);
  assert.deepEqual(a.pc.configuration, { iceTransportPolicy: "relay" });
  assert.notEqual(a.polite, b.polite, "exactly one side is polite");

  a.pc.createDataChannel("chat");
  await waitFor(() => a.pc.signalingState === "stable" && a.pc.remoteDescription !== null, { what: "alice's answer" });
  assert.deepEqual(b.pc.remoteDescription, { type: "offer", sdp: `sdp-offer-of-${a.pc.id}` });
  assert.deepEqual(a.pc.remoteDescription, { type: "answer", sdp: `sdp-answer-of-${b.pc.id}` });
  await waitFor(() => a.pc.added.length === 2 && b.pc.added.length === 2, { what: "the candidates" });
  assert.deepEqual(b.pc.added.map((c) => c.candidate), [1, 2].map((i) => `candidate:${i} 1 udp 1 10.0.0.${a.pc.id} ${5000 + i} typ host`));
  assert.deepEqual(a.pc.added.map((c) => c.candidate), [1, 2].map((i) => `candidate:${i} 1 udp 1 10.0.0.${b.pc.id} ${5000 + i} typ host`));
  assert.deepEqual(errors, []);

  // The peer hangs up: both links close by themselves.
  let closedA = false;
  a.onclose = () => {
    closedA = true;
  };
  await bob.hangUp(call);
  await waitFor(() => a.pc.closed && b.pc.closed, { what: "the links to close" });
  assert.ok(closedA);
});

test("PeerLink: when both sides offer at once, the polite one answers", async () => {
  const { alice, bob, call } = await acceptedCall();
  const errors = [];
  const a = link(alice, call, bob.user.id, errors);
  const b = link(bob, call, alice.user.id, errors);
  const [polite, impolite] = a.polite ? [a, b] : [b, a];
  a.pc.createDataChannel("a");
  b.pc.createDataChannel("b");
  await waitFor(() => impolite.pc.signalingState === "stable" && impolite.pc.remoteDescription?.type === "answer", {
    what: "the impolite side's offer answered",
  });
  assert.equal(polite.pc.signalingState, "stable");
  assert.deepEqual(polite.pc.remoteDescription, impolite.pc.localDescription);
  assert.deepEqual(impolite.pc.remoteDescription, polite.pc.localDescription);
  assert.deepEqual(errors, []);
  a.close();
  b.close();
  assert.ok(a.pc.closed && b.pc.closed);
  await alice.hangUp(call);
});

test("PeerLink: signals of other calls and other senders are not its own", async () => {
  const { alice, bob, call } = await acceptedCall();
  const other = await acceptedCall();
  const errors = [];
  const b = link(bob, call, alice.user.id, errors);
  // Same sender, another call; the same call's signal from someone else cannot
  // happen in a 1:1 call, so another call stands in for both.
  await other.alice.signalCall(other.call, other.bob.user.id, { type: "offer", sdp: "not for b" });
  await alice.signalCall(call, bob.user.id, { hello: "unknown kind of signal" });
  await sleep(100);
  assert.equal(b.pc.remoteDescription, null);
  assert.deepEqual(errors, []);
  b.close();
  await alice.hangUp(call);
  await other.alice.hangUp(other.call);

  assert.throws(() => new PeerLink(alice, { call, peer: bob.user.id }), code("unsupported"));
});
