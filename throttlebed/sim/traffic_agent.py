"""The testbed's own traffic generator, run inside emulated hosts (standard library only).

``python -m throttlebed.sim.traffic_agent serve --port 5001``
    On platform and other-service hosts. For each TCP connection it reads one JSON request line
    ``{"bytes": N, "rate_kbps": R, "duration_s": D}`` and sends N bytes (or, with D, sends for D
    seconds), paced at R kbit/s (R = 0: as fast as TCP allows), then closes.

``python -m throttlebed.sim.traffic_agent fetch --schedule FILE --out FILE --epoch T --bin-s X``
    On user hosts. FILE holds JSON lines ``{"at_s", "server", "port", "bytes", "rate_kbps",
    "duration_s"}``; each transfer starts at wall time ``T + at_s`` and runs concurrently with the
    others (asyncio), at most ``--max-concurrent`` at once (a session that would exceed it is
    dropped and counted). Received bytes are counted on the receiver, per bin of ``X`` wall
    seconds since T and per (server, protocol); ``--udp-port`` also counts UDP datagrams. The
    result is written (atomically) at the end, on SIGTERM, or at ``--until-s``.

``python -m throttlebed.sim.traffic_agent udp-send --dst IP --port P --rate-kbps R --duration-s D``
    A UDP sender at a fixed rate (the policed class of tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORT = 5001
CHUNK_MAX_B = 64 * 1024
REQUEST_MAX_B = 4096
UDP_PAYLOAD_B = 1400


def _chunk_b(rate_bps: float) -> int:
    """Send size for a paced stream: about 100 sends a second, 1448 B .. 64 KiB."""
    if rate_bps <= 0:
        return CHUNK_MAX_B
    return int(min(CHUNK_MAX_B, max(1448, rate_bps / 8 / 100)))


# ---- server --------------------------------------------------------------------------------


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        line = await asyncio.wait_for(reader.readline(), timeout=30)
        req = json.loads(line.decode() or "{}")
        total_b = int(req.get("bytes") or 0)
        rate_bps = float(req.get("rate_kbps") or 0) * 1000.0
        duration_s = float(req.get("duration_s") or 0)
        chunk = _chunk_b(rate_bps)
        payload = b"\0" * chunk
        t0 = time.monotonic()
        sent = 0
        while True:
            now = time.monotonic()
            if duration_s > 0:
                if now - t0 >= duration_s:
                    break
                n = chunk
            else:
                n = min(chunk, total_b - sent)
                if n <= 0:
                    break
            if rate_bps > 0:
                due = t0 + sent * 8 / rate_bps
                if due > now:
                    await asyncio.sleep(due - now)
            writer.write(payload[:n])
            await writer.drain()
            sent += n
    except (ConnectionError, asyncio.TimeoutError, ValueError, json.JSONDecodeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()


async def serve(port: int, host: str = "0.0.0.0") -> None:
    """Serve transfer requests on TCP ``port`` until terminated."""
    server = await asyncio.start_server(_serve_one, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


# ---- client --------------------------------------------------------------------------------


@dataclass
class Counters:
    """Received bytes per (bin, server, proto), and what happened to the sessions."""

    epoch: float
    bin_s: float
    bytes_by_key: dict[tuple[int, str, str], int] = field(default_factory=lambda: defaultdict(int))
    sessions: int = 0
    completed: int = 0
    dropped: int = 0
    failed: int = 0
    cut: int = 0
    active: int = 0
    max_active: int = 0

    def add(self, server: str, proto: str, n: int) -> None:
        """Count ``n`` bytes received now from ``server``."""
        b = math.floor((time.time() - self.epoch) / self.bin_s)
        self.bytes_by_key[(b, server, proto)] += n

    def to_data(self) -> dict[str, Any]:
        """The result document."""
        rows = [[b, s, p, n] for (b, s, p), n in sorted(self.bytes_by_key.items())]
        return {"epoch": self.epoch, "bin_s": self.bin_s, "columns": ["bin", "server", "proto", "bytes"],
                "rows": rows, "sessions": self.sessions, "completed": self.completed,
                "dropped": self.dropped, "failed": self.failed, "cut": self.cut,
                "max_active": self.max_active}


async def _fetch_one(c: Counters, s: dict[str, Any]) -> None:
    server = str(s["server"])
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(server, int(s.get("port") or DEFAULT_PORT)), timeout=10)
    except (OSError, asyncio.TimeoutError):
        c.failed += 1
        return
    try:
        req = {"bytes": int(s.get("bytes") or 0), "rate_kbps": float(s.get("rate_kbps") or 0),
               "duration_s": float(s.get("duration_s") or 0)}
        writer.write((json.dumps(req) + "\n").encode())
        await writer.drain()
        while True:
            data = await reader.read(CHUNK_MAX_B)
            if not data:
                break
            c.add(server, "tcp", len(data))
        c.completed += 1
    except OSError:
        c.failed += 1
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _session(c: Counters, s: dict[str, Any], max_concurrent: int) -> None:
    delay = c.epoch + float(s["at_s"]) - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    c.sessions += 1
    if c.active >= max_concurrent:
        c.dropped += 1
        return
    c.active += 1
    c.max_active = max(c.max_active, c.active)
    try:
        await _fetch_one(c, s)
    except asyncio.CancelledError:
        c.cut += 1
        raise
    finally:
        c.active -= 1


class _UdpCounter(asyncio.DatagramProtocol):
    def __init__(self, c: Counters) -> None:
        self.c = c

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.c.add(addr[0], "udp", len(data))


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as JSON through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def read_schedule(path: Path) -> list[dict[str, Any]]:
    """JSON lines of sessions, sorted by start offset."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return sorted(out, key=lambda s: float(s["at_s"]))


async def fetch(schedule: list[dict[str, Any]], out: Path, epoch: float, bin_s: float,
                max_concurrent: int, until_s: float | None, udp_port: int | None) -> Counters:
    """Run the schedule, count what arrives, write the result to ``out``."""
    c = Counters(epoch=epoch, bin_s=bin_s)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    udp = None
    if udp_port:
        udp, _ = await loop.create_datagram_endpoint(lambda: _UdpCounter(c), local_addr=("0.0.0.0", udp_port))
    tasks = [asyncio.create_task(_session(c, s, max_concurrent)) for s in schedule]
    done_all = asyncio.gather(*tasks, return_exceptions=True)
    waiters = [asyncio.create_task(stop.wait())]
    if tasks and not udp_port:
        waiters.append(asyncio.ensure_future(done_all))
    if until_s is not None:
        waiters.append(asyncio.create_task(asyncio.sleep(max(0.0, epoch + until_s - time.time()))))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for w in waiters:
        w.cancel()
    if udp is not None:
        udp.close()
    write_json_atomic(out, c.to_data())
    return c


# ---- UDP sender ----------------------------------------------------------------------------


def udp_send(dst: str, port: int, rate_kbps: float, duration_s: float,
             payload_b: int = UDP_PAYLOAD_B) -> int:
    """Send UDP datagrams at ``rate_kbps`` (payload bits) for ``duration_s``; return bytes sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"\0" * payload_b
    rate_bps = rate_kbps * 1000.0
    t0 = time.monotonic()
    sent = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
    while not stop:
        now = time.monotonic()
        if now - t0 >= duration_s:
            break
        due = t0 + sent * 8 / rate_bps
        if due > now:
            time.sleep(min(due - now, 0.01))
            continue
        with contextlib.suppress(OSError):
            sock.sendto(payload, (dst, port))
        sent += payload_b
    sock.close()
    return sent


# ---- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m throttlebed.sim.traffic_agent``."""
    ap = argparse.ArgumentParser(prog="traffic_agent", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve", help="serve transfers on TCP")
    sp.add_argument("--port", type=int, default=DEFAULT_PORT)
    fp = sub.add_parser("fetch", help="run a schedule of transfers and count received bytes")
    fp.add_argument("--schedule", type=Path, required=True)
    fp.add_argument("--out", type=Path, required=True)
    fp.add_argument("--epoch", type=float, required=True, help="wall time (Unix s) of offset 0")
    fp.add_argument("--bin-s", type=float, default=1.0)
    fp.add_argument("--max-concurrent", type=int, default=64)
    fp.add_argument("--until-s", type=float, default=None, help="stop at this offset from the epoch")
    fp.add_argument("--udp-port", type=int, default=None, help="also count UDP arriving here")
    up = sub.add_parser("udp-send", help="send UDP at a fixed rate")
    up.add_argument("--dst", required=True)
    up.add_argument("--port", type=int, required=True)
    up.add_argument("--rate-kbps", type=float, required=True)
    up.add_argument("--duration-s", type=float, required=True)
    up.add_argument("--payload-b", type=int, default=UDP_PAYLOAD_B)
    a = ap.parse_args(argv)
    if a.cmd == "serve":
        asyncio.run(serve(a.port))
    elif a.cmd == "fetch":
        if a.bin_s <= 0 or a.max_concurrent < 1:
            ap.error("--bin-s must be > 0 and --max-concurrent >= 1")
        asyncio.run(fetch(read_schedule(a.schedule), a.out, a.epoch, a.bin_s, a.max_concurrent,
                          a.until_s, a.udp_port))
    else:
        sent = udp_send(a.dst, a.port, a.rate_kbps, a.duration_s, a.payload_b)
        print(json.dumps({"sent_bytes": sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
