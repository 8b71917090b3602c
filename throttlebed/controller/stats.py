"""Turn switch counter readings into measurement rows (``time, region, kbps`` ...). Pure.

Open vSwitch counts a packet on its flow before the meter may drop it, so flow counters give the
*offered* load. While a meter is in force, what passed it is the meter's input bytes minus its band's
dropped bytes, both read from the meter (the userspace datapath updates meter counters at once,
flow counters only when its revalidators next run, so mixing the two is noisy). ``OFPMC_MODIFY``
resets a meter's counters (STACK.md pitfall 3): each meter reading carries the generation of its
counters, and an interval that spans a reset (or has no meter) falls back to the flow counters,
which survive modifications, minus what the meter dropped since it (re)started.
``wire_kbps`` is what passed, on the wire; ``kbps`` is the same in model units
(``wire_kbps / rate_scale``), comparable with directive caps; ``offered_wire_kbps`` is before the
meter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from throttlebed.controller.plan import COOKIE_OTHER, COOKIE_OTHER_DOWN, COOKIE_PLATFORM

COUNTER_MAX = 2**64
SOURCE = "ovs-flow-counters"
CSV_COLUMNS = ("time", "region", "direction", "traffic", "kbps", "wire_kbps", "source", "offered_wire_kbps")

# cookie -> (traffic, direction); the default flow counts other traffic of both directions, or of
# direction ``up`` when an uplink port splits off the ``down`` part (COOKIE_OTHER_DOWN).
COOKIE_MEANING: dict[int, tuple[str, str]] = {
    COOKIE_PLATFORM["down"]: ("platform", "down"),
    COOKIE_PLATFORM["up"]: ("platform", "up"),
    COOKIE_OTHER_DOWN: ("other", "down"),
    COOKIE_OTHER: ("other", "both"),
}


def counter_delta(prev: int, cur: int) -> int:
    """Increase of a 64-bit counter: a wrap past 2^64 is added up; any other drop is a reset."""
    if cur >= prev:
        return cur - prev
    if prev > COUNTER_MAX // 2 and cur < COUNTER_MAX // 2:  # wrapped
        return cur + COUNTER_MAX - prev
    return cur  # the flow/meter was re-created: counted from zero


def kbps_from_bytes(delta_bytes: int, interval_s: float) -> float:
    """Mean kbit/s of ``delta_bytes`` over ``interval_s`` seconds."""
    if interval_s <= 0:
        raise ValueError(f"interval must be > 0 s, got {interval_s}")
    return delta_bytes * 8 / 1000 / interval_s


@dataclass(frozen=True)
class StatsRow:
    """One measurement: mean throughput over one poll interval."""

    time: datetime  # emulated local time at the interval start
    region: str
    direction: str  # down | up | both (other traffic when no uplink port is known)
    traffic: str  # platform | other
    kbps: float  # model units: wire_kbps / rate_scale
    wire_kbps: float  # passed the meter, on the wire
    source: str = SOURCE
    offered_wire_kbps: float | None = None  # matched the flow, before the meter

    def csv_line(self) -> str:
        """The row as a CSV line (no newline), columns as CSV_COLUMNS."""
        offered = self.wire_kbps if self.offered_wire_kbps is None else self.offered_wire_kbps
        return ",".join([self.time.isoformat(timespec="milliseconds"), self.region, self.direction,
                         self.traffic, f"{self.kbps:.3f}", f"{self.wire_kbps:.3f}", self.source,
                         f"{offered:.3f}"])

    def to_data(self) -> dict:
        """JSON-able form."""
        d = asdict(self)
        d["time"] = self.time.isoformat(timespec="milliseconds")
        return d


def sum_by_cookie(flows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Byte counts of (cookie, byte_count) flow entries summed per cookie."""
    out: dict[int, int] = {}
    for cookie, nbytes in flows:
        out[cookie] = out.get(cookie, 0) + nbytes
    return out


@dataclass(frozen=True)
class MeterReading:
    """A meter's counters: bytes in, bytes its band dropped, and the generation of the counters."""

    in_bytes: int
    dropped_bytes: int
    generation: int


@dataclass
class _Reading:
    bytes_by_cookie: dict[int, int]
    meters: dict[int, MeterReading]
    mono_s: float


def interval_bytes(flow_prev: int, flow_cur: int, meter_prev: MeterReading | None,
                   meter_cur: MeterReading | None) -> tuple[int, int]:
    """(offered, passed) bytes of one direction over one interval."""
    if meter_cur is not None and meter_prev is not None and meter_cur.generation == meter_prev.generation:
        offered = counter_delta(meter_prev.in_bytes, meter_cur.in_bytes)
        return offered, max(0, offered - counter_delta(meter_prev.dropped_bytes, meter_cur.dropped_bytes))
    offered = counter_delta(flow_prev, flow_cur)
    if meter_cur is not None:  # the meter (re)started within the interval: its drops are all in it
        return offered, max(0, offered - meter_cur.dropped_bytes)
    return offered, offered


class FlowRateTracker:
    """Per switch, the previous counter reading; each new reading gives one row per counter."""

    def __init__(self, rate_scale: float = 1.0, uplink_split: bool = False):
        self.rate_scale = rate_scale
        self._prev: dict[int, _Reading] = {}
        self.meaning = dict(COOKIE_MEANING)
        if uplink_split:  # the default flow then only sees traffic from the users' side
            self.meaning[COOKIE_OTHER] = ("other", "up")

    def forget(self, dpid: int) -> None:
        """Drop the switch's reading (it disconnected; its counters will restart)."""
        self._prev.pop(dpid, None)

    def update(self, dpid: int, region: str, bytes_by_cookie: Mapping[int, int], mono_s: float,
               local_at: Callable[[float], datetime],
               meters: Mapping[int, MeterReading] | None = None) -> list[StatsRow]:
        """Record a reading taken at monotonic ``mono_s``; rows for the interval since the last one.

        ``bytes_by_cookie``: flow byte counters; ``meters``: by flow cookie, the reading of the
        meter those flows go through (this poll's, or none). ``local_at`` maps a monotonic reading
        to emulated local time (the rows carry the interval's start).
        """
        cur_meters = dict(meters or {})
        prev = self._prev.get(dpid)
        self._prev[dpid] = _Reading(dict(bytes_by_cookie), cur_meters, mono_s)
        if prev is None:
            return []
        interval_s = mono_s - prev.mono_s
        if interval_s <= 0:
            return []
        local_start = local_at(prev.mono_s)
        rows = []
        for cookie, nbytes in sorted(bytes_by_cookie.items()):
            if cookie not in self.meaning:
                continue
            traffic, direction = self.meaning[cookie]
            offered, passed = interval_bytes(prev.bytes_by_cookie.get(cookie, 0), nbytes,
                                             prev.meters.get(cookie), cur_meters.get(cookie))
            wire = kbps_from_bytes(passed, interval_s)
            rows.append(StatsRow(local_start, region, direction, traffic, wire / self.rate_scale, wire,
                                 SOURCE, kbps_from_bytes(offered, interval_s)))
        return rows


class DropCounter:
    """Meter band drops accumulated across meter modifications (which reset meter counters)."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], tuple[int, int]] = {}
        self.totals: dict[tuple[int, int], tuple[int, int]] = {}

    def update(self, dpid: int, meter_id: int, packets: int, nbytes: int) -> tuple[int, int]:
        """Record a meter's band counters; return its total (packets, bytes) dropped so far."""
        key = (dpid, meter_id)
        last_p, last_b = self._last.get(key, (0, 0))
        tot_p, tot_b = self.totals.get(key, (0, 0))
        tot = (tot_p + counter_delta(last_p, packets), tot_b + counter_delta(last_b, nbytes))
        self._last[key] = (packets, nbytes)
        self.totals[key] = tot
        return tot

    def clear(self, dpid: int) -> None:
        """Forget a switch's meters (it reconnected: its flow counters restart too)."""
        for d in (self._last, self.totals):
            for key in [k for k in d if k[0] == dpid]:
                del d[key]

    def mark_reset(self, dpid: int, meter_id: int | None = None) -> None:
        """The switch's meter counters restart from zero (meter modified, deleted or re-added)."""
        for key in list(self._last):
            if key[0] == dpid and (meter_id is None or key[1] == meter_id):
                self._last[key] = (0, 0)
