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
content. Which buckets a region has follows the directive rows' ``direction``: rows without one
give ``down`` and ``up`` each a bucket at the row's cap; ``down``/``up`` rows cap that direction
only (``both``: each its own cap); ``sum`` rows put both directions through ONE shared bucket. The
``up`` volume is acknowledgement-clocked, so the downloads a region can take in a step are also
bounded by what its ``up`` bucket passes (``budget_up / up_fraction``); in a shared bucket the
downloads get ``budget / (1 + up_fraction)`` and their ``up`` share the rest. With a lift time
(``lift_s``), every cap ends at that second of the day: the directive is lifted and the buckets
pass everything from then on.

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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from throttlebed.directive.cap_table import cap_table_of
from throttlebed.directive.periods import minute_of_day
from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError
from throttlebed.held import HeldTable
from throttlebed.measurements import (
    OUTCOME_COLUMNS,
    OUTCOME_STATUSES,
    TRAFFIC_KINDS,
    empty_outcomes,
    validate_measurements,
)
from throttlebed.memory import release_free_memory
from throttlebed.sim.stepping import SteppedRegion, step_region

SOURCE = "sim-fluid"
_REGION_CATEGORIES = region_codes()  # outcome tables keep their text columns as categories (17 M rows)
UP_FRACTION = 0.03


def caps_per_minute(directive: Directive | None, regions: Sequence[str], direction: str | None = None,
                    lift_s: float | None = None) -> np.ndarray:
    """Array ``[len(regions), 1440]``: the cap in kbit/s in force each local minute, inf if none.

    The directive's cap table (:meth:`CapTable.caps_per_minute`) on meter ``direction`` (``down``,
    ``up`` or ``sum``; None: the first row in force), for every minute of the run's day at once;
    from the minute of ``lift_s`` (s after local midnight, whole minutes) on, inf.
    """
    caps = cap_table_of(directive).caps_per_minute(regions, direction)
    if lift_s is not None:
        caps[:, max(0, math.ceil(lift_s / 60 - 1e-9)):] = np.inf
    return caps


@dataclass(frozen=True)
class RegionCaps:
    """The caps one region's buckets have each minute of the day: ``down`` and ``up``, or with
    ``shared`` one bucket for both (a ``sum`` directive) whose caps are ``down_kbps``."""

    down_kbps: np.ndarray
    up_kbps: np.ndarray
    shared: bool = False

    @property
    def metered(self) -> bool:
        """Whether the region has a meter at some minute."""
        return bool(np.isfinite(self.down_kbps).any() or np.isfinite(self.up_kbps).any())


def region_caps(directive: Directive | None, regions: Sequence[str],
                lift_s: float | None = None) -> list[RegionCaps]:
    """Each region's bucket caps per minute under ``directive`` (lifted at ``lift_s``)."""
    if lift_s is not None and abs(lift_s / 60 - round(lift_s / 60)) > 1e-9:
        raise InputError(f"lift_s must be a whole minute of the day, got {lift_s}")
    shared = directive is not None and "sum" in directive.directions()
    down = caps_per_minute(directive, regions, "sum" if shared else "down", lift_s)
    up = down if shared else caps_per_minute(directive, regions, "up", lift_s)
    return [RegionCaps(down[i], up[i], shared) for i in range(len(regions))]


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


@dataclass
class FluidRun:
    """A fluid run: the measurement table, and per (region, interval) what the meter saw.

    ``offered_kbps`` and ``saturated`` are ``[len(regions), intervals]`` arrays for platform
    ``down`` traffic: the mean rate the sessions asked for, and whether the offered load used
    every token the meter had for the interval (none lost to a full bucket, the bucket empty at
    its end): then the interval's mean is at least the cap and at most the cap plus one bucket.
    ``sessions``: the session outcome table (:data:`throttlebed.measurements.OUTCOME_COLUMNS`)
    of every session starting in the window (on a cluster, a :class:`throttlebed.held.HeldTable` of
    the regions' tables, each on its worker).
    """

    measurements: pd.DataFrame
    regions: list[str]
    offered_kbps: np.ndarray
    saturated: np.ndarray
    sessions: pd.DataFrame | HeldTable


@dataclass
class RegionFluid:
    """One region's fluid run: kbit per interval for each (direction, traffic), what the meter saw
    (platform ``down`` offered kbit, saturated intervals) and the stepped sessions (None if the
    region had no meter): their ends and abandonments, in the order of the region's platform sessions."""

    kbit: dict[tuple[str, str], np.ndarray]
    offered_kbit: np.ndarray
    saturated: np.ndarray
    stepped: SteppedRegion | None
    outcomes: pd.DataFrame | None = None  # the region's session outcome table (see session_outcomes)


def caps_per_step(caps_min: np.ndarray, start_s: float, n_steps: int, step_s: float) -> np.ndarray:
    """The cap in force during each step from ``start_s`` (s since local midnight), from per-minute caps."""
    return caps_min[minute_of_day(((start_s + np.arange(n_steps) * step_s + 1e-9) // 60).astype(np.int64))]


def fluid_region(t_s: np.ndarray, size_kbit: np.ndarray, rate_kbps: np.ndarray, udp: np.ndarray,
                 platform: np.ndarray, caps: RegionCaps, *, start_s: float, n_int: int,
                 interval_s: float, step_s: float, burst_s: float, patience_s: float,
                 up_fraction: float, region: str | None = None,
                 ids: np.ndarray | None = None) -> RegionFluid:
    """One region's sessions (``t_s`` sorted, relative to ``start_s``) through its meter.

    ``caps`` are the region's bucket caps at each minute of the day (:func:`region_caps`).
    Uncapped flows (other traffic, or no meter) are summed in closed form; platform sessions of a
    metered region are stepped (:func:`throttlebed.sim.stepping.step_region`). With ``region`` and
    ``ids`` (one unique session number each) the session outcome table is kept too.
    """
    zeros = np.zeros(len(t_s), dtype=np.int64)
    metered = caps.metered
    kbit = {}
    for traffic, mask in (("platform", platform & (not metered)), ("other", ~platform)):
        rate = rate_kbps[mask]
        kbit[("down", traffic)] = _uncapped_kbit(t_s[mask], rate, size_kbit[mask] / rate, zeros[mask], 1,
                                                 n_int, interval_s)[0]
        kbit[("up", traffic)] = up_fraction * kbit[("down", traffic)]
    offered = kbit[("down", "platform")].copy()
    saturated = np.zeros(n_int, dtype=bool)
    stepped = None
    if metered:
        steps_per_interval = round(interval_s / step_s)
        n_steps = n_int * steps_per_interval
        stepped = step_region(t_s[platform], size_kbit[platform], rate_kbps[platform], udp[platform],
                              caps_per_step(caps.down_kbps, start_s, n_steps, step_s),
                              caps_per_step(caps.up_kbps, start_s, n_steps, step_s), step_s,
                              steps_per_interval, burst_s, patience_s, up_fraction, caps.shared)
        kbit[("down", "platform")] += stepped.down_kbit
        kbit[("up", "platform")] += stepped.up_kbit
        offered += stepped.offered_kbit
        saturated = stepped.saturated
    outcomes = None
    if region is not None and ids is not None:
        outcomes = session_outcomes(region, ids, t_s, size_kbit, rate_kbps, udp, platform, stepped,
                                    start_s, n_int * interval_s)
    return RegionFluid(kbit, offered, saturated, stepped, outcomes)


def session_outcomes(region: str, ids: np.ndarray, t_s: np.ndarray, size_kbit: np.ndarray,
                     rate_kbps: np.ndarray, udp: np.ndarray, platform: np.ndarray,
                     stepped: SteppedRegion | None, start_s: float, window_s: float) -> pd.DataFrame:
    """The session outcome table of one region (:data:`throttlebed.measurements.OUTCOME_COLUMNS`).

    An unmetered session ends at its access rate; a stepped TCP one when the loop says, or is
    abandoned at its deadline; a stepped UDP stream sends for its nominal time whatever passes. A
    session not ended inside the window was cut by it. Text columns are categorical: a national day
    at full scale has 17.6 M rows.
    """
    nominal_s = size_kbit / rate_kbps
    end_rel = t_s + nominal_s
    given_up_rel = np.full(len(t_s), np.nan)
    if stepped is not None:
        idx = np.flatnonzero(platform)
        tcp = ~udp[idx]
        end_rel[idx[tcp]] = np.where(stepped.abandoned[tcp], np.nan, stepped.end_s[tcp])
        given_up_rel[idx[tcp]] = np.where(stepped.abandoned[tcp], stepped.end_s[tcp], np.nan)
    completed = np.isfinite(end_rel) & (end_rel <= window_s)
    abandoned = ~completed & np.isfinite(given_up_rel) & (given_up_rel <= window_s)
    n = len(t_s)
    status = np.full(n, OUTCOME_STATUSES.index("cut"), dtype=np.int8)
    status[abandoned] = OUTCOME_STATUSES.index("abandoned")
    status[completed] = OUTCOME_STATUSES.index("completed")
    columns = {
        "session": np.asarray(ids, dtype=np.int64),
        "region": _categorical(np.full(n, _REGION_CATEGORIES.index(region), dtype=np.int8),
                               _REGION_CATEGORIES),
        "traffic": _categorical(np.where(platform, 0, 1).astype(np.int8), TRAFFIC_KINDS),
        "transport": _categorical(udp.astype(np.int8), ("tcp", "udp")),
        "start_s": t_s + start_s,
        "nominal_s": nominal_s.astype(np.float32),
        "end_s": np.where(completed, end_rel + start_s, np.nan),
        "status": _categorical(status, OUTCOME_STATUSES),
        "given_up_s": np.where(abandoned, given_up_rel + start_s, np.nan).astype(np.float32),
        "sessions": np.ones(n, dtype=np.int32),
    }
    return pd.DataFrame(columns, copy=False)


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical:
    """A categorical column from its codes (no text is built or parsed: 17 M rows at full scale)."""
    return pd.Categorical.from_codes(codes, categories=list(categories), validate=False)


def concat_outcomes(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Outcome tables one after the other, column by column; ``tables`` is emptied first, and each
    column of the parts is let go once gathered, so a column of every region is only in memory
    once (17 M rows at full scale)."""
    if not tables:
        return empty_outcomes()
    parts = [{c: t[c].array for c in OUTCOME_COLUMNS} for t in tables]
    tables.clear()
    columns = {}
    for c in OUTCOME_COLUMNS:
        arrays = [p.pop(c) for p in parts]
        if isinstance(arrays[0], pd.Categorical):
            columns[c] = _categorical(np.concatenate([a.codes for a in arrays]), list(arrays[0].categories))
        else:
            columns[c] = np.concatenate([np.asarray(a) for a in arrays])
        del arrays
        release_free_memory()  # the regions' copies of the column (heap blocks below 32 MB)
    return pd.DataFrame(columns, copy=False)


def assemble_run(parts: Sequence[RegionFluid], regions: Sequence[str], day: date, start_s: float,
                 n_int: int, interval_s: float) -> FluidRun:
    """The FluidRun of per-region results (in the order of ``regions``)."""
    regions = list(regions)
    keys = [("down", "platform"), ("up", "platform"), ("down", "other"), ("up", "other")]
    kbit = {k: np.stack([p.kbit[k] for p in parts]) for k in keys}
    offered = np.stack([p.offered_kbit for p in parts])
    saturated = np.stack([p.saturated for p in parts])
    table = _table(kbit, regions, day, start_s, n_int, interval_s)
    kept = [p.outcomes for p in parts if p.outcomes is not None]
    for p in parts:
        p.outcomes = None  # kept only in ``kept``, which concat_outcomes empties
    outcomes = concat_outcomes(kept)
    return FluidRun(table, regions, offered / interval_s, saturated, outcomes)


def run_fluid(sessions: pd.DataFrame, regions: Sequence[str], directive: Directive | None, day: date,
              start_s: float = 0.0, end_s: float = 86400.0, sampling_interval_s: float = 60.0,
              burst_s: float = 1.0, step_s: float = 1.0, up_fraction: float = UP_FRACTION,
              patience_s: float = 300.0, lift_s: float | None = None) -> FluidRun:
    """Pass ``sessions`` through the directive's meters (None = the baseline, no meters).

    ``lift_s``: the directive is lifted at this second of the day (whole minutes): no cap after.
    ``session`` in the outcome table is a session's row position in ``sessions``.

    ``sessions`` is the table of :func:`throttlebed.sim.load.generate_sessions`; sessions of
    regions not in ``regions`` are ignored. ``time`` is the local start of each interval of
    ``day``, from ``start_s`` (seconds since local midnight) to ``end_s``.
    """
    regions = list(regions)
    check_grid(start_s, end_s, sampling_interval_s, step_s, burst_s, up_fraction)
    n_int = round((end_s - start_s) / sampling_interval_s)
    start_all = sessions["start_s"].to_numpy(dtype=float)
    inside = (start_all >= start_s) & (start_all < end_s)
    caps = region_caps(directive, regions, lift_s)
    parts = []
    for i, region in enumerate(regions):
        rows = inside & (sessions["region"] == region).to_numpy()
        s = sessions[rows]
        parts.append(fluid_region(
            s["start_s"].to_numpy(dtype=float) - start_s, s["size_kbit"].to_numpy(dtype=float),
            s["access_kbps"].to_numpy(dtype=float), (s["transport"] == "udp").to_numpy(),
            (s["traffic"] == "platform").to_numpy(), caps[i], start_s=start_s, n_int=n_int,
            interval_s=sampling_interval_s, step_s=step_s, burst_s=burst_s, patience_s=patience_s,
            up_fraction=up_fraction, region=region, ids=np.flatnonzero(rows)))
    return assemble_run(parts, regions, day, start_s, n_int, sampling_interval_s)


def fluid_measurements(sessions: pd.DataFrame, regions: Sequence[str], directive: Directive | None,
                       day: date, **kwargs) -> pd.DataFrame:
    """The measurement table of :func:`run_fluid` (same arguments)."""
    return run_fluid(sessions, regions, directive, day, **kwargs).measurements


def check_grid(start_s: float, end_s: float, interval_s: float, step_s: float, burst_s: float,
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
