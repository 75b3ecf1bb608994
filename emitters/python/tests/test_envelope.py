"""Each method produces one record: key = user id, value = the envelope, payload wrapped, schema fields only."""
import json

from agent_events import DEFAULT_TOPIC

TS = 1764000000123


def test_started_envelope_wraps_the_payload(emitter, producer):
    run = emitter.run("u-42", "t-1", run_id="r-1")
    run.started("research-assistant", model="demo", input="What is Kafka?")
    [(topic, key, value)] = producer.records
    assert topic == DEFAULT_TOPIC
    assert key == b"u-42"
    assert json.loads(value) == {
        "type": "agent_started", "user_id": "u-42", "run_id": "r-1", "thread_id": "t-1", "ts": TS,
        "payload": {"agent": "research-assistant", "model": "demo", "input": "What is Kafka?"}}


def test_value_is_compact_utf8_json(emitter, producer):
    emitter.run("élève-7", "t-1", run_id="r-1").thinking("café")
    [(_, key, value)] = producer.records
    assert key == "élève-7".encode()
    assert b" " not in value.replace("élève-7".encode(), b"")
    assert "café".encode() in value  # UTF-8, not \u escapes


def test_each_critical_method_sends_only_its_schema_fields(emitter, producer):
    run = emitter.run("u-42", "t-1", run_id="r-1")
    run.started("a")
    run.thinking("hmm", step=2)
    run.tool_executing("search", call_id="c1", input={"q": "x"})
    run.tool_completed("search", "ok", call_id="c1", output=[1], duration_ms=12)
    run.completed("cancelled", output=None, duration_ms=5)
    assert [(e["type"], e["payload"]) for e in producer.envelopes()] == [
        ("agent_started", {"agent": "a"}),
        ("agent_thinking", {"text": "hmm", "step": 2}),
        ("tool_executing", {"tool": "search", "call_id": "c1", "input": {"q": "x"}}),
        ("tool_completed", {"tool": "search", "status": "ok", "call_id": "c1", "output": [1], "duration_ms": 12}),
        ("agent_completed", {"status": "cancelled", "duration_ms": 5}),
    ]
    for e in producer.envelopes():
        assert set(e) == {"type", "user_id", "run_id", "thread_id", "ts", "payload"}, "never flattened"


def test_extra_fields_go_inside_the_payload(emitter, producer):
    emitter.run("u-42", "t-1").thinking("hmm", tokens=17)
    [e] = producer.envelopes()
    assert e["payload"] == {"text": "hmm", "tokens": 17}
    assert "tokens" not in e


def test_run_id_defaults_to_a_new_uuid(emitter):
    a, b = emitter.run("u-42", "t-1"), emitter.run("u-42", "t-1")
    assert len(a.run_id) == 36 and a.run_id != b.run_id


def test_custom_event_keeps_any_object_payload(emitter, producer):
    run = emitter.run("u-42", "t-1", run_id="r-1")
    run.custom("citation_found", {"url": "https://kafka.apache.org", "n": [1, {"deep": True}]})
    run.custom("heartbeat", {})
    assert [(e["type"], e["payload"]) for e in producer.envelopes()] == [
        ("citation_found", {"url": "https://kafka.apache.org", "n": [1, {"deep": True}]}),
        ("heartbeat", {})]


def test_emit_returns_the_envelope_produced(emitter, producer):
    env = emitter.emit("agent_thinking", {"text": "x"}, user_id="u", thread_id="t", run_id="r")
    assert producer.envelopes() == [env]


def test_completed_defaults_duration_to_time_since_started(emitter, producer):
    run = emitter.run("u-42", "t-1")
    run.started("a")
    run.completed()
    done = producer.envelopes()[-1]["payload"]
    assert done["status"] == "ok" and isinstance(done["duration_ms"], int) and done["duration_ms"] >= 0


def test_run_block_completes_the_run_it_started(emitter, producer):
    with emitter.run("u-42", "t-1") as run:
        run.started("a")
    try:
        with emitter.run("u-42", "t-1") as run:
            run.started("a")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with emitter.run("u-42", "t-1") as run:
        run.started("a")
        run.completed("ok", output="done")
    with emitter.run("u-42", "t-1"):
        pass  # nothing started: nothing to complete
    statuses = [e["payload"]["status"] for e in producer.envelopes() if e["type"] == "agent_completed"]
    assert statuses == ["ok", "error", "ok"]
