"""Demo producer: publishes a full agent run for one user every few seconds.

Prints a token for that user and the ws:// URL to watch the events with. The HS256 secret
comes from BRIDGE_JWT_SECRET, the same one the bridge verifies with.
"""
import argparse
import json
import os
import time
import uuid

import jwt
from confluent_kafka import Producer


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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="agent-events")
    ap.add_argument("--user", default="demo-user")
    ap.add_argument("--ws", default="ws://127.0.0.1:8080/ws")
    ap.add_argument("--every", type=float, default=3.0, help="seconds between runs")
    ap.add_argument("--runs", type=int, default=0, help="stop after this many runs (0: never)")
    args = ap.parse_args()

    secret = os.environ["BRIDGE_JWT_SECRET"]
    token = jwt.encode({"sub": args.user, "exp": int(time.time()) + 24 * 3600}, secret, algorithm="HS256")
    print(f"user:  {args.user}\ntoken: {token}\nurl:   {args.ws}?access_token={token}", flush=True)
    print("watch: in a browser console, new WebSocket(url).onmessage = e => console.log(e.data)", flush=True)

    # Keyed by user with Java's partitioner, so every client library puts a user in the same partition.
    producer = Producer({"bootstrap.servers": args.brokers, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 5})
    failures = []

    def delivered(err, msg):
        if err:
            failures.append(err)

    runs = 0
    while args.runs == 0 or runs < args.runs:
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
    main()
