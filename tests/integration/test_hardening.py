"""Attacks on one worker: records, handshakes, HTTP edges, TLS, Origin, rate and address limits.

Each test is something a single producer or client could do to a worker on today's internet;
each checks the attack is refused and that other users are not affected.
"""
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import NewTopic
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import BROKERS, closed_with, envelope, make_token, open_socket, receive_events, receive_nothing


def deep_payload(levels, open_="[", close="]"):
    """A payload object holding one value nested `levels` deep."""
    return '{"deep":' + open_ * levels + close * levels + "}"


def deep_record(user, levels, open_="[", close="]"):
    env = envelope(user, "custom")
    env["payload"] = "PAYLOAD"
    return json.dumps(env).replace('"PAYLOAD"', deep_payload(levels, open_, close))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_request(port, data, timeout=5.0):
    """Sends bytes on a fresh TCP connection; returns everything the worker answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return out.decode("latin-1")


def upgrade(path, *headers):
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


V13 = ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")


# 1. One record must not freeze a worker.

@pytest.mark.parametrize("open_,close", [("[", "]"), ('{"a":', "}")])
def test_a_deeply_nested_record_is_rejected_and_other_users_get_theirs_promptly(kafka, bridge_factory, open_, close):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        victim = await open_socket(bridge, "deep-target")
        other = await open_socket(bridge, "bystander")
        # 150,000 levels (300-450 KB): minutes of schema validation on the unbounded validator.
        kafka.produce(topic, "deep-target", deep_record("deep-target", 150000, open_, close))
        kafka.produce(topic, "bystander", envelope("bystander", payload={"text": "after"}))
        kafka.produce(topic, "deep-target", envelope("deep-target", payload={"text": "still here"}))
        kafka.flush()
        sent = time.monotonic()
        got = await receive_events(other, 1, timeout=20)
        took = time.monotonic() - sent
        assert got[0]["payload"] == {"text": "after"}
        assert took < 2.0, f"another user's event waited {took:.1f} s behind one record"
        mine = await receive_events(victim, 1, timeout=10)
        assert mine[0]["payload"] == {"text": "still here"}
        await victim.close()
        await other.close()

    asyncio.run(run())
    assert bridge.metric("bridge_records_rejected_total", reason="too_deep") == 1
    assert bridge.http("/readyz", admin=True)[0] == 200
    assert "too_deep" in bridge.logs()


def test_a_resume_over_deep_records_ends_within_its_timeout(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, replay_timeout_ms=5000)

    async def run():
        ws = await open_socket(bridge, "replayer")
        kafka.produce(topic, "replayer", envelope("replayer", payload={"text": "first"}))
        kafka.flush()
        first = (await receive_events(ws, 1))[0]
        await ws.close()
        for _ in range(10):
            kafka.produce(topic, "replayer", deep_record("replayer", 100000))
        kafka.produce(topic, "replayer", envelope("replayer", payload={"text": "last"}))
        kafka.flush()
        started = time.monotonic()
        again = await connect(f"{bridge.url}?resume={first['id']}",
                              additional_headers={"Authorization": "Bearer " + make_token("replayer")})
        frames = []
        async with asyncio.timeout(15):
            while not any(f.get("payload") == {"text": "last"} for f in frames):
                frames.append(json.loads(await again.recv()))
        assert time.monotonic() - started < 5
        assert [f["type"] for f in frames if "id" in f] == ["agent_thinking"]
        await again.close()

    asyncio.run(run())


def test_a_deep_record_goes_to_the_dead_letter_topic_as_too_deep(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    kafka.admin.create_topics([NewTopic(topic + ".dlq", 1, 1)])[topic + ".dlq"].result(30)
    bridge = bridge_factory(topic, dlq="", dlq_group="dlq-" + uuid.uuid4().hex[:8], dlq_start="earliest")
    kafka.produce(topic, "u-deep", deep_record("u-deep", 50000))
    kafka.flush()
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "t-" + uuid.uuid4().hex, "auto.offset.reset": "earliest"})
    c.subscribe([topic + ".dlq"])
    deadline, record = time.time() + 30, None
    while record is None and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            record = m
    c.close()
    assert record is not None, bridge.logs()
    assert dict(record.headers())["bridge.reason"] == b"too_deep"


# 2. Only RFC 6455 version 13.

def test_a_hixie76_handshake_gets_426_and_its_bytes_do_not_grow_the_worker(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    token = make_token("legacy")
    hixie = (f"GET /ws?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
             "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nOrigin: http://127.0.0.1\r\n\r\n").encode() + b"^n:ds[4U"
    assert raw_request(bridge.port, hixie).startswith("HTTP/1.1 426")

    before = rss_kib(bridge.proc.pid)
    # The handshake, then an unterminated hixie-76 message of up to 100 MiB.
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as s:
        s.sendall(hixie + b"\x00")
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(100):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
    time.sleep(0.5)
    grew = rss_kib(bridge.proc.pid) - before
    assert grew < 10 * 1024, f"RSS grew by {grew} KiB"
    assert bridge.metric("bridge_sockets_open") == 0
    assert bridge.metric("bridge_requests_refused_total", reason="version") == 2


@pytest.mark.parametrize("version", [None, "8", "7", "0", "13, 8", "abc"])
def test_every_version_but_13_gets_426_naming_13(kafka, bridge_factory, version):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    headers = ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
    if version is not None:
        headers.append(f"Sec-WebSocket-Version: {version}")
    answer = raw_request(bridge.port, upgrade(f"/ws?access_token={make_token('v')}", *headers))
    assert answer.startswith("HTTP/1.1 426"), answer
    assert "Sec-WebSocket-Version: 13\r\n" in answer
    assert bridge.metric("bridge_sockets_open") == 0


# 3. HTTP edges.

def test_conflicting_content_length_and_transfer_encoding_get_400(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    for extra in (["Content-Length: 5", "Content-Length: 7"], ["Content-Length: 5, 7"],
                  ["Transfer-Encoding: chunked"], ["Content-Length: 5", "Content-Length: 5"]):
        request = ("\r\n".join(["GET /healthz HTTP/1.1", "Host: 127.0.0.1", *extra]) + "\r\n\r\nhelloab").encode()
        answer = raw_request(bridge.port, request)
        assert answer.startswith("HTTP/1.1 400"), (extra, answer)
        upgrade_answer = raw_request(bridge.port, upgrade(f"/ws?access_token={make_token('cl')}", *V13, *extra) + b"helloab")
        assert upgrade_answer.startswith("HTTP/1.1 400"), (extra, upgrade_answer)
    assert raw_request(bridge.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok").startswith(
        "HTTP/1.1 200")


@pytest.mark.parametrize("query", ["resume=%ZZ", "resume=abc%4", "since=1&since=2", "run_id=%G1&since=5"])
def test_bad_percent_encoding_or_repeated_parameters_get_400(kafka, bridge_factory, query):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    answer = raw_request(bridge.port, upgrade(f"/ws?{query}&access_token={make_token('pe')}", *V13))
    assert answer.startswith("HTTP/1.1 400"), answer
    answer = raw_request(bridge.port, upgrade("/ws?access_token=%ZZ", *V13))
    assert answer.startswith("HTTP/1.1 400"), answer


# 4. Every frame is valid UTF-8 JSON.

def test_lone_surrogates_are_refused_in_client_messages_and_records(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "utf")
        await ws.send('{"action":"subscribe","thread_id":"\\udc00"}')
        raw = await ws.recv(decode=False)
        reply = json.loads(raw.decode("utf-8", errors="strict"))
        assert reply["type"] == "error" and "surrogate" in reply["payload"]["message"]
        kafka.produce(topic, "utf", json.dumps(envelope("utf", payload={"text": "x"})).replace('"x"', '"\\udc00"'))
        kafka.produce(topic, "utf", envelope("utf", payload={"text": "clean"}))
        kafka.flush()
        got = await receive_events(ws, 1)
        assert got[0]["payload"] == {"text": "clean"}
        await ws.close()

    asyncio.run(run())
    assert bridge.metric("bridge_records_rejected_total", reason="not_json") == 1


# 5. Native TLS.

def make_cert(directory, name):
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_wss_end_to_end_with_certificate_reload_on_sighup(kafka, bridge_factory, tmp_path):
    cert_a, key_a = make_cert(tmp_path, "first")
    cert_b, key_b = make_cert(tmp_path, "second")
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live-key.pem"
    shutil.copy(cert_a, live_cert)
    shutil.copy(key_a, live_key)
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, tls_cert_file=live_cert, tls_key_file=live_key)
    url = f"wss://127.0.0.1:{bridge.port}/ws"

    def trusting(cert):
        return ssl.create_default_context(cafile=str(cert))

    async def open_tls(cert, user="tls-user"):
        ws = await connect(url, ssl=trusting(cert), additional_headers={"Authorization": "Bearer " + make_token(user)})
        await ws.send('{"action":"unsubscribe"}')
        assert json.loads(await ws.recv())["type"] == "unsubscribed"
        return ws

    async def run():
        first = await open_tls(cert_a)
        assert first.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        # Plaintext on the TLS port never gets a socket.
        with pytest.raises((ConnectionClosed, EOFError, OSError, InvalidStatus)):
            await connect(f"ws://127.0.0.1:{bridge.port}/ws", open_timeout=5,
                          additional_headers={"Authorization": "Bearer " + make_token("tls-user")})
        # New files, SIGHUP: new sockets get the new certificate, the open one stays.
        shutil.copy(cert_b, live_cert)
        shutil.copy(key_b, live_key)
        bridge.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "TLS certificate and key read again" not in bridge.logs() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        second = await open_tls(cert_b)
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(url, ssl=trusting(cert_a), additional_headers={"Authorization": "Bearer " + make_token("x")})
        # A broken file on reload keeps the certificate in use.
        live_key.write_text("not a key\n")
        bridge.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "keeping the previous TLS certificate" not in bridge.logs() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        third = await open_tls(cert_b)
        kafka.produce(topic, "tls-user", envelope("tls-user", payload={"text": "over tls"}))
        kafka.flush()
        for ws in (first, second, third):
            assert (await receive_events(ws, 1))[0]["payload"] == {"text": "over tls"}
            await ws.close()

    asyncio.run(run())
    assert "keeping the previous TLS certificate" in bridge.logs()


def test_wss_carries_a_burst_of_large_events_whole_and_in_order(kafka, bridge_factory, tmp_path):
    # Many TLS records each way, writes that fill the socket and wait: the TLS stream's paths
    # beyond the handshake.
    cert, key = make_cert(tmp_path, "burst")
    topic = kafka.create_topic(1)
    count, blob = 300, "y" * 20000
    # The client reads only once all is produced: room for all of it.
    bridge = bridge_factory(topic, tls_cert_file=cert, tls_key_file=key, send_buffer_bytes=16 << 20)

    async def run():
        ws = await connect(f"wss://127.0.0.1:{bridge.port}/ws", ssl=ssl.create_default_context(cafile=str(cert)),
                           additional_headers={"Authorization": "Bearer " + make_token("burst")}, max_size=None)
        await ws.send('{"action":"subscribe","thread_id":"thread-1"}')
        assert json.loads(await ws.recv())["type"] == "subscribed"
        for i in range(count):
            kafka.produce(topic, "burst", envelope("burst", payload={"text": blob, "step": i + 1}))
        kafka.flush()
        got = await receive_events(ws, count, timeout=60)
        await ws.close()
        return got

    got = asyncio.run(run())
    assert [f["payload"]["step"] for f in got] == list(range(1, count + 1))
    assert all(f["payload"]["text"] == blob for f in got)


def test_tls_below_1_2_is_refused(kafka, bridge_factory, tmp_path):
    cert, key = make_cert(tmp_path, "old")
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, tls_cert_file=cert, tls_key_file=key)
    for version in ("-tls1", "-tls1_1"):
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{bridge.port}", version,
                            "-cipher", "DEFAULT@SECLEVEL=0"], input="", capture_output=True, text=True, timeout=20)
        assert "Cipher is (NONE)" in r.stdout or "Cipher    : 0000" in r.stdout or r.returncode != 0, r.stdout
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{bridge.port}", "-tls1_2"],
                       input="", capture_output=True, text=True, timeout=20)
    assert "ECDHE" in r.stdout and "GCM" in r.stdout or "CHACHA20" in r.stdout, r.stdout


def test_tls_issues_no_session_tickets(kafka, bridge_factory, tmp_path):
    # Sockets live for hours: a ticket would only cost memory and a key to keep (issue 23).
    cert, key = make_cert(tmp_path, "tickets")
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, tls_cert_file=cert, tls_key_file=key)
    # openssl's own client, TLS 1.2: the session it saves carries no ticket.
    session = tmp_path / "session.pem"
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{bridge.port}", "-tls1_2",
                        "-sess_out", str(session)], input="", capture_output=True, text=True, timeout=20)
    assert "Protocol  : TLSv1.2" in r.stdout, r.stdout
    assert "TLS session ticket" not in r.stdout, r.stdout
    if session.exists() and session.stat().st_size:  # nothing is saved when nothing could resume
        described = subprocess.run(["openssl", "sess_id", "-in", str(session), "-noout", "-text"],
                                   capture_output=True, text=True, timeout=20, check=True).stdout
        assert "TLS session ticket" not in described, described
    # Python's, TLS 1.2 and 1.3, after an HTTP answer (1.3 tickets come after the handshake).
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.create_default_context(cafile=str(cert))
        context.minimum_version = context.maximum_version = version
        with socket.create_connection(("127.0.0.1", bridge.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := tls.recv(4096):
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 200"), answer
                assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
                assert not tls.session.has_ticket, f"{tls.version()}: a session ticket was issued"


def test_tls_needs_both_files(kafka, tmp_path):
    from conftest import BRIDGE_BIN
    cert, _ = make_cert(tmp_path, "half")
    r = subprocess.run([BRIDGE_BIN, "--brokers", BROKERS, "--listen", "127.0.0.1:0", "--admin-listen", "",
                        "--jwt-secret", "0123456789abcdef0123456789abcdef", "--tls-cert-file", str(cert)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "--tls-key-file" in r.stderr


# 7. Origin.

def test_browser_origins_outside_the_list_get_403(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, allowed_origins="https://app.example.com,*.example.org")
    token = make_token("origin-user")

    async def attempt(origin):
        headers = {"Authorization": "Bearer " + token}
        try:
            ws = await connect(bridge.url, origin=origin, additional_headers=headers)
        except InvalidStatus as e:
            return e.response.status_code
        await ws.close()
        return 101

    async def run():
        assert await attempt("https://app.example.com") == 101
        assert await attempt("https://APP.example.com") == 101
        assert await attempt("https://x.example.org") == 101
        assert await attempt("http://a.b.example.org") == 101
        assert await attempt(None) == 101  # not a browser: not held to the list
        for foreign in ("https://evil.com", "https://app.example.com.evil.com", "https://example.org",
                        "http://app.example.com", "https://app.example.com:8443", "null"):
            assert await attempt(foreign) == 403, foreign

    asyncio.run(run())
    assert bridge.metric("bridge_requests_refused_total", reason="origin") == 6


# 8. Rate and address limits.

def test_a_client_message_flood_is_closed_with_1008_and_others_are_unaffected(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, client_messages_per_second=20, client_message_burst=40)

    async def run():
        flooder = await open_socket(bridge, "flooder")
        quiet = await open_socket(bridge, "quiet")
        # A burst within the budget is answered.
        for _ in range(20):
            await flooder.send('{"action":"unsubscribe"}')
        for _ in range(20):
            assert json.loads(await flooder.recv())["type"] == "unsubscribed"
        # Past the budget the socket is closed (1008 is terminal: the worker drops the TCP
        # connection right after the close frame, so this client reads while it sends).
        reader = asyncio.create_task(closed_with(flooder))
        try:
            for _ in range(1000):
                await flooder.send('{"action":"subscribe","thread_id":"t"}')
                await asyncio.sleep(0.005)
        except ConnectionClosed:
            pass
        code, reason = await asyncio.wait_for(reader, 10)
        assert code == 1008
        assert "rate limit" in reason
        sent = time.monotonic()
        kafka.produce(topic, "quiet", envelope("quiet"))
        kafka.flush()
        await receive_events(quiet, 1)
        assert time.monotonic() - sent < 2
        await quiet.close()

    asyncio.run(run())
    assert bridge.metric("bridge_disconnects_total", reason="rate_limited") == 1


def test_connections_per_address_are_capped_directly_and_behind_a_trusted_proxy(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    direct = bridge_factory(topic, max_connections_per_address=2)
    proxied = bridge_factory(topic, max_connections_per_address=2, trusted_proxies="127.0.0.0/8")

    async def run():
        held = [await open_socket(direct, f"cap-{i}") for i in range(2)]
        with pytest.raises((ConnectionClosed, EOFError, OSError, InvalidStatus)):
            await connect(direct.url, open_timeout=5, additional_headers={"Authorization": "Bearer " + make_token("c")})
        await held[0].close()
        await asyncio.sleep(0.3)
        held[0] = await open_socket(direct, "cap-again")  # a place freed is a place again

        async def via(client):
            headers = {"Authorization": "Bearer " + make_token("p-" + client), "X-Forwarded-For": f"203.0.113.9, {client}"}
            return await connect(proxied.url, additional_headers=headers)

        behind = [await via("198.51.100.1"), await via("198.51.100.1")]
        with pytest.raises(InvalidStatus) as refused:
            await via("198.51.100.1")
        assert refused.value.response.status_code == 429
        behind.append(await via("198.51.100.2"))  # another client behind the same proxy
        for ws in held + behind:
            await ws.close()

    asyncio.run(run())
    assert direct.metric("bridge_requests_refused_total", reason="address_limit") == 1
    assert proxied.metric("bridge_requests_refused_total", reason="address_limit") == 1


def test_out_of_file_descriptors_the_accept_loop_waits_instead_of_spinning(kafka, bridge_factory, monkeypatch):
    topic = kafka.create_topic(1)
    import conftest
    real_popen = subprocess.Popen

    def limited(*args, **kwargs):
        kwargs["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(conftest.subprocess, "Popen", limited)
    bridge = bridge_factory(topic, max_connections_per_address=100000, address_connection_burst=100000)
    monkeypatch.setattr(conftest.subprocess, "Popen", real_popen)
    flood = []
    for _ in range(200):
        flood.append(socket.create_connection(("127.0.0.1", bridge.port), timeout=5))
    time.sleep(1.0)
    used = cpu_seconds(bridge.proc.pid)
    time.sleep(3.0)
    busy = (cpu_seconds(bridge.proc.pid) - used) / 3.0
    assert busy < 0.15, f"the worker used {busy:.0%} of a core while out of descriptors"
    for s in flood:
        s.close()
    time.sleep(1.0)
    assert bridge.metric("bridge_accept_errors_total") > 0

    async def run():
        ws = await open_socket(bridge, "after-emfile")
        await ws.close()

    asyncio.run(run())


# 9. The pool of sockets waiting for their auth message, and client addresses.

async def silent_socket(port, address="127.0.0.1", forwarded=None):
    """An upgrade with no token that then never speaks, nor answers a close frame.

    Returns the stream pair once the worker answers 101; None if it refuses."""
    extra = (f"X-Forwarded-For: {forwarded}",) if forwarded else ()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
        writer.write(upgrade("/ws", *V13, *extra))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        return None  # a direct peer refused at accept is closed without an answer
    if head.startswith(b"HTTP/1.1 101"):
        return reader, writer
    writer.close()
    return None


async def browser_login(bridge, user, address="127.0.0.1", forwarded=None):
    """A page's login: open without a token, send the auth message. True once authenticated."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else None
    try:
        ws = await connect(bridge.url, local_addr=(address, 0), additional_headers=headers, open_timeout=5)
    except (OSError, InvalidStatus, ConnectionClosed, EOFError, TimeoutError):
        return False
    try:
        await ws.send(json.dumps({"action": "auth", "token": make_token(user)}))
        return json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "authenticated"
    except (ConnectionClosed, TimeoutError):
        return False
    finally:
        await ws.close()


@pytest.mark.parametrize("via", ["direct", "proxy"])
def test_an_attacker_holding_every_pending_place_it_can_leaves_browser_logins_succeeding(kafka, bridge_factory, via):
    topic = kafka.create_topic(1)
    proxy = {"trusted_proxies": "127.0.0.1/32"} if via == "proxy" else {}
    bridge = bridge_factory(topic, max_pending_auth=12, max_pending_auth_per_address=3, auth_timeout_ms=1500, **proxy)

    def origin(network, i):
        """(source address, X-Forwarded-For) of client i: its own address, or one the proxy names."""
        return ("127.0.0.1", f"{network}.{i}") if via == "proxy" else (f"127.0.0.{i}", None)

    async def hold_one(address, forwarded, stop):
        # One attacker connection: a silent socket, held until the worker ends it, then again.
        while not stop.is_set():
            held = await silent_socket(bridge.port, address, forwarded)
            if held is None:
                await asyncio.sleep(0.2)
                continue
            reader, writer = held
            eof = asyncio.ensure_future(reader.read(-1))
            await asyncio.wait([eof, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
            eof.cancel()
            writer.close()

    async def run():
        stop = asyncio.Event()
        # Three attacker addresses, each trying for twice its share: 9 of the 12 places at most.
        attack = [asyncio.ensure_future(hold_one(*origin("198.51.100", 2 + i % 3), stop)) for i in range(18)]
        deadline = time.monotonic() + 15
        while bridge.metric("bridge_sockets_awaiting_auth") < 9 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert bridge.metric("bridge_sockets_awaiting_auth") == 9, "the attacker never held its share"
        # Logins from 20 other addresses over 4 s: the attacker's sockets time out and come back meanwhile.
        logged_in = []
        for i in range(20):
            logged_in.append(await browser_login(bridge, f"page-{i}", *origin("203.0.113", 10 + i)))
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*attack)
        return logged_in

    logged_in = asyncio.run(run())
    assert logged_in.count(True) == 20, logged_in
    assert bridge.metric("bridge_requests_refused_total", reason="pending_auth_limit") > 0
    assert bridge.metric("bridge_disconnects_total", reason="auth_timeout") > 0


def test_a_silent_socket_gives_its_pending_place_back_as_soon_as_it_times_out(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, max_pending_auth=1, auth_timeout_ms=1000)

    async def run():
        silent = await silent_socket(bridge.port)
        assert silent is not None
        opened = time.monotonic()
        assert await silent_socket(bridge.port) is None  # the one place is taken
        # Poll for the place; each probe that gets it lets it go at once.
        freed = None
        while freed is None and time.monotonic() - opened < 12:
            await asyncio.sleep(0.1)
            probe = await silent_socket(bridge.port)
            if probe is not None:
                freed = time.monotonic() - opened
                probe[1].close()
        # The silent socket got its close frame (4408) and then the end of its connection,
        # although it never answered.
        reader, writer = silent
        async with asyncio.timeout(12):
            rest = await reader.read(-1)
        ended = time.monotonic() - opened
        writer.close()
        return freed, ended, rest

    freed, ended, rest = asyncio.run(run())
    assert rest[:1] == b"\x88" and int.from_bytes(rest[2:4], "big") == 4408, rest
    # 1 s to time out, then the place goes back at once and the connection ends 250 ms after
    # the close frame. Before, a silent socket kept both through the 5 s close handshake too,
    # after a check that ran once a second: 6 to 7 s.
    assert freed is not None and freed < 2.5, freed
    assert ended < 2.5, ended
    assert bridge.metric("bridge_disconnects_total", reason="auth_timeout") == 1


def test_client_addresses_are_counted_in_one_spelling_and_ipv6_per_64(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, max_connections_per_address=2, trusted_proxies="127.0.0.0/8")

    async def via(client, b=bridge):
        headers = {"Authorization": "Bearer " + make_token("a"), "X-Forwarded-For": client}
        try:
            return await connect(b.url, additional_headers=headers, open_timeout=5)
        except InvalidStatus as e:
            return e.response.status_code

    async def run():
        held = [await via("2001:db8:0:1::1"), await via("2001:DB8:0:1:0:0:0:2")]
        assert await via("2001:0db8:0000:0001:ffff::3") == 429  # the same /64
        held.append(await via("2001:db8:0:2::1"))  # the next /64
        held += [await via("198.51.100.7"), await via("::ffff:198.51.100.7")]
        assert await via("::FFFF:c633:6407") == 429  # 198.51.100.7 once more
        for ws in held:
            await ws.close()
        # Per address when the prefix is 128.
        per_host = bridge_factory(topic, max_connections_per_address=1, trusted_proxies="127.0.0.0/8", ipv6_prefix=128)
        hosts = [await via("2001:db8:0:1::1", per_host), await via("2001:db8:0:1::2", per_host)]
        assert await via("2001:db8:0:1:0::1", per_host) == 429
        for ws in hosts:
            await ws.close()

    asyncio.run(run())
    assert bridge.metric("bridge_requests_refused_total", reason="address_limit") == 2


def test_new_connections_per_address_are_rate_limited_directly_and_behind_a_trusted_proxy(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    limits = {"address_connections_per_second": 0.2, "address_connection_burst": 3}
    direct = bridge_factory(topic, **limits)
    proxied = bridge_factory(topic, trusted_proxies="127.0.0.1/32", **limits)

    async def attempt(b, address="127.0.0.2", forwarded=None):
        headers = {"Authorization": "Bearer " + make_token("r")}
        if forwarded:
            headers["X-Forwarded-For"] = forwarded
        try:
            ws = await connect(b.url, local_addr=(address, 0), additional_headers=headers, open_timeout=5)
        except InvalidStatus as e:
            return e.response.status_code, e.response.headers.get("Retry-After")
        except (OSError, ConnectionClosed, EOFError, TimeoutError):
            return "closed", None
        await ws.close()
        return 101, None

    async def run():
        # A burst of 3, closed each time: the rate counts connections opened, not held.
        assert [(await attempt(direct))[0] for _ in range(3)] == [101] * 3
        assert (await attempt(direct))[0] == "closed"  # a direct peer: closed as it is accepted
        assert (await attempt(direct, "127.0.0.3"))[0] == 101  # another address has its own budget
        # Through the proxy (127.0.0.1), per client it names.
        assert [(await attempt(proxied, "127.0.0.1", "198.51.100.9"))[0] for _ in range(3)] == [101] * 3
        assert await attempt(proxied, "127.0.0.1", "198.51.100.9") == (429, "1")
        assert (await attempt(proxied, "127.0.0.1", "198.51.100.10"))[0] == 101

    asyncio.run(run())
    for b in (direct, proxied):
        assert b.metric("bridge_requests_refused_total", reason="connection_rate") == 1
        assert b.metric("bridge_requests_refused_total", reason="address_limit") == 0


def test_a_token_as_long_as_the_header_takes_fits_the_auth_message_and_later_messages_keep_the_limit(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)  # --max-inbound-bytes 4096
    groups = []
    token = make_token("big-token")
    while len(token) < 8000:  # identity providers put group claims in tokens
        groups.append(f"group-{len(groups):04d}-" + "x" * 20)
        token = make_token("big-token", groups=groups)
    assert 8000 <= len(token) <= 8192

    async def run():
        # The header path takes it.
        header = await connect(bridge.url, additional_headers={"Authorization": "Bearer " + token})
        await header.close()
        # So does the first message.
        ws = await connect(bridge.url, max_size=None)
        await ws.send(json.dumps({"action": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "authenticated"
        kafka.produce(topic, "big-token", envelope("big-token"))
        kafka.flush()
        assert len(await receive_events(ws, 1)) == 1
        # Later messages are held to --max-inbound-bytes.
        await ws.send(json.dumps({"action": "subscribe", "thread_id": "x" * 5000}))
        return await closed_with(ws)

    assert asyncio.run(run())[0] == 1009
