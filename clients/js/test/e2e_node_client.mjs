// The client in Node (the ws package) against a real bridge, for tests/browser/test_node_client.py:
//   node e2e_node_client.mjs URL TOKEN|@FILE message|query   (@FILE: the token is read from FILE at each call)
// Prints one JSON line per client event: {"on":"event","seq":...,"id":...} or {"on":"<name>",...}.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { BridgeClient } from "../dist/index.js";

const [url, token, auth] = process.argv.slice(2);
const provider = token.startsWith("@") ? () => readFileSync(token.slice(1), "utf8").trim() : () => token;
// GLOBAL_WEBSOCKET=1: the runtime's own WebSocket (Node 22, or Node 20 with --experimental-websocket).
const client = new BridgeClient({ url, token: provider, auth, WebSocket: process.env.GLOBAL_WEBSOCKET ? undefined : WebSocket, backoff: { baseMs: 100, maxMs: 1000 } });
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
client.on("event", (e) => print({ on: "event", id: e.id, type: e.type, seq: e.payload.seq }));
for (const name of ["open", "reconnecting", "closed", "auth_failed", "reset", "resumed", "server_error"]) {
  client.on(name, (v) => print({ on: name, ...v }));
}
process.stdin.on("end", () => client.close()); // the test closes stdin to stop
process.stdin.resume();
client.connect();
