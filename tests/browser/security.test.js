/**
 * Account security in a real browser against a real pipitd: two-factor
 * authentication turned on from the chat app's security settings (QR code, key,
 * first code, recovery codes), sign-in with the password and then a code, a
 * recovery code that works once; the session list and "sign out all other
 * sessions"; a password change that keeps the page (and another tab of the same
 * browser) working while other browsers are signed out; and the console: the MFA
 * policy (an admin without MFA who sets it is taken to the enrolment at once),
 * an admin taken to enrolment at sign-in and one asked for a code, a user's MFA
 * state and its reset, and users taken to enrolment when the policy covers
 * everyone, at sign-in or at the next start of an app already signed in. A policy that covers admins covers the test's admin too, so
 * while one is on the console moves by hash (a reload would ask it to enrol) and
 * REST calls use a token from before.
 *
 * The codes come from the SDK tests' Totp (RFC 6238 with node:crypto). The server
 * takes each time step once, so a test that needs a second code takes the next
 * step early or waits for it.
 *
 * Screenshots go to build/screenshots/security-*.png.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  DESKTOP, PASSWORD, PHONE, Totp, api, assertClean, createUser, newPage, openBrowser, shot, signInAdmin, startPipit,
} from "./lib.js";

let server;
let browser;
/** kim: an admin with MFA on, whose console sets the policy (it covers admins at once). */
let kim;

before(async () => {
  server = await startPipit();
  browser = await openBrowser();
  for (const name of ["eve", "finn", "gus", "hana", "jon", "lee"]) await createUser(server, name);
  for (const name of ["ivy", "kim"]) await createUser(server, name, { role: "admin" });
  const token = (await api(server, "POST", "/v1/auth/login", { username: "kim", password: PASSWORD })).body.token;
  const begun = (await api(server, "POST", "/v1/me/mfa", { password: PASSWORD }, token)).body;
  const app = new Totp(begun.secret);
  assert.equal((await api(server, "POST", "/v1/me/mfa/confirm", { code: await app.next() }, token)).status, 200);
  kim = { token, app, page: null };
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/* ------------------------------------------------------------------ helpers */

// Wrong codes and passwords are 401/403 answers the browser logs; nothing else may be.
const REFUSALS = [/status of 40[13]/];

async function open(viewport = DESKTOP) {
  return newPage(browser, { viewport });
}

/** Fills the sign-in form and submits it; what comes next is the caller's to wait for. */
async function submitPassword(page, username, password = PASSWORD, path = "/") {
  await page.goto(`${server.url}${path}`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function ready(page) {
  await page.locator(".sidebar").waitFor();
  await page.locator("[data-testid=connection][data-state=ready]").waitFor({ state: "attached" });
}

async function enterCode(page, code) {
  await page.getByTestId("code-input").fill(code);
  await page.getByTestId("verify-code").click();
}

async function openSecurity(page) {
  await page.getByTestId("account-menu").click();
  await page.getByTestId("open-security").click();
  return page.getByTestId("security");
}

async function signOut(page) {
  await page.getByTestId("account-menu").click();
  await page.getByTestId("sign-out").click();
  await page.getByTestId("auth-page").waitFor();
}

function tokenOf(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem("pipit.session") ?? "null")?.token ?? null);
}

const rest = (method, path, body, bearer) => api(server, method, path, body, bearer);

/** The enrolment's scan step: the QR code drawn, the key read; returns the app for that key. */
async function scanStep(page) {
  const qr = page.getByTestId("mfa-qr");
  await qr.waitFor();
  // Drawn: square, and both black and white modules in it.
  const drawn = await qr.evaluate((canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] < 64) dark++;
    return { w: canvas.width, h: canvas.height, dark, all: data.length / 4 };
  });
  assert.equal(drawn.w, drawn.h);
  assert.ok(drawn.w >= 120, `QR width ${drawn.w}`);
  assert.ok(drawn.dark > drawn.all * 0.2 && drawn.dark < drawn.all * 0.8, `dark modules ${drawn.dark} of ${drawn.all}`);
  const secret = await page.getByTestId("mfa-secret").getAttribute("data-secret");
  assert.equal((await page.getByTestId("mfa-secret").textContent()).replace(/\s/g, ""), secret);
  return new Totp(secret);
}

/** The recovery codes on screen. */
async function recoveryCodes(page) {
  await page.getByTestId("recovery-codes").waitFor();
  const codes = await page.getByTestId("recovery-code").allTextContents();
  assert.equal(codes.length, 10);
  return codes.map((c) => c.trim());
}

/* -------------------------------------------------------------------- tests */

test("MFA from the security settings, then sign-in with a code; a recovery code works once", async () => {
  const page = await open();
  await submitPassword(page, "eve");
  await ready(page);

  const security = await openSecurity(page);
  await security.getByTestId("mfa-state").filter({ hasText: "Off" }).waitFor();
  await security.getByTestId("sessions").locator("[data-testid=session]").first().waitFor();
  await shot(page, "security-settings-desktop");
  await security.getByTestId("enable-mfa").click();
  const setup = page.getByRole("dialog", { name: "Turn on two-factor authentication" });
  await setup.getByTestId("mfa-password").fill("not-my-password");
  await setup.getByTestId("mfa-begin").click();
  await setup.getByRole("alert").filter({ hasText: "not your current password" }).waitFor();
  await setup.getByTestId("mfa-password").fill(PASSWORD);
  await setup.getByTestId("mfa-begin").click();
  const app = await scanStep(page);
  await setup.getByTestId("code-input").fill(app.wrong());
  await setup.getByTestId("mfa-confirm").click();
  await setup.getByRole("alert").filter({ hasText: "That code is wrong or was used already" }).waitFor();
  await setup.getByTestId("code-input").fill(await app.next());
  await shot(page, "security-mfa-scan-desktop");
  await setup.getByTestId("mfa-confirm").click();
  const codes = await recoveryCodes(page);
  await setup.getByText("Store these codes now").waitFor();
  await shot(page, "security-recovery-codes-desktop");
  // Download gives the same codes as a text file.
  const [download] = await Promise.all([page.waitForEvent("download"), setup.getByTestId("download-codes").click()]);
  const file = await (await download.createReadStream()).toArray();
  const text = Buffer.concat(file).toString("utf8");
  for (const c of codes) assert.ok(text.includes(c), `${c} in the download`);
  await setup.getByTestId("mfa-done").click();
  await setup.waitFor({ state: "detached" });
  await security.getByTestId("mfa-state").filter({ hasText: "On" }).waitFor();
  await security.getByTestId("mfa-hint").filter({ hasText: "10 recovery codes left" }).waitFor();
  assert.equal((await rest("GET", "/v1/me", undefined, await tokenOf(page))).body.mfa_enabled, true);
  await page.keyboard.press("Escape");
  await signOut(page);

  // The password, then the code: a wrong one says so, the right one signs in.
  await submitPassword(page, "eve");
  await page.getByTestId("mfa-code-step").waitFor();
  await shot(page, "security-code-step-desktop");
  await enterCode(page, app.wrong());
  await page.getByRole("alert").filter({ hasText: "That code is wrong or was used already" }).waitFor();
  await enterCode(page, await app.next());
  await ready(page);
  await signOut(page);

  // A recovery code instead: once.
  for (const attempt of [1, 2]) {
    await submitPassword(page, "eve");
    await page.getByTestId("toggle-recovery").click();
    await page.getByTestId("recovery-code-input").fill(codes[0]);
    await page.getByTestId("verify-code").click();
    if (attempt === 1) {
      await ready(page);
      await signOut(page);
    } else {
      await page.getByRole("alert").filter({ hasText: "That recovery code is wrong or was used already" }).waitFor();
    }
  }
  // Back to the password form (still filled in), and another recovery code.
  await page.getByRole("button", { name: "Back" }).click();
  await page.getByLabel("Username").waitFor();
  assert.equal(await page.getByLabel("Password").inputValue(), PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("toggle-recovery").click();
  await page.getByTestId("recovery-code-input").fill(codes[1]);
  await page.getByTestId("verify-code").click();
  await ready(page);

  // Turning it off asks for the password and a code (a recovery code will do).
  const again = await openSecurity(page);
  await again.getByTestId("mfa-hint").filter({ hasText: "8 recovery codes left" }).waitFor();
  await again.getByTestId("disable-mfa").click();
  const off = page.getByRole("dialog", { name: "Turn off two-factor authentication?" });
  await off.getByLabel("Current password").fill(PASSWORD);
  await off.getByTestId("toggle-recovery").click();
  await off.getByTestId("recovery-code-input").fill(codes[2]);
  await off.getByTestId("confirm-disable-mfa").click();
  await off.waitFor({ state: "detached" });
  await again.getByTestId("mfa-state").filter({ hasText: "Off" }).waitFor();
  assertClean(page, REFUSALS);
  await page.context().close();
});

test("sessions: two listed, this one marked; sign out one, then all the others", async () => {
  const here = await open();
  const there = await open(PHONE);
  await submitPassword(there, "finn");
  await ready(there);
  await submitPassword(here, "finn");
  await ready(here);

  const security = await openSecurity(here);
  const rows = security.getByTestId("session");
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  const current = security.locator("[data-testid=session][data-current=true]");
  assert.match(await current.textContent(), /This device/);
  assert.match(await current.textContent(), /Chrome on Linux/);
  const other = rows.filter({ hasNot: here.getByText("This device") });
  assert.match(await other.textContent(), /127\.0\.0\.1/);
  await other.getByText("online now").waitFor();

  // A third session (a script): signed out on its own.
  const script = (await rest("POST", "/v1/auth/login", { username: "finn", password: PASSWORD, device: "Backup script" })).body.token;
  await here.keyboard.press("Escape");
  await openSecurity(here);
  await rows.nth(2).waitFor();
  await shot(here, "security-sessions-desktop");
  await rows.filter({ hasText: "Backup script" }).getByTestId("revoke-session").click();
  await here.waitForFunction(() => document.querySelectorAll("[data-testid=session]").length === 2);
  assert.equal((await rest("GET", "/v1/me", undefined, script)).status, 401);

  // All the others: the phone is signed out at once.
  await security.getByTestId("revoke-others").click();
  await here.waitForFunction(() => document.querySelectorAll("[data-testid=session]").length === 1);
  await security.getByText("You are signed in on this device only.").waitFor();
  await there.getByTestId("auth-page").waitFor();
  await there.getByText("Your session has ended").waitFor();
  assert.equal(await tokenOf(there), null);
  assert.equal((await rest("GET", "/v1/me", undefined, await tokenOf(here))).status, 200);
  assertClean(here);
  assertClean(there);
  await here.context().close();
  await there.context().close();
});

test("password change: this page and its other tab keep working, other browsers are signed out", async () => {
  const hana = (await rest("POST", "/v1/auth/login", { username: "hana", password: PASSWORD })).body.token;
  const page = await open();
  await submitPassword(page, "gus");
  await ready(page);
  const tab = await page.context().newPage(); // the same browser: it shares the stored session
  tab.problems = [];
  tab.on("pageerror", (err) => tab.problems.push(`page error: ${err.message}`));
  await tab.goto(`${server.url}/`);
  await ready(tab);
  const elsewhere = await open();
  await submitPassword(elsewhere, "gus");
  await ready(elsewhere);
  const oldToken = await tokenOf(page);

  const security = await openSecurity(page);
  await security.getByTestId("current-password").fill("not-my-password");
  await security.getByTestId("new-password").fill("a-brand-new-password");
  await security.getByTestId("change-password").click();
  await security.getByRole("alert").filter({ hasText: "not your current password" }).waitFor();
  await security.getByTestId("current-password").fill(PASSWORD);
  await security.getByTestId("change-password").click();
  await page.getByText("Password changed").waitFor();
  await page.keyboard.press("Escape");

  // This page: a new token, stored, and the chat goes on.
  await page.locator("[data-testid=connection][data-state=ready]").waitFor({ state: "attached" });
  const newToken = await tokenOf(page);
  assert.notEqual(newToken, oldToken);
  assert.equal((await rest("GET", "/v1/me", undefined, oldToken)).status, 401);
  assert.equal((await rest("GET", "/v1/me", undefined, newToken)).status, 200);
  const conv = (await rest("POST", "/v1/conversations", { type: "direct", peer: "gus" }, hana)).body.id;
  await rest("POST", `/v1/conversations/${conv}/messages`, { cmid: "pw-1", body: { type: "text", text: "did it work?" } }, hana);
  await page.locator("[data-testid=conv-item]").filter({ hasText: "hana" }).click();
  await page.getByTestId("composer").fill("it did");
  await page.getByTestId("composer").press("Enter");
  const seen = async () => (await rest("GET", `/v1/conversations/${conv}/messages`, undefined, hana)).body.events.map((e) => e.body?.text);
  for (let i = 0; i < 50 && !(await seen()).includes("it did"); i++) await page.waitForTimeout(100);
  assert.ok((await seen()).includes("it did"));

  // The other tab follows with the new token; the other browser is signed out.
  await tab.locator("[data-testid=connection][data-state=ready]").waitFor({ state: "attached" });
  await tab.locator(".sidebar").waitFor();
  assert.equal(await tokenOf(tab), newToken);
  await elsewhere.getByTestId("auth-page").waitFor();

  // Tabs see each other's storage writes late, so the other tab may clear the old
  // token over the new one: neither page is signed out, and the new token is put back.
  await tab.evaluate(() => localStorage.removeItem("pipit.session"));
  await page.waitForFunction(() => localStorage.getItem("pipit.session") !== null);
  assert.equal(await tokenOf(page), newToken);
  await page.locator("[data-testid=connection][data-state=ready]").waitFor({ state: "attached" });
  await tab.locator(".sidebar").waitFor();

  // A reload keeps the new session; the old password no longer works.
  await page.reload();
  await ready(page);
  assert.equal((await rest("POST", "/v1/auth/login", { username: "gus", password: PASSWORD })).status, 401);
  assertClean(page, REFUSALS);
  assert.deepEqual(tab.problems, []);
  assertClean(elsewhere);

  // Signing out here still signs the other tab out: the server no longer takes the token.
  await signOut(page);
  await tab.getByTestId("auth-page").waitFor();
  assert.equal(await tokenOf(tab), null);
  await page.context().close();
  await elsewhere.context().close();
});

test("console: an admin asked for a code; the MFA policy; admins enrolled at sign-in and at once", async () => {
  const page = await open();
  kim.page = page;
  await submitPassword(page, "kim", PASSWORD, "/admin/");
  await page.getByTestId("mfa-code-step").waitFor();
  await shot(page, "security-console-code-desktop");
  await enterCode(page, await kim.app.next());
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();

  const root = await open();
  try {
    // The first admin, without MFA, tries a policy that covers admins: warned, and the
    // server refuses it (it would hold its author to enrolment, the undo too).
    await signInAdmin(root, server);
    await root.evaluate(() => (location.hash = "#/settings"));
    const form = root.getByTestId("mfa-policy-form");
    await form.waitFor();
    assert.equal(await root.getByTestId("mfa-policy").inputValue(), "off");
    await root.getByTestId("mfa-policy").selectOption("admins");
    await form.getByText("Admins without it must set it up").waitFor();
    await root.getByTestId("policy-self-warning").waitFor();
    await shot(root, "security-console-policy-desktop");
    await root.getByTestId("save-policy").click();
    await form.getByRole("alert").filter({ hasText: "your own account first" }).waitFor();
    assert.equal((await rest("GET", "/v1/admin/app", undefined, kim.token)).body.mfa_required, "off");
    await root.context().close();

    // kim has MFA: the policy saves.
    await page.evaluate(() => (location.hash = "#/settings"));
    await page.getByTestId("mfa-policy-form").waitFor();
    await page.getByTestId("mfa-policy").selectOption("admins");
    assert.equal(await page.getByTestId("policy-self-warning").count(), 0);
    await page.getByTestId("save-policy").click();
    await page.getByText("Settings saved").first().waitFor();
    assert.equal((await rest("GET", "/v1/admin/app", undefined, kim.token)).body.mfa_required, "admins");

    // kim has MFA: no warning.
    await page.evaluate(() => (location.hash = "#/settings"));
    await page.getByTestId("mfa-policy-form").waitFor();
    assert.equal(await page.getByTestId("mfa-policy").inputValue(), "admins");
    await page.getByTestId("mfa-policy").selectOption("all");
    await page.getByText("Every user without it must set it up").waitFor();
    assert.equal(await page.getByTestId("policy-self-warning").count(), 0);
    await page.getByTestId("mfa-policy").selectOption("admins");

    // ivy is an admin without MFA: the console sets it up first, reusing the password.
    const ivy = await open();
    await submitPassword(ivy, "ivy", PASSWORD, "/admin/");
    await ivy.getByTestId("mfa-enrol").waitFor();
    const app = await scanStep(ivy);
    await shot(ivy, "security-console-enrol-desktop");
    await ivy.getByTestId("code-input").fill(await app.next());
    await ivy.getByTestId("mfa-confirm").click();
    await recoveryCodes(ivy);
    await ivy.getByTestId("mfa-done").click();
    await ivy.getByRole("heading", { name: "Dashboard" }).waitFor();

    // Next time: the code step.
    await ivy.evaluate(() => localStorage.clear());
    await submitPassword(ivy, "ivy", PASSWORD, "/admin/");
    await ivy.getByTestId("mfa-code-step").waitFor();
    await enterCode(ivy, app.wrong());
    await ivy.getByRole("alert").filter({ hasText: "That code is wrong" }).waitFor();
    await enterCode(ivy, await app.next());
    await ivy.getByRole("heading", { name: "Dashboard" }).waitFor();
    assertClean(ivy, REFUSALS);
    await ivy.context().close();

    // kim sees it in ivy's drawer.
    await page.evaluate(() => (location.hash = "#/users"));
    await page.getByRole("button", { name: "Manage ivy" }).click();
    const drawer = page.getByRole("dialog", { name: "ivy" });
    await drawer.getByTestId("user-mfa").filter({ hasText: "MFA on" }).waitFor();
    await page.keyboard.press("Escape");
    await drawer.waitFor({ state: "detached" });
  } finally {
    await rest("PATCH", "/v1/admin/app", { mfa_required: "off" }, kim.token);
  }
  assertClean(page, REFUSALS);
});

test("policy for everyone: a user is taken to enrolment at sign-in, a signed-in one at the next start; the admin's reset", async () => {
  const console_ = kim.page;
  const user = await open(PHONE);
  const lee = await open();
  try {
    await submitPassword(lee, "lee");
    await ready(lee);
    await console_.evaluate(() => (location.hash = "#/settings"));
    await console_.reload();
    await console_.getByTestId("mfa-policy").selectOption("all");
    await console_.getByTestId("save-policy").click();
    await console_.getByText("Two-factor authentication is required for everyone.").waitFor();

    // lee was signed in already: the next start of the app asks for the password, then the enrolment.
    await lee.reload();
    await lee.getByTestId("mfa-enrol").waitFor();
    await lee.getByTestId("mfa-password").fill(PASSWORD);
    await lee.getByTestId("mfa-begin").click();
    const leeApp = await scanStep(lee);
    await lee.getByTestId("code-input").fill(await leeApp.next());
    await lee.getByTestId("mfa-confirm").click();
    await recoveryCodes(lee);
    await lee.getByTestId("mfa-done").click();
    await ready(lee);
    assertClean(lee, REFUSALS);
    await lee.context().close();

    await submitPassword(user, "jon");
    await user.getByTestId("mfa-enrol").waitFor();
    await user.getByText("This server requires it for your account").waitFor();
    const app = await scanStep(user);
    await shot(user, "security-enrol-phone");
    await user.getByTestId("code-input").fill(await app.next());
    await user.getByTestId("mfa-confirm").click();
    await recoveryCodes(user);
    await shot(user, "security-recovery-codes-phone");
    await user.getByTestId("mfa-done").click();
    await ready(user);
    const token = await tokenOf(user);
    assert.equal((await rest("GET", "/v1/conversations", undefined, token)).status, 200);
    // Required: it cannot be turned off here.
    const security = await openSecurity(user);
    await security.getByTestId("mfa-state").filter({ hasText: "On" }).waitFor();
    assert.equal(await security.getByTestId("disable-mfa").isDisabled(), true);
    await security.getByText("This server requires it for your account").waitFor();
    await shot(user, "security-settings-phone");
    await user.keyboard.press("Escape");

    // Lost phone: kim resets it; jon is signed out and enrols again at the next sign-in.
    await console_.evaluate(() => (location.hash = "#/users"));
    await console_.getByRole("button", { name: "Manage jon" }).click();
    const drawer = console_.getByRole("dialog", { name: "jon" });
    await drawer.getByTestId("user-mfa").filter({ hasText: "MFA on" }).waitFor();
    await drawer.getByTestId("sessions").locator("li").first().waitFor();
    assert.match(await drawer.getByTestId("sessions").textContent(), /127\.0\.0\.1/);
    await drawer.getByRole("button", { name: "Reset MFA" }).click();
    await shot(console_, "security-console-reset-desktop");
    const confirm = console_.getByRole("dialog", { name: "Reset jon's two-factor authentication?" });
    await confirm.getByTestId("confirm").click();
    await confirm.waitFor({ state: "detached" });
    await drawer.getByTestId("user-mfa").filter({ hasText: "MFA off" }).waitFor();
    await drawer.getByText("No active sessions").waitFor();
    await user.getByTestId("auth-page").waitFor();
    assert.equal((await rest("GET", "/v1/me", undefined, token)).status, 401);
    await submitPassword(user, "jon");
    await user.getByTestId("mfa-enrol").waitFor();
    await user.getByRole("button", { name: "Cancel and sign out" }).click();
    await user.getByLabel("Username").waitFor();
  } finally {
    await rest("PATCH", "/v1/admin/app", { mfa_required: "off" }, kim.token);
  }
  assertClean(console_, REFUSALS);
  assertClean(user);
  await console_.context().close();
  await user.context().close();
});
