/**
 * Streaming messages in the chat web app, against a real pipitd: a bot (user
 * "bot", driven over REST by this script) streams an answer to "ana", whose page
 * shows it growing chunk by chunk (append and replace) with a "writing…" mark,
 * and once the final chunk comes, the whole text without the mark and without
 * "edited". Also: a page opened in the middle of a stream shows the text so far
 * and follows it; chunks sent while the page was offline show once it is back;
 * a reload shows the finished message.
 *
 * Screenshots: build/screenshots/chat-streaming-*.png.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { DESKTOP, PASSWORD, api, assertClean, createUser, newPage, openBrowser, shot, startPipit, until } from "./lib.js";

let server;
let browser;
let bot; // { id, token }
let conv; // the direct chat of bot and ana
const session = {};

before(async () => {
  server = await startPipit();
  browser = await openBrowser();
  await createUser(server, "ana");
  await createUser(server, "bot");
  for (const name of ["ana", "bot"]) {
    const { status, body } = await api(server, "POST", "/v1/auth/login", { username: name, password: PASSWORD });
    assert.equal(status, 200, JSON.stringify(body));
    session[name] = { token: body.token, id: body.user.id };
  }
  bot = session.bot;
  const made = await api(server, "POST", "/v1/conversations", { type: "direct", peer: "ana" }, bot.token);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  conv = made.body.id;
  await say("Hi ana, ask me anything.");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/* ------------------------------------------------------------------ helpers */

let cmids = 0;

/** An ordinary message from the bot. */
async function say(text) {
  const r = await api(server, "POST", `/v1/conversations/${conv}/messages`, { cmid: `say-${++cmids}`, body: { type: "text", text } }, bot.token);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.seq;
}

/** Opens a streaming message from the bot; its seq. */
async function openStream(text) {
  const r = await api(
    server,
    "POST",
    `/v1/conversations/${conv}/messages`,
    { cmid: `stream-${++cmids}`, body: { type: "text", text }, streaming: true },
    bot.token,
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.seq;
}

/** One chunk (op "append" or "replace"); the answer's body. */
async function chunk(seq, op, text, final) {
  const body = final ? { text, final: true } : { text };
  const r = await api(server, "POST", `/v1/conversations/${conv}/messages/${seq}/${op}`, body, bot.token);
  assert.equal(r.status, 200, `${op} ${JSON.stringify(text)}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Ana's page, signed in (her session put where the app keeps it), with the bot's chat open. */
async function anaPage() {
  const page = await newPage(browser, { viewport: DESKTOP });
  const seeded = JSON.stringify({ token: session.ana.token, userId: session.ana.id, username: "ana", role: "user" });
  await page.addInitScript((s) => localStorage.setItem("pipit.session", s), seeded);
  await page.goto(`${server.url}/#/c/${conv}`);
  await page.locator("[data-testid=connection][data-state=ready]").waitFor({ state: "attached" });
  await page.getByTestId("composer").waitFor();
  return page;
}

function row(page, seq) {
  return page.locator(`[data-testid=message][data-seq="${seq}"]`);
}

/** The row's text as shown (the text of the message, without its time and marks). */
async function shownText(page, seq) {
  return row(page, seq).locator(".msg-body").evaluate((el) => el.textContent);
}

async function seesText(page, seq, want) {
  await until(`message ${seq} to read ${JSON.stringify(want)}`, async () => (await row(page, seq).count()) === 1 && (await shownText(page, seq)) === want);
}

async function isStreaming(page, seq) {
  return (await row(page, seq).getByTestId("streaming").count()) === 1 && (await row(page, seq).getAttribute("data-streaming")) === "true";
}

async function checkFinished(page, seq, want) {
  await seesText(page, seq, want);
  await until(`message ${seq} to lose its writing mark`, async () => !(await isStreaming(page, seq)) && (await row(page, seq).getAttribute("data-streaming")) === null);
  assert.equal(await row(page, seq).locator(".msg-edited").count(), 0, "a finished stream is not marked edited");
  assert.equal(await row(page, seq).getAttribute("aria-busy"), null);
}

function preview(page) {
  return page.locator("[data-testid=conv-item]").filter({ hasText: "bot" }).getByTestId("conv-preview");
}

/* -------------------------------------------------------------------- tests */

test("a streamed answer grows live, then is final and not marked edited", async () => {
  const page = await anaPage();
  const seq = await openStream("The answer");
  await seesText(page, seq, "The answer");
  assert.ok(await isStreaming(page, seq), "the writing mark shows while it streams");
  assert.equal(await row(page, seq).getAttribute("aria-busy"), "true");

  const grown = ["The answer"];
  for (const piece of [" is", " forty", "-something"]) {
    const answer = await chunk(seq, "append", piece);
    grown.push(grown[grown.length - 1] + piece);
    assert.equal(answer.length, Buffer.byteLength(grown[grown.length - 1]));
    await seesText(page, seq, grown[grown.length - 1]);
  }
  assert.ok(await isStreaming(page, seq));
  // The list's preview follows the text too.
  await until("the preview to follow the stream", async () => (await preview(page).textContent()).includes("forty-something"));
  // No edit action on a message still being written by someone else, nor any "edited".
  assert.equal(await row(page, seq).locator(".msg-edited").count(), 0);

  await chunk(seq, "replace", "The answer is 4");
  await seesText(page, seq, "The answer is 4");
  await chunk(seq, "append", "2");
  await seesText(page, seq, "The answer is 42");
  assert.ok(await isStreaming(page, seq));
  await shot(page, "chat-streaming-growing");

  const fin = await chunk(seq, "append", ".", true);
  assert.equal(fin.seq, seq + 1, "the final chunk is an edit event with its own seq");
  await checkFinished(page, seq, "The answer is 42.");
  await until("the preview to show the finished text", async () => (await preview(page).textContent()).includes("The answer is 42."));
  await shot(page, "chat-streaming-final");

  // After a reload it comes finished from history.
  await page.reload();
  await page.getByTestId("composer").waitFor();
  await checkFinished(page, seq, "The answer is 42.");
  assertClean(page);
  await page.context().close();
});

test("a page opened mid-stream shows the text so far and follows it", async () => {
  const seq = await openStream("Step 1");
  await chunk(seq, "append", ", step 2");
  const page = await anaPage();
  await seesText(page, seq, "Step 1, step 2");
  assert.ok(await isStreaming(page, seq));
  await chunk(seq, "append", ", step 3");
  await seesText(page, seq, "Step 1, step 2, step 3");
  await chunk(seq, "replace", "Done in three steps", true);
  await checkFinished(page, seq, "Done in three steps");
  assertClean(page);
  await page.context().close();
});

test("chunks sent while the page was offline show once it is back", async () => {
  const page = await anaPage();
  const seq = await openStream("Loading");
  await seesText(page, seq, "Loading");

  await page.context().setOffline(true);
  await page.locator("[data-testid=connection][data-state=offline]").waitFor({ state: "attached" });
  await chunk(seq, "append", " more");
  await chunk(seq, "append", " and more");
  await page.context().setOffline(false);
  await page.locator("[data-testid=connection][data-state=ready]").waitFor({ state: "attached" });
  // Still streaming: only a fetch of the message can bring the missed chunks.
  await seesText(page, seq, "Loading more and more");
  assert.ok(await isStreaming(page, seq));
  await chunk(seq, "append", "!");
  await seesText(page, seq, "Loading more and more!");

  await chunk(seq, "append", "", true);
  await checkFinished(page, seq, "Loading more and more!");
  // The going-offline is a closed socket the browser may log; nothing else may be.
  assertClean(page, [/WebSocket|ERR_INTERNET_DISCONNECTED|net::/]);
  await page.context().close();
});
