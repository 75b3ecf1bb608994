// BridgeAgent (an @ag-ui/client AbstractAgent) over a BridgeClient on the fake socket: runs
// followed from their start through @ag-ui/client's own event checks, AG-UI frames passed
// through, a reconnect mid-run without a duplicate or a gap.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { EventSchemas } from "@ag-ui/core/schemas";
import { BridgeClient } from "../dist/index.js";
import { AgUiStream, BridgeAgent } from "../dist/ag_ui/index.js";
import { FakeWebSocket, acceptSocket } from "./fake_websocket.mjs";

beforeEach(() => FakeWebSocket.reset());

function makeClient() {
  const client = new BridgeClient({
    url: "ws://bridge.test/ws", WebSocket: FakeWebSocket, token: async () => "t",
    backoff: { baseMs: 2, maxMs: 4 }, now: () => 1700000000000,
  });
  client.connect();
  return client;
}

let offset = 0;
const frame = (type, payload, run = "r-1", thread = "t-1") =>
  ({ type, payload, run_id: run, thread_id: thread, ts: 1763800000000 + offset, id: `agent-events:0:${offset++}:1763800000000` });

function criticalRun(run, thread = "t-1") {
  return [
    frame("agent_started", { agent: "research-assistant", model: "demo" }, run, thread),
    frame("agent_thinking", { text: "I should look this up.", step: 1 }, run, thread),
    frame("tool_executing", { tool: "web_search", call_id: `${run}-c1`, input: { q: "kafka" } }, run, thread),
    frame("tool_completed", { tool: "web_search", call_id: `${run}-c1`, status: "ok", output: ["a log"], duration_ms: 12 }, run, thread),
    frame("agent_completed", { status: "ok", output: "Kafka is a distributed event log.", duration_ms: 40 }, run, thread),
  ];
}

// Records what an AG-UI frontend sees through the subscriber API.
function recorder() {
  const seen = [];
  return {
    seen,
    subscriber: {
      onEvent: ({ event }) => void seen.push(event),
      onRunFailed: ({ error }) => void seen.push({ failed: error.message }),
    },
  };
}

test("runAgent follows a run of critical events, checked by @ag-ui/client, into messages and a result", async () => {
  const client = makeClient();
  const ws = await acceptSocket(1);
  const agent = new BridgeAgent({ client, threadId: "t-1" });
  const { seen, subscriber } = recorder();
  agent.subscribe(subscriber);
  const done = agent.runAgent({ runId: "r-1" });
  for (const f of criticalRun("r-1")) ws.push(f);
  const { result, newMessages } = await done;
  assert.equal(result, "Kafka is a distributed event log.");
  assert.deepEqual(seen.map((e) => e.type), [
    "RUN_STARTED", "REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_END",
    "REASONING_END", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT", "RUN_FINISHED",
  ]);
  for (const e of seen) assert.ok(EventSchemas.safeParse(e).success, e.type);
  const call = newMessages.find((m) => m.role === "assistant" && m.toolCalls)?.toolCalls[0];
  assert.equal(call.id, "r-1-c1");
  assert.equal(call.function.name, "web_search");
  assert.deepEqual(JSON.parse(call.function.arguments), { q: "kafka" });
  assert.equal(newMessages.find((m) => m.role === "tool").content, '["a log"]');
  assert.equal(newMessages.find((m) => m.role === "reasoning").content, "I should look this up.");
  client.close();
});

test("a run that started before runAgent is followed from its start", async () => {
  const client = makeClient();
  const ws = await acceptSocket(1);
  const agent = new BridgeAgent({ client });
  const run = criticalRun("r-2");
  for (const f of run.slice(0, 3)) ws.push(f);
  const { seen, subscriber } = recorder();
  const done = agent.runAgent({ runId: "r-2" }, subscriber);
  for (const f of run.slice(3)) ws.push(f);
  await done;
  assert.equal(seen[0].type, "RUN_STARTED");
  assert.equal(seen.at(-1).type, "RUN_FINISHED");
  assert.equal(seen.length, 11);
  client.close();
});

test("AG-UI frames pass through: streamed text becomes one assistant message", async () => {
  const client = makeClient();
  const ws = await acceptSocket(1);
  const agent = new BridgeAgent({ client, threadId: "t-1" });
  const done = agent.connectAgent();
  const ag = (e) => frame(e.type, e, "r-3");
  ws.push(ag({ type: "RUN_STARTED", threadId: "t-1", runId: "r-3" }));
  ws.push(ag({ type: "TEXT_MESSAGE_START", messageId: "m1", role: "assistant" }));
  for (const word of ["Kafka ", "is ", "a ", "log."]) ws.push(ag({ type: "TEXT_MESSAGE_CONTENT", messageId: "m1", delta: word }));
  ws.push(ag({ type: "TEXT_MESSAGE_END", messageId: "m1" }));
  ws.push(ag({ type: "RUN_FINISHED", threadId: "t-1", runId: "r-3" }));
  const { newMessages } = await done;
  assert.deepEqual(newMessages.map((m) => [m.id, m.role, m.content]), [["m1", "assistant", "Kafka is a log."]]);
  client.close();
});

test("a reconnect mid-run: resumed from the last id, replayed frames not seen twice", async () => {
  const client = makeClient();
  const ws1 = await acceptSocket(1);
  const agent = new BridgeAgent({ client, threadId: "t-1" });
  const { seen, subscriber } = recorder();
  const done = agent.runAgent({ runId: "r-4" }, subscriber);
  const run = criticalRun("r-4");
  for (const f of run.slice(0, 2)) ws1.push(f);
  ws1.drop(1006);
  const ws2 = await acceptSocket(2);
  assert.equal(ws2.sent[0].resume, run[1].id);
  // The replay overlaps what was delivered (the bridge may send a record again after a reconnect).
  for (const f of run) ws2.push(f);
  ws2.push({ type: "resumed", payload: {} });
  await done;
  assert.equal(seen.length, 11);
  assert.equal(new Set(seen.map((e) => JSON.stringify(e))).size, 11);
  client.close();
});

test("connectAgent takes the thread's run in progress, not a finished one or another thread's", async () => {
  const client = makeClient();
  const ws = await acceptSocket(1);
  const stream = new AgUiStream(client);
  for (const f of criticalRun("r-5")) ws.push(f); // finished
  const other = criticalRun("r-6", "t-other");
  ws.push(other[0]);
  const mine = criticalRun("r-7");
  ws.push(mine[0]);
  ws.push(mine[1]);
  const agent = new BridgeAgent({ client: stream, threadId: "t-1" });
  const { seen, subscriber } = recorder();
  const done = agent.connectAgent({}, subscriber);
  for (const f of mine.slice(2)) ws.push(f);
  await done;
  assert.equal(seen[0].runId, "r-7");
  assert.equal(seen.length, 11);
  assert.deepEqual(stream.runIds, ["r-5", "r-6", "r-7"]);
  client.close();
});

test("a run joined after its start gets a RUN_STARTED that says it is synthetic", async () => {
  const client = makeClient();
  const ws = await acceptSocket(1);
  const agent = new BridgeAgent({ client });
  const { seen, subscriber } = recorder();
  const done = agent.runAgent({ runId: "r-8" }, subscriber);
  for (const f of criticalRun("r-8").slice(1)) ws.push(f);
  await done;
  assert.deepEqual(seen[0].metadata, { agent_bridge: { synthetic: true } });
  assert.equal(seen.length, 11);
  client.close();
});
