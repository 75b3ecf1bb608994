"""The synchronous emitter: one Kafka producer per process, one Run per agent run."""
from __future__ import annotations

import time

from confluent_kafka import KafkaException

from . import agui, payloads
from .kafka import DEFAULT_TOPIC, DeliveryFailed, delivery_error, make_producer
from .run import RunBase, ToolCallBase
from .validation import MAX_DEPTH, MAX_RECORD_BYTES, EnvelopeValidator


class EmitterBase:
    """Builds and validates envelopes; holds the producer. Shared by Emitter and AsyncEmitter."""

    def __init__(self, brokers="127.0.0.1:9092", topic=DEFAULT_TOPIC, *, config=None, producer=None,
                 max_record_bytes=MAX_RECORD_BYTES, max_depth=MAX_DEPTH, flush_timeout=30.0, clock=time.time):
        self.topic = topic
        self.flush_timeout = flush_timeout
        self._validator = EnvelopeValidator(max_record_bytes, max_depth)
        # `producer` is a seam for tests: anything with confluent-kafka's produce/poll/flush.
        self._producer = producer if producer is not None else make_producer(brokers, config)
        self._clock = clock
        self._closed = False

    def envelope(self, event_type, payload, user_id, thread_id, run_id):
        """The envelope of one event: the payload stays wrapped under "payload"."""
        return {"type": event_type, "user_id": user_id, "run_id": run_id, "thread_id": thread_id,
                "ts": int(self._clock() * 1000), "payload": payload}

    def _prepare(self, event_type, payload, user_id, thread_id, run_id):
        """(envelope, key, value) of a valid event; EventInvalid before anything is produced."""
        if self._closed:
            raise RuntimeError("emitter is closed")
        envelope = self.envelope(event_type, payload, user_id, thread_id, run_id)
        value = self._validator.encode(envelope)
        return envelope, user_id.encode("utf-8"), value


class Emitter(EmitterBase):
    """Produces agent events to Kafka, keyed by user id, after validating each one.

    Events are produced asynchronously by librdkafka. A delivery failure is raised as
    DeliveryFailed by the next call that touches the emitter (an event, flush() or close()),
    so an agent learns of it without waiting for the end of the run; flush() and close()
    wait for every event and raise if any was not delivered.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._failures = []

    def run(self, user_id, thread_id, run_id=None):
        """A run of an agent for a user; run_id defaults to a new uuid."""
        return Run(self, user_id, thread_id, run_id if run_id is not None else payloads.new_id())

    def emit(self, event_type, payload, *, user_id, thread_id, run_id):
        """One event of any type; returns the envelope produced."""
        return self._event(event_type, payload, user_id, thread_id, run_id)

    def _event(self, event_type, payload, user_id, thread_id, run_id):
        envelope, key, value = self._prepare(event_type, payload, user_id, thread_id, run_id)
        self._producer.poll(0)
        self._raise_failures()

        def on_delivery(err, msg):
            if err is not None:
                self._failures.append((event_type, run_id, delivery_error(err)))

        self._produce(key, value, on_delivery, event_type, run_id)
        self._producer.poll(0)
        return envelope

    def _produce(self, key, value, on_delivery, event_type, run_id):
        deadline = time.monotonic() + self.flush_timeout
        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value, on_delivery=on_delivery)
                return
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                if time.monotonic() > deadline:
                    raise DeliveryFailed([(event_type, run_id, "local producer queue full")]) from None
                self._producer.poll(0.1)
            except KafkaException as e:
                raise DeliveryFailed([(event_type, run_id, str(e))]) from e

    def _raise_failures(self, unconfirmed=0):
        if self._failures or unconfirmed:
            failures, self._failures = self._failures, []
            raise DeliveryFailed(failures, unconfirmed)

    def flush(self, timeout=None):
        """Waits until Kafka acknowledged every event; DeliveryFailed if any was not delivered."""
        left = self._producer.flush(self.flush_timeout if timeout is None else timeout)
        self._raise_failures(left)

    def close(self, timeout=None):
        """Flushes, then refuses further events."""
        if self._closed:
            return
        self._closed = True
        self.flush(timeout)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False


class Run(RunBase):
    """A method per critical event; `with` completes the run if the block did not (status from how it ended)."""

    def started(self, agent, model=None, input=None, **extra):
        self._started_at = time.monotonic()
        return self._event("agent_started", payloads.started(agent, model, input, extra))

    def thinking(self, text, step=None, **extra):
        return self._event("agent_thinking", payloads.thinking(text, step, extra))

    def tool(self, tool, input=None, *, call_id=None, **extra):
        """`with run.tool("search", input={...}) as call:` — see ToolCall."""
        return ToolCall(self, tool, input, call_id, extra)

    def tool_executing(self, tool, call_id=None, input=None, **extra):
        return self._event("tool_executing", payloads.tool_executing(tool, call_id, input, extra))

    def tool_completed(self, tool, status, call_id=None, output=None, duration_ms=None, **extra):
        return self._event("tool_completed",
                           payloads.tool_completed(tool, status, call_id, output, duration_ms, extra))

    def completed(self, status="ok", output=None, duration_ms=None, **extra):
        """agent_completed; duration_ms defaults to the time since started()."""
        envelope = self._event("agent_completed", self._completed_payload(status, output, duration_ms, extra))
        self._completed = True
        return envelope

    def custom(self, type, payload):
        """An event of your own type; its payload is any object."""
        return self._event(type, payload)

    def ag_ui(self, event):
        """An AG-UI 1.0 event (an ag_ui.core event or a dict in wire form): the envelope's type is
        the event's, the payload the event itself. RUN_STARTED and RUN_FINISHED get the run's
        threadId and runId when they have none, and are refused when theirs differ."""
        event_type, payload = self._ag_ui_payload(event)
        envelope = self._event(event_type, payload)
        self._ag_ui_run.saw(event_type)
        return envelope

    def text_message(self, role="assistant", message_id=None):
        """`with run.text_message() as msg: msg.delta(token)` — see TextMessage."""
        return TextMessage(self, role, message_id)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        closing = self._ag_ui_closing(exc)
        if closing is not None:
            self.ag_ui(closing)
        if self._auto_complete():
            self.completed(self._exit_status(exc))
        return False


class ToolCall(ToolCallBase):
    __doc__ = ToolCallBase.__doc__

    def __enter__(self):
        self._run._event("tool_executing", self._executing())
        self._mark_started()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._run._event("tool_completed", self._completed(exc))
        return False


class TextMessage(agui.TextMessageBase):
    __doc__ = agui.TextMessageBase.__doc__

    def __enter__(self):
        self._run.ag_ui(self._start)
        return self

    def delta(self, text):
        """Sends one fragment (a token); an empty one sends nothing. Returns without waiting for Kafka."""
        event = self._content(text)
        if text:
            self._run.ag_ui(event)
            self.deltas += 1

    def __exit__(self, exc_type, exc, tb):
        self._run.ag_ui(self._end())
        return False
