"""Verification (Rules "What this means for the software"): did the directive hold, did it reduce?

Pure functions of measurement tables and a directive; no files, no clocks, no backends.

A *cell* is one (region, period) row of the directive. Samples are assigned to a cell by the local
minute of day at which their sampling interval starts. For each cell, with ``tol`` the over-cap
tolerance (a fraction of the cap), ``burst`` the burst allowance and ``tol_pp`` the reduction
tolerance (percentage points), the *limit* is ``cap x (1 + tol + burst)``:

- ``burst`` = meter burst / sampling interval (both in the time of the switch: for an emulation
  compressed ``time_scale`` times, ``burst_s x time_scale / sampling_interval_s``): a token bucket
  that starts full legitimately passes ``cap x T + cap x burst_s`` in any interval ``T``;
- guarded samples: those starting less than ``boundary_guard_s`` after the period starts or at most
  ``boundary_guard_s`` before it ends (the switch-over instants) are not judged; ``samples_guarded``;
- ``demand_max_kbps``: highest *baseline* platform sample (the unrestricted demand);
- ``measured_max_kbps``: highest judged *enforced* platform sample;
- ``reduction_target`` = stage / 100; ``reduction_achieved`` = 1 - measured_max / peak;
- ``held``: no judged enforced sample above the limit;
- ``demand_run_samples``: the longest run of consecutive baseline samples above the limit;
- ``demand_below_cap``: no baseline sample above the limit: the demand never needed
  restricting, so no reduction can be achieved and the cell is judged on ``held`` only;
- ``transient_demand``: the demand exceeded the cap only in isolated samples (runs shorter than
  ``sustained_samples``). A cap on the *rate* spreads such a burst over the following intervals,
  which lowers the interval means below the cap: there the reduction achieved may exceed the
  target, and only falling short of it fails (``achieved >= target - tol_pp / 100``). The default
  of 3 is measured: in national days at stage 10 with 60-s samples, demand two intervals above
  the limit was still spread by the cap into a reduction up to 4.6 pp beyond the target;
- otherwise (demand above the cap for ``sustained_samples`` intervals in a row) the enforced
  throughput should sit at the cap: ``|achieved - target| <= tol_pp / 100``; too much reduction
  fails as much as too little (the directive orders a cap, not a block);
- ``no_samples``: the enforced run has no sample in the cell: nothing verified, ``pass`` false;
- ``pass`` = held and not no_samples and the reduction test above.

The differentiation test (after Wehe): a two-sample Kolmogorov-Smirnov test between the cell's
baseline and enforced samples, with its p-value, statistic (effect size) and the relative change
of the mean; ``detectable`` when p < alpha.

Collateral: non-platform traffic (``traffic == 'other'``) per region and direction, mean and max
with and without the directive. ``unaffected`` when its mean did not drop by more than the
collateral tolerance (more throughput for other services, freed by the cap, is not damage); judged
on the payload direction (``down``), the other direction (mostly acknowledgements) only reported.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from throttlebed.directive.periods import MINUTES_PER_DAY
from throttlebed.directive.schema import Directive

CELL_COLUMNS = (
    "stage", "region", "period", "peak_kbps", "cap_kbps", "limit_kbps", "samples", "samples_guarded",
    "demand_max_kbps",
    "measured_max_kbps", "measured_mean_kbps", "baseline_mean_kbps", "reduction_target",
    "reduction_achieved", "overshoot", "samples_over_cap", "held", "demand_below_cap",
    "no_samples", "demand_run_samples", "transient_demand", "pass", "ks_statistic", "ks_pvalue",
    "mean_change", "detectable",
)


@dataclass(frozen=True)
class Tolerances:
    """How strictly a run is judged."""

    over_cap: float = 0.02  # fraction of the cap a sample may exceed it by and still hold
    reduction_pp: float = 2.0  # allowed |achieved - target| reduction, percentage points
    collateral: float = 0.05  # allowed relative drop of the mean of non-platform traffic
    alpha: float = 0.05  # significance level of the differentiation test
    boundary_guard_s: float = 0.0  # seconds around a period's start and end not judged
    burst_allowance: float = 0.0  # fraction of the cap a full meter bucket adds to one interval
    sustained_samples: int = 3  # consecutive samples above the limit that make the demand sustained


def select(df: pd.DataFrame, *, traffic: str | None = "platform", direction: str | None = "down",
           source: str | None = None) -> pd.DataFrame:
    """The rows of one kind of traffic, direction and source (a missing column matches all)."""
    mask = np.ones(len(df), dtype=bool)
    for col, val in (("traffic", traffic), ("direction", direction), ("source", source)):
        if val is not None and col in df.columns:
            mask &= (df[col] == val).to_numpy()
    return df.loc[mask]


def assign_cells(df: pd.DataFrame, directive: Directive) -> pd.DataFrame:
    """Add ``period`` (the directive row's period, or None), ``second_in_period``, ``seconds_to_end``."""
    out = df.copy()
    t = pd.to_datetime(out["time"])
    second = (t.dt.hour * 3600 + t.dt.minute * 60 + t.dt.second).to_numpy()
    minute = second // 60
    periods = np.full(len(out), None, dtype=object)
    into = np.zeros(len(out), dtype=float)
    left = np.zeros(len(out), dtype=float)
    regions = out["region"].to_numpy()
    for region in directive.regions():
        idx = np.flatnonzero(regions == region)
        if not len(idx):
            continue
        pset = directive.period_set(region)
        p_idx = pset.minute_lookup[minute[idx]]
        names = np.array([str(p) for p in pset] + [None], dtype=object)
        starts = np.array([p.start_min * 60 for p in pset] + [0])
        lengths = np.array([p.duration_min * 60 for p in pset] + [0])
        periods[idx] = names[p_idx]  # -1 picks the trailing None
        into[idx] = (second[idx] - starts[p_idx]) % (MINUTES_PER_DAY * 60)
        left[idx] = lengths[p_idx] - into[idx]
    out["period"] = periods
    out["second_in_period"] = into
    out["seconds_to_end"] = left
    return out


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array."""
    if not mask.any():
        return 0
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[0::2]).max())


def _ks(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    if len(a) == 0 or len(b) == 0:
        return None, None
    with warnings.catch_warnings():  # "exact calculation unsuccessful": the asymptotic p is used
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ks_2samp(a, b)
    return float(res.statistic), float(res.pvalue)


def _rel(new: float, old: float) -> float | None:
    if old is None or new is None or not math.isfinite(old) or old <= 0:
        return None
    return new / old - 1.0


def cell_verdicts(baseline: pd.DataFrame, enforced: pd.DataFrame, directive: Directive,
                  tol: Tolerances = Tolerances(), *, source: str | None = None,
                  direction: str = "down") -> pd.DataFrame:
    """One row per directive row: the verdict of that (region, period) cell (columns CELL_COLUMNS)."""
    base = assign_cells(select(baseline, direction=direction, source=source), directive)
    enf = assign_cells(select(enforced, direction=direction, source=source), directive)
    base = base.sort_values("time", kind="stable")
    base_groups = {k: g["kbps"].to_numpy(float) for k, g in base.groupby(["region", "period"])}
    enf_groups = {k: g for k, g in enf.groupby(["region", "period"])}
    target = directive.stage / 100.0
    rows: list[dict[str, Any]] = []
    for r in directive.rows:
        key = (r.region, r.period)
        b = base_groups.get(key, np.empty(0))
        g = enf_groups.get(key)
        e = g["kbps"].to_numpy(float) if g is not None else np.empty(0)
        judged = e
        if g is not None:
            keep = ((g["second_in_period"] >= tol.boundary_guard_s)
                    & (g["seconds_to_end"] > tol.boundary_guard_s)).to_numpy()
            judged = e[keep] if keep.any() else e  # a cell all guard: judge every sample
        limit = r.cap_kbps * (1.0 + tol.over_cap + tol.burst_allowance)
        no_samples = len(e) == 0
        measured_max = float(judged.max()) if len(judged) else None
        demand_max = float(b.max()) if len(b) else None
        achieved = None
        if measured_max is not None and r.peak_kbps > 0:
            achieved = 1.0 - measured_max / r.peak_kbps
        over = int((judged > limit).sum())
        held = over == 0
        run = longest_run(b > limit)
        below = run == 0
        transient = 0 < run < tol.sustained_samples
        slack = tol.reduction_pp / 100.0 + 1e-12
        if achieved is None:
            reduced = False
        elif transient:
            reduced = achieved >= target - slack
        else:
            reduced = abs(achieved - target) <= slack
        ks_stat, ks_p = _ks(b, e)
        mean_change = _rel(float(e.mean()), float(b.mean())) if len(e) and len(b) else None
        rows.append({
            "stage": directive.stage,
            "region": r.region,
            "period": r.period,
            "peak_kbps": float(r.peak_kbps),
            "cap_kbps": int(r.cap_kbps),
            "limit_kbps": float(limit),
            "samples": int(len(e)),
            "samples_guarded": int(len(e) - len(judged)),
            "demand_max_kbps": demand_max,
            "measured_max_kbps": measured_max,
            "measured_mean_kbps": float(e.mean()) if len(e) else None,
            "baseline_mean_kbps": float(b.mean()) if len(b) else None,
            "reduction_target": target,
            "reduction_achieved": achieved,
            "overshoot": _rel(measured_max, float(r.cap_kbps)) if measured_max is not None else None,
            "samples_over_cap": over,
            "held": bool(held),
            "demand_below_cap": bool(below),
            "no_samples": bool(no_samples),
            "demand_run_samples": run,
            "transient_demand": bool(transient),
            "pass": bool(held and not no_samples and (below or reduced)),
            "ks_statistic": ks_stat,
            "ks_pvalue": ks_p,
            "mean_change": mean_change,
            "detectable": bool(ks_p is not None and ks_p < tol.alpha),
        })
    return pd.DataFrame(rows, columns=list(CELL_COLUMNS))


def collateral_table(baseline: pd.DataFrame, enforced: pd.DataFrame,
                     tol: Tolerances = Tolerances(), *, source: str | None = None,
                     judged_direction: str | None = "down") -> pd.DataFrame:
    """Non-platform traffic per (region, direction) with and without the directive.

    Only ``judged_direction`` (the one carrying the services' payload) is judged ``unaffected``;
    the other direction is mostly acknowledgements, whose volume follows how the payload arrives
    rather than what the users get, and is reported with ``unaffected`` None.
    """
    cols = ["region", "direction", "baseline_mean_kbps", "baseline_max_kbps", "enforced_mean_kbps",
            "enforced_max_kbps", "mean_change", "max_change", "unaffected"]
    if "traffic" not in baseline.columns or "traffic" not in enforced.columns:
        return pd.DataFrame(columns=cols)
    b = select(baseline, traffic="other", direction=None, source=source)
    e = select(enforced, traffic="other", direction=None, source=source)
    keys = ["region", "direction"] if "direction" in b.columns else ["region"]
    bs = b.groupby(keys)["kbps"].agg(["mean", "max"])
    es = e.groupby(keys)["kbps"].agg(["mean", "max"])
    rows = []
    for key in sorted(set(bs.index) | set(es.index)):
        bm, bx = (float(v) for v in bs.loc[key]) if key in bs.index else (math.nan, math.nan)
        em, ex = (float(v) for v in es.loc[key]) if key in es.index else (math.nan, math.nan)
        mean_change = _rel(em, bm)
        region, direction = (key if isinstance(key, tuple) else (key, None))
        rows.append({
            "region": region, "direction": direction,
            "baseline_mean_kbps": bm, "baseline_max_kbps": bx,
            "enforced_mean_kbps": em, "enforced_max_kbps": ex,
            "mean_change": mean_change, "max_change": _rel(ex, bx),
            "unaffected": (None if judged_direction is not None and direction not in (None, judged_direction)
                           else bool(mean_change is None or mean_change >= -tol.collateral)),
        })
    return pd.DataFrame(rows, columns=cols)


def _clean(v: Any) -> Any:
    """A JSON-safe scalar (NaN -> None, numpy -> Python)."""
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a table as JSON-safe dicts."""
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def summarize_cells(cells: pd.DataFrame) -> dict[str, Any]:
    """Counts and extremes of a cell table (what a sweep row reports)."""
    judged = cells.loc[~cells["demand_below_cap"] & ~cells["no_samples"]]
    sustained = judged.loc[~judged["transient_demand"]]
    red_err = (sustained["reduction_achieved"] - sustained["reduction_target"]).abs() * 100
    return {
        "pass": bool(len(cells) and cells["pass"].all()),
        "cells_passed": int(cells["pass"].sum()),
        "cells_total": int(len(cells)),
        "cells_held": int(cells["held"].sum()),
        "cells_demand_below_cap": int(cells["demand_below_cap"].sum()),
        "cells_transient_demand": int(cells["transient_demand"].sum()),
        "cells_detectable": int(cells["detectable"].sum()),
        "min_reduction_achieved": _clean(judged["reduction_achieved"].min()) if len(judged) else None,
        "max_reduction_error_pp": _clean(red_err.max()) if len(sustained) else None,
        "max_overshoot": _clean(cells["overshoot"].max()) if len(cells) else None,
    }


def collateral_summary(table: pd.DataFrame, tol: Tolerances = Tolerances()) -> dict[str, Any]:
    """The ``collateral`` object of verdict.json."""
    judged = table[table["unaffected"].notna()]
    changes = judged["mean_change"].dropna()
    return {
        "traffic": "other",
        "tolerance": tol.collateral,
        "judged_directions": sorted({str(d) for d in judged["direction"].dropna()}),
        "unaffected": bool(judged["unaffected"].astype(bool).all()) if len(judged) else None,
        "max_mean_drop": _clean(-changes.min()) if len(changes) else None,
        "max_mean_change": _clean(changes.abs().max()) if len(changes) else None,
        "regions": records(table),
    }


def overall_pass(cells: pd.DataFrame, collateral: dict[str, Any]) -> bool:
    """Every cell passed and other traffic was not harmed (unknown collateral does not fail)."""
    return bool(len(cells) and cells["pass"].all() and collateral.get("unaffected") is not False)
