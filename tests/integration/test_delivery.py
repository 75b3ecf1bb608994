"""Delivery on a real broker to real WebSocket clients: routing, order, narrowing, auth, limits."""
import asyncio
import json
import socket
import threading
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import (SECRET, closed_with, envelope, make_token, open_socket, receive_events, receive_nothing)

CRITICAL_RUN = [
    ("agent_started", {"agent": "researcher"}),
    ("agent_thinking", {"text": "planning", "step": 1}),
    ("tool_executing", {"tool": "search", "call_id": "c1", "input": {"q": "kafka"}}),
    ("tool_completed", {"tool": "search", "call_id": "c1", "status": "ok", "output": [1, 2]}),
    ("agent_completed", {"status": "ok", "output": "done"}),
]


def by_partition(frames):
    """Offsets received per partition, in arrival order."""
    seen = {}
    for f in frames:
        topic, partition, offset, _ = f["id"].rsplit(":", 3)
        seen.setdefault(int(partition), []).append(int(offset))
    return seen


def test_each_socket_gets_exactly_its_users_events_in_partition_order(kafka, bridge_factory):
    topic = kafka.create_topic(6)
    bridge = bridge_factory(topic)
    users = ["alice", "bob", "carol"]
    per_user = 60

    async def run():
        sockets = {u: [await open_socket(bridge, u), await open_socket(bridge, u)] for u in users}
        for i in range(per_user):
            for u in users:
                etype, payload = CRITICAL_RUN[i % len(CRITICAL_RUN)]
                # Two runs per user on different threads, so records spread over partitions by key only.
                kafka.produce(topic, u, envelope(u, etype, run_id=f"{u}-run-{i % 2}", payload={**payload, "seq": i}))
        kafka.flush()
        received = {u: [await receive_events(ws, per_user) for ws in sockets[u]] for u in users}
        extra = [await receive_nothing(ws, 0.5) for u in users for ws in sockets[u]]
        return received, extra

    received, extra = asyncio.run(run())
    assert extra == [[]] * 6, "a socket received more than its user's events"
    for user, lists in received.items():
        for frames in lists:
            assert all(f["payload"]["seq"] >= 0 for f in frames)
            # The frame keeps the envelope's fields and wraps the payload.
            assert set(frames[0]) == {"type", "payload", "run_id", "thread_id", "ts", "id"}
            assert all(f["run_id"].startswith(user + "-run-") for f in frames), "another user's event"
            assert [f["payload"]["seq"] for f in frames] == list(range(per_user)), "order or completeness"
            assert [f["type"] for f in frames] == [CRITICAL_RUN[i % 5][0] for i in range(per_user)]
            for offsets in by_partition(frames).values():
                assert offsets == sorted(offsets)
            assert len({f["id"] for f in frames}) == per_user, "ids must be unique"
        # Both sockets of a user see the same frames.
        assert [f["id"] for f in lists[0]] == [f["id"] for f in lists[1]]
    assert bridge.metric("bridge_events_delivered_total", type="agent_started") == 3 * 2 * per_user / 5
    assert bridge.metric("bridge_sockets_open") == 6


def test_users_spread_over_several_partitions(kafka, bridge_factory):
    # Guard for the test above: with these keys the users really land in different partitions.
    topic = kafka.create_topic(6)
    bridge = bridge_factory(topic)

    async def run():
        frames = []
        for u in ["alice", "bob", "carol"]:
            ws = await open_socket(bridge, u)
            kafka.produce(topic, u, envelope(u))
            kafka.flush()
            frames += await receive_events(ws, 1)
        return frames

    partitions = {f["id"].rsplit(":", 3)[1] for f in asyncio.run(run())}
    assert len(partitions) >= 2


def test_thread_narrowing(kafka, bridge_factory):
    topic = kafka.create_topic(4)
    bridge = bridge_factory(topic)

    async def run():
        wide = await open_socket(bridge, "dana")
        narrow = await open_socket(bridge, "dana")
        await narrow.send(json.dumps({"action": "subscribe", "thread_id": "t-b"}))
        ack = json.loads(await narrow.recv())
        for i in range(10):
            kafka.produce(topic, "dana", envelope("dana", thread_id="t-a" if i % 2 else "t-b",
                                                 payload={"text": str(i)}))
        kafka.flush()
        all_frames = await receive_events(wide, 10)
        narrowed = await receive_events(narrow, 5)
        leftover = await receive_nothing(narrow, 0.5)
        # Widen again: the next event of thread t-a arrives.
        await narrow.send(json.dumps({"action": "unsubscribe"}))
        unack = json.loads(await narrow.recv())
        kafka.produce(topic, "dana", envelope("dana", thread_id="t-a", payload={"text": "after"}))
        kafka.flush()
        after = await receive_events(narrow, 1)
        return ack, all_frames, narrowed, leftover, unack, after

    ack, all_frames, narrowed, leftover, unack, after = asyncio.run(run())
    assert ack == {"type": "subscribed", "payload": {"thread_id": "t-b"}}
    assert len(all_frames) == 10
    assert [f["payload"]["text"] for f in narrowed] == ["0", "2", "4", "6", "8"]
    assert all(f["thread_id"] == "t-b" for f in narrowed)
    assert leftover == []
    assert unack["type"] == "unsubscribed"
    assert after[0]["payload"]["text"] == "after"


def test_malformed_client_messages_get_error_frames(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "erin")
        replies = []
        for text in ["not json", "[]", '{"action":"dance"}', '{"action":"subscribe"}', '{"action":"subscribe","thread_id":7}']:
            await ws.send(text)
            replies.append(json.loads(await ws.recv()))
        await ws.send(b"\x00\x01binary")
        replies.append(json.loads(await ws.recv()))
        # Still open and delivering.
        kafka.produce(topic, "erin", envelope("erin"))
        kafka.flush()
        return replies, await receive_events(ws, 1)

    replies, events = asyncio.run(run())
    assert [r["type"] for r in replies] == ["error"] * 6
    assert all(r["payload"]["code"] == "bad_request" and r["payload"]["message"] for r in replies)
    assert len(events) == 1


def test_oversized_client_message_closes_with_1009(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, max_inbound_bytes=1024)

    async def run():
        ws = await open_socket(bridge, "fred")
        await ws.send(json.dumps({"action": "subscribe", "thread_id": "x" * 5000}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        return closed.value.rcvd.code

    assert asyncio.run(run()) == 1009
    assert bridge.proc.poll() is None


# With no token at all, the upgrade goes ahead and waits for an auth message (below).
@pytest.mark.parametrize("case", ["not_bearer", "forged", "expired", "not_yet_valid", "alg_none", "no_sub", "query_forged"])
def test_upgrade_without_valid_token_gets_401(kafka, bridge_factory, case):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)
    now = int(time.time())
    tokens = {
        "not_bearer": None,
        "forged": make_token("gina", secret="another-secret-0123456789abcdefghij"),
        "expired": make_token("gina", ttl=-60),
        "not_yet_valid": make_token("gina", nbf=now + 600),
        "alg_none": make_token("gina", secret=None, alg="none"),
        "no_sub": make_token(None),
        "query_forged": make_token("gina", secret="another-secret-0123456789abcdefghij"),
    }
    reasons = {"not_bearer": "missing", "forged": "signature", "expired": "expired", "not_yet_valid": "not_yet_valid",
               "alg_none": "alg", "no_sub": "subject", "query_forged": "signature"}
    token = tokens[case]

    async def run():
        url, headers = bridge.url, {}
        if case == "query_forged":
            url += "?access_token=" + token
        elif case == "not_bearer":
            headers["Authorization"] = "Basic Z2luYTpwYXNzd29yZA=="
        elif token:
            headers["Authorization"] = "Bearer " + token
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=headers)
        return refused.value.response.status_code

    assert asyncio.run(run()) == 401
    assert bridge.metric("bridge_auth_failures_total", reason=reasons[case]) == 1
    assert bridge.metric("bridge_sockets_open") == 0


def test_user_comes_from_token_not_query(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    bridge = bridge_factory(topic)

    async def run():
        # A query parameter naming another user changes nothing.
        ws = await connect(bridge.url + "?user_id=victim&access_token=" + make_token("mallory"))
        await ws.send('{"action":"unsubscribe"}')
        await ws.recv()
        kafka.produce(topic, "victim", envelope("victim", payload={"text": "secret"}))
        kafka.produce(topic, "mallory", envelope("mallory", payload={"text": "mine"}))
        kafka.flush()
        return await receive_events(ws, 1), await receive_nothing(ws, 1.0)

    first, rest = asyncio.run(run())
    assert first[0]["payload"]["text"] == "mine"
    assert rest == []


def test_fourth_socket_closes_the_oldest(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    bridge = bridge_factory(topic)

    async def run():
        sockets = [await open_socket(bridge, "hank") for _ in range(3)]
        fourth = await open_socket(bridge, "hank")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sockets[0].recv(), 5)
        kafka.produce(topic, "hank", envelope("hank"))
        kafka.flush()
        got = [await receive_events(ws, 1) for ws in sockets[1:] + [fourth]]
        return closed.value.rcvd.code, got

    code, got = asyncio.run(run())
    assert code == 4001
    assert all(len(g) == 1 for g in got)
    assert bridge.metric("bridge_disconnects_total", reason="replaced") == 1
    assert bridge.metric("bridge_sockets_open") == 3


def raw_upgrade(port, token, rcvbuf=4096):
    """A WebSocket handshake on a plain socket with a tiny receive buffer, never read after."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def drain_after_close(bridge, sock, result):
    """Once the worker logs that it closes the slow socket, reads all it sent until EOF."""
    deadline = time.time() + 60
    while "closing slow socket" not in bridge.logs() and time.time() < deadline:
        time.sleep(0.01)
    sock.settimeout(10)
    data = bytearray()
    try:
        while chunk := sock.recv(1 << 20):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    result["data"] = bytes(data)


def close_code(stream):
    """The code of the last WebSocket close frame in a server-to-client byte stream."""
    i, code = 0, None
    while i + 2 <= len(stream):
        opcode, length = stream[i] & 0x0F, stream[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(stream[i:i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(stream[i:i + 8], "big"), i + 8
        if opcode == 0x8 and length >= 2 and i + 2 <= len(stream):
            code = int.from_bytes(stream[i:i + 2], "big")
        i += length
    return code


def test_slow_reader_is_closed_at_its_buffer_limit_while_others_receive(kafka, bridge_factory):
    topic = kafka.create_topic(4)
    limit = 64 * 1024
    bridge = bridge_factory(topic, send_buffer_bytes=limit)
    count, blob = 1500, "x" * 8000  # 12 MB for the slow user: far past kernel buffers and the limit

    async def run():
        slow = raw_upgrade(bridge.port, make_token("ivan"))
        fast = await open_socket(bridge, "ivan-fast")
        await asyncio.sleep(0.2)
        result = {}
        drainer = threading.Thread(target=drain_after_close, args=(bridge, slow, result))
        drainer.start()
        for i in range(count):
            kafka.produce(topic, "ivan", envelope("ivan", payload={"text": blob, "step": i + 1}))
            kafka.produce(topic, "ivan-fast", envelope("ivan-fast", payload={"text": "ok", "step": i + 1}))
        kafka.flush()
        frames = await receive_events(fast, count, timeout=60)
        await asyncio.to_thread(drainer.join)
        slow.close()
        return result["data"], frames

    data, frames = asyncio.run(run())
    # The fast socket of another user got everything, in order.
    assert [f["payload"]["step"] for f in frames] == list(range(1, count + 1))
    assert bridge.metric("bridge_disconnects_total", reason="slow_reader") == 1
    # The slow socket got a prefix of its events, far less than produced, then close code 4002.
    assert len(data) < count * len(blob) / 2
    assert close_code(data) == 4002
    assert bridge.proc.poll() is None


def test_invalid_records_are_counted_and_not_delivered(kafka, bridge_factory):
    topic = kafka.create_topic(3)
    bridge = bridge_factory(topic, max_record_bytes=2048)

    async def run():
        ws = await open_socket(bridge, "judy")
        kafka.produce(topic, "judy", "this is not json")
        kafka.produce(topic, "judy", envelope("judy", etype="tool_completed", payload={"tool": "x"}))  # no status
        kafka.produce(topic, "judy", {"type": "agent_thinking", "user_id": "judy"})  # fields missing
        kafka.produce(topic, "judy", envelope("mallory"))  # key differs from user_id
        kafka.produce(topic, "judy", envelope("judy", payload={"text": "y" * 4096}))  # too large
        kafka.produce(topic, None, envelope("judy"))  # no key
        kafka.produce(topic, "judy", envelope("judy", payload={"text": "valid"}))
        kafka.flush()
        first = await receive_events(ws, 1)
        return first, await receive_nothing(ws, 1.0)

    first, rest = asyncio.run(run())
    assert first[0]["payload"] == {"text": "valid"}
    assert rest == []
    for reason, n in [("not_json", 1), ("schema", 2), ("key_mismatch", 1), ("too_large", 1), ("missing_key", 1)]:
        assert bridge.metric("bridge_records_rejected_total", reason=reason) == n, reason
    assert bridge.proc.poll() is None


def test_new_partitions_are_read_without_restart(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "kim")
        kafka.add_partitions(topic, 3)
        await asyncio.sleep(1.5)  # the producer and the worker both see the new partitions
        for p in range(3):
            kafka.produce(topic, "kim", envelope("kim", payload={"text": f"p{p}"}), partition=p)
        kafka.flush()
        return await receive_events(ws, 3)

    frames = asyncio.run(run())
    assert sorted(f["id"].rsplit(":", 3)[1] for f in frames) == ["0", "1", "2"]


# Authenticating with the first message (browsers): refusals are close codes a page can read.

async def open_unauthenticated(bridge, query=""):
    """A socket opened with no token at all, as a browser page opens it."""
    return await connect(bridge.url + query, max_size=None)


def test_first_message_auth_then_events(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_unauthenticated(bridge)
        token = make_token("page-user", ttl=300)
        await ws.send(json.dumps({"action": "auth", "token": token}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "authenticated"
        assert abs(ack["payload"]["expires_at"] - (time.time() + 300)) < 10
        for etype, payload in CRITICAL_RUN:
            kafka.produce(topic, "page-user", envelope("page-user", etype, payload=payload))
        kafka.produce(topic, "other-user", envelope("other-user"))
        kafka.flush()
        got = await receive_events(ws, len(CRITICAL_RUN))
        assert [(f["type"], f["payload"]) for f in got] == CRITICAL_RUN
        assert await receive_nothing(ws, 0.5) == []
        await ws.close()

    asyncio.run(run())
    assert bridge.metric("bridge_sockets_awaiting_auth") == 0


@pytest.mark.parametrize("message,code,reason", [
    ({"action": "auth", "token": "not.a.jwt"}, 4401, "token: malformed"),
    ({"action": "auth", "token": make_token("u", secret="another-secret-0123456789abcdef012345")}, 4401, "token: signature"),
    ({"action": "auth", "token": make_token("u", ttl=-60)}, 4401, "token: expired"),
    ({"action": "auth", "token": make_token(None)}, 4401, "token: subject"),
    ({"action": "subscribe", "thread_id": "t"}, 4400, "bad request: the first message must be auth"),
    ({"action": "auth"}, 4400, "bad request: auth needs a non-empty string \"token\""),
    ({"action": "auth", "token": "x", "since": -5}, 4400, None),
])
def test_refusals_after_the_upgrade_are_readable_close_codes(kafka, bridge_factory, message, code, reason):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_unauthenticated(bridge)
        await ws.send(json.dumps(message))
        got_code, got_reason = await closed_with(ws)
        assert got_code == code
        if reason is not None:
            assert got_reason == reason

    asyncio.run(run())
    if code == 4401:
        assert sum(bridge.metric("bridge_auth_failures_total", reason=r) for r in
                   ("malformed", "signature", "expired", "subject")) == 1
        assert bridge.metric("bridge_disconnects_total", reason="unauthorized") == 1


def test_no_auth_message_in_time_closes_4408_and_holds_no_place(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, auth_timeout_ms=1500, max_sockets_per_user=1)

    async def run():
        held = await open_socket(bridge, "slot-user")
        started = time.monotonic()
        silent = await open_unauthenticated(bridge)
        assert bridge.metric("bridge_sockets_awaiting_auth") == 1
        # The waiting socket receives nothing and takes no place from the user's socket.
        kafka.produce(topic, "slot-user", envelope("slot-user"))
        kafka.flush()
        assert len(await receive_events(held, 1)) == 1
        assert await closed_with(silent) == (4408, "no auth message in time: reconnect")
        assert 1.0 < time.monotonic() - started < 4.0
        # Once it authenticates, a new socket does take a place: the oldest is replaced.
        page = await open_unauthenticated(bridge)
        await page.send(json.dumps({"action": "auth", "token": make_token("slot-user")}))
        assert json.loads(await page.recv())["type"] == "authenticated"
        assert (await closed_with(held))[0] == 4001
        await page.close()

    asyncio.run(run())
    assert bridge.metric("bridge_disconnects_total", reason="auth_timeout") == 1


def test_a_full_worker_answers_4503_after_the_upgrade(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, max_sockets=1)

    async def run():
        held = await open_socket(bridge, "first")
        page = await open_unauthenticated(bridge)
        await page.send(json.dumps({"action": "auth", "token": make_token("second")}))
        assert await closed_with(page) == (4503, "busy or not ready: retry later")
        await held.close()

    asyncio.run(run())


def test_pending_sockets_are_bounded(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, max_pending_auth=2)

    async def run():
        waiting = [await open_unauthenticated(bridge) for _ in range(2)]
        with pytest.raises(InvalidStatus) as refused:
            await open_unauthenticated(bridge)
        assert refused.value.response.status_code == 503
        await waiting[0].send(json.dumps({"action": "auth", "token": make_token("p")}))
        assert json.loads(await waiting[0].recv())["type"] == "authenticated"
        third = await open_unauthenticated(bridge)  # an authenticated socket frees its wait place
        for ws in waiting + [third]:
            await ws.close()

    asyncio.run(run())


def test_auth_message_resume_replays_what_was_missed(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, "resumer")
        kafka.produce(topic, "resumer", envelope("resumer", payload={"text": "seen"}))
        kafka.flush()
        last = (await receive_events(ws, 1))[0]["id"]
        await ws.close()
        for i in range(3):
            kafka.produce(topic, "resumer", envelope("resumer", payload={"text": f"missed {i}"}))
        kafka.flush()
        page = await open_unauthenticated(bridge)
        await page.send(json.dumps({"action": "auth", "token": make_token("resumer"), "resume": last}))
        frames = []
        async with asyncio.timeout(15):
            while not frames or frames[-1]["type"] != "resumed":
                frames.append(json.loads(await page.recv()))
        assert frames[0]["type"] == "authenticated"
        assert [f["payload"]["text"] for f in frames if "id" in f] == ["missed 0", "missed 1", "missed 2"]
        await page.close()

    asyncio.run(run())


def test_a_fresh_token_renews_a_live_socket(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_unauthenticated(bridge)
        await ws.send(json.dumps({"action": "auth", "token": make_token("renewer", ttl=3)}))
        first = json.loads(await ws.recv())
        await ws.send(json.dumps({"action": "auth", "token": make_token("renewer", ttl=600)}))
        renewed = json.loads(await ws.recv())
        assert renewed["type"] == "authenticated"
        assert renewed["payload"]["expires_at"] > first["payload"]["expires_at"] + 500
        await ws.send(json.dumps({"action": "auth", "token": make_token("someone-else")}))
        assert json.loads(await ws.recv())["payload"]["message"] == "a token for another user"
        await ws.send(json.dumps({"action": "auth", "token": make_token("renewer", ttl=-60)}))
        assert json.loads(await ws.recv())["payload"]["message"] == "token: expired"
        await asyncio.sleep(4)  # past the first token's expiry: still open
        kafka.produce(topic, "renewer", envelope("renewer"))
        kafka.flush()
        assert len(await receive_events(ws, 1)) == 1
        await ws.close()

    asyncio.run(run())
