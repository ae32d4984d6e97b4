/**
 * The admin console's webhooks against a real pipitd and a receiver in this
 * test (a small HTTP server on 127.0.0.1, hence webhook_allow_private and
 * webhook_allow_http; short retries so that a failing receiver's delivery is
 * given up within seconds). An admin creates a webhook and sees its secret once;
 * a ping arrives signed with it and shows as delivered; with the receiver
 * answering 500 the next ping is retried, then fails with the receiver's status
 * and answer shown, and Retry sends it again under the same delivery id once the
 * receiver is back.
 * A rotated secret signs the next ping; a bad URL is refused in words; a
 * disabled webhook cannot be pinged; delete goes through its confirm.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import {
  DESKTOP, PHONE, adminToken, api, assertClean, newPage, openBrowser, openConsole, shot, signInAdmin, startPipit, until,
} from "./lib.js";

let server;
let browser;
let token;
let page;

/** What the receiver got, in order, and what it answers next. */
const received = [];
let answer = 200;
let receiver;
let receiverUrl;

before(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body, answered: answer });
      res.writeHead(answer, { "Content-Type": "text/plain" });
      res.end(answer === 200 ? "ok" : "receiver is down");
    });
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}/pipit-events`;

  server = await startPipit([
    "--webhook-allow-private", "yes",
    "--webhook-allow-http", "yes",
    "--webhook-retry-base", "300ms",
    "--webhook-retry-cap", "1s",
    "--webhook-retry-for", "4s",
  ]);
  token = await adminToken(server);
  browser = await openBrowser();
  page = await newPage(browser, { viewport: DESKTOP });
  await signInAdmin(page, server);
});

after(async () => {
  // The refused URL asks for the server's 400 on purpose.
  if (page) assertClean(page, [/status of 400/]);
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

/** Checks a delivery's X-Pipit-Signature against `secret`, as a receiver would. */
function assertSigned(request, secret) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(request.headers["x-pipit-signature"] ?? "");
  assert.ok(m, `signature header: ${request.headers["x-pipit-signature"]}`);
  const t = Number(m[1]);
  assert.ok(Math.abs(Date.now() / 1000 - t) < 300, `t=${t} is now`);
  const mac = createHmac("sha256", secret).update(`${m[1]}.${request.body}`).digest("hex");
  assert.equal(m[2], mac, "v1 is the HMAC-SHA256 of t.body with the secret");
}

/** The delivery rows on screen: [{id, state, text}]. */
async function rows() {
  return page.getByTestId("deliveries-table").locator("tbody tr").evaluateAll((trs) =>
    trs.map((tr) => ({ id: Number(tr.dataset.id), state: tr.dataset.state, text: tr.textContent })));
}

/** Waits until the row of delivery `id` is in `state`; the page refreshes on its own. */
async function rowIn(id, state, ms = 15_000) {
  return until(`delivery ${id} ${state} on screen`, async () => {
    const row = (await page.getByTestId("deliveries-table").count()) > 0 ? (await rows()).find((r) => r.id === id) : null;
    return row?.state === state ? row : null;
  }, ms);
}

let hookId;
let secret;

test("create a webhook: a bad URL is refused in words, the secret is shown once", async () => {
  await open("webhooks");
  await page.getByText("No webhooks yet").waitFor();
  await page.getByRole("button", { name: "New webhook" }).click();
  const dialog = page.getByRole("dialog", { name: "New webhook" });
  await dialog.getByLabel("URL").fill("ftp://127.0.0.1/pipit-events");
  await dialog.getByLabel("Description (optional)").fill("CRM sync");
  await dialog.getByRole("checkbox", { name: /user\.created/ }).check();
  await dialog.getByRole("button", { name: "Create webhook" }).click();
  await dialog.getByRole("alert").waitFor();
  assert.ok((await dialog.getByRole("alert").textContent()).length > 0);
  assert.equal((await rest("GET", "/v1/admin/webhooks")).body.webhooks.length, 0, "nothing was made");

  // "All events" covers the others; unticked, the form's own choice is back.
  await dialog.getByTestId("event-all").check();
  assert.equal(await dialog.getByRole("checkbox", { name: /member\.left/ }).isDisabled(), true);
  assert.equal(await dialog.getByRole("checkbox", { name: /member\.left/ }).isChecked(), true);
  await dialog.getByTestId("event-all").uncheck();
  assert.equal(await dialog.getByRole("checkbox", { name: /member\.left/ }).isChecked(), false);

  await dialog.getByLabel("URL").fill(receiverUrl);
  await shot(page, "admin-webhook-create");
  await dialog.getByRole("button", { name: "Create webhook" }).click();
  const once = page.getByTestId("secret-once");
  await once.waitFor();
  secret = await page.getByTestId("webhook-secret").inputValue();
  assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.match(await once.textContent(), /only time the secret is shown/);
  await shot(page, "admin-webhook-secret");
  await page.getByRole("button", { name: "I have saved it" }).click();
  await once.waitFor({ state: "detached" });

  const table = page.getByTestId("webhooks-table");
  await table.getByText("CRM sync").waitFor();
  assert.equal((await page.content()).includes(secret), false, "the secret is not shown again");
  const hooks = (await rest("GET", "/v1/admin/webhooks")).body.webhooks;
  assert.equal(hooks.length, 1);
  assert.equal(hooks[0].url, receiverUrl);
  assert.deepEqual(hooks[0].events, ["message.created", "user.created"]);
  assert.equal(hooks[0].description, "CRM sync");
  assert.equal(hooks[0].enabled, true);
  assert.equal("secret" in hooks[0], false);
  hookId = hooks[0].id;
  assert.match(await table.locator("tbody tr").first().textContent(), /message\.created.*user\.created.*Enabled/s);
  await shot(page, "admin-webhooks");
});

test("a ping arrives signed and shows as delivered", async () => {
  await page.getByTestId("webhooks-table").getByRole("link", { name: "Deliveries of CRM sync" }).click();
  await page.getByTestId("webhook-detail").waitFor();
  assert.equal(new URL(page.url()).hash, `#/webhooks/${hookId}`);
  await page.getByText("No deliveries yet").waitFor();

  await page.getByRole("button", { name: "Send ping" }).click();
  const got = await until("the ping at the receiver", () => received.find((r) => r.headers["x-pipit-event"] === "ping"));
  const id = Number(got.headers["x-pipit-delivery"]);
  assert.ok(id > 0, `X-Pipit-Delivery: ${got.headers["x-pipit-delivery"]}`);
  assert.equal(got.method, "POST");
  assert.equal(got.url, "/pipit-events");
  assert.match(got.headers["content-type"], /^application\/json/);
  assert.match(got.headers["user-agent"], /^pipit\//);
  assertSigned(got, secret);
  const body = JSON.parse(got.body);
  assert.equal(body.id, id);
  assert.equal(body.type, "ping");
  assert.deepEqual(body.data, {});

  const row = await rowIn(id, "delivered");
  assert.match(row.text, /ping.*Delivered.*HTTP 200/s);
  const listed = (await rest("GET", `/v1/admin/webhooks/${hookId}/deliveries`)).body.deliveries;
  assert.equal(listed[0].id, id);
  assert.equal(listed[0].state, "delivered");
  assert.equal(listed[0].last_status, 200);
  await shot(page, "admin-webhook-delivered");
});

test("a receiver answering 500: retried, then failed with its status shown; Retry sends it again", async () => {
  answer = 500;
  const before = received.length;
  await page.getByRole("button", { name: "Send ping" }).click();
  const first = await until("the failing ping at the receiver", () => received.slice(before).find((r) => r.answered === 500));
  const id = Number(first.headers["x-pipit-delivery"]);
  const attemptsOf = () => received.filter((r) => Number(r.headers["x-pipit-delivery"]) === id);
  await until("a second attempt (webhook_retry_base is 300ms here)", () => attemptsOf().length >= 2, 5000);

  // Past webhook_retry_for (4s here) it is given up, with the receiver's last answer.
  const failed = await rowIn(id, "failed");
  assert.match(failed.text, /HTTP 500.*receiver is down/s);
  assert.match(failed.text, /Gave up/);
  const tried = attemptsOf();
  const record = (await rest("GET", `/v1/admin/webhooks/${hookId}/deliveries?state=failed`)).body.deliveries[0];
  assert.equal(record.id, id);
  assert.equal(record.last_status, 500);
  assert.equal(record.attempts, tried.length);
  await page.getByTestId("webhook-failed").getByText("1 kept as failed").waitFor();
  await shot(page, "admin-webhook-failed");

  // Only the failed one can be retried. Back up, the receiver gets the same delivery id.
  assert.equal(await page.getByRole("button", { name: /^Retry delivery/ }).count(), 1);
  answer = 200;
  const beforeRetry = received.length;
  await page.getByRole("button", { name: `Retry delivery ${id}` }).click();
  await rowIn(id, "delivered");
  const again = received.slice(beforeRetry).find((r) => r.answered === 200);
  assert.equal(Number(again.headers["x-pipit-delivery"]), id, "the same delivery id, for dedup");
  assertSigned(again, secret);
  await page.getByTestId("webhook-failed").getByText("0 kept as failed").waitFor();

  // The state filter asks the server for one state.
  await page.getByTestId("delivery-state").selectOption("failed");
  await page.getByText("No failed deliveries").waitFor();
  await page.getByTestId("delivery-state").selectOption("delivered");
  await until("two delivered rows", async () => (await rows()).length === 2 && (await rows()).every((r) => r.state === "delivered"));
  await page.getByTestId("delivery-state").selectOption("");
});

test("rotate the secret: shown once, and the next ping is signed with it", async () => {
  await page.getByRole("button", { name: "Rotate secret" }).click();
  await confirm("Rotate the secret of “CRM sync”?");
  const once = page.getByTestId("secret-once");
  await once.waitFor();
  const rotated = await page.getByTestId("webhook-secret").inputValue();
  assert.match(rotated, /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(rotated, secret);
  assert.match(await once.textContent(), /only time the secret is shown.*old secret no longer signs/s);
  await page.getByRole("button", { name: "I have saved it" }).click();
  await once.waitFor({ state: "detached" });

  answer = 200;
  const known = new Set(received.map((r) => r.headers["x-pipit-delivery"]));
  await page.getByRole("button", { name: "Send ping" }).click();
  const got = await until("a ping after the rotation", () => received.find((r) => !known.has(r.headers["x-pipit-delivery"])));
  assert.equal(got.headers["x-pipit-event"], "ping");
  assertSigned(got, rotated);
  await rowIn(Number(got.headers["x-pipit-delivery"]), "delivered");
});

test("edit and disable; a disabled webhook cannot be pinged", async () => {
  await page.getByRole("button", { name: "Edit", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Edit webhook" });
  await dialog.getByTestId("event-all").check();
  await dialog.getByLabel("Description (optional)").fill("CRM sync (all)");
  await dialog.getByRole("button", { name: "Save" }).click();
  await dialog.waitFor({ state: "detached" });
  await page.getByRole("heading", { name: "CRM sync (all)" }).waitFor();
  await page.getByTestId("webhook-facts").getByText("All events").waitFor();
  const saved = (await rest("GET", `/v1/admin/webhooks/${hookId}`)).body;
  assert.deepEqual(saved.events, ["*"]);
  assert.equal(saved.description, "CRM sync (all)");
  assert.equal(saved.url, receiverUrl);

  await page.getByRole("button", { name: "Disable", exact: true }).click();
  await page.getByRole("button", { name: "Enable", exact: true }).waitFor();
  await page.getByTestId("webhook-facts").getByText("Disabled").waitFor();
  assert.equal(await page.getByRole("button", { name: "Send ping" }).isDisabled(), true);
  assert.equal((await rest("GET", `/v1/admin/webhooks/${hookId}`)).body.enabled, false);
  await shot(page, "admin-webhook-detail");

  // On a phone the page and its deliveries fit the width.
  await open(`webhooks/${hookId}`); // without the toasts
  await page.setViewportSize(PHONE);
  await page.getByTestId("deliveries-table").scrollIntoViewIfNeeded();
  await shot(page, "admin-webhook-detail-phone");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.setViewportSize(DESKTOP);
  assert.ok(width <= PHONE.width, `no sideways scrolling on a phone (page is ${width}px wide)`);

  await page.getByRole("button", { name: "Enable", exact: true }).click();
  await page.getByRole("button", { name: "Disable", exact: true }).waitFor();
  assert.equal((await rest("GET", `/v1/admin/webhooks/${hookId}`)).body.enabled, true);
});

test("delete after a confirm: the webhook and its deliveries are gone", async () => {
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  await confirm("Delete “CRM sync (all)”?");
  await page.getByText("No webhooks yet").waitFor();
  assert.equal(new URL(page.url()).hash, "#/webhooks");
  assert.equal((await rest("GET", `/v1/admin/webhooks/${hookId}`)).status, 404);
  assert.equal((await rest("GET", "/v1/admin/webhooks")).body.webhooks.length, 0);
});
