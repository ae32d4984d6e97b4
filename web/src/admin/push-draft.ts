/*
 * The push composer's form state and its translation into a `POST /v1/push`
 * body. Validation mirrors the server's rules (docs/openapi.yaml, POST /v1/push)
 * so mistakes show next to the field before anything is sent; the server still
 * has the last word and its message is shown if it disagrees.
 */
import type { NewPush, Notification, PushTarget } from './api';

export type TargetKind = 'users' | 'topic' | 'tags' | 'all';
export type ScheduleKind = 'now' | 'at' | 'local';
export type TtlUnit = 'seconds' | 'minutes' | 'hours' | 'days';

export interface DraftVariant {
  key: number; // stable identity for the list, not sent
  name: string;
  weight: string;
  title: string;
  body: string;
}

export interface Draft {
  target: TargetKind;
  users: string;
  topic: string;
  tags: { key: number; name: string; value: string }[];
  title: string;
  body: string;
  url: string;
  image: string;
  category: string;
  data: string;
  schedule: ScheduleKind;
  at: string;
  local: string;
  ttl: string;
  ttlUnit: TtlUnit;
  priority: 'normal' | 'high';
  collapseKey: string;
  variants: DraftVariant[];
  holdout: string;
}

export const MAX_VARIANTS = 5;
export const MAX_TAGS = 5;
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const UNIT_SECONDS: Record<TtlUnit, number> = { seconds: 1, minutes: 60, hours: 3600, days: 86400 };
const MAX_TTL = 2419200;
const MAX_AHEAD_MS = 30 * 86400_000;

let nextKey = 1;
export const newKey = () => nextKey++;

export function emptyDraft(): Draft {
  return {
    target: 'users',
    users: '',
    topic: '',
    tags: [{ key: newKey(), name: '', value: '' }],
    title: '',
    body: '',
    url: '',
    image: '',
    category: '',
    data: '',
    schedule: 'now',
    at: '',
    local: '',
    ttl: '1',
    ttlUnit: 'days',
    priority: 'normal',
    collapseKey: '',
    variants: [],
    holdout: '0',
  };
}

const utf8 = new TextEncoder();
export const byteLength = (s: string) => utf8.encode(s).length;

/** "42, bob  7" → [42, "bob", 7]: digits are ids, anything else a username. */
export function parseUsers(text: string): (number | string)[] {
  return text
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((t) => (/^\d{1,15}$/.test(t) ? Number(t) : t));
}

export function parseData(text: string): { value?: Record<string, unknown>; error?: string } {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `Not valid JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'Data must be a JSON object, like {"order": 5521}.' };
  }
  if (byteLength(JSON.stringify(value)) > 3072) return { error: 'Data is over 3072 bytes as compact JSON.' };
  return { value: value as Record<string, unknown> };
}

/** A datetime-local value ("2026-12-24T09:00", the browser's zone) as RFC 3339 UTC without fractions. */
export function localInputToRfc3339(value: string): string | null {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Now, as a datetime-local value in the browser's zone (for the inputs' min). */
export function dateTimeLocal(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function latestSchedule(now = Date.now()): string {
  return dateTimeLocal(now + MAX_AHEAD_MS - 86400_000);
}

export function ttlSeconds(d: Draft): number {
  return Math.round(Number(d.ttl) * UNIT_SECONDS[d.ttlUnit]);
}

/** What a variant's user sees: the base notification with the variant's overrides. */
export function notificationFor(d: Draft, variant: DraftVariant | null): Notification {
  const n: Notification = { title: d.title.trim() };
  if (d.body.trim()) n.body = d.body;
  if (d.url.trim()) n.url = d.url.trim();
  if (d.image.trim()) n.image = d.image.trim();
  if (d.category.trim()) n.category = d.category.trim();
  if (variant) {
    if (variant.title.trim()) n.title = variant.title.trim();
    if (variant.body.trim()) n.body = variant.body;
  }
  return n;
}

export function variantWeight(v: DraftVariant): number {
  const w = Number(v.weight);
  return Number.isInteger(w) && w >= 1 && w <= 1000 ? w : 0;
}

export function holdoutWeight(d: Draft): number {
  const w = Number(d.holdout);
  return Number.isInteger(w) && w >= 0 && w <= 1000 ? w : 0;
}

function target(d: Draft, errors: Record<string, string>): PushTarget | null {
  switch (d.target) {
    case 'users': {
      const users = parseUsers(d.users);
      if (users.length === 0) errors.users = 'List at least one user id or username.';
      else if (users.length > 10000) errors.users = 'At most 10000 users per push.';
      return { users };
    }
    case 'topic':
      if (!NAME_RE.test(d.topic.trim())) errors.topic = 'A topic is 1 to 64 of A–Z a–z 0–9 _ . -';
      return { topic: d.topic.trim() };
    case 'tags': {
      const tags: Record<string, string> = {};
      for (const t of d.tags) {
        if (t.name.trim() === '' && t.value === '') continue;
        if (t.name.trim() === '') errors.tags = 'Every tag needs a name.';
        tags[t.name.trim()] = t.value;
      }
      if (Object.keys(tags).length === 0) errors.tags = 'Add at least one tag name and value.';
      return { tags };
    }
    case 'all':
      return { all: true };
  }
}

function schedule(d: Draft, push: NewPush, errors: Record<string, string>, now: number): void {
  if (d.schedule === 'at') {
    const at = localInputToRfc3339(d.at);
    if (at === null) errors.at = 'Pick a date and time.';
    else if (Date.parse(at) - now > MAX_AHEAD_MS) errors.at = 'At most 30 days ahead.';
    else push.send_at = at;
  } else if (d.schedule === 'local') {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(d.local)) errors.local = 'Pick a date and time.';
    else push.send_at_local = d.local;
  }
}

function variants(d: Draft, push: NewPush, errors: Record<string, string>): void {
  if (d.variants.length === 0) return;
  const seen = new Set<string>();
  push.variants = d.variants.map((v, i) => {
    const name = v.name.trim();
    if (!NAME_RE.test(name) || name === 'holdout' || name === 'none') {
      errors[`variant${i}`] = 'Name: 1 to 64 of A–Z a–z 0–9 _ . - (not “holdout” or “none”).';
    } else if (seen.has(name)) errors[`variant${i}`] = 'Names must differ.';
    else if (variantWeight(v) === 0) errors[`variant${i}`] = 'Weight is a whole number from 1 to 1000.';
    seen.add(name);
    const over: Partial<Notification> = {};
    if (v.title.trim()) over.title = v.title.trim();
    if (v.body.trim()) over.body = v.body;
    return { name, weight: variantWeight(v), notification: over };
  });
  const h = Number(d.holdout);
  if (!Number.isInteger(h) || h < 0 || h > 1000) errors.holdout = 'Holdout is a whole number from 0 to 1000.';
  else if (h > 0) push.holdout = h;
}

/** The request body, or the errors by field name (empty when valid). */
export function buildPush(d: Draft, now = Date.now()): { push: NewPush; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const to = target(d, errors) ?? { all: true as const };
  const notification = notificationFor(d, null);
  if (notification.title === '') errors.title = 'A title is required.';
  else if (byteLength(notification.title) > 256) errors.title = 'At most 256 bytes.';
  if (byteLength(d.body) > 4096) errors.body = 'At most 4096 bytes.';
  if (d.category.trim() && !NAME_RE.test(d.category.trim())) errors.category = '1 to 64 of A–Z a–z 0–9 _ . -';
  for (const f of ['url', 'image'] as const) {
    if (byteLength(d[f]) > 2048) errors[f] = 'At most 2048 bytes.';
  }
  const data = parseData(d.data);
  if (data.error) errors.data = data.error;
  else if (data.value) notification.data = data.value;

  const push: NewPush = { to, notification };
  const ttl = ttlSeconds(d);
  if (!Number.isFinite(ttl) || ttl < 0 || ttl > MAX_TTL || d.ttl.trim() === '') {
    errors.ttl = 'From 0 seconds to 28 days.';
  } else if (ttl !== 86400) push.ttl = ttl;
  if (d.priority === 'high') push.priority = 'high';
  if (byteLength(d.collapseKey) > 64) errors.collapseKey = 'At most 64 bytes.';
  else if (d.collapseKey.trim()) push.collapse_key = d.collapseKey.trim();
  schedule(d, push, errors, now);
  variants(d, push, errors);
  return { push, errors };
}
