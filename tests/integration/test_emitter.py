"""The Python emitter (emitters/python) reaches a browser socket through a real broker and bridge.

A run emitted with the sync Emitter and one with the AsyncEmitter each arrive on a socket of
their user, every event in order, each frame's payload exactly the payload the emitter produced,
in the partition Java's murmur2 partitioner picks. An invalid event raises before anything is
produced, and the bridge rejects nothing.
"""
import asyncio
import uuid

import pytest

try:
    from agent_events import AsyncEmitter, Emitter, EventInvalid
except ImportError as e:
    raise ImportError(f"{e}: the emitter is not installed in this Python; run scripts/install-deps.sh") from e

from conftest import BROKERS, open_socket, receive_events, receive_nothing
from test_producers import FRAME_FIELDS, PARTITIONS, fresh_user, java_partition


def check_frames(frames, envelopes, topic, user):
    """The frames are the envelopes, in order, payload wrapped and unchanged, in the user's partition."""
    assert [f["type"] for f in frames] == [e["type"] for e in envelopes], "every event, in order"
    for frame, env in zip(frames, envelopes):
        assert set(frame) == FRAME_FIELDS, "payload flattened into the frame"
        assert frame["payload"] == env["payload"], "payload is what the emitter produced"
        assert (frame["run_id"], frame["thread_id"], frame["ts"]) == (env["run_id"], env["thread_id"], env["ts"])
    positions = [f["id"].split(":")[:3] for f in frames]
    assert {t for t, _, _ in positions} == {topic}
    assert {int(p) for _, p, _ in positions} == {java_partition(user, PARTITIONS)}, "not Java's murmur2 partition"
    offsets = [int(o) for _, _, o in positions]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(frames)


def assert_nothing_rejected(bridge):
    for reason in ("missing_key", "not_json", "schema", "key_mismatch", "too_large", "too_deep"):
        assert bridge.metric("bridge_records_rejected_total", reason=reason) == 0, reason


def sync_run(topic, user, thread_id):
    """A run with every kind of event. Returns the envelopes the methods produced and, for the
    two tool calls (whose envelopes the context manager does not return), their ToolCall objects."""
    sent = []
    with Emitter(BROKERS, topic, config={"message.timeout.ms": 30000}) as emitter:
        with emitter.run(user, thread_id) as run:
            sent.append(run.started("research-assistant", model="demo", input={"question": "What is Kafka?"}))
            sent.append(run.thinking("Looking it up \u2014 \u00abKafka\u00bb \u2713", step=1))
            with run.tool("web_search", input={"q": "Apache Kafka"}) as ok:
                ok.output = ["Kafka is a distributed event log."]
            with pytest.raises(ZeroDivisionError):
                with run.tool("calculator", input={"expr": "1/0"}) as failed:
                    1 / 0
            sent.append(run.custom("citation", {"url": "https://kafka.apache.org", "rank": 1.5, "tags": []}))
            sent.append(run.completed("ok", output="Kafka is a distributed event log."))
    return sent, ok, failed


@pytest.fixture
def topic_and_bridge(kafka, bridge_factory):
    topic = kafka.create_topic(PARTITIONS)
    return topic, bridge_factory(topic)


def test_sync_emitter_run_reaches_the_users_socket(topic_and_bridge):
    topic, bridge = topic_and_bridge
    user, thread_id = fresh_user("emitter-sync"), f"thread-{uuid.uuid4().hex[:6]}"

    async def main():
        ws = await open_socket(bridge, user)
        result = await asyncio.to_thread(sync_run, topic, user, thread_id)
        frames = await receive_events(ws, 8)
        extra = await receive_nothing(ws, 0.5)
        await ws.close()
        return result, frames, extra

    (sent, ok, failed), frames, extra = asyncio.run(main())
    assert [f for f in extra if "id" in f] == [], "more events than emitted"
    started, thinking, citation, completed = sent

    def tool_event(event_type, payload):
        # The tool calls' envelopes are not returned: their ids and payloads are known, ts is the frame's.
        return {"type": event_type, "run_id": started["run_id"], "thread_id": thread_id, "payload": payload}

    expected = [started, thinking,
                tool_event("tool_executing", {"tool": "web_search", "call_id": ok.call_id,
                                              "input": {"q": "Apache Kafka"}}),
                tool_event("tool_completed", {"tool": "web_search", "status": "ok", "call_id": ok.call_id,
                                              "output": ["Kafka is a distributed event log."],
                                              "duration_ms": ok.duration_ms}),
                tool_event("tool_executing", {"tool": "calculator", "call_id": failed.call_id,
                                              "input": {"expr": "1/0"}}),
                tool_event("tool_completed", {"tool": "calculator", "status": "error", "call_id": failed.call_id,
                                              "duration_ms": failed.duration_ms, "error": "ZeroDivisionError"}),
                citation, completed]
    for i in range(2, 6):
        expected[i]["ts"] = frames[i]["ts"]
        assert abs(frames[i]["ts"] - started["ts"]) < 60_000
    check_frames(frames, expected, topic, user)
    assert ok.call_id != failed.call_id
    assert_nothing_rejected(bridge)


def test_async_emitter_run_reaches_the_users_socket(topic_and_bridge):
    topic, bridge = topic_and_bridge
    user, thread_id = fresh_user("emitter-async"), f"thread-{uuid.uuid4().hex[:6]}"

    async def main():
        ws = await open_socket(bridge, user)
        async with AsyncEmitter(BROKERS, topic) as emitter:
            run = emitter.run(user, thread_id, run_id=f"run-{uuid.uuid4().hex[:8]}")
            sent = [await run.started("async-agent")]
            for step in range(1, 4):
                sent.append(await run.thinking(f"step {step}", step=step))
            sent.append(await run.tool_executing("lookup", call_id="c-1", input=None))
            sent.append(await run.tool_completed("lookup", "ok", call_id="c-1", output={"n": 3}, duration_ms=2.5))
            sent.append(await run.completed("cancelled", duration_ms=10))
        frames = await receive_events(ws, len(sent))
        await ws.close()
        return sent, frames

    sent, frames = asyncio.run(main())
    check_frames(frames, sent, topic, user)
    assert frames[4]["payload"] == {"tool": "lookup", "call_id": "c-1"}, "None is not sent"
    assert_nothing_rejected(bridge)


def test_invalid_event_raises_before_anything_is_produced(topic_and_bridge, kafka):
    topic, bridge = topic_and_bridge
    user = fresh_user("emitter-invalid")

    async def main():
        ws = await open_socket(bridge, user)
        with Emitter(BROKERS, topic) as emitter:
            run = emitter.run(user, "thread-1")
            with pytest.raises(EventInvalid, match=r"^tool_executing payload: 'tool' is a required property$"):
                run.custom("tool_executing", {"input": {"q": "x"}})
            with pytest.raises(EventInvalid, match=r"^agent_thinking payload\.text: lone surrogate"):
                run.thinking("\udc00")
        frames = await receive_nothing(ws, 2.0)
        await ws.close()
        return frames

    frames = asyncio.run(main())
    assert [f for f in frames if "id" in f] == [], "an invalid event reached the socket"
    assert_nothing_rejected(bridge)
    # Nothing reached the topic either.
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": BROKERS, "group.id": "emitter-test-" + uuid.uuid4().hex[:6]})
    try:
        for p in range(PARTITIONS):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assert high == 0, f"partition {p} has {high} records"
    finally:
        consumer.close()
