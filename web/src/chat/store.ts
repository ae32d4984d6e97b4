/*
 * The chat app's state: conversations, the timelines the user opened, members
 * and their read positions, presence, typing, the messages on their way out, and
 * in-app notifications. It owns the SDK client and turns its events into state.
 *
 * How the pieces stay consistent:
 * - The conversation list comes from GET /v1/conversations, and the SDK's synced
 *   seqs are seeded from each `last_seq` before connecting, so a fresh page gets
 *   only what is new, not every conversation's whole history.
 * - A timeline exists only for conversations the user opened: its newest page
 *   comes from REST, older pages as they scroll up. The SDK's events (once each,
 *   in seq order) extend it; an event whose seq is already held is skipped. Pages
 *   fetched newest-first show each message in its current state, so the edit and
 *   recall events inside them are not applied again (they could be stale).
 * - Unread counts come from the server's conversation objects; a live message
 *   adds one only when its seq is beyond the conversation's known `last_seq`
 *   (a sync's events are already counted in the object that precedes them).
 * - Own messages show at once from a pending copy keyed by cmid; the message
 *   event with that cmid replaces it, `send_failed` marks it failed.
 * - Attachments upload first (`uploads`, with progress; they live here, not in
 *   the composer, so switching chats does not lose them), then go out as a
 *   file message through the same pending/outbox path as text.
 * - `target` is a message a search result asked to show; the timeline loads
 *   older pages until it holds it, then scrolls there.
 * - A streaming message (a bot's answer being written) grows with `stream`
 *   events, which have no seq: they change the held message's text (append or
 *   replace) and the list's preview, and are not replayed. Chunks missed (while a
 *   page loaded, or while offline) are caught up by fetching the message again;
 *   the final `edit` (`streamed: true`) brings the whole text in any case, and
 *   does not mark the message edited.
 *
 * Views subscribe with useStore(): every change bumps `version`, coalesced to
 * one notification per microtask so a sync burst renders once.
 */
import {
  PipitError,
  fileMessageBody,
  revokeFileObjectUrls,
  uploadFile,
  type Client,
  type ConvChanges,
  type Conversation,
  type EditEvent,
  type Member,
  type MemberEvent,
  type Mentions,
  type MessageBody,
  type MessageEvent,
  type NotificationEvent,
  type NotificationSettings,
  type StreamEvent,
  type TimelineEvent,
  type UserRef,
} from '@pipit/sdk';
import { newClient, renewToken, type Session } from '../shared/session';
import { bytes, toast } from '../shared/ui';
import { errorText } from './format';
import { refreshPushToken } from './push';

export interface UserInfo extends UserRef {
  display_name?: string | null;
}

export interface PendingMessage {
  cmid: string;
  conv: number;
  body: MessageBody;
  reply_to?: number;
  mentions?: Mentions;
  ts: number;
  state: 'sending' | 'sent' | 'failed';
  error?: string;
}

export interface Timeline {
  /** Displayed events by seq: messages (in their current state), member and group events. */
  items: Map<number, TimelineEvent>;
  /** Lowest seq fetched; everything from here up is held. */
  oldest: number;
  hasOlder: boolean;
  status: 'loading' | 'ready' | 'error';
  loadingOlder: boolean;
  error: string | null;
  /** Bumped on every change, so views can memoise on it. */
  rev: number;
  /** Live events that came while the first page loaded; applied after it. */
  buffer: TimelineEvent[];
  /** Streaming messages that got chunks while the first page loaded: fetched again after it. */
  streamsMissed: Set<number>;
}

/** A file on its way up, shown in the composer of its conversation. */
export interface Upload {
  key: string;
  conv: number;
  name: string;
  size: number;
  /** Bytes sent so far. */
  loaded: number;
  state: 'uploading' | 'failed';
  error: string | null;
  /** False when trying again cannot help (too large). */
  retryable: boolean;
  file: Blob;
  /** A blob: URL of the picture itself, for the chip's preview; null for other files. */
  preview: string | null;
  controller: AbortController;
}

/** A message to scroll to once its timeline holds it (from a search result). */
export interface Target {
  conv: number;
  seq: number;
}

export interface InAppNotification {
  key: number;
  event: NotificationEvent;
}

export type Connection = 'connecting' | 'syncing' | 'ready' | 'offline';

const PAGE = 50;
const TYPING_SHOWN_MS = 6000;
const MEMBER_PREFETCH_MAX = 40; // groups whose members are loaded up front, for sender names

type Listener = () => void;

export class ChatStore {
  readonly client: Client;
  readonly me: UserInfo;

  version = 0;
  connection: Connection = 'connecting';
  /** Set when the session is over (logged out elsewhere, token expired). */
  ended: string | null = null;
  /**
   * The app requires two-factor authentication of this user and they have none:
   * the server refuses the chat until they enrol, so the app shows the enrolment.
   */
  mfaEnrollment = false;
  listStatus: 'loading' | 'ready' | 'error' = 'loading';
  listError: string | null = null;

  convs = new Map<number, Conversation>();
  timelines = new Map<number, Timeline>();
  members = new Map<number, Map<number, Member>>();
  /** Why a member list could not be loaded, by conversation. */
  membersError = new Map<number, string>();
  users = new Map<number, UserInfo>();
  presence = new Map<number, boolean>();
  typing = new Map<number, Map<number, number>>();
  pending = new Map<string, PendingMessage>();
  uploads = new Map<string, Upload>();
  target: Target | null = null;
  notifications: InAppNotification[] = [];
  /** Notification settings (GET/PUT /v1/me/notification-settings); null until loaded. */
  settings: NotificationSettings | null = null;
  settingsError: string | null = null;
  /** The conversation on screen, for mark-as-read. */
  openConv: number | null = null;
  /** Conversations we left or lost while the page was open: no use asking the server. */
  gone = new Set<number>();

  private listeners = new Set<Listener>();
  private notifyQueued = false;
  private offs: (() => void)[] = [];
  private fetchingConv = new Map<number, Promise<void>>();
  private fetchingMembers = new Map<number, Promise<void>>();
  private readTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private nextNotification = 1;
  private nextUpload = 1;
  /** Stream chunks seen per message ("conv:seq"), so a refetch knows when it raced one. */
  private streamChunks = new Map<string, number>();
  /** The connection is a reconnect: chunks may have been missed while offline. */
  private resumed = false;
  private stopped = false;
  /** A password change is replacing the token: a 401 meanwhile is the old token's, not the end. */
  private renewing = false;
  /** Where unsent messages wait across reloads (the SDK's outbox lives in memory). */
  private readonly outboxKey: string;
  /** Told of a token this page got in place of its own (a password change), to store it. */
  private readonly onToken: (token: string) => void;

  constructor(session: Session, onToken: (token: string) => void = () => {}) {
    this.onToken = onToken;
    this.client = newClient(session.token);
    this.me = { id: session.userId, username: session.username };
    this.users.set(this.me.id, this.me);
    this.outboxKey = `pipit.outbox.${session.userId}`;
  }

  /* ============================================================ subscription */

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  private changed(): void {
    this.version++;
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      this.listeners.forEach((fn) => fn());
    });
  }

  /* =============================================================== lifecycle */

  /** Loads the list, then opens the realtime session. */
  async start(): Promise<void> {
    this.wireEvents();
    this.restorePending();
    void this.loadMe();
    await this.loadList();
    if (this.stopped || this.ended || this.mfaEnrollment) return;
    this.client.connect(15_000).catch((err: unknown) => {
      // It keeps trying in the background; the status chip says so.
      if (err instanceof PipitError && err.code === 'unauthorized') this.endSession(errorText(err));
    });
    this.prefetchGroupMembers();
    void this.loadSettings();
  }

  stop(): void {
    this.stopped = true;
    this.offs.forEach((off) => off());
    this.offs = [];
    this.client.close();
    for (const t of [this.readTimer, this.refreshTimer, this.typingTimer]) if (t) clearTimeout(t);
    for (const key of [...this.uploads.keys()]) this.cancelUpload(key);
    revokeFileObjectUrls(this.client);
  }

  private async loadMe(): Promise<void> {
    try {
      const me = await this.client.me();
      this.me.display_name = me.display_name;
      this.users.set(me.id, { ...this.me });
      // Required by a policy set after this session began: the app asks for it now too.
      if (me.mfa_required && !me.mfa_enabled) this.needEnrollment();
      this.changed();
    } catch {
      // The name shown falls back to the username; the list load reports real failures.
    }
  }

  async loadList(): Promise<void> {
    try {
      const list = await this.client.listConversations();
      const seqs: Record<string, number> = {};
      for (const c of list) {
        seqs[String(c.id)] = c.last_seq;
        // A live event may have overtaken this answer: keep the newer summary.
        const known = this.convs.get(c.id);
        if (!known || known.last_seq <= c.last_seq) this.putConv(c);
      }
      this.client.setSyncedSeqs(seqs);
      this.listStatus = 'ready';
      this.listError = null;
    } catch (err) {
      if (err instanceof PipitError && err.code === 'unauthorized') {
        this.endSession(errorText(err));
        return;
      }
      if (err instanceof PipitError && err.code === 'mfa_enrollment_required') {
        this.needEnrollment();
        return;
      }
      this.listStatus = this.convs.size > 0 ? 'ready' : 'error';
      this.listError = errorText(err);
    }
    this.changed();
  }

  /** Read positions and unread counts move without events (another device read): refresh. */
  private refreshListSoon(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.loadList();
    }, 400);
  }

  private endSession(reason: string): void {
    if (this.ended || this.renewing) return;
    this.ended = reason;
    this.client.close();
    this.changed();
  }

  private needEnrollment(): void {
    if (this.mfaEnrollment) return;
    this.mfaEnrollment = true;
    this.client.close();
    this.changed();
  }

  /**
   * Changes the password. The server ends every session, this one too, and
   * answers with a new token: the client takes it and reconnects, and the page
   * stores it (onToken), so the chat goes on. Throws for the form to show.
   */
  async changePassword(current: string, next: string): Promise<void> {
    this.renewing = true;
    try {
      const session = await renewToken(() => this.client.changePassword(current, next));
      this.onToken(session.token);
      void refreshPushToken(session.token);
    } finally {
      this.renewing = false;
    }
  }

  private wireEvents(): void {
    const c = this.client;
    this.offs.push(
      c.on('timeline', (ev) => this.onTimeline(ev)),
      c.on('conversation', (conv) => {
        this.putConv(conv);
        this.changed();
      }),
      c.on('removed', ({ conv }) => this.dropConv(conv)),
      c.on('read', (ev) => this.onRead(ev.conv, ev.user, ev.seq)),
      c.on('delivered', (ev) => this.patchMember(ev.conv, ev.user, (m) => ({ ...m, delivered_seq: Math.max(m.delivered_seq, ev.seq) }))),
      c.on('typing', (ev) => this.onTyping(ev.conv, ev.user)),
      c.on('stream', (ev) => this.onStream(ev)),
      c.on('presence', (ev) => this.onPresence(ev.user, ev.online, ev.last_seen)),
      c.on('notification', (ev) => this.onNotification(ev)),
      c.on('sent', ({ cmid }) => this.patchPending(cmid, { state: 'sent' })),
      c.on('send_failed', ({ cmid, error }) => this.patchPending(cmid, { state: 'failed', error: errorText(error) })),
      c.on('connected', (info) => {
        this.connection = 'syncing';
        this.resumed = info.reconnect;
        if (info.reconnect) {
          this.refreshListSoon();
          if (this.openConv !== null) void this.loadMembers(this.openConv);
        }
        this.changed();
      }),
      c.on('synced', () => {
        this.connection = 'ready';
        if (this.resumed) this.refreshStreaming();
        this.resumed = false;
        this.markReadSoon();
        this.changed();
      }),
      c.on('disconnected', (info) => {
        this.connection = info.willReconnect ? 'offline' : this.connection;
        if (!info.willReconnect && info.code === 1008) {
          this.endSession(info.reason === 'account disabled' ? 'An admin disabled this account.' : 'Your session has ended. Sign in again.');
        }
        this.changed();
      }),
      c.on('error', (err) => {
        if (err.code === 'unauthorized') this.endSession('Your session has ended. Sign in again.');
        else if (err.code === 'mfa_enrollment_required') this.needEnrollment();
      }),
    );
    // The browser knows the network is gone before the socket does (a dead link
    // can take a keepalive round to notice): drop the socket now, and reconnect
    // at once when the network is back instead of waiting out the backoff. The
    // outbox keeps what is sent meanwhile.
    const offline = () => {
      this.connection = 'offline';
      this.client.close();
      this.changed();
    };
    const online = () => {
      if (!this.ended) this.client.connect(15_000).catch(() => undefined);
    };
    window.addEventListener('offline', offline);
    window.addEventListener('online', online);
    this.offs.push(() => window.removeEventListener('offline', offline), () => window.removeEventListener('online', online));
  }

  /* =========================================================== conversations */

  private putConv(conv: Conversation): void {
    this.gone.delete(conv.id); // added back to a group
    this.convs.set(conv.id, conv);
    if (conv.peer) {
      this.learnUser(conv.peer);
      if (conv.peer.online !== undefined) this.presence.set(conv.peer.id, conv.peer.online);
    }
  }

  /** A conversation this user just made (or found): in the list at once, before its events. */
  adopt(conv: Conversation): void {
    this.gone.delete(conv.id);
    const known = this.convs.get(conv.id);
    if (!known || known.last_seq <= conv.last_seq) this.putConv(conv);
    this.changed();
  }

  /** A group's settings as a PATCH answered them, ahead of the conv_updated event. */
  applySettings(conv: Conversation): void {
    const known = this.convs.get(conv.id);
    if (!known) return;
    const { title, avatar_url, description, announcement, muted_all } = conv;
    this.convs.set(conv.id, { ...known, title, avatar_url, description, announcement, muted_all });
    this.changed();
  }

  private dropConv(id: number): void {
    this.gone.add(id);
    this.convs.delete(id);
    this.timelines.delete(id);
    this.members.delete(id);
    this.changed();
  }

  totalUnread(): number {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  }

  /** Conversations, most recent activity first. */
  sortedConvs(): Conversation[] {
    return [...this.convs.values()].sort((a, b) => activity(b) - activity(a) || b.id - a.id);
  }

  /** A conversation we hear of for the first time (a new direct chat): fetch it. */
  fetchConv(id: number): Promise<void> {
    let p = this.fetchingConv.get(id);
    if (!p) {
      p = this.client
        .getConversation(id)
        .then((conv) => {
          const { members, ...rest } = conv;
          this.putConv(rest);
          this.putMembers(id, members);
          this.changed();
        })
        .catch((err: unknown) => {
          if (!(err instanceof PipitError && err.code === 'not_found')) toast('Could not open a conversation', errorText(err), true);
        })
        .finally(() => this.fetchingConv.delete(id));
      this.fetchingConv.set(id, p);
    }
    return p;
  }

  /** Members with roles and read positions (read receipts, names, mentions). */
  loadMembers(id: number): Promise<void> {
    let p = this.fetchingMembers.get(id);
    if (!p) {
      p = this.client
        .listMembers(id)
        .then((list) => {
          this.putMembers(id, list);
          this.membersError.delete(id);
          this.changed();
        })
        .catch((err: unknown) => {
          this.membersError.set(id, errorText(err));
          this.changed();
        })
        .finally(() => this.fetchingMembers.delete(id));
      this.fetchingMembers.set(id, p);
    }
    return p;
  }

  private putMembers(id: number, list: Member[]): void {
    const map = new Map<number, Member>();
    for (const m of list) {
      map.set(m.user.id, m);
      this.learnUser(m.user);
    }
    this.members.set(id, map);
  }

  /** Group previews name the sender: load members of the most recent groups, a few at a time. */
  private prefetchGroupMembers(): void {
    const groups = this.sortedConvs().filter((c) => c.type === 'group').slice(0, MEMBER_PREFETCH_MAX);
    let i = 0;
    const next = (): Promise<void> => {
      const g = groups[i++];
      return g ? this.loadMembers(g.id).then(next) : Promise.resolve();
    };
    for (let k = 0; k < 3; k++) void next();
  }

  learnUser(u: UserInfo): void {
    const old = this.users.get(u.id);
    if (!old || old.username !== u.username || (u.display_name !== undefined && u.display_name !== old.display_name)) {
      this.users.set(u.id, { ...old, ...u });
    }
  }

  /** A person's name as shown: display name, username, or a placeholder for a stranger. */
  nameOf(id: number): string {
    if (id === this.me.id) return this.me.display_name || this.me.username;
    const u = this.users.get(id);
    return u ? u.display_name || u.username : `user ${id}`;
  }

  titleOf(conv: Conversation): string {
    if (conv.type === 'direct') return conv.peer ? this.nameOf(conv.peer.id) : 'Direct chat';
    return conv.title || 'Untitled group';
  }

  isOnline(userId: number): boolean {
    return this.presence.get(userId) ?? false;
  }

  myRole(conv: number): Conversation['role'] | null {
    return this.convs.get(conv)?.role ?? null;
  }

  /* ================================================================ settings */

  async loadSettings(): Promise<void> {
    try {
      this.settings = await this.client.getNotificationSettings();
      this.settingsError = null;
    } catch (err) {
      this.settingsError = errorText(err);
    }
    this.changed();
  }

  /** Replaces every setting (PUT semantics); throws for the caller to show. */
  async saveSettings(next: NotificationSettings): Promise<void> {
    this.settings = await this.client.putNotificationSettings(next);
    this.changed();
  }

  /** Mutes or unmutes a conversation's notifications, keeping the other settings. */
  async setConvMuted(conv: number, muted: boolean): Promise<void> {
    if (!this.settings) await this.loadSettings();
    const current = this.settings;
    if (!current) throw new Error(this.settingsError ?? 'Could not load your notification settings.');
    const rest = current.muted_conversations.filter((c) => c !== conv);
    await this.saveSettings({ ...current, muted_conversations: muted ? [...rest, conv] : rest });
  }

  /* ============================================================== timelines */

  timeline(id: number): Timeline | undefined {
    return this.timelines.get(id);
  }

  /** Opens a conversation: its newest page (once), its members and read positions. */
  async open(id: number): Promise<void> {
    this.openConv = id;
    void this.loadMembers(id);
    if (!this.convs.has(id)) await this.fetchConv(id);
    const existing = this.timelines.get(id);
    if (existing && existing.status !== 'error') {
      this.markReadSoon();
      return;
    }
    const tl: Timeline = {
      items: new Map(),
      oldest: Infinity,
      hasOlder: false,
      status: 'loading',
      loadingOlder: false,
      error: null,
      rev: 0,
      buffer: [],
      streamsMissed: new Set(),
    };
    this.timelines.set(id, tl);
    this.changed();
    try {
      const page = await this.client.listMessages(id, { limit: PAGE });
      this.mergePage(tl, page.events, page.has_more);
      // The page shows every message as of when it was made; what came after is applied now.
      const top = page.events.reduce((max, ev) => Math.max(max, ev.seq), 0);
      for (const ev of tl.buffer) if (ev.seq > top) applyLive(tl, ev);
      tl.status = 'ready';
      for (const seq of tl.streamsMissed) void this.refetchMessage(id, seq);
      this.markReadSoon();
    } catch (err) {
      tl.status = 'error';
      tl.error = errorText(err);
    }
    tl.buffer = [];
    tl.streamsMissed.clear();
    tl.rev++;
    this.changed();
  }

  close(id: number): void {
    if (this.openConv === id) this.openConv = null;
  }

  async loadOlder(id: number): Promise<void> {
    const tl = this.timelines.get(id);
    if (!tl || tl.status !== 'ready' || tl.loadingOlder || !tl.hasOlder) return;
    tl.loadingOlder = true;
    tl.error = null;
    this.changed();
    try {
      const page = await this.client.listMessages(id, { before: tl.oldest, limit: PAGE });
      this.mergePage(tl, page.events, page.has_more);
    } catch (err) {
      tl.error = errorText(err);
    }
    tl.loadingOlder = false;
    tl.rev++;
    this.changed();
  }

  private mergePage(tl: Timeline, events: TimelineEvent[], hasMore: boolean): void {
    for (const ev of events) {
      tl.oldest = Math.min(tl.oldest, ev.seq);
      if (isShown(ev) && !tl.items.has(ev.seq)) {
        tl.items.set(ev.seq, ev);
        this.settlePending(ev);
      }
    }
    tl.hasOlder = hasMore && tl.oldest > 1;
    if (events.length === 0) tl.oldest = Math.min(tl.oldest, 1);
  }

  /* ================================================================= events */

  private onTimeline(ev: TimelineEvent): void {
    if (ev.ev === 'message') this.typing.get(ev.conv)?.delete(ev.from); // their message ends their typing
    const conv = this.convs.get(ev.conv);
    if (!conv) {
      void this.fetchConv(ev.conv);
      return;
    }
    const tl = this.timelines.get(ev.conv);
    const fresh = ev.seq > conv.last_seq;
    let next: Conversation = { ...conv, last_seq: Math.max(conv.last_seq, ev.seq) };
    switch (ev.ev) {
      case 'message':
        next = this.onMessage(next, ev as MessageEvent, fresh);
        break;
      case 'edit':
      case 'recall':
        next = this.onChange(next, ev as ChangeEvent);
        break;
      case 'member':
        next = this.onMember(next, ev as MemberEvent);
        break;
      case 'conv_updated':
        next = this.onConvUpdated(next, (ev as TimelineEvent & { changes: ConvChanges }).changes);
        break;
    }
    if (!this.convs.has(ev.conv)) return; // we left or were removed
    this.convs.set(ev.conv, next);
    if (tl?.status === 'loading') tl.buffer.push(ev);
    else if (tl?.status === 'ready') applyLive(tl, ev);
    this.changed();
  }

  /** A chunk of a streaming message: its text grows (append) or is rewritten (replace). */
  private onStream(ev: StreamEvent): void {
    const key = `${ev.conv}:${ev.seq}`;
    this.streamChunks.set(key, (this.streamChunks.get(key) ?? 0) + 1);
    const conv = this.convs.get(ev.conv);
    if (!conv) return;
    let touched = false;
    const tl = this.timelines.get(ev.conv);
    if (tl?.status === 'loading') {
      // The page may or may not hold this chunk already: fetch the message again after it.
      tl.streamsMissed.add(ev.seq);
    } else if (tl?.status === 'ready') {
      const held = tl.items.get(ev.seq);
      if (held?.ev === 'message') {
        const next = applyStream(held as MessageEvent, ev);
        if (next !== held) {
          tl.items.set(ev.seq, next);
          tl.rev++;
          touched = true;
        }
      }
    }
    const last = conv.last_message;
    if (last && last.seq === ev.seq) {
      const next = applyStream(last, ev);
      if (next !== last) {
        this.convs.set(conv.id, { ...conv, last_message: next });
        touched = true;
      }
    }
    if (touched) this.changed();
  }

  /** After a reconnect: chunks sent while offline are not replayed, so streaming messages are fetched again. */
  private refreshStreaming(): void {
    for (const [id, tl] of this.timelines) {
      if (tl.status !== 'ready') continue;
      for (const ev of tl.items.values()) {
        if (ev.ev === 'message' && (ev as MessageEvent).streaming) void this.refetchMessage(id, ev.seq);
      }
    }
  }

  /**
   * Fetches one message's current state into its timeline. A chunk that arrives
   * while the request is out may be in the answer or not: then it asks again (a
   * few times; the final edit puts the whole text right in any case).
   */
  private async refetchMessage(convId: number, seq: number, tries = 3): Promise<void> {
    const key = `${convId}:${seq}`;
    const seen = this.streamChunks.get(key) ?? 0;
    let page;
    try {
      page = await this.client.listMessages(convId, { after: seq - 1, limit: 1 });
    } catch {
      return; // the live chunks and the final edit still come
    }
    const tl = this.timelines.get(convId);
    const fresh = page.events.find((e) => e.seq === seq);
    const held = tl?.items.get(seq);
    if (!tl || fresh?.ev !== 'message' || held?.ev !== 'message') return;
    if ((this.streamChunks.get(key) ?? 0) !== seen) {
      if (tries > 1) void this.refetchMessage(convId, seq, tries - 1);
      return;
    }
    // An edit applied meanwhile (the final one) is newer than a page asked for before it.
    if (!(held as MessageEvent).streaming) return;
    tl.items.set(seq, fresh);
    tl.rev++;
    this.changed();
  }

  private onMessage(conv: Conversation, msg: MessageEvent, fresh: boolean): Conversation {
    this.settlePending(msg);
    const next = { ...conv };
    if (!conv.last_message || msg.seq >= conv.last_message.seq) next.last_message = msg;
    if (fresh && msg.from !== this.me.id && msg.seq > conv.read_seq && !msg.recalled) next.unread = conv.unread + 1;
    if (this.openConv === msg.conv) this.markReadSoon();
    return next;
  }

  /** An edit or a recall: the list's preview follows when it is of the last message. */
  private onChange(conv: Conversation, ev: ChangeEvent): Conversation {
    if ((ev as EditEvent).streamed) this.streamChunks.delete(`${ev.conv}:${ev.target}`); // no more chunks come
    if (conv.last_message && conv.last_message.seq === ev.target) {
      return { ...conv, last_message: applyChange(conv.last_message, ev) };
    }
    return conv;
  }

  private onMember(conv: Conversation, ev: MemberEvent): Conversation {
    if (ev.user === this.me.id && (ev.action === 'left' || ev.action === 'removed')) {
      if (ev.action === 'removed') toast(`You were removed from “${this.titleOf(conv)}”`, `by ${this.nameOf(ev.from)}`);
      this.dropConv(conv.id);
      return conv;
    }
    let next = conv;
    if (ev.action === 'joined') {
      next = { ...conv, member_count: conv.member_count + 1 };
      void this.loadMembers(conv.id); // for the new member's name
    } else if (ev.action === 'left' || ev.action === 'removed') {
      next = { ...conv, member_count: Math.max(0, conv.member_count - 1) };
      this.members.get(conv.id)?.delete(ev.user);
    } else if (ev.action === 'role' && ev.role) {
      const role = ev.role;
      this.patchMember(conv.id, ev.user, (m) => ({ ...m, role }));
      if (ev.user === this.me.id) next = { ...conv, role };
    } else if (ev.action === 'muted') {
      const until = ev.until ?? 0;
      this.patchMember(conv.id, ev.user, (m) => ({ ...m, muted_until: until }));
    }
    return next;
  }

  private onConvUpdated(conv: Conversation, changes: ConvChanges): Conversation {
    const next: Conversation = { ...conv };
    if (changes.title !== undefined) next.title = changes.title;
    if (changes.avatar_url !== undefined) next.avatar_url = changes.avatar_url;
    if (changes.description !== undefined) next.description = changes.description;
    if (changes.announcement !== undefined) next.announcement = changes.announcement;
    if (changes.muted_all !== undefined) next.muted_all = changes.muted_all;
    if (changes.owner !== undefined) {
      // The old owner became an admin; the roles in the member list follow on reload.
      if (changes.owner === this.me.id) next.role = 'owner';
      else if (conv.role === 'owner') next.role = 'admin';
      void this.loadMembers(conv.id);
    }
    return next;
  }

  private onRead(convId: number, user: number, seq: number): void {
    this.patchMember(convId, user, (m) => ({ ...m, read_seq: Math.max(m.read_seq, seq) }));
    const conv = this.convs.get(convId);
    if (user === this.me.id && conv && seq > conv.read_seq) {
      const unread = seq >= conv.last_seq ? 0 : this.countUnread(convId, seq);
      if (unread === null) this.refreshListSoon();
      this.convs.set(convId, { ...conv, read_seq: seq, unread: unread ?? conv.unread });
    }
    this.changed();
  }

  /** Messages from others above `readSeq`, when the timeline holds all of them; else null. */
  private countUnread(convId: number, readSeq: number): number | null {
    const tl = this.timelines.get(convId);
    if (!tl || tl.status !== 'ready' || tl.oldest > readSeq + 1) return null;
    let n = 0;
    for (const ev of tl.items.values()) {
      const m = ev as MessageEvent;
      if (ev.ev === 'message' && ev.seq > readSeq && m.from !== this.me.id && !m.recalled) n++;
    }
    return n;
  }

  private patchMember(convId: number, user: number, fn: (m: Member) => Member): void {
    const map = this.members.get(convId);
    const m = map?.get(user);
    if (map && m) {
      map.set(user, fn(m));
      this.changed();
    }
  }

  private onTyping(conv: number, user: number): void {
    if (user === this.me.id) return;
    let map = this.typing.get(conv);
    if (!map) this.typing.set(conv, (map = new Map()));
    map.set(user, Date.now() + TYPING_SHOWN_MS);
    this.scheduleTypingExpiry();
    this.changed();
  }

  private scheduleTypingExpiry(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    let soonest = Infinity;
    for (const map of this.typing.values()) for (const t of map.values()) soonest = Math.min(soonest, t);
    if (soonest === Infinity) return;
    this.typingTimer = setTimeout(() => {
      this.typingTimer = null;
      const now = Date.now();
      for (const map of this.typing.values()) for (const [u, t] of map) if (t <= now) map.delete(u);
      this.scheduleTypingExpiry();
      this.changed();
    }, Math.max(50, soonest - Date.now() + 10));
  }

  /** Who is typing in a conversation right now. */
  typingIn(conv: number): number[] {
    const now = Date.now();
    return [...(this.typing.get(conv) ?? new Map<number, number>()).entries()].filter(([, t]) => t > now).map(([u]) => u);
  }

  private onPresence(user: number, online: boolean, last_seen: number | null): void {
    this.presence.set(user, online);
    for (const conv of this.convs.values()) {
      if (conv.peer?.id === user) this.convs.set(conv.id, { ...conv, peer: { ...conv.peer, online, last_seen } });
    }
    this.changed();
  }

  private onNotification(ev: NotificationEvent): void {
    this.notifications = [...this.notifications, { key: this.nextNotification++, event: ev }].slice(-4);
    // Shown on screen is delivered; a click reports opened or clicked.
    this.client.pushEvent(ev.push, 'delivered').catch(() => undefined);
    this.changed();
  }

  dismissNotification(key: number): void {
    this.notifications = this.notifications.filter((n) => n.key !== key);
    this.changed();
  }

  /* =============================================================== actions */

  /** Marks the open conversation read up to its last seq, if the page is visible. */
  markReadSoon(): void {
    if (this.readTimer) return;
    this.readTimer = setTimeout(() => {
      this.readTimer = null;
      const id = this.openConv;
      const conv = id === null ? undefined : this.convs.get(id);
      if (!conv || document.visibilityState !== 'visible' || this.connection === 'offline') return;
      const tl = this.timelines.get(conv.id);
      if (!tl || tl.status !== 'ready') return;
      const last = conv.last_message;
      if (conv.unread > 0 || (last && last.from !== this.me.id && last.seq > conv.read_seq)) {
        this.client.read(conv.id, conv.last_seq).catch(() => undefined); // retried on the next open or message
      }
    }, 250);
  }

  send(conv: number, text: string, opts: { reply_to?: number; mentions?: Mentions } = {}): void {
    this.sendBody(conv, { type: 'text', text }, opts);
  }

  /** Any body (text, a file message) through the pending copy and the SDK's outbox. */
  sendBody(conv: number, body: MessageBody, opts: { reply_to?: number; mentions?: Mentions } = {}): void {
    const cmid = crypto.randomUUID();
    const p: PendingMessage = { cmid, conv, body, ts: Date.now(), state: 'sending', ...opts };
    this.pending.set(cmid, p);
    this.pendingChanged();
    this.transmit(p);
  }

  /** Sends again with the same cmid: if an earlier attempt was stored after all, it is not stored twice. */
  retry(cmid: string): void {
    const p = this.pending.get(cmid);
    if (!p) return;
    this.patchPending(cmid, { state: 'sending' });
    this.transmit(p);
  }

  discard(cmid: string): void {
    this.client.cancelSend(cmid);
    this.pending.delete(cmid);
    this.pendingChanged();
  }

  private transmit(p: PendingMessage): void {
    const opts: { cmid: string; reply_to?: number; mentions?: Mentions; timeoutMs: number } = { cmid: p.cmid, timeoutMs: 15_000 };
    if (p.reply_to !== undefined) opts.reply_to = p.reply_to;
    if (p.mentions !== undefined) opts.mentions = p.mentions;
    // The outcome comes as `sent`/`send_failed` and the message event; a timeout
    // only means "still in the outbox".
    this.client.send(p.conv, p.body, opts).catch(() => undefined);
  }

  private patchPending(cmid: string, patch: Partial<PendingMessage>): void {
    const p = this.pending.get(cmid);
    if (!p) return;
    this.pending.set(cmid, { ...p, ...patch });
    this.pendingChanged();
  }

  /** The stored message arrived: the pending copy goes. */
  private settlePending(ev: TimelineEvent): void {
    const cmid = (ev as MessageEvent).cmid;
    if (ev.ev === 'message' && ev.from === this.me.id && typeof cmid === 'string' && this.pending.delete(cmid)) this.pendingChanged();
  }

  private pendingChanged(): void {
    try {
      if (this.pending.size === 0) localStorage.removeItem(this.outboxKey);
      else localStorage.setItem(this.outboxKey, JSON.stringify([...this.pending.values()]));
    } catch {
      // Storage full or off: unsent messages then live only as long as the page.
    }
    this.changed();
  }

  /** Messages a previous page left unsent go out again, with their cmids: never twice. */
  private restorePending(): void {
    let saved: PendingMessage[] = [];
    try {
      saved = JSON.parse(localStorage.getItem(this.outboxKey) ?? '[]') as PendingMessage[];
    } catch {
      return;
    }
    for (const p of Array.isArray(saved) ? saved : []) {
      if (typeof p?.cmid !== 'string' || typeof p.conv !== 'number' || typeof p.body !== 'object') continue;
      const restored: PendingMessage = { ...p, state: p.state === 'failed' ? 'failed' : 'sending' };
      this.pending.set(p.cmid, restored);
      if (restored.state === 'sending') this.transmit(restored);
    }
  }

  /** At sign-out: nothing of this user's stays in this browser. */
  forgetLocal(): void {
    localStorage.removeItem(this.outboxKey);
  }

  pendingIn(conv: number): PendingMessage[] {
    return [...this.pending.values()].filter((p) => p.conv === conv).sort((a, b) => a.ts - b.ts);
  }

  /* ================================================================ uploads */

  /** Uploads each file, then sends it: pictures as "image" messages, the rest as "file". */
  attach(conv: number, files: File[]): void {
    for (const file of files) {
      const key = `u${this.nextUpload++}`;
      const isPicture = /^image\/(png|jpeg|gif|webp)$/.test(file.type);
      const upload: Upload = {
        key,
        conv,
        name: file.name || 'file',
        size: file.size,
        loaded: 0,
        state: 'uploading',
        error: null,
        retryable: true,
        file,
        preview: isPicture ? URL.createObjectURL(file) : null,
        controller: new AbortController(),
      };
      this.uploads.set(key, upload);
      void this.runUpload(upload);
    }
    this.changed();
  }

  private async runUpload(upload: Upload): Promise<void> {
    const { key, controller } = upload;
    try {
      const info = await uploadFile(this.client, upload.file, {
        name: upload.name,
        signal: controller.signal,
        onProgress: (loaded) => this.patchUpload(key, controller, { loaded }),
      });
      if (this.uploads.get(key)?.controller !== controller) return; // cancelled as it finished
      this.dropUpload(key);
      this.sendBody(upload.conv, fileMessageBody(info));
    } catch (err) {
      if (err instanceof PipitError && err.code === 'cancelled') return;
      const tooLarge = err instanceof PipitError && err.code === 'payload_too_large';
      this.patchUpload(key, controller, { state: 'failed', error: uploadErrorText(err), retryable: !tooLarge });
    }
  }

  /** Changes an upload, unless it was cancelled or restarted since (another controller). */
  private patchUpload(key: string, controller: AbortController, patch: Partial<Upload>): void {
    const u = this.uploads.get(key);
    if (!u || u.controller !== controller) return;
    this.uploads.set(key, { ...u, ...patch });
    this.changed();
  }

  cancelUpload(key: string): void {
    this.uploads.get(key)?.controller.abort();
    this.dropUpload(key);
  }

  retryUpload(key: string): void {
    const u = this.uploads.get(key);
    if (!u || u.state !== 'failed') return;
    const next: Upload = { ...u, state: 'uploading', error: null, loaded: 0, controller: new AbortController() };
    this.uploads.set(key, next);
    this.changed();
    void this.runUpload(next);
  }

  private dropUpload(key: string): void {
    const u = this.uploads.get(key);
    if (!u) return;
    if (u.preview) URL.revokeObjectURL(u.preview);
    this.uploads.delete(key);
    this.changed();
  }

  uploadsIn(conv: number): Upload[] {
    return [...this.uploads.values()].filter((u) => u.conv === conv);
  }

  /* ========================================================= search targets */

  /** Opens a message from a search result: the timeline scrolls to it once it holds it. */
  showMessage(conv: number, seq: number): void {
    this.target = { conv, seq };
    this.changed();
  }

  /** The timeline reached the target (or gave up on it). */
  clearTarget(): void {
    if (this.target === null) return;
    this.target = null;
    this.changed();
  }
}

/** The server's own words for a too-large file ("files may not be larger than 100.0 MiB"). */
function uploadErrorText(err: unknown): string {
  if (err instanceof PipitError && err.code === 'payload_too_large') {
    const text = err.message.replace(/(\d+) bytes/, (_, n: string) => bytes(Number(n)));
    return text.charAt(0).toUpperCase() + text.slice(1);
  }
  return errorText(err);
}

type ChangeEvent = TimelineEvent & { target: number; body?: MessageBody };

/** A message after an edit or a recall event. */
function applyChange(m: MessageEvent, ev: ChangeEvent): MessageEvent {
  if (ev.ev === 'recall') {
    const { body: _dropped, ...rest } = m;
    return { ...rest, recalled: true };
  }
  if (m.recalled || ev.body === undefined) return m; // an edit of a since-recalled message has no body
  if ((ev as EditEvent).streamed) {
    // The end of a stream: the finished text, not an edit by its author.
    const { streaming: _done, ...rest } = m;
    return { ...rest, body: ev.body };
  }
  return { ...m, body: ev.body, edited: true, edited_at: ev.ts };
}

/** A message after a chunk of its stream; the same message if it is not streaming. */
function applyStream(m: MessageEvent, ev: StreamEvent): MessageEvent {
  if (!m.streaming || m.recalled || m.body === undefined) return m;
  const before = typeof m.body.text === 'string' ? m.body.text : '';
  return { ...m, body: { ...m.body, text: ev.op === 'append' ? before + ev.text : ev.text } };
}

/** A live event (in seq order, once) onto a timeline: add it, or change the message it targets. */
function applyLive(tl: Timeline, ev: TimelineEvent): void {
  if (ev.ev === 'edit' || ev.ev === 'recall') {
    const target = (ev as ChangeEvent).target;
    const held = tl.items.get(target);
    if (held?.ev === 'message') tl.items.set(target, applyChange(held as MessageEvent, ev as ChangeEvent));
  } else if (isShown(ev) && !tl.items.has(ev.seq)) {
    tl.items.set(ev.seq, ev);
  }
  tl.rev++;
}

/** Edits and recalls change other messages; everything else is drawn as a line. */
function isShown(ev: TimelineEvent): boolean {
  return ev.ev === 'message' || ev.ev === 'member' || ev.ev === 'conv_created' || ev.ev === 'conv_updated';
}

function activity(c: Conversation): number {
  return c.last_message?.ts ?? c.created_at;
}
