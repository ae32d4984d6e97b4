/**
 * Browser-test harness: a real pipitd serving the built web app (web/dist), and
 * Debian's Chromium driven by playwright-core.
 *
 * startPipit() starts a fresh server (temp data dir, 127.0.0.1 port 0, open
 * registration) through the SDK tests' PipitServer, so there is one way to run
 * a test server. openBrowser() launches Chromium headless with the flags this
 * machine needs. newPage() gives a page in its own context (its own cookies
 * and storage: a second user is a second context) that fails the test on any
 * page error, console error or CSP violation. shot() saves a screenshot under
 * $SCREENSHOT_DIR (default build/screenshots) for a person to look at. The
 * admin console's tests share api() for REST calls, until() for bounded polling
 * and signInAdmin()/openConsole() for the console; Totp (from the SDK's tests)
 * is the authenticator app of the two-factor tests.
 */

import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { PASSWORD, PipitServer, Totp } from "../../sdk/js/test/server.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const WEB_ROOT = join(REPO, "web", "dist");
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR
  ? resolve(process.env.SCREENSHOT_DIR)
  : join(REPO, "build", "screenshots");
export { PASSWORD, Totp };

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** A running pipitd serving web/dist; stop() it at the end. */
export async function startPipit(extraArgs = []) {
  const server = new PipitServer(["--web-root", WEB_ROOT, ...extraArgs]);
  await server.start();
  return server;
}

export async function openBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}

/**
 * A page in a fresh context. page.problems lists what went wrong in the page
 * (uncaught errors, console errors, CSP violations); assertClean(page) fails on any.
 */
export async function newPage(browser, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport, locale: "en-US", timezoneId: "UTC" });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      page.problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on("dialog", (dialog) => {
    // An alert() would mean injected script ran; record it and dismiss it.
    page.problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.setDefaultTimeout(10_000);
  return page;
}

export function assertClean(page, allowed = []) {
  const left = page.problems.filter((p) => !allowed.some((re) => re.test(p)));
  if (left.length > 0) {
    throw new Error(`problems in the page:\n${left.join("\n")}`);
  }
}

/** Saves a screenshot as SCREENSHOT_DIR/name.png, once finite animations (slide-ins) have ended. */
export async function shot(page, name) {
  await page.waitForFunction(() =>
    document.getAnimations().every((a) => a.playState !== "running" || a.effect?.getTiming().iterations === Infinity));
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: false });
}

/** The admin's session token, from the password the server wrote on first start. */
export async function adminToken(server) {
  const res = await fetch(`${server.url}/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "admin", password: server.adminPassword() }),
  });
  if (!res.ok) {
    throw new Error(`admin login: ${res.status} ${await res.text()}`);
  }
  return (await res.json()).token;
}

/** Creates a user through the admin API; returns {id, username, password}. */
export async function createUser(server, username, { password = PASSWORD, role = "user" } = {}) {
  const token = await adminToken(server);
  const res = await fetch(`${server.url}/v1/admin/users`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ username, password, role }),
  });
  if (res.status !== 201) {
    throw new Error(`create user ${username}: ${res.status} ${await res.text()}`);
  }
  const body = await res.json();
  return { id: body.id ?? body.user?.id, username, password };
}

/** A REST call to `server`, with `bearer` as the token when there is one; the JSON answer as {status, body}. */
export async function api(server, method, path, body, bearer) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Polls `check` until it returns a truthy value; bounded by `ms`. */
export async function until(what, check, ms = 8000) {
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end && i < 400; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Signs the admin in on the console's sign-in page, and waits for the dashboard. */
export async function signInAdmin(page, server) {
  await page.goto(`${server.url}/admin/`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(server.adminPassword());
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
}

/** Opens a console page fresh (a reload, so toasts of earlier tests are gone from the screenshots). */
export async function openConsole(page, server, hash) {
  await page.goto(`${server.url}/admin/#/${hash}`);
  await page.reload();
}
