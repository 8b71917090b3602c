"""The compiled step loop of the fluid model: one region's capped platform sessions through its buckets.

Regions never interact, so the loop runs per region over that region's sessions only, compiled by
numba (cached on disk after the first call). The rules are those of :mod:`throttlebed.sim.fluid`:
per step a session asks ``min(rate x time active in the step, kbit left)``; when the region asks
more than its bucket passes (tokens + cap x step), the bucket is shared max-min fairly
(:func:`fair_shares`); TCP is slowed, UDP policed; ``up`` passes its own bucket, or with a ``sum``
directive both directions share one.

The cap is given per step and per direction (``cap_down_kbps``, ``cap_up_kbps``, inf = no meter),
so a cap that changes with the run's time (a period boundary, a lifted directive) is only a
different array. Besides the per-interval sums, the loop returns each session's end: the time it
finished, was abandoned (TCP, ``deadline`` passed) or stopped sending (UDP), relative to the first
step; NaN when still running at the last step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

DONE_KBIT = 1e-6  # a session with less left than this is finished


@njit(cache=True, nogil=True)
def water_level(demand: np.ndarray, budget: float, work: np.ndarray) -> float:  # pragma: no cover
    """The level of max-min fair sharing: each flow gets ``min(demand, level)``, the shares sum to
    ``budget`` (when the demands exceed it). ``work`` is scratch space of at least ``len(demand)``."""
    n = len(demand)
    for i in range(n):
        work[i] = demand[i]
    rest = budget
    count = n
    while True:
        level = rest / max(count, 1)
        kept = 0
        for i in range(count):  # flows asking no more than the level are served whole
            if work[i] <= level:
                rest -= work[i]
            else:
                work[kept] = work[i]
                kept += 1
        if kept == count:
            return level
        count = kept


@njit(cache=True, nogil=True)
def fair_shares(demand: np.ndarray, budget: float) -> np.ndarray:  # pragma: no cover - compiled
    """Max-min fair shares of ``budget`` among flows asking ``demand`` (each at most its demand)."""
    return np.minimum(demand, water_level(demand, budget, np.empty(len(demand))))


@njit(cache=True, nogil=True)
def _step_loop(start_s, size_kbit, rate_kbps, udp, deadline_s, cap_down_kbps, cap_up_kbps,
               step_s, steps_per_interval, burst_s, up_fraction, shared):  # pragma: no cover - compiled
    n = len(start_s)
    n_steps = len(cap_down_kbps)
    n_int = n_steps // steps_per_interval
    down = np.zeros(n_int)
    up = np.zeros(n_int)
    offered = np.zeros(n_int)
    spilled = np.zeros(n_int, dtype=np.bool_)
    empty_at_end = np.zeros(n_int, dtype=np.bool_)
    left = size_kbit.copy()
    end_s = np.full(n, np.nan)
    abandoned = np.zeros(n, dtype=np.bool_)
    active = np.empty(n, dtype=np.int64)
    demand = np.empty(n)
    work = np.empty(n)
    n_act = 0
    nxt = 0
    tokens = np.inf
    tokens_up = np.inf
    for k in range(n_steps):
        t0 = k * step_s
        t1 = t0 + step_s
        cap = cap_down_kbps[k]
        cap_up = cap_up_kbps[k]
        finite = np.isfinite(cap)
        depth = cap * burst_s if finite else np.inf
        depth_up = cap_up * burst_s if np.isfinite(cap_up) else np.inf
        tokens = min(tokens, depth)
        tokens_up = min(tokens_up, depth_up)
        budget = tokens + cap * step_s
        budget_up = tokens_up + cap_up * step_s
        if shared:  # one bucket: downloads get what leaves room for their acknowledgements
            budget = budget / (1.0 + up_fraction)
        elif up_fraction > 0:  # acknowledgement-clocked: no more down than the up bucket lets ack
            budget = min(budget, budget_up / up_fraction)
        arrive_before = (k + 1) * step_s
        while nxt < n and start_s[nxt] < arrive_before:
            active[n_act] = nxt
            n_act += 1
            nxt += 1
        j = k // steps_per_interval
        asked = 0.0
        for a in range(n_act):
            i = active[a]
            avail = min(t1, deadline_s[i]) - max(start_s[i], t0)
            avail = min(max(avail, 0.0), step_s)
            d = min(rate_kbps[i] * avail, left[i])
            demand[a] = d
            asked += d
        delivered = asked
        binding = asked > budget
        level = water_level(demand[:n_act], budget, work) if binding else np.inf
        if binding:
            delivered = 0.0
        kept = 0
        for a in range(n_act):
            i = active[a]
            d = demand[a]
            if binding:
                share = min(d, level)
                delivered += share
                left[i] -= d if udp[i] else share
            else:
                left[i] -= d
            if left[i] > DONE_KBIT and deadline_s[i] > t1:
                active[kept] = i
                kept += 1
            elif left[i] <= DONE_KBIT:  # finished: its last request was granted whole
                end_s[i] = max(start_s[i], t0) + d / rate_kbps[i]
            else:
                end_s[i] = deadline_s[i]
                abandoned[i] = not udp[i]
        n_act = kept
        offered[j] += asked
        down[j] += delivered
        if shared:
            up_delivered = up_fraction * delivered
            rest = (budget - delivered) * (1.0 + up_fraction)
        else:
            rest = budget - delivered
            up_delivered = min(up_fraction * delivered, budget_up)
            tokens_up = min(max(budget_up - up_delivered, 0.0), depth_up)
        spilled[j] |= (not finite) or rest > depth  # tokens lost to a full bucket (or no bucket)
        tokens = min(max(rest, 0.0), depth)
        up[j] += up_delivered
        if (k + 1) % steps_per_interval == 0:
            empty_at_end[j] = finite and tokens <= 1e-9 * cap
    return down, up, offered, ~spilled & empty_at_end, end_s, abandoned


@dataclass
class SteppedRegion:
    """One region's stepped sessions: per interval kbit (down, up, offered), the meter saturated,
    and per session its end (s after the first step, NaN = still running) and whether it was abandoned."""

    down_kbit: np.ndarray
    up_kbit: np.ndarray
    offered_kbit: np.ndarray
    saturated: np.ndarray
    end_s: np.ndarray
    abandoned: np.ndarray


def step_region(start_s: np.ndarray, size_kbit: np.ndarray, rate_kbps: np.ndarray, udp: np.ndarray,
                cap_down_kbps: np.ndarray, cap_up_kbps: np.ndarray, step_s: float, steps_per_interval: int,
                burst_s: float, patience_s: float, up_fraction: float, shared: bool = False) -> SteppedRegion:
    """Step one region's sessions (``start_s`` sorted, relative to the first step) through its buckets.

    ``cap_*_kbps[k]`` is the cap in force during step ``k`` (inf = no meter); its length is the
    number of steps, a whole number of intervals. ``shared``: both directions pass ONE bucket (a
    ``sum`` directive), whose cap is ``cap_down_kbps``; otherwise the downloads are also bounded by
    what the ``up`` bucket lets their acknowledgements pass.
    """
    start_s = np.ascontiguousarray(start_s, dtype=float)
    rate_kbps = np.ascontiguousarray(rate_kbps, dtype=float)
    size_kbit = np.ascontiguousarray(size_kbit, dtype=float)
    udp = np.ascontiguousarray(udp, dtype=np.bool_)
    nominal_end = start_s + size_kbit / rate_kbps
    deadline = np.where(udp, nominal_end, nominal_end + patience_s)
    out = _step_loop(start_s, size_kbit, rate_kbps, udp, deadline,
                     np.ascontiguousarray(cap_down_kbps, dtype=float),
                     np.ascontiguousarray(cap_up_kbps, dtype=float),
                     float(step_s), int(steps_per_interval), float(burst_s), float(up_fraction),
                     bool(shared))
    return SteppedRegion(*out)
