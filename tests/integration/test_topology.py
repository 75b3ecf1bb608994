"""The deployment topology without Docker (scripts/topology.sh): its own Kafka, bridge workers
on loopback and nginx in front with deploy/nginx.conf. Every socket goes through nginx."""
import asyncio
import gc
import os
import random
import resource
import socket
import subprocess
import threading
import time
import urllib.request
from types import SimpleNamespace

import pytest

from conftest import ROOT, SECRET, Kafka, envelope, open_socket, receive_events, receive_nothing
from resume_client import ResumingClient, wait_until

TOPOLOGY = os.path.join(ROOT, "scripts", "topology.sh")
TOPIC = "agent-events"


class Topology:
    """A running scripts/topology.sh: the balancer's URL, the workers, a producer."""

    def __init__(self, state_dir):
        self.dir = str(state_dir)
        self.http_port = quiet_port()
        self.kafka_port = quiet_port(2)
        self.run("start", "--workers", "3", "--http-port", str(self.http_port),
                 "--kafka-port", str(self.kafka_port), "--topic", TOPIC, timeout=180)
        self.balancer = SimpleNamespace(url=f"ws://127.0.0.1:{self.http_port}/ws")
        self.kafka = Kafka(f"127.0.0.1:{self.kafka_port}")

    def run(self, command, *args, timeout=60):
        env = dict(os.environ, BRIDGE_JWT_SECRET=SECRET)
        r = subprocess.run([TOPOLOGY, command, "--dir", self.dir, *args], env=env,
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"topology.sh {command}: {r.stdout}\n{r.stderr}"
        return r.stdout

    def workers(self):
        """{name: (pid, port)} from the state directory."""
        with open(os.path.join(self.dir, "workers")) as f:
            return {name: (int(pid), int(port)) for name, pid, port in (line.split() for line in f)}

    def nginx_pid(self):
        with open(os.path.join(self.dir, "nginx", "nginx.pid")) as f:
            return int(f.read())

    def sockets_open(self):
        """bridge_sockets_open of every worker, read from the worker itself."""
        return {name: metric(port, "bridge_sockets_open") for name, (_, port) in self.workers().items()}


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def quiet_port(count=1):
    """A port P with P..P+count-1 free, below the kernel's ephemeral range, so no outgoing
    connection takes it between this check and the bind (Kafka takes P and P+1)."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for _ in range(100):
        p = random.randrange(20000, low - count)
        try:
            for q in range(p, p + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
    raise RuntimeError("no free port below the ephemeral range")


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    # 300+ client sockets in this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    t = Topology(tmp_path_factory.mktemp("topology"))
    try:
        yield t
    finally:
        # Close the Kafka clients before their broker goes.
        t.kafka = None
        gc.collect()
        subprocess.run([TOPOLOGY, "stop", "--dir", t.dir], capture_output=True, timeout=120)


def event(user, seq):
    return envelope(user, etype="topology_probe", payload={"user": user, "seq": seq})


async def open_many(balancer, users, per_user):
    """per_user sockets for each user, through the balancer, 50 handshakes at a time."""
    gate = asyncio.Semaphore(50)

    async def one(user):
        async with gate:
            return user, await open_socket(balancer, user)

    pairs = await asyncio.gather(*(one(u) for u in users for _ in range(per_user)))
    sockets = {u: [] for u in users}
    for user, ws in pairs:
        sockets[user].append(ws)
    return sockets


async def expect_exactly(sockets, per_user_events):
    """Every socket receives exactly its user's events, in order, and nothing else."""
    async def check(user, ws):
        got = [e["payload"] for e in await receive_events(ws, per_user_events[user], timeout=30)]
        assert got == [{"user": user, "seq": s} for s in range(per_user_events[user])], user
        assert await receive_nothing(ws, 0.5) == [], user

    await asyncio.gather(*(check(u, ws) for u, group in sockets.items() for ws in group))


async def close_all(sockets):
    await asyncio.gather(*(ws.close() for group in sockets.values() for ws in group))


def test_300_sockets_spread_over_all_workers_and_get_only_their_users_events(topology):
    assert "ready" in topology.run("status")
    users = [f"spread-{i}" for i in range(100)]

    async def run():
        sockets = await open_many(topology.balancer, users, per_user=3)
        counts = topology.sockets_open()
        assert len(counts) == 3
        assert all(n > 0 for n in counts.values()), counts
        assert sum(counts.values()) == 300, counts

        for seq in range(5):
            for user in users:
                topology.kafka.produce(TOPIC, user, event(user, seq))
        topology.kafka.flush()
        await expect_exactly(sockets, {u: 5 for u in users})
        await close_all(sockets)
        return counts

    counts = asyncio.run(run())
    print("sockets per worker:", counts)


def test_a_fourth_worker_takes_new_sockets_without_restarting_the_others(topology):
    before_workers = topology.workers()
    nginx_pid = topology.nginx_pid()
    old_users = [f"old-{i}" for i in range(30)]
    new_users = [f"new-{i}" for i in range(40)]
    kafka = topology.kafka

    async def run():
        old = await open_many(topology.balancer, old_users, per_user=1)
        sent = {u: 0 for u in old_users}
        stop = asyncio.Event()

        # A producer keeps publishing to the old sockets' users the whole time.
        async def produce_steadily():
            while not stop.is_set():
                for user in old_users:
                    kafka.produce(TOPIC, user, event(user, sent[user]))
                    sent[user] += 1
                kafka.producer.poll(0)
                await asyncio.sleep(0.05)
            kafka.flush()

        producing = asyncio.create_task(produce_steadily())
        await asyncio.sleep(0.5)
        added = await asyncio.to_thread(topology.run, "add-worker")
        assert "w4" in added

        new = await open_many(topology.balancer, new_users, per_user=1)
        counts = topology.sockets_open()
        assert counts["w4"] > 0, counts
        stop.set()
        await producing

        for seq in range(3):
            for user in new_users:
                kafka.produce(TOPIC, user, event(user, seq))
        kafka.flush()
        # Old sockets were never interrupted: every event, none missing, none extra.
        await expect_exactly(old, sent)
        await expect_exactly(new, {u: 3 for u in new_users})
        await close_all(old)
        await close_all(new)
        return counts, sent

    started = time.time()
    counts, sent = asyncio.run(run())
    print(f"sockets per worker after add-worker: {counts}; {sum(sent.values())} events to old sockets "
          f"in {time.time() - started:.1f} s")

    # Nothing was restarted: same worker processes, same nginx master, no drain anywhere.
    after = topology.workers()
    assert set(after) == set(before_workers) | {"w4"}
    for name, (pid, port) in before_workers.items():
        assert after[name] == (pid, port)
        os.kill(pid, 0)
        assert metric(port, 'bridge_disconnects_total{reason="shutdown"}') == 0
    assert topology.nginx_pid() == nginx_pid


def test_rolling_restart_through_the_balancer_loses_nothing(topology):
    """SIGTERM each worker in turn while a producer runs: sockets close with 1001, clients
    reconnect through nginx with ?resume=<last id>, and every client ends with exactly its
    user's events: none missing, none twice on one connection, in order."""
    users = [f"roll-{i}" for i in range(20)]
    clients = [ResumingClient(u, [topology.balancer.url]) for u in users for _ in range(2)]
    before = topology.workers()
    nginx_pid = topology.nginx_pid()
    kafka = topology.kafka
    sent = {u: 0 for u in users}
    producing = threading.Event()
    stop_producing = threading.Event()

    def produce_steadily():
        # About 200 events/s: every user, every 0.1 s, until told to stop.
        while not stop_producing.is_set():
            for u in users:
                kafka.produce(TOPIC, u, event(u, sent[u]))
                sent[u] += 1
            kafka.producer.poll(0)
            producing.set()
            time.sleep(0.1)
        kafka.flush()

    report = {}

    async def run():
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(c.run(stop)) for c in clients]
        producer = threading.Thread(target=produce_steadily)
        try:
            # Every client connected (its since= replay answered) before production starts.
            assert await wait_until(lambda: all(c.control for c in clients), 30, 0.05), "clients did not connect"
            producer.start()
            await asyncio.to_thread(producing.wait)
            await asyncio.sleep(1.0)
            started = time.monotonic()
            for name in sorted(before):
                out = await asyncio.to_thread(topology.run, "restart-worker", name)
                report.setdefault("restarts", []).append(out.strip())
                await asyncio.sleep(0.5)
            report["rolling_s"] = time.monotonic() - started
            await asyncio.sleep(1.0)
        finally:
            stop_producing.set()
            if producer.is_alive():
                await asyncio.to_thread(producer.join)
        try:
            # Everything produced reaches every client.
            await wait_until(lambda: all(set(c.seqs()) >= set(range(sent[c.user])) for c in clients), 60)
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    asyncio.run(run())
    produced = sum(sent.values())
    expected = sum(sent[c.user] for c in clients)
    delivered = sum(len(c.events) for c in clients)
    missing = sum(len(set(range(sent[c.user])) - set(c.seqs())) for c in clients)
    dup_across = sum(c.duplicates_across for c in clients)
    dup_within = sum(c.duplicates_within for c in clients)
    reconnects = sum(c.connections - 1 for c in clients)
    print(f"\nrolling restart of {len(before)} workers in {report['rolling_s']:.1f} s: produced={produced} "
          f"for {len(users)} users on {len(clients)} sockets; delivered={delivered} unique (expected "
          f"{expected}); reconnects={reconnects}; duplicates across reconnects={dup_across}; "
          f"within a connection={dup_within}; missing={missing}")
    for line in report["restarts"]:
        print("  " + line)
    assert missing == 0
    # The worker must not send a record twice on one connection, not even at the splice
    # between replay and live delivery.
    assert dup_within == 0, [(c.user, c.close_codes) for c in clients if c.duplicates_within]
    assert delivered == expected
    for c in clients:
        assert c.seqs() == sorted(c.seqs()), "order per user"
        # Every worker was restarted, so every client was closed with 1001 at least once.
        assert 1001 in c.close_codes and c.connections >= 2, (c.user, c.close_codes)
    # Same ports, new processes, all ready; nginx itself untouched.
    after = topology.workers()
    for name, (pid, port) in before.items():
        assert after[name][1] == port and after[name][0] != pid
    assert "not ready" not in topology.run("status")
    assert topology.nginx_pid() == nginx_pid
