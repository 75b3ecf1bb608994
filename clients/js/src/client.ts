import { backoffDelay, BackoffOptions } from "./backoff.js";
import { closeAction } from "./close_policy.js";
import { RecentIds } from "./recent_ids.js";
import { isCritical } from "./types.js";
import type { AgentEvent, CriticalPayloads, EventFrame } from "./types.js";

/** The part of the WebSocket interface the client uses: browsers', Node 22's and the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/**
 * Returns a token for the next connection; called for each one, and again after 4004/4401.
 * No token (null, undefined, "") stops the client with `auth_failed` and says so: nothing is sent.
 */
export type TokenProvider = () => string | null | undefined | Promise<string | null | undefined>;

export interface BridgeClientOptions {
  /** The bridge's socket URL, e.g. `wss://bridge.example/ws`. */
  url: string;
  token: TokenProvider;
  /**
   * How the token travels. `"message"` (default, for browsers): the first message after the
   * upgrade, `{"action":"auth",...}`, so it stays out of URLs. `"query"`: `?access_token=`
   * with `resume`/`since` in the URL too, for non-browser clients of workers without message auth.
   */
  auth?: "message" | "query";
  /** WebSocket class: default `globalThis.WebSocket` (browsers, Node 22+); in Node 18/20 pass `ws`. */
  WebSocket?: WebSocketConstructor;
  backoff?: BackoffOptions;
  /** How many recent event ids to remember for deduplication (default 10000). */
  dedupeSize?: number;
  /** Resume after this id on the first connection (e.g. kept from an earlier page). */
  resumeFrom?: string;
  /**
   * Without `resumeFrom`: on the first connection, replay the user's events produced since
   * this time, ms since the epoch (e.g. `Date.now() - 60_000` to show runs in progress when
   * a page opens or reloads). Default: only events from the first connection on.
   */
  since?: number;
  /** How long a connection may take to be ready (open, upgraded, `authenticated`) before trying again, ms (default 10000). */
  authTimeoutMs?: number;
  /** Random source in [0, 1) for the jitter; tests pass their own. */
  random?: () => number;
  /** Clock, ms since the epoch; tests pass their own. */
  now?: () => number;
}

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Listener arguments of each client event. */
export interface ClientEvents extends EventsOfCriticalTypes {
  /** Every event frame, once, in arrival order (critical and custom types). */
  event: AgentEvent;
  connecting: { attempt: number };
  open: { resumed: boolean };
  reconnecting: { delayMs: number; attempt: number; code: number; reason: string };
  /** Final: the client stopped and will not reconnect. */
  closed: { code: number; reason: string };
  /** The token was refused and no fresh one came; the client stopped. */
  auth_failed: { code: number; reason: string };
  /** Delivery degraded (the worker cannot read Kafka; nothing is lost), or back to ok. */
  status: { state: "ok" | "degraded"; reason?: string };
  /** The bridge could not resume (`resume_failed`): reload the app's state; live events follow. */
  reset: { reason: string };
  /** A replay from the resume cursor finished (`resumed`). */
  resumed: Record<string, never>;
  /** An `error` frame (e.g. `bad_request`); the socket stays open. */
  server_error: { code: string; message: string };
  state: ConnectionState;
}

type EventsOfCriticalTypes = { [T in keyof CriticalPayloads]: EventFrame<T, CriticalPayloads[T]> };

type Listener<T> = (value: T) => void;

// A token the bridge refused (4004, 4401), with the close that said so.
interface Refusal {
  code: number;
  reason: string;
  token: string | undefined;
}

const OPEN = 1;

/**
 * One logical connection to the bridge: authenticates, resumes from the last event id after
 * every reconnect, drops duplicates, and reconnects with exponential backoff and full jitter
 * unless the close code says not to.
 */
export class BridgeClient {
  private readonly opts: BridgeClientOptions;
  private readonly seen: RecentIds;
  private readonly listeners = new Map<string, Set<Listener<any>>>();
  private readonly random: () => number;
  private readonly now: () => number;
  private ws: WebSocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private authTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private lastId: string | undefined;
  private sinceMs: number | undefined;
  private token: string | undefined;
  private threadId: string | undefined;
  private stopped = false;
  private connections = 0;
  private current: ConnectionState = "idle";

  constructor(opts: BridgeClientOptions) {
    this.opts = opts;
    this.seen = new RecentIds(opts.dedupeSize ?? 10000);
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.lastId = opts.resumeFrom;
  }

  /** Subscribes to a client event; returns a function that unsubscribes. */
  on<K extends keyof ClientEvents>(name: K, fn: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The id of the last event delivered: the resume cursor. */
  get lastEventId(): string | undefined {
    return this.lastId;
  }

  /** Opens the connection (once). */
  connect(): void {
    if (this.connections > 0 || this.stopped) return;
    void this.open(undefined);
  }

  /** Only events of this thread from now on; kept and sent again after every reconnect. */
  subscribe(threadId: string): void {
    this.threadId = threadId;
    this.sendIfOpen({ action: "subscribe", thread_id: threadId });
  }

  /** All the user's events again. */
  unsubscribe(): void {
    this.threadId = undefined;
    this.sendIfOpen({ action: "unsubscribe" });
  }

  /** Renews the token on the live socket without reconnecting (message auth only). */
  async renewToken(): Promise<void> {
    const token = await this.opts.token();
    if (typeof token !== "string" || token === "") throw new Error("no token: the token provider returned " + String(token));
    this.token = token;
    this.sendIfOpen({ action: "auth", token });
  }

  /** Closes the socket and stops reconnecting. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      detach(ws);
      ws.close(1000, "client closed");
    }
    this.finish("closed", { code: 1000, reason: "client closed" });
  }

  // Opens one socket. `refused` is set after 4004/4401: the new token must differ from its token.
  private async open(refused: Refusal | undefined): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    this.setState("connecting");
    this.emit("connecting", { attempt: this.attempt });
    if (this.sinceMs === undefined) this.sinceMs = this.opts.since ?? this.now();
    let token: string | null | undefined;
    try {
      token = await this.opts.token();
    } catch (err) {
      const why = "the token provider failed: " + describe(err);
      return this.failAuth(refused?.code ?? 0, refused ? `${refused.reason}; ${why}` : why);
    }
    if (this.stopped) return;
    if (typeof token !== "string" || token === "") {
      const got = token === "" ? "an empty string" : String(token);
      return this.failAuth(refused?.code ?? 0, `no token: the token provider returned ${got}; sign in, then connect again`);
    }
    if (refused !== undefined && token === refused.token) {
      return this.failAuth(refused.code, `${refused.reason}; the token provider gave the same token again`);
    }
    this.token = token;
    const first = this.connections++ === 0;
    // Resume from the last event; before the first event, from the time of the first connect.
    const cursor: { resume?: string; since?: number } = {};
    if (this.lastId !== undefined) cursor.resume = this.lastId;
    else if (!first || this.opts.since !== undefined) cursor.since = this.sinceMs;

    const Ctor = this.opts.WebSocket ?? (globalThis as any).WebSocket;
    if (!Ctor) throw new Error("no WebSocket: pass options.WebSocket (e.g. the ws package)");
    let ws: WebSocketLike;
    try {
      ws = new Ctor(this.opts.auth === "query" ? withQuery(this.opts.url, token, cursor) : this.opts.url);
    } catch (err) {
      return this.retry(1006, "cannot open: " + describe(err));
    }
    this.ws = ws;
    // `open`'s `resumed`: this connection continues an earlier one (a reconnect, or `resumeFrom`);
    // a first connection with `since` only joins late.
    const continues = cursor.resume !== undefined || !first;
    // From here to `authenticated` (or to open, with the token in the URL): a connect that
    // never completes, e.g. to a worker that died mid-handshake, is dropped and retried too.
    this.authTimer = setTimeout(() => {
      this.authTimer = null;
      if (this.ws === ws) this.dropSocket(ws, 4408, "no authenticated answer");
    }, this.opts.authTimeoutMs ?? 10000);
    ws.onopen = () => {
      if (this.opts.auth !== "query") return ws.send(JSON.stringify({ action: "auth", token, ...cursor }));
      if (this.authTimer !== null) clearTimeout(this.authTimer);
      this.authTimer = null;
      this.opened(continues);
    };
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.handleFrame(String(ev.data), continues);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.handleClose(ev.code, ev.reason ?? "");
    };
    ws.onerror = () => {}; // onclose follows with the code
  }

  private opened(resuming: boolean): void {
    this.attempt = 0;
    this.setState("open");
    if (this.threadId !== undefined) this.sendIfOpen({ action: "subscribe", thread_id: this.threadId });
    this.emit("open", { resumed: resuming });
  }

  private handleFrame(text: string, resuming: boolean): void {
    let frame: any;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== "object" || typeof frame.type !== "string") return;
    if (typeof frame.id === "string") return this.handleEvent(frame as AgentEvent);
    const payload = frame.payload ?? {};
    switch (frame.type) {
      case "authenticated":
        if (this.authTimer !== null) {
          clearTimeout(this.authTimer);
          this.authTimer = null;
          this.opened(resuming);
        }
        return;
      case "resumed":
        return this.emit("resumed", {});
      case "resume_failed":
        // The cursor is useless now: later reconnects start from the time of this reset.
        this.lastId = undefined;
        this.sinceMs = this.now();
        return this.emit("reset", { reason: String(payload.reason ?? "") });
      case "error":
        return this.emit("server_error", { code: String(payload.code ?? ""), message: String(payload.message ?? "") });
      case "status":
        // The worker cannot read Kafka: the socket stays, nothing is lost, events resume after.
        return this.emit("status", {
          state: payload.state === "degraded" ? "degraded" : "ok",
          reason: payload.reason === undefined ? undefined : String(payload.reason),
        });
      default:
        return; // subscribed, unsubscribed, resume_truncated (a 4002 close follows)
    }
  }

  private handleEvent(event: AgentEvent): void {
    if (!this.seen.add(event.id)) return;
    this.lastId = event.id;
    // Replays are not narrowed by the subscription: keep to the thread asked for.
    if (this.threadId !== undefined && event.thread_id !== this.threadId) return;
    if (isCritical(event)) this.emit(event.type, event as any);
    this.emit("event", event);
  }

  private handleClose(code: number, reason: string): void {
    this.ws = null;
    this.clearTimers();
    if (this.stopped) return;
    const action = closeAction(code);
    if (action === "stop") return this.finish("closed", { code, reason });
    // After 4004/4401 the next token must be a fresh one.
    this.retry(code, reason, action === "refresh_token" ? { code, reason, token: this.token } : undefined);
  }

  private retry(code: number, reason: string, refused?: Refusal): void {
    const delayMs = backoffDelay(this.attempt, this.opts.backoff, this.random);
    this.attempt++;
    this.setState("reconnecting");
    this.emit("reconnecting", { delayMs, attempt: this.attempt, code, reason });
    this.timer = setTimeout(() => void this.open(refused), delayMs);
  }

  // Closes a socket the client gave up on and handles it as closed with `code`.
  private dropSocket(ws: WebSocketLike, code: number, reason: string): void {
    detach(ws);
    ws.close(1000, reason);
    this.handleClose(code, reason);
  }

  private failAuth(code: number, reason: string): void {
    this.stopped = true;
    this.emit("auth_failed", { code, reason });
    this.finish("closed", { code, reason });
  }

  private finish(state: "closed", detail: { code: number; reason: string }): void {
    this.stopped = true;
    this.clearTimers();
    this.setState(state);
    this.emit("closed", detail);
  }

  private sendIfOpen(message: object): void {
    if (this.current === "open" && this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(message));
  }

  private clearTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.authTimer !== null) clearTimeout(this.authTimer);
    this.timer = this.authTimer = null;
  }

  private setState(state: ConnectionState): void {
    if (this.current === state) return;
    this.current = state;
    this.emit("state", state);
  }

  private emit<K extends keyof ClientEvents>(name: K, value: ClientEvents[K]): void {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        fn(value);
      } catch (err) {
        setTimeout(() => { throw err; }); // a listener's bug must not break the connection
      }
    }
  }
}

function withQuery(url: string, token: string, cursor: { resume?: string; since?: number }): string {
  const u = new URL(url);
  u.searchParams.set("access_token", token);
  if (cursor.resume !== undefined) u.searchParams.set("resume", cursor.resume);
  if (cursor.since !== undefined) u.searchParams.set("since", String(cursor.since));
  return u.toString();
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onmessage = ws.onclose = null;
  ws.onerror = () => {};
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
