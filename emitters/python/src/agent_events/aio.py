"""The asyncio emitter: every event method is awaitable and returns once Kafka took the event.

librdkafka serves delivery reports on a poll thread of the emitter's own; each report
resolves its event's future on the event loop (loop.call_soon_threadsafe), so the loop
never blocks on Kafka. flush() and close() wait in the loop's default executor.
"""
from __future__ import annotations

import asyncio
import threading
import time

from confluent_kafka import KafkaException

from . import agui, payloads
from .emitter import EmitterBase
from .kafka import DeliveryFailed, delivery_error
from .run import RunBase, ToolCallBase


def _settle(future, error):
    if not future.done():
        future.set_result(error)


class AsyncEmitter(EmitterBase):
    """Like Emitter, but each event is awaited until delivered, and a failure raises
    DeliveryFailed from the very call that emitted it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop = threading.Event()
        self._poller = None

    def run(self, user_id, thread_id, run_id=None):
        """A run of an agent for a user; run_id defaults to a new uuid."""
        return AsyncRun(self, user_id, thread_id, run_id if run_id is not None else payloads.new_id())

    async def emit(self, event_type, payload, *, user_id, thread_id, run_id):
        """One event of any type; returns the envelope once delivered."""
        return await self._event(event_type, payload, user_id, thread_id, run_id)

    async def _event(self, event_type, payload, user_id, thread_id, run_id):
        envelope, delivered = await self._send(event_type, payload, user_id, thread_id, run_id)
        error = await delivered
        if error is not None:
            raise DeliveryFailed([(event_type, run_id, error)])
        return envelope

    async def _send(self, event_type, payload, user_id, thread_id, run_id):
        """Produces one event; returns its envelope and a future of its delivery error (None: delivered)."""
        envelope, key, value = self._prepare(event_type, payload, user_id, thread_id, run_id)
        loop = asyncio.get_running_loop()
        delivered = loop.create_future()

        def on_delivery(err, msg):
            # On the poll thread: hand the report to the loop.
            try:
                loop.call_soon_threadsafe(_settle, delivered, delivery_error(err))
            except RuntimeError:
                pass  # the loop is closed: nobody waits for this event any more

        await self._produce(key, value, on_delivery, event_type, run_id)
        self._start_poller()
        return envelope, delivered

    async def _produce(self, key, value, on_delivery, event_type, run_id):
        deadline = time.monotonic() + self.flush_timeout
        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value, on_delivery=on_delivery)
                return
            except BufferError:
                # The local queue is full: the poll thread makes room.
                self._start_poller()
                if time.monotonic() > deadline:
                    raise DeliveryFailed([(event_type, run_id, "local producer queue full")]) from None
                await asyncio.sleep(0.05)
            except KafkaException as e:
                raise DeliveryFailed([(event_type, run_id, str(e))]) from e

    def _start_poller(self):
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="agent-events-poll", daemon=True)
            self._poller.start()

    def _poll(self):
        while not self._stop.is_set():
            self._producer.poll(0.1)

    async def flush(self, timeout=None):
        """Waits until Kafka acknowledged every event; DeliveryFailed if some are still queued."""
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(None, self._producer.flush,
                                          self.flush_timeout if timeout is None else timeout)
        if left:
            raise DeliveryFailed(unconfirmed=left)

    async def close(self, timeout=None):
        """Flushes, stops the poll thread, then refuses further events."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.flush(timeout)
        finally:
            self._stop.set()
            if self._poller is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._poller.join)

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.close()
        return False


class AsyncRun(RunBase):
    """Run's methods as coroutines; `async with` completes the run if the block did not."""

    async def started(self, agent, model=None, input=None, **extra):
        self._started_at = time.monotonic()
        return await self._event("agent_started", payloads.started(agent, model, input, extra))

    async def thinking(self, text, step=None, **extra):
        return await self._event("agent_thinking", payloads.thinking(text, step, extra))

    def tool(self, tool, input=None, *, call_id=None, **extra):
        """`async with run.tool("search", input={...}) as call:` — see ToolCall."""
        return AsyncToolCall(self, tool, input, call_id, extra)

    async def tool_executing(self, tool, call_id=None, input=None, **extra):
        return await self._event("tool_executing", payloads.tool_executing(tool, call_id, input, extra))

    async def tool_completed(self, tool, status, call_id=None, output=None, duration_ms=None, **extra):
        return await self._event("tool_completed",
                                 payloads.tool_completed(tool, status, call_id, output, duration_ms, extra))

    async def completed(self, status="ok", output=None, duration_ms=None, **extra):
        """agent_completed; duration_ms defaults to the time since started()."""
        envelope = await self._event("agent_completed",
                                     self._completed_payload(status, output, duration_ms, extra))
        self._completed = True
        return envelope

    async def custom(self, type, payload):
        """An event of your own type; its payload is any object."""
        return await self._event(type, payload)

    async def ag_ui(self, event):
        """Run.ag_ui, awaited until Kafka took the event."""
        event_type, payload = self._ag_ui_payload(event)
        envelope = await self._event(event_type, payload)
        self._ag_ui_run.saw(event_type)
        return envelope

    def text_message(self, role="assistant", message_id=None):
        """`async with run.text_message() as msg: await msg.delta(token)` — see AsyncTextMessage."""
        return AsyncTextMessage(self, role, message_id)

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        closing = self._ag_ui_closing(exc)
        if closing is not None:
            await self.ag_ui(closing)
        if self._auto_complete():
            await self.completed(self._exit_status(exc))
        return False


class AsyncToolCall(ToolCallBase):
    __doc__ = ToolCallBase.__doc__

    async def __aenter__(self):
        await self._run._event("tool_executing", self._executing())
        self._mark_started()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self._run._event("tool_completed", self._completed(exc))
        return False


class AsyncTextMessage(agui.TextMessageBase):
    """TextMessage for asyncio. Start and end are awaited until Kafka took them; a delta returns once
    it is queued, so tokens stream at their own rate rather than one broker round trip each. The
    end also waits for every delta's delivery, and a delta that failed raises DeliveryFailed from
    the next delta or from the end."""

    def __init__(self, run, role, message_id):
        super().__init__(run, role, message_id)
        self._pending = set()  # delivery futures of deltas not yet reported
        self._failed = []  # delivery errors of deltas, not yet raised

    async def __aenter__(self):
        await self._run.ag_ui(self._start)
        return self

    async def delta(self, text):
        event = self._content(text)
        if not text:
            return
        self._raise_failures()
        event_type, payload = self._run._ag_ui_payload(event)
        _, delivered = await self._run._emitter._send(event_type, payload, self._run.user_id, self._run.thread_id,
                                                      self._run.run_id)
        self._pending.add(delivered)
        delivered.add_done_callback(self._reported)
        self.deltas += 1

    async def __aexit__(self, exc_type, exc, tb):
        await self._run.ag_ui(self._end())
        if self._pending:
            await asyncio.wait(self._pending)
        self._raise_failures()
        return False

    def _reported(self, delivered):
        self._pending.discard(delivered)
        if delivered.result() is not None:
            self._failed.append(delivered.result())

    def _raise_failures(self):
        if self._failed:
            failed, self._failed = self._failed, []
            raise DeliveryFailed([("TEXT_MESSAGE_CONTENT", self._run.run_id, e) for e in failed])
