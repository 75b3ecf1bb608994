"""AG-UI through the bridge into a real Chromium: runs produced by the Python emitter
(run.ag_ui, run.text_message, and critical events in the same run) on a real Kafka and a real
bridge, followed in the page by the frontend code of docs/ag-ui.md (a BridgeAgent, @ag-ui/client's
subscriber API). Every AG-UI event must pass @ag-ui/core's own schema in the page, in order,
also across a worker SIGKILL and restart. Screenshots land in $BROWSER_SCREENSHOTS.

With AG_UI_BENCH_SECONDS set, test_ag_ui_token_stream_rate measures a run streaming 50 tokens a
second (AG_UI_BENCH_RATE) to the page: latency producer to page, the worker's CPU and RSS.
"""
import functools
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
from ag_ui.core import RunFinishedEvent, RunStartedEvent

from agent_events import Emitter
from test_browser import HERE, _Quiet, it, page, workers  # noqa: F401 (fixtures)

kafka = it.kafka

REASONING = ["REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_END",
             "REASONING_END"]
TOOL = ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"]


@pytest.fixture(scope="module")
def ag_ui_site(tmp_path_factory):
    """The AG-UI page, bundled with esbuild from docs/ag-ui.md's frontend code, over HTTP."""
    out = tmp_path_factory.mktemp("ag-ui-site")
    subprocess.run(["node", os.path.join(HERE, "bundle_ag_ui.mjs"), str(out)], check=True, cwd=HERE)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def words(n, first=0):
    return [f"w{i} " for i in range(first, first + n)]


def expected_types(deltas):
    """The AG-UI events of one run of `stream_run`, in order."""
    return (["RUN_STARTED"] + REASONING + ["TEXT_MESSAGE_START"] + ["TEXT_MESSAGE_CONTENT"] * deltas
            + ["TEXT_MESSAGE_END"] + TOOL + ["RUN_FINISHED"])


class RunProducer:
    """One run in two halves: AG-UI RUN_STARTED, a critical agent_thinking, streamed text (AG-UI);
    then the rest of the text, a critical tool call, AG-UI RUN_FINISHED."""

    def __init__(self, emitter, user, run_id, thread="thread-ag-ui"):
        self.run = emitter.run(user, thread, run_id)
        self.emitter = emitter

    def first_half(self, tokens):
        self.run.ag_ui(RunStartedEvent(thread_id=self.run.thread_id, run_id=self.run.run_id))
        self.run.thinking("I should look this up.", step=1)
        self.message = self.run.text_message()
        self.message.__enter__()
        for t in tokens:
            self.message.delta(t)
        self.emitter.flush()

    def second_half(self, tokens):
        for t in tokens:
            self.message.delta(t)
        self.message.__exit__(None, None, None)
        with self.run.tool("web_search", input={"q": "Apache Kafka"}, call_id=f"{self.run.run_id}-c1") as call:
            call.output = "Kafka is a distributed event log."
        self.run.ag_ui(RunFinishedEvent(thread_id=self.run.thread_id, run_id=self.run.run_id,
                                        result={"answer": "Kafka is a distributed event log."}))
        self.emitter.flush()


def open_page(page, site, worker, user):
    page.call(op="goto", url=f"{site}/?ws={worker.url}#token={it.make_token(user)}")
    page.wait_for("window.agui && window.agui.state === 'open'", what="the page to connect")


def check_run(page, run_id, tokens):
    """The page got the run once, in order, every event valid, and the frontend rendered it."""
    page.wait_for(f"window.agui.runs[{json.dumps(run_id)}]?.done", timeout=45, what=f"run {run_id} to finish")
    time.sleep(0.5)  # anything sent twice would show up by now
    events = [e for e in page.eval("window.agui.events") if e["run"] == run_id]
    bad = [e for e in events if not e["valid"]]
    assert not bad, bad[:3]
    assert [e["type"] for e in events] == expected_types(len(tokens))
    assert "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT") == "".join(tokens)
    # AG-UI frames pass through one event per frame; mapped frames share their frame id within a group.
    passed = [e["frame"] for e in events if e["frameType"] == e["type"]]
    assert len(passed) == len(set(passed))
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    run = page.eval(f"window.agui.runs[{json.dumps(run_id)}]")
    assert run.get("error") is None, run
    assert run["result"] == {"answer": "Kafka is a distributed event log."}
    card = page.eval(f"[...document.querySelectorAll('section')].find(s => s.querySelector('h2').textContent === "
                     f"{json.dumps(run_id)}).innerText")
    assert "".join(tokens).strip() in card
    assert "I should look this up." in card
    assert 'web_search({"q":"Apache Kafka"})' in card
    assert "→ Kafka is a distributed event log." in card
    assert "finished: success" in card
    return events


def make_emitter(topic):
    return Emitter(it.BROKERS, topic=topic, config={"linger.ms": 1})


def test_ag_ui_run_reaches_chromium_valid_and_in_order(kafka, ag_ui_site, page, workers):
    topic = kafka.create_topic(3)
    worker = workers(topic, it.free_port())
    user = "ag-" + uuid.uuid4().hex[:6]
    open_page(page, ag_ui_site, worker, user)
    page.eval("window.agui.show('run-1')")
    with make_emitter(topic) as emitter:
        run = RunProducer(emitter, user, "run-1")
        run.first_half(words(10))
        run.second_half(words(10, 10))
    check_run(page, "run-1", words(20))
    page.screenshot("ag_ui_run")


def test_ag_ui_run_survives_a_killed_worker(kafka, ag_ui_site, page, workers):
    topic = kafka.create_topic(3)
    port = it.free_port()
    worker = workers(topic, port)
    user = "ag-" + uuid.uuid4().hex[:6]
    open_page(page, ag_ui_site, worker, user)
    page.eval("window.agui.show('run-1')")
    with make_emitter(topic) as emitter:
        run = RunProducer(emitter, user, "run-1")
        run.first_half(words(15))
        page.wait_for("window.agui.events.filter(e => e.type === 'TEXT_MESSAGE_CONTENT').length >= 15",
                      what="the first half")

        # The worker dies mid-run; the rest of the run is produced while nobody serves the page.
        worker.stop(signal.SIGKILL)
        page.wait_for("window.agui.state === 'reconnecting'", what="the page to see the worker gone")
        run.second_half(words(15, 15))
        time.sleep(1)
        page.screenshot("ag_ui_worker_down")

        # Another worker on the same port: the page resumes from its last frame id.
        workers(topic, port)
        check_run(page, "run-1", words(30))

        # And a second run, live on the new worker.
        page.eval("window.agui.show('run-2')")
        second = RunProducer(emitter, user, "run-2")
        second.first_half(words(5))
        second.second_half(words(5, 5))
    check_run(page, "run-2", words(10))
    assert page.eval("window.agui.state") == "open"
    page.screenshot("ag_ui_resumed_after_kill")


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _latency_buckets(worker):
    """bridge_delivery_latency_seconds: cumulative counts by upper bound (record timestamp to socket write)."""
    text = worker.http("/metrics", admin=True)[1]
    out = {}
    for line in text.splitlines():
        if line.startswith("bridge_delivery_latency_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.split()[-1])
    return out


def _bucket_quantile(before, after, q):
    """The upper bound (ms) of the bucket holding quantile q of the samples taken between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0) for b in bounds]
    if not counts or counts[-1] == 0:
        return None
    for b, c in zip(bounds, counts):
        if c >= q * counts[-1]:
            return b * 1000
    return None


@pytest.mark.skipif(not os.environ.get("AG_UI_BENCH_SECONDS"), reason="a measurement: set AG_UI_BENCH_SECONDS")
def test_ag_ui_token_stream_rate(kafka, ag_ui_site, page, workers):
    seconds = float(os.environ["AG_UI_BENCH_SECONDS"])
    rate = float(os.environ.get("AG_UI_BENCH_RATE", "50"))
    topic = kafka.create_topic(3)
    worker = workers(topic, it.free_port())
    user = "bench-" + uuid.uuid4().hex[:6]
    open_page(page, ag_ui_site, worker, user)
    page.eval("window.agui.show('run-bench')")
    tokens = int(seconds * rate)
    with make_emitter(topic) as emitter:
        run = emitter.run(user, "thread-bench", "run-bench")
        run.ag_ui(RunStartedEvent(thread_id="thread-bench", run_id="run-bench"))
        emitter.flush()
        page.wait_for("window.agui.events.length >= 1", what="RUN_STARTED")
        load_before = os.getloadavg()
        buckets_before = _latency_buckets(worker)
        cpu_before, wall_before = _cpu_seconds(worker.proc.pid), time.monotonic()
        with run.text_message() as message:
            start = time.monotonic()
            for i in range(tokens):
                # One token every 1/rate seconds, on a fixed schedule (no drift).
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                message.delta(f"t{i} ")
                emitter._producer.poll(0)
        run.ag_ui(RunFinishedEvent(thread_id="thread-bench", run_id="run-bench"))
        emitter.flush()
        page.wait_for("window.agui.runs['run-bench']?.done", timeout=60, what="the run to finish")
        cpu_after, wall_after = _cpu_seconds(worker.proc.pid), time.monotonic()
        buckets_after = _latency_buckets(worker)
        load_after = os.getloadavg()
    events = [e for e in page.eval("window.agui.events") if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert len(events) == tokens and all(e["valid"] for e in events)
    assert "".join(e["delta"] for e in events) == "".join(f"t{i} " for i in range(tokens))
    lat = sorted(e["at"] - e["ts"] for e in events)
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    result = {
        "tokens": tokens, "rate_per_s": rate, "seconds": round(wall_after - wall_before, 1),
        "latency_ms": {"p50": pick(0.50), "p99": pick(0.99), "max": lat[-1]},
        # The worker's own share: record timestamp to socket write, as bucket upper bounds.
        "worker_latency_ms_bucket": {"p50": _bucket_quantile(buckets_before, buckets_after, 0.50),
                                     "p99": _bucket_quantile(buckets_before, buckets_after, 0.99)},
        "worker_cpu_percent": round(100 * (cpu_after - cpu_before) / (wall_after - wall_before), 2),
        "worker_rss_mib": round(_rss_bytes(worker.proc.pid) / 2**20, 1),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
    }
    print("\nAG-UI token stream:", json.dumps(result))
    out = os.environ.get("AG_UI_BENCH_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
    page.screenshot("ag_ui_token_stream")
