"""The testbed's own traffic generator, run inside emulated hosts (standard library, light imports).

``python -m throttlebed.emulation.traffic_agent serve --port 5001``
    On platform and other-service hosts. For each TCP connection it reads one JSON request line
    ``{"bytes": N, "rate_kbps": R, "duration_s": D}`` and sends N bytes (or, with D, sends for D
    seconds), paced at R kbit/s (R = 0: as fast as TCP allows), then closes. A UDP datagram
    ``{"bytes": N, "rate_kbps": R}`` to the same port makes it stream N bytes of UDP back at R.

``python -m throttlebed.emulation.traffic_agent fetch --schedule FILE|- --out FILE --epoch T --bin-s X``
    On user hosts. The schedule (a file, or stdin as the driver streams it) holds JSON lines
    ``{"at_s", "server", "port", "bytes", "rate_kbps", "duration_s", "proto"}`` (and optionally
    ``"id"``, and ``"patience_s"``: the user abandons a TCP transfer that has not completed that
    many seconds after its paced duration ``bytes x 8 / rate``); each transfer
    starts at wall time ``T + at_s`` and runs concurrently with the others (asyncio), at most
    ``--max-concurrent`` TCP transfers at once *per server* (a session that would exceed it is
    dropped and counted), so transfers slowed by a platform's cap never crowd out the sessions of
    another service, as the apps of a real user would not either. Received bytes are counted on
    the receiver, per bin of ``X`` wall seconds since T and per (server, protocol). Each transfer
    with an ``id`` gets an outcome row ``[id, end_s, status]``: ``end_s`` the wall seconds since T
    at which its last byte arrived (null unless completed), ``status`` completed | abandoned | cut
    (still running when the agent stopped) | dropped | failed. A transfer that starts more than
    ``--late-after-s`` past its ``at_s`` (the schedule reached the agent late, or its loop fell
    behind) is counted as ``late``, and the largest lag is kept. The result is
    written (atomically) when the schedule is done, on SIGTERM, or at ``--until-s``.

``python -m throttlebed.emulation.traffic_agent udp-send --dst IP --port P --rate-kbps R --duration-s D``
    A UDP sender at a fixed rate (the policed class of tests); the receiver counts it with
    ``fetch --udp-port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import socket
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from throttlebed.fileio import atomic_write_text

DEFAULT_PORT = 5001
CHUNK_MAX_B = 64 * 1024
REQUEST_MAX_B = 4096
UDP_PAYLOAD_B = 1400
DEFAULT_LATE_AFTER_S = 1.0


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
    except (TimeoutError, ConnectionError, ValueError, json.JSONDecodeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()


class _UdpServer(asyncio.DatagramProtocol):
    """Each datagram is a request ``{"bytes", "rate_kbps"}``: stream that much back, paced."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            req = json.loads(data.decode())
            total_b, rate_kbps = int(req["bytes"]), float(req["rate_kbps"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return
        if total_b > 0 and rate_kbps > 0:
            task = asyncio.ensure_future(self._stream(addr, total_b, rate_kbps * 1000.0))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _stream(self, addr: tuple[str, int], total_b: int, rate_bps: float) -> None:
        payload = b"\0" * UDP_PAYLOAD_B
        t0 = time.monotonic()
        sent = 0
        while sent < total_b and self.transport is not None and not self.transport.is_closing():
            due = t0 + sent * 8 / rate_bps
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            n = min(UDP_PAYLOAD_B, total_b - sent)
            self.transport.sendto(payload[:n], addr)
            sent += n


async def serve(port: int, host: str = "0.0.0.0") -> None:
    """Serve transfer requests on TCP and UDP ``port`` until terminated."""
    server = await asyncio.start_server(_serve_one, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(_UdpServer, local_addr=(host, port))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    udp.close()


# ---- client --------------------------------------------------------------------------------


@dataclass
class Counters:
    """Received bytes per (bin, server, proto), and what happened to the sessions."""

    epoch: float
    bin_s: float
    late_after_s: float = DEFAULT_LATE_AFTER_S
    bytes_by_key: dict[tuple[int, str, str], int] = field(default_factory=lambda: defaultdict(int))
    sessions: int = 0
    completed: int = 0
    dropped: int = 0
    failed: int = 0
    cut: int = 0
    abandoned: int = 0
    active_by_server: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_active: int = 0
    late: int = 0  # transfers started more than late_after_s past their at_s
    lag_max_s: float = 0.0
    outcomes: list[list[Any]] = field(default_factory=list)  # [id, end_s or None, status]

    def add(self, server: str, proto: str, n: int) -> None:
        """Count ``n`` bytes received now from ``server``."""
        b = math.floor((time.time() - self.epoch) / self.bin_s)
        self.bytes_by_key[(b, server, proto)] += n

    def started(self, s: dict[str, Any]) -> None:
        """Count the transfer ``s`` as started now, and how late against its ``at_s``."""
        self.sessions += 1
        lag_s = time.time() - self.epoch - float(s["at_s"])
        self.lag_max_s = max(self.lag_max_s, lag_s)
        if lag_s > self.late_after_s:
            self.late += 1

    def outcome(self, s: dict[str, Any], status: str, end_s: float | None = None) -> None:
        """Record what happened to the transfer ``s`` (if it has an id)."""
        if s.get("id") is not None:
            self.outcomes.append([s["id"], None if end_s is None else round(end_s, 6), status])

    def to_data(self) -> dict[str, Any]:
        """The result document."""
        rows = [[b, s, p, n] for (b, s, p), n in sorted(self.bytes_by_key.items())]
        return {"epoch": self.epoch, "bin_s": self.bin_s, "columns": ["bin", "server", "proto", "bytes"],
                "rows": rows, "sessions": self.sessions, "completed": self.completed,
                "dropped": self.dropped, "failed": self.failed, "cut": self.cut,
                "abandoned": self.abandoned, "max_active": self.max_active, "late": self.late,
                "late_after_s": self.late_after_s, "lag_max_s": round(self.lag_max_s, 6),
                "outcome_columns": ["id", "end_s", "status"], "outcomes": self.outcomes}


async def _fetch_one(c: Counters, s: dict[str, Any]) -> None:
    server = str(s["server"])
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(server, int(s.get("port") or DEFAULT_PORT)), timeout=10)
    except (TimeoutError, OSError):
        c.failed += 1
        c.outcome(s, "failed")
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
        c.outcome(s, "completed", time.time() - c.epoch)
    except OSError:
        c.failed += 1
        c.outcome(s, "failed")
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _session(c: Counters, s: dict[str, Any], max_concurrent: int,
                   udp: asyncio.DatagramTransport) -> None:
    delay = c.epoch + float(s["at_s"]) - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    c.started(s)
    if s.get("proto") == "udp":  # ask the server to stream at a fixed rate; count what arrives
        req = {"bytes": int(s.get("bytes") or 0), "rate_kbps": float(s.get("rate_kbps") or 0)}
        if req["bytes"] <= 0 or req["rate_kbps"] <= 0:
            c.failed += 1
            c.outcome(s, "failed")
            return
        udp.sendto(json.dumps(req).encode(), (str(s["server"]), int(s.get("port") or DEFAULT_PORT)))
        paced_s = req["bytes"] * 8 / (req["rate_kbps"] * 1000)
        await asyncio.sleep(paced_s + 0.5)
        c.completed += 1
        c.outcome(s, "completed", float(s["at_s"]) + paced_s)  # a stream lasts as long as it is paced
        return
    server = str(s["server"])
    if c.active_by_server[server] >= max_concurrent:
        c.dropped += 1
        c.outcome(s, "dropped")
        return
    c.active_by_server[server] += 1
    c.max_active = max(c.max_active, c.active_by_server[server])
    try:
        patience_s = s.get("patience_s")
        if patience_s is None or float(s.get("rate_kbps") or 0) <= 0:
            await _fetch_one(c, s)
        else:  # the user gives up patience_s after the transfer's paced end
            paced_s = int(s.get("bytes") or 0) * 8 / (float(s["rate_kbps"]) * 1000)
            give_up_at = c.epoch + float(s["at_s"]) + paced_s + float(patience_s)
            try:
                await asyncio.wait_for(_fetch_one(c, s), timeout=max(0.0, give_up_at - time.time()))
            except TimeoutError:
                c.abandoned += 1
                c.outcome(s, "abandoned")
    except asyncio.CancelledError:
        c.cut += 1
        c.outcome(s, "cut")
        raise
    finally:
        c.active_by_server[server] -= 1


class _UdpCounter(asyncio.DatagramProtocol):
    def __init__(self, c: Counters) -> None:
        self.c = c

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.c.add(addr[0], "udp", len(data))


def parse_session(line: str) -> dict[str, Any] | None:
    """One schedule line (JSON) -> a session, None for a blank line."""
    return json.loads(line) if line.strip() else None


def _stream_stdin(loop: asyncio.AbstractEventLoop, spawn: Any, done: asyncio.Event) -> None:
    """Read sessions from stdin (a thread): each is handed to ``spawn`` in the loop; EOF sets done."""
    try:
        for line in sys.stdin:
            s = parse_session(line)
            if s is not None:
                loop.call_soon_threadsafe(spawn, s)
    finally:
        loop.call_soon_threadsafe(done.set)


async def fetch(schedule: Path, out: Path, epoch: float, bin_s: float, max_concurrent: int,
                until_s: float | None, udp_port: int | None,
                late_after_s: float = DEFAULT_LATE_AFTER_S) -> Counters:
    """Run the schedule (a file, or ``-``: stdin as it streams), count arrivals, write ``out``."""
    c = Counters(epoch=epoch, bin_s=bin_s, late_after_s=late_after_s)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    input_done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    udp, _ = await loop.create_datagram_endpoint(lambda: _UdpCounter(c),
                                                 local_addr=("0.0.0.0", udp_port or 0))
    tasks: set[asyncio.Task] = set()

    def spawn(s: dict[str, Any]) -> None:
        tasks.add(asyncio.create_task(_session(c, s, max_concurrent, udp)))

    if str(schedule) == "-":
        threading.Thread(target=_stream_stdin, args=(loop, spawn, input_done), daemon=True).start()
    else:
        for line in schedule.read_text().splitlines():
            s = parse_session(line)
            if s is not None:
                spawn(s)
        input_done.set()

    async def all_done() -> None:
        await input_done.wait()
        while any(not t.done() for t in tasks):
            await asyncio.gather(*tasks, return_exceptions=True)

    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(all_done())]
    if until_s is not None:
        waiters.append(asyncio.create_task(asyncio.sleep(max(0.0, epoch + until_s - time.time()))))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for w in waiters:
        w.cancel()
    udp.close()
    atomic_write_text(out, json.dumps(c.to_data()))
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
    """Entry point of ``python -m throttlebed.emulation.traffic_agent``."""
    ap = argparse.ArgumentParser(prog="traffic_agent", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve", help="serve transfers on TCP")
    sp.add_argument("--port", type=int, default=DEFAULT_PORT)
    fp = sub.add_parser("fetch", help="run a schedule of transfers and count received bytes")
    fp.add_argument("--schedule", type=Path, required=True, help="JSON lines file, or - for stdin")
    fp.add_argument("--out", type=Path, required=True)
    fp.add_argument("--epoch", type=float, required=True, help="wall time (Unix s) of offset 0")
    fp.add_argument("--bin-s", type=float, default=1.0)
    fp.add_argument("--max-concurrent", type=int, default=64)
    fp.add_argument("--until-s", type=float, default=None, help="stop at this offset from the epoch")
    fp.add_argument("--udp-port", type=int, default=None, help="also count UDP arriving here")
    fp.add_argument("--late-after-s", type=float, default=DEFAULT_LATE_AFTER_S,
                    help="a transfer starting more than this past its at_s counts as late")
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
        if a.bin_s <= 0 or a.max_concurrent < 1 or not a.late_after_s > 0:
            ap.error("--bin-s and --late-after-s must be > 0 and --max-concurrent >= 1")
        asyncio.run(fetch(a.schedule, a.out, a.epoch, a.bin_s, a.max_concurrent,
                          a.until_s, a.udp_port, a.late_after_s))
    else:
        sent = udp_send(a.dst, a.port, a.rate_kbps, a.duration_s, a.payload_b)
        print(json.dumps({"sent_bytes": sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
