"""What slow and silent clients cost in the kernel (issue 23): the kernel's share of a socket's
unsent bytes is bounded and counted by the slow-reader rule, and a socket closed because its
client does not read goes away with a reset instead of lingering as a FIN-WAIT-1 orphan that
holds its unsent bytes for minutes.

Real broker, real bridge, real sockets. The clients that never read are plain sockets with a
tiny receive buffer (RawClient of test_send_path): they connect, authenticate in the upgrade
and read nothing after the handshake. What the kernel holds is read from /proc/net/tcp (per
socket: state and unsent bytes, so other work on the machine does not blur it) and from
/proc/net/sockstat (the machine's TCP memory, in pages, for the whole picture).
"""
import asyncio
import socket
import ssl
import time

from conftest import make_token, open_socket, receive_events
from test_send_path import RawClient, event, producer, start_bridge, wait_for  # noqa: F401 (producer: a fixture)

FIN_WAIT1 = 0x04
TIME_WAIT = 0x06
LISTEN = 0x0A
PAGE = 4096


def bridge_sockets(port):
    """(state, unsent bytes) of every TCP socket on the bridge's port, orphans included."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    found.append((int(fields[3], 16), int(fields[4].split(":")[0], 16)))
    return found


def lingering(port):
    """The bridge's sockets but its listener and those in TIME-WAIT (which hold no data: a
    socket closed the normal way): (count, FIN-WAIT-1 among them, their unsent bytes)."""
    left = [(state, queued) for state, queued in bridge_sockets(port) if state not in (LISTEN, TIME_WAIT)]
    return len(left), sum(1 for state, _ in left if state == FIN_WAIT1), sum(queued for _, queued in left)


def sockstat():
    """/proc/net/sockstat's TCP line: inuse, orphan, tw, alloc, mem (pages)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                words = line.split()[1:]
                return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}
    raise AssertionError("no TCP line in /proc/net/sockstat")


def first_cursor(bridge, producer, topic, user):
    async def run():
        ws = await open_socket(bridge, user)
        producer.produce(topic, event(user, 0))
        producer.flush()
        frame = (await receive_events(ws, 1))[0]
        await ws.close()
        return frame["id"]

    return asyncio.run(run())


# 1. One user, one token, sockets that resume and never read: each is closed 4002 when its
#    replay cannot go on, and none stays behind in the kernel. Before, each became a
#    FIN-WAIT-1 orphan holding megabytes for 200 s or more, with no event produced meanwhile.

def test_one_user_cannot_pile_up_orphans_by_resuming_and_not_reading(kafka, bridge_factory, producer):
    rounds, per_round = 3, 3
    topic = kafka.create_topic(1)
    bridge = start_bridge(bridge_factory, topic, send_buffer_bytes=256 * 1024, replay_concurrency=per_round)
    cursor = first_cursor(bridge, producer, topic, "orla")
    for seq in range(1, 81):  # 4 MB to replay, produced once
        producer.produce(topic, event("orla", seq, 50000))
    producer.flush()
    wait_for(lambda: bridge.metric("bridge_records_read_total") >= 81, 30, "the history read")
    before = sockstat()
    clients = []
    for round_ in range(rounds):
        # The user's sockets: each resumes from the start and reads nothing.
        clients += [RawClient(bridge, "orla", "?resume=" + cursor) for _ in range(per_round)]
        for c in clients[-per_round:]:
            c.wait_data()
        closed = (round_ + 1) * per_round
        wait_for(lambda: bridge.metric("bridge_disconnects_total", reason="slow_reader") >= closed, 60,
                 f"round {round_ + 1}'s sockets closed as slow readers")
    # Every socket closed so far is gone from the kernel, none as an orphan holding its bytes.
    wait_for(lambda: bridge.metric("bridge_sockets_open") == 0, 30, "the sockets closed")
    try:
        wait_for(lambda: lingering(bridge.port) == (0, 0, 0), 20, "the closed sockets gone from the kernel")
    finally:
        left, orphans, unsent = lingering(bridge.port)
        after = sockstat()
        print(f"sockstat before {before}, after {after}; bridge port: {left} sockets left, "
              f"{orphans} in FIN-WAIT-1, {unsent} bytes unsent")
        for c in clients:
            c.close()
    assert bridge.metric("bridge_disconnects_total", reason="slow_reader") == rounds * per_round
    assert bridge.metric("bridge_sockets_reset_total") == rounds * per_round


# 2. Sockets that never read: the bytes the kernel holds for them count towards
#    --send-buffer-bytes, so every one is closed 4002 (before: 3 MiB each sat in the kernel
#    and none was closed), and the kernel's memory comes back once they are reset.

def test_never_reading_sockets_are_closed_and_the_kernel_memory_comes_back(kafka, bridge_factory, producer):
    sockets, produced = 100, 3 << 20
    topic = kafka.create_topic(1)
    bridge = start_bridge(bridge_factory, topic, max_sockets_per_user=sockets)
    before = sockstat()
    clients = [RawClient(bridge, "nell") for _ in range(sockets)]
    wait_for(lambda: bridge.metric("bridge_sockets_open") == sockets, 30, "the sockets registered")
    size, seq = 50000, 0
    for seq in range(produced // size):
        producer.produce(topic, event("nell", seq, size))
    producer.flush()
    # A trickle, so the worker looks at the sockets again once they are past the limit.
    deadline, peak = time.monotonic() + 60, sockstat()
    while bridge.metric("bridge_disconnects_total", reason="slow_reader") < sockets and time.monotonic() < deadline:
        seq += 1
        producer.produce(topic, event("nell", seq, 100))
        producer.flush()
        time.sleep(0.2)
        peak = max(peak, sockstat(), key=lambda s: s["mem"])
    slow = bridge.metric("bridge_disconnects_total", reason="slow_reader")
    try:
        assert slow == sockets, f"{slow} of {sockets} sockets that never read were closed as slow readers"
        wait_for(lambda: bridge.metric("bridge_sockets_open") == 0, 30, "the sockets closed")
        wait_for(lambda: lingering(bridge.port) == (0, 0, 0), 20, "the closed sockets gone from the kernel")
        # Machine-wide, so other work moves it too: polled, with room far below the 300 MB
        # these sockets held in the kernel before.
        slack = (32 << 20) // PAGE
        wait_for(lambda: sockstat()["mem"] <= before["mem"] + slack, 30, "the kernel's TCP memory back near its start")
    finally:
        after = sockstat()
        print(f"sockstat before {before}, at its highest {peak}, after {after}; "
              f"bridge port: {lingering(bridge.port)} (sockets, FIN-WAIT-1, unsent bytes)")
        for c in clients:
            c.close()
    assert bridge.metric("bridge_sockets_reset_total") == sockets
    assert bridge.metric("bridge_direct_writes_total") > 0, "the direct write path was not used"


# 3. The same over native TLS: the reset comes before any TLS shutdown, which would wait
#    behind the unread bytes too.

def tls_client(bridge, cert, user, rcvbuf=4096):
    """A TLS WebSocket client on a plain socket with a tiny receive buffer, never read after
    the handshake."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.connect(("127.0.0.1", bridge.port))
    tls = ssl.create_default_context(cafile=str(cert)).wrap_socket(raw, server_hostname="localhost")
    tls.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 f"Authorization: Bearer {make_token(user)}\r\n\r\n").encode())
    head = b""
    tls.settimeout(10)
    while b"\r\n\r\n" not in head:
        byte = tls.recv(1)
        assert byte, head
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return tls


def test_tls_sockets_that_never_read_are_closed_and_reset(kafka, bridge_factory, producer, tmp_path):
    from test_hardening import make_cert
    sockets = 10
    cert, key = make_cert(tmp_path, "slow")
    topic = kafka.create_topic(1)
    bridge = start_bridge(bridge_factory, topic, max_sockets_per_user=sockets, tls_cert_file=cert, tls_key_file=key)
    clients = [tls_client(bridge, cert, "tess") for _ in range(sockets)]
    try:
        wait_for(lambda: bridge.metric("bridge_sockets_open") == sockets, 30, "the sockets registered")
        for seq in range(60):  # 3 MB each
            producer.produce(topic, event("tess", seq, 50000))
        producer.flush()
        seq, deadline = 60, time.monotonic() + 60
        while bridge.metric("bridge_disconnects_total", reason="slow_reader") < sockets and time.monotonic() < deadline:
            seq += 1
            producer.produce(topic, event("tess", seq, 100))
            producer.flush()
            time.sleep(0.2)
        assert bridge.metric("bridge_disconnects_total", reason="slow_reader") == sockets
        wait_for(lambda: bridge.metric("bridge_sockets_open") == 0, 30, "the sockets closed")
        wait_for(lambda: lingering(bridge.port) == (0, 0, 0), 20, "the closed sockets gone from the kernel")
    finally:
        print(f"bridge port: {lingering(bridge.port)} (sockets, FIN-WAIT-1, unsent bytes)")
        for c in clients:
            c.close()
    assert bridge.metric("bridge_sockets_reset_total") == sockets
