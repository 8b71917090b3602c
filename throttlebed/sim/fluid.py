"""Fluid model of the directive's meters (Rules item 10) for the pure-simulation backend.

Every session of the load table is a fluid flow. Per region and direction, the platform traffic
passes one token bucket whose rate is the cap in force (``Directive`` row of the period holding
the current local minute; no row = uncapped) and whose depth is ``burst_s x cap``. Each time step
(``step_s``, 1 s by default) the bucket can pass ``tokens + cap x step_s``; what it does not pass
is not delivered (the allowance is per step: a session arriving mid-step may use the whole
step's ``cap x step_s``; interval means are exact to the bucket). Per step:

- a TCP-like session asks for ``min(access_kbps x time active in the step, kbit left)``; when the
  region's requests exceed what the bucket passes, the bucket is shared max-min fairly among the
  active sessions (water-filling, each bounded by its own request). A TCP session is slowed, not
  cut: it transfers all its ``size_kbit``, later. A user abandons it ``patience_s`` after its
  unconstrained end time (the rest is never sent);
- a UDP-like session sends at its rate for ``size_kbit / rate`` seconds whatever happens; it takes
  part in the same fair sharing, and what exceeds its share is dropped (policed);
- ``traffic == 'other'`` never meets a meter: it flows at its access rate, in every run the same.

Direction ``down`` (platform -> user) carries the session payload. Direction ``up`` carries a fixed
fraction ``up_fraction`` (3% by default) of the delivered ``down`` volume: TCP acknowledgements
(one 40-byte ACK per one or two 1500-byte segments is 1.3-2.7%) plus the requests that fetch the
content. Platform ``up`` traffic passes its own bucket with the same cap and depth.

Output: the measurement table (:mod:`throttlebed.measurements`), the mean kbit/s of every
sampling interval per (region, direction, traffic), ``source='sim-fluid'``. A sampling interval's
mean can exceed the cap by at most ``burst_s x cap / sampling_interval_s`` (a full bucket at its
start).

What the model leaves out: TCP slow start and congestion-control dynamics (a flow takes its fair
share in the step it asks for it), round-trip times, packet loss and retransmissions (a policed
TCP flow delivers exactly its share, its goodput is not reduced by losses), queueing and buffer
delay, per-packet granularity of the bucket, the unfairness of a plain policer between responsive
and unresponsive flows (fair sharing is assumed), congestion anywhere other than the meter, and
sessions still running from the previous day (the day starts empty at ``start_s``).

Sessions are stepped only in regions the directive names; elsewhere (and in the baseline, and for
other traffic) the exact uncapped volumes are computed per interval in closed form. Both paths give
the same numbers for an uncapped flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from throttlebed.directive.periods import MINUTES_PER_DAY
from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError
from throttlebed.measurements import validate_measurements

SOURCE = "sim-fluid"
UP_FRACTION = 0.03
_DONE_KBIT = 1e-6  # a session with less left than this is finished


def caps_per_minute(directive: Directive | None, regions: Sequence[str]) -> np.ndarray:
    """Array ``[len(regions), 1440]``: the cap in kbit/s in force each local minute, inf if none.

    The same answer as ``Directive.cap_at(region, minute)``, for every minute at once.
    """
    caps = np.full((len(regions), MINUTES_PER_DAY), np.inf)
    if directive is None:
        return caps
    for i, region in enumerate(regions):
        rows = directive.rows_for(region)
        if not rows:
            continue
        lookup = directive.period_set(region).minute_lookup
        row_caps = np.array([float(r.cap_kbps) for r in rows])
        caps[i] = np.where(lookup >= 0, row_caps[np.maximum(lookup, 0)], np.inf)
    return caps


def _uncapped_kbit(start_s: np.ndarray, rate_kbps: np.ndarray, dur_s: np.ndarray, reg: np.ndarray,
                   n_regions: int, n_int: int, interval_s: float) -> np.ndarray:
    """Exact kbit per (region, interval) of flows at constant rate from ``start_s`` for ``dur_s``.

    Times are relative to the first interval's start; volume after the last interval is dropped.
    """
    out = np.zeros((n_regions, n_int + 1))
    diff = np.zeros((n_regions, n_int + 2))
    end_s = start_s + dur_s
    b0 = np.floor(start_s / interval_s).astype(np.int64)
    b1 = np.floor(end_s / interval_s).astype(np.int64)
    same = b0 == b1
    flat = out.reshape(-1)
    stride = n_int + 1
    # flows inside one interval
    idx = reg[same] * stride + b0[same]
    flat += np.bincount(idx, rate_kbps[same] * dur_s[same], minlength=flat.size)
    # flows spanning intervals: first partial, full ones between, last partial
    s, e, a, r = start_s[~same], end_s[~same], rate_kbps[~same], reg[~same]
    f0, f1 = b0[~same], np.minimum(b1[~same], n_int)
    flat += np.bincount(r * stride + f0, a * ((f0 + 1) * interval_s - s), minlength=flat.size)
    flat += np.bincount(r * stride + f1, a * (e - f1 * interval_s), minlength=flat.size)  # n_int: dropped
    dflat = diff.reshape(-1)
    dstride = n_int + 2
    dflat += np.bincount(r * dstride + f0 + 1, a * interval_s, minlength=dflat.size)
    dflat -= np.bincount(r * dstride + f1, a * interval_s, minlength=dflat.size)
    out += np.cumsum(diff, axis=1)[:, : n_int + 1]
    return out[:, :n_int]


def max_min_shares(demand: np.ndarray, reg: np.ndarray, budget: np.ndarray, n_regions: int) -> np.ndarray:
    """Max-min fair shares of ``budget[region]`` among flows asking ``demand`` (each at most that)."""
    sat = np.zeros(len(demand), dtype=bool)
    while True:
        used = np.bincount(reg, demand * sat, minlength=n_regions)
        count = np.bincount(reg, ~sat, minlength=n_regions)
        level = (budget - used) / np.maximum(count, 1)
        new = ~sat & (demand <= level[reg])
        if not new.any():
            return np.where(sat, demand, level[reg])
        sat |= new


@dataclass
class _Stepped:
    """Per (region, interval) results of the stepped platform sessions, kbit or step counts."""

    down_kbit: np.ndarray
    up_kbit: np.ndarray
    offered_kbit: np.ndarray  # what the sessions asked for (down), before the meter
    saturated: np.ndarray  # every token of the interval was used: the meter was the limit


def _stepped_kbit(start_s: np.ndarray, size_kbit: np.ndarray, rate_kbps: np.ndarray, udp: np.ndarray,
                  reg: np.ndarray, caps_min: np.ndarray, day_offset_s: float, n_steps: int,
                  step_s: float, steps_per_interval: int, burst_s: float, patience_s: float,
                  up_fraction: float) -> _Stepped:
    """Step the capped platform sessions through the per-region buckets.

    ``start_s`` is relative to the first step (which is ``day_offset_s`` after local midnight)
    and sorted. ``caps_min[r, m]`` is the cap of region ``r`` at minute ``m`` of the day.
    """
    n_regions = caps_min.shape[0]
    n_int = n_steps // steps_per_interval
    down = np.zeros((n_regions, n_int))
    up = np.zeros((n_regions, n_int))
    offered = np.zeros((n_regions, n_int))
    spilled = np.zeros((n_regions, n_int), dtype=bool)
    empty_at_end = np.zeros((n_regions, n_int), dtype=bool)
    nominal_end = start_s + size_kbit / rate_kbps
    deadline = np.where(udp, nominal_end, nominal_end + patience_s)
    # columns: start, kbit left, rate, deadline, region, udp
    table = np.column_stack([start_s, size_kbit, rate_kbps, deadline, reg.astype(float), udp.astype(float)])
    arrive = np.searchsorted(start_s, np.arange(n_steps + 1) * step_s, side="left")
    active = table[:0]
    tokens = np.full(n_regions, np.inf)
    tokens_up = np.full(n_regions, np.inf)
    for k in range(n_steps):
        t0 = k * step_s
        t1 = t0 + step_s
        cap = caps_min[:, int((day_offset_s + t0 + 1e-9) // 60) % MINUTES_PER_DAY]
        finite = np.isfinite(cap)
        depth = np.where(finite, np.where(finite, cap, 0.0) * burst_s, np.inf)
        tokens = np.minimum(tokens, depth)
        tokens_up = np.minimum(tokens_up, depth)
        budget = tokens + cap * step_s
        budget_up = tokens_up + cap * step_s
        if arrive[k + 1] > arrive[k]:
            active = np.concatenate([active, table[arrive[k]:arrive[k + 1]]])
        j = k // steps_per_interval
        if len(active):
            a_reg = active[:, 4].astype(np.intp)
            avail = np.clip(np.minimum(t1, active[:, 3]) - np.maximum(active[:, 0], t0), 0.0, step_s)
            demand = np.minimum(active[:, 2] * avail, active[:, 1])
            asked = np.bincount(a_reg, demand, minlength=n_regions)
            binding = asked > budget
            if binding.any():
                sel = binding[a_reg]
                alloc = demand.copy()
                alloc[sel] = max_min_shares(demand[sel], a_reg[sel], budget, n_regions)
                delivered = np.bincount(a_reg, alloc, minlength=n_regions)
            else:
                alloc = demand
                delivered = asked
            active[:, 1] -= np.where(active[:, 5] > 0, demand, alloc)
            offered[:, j] += asked
            down[:, j] += delivered
        else:
            delivered = np.zeros(n_regions)
        left = budget - delivered
        spilled[:, j] |= ~finite | (left > depth)  # tokens lost to a full bucket (or no bucket)
        tokens = np.clip(left, 0.0, depth)
        up_delivered = np.minimum(up_fraction * delivered, budget_up)
        tokens_up = np.clip(budget_up - up_delivered, 0.0, depth)
        up[:, j] += up_delivered
        if (k + 1) % steps_per_interval == 0:
            empty_at_end[:, j] = finite & (tokens <= 1e-9 * np.where(finite, cap, 1.0))
        if len(active):
            keep = (active[:, 1] > _DONE_KBIT) & (active[:, 3] > t1)
            if not keep.all():
                active = active[keep]
    return _Stepped(down, up, offered, ~spilled & empty_at_end)


@dataclass
class FluidRun:
    """A fluid run: the measurement table, and per (region, interval) what the meter saw.

    ``offered_kbps`` and ``saturated`` are ``[len(regions), intervals]`` arrays for platform
    ``down`` traffic: the mean rate the sessions asked for, and whether the offered load used
    every token the meter had for the interval (none lost to a full bucket, the bucket empty at
    its end): then the interval's mean is at least the cap and at most the cap plus one bucket.
    """

    measurements: pd.DataFrame
    regions: list[str]
    offered_kbps: np.ndarray
    saturated: np.ndarray


def run_fluid(sessions: pd.DataFrame, regions: Sequence[str], directive: Directive | None, day: date,
              start_s: float = 0.0, end_s: float = 86400.0, sampling_interval_s: float = 60.0,
              burst_s: float = 1.0, step_s: float = 1.0, up_fraction: float = UP_FRACTION,
              patience_s: float = 300.0) -> FluidRun:
    """Pass ``sessions`` through the directive's meters (None = the baseline, no meters).

    ``sessions`` is the table of :func:`throttlebed.sim.load.generate_sessions`; sessions of
    regions not in ``regions`` are ignored. ``time`` is the local start of each interval of
    ``day``, from ``start_s`` (seconds since local midnight) to ``end_s``.
    """
    regions = list(regions)
    _check_grid(start_s, end_s, sampling_interval_s, step_s, burst_s, up_fraction)
    n_int = round((end_s - start_s) / sampling_interval_s)
    n_regions = len(regions)
    reg_of = {r: i for i, r in enumerate(regions)}
    reg = sessions["region"].map(reg_of).to_numpy(dtype=float, na_value=np.nan)
    start_all = sessions["start_s"].to_numpy(dtype=float)
    inside = ~np.isnan(reg) & (start_all >= start_s) & (start_all < end_s)
    s = sessions[inside]
    reg = reg[inside].astype(np.int64)
    t = start_all[inside] - start_s
    size = s["size_kbit"].to_numpy(dtype=float)
    rate = s["access_kbps"].to_numpy(dtype=float)
    udp = (s["transport"] == "udp").to_numpy()
    platform = (s["traffic"] == "platform").to_numpy()

    caps = caps_per_minute(directive, regions)
    capped_region = np.isfinite(caps).any(axis=1)
    stepped = platform & capped_region[reg]
    kbit = {}
    for traffic, mask in (("platform", platform & ~stepped), ("other", ~platform)):
        kbit[("down", traffic)] = _uncapped_kbit(t[mask], rate[mask], size[mask] / rate[mask], reg[mask],
                                                 n_regions, n_int, sampling_interval_s)
        kbit[("up", traffic)] = up_fraction * kbit[("down", traffic)]
    offered = kbit[("down", "platform")].copy()
    saturated = np.zeros((n_regions, n_int), dtype=bool)
    if stepped.any():
        steps_per_interval = round(sampling_interval_s / step_s)
        res = _stepped_kbit(
            t[stepped], size[stepped], rate[stepped], udp[stepped], reg[stepped], caps, start_s,
            n_int * steps_per_interval, step_s, steps_per_interval, burst_s, patience_s, up_fraction)
        kbit[("down", "platform")] += res.down_kbit
        kbit[("up", "platform")] += res.up_kbit
        offered += res.offered_kbit
        saturated = res.saturated
    table = _table(kbit, regions, day, start_s, n_int, sampling_interval_s)
    return FluidRun(table, regions, offered / sampling_interval_s, saturated)


def fluid_measurements(sessions: pd.DataFrame, regions: Sequence[str], directive: Directive | None,
                       day: date, **kwargs) -> pd.DataFrame:
    """The measurement table of :func:`run_fluid` (same arguments)."""
    return run_fluid(sessions, regions, directive, day, **kwargs).measurements


def _check_grid(start_s: float, end_s: float, interval_s: float, step_s: float, burst_s: float,
                up_fraction: float) -> None:
    if not (0 <= start_s < end_s):
        raise InputError(f"need 0 <= start_s < end_s, got {start_s}, {end_s}")
    if interval_s <= 0 or step_s <= 0:
        raise InputError("sampling_interval_s and step_s must be > 0")
    ratio = interval_s / step_s
    if abs(ratio - round(ratio)) > 1e-9:
        raise InputError(f"sampling_interval_s ({interval_s}) must be a whole number of steps ({step_s} s)")
    per_min = 60.0 / step_s
    if abs(per_min - round(per_min)) > 1e-9:
        raise InputError(f"step_s ({step_s}) must divide a minute")
    n = (end_s - start_s) / interval_s
    if abs(n - round(n)) > 1e-9:
        raise InputError(f"end_s - start_s ({end_s - start_s}) must be a whole number of sampling intervals")
    if burst_s < 0:
        raise InputError(f"burst_s must be >= 0, got {burst_s}")
    if not (0 <= up_fraction <= 1):
        raise InputError(f"up_fraction must be in [0, 1], got {up_fraction}")


def _table(kbit: dict[tuple[str, str], np.ndarray], regions: list[str], day: date, start_s: float,
           n_int: int, interval_s: float) -> pd.DataFrame:
    """Long measurement table, ordered by time, region, then the (direction, traffic) keys."""
    midnight = datetime.combine(day, datetime.min.time())
    times = pd.DatetimeIndex([midnight + timedelta(seconds=start_s + j * interval_s) for j in range(n_int)])
    keys = list(kbit)
    vals = np.stack([kbit[k] for k in keys], axis=-1) / interval_s  # [region, interval, key]
    vals = np.transpose(vals, (1, 0, 2))  # [interval, region, key]
    n_r, n_k = len(regions), len(keys)
    df = pd.DataFrame({
        "time": np.repeat(times.to_numpy(), n_r * n_k),
        "region": np.tile(np.repeat(np.array(regions, dtype=object), n_k), n_int),
        "direction": np.tile(np.array([k[0] for k in keys], dtype=object), n_int * n_r),
        "traffic": np.tile(np.array([k[1] for k in keys], dtype=object), n_int * n_r),
        "kbps": np.maximum(vals.reshape(-1), 0.0),
        "source": SOURCE,
    })
    return validate_measurements(df, source=SOURCE)
