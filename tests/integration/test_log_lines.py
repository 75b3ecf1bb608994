"""What an operator reads in the worker's log: lines that say what they mean.

- "listening on ..." names the topics read, and the brokers apart;
- "draining: ..." counts the sockets each io thread really closes (awaiting auth included);
- a broker that cannot be reached is one warning a second, not one per Kafka client at once.
"""
import asyncio
import collections
import json
import os
import re
import subprocess
import time
import uuid

from websockets.asyncio.client import connect

from conftest import BRIDGE_BIN, BROKERS, SECRET, closed_with, open_socket


def log_lines(bridge):
    return [json.loads(line) for line in bridge.logs().splitlines() if line.startswith("{")]


def test_listening_line_names_topics_and_brokers(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    listening = [l["msg"] for l in log_lines(bridge) if l["msg"].startswith("listening on")]
    assert len(listening) == 1, listening
    assert f"for topics {topic} of brokers {BROKERS}" in listening[0], listening[0]


def test_draining_counts_the_sockets_it_closes(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, io_threads=2)

    async def run():
        authenticated = [await open_socket(bridge, "ann"), await open_socket(bridge, "bo")]
        waiting = await connect(bridge.url)  # no auth message yet: closed by the drain too
        await asyncio.sleep(0.3)
        bridge.proc.send_signal(15)
        return [await closed_with(ws) for ws in authenticated + [waiting]]

    codes = asyncio.run(run())
    assert [c for c, _ in codes] == [1001, 1001, 1001], codes
    assert bridge.proc.wait(15) == 0
    counts = [int(m.group(1)) for l in log_lines(bridge)
              for m in [re.match(r"draining: io thread \d+ closing (\d+) sockets", l["msg"])] if m]
    assert len(counts) == 2 and sum(counts) == 3, counts


def test_unreachable_broker_is_one_warning_a_second():
    log_path = f"/tmp/bridge-test-{uuid.uuid4().hex[:8]}.log"
    with open(log_path, "w+") as log:
        proc = subprocess.Popen([BRIDGE_BIN, "--brokers", "nonsense.invalid:9092", "--listen", "127.0.0.1:0",
                                 "--admin-listen", "none"], stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, BRIDGE_JWT_SECRET=SECRET))
        try:
            time.sleep(4.5)
        finally:
            proc.terminate()
            proc.wait(15)
        log.seek(0)
        lines = [json.loads(l) for l in log.read().splitlines() if l.startswith("{")]
    os.unlink(log_path)
    warnings = [l for l in lines if l["level"] == "warning" and l["msg"].startswith("kafka")]
    assert warnings, lines
    # The same text at the same second (ts to the second, the "after N ms" aside) is a duplicate.
    same = collections.Counter((l["ts"][:19], re.sub(r"after \d+ms", "", re.sub(r"\(suppressed.*", "", l["msg"])))
                               for l in warnings)
    assert max(same.values()) == 1, [k for k, n in same.items() if n > 1]
