import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { BridgeClient } from "../dist/index.js";
import { FakeWebSocket, acceptSocket, event, sleep, until } from "./fake_websocket.mjs";

beforeEach(() => FakeWebSocket.reset());

// A client on the fake socket with near-zero backoff; records every client event.
function makeClient(extra = {}) {
  const tokens = extra.tokens ?? ["t1", "t2", "t3", "t4", "t5", "t6"];
  let calls = 0;
  const client = new BridgeClient({
    url: "ws://bridge.test/ws",
    WebSocket: FakeWebSocket,
    token: extra.token ?? (async () => tokens[Math.min(calls++, tokens.length - 1)]),
    backoff: { baseMs: 2, maxMs: 4 },
    now: () => 1700000000000,
    ...extra.options,
  });
  const log = [];
  for (const name of ["connecting", "open", "reconnecting", "closed", "auth_failed", "reset", "resumed",
                      "server_error", "status", "event"]) {
    client.on(name, (v) => log.push([name, v]));
  }
  client.tokenCalls = () => calls;
  return { client, log, events: () => log.filter(([n]) => n === "event").map(([, e]) => e.id) };
}

test("the token goes in the first message, never in the URL", async () => {
  const { client, log } = makeClient();
  client.connect();
  const ws = await acceptSocket(1);
  assert.equal(ws.url, "ws://bridge.test/ws");
  assert.deepEqual(ws.sent[0], { action: "auth", token: "t1" });
  assert.equal(client.state, "open");
  assert.deepEqual(log.find(([n]) => n === "open"), ["open", { resumed: false }]);
  client.close();
  assert.equal(ws.closedWith.code, 1000);
});

test("query auth puts token and cursor in the URL", async () => {
  const { client } = makeClient({ options: { auth: "query", resumeFrom: "agent-events:1:5:9" } });
  client.connect();
  await until(() => FakeWebSocket.instances.length === 1);
  const url = new URL(FakeWebSocket.last.url);
  assert.equal(url.searchParams.get("access_token"), "t1");
  assert.equal(url.searchParams.get("resume"), "agent-events:1:5:9");
  FakeWebSocket.last.accept();
  assert.equal(client.state, "open");
  assert.deepEqual(FakeWebSocket.last.sent, []);
  client.close();
});

test("events are delivered once: duplicates by id dropped, also across reconnects", async () => {
  const { client, events } = makeClient();
  client.connect();
  const ws1 = await acceptSocket(1);
  ws1.push(event(1));
  ws1.push(event(2));
  ws1.push(event(2));
  ws1.drop(1006);
  const ws2 = await acceptSocket(2);
  ws2.push(event(2)); // replayed from another partition's lookback
  ws2.push(event(3));
  assert.deepEqual(events(), [event(1).id, event(2).id, event(3).id]);
  client.close();
});

test("resume with the last id; before any event, since the first connect", async () => {
  const { client } = makeClient();
  client.connect();
  const ws1 = await acceptSocket(1);
  assert.equal(ws1.sent[0].since, undefined);
  ws1.drop(1006);
  const ws2 = await acceptSocket(2);
  assert.deepEqual(ws2.sent[0], { action: "auth", token: "t2", since: 1700000000000 });
  ws2.push(event(7));
  ws2.drop(4002, "slow reader");
  const ws3 = await acceptSocket(3);
  assert.deepEqual(ws3.sent[0], { action: "auth", token: "t3", resume: event(7).id });
  client.close();
});

test("since: the first connection replays from the given time, later ones resume", async () => {
  const { client } = makeClient({ options: { since: 1699999940000 } });
  client.connect();
  const ws1 = await acceptSocket(1);
  assert.deepEqual(ws1.sent[0], { action: "auth", token: "t1", since: 1699999940000 });
  ws1.drop(1006);
  const ws2 = await acceptSocket(2);
  assert.deepEqual(ws2.sent[0], { action: "auth", token: "t2", since: 1699999940000 });
  ws2.push(event(3));
  ws2.drop(1006);
  const ws3 = await acceptSocket(3);
  assert.deepEqual(ws3.sent[0], { action: "auth", token: "t3", resume: event(3).id });
  client.close();
});

test("open says resumed only when a connection continues an earlier one, not on a late join", async () => {
  const { client, log } = makeClient({ options: { since: 1699999940000 } });
  const opens = () => log.filter(([n]) => n === "open").map(([, v]) => v.resumed);
  client.connect();
  const ws1 = await acceptSocket(1);
  assert.deepEqual(opens(), [false]);
  ws1.drop(1006);
  await acceptSocket(2);
  assert.deepEqual(opens(), [false, true]);
  client.close();
});

test("resume_failed: reset callback, and the stale cursor is not used again", async () => {
  let t = 1700000000000;
  const { client, log } = makeClient({ options: { now: () => t, resumeFrom: "agent-events:0:1:1" } });
  client.connect();
  const ws1 = await acceptSocket(1);
  assert.equal(ws1.sent[0].resume, "agent-events:0:1:1");
  t += 5000;
  ws1.push({ type: "resume_failed", payload: { reason: "expired" } });
  assert.deepEqual(log.find(([n]) => n === "reset"), ["reset", { reason: "expired" }]);
  ws1.drop(1001);
  const ws2 = await acceptSocket(2);
  assert.deepEqual(ws2.sent[0], { action: "auth", token: "t2", since: t });
  client.close();
});

for (const code of [4001, 4400]) {
  test(`no reconnect after ${code}`, async () => {
    const { client, log } = makeClient();
    client.connect();
    const ws = await acceptSocket(1);
    ws.drop(code, "why");
    await sleep(30);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(client.state, "closed");
    assert.deepEqual(log.at(-1), ["closed", { code, reason: "why" }]);
  });
}

for (const code of [1001, 1006, 1008, 1013, 4002, 4003, 4408, 4503]) {
  test(`reconnect with backoff after ${code}`, async () => {
    const { client, log } = makeClient();
    client.connect();
    const ws = await acceptSocket(1);
    ws.drop(code, "r");
    const [, info] = log.find(([n]) => n === "reconnecting");
    assert.equal(info.code, code);
    assert.ok(info.delayMs >= 0 && info.delayMs < 2, `delay ${info.delayMs}`);
    await acceptSocket(2);
    assert.equal(client.state, "open");
    client.close();
  });
}

test("backoff grows while connections keep failing, and resets once open", async () => {
  const { client, log } = makeClient({ options: { backoff: { baseMs: 2, maxMs: 1000 }, random: () => 0.999 } });
  client.connect();
  for (let n = 1; n <= 4; n++) {
    await until(() => FakeWebSocket.instances.length === n);
    FakeWebSocket.last.drop(1006);
  }
  const delays = log.filter(([n]) => n === "reconnecting").map(([, v]) => v.delayMs);
  assert.deepEqual(delays, [1, 3, 7, 15]);
  await acceptSocket(5);
  FakeWebSocket.last.drop(1006);
  assert.equal(log.filter(([n]) => n === "reconnecting").at(-1)[1].delayMs, 1);
  client.close();
});

for (const code of [4004, 4401]) {
  test(`a fresh token after ${code}`, async () => {
    const { client } = makeClient();
    client.connect();
    const ws1 = await acceptSocket(1);
    ws1.drop(code, "token: expired");
    const ws2 = await acceptSocket(2);
    assert.equal(ws2.sent[0].token, "t2");
    assert.equal(client.state, "open");
    client.close();
  });

  test(`stop after ${code} when the provider returns the same token`, async () => {
    const { client, log } = makeClient({ tokens: ["same"] });
    client.connect();
    const ws1 = await acceptSocket(1);
    ws1.drop(code, "token: signature");
    await until(() => client.state === "closed");
    await sleep(20);
    assert.equal(FakeWebSocket.instances.length, 1);
    const failed = log.find(([n]) => n === "auth_failed");
    assert.equal(failed[1].code, code);
    assert.match(failed[1].reason, /^token: signature; .*same token again/);
  });
}

test("stop when the provider throws after 4401", async () => {
  let calls = 0;
  const { client, log } = makeClient({
    token: async () => {
      if (calls++ === 0) return "t1";
      throw new Error("session over");
    },
  });
  client.connect();
  const ws1 = await acceptSocket(1);
  ws1.drop(4401, "token: expired");
  await until(() => client.state === "closed");
  const failed = log.find(([n]) => n === "auth_failed")[1];
  assert.equal(failed.code, 4401);
  assert.match(failed.reason, /^token: expired; the token provider failed: session over/);
  assert.equal(FakeWebSocket.instances.length, 1);
});

for (const [given, says] of [[null, "null"], [undefined, "undefined"], ["", "an empty string"]]) {
  test(`a token provider that returns ${says}: auth_failed says so, and no socket opens`, async () => {
    const { client, log } = makeClient({ token: async () => given });
    client.connect();
    await until(() => client.state === "closed");
    const failed = log.find(([n]) => n === "auth_failed")[1];
    assert.equal(failed.reason, `no token: the token provider returned ${says}; sign in, then connect again`);
    assert.equal(FakeWebSocket.instances.length, 0);
  });
}

test("subscribe is sent once open, and again after every reconnect; unsubscribe clears it", async () => {
  const { client } = makeClient();
  client.subscribe("t-1");
  client.connect();
  const ws1 = await acceptSocket(1);
  assert.deepEqual(ws1.sent.slice(1), [{ action: "subscribe", thread_id: "t-1" }]);
  ws1.drop(1006);
  const ws2 = await acceptSocket(2);
  assert.deepEqual(ws2.sent.slice(1), [{ action: "subscribe", thread_id: "t-1" }]);
  client.unsubscribe();
  assert.deepEqual(ws2.sent.at(-1), { action: "unsubscribe" });
  ws2.drop(1006);
  const ws3 = await acceptSocket(3);
  assert.equal(ws3.sent.length, 1);
  client.close();
});

test("nothing but auth is sent before authenticated", async () => {
  const { client } = makeClient();
  client.connect();
  await until(() => FakeWebSocket.instances.length === 1);
  FakeWebSocket.last.accept();
  client.subscribe("t-9");
  assert.equal(FakeWebSocket.last.sent.length, 1);
  FakeWebSocket.last.push({ type: "authenticated", payload: {} });
  assert.deepEqual(FakeWebSocket.last.sent[1], { action: "subscribe", thread_id: "t-9" });
  client.close();
});

test("no authenticated answer in time: try again", async () => {
  const { client, log } = makeClient({ options: { authTimeoutMs: 10 } });
  client.connect();
  await until(() => FakeWebSocket.instances.length === 1);
  FakeWebSocket.last.accept();
  await until(() => FakeWebSocket.instances.length === 2);
  assert.equal(FakeWebSocket.instances[0].closedWith.code, 1000);
  assert.equal(log.find(([n]) => n === "reconnecting")[1].code, 4408);
  client.close();
});

test("a connect that never opens is dropped and tried again", async () => {
  const { client, log } = makeClient({ options: { authTimeoutMs: 10 } });
  client.connect();
  await until(() => FakeWebSocket.instances.length === 1);
  // Never accepted: no open, no close (a worker that died mid-handshake).
  await until(() => FakeWebSocket.instances.length === 2);
  assert.equal(FakeWebSocket.instances[0].closedWith.code, 1000);
  assert.equal(log.find(([n]) => n === "reconnecting")[1].code, 4408);
  client.close();
});

test("typed listeners per critical type; custom types only as events", async () => {
  const { client, events } = makeClient();
  const started = [];
  const closed = [];
  client.on("agent_started", (e) => started.push(e.payload.agent));
  client.on("closed", (c) => closed.push(c));
  client.connect();
  const ws = await acceptSocket(1);
  ws.push(event(1, { type: "agent_started", payload: { agent: "researcher" } }));
  ws.push(event(2, { type: "closed", payload: { anything: true } }));
  assert.deepEqual(started, ["researcher"]);
  assert.deepEqual(closed, []);
  assert.equal(events().length, 2);
  client.close();
});

test("error frames reach server_error; the socket stays open", async () => {
  const { client, log } = makeClient();
  client.connect();
  const ws = await acceptSocket(1);
  ws.push({ type: "error", payload: { code: "bad_request", message: "unknown action" } });
  assert.deepEqual(log.find(([n]) => n === "server_error")[1], { code: "bad_request", message: "unknown action" });
  assert.equal(client.state, "open");
  client.close();
});

test("subscribed to a thread, replayed events of other threads are dropped", async () => {
  const { client, events } = makeClient();
  client.subscribe("t-1");
  client.connect();
  const ws = await acceptSocket(1);
  ws.push(event(1, { thread_id: "t-2" }));
  ws.push(event(2));
  assert.deepEqual(events(), [event(2).id]);
  assert.equal(client.lastEventId, event(2).id);
  client.close();
});

test("renewToken sends a fresh auth message on the live socket", async () => {
  const { client } = makeClient();
  client.connect();
  const ws = await acceptSocket(1);
  await client.renewToken();
  assert.deepEqual(ws.sent.at(-1), { action: "auth", token: "t2" });
  assert.equal(client.state, "open");
  ws.push({ type: "authenticated", payload: { expires_at: 1700001200 } }); // the renewal's answer
  assert.equal(client.state, "open");
  client.close();
});

test("dedupe remembers the last 10k ids by default", async () => {
  const { client, events } = makeClient();
  client.connect();
  const ws = await acceptSocket(1);
  for (let n = 0; n < 10001; n++) ws.push(event(n));
  ws.push(event(10000)); // seen just now: dropped
  ws.push(event(1));     // still among the last 10k: dropped
  ws.push(event(0));     // forgotten: delivered again
  assert.equal(events().length, 10002);
  client.close();
});

test("status frames: degraded delivery and its end reach the app", async () => {
  const { client, log } = makeClient();
  client.connect();
  const ws1 = await acceptSocket(1);
  ws1.push({ type: "status", payload: { state: "degraded", reason: "kafka_unavailable" } });
  ws1.push({ type: "status", payload: { state: "ok" } });
  assert.deepEqual(log.filter(([n]) => n === "status"), [
    ["status", { state: "degraded", reason: "kafka_unavailable" }],
    ["status", { state: "ok", reason: undefined }],
  ]);
  client.close();
});
