/**
 * Wire types of the pipit REST API (docs/openapi.yaml) and WebSocket protocol
 * version 1 (docs/protocol.md). Field names are the server's, snake_case included,
 * so objects pass through unchanged. Servers may add fields: treat every type as
 * "at least these".
 */

/** Milliseconds since 1970-01-01 UTC. */
export type Millis = number;
export type UserId = number;
export type ConvId = number;
/** A user by id (a JSON integer) or by username (a string). */
export type UserSelector = UserId | string;
export type Role = "owner" | "admin" | "member";

export interface UserRef {
  id: UserId;
  username: string;
}

export interface Session {
  token: string;
  user: UserRef;
  /**
   * The app requires two-factor authentication of this user and they have none
   * yet: until mfaConfirm() succeeds, the token opens only /v1/me, its mfa and
   * sessions routes, the password change and logout (everything else answers 403
   * `mfa_enrollment_required`, the socket's auth too).
   */
  mfa_enrollment_required?: true;
}

export interface Me extends UserRef {
  display_name: string | null;
  role: "user" | "admin";
  created_at: Millis;
  mfa_enabled: boolean;
  /** The app's policy requires two-factor authentication of this user. */
  mfa_required: boolean;
}

/** What login() sends besides the password. */
export interface LoginOptions {
  /** The 6-digit code of the user's authenticator app (RFC 6238 TOTP). */
  code?: string;
  /** One of the user's recovery codes, instead of `code`; each works once. */
  recoveryCode?: string;
  /** A name for this session in the user's session list, at most 100 characters. */
  device?: string;
}

/* ---- account security: two-factor authentication and sessions ---- */

export interface MfaStatus {
  enabled: boolean;
  /** The app's policy requires it of this user: it cannot be turned off. */
  required: boolean;
  /** An enrolment was begun (mfaBegin) and not confirmed yet. */
  pending: boolean;
  recovery_codes_left: number;
}

/** The start of an enrolment: the shared secret, for the authenticator app. */
export interface MfaEnrollment {
  /** Base32, for typing into the app by hand. */
  secret: string;
  /** "otpauth://totp/…", for a QR code. */
  otpauth_uri: string;
}

/** A second step for mfaDisable(): a current code, or a recovery code. */
export type MfaProof = { code: string } | { recoveryCode: string };

/** One signed-in session of the user (a token), as GET /v1/me/sessions lists it. */
export interface SessionInfo {
  id: number;
  /** The name given at login, or null. */
  device: string | null;
  /** The address it was last used from. */
  ip: string;
  created_at: Millis;
  last_seen_at: Millis;
  expires_at: Millis;
  /** It has a WebSocket open now. */
  online: boolean;
  /** The session making this call. */
  current: boolean;
}

/** A message body: a string `type`, the rest is up to the apps. */
export interface MessageBody {
  type: string;
  [key: string]: unknown;
}

export type Mentions = UserId[] | "all";

/* ---- timeline events: every one has conv, seq, id, from, ts ---- */

export interface TimelineBase {
  conv: ConvId;
  seq: number;
  id: number;
  from: UserId;
  ts: Millis;
}

export interface MessageEvent extends TimelineBase {
  ev: "message";
  cmid: string;
  /** Absent when recalled, deleted or erased (history and sync only). */
  body?: MessageBody;
  reply_to?: number;
  mentions?: Mentions;
  edited?: true;
  edited_at?: Millis;
  recalled?: true;
  deleted?: true;
  /** The sender's account was erased: the message is a tombstone at its seq. */
  erased?: true;
  /**
   * A streaming message still being written: its sender grows it (`stream`
   * events, append) or rewrites it (replace) until a final `edit` with
   * `streamed: true`. Absent once finished.
   */
  streaming?: true;
}

export interface EditEvent extends TimelineBase {
  ev: "edit";
  target: number;
  /** Absent in history and sync once the target was recalled. */
  body?: MessageBody;
  /**
   * The end of a streaming message: `body` is the finished text. The target is
   * not marked edited (no `edited` in history and sync) and is no longer streaming.
   */
  streamed?: true;
}

export interface RecallEvent extends TimelineBase {
  ev: "recall";
  target: number;
}

export interface MemberEvent extends TimelineBase {
  ev: "member";
  action: "joined" | "left" | "removed" | "role" | "muted";
  user: UserId;
  role?: Role;
  /** With `muted`: ms until which the user is muted; 0 = unmuted. */
  until?: Millis;
}

export interface ConvCreatedEvent extends TimelineBase {
  ev: "conv_created";
  type: "group";
  title: string | null;
  member_count: number;
}

export interface ConvChanges {
  title?: string | null;
  avatar_url?: string | null;
  description?: string | null;
  announcement?: string | null;
  muted_all?: boolean;
  owner?: UserId;
}

export interface ConvUpdatedEvent extends TimelineBase {
  ev: "conv_updated";
  changes: ConvChanges;
}

/**
 * A timeline event this SDK version does not know by name. It still takes a seq,
 * so it is delivered in order like the others (ignoring it would look like a hole).
 */
export interface UnknownTimelineEvent extends TimelineBase {
  ev: string;
  [key: string]: unknown;
}

/**
 * A call ended (see the `call` events): who took part, when, for how long. It
 * takes a seq like a message, so history and sync show it. `from` is the caller.
 */
export interface CallRecordEvent extends TimelineBase {
  ev: "call_record";
  call: CallId;
  media: CallMedia;
  /** Everyone the call rang, the caller included, ascending (without those who left the conversation meanwhile). */
  participants: UserId[];
  created_at: Millis;
  /** The first accept; null when nobody accepted. */
  started_at: Millis | null;
  ended_at: Millis;
  /** From the first accept to the end; 0 when missed. */
  duration_ms: number;
  /** Nobody accepted it. */
  missed: boolean;
  reason: CallEndReason;
}

export type KnownTimelineEvent =
  | MessageEvent
  | EditEvent
  | RecallEvent
  | MemberEvent
  | ConvCreatedEvent
  | ConvUpdatedEvent
  | CallRecordEvent;

export type TimelineEvent = KnownTimelineEvent | UnknownTimelineEvent;

/* ---- events without a seq: not replayed by sync ---- */

export interface ReadEvent {
  ev: "read";
  conv: ConvId;
  user: UserId;
  seq: number;
}

export interface DeliveredEvent {
  ev: "delivered";
  conv: ConvId;
  user: UserId;
  seq: number;
}

export interface TypingEvent {
  ev: "typing";
  conv: ConvId;
  user: UserId;
}

/**
 * A chunk of a streaming message (the message at `seq`, still `streaming`):
 * `append` adds `text` to the end of its `body.text`, `replace` makes `text` the
 * whole of it. It has no seq of its own and is not replayed by sync: a client that
 * missed chunks gets the text as it is from history, and the finished text from
 * the final `edit` (`streamed: true`).
 */
export interface StreamEvent {
  ev: "stream";
  conv: ConvId;
  /** The streaming message's seq. */
  seq: number;
  op: "append" | "replace";
  text: string;
}

export interface PresenceEvent {
  ev: "presence";
  user: UserId;
  online: boolean;
  last_seen: Millis | null;
}

export type PushPriority = "high" | "normal" | "low";

/** A push that reached this user in-app; report it with `pushEvent()`. */
export interface NotificationEvent {
  ev: "notification";
  push: number;
  title: string;
  body?: string;
  data?: Record<string, unknown>;
  url?: string;
  image?: string;
  category?: string;
  priority: PushPriority;
  ts: Millis;
  [key: string]: unknown;
}

/* ---- calls: signalling only, the media go peer to peer (or through TURN) ---- */

export type CallId = number;
export type CallMedia = "audio" | "video";
/** Why a call ended: hung up, declined by everyone, given up by the caller, or rang out. */
export type CallEndReason = "ended" | "rejected" | "cancelled" | "timeout";

/** The answer to startCall(). */
export interface CallInvite {
  call: CallId;
  /** When the call ends as missed if nobody accepted it. */
  ring_until: Millis;
}

/**
 * What call_signal carries: any JSON object of at most 16 KiB (compact). The SDK's
 * PeerLink sends `{type: "offer"|"answer", sdp}` and `{candidate: {…}|null}`.
 */
export type CallSignalData = Record<string, unknown>;

interface CallEventBase {
  ev: "call";
  call: CallId;
  conv: ConvId;
  /** Who did it (for `end`: who ended the call; 0 when the server did, at `timeout`). */
  from: UserId;
}

/** Someone starts a call: sent to every member of the conversation, the caller too. */
export interface CallInviteEvent extends CallEventBase {
  type: "invite";
  media: CallMedia;
  ring_until: Millis;
}

/** A callee's device rings (sent to the caller only). */
export interface CallRingingEvent extends CallEventBase {
  type: "ringing";
}

export interface CallAcceptEvent extends CallEventBase {
  type: "accept";
}

export interface CallRejectEvent extends CallEventBase {
  type: "reject";
}

/** `from` left the call; it goes on while two participants are in it. */
export interface CallHangupEvent extends CallEventBase {
  type: "hangup";
}

/** An offer, answer or ICE candidate from `from`, for you alone. */
export interface CallSignalEvent extends CallEventBase {
  type: "signal";
  data: CallSignalData;
}

/** The call is over; a `call_record` timeline event follows. */
export interface CallEndEvent extends CallEventBase {
  type: "end";
  reason: CallEndReason;
  /** From the first accept to the end; 0 when nobody accepted. */
  duration_ms: number;
}

export type CallEvent =
  | CallInviteEvent
  | CallRingingEvent
  | CallAcceptEvent
  | CallRejectEvent
  | CallHangupEvent
  | CallSignalEvent
  | CallEndEvent;

/** GET /v1/turn: credentials for the TURN servers, in coturn's REST-secret scheme. */
export interface TurnCredentials {
  /** turn: / turns: URLs, as RTCIceServer.urls takes them. */
  urls: string[];
  /** "<expiry, unix seconds>:<user id>". */
  username: string;
  credential: string;
  /** How long they stay valid, in seconds. */
  ttl: number;
  expires_at: Millis;
}

/* ---- conversations and members ---- */

export interface Peer extends UserRef {
  online?: boolean;
  last_seen?: Millis | null;
}

export interface Conversation {
  id: ConvId;
  type: "direct" | "group";
  title: string | null;
  avatar_url: string | null;
  description: string | null;
  announcement: string | null;
  muted_all: boolean;
  created_at: Millis;
  created_by: UserId;
  last_seq: number;
  read_seq: number;
  unread: number;
  role: Role;
  member_count: number;
  peer?: Peer;
  last_message?: MessageEvent;
}

export interface Member {
  user: UserRef;
  role: Role;
  muted_until: Millis;
  read_seq: number;
  delivered_seq: number;
  joined_seq: number;
}

export interface ConversationWithMembers extends Conversation {
  members: Member[];
}

export interface NewGroup {
  title: string;
  members?: UserSelector[];
  avatar_url?: string;
  description?: string;
  announcement?: string;
}

export interface ConversationPatch {
  title?: string;
  avatar_url?: string | null;
  description?: string | null;
  announcement?: string | null;
  muted_all?: boolean;
}

export interface MemberPatch {
  role?: "admin" | "member";
  /** Ms since 1970; 0 unmutes. */
  muted_until?: Millis;
}

/* ---- messages ---- */

export interface SendOptions {
  reply_to?: number;
  mentions?: Mentions;
  /**
   * Opens a streaming message (the body must have a string `text`, "" allowed):
   * grow it with appendMessage(), rewrite it with replaceMessage(), and end it
   * with `{ final: true }`.
   */
  streaming?: boolean;
  /** Reuse a cmid kept from an earlier run (for example an outbox saved to disk). */
  cmid?: string;
  timeoutMs?: number;
}

export interface NewMessage {
  cmid: string;
  body: MessageBody;
  reply_to?: number;
  mentions?: Mentions;
  /** Opens a streaming message (see SendOptions.streaming). */
  streaming?: boolean;
}

export interface StreamOptions {
  /** The last chunk: the text is finished (an `edit` with `streamed: true`). */
  final?: boolean;
  timeoutMs?: number;
}

/** The answer to a non-final appendMessage() / replaceMessage(). */
export interface StreamProgress {
  /** The streaming message's seq. */
  seq: number;
  /** The whole text's length now, in UTF-8 bytes. */
  length: number;
}

export interface SendResult {
  seq: number;
  id: number;
  ts: Millis;
  /** The cmid was seen before: nothing new was stored. */
  duplicate?: true;
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

export interface EventPage {
  events: TimelineEvent[];
  has_more: boolean;
}

export interface Gap {
  from: number;
  to: number;
}

export interface SyncEntry {
  conv: Conversation;
  events: TimelineEvent[];
  has_more: boolean;
  gap?: Gap;
}

export interface SyncAnswer {
  convs: SyncEntry[];
  removed: ConvId[];
  more: boolean;
}

/* ---- push: devices, settings ---- */

export interface PushKeys {
  p256dh: string;
  auth: string;
}

export interface NewWebPushDevice {
  platform: "webpush";
  endpoint: string;
  keys: PushKeys;
}

export interface NewApnsDevice {
  platform: "apns";
  token: string;
  topic: string;
  sandbox?: boolean;
}

export interface NewFcmDevice {
  platform: "fcm";
  token: string;
}

export interface NewUnifiedPushDevice {
  platform: "unifiedpush";
  endpoint: string;
  keys?: PushKeys;
}

export type NewDevice = NewWebPushDevice | NewApnsDevice | NewFcmDevice | NewUnifiedPushDevice;

export interface Device {
  id: number;
  platform: "webpush" | "apns" | "fcm" | "unifiedpush";
  token?: string;
  topic?: string;
  endpoint?: string;
  keys?: PushKeys;
  created_at: Millis;
  updated_at: Millis;
}

export interface QuietHours {
  /** "HH:MM", 24-hour clock. */
  start: string;
  end: string;
  /** IANA zone, e.g. "Europe/Paris". */
  tz: string;
}

export interface CategoryCap {
  per_hour?: number;
  per_day?: number;
}

export interface NotificationSettings {
  categories: Record<string, boolean>;
  quiet_hours: QuietHours | null;
  caps: Record<string, CategoryCap>;
  muted_conversations: ConvId[];
  private_previews: boolean;
  timezone: string | null;
}

export type PushEventType = "delivered" | "opened" | "clicked";
