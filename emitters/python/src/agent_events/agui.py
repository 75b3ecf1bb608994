"""AG-UI 1.0 events (ag-ui-protocol's ag_ui.core) as payloads: the envelope's type is the event's
type, the payload is the event in its wire form (camelCase, its own `type` included).

Shared by the sync and the asyncio runs; the bridge never rewrites these payloads.
"""
from __future__ import annotations

from ag_ui.core import (BaseEvent, Event, EventType, TextMessageContentEvent, TextMessageEndEvent,
                        TextMessageStartEvent)
from pydantic import TypeAdapter, ValidationError

from . import payloads
from .validation import AG_UI_TYPES, EventInvalid

_EVENT = TypeAdapter(Event)
# The run-scoped events that name their run: their ids must be the envelope's.
_RUN_IDS = {EventType.RUN_STARTED.value, EventType.RUN_FINISHED.value}
_ENDS_RUN = {EventType.RUN_FINISHED.value, EventType.RUN_ERROR.value}


def _pydantic_error(event_type, error):
    """'TEXT_MESSAGE_CONTENT payload.delta: Input should be a valid string' from the first error."""
    first = error.errors()[0]
    # A discriminated union puts the tag first in the location; the tag is the type itself.
    loc = [p for p in first["loc"] if p != event_type]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return EventInvalid(f"{event_type} payload{where}: {first['msg']}")


def payload_of(event, thread_id, run_id):
    """(type, payload) of an ag_ui.core event, or of a dict in AG-UI wire form, for a run.

    A model is serialised by alias (camelCase), optional fields without a value left out (as
    ag_ui.core does itself). A dict is sent as given, once ag_ui.core's own models accept it. RUN_STARTED
    and RUN_FINISHED name their run: absent ids are the run's, others are refused. The envelope
    check (the packaged JSON Schemas, the bridge's limits) follows when it is encoded.
    """
    if isinstance(event, BaseEvent):
        # Python mode, not JSON mode: JSON mode would turn NaN into null and an int key into a
        # string without a word; the envelope check refuses what is not JSON instead.
        payload = event.model_dump(by_alias=True)
        payload["type"] = event.type.value
    elif isinstance(event, dict):
        payload = dict(event)
    else:
        raise EventInvalid(f"an AG-UI event is an ag_ui.core event or a dict, not {type(event).__name__}")
    event_type = payload.get("type")
    if event_type not in AG_UI_TYPES:
        raise EventInvalid(f"{event_type!r} is not an AG-UI 1.0 event type; use custom() for a type of your own")
    if event_type in _RUN_IDS:
        for field, value in (("threadId", thread_id), ("runId", run_id)):
            if payload.get(field) is None:
                payload[field] = value
            elif payload[field] != value:
                raise EventInvalid(f"{event_type} payload.{field}: {payload[field]!r} is not the run's {value!r}")
    if not isinstance(event, BaseEvent):
        try:
            _EVENT.validate_python(payload)
        except ValidationError as e:
            raise _pydantic_error(event_type, e) from None
    return event_type, payload


class AgUiRunState:
    """Whether the run's AG-UI RUN_STARTED went out and no RUN_FINISHED or RUN_ERROR followed."""

    def __init__(self):
        self.open = False

    def saw(self, event_type):
        if event_type == EventType.RUN_STARTED.value:
            self.open = True
        elif event_type in _ENDS_RUN:
            self.open = False

    @staticmethod
    def closing_event(status, exc):
        """What ends an open AG-UI run when its `with` block ends first: RUN_FINISHED, with the
        cancelled outcome for a cancelled run, or RUN_ERROR with the exception's class name."""
        if status == "error":
            return {"type": "RUN_ERROR", "message": payloads.tool_failure(exc)}
        if status == "cancelled":
            return {"type": "RUN_FINISHED", "outcome": {"type": "cancelled"}}
        return {"type": "RUN_FINISHED"}


class TextMessageBase:
    """One streamed AG-UI text message: TEXT_MESSAGE_START on enter, a TEXT_MESSAGE_CONTENT per
    non-empty delta, TEXT_MESSAGE_END on exit, also when an exception leaves the block."""

    def __init__(self, run, role, message_id):
        self.message_id = message_id if message_id is not None else payloads.new_id()
        self.role = role
        self.deltas = 0  # TEXT_MESSAGE_CONTENT events sent
        self._run = run
        try:
            self._start = TextMessageStartEvent(message_id=self.message_id, role=role)
        except ValidationError as e:
            raise _pydantic_error("TEXT_MESSAGE_START", e) from None

    def _content(self, text):
        if not isinstance(text, str):
            raise EventInvalid(f"TEXT_MESSAGE_CONTENT payload.delta: {text!r} is not a string")
        return TextMessageContentEvent(message_id=self.message_id, delta=text)

    def _end(self):
        return TextMessageEndEvent(message_id=self.message_id)
