"""The controller's state, shared by the OpenFlow adapter, the scheduler, the poller and the API.

No OpenFlow here: the adapter asks what each switch should hold and reports what it sent and what
the switches counted. Thread-safe (os-ken's native hub runs handlers in threads).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from throttlebed.controller.audit import AuditLog
from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.core import BarrierMsg, EnforcementCore, Message
from throttlebed.controller.metrics import metrics_text
from throttlebed.controller.period_switch import PeriodSwitchLog
from throttlebed.controller.plan import (
    COOKIE_PLATFORM,
    DIRECTIONS,
    METER_IDS,
    SwitchPlan,
    meter_direction,
    plan_diff,
)
from throttlebed.controller.region_map import RegionMap
from throttlebed.controller.scheduler import next_boundary
from throttlebed.controller.service import ApiReply, DirectiveService
from throttlebed.controller.stats import CSV_COLUMNS, DropCounter, FlowRateTracker, MeterReading, StatsRow
from throttlebed.directive.schema import Directive

LOG = logging.getLogger("throttlebed.controller")


@dataclass(frozen=True)
class Settings:
    """What the launcher was told."""

    rate_scale: float = 1.0
    burst_s: float = 1.0
    time_scale: float = 1.0
    poll_interval_s: float = 1.0
    platform_prefixes: tuple[IPv4Network, ...] = ()
    uplink_port: int | None = None
    barrier_timeout_s: float = 2.0  # a change not confirmed by every switch within it is undone


class StatsSink:
    """Appends measurement rows to a CSV file, flushed after each poll."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._f = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._f = self.path.open("a", encoding="utf-8")
            if new:
                self._f.write(",".join(CSV_COLUMNS) + "\n")
                self._f.flush()

    def write(self, rows: Iterable[StatsRow]) -> None:
        """Append rows of a known direction (``other`` of both directions stays in memory only)."""
        if self._f is None:
            return
        for r in rows:
            if r.direction in ("down", "up"):
                self._f.write(r.csv_line() + "\n")
        self._f.flush()

    def close(self) -> None:
        """Flush and close."""
        if self._f is not None:
            self._f.flush()
            self._f.close()
            self._f = None


class ControllerState:
    """The enforcement core, the directive service, counters and the API's view of them all.

    ``lock`` (a condition) guards the core; the adapter notifies it when switches answer.
    """

    def __init__(self, settings: Settings, clock: EmulatedClock, region_map: RegionMap,
                 directive: Directive | None = None, token: str | None = None,
                 audit: AuditLog | None = None, stats_sink: StatsSink | None = None,
                 mono: Callable[[], float] = time.monotonic, directive_store: Path | None = None):
        self.settings = settings
        self.directive_store = directive_store  # where an accepted PUT is kept across restarts
        self.clock = clock
        self.region_map = region_map
        self.token = token
        self.audit = audit or AuditLog(None)
        self.stats_sink = stats_sink or StatsSink(None)
        self.mono = mono
        self.lock = threading.Condition(threading.RLock())
        self.core = EnforcementCore(region_map, clock.local_at, settings.rate_scale, settings.burst_s,
                                    settings.platform_prefixes, settings.uplink_port, directive)
        self.send: Callable[[dict[int, list[Message]]], None] = lambda msgs: None  # set by the adapter
        self.service = DirectiveService(self.core, self.lock, lambda: self.send, mono, token, self.audit,
                                        directive_store, settings.rate_scale, settings.burst_s,
                                        settings.barrier_timeout_s)
        self.directive_since = datetime.now().astimezone().isoformat(timespec="seconds")
        self.applied_log: deque[dict[str, Any]] = deque(maxlen=500)
        self.tracker = FlowRateTracker(settings.rate_scale, uplink_split=settings.uplink_port is not None)
        self.drops = DropCounter()
        self.meter_readings: dict[int, dict[int, MeterReading]] = {}  # this poll's, by dpid, meter
        self.latest: dict[tuple[str, str, str], StatsRow] = {}
        self.errors: deque[str] = deque(maxlen=50)
        self.period_switches = PeriodSwitchLog()
        self._last_tick_local: datetime | None = None

    # ---- directive and plan -------------------------------------------------------------

    @property
    def directive(self) -> Directive | None:
        """The directive in force (None: forwarding and counting only)."""
        with self.lock:
            return self.core.directive

    def local_now(self) -> datetime:
        """Emulated local time now."""
        return self.clock.local_at(self.mono())

    def wanted(self, dpid: int, local: datetime | None = None) -> SwitchPlan:
        """What switch ``dpid`` should hold now."""
        with self.lock:
            return self.core.wanted(dpid, self.mono())

    def connected(self) -> list[int]:
        """dpids of connected switches."""
        with self.lock:
            return self.core.connected()

    def record_confirmed(self, dpid: int, previous: SwitchPlan | None, plan: SwitchPlan) -> None:
        """Remember (time, switch, what changed, rates) of a plan a switch confirmed."""
        diff = plan_diff(previous, plan)
        entry = {"time": self.local_now().isoformat(timespec="seconds"), "dpid": f"{dpid:#x}",
                 "region": plan.region, "period": plan.period, "meters_changed": diff.meters_changed,
                 "changes": diff.summary(),
                 "rates_kbps": {str(m.meter_id): m.rate_kbps for m in plan.meters}}
        with self.lock:
            self.applied_log.append(entry)

    # ---- counters -----------------------------------------------------------------------

    def record_flow_counts(self, dpid: int, bytes_by_cookie: dict[int, int], mono_s: float) -> list[StatsRow]:
        """Turn one flow-stats reading (and this poll's meter readings) into rows; keep, append."""
        region = self.region_map.region_of(dpid)
        with self.lock:
            fresh = self.meter_readings.pop(dpid, {})
            if region is None:
                return []
            meters = {COOKIE_PLATFORM[d]: fresh[METER_IDS[d]] for d in DIRECTIONS if METER_IDS[d] in fresh}
            fallbacks = self.tracker.fallback_intervals
            rows = self.tracker.update(dpid, region, bytes_by_cookie, mono_s, self.clock.local_at, meters)
            if self.tracker.fallback_intervals > fallbacks:
                LOG.info("switch %#x: interval across a meter change without its closing reading: "
                         "passed bytes estimated from flow counters", dpid)
            for r in rows:
                self.latest[(r.region, r.traffic, r.direction)] = r
            self.stats_sink.write(rows)
        return rows

    def record_meter(self, dpid: int, meter_id: int, in_bytes: int, drop_packets: int, drop_bytes: int,
                     generation: int) -> None:
        """One meter's counters of this poll (``generation`` changes whenever they restart)."""
        with self.lock:
            self.drops.update(dpid, meter_id, drop_packets, drop_bytes, generation)
            self.meter_readings.setdefault(dpid, {})[meter_id] = MeterReading(in_bytes, drop_bytes,
                                                                                generation)

    def record_closing_meter(self, dpid: int, meter_id: int, in_bytes: int, drop_packets: int,
                             drop_bytes: int, generation: int) -> None:
        """A meter's counters read just before it was modified or deleted: the end of ``generation``."""
        with self.lock:
            self.drops.update(dpid, meter_id, drop_packets, drop_bytes, generation)
            cookie = next((COOKIE_PLATFORM[d] for d in DIRECTIONS if METER_IDS[d] == meter_id), None)
            if cookie is not None:
                self.tracker.close_generation(dpid, cookie, MeterReading(in_bytes, drop_bytes, generation))

    def switch_connected(self, dpid: int) -> None:
        """A switch (re)connected: its counters are read afresh."""
        with self.lock:
            self.tracker.forget(dpid)
            self.drops.clear(dpid)
            self.meter_readings.pop(dpid, None)

    def switch_gone(self, dpid: int) -> None:
        """A switch disconnected."""
        with self.lock:
            self.core.switch_down(dpid)
            self.tracker.forget(dpid)
            self.lock.notify_all()

    def record_tick(self, tick_mono_s: float, out: dict[int, list[Message]], sent_mono_s: float) -> None:
        """A scheduler tick at ``tick_mono_s`` sent ``out``: if it crossed a period boundary, the
        batches it sent are that boundary's period switch (call under ``lock``)."""
        local = self.clock.local_at(tick_mono_s)
        last, self._last_tick_local = self._last_tick_local, local
        if last is None:
            return
        crossed = None
        nb = next_boundary(self.core.directive, last)
        while nb is not None and nb <= local:
            crossed, nb = nb, next_boundary(self.core.directive, nb)
        if crossed is None:
            return
        barriers = {dpid: msgs[-1].xid for dpid, msgs in out.items()
                    if msgs and isinstance(msgs[-1], BarrierMsg)}
        self.period_switches.sent(crossed, self.clock.mono_at(crossed), sent_mono_s, barriers)

    def period_switches_view(self) -> dict[str, Any]:
        """GET /period-switches: boundary -> last switch's confirmation, per boundary and summed up."""
        with self.lock:
            return {"time_scale": self.settings.time_scale,
                    "latency": "scheduled boundary (monotonic clock) to the last switch's barrier reply",
                    "summary": self.period_switches.summary(),
                    "switches": [r.to_data() for r in self.period_switches.records]}

    # ---- API views ----------------------------------------------------------------------

    def directive_view(self) -> dict[str, Any]:
        """GET /directive."""
        d = self.directive
        return {"directive": d.to_data() if d else None, "digest": d.digest() if d else None,
                "since": self.directive_since}

    def plan_view(self) -> dict[str, Any]:
        """GET /plan: per connected switch, what it should hold now and whether it does."""
        local = self.local_now()
        s = self.settings
        with self.lock:
            switches = []
            directive = self.core.directive
            for dpid in self.core.connected():
                want = self.wanted(dpid)
                item = want.to_data()
                item["in_sync"] = self.core.confirmed(dpid) == want  # confirmed by the switch
                switches.append(item)
            nb = next_boundary(directive, local)
            regions = directive.regions() if directive else []
            connected_regions = {self.region_map.region_of(d) for d in self.core.connected()}
            return {
                "local_time": local.isoformat(timespec="seconds"),
                "time_scale": s.time_scale,
                "rate_scale": s.rate_scale,
                "burst_s": s.burst_s,
                "rate_formula": "rate_kbps = max(1, round(cap_kbps * rate_scale)); "
                                "burst_kbits = max(1, round(rate_kbps * burst_s)); band drop; "
                                "flags KBPS|BURST|STATS; meter 1 = down (nw_src=prefix), "
                                "meter 2 = up (nw_dst=prefix)",
                "next_boundary": nb.isoformat(timespec="seconds") if nb else None,
                "switches": switches,
                "regions_without_switch": [r for r in regions if r not in connected_regions],
                "applied": list(self.applied_log)[-50:],
            }

    def stats_view(self) -> dict[str, Any]:
        """GET /stats: the latest interval per region, traffic and direction; drops."""
        with self.lock:
            drops = [{"dpid": f"{d:#x}", "region": self.region_map.region_of(d),
                      "direction": meter_direction(m) or str(m), "packets": p, "bytes": b}
                     for (d, m), (p, b) in sorted(self.drops.totals.items())]
            return {"poll_interval_s": self.settings.poll_interval_s,
                    "rate_scale": self.settings.rate_scale,
                    "units": {"kbps": "model kbit/s (wire / rate_scale)",
                              "wire_kbps": "kbit/s on the wire, past the meter",
                              "offered_wire_kbps": "kbit/s on the wire, before the meter"},
                    "latest": [r.to_data() for _, r in sorted(self.latest.items())],
                    "meter_band_drops": drops}

    def metrics(self) -> str:
        """GET /metrics."""
        with self.lock:
            plans = {d: p for d in self.core.connected() if (p := self.core.confirmed(d)) is not None}
            return metrics_text(plans, list(self.latest.values()), dict(self.drops.totals),
                                len(self.core.connected()), self.settings.rate_scale,
                                self.settings.time_scale, self.service.last_confirm_s,
                                self.service.changes_failed)

    def health(self) -> dict[str, Any]:
        """GET /health."""
        with self.lock:
            dpids = self.core.connected()
            return {"status": "ok", "switches_connected": len(dpids),
                    "dpids": [f"{d:#x}" for d in dpids],
                    "switches_in_sync": sum(1 for d in dpids if self.core.confirmed(d) == self.wanted(d)),
                    "directive": self.core.directive is not None,
                    "last_change_confirm_s": self.service.last_confirm_s,
                    "changes_rolled_back": self.service.changes_failed,
                    "local_time": self.local_now().isoformat(timespec="milliseconds"),
                    "time_scale": self.settings.time_scale,
                    "meter_interval_fallbacks": self.tracker.fallback_intervals,
                    "recent_errors": list(self.errors)[-5:]}

    # ---- PUT and DELETE /directive ------------------------------------------------------

    def put_directive(self, body: bytes, client: str, authorization: str | None) -> ApiReply:
        """Replace the directive (Bearer token required); 200 once every switch confirmed it."""
        reply = self.service.put(body, client, authorization)
        if reply.status == 200:
            self.directive_since = datetime.now().astimezone().isoformat(timespec="seconds")
        return reply

    def delete_directive(self, client: str, authorization: str | None) -> ApiReply:
        """Lift the directive (Bearer token required); 200 once every switch confirmed it."""
        reply = self.service.lift(client, authorization)
        if reply.status == 200:
            self.directive_since = datetime.now().astimezone().isoformat(timespec="seconds")
        return reply
