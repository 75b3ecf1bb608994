"""The deployment topology without Docker (scripts/topology.sh): its own Kafka, bridge workers
on loopback and nginx in front with deploy/nginx.conf. Every socket goes through nginx, over
TLS (wss://), verified against the topology's own CA (scripts/make-cert.sh)."""
import asyncio
import gc
import os
import random
import resource
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import namedtuple
from types import SimpleNamespace

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conftest import ROOT, SECRET, Kafka, envelope, make_token, open_socket, receive_events, receive_nothing
from resume_client import ResumingClient, wait_until

TOPOLOGY = os.path.join(ROOT, "scripts", "topology.sh")
TOPIC = "agent-events"

# One line of the state directory's workers file: sockets on port, /metrics on admin.
Worker = namedtuple("Worker", "pid port admin")


class Topology:
    """A running scripts/topology.sh: the balancer's URL and TLS context, the workers, a producer."""

    def __init__(self, state_dir, workers=3, **env):
        self.dir = str(state_dir)
        self.env = env
        self.https_port = quiet_port()
        self.kafka_port = quiet_port(2)
        self.run("start", "--workers", str(workers), "--https-port", str(self.https_port),
                 "--kafka-port", str(self.kafka_port), "--topic", TOPIC, timeout=180)
        # Clients trust the topology's CA and nothing else; hostname checks stay on.
        self.ssl = ssl.create_default_context(cafile=os.path.join(self.dir, "tls", "ca.pem"))
        self.origin = f"https://127.0.0.1:{self.https_port}"
        self.balancer = SimpleNamespace(url=f"wss://127.0.0.1:{self.https_port}/ws")
        self.kafka = Kafka(f"127.0.0.1:{self.kafka_port}")

    def run(self, command, *args, timeout=60):
        env = dict(os.environ, BRIDGE_JWT_SECRET=SECRET, **self.env)
        r = subprocess.run([TOPOLOGY, command, "--dir", self.dir, *args], env=env,
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"topology.sh {command}: {r.stdout}\n{r.stderr}"
        return r.stdout

    def stop(self):
        # Close the Kafka clients before their broker goes.
        self.kafka = None
        gc.collect()
        subprocess.run([TOPOLOGY, "stop", "--dir", self.dir], capture_output=True, timeout=120)

    def workers(self):
        """{name: Worker} from the state directory."""
        with open(os.path.join(self.dir, "workers")) as f:
            return {name: Worker(int(pid), int(port), int(admin))
                    for name, pid, port, admin in (line.split() for line in f)}

    def nginx_pid(self):
        with open(os.path.join(self.dir, "nginx", "nginx.pid")) as f:
            return int(f.read())

    def sockets_open(self):
        """bridge_sockets_open of every worker, read from the worker's admin port."""
        return {name: metric(w.admin, "bridge_sockets_open") for name, w in self.workers().items()}

    def refused(self, reason):
        """bridge_requests_refused_total{reason} summed over the workers."""
        return sum(metric(w.admin, f'bridge_requests_refused_total{{reason="{reason}"}}')
                   for w in self.workers().values())

    def https(self, path):
        """GET through nginx over verified TLS: (status, headers, body)."""
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.https_port}{path}", timeout=5,
                                        context=self.ssl) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    async def open(self, user, **kw):
        """A socket through nginx over wss://, registered with its worker (conftest.open_socket)."""
        return await open_socket(self.balancer, user, ssl=self.ssl, **kw)


def http_get(port, path):
    """GET on a worker's plain-HTTP port: (status, body)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(admin_port, name):
    """One sample of a worker's /metrics, read from its admin port; 0 if absent."""
    status, text = http_get(admin_port, "/metrics")
    assert status == 200, (admin_port, status)
    for line in text.splitlines():
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


@pytest.fixture
def capped_topology(tmp_path_factory):
    """One worker that holds each client address to 2 connections. Per test, and its test
    runs first: it is stopped before the shared topology starts (one Kafka at a time)."""
    t = Topology(tmp_path_factory.mktemp("capped"), workers=1, BRIDGE_MAX_CONNECTIONS_PER_ADDRESS="2")
    try:
        yield t
    finally:
        t.stop()


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    # 300+ client sockets in this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    t = Topology(tmp_path_factory.mktemp("topology"))
    try:
        yield t
    finally:
        t.stop()


def event(user, seq):
    return envelope(user, etype="topology_probe", payload={"user": user, "seq": seq})


async def open_many(topology, users, per_user):
    """per_user sockets for each user, through the balancer, 50 handshakes at a time."""
    gate = asyncio.Semaphore(50)

    async def one(user):
        async with gate:
            return user, await topology.open(user)

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


def from_address(last_byte):
    """connect() arguments that make the client's end of the TCP connection 127.0.0.N."""
    return {"local_addr": (f"127.0.0.{last_byte}", 0)}


def test_workers_behind_nginx_count_connections_per_client_not_per_nginx(capped_topology):
    """nginx connects to the workers from 127.0.0.1 for every client. The worker trusts it
    (--trusted-proxies 127.0.0.1) and takes the client from X-Forwarded-For, which nginx sets
    to the client's own address: clients from 127.0.0.1, .2 and .3 each get their 2 places."""
    t = capped_topology

    async def refused_status(user, **kw):
        with pytest.raises(InvalidStatus) as e:
            await t.open(user, **kw)
        return e.value.response.status_code

    async def run():
        held = {}
        for n in (2, 3, 1):
            held[n] = [await t.open(f"cap-{n}-{i}", **from_address(n)) for i in range(2)]
            assert await refused_status(f"cap-{n}-2", **from_address(n)) == 429, n
        assert t.sockets_open() == {"w1": 6}
        # A client's own X-Forwarded-For is replaced by nginx, not believed: appended to, it
        # would name 203.0.113.9 left of the trusted 127.0.0.1 and escape the cap.
        with pytest.raises(InvalidStatus) as e:
            await connect(t.balancer.url, ssl=t.ssl, **from_address(1),
                          additional_headers={"Authorization": "Bearer " + make_token("cap-forged"),
                                              "X-Forwarded-For": "203.0.113.9"})
        assert e.value.response.status_code == 429
        # A closed socket gives its address's place back.
        await held[2].pop().close()
        deadline = time.monotonic() + 10
        while True:
            try:
                held[2].append(await t.open("cap-2-again", **from_address(2)))
                break
            except InvalidStatus as e:
                if e.response.status_code != 429 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        await asyncio.gather(*(ws.close() for group in held.values() for ws in group))

    asyncio.run(run())
    assert t.refused("address_limit") >= 4


def test_300_sockets_spread_over_all_workers_and_get_only_their_users_events(topology):
    assert "ready" in topology.run("status")
    users = [f"spread-{i}" for i in range(100)]

    async def run():
        sockets = await open_many(topology, users, per_user=3)
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


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_the_balancer_speaks_tls_1_2_and_1_3_only_with_the_topologys_certificate(topology):
    host, port = "127.0.0.1", topology.https_port
    connects_before = sum(metric(w.admin, "bridge_connects_total") for w in topology.workers().values())

    def handshake(ctx):
        with socket.create_connection((host, port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                return s.version(), s.cipher()[0]

    assert handshake(topology.ssl)[0] == "TLSv1.3"
    tls12 = ssl.create_default_context(cafile=os.path.join(topology.dir, "tls", "ca.pem"))
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    version, cipher = handshake(tls12)
    assert version == "TLSv1.2" and cipher.startswith("ECDHE-"), cipher
    # TLS 1.1: nginx answers with a protocol_version alert.
    tls11 = ssl.create_default_context(cafile=os.path.join(topology.dir, "tls", "ca.pem"))
    tls11.set_ciphers("DEFAULT:@SECLEVEL=0")
    tls11.minimum_version = tls11.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        handshake(tls11)
    # A client that does not trust the topology's CA refuses the certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ssl.create_default_context())

    # HSTS on every answer.
    status, headers, _ = topology.https("/healthz")
    assert status == 200 and headers["Strict-Transport-Security"].startswith("max-age="), dict(headers)

    # Plaintext on the TLS port never reaches a worker: nginx answers 400 itself.
    async def plain_websocket():
        with pytest.raises(InvalidStatus) as e:
            await connect(f"ws://{host}:{port}/ws", open_timeout=5,
                          additional_headers={"Authorization": "Bearer " + make_token("plain")})
        return e.value.response

    response = asyncio.run(plain_websocket())
    assert response.status_code == 400 and b"plain HTTP request was sent to HTTPS port" in response.body
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert sum(metric(w.admin, "bridge_connects_total") for w in topology.workers().values()) == connects_before


def test_metrics_are_on_each_workers_admin_port_and_not_through_nginx(topology):
    status, _, body = topology.https("/metrics")
    assert status == 404, body
    for name, w in topology.workers().items():
        status, text = http_get(w.admin, "/metrics")
        assert status == 200 and "\nbridge_sockets_open " in text, name
        # The public port has no /metrics either; health stays on both.
        assert http_get(w.port, "/metrics")[0] == 404, name
        assert http_get(w.port, "/readyz")[0] == 200, name
        assert http_get(w.admin, "/readyz")[0] == 200, name


def test_an_upgrade_from_a_foreign_origin_is_refused_through_the_balancer(topology):
    refused_before = topology.refused("origin")

    async def run():
        for foreign in ("https://evil.example", f"http://127.0.0.1:{topology.https_port}",
                        "https://127.0.0.1:1"):
            with pytest.raises(InvalidStatus) as e:
                await topology.open("origin-user", origin=foreign)
            assert e.value.response.status_code == 403, foreign
        # The balancer's own origins, as a page served from it would send, and no Origin at all
        # (not a browser).
        sockets = [await topology.open("origin-user", origin=topology.origin),
                   await topology.open("origin-user", origin=f"https://localhost:{topology.https_port}"),
                   await topology.open("origin-user")]
        await asyncio.gather(*(ws.close() for ws in sockets))

    asyncio.run(run())
    assert topology.refused("origin") == refused_before + 3


def test_a_fourth_worker_takes_new_sockets_without_restarting_the_others(topology):
    before_workers = topology.workers()
    nginx_pid = topology.nginx_pid()
    old_users = [f"old-{i}" for i in range(30)]
    new_users = [f"new-{i}" for i in range(40)]
    kafka = topology.kafka

    async def run():
        old = await open_many(topology, old_users, per_user=1)
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

        new = await open_many(topology, new_users, per_user=1)
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
    for name, w in before_workers.items():
        assert after[name] == w
        os.kill(w.pid, 0)
        assert metric(w.admin, 'bridge_disconnects_total{reason="shutdown"}') == 0
    assert topology.nginx_pid() == nginx_pid


def test_rolling_restart_through_the_balancer_loses_nothing(topology):
    """SIGTERM each worker in turn while a producer runs: sockets close with 1001, clients
    reconnect through nginx with ?resume=<last id>, and every client ends with exactly its
    user's events: none missing, none twice on one connection, in order."""
    users = [f"roll-{i}" for i in range(20)]
    clients = [ResumingClient(u, [topology.balancer.url], ssl=topology.ssl) for u in users for _ in range(2)]
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
    for name, w in before.items():
        assert after[name].port == w.port and after[name].pid != w.pid
    assert "not ready" not in topology.run("status")
    assert topology.nginx_pid() == nginx_pid
