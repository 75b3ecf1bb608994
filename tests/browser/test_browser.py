"""The demo page in a real Chromium (puppeteer-core, tests/browser/driver.mjs), on a real bridge
and a real Kafka: a full run rendered, a worker killed and restarted under the page, a bad
token. Each test saves a screenshot in $BROWSER_SCREENSHOTS (default build/browser-screenshots).
"""
import asyncio
import functools
import http.server
import importlib.util
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
_spec = importlib.util.spec_from_file_location("integration_conftest", os.path.join(ROOT, "tests", "integration", "conftest.py"))
it = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(it)

kafka = it.kafka  # the session's producer and admin client (a fixture)
SCREENSHOTS = os.environ.get("BROWSER_SCREENSHOTS", os.path.join(ROOT, "build", "browser-screenshots"))


class Worker(it.Bridge):
    """A bridge worker on a fixed port, so that a restarted one takes the page's sockets back."""

    def __init__(self, topic, port, **flags):
        args = [it.BRIDGE_BIN, "--brokers", it.BROKERS, "--topics", topic, "--listen", f"127.0.0.1:{port}",
                "--admin-listen", "127.0.0.1:0", "--metadata-refresh-ms", "500", "--log-level", "info"]
        for k, v in flags.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        self.log_path = f"/tmp/bridge-browser-{uuid.uuid4().hex[:8]}.log"
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, BRIDGE_JWT_SECRET=it.SECRET))
        self.port = port
        self.admin_port = self._wait_port(r"admin listening on [^:]+:(\d+)")
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.wait_ready()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        os.unlink(self.log_path)


class Page:
    """One Chromium page, driven over driver.mjs's stdin/stdout."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "driver.mjs")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=HERE)
        self.version = self._answer()

    def _answer(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"browser driver exited {self.proc.wait()}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(answer["error"])
        return answer["value"]

    def call(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def eval(self, expr):
        return self.call(op="eval", expr=expr)

    def wait_for(self, expr, timeout=30, what=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.eval(expr)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or expr}; page state {self.eval('window.demo.state')}, "
                             f"console {self.call(op='console')}")

    def screenshot(self, name):
        os.makedirs(SCREENSHOTS, exist_ok=True)
        return self.call(op="screenshot", path=os.path.join(SCREENSHOTS, name + ".png"))

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    """clients/ over HTTP: the demo page at /demo/, the built client at /js/dist/."""
    handler = functools.partial(_Quiet, directory=os.path.join(ROOT, "clients"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def page():
    p = Page()
    yield p
    p.close()


@pytest.fixture
def workers():
    started = []

    def start(topic, port, **flags):
        w = Worker(topic, port, **flags)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def agent_run(user, run_id, first_seq, thread="thread-demo"):
    """A full run, the five critical types; `seq` numbers events across runs."""
    steps = [
        ("agent_started", {"agent": "research-assistant", "model": "demo", "input": "What is Kafka?"}),
        ("agent_thinking", {"text": f"I should look this up ({run_id}).", "step": 1}),
        ("tool_executing", {"tool": "web_search", "call_id": "c1", "input": {"q": "Apache Kafka"}}),
        ("tool_completed", {"tool": "web_search", "call_id": "c1", "status": "ok", "duration_ms": 120,
                            "output": ["Kafka is a distributed event log."]}),
        ("agent_completed", {"status": "ok", "output": "Kafka is a distributed event log.", "duration_ms": 450}),
    ]
    return [it.envelope(user, etype, run_id=run_id, thread_id=thread, payload=dict(payload, seq=first_seq + i))
            for i, (etype, payload) in enumerate(steps)]


def produce(kafka, topic, events):
    for e in events:
        kafka.produce(topic, e["user_id"], e)
    kafka.flush()


def open_page(page, site, worker, token):
    page.call(op="goto", url=f"{site}/demo/?ws={worker.url}#token={token}")


def test_page_renders_a_full_run(kafka, site, page, workers):
    topic = kafka.create_topic(3)
    worker = workers(topic, it.free_port())
    user = "ada-" + uuid.uuid4().hex[:6]
    open_page(page, site, worker, it.make_token(user))
    page.wait_for("window.demo.state === 'open'", what="the page to connect")

    produce(kafka, topic, agent_run(user, "run-1", 0))
    page.wait_for("window.demo.seen.length >= 5", what="five events")
    time.sleep(0.3)
    seen = page.eval("window.demo.seen")
    assert [e["type"] for e in seen] == ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                                         "agent_completed"]
    card = page.eval("document.querySelector('section.run').innerText")
    assert "research-assistant" in card
    assert "I should look this up (run-1)." in card
    assert "web_search" in card and "ok in 120 ms" in card
    assert re.search(r"ok · 450 ms", card), card
    assert page.eval("document.getElementById('state').dataset.state") == "open"
    assert page.eval("document.getElementById('state').textContent") == "open"  # a first visit: not "resumed"
    page.screenshot("full_run")


def test_page_resumes_across_a_killed_worker(kafka, site, page, workers):
    topic = kafka.create_topic(3)
    port = it.free_port()
    worker = workers(topic, port)
    user = "bob-" + uuid.uuid4().hex[:6]
    open_page(page, site, worker, it.make_token(user))
    page.wait_for("window.demo.state === 'open'", what="the page to connect")

    produce(kafka, topic, agent_run(user, "run-1", 0))
    page.wait_for("window.demo.seen.length >= 5", what="the first run")

    # The worker dies; the page notices, and the second run is produced while nobody serves it.
    worker.stop(signal.SIGKILL)
    page.wait_for("window.demo.state === 'reconnecting'", what="the page to see the worker gone")
    produce(kafka, topic, agent_run(user, "run-2", 5))
    time.sleep(1)
    page.screenshot("worker_down")

    # Another worker on the same port: the page resumes from its last id, then goes live.
    workers(topic, port)
    page.wait_for("window.demo.seen.length >= 10", timeout=45, what="the replay of the second run")
    produce(kafka, topic, agent_run(user, "run-3", 10))
    page.wait_for("window.demo.seen.length >= 15", what="the third run, live")
    time.sleep(1)  # anything sent twice would show up by now

    seen = page.eval("window.demo.seen")
    assert [e["payload"]["seq"] for e in seen] == list(range(15))
    assert len({e["id"] for e in seen}) == 15
    assert page.eval("document.querySelectorAll('li[data-id]').length") == 12  # tool_completed joins its call
    assert page.eval("document.querySelectorAll('section.run').length") == 3
    assert page.eval("window.demo.state") == "open"
    assert page.eval("document.getElementById('state').textContent") == "open · resumed"
    page.screenshot("resumed_after_kill")


def test_page_stays_bounded_and_cards_say_where_a_run_began(kafka, site, page, workers):
    """The last `runs` runs in full, older ones folded one line each; a run whose start the
    page never got says so in its title."""
    topic = kafka.create_topic(1)
    worker = workers(topic, it.free_port())
    user = "hal-" + uuid.uuid4().hex[:6]
    page.call(op="goto", url=f"{site}/demo/?ws={worker.url}&runs=2#token={it.make_token(user)}")
    page.wait_for("window.demo.state === 'open'", what="the page to connect")

    produce(kafka, topic, agent_run(user, "run-0", 0)[2:] + agent_run(user, "run-1", 5))  # run-0 began earlier
    page.wait_for("window.demo.total >= 8", what="the first two runs")
    partial = page.eval("document.querySelector('section.run[data-run=\"run-0\"]').innerText")
    assert "started before this page" in partial and "came before the page's window" in partial, partial
    assert "ok · 450 ms" in partial, partial
    page.screenshot("partial_run")

    for n in range(2, 6):
        produce(kafka, topic, agent_run(user, f"run-{n}", 5 * n))
    page.wait_for("window.demo.total >= 28", what="six runs")
    time.sleep(0.3)
    cards = page.eval("[...document.querySelectorAll('section.run')].map((s) => s.dataset.run)")
    assert cards == ["run-5", "run-4"], cards
    assert page.eval("document.querySelector('#older summary').textContent") == "4 earlier runs"
    folded = page.eval("[...document.querySelectorAll('#older li')].map((li) => li.textContent)")
    assert folded[0] == "research-assistant · ok · 450 ms · run run-3", folded
    assert folded[-1].startswith("agent run (started before this page) · ok"), folded
    assert page.eval("document.getElementById('counts').textContent") == "28 events"
    page.screenshot("bounded_page")


def test_page_with_a_bad_token_says_so_and_stops(kafka, site, page, workers):
    topic = kafka.create_topic(1)
    worker = workers(topic, it.free_port())
    forged = it.make_token("eve", secret="not-the-bridge-secret-0123456789abcdef")
    open_page(page, site, worker, forged)
    page.wait_for("window.demo.state === 'closed'", what="the page to give up")
    notice = page.eval("document.getElementById('notice').innerText")
    assert "Token refused (4401" in notice and "signature" in notice, notice
    time.sleep(3)  # no retry with the same token
    assert worker.metric("bridge_auth_failures_total", reason="signature") == 1
    assert page.eval("window.demo.state") == "closed"
    assert page.eval("document.getElementById('empty').textContent") == "Not connected: no agent runs to show."
    page.screenshot("bad_token")


def test_readme_example_page(kafka, site, page, workers):
    """clients/demo/minimal.html is the README's browser example: it must work as written."""
    topic = kafka.create_topic(1)
    worker = workers(topic, it.free_port())
    user = "dee-" + uuid.uuid4().hex[:6]
    page.call(op="goto", url=f"{site}/demo/minimal.html?ws={worker.url}#token={it.make_token(user)}")
    page.wait_for("document.getElementById('log').textContent.includes('connection: open')", what="open")
    other = it.envelope(user, "agent_thinking", run_id="run-x", thread_id="another-thread", payload={"text": "hidden"})
    produce(kafka, topic, [other] + agent_run(user, "run-1", 0))
    page.wait_for("document.getElementById('log').textContent.includes('agent_completed')", what="the run")
    text = page.eval("document.getElementById('log').textContent")
    assert "web_search: ok in 120 ms" in text
    assert "hidden" not in text
    page.screenshot("readme_example")


def test_page_replaced_by_a_newer_socket_stays_closed(kafka, site, page, workers):
    topic = kafka.create_topic(1)
    worker = workers(topic, it.free_port(), max_sockets_per_user=1)
    user = "fay-" + uuid.uuid4().hex[:6]
    open_page(page, site, worker, it.make_token(user))
    page.wait_for("window.demo.state === 'open'", what="the page to connect")

    async def newer_tab():
        ws = await it.open_socket(worker, user)  # the user's second socket: the page's is the oldest
        await asyncio.sleep(3)  # the page must not come back and take it over
        await ws.close()

    asyncio.run(newer_tab())
    assert page.eval("window.demo.state") == "closed"
    assert "other tabs" in page.eval("document.getElementById('notice').innerText")
    assert worker.metric("bridge_disconnects_total", reason="replaced") == 1
    page.screenshot("replaced")


def test_page_renders_an_ag_ui_run(kafka, site, page, workers):
    """AG-UI events published as they are: streamed text grows one entry, the tool call joins its result."""
    topic = kafka.create_topic(1)
    worker = workers(topic, it.free_port())
    user = "gus-" + uuid.uuid4().hex[:6]
    open_page(page, site, worker, it.make_token(user))
    page.wait_for("window.demo.state === 'open'", what="the page to connect")
    tokens = ["Kafka ", "is ", "a ", "distributed ", "event ", "log."]
    events = ([{"type": "RUN_STARTED", "threadId": "thread-demo", "runId": "run-ag"},
               {"type": "TEXT_MESSAGE_START", "messageId": "m1", "role": "assistant"}]
              + [{"type": "TEXT_MESSAGE_CONTENT", "messageId": "m1", "delta": t} for t in tokens]
              + [{"type": "TEXT_MESSAGE_END", "messageId": "m1"},
                 {"type": "TOOL_CALL_START", "toolCallId": "call-1", "toolCallName": "web_search"},
                 {"type": "TOOL_CALL_ARGS", "toolCallId": "call-1", "delta": '{"q": "kafka"}'},
                 {"type": "TOOL_CALL_END", "toolCallId": "call-1"},
                 {"type": "TOOL_CALL_RESULT", "messageId": "t1", "toolCallId": "call-1", "content": "a log"},
                 {"type": "RUN_FINISHED", "threadId": "thread-demo", "runId": "run-ag", "result": "done"}])
    produce(kafka, topic, [it.envelope(user, e["type"], run_id="run-ag", thread_id="thread-demo", payload=e)
                           for e in events])
    page.wait_for(f"window.demo.seen.length >= {len(events)}", what="the AG-UI run")
    card = page.eval("document.querySelector('section.run').innerText")
    assert "".join(tokens) in card
    assert 'tool web_search' in card and '{"q": "kafka"}' in card and "→ a log" in card
    assert page.eval("document.querySelector('section.run .outcome').textContent") == "ok"
    assert page.eval("document.querySelectorAll('section.run li').length") == 4  # started, text, tool, completed
    page.screenshot("ag_ui_run_on_demo_page")
