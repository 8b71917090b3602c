"""Rules item 8: the throughput statistics of the platform, and the peak of each (region, period).

Method (stated in every directive it produces):
- each sample is the mean throughput over one sampling interval, in kbit/s; the interval is
  inferred from the data as the most common spacing of consecutive samples of one region;
- a sample belongs to the period holding the local time (UTC+5) at which its interval starts;
- the peak of a cell is the highest sample of that region in that period over all days in the
  table (``statistic="max"``, the "highest value" of item 9), or a stated percentile (``"p99"``);
- samples whose time falls in no period are counted and reported, never silently dropped;
- the traffic is read as one direction (``down``, ``up``), each direction with its own peaks
  (``both``: the table gets a row per direction), or both directions added up per sample
  (``sum``); the choice is the ``direction`` of the method.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.schema import PeakMethod
from throttlebed.errors import InputError

_PERCENTILE_RE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class PeakResult:
    """Peaks per (region, period) and how they were taken."""

    table: pd.DataFrame  # columns: region, period, peak_kbps, samples (+ direction when chosen)
    method: PeakMethod
    unassigned: pd.DataFrame  # columns: region, samples (samples outside every period)


def infer_sampling_interval_s(measurements: pd.DataFrame) -> float:
    """The most common spacing between consecutive sample times of one region, in seconds."""
    steps = []
    for _, times in measurements.groupby("region", sort=False)["time"]:
        t = np.sort(times.unique())
        if len(t) > 1:
            steps.append(np.diff(t).astype("timedelta64[ms]").astype(np.int64))
    if not steps:
        raise InputError("cannot infer the sampling interval: need two samples of one region")
    diffs = np.concatenate(steps)
    diffs = diffs[diffs > 0]
    if not len(diffs):
        raise InputError("cannot infer the sampling interval: all samples share one time")
    values, counts = np.unique(diffs, return_counts=True)
    return float(values[np.argmax(counts)]) / 1000.0


def peak_statistic(name: str) -> str | Callable[[pd.Series], float]:
    """The aggregation a peak statistic names: ``max``, or a percentile ``pNN`` (0 < NN < 100);
    InputError otherwise."""
    if name == "max":
        return "max"
    m = _PERCENTILE_RE.match(name)
    if not m or not 0 < float(m.group(1)) < 100:
        raise InputError(f"unknown statistic {name!r} (expected 'max' or a percentile like 'p99')")
    q = float(m.group(1)) / 100.0
    return lambda s: float(np.quantile(s.to_numpy(), q))


TRAFFIC_DIRECTIONS = ("down", "up", "both", "sum")


def directed_samples(measurements: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The platform samples read as ``direction``: one direction's rows, or (``sum``) the two
    directions added up per (time, region[, source]). A table without a ``direction`` column is
    taken as it is."""
    df = measurements
    if "traffic" in df.columns:
        df = df[df["traffic"] == "platform"]
    if "direction" not in df.columns:
        return df
    if direction != "sum":
        return df[df["direction"] == direction]
    keys = [c for c in ("time", "region", "source") if c in df.columns]
    both = df[df["direction"].isin(["down", "up"])]
    return both.groupby(keys, sort=False, as_index=False)["kbps"].sum().assign(direction="sum")


def compute_peaks(
    measurements: pd.DataFrame,
    periods: PeriodSet,
    statistic: str = "max",
    direction: str | None = "down",
    source: str | None = None,
) -> PeakResult:
    """Peaks of every (region, period) cell of a validated measurement table.

    ``direction`` (down, up, both, sum; see :func:`directed_samples`) reads the table's
    ``direction`` column when it has one, and is named in the method and on every row; None keeps
    the table as it is and the rows without a direction. Rows of non-platform traffic
    (``traffic == "other"``) are always left out.
    """
    if direction is not None and direction not in TRAFFIC_DIRECTIONS:
        raise InputError(f"unknown direction {direction!r} (expected down, up, both or sum)")
    if direction == "both":
        if "direction" not in measurements.columns:
            raise InputError("direction 'both' needs a 'direction' column (down/up) in the statistics")
        parts = [compute_peaks(measurements, periods, statistic, d, source) for d in ("down", "up")]
        table = pd.concat([p.table for p in parts], ignore_index=True)
        unassigned = pd.concat([p.unassigned for p in parts], ignore_index=True)
        unassigned = unassigned.groupby("region", as_index=False)["samples"].sum()
        m = parts[0].method
        method = m.model_copy(update={
            "direction": "both", "samples": sum(p.method.samples for p in parts),
            "unassigned_samples": sum(p.method.unassigned_samples for p in parts)})
        return PeakResult(table=table, method=method, unassigned=unassigned)
    agg = peak_statistic(statistic)
    df = measurements
    used_direction = None
    if direction is not None:
        df = directed_samples(df, direction)
        used_direction = direction
    elif "traffic" in df.columns:
        df = df[df["traffic"] == "platform"]
    if df.empty:
        raise InputError("no platform samples to take peaks from"
                         + (f" in direction {direction!r}" if used_direction else ""))
    interval_s = infer_sampling_interval_s(df)
    minute = (df["time"].dt.hour * 60 + df["time"].dt.minute).to_numpy()
    period_idx = periods.minute_lookup[minute]
    labels = np.array([str(p) for p in periods], dtype=object)
    assigned = period_idx >= 0
    cells = df.loc[assigned, ["region", "kbps"]].assign(period=labels[period_idx[assigned]])
    grouped = cells.groupby(["region", "period"], sort=False)["kbps"]
    table = grouped.agg(peak_kbps=agg, samples="size").reset_index()
    order = {str(p): i for i, p in enumerate(periods)}
    table = (
        table.assign(_o=table["period"].map(order))
        .sort_values(["region", "_o"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    if used_direction is not None:
        table["direction"] = used_direction
    unassigned = (
        df.loc[~assigned].groupby("region").size().rename("samples").reset_index()
        if (~assigned).any()
        else pd.DataFrame({"region": pd.Series(dtype=str), "samples": pd.Series(dtype=int)})
    )
    method = PeakMethod(
        statistic=statistic,
        sampling_interval_s=interval_s,
        samples=int(assigned.sum()),
        unassigned_samples=int((~assigned).sum()),
        days=int(df["time"].dt.normalize().nunique()),
        first_time=df["time"].min().to_pydatetime(),
        last_time=df["time"].max().to_pydatetime(),
        direction=used_direction,
        source=source,
    )
    return PeakResult(table=table, method=method, unassigned=unassigned)
