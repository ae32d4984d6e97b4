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

/** A client for this page's own server. */
export function newClient(token: string | null = null): Client {
  return new Client({ url: location.origin, token });
}
