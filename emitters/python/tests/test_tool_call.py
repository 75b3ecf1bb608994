"""`with run.tool(...)`: tool_executing on enter, tool_completed with the same call_id on exit."""
import time

import pytest

from agent_events import EventInvalid


def test_ok_call_reports_output_and_duration(emitter, producer):
    run = emitter.run("u-42", "t-1", run_id="r-1")
    with run.tool("web_search", input={"q": "kafka"}) as call:
        assert [e["type"] for e in producer.envelopes()] == ["tool_executing"], "sent on enter"
        time.sleep(0.05)
        call.output = ["Kafka is a distributed event log."]
    executing, completed = [e["payload"] for e in producer.envelopes()]
    assert executing == {"tool": "web_search", "call_id": call.call_id, "input": {"q": "kafka"}}
    assert completed == {"tool": "web_search", "status": "ok", "call_id": call.call_id,
                         "output": ["Kafka is a distributed event log."], "duration_ms": call.duration_ms}
    assert isinstance(call.duration_ms, int) and 50 <= call.duration_ms < 5000
    assert len(call.call_id) == 36


def test_each_call_gets_its_own_call_id(emitter, producer):
    run = emitter.run("u-42", "t-1")
    with run.tool("a"):
        pass
    with run.tool("b", call_id="mine"):
        pass
    ids = [e["payload"]["call_id"] for e in producer.envelopes()]
    assert ids[0] == ids[1] and ids[2] == ids[3] == "mine" and ids[0] != "mine"


def test_exception_marks_the_call_error_and_propagates(emitter, producer):
    run = emitter.run("u-42", "t-1")
    with pytest.raises(TimeoutError, match="secret-token-in-message"):
        with run.tool("fetch", input={"url": "https://x"}) as call:
            raise TimeoutError("secret-token-in-message")
    executing, completed = [e["payload"] for e in producer.envelopes()]
    assert completed["status"] == "error" and completed["call_id"] == executing["call_id"] == call.call_id
    assert completed["error"] == "TimeoutError", "the class name only, never the message"
    assert "output" not in completed and completed["duration_ms"] >= 0
    assert "secret" not in str(producer.records)


def test_error_set_without_exception(emitter, producer):
    with emitter.run("u-42", "t-1").tool("fetch") as call:
        call.error = "site unreachable"
        call.output = {"tried": 3}
    completed = producer.envelopes()[-1]["payload"]
    assert (completed["status"], completed["error"], completed["output"]) == ("error", "site unreachable", {"tried": 3})


def test_invalid_call_is_refused_before_the_block_runs(emitter, producer):
    ran = []
    with pytest.raises(EventInvalid, match=r"^tool_executing payload\.tool: '' should be non-empty$"):
        with emitter.run("u-42", "t-1").tool(""):
            ran.append(True)
    assert ran == [] and producer.records == []


def test_invalid_output_is_refused_on_exit(emitter, producer):
    with pytest.raises(EventInvalid, match=r"^tool_completed payload\.output: nan is not JSON"):
        with emitter.run("u-42", "t-1").tool("calc") as call:
            call.output = float("nan")
    assert [e["type"] for e in producer.envelopes()] == ["tool_executing"]
