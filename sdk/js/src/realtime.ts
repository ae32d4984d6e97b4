/**
 * The realtime session: one WebSocket to /v1/ws (docs/protocol.md, version 1),
 * with authentication, keepalive, reconnection, sync and the outbox.
 *
 * Design, in the order things happen on each connection:
 *
 * 1. Connect, send `auth` (Authentication). A token the server refuses
 *    (`unauthorized`, or close code 1008 after a logout or expiry) ends the session:
 *    reconnecting with a dead token only hammers the server. So does
 *    `mfa_enrollment_required` (the user must enrol first), until connect() is
 *    called again.
 * 2. Re-send the outbox (outbox.ts): every `send` not yet answered goes out again
 *    with its cmid, and the server answers a repeat with the original seq.
 * 3. `sync` with the synced seq of every conversation held ("Sync on every
 *    connect"), again while an entry says `has_more` or the answer says `more`, so a
 *    backlog of any size comes in pages. A `gap` is counted as held and reported.
 * 4. Live events go through TimelineOrder (timeline.ts): the next seq of its
 *    conversation is delivered, a seq already held is dropped, one further ahead is
 *    held while a sync fills the hole. So the app sees each timeline event once, in
 *    seq order.
 *
 * Keepalive: after `pingIntervalMs` without a frame from the server, send the
 * `ping` op; no answer within the request timeout means the link is dead (a browser
 * cannot see that by itself), so the socket is dropped and step 1 starts again.
 * Reconnects back off exponentially from `reconnectMinMs` to `reconnectMaxMs` with
 * "equal jitter" (half fixed, half random), so a restarted server is not met by
 * every client at the same instant.
 */

import { Emitter } from "./emitter.js";
import { LOCAL_CODES, PipitError } from "./errors.js";
import { Outbox, type PendingSend } from "./outbox.js";
import { TimelineOrder } from "./timeline.js";
import type {
  CallEvent,
  CallId,
  CallInvite,
  CallMedia,
  CallRecordEvent,
  CallSignalData,
  Conversation,
  ConvCreatedEvent,
  ConvId,
  ConvUpdatedEvent,
  DeliveredEvent,
  EditEvent,
  EventPage,
  HistoryQuery,
  MemberEvent,
  MessageBody,
  MessageEvent,
  NotificationEvent,
  PresenceEvent,
  PushEventType,
  ReadEvent,
  RecallEvent,
  SendOptions,
  SendResult,
  StreamEvent,
  StreamOptions,
  StreamProgress,
  SyncAnswer,
  TimelineEvent,
  TypingEvent,
  UserId,
  UserRef,
} from "./types.js";

/**
 * A random id for a send. crypto.randomUUID() exists only in secure contexts
 * (HTTPS, localhost), and a self-hosted server is often reached over plain HTTP
 * on a LAN address; getRandomValues() works everywhere.
 */
function newCmid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The part of the WebSocket API the SDK uses; the browser's WebSocket and Node's
 * global one (undici) both fit. Handler parameters are `any` on purpose: DOM event
 * types would make a non-DOM implementation impossible to pass in.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface RealtimeOptions {
  /** ws:// or wss:// URL of /v1/ws. */
  wsUrl: string;
  /** Read at each (re)connect, so a new login is picked up. */
  getToken: () => string | null;
  WebSocket?: WebSocketConstructor;
  requestTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  pingIntervalMs: number;
  /** `limit` of each sync page (1 to 200); unset: the server's default (100). */
  syncLimit?: number;
  /** Send `ack` for delivered events (coalesced per conversation). */
  autoAck: boolean;
  /** Synced seqs kept from an earlier run, conversation id → seq. */
  seqs?: Record<string, number>;
}

export interface ConnectedInfo {
  user: UserRef;
  protocol: number;
  /** False on the first connection of this session, true on every reconnect. */
  reconnect: boolean;
}

export interface DisconnectedInfo {
  /** The WebSocket close code; 4000 and up are the SDK's own reasons to drop it. */
  code: number;
  reason: string;
  willReconnect: boolean;
  /** When willReconnect: the delay before the next attempt. */
  retryInMs?: number;
}

export interface SyncedInfo {
  /** `sync` requests this catch-up took. */
  rounds: number;
  /** Timeline events it delivered. */
  events: number;
}

export interface GapInfo {
  conv: ConvId;
  /** Seqs from..to (inclusive) no longer exist on the server. */
  from: number;
  to: number;
}

export interface SentInfo {
  cmid: string;
  conv: ConvId;
  result: SendResult;
}

export interface SendFailedInfo {
  cmid: string;
  conv: ConvId;
  error: PipitError;
}

/** Everything `on()` can listen to. */
export interface RealtimeEvents {
  connected: ConnectedInfo;
  disconnected: DisconnectedInfo;
  /** A catch-up finished: every conversation is up to date. */
  synced: SyncedInfo;
  /** The server reported seqs that are gone (retention); they count as held. */
  gap: GapInfo;
  /** The current state of a conversation with new events, from sync. */
  conversation: Conversation;
  /** Sync says you are no longer a member of this conversation, or it is gone (also at once, live, when an admin deletes it). */
  removed: { conv: ConvId };
  /** Every timeline event, once, in seq order per conversation. */
  timeline: TimelineEvent;
  message: MessageEvent;
  edit: EditEvent;
  recall: RecallEvent;
  member: MemberEvent;
  conv_created: ConvCreatedEvent;
  conv_updated: ConvUpdatedEvent;
  /** A call ended: its record on the timeline (also in history and sync). */
  call_record: CallRecordEvent;
  read: ReadEvent;
  delivered: DeliveredEvent;
  typing: TypingEvent;
  /** A chunk of a streaming message (no seq of its own; not a timeline event). */
  stream: StreamEvent;
  presence: PresenceEvent;
  notification: NotificationEvent;
  /**
   * A call of one of your conversations: `type` says what happened (invite,
   * ringing, accept, reject, hangup, signal, end). Live only: not replayed by sync.
   */
  call: CallEvent;
  /** An outbox message was stored (also after its send() promise timed out). */
  sent: SentInfo;
  /** An outbox message was refused for good and left the outbox. */
  send_failed: SendFailedInfo;
  /** A failure no promise reports: auth refused, a sync that failed. */
  error: PipitError;
}

export type ConnectionState = "idle" | "connecting" | "syncing" | "ready";

const TIMELINE_NAMES = new Set(["message", "edit", "recall", "member", "conv_created", "conv_updated", "call_record"]);
const OTHER_EVENT_NAMES = new Set(["read", "delivered", "typing", "stream", "presence", "notification", "call"]);

/* Bounds: each says how far the SDK trusts the server before giving up on a loop. */
const MAX_SYNC_ROUNDS = 100_000; // 200 events a round: twenty million events
const MAX_SYNC_PASSES = 3; // a pass repeats only for a live event that raced the sync
const ACK_DELAY_MS = 200; // one ack per conversation per burst, not one per event
const CLOSE_PING_TIMEOUT = 4000;
const CLOSE_OPEN_TIMEOUT = 4001;
const CLOSE_SYNC_FAILED = 4002;
const CLOSE_AUTH_FAILED = 4003;
const CLOSE_BY_CLIENT = 1000;
const CLOSE_POLICY = 1008; // logout, token expiry, auth timeout: the token is dead

interface Pending {
  op: string;
  resolve: (value: unknown) => void;
  reject: (err: PipitError) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: PipitError) => void;
  timer: ReturnType<typeof setTimeout>;
}

function localError(code: string, message: string): PipitError {
  return new PipitError(0, code, message);
}

function isTimeline(msg: Record<string, unknown>): msg is Record<string, unknown> & TimelineEvent {
  // By shape, not by name: a timeline event this version does not know still
  // takes a seq, and skipping it would look like a hole. read/delivered have
  // conv and seq too, but no id or ts.
  return (
    typeof msg.ev === "string" &&
    typeof msg.conv === "number" &&
    typeof msg.seq === "number" &&
    typeof msg.id === "number" &&
    typeof msg.ts === "number"
  );
}

export class Realtime {
  private readonly rtOptions: RealtimeOptions;
  private readonly emitter = new Emitter<RealtimeEvents>();

  private ws: WebSocketLike | null = null;
  /** Bumped per socket, so callbacks of an old one do nothing. */
  private epoch = 0;
  private authed = false;
  private syncing = false;
  private syncAgain = false;
  private wanted = false;
  private everConnected = false;
  private attempt = 0;
  private nextId = 0;
  private lastFrameAt = 0;
  private pingInFlight = false;
  /** The logged-in user: from login or register, confirmed by each auth. */
  protected currentUser: UserRef | null = null;

  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private openTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;

  private readonly pending = new Map<string, Pending>();
  private readonly order = new TimelineOrder({
    deliver: (event) => this.deliver(event),
    gap: (conv, from, to) => this.emitter.emit("gap", { conv, from, to }),
  });
  private readonly outbox: Outbox;
  private readonly ackDirty = new Set<ConvId>();
  private connectWaiters: Waiter<ConnectedInfo>[] = [];
  private lastConnected: ConnectedInfo | null = null;

  constructor(options: RealtimeOptions) {
    this.rtOptions = options;
    this.setSyncedSeqs(options.seqs ?? {});
    this.outbox = new Outbox({
      ready: () => this.authed,
      send: (fields) => this.request<SendResult>("send", fields),
      retryDelayMs: options.reconnectMinMs,
      stored: ({ cmid, conv }, result) => this.emitter.emit("sent", { cmid, conv, result }),
      refused: ({ cmid, conv }, error) => this.emitter.emit("send_failed", { cmid, conv, error }),
    });
  }

  /* ================================================================ public API */

  /** Subscribe to an event; returns the function that unsubscribes. */
  on<K extends keyof RealtimeEvents>(name: K, fn: (payload: RealtimeEvents[K]) => void): () => void {
    return this.emitter.on(name, fn);
  }

  once<K extends keyof RealtimeEvents>(name: K, fn: (payload: RealtimeEvents[K]) => void): () => void {
    return this.emitter.once(name, fn);
  }

  get state(): ConnectionState {
    if (this.authed) {
      return this.syncing ? "syncing" : "ready";
    }
    return this.wanted ? "connecting" : "idle";
  }

  /** The logged-in user (from login, register or the socket's auth), or null. */
  get user(): UserRef | null {
    return this.currentUser;
  }

  /**
   * Opens the session and resolves once authenticated and caught up. Rejects on a
   * refused token, on close(), or after `timeoutMs` (default: the request timeout);
   * after a timeout it keeps trying in the background until close().
   */
  connect(timeoutMs?: number): Promise<ConnectedInfo> {
    this.wanted = true;
    if (this.authed && !this.syncing && this.lastConnected !== null) {
      return Promise.resolve(this.lastConnected);
    }
    const promise = new Promise<ConnectedInfo>((resolve, reject) => {
      const waiter: Waiter<ConnectedInfo> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.connectWaiters = this.connectWaiters.filter((w) => w !== waiter);
          reject(localError(LOCAL_CODES.timeout, "could not connect in time; still trying"));
        }, timeoutMs ?? this.rtOptions.requestTimeoutMs),
      };
      this.connectWaiters.push(waiter);
    });
    if (this.ws === null) {
      // An explicit connect() tries now, not after the backoff delay.
      this.clearTimer("reconnectTimer");
      this.openSocket();
    }
    return promise;
  }

  /** Closes the session for good (until connect()); the outbox is kept. */
  close(): void {
    this.wanted = false;
    this.clearTimer("reconnectTimer");
    this.clearTimer("ackTimer"); // what is still to ack goes out after the next connect
    this.dropSocket(CLOSE_BY_CLIENT, "closed by the client");
    this.settleConnectWaiters(localError(LOCAL_CODES.disconnected, "closed by the client"));
    this.outbox.rejectWaiters(localError(LOCAL_CODES.disconnected, "closed by the client; still in the outbox"));
  }

  /** Conversation id → synced seq, to keep across runs and pass back as `seqs`. */
  getSyncedSeqs(): Record<string, number> {
    return this.order.snapshot();
  }

  /**
   * Seeds synced seqs (for example from storage, or from GET /v1/conversations
   * `last_seq` on a new device that wants only new messages). Never moves one back.
   */
  setSyncedSeqs(seqs: Record<string, number>): void {
    this.order.seed(seqs);
  }

  /** Runs the SDK's own catch-up now (it also runs on every connect and hole). */
  resync(): void {
    this.requestSync();
  }

  /**
   * Sends a message exactly once. It waits in the outbox until the server stores it,
   * across reconnects. The promise rejects after the timeout, but the message stays
   * in the outbox: the `sent` event reports it when it goes through. It leaves the
   * outbox on success, on a refusal (`muted`, `not_found`, `payload_too_large`...,
   * also reported as `send_failed`), or with cancelSend().
   */
  send(conv: ConvId, body: MessageBody, options: SendOptions = {}): Promise<SendResult> {
    const message: PendingSend = { cmid: options.cmid ?? newCmid(), conv, body };
    if (options.reply_to !== undefined) message.reply_to = options.reply_to;
    if (options.mentions !== undefined) message.mentions = options.mentions;
    if (options.streaming !== undefined) message.streaming = options.streaming;
    return this.outbox.add(message, options.timeoutMs ?? this.rtOptions.requestTimeoutMs);
  }

  /** Messages not yet stored, oldest first. */
  pendingSends(): PendingSend[] {
    return this.outbox.pending();
  }

  /** Takes a message out of the outbox. If a copy is in flight it may still be stored. */
  cancelSend(cmid: string): boolean {
    return this.outbox.cancel(cmid);
  }

  /** The `ping` op: checks the session end to end. */
  async ping(timeoutMs?: number): Promise<void> {
    await this.request("ping", {}, timeoutMs);
  }

  /** Replaces the body of your message at `seq`; the answer is the edit event's. */
  edit(conv: ConvId, seq: number, body: MessageBody): Promise<SendResult> {
    return this.request<SendResult>("edit", { conv, seq, body });
  }

  /**
   * Adds `text` to the end of your streaming message at `seq` (one sent with
   * `{ streaming: true }`). Members get a `stream` event with the chunk; the answer
   * is `{seq, length}` (the whole text's length in UTF-8 bytes). With
   * `{ final: true }` the text is finished: members get an `edit` event with
   * `streamed: true` and the whole body, and the answer is that event's seq, id and
   * ts. Each call counts against the message rate limit: a bot should batch its
   * tokens into a few chunks a second. Errors: `conflict` (not streaming, or
   * already finished), `forbidden` (not your message), `payload_too_large` (the
   * whole text over the limit), `content_blocked`, `rate_limited`.
   */
  appendMessage(conv: ConvId, seq: number, text: string, options: StreamOptions & { final: true }): Promise<SendResult>;
  appendMessage(conv: ConvId, seq: number, text: string, options?: StreamOptions & { final?: false }): Promise<StreamProgress>;
  appendMessage(conv: ConvId, seq: number, text: string, options?: StreamOptions): Promise<StreamProgress | SendResult>;
  appendMessage(conv: ConvId, seq: number, text: string, options: StreamOptions = {}): Promise<StreamProgress | SendResult> {
    return this.streamOp("append", conv, seq, text, options);
  }

  /**
   * Makes `text` the whole text of your streaming message at `seq`; otherwise as
   * appendMessage() (the `stream` event has `op: "replace"` and the new text).
   */
  replaceMessage(conv: ConvId, seq: number, text: string, options: StreamOptions & { final: true }): Promise<SendResult>;
  replaceMessage(conv: ConvId, seq: number, text: string, options?: StreamOptions & { final?: false }): Promise<StreamProgress>;
  replaceMessage(conv: ConvId, seq: number, text: string, options?: StreamOptions): Promise<StreamProgress | SendResult>;
  replaceMessage(conv: ConvId, seq: number, text: string, options: StreamOptions = {}): Promise<StreamProgress | SendResult> {
    return this.streamOp("replace", conv, seq, text, options);
  }

  private streamOp(
    op: "append" | "replace",
    conv: ConvId,
    seq: number,
    text: string,
    options: StreamOptions,
  ): Promise<StreamProgress | SendResult> {
    const fields: Record<string, unknown> = { conv, seq, text };
    if (options.final !== undefined) fields.final = options.final;
    return this.request<StreamProgress | SendResult>(op, fields, options.timeoutMs);
  }

  /** Withdraws a message for everyone; the answer is the recall event's. */
  recall(conv: ConvId, seq: number): Promise<SendResult> {
    return this.request<SendResult>("recall", { conv, seq });
  }

  /** Hides a message from your own view only. */
  async delete(conv: ConvId, seq: number): Promise<void> {
    await this.request("delete", { conv, seq });
  }

  /** Moves your read position (never back); resolves with the position after. */
  async read(conv: ConvId, seq: number): Promise<number> {
    const answer = await this.request<{ read_seq: number }>("read", { conv, seq });
    return answer.read_seq;
  }

  /** Moves your delivery position (never back); resolves with the position after. */
  async ack(conv: ConvId, seq: number): Promise<number> {
    const answer = await this.request<{ delivered_seq: number }>("ack", { conv, seq });
    return answer.delivered_seq;
  }

  /** Tells the other members you are typing (at most 5 per 5 s, else `rate_limited`). */
  async typing(conv: ConvId): Promise<void> {
    await this.request("typing", { conv });
  }

  /**
   * A page of a conversation's timeline, as the server sends it. These events do not
   * go through the event stream: the app merges them into what it holds by seq.
   */
  history(conv: ConvId, query: HistoryQuery = {}): Promise<EventPage> {
    return this.request<EventPage>("history", { conv, ...query });
  }

  /**
   * The raw `sync` op: the answer only, nothing delivered. The SDK runs its own
   * sync on every connect; use resync() to ask for one.
   */
  sync(convs: Record<string, number>, limit?: number): Promise<SyncAnswer> {
    return this.request<SyncAnswer>("sync", limit === undefined ? { convs } : { convs, limit });
  }

  /** Reports what the user did with an in-app `notification` event (push analytics). */
  async pushEvent(push: number, type: PushEventType): Promise<void> {
    await this.request("push_event", { push, type });
  }

  /* ------------------------------------------------------------------ calls */

  /**
   * Rings the other members of `conv` (2 to `call_max_participants` members): they
   * get a `call` event of type `invite` (members with no session open, a push of
   * category "call"). Nobody accepting before `ring_until` ends it as missed.
   * Errors: `conflict` (the conversation has a call already, or is too small or too
   * large), `not_found` (not a member).
   */
  startCall(conv: ConvId, options: { media?: CallMedia } = {}): Promise<CallInvite> {
    const fields: Record<string, unknown> = { conv };
    if (options.media !== undefined) fields.media = options.media;
    return this.request<CallInvite>("call_invite", fields);
  }

  /** Tells the caller this device is ringing (they get `ringing`). */
  async ringing(call: CallId): Promise<void> {
    await this.request("call_ringing", { call });
  }

  /** Joins the call (everyone gets `accept`); `conflict` after rejecting it. */
  async acceptCall(call: CallId): Promise<void> {
    await this.request("call_accept", { call });
  }

  /**
   * Declines the call (everyone gets `reject`); it ends once nobody is left to ring
   * and nobody but the caller is in. `conflict` once you are in it: hangUp().
   */
  async rejectCall(call: CallId): Promise<void> {
    await this.request("call_reject", { call });
  }

  /** The caller gives up before anyone accepted (`conflict` otherwise). */
  async cancelCall(call: CallId): Promise<void> {
    await this.request("call_cancel", { call });
  }

  /** Leaves the call; it ends when fewer than two are left in it (the caller's hangup before any accept cancels it). */
  async hangUp(call: CallId): Promise<void> {
    await this.request("call_hangup", { call });
  }

  /**
   * Relays `data` (an SDP offer or answer, an ICE candidate: any object of at most
   * 16 KiB as compact JSON) to participant `to` alone, as a `signal` event.
   * Errors: `conflict` (`to` is you, not in the call, or left it),
   * `payload_too_large`, `not_found` (no such call, or not yours).
   */
  async signalCall(call: CallId, to: UserId, data: CallSignalData): Promise<void> {
    await this.request("call_signal", { call, to, data });
  }

  /**
   * Forgets the user's state: synced seqs, the outbox (its send() promises reject
   * with `cancelled`), pending acks. For a logout, or a login as someone else: their
   * messages must not go out under another account.
   */
  protected resetSession(): void {
    this.outbox.clear();
    this.close();
    this.order.clear();
    this.ackDirty.clear();
    this.everConnected = false;
    this.lastConnected = null;
    this.currentUser = null;
  }

  /* ====================================================== requests and answers */

  private request<T>(op: string, fields: object, timeoutMs?: number): Promise<T> {
    if (this.ws === null || (!this.authed && op !== "auth")) {
      return Promise.reject(localError(LOCAL_CODES.notConnected, `${op}: not connected`));
    }
    const ws = this.ws;
    const id = String(++this.nextId);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(localError(LOCAL_CODES.timeout, `${op}: no answer in time`));
      }, timeoutMs ?? this.rtOptions.requestTimeoutMs);
      this.pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        ws.send(JSON.stringify({ id, op, ...fields }));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(localError(LOCAL_CODES.network, `${op}: ${String(err)}`));
      }
    });
  }

  private onAnswer(msg: Record<string, unknown>): void {
    const pending = this.pending.get(String(msg.re));
    if (pending === undefined) {
      return; // timed out already, or `re: null` for a request we never made
    }
    this.pending.delete(String(msg.re));
    clearTimeout(pending.timer);
    if ("ok" in msg) {
      pending.resolve(msg.ok);
    } else {
      pending.reject(wsError(pending.op, msg.error));
    }
  }

  private rejectAllPending(err: PipitError): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.pending.clear();
  }

  /* ============================================================== the socket */

  private openSocket(): void {
    const Ctor = this.rtOptions.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Ctor === undefined) {
      this.wanted = false;
      const err = localError(
        LOCAL_CODES.unsupported,
        "no WebSocket here: pass one in the options (Node 20: run with --experimental-websocket)",
      );
      this.settleConnectWaiters(err);
      this.emitter.emit("error", err);
      return;
    }
    const epoch = ++this.epoch;
    let ws: WebSocketLike;
    try {
      ws = new Ctor(this.rtOptions.wsUrl);
    } catch (err) {
      this.afterClose(0, `cannot open: ${String(err)}`);
      return;
    }
    this.ws = ws;
    this.lastFrameAt = Date.now();
    // A server that accepts TCP but never upgrades (overloaded, stopped) would keep
    // a browser waiting for minutes.
    this.openTimer = setTimeout(() => {
      this.openTimer = null;
      this.dropSocket(CLOSE_OPEN_TIMEOUT, "no handshake in time");
    }, this.rtOptions.requestTimeoutMs);
    ws.onopen = () => {
      if (epoch === this.epoch) void this.authenticate(epoch);
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (epoch === this.epoch) this.onFrame(event.data);
    };
    ws.onclose = (event: { code?: number; reason?: string }) => {
      if (epoch === this.epoch) {
        this.ws = null;
        this.epoch++; // late answers and timers of this socket now do nothing
        this.afterClose(event.code ?? 1006, event.reason ?? "");
      }
    };
    ws.onerror = () => {
      // The close event follows with the code; nothing to add here.
    };
  }

  /**
   * Forgets the current socket now and closes it. A dead peer may never finish the
   * closing handshake, so the SDK does not wait for the close event.
   */
  private dropSocket(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === null) {
      return;
    }
    this.ws = null;
    this.epoch++;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      // Already closing or closed: nothing more to do.
    }
    this.afterClose(code, reason);
  }

  private afterClose(code: number, reason: string): void {
    this.authed = false;
    this.syncing = false;
    this.pingInFlight = false;
    this.clearTimer("openTimer");
    this.clearTimer("pingTimer");
    this.rejectAllPending(localError(LOCAL_CODES.disconnected, `connection closed (${code})`));
    this.outbox.disconnected();
    if (code === CLOSE_POLICY) {
      this.wanted = false; // the token is dead; see "Close codes"
      this.settleConnectWaiters(new PipitError(0, "unauthorized", reason || "session ended by the server"));
    }
    const info: DisconnectedInfo = { code, reason, willReconnect: this.wanted };
    if (this.wanted) {
      info.retryInMs = this.scheduleReconnect();
    }
    this.emitter.emit("disconnected", info);
  }

  private scheduleReconnect(): number {
    const { reconnectMinMs: min, reconnectMaxMs: max } = this.rtOptions;
    const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt, 30));
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt++;
    this.clearTimer("reconnectTimer");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.wanted && this.ws === null) {
        this.openSocket();
      }
    }, delay);
    return delay;
  }

  private async authenticate(epoch: number): Promise<void> {
    this.clearTimer("openTimer");
    const token = this.rtOptions.getToken();
    if (token === null) {
      this.failAuth(new PipitError(0, "unauthorized", "no session token: log in first"));
      return;
    }
    let answer: { user: UserRef; protocol: number };
    try {
      answer = await this.request("auth", { token });
    } catch (err) {
      if (epoch !== this.epoch) return;
      const error = err as PipitError;
      if (error.code === "unauthorized" || error.code === "mfa_enrollment_required") {
        this.failAuth(error);
      } else {
        this.dropSocket(CLOSE_AUTH_FAILED, `auth failed: ${error.code}`);
      }
      return;
    }
    if (epoch !== this.epoch) return;
    this.authed = true;
    this.attempt = 0;
    this.currentUser = answer.user;
    const info: ConnectedInfo = { user: answer.user, protocol: answer.protocol, reconnect: this.everConnected };
    this.everConnected = true;
    this.lastConnected = info;
    this.startKeepalive();
    this.emitter.emit("connected", info);
    this.outbox.flush();
    this.requestSync();
    this.scheduleAcks();
  }

  /** A refused token: stop, since retrying with it cannot succeed. */
  private failAuth(err: PipitError): void {
    this.wanted = false;
    this.settleConnectWaiters(err);
    this.emitter.emit("error", err);
    this.dropSocket(CLOSE_BY_CLIENT, "token refused");
  }

  private settleConnectWaiters(err: PipitError | null): void {
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      if (err !== null) {
        w.reject(err);
      } else if (this.lastConnected !== null) {
        w.resolve(this.lastConnected);
      }
    }
  }

  private startKeepalive(): void {
    this.clearTimer("pingTimer");
    const interval = this.rtOptions.pingIntervalMs;
    // Checked at a finer step than the interval, so silence is noticed within 1.25x.
    this.pingTimer = setInterval(() => this.checkAlive(), Math.max(50, interval / 4));
  }

  private checkAlive(): void {
    if (!this.authed || this.pingInFlight) {
      return;
    }
    if (Date.now() - this.lastFrameAt < this.rtOptions.pingIntervalMs) {
      return;
    }
    this.pingInFlight = true;
    const epoch = this.epoch;
    this.ping().then(
      () => {
        this.pingInFlight = false;
      },
      (err: PipitError) => {
        this.pingInFlight = false;
        if (epoch === this.epoch && err.code === LOCAL_CODES.timeout) {
          this.dropSocket(CLOSE_PING_TIMEOUT, "ping not answered");
        }
      },
    );
  }

  private onFrame(data: unknown): void {
    this.lastFrameAt = Date.now();
    if (typeof data !== "string") {
      return; // the protocol sends text only
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
      return;
    }
    const obj = msg as Record<string, unknown>;
    if ("re" in obj) {
      this.onAnswer(obj);
    } else if (isTimeline(obj)) {
      this.onLiveTimeline(obj);
    } else if (obj.ev === "conv_deleted" && typeof obj.conv === "number") {
      this.forget(obj.conv as ConvId); // an admin deleted it: as gone as sync's `removed`
    } else if (typeof obj.ev === "string" && OTHER_EVENT_NAMES.has(obj.ev)) {
      this.emitter.emit(obj.ev as keyof RealtimeEvents, obj as never);
    }
    // Anything else is an event this version does not know: ignored, as the doc asks.
  }

  /* ======================================================= ordering and sync */

  private onLiveTimeline(event: TimelineEvent): void {
    if (this.order.offerLive(event) === "ahead") {
      // Missed events, or a conversation new to us that starts with our own
      // `joined`: sync brings what comes before this one.
      this.requestSync();
    }
  }

  private deliver(event: TimelineEvent): void {
    this.emitter.emit("timeline", event);
    if (TIMELINE_NAMES.has(event.ev)) {
      this.emitter.emit(event.ev as keyof RealtimeEvents, event as never);
    }
    this.markForAck(event.conv);
  }

  private requestSync(): void {
    if (!this.authed) {
      return; // authenticate() syncs on the next connect
    }
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    void this.runSync(this.epoch);
  }

  private async runSync(epoch: number): Promise<void> {
    this.syncing = true;
    const total: SyncedInfo = { rounds: 0, events: 0 };
    try {
      for (let pass = 0; pass < MAX_SYNC_PASSES; pass++) {
        this.syncAgain = false;
        await this.syncUntilDone(epoch, total);
        if (!this.syncAgain && this.order.holes().length === 0) break;
      }
    } catch (err) {
      if (epoch === this.epoch) {
        this.emitter.emit("error", err as PipitError);
        this.dropSocket(CLOSE_SYNC_FAILED, "sync failed"); // reconnecting syncs again
      }
      return;
    }
    if (epoch !== this.epoch) return;
    this.syncing = false;
    const holes = this.order.holes();
    if (holes.length !== 0) {
      // Three passes and the server still skips seqs it sent live: say so, keep
      // the events held; the next live event or resync() tries again.
      this.emitter.emit("error", localError(LOCAL_CODES.badResponse, `sync left holes in conversations ${holes.join(", ")}`));
    }
    this.emitter.emit("synced", total);
    this.settleConnectWaiters(null);
  }

  /** Sync rounds until no entry says has_more and the answer not more. */
  private async syncUntilDone(epoch: number, total: SyncedInfo): Promise<void> {
    for (let round = 0; round < MAX_SYNC_ROUNDS; round++) {
      const answer = await this.sync(this.getSyncedSeqs(), this.rtOptions.syncLimit);
      if (epoch !== this.epoch) {
        throw localError(LOCAL_CODES.disconnected, "sync: connection closed");
      }
      total.rounds++;
      let again = answer.more === true;
      let moved = false;
      for (const entry of answer.convs ?? []) {
        const conv = entry.conv.id;
        const before = this.order.synced(conv);
        this.emitter.emit("conversation", entry.conv); // before its events: the app files them under it
        total.events += this.order.applySync(conv, entry.events ?? [], entry.gap);
        moved ||= this.order.synced(conv) > before;
        again ||= entry.has_more === true;
      }
      for (const conv of answer.removed ?? []) {
        this.forget(conv);
      }
      if (!again) return;
      if (!moved) {
        throw localError(LOCAL_CODES.badResponse, "sync asked for more but gave nothing new");
      }
    }
    throw localError(LOCAL_CODES.badResponse, `sync did not finish in ${MAX_SYNC_ROUNDS} rounds`);
  }

  private forget(conv: ConvId): void {
    this.order.forget(conv);
    this.ackDirty.delete(conv);
    this.emitter.emit("removed", { conv });
  }

  /* ==================================================================== acks */

  private markForAck(conv: ConvId): void {
    if (!this.rtOptions.autoAck) {
      return;
    }
    this.ackDirty.add(conv);
    this.scheduleAcks();
  }

  private scheduleAcks(): void {
    if (this.ackTimer === null && this.ackDirty.size > 0) {
      this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
    }
  }

  private flushAcks(): void {
    this.ackTimer = null;
    if (!this.authed) {
      return; // kept in ackDirty: authenticate() schedules them again
    }
    for (const conv of this.ackDirty) {
      const seq = this.order.synced(conv);
      if (seq > 0) {
        // A failed ack costs only a delivery receipt; the next one covers it.
        this.ack(conv, seq).catch(() => undefined);
      }
    }
    this.ackDirty.clear();
  }

  /* =================================================================== misc */

  private clearTimer(name: "reconnectTimer" | "openTimer" | "pingTimer" | "ackTimer"): void {
    const timer = this[name];
    if (timer !== null) {
      clearTimeout(timer);
      clearInterval(timer);
      this[name] = null;
    }
  }
}

function wsError(op: string, error: unknown): PipitError {
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === "string") {
      return new PipitError(0, code, typeof message === "string" ? message : code);
    }
  }
  return localError(LOCAL_CODES.badResponse, `${op}: malformed error answer`);
}
