/**
 * The admin console end to end, as the issue asks: an admin signs in at /admin/,
 * creates a user and an API key (shown once), and sends a push from the console
 * to that user, whose open chat app (a second browser context, signed in at /)
 * shows it. Screenshots of every console screen go to build/screenshots
 * (admin-*.png): desktop, the dashboard and composer on a phone, and one dark.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  DESKTOP, PHONE, PASSWORD, adminToken, api, assertClean, newPage, openBrowser, shot, signInAdmin, startPipit, until,
} from "./lib.js";

let server;
let browser;
let token;

before(async () => {
  server = await startPipit();
  browser = await openBrowser();
  token = await adminToken(server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const rest = (method, path, body, bearer = token) => api(server, method, path, body, bearer);

/** A few messages per second between two fresh users, so the dashboard has something to chart. */
async function chatTraffic(seconds) {
  const users = [];
  for (const name of ["tx1", "tx2"]) {
    await rest("POST", "/v1/admin/users", { username: name, password: PASSWORD, role: "user" });
    users.push((await rest("POST", "/v1/auth/login", { username: name, password: PASSWORD })).body.token);
  }
  const conv = (await rest("POST", "/v1/conversations", { type: "direct", peer: "tx2" }, users[0])).body;
  for (let i = 0; i < seconds * 4; i++) {
    await rest("POST", `/v1/conversations/${conv.id}/messages`, { cmid: `t${i}`, body: { type: "text", text: `hello ${i}` } }, users[i % 2]);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("an admin creates a user and a key, and pushes to the user's open chat app", async () => {
  const admin = await newPage(browser, { viewport: DESKTOP });
  await admin.goto(`${server.url}/admin/`);
  await admin.getByRole("heading", { name: "Sign in to the console" }).waitFor();
  await shot(admin, "admin-signin");
  await signInAdmin(admin, server);

  // Dashboard: live cards with sparklines, fed by chat traffic while it polls.
  const traffic = chatTraffic(7);
  const messages = admin.getByTestId("stat-messages");
  await until(
    "a few samples of a message rate",
    async () =>
      /[1-9][\d.]*\s*\/s/.test(await messages.textContent()) &&
      ((await messages.locator("path.spark-line").getAttribute("d")) ?? "").split("L").length >= 4,
    12_000,
  );
  assert.equal(await admin.locator(".stat svg.spark").count(), 4);
  await shot(admin, "admin-dashboard");

  // Users: create one through the modal.
  await admin.getByRole("link", { name: "Users", exact: true }).first().click();
  await admin.getByTestId("users-table").waitFor();
  await admin.getByRole("button", { name: "New user" }).click();
  const dialog = admin.getByRole("dialog", { name: "New user" });
  await dialog.getByLabel("Username").fill("zoe");
  await dialog.getByLabel("Password").fill(PASSWORD);
  await dialog.getByRole("button", { name: "Create user" }).click();
  await dialog.waitFor({ state: "detached" });
  const zoeRow = admin.getByRole("row").filter({ hasText: "zoe" });
  await zoeRow.waitFor();
  await shot(admin, "admin-users");
  const zoe = (await rest("GET", "/v1/admin/users?q=zoe")).body.users[0];
  assert.equal(zoe.username, "zoe");

  // API keys: the key is shown once, in a modal, then never again.
  await admin.getByRole("link", { name: "API keys", exact: true }).first().click();
  await admin.getByRole("button", { name: "New API key" }).click();
  const keyDialog = admin.getByRole("dialog", { name: "New API key" });
  await keyDialog.getByLabel("Name").fill("billing service");
  await keyDialog.getByRole("button", { name: "Create key" }).click();
  const once = admin.getByTestId("key-once");
  await once.waitFor();
  const key = await admin.getByTestId("key-value").inputValue();
  assert.match(key, /^pk_[A-Za-z0-9_-]{48}$/);
  assert.match(await once.textContent(), /only time the key is shown/);
  await shot(admin, "admin-key-once");
  await admin.getByRole("button", { name: "I have saved it" }).click();
  await once.waitFor({ state: "detached" });
  // The key's dialog replaced the form's, yet the focus goes back to the button that began it all.
  await admin.waitForFunction(() => document.activeElement?.textContent?.trim() === "New API key", null, { timeout: 3000 });
  await admin.getByTestId("keys-table").getByText("billing service").waitFor();
  assert.equal((await admin.content()).includes(key), false, "the key is not shown again");
  assert.equal((await rest("GET", "/v1/push", undefined, key)).status, 200, "the key works");
  await shot(admin, "admin-keys");

  // Zoe opens the chat app in her own browser context.
  const chat = await newPage(browser, { viewport: DESKTOP });
  await chat.goto(`${server.url}/`);
  await chat.getByLabel("Username").fill("zoe");
  await chat.getByLabel("Password").fill(PASSWORD);
  await chat.getByRole("button", { name: "Sign in", exact: true }).click();
  await until("zoe online", async () => (await rest("GET", `/v1/admin/users/${zoe.id}`)).body.online);

  // The admin composes and sends a push to her.
  await admin.getByRole("link", { name: "Push", exact: true }).first().click();
  await admin.getByTestId("new-push").click();
  await admin.getByTestId("push-users").fill("zoe");
  await admin.getByTestId("push-title").fill("Your order has shipped");
  await admin.getByTestId("push-body").fill("Order 5521 is on its way");
  await admin.getByLabel("Data (JSON)").fill('{"order": 5521');
  await admin.getByText(/Not valid JSON/).waitFor();
  await admin.getByLabel("Data (JSON)").fill('{"order": 5521}');
  await admin.getByTestId("preview").getByText("Order 5521 is on its way").waitFor();
  await admin.evaluate(() => window.scrollTo(0, 0));
  await shot(admin, "admin-push-compose");
  await admin.getByTestId("send-push").click();
  await admin.getByTestId("push-detail").waitFor();
  const pushId = Number(new URL(admin.url()).hash.match(/#\/push\/(\d+)/)[1]);

  // Her app shows it as an in-app notification; the console's funnel counts it.
  await chat.getByTestId("notification-title").filter({ hasText: "Your order has shipped" }).waitFor();
  await shot(chat, "admin-push-received");
  await admin.getByTestId("group-inapp").waitFor();
  const push = (await rest("GET", `/v1/push/${pushId}`)).body;
  assert.equal(push.counts.by_channel.inapp.sent, 1);
  assert.deepEqual(push.notification.data, { order: 5521 });
  await until("the funnel's sent count", async () => (await admin.getByTestId("state-sent").textContent()).includes("1"));
  await shot(admin, "admin-push-detail");

  await admin.getByRole("link", { name: "Push", exact: true }).first().click();
  await admin.getByTestId("push-table").getByText("Your order has shipped").waitFor();
  await shot(admin, "admin-push-list");

  // The same push detail in the dark theme.
  await admin.emulateMedia({ colorScheme: "dark" });
  await admin.goto(`${server.url}/admin/#/push/${pushId}`);
  await admin.reload(); // without the toasts
  await admin.getByTestId("group-inapp").waitFor();
  await shot(admin, "admin-push-detail-dark");

  // Zoe is no admin: the console says so and links to the chat app.
  await chat.goto(`${server.url}/admin/`);
  await chat.getByTestId("not-admin").waitFor();
  assert.equal(await chat.getByRole("link", { name: "Open the chat app" }).getAttribute("href"), "/");
  await shot(chat, "admin-not-admin");

  await traffic; // it ran on in the background; let it finish before the server stops
  assertClean(admin);
  assertClean(chat);
  await admin.context().close();
  await chat.context().close();
});

test("phone-sized dashboard and composer", async () => {
  const page = await newPage(browser, { viewport: PHONE });
  await signInAdmin(page, server);
  await page.getByTestId("stat-store").waitFor();
  await shot(page, "admin-dashboard-phone");
  await page.getByRole("link", { name: "Push", exact: true }).last().click();
  await page.getByTestId("new-push").click();
  await page.getByTestId("push-title").fill("Winter sale");
  await page.getByTestId("push-body").fill("20% off every plan until Sunday");
  await shot(page, "admin-push-compose-phone");
  await page.getByTestId("preview").scrollIntoViewIfNeeded();
  await shot(page, "admin-push-preview-phone");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `no sideways scrolling on a phone (page is ${width}px wide)`);

  // Tables turn into one card per row.
  await page.getByRole("link", { name: "Users", exact: true }).last().click();
  await page.getByTestId("users-table").getByText("zoe").waitFor();
  await shot(page, "admin-users-phone");
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= PHONE.width);
  assertClean(page);
  await page.context().close();
});
