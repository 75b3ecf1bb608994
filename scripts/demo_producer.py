"""Demo producer: publishes a full agent run for one user every few seconds.

--every slows it, --runs stops it after that many runs, and while --pause-file exists it
publishes nothing (scripts/demo.sh pause / resume). With --ws it also prints a token for the
user and a URL to watch the events with (the compose demo, which has no page); the HS256
secret comes from BRIDGE_JWT_SECRET, the same one the bridge verifies with.
"""
import argparse
import json
import logging
import os
import time
import uuid

import jwt
from confluent_kafka import KafkaException, Producer


def agent_run(user, thread_id):
    run_id = "run-" + uuid.uuid4().hex[:8]
    steps = [
        ("agent_started", {"agent": "research-assistant", "model": "demo", "input": "What is Kafka?"}),
        ("agent_thinking", {"text": "I should look this up.", "step": 1}),
        ("tool_executing", {"tool": "web_search", "call_id": "c1", "input": {"q": "Apache Kafka"}}),
        ("tool_completed", {"tool": "web_search", "call_id": "c1", "status": "ok", "duration_ms": 120,
                            "output": ["Kafka is a distributed event log."]}),
        ("agent_completed", {"status": "ok", "output": "Kafka is a distributed event log.", "duration_ms": 450}),
    ]
    for etype, payload in steps:
        yield {"type": etype, "user_id": user, "run_id": run_id, "thread_id": thread_id,
               "ts": int(time.time() * 1000), "payload": payload}


# What librdkafka says while a broker it has just met settles (a new topic's leaders, the
# idempotent producer's id): retried by itself, harmless, and alarming to read on every start.
SETTLING = ("Failed to acquire idempotence PID", "Not leader for partition", "NOT_LEADER",
            "Leader not available", "LEADER_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS")
SETTLE_S = 30


def startup_quiet_logger():
    """librdkafka's log: lines of a broker settling are kept back for the first SETTLE_S seconds."""
    started = time.monotonic()

    class Settling(logging.Filter):
        def filter(self, record):
            msg = record.getMessage()
            return time.monotonic() - started > SETTLE_S or not any(s in msg for s in SETTLING)

    log = logging.getLogger("demo_producer.kafka")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s kafka %(levelname)s %(message)s"))
    handler.addFilter(Settling())
    log.addHandler(handler)
    log.propagate = False
    return log


def wait_for_leaders(producer, topic, timeout=30):
    """Until every partition of the topic has a leader: the first runs then go out at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            t = producer.list_topics(topic, timeout=5).topics.get(topic)
            if t is not None and t.error is None and t.partitions and all(
                    p.leader >= 0 and p.error is None for p in t.partitions.values()):
                return
        except KafkaException:
            pass
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="agent-events")
    ap.add_argument("--user", default="demo-user")
    ap.add_argument("--ws", help="print a token and a URL to watch the events at this socket URL")
    ap.add_argument("--every", type=float, default=3.0, help="seconds between runs")
    ap.add_argument("--runs", type=int, default=0, help="stop after this many runs (0: never)")
    ap.add_argument("--pause-file", help="publish nothing while this file exists")
    args = ap.parse_args()

    if args.ws:
        secret = os.environ["BRIDGE_JWT_SECRET"]
        token = jwt.encode({"sub": args.user, "exp": int(time.time()) + 24 * 3600}, secret, algorithm="HS256")
        print(f"user:  {args.user}\ntoken: {token}\nurl:   {args.ws}?access_token={token}", flush=True)
        print("watch: in a browser console, new WebSocket(url).onmessage = e => console.log(e.data)", flush=True)

    # Keyed by user with Java's partitioner, so every client library puts a user in the same partition.
    producer = Producer({"bootstrap.servers": args.brokers, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 5, "logger": startup_quiet_logger()})
    wait_for_leaders(producer, args.topic)
    failures = []

    def delivered(err, msg):
        if err:
            failures.append(err)

    runs = 0
    paused = False
    while args.runs == 0 or runs < args.runs:
        if args.pause_file and os.path.exists(args.pause_file):
            if not paused:
                print("paused (scripts/demo.sh resume to go on)", flush=True)
            paused = True
            time.sleep(0.5)
            continue
        if paused:
            print("resumed", flush=True)
            paused = False
        for event in agent_run(args.user, "thread-demo"):
            producer.produce(args.topic, key=args.user, value=json.dumps(event), on_delivery=delivered)
            producer.poll(0)
            time.sleep(0.2)
        producer.flush(10)
        runs += 1
        print(f"published run {runs} ({'failed: ' + str(failures[-1]) if failures else 'ok'})", flush=True)
        failures.clear()
        time.sleep(args.every)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C on scripts/demo.sh: it stops the rest
        pass
