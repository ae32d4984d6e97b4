/*
 * The admin REST routes the console uses, typed (docs/openapi.yaml and the admin
 * contract), on top of the SDK's `client.call`. One client per page, set at sign-in.
 * A 401 from any call means the session is over: the app is told (onSessionLost)
 * and shows the sign-in page instead of a wall of errors. A 403
 * `mfa_enrollment_required` (a policy that now covers this admin) takes it to the
 * enrolment (onEnrolmentNeeded).
 */
import { PipitError, type Client } from '@pipit/sdk';
import { securityErrorText } from '../shared/security-words';

let client: Client | null = null;
let sessionLost: (token: string | null) => void = () => {};
let enrolmentNeeded: () => void = () => {};

export function setClient(c: Client | null): void {
  client = c;
}

/** `fn` is told the token that was refused. */
export function onSessionLost(fn: (token: string | null) => void): void {
  sessionLost = fn;
}

/**
 * `fn` runs when the server refuses the console until this admin sets up
 * two-factor authentication (the app's policy now covers them).
 */
export function onEnrolmentNeeded(fn: () => void): void {
  enrolmentNeeded = fn;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const c = client;
  if (c === null) throw new PipitError(0, 'not_signed_in', 'not signed in');
  try {
    return await c.call<T>(method, path, body);
  } catch (err) {
    if (err instanceof PipitError && err.status === 401) sessionLost(c.token);
    if (err instanceof PipitError && err.code === 'mfa_enrollment_required') enrolmentNeeded();
    throw err;
  }
}

export function getMe() {
  return call<{ id: number; username: string; role: string; mfa_enabled?: boolean; mfa_required?: boolean }>('GET', '/v1/me');
}

function query(params: Record<string, string | number | null | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s === '' ? '' : `?${s}`;
}

/** Words for a person: the server's message, or what a local failure means. */
export function errorText(err: unknown): string {
  const security = securityErrorText(err);
  if (security !== null) return security;
  if (err instanceof PipitError) {
    if (err.code === 'timeout') return 'The server did not answer in time. Try again.';
    if (err.code === 'network') return 'Cannot reach the server. Check the connection and try again.';
    if (err.status === 404 && /no such route/i.test(err.message)) {
      return 'This server does not offer this feature yet (the route is missing).';
    }
    return err.message.charAt(0).toUpperCase() + err.message.slice(1);
  }
  return err instanceof Error ? err.message : String(err);
}

/* ------------------------------------------------------------------ users */

export interface AdminUser {
  id: number;
  username: string;
  display_name: string | null;
  role: 'user' | 'admin';
  created_at: number;
  disabled: boolean;
  disabled_at?: number | null;
  online: boolean;
  last_seen: number | null;
  /** Absent from a server without two-factor authentication. */
  mfa_enabled?: boolean;
}

export interface AdminSession {
  id: number;
  created_at: number;
  expires_at: number;
  online?: boolean;
  /** The name the app gave at login, if any. */
  device?: string | null;
  ip?: string | null;
  last_seen_at?: number | null;
}

export interface Page<T> {
  items: T[];
  next: number | null;
}

export async function listUsers(q: string, after: number | null, limit = 50): Promise<Page<AdminUser>> {
  const a = await call<{ users: AdminUser[]; next: number | null }>('GET', `/v1/admin/users${query({ q, after, limit })}`);
  return { items: a.users, next: a.next ?? null };
}

export function getUser(id: number) {
  return call<AdminUser>('GET', `/v1/admin/users/${id}`);
}

export function createUser(username: string, password: string, role: 'user' | 'admin') {
  return call<{ id: number; username: string; role: string }>('POST', '/v1/admin/users', { username, password, role });
}

export function patchUser(id: number, patch: Partial<Pick<AdminUser, 'disabled' | 'role' | 'display_name'>>) {
  return call<AdminUser>('PATCH', `/v1/admin/users/${id}`, patch);
}

export function setPassword(id: number, password: string) {
  return call<void>('POST', `/v1/admin/users/${id}/password`, { password });
}

export async function listSessions(id: number): Promise<AdminSession[]> {
  return (await call<{ sessions: AdminSession[] }>('GET', `/v1/admin/users/${id}/sessions`)).sessions;
}

export function revokeSession(user: number, session: number) {
  return call<void>('DELETE', `/v1/admin/users/${user}/sessions/${session}`);
}

export function revokeAllSessions(user: number) {
  return call<void>('DELETE', `/v1/admin/users/${user}/sessions`);
}

/** Turns the user's two-factor authentication off and ends their sessions (a lost phone). */
export function resetMfa(user: number) {
  return call<void>('DELETE', `/v1/admin/users/${user}/mfa`);
}

/* ------------------------------------------------------ the app's settings */

/** Who must use two-factor authentication: nobody, admins, or every user. */
export type MfaPolicy = 'off' | 'admins' | 'all';

export interface AppSettings {
  id: number;
  mfa_required?: MfaPolicy;
  max_file_size: number | null;
  max_file_size_default: number;
  [key: string]: unknown;
}

export function getApp() {
  return call<AppSettings>('GET', '/v1/admin/app');
}

export function patchApp(patch: { mfa_required?: MfaPolicy }) {
  return call<AppSettings>('PATCH', '/v1/admin/app', patch);
}

/* ---------------------------------------------------------- conversations */

export interface AdminConv {
  id: number;
  type: 'direct' | 'group' | string;
  title: string | null;
  members: number;
  last_seq: number;
  created_at: number;
  last_ts: number | null;
}

/** A member as the admin route lists it; `user` is an id or a {id, username}. */
export interface AdminMember {
  user: number | { id: number; username: string };
  username?: string;
  role: string;
  joined_seq?: number;
}

export function memberId(m: AdminMember): number {
  return typeof m.user === 'object' ? m.user.id : m.user;
}

export function memberName(m: AdminMember): string {
  return m.username ?? (typeof m.user === 'object' ? m.user.username : `user ${m.user}`);
}

export async function listConversations(q: string, after: number | null, limit = 50): Promise<Page<AdminConv>> {
  const a = await call<{ conversations: AdminConv[]; next: number | null }>(
    'GET',
    `/v1/admin/conversations${query({ q, after, limit })}`,
  );
  return { items: a.conversations, next: a.next ?? null };
}

export async function listConvMembers(id: number): Promise<AdminMember[]> {
  return (await call<{ members: AdminMember[] }>('GET', `/v1/admin/conversations/${id}/members`)).members;
}

export function deleteConversation(id: number) {
  return call<void>('DELETE', `/v1/admin/conversations/${id}`);
}

/* -------------------------------------------------------------- dashboard */

export interface Stats {
  ts: number;
  uptime_s?: number;
  connections: number;
  sessions: number;
  users?: number;
  conversations?: number;
  messages_total: number;
  pushes_total: number;
  push_sent_total?: number;
  store_bytes?: number;
}

export function getStats() {
  return call<Stats>('GET', '/v1/admin/stats');
}

/** The same numbers from /metrics, for a server without /v1/admin/stats. */
export async function statsFromMetrics(): Promise<Stats> {
  const res = await fetch('/metrics', { headers: { Accept: 'text/plain' } });
  if (!res.ok) throw new PipitError(res.status, 'metrics', `metrics answered ${res.status}`);
  const text = await res.text();
  const value = (name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : 0;
  };
  return {
    ts: Date.now(),
    connections: value('pipit_connections'),
    sessions: value('pipit_ws_sessions'),
    messages_total: value('pipit_chat_messages_total'),
    pushes_total: value('pipit_pushes_total'),
    push_sent_total: value('pipit_push_attempts_total{outcome="sent"}'),
  };
}

/* --------------------------------------------------------------- API keys */

export type Scope = 'push' | 'users' | 'admin';

export interface ApiKey {
  id: number;
  name: string;
  scopes: Scope[];
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export async function listKeys(): Promise<ApiKey[]> {
  return (await call<{ keys: ApiKey[] }>('GET', '/v1/admin/api-keys')).keys;
}

export function createKey(name: string, scopes: Scope[]) {
  return call<ApiKey & { key: string }>('POST', '/v1/admin/api-keys', { name, scopes });
}

export function revokeKey(id: number) {
  return call<void>('DELETE', `/v1/admin/api-keys/${id}`);
}

/* ------------------------------------------------------------------ push */

export interface Notification {
  title: string;
  body?: string;
  data?: Record<string, unknown>;
  url?: string;
  image?: string;
  category?: string;
  [key: string]: unknown;
}

export interface DeliveryCounts {
  queued: number;
  sent: number;
  failed: number;
  expired: number;
  suppressed: number;
  delivered: number;
  opened: number;
  clicked: number;
}

export interface PushCounts extends DeliveryCounts {
  targeted: number;
  suppressed_by: Record<string, number>;
  failed_by: Record<string, number>;
  by_channel: Record<string, DeliveryCounts>;
  by_variant?: Record<string, DeliveryCounts>;
}

export type PushTarget =
  | { users: (number | string)[] }
  | { topic: string }
  | { tags: Record<string, string> }
  | { all: true }
  | { conv: number; from: number };

export interface PushSummary {
  id: number;
  created_at: number;
  state: 'expanding' | 'done' | string;
  notification: { title: string };
  counts: PushCounts;
}

export interface Variant {
  name: string;
  weight: number;
  notification: Partial<Notification>;
}

/** One push as GET /v1/push/{id} answers: the optional fields are as sent, absent when not. */
export interface Push extends PushSummary {
  expires_at: number;
  to: PushTarget;
  notification: Notification;
  priority: 'high' | 'normal' | string;
  collapse_key?: string;
  /** ms since 1970 */
  send_at?: number;
  /** "2026-12-24T09:00", on each user's clock */
  send_at_local?: string;
  variants?: Variant[];
  holdout?: number;
}

export interface NewPush {
  to: PushTarget;
  notification: Notification;
  ttl?: number;
  priority?: 'high' | 'normal';
  collapse_key?: string;
  dedup_key?: string;
  send_at?: string;
  send_at_local?: string;
  variants?: Variant[];
  holdout?: number;
}

/** Newest first; `next` is the `before` of the next page (the last id), as a cursor like the other lists'. */
export async function listPushes(before: number | null, limit = 20): Promise<Page<PushSummary>> {
  const a = await call<{ pushes: PushSummary[]; has_more: boolean }>('GET', `/v1/push${query({ before, limit })}`);
  const last = a.pushes[a.pushes.length - 1];
  return { items: a.pushes, next: a.has_more && last ? last.id : null };
}

export function getPush(id: number) {
  return call<Push>('GET', `/v1/push/${id}`);
}

export function sendPush(push: NewPush) {
  return call<{ id: number; duplicate?: boolean }>('POST', '/v1/push', push);
}

export async function listCategories(): Promise<{ name: string; urgent: boolean }[]> {
  return (await call<{ categories: { name: string; urgent: boolean }[] }>('GET', '/v1/push/categories')).categories;
}

/* -------------------------------------------------------------- audit log */

export interface AuditRecord {
  id: number;
  ts: number;
  /** "user:1", "key:2", "system", "anonymous" or "cli" */
  actor: string;
  /** The username or key name at the time, when there is one. */
  actor_name: string | null;
  ip: string | null;
  action: string;
  /** "user:7", "conv:3", "api_key:2", … */
  target: string | null;
  /** "ok", or the error code the caller got. */
  outcome: string;
  detail: Record<string, unknown> | null;
  hash: string;
}

export interface AuditFilter {
  /** "user:<id>", "key:<id>", "system", "anonymous", "cli" or a username. */
  actor: string;
  action: string;
  /** ms, inclusive, or null for no bound */
  from: number | null;
  to: number | null;
}

export interface AuditVerdict {
  ok: boolean;
  records: number;
  checkpoints: number;
  public_key: string;
  /** With ok false: the first record that does not check out, and why. */
  record?: number;
  problem?: string;
}

/** Newest first; `before` is the `next` of the page before. */
export async function listAudit(f: AuditFilter, before: number | null, limit = 50): Promise<Page<AuditRecord>> {
  const a = await call<{ records: AuditRecord[]; next: number | null }>(
    'GET',
    `/v1/admin/audit${query({ actor: f.actor, action: f.action, from: f.from, to: f.to, before, limit })}`,
  );
  return { items: a.records, next: a.next ?? null };
}

export function verifyAudit() {
  return call<AuditVerdict>('GET', '/v1/admin/audit/verify');
}

/* ---------------------------------------------------------------- webhooks */

/** What a webhook can subscribe to; `*` stands for all of them, those added later included. */
export type WebhookEvent =
  | 'message.created'
  | 'message.edited'
  | 'message.recalled'
  | 'conversation.created'
  | 'member.joined'
  | 'member.left'
  | 'user.created'
  | 'push.finished'
  | 'push.opened'
  | 'push.clicked';

export interface Webhook {
  id: number;
  url: string;
  /** As given: event names, or ["*"] for all. */
  events: (WebhookEvent | '*')[];
  description: string | null;
  enabled: boolean;
  created_at: number;
  updated_at: number;
  /** Deliveries waiting or being sent. */
  queued: number;
  failed: number;
}

/** The answer to a create or a rotation: the only ones that hold the secret. */
export type WebhookWithSecret = Webhook & { secret: string };

export type DeliveryState = 'queued' | 'sending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: number;
  /** The event type, `ping` included. */
  event: string;
  state: DeliveryState;
  attempts: number;
  created_at: number;
  next_at: number | null;
  finished_at: number | null;
  /** The HTTP status of the last attempt; null when it got none (a timeout, a refused connection). */
  last_status: number | null;
  last_error: string | null;
}

export interface NewWebhook {
  url: string;
  events: (WebhookEvent | '*')[];
  description?: string;
  enabled?: boolean;
}

export type WebhookPatch = Partial<{
  url: string;
  events: (WebhookEvent | '*')[];
  description: string | null;
  enabled: boolean;
}>;

/** Newest first; `next` is the `before` of the next page. */
export async function listWebhooks(before: number | null, limit = 50): Promise<Page<Webhook>> {
  const a = await call<{ webhooks: Webhook[]; next: number | null }>('GET', `/v1/admin/webhooks${query({ before, limit })}`);
  return { items: a.webhooks, next: a.next ?? null };
}

export function getWebhook(id: number) {
  return call<Webhook>('GET', `/v1/admin/webhooks/${id}`);
}

export function createWebhook(hook: NewWebhook) {
  return call<WebhookWithSecret>('POST', '/v1/admin/webhooks', hook);
}

export function patchWebhook(id: number, patch: WebhookPatch) {
  return call<Webhook>('PATCH', `/v1/admin/webhooks/${id}`, patch);
}

export function deleteWebhook(id: number) {
  return call<void>('DELETE', `/v1/admin/webhooks/${id}`);
}

/** A new secret; the old one stops signing at once. */
export function rotateWebhookSecret(id: number) {
  return call<WebhookWithSecret>('POST', `/v1/admin/webhooks/${id}/secret`);
}

/** Queues a `ping` event to this webhook now; the answer names its delivery. */
export function pingWebhook(id: number) {
  return call<{ delivery: number }>('POST', `/v1/admin/webhooks/${id}/ping`);
}

/** Newest first, optionally of one state; `next` is the `before` of the next page. */
export async function listWebhookDeliveries(
  id: number,
  state: DeliveryState | '',
  before: number | null,
  limit = 50,
): Promise<Page<WebhookDelivery>> {
  const a = await call<{ deliveries: WebhookDelivery[]; next: number | null }>(
    'GET',
    `/v1/admin/webhooks/${id}/deliveries${query({ state, before, limit })}`,
  );
  return { items: a.deliveries, next: a.next ?? null };
}

/** Sends a failed delivery again: queued, due now, with a fresh retry window. */
export function retryWebhookDelivery(id: number, delivery: number) {
  return call<WebhookDelivery>('POST', `/v1/admin/webhooks/${id}/deliveries/${delivery}/retry`);
}

/**
 * A settings object the app may not have (the assistant, the before-send hook):
 * its GET answers 404 when there is none, which is null here. A 404 for the
 * route itself (an older server) stays an error.
 */
async function orNone<T>(get: Promise<T>): Promise<T | null> {
  try {
    return await get;
  } catch (err) {
    if (err instanceof PipitError && err.status === 404 && !/no such route/i.test(err.message)) return null;
    throw err;
  }
}

/* -------------------------------------------------------------------- bots */

/** A bot account: a user of the app that signs in with an API key of its own. */
export interface Bot {
  id: number;
  username: string;
  display_name: string | null;
  role: string;
  created_at: number;
  bot: true;
  /** Disabled for good by DELETE: signed out, its keys revoked, its webhook removed. */
  disabled: boolean;
  /** Its own webhook, told of the messages of its conversations; its deliveries are at /v1/admin/webhooks/{id}. */
  webhook: { id: number; url: string } | null;
}

/** The answer to a create or a new key: the only ones that hold the key (and, for a new webhook, its secret). */
export interface BotWithKey {
  bot: Bot;
  key: string;
  webhook_secret?: string;
}

export interface BotPatch {
  display_name?: string | null;
  /** A URL sets the bot's webhook (a new one answers with its secret); null removes it. */
  webhook_url?: string | null;
}

/** Oldest first; `next` is the `after` of the next page. */
export async function listBots(after: number | null, limit = 50): Promise<Page<Bot>> {
  const a = await call<{ bots: Bot[]; next: number | null }>('GET', `/v1/admin/bots${query({ after, limit })}`);
  return { items: a.bots, next: a.next ?? null };
}

export function createBot(bot: { username: string; display_name?: string; webhook_url?: string }) {
  return call<BotWithKey>('POST', '/v1/admin/bots', bot);
}

export function patchBot(id: number, patch: BotPatch) {
  return call<{ bot: Bot; webhook_secret?: string }>('PATCH', `/v1/admin/bots/${id}`, patch);
}

/** A new key; the bot's old ones stop working at once. */
export function newBotKey(id: number) {
  return call<BotWithKey>('POST', `/v1/admin/bots/${id}/key`);
}

/** Disables the bot for good: signed out, its keys revoked, its webhook deleted; its messages stay. */
export function disableBot(id: number) {
  return call<void>('DELETE', `/v1/admin/bots/${id}`);
}

/* ------------------------------------------------------------ AI assistant */

/** The app's assistant: a bot that answers with the app's own OpenAI-compatible endpoint. */
export interface Assistant {
  base_url: string;
  model: string;
  /** The key itself is never shown again. */
  has_api_key: boolean;
  system_prompt: string | null;
  context_messages: number;
  user_per_minute: number;
  app_per_minute: number;
  timeout_ms: number;
  enabled: boolean;
  updated_at: number;
  /** The bot it speaks as. */
  bot?: { id: number; username: string };
}

/** What a PUT sends; left-out fields keep their values. `api_key` null removes the key. */
export interface AssistantPut {
  base_url: string;
  model: string;
  api_key?: string | null;
  system_prompt?: string | null;
  context_messages?: number;
  user_per_minute?: number;
  app_per_minute?: number;
  timeout_ms?: number;
  enabled?: boolean;
  /** The bot's username, the first time only (default "assistant"). */
  username?: string;
}

/** The app's assistant, or null when it has none. */
export function getAssistant() {
  return orNone(call<Assistant>('GET', '/v1/admin/assistant'));
}

export function putAssistant(a: AssistantPut) {
  return call<Assistant>('PUT', '/v1/admin/assistant', a);
}

/** Its settings go; its bot and the bot's messages stay. */
export function deleteAssistant() {
  return call<void>('DELETE', '/v1/admin/assistant');
}

/* --------------------------------------------------------- before-send hook */

export type BeforeSendFallback = 'allow' | 'reject';

/** The app's before-send hook: asked about each new message before it is stored. */
export interface BeforeSend {
  url: string;
  timeout_ms: number;
  /** What a message gets when the hook cannot be asked in time. */
  fallback: BeforeSendFallback;
  updated_at: number;
}

/** The answer to the first PUT and to a rotation: the only ones that hold the secret. */
export type BeforeSendWithSecret = BeforeSend & { secret: string };

/** The app's hook, or null when it has none. */
export function getBeforeSend() {
  return orNone(call<BeforeSend>('GET', '/v1/admin/before-send'));
}

/** Sets or changes the hook; `secret` is in the answer only when the hook is new. */
export function putBeforeSend(hook: { url: string; timeout_ms?: number; fallback?: BeforeSendFallback }) {
  return call<BeforeSend & { secret?: string }>('PUT', '/v1/admin/before-send', hook);
}

/** Messages are no longer checked, at once. */
export function deleteBeforeSend() {
  return call<void>('DELETE', '/v1/admin/before-send');
}

/** A new secret; the old one stops signing at once. */
export function rotateBeforeSendSecret() {
  return call<BeforeSendWithSecret>('POST', '/v1/admin/before-send/secret');
}
