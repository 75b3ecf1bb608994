import type { AGUIEvent } from "@ag-ui/core";
import type { BridgeClient } from "../client.js";
import type { AgentEvent } from "../types.js";
import { CriticalToAgUi } from "./mapping.js";
import type { ToAgUiOptions } from "./mapping.js";

/** One AG-UI event and the frame it came from (the frame's run, thread and id). */
export interface AgUiItem {
  event: AGUIEvent;
  frame: AgentEvent;
  /** Its place in the stream: 0, 1, 2, ... */
  seq: number;
}

export type AgUiListener = (item: AgUiItem) => void;

export interface AgUiStreamOptions extends ToAgUiOptions {
  /** How many runs to keep the events of, for listeners that come later (default 100; oldest dropped). */
  maxRuns?: number;
  /** How many events to keep per run (default 10000; a run past it keeps its first ones). */
  maxEventsPerRun?: number;
}

/**
 * The AG-UI view of a BridgeClient: every frame it delivers (once, in order, across
 * reconnects) becomes AG-UI events, mapped from critical events or passed through when the
 * frame already is AG-UI, kept per run so that a listener of a run gets it from its start.
 */
export class AgUiStream {
  private readonly mapper: CriticalToAgUi;
  private readonly maxRuns: number;
  private readonly maxEvents: number;
  private readonly runs = new Map<string, AgUiItem[]>();
  private readonly listeners = new Set<AgUiListener>();
  private readonly runListeners = new Map<string, Set<AgUiListener>>();
  private readonly off: () => void;
  private next = 0;

  constructor(readonly client: BridgeClient, opts: AgUiStreamOptions = {}) {
    this.mapper = new CriticalToAgUi(opts);
    this.maxRuns = opts.maxRuns ?? 100;
    this.maxEvents = opts.maxEventsPerRun ?? 10000;
    this.off = client.on("event", (frame) => this.add(frame));
  }

  /** Every AG-UI event from now on, of every run. Returns a function that unsubscribes. */
  on(listener: AgUiListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A run's events kept so far, then its events as they come. Returns a function that unsubscribes. */
  run(runId: string, listener: AgUiListener): () => void {
    for (const item of this.runs.get(runId) ?? []) listener(item);
    let set = this.runListeners.get(runId);
    if (!set) this.runListeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0 && this.runListeners.get(runId) === set) this.runListeners.delete(runId);
    };
  }

  /** The AG-UI events kept of a run. */
  events(runId: string): AGUIEvent[] {
    return (this.runs.get(runId) ?? []).map((item) => item.event);
  }

  /** The items kept of a run. */
  items(runId: string): readonly AgUiItem[] {
    return this.runs.get(runId) ?? [];
  }

  /** The seq the next event will get. */
  get position(): number {
    return this.next;
  }

  /** The ids of the runs kept, oldest first. */
  get runIds(): string[] {
    return [...this.runs.keys()];
  }

  /** Stops listening to the client (the client stays open). */
  close(): void {
    this.off();
  }

  private add(frame: AgentEvent): void {
    let kept = this.runs.get(frame.run_id);
    if (!kept) {
      if (this.runs.size >= this.maxRuns) this.runs.delete(this.runs.keys().next().value as string);
      this.runs.set(frame.run_id, (kept = []));
    }
    for (const event of this.mapper.map(frame)) {
      const item = { event, frame, seq: this.next++ };
      if (kept.length < this.maxEvents) kept.push(item);
      for (const fn of [...this.listeners, ...(this.runListeners.get(frame.run_id) ?? [])]) {
        try {
          fn(item);
        } catch (err) {
          setTimeout(() => { throw err; }); // a listener's bug must not stop the others
        }
      }
    }
  }
}
