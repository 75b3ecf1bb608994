// Builds the AG-UI test page into OUTDIR as a frontend app would be built: the frontend code of
// docs/ag-ui.md, exactly as written, imported by ag_ui_page.mjs, bundled with esbuild against
// the built client (clients/js/dist, through its package exports) and its pinned @ag-ui packages.
//   node bundle_ag_ui.mjs OUTDIR
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const out = resolve(process.argv[2]);

// The first js block after the marker comment in docs/ag-ui.md.
const doc = readFileSync(join(root, "docs", "ag-ui.md"), "utf8");
const marker = doc.indexOf("<!-- frontend:");
const block = marker < 0 ? null : doc.slice(marker).match(/```js\n([\s\S]*?)```/);
if (!block) throw new Error("docs/ag-ui.md: no js block after a <!-- frontend: ... --> marker");

// The app's node_modules holds the client package, as `npm install` would put it.
mkdirSync(join(out, "node_modules", "@agent-bridge"), { recursive: true });
try {
  symlinkSync(join(root, "clients", "js"), join(out, "node_modules", "@agent-bridge", "client"));
} catch (err) {
  if (err.code !== "EEXIST") throw err;
}
writeFileSync(join(out, "docs_frontend.mjs"), block[1]);
copyFileSync(join(here, "ag_ui.html"), join(out, "index.html"));
await build({
  entryPoints: [join(here, "ag_ui_page.mjs")],
  outfile: join(out, "ag_ui_page.js"),
  bundle: true,
  format: "esm",
  target: "chrome120",
  sourcemap: true,
  logLevel: "warning",
  alias: { "docs-frontend": join(out, "docs_frontend.mjs") },
  nodePaths: [join(root, "clients", "js", "node_modules")],
});
