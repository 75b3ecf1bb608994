"""Fixtures for tests against a real Kafka broker and real bridge processes.

The broker is started by ctest (scripts/kafka.sh, fixture `kafka`); its address comes in
BRIDGE_TEST_BROKERS. Each test makes its own topics, so tests do not see each other's records.
"""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import jwt
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRIDGE_BIN = os.environ.get("BRIDGE_BIN", os.path.join(ROOT, "build", "bridge", "bridge"))
BROKERS = os.environ.get("BRIDGE_TEST_BROKERS", "127.0.0.1:19092")
SECRET = "integration-test-secret-0123456789abcdef"


def make_token(sub, secret=SECRET, alg="HS256", ttl=600, **claims):
    body = {"sub": sub, "exp": int(time.time()) + ttl, **claims}
    if sub is None:
        del body["sub"]
    return jwt.encode(body, secret, algorithm=alg)


def envelope(user, etype="agent_thinking", run_id="run-1", thread_id="thread-1", payload=None, **extra):
    if payload is None:
        payload = {"text": "thinking"}
    return {"type": etype, "user_id": user, "run_id": run_id, "thread_id": thread_id,
            "ts": int(time.time() * 1000), "payload": payload, **extra}


class Kafka:
    def __init__(self, brokers=BROKERS):
        self.admin = AdminClient({"bootstrap.servers": brokers})
        self.producer = Producer({"bootstrap.servers": brokers, "partitioner": "murmur2_random",
                                  "enable.idempotence": True, "linger.ms": 1})

    def create_topic(self, partitions, **config):
        name = "t-" + uuid.uuid4().hex[:12]
        futures = self.admin.create_topics([NewTopic(name, partitions, 1, config=config)])
        futures[name].result(30)
        deadline = time.time() + 30
        while time.time() < deadline:
            md = self.admin.list_topics(name, timeout=5).topics.get(name)
            if md and md.error is None and len(md.partitions) == partitions:
                return name
            time.sleep(0.1)
        raise TimeoutError(f"topic {name} not ready")

    def add_partitions(self, topic, total):
        self.admin.create_partitions([NewPartitions(topic, total)])[topic].result(30)

    def produce(self, topic, key, value, partition=None):
        """Produces one record; value may be a dict (JSON-encoded), str or bytes."""
        if isinstance(value, dict):
            value = json.dumps(value)
        kwargs = {"key": key, "value": value}
        if partition is not None:
            kwargs["partition"] = partition
        self.producer.produce(topic, **kwargs)

    def flush(self):
        assert self.producer.flush(30) == 0, "records left unsent"


@pytest.fixture(scope="session")
def kafka():
    return Kafka()


class Bridge:
    """A bridge worker process on a free port."""

    def __init__(self, topic, brokers=BROKERS, **flags):
        flags = {"metadata_refresh_ms": 500, "log_level": "info", **flags}  # a test's flags win
        args = [BRIDGE_BIN, "--brokers", brokers, "--topics", topic, "--listen", "127.0.0.1:0",
                "--admin-listen", "127.0.0.1:0"]
        env = dict(os.environ)
        if flags.get("jwt_alg") != "RS256":  # RS256 takes a public key only
            env["BRIDGE_JWT_SECRET"] = SECRET
        for k, v in flags.items():
            args += ["--" + k.replace("_", "-")] + ([str(v)] if v != "" else [])  # "" for a bare flag
        self.log_path = f"/tmp/bridge-test-{uuid.uuid4().hex[:8]}.log"
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.port = self._wait_port(r"(?<!admin )listening on [^:]+:(\d+)")
        self.admin_port = self._wait_port(r"admin listening on [^:]+:(\d+)")
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self.wait_ready()

    def _wait_port(self, pattern):
        deadline = time.time() + 15
        while time.time() < deadline:
            self.log.seek(0)
            m = re.search(pattern, self.log.read())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"bridge exited {self.proc.returncode}: {self.logs()}")
            time.sleep(0.05)
        raise TimeoutError("bridge did not start: " + self.logs())

    def logs(self):
        self.log.seek(0)
        return self.log.read()

    def http(self, path, admin=False):
        """GET on the public listener, or on the admin one."""
        port = self.admin_port if admin else self.port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.http("/readyz", admin=True)[0] == 200:
                return
            time.sleep(0.1)
        raise TimeoutError("bridge not ready: " + self.logs())

    def metric(self, name, **labels):
        """The value of one sample of /metrics, 0 if absent."""
        text = self.http("/metrics", admin=True)[1]
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@pytest.fixture
def bridge_factory():
    started = []

    def start(topic, **flags):
        b = Bridge(topic, **flags)
        started.append(b)
        return b

    yield start
    for b in started:
        if b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()
        b.log.close()
        os.unlink(b.log_path)


async def open_socket(bridge, user, **kw):
    """A real WebSocket client authenticated as `user`, with the token in the header.

    Returns once the worker has registered the socket: an `unsubscribe` is answered only
    after the open handler ran, so events produced from then on reach this socket.
    """
    ws = await connect(bridge.url, additional_headers={"Authorization": "Bearer " + make_token(user)},
                       max_size=None, **kw)
    await ws.send('{"action":"unsubscribe"}')
    async with asyncio.timeout(10):
        assert json.loads(await ws.recv())["type"] == "unsubscribed"
    return ws


async def receive_events(ws, count, timeout=20):
    """Reads `count` event frames (frames with an id); fails on timeout."""
    events = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            frame = json.loads(await ws.recv())
            if "id" in frame:
                events.append(frame)
    return events


async def receive_nothing(ws, wait=1.0):
    """Returns frames that arrive within `wait` seconds (expected: none)."""
    extra = []
    try:
        async with asyncio.timeout(wait):
            while True:
                extra.append(json.loads(await ws.recv()))
    except TimeoutError:
        pass
    return extra


async def closed_with(ws, timeout=10):
    """Reads until the socket closes; returns (code, reason) as the client received them."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, repr(closed)
        return closed.rcvd.code, closed.rcvd.reason


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
