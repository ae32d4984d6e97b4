/**
 * Web Push for pipit, both sides of it.
 *
 * Page side: enableWebPush() registers the app's service worker, subscribes with
 * the server's VAPID key (GET /v1/push/vapid-public-key) and registers the
 * subscription as a device (POST /v1/devices, platform "webpush").
 *
 * Service-worker side: installPushHandlers() shows each push as a notification and
 * reports it to POST /v1/push/{push}/events with the payload's `device`:
 * `delivered` once shown, `clicked` (which implies `opened`) when the user follows
 * its url, `opened` when it has none. The payload is the push's notification with
 * `push`, `device` and `priority` added (openapi.yaml, "What a device receives").
 *
 * That route takes a user's session token, and a service worker cannot read the
 * page's storage: saveTokenForServiceWorker() keeps the token in CacheStorage, which
 * both sides of one origin share (call it after login, with null after logout).
 *
 * The browser APIs are typed structurally, so the pure helpers (base64url, payload
 * parsing, notification options) run and are tested in Node.
 */

import { LOCAL_CODES, PipitError, errorFromBody } from "./errors.js";
import type { Device, NewWebPushDevice, PushEventType, PushPriority } from "./types.js";

/* ========================================================== pure helpers */

/** Base64url (RFC 4648 §5), padding optional, to bytes. Throws on other characters. */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const trimmed = text.replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]*$/.test(trimmed) || trimmed.length % 4 === 1) {
    throw new TypeError("not base64url");
  }
  const binary = atob(trimmed.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((trimmed.length + 3) % 4));
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

/** Bytes to base64url without padding, as the server and PushSubscription use it. */
export function bytesToBase64Url(data: ArrayBuffer | Uint8Array): string {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let binary = "";
  for (const byte of bytes) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** What PushSubscription.toJSON() gives. */
export interface SubscriptionJSON {
  endpoint?: string;
  keys?: Record<string, string>;
}

/** The POST /v1/devices body for a browser subscription. */
export function subscriptionToDevice(sub: SubscriptionJSON): NewWebPushDevice {
  const p256dh = sub.keys?.p256dh;
  const auth = sub.keys?.auth;
  if (typeof sub.endpoint !== "string" || typeof p256dh !== "string" || typeof auth !== "string") {
    throw new TypeError("the subscription lacks endpoint, keys.p256dh or keys.auth");
  }
  return { platform: "webpush", endpoint: sub.endpoint, keys: { p256dh, auth } };
}

/** A push as the service worker receives it. */
export interface PushPayload {
  push: number;
  device: number;
  title: string;
  body?: string;
  url?: string;
  image?: string;
  category?: string;
  data?: Record<string, unknown>;
  priority?: PushPriority;
  [key: string]: unknown;
}

/** Parses a push's text; null when it is not a pipit payload (another sender's push). */
export function parsePushPayload(text: string | null | undefined): PushPayload | null {
  if (typeof text !== "string") {
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof json !== "object" || json === null) {
    return null;
  }
  const p = json as Record<string, unknown>;
  if (!Number.isSafeInteger(p.push) || !Number.isSafeInteger(p.device) || typeof p.title !== "string") {
    return null;
  }
  return p as PushPayload;
}

export interface NotificationLook {
  /** Small icon for every notification. */
  icon?: string;
  badge?: string;
}

/** What the notification remembers for the click: the ids to report and where to go. */
export interface NotificationData {
  pipit: { push: number; device: number; url: string | null; conv: number | null };
}

/**
 * showNotification() arguments for a payload. Chat pushes carry `data.conv`: they
 * share a tag per conversation, so a burst of messages shows as one notification.
 */
export function notificationFor(payload: PushPayload, look: NotificationLook = {}): {
  title: string;
  options: NotificationOptions & { image?: string };
} {
  const conv = typeof payload.data?.conv === "number" ? payload.data.conv : null;
  const data: NotificationData = {
    pipit: { push: payload.push, device: payload.device, url: payload.url ?? null, conv },
  };
  const options: NotificationOptions & { image?: string } = { data };
  if (payload.body !== undefined) options.body = payload.body;
  if (payload.image !== undefined) options.image = payload.image;
  if (look.icon !== undefined) options.icon = look.icon;
  if (look.badge !== undefined) options.badge = look.badge;
  if (conv !== null) options.tag = `pipit-conv-${conv}`;
  return { title: payload.title, options };
}

/* ============================================================= page side */

/** The Client methods this module uses. */
export interface WebPushApi {
  vapidPublicKey(): Promise<string>;
  registerDevice(device: NewWebPushDevice): Promise<Device>;
  deleteDevice(id: number): Promise<void>;
}

export interface EnableWebPushOptions {
  /** URL of the app's service worker script, e.g. "/sw.js". */
  serviceWorkerPath: string;
  scope?: string;
  /** "module" when the worker script uses import. */
  type?: WorkerType;
  /** How long to wait for the worker to become active, in ms. Default 10000. */
  activationTimeoutMs?: number;
}

export interface WebPushSetup {
  device: Device;
  subscription: PushSubscription;
  registration: ServiceWorkerRegistration;
}

function unsupported(what: string): PipitError {
  return new PipitError(0, LOCAL_CODES.unsupported, `${what} is not available here`);
}

/**
 * Subscribes this browser and registers it as a device. Call it from a user
 * gesture (a click): some browsers ask for permission only then. Safe to call
 * again: a subscription made with the same key is reused and registered again,
 * which the server treats as the same device.
 */
export async function enableWebPush(client: WebPushApi, options: EnableWebPushOptions): Promise<WebPushSetup> {
  const nav = globalThis.navigator as Navigator | undefined;
  if (nav?.serviceWorker === undefined || typeof PushManager === "undefined") {
    throw unsupported("Web Push");
  }
  await askPermission();
  const registration = await nav.serviceWorker.register(options.serviceWorkerPath, {
    ...(options.scope !== undefined ? { scope: options.scope } : {}),
    ...(options.type !== undefined ? { type: options.type } : {}),
  });
  // Subscribing needs an active worker; a first registration is still installing.
  await waitActive(registration, options.activationTimeoutMs ?? 10_000);
  const key = base64UrlToBytes(await client.vapidPublicKey());
  const subscription = await subscribe(registration.pushManager, key);
  const device = await client.registerDevice(subscriptionToDevice(subscription.toJSON()));
  return { device, subscription, registration };
}

/** Unsubscribes this browser and forgets the device on the server. */
export async function disableWebPush(client: WebPushApi, setup: WebPushSetup): Promise<void> {
  await setup.subscription.unsubscribe();
  await client.deleteDevice(setup.device.id);
}

async function askPermission(): Promise<void> {
  if (typeof Notification === "undefined") {
    throw unsupported("Notification");
  }
  const permission =
    Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
  if (permission !== "granted") {
    throw new PipitError(0, LOCAL_CODES.permissionDenied, "the user did not allow notifications");
  }
}

function waitActive(registration: ServiceWorkerRegistration, timeoutMs: number): Promise<void> {
  const worker = registration.installing ?? registration.waiting;
  if (registration.active !== null || worker === null) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.removeEventListener("statechange", onChange);
      reject(new PipitError(0, LOCAL_CODES.timeout, "the service worker did not activate in time"));
    }, timeoutMs);
    function onChange(): void {
      if (worker?.state === "activated" || worker?.state === "redundant") {
        clearTimeout(timer);
        worker.removeEventListener("statechange", onChange);
        resolve();
      }
    }
    worker.addEventListener("statechange", onChange);
  });
}

/** Reuses a subscription made with this key; one made with another is replaced. */
async function subscribe(manager: PushManager, key: Uint8Array<ArrayBuffer>): Promise<PushSubscription> {
  const existing = await manager.getSubscription();
  if (existing !== null) {
    const existingKey = existing.options.applicationServerKey;
    if (existingKey !== null && sameBytes(new Uint8Array(existingKey), key)) {
      return existing;
    }
    await existing.unsubscribe();
  }
  return manager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
}

/* ========================================== the token, shared with the worker */

const TOKEN_CACHE = "pipit-sdk";
const TOKEN_KEY = "/__pipit-sdk/session-token";

/** Keeps the session token where the service worker can read it; null removes it. */
export async function saveTokenForServiceWorker(token: string | null): Promise<void> {
  if (typeof caches === "undefined") {
    throw unsupported("CacheStorage");
  }
  const cache = await caches.open(TOKEN_CACHE);
  if (token === null) {
    await cache.delete(TOKEN_KEY);
  } else {
    await cache.put(TOKEN_KEY, new Response(token, { headers: { "Content-Type": "text/plain" } }));
  }
}

/** The token saveTokenForServiceWorker() kept, or null. */
export async function tokenForServiceWorker(): Promise<string | null> {
  if (typeof caches === "undefined") {
    return null;
  }
  const cache = await caches.open(TOKEN_CACHE);
  const response = await cache.match(TOKEN_KEY);
  return response === undefined ? null : response.text();
}

/* ======================================================= service-worker side */

interface ExtendableEventLike {
  waitUntil(promise: Promise<unknown>): void;
}

interface PushEventLike extends ExtendableEventLike {
  readonly data: { text(): string } | null;
}

interface NotificationClickLike extends ExtendableEventLike {
  readonly notification: { readonly data: unknown; close(): void };
}

interface WindowClientLike {
  readonly url: string;
  focus(): Promise<unknown>;
}

/** The parts of ServiceWorkerGlobalScope the handlers use. */
export interface ServiceWorkerScopeLike {
  readonly registration: { showNotification(title: string, options?: NotificationOptions): Promise<void> };
  readonly clients: {
    matchAll(options?: { type?: "window"; includeUncontrolled?: boolean }): Promise<readonly unknown[]>;
    openWindow(url: string): Promise<unknown>;
  };
  addEventListener(type: "push" | "notificationclick", listener: (event: any) => void): void;
}

export interface PushHandlerOptions extends NotificationLook {
  /** The pipit server's HTTP base URL. */
  url: string;
  /** Where to find the session token; default tokenForServiceWorker(). */
  getToken?: () => Promise<string | null>;
  /** Where a click goes when the push has no url; default "/" (chat pushes: your app's route). */
  urlFor?: (data: NotificationData["pipit"]) => string;
  /** Timeout of each report, in ms. Default 10000. */
  timeoutMs?: number;
  /** Called with a report that failed (the notification is shown all the same). */
  onError?: (error: unknown) => void;
}

/** POST /v1/push/{push}/events for one device delivery. */
export async function reportDeviceEvent(
  options: PushHandlerOptions,
  push: number,
  device: number,
  type: PushEventType,
): Promise<void> {
  const token = await (options.getToken ?? tokenForServiceWorker)();
  if (token === null) {
    throw new PipitError(401, "unauthorized", "no session token in the service worker");
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000);
  try {
    const response = await fetch(`${options.url.replace(/\/+$/, "")}/v1/push/${push}/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ type, device }),
      signal: controller.signal,
    });
    if (response.status !== 204) {
      const text = await response.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        // errorFromBody says the answer was not the error envelope
      }
      throw errorFromBody(response.status, body);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The `push` handler: show, then report `delivered`. */
export function handlePush(scope: ServiceWorkerScopeLike, event: PushEventLike, options: PushHandlerOptions): void {
  const payload = parsePushPayload(event.data?.text());
  if (payload === null) {
    return; // not ours; another library's handler may show it
  }
  const { title, options: shown } = notificationFor(payload, options);
  event.waitUntil(
    scope.registration.showNotification(title, shown).then(() =>
      reportDeviceEvent(options, payload.push, payload.device, "delivered").catch((err: unknown) => options.onError?.(err)),
    ),
  );
}

/** The `notificationclick` handler: report, then focus the app or open the url. */
export function handleNotificationClick(
  scope: ServiceWorkerScopeLike,
  event: NotificationClickLike,
  options: PushHandlerOptions,
): void {
  const data = (event.notification.data as Partial<NotificationData> | null)?.pipit;
  if (data === undefined) {
    return;
  }
  event.notification.close();
  const target = data.url ?? (options.urlFor ?? (() => "/"))(data);
  const type: PushEventType = data.url !== null ? "clicked" : "opened";
  const report = reportDeviceEvent(options, data.push, data.device, type).catch((err: unknown) =>
    options.onError?.(err),
  );
  event.waitUntil(Promise.all([report, focusOrOpen(scope, target)]));
}

async function focusOrOpen(scope: ServiceWorkerScopeLike, target: string): Promise<void> {
  const windows = (await scope.clients.matchAll({ type: "window", includeUncontrolled: true })) as WindowClientLike[];
  const same = windows.find((w) => w.url === new URL(target, w.url).href);
  if (same !== undefined) {
    await same.focus();
  } else {
    await scope.clients.openWindow(target);
  }
}

/** In the service worker script: `installPushHandlers(self, { url: "https://chat.example.com" })`. */
export function installPushHandlers(scope: ServiceWorkerScopeLike, options: PushHandlerOptions): void {
  scope.addEventListener("push", (event: PushEventLike) => handlePush(scope, event, options));
  scope.addEventListener("notificationclick", (event: NotificationClickLike) =>
    handleNotificationClick(scope, event, options),
  );
}
