/**
 * Web Push helpers. The browser parts (service worker registration, PushManager)
 * cannot run in Node; what can is tested: base64url, the device body, payload
 * parsing and the notification built from it, and the service-worker handlers end
 * to end. For that a real pipitd sends a real push to a subscription made here (a
 * P-256 key pair), through a stand-in push service on 127.0.0.1 that keeps what it
 * receives; the test decrypts it (RFC 8291, aes128gcm) as a browser would, hands it
 * to handlePush() and handleNotificationClick() with a stand-in worker scope, and
 * checks the reports in the push's counts.
 */

import assert from "node:assert/strict";
import { createDecipheriv, createECDH, createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import {
  Client,
  base64UrlToBytes,
  bytesToBase64Url,
  handleNotificationClick,
  handlePush,
  notificationFor,
  parsePushPayload,
  subscriptionToDevice,
} from "../dist/index.js";
import { newClient, startServer, waitFor } from "./server.js";

let server;
let pushService;
const received = []; // bodies the stand-in push service was given

before(async () => {
  server = await startServer(["--push-allow-http", "yes", "--push-allow-private", "yes"]);
  pushService = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(201).end();
    });
  });
  await new Promise((ok) => pushService.listen(0, "127.0.0.1", ok));
});

after(async () => {
  await new Promise((ok) => pushService.close(ok));
  await server.cleanup();
});

test("base64url: RFC 4648 vectors, padding optional, bad input refused", () => {
  const vectors = [
    ["", ""],
    ["f", "Zg"],
    ["fo", "Zm8"],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg"],
    ["fooba", "Zm9vYmE"],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, encoded] of vectors) {
    const bytes = new TextEncoder().encode(plain);
    assert.equal(bytesToBase64Url(bytes), encoded);
    assert.deepEqual(base64UrlToBytes(encoded), bytes);
  }
  assert.deepEqual(base64UrlToBytes("Zm8="), new TextEncoder().encode("fo"));
  const binary = Uint8Array.from([0xfb, 0xff, 0xbf, 0x00]);
  assert.equal(bytesToBase64Url(binary), "-_-_AA");
  assert.deepEqual(base64UrlToBytes("-_-_AA"), binary);
  assert.equal(bytesToBase64Url(binary.buffer), "-_-_AA");
  assert.throws(() => base64UrlToBytes("ab+/"), TypeError);
  assert.throws(() => base64UrlToBytes("abcde"), TypeError);
});

test("the VAPID key decodes to an uncompressed P-256 point", async () => {
  const client = new Client({ url: server.url });
  const key = await client.vapidPublicKey();
  const bytes = base64UrlToBytes(key);
  assert.equal(bytes.length, 65);
  assert.equal(bytes[0], 0x04);
  assert.equal(bytesToBase64Url(bytes), key);
});

test("payload parsing and the notification built from it", () => {
  assert.equal(parsePushPayload(null), null);
  assert.equal(parsePushPayload("not json"), null);
  assert.equal(parsePushPayload('{"title":"no ids"}'), null);
  assert.equal(parsePushPayload('{"push":1,"device":2}'), null);

  const chat = parsePushPayload(
    '{"title":"bob","body":"hi","category":"chat","data":{"conv":7,"seq":3},"push":11,"device":4,"priority":"high"}',
  );
  const shown = notificationFor(chat, { icon: "/icon.png" });
  assert.equal(shown.title, "bob");
  assert.equal(shown.options.body, "hi");
  assert.equal(shown.options.icon, "/icon.png");
  assert.equal(shown.options.tag, "pipit-conv-7");
  assert.deepEqual(shown.options.data, { pipit: { push: 11, device: 4, url: null, conv: 7 } });

  const promo = notificationFor(parsePushPayload('{"title":"Sale","url":"https://x.example/s","push":1,"device":2}'));
  assert.equal(promo.options.tag, undefined);
  assert.equal(promo.options.data.pipit.url, "https://x.example/s");

  assert.throws(() => subscriptionToDevice({ endpoint: "https://p.example/x", keys: { auth: "a" } }), TypeError);
});

/* ---- a browser's side of Web Push, from RFC 8291 and RFC 8188 ---- */

function makeSubscription(endpoint) {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    auth,
    json: {
      endpoint,
      keys: { p256dh: bytesToBase64Url(ecdh.getPublicKey()), auth: bytesToBase64Url(auth) },
    },
  };
}

function hmac(key, data) {
  return createHmac("sha256", key).update(data).digest();
}

/** Decrypts one aes128gcm record sent to this subscription (RFC 8291 §3.4, RFC 8188 §2). */
function decryptPush(sub, body) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const secret = sub.ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), sub.ecdh.getPublicKey(), asPublic, Buffer.from([1])]);
  const ikm = hmac(hmac(sub.auth, secret), keyInfo);
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from("Content-Encoding: aes128gcm\0\x01")).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from("Content-Encoding: nonce\0\x01")).subarray(0, 12);
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end > 0 && padded[end] === 0) end--;
  assert.equal(padded[end], 2, "the last record ends with the 0x02 delimiter");
  return padded.subarray(0, end).toString("utf8");
}

/** A stand-in for ServiceWorkerGlobalScope: records what the handlers do. */
function workerScope() {
  const scope = {
    shown: [],
    opened: [],
    registration: {
      async showNotification(title, options) {
        scope.shown.push({ title, options });
      },
    },
    clients: {
      async matchAll() {
        return [];
      },
      async openWindow(url) {
        scope.opened.push(url);
      },
    },
    addEventListener() {},
  };
  return scope;
}

function extendable(fields) {
  const waits = [];
  return { ...fields, waits, waitUntil: (p) => waits.push(p) };
}

test("service worker: a real push is shown, and delivered and clicked are reported", async () => {
  const bob = await newClient(server);
  const sub = makeSubscription(`http://127.0.0.1:${pushService.address().port}/push/${Math.random()}`);
  const body = subscriptionToDevice(sub.json);
  assert.deepEqual(body, { platform: "webpush", endpoint: sub.json.endpoint, keys: sub.json.keys });
  const device = await bob.registerDevice(body);
  assert.equal(device.platform, "webpush");
  assert.deepEqual((await bob.listDevices()).map((d) => d.id), [device.id]);

  const admin = new Client({ url: server.url });
  await admin.login("admin", server.adminPassword());
  const { id: push } = await admin.call("POST", "/v1/push", {
    to: { users: [bob.user.id] },
    notification: { title: "Your order has shipped", body: "Order 5521", url: "https://shop.example/o/5521" },
  });

  await waitFor(() => received.length === 1, { what: "the push at the push service" });
  const text = decryptPush(sub, received[0].body);
  const payload = parsePushPayload(text);
  assert.equal(payload.push, push);
  assert.equal(payload.device, device.id);
  assert.equal(payload.title, "Your order has shipped");

  const scope = workerScope();
  const options = { url: server.url, getToken: async () => bob.token, icon: "/icon.png" };
  const pushEvent = extendable({ data: { text: () => text } });
  handlePush(scope, pushEvent, options);
  await Promise.all(pushEvent.waits);
  assert.equal(scope.shown.length, 1);
  assert.equal(scope.shown[0].title, "Your order has shipped");

  let closed = false;
  const click = extendable({ notification: { data: scope.shown[0].options.data, close: () => (closed = true) } });
  handleNotificationClick(scope, click, options);
  await Promise.all(click.waits);
  assert.equal(closed, true);
  assert.deepEqual(scope.opened, ["https://shop.example/o/5521"]);

  const stored = await admin.call("GET", `/v1/push/${push}`);
  assert.equal(stored.counts.delivered, 1);
  assert.equal(stored.counts.opened, 1);
  assert.equal(stored.counts.clicked, 1);

  await bob.deleteDevice(device.id);
  assert.deepEqual(await bob.listDevices(), []);
});

test("in-app: a push to a connected user is a notification event, reported with push_event", async () => {
  const alice = await newClient(server);
  await alice.connect();
  const notes = [];
  alice.on("notification", (n) => notes.push(n));
  const admin = new Client({ url: server.url });
  await admin.login("admin", server.adminPassword());
  const { id: push } = await admin.call("POST", "/v1/push", {
    to: { users: [alice.user.id] },
    notification: { title: "Statement ready", data: { month: 11 } },
  });
  await waitFor(() => notes.length === 1, { what: "the notification event" });
  assert.equal(notes[0].push, push);
  assert.equal(notes[0].title, "Statement ready");
  assert.deepEqual(notes[0].data, { month: 11 });
  await alice.pushEvent(push, "opened");
  await alice.pushEvent(push, "opened"); // a repeat changes nothing
  await assert.rejects(alice.pushEvent(push + 1000, "opened"), { code: "not_found" });
  const stored = await admin.call("GET", `/v1/push/${push}`);
  assert.equal(stored.counts.by_channel.inapp.opened, 1);
  assert.equal(stored.counts.delivered, 1);
  alice.close();
});

test("service worker: a failed report does not stop the notification", async () => {
  const scope = workerScope();
  const errors = [];
  const options = { url: server.url, getToken: async () => "stale-token", onError: (e) => errors.push(e) };
  const event = extendable({ data: { text: () => '{"title":"t","push":999999,"device":1}' } });
  handlePush(scope, event, options);
  await Promise.all(event.waits);
  assert.equal(scope.shown.length, 1);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].status, 401);
  assert.equal(errors[0].code, "unauthorized");
  // Not a pipit payload: left alone, for another handler.
  const foreign = extendable({ data: { text: () => '{"hello":"world"}' } });
  handlePush(scope, foreign, options);
  assert.equal(foreign.waits.length, 0);
});
