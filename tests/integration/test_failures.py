"""Failures with nothing lost: a worker killed mid-stream, the broker restarted mid-stream.
Real broker processes, real bridge processes, real sockets."""
import asyncio
import json
import os
import subprocess
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BROKERS, ROOT, envelope
from resume_client import ResumingClient, wait_until

KAFKA_SCRIPT = os.path.join(ROOT, "scripts", "kafka.sh")


def produce_steadily(brokers, topic, users, per_user, rate, started=None):
    """Each user's events carry seq 0..per_user-1; about `rate` events a second in all."""
    p = Producer({"bootstrap.servers": brokers, "partitioner": "murmur2_random", "enable.idempotence": True,
                  "linger.ms": 2})
    failures = []
    for seq in range(per_user):
        for u in users:
            p.produce(topic, key=u, value=json.dumps(envelope(u, payload={"text": "x", "seq": seq})),
                      on_delivery=lambda err, msg: err and failures.append(err))
        p.poll(0)
        if started and seq == 0:
            started.set()
        time.sleep(len(users) / rate)
    assert p.flush(120) == 0 and not failures, failures


def complete(clients, per_user):
    return all(set(c.seqs()) >= set(range(per_user)) for c in clients)


def test_worker_killed_mid_stream_loses_nothing(kafka, bridge_factory):
    topic = kafka.create_topic(6)
    b1, b2 = bridge_factory(topic), bridge_factory(topic)
    users = [f"crash-{i}" for i in range(20)]
    # 50 sockets: ten users with three, ten with two; alternate home workers.
    clients = []
    for i, u in enumerate(users):
        for _ in range(3 if i < 10 else 2):
            urls = [b1.url, b2.url] if len(clients) % 2 == 0 else [b2.url, b1.url]
            clients.append(ResumingClient(u, urls))
    per_user, rate = 40, 200
    report = {}

    async def run():
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(c.run(stop)) for c in clients]
        # Everyone connected and caught up before production starts.
        assert await wait_until(lambda: all(c.control for c in clients), 30, 0.05), "clients did not connect"
        started = threading.Event()
        producer = threading.Thread(target=produce_steadily, args=(BROKERS, topic, users, per_user, rate, started))
        producer.start()
        await asyncio.to_thread(started.wait)
        await asyncio.sleep(1.5)
        killed_at = time.monotonic()
        b1.proc.kill()  # SIGKILL: no drain, no close frames
        on_b1 = [c for c in clients if c.urls[0] == b1.url]
        await asyncio.to_thread(producer.join)
        await wait_until(lambda: complete(clients, per_user), 60)
        stop.set()
        await asyncio.gather(*tasks)
        # Settled: every client of the dead worker resumed on the survivor.
        resumed = [min((t for t, f in c.control if t > killed_at and f["type"] == "resumed"), default=None)
                   for c in on_b1]
        report["settle_s"] = max(t - killed_at for t in resumed) if None not in resumed else None

    asyncio.run(run())
    produced = per_user * len(users)
    delivered = sum(len(c.events) for c in clients)
    missing = sum(len(set(range(per_user)) - set(c.seqs())) for c in clients)
    dup_across = sum(c.duplicates_across for c in clients)
    dup_within = sum(c.duplicates_within for c in clients)
    print(f"\ncrash: produced={produced} events for {len(users)} users on {len(clients)} sockets; "
          f"delivered={delivered} unique (expected {per_user * len(clients)}); "
          f"duplicates across reconnects={dup_across}; within a connection={dup_within}; missing={missing}; "
          f"reconnect storm settled in {report.get('settle_s')} s")
    assert missing == 0
    assert dup_within == 0
    assert delivered == per_user * len(clients)
    for c in clients:
        assert all(e["payload"]["seq"] in range(per_user) and e["run_id"] for e in c.events)
        assert c.seqs() == sorted(c.seqs()), "order per user (one partition per user)"
    assert report["settle_s"] is not None
    assert b2.proc.poll() is None


def test_broker_restart_mid_stream(bridge_factory, tmp_path):
    port = int(os.environ.get("BRIDGE_RESTART_TEST_PORT", "19192"))
    brokers = f"127.0.0.1:{port}"
    kdir = str(tmp_path / "kafka")
    subprocess.run([KAFKA_SCRIPT, "start", "--port", str(port), "--dir", kdir], check=True)
    try:
        admin = AdminClient({"bootstrap.servers": brokers})
        admin.create_topics([NewTopic("restart-events", 3, 1)])["restart-events"].result(30)
        time.sleep(1)
        bridge = bridge_factory("restart-events", brokers=brokers)
        users = ["r1", "r2"]
        clients = [ResumingClient(u, [bridge.url]) for u in users]
        per_user = 150
        report = {}

        async def run():
            stop = asyncio.Event()
            tasks = [asyncio.ensure_future(c.run(stop)) for c in clients]
            await wait_until(lambda: all(c.control for c in clients), 30, 0.05)
            producer = threading.Thread(target=produce_steadily, args=(brokers, "restart-events", users, per_user, 40))
            producer.start()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(subprocess.run, [KAFKA_SCRIPT, "stop", "--port", str(port), "--dir", kdir], check=True)
            # Down: not ready, sockets kept.
            report["not_ready_while_down"] = await wait_until(lambda: bridge.http("/readyz")[0] == 503, 20, 0.2)
            report["sockets_while_down"] = bridge.metric("bridge_sockets_open")
            await asyncio.sleep(2)
            await asyncio.to_thread(subprocess.run, [KAFKA_SCRIPT, "start", "--port", str(port), "--dir", kdir, "--keep"],
                                    check=True)
            report["ready_again"] = await wait_until(lambda: bridge.http("/readyz")[0] == 200, 60, 0.2)
            await asyncio.to_thread(producer.join)
            await wait_until(lambda: complete(clients, per_user), 60)
            # The "delivery back" status comes at the worker's next tick (once a second).
            await wait_until(lambda: all(any(f["type"] == "status" and f["payload"]["state"] == "ok"
                                             for _, f in c.control) for c in clients), 10)
            stop.set()
            await asyncio.gather(*tasks)

        asyncio.run(run())
        assert report == {"not_ready_while_down": True, "sockets_while_down": 2.0, "ready_again": True}
        # Degraded mode: each socket was told when delivery stopped, and when it was back.
        for c in clients:
            states = [(f["payload"]["state"], f["payload"].get("reason")) for _, f in c.control if f["type"] == "status"]
            assert states == [("degraded", "kafka_unavailable"), ("ok", None)], states
        for c in clients:
            assert c.seqs() == list(range(per_user)), "nothing lost, in order"
            assert c.duplicates_within == 0
            assert c.connections == 1, "the socket survived the broker restart"
        assert bridge.proc.poll() is None
    finally:
        subprocess.run([KAFKA_SCRIPT, "stop", "--port", str(port), "--dir", kdir])
