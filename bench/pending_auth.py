"""The pool of sockets waiting for their auth message, under attack (docs/deploy.md).

    BRIDGE_BIN=build/bridge/bridge BRIDGE_TEST_BROKERS=127.0.0.1:29092 .venv/bin/python bench/pending_auth.py hold
    BRIDGE_BIN=build/bridge/bridge BRIDGE_TEST_BROKERS=127.0.0.1:29092 .venv/bin/python bench/pending_auth.py attack

`hold`: one worker with --max-pending-auth 1 and the default --auth-timeout-ms; a socket
upgrades without a token, then never speaks nor answers a close frame. Prints how long after
its upgrade another one gets the place, and when the silent socket's connection ends.

`attack`: one worker at its defaults; an attacker on 4 addresses (127.0.0.2-5) runs 300
connections each, every one a silent socket held until the worker ends it, then opened again;
after 8 s, 57 browser logins (no token, then the auth message) from 57 other addresses, one
every 0.25 s. Prints the pending sockets the attacker held, the logins that succeeded and the
refusals by reason. Needs a broker (scripts/kafka.sh start --port 29092 --dir /tmp/k).
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from conftest import Bridge, Kafka  # noqa: E402
from test_hardening import browser_login, silent_socket  # noqa: E402


def hold(kafka):
    bridge = Bridge(kafka.create_topic(1), max_pending_auth=1)

    async def run():
        silent = await silent_socket(bridge.port)
        opened = time.monotonic()
        freed = None
        while freed is None and time.monotonic() - opened < 20:
            await asyncio.sleep(0.05)
            probe = await silent_socket(bridge.port)
            if probe is not None:
                freed = time.monotonic() - opened
                probe[1].close()
        async with asyncio.timeout(20):
            await silent[0].read(-1)
        return {"place_free_after_s": round(freed, 2), "connection_ended_after_s": round(time.monotonic() - opened, 2)}

    try:
        return asyncio.run(run())
    finally:
        bridge.proc.kill()
        bridge.proc.wait()
        os.unlink(bridge.log_path)


def attack(kafka, addresses=4, per_address=300, logins=57):
    bridge = Bridge(kafka.create_topic(1))

    async def hold_one(address, stop):
        while not stop.is_set():
            held = await silent_socket(bridge.port, address)
            if held is None:
                await asyncio.sleep(0.5)
                continue
            eof = asyncio.ensure_future(held[0].read(-1))
            await asyncio.wait([eof, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
            eof.cancel()
            held[1].close()

    async def run():
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(hold_one(f"127.0.0.{2 + a}", stop))
                 for a in range(addresses) for _ in range(per_address)]
        await asyncio.sleep(8)
        held = bridge.metric("bridge_sockets_awaiting_auth")
        ok = 0
        for i in range(logins):
            ok += await browser_login(bridge, f"page-{i}", f"127.0.1.{10 + i}")
            await asyncio.sleep(0.25)
        stop.set()
        await asyncio.gather(*tasks)
        return {"attacker_held": int(held), "logins_ok": ok, "logins": logins,
                "refused": {r: int(bridge.metric("bridge_requests_refused_total", reason=r))
                            for r in ("unavailable", "pending_auth_limit", "connection_rate", "address_limit")}}

    try:
        return asyncio.run(run())
    finally:
        bridge.proc.kill()
        bridge.proc.wait()
        os.unlink(bridge.log_path)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("hold", "attack"):
        sys.exit(__doc__)
    print(what, os.environ.get("BRIDGE_BIN", "build/bridge/bridge"), (hold if what == "hold" else attack)(Kafka()))
