// A WebSocket stand-in the tests drive from the server's side.
export class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeWebSocket.instances.push(this);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // Server side
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }

  push(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  drop(code, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  static reset() {
    FakeWebSocket.instances = [];
  }

  static get last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }
}

export async function until(cond, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + cond);
    await new Promise((r) => setTimeout(r, 1));
  }
}

// Waits for socket number n (1-based), accepts it and answers its auth message.
export async function acceptSocket(n) {
  await until(() => FakeWebSocket.instances.length >= n);
  const ws = FakeWebSocket.instances[n - 1];
  ws.accept();
  ws.push({ type: "authenticated", payload: { expires_at: 1700000600 } });
  return ws;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function event(n, extra = {}) {
  return { type: "agent_thinking", payload: { text: "step " + n }, run_id: "r-1", thread_id: "t-1",
           ts: 1000 + n, id: "agent-events:0:" + n + ":" + (1000 + n), ...extra };
}
