/**
 * PipitError: the one error type the SDK rejects with, so apps branch on `code`
 * (stable, snake_case) and never on `message` (for people, may change).
 *
 * `status` is the HTTP status of a REST answer. It is 0 when no HTTP status applies:
 * a WebSocket answer, or a failure on this side, whose codes are the ones in
 * LOCAL_CODES below. Server codes are listed in docs/protocol.md and openapi.yaml;
 * an unknown code is a failure of that one request.
 */

/** Codes made by the SDK itself, never sent by the server. */
export const LOCAL_CODES = {
  /** No answer within the request's timeout. */
  timeout: "timeout",
  /** The network failed (connection refused, reset, DNS). */
  network: "network",
  /** The op needs an authenticated WebSocket and there is none right now. */
  notConnected: "not_connected",
  /** The WebSocket closed while the request waited for its answer. */
  disconnected: "disconnected",
  /** The server's answer was not the JSON the protocol promises. */
  badResponse: "bad_response",
  /** The send was taken out of the outbox with cancelSend() or close(). */
  cancelled: "cancelled",
  /** The feature is missing here (no WebSocket, no service worker, no PushManager). */
  unsupported: "unsupported",
  /** The user did not allow notifications (Web Push). */
  permissionDenied: "permission_denied",
} as const;

export class PipitError extends Error {
  readonly status: number;
  readonly code: string;
  /**
   * How long the server asked to wait before trying again, in ms: a REST answer's
   * Retry-After header (a 429 `rate_limited`, a 503). Absent when it gave none.
   */
  retryAfterMs?: number;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "PipitError";
    this.status = status;
    this.code = code;
  }
}

/**
 * A REST answer's JSON for a 2xx status, else the PipitError it carries, with the
 * answer's Retry-After (seconds, RFC 9110 section 10.2.3; the date form is not
 * used by pipitd and is ignored) as `retryAfterMs`.
 */
export function parseAnswer<T>(status: number, text: string, retryAfter: string | null = null): T {
  let json: unknown = undefined;
  if (text !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      throw new PipitError(status, LOCAL_CODES.badResponse, `answer is not JSON (status ${status})`);
    }
  }
  if (status < 200 || status > 299) {
    const err = errorFromBody(status, json);
    if (retryAfter !== null && /^\d+$/.test(retryAfter.trim())) {
      err.retryAfterMs = Number(retryAfter.trim()) * 1000;
    }
    throw err;
  }
  return json as T;
}

/** Reads the `{"error":{"code","message"}}` envelope, or says the answer was not one. */
export function errorFromBody(status: number, body: unknown): PipitError {
  if (typeof body === "object" && body !== null && "error" in body) {
    const err = (body as { error: unknown }).error;
    if (typeof err === "object" && err !== null) {
      const { code, message } = err as { code?: unknown; message?: unknown };
      if (typeof code === "string") {
        return new PipitError(status, code, typeof message === "string" ? message : code);
      }
    }
  }
  return new PipitError(status, LOCAL_CODES.badResponse, `unexpected answer (status ${status})`);
}
