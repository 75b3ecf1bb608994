"""Invalid events raise EventInvalid, naming the field, before anything is produced."""
import json
import os

import pytest

from agent_events import Emitter, EnvelopeValidator, EventInvalid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CONFORMANCE = os.path.join(ROOT, "schemas", "conformance")


def refused(call, producer, match):
    with pytest.raises(EventInvalid, match=match):
        call()
    assert producer.records == [], "an invalid event was produced"


@pytest.mark.parametrize("method,args,match", [
    ("started", ("",), r"^agent_started payload\.agent: '' should be non-empty$"),
    ("started", ("a",), None),
    ("thinking", (42,), r"^agent_thinking payload\.text: 42 is not of type 'string'$"),
    ("tool_executing", ("",), r"^tool_executing payload\.tool: "),
    ("tool_completed", ("search", "done"), r"^tool_completed payload\.status: 'done' is not one of \['ok', 'error'\]$"),
    ("completed", ("finished",), r"^agent_completed payload\.status: 'finished' is not one of"),
])
def test_schema_errors_name_type_and_field(emitter, producer, method, args, match):
    run = emitter.run("u-42", "t-1")
    if match is None:  # a model that is not a string
        refused(lambda: run.started("a", model=3), producer, r"^agent_started payload\.model: 3 is not of type 'string'$")
    else:
        refused(lambda: getattr(run, method)(*args), producer, match)


def test_required_field_message(emitter, producer):
    refused(lambda: emitter.emit("tool_executing", {"input": {}}, user_id="u", thread_id="t", run_id="r"),
            producer, r"^tool_executing payload: 'tool' is a required property$")
    refused(lambda: emitter.emit("tool_completed", {"tool": "x"}, user_id="u", thread_id="t", run_id="r"),
            producer, r"^tool_completed payload: 'status' is a required property$")
    refused(lambda: emitter.emit("agent_started", {}, user_id="u", thread_id="t", run_id="r"),
            producer, r"^agent_started payload: 'agent' is a required property$")
    refused(lambda: emitter.emit("agent_thinking", {"step": 1}, user_id="u", thread_id="t", run_id="r"),
            producer, r"^agent_thinking payload: 'text' is a required property$")
    refused(lambda: emitter.emit("agent_completed", {}, user_id="u", thread_id="t", run_id="r"),
            producer, r"^agent_completed payload: 'status' is a required property$")


def test_thinking_step_counts_from_one(emitter, producer):
    refused(lambda: emitter.run("u", "t").thinking("x", step=0), producer, r"payload\.step: 0 is less than the minimum of 1")


def test_envelope_fields(emitter, producer):
    refused(lambda: emitter.run("", "t").thinking("x"), producer, r"^envelope\.user_id: '' should be non-empty$")
    refused(lambda: emitter.run("u", "t" * 257).thinking("x"), producer, r"^envelope\.thread_id: ")
    refused(lambda: emitter.run("u", "t").custom("x" * 65, {}), producer, r"^envelope\.type: ")
    refused(lambda: emitter.run("u", "t").custom("note", ["not", "an", "object"]), producer,
            r"^note payload: \['not', 'an', 'object'\] is not of type 'object'$")


@pytest.mark.parametrize("bad", ["\udc00", "ok \ud83d", "\ud83d\ude00"])
def test_lone_surrogates_are_refused(emitter, producer, bad):
    refused(lambda: emitter.run("u", "t").thinking(bad), producer,
            r"^agent_thinking payload\.text: lone surrogate U\+D[0-9A-F]{3} in a string")
    refused(lambda: emitter.run("u", "t").custom("note", {"k": [{bad: 1}]}), producer,
            r"^note payload\.k\[0\]: lone surrogate")
    refused(lambda: emitter.run("u" + bad, "t").thinking("x"), producer, r"^envelope\.user_id: lone surrogate")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused(emitter, producer, bad):
    refused(lambda: emitter.run("u", "t").tool_completed("x", "ok", output={"score": bad}), producer,
            r"^tool_completed payload\.output\.score: -?(nan|inf) is not JSON")


def test_values_that_are_not_json_are_refused(emitter, producer):
    refused(lambda: emitter.run("u", "t").custom("note", {"s": {1, 2}}), producer, r"^note payload\.s: set is not a JSON value$")
    refused(lambda: emitter.run("u", "t").custom("note", {1: "one"}), producer, r"^note payload: key 1 is not a string$")


def nested(levels):
    """A value that opens `levels` nested arrays."""
    value = 0
    for _ in range(levels):
        value = [value]
    return value


def test_depth_limit_counts_envelope_as_level_1(emitter, producer):
    # Envelope 1, payload 2, so 126 arrays inside the payload reach 128: allowed.
    emitter.run("u", "t").custom("deep", {"x": nested(126)})
    assert len(producer.records) == 1
    producer.records.clear()
    refused(lambda: emitter.run("u", "t").custom("deep", {"x": nested(127)}), producer,
            r"^deep payload\.x(\[0\]){126}: nested deeper than 128 levels")


def test_very_deep_values_are_refused_without_recursion(emitter, producer):
    refused(lambda: emitter.run("u", "t").custom("deep", {"x": nested(100_000)}), producer, "nested deeper than 128")


def test_depth_limit_is_configurable(producer):
    emitter = Emitter(producer=producer, max_depth=3)
    emitter.run("u", "t").custom("deep", {"x": [1]})
    refused_emitter = lambda: emitter.run("u", "t").custom("deep", {"x": [[1]]})
    producer.records.clear()
    refused(refused_emitter, producer, "nested deeper than 3 levels")


def test_record_size_limit(emitter, producer):
    refused(lambda: emitter.run("u", "t").thinking("x" * (1024 * 1024)), producer,
            r"^agent_thinking record is \d+ bytes, over the limit of 1048576")
    emitter.run("u", "t").thinking("x" * (1024 * 1024 - 200))
    assert len(producer.records) == 1


def test_record_size_limit_is_configurable(producer):
    emitter = Emitter(producer=producer, max_record_bytes=200)
    emitter.run("u", "t").thinking("x" * 50)
    producer.records.clear()
    refused(lambda: emitter.run("u", "t").thinking("x" * 200), producer, "over the limit of 200")


def conformance_cases():
    with open(os.path.join(CONFORMANCE, "cases.json")) as f:
        manifest = json.load(f)
    for case in manifest["cases"]:
        with open(os.path.join(CONFORMANCE, case["file"]), "rb") as f:
            raw = f.read()
        try:
            doc = json.loads(raw.decode("utf-8"), parse_constant=float)
        except ValueError:
            continue  # not JSON at all: the emitter only encodes Python objects
        if not isinstance(doc, dict) or case["expect"] in ("missing_key", "key_mismatch") or "twice" in case["why"]:
            continue  # the emitter builds an object, its key from user_id, and cannot repeat a field
        yield pytest.param(doc, case["expect"], id=case["file"])


@pytest.mark.skipif(not os.path.isdir(CONFORMANCE), reason="not in the project's source tree")
@pytest.mark.parametrize("doc,expect", conformance_cases())
def test_validator_agrees_with_the_conformance_set(doc, expect):
    validator = EnvelopeValidator()
    if expect == "valid":
        validator.encode(doc)
    else:
        with pytest.raises(EventInvalid):
            validator.encode(doc)
