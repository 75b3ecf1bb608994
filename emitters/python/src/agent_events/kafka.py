"""The Kafka side: producer settings every agent needs, and delivery failures."""
from __future__ import annotations

DEFAULT_TOPIC = "agent-events"


class DeliveryFailed(Exception):
    """Kafka did not take one or more events (after librdkafka's own retries).

    `failures` lists (event type, run id, error) for each event that was not delivered;
    `unconfirmed` counts events still queued when a flush timed out (they may yet arrive).
    """

    def __init__(self, failures=(), unconfirmed=0):
        self.failures = list(failures)
        self.unconfirmed = unconfirmed
        parts = []
        if self.failures:
            shown = "; ".join(f"{t} of run {r}: {e}" for t, r, e in self.failures[:3])
            more = f" (and {len(self.failures) - 3} more)" if len(self.failures) > 3 else ""
            parts.append(f"{len(self.failures)} event(s) not delivered: {shown}{more}")
        if unconfirmed:
            parts.append(f"{unconfirmed} event(s) not confirmed before the flush timeout")
        super().__init__("; ".join(parts))


def producer_config(brokers, config=None):
    """librdkafka settings: Java's murmur2 partitioner (every language puts a user in the same
    partition), the idempotent producer (a retry cannot duplicate or reorder), acks from all
    in-sync replicas, a short linger, 10 s before giving up on a hung broker. `config` is passed
    through and wins."""
    settings = {
        "bootstrap.servers": brokers,
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # A hung broker holds its requests until this runs out (60 s by default); at 10 s the
        # events go again, in order and once (idempotent), to the partition's new leader.
        "socket.timeout.ms": 10000,
    }
    settings.update(config or {})
    return settings


def make_producer(brokers, config=None):
    from confluent_kafka import Producer
    return Producer(producer_config(brokers, config))


def delivery_error(err):
    """A delivery report's error as text (None: delivered)."""
    return None if err is None else str(err)
