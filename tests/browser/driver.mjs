// Drives one headless Chromium page for the Python browser tests: reads one JSON command a
// line on stdin, answers one JSON line on stdout ({"ok":true,"value":...} or {"ok":false,"error":...}).
//   {"op":"goto","url":...}   {"op":"eval","expr":...}   {"op":"screenshot","path":...}   {"op":"console"}
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
const page = await browser.newPage();
await page.setViewport({ width: 1100, height: 900 });
const consoleLines = [];
page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));

async function run(cmd) {
  switch (cmd.op) {
    case "goto":
      await page.goto(cmd.url, { waitUntil: "load" });
      return null;
    case "eval":
      return await page.evaluate(cmd.expr);
    case "screenshot":
      await page.screenshot({ path: cmd.path, fullPage: true });
      return cmd.path;
    case "console":
      return consoleLines;
    default:
      throw new Error("unknown op " + cmd.op);
  }
}

process.stdout.write(JSON.stringify({ ok: true, value: await browser.version() }) + "\n");
for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    answer = { ok: true, value: (await run(JSON.parse(line))) ?? null };
  } catch (err) {
    answer = { ok: false, error: String(err?.stack ?? err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await browser.close();
