// The AG-UI view of the bridge client: `import { BridgeAgent } from "@agent-bridge/client/ag-ui"`.
// Needs the peer dependencies @ag-ui/client, @ag-ui/core and rxjs; the main entry needs none.
export { AgUiToCritical, CriticalToAgUi, isAgUiFrame, isAgUiType, METADATA_KEY, UNNAMED_AGENT, UNNAMED_TOOL } from "./mapping.js";
export type { BridgeMetadata, ToAgUiOptions } from "./mapping.js";
export { AgUiStream } from "./run_stream.js";
export type { AgUiItem, AgUiListener, AgUiStreamOptions } from "./run_stream.js";
export { BridgeAgent } from "./bridge_agent.js";
export type { BridgeAgentConfig } from "./bridge_agent.js";
