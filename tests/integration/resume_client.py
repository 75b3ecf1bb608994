"""A WebSocket client that follows the bridge's documented client rule.

Keep the last id; dedupe by id; reconnect with ?resume=<last id> (or, before any event, with
?since=<time of the first connect>); on resume_failed, reload. Used by the resume, crash and
rolling-restart tests to count what a real client would see.
"""
import asyncio
import json
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from conftest import make_token


class ResumingClient:
    def __init__(self, user, urls, **connect_kw):
        self.user = user
        self.urls = list(urls)
        self.connect_kw = connect_kw  # more arguments for websockets' connect, e.g. ssl=
        self.last_id = None
        self.first_connect_ms = None
        self.ids = set()          # every id seen, over all connections
        self.events = []          # deduplicated, in arrival order
        self.arrived_ms = []      # wall-clock arrival time of each of self.events
        self.duplicates_within = 0  # an id seen twice on one connection: must stay 0
        self.duplicates_across = 0  # an id seen again after a reconnect: allowed, removed by dedupe
        self.connections = 0
        self.close_codes = []
        self.control = []         # (monotonic time, frame) of resumed, resume_failed, ...: frames without id
        self.connected_at = []    # monotonic times of successful connects
        self.ws = None            # the current connection

    def seqs(self):
        return [e["payload"]["seq"] for e in self.events]

    def _query(self):
        if self.last_id:
            return "resume=" + self.last_id
        return f"since={self.first_connect_ms}"

    async def run(self, stop, first_url=0):
        """Connects, reads and reconnects until `stop` is set."""
        turn = first_url
        while not stop.is_set():
            url = self.urls[turn % len(self.urls)]
            if self.first_connect_ms is None:
                self.first_connect_ms = int(time.time() * 1000)
            try:
                ws = await connect(f"{url}?{self._query()}",
                                   additional_headers={"Authorization": "Bearer " + make_token(self.user)},
                                   open_timeout=5, max_size=None, **self.connect_kw)
            except (OSError, InvalidHandshake, asyncio.TimeoutError):
                turn += 1
                await asyncio.sleep(0.1)
                continue
            self.ws = ws
            self.connections += 1
            self.connected_at.append(time.monotonic())
            await self._read(ws, stop)
            turn += 1

    async def _read(self, ws, stop):
        seen_here = set()
        reader = asyncio.ensure_future(self._frames(ws, seen_here))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not reader.done():
            await ws.close()
            reader.cancel()
        stopper.cancel()
        code = ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None
        self.close_codes.append(code)

    async def _frames(self, ws, seen_here):
        try:
            async for text in ws:
                frame = json.loads(text)
                fid = frame.get("id")
                if fid is None:
                    self.control.append((time.monotonic(), frame))
                    if frame["type"] == "resume_failed":
                        self.last_id = None  # reload: start over from now
                    continue
                if fid in seen_here:
                    self.duplicates_within += 1
                seen_here.add(fid)
                if fid in self.ids:
                    self.duplicates_across += 1
                else:
                    self.ids.add(fid)
                    self.events.append(frame)
                    self.arrived_ms.append(time.time() * 1000)
                self.last_id = fid
        except ConnectionClosed:
            pass


async def wait_until(condition, timeout, interval=0.1):
    """Polls condition() until it holds or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(interval)
    return condition()
