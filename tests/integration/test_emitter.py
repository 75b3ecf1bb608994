"""The Python emitter (emitters/python) reaches a browser socket through a real broker and bridge.

A run emitted with the sync Emitter and one with the AsyncEmitter each arrive on a socket of
their user, every event in order, each frame's payload exactly the payload the emitter produced,
in the partition Java's murmur2 partitioner picks. An invalid event raises before anything is
produced, and the bridge rejects nothing. AG-UI events arrive the same way, the AG-UI event
itself under "payload", and each one passes ag_ui.core's own validation on the receiving side.
"""
import asyncio
import json
import time
import uuid

import pytest

try:
    from ag_ui.core import (Event, ReasoningEndEvent, ReasoningMessageContentEvent, ReasoningMessageEndEvent,
                            ReasoningMessageStartEvent, ReasoningStartEvent, RunStartedEvent, StateDeltaEvent,
                            StepFinishedEvent, StepStartedEvent, ToolCallArgsEvent, ToolCallEndEvent,
                            ToolCallResultEvent, ToolCallStartEvent)
    from pydantic import TypeAdapter
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


AG_UI_EVENT = TypeAdapter(Event)
TOKENS = ["Kafka", " is", " a", " distributed", " event", " log", " \u2014 \u00abdurable\u00bb", " \u2713"]


def check_ag_ui_frames(frames, envelopes):
    """Each frame is its envelope, the AG-UI event wrapped under payload; ag_ui.core accepts each
    payload as the event its frame's type names."""
    assert [f["type"] for f in frames] == [e["type"] for e in envelopes], "every event, in order"
    for frame, env in zip(frames, envelopes):
        assert set(frame) == FRAME_FIELDS, "payload flattened into the frame"
        assert frame["payload"] == env["payload"], "payload is the event the emitter produced"
        assert (frame["run_id"], frame["thread_id"], frame["ts"]) == (env["run_id"], env["thread_id"], env["ts"])
        event = AG_UI_EVENT.validate_python(frame["payload"])
        assert event.type.value == frame["type"] == frame["payload"]["type"]


def sync_ag_ui_run(topic, user, thread_id):
    """A run in AG-UI: steps, reasoning, a tool call, state, a streamed answer. Returns the
    envelopes the emitter produced, in order."""
    with Emitter(BROKERS, topic, config={"message.timeout.ms": 30000}) as emitter:
        run = emitter.run(user, thread_id)
        envelopes = [run.ag_ui(RunStartedEvent(thread_id=thread_id, run_id=run.run_id, protocol_version="1.0")),
                     run.ag_ui(StepStartedEvent(step_name="research")),
                     run.ag_ui(ReasoningStartEvent(message_id="rsn-1")),
                     run.ag_ui(ReasoningMessageStartEvent(message_id="rsn-msg-1")),
                     run.ag_ui(ReasoningMessageContentEvent(message_id="rsn-msg-1", delta="A search will do.")),
                     run.ag_ui(ReasoningMessageEndEvent(message_id="rsn-msg-1")),
                     run.ag_ui(ReasoningEndEvent(message_id="rsn-1")),
                     run.ag_ui(ToolCallStartEvent(tool_call_id="call-1", tool_call_name="web_search")),
                     run.ag_ui(ToolCallArgsEvent(tool_call_id="call-1", delta=json.dumps({"q": "Apache Kafka"}))),
                     run.ag_ui(ToolCallEndEvent(tool_call_id="call-1")),
                     run.ag_ui(ToolCallResultEvent(message_id="tool-1", tool_call_id="call-1",
                                                   content="Kafka is a distributed event log.")),
                     run.ag_ui(StateDeltaEvent(delta=[{"op": "add", "path": "/sources", "value": ["kafka.apache.org"]}])),
                     run.ag_ui(StepFinishedEvent(step_name="research"))]
        with run.text_message(message_id="msg-1") as msg:
            for token in TOKENS:
                msg.delta(token)
        envelopes.append(run.ag_ui({"type": "CUSTOM", "name": "citation", "value": {"url": "https://kafka.apache.org"}}))
        envelopes.append(run.ag_ui({"type": "RUN_FINISHED", "result": {"answer": "".join(TOKENS)}}))
    return envelopes, run.run_id


def test_ag_ui_run_reaches_the_users_socket_wrapped_and_valid(topic_and_bridge):
    topic, bridge = topic_and_bridge
    user, thread_id = fresh_user("emitter-ag-ui"), f"thread-{uuid.uuid4().hex[:6]}"
    count = 13 + 2 + len(TOKENS) + 2

    async def main():
        ws = await open_socket(bridge, user)
        result = await asyncio.to_thread(sync_ag_ui_run, topic, user, thread_id)
        frames = await receive_events(ws, count)
        extra = await receive_nothing(ws, 0.5)
        await ws.close()
        return result, frames, extra

    (sent, run_id), frames, extra = asyncio.run(main())
    assert [f for f in extra if "id" in f] == [], "more events than emitted"
    assert [f["type"] for f in frames[13:13 + len(TOKENS) + 2]] == \
        ["TEXT_MESSAGE_START"] + ["TEXT_MESSAGE_CONTENT"] * len(TOKENS) + ["TEXT_MESSAGE_END"]
    # The text message's envelopes are not returned: the frames are checked against what it sent.
    text = frames[13:13 + len(TOKENS) + 2]
    assert text[0]["payload"] == {"type": "TEXT_MESSAGE_START", "messageId": "msg-1", "role": "assistant"}
    assert [f["payload"]["delta"] for f in text[1:-1]] == TOKENS
    assert text[-1]["payload"] == {"type": "TEXT_MESSAGE_END", "messageId": "msg-1"}
    expected = sent[:13] + [dict(f, user_id=user) for f in text] + sent[13:]
    check_ag_ui_frames(frames, expected)
    check_frames(frames, expected, topic, user)
    assert frames[0]["payload"]["runId"] == frames[0]["run_id"] == run_id
    assert frames[0]["payload"]["threadId"] == frames[0]["thread_id"] == thread_id
    assert frames[-1]["payload"] == {"type": "RUN_FINISHED", "result": {"answer": "".join(TOKENS)},
                                     "threadId": thread_id, "runId": run_id}
    assert_nothing_rejected(bridge)


def test_async_ag_ui_text_message_reaches_the_socket_in_order(topic_and_bridge):
    topic, bridge = topic_and_bridge
    user, thread_id = fresh_user("emitter-ag-ui-async"), f"thread-{uuid.uuid4().hex[:6]}"
    tokens = [f"tok{i} " for i in range(40)]

    async def main():
        ws = await open_socket(bridge, user)
        async with AsyncEmitter(BROKERS, topic) as emitter:
            async with emitter.run(user, thread_id) as run:
                await run.ag_ui({"type": "RUN_STARTED"})
                async with run.text_message(message_id="m-async") as msg:
                    for token in tokens:
                        await msg.delta(token)
                        await asyncio.sleep(0.002)
                # The run's block ends without RUN_FINISHED: the emitter sends it.
        frames = await receive_events(ws, len(tokens) + 4)
        await ws.close()
        return run.run_id, frames

    run_id, frames = asyncio.run(main())
    assert [f["type"] for f in frames] == \
        ["RUN_STARTED", "TEXT_MESSAGE_START"] + ["TEXT_MESSAGE_CONTENT"] * len(tokens) + ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert [f["payload"]["delta"] for f in frames[2:-2]] == tokens, "deltas in order"
    for frame in frames:
        assert AG_UI_EVENT.validate_python(frame["payload"]).type.value == frame["type"]
        assert frame["run_id"] == run_id
    assert frames[-1]["payload"] == {"type": "RUN_FINISHED", "threadId": thread_id, "runId": run_id}
    assert_nothing_rejected(bridge)


def test_bridge_rejects_ag_ui_payloads_its_schemas_refuse(topic_and_bridge, kafka):
    """Records produced by hand, past the emitter: the bridge's own schemas judge AG-UI payloads."""
    topic, bridge = topic_and_bridge
    user = fresh_user("ag-ui-raw")

    def record(etype, payload):
        return {"type": etype, "user_id": user, "run_id": "r-1", "thread_id": "t-1",
                "ts": int(time.time() * 1000), "payload": payload}

    bad = [record("TEXT_MESSAGE_CONTENT", {"type": "TEXT_MESSAGE_END", "messageId": "m", "delta": "x"}),
           record("TEXT_MESSAGE_CONTENT", {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m"}),
           record("RUN_STARTED", {"type": "RUN_STARTED", "thread_id": "t-1", "run_id": "r-1"})]
    good = record("TEXT_MESSAGE_CONTENT", {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": ""})

    async def main():
        ws = await open_socket(bridge, user)
        for r in bad + [good]:
            kafka.produce(topic, user, r)
        kafka.flush()
        frames = await receive_events(ws, 1)
        extra = await receive_nothing(ws, 0.5)
        await ws.close()
        return frames + [f for f in extra if "id" in f]

    frames = asyncio.run(main())
    assert [f["payload"] for f in frames] == [good["payload"]], "only the valid record, an empty delta allowed"
    assert bridge.metric("bridge_records_rejected_total", reason="schema") == len(bad)
