"""scripts/demo.sh as a newcomer runs it, on ports of its own: the page URL is the only URL it
prints (token in the fragment), nothing alarming at start, the page in Chromium says "open" on a
first visit, pause/resume hold the producer, restart-bridge brings the page back ("resumed"),
and Ctrl-C leaves nothing running.
"""
import importlib.util
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
_spec = importlib.util.spec_from_file_location("browser_tests", os.path.join(HERE, "test_browser.py"))
bt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bt)

# What librdkafka prints while a new broker settles, and any other librdkafka warning or error.
ALARMING = re.compile(r"Failed to acquire idempotence PID|Not leader for partition|%[0-4]\|")


def free_ports(count):
    """`count` consecutive free ports (Kafka takes its port and the next for its controller)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return list(range(base, base + count))
    raise RuntimeError("no free ports")


class Demo:
    """scripts/demo.sh in a session of its own, its output collected line by line."""

    def __init__(self, state):
        kafka_port, _controller, port, admin_port, page_port = free_ports(5)
        self.env = dict(os.environ, KAFKA_PORT=str(kafka_port), BRIDGE_DEMO_PORT=str(port),
                        BRIDGE_DEMO_ADMIN_PORT=str(admin_port), BRIDGE_DEMO_PAGE_PORT=str(page_port),
                        BRIDGE_DEMO_STATE=state, BUILD_JOBS="1")
        self.kafka_port, self.port = kafka_port, port
        # SIGINT as a terminal's Ctrl-C delivers it: not ignored, to the whole process group.
        self.proc = subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "demo.sh"), "--every", "1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
                                     start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern, timeout, after=0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.lines[after:]:
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None and not any(re.search(pattern, l) for l in self.lines[after:]):
                raise AssertionError(f"demo.sh exited {self.proc.returncode}: " + "\n".join(self.lines[-40:]))
            time.sleep(0.2)
        raise AssertionError(f"no line like {pattern!r}: " + "\n".join(self.lines[-40:]))

    def control(self, *args):
        return subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh"), *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def group_alive(self):
        out = subprocess.run(["ps", "-eo", "pgid=,pid=,stat=,args="], capture_output=True, text=True).stdout
        return [l for l in out.splitlines() if l.split()[0] == str(self.proc.pid) and not l.split()[2].startswith("Z")]


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_as_a_newcomer_runs_it():
    state = tempfile.mkdtemp(prefix="demo-state-")
    demo = Demo(state)
    page = None
    try:
        url = demo.wait_line(r"page:\s+(\S+)", timeout=900).group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/demo/\?ws=ws://127\.0\.0\.1:\d+/ws#token=[\w.-]+", url), url
        demo.wait_line(r"published run 3 ", timeout=60)
        printed = "\n".join(demo.lines)
        assert "access_token" not in printed and "new WebSocket" not in printed, printed
        assert not ALARMING.search(printed), [l for l in demo.lines if ALARMING.search(l)]
        assert "scripts/demo.sh pause" in printed and "scripts/demo.sh restart-bridge" in printed

        page = bt.Page()
        page.call(op="goto", url=url)
        page.wait_for("window.demo.total >= 5", what="a run on the demo page")
        assert page.eval("document.getElementById('state').textContent") == "open"  # first visit
        page.screenshot("demo_first_visit")

        # Pause: no run is published while paused; resume: runs again.
        assert demo.control("pause").returncode == 0
        paused_at = len(demo.lines)
        demo.wait_line(r"^paused", timeout=15, after=paused_at)
        held = len(demo.lines)
        time.sleep(4)
        assert not [l for l in demo.lines[held:] if l.startswith("published run")], demo.lines[held:]
        assert demo.control("resume").returncode == 0
        demo.wait_line(r"published run", timeout=15, after=held)

        # The bridge restarted by hand: the page comes back and resumes.
        restarted = demo.control("restart-bridge")
        assert restarted.returncode == 0, restarted.stderr
        bridge_pid = int(open(os.path.join(state, "bridge.pid")).read())
        page.wait_for("document.getElementById('state').textContent === 'open · resumed'", timeout=30,
                      what="the page to resume on the restarted bridge")
        page.screenshot("demo_after_restart_bridge")
    finally:
        if page:
            page.close()
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            demo.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.proc.pid, signal.SIGKILL)
            raise

    # Nothing left: not the bridge restarted from another "terminal", the broker, or the page's server.
    assert demo.proc.returncode == 130, demo.lines[-20:]
    time.sleep(1)
    assert demo.group_alive() == []
    assert subprocess.run(["kill", "-0", str(bridge_pid)], capture_output=True).returncode != 0, "bridge still running"
    assert not port_open(demo.port) and not port_open(demo.kafka_port)
