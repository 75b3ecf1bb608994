"""What a run and a tool call know, shared by the sync and the asyncio flavours."""
from __future__ import annotations

import asyncio
import time

from . import agui, payloads


class RunBase:
    """One agent run of one user in one thread: the ids every event of the run carries."""

    def __init__(self, emitter, user_id, thread_id, run_id):
        self.user_id = user_id
        self.thread_id = thread_id
        self.run_id = run_id
        self._emitter = emitter
        self._started_at = None  # time.monotonic() at started()
        self._completed = False
        self._ag_ui_run = agui.AgUiRunState()

    def _event(self, event_type, payload):
        return self._emitter._event(event_type, payload, self.user_id, self.thread_id, self.run_id)

    def _ag_ui_payload(self, event):
        return agui.payload_of(event, self.thread_id, self.run_id)

    def _ag_ui_closing(self, exc):
        """The event that ends an AG-UI run left open by its `with` block, or None."""
        if not self._ag_ui_run.open:
            return None
        return agui.AgUiRunState.closing_event(self._exit_status(exc), exc)

    def _completed_payload(self, status, output, duration_ms, extra):
        if duration_ms is None and self._started_at is not None:
            duration_ms = payloads.elapsed_ms(self._started_at)
        return payloads.completed(status, output, duration_ms, extra)

    def _exit_status(self, exc):
        """agent_completed's status when the run's `with` block ends before completed()."""
        if exc is None:
            return "ok"
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            return "cancelled"
        return "error"

    def _auto_complete(self):
        return self._started_at is not None and not self._completed


class ToolCallBase:
    """One tool call: tool_executing on enter, tool_completed with the same call_id on exit.

    Set `output` inside the block to report what the tool returned. An exception inside marks
    the call "error" and reports the exception's class name in an `error` field (never its
    message, which may hold secrets), then propagates. Setting `error` to a text of your own
    marks the call failed without an exception, or replaces the class name.
    """

    def __init__(self, run, tool, input, call_id, extra):
        self.tool = tool
        self.call_id = call_id if call_id is not None else payloads.new_id()
        self.input = input
        self.output = None
        self.error = None
        self.duration_ms = None
        self._run = run
        self._extra = extra
        self._started_at = None

    def _executing(self):
        return payloads.tool_executing(self.tool, self.call_id, self.input, self._extra)

    def _completed(self, exc):
        self.duration_ms = payloads.elapsed_ms(self._started_at)
        extra = {}
        if exc is not None and self.error is None:
            self.error = payloads.tool_failure(exc)
        if self.error is not None:
            extra["error"] = self.error
        status = "ok" if self.error is None else "error"
        return payloads.tool_completed(self.tool, status, self.call_id, self.output, self.duration_ms, extra)

    def _mark_started(self):
        self._started_at = time.monotonic()
