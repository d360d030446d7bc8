"""A small HTTP/1.1 load generator on asyncio streams: N keep-alive connections, open or closed loop.

One event loop drives every connection, so on a 2-core box the client costs a fraction of
a core (a thread per connection would compete with the server for the GIL and the CPU).

  closed loop  each connection sends its next request as soon as the previous answer is in:
               measures capacity (latency is then ~ connections / throughput, Little's law).
  open loop    each connection sends on a fixed schedule (`rate` requests/s per connection,
               start times spread evenly); latency counts from the *scheduled* send time, so a
               slow answer that delays the next send is charged to it (no coordinated omission).
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable
from urllib.parse import urlsplit


class _Conn:
    def __init__(self, host: str, port: int, request: bytes):
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self) -> int:
        """Sends the request and reads the answer; reconnects once if the server closed an idle connection."""
        for attempt in (0, 1):
            if self.writer is None:
                await self._open()
            try:
                self.writer.write(self.request)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
                continue
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await self.reader.readexactly(length)
            if close:
                self.close()
            return status
        raise AssertionError("unreachable")


async def _run(url: str, headers: dict, clients: int, *, per_client: int | None, seconds: float | None,
               rate: float | None, probe: Callable[[], object] | None = None) -> dict:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n{head}\r\n".encode()
    conns = [_Conn(parts.hostname, parts.port, request) for _ in range(clients)]
    # Connect first (handshakes are not latency), one after another, each sending one unmeasured
    # request before the next connects, as clients that arrive over time do. Connections opened
    # in a burst sit in the kernel's accept queue and one gunicorn worker takes most of them
    # (seen: 65/35 and 77/23 splits), which then measures one overloaded worker.
    for c in conns:
        await c.get()
    where = probe() if probe else None
    latencies: list[float] = []
    lags: list[float] = []  # how late each send left: large values mean the generator itself is behind
    errors: dict[str, int] = {}
    cpu0, began = time.process_time(), time.perf_counter()
    stop_at = began + seconds if seconds else None

    async def client(index: int, conn: _Conn) -> None:
        start = began + (index / clients) / rate if rate else began
        n = 0
        while (per_client is None or n < per_client) and (stop_at is None or time.perf_counter() < stop_at):
            if rate:
                scheduled = start + n / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                scheduled = time.perf_counter()
            lags.append(time.perf_counter() - scheduled)
            try:
                status = await conn.get()
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                conn.close()
            latencies.append(time.perf_counter() - scheduled)
            n += 1

    await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu0
    for c in conns:
        c.close()
    return {"latencies_ms": [x * 1000 for x in latencies], "send_lag_ms": [x * 1000 for x in lags],
            "errors": errors, "seconds": elapsed, "rps": len(latencies) / elapsed, "client_cpu": cpu / elapsed,
            "probe": where}


def closed_loop(url: str, headers: dict, clients: int, seconds: float, probe=None) -> dict:
    return asyncio.run(_run(url, headers, clients, per_client=None, seconds=seconds, rate=None, probe=probe))


def open_loop(url: str, headers: dict, clients: int, rate_per_client: float, total: int, probe=None) -> dict:
    """`probe()` runs once all connections are open (e.g. to see how they spread over workers)."""
    return asyncio.run(_run(url, headers, clients, per_client=max(1, total // clients), seconds=None,
                            rate=rate_per_client, probe=probe))
