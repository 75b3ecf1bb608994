// The AG-UI test page (ag_ui.html): the frontend of docs/ag-ui.md (imported as "docs-frontend",
// bundled from the doc by test_ag_ui.py) on a real bridge, plus what the test reads: every AG-UI
// event of the agent's stream, in arrival order, checked against @ag-ui/core's own schemas.
import { EventSchemas } from "@ag-ui/core/schemas";
import { connectAgent, showRun } from "docs-frontend";

const ws = new URLSearchParams(location.search).get("ws");
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const agent = connectAgent(ws, () => token);
const page = { state: "idle", events: [], runs: {} };
window.agui = page;

agent.stream.client.on("state", (s) => {
  page.state = s;
  document.getElementById("state").textContent = s;
});
agent.stream.on(({ event, frame, seq }) => {
  const check = EventSchemas.safeParse(event);
  page.events.push({
    seq, type: event.type, run: frame.run_id, frame: frame.id, frameType: frame.type, ts: frame.ts,
    at: Date.now(), valid: check.success, error: check.success ? undefined : check.error.message,
    delta: event.delta, toolCallId: event.toolCallId, messageId: event.messageId,
  });
});

// Follows a run with the documented frontend; the test reads page.runs[runId].
page.show = (runId) => {
  const card = document.body.appendChild(document.createElement("section"));
  card.appendChild(document.createElement("h2")).textContent = runId;
  const run = (page.runs[runId] = { done: false });
  showRun(agent, runId, card).then(
    (result) => Object.assign(run, { done: true, result, messages: agent.messages }),
    (err) => Object.assign(run, { done: true, error: String(err) }),
  );
};
