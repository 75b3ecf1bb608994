"""Publishes one agent run (five events) for a user to the agent event bridge's topic.

Usage: KAFKA_BROKERS=127.0.0.1:9092 KAFKA_TOPIC=agent-events python produce.py USER_ID RUN_ID [THREAD_ID]

Uses the project's emitter (emitters/python, `pip install -e emitters/python`): it keys each
record by user id, uses Java's murmur2 partitioner and the idempotent producer, and validates
every event against the schemas before producing it.
"""
import os
import sys

from agent_events import DeliveryFailed, Emitter


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python produce.py USER_ID RUN_ID [THREAD_ID]")
    user_id, run_id = sys.argv[1], sys.argv[2]
    thread_id = sys.argv[3] if len(sys.argv) == 4 else "thread-1"
    brokers = os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092")
    topic = os.environ.get("KAFKA_TOPIC", "agent-events")

    try:
        # close() (the end of the with block) waits until Kafka acknowledged every event.
        with Emitter(brokers, topic) as emitter:
            run = emitter.run(user_id, thread_id, run_id=run_id)
            run.started("research-assistant", model="demo", input="What is Kafka?")
            run.thinking("I should look this up.", step=1)
            # A real agent wraps the call instead, which times it and reports errors:
            #   with run.tool("web_search", input={"q": "Apache Kafka"}) as call:
            #       call.output = web_search("Apache Kafka")
            # This demo sends fixed values, so the tests can compare them.
            run.tool_executing("web_search", call_id="c1", input={"q": "Apache Kafka"})
            run.tool_completed("web_search", "ok", call_id="c1",
                               output=["Kafka is a distributed event log."], duration_ms=120)
            run.completed("ok", output="Kafka is a distributed event log.", duration_ms=450)
    except DeliveryFailed as e:
        sys.exit(f"produce failed: {e}")
    print(f"delivered run {run_id} of {user_id} to {topic}")


if __name__ == "__main__":
    main()
