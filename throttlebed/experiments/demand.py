"""Demand replayed from statistics (a scenario's ``demand: {stats: FILE}``): which days, which sessions.

The sim backend replays every day of the statistics; the mininet backend one day (real time is
dear): ``demand.day`` when given, else the day holding the most cell peaks (of the directive's
cells when one is enforced, else of the scenario's periods).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from throttlebed.directive.conformance import distinct_periods
from throttlebed.directive.periods import Period, PeriodSet
from throttlebed.directive.schema import Directive
from throttlebed.directive.statistics import infer_sampling_interval_s
from throttlebed.errors import InputError
from throttlebed.measurements import read_measurements
from throttlebed.sim.load import LoadProfile
from throttlebed.sim.replay import (
    demand_days,
    demand_of_day,
    fit_sessions,
    platform_down_kbps,
    replay_error,
)


@dataclass(frozen=True)
class Demand:
    """Platform downstream statistics to replay, with their sampling interval and days."""

    source: str
    stats: pd.DataFrame
    interval_s: float
    days: list[date]


def platform_downstream(stats: pd.DataFrame, *, keep_rows: bool = False) -> pd.DataFrame:
    """The platform's downstream samples of a validated statistics table (``keep_rows``: indexed
    by their rows in the table, else numbered afresh)."""
    df = stats
    if "traffic" in df.columns:
        df = df[df["traffic"] == "platform"]
    if "direction" in df.columns:
        df = df[df["direction"] == "down"]
    return df if keep_rows else df.reset_index(drop=True)


def load_demand(path: str | Path) -> Demand:
    """Read statistics to replay; bad input is an InputError naming the file."""
    return demand_from_table(read_measurements(path), str(path))


def demand_from_table(table: pd.DataFrame, path: str) -> Demand:
    """Statistics to replay from a validated measurement table read from ``path``."""
    stats = platform_downstream(table)
    if stats.empty:
        raise InputError("no platform downstream samples to replay", source=str(path))
    try:
        interval_s = infer_sampling_interval_s(stats)
        if 86400 % interval_s:
            raise InputError(f"the sampling interval {interval_s:g} s does not divide the day", where="time")
        check_sampled_regularly(table, interval_s)
    except InputError as e:
        raise e.located(str(path)) from None
    return Demand(str(path), stats, interval_s, demand_days(stats))


def check_regions_sampled(demand: Demand, regions: list[str]) -> None:
    """Every region of a replayed run has samples: a region without any would be replayed as a
    region without demand, and its cells would pass untested."""
    missing = sorted(set(regions) - set(demand.stats["region"]))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(f"no platform downstream sample of {shown}, a region of the run",
                         source=demand.source, where="region")


def check_sampled_regularly(table: pd.DataFrame, interval_s: float) -> None:
    """Replay reads each sample as its interval's demand, so the platform's downstream samples must
    lie on the grid of the table's sampling interval and follow each other without a gap within a
    region's day: an off-grid time or a gap (samples of a longer interval among shorter ones, an
    outage) would be replayed as demand nobody measured. The first such row is an InputError."""
    rows = platform_downstream(table, keep_rows=True)  # indexed by the file's row - 1
    since_midnight_s = (rows["time"] - rows["time"].dt.normalize()).dt.total_seconds()
    steps = since_midnight_s / interval_s
    off = np.flatnonzero(np.abs(steps - np.round(steps)).to_numpy() > 1e-6)
    if len(off):
        i = rows.index[off[0]]
        raise InputError(f"{rows.at[i, 'time']:%Y-%m-%d %H:%M:%S} is off the {interval_s:g} s grid the "
                         "other samples keep", where=f"row {i + 1}.time")
    ordered = rows.assign(_day=rows["time"].dt.normalize())
    ordered = ordered.sort_values(["region", "_day", "time"], kind="stable")
    gap = ordered["time"].diff().dt.total_seconds().to_numpy() > interval_s + 1e-6
    same_day = (ordered["region"] == ordered["region"].shift()) & (ordered["_day"] == ordered["_day"].shift())
    first = np.flatnonzero(gap & same_day.to_numpy())
    if len(first):
        i, before = ordered.index[first[0]], ordered.index[first[0] - 1]
        region, t0, t1 = ordered.at[i, "region"], ordered.at[before, "time"], ordered.at[i, "time"]
        raise InputError(f"no sample of {region} between {t0:%H:%M:%S} (row {before + 1}) and {t1:%H:%M:%S}, "
                         f"where the statistics are sampled every {interval_s:g} s: replaying would read "
                         "the gap as no demand (fill it, with 0 where the platform carried nothing)",
                         where=f"row {i + 1}")


def _periods_of(directive: Directive | None, periods: PeriodSet | None) -> list[Period]:
    return list(periods or []) if directive is None else distinct_periods(directive)


def peak_day(demand: Demand, directive: Directive | None, periods: PeriodSet | None) -> date:
    """The day holding the most cell peaks (ties: the earliest)."""
    df = demand.stats
    minute = (df["time"].dt.hour * 60 + df["time"].dt.minute).to_numpy()
    cell = np.full(len(df), -1)
    for i, p in enumerate(_periods_of(directive, periods)):
        cell[PeriodSet([p]).minute_lookup[minute] >= 0] = i
    keyed = df.assign(_cell=cell)[cell >= 0]
    if keyed.empty:
        return demand.days[0]
    top = keyed.loc[keyed.groupby(["region", "_cell"])["kbps"].idxmax()]
    counts = top["time"].dt.date.value_counts()
    best = counts.max()
    return min(d for d, c in counts.items() if c == best)


def replay_days(demand: Demand, backend: str, day: date | None, directive: Directive | None,
                periods: PeriodSet | None) -> list[date]:
    """Every day on sim; on mininet ``day`` or the peak day."""
    if day is not None:
        if day not in demand.days:
            raise InputError(f"{day.isoformat()} is not a day of the statistics {demand.source} "
                             f"({demand.days[0].isoformat()}..{demand.days[-1].isoformat()})",
                             where="demand.day")
        return [day]
    if backend == "sim":
        return list(demand.days)
    return [peak_day(demand, directive, periods)]


def replay_sessions(demand: Demand, day: date, regions: list[str], profile: LoadProfile, seed: int,
                    window_s: tuple[float, float] = (0.0, 86400.0)) -> pd.DataFrame:
    """The fitted sessions of one day (see :mod:`throttlebed.sim.replay`), fitted over the window and
    the interval before it (whose sessions run into the window's first interval; the backends replay
    only sessions starting in the window)."""
    target = demand_of_day(demand.stats, day, regions, demand.interval_s)
    first = max(0, int(window_s[0] // demand.interval_s) - 1)
    last = int(np.ceil(window_s[1] / demand.interval_s))
    kbps = target.target_kbps.copy()
    kbps[:, :first] = np.nan
    kbps[:, last:] = np.nan
    try:
        return fit_sessions(replace(target, target_kbps=kbps), profile, seed)
    except InputError as e:
        raise e.located(demand.source) from None


def replay_errors(demand: Demand, baseline: pd.DataFrame, days: list[date], regions: list[str],
                  window_s: tuple[float, float]) -> np.ndarray:
    """Per-interval relative errors of a baseline table against the statistics, over ``days`` and the
    window (intervals above 5% of the region's peak)."""
    out = []
    n = int(86400 // demand.interval_s)
    lo, hi = (int(round(w / demand.interval_s)) for w in window_s)
    for day in days:
        target = demand_of_day(demand.stats, day, regions, demand.interval_s).target_kbps
        base = platform_down_kbps(baseline, day, regions, n)
        out.append(replay_error(base[:, lo:hi], target[:, lo:hi]))
    return np.concatenate(out) if out else np.array([])
