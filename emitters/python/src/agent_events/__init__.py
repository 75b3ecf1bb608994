"""Agent events for the agent event bridge: a method per critical event, validated, keyed by user.

    from agent_events import Emitter

    with Emitter("127.0.0.1:9092") as emitter:
        with emitter.run(user_id="u-42", thread_id="t-1") as run:
            run.started("research-assistant", model="demo")
            with run.tool("web_search", input={"q": "kafka"}) as call:
                call.output = search("kafka")
            run.completed("ok", output="...")

AG-UI 1.0 events (ag_ui.core, from ag-ui-protocol) go out as they are: run.ag_ui(event), and
`with run.text_message() as msg: msg.delta(token)` for streamed text.
"""
from .aio import AsyncEmitter, AsyncRun, AsyncTextMessage, AsyncToolCall
from .emitter import Emitter, Run, TextMessage, ToolCall
from .kafka import DEFAULT_TOPIC, DeliveryFailed, producer_config
from .validation import (AG_UI_TYPES, CRITICAL_TYPES, MAX_DEPTH, MAX_RECORD_BYTES, PAYLOAD_TYPES, EnvelopeValidator,
                         EventInvalid)

__all__ = ["AG_UI_TYPES", "AsyncEmitter", "AsyncRun", "AsyncTextMessage", "AsyncToolCall", "CRITICAL_TYPES",
           "DEFAULT_TOPIC", "DeliveryFailed", "Emitter", "EnvelopeValidator", "EventInvalid", "MAX_DEPTH",
           "MAX_RECORD_BYTES", "PAYLOAD_TYPES", "Run", "TextMessage", "ToolCall", "producer_config"]
