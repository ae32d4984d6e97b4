/**
 * @pipit/sdk: a client for the pipit chat and push server, for browsers and Node.
 *
 *   const client = new Client({ url: "https://chat.example.com" });
 *   await client.login("alice", "password");
 *   client.on("message", (m) => show(m));
 *   await client.connect();
 *   await client.send(conv, { type: "text", text: "hi" });
 *
 * Files and search (files.ts) are functions of a client:
 *   const info = await uploadFile(client, file, { onProgress });
 *   const { results } = await search(client, { q: "lunch" });
 *
 * Calls: startCall(), acceptCall(), hangUp()… on the client and the `call` event;
 * in a browser, PeerLink (calls.ts) runs an RTCPeerConnection's offer/answer over them:
 *   const link = new PeerLink(client, { call, peer, configuration: { iceServers: await callIceServers(client) } });
 *
 * Web Push lives in "@pipit/sdk/webpush" (also re-exported here).
 */

export { Client, webSocketUrl } from "./client.js";
export type { ClientOptions, FetchFunction } from "./client.js";
export { Realtime } from "./realtime.js";
export {
  downloadFile,
  fileBlob,
  fileMessageBody,
  fileObjectUrl,
  isFileBody,
  revokeFileObjectUrls,
  search,
  sendFile,
  uploadFile,
} from "./files.js";
export type {
  FileBlobOptions,
  FileInfo,
  FileMessageBody,
  FileRef,
  ObjectUrlHandle,
  SearchAnswer,
  SearchQuery,
  SearchResult,
  SnippetPart,
  UploadOptions,
} from "./files.js";
export type {
  ConnectedInfo,
  ConnectionState,
  DisconnectedInfo,
  GapInfo,
  RealtimeEvents,
  RealtimeOptions,
  SendFailedInfo,
  SentInfo,
  SyncedInfo,
  WebSocketConstructor,
  WebSocketLike,
} from "./realtime.js";
export type { PendingSend } from "./outbox.js";
export { PeerLink, callIceServers, turnIceServers } from "./calls.js";
export type { PeerConnectionConstructor, PeerLinkOptions } from "./calls.js";
export { TimelineOrder } from "./timeline.js";
export { PipitError, LOCAL_CODES } from "./errors.js";
export { Emitter } from "./emitter.js";
export type { Listener } from "./emitter.js";
export * from "./webpush.js";
export type * from "./types.js";
