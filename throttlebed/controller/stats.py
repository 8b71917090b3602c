"""Turn switch counter readings into measurement rows (``time, region, kbps`` ...). Pure.

Open vSwitch counts a packet on its flow before the meter may drop it, so flow counters give the
*offered* load. While a meter is in force, what passed it is the meter's input bytes minus its band's
dropped bytes, both read from the meter (the userspace datapath updates meter counters at once,
flow counters only when its revalidators next run, so mixing the two is noisy). ``OFPMC_MODIFY``
resets a meter's counters (STACK.md pitfall 3): each meter reading carries the generation of its
counters, and the adapter reads the meter just before each modify/delete (same connection, so the
switch answers before it applies the change): that *closing reading* ends the old generation. An
interval spanning changes then adds up each generation's part exactly (``meter_span_bytes``). Only
when a closing reading is missing (or there is no meter) does it fall back to the flow counters,
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


def meter_span_bytes(meter_prev: MeterReading, meter_cur: MeterReading,
                     closing: Mapping[int, MeterReading]) -> tuple[int, int] | None:
    """(offered, passed) bytes between two readings of a meter, from its counters alone.

    ``closing``: by generation, the meter's last reading before that generation ended (a modify or
    delete). Exact across any number of changes; None if a generation in between has no closing
    reading (the meter was absent for a while, or the reading was lost).
    """
    if meter_cur.generation < meter_prev.generation:
        return None
    in_bytes = dropped = 0
    start = meter_prev
    for gen in range(meter_prev.generation, meter_cur.generation):
        end = closing.get(gen)
        if end is None:
            return None
        in_bytes += counter_delta(start.in_bytes, end.in_bytes)
        dropped += counter_delta(start.dropped_bytes, end.dropped_bytes)
        start = MeterReading(0, 0, gen + 1)  # the next generation counts from zero
    in_bytes += counter_delta(start.in_bytes, meter_cur.in_bytes)
    dropped += counter_delta(start.dropped_bytes, meter_cur.dropped_bytes)
    return in_bytes, max(0, in_bytes - dropped)


def _interval(flow_prev: int, flow_cur: int, meter_prev: MeterReading | None,
              meter_cur: MeterReading | None,
              closing: Mapping[int, MeterReading]) -> tuple[int, int, bool]:
    """(offered, passed, exact) bytes of one direction over one interval."""
    if meter_cur is not None and meter_prev is not None:
        span = meter_span_bytes(meter_prev, meter_cur, closing)
        if span is not None:
            return span[0], span[1], True
    # flow counters (they survive meter changes) minus whatever the meters are known to have dropped
    offered = counter_delta(flow_prev, flow_cur)
    dropped = 0
    for gen, end in closing.items():  # generations that ended within the interval
        if meter_prev is not None and gen < meter_prev.generation:
            continue
        if meter_cur is not None and gen >= meter_cur.generation:
            continue
        start = meter_prev.dropped_bytes if meter_prev is not None and gen == meter_prev.generation else 0
        dropped += counter_delta(start, end.dropped_bytes)
    if meter_cur is not None:  # the current generation started within the interval
        dropped += meter_cur.dropped_bytes
    if meter_prev is None:  # no meter before (or a newly added one): nothing else was dropped
        exact = True
    elif meter_cur is None:  # the meter was deleted: exact if its last generation was closed
        exact = meter_prev.generation in closing
    else:  # a generation in between has no closing reading: what it dropped is missing
        exact = False
    return offered, max(0, offered - dropped), exact


def interval_bytes(flow_prev: int, flow_cur: int, meter_prev: MeterReading | None,
                   meter_cur: MeterReading | None,
                   closing: Mapping[int, MeterReading] | None = None) -> tuple[int, int]:
    """(offered, passed) bytes of one direction over one interval.

    From the meter's counters when it lasted or every generation in between has its ``closing``
    reading (``meter_span_bytes``). Fallback, only when a closing reading is missing: flow bytes
    minus what the current meter dropped since it started and what closed generations dropped
    (misses what an unclosed generation dropped in the interval).
    """
    offered, passed, _ = _interval(flow_prev, flow_cur, meter_prev, meter_cur, closing or {})
    return offered, passed


class FlowRateTracker:
    """Per switch, the previous counter reading; each new reading gives one row per counter."""

    def __init__(self, rate_scale: float = 1.0, uplink_split: bool = False):
        self.rate_scale = rate_scale
        self._prev: dict[int, _Reading] = {}
        self._closing: dict[int, dict[int, dict[int, MeterReading]]] = {}  # dpid -> cookie -> gen -> reading
        self.fallback_intervals = 0  # intervals across a meter change with no closing reading
        self.meaning = dict(COOKIE_MEANING)
        if uplink_split:  # the default flow then only sees traffic from the users' side
            self.meaning[COOKIE_OTHER] = ("other", "up")

    def forget(self, dpid: int) -> None:
        """Drop the switch's reading (it disconnected; its counters will restart)."""
        self._prev.pop(dpid, None)
        self._closing.pop(dpid, None)

    def close_generation(self, dpid: int, cookie: int, reading: MeterReading) -> None:
        """The last reading of a meter generation, taken just before the meter was modified/deleted."""
        self._closing.setdefault(dpid, {}).setdefault(cookie, {})[reading.generation] = reading

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
        closing = self._closing.get(dpid, {})
        rows = []
        for cookie, nbytes in sorted(bytes_by_cookie.items()):
            if cookie not in self.meaning:
                continue
            traffic, direction = self.meaning[cookie]
            offered, passed, exact = _interval(prev.bytes_by_cookie.get(cookie, 0), nbytes,
                                               prev.meters.get(cookie), cur_meters.get(cookie),
                                               closing.get(cookie, {}))
            if not exact:
                self.fallback_intervals += 1
            wire = kbps_from_bytes(passed, interval_s)
            rows.append(StatsRow(local_start, region, direction, traffic, wire / self.rate_scale, wire,
                                 SOURCE, kbps_from_bytes(offered, interval_s)))
        for cookie, by_gen in closing.items():  # keep only generations a later interval may still span
            meter = cur_meters.get(cookie)
            for gen in [g for g in by_gen if meter is None or g < meter.generation]:
                del by_gen[gen]
        return rows


class DropCounter:
    """Meter band drops accumulated across meter modifications (which reset meter counters)."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], tuple[int, int]] = {}
        self._gen: dict[tuple[int, int], int] = {}
        self.totals: dict[tuple[int, int], tuple[int, int]] = {}

    def update(self, dpid: int, meter_id: int, packets: int, nbytes: int,
               generation: int | None = None) -> tuple[int, int]:
        """Record a meter's band counters; return its total (packets, bytes) dropped so far.

        With ``generation``: a newer one counts from zero, an older one (a late reply) is ignored.
        """
        key = (dpid, meter_id)
        if generation is not None:
            last_gen = self._gen.get(key)
            if last_gen is not None and generation < last_gen:
                return self.totals.get(key, (0, 0))
            if last_gen is not None and generation > last_gen:
                self._last[key] = (0, 0)
            self._gen[key] = generation
        last_p, last_b = self._last.get(key, (0, 0))
        tot_p, tot_b = self.totals.get(key, (0, 0))
        tot = (tot_p + counter_delta(last_p, packets), tot_b + counter_delta(last_b, nbytes))
        self._last[key] = (packets, nbytes)
        self.totals[key] = tot
        return tot

    def clear(self, dpid: int) -> None:
        """Forget a switch's meters (it reconnected: its flow counters restart too)."""
        for d in (self._last, self._gen, self.totals):
            for key in [k for k in d if k[0] == dpid]:
                del d[key]

    def mark_reset(self, dpid: int, meter_id: int | None = None) -> None:
        """The switch's meter counters restart from zero (meter modified, deleted or re-added)."""
        for key in list(self._last):
            if key[0] == dpid and (meter_id is None or key[1] == meter_id):
                self._last[key] = (0, 0)
