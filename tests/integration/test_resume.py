"""No lost events: resume after reconnect, late join, caps, retention, recreated topics,
mixed partitioners, slow readers, worker crashes and broker restarts. Real broker, real
bridge processes, real sockets."""
import asyncio
import json
import threading
import time

from confluent_kafka import Producer
from confluent_kafka import TopicPartition
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import BROKERS, envelope, make_token, open_socket, receive_events, receive_nothing
from resume_client import ResumingClient, wait_until


def seq_event(user, seq, **kw):
    return envelope(user, payload={"text": f"event {seq}", "seq": seq}, **kw)


async def connect_as(bridge, user, query=""):
    ws = await connect(bridge.url + ("?" + query if query else ""), max_size=None,
                       additional_headers={"Authorization": "Bearer " + make_token(user)})
    return ws


async def frames_until(ws, kind, timeout=20):
    """Event frames received before the control frame of type `kind`, and that frame."""
    events = []
    async with asyncio.timeout(timeout):
        while True:
            f = json.loads(await ws.recv())
            if "id" in f:
                events.append(f)
            elif f["type"] == kind:
                return events, f


def test_resume_gets_exactly_the_missed_events_then_live(kafka, bridge_factory):
    topic = kafka.create_topic(4)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "ada")
        for i in range(5):
            kafka.produce(topic, "ada", seq_event("ada", i))
        kafka.flush()
        first = await receive_events(ws, 5)
        await ws.close()
        for i in range(5, 12):  # produced while disconnected
            kafka.produce(topic, "ada", seq_event("ada", i))
        kafka.flush()
        ws = await connect_as(bridge, "ada", "resume=" + first[-1]["id"])
        replayed, done = await frames_until(ws, "resumed")
        kafka.produce(topic, "ada", seq_event("ada", 12))
        kafka.flush()
        live = await receive_events(ws, 1)
        return first, replayed, done, live, await receive_nothing(ws, 0.5)

    first, replayed, done, live, extra = asyncio.run(run())
    assert [f["payload"]["seq"] for f in first] == list(range(5))
    assert [f["payload"]["seq"] for f in replayed] == list(range(5, 12))
    assert live[0]["payload"]["seq"] == 12 and extra == []
    assert bridge.metric("bridge_replays_total", outcome="done") == 1


def test_resume_as_first_message(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "bea")
        kafka.produce(topic, "bea", seq_event("bea", 0))
        kafka.flush()
        last = (await receive_events(ws, 1))[0]["id"]
        await ws.close()
        for i in range(1, 4):
            kafka.produce(topic, "bea", seq_event("bea", i))
        kafka.flush()
        # The worker has read them (with no socket for bea) before the new socket opens, so
        # none reaches it live before its resume message.
        while bridge.metric("bridge_records_read_total") < 4:
            await asyncio.sleep(0.05)
        ws = await connect_as(bridge, "bea")
        await ws.send(json.dumps({"action": "resume", "id": last}))
        replayed, _ = await frames_until(ws, "resumed")
        # A second resume on the same socket is refused.
        await ws.send(json.dumps({"action": "resume", "id": last}))
        refusal = json.loads(await ws.recv())
        return replayed, refusal

    replayed, refusal = asyncio.run(run())
    assert [f["payload"]["seq"] for f in replayed] == [1, 2, 3]
    assert refusal["type"] == "error"


def test_no_gap_no_duplicate_when_resuming_under_load(kafka, bridge_factory):
    # The producer never pauses: the splice between replay and live is exercised for real.
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    total = 3000
    stop_producing = threading.Event()

    def produce():
        p = Producer({"bootstrap.servers": BROKERS, "linger.ms": 1})
        for i in range(total):
            p.produce(topic, key="cal", value=json.dumps(seq_event("cal", i)))
            if i % 50 == 0:
                p.poll(0)
                time.sleep(0.04)  # about 3 s of steady production
        p.flush(30)
        stop_producing.set()

    async def run():
        client = ResumingClient("cal", [bridge.url])
        client.first_connect_ms = int(time.time() * 1000) - 1000
        stop = asyncio.Event()
        task = asyncio.ensure_future(client.run(stop))
        await asyncio.sleep(0.5)
        producer = threading.Thread(target=produce)
        producer.start()
        # Drop the connection a few times mid-stream; each time the client resumes.
        for _ in range(4):
            await asyncio.sleep(0.4)
            await client.ws.close()
        await asyncio.to_thread(producer.join)
        await wait_until(lambda: len(client.events) >= total, 30)
        stop.set()
        await task
        return client

    client = asyncio.run(run())
    assert client.duplicates_within == 0
    assert client.connections >= 5
    assert sorted(client.seqs()) == list(range(total)), "missing events"
    assert client.seqs() == list(range(total)), "order within the partition"


def test_late_join_with_since_gets_the_run_from_its_first_event(kafka, bridge_factory):
    topic = kafka.create_topic(3)
    bridge = bridge_factory(topic)
    steps = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
    payloads = [{"agent": "a"}, {"text": "t"}, {"tool": "x"}, {"tool": "x", "status": "ok"}, {"status": "ok"}]

    async def run():
        first_tab = await open_socket(bridge, "dee")
        before = int(time.time() * 1000)
        kafka.produce(topic, "dee", envelope("dee", "agent_started", run_id="old-run", payload={"agent": "old"}))
        for etype, payload in zip(steps[:3], payloads[:3]):
            kafka.produce(topic, "dee", envelope("dee", etype, run_id="run-7", payload=payload))
        kafka.flush()
        await receive_events(first_tab, 4)
        # The second tab joins midway, asking for run-7 since before it began.
        second = await connect_as(bridge, "dee", f"since={before}&run_id=run-7")
        replayed, _ = await frames_until(second, "resumed")
        for etype, payload in zip(steps[3:], payloads[3:]):
            kafka.produce(topic, "dee", envelope("dee", etype, run_id="run-7", payload=payload))
        kafka.flush()
        return replayed, await receive_events(second, 2)

    replayed, live = asyncio.run(run())
    assert [f["type"] for f in replayed] == steps[:3]
    assert all(f["run_id"] == "run-7" for f in replayed)
    assert [f["type"] for f in live] == steps[3:]


def test_replay_cap_cuts_short_explicitly_and_resuming_again_finishes(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, replay_max_events=10)

    async def run():
        ws = await open_socket(bridge, "eve")
        kafka.produce(topic, "eve", seq_event("eve", 0))
        kafka.flush()
        last = (await receive_events(ws, 1))[0]["id"]
        await ws.close()
        for i in range(1, 26):
            kafka.produce(topic, "eve", seq_event("eve", i))
        kafka.flush()
        got, rounds, truncations = [], 0, 0
        while len(got) < 25 and rounds < 10:
            rounds += 1
            ws = await connect_as(bridge, "eve", "resume=" + last)
            try:
                async with asyncio.timeout(10):
                    while True:
                        f = json.loads(await ws.recv())
                        if "id" in f:
                            got.append(f["payload"]["seq"])
                            last = f["id"]
                        elif f["type"] == "resume_truncated":
                            truncations += 1
                        elif f["type"] == "resumed":
                            break
            except ConnectionClosed as closed:
                assert closed.rcvd.code == 4002
        return got, truncations

    got, truncations = asyncio.run(run())
    assert got == list(range(1, 26))
    assert truncations == 2


def test_cursor_older_than_retention_gets_resume_failed(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "fay")
        for i in range(3):
            kafka.produce(topic, "fay", seq_event("fay", i))
        kafka.flush()
        ids = [f["id"] for f in await receive_events(ws, 3)]
        await ws.close()
        # Retention removes everything before the last record.
        futures = kafka.admin.delete_records([TopicPartition(topic, 0, 2)])
        list(futures.values())[0].result(30)
        ws = await connect_as(bridge, "fay", "resume=" + ids[0])
        _, failed = await frames_until(ws, "resume_failed")
        kafka.produce(topic, "fay", seq_event("fay", 3))
        kafka.flush()
        return failed, await receive_events(ws, 1)

    failed, live = asyncio.run(run())
    assert failed["payload"] == {"reason": "expired"}
    assert live[0]["payload"]["seq"] == 3  # the socket stays and goes live


def test_cursor_from_a_recreated_topic_gets_resume_failed(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "gus")
        for i in range(3):
            kafka.produce(topic, "gus", seq_event("gus", i))
        kafka.flush()
        ids = [f["id"] for f in await receive_events(ws, 3)]
        await ws.close()
        return ids

    ids = asyncio.run(run())
    bridge.stop()
    kafka.admin.delete_topics([topic])[topic].result(30)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            from confluent_kafka.admin import NewTopic
            kafka.admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
            break
        except Exception:
            time.sleep(0.5)
    bridge = bridge_factory(topic)
    for i in range(5):  # same offsets exist again, holding other records
        kafka.produce(topic, "gus", seq_event("gus", 100 + i))
    kafka.flush()

    async def resume():
        results = []
        for query in ["resume=" + ids[1], "resume=" + topic + ":0:999:1", "resume=garbage", "resume=other-topic:0:1:1"]:
            ws = await connect_as(bridge, "gus", query)
            _, failed = await frames_until(ws, "resume_failed")
            results.append(failed["payload"]["reason"])
            await ws.close()
        return results

    assert asyncio.run(resume()) == ["unknown_cursor", "unknown_cursor", "bad_cursor", "unknown_topic"]


def test_another_users_cursor_replays_nothing_of_theirs(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        victim = await open_socket(bridge, "hal")
        kafka.produce(topic, "hal", seq_event("hal", 0))
        kafka.produce(topic, "hal", seq_event("hal", 1))
        kafka.flush()
        ids = [f["id"] for f in await receive_events(victim, 2)]
        thief = await connect_as(bridge, "ivy", "resume=" + ids[0])
        events, failed = await frames_until(thief, "resume_failed")
        return events, failed

    events, failed = asyncio.run(run())
    assert events == [] and failed["payload"]["reason"] == "unknown_cursor"


def test_mixed_partitioners_lose_nothing_on_resume(kafka, bridge_factory):
    topic = kafka.create_topic(8)
    bridge = bridge_factory(topic)
    crc = Producer({"bootstrap.servers": BROKERS, "partitioner": "consistent", "linger.ms": 1})
    murmur = Producer({"bootstrap.servers": BROKERS, "partitioner": "murmur2_random", "linger.ms": 1})
    partitions = {}

    def report(name):
        def cb(err, msg):
            assert err is None
            partitions.setdefault(name, set()).add(msg.partition())
        return cb

    # A user whose two partitioners disagree.
    user = next(u for u in (f"mix-{i}" for i in range(100)) if _partitions_differ(u, topic))

    def produce(seq):
        p, name = (crc, "crc32") if seq % 2 else (murmur, "murmur2")
        p.produce(topic, key=user, value=json.dumps(seq_event(user, seq)), on_delivery=report(name))
        p.flush(10)

    async def run():
        ws = await open_socket(bridge, user)
        for i in range(6):
            produce(i)
        got = await receive_events(ws, 6)
        await ws.close()
        for i in range(6, 16):
            produce(i)
        ws = await connect_as(bridge, user, "resume=" + got[-1]["id"])
        replayed, _ = await frames_until(ws, "resumed")
        return got, replayed

    got, replayed = asyncio.run(run())
    assert partitions["crc32"].isdisjoint(partitions["murmur2"])
    seen = {f["id"]: f["payload"]["seq"] for f in got + replayed}
    assert sorted(seen.values()) == list(range(16)), "every event, after dedupe by id"


def _partitions_differ(user, topic):
    result = {}
    for name, part in [("crc32", "consistent"), ("murmur2", "murmur2_random")]:
        p = Producer({"bootstrap.servers": BROKERS, "partitioner": part})
        box = []
        p.produce(topic, key=user, value=b"probe-not-json", on_delivery=lambda e, m: box.append(m.partition()))
        p.flush(10)
        result[name] = box[0]
    return result["crc32"] != result["murmur2"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_slow_client_bounded_memory_closed_with_resume_code_and_complete_after_resume(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    buffer = 256 * 1024
    bridge = bridge_factory(topic, send_buffer_bytes=buffer)
    count, blob = 2000, "z" * 4000

    # The slow client: a raw socket that never reads, so it really falls behind.
    from test_delivery import raw_upgrade
    async def run_raw():
        fast = await open_socket(bridge, "kit-fast")
        slow = raw_upgrade(bridge.port, make_token("kit"))
        await asyncio.sleep(0.2)
        baseline = rss_kib(bridge.proc.pid)
        peak = baseline
        for i in range(count):
            kafka.produce(topic, "kit", envelope("kit", payload={"text": blob, "seq": i}))
            kafka.produce(topic, "kit-fast", envelope("kit-fast", payload={"text": "f", "seq": i}))
            if i % 100 == 0:
                kafka.producer.poll(0)
                peak = max(peak, rss_kib(bridge.proc.pid))
        kafka.flush()
        fast_frames = await receive_events(fast, count, timeout=60)
        peak = max(peak, rss_kib(bridge.proc.pid))
        # Read what the slow socket got: a prefix of its events, then close code 4002.
        slow.settimeout(10)
        data = bytearray()
        try:
            while chunk := slow.recv(1 << 20):
                data += chunk
        except OSError:
            pass
        slow.close()
        return fast_frames, bytes(data), baseline, peak

    fast_frames, data, baseline, peak = asyncio.run(run_raw())
    assert [f["payload"]["seq"] for f in fast_frames] == list(range(count))
    assert bridge.metric("bridge_disconnects_total", reason="slow_reader") == 1
    # Memory: bounded by the socket's hard cap (4 times its buffer) plus one reader batch
    # (1 MiB) plus slack for librdkafka's prefetch; far below the 8 MB the slow user was sent.
    growth_kib = peak - baseline
    assert growth_kib < (4 * buffer + (1 << 20)) / 1024 + 24 * 1024, f"RSS grew {growth_kib} KiB"

    # Reconnecting with the last complete frame's id (or from the start) yields everything.
    frames = _complete_frames(data)
    last = frames[-1]["id"] if frames else None
    query = "resume=" + last if last else "since=0"

    async def resume():
        ws = await connect_as(bridge, "kit", query)
        replayed, _ = await frames_until(ws, "resumed", timeout=60)
        return replayed

    replayed = asyncio.run(resume())
    seqs = [f["payload"]["seq"] for f in frames] + [f["payload"]["seq"] for f in replayed]
    assert seqs == list(range(count))


def _complete_frames(stream):
    """Text frames fully contained in a server-to-client byte stream, parsed."""
    frames, i = [], 0
    while i + 2 <= len(stream):
        opcode, length = stream[i] & 0x0F, stream[i + 1] & 0x7F
        j = i + 2
        if length == 126:
            length, j = int.from_bytes(stream[j:j + 2], "big"), j + 2
        elif length == 127:
            length, j = int.from_bytes(stream[j:j + 8], "big"), j + 8
        if j + length > len(stream):
            break
        if opcode == 0x1:
            f = json.loads(stream[j:j + length])
            if "id" in f:
                frames.append(f)
        i = j + length
    return frames
