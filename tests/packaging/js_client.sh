#!/usr/bin/env bash
# The JS client as a user outside the repository gets it: `npm pack` (prepack builds dist/),
# the tarball installed into a fresh project in a temporary folder, then imported by Node,
# type-checked by a TypeScript consumer (`tsc --noEmit`, strict) against the shipped types,
# and bundled for browsers by esbuild, the bundle run. Offline: the package has no runtime
# dependencies; tsc and esbuild come from clients/js and tests/browser (scripts/install-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Pack: what npm publish would upload.
(cd "$root/clients/js" && npm pack --silent --pack-destination "$tmp" >"$tmp/packed")
tarball="$tmp/$(tail -n 1 "$tmp/packed")"
listing="$(tar -tzf "$tarball")"
for f in package/package.json package/LICENSE package/README.md package/dist/index.js package/dist/index.d.ts \
         package/dist/ag_ui/index.js package/dist/ag_ui/index.d.ts; do
  grep -qx "$f" <<<"$listing" || { echo "packed tarball lacks $f" >&2; exit 1; }
done
if grep -q '^package/test/\|^package/node_modules/' <<<"$listing"; then echo "packed tarball holds tests or node_modules" >&2; exit 1; fi
tar -xOzf "$tarball" package/package.json | node -e '
  const p = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const need = ["name", "version", "license", "repository", "exports", "types", "files"];
  const missing = need.filter((k) => !p[k]);
  if (p.private) missing.push("not private");
  if (missing.length) { console.error("package.json: " + missing.join(", ")); process.exit(1); }'

# A fresh project that installs the tarball.
app="$tmp/app"
mkdir -p "$app/src"
cat >"$app/package.json" <<'JSON'
{ "name": "consumer-app", "version": "1.0.0", "private": true, "type": "module" }
JSON
(cd "$app" && npm install --offline --no-audit --no-fund --loglevel=error "$tarball")
[[ ! -L "$app/node_modules/@agent-bridge/client" ]] || { echo "installed as a link, not a copy" >&2; exit 1; }

# Node: both entry points resolve; the main one runs against a fake socket.
(cd "$app" && node --input-type=module -e '
  import { BridgeClient, backoffDelay } from "@agent-bridge/client";
  const agUi = import.meta.resolve("@agent-bridge/client/ag-ui");
  if (!agUi.endsWith("/dist/ag_ui/index.js")) throw new Error("ag-ui entry resolved to " + agUi);
  const sent = [];
  class FakeSocket { constructor(url) { this.url = url; this.readyState = 1; setTimeout(() => this.onopen?.({}), 0); }
    send(d) { sent.push(JSON.parse(d)); } close() {} }
  const client = new BridgeClient({ url: "ws://x/ws", token: () => "t", WebSocket: FakeSocket });
  client.connect();
  await new Promise((r) => setTimeout(r, 20));
  if (sent[0]?.action !== "auth" || sent[0]?.token !== "t") throw new Error("no auth message: " + JSON.stringify(sent));
  if (typeof backoffDelay(3) !== "number") throw new Error("backoffDelay");
  client.close();
  console.log("node import: ok");')

# TypeScript: a strict consumer against the shipped .d.ts; a payload field used as the wrong
# type must not compile (so the types are really read).
cat >"$app/src/main.ts" <<'TS'
import { BridgeClient, type AgentEvent, type ConnectionState } from "@agent-bridge/client";

const client = new BridgeClient({
  url: "wss://bridge.example/ws",
  token: async () => new URLSearchParams(location.hash.slice(1)).get("token"),
  backoff: { baseMs: 500, maxMs: 10000 },
});
client.on("tool_completed", (e) => console.log(e.payload.tool, e.payload.status, e.payload.duration_ms));
client.on("event", (e: AgentEvent) => console.log(e.type, e.id));
client.on("state", (s: ConnectionState) => console.log(s));
client.subscribe("thread-demo");
client.connect();
export { client };
TS
cat >"$app/tsconfig.json" <<'JSON'
{ "compilerOptions": { "target": "ES2020", "module": "ES2020", "moduleResolution": "bundler", "strict": true,
  "lib": ["ES2020", "DOM"], "types": [], "noEmit": true, "skipLibCheck": false }, "include": ["src"] }
JSON
tsc=("node" "$root/clients/js/node_modules/typescript/bin/tsc")
(cd "$app" && "${tsc[@]}" --noEmit -p tsconfig.json)
echo "tsc consumer: ok"
cat >"$app/src/wrong.ts" <<'TS'
import { BridgeClient } from "@agent-bridge/client";
new BridgeClient({ url: "ws://x/ws", token: () => "t" }).on("tool_completed", (e) => {
  const status_is_a_number: number = e.payload.status;
  return status_is_a_number;
});
TS
if (cd "$app" && "${tsc[@]}" --noEmit -p tsconfig.json >"$tmp/wrong.log" 2>&1); then
  echo "tsc accepted a payload field the types do not have: the types are not checked" >&2; exit 1
fi
grep -q "wrong.ts(3,.*TS2322" "$tmp/wrong.log" || { cat "$tmp/wrong.log" >&2; exit 1; }
rm "$app/src/wrong.ts"

# esbuild: a browser bundle of the consumer, then run with stand-ins for the browser's globals.
"$root/tests/browser/node_modules/.bin/esbuild" "$app/src/main.ts" --bundle --format=esm --platform=browser \
  --target=es2020 --log-level=warning --outfile="$app/bundle.js"
grep -q "BridgeClient" "$app/bundle.js" || { echo "bundle lacks BridgeClient" >&2; exit 1; }
node --input-type=module -e '
  const sent = [];
  globalThis.location = { hash: "#token=abc" };
  globalThis.WebSocket = class { constructor(url) { this.url = url; this.readyState = 1; setTimeout(() => this.onopen?.({}), 0); }
    send(d) { sent.push(JSON.parse(d)); } close() {} };
  const { client } = await import(process.argv[1]);
  await new Promise((r) => setTimeout(r, 20));
  if (sent[0]?.token !== "abc") throw new Error("bundle did not authenticate: " + JSON.stringify(sent));
  client.close();
  console.log("esbuild bundle: ok");' "$app/bundle.js"
echo "js client package: ok"
