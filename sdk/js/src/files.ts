/**
 * Files and search: upload (POST /v1/files), download (GET /v1/files/{id} and its
 * thumbnail), object URLs for <img>, file messages, and full-text search
 * (GET /v1/search). docs/openapi.yaml has the routes; the server side is src/files.
 *
 * Why these are functions of a Client and not plain URLs: every file route needs
 * the bearer token, and an <img src> or <a href> cannot send an Authorization
 * header. So the bytes come through fetch, and the page gets a blob: object URL
 * (which the CSP allows for images). fileObjectUrl() shares one object URL per file
 * among its users and revokes it when nobody holds it and the cache is full, so a
 * long chat does not keep every image of the session in memory.
 *
 * Upload progress needs XMLHttpRequest (fetch reports no upload progress); where
 * there is none (Node) the upload goes through the client's fetch and reports
 * progress once, at the end. Every failure is a PipitError, like the rest of the SDK:
 * 413 `payload_too_large` carries the server's message ("files may not be larger
 * than … bytes"), a cancelled upload is `cancelled`, a stalled one `timeout`.
 */

import type { Client } from "./client.js";
import { LOCAL_CODES, PipitError, errorFromBody, parseAnswer } from "./errors.js";
import type { ConvId, MessageBody, Millis, SendOptions, SendResult, UserId } from "./types.js";

/** The server's answer to an upload (201). */
export interface FileInfo {
  id: number;
  name: string;
  size: number;
  mime: string;
  sha256: string;
  /** "/v1/files/ID" (needs the token: use fileBlob or fileObjectUrl). */
  url: string;
  /** For images whose header the server could read. */
  width?: number;
  height?: number;
  /** "/v1/files/ID/thumbnail" for JPEG, PNG, GIF and WebP images; made in the background. */
  thumbnail: string | null;
}

/** The body of a message that shares a file; apps may add fields (a caption in `text`). */
export interface FileMessageBody extends MessageBody {
  type: "image" | "file" | "video" | "voice";
  file: number;
  name: string;
  size: number;
  mime: string;
  width?: number;
  height?: number;
}

export interface UploadOptions {
  /** The file name the server keeps; default: the File's own name, else "file". */
  name?: string;
  /** Bytes sent so far, and the total. */
  onProgress?: (loaded: number, total: number) => void;
  /** Aborting cancels the upload (the promise rejects with `cancelled`). */
  signal?: AbortSignal;
  /** With XMLHttpRequest: fail with `timeout` after this long without progress. Default 30000. */
  stallTimeoutMs?: number;
}

export interface FileBlobOptions {
  /** The thumbnail (WebP, longest side 320 px) instead of the file; falls back to the file. */
  thumbnail?: boolean;
  signal?: AbortSignal;
}

/** A file by id, or by the `url`/`thumbnail` path an upload answer gave. */
export type FileRef = number | string;

export interface SearchQuery {
  /** 1 to 256 bytes, at most 16 words; every word must match. */
  q: string;
  /** Only this conversation. */
  conv?: ConvId;
  /** Only messages from this user. */
  from?: UserId;
  /** Message times (ms), exclusive bounds. */
  before?: Millis;
  after?: Millis;
  /** 1 to 100; default 20. */
  limit?: number;
  /** 0 to 1000: the previous answer's next_offset. */
  offset?: number;
}

/** A piece of a snippet; the pieces that matched the query have `hit`. */
export interface SnippetPart {
  text: string;
  hit?: true;
}

export interface SearchResult {
  conv: ConvId;
  seq: number;
  id: number;
  from: UserId;
  ts: Millis;
  body: MessageBody;
  edited?: true;
  edited_at?: Millis;
  /** Render each part as text, the hits marked (never as HTML). */
  snippet: SnippetPart[];
}

export interface SearchAnswer {
  /** Best match first, then newest. */
  results: SearchResult[];
  /** Pass as `offset` for the next page; null when there is none. */
  next_offset: number | null;
}

const DEFAULT_STALL_MS = 30_000;
const THUMBNAIL_TRIES = 5;
const MAX_RETRY_AFTER_MS = 5_000;
const OBJECT_URL_CACHE = 64; // unused object URLs kept for reuse before they are revoked

/* ================================================================== upload */

/**
 * Uploads a file: POST /v1/files?name=… with the raw bytes as the body. Resolves
 * with the server's FileInfo; send it in a message with sendFile() or
 * fileMessageBody().
 */
export function uploadFile(client: Client, file: Blob, options: UploadOptions = {}): Promise<FileInfo> {
  const name = options.name ?? (file as Partial<File>).name ?? "file";
  const path = `/v1/files?name=${encodeURIComponent(name === "" ? "file" : name)}`;
  if (options.signal?.aborted) {
    return Promise.reject(cancelled("upload"));
  }
  if (typeof XMLHttpRequest !== "undefined" && options.onProgress !== undefined) {
    return uploadWithXhr(client, path, file, options);
  }
  return uploadWithFetch(client, path, file, options);
}

async function uploadWithFetch(client: Client, path: string, file: Blob, options: UploadOptions): Promise<FileInfo> {
  const init: RequestInit = { method: "POST", headers: authHeaders(client), body: file };
  if (options.signal !== undefined) init.signal = options.signal;
  let status: number;
  let text: string;
  try {
    const response = await client.fetchImpl(client.url + path, init);
    status = response.status;
    text = await response.text();
  } catch (err) {
    if (err instanceof PipitError) throw err;
    if (options.signal?.aborted) throw cancelled("upload");
    throw new PipitError(0, LOCAL_CODES.network, `upload: ${String(err)}`);
  }
  const info = parseAnswer<FileInfo>(status, text);
  options.onProgress?.(file.size, file.size);
  return info;
}

function uploadWithXhr(client: Client, path: string, file: Blob, options: UploadOptions): Promise<FileInfo> {
  return new Promise<FileInfo>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_MS;
    let stallTimer: ReturnType<typeof setTimeout> | null = null;
    let outcome: PipitError | null = null; // why we aborted, when we did
    const abortWith = (err: PipitError) => {
      outcome = err;
      xhr.abort();
    };
    const onAbortSignal = () => abortWith(cancelled("upload"));
    // Stalled, not slow: a big file on a slow link may take an hour, but a link that
    // moves nothing for stallMs is dead.
    const armStall = () => {
      if (stallTimer !== null) clearTimeout(stallTimer);
      stallTimer = setTimeout(() => abortWith(new PipitError(0, LOCAL_CODES.timeout, "upload: no progress in time")), stallMs);
    };
    const finish = () => {
      if (stallTimer !== null) clearTimeout(stallTimer);
      options.signal?.removeEventListener("abort", onAbortSignal);
    };

    xhr.open("POST", client.url + path);
    for (const [key, value] of Object.entries(authHeaders(client))) xhr.setRequestHeader(key, value);
    xhr.upload.onprogress = (e) => {
      armStall();
      options.onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
    };
    xhr.onprogress = armStall; // the answer coming in counts as progress too
    xhr.onload = () => {
      finish();
      try {
        const info = parseAnswer<FileInfo>(xhr.status, xhr.responseText);
        options.onProgress?.(file.size, file.size);
        resolve(info);
      } catch (err) {
        reject(err as PipitError);
      }
    };
    xhr.onerror = () => {
      finish();
      reject(new PipitError(0, LOCAL_CODES.network, "upload: the connection failed"));
    };
    xhr.onabort = () => {
      finish();
      reject(outcome ?? cancelled("upload"));
    };
    options.signal?.addEventListener("abort", onAbortSignal);
    armStall();
    xhr.send(file);
  });
}

/* ================================================================ download */

/**
 * The bytes of a file (or of its thumbnail), with the token. A thumbnail still
 * being made (503) is asked for again after Retry-After, at most 5 times; after
 * that, or when there is none (404), the file itself comes instead.
 */
export async function fileBlob(client: Client, ref: FileRef, options: FileBlobOptions = {}): Promise<Blob> {
  const original = filePath(ref, false);
  if (options.thumbnail !== true) {
    return fetchBlob(client, original, options.signal);
  }
  const thumb = filePath(ref, true);
  for (let attempt = 1; attempt <= THUMBNAIL_TRIES; attempt++) {
    const response = await fetchFile(client, thumb, options.signal);
    if (response.ok) return readBlob(response, thumb, options.signal);
    await response.body?.cancel().catch(() => undefined);
    if (response.status !== 503 || attempt === THUMBNAIL_TRIES) break;
    await sleep(retryAfterMs(response.headers.get("Retry-After")), options.signal);
  }
  return fetchBlob(client, original, options.signal);
}

/**
 * An object URL (blob:) for a file or its thumbnail, for <img src>. One URL per
 * file is shared by every caller; call `release()` when the image is gone. Released
 * URLs are kept for reuse, and revoked once more than 64 are unused (or at
 * revokeFileObjectUrls). A failed fetch is not kept: the next call tries again.
 */
export function fileObjectUrl(client: Client, ref: FileRef, options: FileBlobOptions = {}): ObjectUrlHandle {
  return urlCache(client).acquire(ref, options.thumbnail === true, options.signal);
}

export interface ObjectUrlHandle {
  /** The blob: URL, once the bytes are in. */
  url: Promise<string>;
  /** Gives the URL back; call it exactly once (extra calls do nothing). */
  release(): void;
}

/** Revokes every object URL made for this client (at sign-out). */
export function revokeFileObjectUrls(client: Client): void {
  caches.get(client)?.clear();
  caches.delete(client);
}

interface CacheEntry {
  url: Promise<string>;
  /** Set once the fetch succeeded, so clear() can revoke it. */
  made: string | null;
  refs: number;
  /** Order of last release, for evicting the longest unused first. */
  released: number;
}

class ObjectUrlCache {
  private readonly entries = new Map<string, CacheEntry>();
  private clock = 0;

  constructor(private readonly client: Client) {}

  acquire(ref: FileRef, thumbnail: boolean, signal?: AbortSignal): ObjectUrlHandle {
    const key = `${filePath(ref, false)}${thumbnail ? "#thumb" : ""}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = this.load(key, ref, thumbnail);
      this.entries.set(key, entry);
    }
    const held = entry;
    held.refs++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held.refs--;
      held.released = ++this.clock;
      this.evict();
    };
    // The fetch is shared, so one caller's abort only ends that caller's wait.
    const url = signal === undefined ? held.url : raceAbort(held.url, signal);
    return { url, release };
  }

  private load(key: string, ref: FileRef, thumbnail: boolean): CacheEntry {
    const entry: CacheEntry = { url: Promise.resolve(""), made: null, refs: 0, released: 0 };
    entry.url = fileBlob(this.client, ref, { thumbnail }).then(
      (blob) => {
        const url = URL.createObjectURL(blob);
        if (this.entries.get(key) === entry) {
          entry.made = url;
        } else {
          URL.revokeObjectURL(url); // cleared meanwhile
        }
        return url;
      },
      (err: unknown) => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw err;
      },
    );
    entry.url.catch(() => undefined); // the callers see the failure; this copy is only kept
    return entry;
  }

  private evict(): void {
    const unused = [...this.entries].filter(([, e]) => e.refs === 0 && e.made !== null);
    if (unused.length <= OBJECT_URL_CACHE) return;
    unused.sort((a, b) => a[1].released - b[1].released);
    for (const [key, entry] of unused.slice(0, unused.length - OBJECT_URL_CACHE)) {
      URL.revokeObjectURL(entry.made!);
      this.entries.delete(key);
    }
  }

  clear(): void {
    for (const entry of this.entries.values()) {
      if (entry.made !== null) URL.revokeObjectURL(entry.made);
    }
    this.entries.clear();
  }
}

const caches = new WeakMap<Client, ObjectUrlCache>();

function urlCache(client: Client): ObjectUrlCache {
  let cache = caches.get(client);
  if (cache === undefined) {
    cache = new ObjectUrlCache(client);
    caches.set(client, cache);
  }
  return cache;
}

/**
 * Saves a file in the browser: the bytes through fetch (with the token), then a
 * temporary <a download> click. The file is held in memory meanwhile, so this
 * suits chat attachments rather than gigabytes.
 */
export async function downloadFile(client: Client, ref: FileRef, name: string, signal?: AbortSignal): Promise<void> {
  if (typeof document === "undefined") {
    throw new PipitError(0, LOCAL_CODES.unsupported, "downloadFile needs a page (use fileBlob elsewhere)");
  }
  const blob = await fileBlob(client, ref, signal === undefined ? {} : { signal });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.rel = "noopener";
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // Revoked later, not now: the browser reads the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/* ================================================================ messages */

/**
 * The body of a message sharing an uploaded file: "image" for pictures the server
 * could measure (width and height included, so a viewer can size the box before
 * the image loads), else "file". `extra` adds fields, e.g. a caption `{text}`.
 */
export function fileMessageBody(info: FileInfo, extra: Record<string, unknown> = {}): FileMessageBody {
  const isImage = info.mime.startsWith("image/") && info.width !== undefined && info.height !== undefined;
  const body: FileMessageBody = {
    ...extra,
    type: isImage ? "image" : "file",
    file: info.id,
    name: info.name,
    size: info.size,
    mime: info.mime,
  };
  if (isImage) {
    body.width = info.width!;
    body.height = info.height!;
  }
  return body;
}

/**
 * Uploads a file and sends it as a message through the outbox (exactly once, like
 * any send()). The upload itself is not repeated by a retry of the send.
 */
export async function sendFile(
  client: Client,
  conv: ConvId,
  file: Blob,
  options: UploadOptions & SendOptions & { extra?: Record<string, unknown> } = {},
): Promise<{ file: FileInfo; sent: SendResult }> {
  const { extra, reply_to, mentions, cmid, timeoutMs, ...upload } = options;
  const info = await uploadFile(client, file, upload);
  const send: SendOptions = {};
  if (reply_to !== undefined) send.reply_to = reply_to;
  if (mentions !== undefined) send.mentions = mentions;
  if (cmid !== undefined) send.cmid = cmid;
  if (timeoutMs !== undefined) send.timeoutMs = timeoutMs;
  const sent = await client.send(conv, fileMessageBody(info, extra), send);
  return { file: info, sent };
}

/** True for a message body that refers to a file (any type with a numeric `file`). */
export function isFileBody(body: MessageBody | undefined): body is FileMessageBody {
  return body !== undefined && typeof body.file === "number" && Number.isInteger(body.file) && body.file > 0;
}

/* ================================================================== search */

/**
 * GET /v1/search: messages of your conversations that match every word of `q`,
 * best first. Latin words match whole (case and accents folded), Chinese and
 * Japanese text by any substring. Page with `offset: answer.next_offset`.
 */
export function search(client: Client, query: SearchQuery): Promise<SearchAnswer> {
  const params = new URLSearchParams({ q: query.q });
  for (const key of ["conv", "from", "before", "after", "limit", "offset"] as const) {
    const value = query[key];
    if (value !== undefined) params.set(key, String(value));
  }
  return client.call<SearchAnswer>("GET", `/v1/search?${params.toString()}`);
}

/* ================================================================= helpers */

function authHeaders(client: Client): Record<string, string> {
  return client.token === null ? {} : { Authorization: `Bearer ${client.token}` };
}

/** "/v1/files/7" or "/v1/files/7/thumbnail", from an id or a path an upload answer gave. */
function filePath(ref: FileRef, thumbnail: boolean): string {
  const id = typeof ref === "number" ? ref : Number(/\/v1\/files\/(\d+)(?:\/thumbnail)?$/.exec(ref)?.[1]);
  if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError(`not a file id or URL: ${String(ref)}`);
  return thumbnail ? `/v1/files/${id}/thumbnail` : `/v1/files/${id}`;
}

async function fetchFile(client: Client, path: string, signal: AbortSignal | undefined): Promise<Response> {
  // The timeout covers the wait for the answer's headers; the body may take longer.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), client.requestTimeoutMs);
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort);
  try {
    return await client.fetchImpl(client.url + path, { method: "GET", headers: authHeaders(client), signal: controller.signal });
  } catch (err) {
    if (err instanceof PipitError) throw err;
    if (signal?.aborted) throw cancelled("download");
    if (controller.signal.aborted) throw new PipitError(0, LOCAL_CODES.timeout, `GET ${path}: no answer in time`);
    throw new PipitError(0, LOCAL_CODES.network, `GET ${path}: ${String(err)}`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

async function fetchBlob(client: Client, path: string, signal: AbortSignal | undefined): Promise<Blob> {
  const response = await fetchFile(client, path, signal);
  if (!response.ok) {
    throw errorFromBody(response.status, await response.json().catch(() => undefined));
  }
  return readBlob(response, path, signal);
}

async function readBlob(response: Response, path: string, signal: AbortSignal | undefined): Promise<Blob> {
  try {
    return await response.blob();
  } catch (err) {
    if (signal?.aborted) throw cancelled("download");
    throw new PipitError(0, LOCAL_CODES.network, `GET ${path}: ${String(err)}`);
  }
}

function cancelled(what: string): PipitError {
  return new PipitError(0, LOCAL_CODES.cancelled, `${what} cancelled`);
}

/** Retry-After in seconds (the server sends 1), bounded so a odd value cannot stall a view. */
function retryAfterMs(header: string | null): number {
  const seconds = Number(header);
  if (!Number.isFinite(seconds) || seconds <= 0) return 1000;
  return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled("download"));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled("download"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled("download"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled("download"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
