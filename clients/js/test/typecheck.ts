// Compiled by `npm test` (tsc --noEmit): the public types narrow as an app expects.
import { BridgeClient, isCritical } from "../src/index.js";
import type { AgentEvent, ToolCompletedEvent } from "../src/index.js";

const client = new BridgeClient({ url: "ws://x/ws", token: async () => "t" });
client.on("tool_completed", (e: ToolCompletedEvent) => {
  const ms: number | undefined = e.payload.duration_ms;
  const status: "ok" | "error" = e.payload.status;
  void ms, status;
});
client.on("agent_started", (e) => {
  const agent: string = e.payload.agent;
  void agent;
});
client.on("reconnecting", ({ delayMs, code }) => void (delayMs + code));
client.on("event", (e: AgentEvent) => {
  if (isCritical(e) && e.type === "agent_completed") {
    const s: "ok" | "error" | "cancelled" = e.payload.status;
    void s;
  } else {
    const custom: unknown = e.payload;
    void custom;
  }
});
// @ts-expect-error: not a client event
client.on("no_such_event", () => {});
