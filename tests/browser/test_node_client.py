"""The TypeScript client in Node (Node 18+ with the ws package), against real bridge workers
and a real Kafka: a worker killed under it, events exactly once and in order, with the token
in the first message (browsers' way) or in the URL (for workers without message auth)."""
import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid

import pytest

from test_browser import ROOT, Worker, agent_run, it, produce, workers  # noqa: F401 (fixtures)

kafka = it.kafka
SCRIPT = os.path.join(ROOT, "clients", "js", "test", "e2e_node_client.mjs")


class NodeClient:
    def __init__(self, url, token, auth, global_websocket=False):
        # Node 22 has a global WebSocket; Node 20 has the same one behind a flag.
        node = ["node"] + (["--experimental-websocket"] if global_websocket and _node_major() < 22 else [])
        env = dict(os.environ, GLOBAL_WEBSOCKET="1") if global_websocket else None
        self.proc = subprocess.Popen(node + [SCRIPT, url, token, auth], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def wait_for(self, on, count=1, timeout=30):
        """Reads client lines until `count` of kind `on` arrived in all; returns every line read."""
        deadline = time.time() + timeout
        got = []
        while sum(1 for l in self.seen if l["on"] == on) < count:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {count} {on}; saw {self.seen}")
            self.seen.append(line)
            got.append(line)
        return got

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def _node_major():
    return int(subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()[1:].split(".")[0])


@pytest.mark.parametrize("auth,global_websocket", [("message", False), ("query", False), ("message", True)],
                         ids=["ws-message-auth", "ws-query-auth", "global-websocket"])
def test_node_client_resumes_across_a_killed_worker(kafka, workers, auth, global_websocket):
    topic = kafka.create_topic(3)
    port = it.free_port()
    worker = workers(topic, port)
    user = "cy-" + uuid.uuid4().hex[:6]
    client = NodeClient(worker.url, it.make_token(user), auth, global_websocket)
    try:
        client.wait_for("open")
        produce(kafka, topic, agent_run(user, "run-1", 0))
        client.wait_for("event", 5)

        worker.stop(signal.SIGKILL)
        client.wait_for("reconnecting")
        produce(kafka, topic, agent_run(user, "run-2", 5))
        workers(topic, port)
        client.wait_for("event", 10, timeout=45)
        produce(kafka, topic, agent_run(user, "run-3", 10))
        client.wait_for("event", 15)
        time.sleep(1)
        while not client.lines.empty():
            client.seen.append(client.lines.get())
    finally:
        client.close()
    events = [l for l in client.seen if l["on"] == "event"]
    assert [e["seq"] for e in events] == list(range(15))
    assert len({e["id"] for e in events}) == 15
    assert [l for l in client.seen if l["on"] == "open"][-1].get("resumed") is True
    assert not [l for l in client.seen if l["on"] in ("auth_failed", "reset")]


def test_node_client_takes_a_fresh_token_when_its_own_expires(kafka, workers, tmp_path):
    topic = kafka.create_topic(3)
    worker = workers(topic, it.free_port())
    user = "dan-" + uuid.uuid4().hex[:6]
    token_file = tmp_path / "token"
    token_file.write_text(it.make_token(user, ttl=3))
    client = NodeClient(worker.url, "@" + str(token_file), "message")
    try:
        client.wait_for("open")
        token_file.write_text(it.make_token(user, ttl=600))  # what the provider hands out next
        produce(kafka, topic, agent_run(user, "run-1", 0))
        client.wait_for("event", 5)
        client.wait_for("reconnecting", timeout=15)  # the bridge closes the socket at exp: 4004
        produce(kafka, topic, agent_run(user, "run-2", 5))
        client.wait_for("event", 10)
        client.wait_for("open", 2)
    finally:
        client.close()
    closes = [l for l in client.seen if l["on"] == "reconnecting"]
    assert closes[0]["code"] == 4004, closes
    events = [l for l in client.seen if l["on"] == "event"]
    assert [e["seq"] for e in events] == list(range(10))
    assert not [l for l in client.seen if l["on"] in ("auth_failed", "closed")]
