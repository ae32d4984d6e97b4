/*
 * Browser notifications (Web Push) through the SDK's helper and /sw.js.
 *
 * The service worker reports each push as delivered/opened with the session
 * token it finds in CacheStorage, so the token is saved there when the user
 * enables notifications, refreshed at each sign-in while they stay enabled, and
 * removed at sign-out.
 */
import { PipitError, type Client } from '@pipit/sdk';
import { enableWebPush, saveTokenForServiceWorker } from '@pipit/sdk/webpush';

const FLAG = 'pipit.webpush';

export type PushState = 'unsupported' | 'denied' | 'default' | 'granted';

export function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export function pushState(): PushState {
  if (!pushSupported()) return 'unsupported';
  return Notification.permission as PushState;
}

/** True once this browser was registered as a device (it may since have been revoked). */
export function pushEnabledHere(): boolean {
  return localStorage.getItem(FLAG) === '1';
}

/** Subscribes this browser; throws an Error whose message is meant for the user. */
export async function enablePush(client: Client): Promise<void> {
  if (!pushSupported()) throw new Error('This browser cannot show push notifications.');
  try {
    await saveTokenForServiceWorker(client.token);
    await enableWebPush(client, { serviceWorkerPath: '/sw.js' });
    localStorage.setItem(FLAG, '1');
  } catch (err) {
    throw new Error(pushErrorText(err));
  }
}

function pushErrorText(err: unknown): string {
  if (err instanceof PipitError) {
    if (err.code === 'permission_denied') {
      return 'Notifications are blocked for this site. Allow them in the browser’s site settings, then try again.';
    }
    if (err.code === 'unsupported') return 'This browser cannot show push notifications.';
    if (err.code === 'timeout') return 'The notification service worker did not start in time. Reload the page and try again.';
    return `The server refused this browser: ${err.message}`;
  }
  const name = err instanceof DOMException ? err.name : '';
  if (name === 'AbortError' || name === 'NotSupportedError' || name === 'InvalidStateError') {
    // Chromium without access to its push service (offline, blocked, sandboxed) ends here.
    return 'This browser could not reach its push service, so notifications cannot be turned on here. In-app notifications still work while pipit is open.';
  }
  if (name === 'NotAllowedError') {
    return 'Notifications are blocked for this site. Allow them in the browser’s site settings, then try again.';
  }
  return `Could not turn on notifications: ${err instanceof Error ? err.message : String(err)}`;
}

/** At sign-in: the worker reports with the new token. */
export async function refreshPushToken(token: string | null): Promise<void> {
  if (!pushEnabledHere() || typeof caches === 'undefined') return;
  await saveTokenForServiceWorker(token).catch(() => undefined);
}

/** At sign-out: the worker must not report with a dead token. */
export async function forgetPushToken(): Promise<void> {
  if (typeof caches === 'undefined') return;
  await saveTokenForServiceWorker(null).catch(() => undefined);
}
