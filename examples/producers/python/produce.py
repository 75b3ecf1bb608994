"""Publishes one agent run (five events) for a user to the agent event bridge's topic.

Usage: KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=agent-events python produce.py USER_ID RUN_ID [THREAD_ID]
"""
import json
import os
import sys
import time

from confluent_kafka import KafkaException, Producer


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python produce.py USER_ID RUN_ID [THREAD_ID]")
    user_id, run_id = sys.argv[1], sys.argv[2]
    thread_id = sys.argv[3] if len(sys.argv) == 4 else "thread-1"
    brokers = os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092")
    topic = os.environ.get("KAFKA_TOPIC", "agent-events")

    run = [
        ("agent_started", {"agent": "research-assistant", "model": "demo", "input": "What is Kafka?"}),
        ("agent_thinking", {"text": "I should look this up.", "step": 1}),
        ("tool_executing", {"tool": "web_search", "call_id": "c1", "input": {"q": "Apache Kafka"}}),
        ("tool_completed", {"tool": "web_search", "call_id": "c1", "status": "ok",
                            "output": ["Kafka is a distributed event log."], "duration_ms": 120}),
        ("agent_completed", {"status": "ok", "output": "Kafka is a distributed event log.", "duration_ms": 450}),
    ]

    producer = Producer({
        "bootstrap.servers": brokers,
        # Java's murmur2, so every language puts a user in the same partition (librdkafka's default is crc32).
        "partitioner": "murmur2_random",
        # Retries cannot duplicate or reorder; implies acks=all.
        "enable.idempotence": True,
    })
    failures = []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(err)
        else:
            print(f"delivered to {msg.topic()}[{msg.partition()}] at offset {msg.offset()}")

    try:
        for event_type, payload in run:
            envelope = {"type": event_type, "user_id": user_id, "run_id": run_id, "thread_id": thread_id,
                        "ts": int(time.time() * 1000), "payload": payload}
            # Key = user id: a user's events share a partition, so they stay in order.
            producer.produce(topic, key=user_id.encode(), value=json.dumps(envelope).encode(),
                             on_delivery=on_delivery)
            producer.poll(0)
    except (BufferError, KafkaException) as e:
        sys.exit(f"produce failed: {e}")

    # Wait until the broker acknowledged every record (or it failed for good).
    left = producer.flush(30)
    if left or failures:
        sys.exit(f"produce failed: {failures[0] if failures else f'{left} records not delivered'}")


if __name__ == "__main__":
    main()
