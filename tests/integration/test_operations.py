"""Operating a worker: health, readiness, metrics, logs, liveness, limits, RS256, shutdown."""
import asyncio
import json
import re
import signal
import subprocess
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import (BRIDGE_BIN, BROKERS, envelope, make_token, open_socket, receive_events)
from test_delivery import close_code, raw_upgrade

METRIC_NAMES = ["bridge_sockets_open", "bridge_connects_total", "bridge_disconnects_total",
                "bridge_auth_failures_total", "bridge_records_read_total", "bridge_records_rejected_total",
                "bridge_events_delivered_total", "bridge_delivery_latency_seconds_bucket",
                "bridge_consumer_lag", "bridge_kafka_ready"]


def test_health_readiness_and_metrics(kafka, bridge_factory):
    topic = kafka.create_topic(3)
    bridge = bridge_factory(topic)
    assert bridge.http("/healthz") == (200, "ok\n")
    assert bridge.http("/readyz")[0] == 200
    assert bridge.http("/nope")[0] == 404
    assert bridge.http("/ws")[0] == 426
    # Metrics are on the admin listener only; health is on both.
    assert bridge.http("/metrics")[0] == 404
    assert bridge.http("/healthz", admin=True) == (200, "ok\n")
    assert bridge.http("/readyz", admin=True)[0] == 200
    assert bridge.http("/ws", admin=True)[0] == 404
    text = bridge.http("/metrics", admin=True)[1]
    for name in METRIC_NAMES:
        assert f"\n{name}" in text, name
    for p in range(3):
        assert f'bridge_consumer_lag{{topic="{topic}",partition="{p}"}}' in text
    assert bridge.metric("bridge_kafka_ready") == 1


def test_not_ready_while_a_topic_is_missing(kafka, bridge_factory):
    b = subprocess.Popen([BRIDGE_BIN, "--brokers", BROKERS, "--topics", "no-such-topic-x", "--listen", "127.0.0.1:0",
                          "--admin-listen", "",
                          "--jwt-secret", "0123456789abcdef0123456789abcdef", "--metadata-refresh-ms", "200"],
                         stderr=subprocess.PIPE, text=True)
    try:
        line = b.stderr.readline()
        port = int(json.loads(line)["msg"].split(":")[1].split()[0])
        time.sleep(1.5)
        from urllib.request import urlopen
        from urllib.error import HTTPError
        with pytest.raises(HTTPError) as e:
            urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert e.value.code == 503
        assert urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
    finally:
        b.terminate()
        assert b.wait(15) == 0


def test_latency_histogram_and_lag_move_with_traffic(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "lena")
        for _ in range(20):
            kafka.produce(topic, "lena", envelope("lena"))
        kafka.flush()
        await receive_events(ws, 20)

    asyncio.run(run())
    assert bridge.metric("bridge_delivery_latency_seconds_count") == 20
    assert bridge.metric("bridge_delivery_latency_seconds_bucket", le="+Inf") == 20
    assert bridge.metric("bridge_records_read_total") >= 20


def test_sigterm_drains_with_1001_and_exits_0(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        sockets = [await open_socket(bridge, f"u{i}") for i in range(5)]
        bridge.proc.send_signal(signal.SIGTERM)
        codes = []
        for ws in sockets:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            codes.append(closed.value.rcvd.code)
        return codes

    started = time.time()
    assert asyncio.run(run()) == [1001] * 5
    assert bridge.proc.wait(10) == 0
    assert time.time() - started < 10
    assert '"msg":"stopped"' in bridge.logs()


@pytest.mark.parametrize("args,message", [
    (["--jwt-alg", "RS256"], "public key"),
    (["--jwt-secret", "short"], "secret"),
    (["--listen", "nowhere"], "--listen"),
    (["--max-sockets-per-user", "0"], "max-sockets-per-user"),
    (["--kafka-property", "no.such.property=1"], "no.such.property"),
    (["--brokers", ""], "no broker given"),
    (["--brokers", "not a broker list"], "is not host:port"),
    (["--jwt-alg", "RS256", "--jwt-public-key-file", "/dev/null"], "RS256 takes a public key only"),
])
def test_bad_configuration_exits_2_with_a_clear_message(args, message):
    base = [BRIDGE_BIN, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    if "--brokers" not in args:
        base += ["--brokers", BROKERS]
    if "--jwt-secret" not in args:
        base += ["--jwt-secret", "0123456789abcdef0123456789abcdef"]
    r = subprocess.run(base + args, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_version_and_a_short_secret_said_once():
    r = subprocess.run([BRIDGE_BIN, "--version"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.startswith("bridge ") and "commit" in r.stdout
    r = subprocess.run([BRIDGE_BIN, "--brokers", BROKERS, "--listen", "127.0.0.1:0", "--admin-listen", "",
                        "--jwt-secret", "short"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert r.stderr.count("at least 32 bytes") == 1, r.stderr


def test_build_info_and_process_metrics(kafka, bridge_factory):
    bridge = bridge_factory(kafka.create_topic(1))
    text = bridge.http("/metrics", admin=True)[1]
    assert 'bridge_build_info{version="' in text
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_max_fds", "process_start_time_seconds"):
        assert f"\n{name} " in text, name
    assert bridge.metric("process_resident_memory_bytes") > 1e6
    assert 0 < bridge.metric("process_open_fds") < bridge.metric("process_max_fds")
    assert abs(bridge.metric("process_start_time_seconds") - time.time()) < 120


def test_alert_rules_use_only_metrics_a_worker_exposes(kafka, bridge_factory):
    import os
    import re
    rules = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "prometheus", "alerts.yml")
    with open(rules) as f:
        used = set(re.findall(r"\b(bridge_[a-z_]+)", f.read()))
    assert len(used) >= 8
    bridge = bridge_factory(kafka.create_topic(1), dlq="", dlq_group="alerts-" + str(time.time_ns()))
    exposed = set(re.findall(r"^# TYPE (\S+)", bridge.http("/metrics", admin=True)[1], re.M))
    exposed |= {name + "_bucket" for name in exposed}
    assert used <= exposed, used - exposed


def test_logs_are_json_lines_without_tokens_or_payloads(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    token = make_token("mona")
    forged = make_token("mona", secret="forged-secret-0123456789abcdefghijk")

    async def run():
        ws = await connect(bridge.url + "?access_token=" + token)
        with pytest.raises(InvalidStatus):
            await connect(bridge.url + "?access_token=" + forged)
        await ws.send('{"action":"unsubscribe"}')
        await ws.recv()
        kafka.produce(topic, "mona", envelope("mona", payload={"text": "payload-secret-words"}))
        kafka.produce(topic, "mona", '{"broken": "payload-secret-words"')
        kafka.flush()
        await receive_events(ws, 1)
        time.sleep(0.5)

    asyncio.run(run())
    bridge.stop()
    logs = bridge.logs()
    lines = [json.loads(line) for line in logs.splitlines()]
    assert all(set(line) == {"ts", "level", "msg"} for line in lines)
    assert any("record rejected reason=not_json" in line["msg"] for line in lines)
    assert token not in logs and forged not in logs and token.split(".")[2] not in logs
    assert "payload-secret-words" not in logs
    assert "0123456789abcdef" not in logs
    # The connection's life, at info, without tokens.
    assert any(re.match(r"socket \d+ open: user mona from 127\.0\.0\.1$", line["msg"]) for line in lines), logs
    assert any("auth refused: signature (HTTP 401)" in line["msg"] for line in lines)
    assert any(re.match(r"socket \d+ closed: (client|shutdown) \(sent \d+, received \d+\)$", line["msg"])
               for line in lines), logs


def test_a_storm_of_refusals_cannot_flood_the_log(kafka, bridge_factory):
    bridge = bridge_factory(kafka.create_topic(1), max_connections_per_address=100000, address_connection_burst=100000)
    forged = make_token("storm", secret="forged-secret-0123456789abcdefghijk")

    async def run():
        for _ in range(300):
            with pytest.raises(InvalidStatus):
                await connect(bridge.url, additional_headers={"Authorization": "Bearer " + forged})
        await asyncio.sleep(1.1)
        with pytest.raises(InvalidStatus):  # the next line that gets through sums up the rest
            await connect(bridge.url, additional_headers={"Authorization": "Bearer " + forged})

    started = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - started
    lines = [json.loads(line)["msg"] for line in bridge.logs().splitlines()]
    refused = [m for m in lines if m.startswith("auth refused")]
    assert bridge.metric("bridge_auth_failures_total", reason="signature") == 301
    assert len(refused) <= 20 * (elapsed + 2), len(refused)
    assert any(re.match(r"\d+ connection events not logged \(over 20 a second\)", m) for m in lines)


def test_expired_token_closes_the_socket_with_4004(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, jwt_leeway_s=0)

    async def run():
        ws = await connect(bridge.url, additional_headers={"Authorization": "Bearer " + make_token("nina", ttl=2)})
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        return closed.value.rcvd.code

    assert asyncio.run(run()) == 4004
    assert bridge.metric("bridge_disconnects_total", reason="token_expired") == 1


def test_silent_peer_is_closed_after_ping_timeout_and_live_one_stays(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, ping_interval_ms=1000, pong_timeout_ms=500)

    async def run():
        live = await open_socket(bridge, "otto")  # the client library answers pings
        silent = raw_upgrade(bridge.port, make_token("otto-silent"))
        await asyncio.sleep(3.5)
        silent.settimeout(5)
        data = silent.recv(1 << 16)
        kafka.produce(topic, "otto", envelope("otto"))
        kafka.flush()
        return data, await receive_events(live, 1)

    data, events = asyncio.run(run())
    assert close_code(data[data.find(b"\x88"):]) == 4003
    assert len(events) == 1
    # The close frame can reach the peer a moment before the worker counts the socket gone.
    deadline = time.monotonic() + 5
    while bridge.metric("bridge_disconnects_total", reason="pong_timeout") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bridge.metric("bridge_disconnects_total", reason="pong_timeout") == 1


def test_global_socket_limit_answers_503(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, max_sockets=2)

    async def run():
        a = await open_socket(bridge, "p1")
        b = await open_socket(bridge, "p2")
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(bridge, "p3")
        await a.close()
        await asyncio.sleep(0.2)
        c = await open_socket(bridge, "p3")  # room again
        return refused.value.response.status_code, b, c

    status, _, _ = asyncio.run(run())
    assert status == 503


def test_rs256_tokens_and_the_hs256_confusion_attack(kafka, bridge_factory, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "pub.pem").write_bytes(public_pem)
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, jwt_alg="RS256", jwt_public_key_file=tmp_path / "pub.pem")
    good = jwt.encode({"sub": "rita", "exp": int(time.time()) + 600}, key, algorithm="RS256")
    # The classic attack: HS256 with the public key as the HMAC secret (forged by hand, PyJWT refuses).
    import base64, hashlib, hmac
    def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps({"sub": "rita", "exp": int(time.time()) + 600}).encode())
    confused = signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())

    async def run():
        ws = await connect(bridge.url, additional_headers={"Authorization": "Bearer " + good})
        await ws.send('{"action":"unsubscribe"}')
        await ws.recv()
        with pytest.raises(InvalidStatus) as refused:
            await connect(bridge.url, additional_headers={"Authorization": "Bearer " + confused})
        kafka.produce(topic, "rita", envelope("rita"))
        kafka.flush()
        return refused.value.response.status_code, await receive_events(ws, 1)

    status, events = asyncio.run(run())
    assert status == 401 and len(events) == 1
    assert bridge.metric("bridge_auth_failures_total", reason="alg") == 1


def test_dashboard_uses_only_metrics_a_worker_exposes(kafka, bridge_factory):
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "grafana", "dashboards", "bridge.json")
    with open(path) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    used = {m for e in exprs for m in re.findall(r"\b((?:bridge|process)_[a-z_]+)", e)}
    assert len(used) >= 15, used
    bridge = bridge_factory(kafka.create_topic(1), dlq="", dlq_group="dashboard-" + str(time.time_ns()))
    exposed = set(re.findall(r"^# TYPE (\S+)", bridge.http("/metrics", admin=True)[1], re.M))
    exposed |= {name + "_bucket" for name in exposed}
    assert used <= exposed, used - exposed
