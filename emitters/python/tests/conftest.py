"""A hand-written fake of confluent-kafka's Producer, so the unit tests need no broker."""
import json
import threading

import pytest

from agent_events import AsyncEmitter, Emitter


class FakeMessage:
    def __init__(self, topic, key, value, offset):
        self._topic, self._key, self._value, self._offset = topic, key, value, offset

    def topic(self):
        return self._topic

    def key(self):
        return self._key

    def value(self):
        return self._value

    def partition(self):
        return 0

    def offset(self):
        return self._offset


class FakeProducer:
    """Records what is produced; poll() and flush() report deliveries, failing those named in `fail`."""

    def __init__(self):
        self.records = []  # (topic, key, value bytes)
        self.fail = {}  # event type -> error text
        self._pending = []
        self._lock = threading.Lock()

    def produce(self, topic, key=None, value=None, on_delivery=None):
        with self._lock:
            self.records.append((topic, key, value))
            self._pending.append((on_delivery, FakeMessage(topic, key, value, len(self.records) - 1)))

    def poll(self, timeout=0):
        with self._lock:
            pending, self._pending = self._pending, []
        for callback, msg in pending:
            error = self.fail.get(json.loads(msg.value())["type"])
            callback(error, msg)
        return len(pending)

    def flush(self, timeout=None):
        self.poll()
        return 0

    def envelopes(self):
        return [json.loads(value) for _, _, value in self.records]


@pytest.fixture
def producer():
    return FakeProducer()


@pytest.fixture
def emitter(producer):
    return Emitter(topic="agent-events", producer=producer, clock=lambda: 1764000000.123)


@pytest.fixture
def async_emitter(producer):
    return AsyncEmitter(topic="agent-events", producer=producer, clock=lambda: 1764000000.123)
