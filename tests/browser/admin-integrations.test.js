/**
 * The admin console's bots, AI assistant and before-send hook, against a real
 * pipitd and one small HTTP server in this test on 127.0.0.1 (hence
 * webhook_allow_private and webhook_allow_http) that plays three parts: a
 * bot's webhook receiver, a before-send hook that allows everything, and an
 * OpenAI-compatible model server.
 *
 * An admin creates a bot with a webhook and sees its key and the webhook's
 * secret once; the key signs the bot in, a message to the bot reaches its
 * webhook signed with that secret, and the bot's webhook page (from the Bots
 * list) pings it. Editing renames the bot and removes its webhook; a new key
 * (after a confirm) replaces the old; disabling (after a confirm) locks it out.
 * The assistant is set up with the local endpoint and a key (saved, the key
 * never shown: has_api_key), asked a question that reaches that endpoint with
 * the key; the key is kept when the field is left empty, removed with its box;
 * the assistant is removed after a confirm. The before-send hook is set up
 * from the Webhooks page with its secret shown once, edited, its secret rotated
 * (the next message is checked with the new one), and removed.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import {
  DESKTOP, PHONE, adminToken, api, assertClean, createUser, newPage, openBrowser, openConsole, shot, signInAdmin,
  startPipit, until,
} from "./lib.js";

let server;
let browser;
let token;
let page;

/** What the local server got, in order: {method, url, headers, body}. */
const received = [];
let receiver;
let base;

const MODEL_ANSWER = "Hello from the local model.";

before(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { "Content-Type": "application/json" });
      if (req.url === "/before-send") {
        res.end(JSON.stringify({ action: "allow" }));
      } else if (req.url === "/v1/chat/completions") {
        // One plain JSON answer, as a model server gives without streaming.
        res.end(JSON.stringify({
          id: "chatcmpl-1", object: "chat.completion", model: "local-test-model",
          choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: MODEL_ANSWER } }],
        }));
      } else {
        res.end("{}");
      }
    });
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${receiver.address().port}`;

  server = await startPipit(["--webhook-allow-private", "yes", "--webhook-allow-http", "yes"]);
  token = await adminToken(server);
  browser = await openBrowser();
  page = await newPage(browser, { viewport: DESKTOP });
  await signInAdmin(page, server);
});

after(async () => {
  // An app without an assistant or a hook answers their GET with 404; the refused
  // endpoint URL asks for the server's 400 on purpose.
  if (page) assertClean(page, [/status of 404/, /status of 400/]);
  await browser?.close();
  await server?.stop();
  await new Promise((done) => (receiver ? receiver.close(done) : done()));
});

const rest = (method, path, body, bearer = token) => api(server, method, path, body, bearer);
const open = (hash) => openConsole(page, server, hash);

/** Clicks the dialog's confirm button and waits for the dialog to go. */
async function confirm(title) {
  const dialog = page.getByRole("dialog", { name: title });
  await dialog.getByTestId("confirm").click();
  await dialog.waitFor({ state: "detached" });
}

/** Checks a request's X-Pipit-Signature against `secret`, as a receiver would. */
function assertSigned(request, secret) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(request.headers["x-pipit-signature"] ?? "");
  assert.ok(m, `signature header: ${request.headers["x-pipit-signature"]}`);
  const mac = createHmac("sha256", secret).update(`${m[1]}.${request.body}`).digest("hex");
  assert.equal(m[2], mac, "v1 is the HMAC-SHA256 of t.body with the secret");
}

/** A user's session token. */
async function login(user) {
  const res = await rest("POST", "/v1/auth/login", { username: user.username, password: user.password }, null);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.token;
}

/** `from` (a token) writes `text` to user `peer` in their direct conversation; the answer's status. */
async function writeTo(from, peer, text) {
  const conv = await rest("POST", "/v1/conversations", { type: "direct", peer }, from);
  assert.ok(conv.status === 200 || conv.status === 201, JSON.stringify(conv.body));
  const sent = await rest("POST", `/v1/conversations/${conv.body.id}/messages`,
    { cmid: `t-${Date.now()}-${Math.random()}`, body: { type: "text", text } }, from);
  return sent.status;
}

let ann;
let annToken;

test("create a bot with a webhook: key and secret shown once; the key signs it in, the secret signs its deliveries", async () => {
  ann = await createUser(server, "ann");
  annToken = await login(ann);

  await open("bots");
  await page.getByText("No bots yet").waitFor();
  await page.getByRole("button", { name: "New bot" }).click();
  const dialog = page.getByRole("dialog", { name: "New bot" });
  await dialog.getByLabel("Username").fill("helpdesk");
  await dialog.getByLabel("Display name (optional)").fill("Help desk");
  await dialog.getByLabel("Webhook URL (optional)").fill(`${base}/bot-hook`);
  await shot(page, "admin-bot-create");
  await dialog.getByRole("button", { name: "Create bot" }).click();

  const once = page.getByTestId("bot-once");
  await once.waitFor();
  const key = await page.getByTestId("bot-key").inputValue();
  const secret = await page.getByTestId("bot-webhook-secret").inputValue();
  assert.match(key, /^pk_[A-Za-z0-9_-]{48}$/);
  assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.match(await once.textContent(), /shown only once/);
  await shot(page, "admin-bot-key");
  await page.getByRole("button", { name: "I have saved them" }).click();
  await once.waitFor({ state: "detached" });

  const table = page.getByTestId("bots-table");
  await table.getByText("Help desk").waitFor();
  assert.equal((await page.content()).includes(key), false, "the key is not shown again");
  assert.equal((await page.content()).includes(secret), false, "the secret is not shown again");
  const bots = (await rest("GET", "/v1/admin/bots")).body.bots;
  assert.equal(bots.length, 1);
  assert.equal(bots[0].username, "helpdesk");
  assert.equal(bots[0].display_name, "Help desk");
  assert.equal(bots[0].bot, true);
  assert.equal(bots[0].disabled, false);
  assert.equal(bots[0].webhook.url, `${base}/bot-hook`);
  await shot(page, "admin-bots");

  // The key is the bot's sign-in.
  const me = await rest("GET", "/v1/me", undefined, key);
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.username, "helpdesk");

  // Ann writes to the bot: its webhook hears of it, signed with the secret shown.
  assert.equal(await writeTo(annToken, bots[0].id, "Where is my parcel?"), 201);
  const told = await until("the message at the bot's webhook", () =>
    received.find((r) => r.url === "/bot-hook" && r.headers["x-pipit-event"] === "message.created"));
  assertSigned(told, secret);
  assert.match(told.body, /Where is my parcel\?/);

  // Its webhook's page, from the list: the deliveries, a ping, no Edit (the URL is edited here).
  await table.getByTestId("bot-webhook").click();
  await page.getByTestId("webhook-detail").waitFor();
  assert.equal(new URL(page.url()).hash, `#/webhooks/${bots[0].webhook.id}/bot`);
  await page.getByRole("heading", { name: /^Bot webhook/ }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Edit", exact: true }).count(), 0);
  await page.getByTestId("deliveries-table").locator("tr[data-state='delivered']").first().waitFor({ timeout: 15_000 });
  await page.getByRole("button", { name: "Send ping" }).click();
  const ping = await until("the ping at the bot's webhook", () =>
    received.find((r) => r.url === "/bot-hook" && r.headers["x-pipit-event"] === "ping"));
  assertSigned(ping, secret);
  await shot(page, "admin-bot-webhook");
  await page.getByRole("link", { name: "Back" }).click();
  await page.getByTestId("bots-table").waitFor();
  assert.equal(new URL(page.url()).hash, "#/bots");
});

test("edit a bot: renamed, its webhook removed; a new key replaces the old after a confirm", async () => {
  const [bot] = (await rest("GET", "/v1/admin/bots")).body.bots;
  await open("bots");
  await page.getByRole("button", { name: "Edit Help desk" }).click();
  const dialog = page.getByRole("dialog", { name: "Edit Help desk" });
  await dialog.getByLabel("Display name (optional)").fill("Support desk");
  await dialog.getByRole("button", { name: "Remove the webhook" }).click();
  await dialog.getByTestId("webhook-removal").waitFor();
  await dialog.getByRole("button", { name: "Save" }).click();
  await dialog.waitFor({ state: "detached" });
  const row = page.getByTestId("bots-table").locator(`tr[data-id="${bot.id}"]`);
  await row.getByText("Support desk").waitFor();
  assert.match(await row.textContent(), /None/);
  const saved = (await rest("GET", `/v1/admin/bots/${bot.id}`)).body;
  assert.equal(saved.display_name, "Support desk");
  assert.equal(saved.webhook, null);
  assert.equal((await rest("GET", `/v1/admin/webhooks/${bot.webhook.id}`)).status, 404);

  // A key from before the new one, to see it stop.
  const before = await rest("POST", `/v1/admin/bots/${bot.id}/key`);
  assert.equal(before.status, 200);
  await page.getByRole("button", { name: "New key for Support desk" }).click();
  await confirm("Make a new key for “Support desk”?");
  const once = page.getByTestId("bot-once");
  await once.waitFor();
  const key = await page.getByTestId("bot-key").inputValue();
  assert.match(key, /^pk_[A-Za-z0-9_-]{48}$/);
  assert.equal(await page.getByTestId("bot-webhook-secret").count(), 0, "no webhook, no secret");
  assert.match(await once.textContent(), /shown only once/);
  await page.getByRole("button", { name: "I have saved it" }).click();
  await once.waitFor({ state: "detached" });
  assert.equal((await rest("GET", "/v1/me", undefined, before.body.key)).status, 401, "the old key stopped");
  assert.equal((await rest("GET", "/v1/me", undefined, key)).status, 200);

  // A webhook given again is a new one: its secret, once.
  await page.getByRole("button", { name: "Edit Support desk" }).click();
  const again = page.getByRole("dialog", { name: "Edit Support desk" });
  await again.getByLabel("Webhook URL (optional)").fill(`${base}/bot-hook-2`);
  await again.getByRole("button", { name: "Save" }).click();
  await page.getByTestId("bot-once").waitFor();
  assert.match(await page.getByTestId("bot-webhook-secret").inputValue(), /^whsec_/);
  assert.equal(await page.getByTestId("bot-key").count(), 0, "no new key");
  await page.getByRole("button", { name: "I have saved it" }).click();
  await row.getByText(`${base}/bot-hook-2`).waitFor();

  // On a phone the list fits the width, and the tab bar has Bots.
  await open("bots");
  await page.setViewportSize(PHONE);
  await page.getByTestId("bots-table").waitFor();
  await shot(page, "admin-bots-phone");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.equal(await page.locator(".tabbar").getByRole("link", { name: "Bots" }).getAttribute("aria-current"), "page");
  const cut = await page.locator(".tabbar .nav-link span").evaluateAll((spans) =>
    spans.filter((s) => s.scrollWidth > s.clientWidth).map((s) => s.textContent));
  assert.deepEqual(cut, [], "every tab's label fits");
  await page.setViewportSize(DESKTOP);
  assert.ok(width <= PHONE.width, `no sideways scrolling on a phone (page is ${width}px wide)`);

  // Disabled after a confirm: its key no longer works, and the row has no actions left.
  await page.getByRole("button", { name: "Disable Support desk" }).click();
  await confirm("Disable “Support desk”?");
  await row.getByText("Disabled").waitFor();
  assert.equal(await row.getByRole("button").count(), 0);
  const gone = (await rest("GET", `/v1/admin/bots/${bot.id}`)).body;
  assert.equal(gone.disabled, true);
  assert.equal(gone.webhook, null);
  assert.equal((await rest("GET", "/v1/me", undefined, key)).status, 401);
});

test("the assistant: set up with a local endpoint and a key; asked, it calls that endpoint with it", async () => {
  await open("bots");
  await page.getByRole("link", { name: "AI assistant" }).first().click();
  await page.getByRole("heading", { name: "AI assistant" }).waitFor();
  const form = page.getByTestId("assistant-form");
  await form.waitFor();
  assert.match(await page.getByTestId("assistant-privacy").textContent(), /only to the endpoint set here/);
  assert.equal((await rest("GET", "/v1/admin/assistant")).status, 404);

  await form.getByLabel("Endpoint URL").fill(`${base}/v1`);
  await form.getByLabel("Model", { exact: true }).fill("local-test-model");
  await form.getByLabel("API key (optional)").fill("sk-local-secret-1");
  await form.getByLabel("System prompt (optional)").fill("Answer briefly.");
  await form.getByLabel("Context (messages)").fill("12");
  await form.getByLabel("Timeout (ms)").fill("5000");
  await shot(page, "admin-assistant-new");
  await form.getByRole("button", { name: "Set up the assistant" }).click();

  const facts = page.getByTestId("assistant-facts");
  await facts.waitFor();
  await page.getByTestId("assistant-has-key").getByText("Set").waitFor();
  assert.match(await facts.textContent(), /@assistant/);
  assert.equal(await form.getByLabel("API key (optional)").inputValue(), "", "the key is not shown back");
  assert.equal(await form.getByLabel("API key (optional)").getAttribute("placeholder"), "Leave empty to keep the current key");
  assert.equal((await page.content()).includes("sk-local-secret-1"), false);
  const saved = (await rest("GET", "/v1/admin/assistant")).body;
  assert.equal(saved.base_url, `${base}/v1`);
  assert.equal(saved.model, "local-test-model");
  assert.equal(saved.has_api_key, true);
  assert.equal(saved.system_prompt, "Answer briefly.");
  assert.equal(saved.context_messages, 12);
  assert.equal(saved.timeout_ms, 5000);
  assert.equal(saved.user_per_minute, 10);
  assert.equal(saved.app_per_minute, 120);
  assert.equal(saved.enabled, true);
  assert.equal(saved.bot.username, "assistant");
  assert.equal("api_key" in saved, false);
  await shot(page, "admin-assistant");

  // Asked, it calls the endpoint set here, with the key.
  assert.equal(await writeTo(annToken, saved.bot.id, "What is 2 + 2?"), 201);
  const asked = await until("the question at the local endpoint", () => received.find((r) => r.url === "/v1/chat/completions"), 15_000);
  assert.equal(asked.method, "POST");
  assert.equal(asked.headers.authorization, "Bearer sk-local-secret-1");
  const question = JSON.parse(asked.body);
  assert.equal(question.model, "local-test-model");
  assert.deepEqual(question.messages[0], { role: "system", content: "Answer briefly." });
  assert.match(JSON.stringify(question.messages), /What is 2 \+ 2\?/);
});

test("the assistant: the key is kept when left empty, removed with its box; off; removed after a confirm", async () => {
  const form = page.getByTestId("assistant-form");
  await form.getByLabel("Model", { exact: true }).fill("local-test-model-2");
  await form.getByRole("checkbox", { name: /Enabled/ }).uncheck();
  await form.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByTestId("assistant-facts").getByText("Off").waitFor();
  let saved = (await rest("GET", "/v1/admin/assistant")).body;
  assert.equal(saved.model, "local-test-model-2");
  assert.equal(saved.enabled, false);
  assert.equal(saved.has_api_key, true, "an empty field keeps the key");

  await form.getByTestId("remove-api-key").check();
  assert.equal(await form.getByLabel("API key (optional)").isDisabled(), true);
  await form.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByTestId("assistant-has-key").getByText("None").waitFor();
  saved = (await rest("GET", "/v1/admin/assistant")).body;
  assert.equal(saved.has_api_key, false);
  assert.equal(saved.model, "local-test-model-2");

  // A bad value is refused in words, and nothing changes.
  await form.getByLabel("Endpoint URL").fill("ftp://127.0.0.1/v1");
  await form.getByRole("button", { name: "Save", exact: true }).click();
  await form.getByRole("alert").waitFor();
  assert.equal((await rest("GET", "/v1/admin/assistant")).body.base_url, `${base}/v1`);

  await page.getByRole("button", { name: "Remove", exact: true }).click();
  await confirm("Remove the assistant?");
  await page.getByRole("button", { name: "Set up the assistant" }).waitFor();
  assert.equal(await page.getByTestId("assistant-facts").count(), 0);
  assert.equal((await rest("GET", "/v1/admin/assistant")).status, 404);
});

test("the before-send hook: set up with its secret shown once, edited, secret rotated, removed", async () => {
  await open("webhooks");
  await page.getByRole("link", { name: "Before-send hook" }).click();
  await page.getByTestId("before-send").waitFor();
  assert.equal(new URL(page.url()).hash, "#/webhooks/before-send");
  await page.getByText("No before-send hook").waitFor();
  await page.getByRole("button", { name: "Set up the hook" }).click();
  const dialog = page.getByRole("dialog", { name: "Set up the before-send hook" });
  await dialog.getByLabel("URL").fill(`${base}/before-send`);
  await dialog.getByLabel("Time limit (ms)").fill("800");
  await shot(page, "admin-before-send-form");
  await dialog.getByRole("button", { name: "Set up hook" }).click();

  let once = page.getByTestId("before-send-secret-once");
  await once.waitFor();
  const secret = await page.getByTestId("before-send-secret").inputValue();
  assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.match(await once.textContent(), /only time the secret is shown/);
  await page.getByRole("button", { name: "I have saved it" }).click();
  await once.waitFor({ state: "detached" });
  await page.getByTestId("before-send-url").getByText(`${base}/before-send`).waitFor();
  assert.equal((await page.content()).includes(secret), false, "the secret is not shown again");
  let hook = (await rest("GET", "/v1/admin/before-send")).body;
  assert.deepEqual({ url: hook.url, timeout_ms: hook.timeout_ms, fallback: hook.fallback },
    { url: `${base}/before-send`, timeout_ms: 800, fallback: "allow" });
  assert.equal("secret" in hook, false);
  await shot(page, "admin-before-send");

  // Edited: the fallback; the secret stays (no new one shown).
  await page.getByRole("button", { name: "Edit", exact: true }).click();
  const edit = page.getByRole("dialog", { name: "Edit the before-send hook" });
  assert.equal(await edit.getByLabel("URL").inputValue(), `${base}/before-send`);
  await edit.getByRole("radio", { name: /Refuse messages/ }).check();
  await edit.getByRole("button", { name: "Save" }).click();
  await edit.waitFor({ state: "detached" });
  await page.getByTestId("before-send-fallback").getByText("Messages are refused").waitFor();
  assert.equal(await page.getByTestId("before-send-secret-once").count(), 0);
  hook = (await rest("GET", "/v1/admin/before-send")).body;
  assert.equal(hook.fallback, "reject");
  assert.equal(hook.timeout_ms, 800);

  // Rotated: shown once, and the next message is checked with the new secret.
  await page.getByRole("button", { name: "Rotate secret" }).click();
  await confirm("Rotate the hook’s secret?");
  once = page.getByTestId("before-send-secret-once");
  await once.waitFor();
  const rotated = await page.getByTestId("before-send-secret").inputValue();
  assert.match(rotated, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(rotated, secret);
  assert.match(await once.textContent(), /old secret no longer signs/);
  await page.getByRole("button", { name: "I have saved it" }).click();
  await once.waitFor({ state: "detached" });
  const bob = await createUser(server, "bob");
  const known = received.length;
  assert.equal(await writeTo(annToken, bob.id, "Hi Bob"), 201);
  const checked = received.slice(known).find((r) => r.url === "/before-send");
  assert.ok(checked, "the hook was asked before the message was stored");
  assert.equal(checked.headers["x-pipit-event"], "message.before_send");
  assertSigned(checked, rotated);

  await page.getByRole("button", { name: "Remove", exact: true }).click();
  await confirm("Remove the before-send hook?");
  await page.getByText("No before-send hook").waitFor();
  assert.equal((await rest("GET", "/v1/admin/before-send")).status, 404);
  const after = received.length;
  assert.equal(await writeTo(annToken, bob.id, "Hi again"), 201);
  assert.equal(received.slice(after).some((r) => r.url === "/before-send"), false, "no longer asked");
});
