// Frames as docs/protocol.md defines them; payload types follow schemas/json/*.schema.json.
// Fields not listed in a schema are allowed and passed on, hence the index signatures.

export interface AgentStartedPayload {
  agent: string;
  model?: string;
  input?: unknown;
  [field: string]: unknown;
}

export interface AgentThinkingPayload {
  text: string;
  step?: number;
  [field: string]: unknown;
}

export interface ToolExecutingPayload {
  tool: string;
  call_id?: string;
  input?: unknown;
  [field: string]: unknown;
}

export interface ToolCompletedPayload {
  tool: string;
  status: "ok" | "error";
  call_id?: string;
  output?: unknown;
  duration_ms?: number;
  [field: string]: unknown;
}

export interface AgentCompletedPayload {
  status: "ok" | "error" | "cancelled";
  output?: unknown;
  duration_ms?: number;
  [field: string]: unknown;
}

/** Payload type of each critical event type. */
export interface CriticalPayloads {
  agent_started: AgentStartedPayload;
  agent_thinking: AgentThinkingPayload;
  tool_executing: ToolExecutingPayload;
  tool_completed: ToolCompletedPayload;
  agent_completed: AgentCompletedPayload;
}

export type CriticalType = keyof CriticalPayloads;

export const CRITICAL_TYPES: readonly CriticalType[] = [
  "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed",
];

/** One event frame: `{type, payload, run_id, thread_id, ts, id}`. `id` is the resume cursor. */
export interface EventFrame<T extends string = string, P = unknown> {
  type: T;
  payload: P;
  run_id: string;
  thread_id: string;
  /** The producer's time: RFC 3339 text or milliseconds since the epoch. */
  ts: string | number;
  /** Names the record; opaque. */
  id: string;
}

export type AgentStartedEvent = EventFrame<"agent_started", AgentStartedPayload>;
export type AgentThinkingEvent = EventFrame<"agent_thinking", AgentThinkingPayload>;
export type ToolExecutingEvent = EventFrame<"tool_executing", ToolExecutingPayload>;
export type ToolCompletedEvent = EventFrame<"tool_completed", ToolCompletedPayload>;
export type AgentCompletedEvent = EventFrame<"agent_completed", AgentCompletedPayload>;

export type CriticalEvent =
  | AgentStartedEvent
  | AgentThinkingEvent
  | ToolExecutingEvent
  | ToolCompletedEvent
  | AgentCompletedEvent;

/** A custom event type: its payload is any object, unchecked here. */
export type CustomEvent = EventFrame<string, unknown>;

export type AgentEvent = CriticalEvent | CustomEvent;

/** True for the five types whose payloads have schemas; narrows the frame. */
export function isCritical(event: AgentEvent): event is CriticalEvent {
  return (CRITICAL_TYPES as readonly string[]).includes(event.type);
}
