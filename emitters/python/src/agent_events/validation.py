"""Checks an envelope the way a bridge worker does, then encodes it as the record value.

The JSON Schemas are copies of schemas/json/ shipped in this package. Beyond them, a worker
rejects a record over --max-record-bytes, nested deeper than --max-depth (the envelope object
is level 1, the payload level 2), or holding a string that is not valid UTF-8 (a Python str
may hold a lone surrogate such as '\\udc00'). Strict JSON has no NaN or Infinity.
"""
from __future__ import annotations

import json
import math
import re
from importlib import resources

from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

MAX_RECORD_BYTES = 1024 * 1024
MAX_DEPTH = 128
CRITICAL_TYPES = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
_SUFFIX = ".schema.json"
# Every type with a payload schema in the package: the critical types and the AG-UI 1.0 event types.
PAYLOAD_TYPES = tuple(sorted(p.name[:-len(_SUFFIX)] for p in resources.files(__package__).joinpath("schemas").iterdir()
                             if p.name.endswith(_SUFFIX) and p.name != "envelope" + _SUFFIX))
AG_UI_TYPES = tuple(t for t in PAYLOAD_TYPES if t not in CRITICAL_TYPES)

_SURROGATE = re.compile("[\ud800-\udfff]")


class EventInvalid(ValueError):
    """The event would be rejected by the bridge; nothing was produced. The message names the field."""


def load_schema(name):
    """One of the packaged schemas, by file stem ("envelope", a critical or an AG-UI type)."""
    text = resources.files(__package__).joinpath("schemas", name + _SUFFIX).read_text("utf-8")
    return json.loads(text)


def _where(event_type, path):
    """'envelope.run_id', 'tool_executing payload', 'tool_executing payload.input.q[2]'."""
    parts = list(path)
    if parts and parts[0] == "payload":
        head, parts = f"{event_type} payload", parts[1:]
    else:
        head = "envelope"
    return head + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _check_values(envelope, event_type, max_depth):
    """Depth, JSON types, finite numbers and UTF-8 strings, without recursion."""
    stack = [(envelope, (), 1)]
    while stack:
        value, path, level = stack.pop()
        if isinstance(value, str):
            m = _SURROGATE.search(value)
            if m:
                raise EventInvalid(f"{_where(event_type, path)}: lone surrogate U+{ord(m.group()):04X} "
                                   "in a string (not UTF-8)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise EventInvalid(f"{_where(event_type, path)}: {value} is not JSON (NaN and Infinity are not allowed)")
        elif value is None or isinstance(value, (bool, int)):
            pass
        elif isinstance(value, (dict, list, tuple)):
            if level > max_depth:
                raise EventInvalid(f"{_where(event_type, path)}: nested deeper than {max_depth} levels "
                                   "(the envelope is level 1, the payload level 2)")
            if isinstance(value, dict):
                for k, v in value.items():
                    if not isinstance(k, str):
                        raise EventInvalid(f"{_where(event_type, path)}: key {k!r} is not a string")
                    stack.append((k, path, level))  # a key is checked like a string value
                    stack.append((v, path + (k,), level + 1))
            else:
                stack.extend((v, path + (i,), level + 1) for i, v in enumerate(value))
        else:
            raise EventInvalid(f"{_where(event_type, path)}: {type(value).__name__} is not a JSON value")


class EnvelopeValidator:
    """Validates envelopes against the packaged schemas and the bridge's limits, and encodes them."""

    def __init__(self, max_record_bytes=MAX_RECORD_BYTES, max_depth=MAX_DEPTH):
        self.max_record_bytes = max_record_bytes
        self.max_depth = max_depth
        self._envelope = Draft4Validator(load_schema("envelope"))
        self._payloads = {t: Draft4Validator(load_schema(t)) for t in PAYLOAD_TYPES}

    def _schema_check(self, validator, document, event_type, prefix=()):
        error = best_match(validator.iter_errors(document))
        if error is not None:
            raise EventInvalid(f"{_where(event_type, prefix + tuple(error.absolute_path))}: {error.message}")

    def encode(self, envelope):
        """The record value (compact UTF-8 JSON) for a valid envelope; EventInvalid otherwise."""
        event_type = envelope.get("type")
        _check_values(envelope, event_type, self.max_depth)
        self._schema_check(self._envelope, envelope, event_type)
        if event_type in self._payloads:
            self._schema_check(self._payloads[event_type], envelope["payload"], event_type, ("payload",))
        value = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if len(value) > self.max_record_bytes:
            raise EventInvalid(f"{event_type} record is {len(value)} bytes, over the limit of "
                               f"{self.max_record_bytes} (--max-record-bytes)")
        return value
