/**
 * The admin console's management screens against a real pipitd: a user's
 * sessions (revoke one, revoke all), disable/enable and password reset; a
 * conversation's members and its deletion; revoking an API key; an A/B push
 * with a holdout, sent from the composer and scheduled (shown whole before any
 * delivery); and the keyboard in a modal. Every destructive action goes through
 * its confirm dialog, and each is checked on the server too, not only on screen.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  DESKTOP, PASSWORD, PHONE, adminToken, api, assertClean, createUser, newPage, openBrowser, openConsole, shot, signInAdmin, startPipit,
} from "./lib.js";

let server;
let browser;
let token;
let page;

before(async () => {
  server = await startPipit();
  browser = await openBrowser();
  token = await adminToken(server);
  page = await newPage(browser, { viewport: DESKTOP });
  await signInAdmin(page, server);
});

after(async () => {
  if (page) assertClean(page);
  await browser?.close();
  await server?.stop();
});

const rest = (method, path, body, bearer = token) => api(server, method, path, body, bearer);
const open = (hash) => openConsole(page, server, hash);

const login = (username, password = PASSWORD) => rest("POST", "/v1/auth/login", { username, password }, null);

/** Waits until the element with the keyboard focus matches `selector`. */
async function focusOn(selector) {
  await page.waitForFunction((sel) => document.activeElement?.matches(sel), selector, { timeout: 3000 });
}

/** Clicks the dialog's confirm button and waits for the dialog to go. */
async function confirm(title) {
  const dialog = page.getByRole("dialog", { name: title });
  await dialog.getByTestId("confirm").click();
  await dialog.waitFor({ state: "detached" });
}

test("users: search, sessions, disable and enable, password reset", async () => {
  await createUser(server, "mia");
  await createUser(server, "noah");
  const first = (await login("mia")).body.token;
  const second = (await login("mia")).body.token;

  await open("users");
  await page.getByTestId("users-table").waitFor();
  // A modal takes the focus to its first field and keeps it inside: Tab and
  // Shift+Tab wrap around. Escape closes it, and the focus goes back to its button.
  await page.getByRole("button", { name: "New user" }).click();
  await page.getByRole("dialog", { name: "New user" }).waitFor();
  await focusOn('input[name="username"]');
  await page.keyboard.press("Shift+Tab");
  await focusOn('[role="dialog"] button[type="submit"]');
  await page.keyboard.press("Tab");
  await focusOn('input[name="username"]');
  await page.keyboard.press("Escape");
  await page.getByRole("dialog", { name: "New user" }).waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), "New user");

  await page.getByRole("searchbox", { name: "Search users" }).fill("mia");
  const rows = page.getByTestId("users-table").locator("tbody tr");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="users-table"] tbody tr').length === 1);
  assert.match(await rows.first().textContent(), /mia/);

  await page.getByRole("button", { name: "Manage mia" }).click();
  const drawer = page.getByRole("dialog", { name: "mia" });
  const sessions = drawer.getByTestId("sessions").locator("li");
  await sessions.nth(1).waitFor();
  assert.equal(await sessions.count(), 2);
  await shot(page, "admin-user-drawer");

  // Revoke one session, then all. A confirm dialog starts on its safe button.
  await sessions.first().getByRole("button", { name: "Revoke" }).click();
  await focusOn('[role="dialog"][aria-label="Revoke this session?"] button[type="button"]');
  await confirm("Revoke this session?");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="sessions"] li').length === 1);
  const alive = await Promise.all([first, second].map(async (t) => (await rest("GET", "/v1/me", undefined, t)).status));
  assert.deepEqual(alive.sort(), [200, 401]);
  await drawer.getByRole("button", { name: "Revoke all" }).click();
  await confirm("Sign mia out everywhere?");
  await drawer.getByText("No active sessions").waitFor();

  // Disable, then enable.
  await drawer.getByRole("button", { name: "Disable account" }).click();
  await confirm("Disable mia?");
  await drawer.getByText("Disabled", { exact: true }).waitFor();
  const refused = await login("mia");
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, "account_disabled");
  await drawer.getByRole("button", { name: "Enable account" }).click();
  await drawer.getByRole("button", { name: "Disable account" }).waitFor();
  assert.equal((await login("mia")).status, 200);

  // Reset the password: the new one works, the old one no longer does.
  await drawer.getByRole("button", { name: "Reset password" }).click();
  const reset = page.getByRole("dialog", { name: "Reset mia's password" });
  await reset.getByLabel("New password").fill("brand-new-password");
  await reset.getByRole("button", { name: "Set password" }).click();
  await reset.waitFor({ state: "detached" });
  assert.equal((await login("mia", "brand-new-password")).status, 200);
  assert.equal((await login("mia")).status, 401);

  await page.keyboard.press("Escape");
  await drawer.waitFor({ state: "detached" });
  // The table row shows what the drawer changed, without a reload.
  assert.match(await rows.first().textContent(), /Active/);
});

test("conversations: search, members, delete", async () => {
  const mia = (await login("mia", "brand-new-password")).body.token;
  const group = (await rest("POST", "/v1/conversations", { type: "group", title: "Launch planning", members: ["noah"] }, mia)).body;
  await rest("POST", "/v1/conversations", { type: "group", title: "Book club", members: ["noah"] }, mia);

  await open("conversations");
  await page.getByTestId("conversations-table").getByText("Book club").waitFor();
  await shot(page, "admin-conversations");
  await page.getByRole("searchbox", { name: "Search conversations" }).fill("launch");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="conversations-table"] tbody tr').length === 1);

  await page.getByRole("button", { name: "Members" }).click();
  const drawer = page.getByRole("dialog", { name: "Launch planning" });
  const members = drawer.getByTestId("members");
  await members.getByText("noah").waitFor();
  assert.match(await members.textContent(), /mia.*owner/s);
  await shot(page, "admin-members");
  await page.keyboard.press("Escape");
  await drawer.waitFor({ state: "detached" });

  await page.getByRole("button", { name: "Delete Launch planning" }).click();
  await confirm("Delete “Launch planning”?");
  await page.getByText("No conversation matches “launch”").waitFor();
  assert.equal((await rest("GET", `/v1/conversations/${group.id}`, undefined, mia)).status, 404);
});

test("API keys: revoke after a confirm", async () => {
  const made = (await rest("POST", "/v1/admin/api-keys", { name: "old integration", scopes: ["push", "users"] })).body;
  await open("keys");
  await page.getByRole("button", { name: "Revoke old integration" }).click();
  await confirm("Revoke “old integration”?");
  await page.getByTestId("keys-table").getByText(/Revoked/).waitFor();
  assert.equal((await rest("GET", "/v1/push", undefined, made.key)).status, 401);
});

test("push: an A/B test with a holdout, previewed per variant", async () => {
  await open("push/new");
  await page.getByText("Everyone", { exact: true }).click();
  await page.getByText("Every user of this server gets it").waitFor();
  await page.getByTestId("push-title").fill("Winter sale");
  await page.getByTestId("push-body").fill("20% off every plan");
  await page.getByRole("button", { name: "Add variant" }).click();
  await page.getByRole("button", { name: "Add variant" }).click();
  await page.getByLabel("Variant 2 title").fill("Sale: 20% off until Sunday");
  await page.getByLabel("Holdout weight").fill("1");
  // Two variants and the holdout share 1:1:1.
  const tabs = page.getByRole("tablist", { name: "Preview variant" }).getByRole("tab");
  assert.equal(await tabs.count(), 3);
  await tabs.nth(1).click();
  await page.getByTestId("preview").getByText("Sale: 20% off until Sunday").waitFor();
  await page.getByRole("heading", { name: "A/B test" }).scrollIntoViewIfNeeded();
  await shot(page, "admin-push-variants");

  await page.getByTestId("send-push").click();
  await page.getByTestId("push-detail").waitFor();
  const id = Number(new URL(page.url()).hash.match(/#\/push\/(\d+)/)[1]);
  const push = (await rest("GET", `/v1/push/${id}`)).body;
  const variants = push.counts.by_variant ?? {};
  for (const name of Object.keys(variants)) assert.ok(["A", "B", "holdout"].includes(name), name);
  const total = Object.values(variants).reduce((s, c) => s + c.queued + c.sent + c.failed + c.expired + c.suppressed, 0);
  assert.equal(total, push.counts.targeted);
  assert.ok(push.counts.targeted >= 3);

  // The page shows each variant as sent, and fills in its funnel as users are drawn.
  const ab = page.getByTestId("ab-test");
  await ab.getByTestId("variant-B").getByText("Sale: 20% off until Sunday").waitFor();
  assert.match(await ab.getByTestId("variant-A").textContent(), /weight 1 · 33% of users.*Same notification as the push/s);
  assert.match(await ab.getByTestId("variant-holdout").textContent(), /weight 1 · 33% of users/);
  await page.waitForFunction(() => /opened|nothing sent|held out/.test(document.querySelector('[data-testid="ab-test"]')?.textContent ?? ""));
  await open(`push/${id}`); // without the "Push sent" toast
  await ab.scrollIntoViewIfNeeded();
  await shot(page, "admin-push-detail-ab");
});

test("push: a scheduled A/B test shows its variants, schedule and collapse key before it goes out", async () => {
  const at = new Date(Date.now() + 2 * 3600_000 + 60_000);
  const made = await rest("POST", "/v1/push", {
    to: { users: ["mia", "noah"] },
    notification: { title: "Spring launch", body: "Something new is coming on Monday" },
    send_at: at.toISOString().replace(/\.\d{3}Z$/, "Z"),
    collapse_key: "spring-launch",
    variants: [
      { name: "teaser", weight: 3, notification: { title: "Guess what is coming?", body: "Find out on Monday" } },
      { name: "plain", weight: 1, notification: {} },
    ],
    holdout: 1,
  });
  assert.equal(made.status, 202, JSON.stringify(made.body));

  await open(`push/${made.body.id}`);
  const ab = page.getByTestId("ab-test");
  const teaser = ab.getByTestId("variant-teaser");
  await teaser.waitFor();
  assert.match(await teaser.textContent(), /weight 3 · 60% of users.*Guess what is coming\?.*Find out on Monday/s);
  assert.match(await ab.getByTestId("variant-plain").textContent(), /weight 1 · 20% of users.*Same notification as the push/s);
  assert.match(await ab.getByTestId("variant-holdout").textContent(), /weight 1 · 20% of users/);
  assert.match(await page.getByTestId("push-schedule").textContent(), /in 2 h/);
  assert.equal(await page.getByTestId("push-collapse-key").textContent(), "spring-launch");
  assert.match(await page.getByTestId("scheduled").textContent(), /Goes out .* in 2 h/);
  await shot(page, "admin-push-detail-scheduled");

  // On a phone the A/B card fits the width.
  await page.setViewportSize(PHONE);
  await ab.scrollIntoViewIfNeeded();
  await shot(page, "admin-push-detail-ab-phone");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.setViewportSize(DESKTOP);
  assert.ok(width <= PHONE.width, `no sideways scrolling on a phone (page is ${width}px wide)`);
});

test("sign-in errors are shown in words, and sign-out ends the shared session", async () => {
  const other = await newPage(browser, { viewport: DESKTOP });
  await other.goto(`${server.url}/admin/`);
  await other.getByLabel("Username").fill("admin");
  await other.getByLabel("Password").fill("not-the-password");
  await other.getByRole("button", { name: "Sign in" }).click();
  assert.match(await other.getByRole("alert").textContent(), /wrong username or password/i);

  await other.getByLabel("Password").fill(server.adminPassword());
  await other.getByRole("button", { name: "Sign in" }).click();
  await other.getByRole("heading", { name: "Dashboard" }).waitFor();
  const saved = await other.evaluate(() => JSON.parse(localStorage.getItem("pipit.session")));
  assert.equal(saved.role, "admin");
  await other.getByRole("button", { name: "Sign out" }).first().click();
  await other.getByRole("heading", { name: "Sign in to the console" }).waitFor();
  assert.equal(await other.evaluate(() => localStorage.getItem("pipit.session")), null);
  assert.equal((await rest("GET", "/v1/me", undefined, saved.token)).status, 401, "the token is revoked");
  // The failed sign-in is the one failed request the browser logs.
  assertClean(other, [/status of 401/]);
  await other.context().close();
});
