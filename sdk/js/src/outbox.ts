/**
 * The outbox: messages the app sent that the server has not yet answered
 * (docs/protocol.md, "Sending exactly once: cmid").
 *
 * Each message gets its cmid once, when the app sends it, and keeps it on every
 * attempt, so the server stores it at most once and answers a repeat with the
 * original seq. A message leaves the outbox when the server stores it, refuses it
 * for good (`muted`, `not_found`, `payload_too_large`, `cmid_conflict`...), or the
 * app cancels it. Errors that say "maybe later" (no answer in time, the connection
 * dropped, `unavailable`) keep it: it goes out again after a pause on the same
 * connection, or on the next one. Attempts are capped per message.
 *
 * A send() promise has its own deadline, apart from the message's life: an app
 * shows "not sent yet" when it passes, and the `sent` event tells when the message
 * went through after all.
 */

import { LOCAL_CODES, PipitError } from "./errors.js";
import type { ConvId, MessageBody, SendOptions, SendResult } from "./types.js";

/** A message waiting in the outbox; enough to keep on disk and send() again. */
export interface PendingSend {
  cmid: string;
  conv: ConvId;
  body: MessageBody;
  reply_to?: number;
  mentions?: SendOptions["mentions"];
  /** Opens a streaming message. */
  streaming?: boolean;
}

/** What the outbox needs from the connection. */
export interface OutboxTransport {
  /** True while an authenticated socket is up. */
  ready(): boolean;
  /** The `send` op; rejects with a PipitError. */
  send(fields: Record<string, unknown>): Promise<SendResult>;
  /** Pause before a retry on the same connection, in ms. */
  retryDelayMs: number;
  stored(message: PendingSend, result: SendResult): void;
  refused(message: PendingSend, error: PipitError): void;
}

/** Errors after which the same send may succeed later, with the same cmid. */
const RETRYABLE = new Set<string>([
  LOCAL_CODES.timeout,
  LOCAL_CODES.disconnected,
  LOCAL_CODES.notConnected,
  LOCAL_CODES.network,
  "unavailable",
  "rate_limited",
]);
const MAX_ATTEMPTS = 20; // per message, counted over reconnects

interface Waiter {
  resolve: (value: SendResult) => void;
  reject: (err: PipitError) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Entry {
  message: PendingSend;
  inFlight: boolean;
  attempts: number;
  waiters: Waiter[];
}

export class Outbox {
  private readonly entries = new Map<string, Entry>();
  private readonly transport: OutboxTransport;
  /** Bumped on each disconnect, so a retry timer of an old connection does nothing. */
  private generation = 0;

  constructor(transport: OutboxTransport) {
    this.transport = transport;
  }

  /** Queues a message (or finds the queued one with this cmid) and sends it if it can. */
  add(message: PendingSend, timeoutMs: number): Promise<SendResult> {
    let entry = this.entries.get(message.cmid);
    if (entry === undefined) {
      entry = { message, inFlight: false, attempts: 0, waiters: [] };
      this.entries.set(message.cmid, entry);
    }
    const target = entry;
    const promise = new Promise<SendResult>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          target.waiters = target.waiters.filter((w) => w !== waiter);
          reject(new PipitError(0, LOCAL_CODES.timeout, "send not answered in time; still in the outbox"));
        }, timeoutMs),
      };
      target.waiters.push(waiter);
    });
    this.transmit(entry);
    return promise;
  }

  /** After a (re)connect: everything waiting goes out, oldest first. */
  flush(): void {
    for (const entry of this.entries.values()) {
      this.transmit(entry);
    }
  }

  /** The connection dropped: answers to what was in flight will not come. */
  disconnected(): void {
    this.generation++;
    for (const entry of this.entries.values()) {
      entry.inFlight = false;
    }
  }

  /** Rejects every waiting send() promise; the messages stay queued. */
  rejectWaiters(error: PipitError): void {
    for (const entry of this.entries.values()) {
      settle(entry, error);
    }
  }

  /** Drops every message (another user logs in on this client). */
  clear(): void {
    for (const cmid of [...this.entries.keys()]) {
      this.cancel(cmid);
    }
  }

  pending(): PendingSend[] {
    return [...this.entries.values()].map((entry) => ({ ...entry.message }));
  }

  cancel(cmid: string): boolean {
    const entry = this.entries.get(cmid);
    if (entry === undefined) {
      return false;
    }
    this.entries.delete(cmid);
    settle(entry, new PipitError(0, LOCAL_CODES.cancelled, "removed from the outbox"));
    return true;
  }

  private transmit(entry: Entry): void {
    if (!this.transport.ready() || entry.inFlight || this.entries.get(entry.message.cmid) !== entry) {
      return;
    }
    entry.inFlight = true;
    entry.attempts++;
    const { cmid, conv, body, reply_to, mentions, streaming } = entry.message;
    const fields: Record<string, unknown> = { conv, cmid, body };
    if (reply_to !== undefined) fields.reply_to = reply_to;
    if (mentions !== undefined) fields.mentions = mentions;
    if (streaming !== undefined) fields.streaming = streaming;
    this.transport.send(fields).then(
      (result) => this.succeeded(entry, result),
      (err: PipitError) => this.failed(entry, err),
    );
  }

  private succeeded(entry: Entry, result: SendResult): void {
    entry.inFlight = false;
    if (this.entries.get(entry.message.cmid) === entry) {
      this.entries.delete(entry.message.cmid);
    }
    for (const w of entry.waiters) {
      clearTimeout(w.timer);
      w.resolve(result);
    }
    entry.waiters = [];
    this.transport.stored(entry.message, result);
  }

  private failed(entry: Entry, err: PipitError): void {
    entry.inFlight = false;
    if (this.entries.get(entry.message.cmid) !== entry) {
      return; // cancelled meanwhile
    }
    if (RETRYABLE.has(err.code) && entry.attempts < MAX_ATTEMPTS) {
      // After a disconnect, flush() on the next connection sends it; on a live
      // connection (server busy, an answer lost) try again after a pause.
      if (err.code !== LOCAL_CODES.disconnected && this.transport.ready()) {
        const generation = this.generation;
        setTimeout(() => {
          if (generation === this.generation) this.transmit(entry);
        }, this.transport.retryDelayMs);
      }
      return;
    }
    this.entries.delete(entry.message.cmid);
    settle(entry, err);
    this.transport.refused(entry.message, err);
  }
}

function settle(entry: Entry, error: PipitError): void {
  for (const w of entry.waiters) {
    clearTimeout(w.timer);
    w.reject(error);
  }
  entry.waiters = [];
}
