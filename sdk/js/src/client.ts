/**
 * Client: the one object an app makes. It is the realtime session (Realtime, in
 * realtime.ts: events, send, sync, outbox) plus the REST calls of docs/openapi.yaml
 * that a chat app needs, sharing one token.
 *
 * Every REST call has a timeout (`requestTimeoutMs`, the body included, since a
 * stalled answer is as bad as none) and fails with a PipitError: the server's
 * `{"error":{"code","message"}}` with its HTTP status, or a local code (`timeout`,
 * `network`, `bad_response`) with status 0.
 */

import { LOCAL_CODES, PipitError, parseAnswer } from "./errors.js";
import { Realtime, type WebSocketConstructor } from "./realtime.js";
import type {
  Conversation,
  ConversationPatch,
  ConversationWithMembers,
  ConvId,
  Device,
  EventPage,
  HistoryQuery,
  LoginOptions,
  Me,
  Member,
  MemberPatch,
  MfaEnrollment,
  MfaProof,
  MfaStatus,
  NewDevice,
  NewGroup,
  NewMessage,
  NotificationSettings,
  PushEventType,
  SendResult,
  Session,
  SessionInfo,
  TurnCredentials,
  UserSelector,
} from "./types.js";

export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** The server's HTTP base URL, e.g. "http://127.0.0.1:8080" or "https://chat.example.com". */
  url: string;
  /** A session token from an earlier login; login() and register() set it too. */
  token?: string | null;
  /** WebSocket constructor; default: the global one. */
  WebSocket?: WebSocketConstructor;
  /** fetch; default: the global one. */
  fetch?: FetchFunction;
  /** Timeout of every REST call and WebSocket op, in ms. Default 10000. */
  requestTimeoutMs?: number;
  /** First reconnect delay, in ms (it doubles per failed attempt). Default 500. */
  reconnectMinMs?: number;
  /** Longest reconnect delay, in ms. Default 30000. */
  reconnectMaxMs?: number;
  /** Silence from the server after which the SDK sends `ping`, in ms. Default 25000. */
  pingIntervalMs?: number;
  /** Events per conversation per sync page (1 to 200). Default: the server's (100). */
  syncLimit?: number;
  /** Acknowledge delivered events (`ack`) by itself. Default true. */
  autoAck?: boolean;
  /** Synced seqs saved from an earlier run (getSyncedSeqs()). */
  seqs?: Record<string, number>;
}

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
  pingIntervalMs: 25_000,
};

/** http(s)://host[:port][/prefix] → ws(s)://host[:port][/prefix]/v1/ws */
export function webSocketUrl(httpBase: string): string {
  const url = new URL(httpBase);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`url must be http:// or https://, not ${url.protocol}`);
  }
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = url.pathname.replace(/\/+$/, "") + "/v1/ws";
  url.search = "";
  url.hash = "";
  return url.toString();
}

function segment(value: string | number): string {
  return encodeURIComponent(String(value));
}

export class Client extends Realtime {
  /** The HTTP base URL, without a trailing slash. */
  readonly url: string;
  /** The session token in use; null when logged out. */
  token: string | null;
  /** The fetch in use; files.ts sends and reads file bodies through it. */
  readonly fetchImpl: FetchFunction;
  /** The timeout of every REST call, in ms. */
  readonly requestTimeoutMs: number;

  constructor(options: ClientOptions) {
    const timeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
    let self: Client | null = null;
    super({
      wsUrl: webSocketUrl(options.url),
      getToken: () => self?.token ?? null,
      ...(options.WebSocket !== undefined ? { WebSocket: options.WebSocket } : {}),
      requestTimeoutMs: timeoutMs,
      reconnectMinMs: options.reconnectMinMs ?? DEFAULTS.reconnectMinMs,
      reconnectMaxMs: options.reconnectMaxMs ?? DEFAULTS.reconnectMaxMs,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
      ...(options.syncLimit !== undefined ? { syncLimit: options.syncLimit } : {}),
      autoAck: options.autoAck ?? true,
      ...(options.seqs !== undefined ? { seqs: options.seqs } : {}),
    });
    self = this;
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token ?? null;
    this.requestTimeoutMs = timeoutMs;
    // Bound, because a browser's fetch called as a method of another object throws
    // "Illegal invocation".
    const globalFetch = (globalThis as { fetch?: FetchFunction }).fetch;
    this.fetchImpl = options.fetch ?? ((input, init) => {
      if (globalFetch === undefined) {
        throw new PipitError(0, LOCAL_CODES.unsupported, "no fetch here: pass one in the options");
      }
      return globalFetch.call(globalThis, input, init);
    });
  }

  /* ================================================================ accounts */

  /** Creates an account (servers with `registration = open`) and logs in. */
  async register(username: string, password: string): Promise<Session> {
    const session = await this.call<Session>("POST", "/v1/auth/register", { username, password }, false);
    this.startSession(session);
    return session;
  }

  /**
   * Logs in. An account with two-factor authentication answers a right password
   * with 401 `mfa_required`: ask for the code, then log in again with the same
   * username and password and `code` (or `recoveryCode`). A wrong or reused code is
   * 403 `invalid_mfa_code`; too many tries, 429 `rate_limited` with `retryAfterMs`.
   * A session with `mfa_enrollment_required` must enrol (mfaBegin, mfaConfirm)
   * before anything else works.
   */
  async login(username: string, password: string, options: LoginOptions = {}): Promise<Session> {
    const body: Record<string, string> = { username, password };
    if (options.device !== undefined) body.device = options.device;
    if (options.code !== undefined) body.code = options.code;
    if (options.recoveryCode !== undefined) body.recovery_code = options.recoveryCode;
    const session = await this.call<Session>("POST", "/v1/auth/login", body, false);
    this.startSession(session);
    return session;
  }

  /** A login as someone else starts from nothing; the same user keeps seqs and outbox. */
  private startSession(session: Session): void {
    if (this.currentUser !== null && this.currentUser.id !== session.user.id) {
      this.resetSession();
    }
    this.token = session.token;
    this.currentUser = session.user;
  }

  /**
   * Ends the session on the server and here. The socket closes first, and the
   * user's state goes: synced seqs, and the outbox (unsent messages are dropped).
   */
  async logout(): Promise<void> {
    this.resetSession();
    try {
      await this.call<void>("POST", "/v1/auth/logout");
    } finally {
      this.token = null;
    }
  }

  me(): Promise<Me> {
    return this.call<Me>("GET", "/v1/me");
  }

  /**
   * Changes the password (403 `wrong_password`, 400 `weak_password`). The server
   * ends every session of the user, this one too, and answers with a new token,
   * which replaces this client's. The socket, if open, is closed first (the
   * server's own close of the old session would stop it for good) and opened again
   * with whichever token holds afterwards.
   */
  async changePassword(password: string, newPassword: string): Promise<Session> {
    const live = this.state !== "idle";
    if (live) this.close();
    try {
      const session = await this.call<Session>("POST", "/v1/me/password", { password, new_password: newPassword });
      this.startSession(session);
      return session;
    } finally {
      // Its failures are reported as events, like those of any reconnect.
      if (live) this.connect().catch(() => undefined);
    }
  }

  /* ================================================ two-factor authentication */

  mfaStatus(): Promise<MfaStatus> {
    return this.call<MfaStatus>("GET", "/v1/me/mfa");
  }

  /**
   * Begins an enrolment (403 `wrong_password`, 409 `conflict` when it is on
   * already): show `otpauth_uri` as a QR code and `secret` for typing, then pass
   * the app's first code to mfaConfirm(). Beginning again replaces the secret.
   */
  mfaBegin(password: string): Promise<MfaEnrollment> {
    return this.call<MfaEnrollment>("POST", "/v1/me/mfa", { password });
  }

  /**
   * Turns two-factor authentication on with a code from the app (403
   * `invalid_mfa_code`, 409 `conflict` with no enrolment begun) and resolves with
   * the recovery codes, which are never shown again. A session that had
   * `mfa_enrollment_required` is a full one from now on: connect() again if its
   * socket was refused.
   */
  async mfaConfirm(code: string): Promise<string[]> {
    const answer = await this.call<{ recovery_codes: string[] }>("POST", "/v1/me/mfa/confirm", { code });
    return answer.recovery_codes;
  }

  /** Turns it off (403 `wrong_password`, `invalid_mfa_code`, or `forbidden` where the app requires it). */
  async mfaDisable(password: string, proof: MfaProof): Promise<void> {
    const body = "code" in proof ? { password, code: proof.code } : { password, recovery_code: proof.recoveryCode };
    await this.call<void>("POST", "/v1/me/mfa/disable", body);
  }

  /** A new set of recovery codes for a current code; the old set stops working. */
  async mfaRecoveryCodes(code: string): Promise<string[]> {
    const answer = await this.call<{ recovery_codes: string[] }>("POST", "/v1/me/mfa/recovery-codes", { code });
    return answer.recovery_codes;
  }

  /* ================================================================ sessions */

  /** The user's signed-in sessions; `current` marks this one. */
  async sessions(): Promise<SessionInfo[]> {
    const answer = await this.call<{ sessions: SessionInfo[] }>("GET", "/v1/me/sessions");
    return answer.sessions;
  }

  /** Ends one session (404 `not_found`); its socket is closed by the server. */
  async revokeSession(id: number): Promise<void> {
    await this.call<void>("DELETE", `/v1/me/sessions/${segment(id)}`);
  }

  /** Ends every session of the user but this one. */
  async revokeOtherSessions(): Promise<void> {
    await this.call<void>("DELETE", "/v1/me/sessions");
  }

  /* =========================================================== conversations */

  /** Yours, most recently active first; refreshes read_seq and unread after a reconnect. */
  async listConversations(): Promise<Conversation[]> {
    const answer = await this.call<{ conversations: Conversation[] }>("GET", "/v1/conversations");
    return answer.conversations;
  }

  getConversation(conv: ConvId): Promise<ConversationWithMembers> {
    return this.call<ConversationWithMembers>("GET", `/v1/conversations/${segment(conv)}`);
  }

  /** The direct conversation with `peer`, made if there is none yet. */
  createDirect(peer: UserSelector): Promise<Conversation> {
    return this.call<Conversation>("POST", "/v1/conversations", { type: "direct", peer });
  }

  /** A group with you as its owner. */
  createGroup(group: NewGroup): Promise<Conversation> {
    return this.call<Conversation>("POST", "/v1/conversations", { type: "group", ...group });
  }

  /** Changes a group's settings (owner or admin). */
  updateConversation(conv: ConvId, patch: ConversationPatch): Promise<Conversation> {
    return this.call<Conversation>("PATCH", `/v1/conversations/${segment(conv)}`, patch);
  }

  async listMembers(conv: ConvId): Promise<Member[]> {
    const answer = await this.call<{ members: Member[] }>("GET", `/v1/conversations/${segment(conv)}/members`);
    return answer.members;
  }

  addMember(conv: ConvId, user: UserSelector): Promise<Member> {
    return this.call<Member>("POST", `/v1/conversations/${segment(conv)}/members`, { user });
  }

  /** Removes a member; with your own id or username, you leave. */
  async removeMember(conv: ConvId, user: UserSelector): Promise<void> {
    await this.call<void>("DELETE", `/v1/conversations/${segment(conv)}/members/${segment(user)}`);
  }

  /** Changes a member's role (owner only) or mutes them (`muted_until`, 0 unmutes). */
  updateMember(conv: ConvId, user: UserSelector, patch: MemberPatch): Promise<Member> {
    return this.call<Member>("PATCH", `/v1/conversations/${segment(conv)}/members/${segment(user)}`, patch);
  }

  setMemberRole(conv: ConvId, user: UserSelector, role: "admin" | "member"): Promise<Member> {
    return this.updateMember(conv, user, { role });
  }

  /** Mutes a member until `until` (ms since 1970); 0 unmutes. */
  muteMember(conv: ConvId, user: UserSelector, until: number): Promise<Member> {
    return this.updateMember(conv, user, { muted_until: until });
  }

  /** Makes `user` the owner; you become an admin. */
  transferOwnership(conv: ConvId, user: UserSelector): Promise<Conversation> {
    return this.call<Conversation>("POST", `/v1/conversations/${segment(conv)}/owner`, { user });
  }

  /* ================================================================ messages */

  /** GET .../messages: the REST twin of history(), usable without a socket. */
  listMessages(conv: ConvId, query: HistoryQuery = {}): Promise<EventPage> {
    const params = new URLSearchParams();
    for (const key of ["before", "after", "limit"] as const) {
      const value = query[key];
      if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString() === "" ? "" : `?${params.toString()}`;
    return this.call<EventPage>("GET", `/v1/conversations/${segment(conv)}/messages${qs}`);
  }

  /**
   * POST .../messages: a send without the socket and without the outbox (a bot, a
   * form post). Retry with the same cmid if the answer is lost.
   */
  postMessage(conv: ConvId, message: NewMessage): Promise<SendResult> {
    return this.call<SendResult>("POST", `/v1/conversations/${segment(conv)}/messages`, message);
  }

  /* ==================================================================== push */

  registerDevice(device: NewDevice): Promise<Device> {
    return this.call<Device>("POST", "/v1/devices", device);
  }

  async listDevices(): Promise<Device[]> {
    const answer = await this.call<{ devices: Device[] }>("GET", "/v1/devices");
    return answer.devices;
  }

  async deleteDevice(id: number): Promise<void> {
    await this.call<void>("DELETE", `/v1/devices/${segment(id)}`);
  }

  getNotificationSettings(): Promise<NotificationSettings> {
    return this.call<NotificationSettings>("GET", "/v1/me/notification-settings");
  }

  /** Replaces every setting: a key left out goes back to its default. */
  putNotificationSettings(settings: Partial<NotificationSettings>): Promise<NotificationSettings> {
    return this.call<NotificationSettings>("PUT", "/v1/me/notification-settings", settings);
  }

  async listTopics(): Promise<string[]> {
    const answer = await this.call<{ topics: string[] }>("GET", "/v1/me/topics");
    return answer.topics;
  }

  async subscribeTopic(topic: string): Promise<void> {
    await this.call<void>("PUT", `/v1/me/topics/${segment(topic)}`);
  }

  async unsubscribeTopic(topic: string): Promise<void> {
    await this.call<void>("DELETE", `/v1/me/topics/${segment(topic)}`);
  }

  /** The VAPID public key (base64url), for pushManager.subscribe(). Needs no token. */
  async vapidPublicKey(): Promise<string> {
    const answer = await this.call<{ key: string }>("GET", "/v1/push/vapid-public-key", undefined, false);
    return answer.key;
  }

  /**
   * POST /v1/push/{push}/events: what the user did with a push. With `device`, for
   * that device's delivery (Web Push, APNs, FCM); without, for the in-app one
   * (pushEvent() does the same over the socket).
   */
  async reportPushEvent(push: number, type: PushEventType, device?: number): Promise<void> {
    const body = device === undefined ? { type } : { type, device };
    await this.call<void>("POST", `/v1/push/${segment(push)}/events`, body);
  }

  /* =================================================================== calls */

  /**
   * GET /v1/turn: short-lived credentials for the server's TURN relays, for an
   * RTCPeerConnection's iceServers (see turnIceServers() in calls.ts). Rejects
   * with 404 `not_found` when the server has no TURN server configured.
   */
  getTurnCredentials(): Promise<TurnCredentials> {
    return this.call<TurnCredentials>("GET", "/v1/turn");
  }

  /* ================================================================ the call */

  /** One REST request; resolves with the parsed JSON, or undefined for 204. */
  async call<T>(method: string, path: string, body?: unknown, withToken = true): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (withToken && this.token !== null) headers.Authorization = `Bearer ${this.token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);

    const controller = new AbortController();
    init.signal = controller.signal;
    const timer = setTimeout(() => controller.abort(), this.requestTimeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await this.fetchImpl(this.url + path, init);
      status = response.status;
      retryAfter = response.headers.get("Retry-After");
      text = await response.text();
    } catch (err) {
      if (err instanceof PipitError) throw err;
      if (controller.signal.aborted) {
        throw new PipitError(0, LOCAL_CODES.timeout, `${method} ${path}: no answer in time`);
      }
      throw new PipitError(0, LOCAL_CODES.network, `${method} ${path}: ${String(err)}`);
    } finally {
      clearTimeout(timer);
    }
    return parseAnswer<T>(status, text, retryAfter);
  }
}
