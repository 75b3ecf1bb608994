// The five critical events and AG-UI 1.0 events, both ways (docs/ag-ui.md has the table and
// what each side loses). Ids are derived from the frame, the run and the call, never random,
// so a frame replayed after a reconnect maps to the same AG-UI ids.
import { EventType } from "@ag-ui/core";
import type { AGUIEvent } from "@ag-ui/core";
import type { AgentEvent, CriticalEvent, CriticalType, EventFrame } from "../types.js";
import { isCritical } from "../types.js";

/** The key of AG-UI's open `metadata` under which mapped events name the frame they came from. */
export const METADATA_KEY = "agent_bridge";

/** What a mapped AG-UI event carries in `metadata.agent_bridge`. */
export interface BridgeMetadata {
  /** The id of the bridge frame the event was mapped from. */
  id: string;
  /** Its critical type. */
  type: CriticalType;
}

/** `agent_started.agent` when the way back has no agent name (an AG-UI producer's RUN_STARTED). */
export const UNNAMED_AGENT = "ag-ui";
/** `tool_completed.tool` when no TOOL_CALL_START named the call. */
export const UNNAMED_TOOL = "unknown";

const AG_UI_TYPES: ReadonlySet<string> = new Set(Object.values(EventType));

/** True for the type strings of AG-UI 1.0 events (RUN_STARTED, TEXT_MESSAGE_CONTENT, ...). */
export function isAgUiType(type: string): boolean {
  return AG_UI_TYPES.has(type);
}

/** A frame whose type is an AG-UI type and whose payload is that AG-UI event, its own `type` the same. */
export function isAgUiFrame(frame: AgentEvent): frame is EventFrame<string, AGUIEvent> {
  const p = frame.payload as { type?: unknown } | null;
  return isAgUiType(frame.type) && typeof p === "object" && p !== null && !Array.isArray(p) && p.type === frame.type;
}

export interface ToAgUiOptions {
  /**
   * Put the critical frame in `rawEvent` of the event that completes each mapped group (the
   * way back then restores the payload exactly). Default true; false keeps events smaller.
   */
  raw?: boolean;
}

/**
 * Critical frames to AG-UI events. Holds a little state per run: tool calls without a
 * `call_id`, so that their tool_completed answers the right call. One instance per stream.
 */
export class CriticalToAgUi {
  private readonly raw: boolean;
  // run id -> tool name -> ids of its open calls that had no call_id, oldest first
  private readonly open = new Map<string, Map<string, string[]>>();

  constructor(opts: ToAgUiOptions = {}) {
    this.raw = opts.raw ?? true;
  }

  /** The AG-UI events of one frame: mapped for critical types, the payload for AG-UI frames, CUSTOM for the rest. */
  map(frame: AgentEvent): AGUIEvent[] {
    if (isAgUiFrame(frame)) return [frame.payload];
    if (!isCritical(frame)) {
      return [{ type: EventType.CUSTOM, name: frame.type, value: frame.payload, ...stamp(frame) } as AGUIEvent];
    }
    return this.mapCritical(frame);
  }

  private mapCritical(f: CriticalEvent): AGUIEvent[] {
    const base = { ...stamp(f), metadata: { [METADATA_KEY]: { id: f.id, type: f.type } } };
    const raw = this.raw ? { rawEvent: f } : {};
    switch (f.type) {
      case "agent_started":
        return [ev({ type: EventType.RUN_STARTED, threadId: f.thread_id, runId: f.run_id, ...base, ...raw })];
      case "agent_thinking": {
        const messageId = `reasoning:${f.id}`;
        return [
          ev({ type: EventType.REASONING_START, messageId, ...base }),
          ev({ type: EventType.REASONING_MESSAGE_START, messageId, role: "reasoning", ...base }),
          ev({ type: EventType.REASONING_MESSAGE_CONTENT, messageId, delta: f.payload.text, ...base }),
          ev({ type: EventType.REASONING_MESSAGE_END, messageId, ...base, ...raw }),
          ev({ type: EventType.REASONING_END, messageId, ...base }),
        ];
      }
      case "tool_executing": {
        const { tool, call_id, input } = f.payload;
        const toolCallId = call_id ?? this.openCall(f.run_id, tool, `tool:${f.id}`);
        const out = [ev({ type: EventType.TOOL_CALL_START, toolCallId, toolCallName: tool, ...base })];
        if (input !== undefined) out.push(ev({ type: EventType.TOOL_CALL_ARGS, toolCallId, delta: JSON.stringify(input), ...base }));
        out.push(ev({ type: EventType.TOOL_CALL_END, toolCallId, ...base, ...raw }));
        return out;
      }
      case "tool_completed": {
        const { tool, call_id, output } = f.payload;
        const toolCallId = call_id ?? this.closeCall(f.run_id, tool) ?? `tool:${f.id}`;
        return [ev({
          type: EventType.TOOL_CALL_RESULT, messageId: `result:${f.id}`, toolCallId, content: contentOf(output),
          role: "tool", ...base, ...raw,
        })];
      }
      case "agent_completed": {
        this.open.delete(f.run_id);
        const { status, output } = f.payload;
        if (status === "error") {
          const code = f.payload.code;
          return [ev({
            type: EventType.RUN_ERROR, message: errorMessage(output), ...(typeof code === "string" ? { code } : {}),
            ...base, ...raw,
          })];
        }
        const result = status === "ok" && output !== undefined && output !== null ? { result: output } : {};
        const outcome = status === "cancelled" ? { outcome: { type: "cancelled" as const } } : {};
        return [ev({ type: EventType.RUN_FINISHED, threadId: f.thread_id, runId: f.run_id, ...result, ...outcome, ...base, ...raw })];
      }
    }
  }

  // A call without call_id gets `id`; remembered so its tool_completed finds it.
  private openCall(runId: string, tool: string, id: string): string {
    let tools = this.open.get(runId);
    if (!tools) {
      if (this.open.size >= 1000) this.open.delete(this.open.keys().next().value as string); // runs never completed
      this.open.set(runId, (tools = new Map()));
    }
    const ids = tools.get(tool) ?? [];
    ids.push(id);
    tools.set(tool, ids);
    return id;
  }

  private closeCall(runId: string, tool: string): string | undefined {
    return this.open.get(runId)?.get(tool)?.shift();
  }
}

/**
 * AG-UI frames to critical frames. Holds the state of open tool calls and reasoning messages,
 * whose critical event is complete only at their end. One instance per stream.
 */
export class AgUiToCritical {
  // toolCallId -> name and argument text so far; kept after END so that its result finds the name
  private readonly calls = new Map<string, { name: string; args: string }>();
  // messageId -> reasoning text so far
  private readonly reasoning = new Map<string, string>();

  /** The critical frames one AG-UI frame completes: none, or one, with the frame's id, run, thread and ts. */
  map(frame: EventFrame<string, AGUIEvent>): CriticalEvent[] {
    const e = frame.payload;
    const restored = restore(e);
    const out = (type: CriticalType, payload: Record<string, unknown>): CriticalEvent[] => [{
      type, payload: restored && restored.type === type ? restored.payload : payload,
      run_id: frame.run_id, thread_id: frame.thread_id, ts: frame.ts, id: frame.id,
    } as CriticalEvent];
    switch (e.type) {
      case EventType.RUN_STARTED:
        return out("agent_started", { agent: UNNAMED_AGENT, ...(e.input !== undefined ? { input: e.input } : {}) });
      case EventType.REASONING_MESSAGE_START:
        this.remember(this.reasoning, e.messageId, "");
        return [];
      case EventType.REASONING_MESSAGE_CONTENT:
        this.reasoning.set(e.messageId, (this.reasoning.get(e.messageId) ?? "") + e.delta);
        return [];
      case EventType.REASONING_MESSAGE_END: {
        const text = this.reasoning.get(e.messageId) ?? "";
        this.reasoning.delete(e.messageId);
        return out("agent_thinking", { text });
      }
      case EventType.TOOL_CALL_START:
        this.remember(this.calls, e.toolCallId, { name: e.toolCallName, args: "" });
        return [];
      case EventType.TOOL_CALL_ARGS: {
        const call = this.calls.get(e.toolCallId);
        if (call) call.args += e.delta;
        return [];
      }
      case EventType.TOOL_CALL_END: {
        const call = this.calls.get(e.toolCallId);
        const input = call && call.args !== "" ? { input: parseArgs(call.args) } : {};
        return out("tool_executing", { tool: call?.name || UNNAMED_TOOL, call_id: e.toolCallId, ...input });
      }
      case EventType.TOOL_CALL_RESULT: {
        const name = this.calls.get(e.toolCallId)?.name;
        this.calls.delete(e.toolCallId);
        const output = e.content === "" ? {} : { output: e.content };
        return out("tool_completed", { tool: name || UNNAMED_TOOL, call_id: e.toolCallId, status: "ok", ...output });
      }
      case EventType.RUN_FINISHED: {
        const status = e.outcome?.type === "cancelled" ? "cancelled" : "ok";
        return out("agent_completed", { status, ...(e.result !== undefined ? { output: e.result } : {}) });
      }
      case EventType.RUN_ERROR:
        return out("agent_completed", { status: "error", output: e.message, ...(e.code !== undefined ? { code: e.code } : {}) });
      default:
        return []; // no critical counterpart (text messages, steps, state, custom, ...)
    }
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= 10000) map.delete(map.keys().next().value as string);
    map.set(key, value);
  }
}

/** The critical frame in `rawEvent`, put there by CriticalToAgUi, if it is one. */
function restore(e: AGUIEvent): CriticalEvent | undefined {
  const raw = (e as { rawEvent?: unknown }).rawEvent as AgentEvent | undefined;
  if (typeof raw !== "object" || raw === null || typeof raw.type !== "string") return undefined;
  if (typeof raw.payload !== "object" || raw.payload === null) return undefined;
  return isCritical(raw) ? raw : undefined;
}

// The frame's time as AG-UI's integer milliseconds, when it reads as one.
function stamp(f: AgentEvent): { timestamp?: number } {
  const ms = typeof f.ts === "number" ? f.ts : Date.parse(f.ts);
  return Number.isSafeInteger(ms) ? { timestamp: ms } : Number.isFinite(ms) ? { timestamp: Math.round(ms) } : {};
}

function contentOf(output: unknown): string {
  if (output === undefined) return "";
  return typeof output === "string" ? output : JSON.stringify(output);
}

function errorMessage(output: unknown): string {
  if (typeof output === "string" && output !== "") return output;
  return output === undefined || output === null || output === "" ? "the agent failed" : JSON.stringify(output);
}

function parseArgs(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args; // not JSON: the argument text as is
  }
}

function ev(e: Record<string, unknown>): AGUIEvent {
  return e as unknown as AGUIEvent;
}
