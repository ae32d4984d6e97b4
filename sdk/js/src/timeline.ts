/**
 * Exactly-once, in-order delivery of timeline events, per conversation
 * (docs/protocol.md, "Ordering and duplicates" and "Sync on every connect").
 *
 * For each conversation it keeps the synced seq: every seq up to it was delivered
 * to the app or is a gap the server reported. An event arriving live is
 *   - at or below the synced seq: a duplicate (live delivery and sync overlap after
 *     a connect, a history page overlaps), dropped;
 *   - the next seq: delivered at once, then any held events that now follow;
 *   - further ahead: held, and the caller runs sync to fill the hole.
 * Sync answers are authoritative: their events are delivered in order even across
 * a jump (the part of a timeline from before we joined is never ours to see), and
 * a reported gap counts as held.
 *
 * Cost: O(1) per event in order; a held event costs one map entry until the hole
 * closes. Held events are capped per conversation (MAX_HELD): past the cap an event
 * is dropped, which is safe because the sync that closes the hole brings it again.
 */

import type { ConvId, Gap, TimelineEvent } from "./types.js";

const MAX_HELD = 10_000;

export type Offer = "delivered" | "duplicate" | "ahead";

export interface TimelineSinks {
  deliver(event: TimelineEvent): void;
  gap(conv: ConvId, from: number, to: number): void;
}

export class TimelineOrder {
  private readonly seqs = new Map<ConvId, number>();
  private readonly held = new Map<ConvId, Map<number, TimelineEvent>>();
  private readonly sinks: TimelineSinks;

  constructor(sinks: TimelineSinks) {
    this.sinks = sinks;
  }

  /** The synced seq of a conversation; 0 for one never seen. */
  synced(conv: ConvId): number {
    return this.seqs.get(conv) ?? 0;
  }

  /** Conversation id (decimal string) → synced seq: the `convs` of a sync request. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [conv, seq] of this.seqs) {
      out[String(conv)] = seq;
    }
    return out;
  }

  /** Raises synced seqs to the given ones (saved, or chosen by the app); never lowers. */
  seed(seqs: Record<string, number>): void {
    for (const [key, seq] of Object.entries(seqs)) {
      const conv = Number(key);
      if (Number.isSafeInteger(conv) && conv > 0 && Number.isSafeInteger(seq) && seq >= 0) {
        this.seqs.set(conv, Math.max(seq, this.synced(conv)));
      }
    }
  }

  /** A live event. "ahead" means a hole before it: run sync. */
  offerLive(event: TimelineEvent): Offer {
    const synced = this.synced(event.conv);
    if (event.seq <= synced) {
      return "duplicate";
    }
    if (event.seq === synced + 1) {
      this.deliver(event);
      this.release(event.conv);
      return "delivered";
    }
    let ahead = this.held.get(event.conv);
    if (ahead === undefined) {
      ahead = new Map();
      this.held.set(event.conv, ahead);
    }
    if (ahead.size < MAX_HELD) {
      ahead.set(event.seq, event);
    }
    return "ahead";
  }

  /** One sync entry's gap and events (ascending); returns how many it delivered. */
  applySync(conv: ConvId, events: readonly TimelineEvent[], gap?: Gap): number {
    const before = this.synced(conv);
    if (gap !== undefined && gap.to > before) {
      this.seqs.set(conv, gap.to); // "count them as held"
      this.sinks.gap(conv, Math.max(gap.from, before + 1), gap.to);
    }
    let delivered = 0;
    for (const event of events) {
      if (event.seq > this.synced(conv)) {
        this.deliver(event);
        delivered++;
      }
    }
    this.release(conv);
    return delivered;
  }

  /** Forgets a conversation we are no longer in. */
  forget(conv: ConvId): void {
    this.seqs.delete(conv);
    this.held.delete(conv);
  }

  /** Forgets everything: another user's timelines are not ours. */
  clear(): void {
    this.seqs.clear();
    this.held.clear();
  }

  /** Conversations with events still waiting for a hole to close. */
  holes(): ConvId[] {
    return [...this.held.keys()];
  }

  private deliver(event: TimelineEvent): void {
    this.seqs.set(event.conv, event.seq);
    this.sinks.deliver(event);
  }

  /** Delivers held events that are now next in line; drops the ones now behind. */
  private release(conv: ConvId): void {
    const ahead = this.held.get(conv);
    if (ahead === undefined) {
      return;
    }
    let synced = this.synced(conv);
    for (const seq of [...ahead.keys()]) {
      if (seq <= synced) ahead.delete(seq);
    }
    for (let next = ahead.get(synced + 1); next !== undefined; next = ahead.get(synced + 1)) {
      ahead.delete(next.seq);
      this.deliver(next);
      synced = next.seq;
    }
    if (ahead.size === 0) {
      this.held.delete(conv);
    }
  }
}
