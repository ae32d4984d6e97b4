/**
 * The REST helpers against a real pipitd: conversations, members and their roles,
 * mutes and ownership, messages over REST, notification settings and topics, and
 * the URL the socket is opened at.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client, PipitError, webSocketUrl } from "../dist/index.js";
import { newClient, record, startServer, waitFor } from "./server.js";

let server;
const clients = [];

async function client() {
  const c = await newClient(server);
  clients.push(c);
  return c;
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  await server.cleanup();
});

test("webSocketUrl maps http(s) bases to ws(s) /v1/ws", () => {
  assert.equal(webSocketUrl("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/v1/ws");
  assert.equal(webSocketUrl("https://chat.example.com/"), "wss://chat.example.com/v1/ws");
  assert.equal(webSocketUrl("https://example.com/pipit/"), "wss://example.com/pipit/v1/ws");
  assert.throws(() => webSocketUrl("ftp://example.com"), TypeError);
});

test("conversations: direct once per pair, list, get with members, patch a group", async () => {
  const alice = await client();
  const bob = await client();
  const direct = await alice.createDirect(bob.username);
  assert.equal(direct.type, "direct");
  assert.equal(direct.peer.username, bob.username);
  const again = await alice.createDirect(bob.user.id);
  assert.equal(again.id, direct.id);

  const group = await alice.createGroup({ title: "Book club", members: [bob.username], announcement: "Ch. 3" });
  assert.equal(group.role, "owner");
  assert.equal(group.member_count, 2);
  const listed = await alice.listConversations();
  assert.deepEqual(new Set(listed.map((c) => c.id)), new Set([direct.id, group.id]));

  const full = await bob.getConversation(group.id);
  assert.equal(full.announcement, "Ch. 3");
  assert.deepEqual(full.members.map((m) => m.user.username).sort(), [alice.username, bob.username].sort());

  const patched = await alice.updateConversation(group.id, { title: "Book club (Tue)", muted_all: true });
  assert.equal(patched.title, "Book club (Tue)");
  assert.equal(patched.muted_all, true);
  await assert.rejects(bob.updateConversation(group.id, { title: "mine now" }), { status: 403, code: "forbidden" });
});

test("members: add, role, mute, transfer ownership, remove and leave", async () => {
  const alice = await client();
  const bob = await client();
  const carol = await client();
  const group = await alice.createGroup({ title: "Team", members: [bob.user.id] });

  const added = await alice.addMember(group.id, carol.username);
  assert.equal(added.user.username, carol.username);
  assert.equal(added.role, "member");
  assert.equal((await alice.listMembers(group.id)).length, 3);

  const promoted = await alice.setMemberRole(group.id, bob.username, "admin");
  assert.equal(promoted.role, "admin");

  // A muted member's send is refused, over REST and over the socket.
  const until = Date.now() + 60_000;
  assert.equal((await bob.muteMember(group.id, carol.user.id, until)).muted_until, until);
  await assert.rejects(carol.postMessage(group.id, { cmid: "c1", body: { type: "text", text: "hi" } }), {
    status: 403,
    code: "muted",
  });
  await carol.connect();
  await assert.rejects(carol.send(group.id, { type: "text", text: "hi" }), { status: 0, code: "muted" });
  await bob.muteMember(group.id, carol.user.id, 0);
  await carol.send(group.id, { type: "text", text: "unmuted" });

  const transferred = await alice.transferOwnership(group.id, bob.username);
  assert.equal(transferred.role, "admin");
  const members = await bob.listMembers(group.id);
  assert.equal(members.find((m) => m.user.id === bob.user.id).role, "owner");

  await bob.removeMember(group.id, carol.username);
  await assert.rejects(carol.getConversation(group.id), { status: 404, code: "not_found" });
  await alice.removeMember(group.id, alice.user.id); // leaving
  assert.equal((await bob.listMembers(group.id)).length, 1);
  await assert.rejects(bob.removeMember(group.id, bob.user.id), { status: 403, code: "forbidden" });
});

test("a member removed while away gets `removed` from sync", async () => {
  const alice = await client();
  const bob = await client();
  const group = await alice.createGroup({ title: "Short-lived", members: [bob.username] });
  const removed = record(bob, "removed");
  await bob.connect();
  assert.equal(bob.getSyncedSeqs()[group.id], 1);
  bob.close();
  await alice.removeMember(group.id, bob.username);
  await bob.connect();
  assert.deepEqual(removed, [{ conv: group.id }]);
  assert.equal(bob.getSyncedSeqs()[group.id], undefined);
});

test("a conversation an admin deletes is `removed` at once, live", async () => {
  const alice = await client();
  const bob = await client();
  const group = await alice.createGroup({ title: "Deleted by an admin", members: [bob.username] });
  const removed = record(bob, "removed");
  await bob.connect();
  const admin = new Client({ url: server.url });
  await admin.login("admin", server.adminPassword());
  await admin.call("DELETE", `/v1/admin/conversations/${group.id}`);
  await waitFor(() => removed.length === 1, { what: "removed" });
  assert.deepEqual(removed, [{ conv: group.id }]);
  assert.equal(bob.getSyncedSeqs()[group.id], undefined);
  await admin.logout();
});

test("messages over REST: send with a cmid once, page with listMessages", async () => {
  const alice = await client();
  const bob = await client();
  const conv = await alice.createDirect(bob.username);
  const atBob = record(bob, "message");
  await bob.connect();
  const first = await alice.postMessage(conv.id, { cmid: "rest-1", body: { type: "text", text: "one" } });
  const repeat = await alice.postMessage(conv.id, { cmid: "rest-1", body: { type: "text", text: "one" } });
  assert.equal(repeat.seq, first.seq);
  assert.equal(repeat.duplicate, true);
  await alice.postMessage(conv.id, { cmid: "rest-2", body: { type: "text", text: "two" } });
  await waitFor(() => atBob.length === 2, { what: "two messages at bob" });
  assert.deepEqual(atBob.map((m) => m.cmid), ["rest-1", "rest-2"]);

  const page = await bob.listMessages(conv.id, { after: 0, limit: 1 });
  assert.equal(page.events[0].body.text, "one");
  assert.equal(page.has_more, true);
  await assert.rejects(bob.listMessages(conv.id, { limit: 500 }), { status: 400, code: "bad_request" });
});

test("notification settings and topics", async () => {
  const alice = await client();
  const defaults = await alice.getNotificationSettings();
  assert.deepEqual(defaults, {
    categories: {},
    quiet_hours: null,
    caps: {},
    muted_conversations: [],
    private_previews: false,
    timezone: null,
  });
  const wanted = {
    categories: { promo: false },
    quiet_hours: { start: "22:00", end: "07:00", tz: "Europe/Paris" },
    caps: { news: { per_hour: 2, per_day: 5 } },
    muted_conversations: [12],
    private_previews: true,
    timezone: "Europe/Paris",
  };
  assert.deepEqual(await alice.putNotificationSettings(wanted), wanted);
  assert.deepEqual(await alice.getNotificationSettings(), wanted);
  const reset = await alice.putNotificationSettings({ timezone: "UTC" });
  assert.equal(reset.private_previews, false);
  await assert.rejects(alice.putNotificationSettings({ quiet_hours: { start: "7:00" } }), (err) => {
    assert.ok(err instanceof PipitError);
    assert.equal(err.status, 400);
    assert.equal(err.code, "bad_request");
    return true;
  });

  await alice.subscribeTopic("news");
  await alice.subscribeTopic("Alerts");
  assert.deepEqual(await alice.listTopics(), ["Alerts", "news"]);
  await alice.unsubscribeTopic("news");
  assert.deepEqual(await alice.listTopics(), ["Alerts"]);
});
