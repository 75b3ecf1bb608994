"""The payload of each critical event, from a method's arguments: exactly the schemas' fields.

An argument left as None is omitted from the payload; `extra` adds fields of your own
(the schemas allow them, and the bridge delivers them unchanged).
"""
from __future__ import annotations

import time
import uuid


def _fields(required, optional, extra):
    payload = dict(required)
    payload.update((k, v) for k, v in optional.items() if v is not None)
    payload.update(extra)
    return payload


def started(agent, model, input, extra):
    return _fields({"agent": agent}, {"model": model, "input": input}, extra)


def thinking(text, step, extra):
    return _fields({"text": text}, {"step": step}, extra)


def tool_executing(tool, call_id, input, extra):
    return _fields({"tool": tool}, {"call_id": call_id, "input": input}, extra)


def tool_completed(tool, status, call_id, output, duration_ms, extra):
    return _fields({"tool": tool, "status": status},
                   {"call_id": call_id, "output": output, "duration_ms": duration_ms}, extra)


def completed(status, output, duration_ms, extra):
    return _fields({"status": status}, {"output": output, "duration_ms": duration_ms}, extra)


def new_id():
    return str(uuid.uuid4())


def elapsed_ms(since):
    """Whole milliseconds since a time.monotonic() reading."""
    return max(0, round((time.monotonic() - since) * 1000))


def tool_failure(exc):
    """What a failed call reports: the exception's class name only (its message may hold secrets)."""
    return type(exc).__name__
