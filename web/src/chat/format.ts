/*
 * Formatting for the chat app: names, message previews, day labels, error words.
 * Pure functions, so components stay about layout.
 */
import { PipitError, type MessageBody, type MessageEvent } from '@pipit/sdk';
import { securityErrorText } from '../shared/security-words';

/** The text of a message body, or null when it is not a text message. */
export function bodyText(body: MessageBody | undefined): string | null {
  if (body === undefined || body.type !== 'text' || typeof body.text !== 'string') return null;
  return body.text;
}

/** One line for lists and quotes: the text, or what kind of thing it is. */
export function previewOf(msg: Pick<MessageEvent, 'body' | 'recalled' | 'deleted' | 'erased'>): string {
  if (msg.erased) return 'Message erased';
  if (msg.recalled) return 'Message recalled';
  if (msg.deleted) return 'Message deleted';
  const text = bodyText(msg.body);
  if (text !== null) return text.replace(/\s+/g, ' ').trim();
  return msg.body ? `[${msg.body.type}]` : 'Message';
}

const DAY_MS = 86_400_000;

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** "Today", "Yesterday", "Monday", "3 March", or "3 March 2024" for other years. */
export function dayLabel(ms: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / DAY_MS);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const d = new Date(ms);
  if (days > 1 && days < 7) return d.toLocaleDateString(undefined, { weekday: 'long' });
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return d.toLocaleDateString(undefined, sameYear ? { day: 'numeric', month: 'long' } : { day: 'numeric', month: 'long', year: 'numeric' });
}

export function sameDay(a: number, b: number): boolean {
  return startOfDay(a) === startOfDay(b);
}

export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
}

/** For the conversation list: "14:05" today, "Yesterday", "Mon" this week, else "3 Mar". */
export function listTime(ms: number, now = Date.now()): string {
  if (sameDay(ms, now)) return clockTime(ms);
  if (sameDay(ms, now - DAY_MS)) return 'Yesterday';
  const d = new Date(ms);
  if (now - ms < 6 * DAY_MS) return d.toLocaleDateString(undefined, { weekday: 'short' });
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return d.toLocaleDateString(undefined, sameYear ? { day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short', year: '2-digit' });
}

/** "last seen 14:05", "last seen yesterday", "last seen 3 Mar". */
export function lastSeen(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return 'offline';
  if (now - ms < 60_000) return 'last seen just now';
  if (sameDay(ms, now)) return `last seen ${clockTime(ms)}`;
  if (sameDay(ms, now - DAY_MS)) return 'last seen yesterday';
  return `last seen ${new Date(ms).toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}`;
}

/** "Ana", "Ana and Bo", "Ana, Bo and 3 others". */
export function nameList(names: string[], max = 3): string {
  if (names.length <= 1) return names[0] ?? '';
  if (names.length <= max) return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  const rest = names.length - (max - 1);
  return `${names.slice(0, max - 1).join(', ')} and ${rest} others`;
}

const ERROR_WORDS: Record<string, string> = {
  network: 'Cannot reach the server. Check your connection.',
  timeout: 'The server did not answer in time. Try again.',
  not_connected: 'Not connected yet. Try again in a moment.',
  disconnected: 'The connection dropped. Try again.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'Not found.',
  muted: 'You are muted in this conversation.',
  payload_too_large: 'That is too long to send.',
  rate_limited: 'Too many attempts. Wait a moment and try again.',
  unavailable: 'The server is busy. Try again shortly.',
  invalid_credentials: 'Wrong username or password.',
  registration_closed: 'Registration is closed on this server. Ask an admin for an account.',
  username_taken: 'That username is taken.',
  invalid_username: 'Usernames are 1 to 64 letters, digits, ".", "_" or "-".',
  weak_password: 'Passwords need at least 8 characters.',
  member_limit: 'The group is full.',
  unauthorized: 'Your session has ended. Sign in again.',
  account_disabled: 'This account is disabled. Ask an admin to enable it.',
};

/** Words for a person, from any thrown value; `recovery`: a code sent was a recovery code. */
export function errorText(err: unknown, recovery = false): string {
  const security = securityErrorText(err, recovery);
  if (security !== null) return security;
  if (err instanceof PipitError) {
    return ERROR_WORDS[err.code] ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
