"""The controller's state, shared by the OpenFlow adapter, the scheduler, the poller and the API.

No OpenFlow here: the adapter asks what each switch should hold and reports what it sent and what
the switches counted. Thread-safe (os-ken's native hub runs handlers in threads).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from throttlebed.controller.audit import AuditLog, audit_record, token_id
from throttlebed.controller.clock import EmulatedClock
from throttlebed.controller.metrics import metrics_text
from throttlebed.controller.plan import (
    COOKIE_PLATFORM,
    DIRECTIONS,
    METER_IDS,
    PlanDiff,
    SwitchPlan,
    check_enforceable,
    switch_plan,
)
from throttlebed.controller.region_map import RegionMap
from throttlebed.controller.scheduler import next_boundary
from throttlebed.controller.stats import CSV_COLUMNS, DropCounter, FlowRateTracker, MeterReading, StatsRow
from throttlebed.directive.schema import Directive, directive_from_data, save_directive
from throttlebed.errors import InputError

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
    barrier_timeout_s: float = 3.0


@dataclass
class ApiReply:
    """An HTTP status and a JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


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
    """Directive, clock, what each switch holds, counters, audit; the API's view of it all."""

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
        self.lock = threading.RLock()
        self._directive = directive
        self.directive_since = datetime.now().astimezone().isoformat(timespec="seconds")
        self.installed: dict[int, SwitchPlan | None] = {}  # connected dpid -> what it holds
        self.applied_log: deque[dict[str, Any]] = deque(maxlen=500)
        self.tracker = FlowRateTracker(settings.rate_scale, uplink_split=settings.uplink_port is not None)
        self.drops = DropCounter()
        self.meter_readings: dict[int, dict[int, MeterReading]] = {}  # this poll's, by dpid, meter
        self.latest: dict[tuple[str, str, str], StatsRow] = {}
        self.errors: deque[str] = deque(maxlen=50)
        self.reapply: Callable[[], dict[int, PlanDiff]] = lambda: {}

    # ---- directive and plan -------------------------------------------------------------

    @property
    def directive(self) -> Directive | None:
        """The active directive (None: forwarding and counting only)."""
        with self.lock:
            return self._directive

    def local_now(self) -> datetime:
        """Emulated local time now."""
        return self.clock.local_at(self.mono())

    def wanted(self, dpid: int, local: datetime) -> SwitchPlan:
        """What switch ``dpid`` should hold at emulated local time ``local``."""
        s = self.settings
        with self.lock:
            return switch_plan(dpid, self.region_map.region_of(dpid), self._directive, local,
                               s.rate_scale, s.burst_s, s.platform_prefixes, s.uplink_port)

    def connected(self) -> list[int]:
        """dpids of connected switches."""
        with self.lock:
            return sorted(self.installed)

    def record_applied(self, dpid: int, local: datetime, diff: PlanDiff, plan: SwitchPlan) -> None:
        """Remember (time, switch, meters changed) of one applied plan."""
        entry = {"time": local.isoformat(timespec="seconds"), "dpid": f"{dpid:#x}",
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
        """A switch (re)connected: it holds nothing of ours once reset, its counters restart."""
        with self.lock:
            self.installed[dpid] = None
            self.tracker.forget(dpid)
            self.drops.clear(dpid)
            self.meter_readings.pop(dpid, None)

    def switch_gone(self, dpid: int) -> None:
        """A switch disconnected."""
        with self.lock:
            self.installed.pop(dpid, None)
            self.tracker.forget(dpid)

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
            for dpid in sorted(self.installed):
                want = self.wanted(dpid, local)
                item = want.to_data()
                item["in_sync"] = self.installed[dpid] == want
                switches.append(item)
            nb = next_boundary(self._directive, local)
            regions = self._directive.regions() if self._directive else []
            connected_regions = {self.region_map.region_of(d) for d in self.installed}
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
                      "direction": {1: "down", 2: "up"}.get(m, str(m)), "packets": p, "bytes": b}
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
        local = self.local_now()
        with self.lock:
            plans = {d: self.wanted(d, local) for d in self.installed}
            return metrics_text(plans, list(self.latest.values()), dict(self.drops.totals),
                                len(self.installed), self.settings.rate_scale, self.settings.time_scale)

    def health(self) -> dict[str, Any]:
        """GET /health."""
        with self.lock:
            return {"status": "ok", "switches_connected": len(self.installed),
                    "dpids": [f"{d:#x}" for d in sorted(self.installed)],
                    "directive": self._directive is not None,
                    "local_time": self.local_now().isoformat(timespec="milliseconds"),
                    "time_scale": self.settings.time_scale,
                    "meter_interval_fallbacks": self.tracker.fallback_intervals,
                    "recent_errors": list(self.errors)[-5:]}

    # ---- PUT /directive -----------------------------------------------------------------

    def put_directive(self, body: bytes, client: str, authorization: str | None) -> ApiReply:
        """Replace the directive (Bearer token required), re-apply the plan, audit the change."""
        if self.token is None:
            return ApiReply(403, {"error": "changes are disabled: the controller has no --token-file"})
        given = None
        if authorization and authorization.startswith("Bearer "):
            given = authorization[len("Bearer "):].strip()
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return ApiReply(401, {"error": "missing or wrong bearer token"})
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return ApiReply(400, {"error": f"request body: not valid JSON: {e}"})
        try:
            new = check_enforceable(directive_from_data(data, source="request body"), "request body")
        except InputError as e:
            return ApiReply(400, {"error": str(e)})
        with self.lock:
            if self.directive_store is not None:
                try:
                    save_directive(new, self.directive_store)
                except OSError as e:
                    return ApiReply(500, {"error": f"{self.directive_store}: cannot keep the directive "
                                                   f"({e.strerror}); nothing was changed"})
            old = self._directive
            self._directive = new
            self.directive_since = datetime.now().astimezone().isoformat(timespec="seconds")
        diffs = self.reapply()
        who = {"client": client, "token_id": token_id(given)}
        self.audit.append(audit_record(
            "put-directive", who, new.digest(), old.digest() if old else None,
            {"platform": new.platform, "stage": new.stage, "rows": len(new.rows),
             "switches_changed": sum(1 for d in diffs.values() if not d.empty),
             "stored": str(self.directive_store) if self.directive_store else None}))
        return ApiReply(200, {"status": "applied", "digest": new.digest(),
                              "switches_changed": [f"{d:#x}" for d, df in sorted(diffs.items())
                                                   if not df.empty]})

