"""Sockets spread over io threads (--io-threads 2): one user's sockets on different threads
keep isolation, order, the per-user cap, the worker's socket cap and the resume splice."""
import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conftest import closed_with, envelope, make_token, open_socket, receive_events, receive_nothing


def per_thread(bridge):
    """Open sockets on io threads 0 and 1, from /metrics."""
    return [bridge.metric("bridge_io_thread_sockets", thread=str(i)) for i in range(2)]


def seqs(frames):
    return [f["payload"]["seq"] for f in frames]


def test_one_users_sockets_on_both_threads_get_every_event_in_order_and_nothing_else(kafka, bridge_factory):
    topic = kafka.create_topic(4)
    bridge = bridge_factory(topic, io_threads=2)
    count = 200

    async def run():
        # Accepted connections are dealt to the threads in turn.
        alice = [await open_socket(bridge, "alice"), await open_socket(bridge, "alice")]
        bob = await open_socket(bridge, "bob")
        placed = per_thread(bridge)
        for i in range(count):
            kafka.produce(topic, "alice", envelope("alice", "progress", run_id=f"alice-run-{i % 3}", payload={"seq": i}))
            if i % 10 == 0:
                kafka.produce(topic, "bob", envelope("bob", "progress", run_id="bob-run", payload={"seq": i // 10}))
        kafka.flush()
        got = [await receive_events(ws, count) for ws in alice]
        got_bob = await receive_events(bob, count // 10)
        extra = [await receive_nothing(ws, 0.5) for ws in alice + [bob]]
        return placed, got, got_bob, extra

    placed, got, got_bob, extra = asyncio.run(run())
    assert sorted(placed) == [1, 2], f"sockets per io thread: {placed}"
    assert bridge.metric("bridge_sockets_open") == 3
    for frames in got:
        # One partition per run: order holds within a run, on whichever thread the socket lives.
        for run in range(3):
            run_seqs = [f["payload"]["seq"] for f in frames if f["run_id"] == f"alice-run-{run}"]
            assert run_seqs == list(range(run, count, 3))
        assert sorted(seqs(frames)) == list(range(count))
        assert all(f["run_id"].startswith("alice-") for f in frames)
    assert seqs(got_bob) == list(range(count // 10))
    assert all(f["run_id"] == "bob-run" for f in got_bob)
    assert extra == [[], [], []]


def test_per_user_cap_holds_across_threads_and_closes_the_oldest(kafka, bridge_factory):
    topic = kafka.create_topic(2)
    bridge = bridge_factory(topic, io_threads=2, max_sockets_per_user=3)

    async def run():
        first = [await open_socket(bridge, "carol") for _ in range(3)]
        placed = per_thread(bridge)
        fourth = await open_socket(bridge, "carol")
        code = await closed_with(first[0])
        kafka.produce(topic, "carol", envelope("carol", "progress", payload={"seq": 1}))
        kafka.flush()
        alive = [await receive_events(ws, 1) for ws in first[1:] + [fourth]]
        return placed, code, alive

    placed, code, alive = asyncio.run(run())
    assert sorted(placed) == [1, 2]
    assert code == (4001, "too many sockets for this user")
    assert [seqs(frames) for frames in alive] == [[1], [1], [1]]
    assert bridge.metric("bridge_sockets_open") == 3
    assert bridge.metric("bridge_disconnects_total", reason="replaced") == 1


def test_worker_socket_cap_is_exact_when_many_connect_at_once(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, io_threads=2, max_sockets=5, max_sockets_per_user=100)

    async def one(i):
        try:
            ws = await connect(bridge.url, additional_headers={"Authorization": "Bearer " + make_token(f"u{i}")})
        except InvalidStatus as refused:
            return refused.response.status_code, None
        return 101, ws

    async def run():
        results = await asyncio.gather(*(one(i) for i in range(20)))
        statuses = sorted(status for status, _ in results)
        for _, ws in results:
            if ws is not None:
                await ws.close()
        return statuses

    statuses = asyncio.run(run())
    assert statuses.count(101) == 5, statuses
    assert statuses.count(503) == 15, statuses


def test_resume_on_the_other_thread_splices_without_gap_or_duplicate(kafka, bridge_factory):
    topic = kafka.create_topic(1)
    bridge = bridge_factory(topic, io_threads=2)
    total = 300

    async def run():
        first = await open_socket(bridge, "dave")  # the first connection: thread 0
        for i in range(100):
            kafka.produce(topic, "dave", envelope("dave", "progress", payload={"seq": i}))
        kafka.flush()
        before = await receive_events(first, 100)
        cursor = before[49]["id"]

        async def produce_more():
            for i in range(100, total):
                kafka.produce(topic, "dave", envelope("dave", "progress", payload={"seq": i}))
                if i % 20 == 0:
                    kafka.flush()
                    await asyncio.sleep(0.01)
            kafka.flush()

        # Live events keep coming while the second socket, on thread 1, replays from the cursor.
        producing = asyncio.create_task(produce_more())
        resumed = await connect(bridge.url + "?resume=" + cursor,
                                additional_headers={"Authorization": "Bearer " + make_token("dave")}, max_size=None)
        frames = await receive_events(resumed, total - 50, timeout=30)
        await producing
        live = await receive_events(first, total - 100, timeout=30)
        extra = [await receive_nothing(ws, 0.5) for ws in (first, resumed)]
        placed = per_thread(bridge)
        return before + live, frames, extra, placed

    first_frames, frames, extra, placed = asyncio.run(run())
    assert placed == [1, 1]
    assert seqs(frames) == list(range(50, total)), "the resume splice lost or repeated an event"
    assert seqs(first_frames) == list(range(total))
    assert [[f for f in frames if "id" in f] for frames in extra] == [[], []]  # "resumed" may come late
