"""The dead-letter topic: rejected records copied once for the whole fleet, with reasons;
and `bridge produce`, which refuses what the workers would reject."""
import asyncio
import json
import subprocess
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import NewTopic

from conftest import BRIDGE_BIN, BROKERS, envelope, open_socket, receive_events


def read_all(topic, expect, timeout=30, brokers=BROKERS):
    """Every record of a topic, waiting until `expect` arrived or the timeout passed."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "t-" + uuid.uuid4().hex, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    records, deadline = [], time.time() + timeout
    while time.time() < deadline and len(records) < expect:
        m = c.poll(0.2)
        if m is not None and not m.error():
            records.append(m)
    # A little longer, to catch any extra copy.
    end = time.time() + 2
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            records.append(m)
    c.close()
    return records


def test_two_workers_copy_each_rejected_record_exactly_once(kafka, bridge_factory):
    topic = kafka.create_topic(4)
    kafka.admin.create_topics([NewTopic(topic + ".dlq", 1, 1)])[topic + ".dlq"].result(30)
    group = "dlq-" + uuid.uuid4().hex[:8]
    workers = [bridge_factory(topic, dlq="", dlq_group=group, dlq_start="earliest") for _ in range(2)]
    # Both workers joined the group and share the partitions.
    deadline = time.time() + 30
    while time.time() < deadline and sum(w.metric("bridge_dlq_partitions") for w in workers) != 4:
        time.sleep(0.2)
    assert sum(w.metric("bridge_dlq_partitions") for w in workers) == 4

    bad = []
    for i in range(40):
        user = f"dl-{i}"
        kind = i % 4
        if kind == 0:
            kafka.produce(topic, user, "not json {")
            bad.append((user, "not_json"))
        elif kind == 1:
            kafka.produce(topic, user, envelope(user, "agent_completed", payload={"status": "maybe"}))
            bad.append((user, "schema"))
        elif kind == 2:
            kafka.produce(topic, user, envelope("someone-else"))
            bad.append((user, "key_mismatch"))
        else:
            kafka.produce(topic, None, envelope(user))
            bad.append((None, "missing_key"))
        kafka.produce(topic, user, envelope(user))  # a valid record beside each bad one
    kafka.flush()

    records = read_all(topic + ".dlq", len(bad))
    assert len(records) == len(bad), "each rejected record copied exactly once"
    headers = [dict((k, v.decode()) for k, v in m.headers()) for m in records]
    assert sorted(h["bridge.reason"] for h in headers) == sorted(r for _, r in bad)
    assert all(h["bridge.topic"] == topic for h in headers)
    positions = {(h["bridge.partition"], h["bridge.offset"]) for h in headers}
    assert len(positions) == len(bad), "distinct original records"
    # The copy keeps key and value.
    by_reason = {h["bridge.reason"]: m for h, m in zip(headers, records)}
    assert by_reason["not_json"].value() == b"not json {"
    assert by_reason["missing_key"].key() is None
    copied = sum(w.metric("bridge_dlq_records_total", reason="schema") for w in workers)
    assert copied == 10


def test_bridge_produce_sends_valid_events_and_refuses_invalid_ones(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    bridge = bridge_factory(topic)

    def produce(*args, stdin=None):
        return subprocess.run([BRIDGE_BIN, "produce", "--brokers", BROKERS, "--topic", topic, *args],
                              capture_output=True, text=True, input=stdin, timeout=30)

    async def run():
        ws = await open_socket(bridge, "pat")
        ok = produce("--user", "pat", "--type", "tool_executing", "--run-id", "r1", "--thread-id", "t1",
                     "--payload", '{"tool": "search", "input": {"q": "x"}}')
        missing = produce("--user", "pat", "--type", "tool_completed", "--run-id", "r1", "--thread-id", "t1",
                          "--payload", '{"tool": "search"}')
        not_object = produce("--user", "pat", "--type", "x", "--run-id", "r", "--thread-id", "t", "--payload", "[1]")
        mismatch = produce("--user", "pat", "--envelope", json.dumps(envelope("mallory")))
        piped = produce("--envelope", "-", stdin=json.dumps(envelope("pat", "custom_step", payload={"n": 1})))
        frames = await receive_events(ws, 2)
        return ok, missing, not_object, mismatch, piped, frames

    ok, missing, not_object, mismatch, piped, frames = asyncio.run(run())
    assert ok.returncode == 0 and ok.stdout.strip() == frames[0]["id"]
    assert frames[0]["payload"] == {"tool": "search", "input": {"q": "x"}}
    assert missing.returncode == 2 and "invalid event: schema" in missing.stderr
    assert 'required at #, missing "status")' in missing.stderr, missing.stderr  # the field, not only "required at #"
    assert not_object.returncode == 2 and "not a JSON object" in not_object.stderr
    assert mismatch.returncode == 2 and "key_mismatch" in mismatch.stderr
    assert piped.returncode == 0 and frames[1]["type"] == "custom_step"
