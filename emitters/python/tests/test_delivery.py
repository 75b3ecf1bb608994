"""Sync delivery: a failure is raised by the next call, flush() or close(); the Kafka settings."""
import pytest

from agent_events import DeliveryFailed, Emitter, producer_config


def test_failure_is_raised_by_flush(emitter, producer):
    producer.fail["agent_thinking"] = "Local: Message timed out"
    run = emitter.run("u", "t", run_id="r-1")
    run.thinking("x")  # the fake reports on the poll after produce
    with pytest.raises(DeliveryFailed, match="agent_thinking of run r-1: Local: Message timed out") as e:
        emitter.flush()
    assert e.value.failures == [("agent_thinking", "r-1", "Local: Message timed out")]
    emitter.flush()  # reported once


def test_failure_is_raised_by_the_next_event(emitter, producer):
    producer.fail["agent_started"] = "Broker: Not enough in-sync replicas"
    run = emitter.run("u", "t", run_id="r-1")
    run.started("a")
    with pytest.raises(DeliveryFailed, match="agent_started of run r-1"):
        run.thinking("x")
    assert [e["type"] for e in producer.envelopes()] == ["agent_started"], "nothing produced after the failure"


def test_unconfirmed_events_at_flush_timeout(producer):
    producer.flush = lambda timeout=None: 2
    with pytest.raises(DeliveryFailed, match="2 event\\(s\\) not confirmed"):
        Emitter(producer=producer).flush(0.1)


def test_close_flushes_and_refuses_more(producer):
    with Emitter(producer=producer) as emitter:
        run = emitter.run("u", "t")
        run.thinking("x")
    with pytest.raises(RuntimeError, match="closed"):
        run.thinking("y")
    assert len(producer.records) == 1


def test_producer_config_defaults_and_passthrough():
    config = producer_config("k1:9092", {"linger.ms": 20, "client.id": "agent-7"})
    assert config == {"bootstrap.servers": "k1:9092", "partitioner": "murmur2_random", "enable.idempotence": True,
                      "acks": "all", "linger.ms": 20, "socket.timeout.ms": 10000, "client.id": "agent-7"}


def test_real_producer_is_built_with_those_settings():
    # confluent-kafka checks the settings when the producer is created; no broker is contacted.
    Emitter("127.0.0.1:1", config={"message.timeout.ms": 1000})
