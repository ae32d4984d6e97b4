/**
 * The admin console's audit log against a real pipitd: a failed sign-in, a user
 * created and made an admin show up newest first with their actors' names;
 * filters by action, actor and time narrow the rows as the server does (each
 * checked against the REST answer); a bad time range shows the server's 400;
 * "Load more" pages on with `before`; and "Verify integrity" says "Intact",
 * then, after record 3 is rewritten in the database behind the server's back,
 * names record 3 in an alert.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  DESKTOP, PASSWORD, PHONE, adminToken, api, assertClean, newPage, openBrowser, openConsole, shot, signInAdmin, startPipit, until,
} from "./lib.js";

let server;
let browser;
let token;
let page;

before(async () => {
  server = await startPipit();
  // Records 1 and 2 are the first admin's creation and the server's start; the
  // failed sign-in comes next, as record 3, the one the last test rewrites.
  const failed = await login("admin", "not-the-password");
  assert.equal(failed.status, 401);
  token = await adminToken(server);
  browser = await openBrowser();
  page = await newPage(browser, { viewport: DESKTOP });
  await signInAdmin(page, server);
});

after(async () => {
  // The out-of-range "From" asks for the server's 400 on purpose.
  if (page) assertClean(page, [/status of 400/]);
  await browser?.close();
  await server?.stop();
});

const rest = (method, path, body, bearer = token) => api(server, method, path, body, bearer);
const login = (username, password = PASSWORD) => rest("POST", "/v1/auth/login", { username, password }, null);
const open = (hash) => openConsole(page, server, hash);

/** The server's records for `query` (every page), newest first. */
async function audit(query = "") {
  const all = [];
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const answer = await rest("GET", `/v1/admin/audit?limit=200&${query}${cursor ? `&before=${cursor}` : ""}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    all.push(...answer.body.records);
    cursor = answer.body.next;
    if (cursor === null) return all;
  }
  throw new Error("more than 20 pages of records");
}

/** The table's rows as the page shows them. */
function rows() {
  return page.$$eval('[data-testid="audit-table"] tbody tr', (trs) =>
    trs.map((tr) => {
      const cell = (label) => tr.querySelector(`td[data-label="${label}"]`);
      return {
        id: Number(tr.dataset.id),
        actor: cell("Actor").title,
        actorText: cell("Actor").textContent,
        action: cell("Action").textContent,
        target: cell("Target").textContent,
        outcome: cell("Outcome").textContent,
        detail: cell("Detail").querySelector("summary").textContent,
        failed: tr.classList.contains("row-failed"),
        broken: tr.classList.contains("row-broken"),
      };
    }));
}

/** Waits until the table shows exactly these records (ids, in this order). */
async function showing(what, records) {
  const want = records.map((r) => r.id).join(",");
  await until(what, async () => (await rows()).map((r) => r.id).join(",") === want);
  return rows();
}

const actorFilter = () => page.getByRole("searchbox", { name: "Filter by actor" });
const actionFilter = () => page.getByRole("combobox", { name: "Action" });

test("rows newest first with actor names, filtered by action, actor and time", async () => {
  const zoe = await rest("POST", "/v1/admin/users", { username: "zoe", password: PASSWORD, role: "user" });
  assert.equal(zoe.status, 201);
  assert.equal((await rest("PATCH", `/v1/admin/users/${zoe.body.id}`, { role: "admin" })).status, 200);

  await open("audit");
  await page.getByRole("link", { name: "Audit log" }).first().waitFor();
  const all = await audit();
  const shown = await showing("every record, newest first", all);
  assert.ok(shown.length >= 7);
  assert.deepEqual(shown.map((r) => r.id), [...shown.map((r) => r.id)].sort((a, b) => b - a));

  const [role, created] = shown;
  assert.equal(role.actor, "user:1");
  assert.match(role.actorText, /^admin/);
  assert.match(role.action, /User changed.*user\.update/);
  assert.equal(role.target, `user:${zoe.body.id}`);
  assert.match(role.detail, /role: admin/);
  assert.match(role.outcome, /^ok$/);
  assert.equal(role.failed, false);
  assert.match(created.action, /user\.create/);
  assert.match(created.detail, /username: zoe/);

  const refused = shown.find((r) => r.id === 3);
  assert.equal(refused.actor, "anonymous");
  assert.match(refused.actorText, /Anonymous/);
  assert.match(refused.action, /auth\.login/);
  assert.match(refused.outcome, /invalid_credentials/);
  assert.ok(refused.failed, "a refusal is marked");

  // A row's detail opens to the JSON as recorded and the record's hash.
  const first = page.getByTestId("audit-table").locator("tbody tr").first();
  await first.locator("summary").click();
  const opened = await first.locator("details").textContent();
  assert.match(opened, /"role": "admin"/);
  assert.ok(opened.includes(all[0].hash));
  await shot(page, "admin-audit");

  // By action: the sign-ins (the failed one, the test's and the browser's).
  await actionFilter().selectOption("auth.login");
  const logins = await audit("action=auth.login");
  assert.equal(logins.length, 3);
  for (const r of await showing("sign-ins only", logins)) assert.match(r.action, /Sign-in.*auth\.login/);

  // By actor, with the action: the anonymous one is the refusal.
  await actorFilter().fill("anonymous");
  const [anon] = await showing("the anonymous sign-in", await audit("action=auth.login&actor=anonymous"));
  assert.equal(anon.id, 3);

  // By username, which the server resolves to user:<id>.
  await actionFilter().selectOption("");
  await actorFilter().fill("admin");
  const byAdmin = await audit("actor=admin");
  assert.ok(byAdmin.length >= 4);
  for (const r of await showing("the admin's records", byAdmin)) assert.equal(r.actor, "user:1");
  await actorFilter().fill("nobody-by-that-name");
  await page.getByText("No records match these filters").waitFor();

  // By time: nothing from tomorrow on; a "From" before 1970 is a bad value, and the server's 400 shows.
  await page.getByRole("button", { name: "Clear filters" }).click();
  await showing("every record again", await audit());
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 16);
  await page.getByLabel("From", { exact: true }).fill(tomorrow);
  await page.getByText("No records match these filters").waitFor();
  await page.getByLabel("From", { exact: true }).fill("1000-01-01T00:00");
  const error = page.locator(".error-box");
  await error.waitFor();
  assert.match(await error.textContent(), /non-negative integer/);
  const hourAgo = new Date(Date.now() - 3600_000).toISOString().slice(0, 16);
  await page.getByLabel("From", { exact: true }).fill(hourAgo);
  await page.getByLabel("To", { exact: true }).fill(tomorrow);
  await showing("the last hour", await audit(`from=${Date.parse(`${hourAgo}Z`)}`));
  await error.waitFor({ state: "detached" });
});

test("Load more pages on with before", async () => {
  const zoe = (await rest("GET", "/v1/admin/users?q=zoe")).body.users[0];
  for (let i = 0; i < 60; i++) {
    assert.equal((await rest("PATCH", `/v1/admin/users/${zoe.id}`, { display_name: `Zoe ${i}` })).status, 200);
  }
  const all = await audit();
  assert.ok(all.length > 60);

  await open("audit");
  await showing("the first page", all.slice(0, 50));
  await page.getByRole("button", { name: "Load more" }).click();
  await showing("the first two pages", all.slice(0, 100));

  // Paging keeps the filter.
  await actionFilter().selectOption("user.update");
  const updates = await audit("action=user.update");
  await showing("the first page of updates", updates.slice(0, 50));
  await page.getByRole("button", { name: "Load more" }).click();
  await showing("every update", updates);
  await page.getByRole("button", { name: "Load more" }).waitFor({ state: "detached" });
});

/** Runs SQL on the live server's database, as someone with access to the data dir could. */
function tamper(sql) {
  const db = join(server.dataDir, "pipit.db");
  try {
    execFileSync("sqlite3", ["-cmd", ".timeout 5000", db, sql], { timeout: 10_000, stdio: "pipe" });
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
    const py = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=5); c.executescript(sys.argv[2]); c.commit()";
    execFileSync("/usr/bin/python3", ["-c", py, db, sql], { timeout: 10_000, stdio: "pipe" });
  }
}

test("Verify integrity: intact, then record 3 rewritten behind the server's back", async () => {
  await open("audit");
  const verdict = page.getByTestId("audit-verdict");
  await page.getByRole("button", { name: "Verify integrity" }).click();
  await verdict.getByText(/^Intact:/).waitFor();
  const intact = (await rest("GET", "/v1/admin/audit/verify")).body;
  assert.equal(intact.ok, true);
  assert.equal(
    await verdict.locator(".verdict-head").textContent(),
    `Intact: ${intact.records} records, ${intact.checkpoints} signed checkpoint${intact.checkpoints === 1 ? "" : "s"}`,
  );
  assert.equal(await verdict.getByTestId("audit-public-key").inputValue(), intact.public_key);
  assert.match(intact.public_key, /^[0-9a-f]{64}$/);
  assert.match(await verdict.textContent(), /Keep a copy of this key away from this machine/);
  assert.equal(await verdict.getAttribute("role"), "status");
  await shot(page, "admin-audit-intact");

  // Record 3, the refused sign-in, is made to look like a success.
  const [third] = (await rest("GET", "/v1/admin/audit?before=4&limit=1")).body.records;
  assert.equal(third.id, 3);
  assert.equal(third.outcome, "invalid_credentials");
  tamper("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET outcome='ok' WHERE id=3;");
  assert.equal((await rest("GET", "/v1/admin/audit?before=4&limit=1")).body.records[0].outcome, "ok");

  await page.getByRole("button", { name: "Verify integrity" }).click();
  const alert = page.getByRole("alert").filter({ hasText: "Integrity check failed" });
  await alert.waitFor();
  assert.equal(await alert.locator(".verdict-title").textContent(), "Integrity check failed at record 3");
  assert.match(await alert.textContent(), /record 3 does not match its hash: it was changed or moved/);
  assert.equal(await alert.getByTestId("audit-public-key").inputValue(), intact.public_key);

  // The rewritten row says "ok", and that it does not check out.
  await actorFilter().fill("anonymous");
  const [row] = await showing("the rewritten record", await audit("actor=anonymous"));
  assert.equal(row.id, 3);
  assert.ok(row.broken);
  assert.match(row.outcome, /ok.*Does not check out/);
  await shot(page, "admin-audit-tampered");

  // On a phone the page, filters and verdict included, fits the width.
  await page.setViewportSize(PHONE);
  await shot(page, "admin-audit-phone");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.setViewportSize(DESKTOP);
  assert.ok(width <= PHONE.width, `no sideways scrolling on a phone (page is ${width}px wide)`);
});
