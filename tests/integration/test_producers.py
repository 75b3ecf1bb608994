"""The producer examples (examples/producers/<lang>) reach a browser socket, one test per language.

Each test runs an example as its users would, against the real broker and a running bridge, for a
fresh topic and user: a WebSocket client authenticated as that user receives the five events of
the run in order, each payload wrapped and equal to what the example sent, in the partition
Java's murmur2 partitioner picks. The examples are built by scripts/install-deps.sh, not here.
"""
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
import zlib

import pytest

from conftest import BROKERS, ROOT, envelope, open_socket, receive_events

EXAMPLES = os.path.join(ROOT, "examples", "producers")
PARTITIONS = 6
FRAME_FIELDS = {"type", "payload", "run_id", "thread_id", "ts", "id"}

# The run every example publishes, in order.
RUN = [
    ("agent_started", {"agent": "research-assistant", "model": "demo", "input": "What is Kafka?"}),
    ("agent_thinking", {"text": "I should look this up.", "step": 1}),
    ("tool_executing", {"tool": "web_search", "call_id": "c1", "input": {"q": "Apache Kafka"}}),
    ("tool_completed", {"tool": "web_search", "call_id": "c1", "status": "ok",
                        "output": ["Kafka is a distributed event log."], "duration_ms": 120}),
    ("agent_completed", {"status": "ok", "output": "Kafka is a distributed event log.", "duration_ms": 450}),
]


def example(lang):
    """The command that runs one example, and the files it needs built from its sources."""
    d = os.path.join(EXAMPLES, lang)
    if lang == "python":
        return [sys.executable, os.path.join(d, "produce.py")], []
    if lang == "node":
        return ["node", os.path.join(d, "produce.js")], [(os.path.join(d, "node_modules", ".package-lock.json"),
                                                          [os.path.join(d, "package-lock.json")])]
    if lang == "go":
        binary = os.path.join(d, "agent-producer")
        return [binary], [(binary, [os.path.join(d, f) for f in ("main.go", "go.mod", "go.sum")])]
    if lang == "java":
        jar = os.path.join(d, "target", "agent-producer.jar")
        return ["java", "-jar", jar], [(jar, [os.path.join(d, "pom.xml"),
                                              os.path.join(d, "src", "main", "java", "example", "Produce.java")])]
    if lang == "kcat":
        return [os.path.join(d, "produce.sh")], []
    raise ValueError(lang)


def require_built(lang):
    """Fails, naming the fix, when an example's build output is missing or older than its sources."""
    command, built = example(lang)
    tool = "kcat" if lang == "kcat" else command[0]
    assert shutil.which(tool), f"{lang}: {tool} not found; run scripts/install-deps.sh"
    for artifact, sources in built:
        assert os.path.exists(artifact), f"{lang}: {artifact} missing; run scripts/install-deps.sh"
        newest = max(os.path.getmtime(s) for s in sources)
        assert os.path.getmtime(artifact) >= newest, f"{lang}: {artifact} is stale; run scripts/install-deps.sh"
    return command


def murmur2(data):
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as an unsigned 32-bit value."""
    m, length = 0x5BD1E995, len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[length - length % 4:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def java_partition(key, partitions):
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_murmur2_matches_kafka():
    # Values from Kafka's own UtilsTest.testMurmur2.
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") == -790332482 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == -985981536 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-longer-string") == -1486304829 & 0xFFFFFFFF
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971 & 0xFFFFFFFF
    assert murmur2(b"abc") == 479470107


def fresh_user(lang):
    """A new user whose murmur2 partition differs from librdkafka's default (crc32) one,
    so an example that forgot the Java-compatible partitioner is caught."""
    while True:
        user = f"{lang}-user-{uuid.uuid4().hex[:8]}"
        if java_partition(user, PARTITIONS) != zlib.crc32(user.encode()) % PARTITIONS:
            return user


async def receive_run(ws, timeout=20):
    """The run's event frames."""
    frames = []
    async with asyncio.timeout(timeout):
        while len(frames) < len(RUN):
            frame = json.loads(await ws.recv())
            if "id" in frame:
                frames.append(frame)
    return frames


@pytest.mark.parametrize("lang", ["python", "node", "go", "java", "kcat"])
def test_example_run_reaches_the_users_socket(lang, kafka, bridge_factory):
    command = require_built(lang)
    topic = kafka.create_topic(PARTITIONS)
    bridge = bridge_factory(topic)
    user, run_id, thread_id = fresh_user(lang), f"run-{uuid.uuid4().hex[:8]}", f"thread-{lang}"
    env = dict(os.environ, KAFKA_BROKERS=BROKERS, KAFKA_TOPIC=topic)

    async def run():
        ws = await open_socket(bridge, user)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(*command, user, run_id, thread_id, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        elapsed = time.monotonic() - started
        assert proc.returncode == 0, f"{lang} example exited {proc.returncode}:\n{out.decode()}\n{err.decode()}"
        frames = await receive_run(ws)
        await ws.close()
        return frames, elapsed

    frames, elapsed = asyncio.run(run())
    print(f"{lang}: example ran in {elapsed:.2f} s")

    assert [f["type"] for f in frames] == [t for t, _ in RUN], "the run's events, in order"
    for frame, (_, payload) in zip(frames, RUN):
        assert set(frame) == FRAME_FIELDS, "payload flattened into the frame"
        assert frame["payload"] == payload, "payload is the object the example sent"
        assert (frame["run_id"], frame["thread_id"]) == (run_id, thread_id)
        assert isinstance(frame["ts"], int) and frame["ts"] > 0
    # The id is opaque to clients; it starts with topic:partition:offset (topic names hold no ':').
    positions = [f["id"].split(":")[:3] for f in frames]
    assert {t for t, _, _ in positions} == {topic}
    assert {int(p) for _, p, _ in positions} == {java_partition(user, PARTITIONS)}, "not Java's murmur2 partition"
    offsets = [int(o) for _, _, o in positions]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(RUN)
    for reason in ("missing_key", "not_json", "schema", "key_mismatch", "too_large"):
        assert bridge.metric("bridge_records_rejected_total", reason=reason) == 0, reason
