"""AG-UI events: the wire form of ag_ui.core events, what is refused, and streamed text messages."""
import asyncio
import json
import os

import pytest
from ag_ui.core import (AssistantMessage, CustomEvent, Event, FunctionCall, MessagesSnapshotEvent, RunFinishedEvent,
                        RunStartedEvent, StateDeltaEvent, StateSnapshotEvent, TextMessageContentEvent,
                        TextMessageStartEvent, ToolCall, ToolCallResultEvent, ToolMessage, UserMessage)
from pydantic import TypeAdapter

from agent_events import AG_UI_TYPES, DeliveryFailed, EventInvalid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CONFORMANCE = os.path.join(ROOT, "schemas", "conformance")
EVENT = TypeAdapter(Event)


def refused(call, producer, match):
    with pytest.raises(EventInvalid, match=match):
        call()
    assert producer.records == [], "an invalid event was produced"


def sent(producer):
    return [(e["type"], e["payload"]) for e in producer.envelopes()]


# Serialisation

def test_event_is_the_payload_in_wire_form(emitter, producer):
    run = emitter.run("u-42", "t-1", run_id="r-1")
    envelope = run.ag_ui(TextMessageContentEvent(message_id="msg-1", delta="Hel"))
    assert envelope == {"type": "TEXT_MESSAGE_CONTENT", "user_id": "u-42", "run_id": "r-1", "thread_id": "t-1",
                        "ts": 1764000000123,
                        "payload": {"type": "TEXT_MESSAGE_CONTENT", "messageId": "msg-1", "delta": "Hel"}}
    topic, key, value = producer.records[0]
    assert (topic, key) == ("agent-events", b"u-42")
    assert json.loads(value) == envelope


def test_optional_fields_without_value_are_left_out_and_meaningful_nulls_kept(emitter, producer):
    run = emitter.run("u", "t")
    run.ag_ui(TextMessageStartEvent(message_id="m"))  # role, name, timestamp... unset
    run.ag_ui(CustomEvent(name="cleared", value=None))  # value is required: null is data
    run.ag_ui(StateSnapshotEvent(snapshot=None))
    assert sent(producer) == [
        ("TEXT_MESSAGE_START", {"type": "TEXT_MESSAGE_START", "messageId": "m"}),
        ("CUSTOM", {"type": "CUSTOM", "name": "cleared", "value": None}),
        ("STATE_SNAPSHOT", {"type": "STATE_SNAPSHOT", "snapshot": None}),
    ]


def test_nested_models_are_camel_case(emitter, producer):
    run = emitter.run("u", "t")
    run.ag_ui(MessagesSnapshotEvent(messages=[
        UserMessage(id="m-0", content="What is Kafka?"),
        AssistantMessage(id="m-1", tool_calls=[ToolCall(id="c-1", function=FunctionCall(name="search", arguments="{}"))]),
        ToolMessage(id="m-2", tool_call_id="c-1", content="a log"),
    ]))
    run.ag_ui(StateDeltaEvent(delta=[{"op": "move", "from": "/draft", "path": "/answer"}]))
    run.ag_ui(ToolCallResultEvent(message_id="m-3", tool_call_id="c-1", content="42", timestamp=1764000000000))
    (_, snapshot), (_, delta), (_, result) = sent(producer)
    assert snapshot["messages"] == [
        {"id": "m-0", "role": "user", "content": "What is Kafka?"},
        {"id": "m-1", "role": "assistant",
         "toolCalls": [{"id": "c-1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]},
        {"id": "m-2", "role": "tool", "content": "a log", "toolCallId": "c-1"},
    ]
    assert delta["delta"] == [{"op": "move", "from": "/draft", "path": "/answer"}]
    assert result == {"type": "TOOL_CALL_RESULT", "messageId": "m-3", "toolCallId": "c-1", "content": "42",
                      "timestamp": 1764000000000}


def test_a_dict_in_wire_form_is_sent_as_given(emitter, producer):
    event = {"type": "STEP_STARTED", "stepName": "plan", "x-vendor": {"k": [1, None]}}
    emitter.run("u", "t").ag_ui(event)
    assert sent(producer) == [("STEP_STARTED", event)]


def valid_ag_ui_cases():
    with open(os.path.join(CONFORMANCE, "cases.json")) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        if case["expect"] == "valid" and case["file"].startswith("valid/ag_ui/"):
            with open(os.path.join(CONFORMANCE, case["file"])) as f:
                yield pytest.param(json.load(f), id=case["file"])


@pytest.mark.skipif(not os.path.isdir(CONFORMANCE), reason="not in the project's source tree")
@pytest.mark.parametrize("record", valid_ag_ui_cases())
def test_conformance_payloads_round_trip_through_ag_ui_models(emitter, producer, record):
    """Each valid AG-UI payload of the conformance set, parsed into its ag_ui.core model and
    emitted, goes out as the same JSON; given as a dict, it goes out unchanged too."""
    run = emitter.run(record["user_id"], record["thread_id"], run_id=record["run_id"])
    run.ag_ui(EVENT.validate_python(record["payload"]))
    run.ag_ui(record["payload"])
    assert sent(producer) == [(record["type"], record["payload"])] * 2


def test_every_ag_ui_type_has_a_valid_conformance_case():
    types = {p.values[0]["type"] for p in valid_ag_ui_cases()}
    assert types == set(AG_UI_TYPES) and len(types) == 31


# Refusals

@pytest.mark.parametrize("event,match", [
    ({"type": "TEXT_MESSAGE_CONTENT", "messageId": "m"}, r"^TEXT_MESSAGE_CONTENT payload\.delta: Field required$"),
    ({"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": 7},
     r"^TEXT_MESSAGE_CONTENT payload\.delta: Input should be a valid string$"),
    # ag_ui.core's models take snake_case too; the wire form is camelCase, and so is the schema.
    ({"type": "TEXT_MESSAGE_CONTENT", "message_id": "m", "delta": "x"},
     r"^TEXT_MESSAGE_CONTENT payload: 'messageId' is a required property$"),
    ({"type": "TEXT_MESSAGE_START", "messageId": "m", "role": "tool"}, r"^TEXT_MESSAGE_START payload\.role: "),
    ({"type": "STATE_DELTA", "delta": [{"op": "add", "path": "no-slash", "value": 1}]},
     r"^STATE_DELTA payload\.delta\[0\]\.add\.path: String should match pattern"),
    ({"type": "RUN_FINISHED", "outcome": {"type": "interrupt", "interrupts": []}},
     r"^RUN_FINISHED payload\.outcome\.interrupt\.interrupts: "),
    ({"type": "THINKING_START"}, r"^'THINKING_START' is not an AG-UI 1\.0 event type; use custom\(\)"),
    ({"type": "text_message_content", "messageId": "m", "delta": "x"}, r"is not an AG-UI 1\.0 event type"),
    ({"messageId": "m", "delta": "x"}, r"^None is not an AG-UI 1\.0 event type"),
    ("TEXT_MESSAGE_CONTENT", r"^an AG-UI event is an ag_ui\.core event or a dict, not str$"),
    (TextMessageContentEvent(message_id="m", delta="\udc00"),
     r"^TEXT_MESSAGE_CONTENT payload\.delta: lone surrogate U\+DC00"),
    (TextMessageContentEvent.model_construct(message_id="m"),
     r"^TEXT_MESSAGE_CONTENT payload: 'delta' is a required property$"),
    (CustomEvent(name="n", value=float("nan")), r"^CUSTOM payload\.value: nan is not JSON"),
])
def test_invalid_events_are_refused_before_producing(emitter, producer, event, match):
    refused(lambda: emitter.run("u", "t").ag_ui(event), producer, match)


def test_invalid_conformance_payloads_are_refused(emitter, producer):
    folder = os.path.join(CONFORMANCE, "invalid", "payload", "ag_ui")
    names = sorted(n for n in os.listdir(folder) if "twice" not in n)  # a dict cannot repeat a key
    assert len(names) >= 20
    for name in names:
        with open(os.path.join(folder, name)) as f:
            record = json.load(f)
        run = emitter.run(record["user_id"], record["thread_id"], run_id=record["run_id"])
        if name in ("RUN_STARTED_missing_runId.json", "RUN_FINISHED_missing_threadId.json"):
            # run.ag_ui fills in the run's ids: a complete event goes out.
            payload = run.ag_ui(record["payload"])["payload"]
            assert (payload["threadId"], payload["runId"]) == (record["thread_id"], record["run_id"])
            producer.records.clear()
        elif record["payload"].get("type") != record["type"]:
            # The payload's own type is missing or disagrees with the envelope's: only an envelope
            # built by hand can have that.
            refused(lambda: emitter.emit(record["type"], record["payload"], user_id="u", thread_id="t", run_id="r"),
                    producer, rf"^{record['type']} payload(\.type)?: ")
        else:
            refused(lambda: run.ag_ui(record["payload"]), producer, rf"^{record['type']} payload")


# Run ids

def test_run_started_and_finished_get_the_runs_ids(emitter, producer):
    run = emitter.run("u", "t-1", run_id="r-1")
    given = {"type": "RUN_STARTED", "protocolVersion": "1.0"}
    run.ag_ui(given)
    run.ag_ui({"type": "RUN_FINISHED", "threadId": "t-1", "result": {"ok": True}})
    assert sent(producer) == [
        ("RUN_STARTED", {"type": "RUN_STARTED", "protocolVersion": "1.0", "threadId": "t-1", "runId": "r-1"}),
        ("RUN_FINISHED", {"type": "RUN_FINISHED", "threadId": "t-1", "result": {"ok": True}, "runId": "r-1"}),
    ]
    assert given == {"type": "RUN_STARTED", "protocolVersion": "1.0"}, "the caller's dict is not changed"


@pytest.mark.parametrize("event,match", [
    (RunStartedEvent(thread_id="t-1", run_id="r-2"), r"^RUN_STARTED payload\.runId: 'r-2' is not the run's 'r-1'$"),
    ({"type": "RUN_FINISHED", "threadId": "t-2"}, r"^RUN_FINISHED payload\.threadId: 't-2' is not the run's 't-1'$"),
])
def test_run_ids_that_disagree_with_the_run_are_refused(emitter, producer, event, match):
    refused(lambda: emitter.run("u", "t-1", run_id="r-1").ag_ui(event), producer, match)


def test_other_events_carry_no_run_ids(emitter, producer):
    emitter.run("u", "t-1", run_id="r-1").ag_ui({"type": "RUN_ERROR", "message": "boom"})
    assert sent(producer) == [("RUN_ERROR", {"type": "RUN_ERROR", "message": "boom"})]


# The run's `with` block closes an AG-UI run it opened

def test_with_block_finishes_an_open_ag_ui_run(emitter, producer):
    with emitter.run("u", "t", run_id="r") as run:
        run.ag_ui({"type": "RUN_STARTED"})
    assert [t for t, _ in sent(producer)] == ["RUN_STARTED", "RUN_FINISHED"]
    assert sent(producer)[1][1] == {"type": "RUN_FINISHED", "threadId": "t", "runId": "r"}


def test_with_block_reports_an_exception_as_run_error(emitter, producer):
    with pytest.raises(ZeroDivisionError):
        with emitter.run("u", "t") as run:
            run.ag_ui({"type": "RUN_STARTED"})
            1 / 0
    assert sent(producer)[-1] == ("RUN_ERROR", {"type": "RUN_ERROR", "message": "ZeroDivisionError"})


def test_with_block_sends_nothing_more_after_run_finished(emitter, producer):
    with emitter.run("u", "t") as run:
        run.ag_ui({"type": "RUN_STARTED"})
        run.ag_ui({"type": "RUN_ERROR", "message": "gave up"})
    with emitter.run("u", "t") as run:
        run.ag_ui({"type": "TEXT_MESSAGE_END", "messageId": "m"})  # no RUN_STARTED: nothing to close
    assert [t for t, _ in sent(producer)] == ["RUN_STARTED", "RUN_ERROR", "TEXT_MESSAGE_END"]


def test_async_with_block_reports_cancellation(async_emitter, producer):
    async def main():
        async with async_emitter.run("u", "t", run_id="r") as run:
            await run.ag_ui({"type": "RUN_STARTED"})
            raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert sent(producer)[-1] == ("RUN_FINISHED", {"type": "RUN_FINISHED", "outcome": {"type": "cancelled"},
                                                   "threadId": "t", "runId": "r"})


# Streamed text

def test_text_message_sequence(emitter, producer):
    producer.flush = lambda timeout=None: pytest.fail("a token must not flush")
    run = emitter.run("u", "t")
    with run.text_message() as msg:
        for token in ["Kafka", " is", "", " a log"]:
            msg.delta(token)
    m = msg.message_id
    assert sent(producer) == [
        ("TEXT_MESSAGE_START", {"type": "TEXT_MESSAGE_START", "messageId": m, "role": "assistant"}),
        ("TEXT_MESSAGE_CONTENT", {"type": "TEXT_MESSAGE_CONTENT", "messageId": m, "delta": "Kafka"}),
        ("TEXT_MESSAGE_CONTENT", {"type": "TEXT_MESSAGE_CONTENT", "messageId": m, "delta": " is"}),
        ("TEXT_MESSAGE_CONTENT", {"type": "TEXT_MESSAGE_CONTENT", "messageId": m, "delta": " a log"}),
        ("TEXT_MESSAGE_END", {"type": "TEXT_MESSAGE_END", "messageId": m}),
    ]
    assert msg.deltas == 3


def test_text_message_role_and_id(emitter, producer):
    with emitter.run("u", "t").text_message(role="user", message_id="msg-7") as msg:
        assert msg.message_id == "msg-7"
    assert sent(producer)[0][1] == {"type": "TEXT_MESSAGE_START", "messageId": "msg-7", "role": "user"}


def test_text_message_ends_when_an_exception_leaves_the_block(emitter, producer):
    with pytest.raises(KeyError):
        with emitter.run("u", "t").text_message(message_id="m") as msg:
            msg.delta("partial")
            raise KeyError("x")
    assert [t for t, _ in sent(producer)] == ["TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"]


def test_text_message_refuses_a_bad_role_or_delta(emitter, producer):
    run = emitter.run("u", "t")
    refused(lambda: run.text_message(role="tool"), producer, r"^TEXT_MESSAGE_START payload\.role: ")
    with pytest.raises(EventInvalid, match=r"^TEXT_MESSAGE_CONTENT payload\.delta: 3 is not a string$"):
        with run.text_message(message_id="m") as msg:
            msg.delta(3)
    assert [t for t, _ in sent(producer)] == ["TEXT_MESSAGE_START", "TEXT_MESSAGE_END"]


def test_async_text_message(async_emitter, producer):
    async def main():
        run = async_emitter.run("u", "t")
        await run.ag_ui(RunStartedEvent(thread_id="t", run_id=run.run_id))
        async with run.text_message(message_id="m") as msg:
            for token in ["a", "", "b"]:
                await msg.delta(token)
        await run.ag_ui(RunFinishedEvent(thread_id="t", run_id=run.run_id))
        return msg

    msg = asyncio.run(main())
    assert [t for t, _ in sent(producer)] == ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT",
                                              "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert msg.deltas == 2


def test_async_deltas_are_pipelined_and_a_failed_one_raises_at_the_end(async_emitter, producer):
    """A delta returns once queued (the fake reports deliveries only when polled); the end waits
    for every report and raises for a delta Kafka did not take."""
    producer.fail["TEXT_MESSAGE_CONTENT"] = "Local: Message timed out"

    async def main():
        run = async_emitter.run("u", "t", run_id="r-1")
        async with run.text_message(message_id="m") as msg:
            await msg.delta("a")
            await msg.delta("b")

    with pytest.raises(DeliveryFailed, match="TEXT_MESSAGE_CONTENT of run r-1: Local: Message timed out") as e:
        asyncio.run(main())
    assert len(e.value.failures) == 2
    assert [t for t, _ in sent(producer)] == ["TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CONTENT",
                                              "TEXT_MESSAGE_END"]
