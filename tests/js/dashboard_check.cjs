// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core, for
// tests/api/browser.rs.
//
//   node dashboard_check.cjs <base url>
//
// Reads one command per line on stdin and answers each with one JSON line on stdout:
//   {"wait_kills": N, "timeout_ms": T}   -> {"ids": [...], "links": [...], "rate": "..."} once
//                                           the list shows at least N kills, or {"timeout": ...}
//   {"wait_feed_error": T}               -> {"feed": "<notice>", "badge": "..."} or {"timeout": ...}
"use strict";

const { chromium } = require("playwright-core");
const readline = require("readline");

const [base] = process.argv.slice(2);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + "/", { waitUntil: "domcontentloaded" });
  say({ type: "loaded" });

  for await (const line of readline.createInterface({ input: process.stdin })) {
    const command = JSON.parse(line);
    try {
      if (command.wait_kills !== undefined) {
        await page.waitForFunction(
          (n) => document.querySelectorAll("#kills li").length >= n,
          command.wait_kills,
          { timeout: command.timeout_ms },
        );
        const seen = await page.evaluate(() => ({
          ids: [...document.querySelectorAll("#kills li")].map((li) => Number(li.dataset.killmailId)),
          links: [...document.querySelectorAll("#kills li a")].map((a) => a.href),
          texts: [...document.querySelectorAll("#kills li .where")].map((s) => s.textContent),
          rate: document.getElementById("rate-total").textContent,
        }));
        say({ ...seen, errors });
      } else if (command.wait_feed_error !== undefined) {
        await page.waitForSelector("#feed:not([hidden])", { timeout: command.wait_feed_error });
        say({
          feed: await page.textContent("#feed"),
          badge: await page.textContent("#stream"),
          errors,
        });
      }
    } catch (e) {
      say({ timeout: String(e && e.message), errors });
    }
  }
  await browser.close();
})().catch((e) => {
  say({ fatal: String(e && e.stack) });
  process.exit(1);
});
