/**
 * /sw.js (web/public/sw.js), the chat app's service worker, run in Node against a
 * fake worker scope. A real push cannot reach this sandbox's Chromium, so this is
 * where the worker's side of the receipt protocol is checked: it reads the token
 * the SDK's saveTokenForServiceWorker() keeps, shows each pipit push (one tag per
 * chat), reports `delivered`, then `opened` or `clicked` on a click, opens the
 * app at the conversation, and leaves other senders' pushes and unsafe links alone.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

import { saveTokenForServiceWorker } from "../../sdk/js/dist/webpush.js";

const SW = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "../../web/public/sw.js"), "utf8");
const ORIGIN = "http://127.0.0.1:8080";

/** CacheStorage enough for the SDK and the worker: open, match, put, delete. */
function fakeCaches() {
  const stores = new Map();
  const keyOf = (request) => new URL(String(request), ORIGIN).href;
  return {
    async open(name) {
      if (!stores.has(name)) stores.set(name, new Map());
      const store = stores.get(name);
      return {
        async match(request) {
          const body = store.get(keyOf(request));
          return body === undefined ? undefined : new Response(body);
        },
        async put(request, response) {
          store.set(keyOf(request), await response.text());
        },
        async delete(request) {
          return store.delete(keyOf(request));
        },
      };
    },
  };
}

/** Loads sw.js into a fresh scope; returns what it did, and a way to fire events. */
function loadWorker(caches) {
  const listeners = {};
  const shown = [];
  const reports = [];
  const opened = [];
  const self = {
    location: new URL(`${ORIGIN}/sw.js`),
    addEventListener: (type, fn) => (listeners[type] = fn),
    skipWaiting: () => Promise.resolve(),
    registration: { showNotification: async (title, options) => shown.push({ title, options }) },
    clients: { claim: async () => {}, matchAll: async () => [], openWindow: async (url) => opened.push(url) },
  };
  const fetch = async (url, init) => {
    reports.push({ url, auth: init.headers.Authorization, body: JSON.parse(init.body) });
    return new Response(null, { status: 204 });
  };
  vm.runInNewContext(SW, { self, caches, fetch, URL, Response, AbortController, setTimeout, clearTimeout, console });
  async function fire(type, event) {
    const waits = [];
    listeners[type]({ ...event, waitUntil: (p) => waits.push(p) });
    await Promise.all(waits);
  }
  return { fire, shown, reports, opened };
}

function pushEvent(payload) {
  return { data: { text: () => (typeof payload === "string" ? payload : JSON.stringify(payload)) } };
}

test("a chat push: shown with its conversation's tag, delivered, then opened at the chat", async () => {
  const caches = fakeCaches();
  globalThis.caches = caches;
  await saveTokenForServiceWorker("tok-123");
  const sw = loadWorker(caches);

  await sw.fire("push", pushEvent({ push: 5, device: 7, title: "ana", body: "hi there", category: "chat", data: { conv: 12, seq: 3 } }));
  assert.equal(sw.shown.length, 1);
  assert.equal(sw.shown[0].title, "ana");
  assert.equal(sw.shown[0].options.body, "hi there");
  assert.equal(sw.shown[0].options.tag, "pipit-conv-12");
  assert.deepEqual(sw.reports, [{ url: "/v1/push/5/events", auth: "Bearer tok-123", body: { type: "delivered", device: 7 } }]);

  let closed = false;
  await sw.fire("notificationclick", { notification: { data: sw.shown[0].options.data, close: () => (closed = true) } });
  assert.ok(closed);
  assert.deepEqual(sw.reports[1].body, { type: "opened", device: 7 });
  assert.deepEqual(sw.opened, [`${ORIGIN}/#/c/12`]);
  delete globalThis.caches;
});

test("a push with a link: clicked, and only http(s) links are followed", async () => {
  const caches = fakeCaches();
  globalThis.caches = caches;
  await saveTokenForServiceWorker("tok-9");
  const sw = loadWorker(caches);

  await sw.fire("push", pushEvent({ push: 8, device: 2, title: "Sale", url: "https://shop.example.com/sale" }));
  await sw.fire("notificationclick", { notification: { data: sw.shown[0].options.data, close() {} } });
  assert.deepEqual(sw.reports.map((r) => r.body.type), ["delivered", "clicked"]);
  assert.deepEqual(sw.opened, ["https://shop.example.com/sale"]);

  await sw.fire("push", pushEvent({ push: 9, device: 2, title: "Evil", url: "javascript:alert(1)" }));
  await sw.fire("notificationclick", { notification: { data: sw.shown[1].options.data, close() {} } });
  assert.equal(sw.reports.at(-1).body.type, "opened", "an unsafe link counts as no link");
  assert.equal(sw.opened.at(-1), `${ORIGIN}/`);
  delete globalThis.caches;
});

test("other senders' pushes are left alone; signed out, nothing is reported", async () => {
  const caches = fakeCaches();
  globalThis.caches = caches;
  const sw = loadWorker(caches);
  await sw.fire("push", pushEvent("not json"));
  await sw.fire("push", pushEvent({ title: "no ids" }));
  assert.equal(sw.shown.length, 0);

  await saveTokenForServiceWorker(null);
  await sw.fire("push", pushEvent({ push: 1, device: 1, title: "still shown" }));
  assert.equal(sw.shown.length, 1);
  assert.equal(sw.reports.length, 0);
  delete globalThis.caches;
});
