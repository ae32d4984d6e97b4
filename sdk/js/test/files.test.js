/**
 * Files and search (src/files.ts) against a real pipitd: upload and download with
 * equal bytes, thumbnails, object URLs shared and released, a file sent as a
 * message through the outbox and readable by the other member only then, the
 * typed 413 with the server's words, cancel, and search: a file's message by its
 * name, text in English and Chinese, snippets with hits, paging, filters.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  Client,
  PipitError,
  fileBlob,
  fileMessageBody,
  fileObjectUrl,
  isFileBody,
  revokeFileObjectUrls,
  search,
  sendFile,
  uploadFile,
} from "../dist/index.js";
import { rgbPng } from "./png.js";
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

/* ------------------------------------------------------------------ helpers */

/** A w×h RGB PNG with a gradient, made here so the test carries no binary fixture. */
function png(w, h) {
  return rgbPng(w, h, (x, y) => [(x * 255) / w, (y * 255) / h, 160]);
}

async function bytesOf(blob) {
  return Buffer.from(await blob.arrayBuffer());
}

async function admin() {
  const c = new Client({ url: server.url });
  await c.login("admin", server.adminPassword());
  return c;
}

/* -------------------------------------------------------------------- tests */

test("upload, then download the same bytes; the thumbnail is WebP; a progress report", async () => {
  const alice = await client();
  const image = png(640, 400);
  const progress = [];
  const info = await uploadFile(alice, new Blob([image]), {
    name: "../holiday photo.png",
    onProgress: (loaded, total) => progress.push([loaded, total]),
  });
  assert.equal(info.name, "holiday photo.png"); // the server keeps the last path segment
  assert.equal(info.size, image.length);
  assert.equal(info.mime, "image/png");
  assert.equal(info.width, 640);
  assert.equal(info.height, 400);
  assert.equal(info.url, `/v1/files/${info.id}`);
  assert.equal(info.thumbnail, `/v1/files/${info.id}/thumbnail`);
  assert.deepEqual(progress.at(-1), [image.length, image.length]);

  assert.deepEqual(await bytesOf(await fileBlob(alice, info.id)), image);
  assert.deepEqual(await bytesOf(await fileBlob(alice, info.url)), image);
  const thumb = await fileBlob(alice, info.id, { thumbnail: true }); // waits out a 503 while it is made
  assert.equal(thumb.type, "image/webp");
  const head = await bytesOf(thumb);
  assert.equal(head.subarray(0, 4).toString("ascii"), "RIFF");
  assert.equal(head.subarray(8, 12).toString("ascii"), "WEBP");
});

test("a file without a thumbnail falls back to the file itself; unknown ids are not_found", async () => {
  const alice = await client();
  const text = Buffer.from("plain notes\n".repeat(50));
  const info = await uploadFile(alice, new Blob([text]), { name: "notes.txt" });
  assert.equal(info.thumbnail, null);
  assert.equal(info.width, undefined);
  assert.deepEqual(await bytesOf(await fileBlob(alice, info.id, { thumbnail: true })), text);
  await assert.rejects(fileBlob(alice, 999_999), { status: 404, code: "not_found" });
  await assert.rejects(fileBlob(alice, "/v1/users/3"), TypeError);
});

test("fileMessageBody: images with their size, everything else a file", () => {
  const base = { id: 7, name: "a.png", size: 10, mime: "image/png", sha256: "x", url: "/v1/files/7", thumbnail: null };
  assert.deepEqual(fileMessageBody({ ...base, width: 4, height: 3 }), {
    type: "image", file: 7, name: "a.png", size: 10, mime: "image/png", width: 4, height: 3,
  });
  assert.deepEqual(fileMessageBody({ ...base, mime: "application/pdf", name: "a.pdf" }, { text: "the report" }), {
    text: "the report", type: "file", file: 7, name: "a.pdf", size: 10, mime: "application/pdf",
  });
  assert.equal(isFileBody({ type: "image", file: 7 }), true);
  assert.equal(isFileBody({ type: "text", text: "hi" }), false);
  assert.equal(isFileBody({ type: "file", file: "7" }), false);
});

test("a file sent in a chat: the other member can read it only once it is shared", async () => {
  const alice = await client();
  const bob = await client();
  const conv = await alice.createDirect(bob.username);
  const atBob = record(bob, "message");
  await alice.connect();
  await bob.connect();

  const data = Buffer.from("%PDF-1.4\n% quarterly report\n");
  const info = await uploadFile(alice, new Blob([data]), { name: "Q3 report.pdf" });
  await assert.rejects(fileBlob(bob, info.id), { status: 404, code: "not_found" });

  const sent = await alice.send(conv.id, fileMessageBody(info));
  await waitFor(() => atBob.length === 1, { what: "the file message at bob" });
  const body = atBob[0].body;
  assert.equal(body.type, "file");
  assert.equal(body.file, info.id);
  assert.equal(body.name, "Q3 report.pdf");
  assert.equal(atBob[0].seq, sent.seq);
  assert.deepEqual(await bytesOf(await fileBlob(bob, body.file)), data);

  // sendFile does both steps; the send goes through the outbox, once.
  const { file, sent: second } = await sendFile(alice, conv.id, new Blob([png(32, 24)]), { name: "dot.png" });
  assert.equal(file.width, 32);
  await waitFor(() => atBob.length === 2, { what: "the image message at bob" });
  assert.equal(atBob[1].body.type, "image");
  assert.equal(atBob[1].seq, second.seq);
  assert.equal(alice.pendingSends().length, 0);

  // A message naming someone else's unshared file is refused for good.
  const carol = await client();
  const secret = await uploadFile(carol, new Blob([Buffer.from("carol's")]), { name: "secret.txt" });
  await assert.rejects(alice.send(conv.id, { type: "file", file: secret.id }), { code: "not_found" });
});

test("object URLs: one per file, shared, released, revoked", async () => {
  const alice = await client();
  const image = png(20, 20);
  const info = await uploadFile(alice, new Blob([image]), { name: "tiny.png" });
  const a = fileObjectUrl(alice, info.id);
  const b = fileObjectUrl(alice, info.url);
  const [urlA, urlB] = await Promise.all([a.url, b.url]);
  assert.match(urlA, /^blob:/);
  assert.equal(urlA, urlB);
  const thumb = fileObjectUrl(alice, info.id, { thumbnail: true });
  assert.notEqual(await thumb.url, urlA);
  a.release();
  a.release(); // a second release does nothing
  b.release();
  thumb.release();
  const again = fileObjectUrl(alice, info.id);
  assert.equal(await again.url, urlA); // kept for reuse
  again.release();
  revokeFileObjectUrls(alice);
  const fresh = fileObjectUrl(alice, info.id);
  assert.notEqual(await fresh.url, urlA);
  fresh.release();

  const missing = fileObjectUrl(alice, 999_998);
  await assert.rejects(missing.url, { code: "not_found" });
  missing.release();
  const controller = new AbortController();
  const aborted = fileObjectUrl(alice, info.id, { thumbnail: true, signal: controller.signal });
  controller.abort();
  await assert.rejects(aborted.url, { code: "cancelled" });
  aborted.release();
  revokeFileObjectUrls(alice);
});

test("too large: a typed 413 with the server's message; a cancelled upload", async () => {
  const alice = await client();
  const root = await admin();
  await root.call("PATCH", "/v1/admin/app", { max_file_size: 1000 });
  try {
    await assert.rejects(uploadFile(alice, new Blob([Buffer.alloc(5000, 1)]), { name: "big.bin" }), (err) => {
      assert.ok(err instanceof PipitError);
      assert.equal(err.status, 413);
      assert.equal(err.code, "payload_too_large");
      assert.match(err.message, /1000 bytes/);
      return true;
    });
    const small = await uploadFile(alice, new Blob([Buffer.alloc(900, 2)]), { name: "small.bin" });
    assert.equal(small.size, 900);
  } finally {
    await root.call("PATCH", "/v1/admin/app", { max_file_size: null });
    await root.logout();
  }
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(uploadFile(alice, new Blob(["x"]), { signal: controller.signal }), { code: "cancelled" });
});

test("search: a file by its name, English and Chinese text, snippets, paging and filters", async () => {
  const alice = await client();
  const bob = await client();
  const outsider = await client();
  const conv = await alice.createDirect(bob.username);
  await alice.connect();

  const info = await uploadFile(alice, new Blob([Buffer.from("minutes")]), { name: "budget-minutes.txt" });
  await alice.send(conv.id, fileMessageBody(info));
  const english = await alice.send(conv.id, { type: "text", text: "Lunch at the Café on Friday?" });
  const chinese = await alice.send(conv.id, { type: "text", text: "我在北京大学读书" });
  for (let i = 0; i < 5; i++) await alice.send(conv.id, { type: "text", text: `pager message ${i}` });

  const byName = await search(bob, { q: "budget" });
  assert.equal(byName.results.length, 1);
  assert.equal(byName.results[0].body.file, info.id);
  assert.equal(byName.results[0].conv, conv.id);

  const cafe = await search(bob, { q: "cafe" }); // accents folded
  assert.equal(cafe.results.length, 1);
  assert.equal(cafe.results[0].seq, english.seq);
  const hits = cafe.results[0].snippet.filter((p) => p.hit).map((p) => p.text);
  assert.deepEqual(hits, ["Café"]);
  assert.equal(cafe.results[0].snippet.map((p) => p.text).join(""), "Lunch at the Café on Friday?");

  const beijing = await search(bob, { q: "北京" });
  assert.equal(beijing.results.length, 1);
  assert.equal(beijing.results[0].seq, chinese.seq);
  assert.deepEqual(beijing.results[0].snippet.filter((p) => p.hit).map((p) => p.text), ["北京"]);
  assert.equal((await search(bob, { q: "北大" })).results.length, 0);

  const first = await search(bob, { q: "pager", limit: 2 });
  assert.equal(first.results.length, 2);
  assert.equal(first.next_offset, 2);
  const seen = new Set(first.results.map((r) => r.seq));
  let offset = first.next_offset;
  for (let page = 0; offset !== null && page < 5; page++) {
    const next = await search(bob, { q: "pager", limit: 2, offset });
    next.results.forEach((r) => seen.add(r.seq));
    offset = next.next_offset;
  }
  assert.equal(seen.size, 5);

  assert.equal((await search(bob, { q: "pager", conv: conv.id, from: bob.user.id })).results.length, 0);
  assert.equal((await search(bob, { q: "pager", from: alice.user.id, limit: 10 })).results.length, 5);
  assert.equal((await search(bob, { q: "pager", after: Date.now() + 60_000 })).results.length, 0);
  assert.equal((await search(outsider, { q: "budget" })).results.length, 0);
  await assert.rejects(search(outsider, { q: "budget", conv: conv.id }), { status: 404, code: "not_found" });
  await assert.rejects(search(bob, { q: "!!!" }), { status: 400, code: "bad_request" });
});
