/**
 * A WebRTC call between two Chromium pages through pipit's signalling and a real
 * TURN server: the test starts coturn (Debian package `coturn`, binary
 * `turnserver`) on a free port with the TURN REST API secret pipitd is given,
 * and each page, with the SDK (sdk/js/dist) loaded from pipitd's origin, gets
 * its credentials from GET /v1/turn, runs startCall / ringing / acceptCall and
 * a PeerLink with `iceTransportPolicy: "relay"`, so the data channel can only
 * open through coturn, with those credentials. A message goes each way over the
 * channel; the selected candidate pair is a relay one on both sides; a
 * credential signed with another secret gets no relay at all (coturn checks what
 * pipit signs); the hangup closes both links and leaves a call_record.
 *
 * The pages are not the web app: pipitd serves a web root made by the test, a
 * blank page and the SDK's built files, so the pages run what an app built on the
 * SDK runs, under pipitd's own headers (its Content-Security-Policy included). Without `turnserver` the test is skipped,
 * and says so; `scripts/deps.sh test` installs it. coturn is stopped by its PID.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { PipitServer } from "../../sdk/js/test/server.js";
import { PASSWORD, api, assertClean, newPage, openBrowser, until } from "./lib.js";

const SDK_DIST = resolve(dirname(fileURLToPath(import.meta.url)), "../../sdk/js/dist");
const SECRET = `pipit-browser-test-${process.pid}`;
const REALM = "pipit.test";

function findTurnserver() {
  const dirs = (process.env.PATH || "").split(delimiter).concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"]);
  for (const dir of dirs) {
    const candidate = join(dir, "turnserver");
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

const TURNSERVER = findTurnserver();
const SKIP = TURNSERVER === null
  ? "turnserver is not installed (Debian package coturn; `scripts/deps.sh test` installs it): skipping the WebRTC call test"
  : false;
if (SKIP) console.log(`# SKIP calls.test.js: ${SKIP}`);

let server;
let browser;
let coturn; // { proc, dir, log, port, exited }
const users = {}; // name → { id, token }
let conv;

/** A port free for both TCP and UDP on 127.0.0.1 right now. */
async function freePort() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = createServer();
    const port = await new Promise((ok, fail) => {
      tcp.once("error", fail);
      tcp.listen(0, "127.0.0.1", () => ok(tcp.address().port));
    });
    const udp = createSocket("udp4");
    const udpFree = await new Promise((ok) => {
      udp.once("error", () => ok(false));
      udp.bind(port, "127.0.0.1", () => ok(true));
    });
    await new Promise((ok) => tcp.close(ok));
    await new Promise((ok) => (udpFree ? udp.close(ok) : ok()));
    if (udpFree) return port;
  }
  throw new Error("no port free for both TCP and UDP");
}

/** Starts coturn in the REST-secret mode pipit's credentials are for; resolves when it listens. */
async function startCoturn() {
  const dir = mkdtempSync(join(tmpdir(), "pipit-coturn-"));
  const port = await freePort();
  const minPort = 50000 + Math.floor(Math.random() * 150) * 100;
  const args = [
    "-n", // no config file: everything is on the command line
    `--listening-ip=127.0.0.1`, `--relay-ip=127.0.0.1`, `--listening-port=${port}`,
    "--use-auth-secret", `--static-auth-secret=${SECRET}`, `--realm=${REALM}`,
    "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls",
    `--min-port=${minPort}`, `--max-port=${minPort + 99}`,
    `--db=${join(dir, "turndb")}`, `--pidfile=${join(dir, "turnserver.pid")}`,
    "--log-file=stdout", "--simple-log", "--no-software-attribute",
  ];
  const proc = spawn(TURNSERVER, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const log = [];
  const exited = new Promise((done) => proc.once("exit", (code, signal) => done({ code, signal })));
  const onData = (chunk) => log.push(...chunk.toString("utf8").split("\n").filter(Boolean));
  proc.stdout.on("data", onData);
  proc.stderr.on("data", onData);
  coturn = { proc, dir, log, port, exited };
  // Listening once both transports are bound (the log says so only verbosely; ask the kernel).
  await until("coturn to listen", () => {
    if (proc.exitCode !== null) throw new Error(`turnserver exited (${proc.exitCode}):\n${log.join("\n")}`);
    const ss = spawnSync("ss", ["-Hlnptu", `sport = :${port}`], { encoding: "utf8" });
    if (ss.status !== 0) return log.some((l) => /Total General servers/.test(l));
    return /udp/.test(ss.stdout) && /tcp/.test(ss.stdout) && ss.stdout.includes(`pid=${proc.pid},`);
  }, 10_000);
  return coturn;
}

async function stopCoturn() {
  if (!coturn) return;
  const { proc, dir, exited } = coturn;
  if (proc.exitCode === null && proc.signalCode === null) {
    process.kill(proc.pid, "SIGTERM");
    const done = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok(null), 6000))]);
    if (done === null) {
      process.kill(proc.pid, "SIGKILL");
      await exited;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  coturn = null;
}

/** pipitd with a web root of a blank page (calls.html) and the SDK's dist (sdk/). */
async function startPipitWithSdk(extraArgs) {
  const srv = new PipitServer(extraArgs);
  writeFileSync(join(srv.webRoot, "calls.html"), "<!doctype html>\n<meta charset=utf-8>\n<title>calls</title>\n<link rel=icon href=\"data:,\">\n");
  cpSync(SDK_DIST, join(srv.webRoot, "sdk"), { recursive: true });
  return srv.start();
}

/** A page of pipitd's origin, signed in as `name` with the SDK's Client connected. */
async function sdkPage(name) {
  const page = await newPage(browser);
  await page.goto(`${server.url}/calls.html`);
  await page.evaluate(async ({ token }) => {
    const sdk = await import("/sdk/index.js");
    const client = new sdk.Client({ url: location.origin, token });
    Object.assign(window, { sdk, client, calls: [], records: [], got: [], linkErrors: [], linkClosed: false });
    client.on("call", (e) => window.calls.push(e));
    client.on("call_record", (e) => window.records.push(e));
    await client.connect();
  }, { token: users[name].token });
  page.pipitName = name;
  return page;
}

/** Waits for a `call` event in the page matching type (and call). */
async function callEvent(page, type, call) {
  const handle = await page.waitForFunction(
    ({ type, call }) => window.calls.find((e) => e.type === type && (call === undefined || e.call === call)),
    { type, call },
  );
  return handle.jsonValue();
}

/** The selected candidate pair's local and remote candidate types, once connected. */
function selectedPair(page) {
  return page.evaluate(async () => {
    const stats = await window.link.pc.getStats();
    let pair = null;
    stats.forEach((r) => {
      if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
    });
    if (pair === null) {
      stats.forEach((r) => {
        if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r;
      });
    }
    if (pair === null) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    return { local: local.candidateType, remote: remote.candidateType, localAddress: local.address ?? local.ip, url: local.url ?? null };
  });
}

before(async () => {
  if (SKIP) return;
  await startCoturn();
  const urls = `turn:127.0.0.1:${coturn.port}?transport=udp,turn:127.0.0.1:${coturn.port}?transport=tcp`;
  server = await startPipitWithSdk(["--turn-secret", SECRET, "--turn-urls", urls, "--turn-ttl", "10m", "--call-ring-timeout", "30s"]);
  browser = await openBrowser();
  for (const name of ["ana", "ben"]) {
    const made = await api(server, "POST", "/v1/auth/register", { username: name, password: PASSWORD });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    users[name] = { id: made.body.user.id, token: made.body.token };
  }
  const made = await api(server, "POST", "/v1/conversations", { type: "direct", peer: "ben" }, users.ana.token);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  conv = made.body.id;
});

after(async () => {
  try {
    await browser?.close();
    await server?.stop();
  } finally {
    await stopCoturn();
  }
});

test("a data channel between two pages, relayed by coturn with pipit's TURN credentials", { skip: SKIP, timeout: 60_000 }, async () => {
  try {
    await callThroughTurn();
  } catch (err) {
    if (coturn) console.log(`coturn log:\n${coturn.log.slice(-80).join("\n")}`);
    throw err;
  }
});

async function callThroughTurn() {
  const ana = await sdkPage("ana");
  const ben = await sdkPage("ben");

  // The credentials work in the browser as the SDK hands them out.
  const turn = await ana.evaluate(() => window.client.getTurnCredentials());
  assert.deepEqual(turn.urls, [`turn:127.0.0.1:${coturn.port}?transport=udp`, `turn:127.0.0.1:${coturn.port}?transport=tcp`]);
  assert.ok(turn.username.endsWith(`:${users.ana.id}`), turn.username);

  // ana calls; ben's phone rings, he gets his link ready, then answers.
  const { call } = await ana.evaluate((conv) => window.client.startCall(conv, { media: "audio" }), conv);
  const invite = await callEvent(ben, "invite", call);
  assert.equal(invite.from, users.ana.id);
  await ben.evaluate(async ({ call, peer }) => {
    const { sdk, client } = window;
    const iceServers = await sdk.callIceServers(client);
    const link = new sdk.PeerLink(client, { call, peer, configuration: { iceServers, iceTransportPolicy: "relay" } });
    link.onerror = (err) => window.linkErrors.push(String(err));
    link.onclose = () => (window.linkClosed = true);
    link.pc.addEventListener("datachannel", (event) => {
      const channel = event.channel;
      window.channel = channel;
      channel.onmessage = (m) => {
        window.got.push(m.data);
        channel.send("hello from ben");
      };
    });
    window.link = link;
    await client.ringing(call);
    await client.acceptCall(call);
  }, { call, peer: users.ana.id });
  await callEvent(ana, "ringing", call);
  await callEvent(ana, "accept", call);

  // ana opens the channel: PeerLink offers, ben's answers, candidates cross, all via pipit.
  await ana.evaluate(async ({ call, peer }) => {
    const { sdk, client } = window;
    const iceServers = await sdk.callIceServers(client);
    const link = new sdk.PeerLink(client, { call, peer, configuration: { iceServers, iceTransportPolicy: "relay" } });
    link.onerror = (err) => window.linkErrors.push(String(err));
    link.onclose = () => (window.linkClosed = true);
    const channel = link.pc.createDataChannel("chat");
    channel.onopen = () => channel.send("hello from ana");
    channel.onmessage = (m) => window.got.push(m.data);
    Object.assign(window, { link, channel });
  }, { call, peer: users.ben.id });

  await ben.waitForFunction(() => window.got.length === 1, null, { timeout: 20_000 });
  await ana.waitForFunction(() => window.got.length === 1, null, { timeout: 10_000 });
  assert.deepEqual(await ben.evaluate(() => window.got), ["hello from ana"]);
  assert.deepEqual(await ana.evaluate(() => window.got), ["hello from ben"]);

  // Through the relay, on both sides: the only way the policy allows.
  for (const page of [ana, ben]) {
    const pair = await until(`${page.pipitName}'s selected candidate pair`, () => selectedPair(page));
    assert.equal(pair.local, "relay", JSON.stringify(pair));
    assert.equal(pair.remote, "relay", JSON.stringify(pair));
    assert.equal(pair.localAddress, "127.0.0.1", JSON.stringify(pair));
    assert.deepEqual(await page.evaluate(() => window.linkErrors), []);
    // Every signal came through pipit as a `signal` event from the other side.
    const signals = await page.evaluate((call) => window.calls.filter((e) => e.call === call && e.type === "signal"), call);
    assert.ok(signals.some((e) => e.data.type === (page === ana ? "answer" : "offer")), JSON.stringify(signals));
    assert.ok(signals.some((e) => typeof e.data.candidate === "object" && / typ relay /.test(e.data.candidate.candidate)), JSON.stringify(signals));
  }

  // A credential signed with another secret gets no relay: coturn checks what pipit signs.
  const forged = await ana.evaluate(async (turn) => {
    const pc = new RTCPeerConnection({
      iceServers: [{ urls: turn.urls, username: turn.username, credential: btoa("not the credential pipit made") }],
      iceTransportPolicy: "relay",
    });
    const candidates = [];
    const errors = [];
    pc.onicecandidate = (e) => e.candidate && e.candidate.candidate && candidates.push(e.candidate.candidate);
    pc.onicecandidateerror = (e) => errors.push(e.errorCode);
    pc.createDataChannel("x");
    await pc.setLocalDescription();
    await new Promise((done) => {
      const timer = setTimeout(done, 8000);
      const check = () => pc.iceGatheringState === "complete" && (clearTimeout(timer), done());
      pc.onicegatheringstatechange = check;
      check();
    });
    pc.close();
    return { candidates, errors };
  }, turn);
  assert.deepEqual(forged.candidates, []);
  assert.ok(forged.errors.includes(401), JSON.stringify(forged));

  // ben hangs up: both links close, both sides get the end and the record.
  await ben.evaluate((call) => window.client.hangUp(call), call);
  for (const page of [ana, ben]) {
    await page.waitForFunction(() => window.linkClosed && window.records.length === 1);
    const { end, record, state } = await page.evaluate((call) => ({
      end: window.calls.find((e) => e.call === call && e.type === "end"),
      record: window.records[0],
      state: window.link.pc.connectionState,
    }), call);
    assert.equal(end.reason, "ended");
    assert.equal(state, "closed");
    assert.equal(record.call, call);
    assert.equal(record.missed, false);
    assert.deepEqual(record.participants, [users.ana.id, users.ben.id].sort((a, b) => a - b));
    assertClean(page);
  }
  await ana.context().close();
  await ben.context().close();
}
