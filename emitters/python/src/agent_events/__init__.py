"""Agent events for the agent event bridge: a method per critical event, validated, keyed by user.

    from agent_events import Emitter

    with Emitter("127.0.0.1:9092") as emitter:
        with emitter.run(user_id="u-42", thread_id="t-1") as run:
            run.started("research-assistant", model="demo")
            with run.tool("web_search", input={"q": "kafka"}) as call:
                call.output = search("kafka")
            run.completed("ok", output="...")
"""
from .aio import AsyncEmitter, AsyncRun, AsyncToolCall
from .emitter import Emitter, Run, ToolCall
from .kafka import DEFAULT_TOPIC, DeliveryFailed, producer_config
from .validation import CRITICAL_TYPES, MAX_DEPTH, MAX_RECORD_BYTES, EnvelopeValidator, EventInvalid

__all__ = ["AsyncEmitter", "AsyncRun", "AsyncToolCall", "CRITICAL_TYPES", "DEFAULT_TOPIC", "DeliveryFailed",
           "Emitter", "EnvelopeValidator", "EventInvalid", "MAX_DEPTH", "MAX_RECORD_BYTES", "Run", "ToolCall",
           "producer_config"]
