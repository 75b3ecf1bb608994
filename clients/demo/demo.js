// The demo page: every agent run of the user as a live timeline, through the bridge client.
import { BridgeClient } from "../js/dist/index.js";

const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get("token");
const wsUrl = params.get("ws") || `${location.protocol === "https:" ? "wss" : "ws"}://${location.hostname || "127.0.0.1"}:8080/ws`;
const thread = params.get("thread");
// The page stays bounded: the last `runs` runs in full (default 5), older ones folded into
// one line each (the last FOLDED_MAX of them), the last SEEN_MAX events kept in `seen`.
const shownRuns = Math.max(1, Number(params.get("runs")) || 5);
const FOLDED_MAX = 50;
const SEEN_MAX = 2000;

const $ = (id) => document.getElementById(id);
const runs = new Map();   // run_id -> {root, list, tools: Map(call_id -> li), texts}, newest last
const folded = new Set(); // run ids folded away: their late events are counted, not drawn
const seen = [];          // the last SEEN_MAX events shown: {id, type, run_id, payload}; read by the browser tests
window.demo = { seen, total: 0, state: "idle", notices: [] };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function short(value) {
  if (value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 160 ? text.slice(0, 157) + "…" : text;
}

function tsMs(ts) {
  return typeof ts === "number" ? ts : Date.parse(ts);
}

function notice(text, kind = "error") {
  const box = $("notice");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
  window.demo.notices.push(text);
  // An error means nothing is coming: do not promise a run under it.
  if (kind === "error" && $("empty")) $("empty").textContent = "Not connected: no agent runs to show.";
}

function setState(state, detail = "") {
  const badge = $("state");
  badge.textContent = detail ? `${state} · ${detail}` : state;
  badge.className = `state state-${state}`;
  badge.dataset.state = state;
  window.demo.state = state;
}

// A run's card, made by its first event. A run whose start is older than what the page was
// sent (the last minute on opening) says so in its title instead of showing a bare id.
function runCard(event) {
  let run = runs.get(event.run_id);
  if (run) return run;
  $("empty")?.remove();
  const startsHere = event.type === "agent_started" || event.type === "RUN_STARTED";
  const root = el("section", "run");
  root.dataset.run = event.run_id;
  const title = el("h2");
  const name = el("span", "agent", startsHere ? "agent run" : "agent run (started before this page)");
  const outcome = el("span", "outcome", "running");
  title.append(name, outcome);
  const meta = el("div", "meta", `run ${event.run_id} · thread ${event.thread_id}`);
  const list = el("ol", "timeline");
  root.append(title, meta, list);
  if (!startsHere) {
    root.classList.add("partial");
    list.append(el("li", "earlier", "its first events came before the page's window (the last minute when it opened)"));
  }
  $("runs").prepend(root);
  run = { root, name, outcome, meta, list, tools: new Map(), texts: new Map() };
  runs.set(event.run_id, run);
  foldOlderRuns();
  return run;
}

// Beyond `shownRuns` cards, the oldest becomes one line under "earlier runs".
function foldOlderRuns() {
  while (runs.size > shownRuns) {
    const [runId, run] = runs.entries().next().value;
    runs.delete(runId);
    folded.add(runId);
    run.root.remove();
    const older = $("older") ?? makeOlder();
    const line = el("li", "", `${run.name.textContent} · ${run.outcome.textContent} · run ${runId}`);
    older.list.prepend(line);
    while (older.list.children.length > FOLDED_MAX) older.list.lastElementChild.remove();
    older.count += 1;
    older.summary.textContent = `${older.count} earlier run${older.count === 1 ? "" : "s"}` +
      (older.count > FOLDED_MAX ? ` (the last ${FOLDED_MAX} listed)` : "");
  }
  while (folded.size > 10 * FOLDED_MAX) folded.delete(folded.values().next().value);
}

function makeOlder() {
  const box = el("details", "older");
  box.id = "older";
  const summary = el("summary");
  const list = el("ul");
  box.append(summary, list);
  $("runs").append(box);
  Object.assign(box, { summary, list, count: 0 });
  return box;
}

function entry(run, event, className, kind, detail) {
  const li = el("li", className);
  li.dataset.id = event.id;
  li.dataset.type = event.type;
  const at = new Date(tsMs(event.ts));
  if (!Number.isNaN(at.getTime())) li.append(el("time", "at", at.toLocaleTimeString([], { hour12: false })));
  li.append(el("span", "kind", kind));
  if (detail) li.append(el("span", "detail", detail));
  run.list.append(li);
  return li;
}

function show(event) {
  window.demo.total += 1;
  $("counts").textContent = `${window.demo.total} events`;
  if (folded.has(event.run_id)) return;  // a late event of a run folded away
  const run = runCard(event);
  const p = event.payload ?? {};
  switch (event.type) {
    case "agent_started":
      run.name.textContent = p.agent ?? "agent run";
      run.meta.textContent = `run ${event.run_id} · thread ${event.thread_id}${p.model ? " · model " + p.model : ""}`;
      entry(run, event, "agent_started", "started", short(p.input));
      break;
    case "agent_thinking": {
      const li = entry(run, event, "agent_thinking", "thinking");
      li.append(el("span", "text", p.text));
      break;
    }
    case "tool_executing": {
      const li = entry(run, event, "tool", `tool ${p.tool}`, short(p.input));
      li.append(el("span", "duration pending", "running…"));
      li.dataset.start = String(tsMs(event.ts));
      run.tools.set(p.call_id ?? p.tool, li);
      break;
    }
    case "tool_completed": {
      const li = run.tools.get(p.call_id ?? p.tool);
      const ms = p.duration_ms ?? (li ? tsMs(event.ts) - Number(li.dataset.start) : undefined);
      const target = li ?? entry(run, event, "tool", `tool ${p.tool}`);
      target.classList.add(p.status === "ok" ? "done" : "failed");
      target.dataset.completedId = event.id;
      const d = target.querySelector(".duration") ?? target.appendChild(el("span", "duration"));
      d.className = "duration";
      d.textContent = `${p.status}${Number.isFinite(ms) ? ` in ${ms} ms` : ""}`;
      if (p.output !== undefined) target.append(el("div", "detail", "→ " + short(p.output)));
      break;
    }
    case "agent_completed":
      run.outcome.textContent = `${p.status}${p.duration_ms !== undefined ? ` · ${p.duration_ms} ms` : ""}`;
      run.outcome.className = `outcome ${p.status}`;
      entry(run, event, "agent_completed", "completed", short(p.output));
      break;
    default:
      if (!showAgUi(run, event, p)) entry(run, event, "custom", event.type, short(p.payload ?? p));
  }
  seen.push({ id: event.id, type: event.type, run_id: event.run_id, payload: p });
  if (seen.length > SEEN_MAX) seen.splice(0, seen.length - SEEN_MAX);
}

// AG-UI events published as they are (envelope type = the AG-UI type, payload = the event):
// streamed text and reasoning grow one entry per message, tool calls join their results.
function showAgUi(run, event, e) {
  const text = (kind, cls) => {
    const li = entry(run, event, cls, kind);
    run.texts.set(e.messageId, li.appendChild(el("span", "text", "")));
  };
  switch (event.type) {
    case "RUN_STARTED":
      entry(run, event, "agent_started", "started", "AG-UI run");
      return true;
    case "TEXT_MESSAGE_START":
      text(e.role ?? "assistant", "ag_ui_text");
      return true;
    case "REASONING_MESSAGE_START":
      text("thinking", "agent_thinking");
      return true;
    case "TEXT_MESSAGE_CONTENT":
    case "REASONING_MESSAGE_CONTENT": {
      const span = run.texts.get(e.messageId);
      if (span) span.textContent += e.delta;
      return true;
    }
    case "TOOL_CALL_START": {
      const li = entry(run, event, "tool", `tool ${e.toolCallName}`);
      li.append(el("span", "detail", ""), el("span", "duration pending", "running…"));
      run.tools.set(e.toolCallId, li);
      return true;
    }
    case "TOOL_CALL_ARGS": {
      const detail = run.tools.get(e.toolCallId)?.querySelector(".detail");
      if (detail) detail.textContent = short(detail.textContent + e.delta);
      return true;
    }
    case "TOOL_CALL_RESULT": {
      const li = run.tools.get(e.toolCallId) ?? entry(run, event, "tool", "tool");
      li.classList.add("done");
      const d = li.querySelector(".duration") ?? li.appendChild(el("span", "duration"));
      d.className = "duration";
      d.textContent = "ok";
      li.append(el("div", "detail", "→ " + short(e.content)));
      return true;
    }
    case "RUN_FINISHED":
    case "RUN_ERROR": {
      const status = event.type === "RUN_ERROR" ? "error" : e.outcome?.type === "cancelled" ? "cancelled" : "ok";
      run.outcome.textContent = status;
      run.outcome.className = `outcome ${status}`;
      entry(run, event, "agent_completed", "completed", short(event.type === "RUN_ERROR" ? e.message : e.result));
      return true;
    }
    case "TEXT_MESSAGE_END":
    case "REASONING_MESSAGE_END":
    case "REASONING_START":
    case "REASONING_END":
    case "TOOL_CALL_END":
      return true;
    default:
      return false;
  }
}

$("endpoint").textContent = wsUrl;
if (!token) {
  setState("closed");
  notice("No token: open the page with #token=<jwt> (scripts/demo.sh prints the URL).");
} else {
  // The last minute of events first: a page opened or reloaded mid-run shows the whole run.
  const client = new BridgeClient({
    url: wsUrl,
    token: () => token,
    since: Date.now() - 60_000,
    backoff: { baseMs: 250, maxMs: 5000 },
  });
  window.demo.client = client;
  client.on("connecting", () => setState("connecting"));
  client.on("open", ({ resumed }) => {
    setState("open", resumed ? "resumed" : "");
    if (!$("notice").classList.contains("error")) $("notice").hidden = true;
  });
  // 1006 is what a browser reports for a worker that went away without a word.
  client.on("reconnecting", ({ delayMs, code, reason }) => {
    const why = code === 1006 ? "connection lost" : `closed ${code}${reason ? " (" + reason + ")" : ""}`;
    setState("reconnecting", `${why}, retry in ${(delayMs / 1000).toFixed(1)} s`);
  });
  client.on("auth_failed", ({ code, reason }) =>
    notice(`Token refused (${code}${reason ? ": " + reason : ""}). Not retrying: reload with a new #token=.`));
  client.on("closed", ({ code, reason }) => {
    setState("closed", code ? String(code) : "");
    if (code === 4001) notice("Closed: this user opened sockets in other tabs, and this one was the oldest. Reload to take it back.");
    if (code === 4400) notice(`The bridge refused this page's request (4400: ${reason}).`);
  });
  client.on("reset", ({ reason }) => {
    notice(`The bridge could not resume (${reason}): earlier events may be missing above.`, "info");
  });
  client.on("server_error", ({ code, message }) => notice(`Bridge: ${code}: ${message}`, "info"));
  client.on("status", ({ state, reason }) => {
    if (state === "degraded") {
      setState("open", "delivery paused");
      notice(`Delivery paused (${reason}): the bridge cannot read Kafka. Nothing is lost; events resume when it is back.`, "info");
    } else {
      setState("open");
      if (!$("notice").classList.contains("error")) $("notice").hidden = true;
    }
  });
  client.on("event", show);
  if (thread) client.subscribe(thread);
  client.connect();
}
