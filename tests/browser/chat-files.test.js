/**
 * Files and search in the chat web app, in a real browser against a real pipitd.
 *
 * What is checked: Ana attaches a PNG and its progress shows (the upload is
 * throttled so there is time to see it); Bo sees the picture (its thumbnail
 * loaded), opens the lightbox, Tab stays inside it, Escape closes it and gives
 * the focus back; a JPEG made in the page is dropped on the chat; a non-image
 * file is downloaded under its own name with its bytes; a too-large file says
 * the server's words in place; search finds an English word and a Chinese one,
 * shows snippets with <mark>, pages with "More results", and a result opens its
 * chat scrolled to the message (older pages loaded to reach it), on the phone too.
 *
 * The pictures are made here (a PNG with zlib, a JPEG with canvas.toBlob), so
 * the test carries no binary fixture. Screenshots: build/screenshots/files-*.png.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";

import { rgbPng } from "../../sdk/js/test/png.js";
import { DESKTOP, PASSWORD, PHONE, adminToken, assertClean, createUser, newPage, openBrowser, shot, startPipit } from "./lib.js";

let server;
let browser;
const tokens = new Map();
let direct; // Ana and Bo's conversation id

// Chrome logs every non-2xx answer; these are expected: a thumbnail still being made, the too-large test.
const EXPECTED = [/status of 503/, /status of 413/];

before(async () => {
  server = await startPipit();
  browser = await openBrowser();
  for (const name of ["ana", "bo"]) {
    await createUser(server, name);
    const { body } = await api("POST", "/v1/auth/login", null, { username: name, password: PASSWORD });
    tokens.set(name, body);
  }
  const conv = await api("POST", "/v1/conversations", tokens.get("ana").token, { type: "direct", peer: "bo" });
  direct = conv.body.id;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/* ------------------------------------------------------------------ helpers */

async function api(method, path, token, body) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

/** A page signed in as `username` (the session put where the app keeps it), on the chat list. */
async function signedIn(username, viewport = DESKTOP) {
  const page = await newPage(browser, { viewport });
  const { token, user } = tokens.get(username);
  await page.addInitScript((session) => localStorage.setItem("pipit.session", session),
    JSON.stringify({ token, userId: user.id, username, role: "user" }));
  await page.goto(`${server.url}/`);
  await page.locator(".sidebar").waitFor();
  await page.locator("[data-testid=connection][data-state=ready]").waitFor({ state: "attached" });
  return page;
}

async function openDirect(page, peer) {
  await page.locator("[data-testid=conv-item]").filter({ has: page.locator(".conv-title", { hasText: peer }) }).click();
  await page.getByTestId("composer").waitFor();
}

async function until(fn, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/**
 * A w×h landscape (sky, sun, hills) as an RGB PNG. `grain` adds noise, which
 * deflate cannot squeeze: that makes a file big enough to watch it upload.
 */
function landscapePng(w, h, grain = 0) {
  let seed = 7;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return ((seed >> 8) % (2 * grain + 1)) - grain;
  };
  return rgbPng(w, h, (x, y) => {
    const hill = h * (0.68 + 0.08 * Math.sin((x / w) * 6.3));
    const sun = (x - w * 0.72) ** 2 + (y - h * 0.3) ** 2 < (h * 0.12) ** 2;
    let rgb;
    if (sun) rgb = [255, 214, 120];
    else if (y > hill) rgb = [46 + (y / h) * 40, 120 - (y / h) * 30, 70];
    else rgb = [90 + (y / h) * 120, 150 + (y / h) * 70, 235];
    return grain ? rgb.map((v) => v + noise()) : rgb;
  });
}

/** Uploads crawl at `bytesPerSecond` (Chromium's network emulation), or run free again with null. */
async function throttleUploads(page, bytesPerSecond) {
  page.cdp ??= await page.context().newCDPSession(page);
  await page.cdp.send("Network.enable");
  await page.cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSecond ?? -1,
  });
}

function lastMessage(page) {
  return page.locator("[data-testid=message]").last();
}

/* -------------------------------------------------------------------- tests */

test("a picture: progress while it goes up, the thumbnail at the other end, the lightbox", async () => {
  const ana = await signedIn("ana");
  const bo = await signedIn("bo");
  await openDirect(ana, "bo");
  await openDirect(bo, "ana");

  const big = landscapePng(900, 600, 24);
  assert.ok(big.length > 800_000, `the grainy PNG is ${big.length} bytes`);
  await throttleUploads(ana, 150_000);
  await ana.getByTestId("file-input").setInputFiles({ name: "Lake at dusk.png", mimeType: "image/png", buffer: big });
  const upload = ana.getByTestId("upload");
  await upload.waitFor();
  await until(async () => Number(await ana.getByTestId("upload-progress").getAttribute("aria-valuenow")) > 10, "progress over 10%");
  assert.match(await upload.textContent(), /Lake at dusk\.png/);
  await shot(ana, "files-upload-progress-desktop");
  await throttleUploads(ana, null);
  await upload.waitFor({ state: "detached", timeout: 20_000 });

  // Bo: the picture in a box of its final size, its thumbnail loaded.
  const pic = bo.getByTestId("image-attachment").last();
  await pic.waitFor();
  const box = await pic.boundingBox();
  assert.equal(Math.round(box.width), 280);
  assert.equal(Math.round(box.height), 187); // 900×600 fitted into 280 wide
  const thumb = bo.getByTestId("image-thumb").last();
  await thumb.waitFor();
  await until(() => thumb.evaluate((img) => img.complete && img.naturalWidth > 0), "the thumbnail decoded");
  assert.equal(await thumb.evaluate((img) => img.naturalWidth), 320); // the server's 320 px thumbnail, not the file
  await ana.getByTestId("image-thumb").last().waitFor();
  await shot(bo, "files-image-desktop");

  // The lightbox: the full picture; Tab stays inside; Escape closes and gives the focus back.
  await bo.getByTestId("open-image").last().click();
  const lightbox = bo.getByTestId("lightbox");
  await lightbox.waitFor();
  await bo.locator("[data-testid=lightbox-image][data-full=true]").waitFor();
  assert.equal(await bo.getByTestId("lightbox-image").evaluate((img) => img.naturalWidth), 900);
  assert.equal(await bo.evaluate(() => document.activeElement?.dataset.testid), "lightbox-close");
  for (let i = 0; i < 4; i++) {
    await bo.keyboard.press("Tab");
    assert.ok(await bo.evaluate(() => document.querySelector("[data-testid=lightbox]").contains(document.activeElement)), "focus left the lightbox");
  }
  await shot(bo, "files-lightbox-desktop");
  await bo.keyboard.press("Escape");
  await lightbox.waitFor({ state: "detached" });
  assert.equal(await bo.evaluate(() => document.activeElement?.dataset.testid), "open-image");
  // Enter on the focused thumbnail opens it again; a click on the backdrop closes it.
  await bo.keyboard.press("Enter");
  await lightbox.waitFor();
  await bo.mouse.click(20, 400);
  await lightbox.waitFor({ state: "detached" });

  await bo.getByTestId("composer").focus(); // no focus ring on the picture in the shot
  await bo.emulateMedia({ colorScheme: "dark" });
  await shot(bo, "files-image-dark");
  await bo.emulateMedia({ colorScheme: "light" });

  // A JPEG made in the page (canvas), dropped on the conversation.
  const before = await bo.getByTestId("image-attachment").count();
  await ana.evaluate(async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 480;
    canvas.height = 640;
    const g = canvas.getContext("2d");
    const sky = g.createLinearGradient(0, 0, 0, 640);
    sky.addColorStop(0, "#1e3a8a");
    sky.addColorStop(1, "#f472b6");
    g.fillStyle = sky;
    g.fillRect(0, 0, 480, 640);
    g.fillStyle = "#fde68a";
    g.beginPath();
    g.arc(240, 420, 90, 0, Math.PI * 2);
    g.fill();
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.9));
    const data = new DataTransfer();
    data.items.add(new File([blob], "sunset.jpg", { type: "image/jpeg" }));
    const target = document.querySelector("[data-testid=conversation]");
    for (const type of ["dragenter", "dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }
  });
  await until(async () => (await bo.getByTestId("image-attachment").count()) === before + 1, "the dropped JPEG at Bo");
  const portrait = bo.getByTestId("image-attachment").last();
  const size = await portrait.boundingBox();
  assert.equal(Math.round(size.height), 300); // 480×640 fitted into 300 high
  assert.equal(Math.round(size.width), 225);
  await until(() => bo.getByTestId("image-thumb").last().evaluate((img) => img.complete && img.naturalWidth > 0), "the JPEG's thumbnail");
  assert.equal(await ana.getByTestId("drop-overlay").count(), 0);

  // The phone: the pictures fit the narrow column, and the lightbox fills the screen.
  const phone = await signedIn("bo", PHONE);
  await openDirect(phone, "ana");
  await until(() => phone.getByTestId("image-thumb").last().evaluate((img) => img.complete && img.naturalWidth > 0), "thumbnails on the phone");
  await shot(phone, "files-image-phone");
  await phone.getByTestId("open-image").first().click();
  await phone.locator("[data-testid=lightbox-image][data-full=true]").waitFor();
  await shot(phone, "files-lightbox-phone");
  await phone.getByTestId("lightbox-close").click();
  await phone.getByTestId("lightbox").waitFor({ state: "detached" });

  assertClean(ana, EXPECTED);
  assertClean(bo, EXPECTED);
  assertClean(phone, EXPECTED);
  await ana.context().close();
  await bo.context().close();
  await phone.context().close();
});

test("a file: Bo downloads it under its own name; a too-large one says why in place", async () => {
  const ana = await signedIn("ana");
  const bo = await signedIn("bo");
  await openDirect(ana, "bo");
  await openDirect(bo, "ana");

  const report = Buffer.from("%PDF-1.4\n% Quarterly report, third quarter\n" + "x".repeat(3000));
  await ana.getByTestId("file-input").setInputFiles({ name: "Q3 report.pdf", mimeType: "application/pdf", buffer: report });
  const file = bo.getByTestId("file-attachment").filter({ hasText: "Q3 report.pdf" });
  await file.waitFor();
  assert.match(await file.textContent(), /3\.0 KiB/);
  await shot(bo, "files-file-desktop");
  const [download] = await Promise.all([bo.waitForEvent("download"), file.getByTestId("download").click()]);
  assert.equal(download.suggestedFilename(), "Q3 report.pdf");
  assert.deepEqual(await readFile(await download.path()), report);

  // Too large for this app: the server's own words, in the composer, no alert.
  const admin = await adminToken(server);
  assert.equal((await api("PATCH", "/v1/admin/app", admin, { max_file_size: 20_000 })).status, 200);
  try {
    await ana.getByTestId("file-input").setInputFiles({ name: "archive.zip", mimeType: "application/zip", buffer: Buffer.alloc(60_000, 7) });
    const failed = ana.locator("[data-testid=upload][data-state=failed]");
    await failed.waitFor();
    const words = await failed.getByTestId("upload-error").textContent();
    assert.match(words, /may not be larger than 19\.5 KiB/);
    await shot(ana, "files-too-large-desktop");
    await failed.getByTestId("upload-cancel").click();
    await failed.waitFor({ state: "detached" });
  } finally {
    await api("PATCH", "/v1/admin/app", admin, { max_file_size: null });
  }

  assertClean(ana, EXPECTED);
  assertClean(bo, EXPECTED);
  await ana.context().close();
  await bo.context().close();
});

test("search: English and Chinese, highlighted snippets, more results, a result opens its chat at the message", async () => {
  const ana = tokens.get("ana").token;
  const post = (text, cmid) => api("POST", `/v1/conversations/${direct}/messages`, ana, { cmid, body: { type: "text", text } });
  const target = await post("Shall we book the dinner at the harbour on Thursday?", "s-target");
  await post("我们明天在北京见面，好吗？", "s-zh");
  // Enough after it that the message is not on the first page the chat loads.
  for (let i = 0; i < 60; i++) await post(i % 3 === 0 ? `harbour walk number ${i}` : `filler ${i}`, `s-fill-${i}`);

  const bo = await signedIn("bo");
  const box = bo.getByLabel("Search chats and messages (Ctrl+K)");
  await box.fill("dinner");
  const results = bo.getByTestId("search-result");
  await results.first().waitFor();
  assert.equal(await results.count(), 1);
  assert.deepEqual(await results.first().locator("mark").allTextContents(), ["dinner"]);
  assert.match(await results.first().getByTestId("snippet").textContent(), /book the dinner at the harbour/);
  assert.match(await results.first().locator(".conv-title").textContent(), /^ana$/);

  await box.fill("北京");
  await until(async () => (await results.first().locator("mark").allTextContents()).join() === "北京", "the Chinese hit");
  assert.match(await results.first().getByTestId("snippet").textContent(), /我们明天在北京见面/);

  // Paging: 20 "harbour" messages and the dinner one; the first page holds 20.
  await box.fill("harbour");
  await until(async () => (await results.count()) === 20, "a first page of 20");
  await shot(bo, "files-search-desktop");
  await bo.getByTestId("search-more").click();
  await until(async () => (await results.count()) === 21, "the second page");
  assert.equal(await bo.getByTestId("search-more").count(), 0);

  // The dinner message is older than the newest 50: the chat loads back to it.
  await box.fill("dinner");
  await until(async () => (await results.count()) === 1, "back to one result");
  await results.first().click();
  await bo.getByTestId("composer").waitFor();
  assert.equal(new URL(bo.url()).hash, `#/c/${direct}`);
  const row = bo.locator(`[data-testid=message][data-seq="${target.body.seq}"]`);
  await row.waitFor();
  await until(() => row.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const pane = el.closest("[data-testid=message-list]").getBoundingClientRect();
    return r.top >= pane.top && r.bottom <= pane.bottom;
  }), "the found message in view");
  await shot(bo, "files-search-opened-desktop");

  // The phone: the results, then the chat alone with the message in it.
  const phone = await signedIn("bo", PHONE);
  await phone.getByLabel("Search chats and messages (Ctrl+K)").fill("北京");
  await phone.getByTestId("search-result").first().locator("mark").waitFor();
  await shot(phone, "files-search-phone");
  await phone.getByTestId("search-result").first().click();
  await phone.getByTestId("composer").waitFor();
  await phone.locator("[data-testid=message]").filter({ hasText: "我们明天在北京见面" }).waitFor();
  assert.equal(await phone.locator(".sidebar").isVisible(), false);

  assertClean(bo, EXPECTED);
  assertClean(phone, EXPECTED);
  await bo.context().close();
  await phone.context().close();
});
