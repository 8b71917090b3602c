"""How late the meters of a new period land: from the scheduled boundary to the last confirmation.

Pure bookkeeping (no threads, no OpenFlow). When a tick of the scheduler crosses a period boundary
and the core sends changes, the adapter records the boundary (its time on the monotonic clock) and
the barrier that ends each switch's batch; each barrier reply then confirms its switch. A switch
change is complete when every switch confirmed: its latency is the last confirmation's time minus
the boundary's. A switch that rejected the change or went away makes the change ``failed``: it has
no latency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


@dataclass
class PeriodSwitch:
    """One boundary's meter changes on every switch it concerned."""

    boundary: datetime  # emulated local time of the boundary
    boundary_mono_s: float  # when the boundary fell, on the monotonic clock
    sent_mono_s: float  # when the changes were sent
    barriers: dict[int, int]  # dpid -> xid of the barrier ending its batch
    confirmed_mono_s: dict[int, float] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)

    @property
    def pending(self) -> list[int]:
        """Switches that have not answered yet."""
        return sorted(set(self.barriers) - set(self.confirmed_mono_s) - self.failed)

    @property
    def latency_s(self) -> float | None:
        """Boundary to the last switch's barrier reply (None until complete, or when failed)."""
        if self.failed or self.pending:
            return None
        return max(self.confirmed_mono_s.values()) - self.boundary_mono_s

    def to_data(self) -> dict[str, Any]:
        """The record as JSON-ready data (``latency_ms`` null while pending or when failed)."""
        lat = self.latency_s
        return {"boundary": self.boundary.isoformat(timespec="milliseconds"),
                "switches": len(self.barriers),
                "send_ms": round((self.sent_mono_s - self.boundary_mono_s) * 1000, 3),
                "latency_ms": None if lat is None else round(lat * 1000, 3),
                "pending": [f"{d:#x}" for d in self.pending],
                "failed": [f"{d:#x}" for d in sorted(self.failed)]}


class PeriodSwitchLog:
    """The last ``keep`` period switches and their latencies."""

    def __init__(self, keep: int = 2000):
        self.records: deque[PeriodSwitch] = deque(maxlen=keep)
        self._open: list[PeriodSwitch] = []  # records with switches yet to answer (few: the latest)

    def sent(self, boundary: datetime, boundary_mono_s: float, sent_mono_s: float,
             barriers: Mapping[int, int]) -> None:
        """Changes for ``boundary`` went out, each switch's batch ending with barrier ``barriers[dpid]``."""
        if barriers:
            record = PeriodSwitch(boundary, boundary_mono_s, sent_mono_s, dict(barriers))
            self.records.append(record)
            self._open.append(record)

    def confirmed(self, dpid: int, xid: int, mono_s: float) -> None:
        """Switch ``dpid`` answered barrier ``xid``: every batch of it up to that barrier is done."""
        for r in self._open:
            want = r.barriers.get(dpid)
            if want is not None and want <= xid and dpid in r.pending:
                r.confirmed_mono_s[dpid] = mono_s
        self._close_answered()

    def failed(self, dpid: int) -> None:
        """Switch ``dpid`` rejected its batch or went away: its pending switches failed."""
        for r in self._open:
            if dpid in r.pending:
                r.failed.add(dpid)
        self._close_answered()

    def _close_answered(self) -> None:
        self._open = [r for r in self._open if r.pending]

    def latencies_ms(self) -> list[float]:
        """Latencies of the complete switches, oldest first."""
        return [lat * 1000 for r in self.records if (lat := r.latency_s) is not None]

    def summary(self) -> dict[str, Any]:
        """Counts and the median, 99th percentile and maximum latency in ms (null without any)."""
        lat = np.asarray(self.latencies_ms())
        done = lat.size > 0
        return {"complete": int(lat.size),
                "failed": sum(1 for r in self.records if r.failed),
                "pending": sum(1 for r in self.records if r.pending and not r.failed),
                "median_ms": round(float(np.median(lat)), 3) if done else None,
                "p99_ms": round(float(np.quantile(lat, 0.99)), 3) if done else None,
                "max_ms": round(float(lat.max()), 3) if done else None}
