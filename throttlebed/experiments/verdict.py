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
- ``held``: no judged enforced sample above the limit; None (no data) when the cell has no
  enforced sample at all: a cell nobody measured is never reported as held;
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

Direction: a cell is judged on the traffic its row caps (``direction`` of the row: ``down``, ``up``
or ``sum``, the two directions added up per sample); a row without one on the run's direction.

Lift: when the directive is lifted at ``lift_s`` (the platform complied), the cells are judged on
the samples whose interval ends by the lift, baseline and enforced alike. After the lift, per region
and direction, the first sample starting at or after the lift (it starts less than one sampling
interval after it) must carry at least ``(1 - lift_recovery)`` of the baseline's same sample:
``back_at_baseline``. The mean of every later sample is reported beside it (a backlog of slowed
transfers may run above the baseline for a while).

Collateral: non-platform traffic (``traffic == 'other'``) per region and direction, mean and max
with and without the directive. ``unaffected`` when its mean did not drop by more than the
collateral tolerance (more throughput for other services, freed by the cap, is not damage); judged
on the payload direction (``down``), the other direction (mostly acknowledgements) only reported.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from throttlebed.directive.cap_table import NO_ROW
from throttlebed.directive.periods import MINUTES_PER_DAY
from throttlebed.directive.schema import Directive
from throttlebed.directive.statistics import directed_samples
from throttlebed.experiments.tolerances import Tolerances
from throttlebed.held import HeldTable, held

CELL_COLUMNS = (
    "stage", "region", "period", "direction", "peak_kbps", "cap_kbps", "limit_kbps", "samples",
    "samples_guarded", "demand_max_kbps",
    "measured_max_kbps", "measured_mean_kbps", "baseline_mean_kbps", "reduction_target",
    "reduction_achieved", "overshoot", "samples_over_cap", "held", "demand_below_cap",
    "no_samples", "demand_run_samples", "transient_demand", "pass", "ks_statistic", "ks_pvalue",
    "mean_change", "detectable",
)


def select(df: pd.DataFrame, *, traffic: str | None = "platform", direction: str | None = "down",
           source: str | None = None) -> pd.DataFrame:
    """The rows of one kind of traffic, direction and source (a missing column matches all)."""
    mask = np.ones(len(df), dtype=bool)
    for col, val in (("traffic", traffic), ("direction", direction), ("source", source)):
        if val is not None and col in df.columns:
            mask &= (df[col] == val).to_numpy()
    return df.loc[mask]


def directed(df: pd.DataFrame, direction: str, source: str | None = None) -> pd.DataFrame:
    """Platform samples of one source read as ``direction`` (``down``, ``up`` or ``sum``)."""
    return directed_samples(select(df, direction=None, source=source), direction)


def before(df: pd.DataFrame, last_start_s: float | None) -> pd.DataFrame:
    """Samples whose interval starts at or before ``last_start_s`` s after local midnight (None: all)."""
    if last_start_s is None or df.empty:
        return df
    t = pd.to_datetime(df["time"])
    second = (t - t.dt.normalize()).dt.total_seconds().to_numpy()
    return df.loc[second <= last_start_s + 1e-9]


def assign_cells(df: pd.DataFrame, directive: Directive, direction: str | None = None) -> pd.DataFrame:
    """Add ``period`` (the period of the directive row in force on meter ``direction``, None: the
    first row in force; None where uncapped), ``second_in_period``, ``seconds_to_end`` (0 where uncapped)."""
    out = df.copy()
    t = pd.to_datetime(out["time"])
    second = (t.dt.hour * 3600 + t.dt.minute * 60 + t.dt.second).to_numpy()
    table = directive.cap_table
    row_idx = table.row_indices(out["region"].to_numpy(), second // 60, direction)
    periods = table.periods()
    names = np.array([str(p) for p in periods] + [None], dtype=object)
    starts = np.array([p.start_min * 60 for p in periods] + [0])
    lengths = np.array([p.duration_min * 60 for p in periods] + [0])
    capped = row_idx != NO_ROW
    into = np.where(capped, (second - starts[row_idx]) % (MINUTES_PER_DAY * 60), 0.0)
    out["period"] = names[row_idx]  # NO_ROW (-1) picks the trailing None
    out["second_in_period"] = into.astype(float)
    out["seconds_to_end"] = np.where(capped, lengths[row_idx] - into, 0.0).astype(float)
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
                  direction: str = "down", judged_until_s: float | None = None) -> pd.DataFrame:
    """One row per directive row: the verdict of that (region, period) cell (columns CELL_COLUMNS).

    A row is judged on its own ``direction`` (``sum``: both added up), a row without one on
    ``direction`` (``both`` reads as ``down`` there); ``judged_until_s``: only samples starting
    at or before that second of the day count (with ``lift_s - sampling_interval_s``: the
    intervals ending by a lift).
    """
    fallback = "down" if direction == "both" else direction
    base_groups: dict[tuple[str, str, str], np.ndarray] = {}
    enf_groups: dict[tuple[str, str, str], pd.DataFrame] = {}
    for d in sorted({r.direction or fallback for r in directive.rows}):
        meter = None if directive.rows[0].direction is None else d  # rows without one: any meter
        base = assign_cells(before(directed(baseline, d, source), judged_until_s), directive, meter)
        enf = assign_cells(before(directed(enforced, d, source), judged_until_s), directive, meter)
        base = base.sort_values("time", kind="stable")
        base_groups.update({(*k, d): g["kbps"].to_numpy(float)
                            for k, g in base.groupby(["region", "period"])})
        enf_groups.update({(*k, d): g for k, g in enf.groupby(["region", "period"])})
    target = directive.stage / 100.0
    rows: list[dict[str, Any]] = []
    for r in directive.rows:
        key = (r.region, r.period, r.direction or fallback)
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
            "direction": r.direction or fallback,
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
            "held": None if no_samples else bool(held),
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


LIFT_COLUMNS = ("region", "direction", "first_sample_time", "baseline_kbps", "enforced_kbps", "ratio",
                "after_baseline_mean_kbps", "after_enforced_mean_kbps", "back_at_baseline")


def lift_recovery(baseline: pd.DataFrame, enforced: pd.DataFrame, lift_s: float, directions: list[str],
                  tol: Tolerances = Tolerances(), *, source: str | None = None) -> pd.DataFrame:
    """After a lift at ``lift_s``: is each region's platform traffic back at its baseline?

    Per region and direction (``down``, ``up`` or ``sum``), the first sample starting at or after
    the lift, enforced against baseline; ``back_at_baseline`` when the enforced one carries at
    least ``1 - tol.lift_recovery`` of the baseline one (a baseline of 0 is matched by anything).
    """
    rows: list[dict[str, Any]] = []
    for d in directions:
        parts = []
        for df in (baseline, enforced):
            x = directed(df, d, source)
            t = pd.to_datetime(x["time"])
            after = x.loc[((t - t.dt.normalize()).dt.total_seconds() >= lift_s - 1e-9).to_numpy()]
            parts.append(after.sort_values("time", kind="stable"))
        b_after, e_after = parts
        for region in sorted(set(b_after["region"]) | set(e_after["region"])):
            b = b_after[b_after["region"] == region]
            e = e_after[e_after["region"] == region]
            if b.empty or e.empty:
                rows.append({"region": region, "direction": d, "first_sample_time": None,
                             "baseline_kbps": None, "enforced_kbps": None, "ratio": None,
                             "after_baseline_mean_kbps": None, "after_enforced_mean_kbps": None,
                             "back_at_baseline": False})
                continue
            first = b["time"].min()
            b0 = float(b.loc[b["time"] == first, "kbps"].sum())
            e0 = float(e.loc[e["time"] == first, "kbps"].sum())
            rows.append({
                "region": region, "direction": d,
                "first_sample_time": pd.Timestamp(first).isoformat(),
                "baseline_kbps": b0, "enforced_kbps": e0,
                "ratio": e0 / b0 if b0 > 0 else None,
                "after_baseline_mean_kbps": float(b["kbps"].mean()),
                "after_enforced_mean_kbps": float(e["kbps"].mean()),
                "back_at_baseline": bool(e0 >= b0 * (1.0 - tol.lift_recovery) - 1e-9),
            })
    return pd.DataFrame(rows, columns=list(LIFT_COLUMNS))


def lift_summary(table: pd.DataFrame, lift_s: float, sampling_interval_s: float,
                 tol: Tolerances = Tolerances()) -> dict[str, Any]:
    """The ``lift`` object of verdict.json."""
    ratios = table["ratio"].dropna()
    return {
        "lift_s": lift_s,
        "lift_at": f"{int(lift_s // 3600):02d}:{int(lift_s % 3600 // 60):02d}",
        "sampling_interval_s": sampling_interval_s,
        "tolerance": tol.lift_recovery,
        "back_at_baseline": bool(len(table) and table["back_at_baseline"].all()),
        "min_ratio": _clean(ratios.min()) if len(ratios) else None,
        "regions": records(table),
    }


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
        "cells_held": int((cells["held"] == True).sum()),  # noqa: E712 - None is no data
        "cells_no_data": int(cells["no_samples"].sum()),
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


def overall_pass(cells: pd.DataFrame, collateral: dict[str, Any], lift: dict[str, Any] | None = None) -> bool:
    """Every cell passed, other traffic was not harmed (unknown collateral does not fail) and,
    after a lift, the platform's traffic was back at its baseline."""
    lifted_ok = lift is None or bool(lift.get("back_at_baseline"))
    return bool(len(cells) and cells["pass"].all() and collateral.get("unaffected") is not False
                and lifted_ok)


BASELINE_NOT_SERVED = ("abandoned", "dropped")  # a failed transfer already breaks an emulated run


def service_counts(outcomes: pd.DataFrame) -> dict[str, float]:
    """Load-model sessions of an outcome table, completed and not served (abandoned or dropped); the
    counts of disjoint tables add up (:func:`service_summary`)."""
    weight = outcomes["sessions"].to_numpy(float)  # load-model sessions a row stands for
    status = outcomes["status"]  # categorical on both backends: isin works on its codes
    return {"sessions": float(weight.sum()),
            "completed": float(weight[status.isin(["completed"]).to_numpy(bool)].sum()),
            "not_served": float(weight[status.isin(BASELINE_NOT_SERVED).to_numpy(bool)].sum())}


def service_summary(counts: list[dict[str, float]]) -> dict[str, Any]:
    """The baseline's service (:func:`baseline_service`) from the counts of the parts of its outcome table."""
    total = {k: sum(c[k] for c in counts) for k in ("sessions", "completed", "not_served")}
    ended = total["completed"] + total["not_served"]
    return {"sessions": round(total["sessions"]), "completed": round(total["completed"]),
            "not_served": round(total["not_served"]),
            "share_not_served": total["not_served"] / ended if ended else 0.0}


def baseline_service(outcomes: pd.DataFrame | HeldTable | None) -> dict[str, Any] | None:
    """How much of the load model the baseline carried: load-model sessions completed and not served.

    Without a directive nothing should keep a session from completing; sessions abandoned or
    dropped in a baseline say the testbed could not carry the load (an emulation running behind
    real time), and peaks taken from it are too low. ``share_not_served`` is over the sessions
    that ended (completed or not served); sessions still running at the window's end (``cut``) are
    neither. None without an outcome table. The table may be held in parts (counted where they are).
    """
    parts = held(outcomes)
    return None if parts is None else service_summary(parts.apply(service_counts))
