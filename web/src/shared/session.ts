/*
 * The signed-in session, shared by the chat app (/) and the admin console
 * (/admin/): one token in localStorage under one key, and one SDK client per page.
 */
import { Client } from '@pipit/sdk';

const KEY = 'pipit.session';

export interface Session {
  token: string;
  userId: number;
  username: string;
  role: string;
}

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s === null) localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, JSON.stringify(s));
}

/**
 * Forgets the stored session if it is still the one with `token`. A page whose
 * token died must not sign out another tab that already holds a newer one (after
 * a password change there, say).
 */
export function clearSession(token: string): void {
  if (loadSession()?.token === token) saveSession(null);
}

let renewals = 0;

/**
 * Runs `renew`, which replaces this page's token (a password change). The server
 * ends the old token everywhere at once, so another tab may clear the stored
 * session before the new token is saved; isRenewing() tells the storage listener
 * to wait for it instead of signing this page out.
 */
export async function renewToken<T>(renew: () => Promise<T>): Promise<T> {
  renewals++;
  try {
    return await renew();
  } finally {
    renewals--;
  }
}

export function isRenewing(): boolean {
  return renewals > 0;
}

/** A name for this session in the user's session list: "Firefox on Linux". */
export function deviceName(ua = navigator.userAgent): string {
  const browser =
    /Edg\//.test(ua) ? 'Edge'
    : /OPR\//.test(ua) ? 'Opera'
    : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari'
    : 'A browser';
  const os =
    /iPhone|iPad|iPod/.test(ua) ? 'iOS'
    : /Android/.test(ua) ? 'Android'
    : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
    : /CrOS/.test(ua) ? 'ChromeOS'
    : /Linux/.test(ua) ? 'Linux'
    : '';
  return os ? `${browser} on ${os}` : browser;
}

/** A client for this page's own server. */
export function newClient(token: string | null = null): Client {
  return new Client({ url: location.origin, token });
}
