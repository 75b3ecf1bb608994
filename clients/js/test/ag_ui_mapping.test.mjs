// The mapping both ways on the conformance set (schemas/conformance): every valid critical
// case maps to AG-UI events that @ag-ui/core's own schemas accept and back to the same
// event; every valid AG-UI case maps to a critical event where it has a counterpart, and
// back. Without rawEvent, the way back loses exactly what docs/ag-ui.md says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { EventSchemas } from "@ag-ui/core/schemas";
import { AgUiToCritical, CriticalToAgUi, UNNAMED_AGENT, UNNAMED_TOOL, isAgUiType } from "../dist/ag_ui/index.js";
import { CRITICAL_TYPES } from "../dist/index.js";

const conformance = fileURLToPath(new URL("../../../schemas/conformance/", import.meta.url));
const cases = JSON.parse(readFileSync(conformance + "cases.json", "utf8")).cases.filter((c) => c.expect === "valid");

// A valid case as the frame a client receives (the envelope minus user_id, plus an id).
function frameOf(c, n) {
  const env = JSON.parse(readFileSync(conformance + c.file, "utf8"));
  return { type: env.type, payload: env.payload, run_id: env.run_id, thread_id: env.thread_id, ts: env.ts,
           id: `agent-events:0:${n}:1763800000000` };
}

const frames = cases.map(frameOf);
const critical = frames.filter((f) => CRITICAL_TYPES.includes(f.type));
const agUi = frames.filter((f) => isAgUiType(f.type));

// AG-UI events travel in frames of their own type, with the run, thread, ts and id of `like`.
const wrap = (event, like) => ({ ...like, type: event.type, payload: event });

function assertAgUiValid(event, where) {
  const r = EventSchemas.safeParse(event);
  assert.ok(r.success, `${where}: ${event.type} fails @ag-ui/core's schema: ${r.error?.message}`);
}

function roundTrip(frame, raw) {
  const events = new CriticalToAgUi({ raw }).map(frame);
  for (const e of events) assertAgUiValid(e, frame.type);
  const back = new AgUiToCritical();
  const out = events.flatMap((e) => back.map(wrap(e, frame)));
  return { events, out };
}

// What a critical payload keeps through AG-UI fields alone (no rawEvent): docs/ag-ui.md, "losses".
function withoutRaw(f) {
  const p = f.payload;
  const output = (o) => (o === undefined || o === "" ? {} : { output: typeof o === "string" ? o : JSON.stringify(o) });
  switch (f.type) {
    case "agent_started":
      return { agent: UNNAMED_AGENT };
    case "agent_thinking":
      return { text: p.text };
    case "tool_executing":
      return { tool: p.tool, call_id: p.call_id ?? `tool:${f.id}`, ...(p.input !== undefined ? { input: p.input } : {}) };
    case "tool_completed":
      return { tool: UNNAMED_TOOL, call_id: p.call_id ?? `tool:${f.id}`, status: "ok", ...output(p.output) };
    case "agent_completed":
      if (p.status === "error") {
        const message = typeof p.output === "string" && p.output !== "" ? p.output
          : p.output === undefined || p.output === null || p.output === "" ? "the agent failed" : JSON.stringify(p.output);
        return { status: "error", output: message, ...(typeof p.code === "string" ? { code: p.code } : {}) };
      }
      return { status: p.status, ...(p.status === "ok" && p.output !== undefined && p.output !== null ? { output: p.output } : {}) };
  }
}

test("the conformance set has a valid case of each critical type", () => {
  assert.deepEqual([...new Set(critical.map((f) => f.type))].sort(), [...CRITICAL_TYPES].sort());
});

for (const [i, frame] of critical.entries()) {
  const name = cases[frames.indexOf(frame)].file;
  test(`${name}: to AG-UI events @ag-ui/core accepts, and back to the same event`, () => {
    const { events, out } = roundTrip(frame, true);
    assert.ok(events.length > 0);
    assert.deepEqual(out, [frame]);
    // Every mapped event names its frame; ids are derived, so a replayed frame maps the same.
    for (const e of events) assert.deepEqual(e.metadata.agent_bridge, { id: frame.id, type: frame.type });
    assert.deepEqual(new CriticalToAgUi().map(structuredClone(frame)), events);
    void i;
  });

  test(`${name}: without rawEvent, back with the documented losses only`, () => {
    const { out } = roundTrip(frame, false);
    assert.deepEqual(out, [{ ...frame, payload: withoutRaw(frame) }]);
  });
}

// The AG-UI fields a critical event keeps: docs/ag-ui.md, "AG-UI to critical".
function kept(e) {
  switch (e.type) {
    case "RUN_STARTED":
      return { type: e.type, threadId: e.threadId, runId: e.runId };
    case "RUN_FINISHED":
      return { type: e.type, threadId: e.threadId, runId: e.runId, ...(e.result !== undefined ? { result: e.result } : {}),
               ...(e.outcome?.type === "cancelled" ? { outcome: e.outcome } : {}) };
    case "RUN_ERROR":
      return { type: e.type, message: e.message, ...(e.code !== undefined ? { code: e.code } : {}) };
    case "TOOL_CALL_END":
      return { type: e.type, toolCallId: e.toolCallId };
    case "TOOL_CALL_RESULT":
      return { type: e.type, toolCallId: e.toolCallId,
               content: typeof e.content === "string" ? e.content : JSON.stringify(e.content) };
    case "REASONING_MESSAGE_END":
      return { type: e.type };
  }
}

test("every valid AG-UI case passes @ag-ui/core's schema", () => {
  for (const f of agUi) assertAgUiValid(f.payload, f.type);
});

for (const frame of agUi) {
  const name = cases[frames.indexOf(frame)].file;
  test(`${name}: to a critical event where it has one, and back`, () => {
    const out = new AgUiToCritical().map(frame);
    if (kept(frame.payload) === undefined) return assert.deepEqual(out, []); // no counterpart alone
    assert.equal(out.length, 1);
    const [c] = out;
    assert.deepEqual([c.run_id, c.thread_id, c.ts, c.id], [frame.run_id, frame.thread_id, frame.ts, frame.id]);
    const again = new CriticalToAgUi({ raw: false }).map(c);
    for (const e of again) assertAgUiValid(e, frame.type);
    const same = again.find((e) => e.type === frame.type);
    assert.deepEqual(kept(same), kept(frame.payload));
  });
}

test("an AG-UI run maps to the five critical events and back", () => {
  const base = { run_id: "r-9", thread_id: "t-9", ts: 1763800000000 };
  const run = [
    { type: "RUN_STARTED", threadId: "t-9", runId: "r-9" },
    { type: "REASONING_START", messageId: "m1" },
    { type: "REASONING_MESSAGE_START", messageId: "m1", role: "reasoning" },
    { type: "REASONING_MESSAGE_CONTENT", messageId: "m1", delta: "Look it " },
    { type: "REASONING_MESSAGE_CONTENT", messageId: "m1", delta: "up." },
    { type: "REASONING_MESSAGE_END", messageId: "m1" },
    { type: "REASONING_END", messageId: "m1" },
    { type: "TEXT_MESSAGE_START", messageId: "a1", role: "assistant" },
    { type: "TEXT_MESSAGE_CONTENT", messageId: "a1", delta: "Searching" },
    { type: "TEXT_MESSAGE_END", messageId: "a1" },
    { type: "TOOL_CALL_START", toolCallId: "call-1", toolCallName: "web_search", parentMessageId: "a1" },
    { type: "TOOL_CALL_ARGS", toolCallId: "call-1", delta: '{"q":' },
    { type: "TOOL_CALL_ARGS", toolCallId: "call-1", delta: '"kafka"}' },
    { type: "TOOL_CALL_END", toolCallId: "call-1" },
    { type: "TOOL_CALL_RESULT", messageId: "tm1", toolCallId: "call-1", content: "Kafka is a log." },
    { type: "RUN_FINISHED", threadId: "t-9", runId: "r-9", result: { answer: 42 } },
  ];
  for (const e of run) assertAgUiValid(e, "run");
  const back = new AgUiToCritical();
  const out = run.flatMap((e, n) => back.map({ ...base, type: e.type, payload: e, id: `x:0:${n}:1` }));
  assert.deepEqual(out.map((c) => [c.type, c.payload, c.id]), [
    ["agent_started", { agent: UNNAMED_AGENT }, "x:0:0:1"],
    ["agent_thinking", { text: "Look it up." }, "x:0:5:1"],
    ["tool_executing", { tool: "web_search", call_id: "call-1", input: { q: "kafka" } }, "x:0:13:1"],
    ["tool_completed", { tool: "web_search", call_id: "call-1", status: "ok", output: "Kafka is a log." }, "x:0:14:1"],
    ["agent_completed", { status: "ok", output: { answer: 42 } }, "x:0:15:1"],
  ]);
  // And forward again: the tool call and its result keep their ids, name, arguments and content.
  const fwd = new CriticalToAgUi({ raw: false });
  const again = out.flatMap((c) => fwd.map(c));
  const pick = (list, type) => list.filter((e) => e.type === type).map(({ metadata, timestamp, ...e }) => e);
  for (const type of ["TOOL_CALL_START", "TOOL_CALL_END", "TOOL_CALL_RESULT", "RUN_FINISHED"]) {
    const mine = pick(again, type);
    const theirs = pick(run, type).map((e) => (type === "TOOL_CALL_START" ? { ...e, parentMessageId: undefined } : e));
    assert.equal(mine.length, theirs.length, type);
    for (const [k, e] of mine.entries()) {
      for (const key of ["toolCallId", "toolCallName", "content", "result", "runId", "threadId"]) {
        assert.deepEqual(e[key], theirs[k][key], `${type}.${key}`);
      }
    }
  }
  assert.equal(pick(again, "TOOL_CALL_ARGS").map((e) => e.delta).join(""), '{"q":"kafka"}');
});

test("tool calls without call_id: the result answers the oldest open call of its tool in the run", () => {
  const m = new CriticalToAgUi();
  const f = (n, type, payload) => ({ type, payload, run_id: "r", thread_id: "t", ts: 1, id: `a:0:${n}:1` });
  const s1 = m.map(f(1, "tool_executing", { tool: "search" }));
  const s2 = m.map(f(2, "tool_executing", { tool: "search" }));
  const r1 = m.map(f(3, "tool_completed", { tool: "search", status: "ok" }));
  const r2 = m.map(f(4, "tool_completed", { tool: "search", status: "ok" }));
  assert.equal(s1[0].toolCallId, "tool:a:0:1:1");
  assert.equal(s2[0].toolCallId, "tool:a:0:2:1");
  assert.equal(r1[0].toolCallId, "tool:a:0:1:1");
  assert.equal(r2[0].toolCallId, "tool:a:0:2:1");
  assert.equal(s1.length, 2); // no input: START and END, no ARGS
});

test("custom types become CUSTOM, AG-UI frames pass through untouched", () => {
  const m = new CriticalToAgUi();
  const custom = { type: "progress", payload: { pct: 40 }, run_id: "r", thread_id: "t", ts: "2026-11-22T10:00:00.000Z", id: "a:0:1:1" };
  const [c] = m.map(custom);
  assert.deepEqual(c, { type: "CUSTOM", name: "progress", value: { pct: 40 }, timestamp: Date.parse(custom.ts) });
  assertAgUiValid(c, "custom");
  const delta = { type: "TEXT_MESSAGE_CONTENT", messageId: "m", delta: "hi", metadata: { x: 1 } };
  const out = m.map({ ...custom, type: delta.type, payload: delta });
  assert.equal(out.length, 1);
  assert.equal(out[0], delta);
});
