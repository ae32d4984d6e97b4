/**
 * Test helper: one real pipitd per test file, and the few utilities the tests share.
 *
 * The binary is $PIPITD (default ../../build/pipitd from sdk/js). Each server gets a
 * fresh temp dir (data dir and an empty web root), listens on 127.0.0.1 port 0 with
 * open registration, and is stopped by its PID with SIGTERM (SIGKILL only if it does
 * not exit in time). restart() brings it back on the same port and data dir, for
 * reconnect tests; pause()/resume() stop and continue it (SIGSTOP/SIGCONT), for
 * timeout tests. Its log is kept and printed when it fails to start or stop.
 * Totp makes the codes of an authenticator app, for the two-factor tests.
 */

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Client } from "../dist/index.js";

const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const PIPITD = process.env.PIPITD ? resolve(SDK_DIR, process.env.PIPITD) : resolve(SDK_DIR, "../../build/pipitd");
export const PASSWORD = "correct-horse-battery";

const READY_RE = /pipitd listening on 127\.0\.0\.1:(\d+)/;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 6_000;
const LIVE = new Set(); // servers to kill if the test process exits without stopping them

process.on("exit", () => {
  for (const server of LIVE) {
    try {
      process.kill(server.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

export class PipitServer {
  constructor(extraArgs = []) {
    this.extraArgs = extraArgs;
    this.dir = mkdtempSync(join(tmpdir(), "pipit-sdk-test-"));
    this.dataDir = join(this.dir, "data");
    this.webRoot = join(this.dir, "web");
    mkdirSync(this.webRoot, { recursive: true });
    this.proc = null;
    this.port = 0;
    this.log = [];
  }

  get pid() {
    return this.proc?.pid;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts pipitd and resolves once it says it listens. */
  async start(port = this.port) {
    const args = [
      "--listen", `127.0.0.1:${port}`,
      "--data-dir", this.dataDir,
      "--web-root", this.webRoot,
      "--workers", "2",
      "--registration", "open",
      "--log-level", "debug",
      ...this.extraArgs,
    ];
    const proc = spawn(PIPITD, args, { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    LIVE.add(this);
    this.exited = new Promise((done) => proc.once("exit", (code, signal) => done({ code, signal })));
    this.exited.then(() => LIVE.delete(this));
    this.port = await new Promise((ok, fail) => {
      let buffered = "";
      const timer = setTimeout(() => fail(new Error(`pipitd not ready in time:\n${this.logText()}`)), START_TIMEOUT_MS);
      const onData = (chunk) => {
        buffered += chunk.toString("utf8");
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          this.log.push(line);
          const m = READY_RE.exec(line);
          if (m) {
            clearTimeout(timer);
            ok(Number(m[1]));
          }
        }
      };
      proc.stdout.on("data", onData);
      proc.stderr.on("data", onData);
      proc.once("exit", (code) => {
        clearTimeout(timer);
        fail(new Error(`pipitd exited (${code}) before it was ready:\n${this.logText()}`));
      });
    });
    return this;
  }

  /** SIGTERM by PID; resolves with the exit code. */
  async stop() {
    const proc = this.proc;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) {
      return proc?.exitCode ?? null;
    }
    process.kill(proc.pid, "SIGTERM");
    const timeout = new Promise((done) => setTimeout(() => done(null), STOP_TIMEOUT_MS).unref());
    const result = await Promise.race([this.exited, timeout]);
    if (result === null) {
      process.kill(proc.pid, "SIGKILL");
      await this.exited;
      throw new Error(`pipitd did not stop within ${STOP_TIMEOUT_MS} ms:\n${this.logTail()}`);
    }
    return result.code;
  }

  /** Stops it and starts it again on the same port and data dir. */
  async restart() {
    const port = this.port;
    await this.stop();
    // The port was just freed; a few tries cover a slow release, bounded in count.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.start(port);
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(200);
      }
    }
  }

  /** SIGSTOP, then waits until every thread is stopped: the signal is asynchronous. */
  async pause() {
    process.kill(this.proc.pid, "SIGSTOP");
    const deadline = Date.now() + 2000;
    while (!this.allThreadsStopped()) {
      if (Date.now() > deadline) throw new Error("pipitd did not stop on SIGSTOP");
      await sleep(5);
    }
  }

  allThreadsStopped() {
    const taskDir = `/proc/${this.proc.pid}/task`;
    try {
      return readdirSync(taskDir).every((tid) => {
        // The state follows the ")" that ends the command name.
        const stat = readFileSync(`${taskDir}/${tid}/stat`, "utf8");
        return /^\) [tT]/.test(stat.slice(stat.lastIndexOf(")")));
      });
    } catch {
      return true; // no /proc (not Linux): the signal is all we can do
    }
  }

  resume() {
    process.kill(this.proc.pid, "SIGCONT");
  }

  adminPassword() {
    return readFileSync(join(this.dataDir, "initial-admin-password"), "utf8").trim();
  }

  /** Stops the server and removes its temp dir. */
  async cleanup() {
    try {
      if (this.proc !== null) this.resume(); // a paused process cannot act on SIGTERM
    } catch {
      // not running
    }
    const code = await this.stop();
    if (code !== 0 && code !== null) {
      // Kept for a look: a sanitizer build reports its findings in the log.
      throw new Error(`pipitd exited with ${code} after SIGTERM (dir ${this.dir}):\n${this.logTail()}`);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  logText() {
    return this.log.join("\n");
  }

  logTail(n = 60) {
    return this.log.slice(-n).join("\n");
  }
}

export async function startServer(extraArgs = []) {
  return new PipitServer(extraArgs).start();
}

let userCounter = 0;

/**
 * A registered user's Client. Short timeouts and reconnect delays keep the tests
 * fast; `options` overrides them.
 */
export async function newClient(server, options = {}) {
  const client = new Client({
    url: server.url,
    requestTimeoutMs: 3000,
    reconnectMinMs: 100,
    reconnectMaxMs: 1000,
    ...options,
  });
  const username = `u${process.pid}_${++userCounter}`;
  await client.register(username, PASSWORD);
  client.username = username;
  return client;
}

export function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/** Polls `check` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor(check, { timeoutMs = 5000, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Records every payload of `event` on `client`. */
export function record(client, event) {
  const seen = [];
  client.on(event, (payload) => seen.push(payload));
  return seen;
}

/** RFC 4648 base32 → bytes (padding and spaces ignored). */
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const ch of text.toUpperCase().replace(/[=\s]/g, "")) {
    const index = alphabet.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

export const TOTP_STEP_MS = 30_000;

/**
 * The RFC 6238 code of `secret` for time step `step` (Unix time / 30 s): HMAC-SHA1
 * over the step as 8 bytes big-endian, then RFC 4226's dynamic truncation to 6 digits.
 */
export function totpAt(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 1_000_000).padStart(6, "0");
}

/**
 * An authenticator app for one secret. The server takes the current step ±1 and
 * never the same step twice, so next() hands out each step once, in order: the
 * current one, else the one after (accepted early), else it waits for the clock.
 */
export class Totp {
  constructor(secret) {
    this.secret = secret;
    this.last = -1;
  }

  async next() {
    for (;;) {
      const now = Math.floor(Date.now() / TOTP_STEP_MS);
      const step = Math.max(now, this.last + 1);
      if (step <= now + 1) {
        this.last = step;
        return totpAt(this.secret, step);
      }
      await sleep((now + 1) * TOTP_STEP_MS - Date.now() + 50);
    }
  }

  /** A code of the right shape that is none of the steps the server would take now. */
  wrong() {
    const now = Math.floor(Date.now() / TOTP_STEP_MS);
    const taken = new Set([-1, 0, 1].map((d) => totpAt(this.secret, now + d)));
    for (let n = 0; ; n++) {
      const code = String(n).padStart(6, "0");
      if (!taken.has(code)) return code;
    }
  }
}
