"""Idle memory per socket, TLS next to plaintext: one bridge of each, in turn, holding N idle
sockets opened by real WebSocket clients (Python websockets). Run by `bench/run.sh idle-tls`
(and, small, by smoke); prints a table and writes JSON.

RSS per socket = (worker RSS with N sockets open - RSS before them) / N, after a warm-up
batch opened and closed so the allocator's first growth is not counted.
"""
import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

import jwt
from websockets.asyncio.client import connect


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def wait_ready(admin_port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bridge exited {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("bridge not ready")


async def open_sockets(url, count, secret, ssl_context, prefix):
    async def one(i):
        token = jwt.encode({"sub": f"{prefix}-{i}", "exp": int(time.time()) + 3600}, secret, algorithm="HS256")
        return await connect(url, ssl=ssl_context, additional_headers={"Authorization": "Bearer " + token},
                             open_timeout=30, ping_interval=None, compression=None)

    sockets = []
    for start in range(0, count, 200):  # in batches: no handshake storm
        sockets += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 200))))
    return sockets


async def measure(args, mode):
    port, admin = args.port + (0 if mode == "plain" else 1), args.port + (1000 if mode == "plain" else 1001)
    cmd = [args.bridge, "--brokers", args.brokers, "--topics", args.topic, "--listen", f"127.0.0.1:{port}",
           "--admin-listen", f"127.0.0.1:{admin}", "--max-sockets-per-user", "1000",
           "--max-connections-per-address", "10000000", "--max-sockets", str(args.sockets + 1000),
           "--log-level", "warn"]
    if mode == "tls":
        cmd += ["--tls-cert-file", args.cert, "--tls-key-file", args.key]
    # Every socket comes from one address: no per-address connection rate (an environment
    # variable, which a build without it ignores).
    env = dict(os.environ, BRIDGE_JWT_SECRET=args.secret, BRIDGE_ADDRESS_CONNECTION_BURST="10000000")
    with open(os.path.join(args.raw, f"idle-tls--{mode}.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_ready(admin, proc)
        scheme = "wss" if mode == "tls" else "ws"
        context = ssl.create_default_context(cafile=args.ca) if mode == "tls" else None
        url = f"{scheme}://127.0.0.1:{port}/ws"
        warm = await open_sockets(url, min(200, args.sockets), args.secret, context, "warm")
        for ws in warm:
            await ws.close()
        await asyncio.sleep(1)
        before = rss_bytes(proc.pid)
        sockets = await open_sockets(url, args.sockets, args.secret, context, "idle")
        await asyncio.sleep(args.settle_s)
        after = rss_bytes(proc.pid)
        open_now = sum(1 for ws in sockets if ws.state.name == "OPEN")
        for ws in sockets:
            await ws.close()
        return {"mode": mode, "sockets": args.sockets, "open": open_now, "rss_before": before, "rss_after": after,
                "bytes_per_socket": (after - before) / args.sockets}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bridge", required=True)
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sockets", type=int, default=2000)
    p.add_argument("--settle-s", type=float, default=3)
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    rows = [await measure(args, "plain"), await measure(args, "tls")]
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"{'':8} {'sockets':>8} {'open':>6} {'RSS per idle socket':>20}")
    for r in rows:
        print(f"{r['mode']:8} {r['sockets']:>8} {r['open']:>6} {r['bytes_per_socket'] / 1024:>17.1f} KiB")
    return 0 if all(r["open"] == r["sockets"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
