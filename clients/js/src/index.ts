export { BridgeClient } from "./client.js";
export type {
  BridgeClientOptions, ClientEvents, ConnectionState, TokenProvider, WebSocketConstructor, WebSocketLike,
} from "./client.js";
export { backoffDelay } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { closeAction } from "./close_policy.js";
export type { CloseAction } from "./close_policy.js";
export { RecentIds } from "./recent_ids.js";
export * from "./types.js";
