import { AbstractAgent } from "@ag-ui/client";
import type { AgentConfig, AgentSubscriber, RunAgentParameters, RunAgentResult } from "@ag-ui/client";
import { EventType } from "@ag-ui/core";
import type { BaseEvent, RunAgentInput } from "@ag-ui/core";
import { Observable } from "rxjs";
import type { BridgeClient } from "../client.js";
import { AgUiStream } from "./run_stream.js";
import type { AgUiStreamOptions } from "./run_stream.js";
import { METADATA_KEY } from "./mapping.js";

export interface BridgeAgentConfig extends AgentConfig {
  /** The bridge connection: a BridgeClient (an AgUiStream is made over it) or an AgUiStream. */
  client: BridgeClient | AgUiStream;
  /** Options of the AgUiStream made over a BridgeClient. */
  stream?: AgUiStreamOptions;
}

/**
 * An AG-UI agent over the bridge. Agents are started elsewhere (the bridge only carries their
 * events), so a run here follows one: `runAgent({ runId })` streams that run's AG-UI events
 * from its start, and `connectAgent()` the thread's run in progress, or the next one to start
 * (every thread's when the agent was made without `threadId`). Both end at RUN_FINISHED or
 * RUN_ERROR. Resume after a reconnect and dedupe by frame id come from the BridgeClient.
 */
export class BridgeAgent extends AbstractAgent {
  readonly stream: AgUiStream;
  private readonly anyThread: boolean;
  private connectedAt: number | undefined;

  constructor(config: BridgeAgentConfig) {
    const { client, stream, ...agentConfig } = config;
    super(agentConfig);
    this.stream = client instanceof AgUiStream ? client : new AgUiStream(client, stream);
    this.anyThread = config.threadId === undefined;
  }

  /** The AG-UI events of run `input.runId`, from its start to its end. */
  run(input: RunAgentInput): Observable<BaseEvent> {
    return new Observable<BaseEvent>((sub) => follow(this.stream, input.runId, sub));
  }

  /** Follows the thread's run in progress when called, or else its next run. */
  connectAgent(parameters?: RunAgentParameters, subscriber?: AgentSubscriber): Promise<RunAgentResult> {
    this.connectedAt = this.stream.position;
    return super.connectAgent(parameters, subscriber);
  }

  /** The AG-UI events of the run connectAgent() chose. */
  protected connect(_input: RunAgentInput): Observable<BaseEvent> {
    const mark = this.connectedAt ?? this.stream.position;
    return new Observable<BaseEvent>((sub) => {
      const runId = this.pickRun(mark);
      if (runId !== undefined) return follow(this.stream, runId, sub);
      let stop: (() => void) | undefined;
      const offAll = this.stream.on((item) => {
        if (stop === undefined && this.onThread(item.frame.thread_id)) stop = follow(this.stream, item.frame.run_id, sub);
      });
      return () => {
        offAll();
        stop?.();
      };
    });
  }

  // The latest run of the thread in progress at `mark`, or else its first run since.
  private pickRun(mark: number): string | undefined {
    let inProgress: string | undefined;
    let since: string | undefined;
    for (const runId of this.stream.runIds) {
      const items = this.stream.items(runId);
      if (items.length === 0 || !this.onThread(items[0].frame.thread_id)) continue;
      const end = items.find((item) => isTerminal(item.event));
      if (items[0].seq < mark && (end === undefined || end.seq >= mark)) inProgress = runId;
      else if (items[0].seq >= mark && since === undefined) since = runId;
    }
    return inProgress ?? since;
  }

  private onThread(threadId: string): boolean {
    return this.anyThread || threadId === this.threadId;
  }

  clone(): BridgeAgent {
    const copy = super.clone() as BridgeAgent;
    (copy as { stream: AgUiStream }).stream = this.stream;
    (copy as unknown as { anyThread: boolean }).anyThread = this.anyThread;
    return copy;
  }
}

// Streams one run into `sub` until its end; returns the teardown.
function follow(stream: AgUiStream, runId: string, sub: { next(e: BaseEvent): void; complete(): void; closed: boolean }): () => void {
  let first = true;
  let off: (() => void) | undefined;
  let done = false;
  off = stream.run(runId, ({ event, frame }) => {
    if (done || sub.closed) return;
    // Joined after its RUN_STARTED (a late join, or a run older than the kept ones): say it started.
    if (first && event.type !== EventType.RUN_STARTED) {
      sub.next({
        type: EventType.RUN_STARTED, threadId: frame.thread_id, runId: frame.run_id,
        metadata: { [METADATA_KEY]: { synthetic: true } },
      } as BaseEvent);
    }
    first = false;
    sub.next(event as BaseEvent);
    if (isTerminal(event)) {
      done = true;
      off?.();
      sub.complete();
    }
  });
  if (done) off();
  return () => off?.();
}

function isTerminal(event: { type: string }): boolean {
  return event.type === EventType.RUN_FINISHED || event.type === EventType.RUN_ERROR;
}
