// Every mermaid diagram of README.md and docs/*.md, rendered by mermaid 11 (what GitHub uses)
// in Debian's Chromium: a diagram that does not parse or render fails, with its file and error.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const files = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => join("docs", f))];
const diagrams = [];
for (const file of files) {
  const text = readFileSync(join(root, file), "utf8");
  for (const m of text.matchAll(/```mermaid\n([\s\S]*?)```/g)) diagrams.push({ file, code: m[1] });
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
let failed = 0;
try {
  const page = await browser.newPage();
  await page.setContent("<!doctype html><html><body></body></html>");
  await page.addScriptTag({ path: join(here, "node_modules", "mermaid", "dist", "mermaid.min.js") });
  await page.evaluate(() => window.mermaid.initialize({ startOnLoad: false }));
  for (const [i, d] of diagrams.entries()) {
    const error = await page.evaluate(async (code, id) => {
      try {
        await window.mermaid.parse(code);
        const { svg } = await window.mermaid.render(id, code);
        return svg.includes("<svg") ? null : "no svg";
      } catch (e) {
        return String(e?.message ?? e);
      }
    }, d.code, `d${i}`);
    if (error) {
      failed++;
      console.log(`FAIL ${relative(root, join(root, d.file))}: ${d.code.split("\n")[0]}: ${error}`);
    } else {
      console.log(`ok   ${d.file}: ${d.code.split("\n")[0]}`);
    }
  }
} finally {
  await browser.close();
}
if (diagrams.length === 0) failed++, console.log("no mermaid diagram found");
console.log(`${diagrams.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
