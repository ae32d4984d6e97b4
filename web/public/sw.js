/*
 * pipit's service worker, served as /sw.js: shows Web Push notifications and
 * reports them to the server.
 *
 * It is a plain file (web/public is copied, not bundled), so it cannot import
 * @pipit/sdk; it follows the SDK's receipt protocol (sdk/js/src/webpush.ts)
 * step by step instead:
 * - the payload is the push's notification plus `push`, `device`, `priority`;
 *   anything else is another sender's push and is left alone;
 * - chat pushes (data.conv) share one tag per conversation, so a burst shows
 *   as one notification;
 * - once shown: POST /v1/push/{push}/events {type:"delivered", device};
 *   on click: "clicked" when the push has a url (it implies opened), else
 *   "opened"; then focus a pipit window (or open one) at the target;
 * - the session token comes from CacheStorage, where the page keeps it with
 *   the SDK's saveTokenForServiceWorker() (same cache and key as the SDK).
 */
'use strict';

const TOKEN_CACHE = 'pipit-sdk';
const TOKEN_KEY = '/__pipit-sdk/session-token';
const REPORT_TIMEOUT_MS = 10000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function isId(x) {
  return Number.isSafeInteger(x) && x > 0;
}

function parsePayload(event) {
  if (!event.data) return null;
  let p;
  try {
    p = JSON.parse(event.data.text());
  } catch {
    return null;
  }
  if (!p || typeof p !== 'object' || !isId(p.push) || !isId(p.device) || typeof p.title !== 'string') return null;
  return p;
}

async function sessionToken() {
  const cache = await caches.open(TOKEN_CACHE);
  const response = await cache.match(TOKEN_KEY);
  return response ? response.text() : null;
}

async function report(push, device, type) {
  const token = await sessionToken();
  if (!token) return; // signed out since: nobody to report for
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REPORT_TIMEOUT_MS);
  try {
    await fetch(`/v1/push/${push}/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ type, device }),
      signal: controller.signal,
    });
  } catch {
    // A lost report costs one count in the funnel; the notification is shown all the same.
  } finally {
    clearTimeout(timer);
  }
}

/** Only http(s) links leave the app; anything else opens pipit itself. */
function safeUrl(url) {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url, self.location.origin);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

self.addEventListener('push', (event) => {
  const p = parsePayload(event);
  if (!p) return;
  const conv = p.data && isId(p.data.conv) ? p.data.conv : null;
  const options = {
    body: typeof p.body === 'string' ? p.body : undefined,
    icon: '/favicon.svg',
    data: { pipit: { push: p.push, device: p.device, url: safeUrl(p.url), conv } },
  };
  if (typeof p.image === 'string' && safeUrl(p.image)) options.image = p.image;
  if (conv !== null) {
    options.tag = `pipit-conv-${conv}`;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(p.title, options).then(() => report(p.push, p.device, 'delivered')));
});

async function focusOrOpen(target) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const same = windows.find((w) => w.url === target) || windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (same) {
    if (same.url !== target && 'navigate' in same && new URL(target).origin === self.location.origin) {
      await same.navigate(target).catch(() => undefined);
    }
    await same.focus();
    return;
  }
  await self.clients.openWindow(target);
}

self.addEventListener('notificationclick', (event) => {
  const d = event.notification.data && event.notification.data.pipit;
  if (!d) return;
  event.notification.close();
  const target = d.url || new URL(d.conv !== null ? `/#/c/${d.conv}` : '/', self.location.origin).href;
  event.waitUntil(Promise.all([report(d.push, d.device, d.url ? 'clicked' : 'opened'), focusOrOpen(target)]));
});

/* The browser replaced the subscription (expiry, key rotation): register the new one. */
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(
    (async () => {
      const token = await sessionToken();
      if (!token) return;
      let sub = event.newSubscription;
      if (!sub && event.oldSubscription) {
        sub = await self.registration.pushManager.subscribe(event.oldSubscription.options);
      }
      if (!sub) return;
      const json = sub.toJSON();
      await fetch('/v1/devices', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ platform: 'webpush', endpoint: json.endpoint, keys: json.keys }),
      });
    })().catch(() => undefined),
  );
});
