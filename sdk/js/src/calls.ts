/**
 * Calls in a browser: PeerLink ties one RTCPeerConnection to pipit's call
 * signalling (docs/protocol.md, Calls), and turnIceServers()/callIceServers()
 * turn GET /v1/turn into the connection's iceServers.
 *
 * pipit carries no media. It relays what two participants say to each other
 * (`call_signal`, each message to one participant only, in the order sent), and
 * PeerLink speaks WebRTC's offer/answer over it with the "perfect negotiation"
 * pattern (W3C webrtc-pc, section 10.6 example; MDN's article of the same name):
 * either side may (re)negotiate whenever it adds a track or a data channel; when
 * both offer at once, the polite side rolls its own offer back and answers, the
 * impolite side ignores the other's. Who is polite must differ on the two sides:
 * by default the one with the higher user id.
 *
 * On the wire (the `data` of call_signal) a description is
 * `{"type":"offer"|"answer","sdp":"…"}` and a candidate `{"candidate":{…}}`
 * (RTCIceCandidateInit). Signals are handled one at a time, in arrival order, so a
 * candidate is never added before the description it belongs to.
 *
 * A link closes itself when the call ends or the peer hangs up; close() also does.
 * Make the callee's link before acceptCall(): the caller's offer may follow the
 * accept at once, and a signal that arrives before the link exists is not kept.
 */

import type { Client } from "./client.js";
import { LOCAL_CODES, PipitError } from "./errors.js";
import type { Realtime } from "./realtime.js";
import type { CallEvent, CallId, CallSignalData, TurnCredentials, UserId } from "./types.js";

/** The RTCIceServer entry of a GET /v1/turn answer. */
export function turnIceServers(turn: TurnCredentials): RTCIceServer[] {
  return turn.urls.length === 0 ? [] : [{ urls: turn.urls, username: turn.username, credential: turn.credential }];
}

/**
 * The server's TURN relays with fresh credentials, followed by `extra` (say, a
 * STUN server). A server with no TURN configured (404) gives `extra` alone; any
 * other failure rejects.
 */
export async function callIceServers(client: Client, extra: RTCIceServer[] = []): Promise<RTCIceServer[]> {
  try {
    return [...turnIceServers(await client.getTurnCredentials()), ...extra];
  } catch (err) {
    if (err instanceof PipitError && err.code === "not_found") {
      return extra;
    }
    throw err;
  }
}

export type PeerConnectionConstructor = new (configuration?: RTCConfiguration) => RTCPeerConnection;

export interface PeerLinkOptions {
  call: CallId;
  /** The participant at the other end. */
  peer: UserId;
  /** The connection's configuration: iceServers (see callIceServers()), iceTransportPolicy… */
  configuration?: RTCConfiguration;
  /** Yield when both sides offer at once. Default: this user's id is the higher. */
  polite?: boolean;
  /** Default: the global RTCPeerConnection. */
  RTCPeerConnection?: PeerConnectionConstructor;
}

export class PeerLink {
  readonly pc: RTCPeerConnection;
  readonly call: CallId;
  readonly peer: UserId;
  readonly polite: boolean;
  /** A failure no promise reports: a signal the server refused, a description the browser did not take. */
  onerror: ((err: unknown) => void) | null = null;
  /** The link closed (the call ended, the peer hung up, or close()). */
  onclose: (() => void) | null = null;

  private readonly client: Realtime;
  private makingOffer = false;
  private ignoreOffer = false;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;

  constructor(client: Realtime, options: PeerLinkOptions) {
    const Ctor =
      options.RTCPeerConnection ??
      (globalThis as { RTCPeerConnection?: PeerConnectionConstructor }).RTCPeerConnection;
    if (Ctor === undefined) {
      throw new PipitError(0, LOCAL_CODES.unsupported, "no RTCPeerConnection here: pass one in the options");
    }
    this.client = client;
    this.call = options.call;
    this.peer = options.peer;
    const me = client.user?.id;
    this.polite = options.polite ?? (me !== undefined && me > options.peer);
    this.pc = new Ctor(options.configuration ?? {});
    this.pc.addEventListener("icecandidate", (event: RTCPeerConnectionIceEvent) => {
      // A null candidate only says gathering ended: nothing the peer needs.
      if (event.candidate !== null && event.candidate.candidate !== "") {
        this.send({ candidate: event.candidate.toJSON() });
      }
    });
    this.pc.addEventListener("negotiationneeded", () => void this.offer());
    this.unsubscribe = client.on("call", (event) => this.onCallEvent(event));
  }

  /** Stops listening and closes the connection; the call itself goes on (see hangUp()). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.pc.close();
    this.onclose?.();
  }

  private onCallEvent(event: CallEvent): void {
    if (event.call !== this.call || this.closed) return;
    if (event.type === "signal" && event.from === this.peer) {
      const data = event.data;
      this.chain = this.chain.then(() => this.onSignal(data)).catch((err) => this.report(err));
    } else if (event.type === "end" || (event.type === "hangup" && event.from === this.peer)) {
      this.close();
    }
  }

  private async offer(): Promise<void> {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.sendDescription();
    } catch (err) {
      this.report(err);
    } finally {
      this.makingOffer = false;
    }
  }

  private async onSignal(data: CallSignalData): Promise<void> {
    if (this.closed) return;
    if ((data.type === "offer" || data.type === "answer") && typeof data.sdp === "string") {
      const collision = data.type === "offer" && (this.makingOffer || this.pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      await this.pc.setRemoteDescription({ type: data.type, sdp: data.sdp });
      if (data.type === "offer") {
        await this.pc.setLocalDescription();
        this.sendDescription();
      }
    } else if (typeof data.candidate === "object" && data.candidate !== null) {
      try {
        await this.pc.addIceCandidate(data.candidate as RTCIceCandidateInit);
      } catch (err) {
        if (!this.ignoreOffer) throw err; // a candidate of the offer we ignored: expected
      }
    }
    // Anything else is a message this version does not know: ignored.
  }

  private sendDescription(): void {
    const d = this.pc.localDescription;
    if (d !== null && !this.closed) {
      this.send({ type: d.type, sdp: d.sdp });
    }
  }

  private send(data: CallSignalData): void {
    if (this.closed) return;
    this.client.signalCall(this.call, this.peer, data).catch((err) => this.report(err));
  }

  private report(err: unknown): void {
    if (this.onerror !== null) {
      this.onerror(err);
    }
  }
}
