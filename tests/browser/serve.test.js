/**
 * The built app and console load from pipitd with their security headers, and
 * run under the Content-Security-Policy without a single violation.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { assertClean, newPage, openBrowser, startPipit } from "./lib.js";

let server;
let browser;

before(async () => {
  server = await startPipit();
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

for (const path of ["/", "/admin/"]) {
  test(`${path} loads under the strict CSP`, async () => {
    const page = await newPage(browser);
    const res = await page.goto(server.url + path);
    assert.equal(res.status(), 200);
    const headers = res.headers();
    assert.match(headers["content-security-policy"], /script-src 'self'/);
    assert.match(headers["content-security-policy"], /frame-ancestors 'none'/);
    assert.equal(headers["x-content-type-options"], "nosniff");
    assert.equal(headers["referrer-policy"], "no-referrer");
    await page.waitForSelector("#app *");
    assertClean(page);
    await page.context().close();
  });
}
