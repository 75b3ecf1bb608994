// What a client does after each close code (docs/protocol.md, "Close codes").

export type CloseAction =
  | "stop"            // do not reconnect (4001 replaced, 4400 bad request, a close the app asked for)
  | "refresh_token"   // get a fresh token, then reconnect; stop if it is not fresh (4004, 4401)
  | "retry";          // reconnect with backoff, resuming from the last id

export function closeAction(code: number): CloseAction {
  switch (code) {
    case 4001: // the user opened too many sockets; this one was replaced
    case 4400: // the client sent a bad first message: retrying cannot help
      return "stop";
    case 4004: // token expired
    case 4401: // token refused
      return "refresh_token";
    default:   // 1001, 1006, 1013, 4002, 4003, 4408, 4503 and anything unknown
      return "retry";
  }
}
