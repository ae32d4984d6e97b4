/**
 * Account security through the SDK against a real pipitd: the session list (device
 * names, this one marked, sign one or all others out), two-factor authentication
 * (enrolment, sign-in with a code or a recovery code, each usable once, new
 * recovery codes, turning it off), a password change that keeps this client
 * working while every other session ends, an app policy that requires MFA (a
 * session that can only enrol, the socket refused until then) and an admin's
 * reset, and the wait a 429 carries.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client, PipitError } from "../dist/index.js";
import { PASSWORD, Totp, newClient, startServer, waitFor } from "./server.js";

let server;
let admin;
const clients = [];

async function client() {
  const c = await newClient(server);
  clients.push(c);
  return c;
}

/** A second client of an existing user, logged in with `options`. */
async function loginAs(username, options = {}, password = PASSWORD) {
  const c = new Client({ url: server.url, requestTimeoutMs: 3000, reconnectMinMs: 100, reconnectMaxMs: 1000 });
  clients.push(c);
  await c.login(username, password, options);
  return c;
}

/** Turns MFA on for `c`; its authenticator app and the recovery codes. */
async function enrol(c, password = PASSWORD) {
  const begun = await c.mfaBegin(password);
  const app = new Totp(begun.secret);
  const codes = await c.mfaConfirm(await app.next());
  return { app, codes, begun };
}

before(async () => {
  server = await startServer();
  admin = new Client({ url: server.url, requestTimeoutMs: 3000 });
  await admin.login("admin", server.adminPassword());
});

after(async () => {
  for (const c of clients) c.close();
  admin?.close();
  await server.cleanup();
});

test("sessions: device names, this one marked, sign one out, then all the others", async () => {
  const alice = await client();
  const laptop = await loginAs(alice.username, { device: "Firefox on Linux" });
  const phone = await loginAs(alice.username, { device: "Pipit for Android" });

  const list = await laptop.sessions();
  assert.equal(list.length, 3);
  const mine = list.find((s) => s.current);
  assert.equal(mine.device, "Firefox on Linux");
  assert.equal(list.filter((s) => s.current).length, 1);
  for (const s of list) {
    assert.equal(typeof s.id, "number");
    assert.equal(typeof s.ip, "string");
    assert.ok(s.last_seen_at >= s.created_at && s.expires_at > s.created_at);
    assert.equal(typeof s.online, "boolean");
  }
  const phoneSession = list.find((s) => s.device === "Pipit for Android");
  assert.ok(phoneSession);

  // The phone has its socket open: it shows online, and is closed when signed out.
  await phone.connect();
  await waitFor(async () => (await laptop.sessions()).find((s) => s.id === phoneSession.id)?.online, { what: "the phone online" });
  const closed = new Promise((done) => phone.once("disconnected", done));
  await laptop.revokeSession(phoneSession.id);
  const info = await closed;
  assert.equal(info.willReconnect, false);
  await assert.rejects(phone.me(), { status: 401, code: "unauthorized" });
  await assert.rejects(laptop.revokeSession(phoneSession.id), { status: 404, code: "not_found" });

  await laptop.revokeOtherSessions();
  await assert.rejects(alice.me(), { status: 401 });
  const left = await laptop.sessions();
  assert.deepEqual(left.map((s) => s.current), [true]);
});

test("MFA: enrol, sign in with a code once, a recovery code once, new codes, turn off", async () => {
  const bob = await client();
  const before = await bob.mfaStatus();
  assert.equal(before.enabled, false);
  assert.equal(before.required, false);
  assert.equal(before.pending, false);
  assert.equal((await bob.me()).mfa_enabled, false);

  await assert.rejects(bob.mfaBegin("not-my-password"), { status: 403, code: "wrong_password" });
  const begun = await bob.mfaBegin(PASSWORD);
  assert.match(begun.secret, /^[A-Z2-7]+=*$/);
  assert.match(begun.otpauth_uri, /^otpauth:\/\/totp\//);
  assert.ok(begun.otpauth_uri.includes(`secret=${begun.secret}`));
  assert.equal((await bob.mfaStatus()).pending, true);
  const app = new Totp(begun.secret);
  await assert.rejects(bob.mfaConfirm(app.wrong()), { status: 403, code: "invalid_mfa_code" });
  const codes = await bob.mfaConfirm(await app.next());
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  const status = await bob.mfaStatus();
  assert.equal(status.enabled, true);
  assert.equal(status.pending, false);
  assert.equal(status.recovery_codes_left, 10);
  assert.equal((await bob.me()).mfa_enabled, true);
  await assert.rejects(bob.mfaBegin(PASSWORD), { status: 409, code: "conflict" });

  // The password alone is not enough; a wrong code is refused; the right one works once.
  const fresh = new Client({ url: server.url, requestTimeoutMs: 3000 });
  clients.push(fresh);
  await assert.rejects(fresh.login(bob.username, PASSWORD), { status: 401, code: "mfa_required" });
  assert.equal(fresh.token, null);
  await assert.rejects(fresh.login(bob.username, "wrong-password", { code: app.wrong() }), {
    status: 401,
    code: "invalid_credentials",
  });
  await assert.rejects(fresh.login(bob.username, PASSWORD, { code: app.wrong() }), { status: 403, code: "invalid_mfa_code" });
  const code = await app.next();
  const session = await fresh.login(bob.username, PASSWORD, { code, device: "Test runner" });
  assert.equal(session.user.username, bob.username);
  assert.equal(session.mfa_enrollment_required, undefined);
  assert.equal((await fresh.me()).username, bob.username);
  await assert.rejects(loginAs(bob.username, { code }), { status: 403, code: "invalid_mfa_code" });

  // A recovery code works once.
  await loginAs(bob.username, { recoveryCode: codes[0] });
  await assert.rejects(loginAs(bob.username, { recoveryCode: codes[0] }), { status: 403, code: "invalid_mfa_code" });
  assert.equal((await bob.mfaStatus()).recovery_codes_left, 9);

  // A new set replaces the old one.
  const renewed = await bob.mfaRecoveryCodes(await app.next());
  assert.equal(renewed.length, 10);
  assert.equal((await bob.mfaStatus()).recovery_codes_left, 10);
  await assert.rejects(loginAs(bob.username, { recoveryCode: codes[1] }), { status: 403, code: "invalid_mfa_code" });

  // Off, with the password and a code; then the password alone signs in.
  await assert.rejects(bob.mfaDisable("not-my-password", { code: app.wrong() }), { status: 403, code: "wrong_password" });
  await assert.rejects(bob.mfaDisable(PASSWORD, { code: app.wrong() }), { status: 403, code: "invalid_mfa_code" });
  await bob.mfaDisable(PASSWORD, { recoveryCode: renewed[0] });
  assert.equal((await bob.mfaStatus()).enabled, false);
  await loginAs(bob.username);
});

test("password change: this client takes the new token and reconnects, every other session ends", async () => {
  const carol = await client();
  const other = await loginAs(carol.username);
  await carol.connect();
  await other.connect();
  const otherClosed = new Promise((done) => other.once("disconnected", done));

  await assert.rejects(carol.changePassword("not-my-password", "a-new-password"), { status: 403, code: "wrong_password" });
  await waitFor(() => carol.state === "ready", { what: "reconnected after the refusal" });
  await assert.rejects(carol.changePassword(PASSWORD, "short"), { status: 400, code: "weak_password" });
  await waitFor(() => carol.state === "ready", { what: "reconnected after the second refusal" });

  const oldToken = carol.token;
  const session = await carol.changePassword(PASSWORD, "a-new-password");
  assert.notEqual(session.token, oldToken);
  assert.equal(carol.token, session.token);
  assert.equal((await carol.me()).username, carol.username);
  await waitFor(() => carol.state === "ready", { what: "reconnected with the new token" });
  const group = await carol.createGroup({ title: "after the change" });
  await carol.send(group.id, { type: "text", text: "still here" });

  assert.equal((await otherClosed).willReconnect, false);
  await assert.rejects(other.me(), { status: 401 });
  const old = new Client({ url: server.url, token: oldToken });
  await assert.rejects(old.me(), { status: 401 });
  await assert.rejects(loginAs(carol.username), { status: 401, code: "invalid_credentials" });
  await loginAs(carol.username, {}, "a-new-password");
  assert.equal((await carol.sessions()).filter((s) => s.current).length, 1);
});

test("policy: a user without MFA gets a session that can only enrol; an admin's reset", async () => {
  const dan = await client();
  dan.close();
  // The policy covers the admin too, at once: without MFA of their own they could not even undo it.
  await enrol(admin, server.adminPassword());
  const patched = await admin.call("PATCH", "/v1/admin/app", { mfa_required: "all" });
  assert.equal(patched.mfa_required, "all");
  try {
    const c = new Client({ url: server.url, requestTimeoutMs: 3000, reconnectMinMs: 100, reconnectMaxMs: 1000 });
    clients.push(c);
    const session = await c.login(dan.username, PASSWORD);
    assert.equal(session.mfa_enrollment_required, true);
    const me = await c.me();
    assert.equal(me.mfa_required, true);
    assert.equal(me.mfa_enabled, false);
    await assert.rejects(c.listConversations(), { status: 403, code: "mfa_enrollment_required" });
    assert.equal((await c.sessions()).length >= 1, true);

    // The socket is refused, and the SDK does not keep knocking.
    const errors = [];
    c.on("error", (e) => errors.push(e.code));
    await assert.rejects(c.connect(), { code: "mfa_enrollment_required" });
    assert.equal(c.state, "idle");
    assert.deepEqual(errors, ["mfa_enrollment_required"]);

    const { app } = await enrol(c);
    assert.equal((await c.mfaStatus()).required, true);
    assert.deepEqual(await c.listConversations(), []);
    await c.connect();
    assert.equal(c.state, "ready");
    await assert.rejects(c.mfaDisable(PASSWORD, { code: await app.next() }), { status: 403, code: "forbidden" });

    // The admin turns it off (a lost phone): every session ends; the next login enrols again.
    const closed = new Promise((done) => c.once("disconnected", done));
    const listed = await admin.call("GET", `/v1/admin/users/${dan.user.id}`);
    assert.equal(listed.mfa_enabled, true);
    await admin.call("DELETE", `/v1/admin/users/${dan.user.id}/mfa`);
    assert.equal((await closed).willReconnect, false);
    await assert.rejects(c.me(), { status: 401 });
    assert.equal((await admin.call("GET", `/v1/admin/users/${dan.user.id}`)).mfa_enabled, false);
    const again = await loginAs(dan.username);
    assert.equal((await again.mfaStatus()).enabled, false);
  } finally {
    await admin.call("PATCH", "/v1/admin/app", { mfa_required: "off" });
  }
  assert.equal((await admin.call("GET", "/v1/admin/app")).mfa_required, "off");
});

test("a 429 says how long to wait", async () => {
  // Its own server: the throttle counts per address too, and would slow the other tests.
  const strict = await startServer(["--login-free-attempts", "1"]);
  try {
    const c = new Client({ url: strict.url, requestTimeoutMs: 3000 });
    let refused;
    for (let i = 0; i < 5 && refused === undefined; i++) {
      try {
        await c.login("admin", "not-the-password");
      } catch (err) {
        assert.ok(err instanceof PipitError);
        if (err.code === "rate_limited") refused = err;
        else assert.equal(err.code, "invalid_credentials");
      }
    }
    assert.ok(refused, "no 429 after 5 wrong passwords");
    assert.equal(refused.status, 429);
    assert.ok(refused.retryAfterMs >= 1000, `retryAfterMs ${refused.retryAfterMs}`);
  } finally {
    await strict.cleanup();
  }
});
