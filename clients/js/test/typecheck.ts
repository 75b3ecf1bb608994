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

// The AG-UI entry: the agent is an @ag-ui/client AbstractAgent, its subscribers typed by it.
import { AbstractAgent } from "@ag-ui/client";
import type { AgentSubscriber } from "@ag-ui/client";
import { AgUiStream, BridgeAgent, CriticalToAgUi } from "../src/ag_ui/index.js";

const agent: AbstractAgent = new BridgeAgent({ client, threadId: "t-1" });
const subscriber: AgentSubscriber = {
  onTextMessageContentEvent: ({ event, textMessageBuffer }) => void (event.delta.length + textMessageBuffer.length),
  onToolCallResultEvent: ({ event }) => void event.toolCallId,
};
agent.subscribe(subscriber);
void agent.runAgent({ runId: "r-1" });
new AgUiStream(client).run("r-1", ({ event, frame }) => void (event.type + frame.id));
new CriticalToAgUi({ raw: false }).map({ type: "agent_thinking", payload: { text: "x" }, run_id: "r", thread_id: "t", ts: 0, id: "i" });
