"""What a run produced, before it is written anywhere, and the documents made from it.

``RunResult`` holds the baseline, the peaks and one ``StageResult`` per enforced stage; from it
come ``verdict.json`` (:func:`verdict_document`), the measurement table and the cell table. The
runner builds it, the report reads it, and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from throttlebed.directive.schema import Directive
from throttlebed.directive.statistics import PeakResult
from throttlebed.experiments import impact as I
from throttlebed.experiments import verdict as V
from throttlebed.experiments.scenario import Scenario
from throttlebed.sim.diurnal import intensity_shape
from throttlebed.sim.load import expected_sessions_per_day


@dataclass
class StageResult:
    """One stage of a run: its directive, what was measured under it, and the verdict."""

    stage: int
    directive: Directive
    enforced: pd.DataFrame
    cells: pd.DataFrame
    collateral_table: pd.DataFrame
    collateral: dict[str, Any]
    lift: dict[str, Any] | None = None  # after a lift: is the platform's traffic back at baseline
    impact: pd.DataFrame | None = None  # user impact per cell and traffic (impact.IMPACT_COLUMNS)
    impact_overall: dict[str, Any] | None = None  # the same figures over every capped region

    @property
    def passed(self) -> bool:
        """Every cell passed, other traffic was not harmed, traffic came back after a lift."""
        return V.overall_pass(self.cells, self.collateral, self.lift)


@dataclass
class RunResult:
    """Everything a run produced, before it is written anywhere."""

    scenario: Scenario
    backend: str
    seed: int
    time_scale: float
    rate_scale: float
    burst_allowance: float
    source: str | None
    baseline: pd.DataFrame
    peaks: PeakResult
    stages: list[StageResult]
    timings_s: dict[str, float] = field(default_factory=dict)
    demand: dict[str, Any] | None = None  # replayed statistics: source, days, intervals, replay error
    baseline_service: dict[str, Any] | None = None  # sessions the baseline served (verdict.baseline_service)

    @property
    def final(self) -> StageResult:
        """The last (highest) stage enforced."""
        return self.stages[-1]

    @property
    def passed(self) -> bool:
        """Every stage passed."""
        return all(s.passed for s in self.stages)


def expected_sessions(scenario: Scenario) -> float:
    """Expected sessions (platform and other) the load model draws in the scenario's window."""
    b = scenario.backend
    t_s = np.arange(0.0, 86400.0, 60.0) + 30.0
    shape = intensity_shape(t_s, scenario.load.hourly_weights)
    in_window = (t_s >= b.start_s) & (t_s < b.end_s)
    per_day = expected_sessions_per_day(scenario.region_list(), scenario.load)
    return per_day * float(shape[in_window].sum() / shape.sum())


DESIGN_CELL_FIELDS = ("region", "period", "peak_kbps", "cap_kbps", "measured_max_kbps", "reduction_target",
                      "reduction_achieved", "held", "pass")


def cell_records(s: StageResult) -> list[dict[str, Any]]:
    """The stage's verdict cells as JSON-safe dicts, each with its ``impact`` (None when unknown)."""
    impact = I.impact_by_cell(s.impact) if s.impact is not None else {}
    return [{**rec, "impact": impact.get((rec["region"], rec["period"]))} for rec in V.records(s.cells)]


def _stage_doc(s: StageResult) -> dict[str, Any]:
    doc = {"stage": s.stage, "pass": s.passed, "summary": V.summarize_cells(s.cells),
           "cells": cell_records(s), "collateral": s.collateral, "impact": s.impact_overall}
    if s.lift is not None:
        doc["lift"] = s.lift
    return doc


def verdict_document(r: RunResult, wall_s: float | None = None) -> dict[str, Any]:
    """verdict.json: DESIGN.md's fields for the final stage, plus the run's context and every stage."""
    sc = r.scenario
    doc: dict[str, Any] = {
        "scenario": sc.name,
        "backend": r.backend,
        "stage": r.final.stage,
        "stages": [s.stage for s in r.stages],
        "time_scale": r.time_scale,
        "rate_scale": r.rate_scale,
        "pass": r.passed,
        "cells": cell_records(r.final),
        "collateral": r.final.collateral,
        "impact": r.final.impact_overall,
        "summary": V.summarize_cells(r.final.cells),
        "seed": r.seed,
        "day": sc.day.isoformat(),
        "regions": sc.region_list(),
        "periods": sc.periods,
        "platform": sc.platform.name,
        "measurement_source": r.source,
        "expected_sessions": round(expected_sessions(sc)),
        "sampling_interval_s": sc.backend.sampling_interval_s,
        "window_s": [sc.backend.start_s, sc.backend.end_s],
        "tolerance": {**sc.tolerance.model_dump(), "burst_allowance": r.burst_allowance},
        "direction": r.peaks.method.direction,
        "peak_method": r.peaks.method.model_dump(mode="json"),
        "directive_digest": r.final.directive.digest(),
        "timings_s": {k: round(v, 3) for k, v in r.timings_s.items()},
        "definitions": {
            "held": "no judged enforced sample above limit_kbps = cap_kbps x (1 + tolerance.over_cap + "
                    "tolerance.burst_allowance); burst_allowance = burst_s x time_scale / "
                    "sampling_interval_s; samples within boundary_guard_s of a period's start or end "
                    "are not judged; null (no data) when the cell has no enforced sample",
            "reduction_achieved": "1 - measured_max_kbps / peak_kbps",
            "pass": "held and (demand_below_cap, or transient_demand and reduction_achieved >= "
                    "reduction_target - tolerance.reduction_pp / 100, or |reduction_achieved - "
                    "reduction_target| <= tolerance.reduction_pp / 100); false when the cell has no "
                    "enforced samples",
            "demand_below_cap": "no baseline sample in the cell is above limit_kbps",
            "transient_demand": "baseline samples above limit_kbps come in runs shorter than "
                                "tolerance.sustained_samples: a rate cap spreads such bursts, so more "
                                "reduction than the target is expected there",
            "ks": "two-sample Kolmogorov-Smirnov test, baseline vs enforced samples of the cell",
            "impact": I.DEFINITION,
        },
    }
    if r.final.lift is not None:
        doc["lift"] = r.final.lift
        doc["definitions"]["lift"] = (
            "cells are judged on samples ending by the lift; back_at_baseline: per region and "
            "direction, the first sample starting at or after the lift (within one sampling "
            "interval of it) carries at least (1 - tolerance.lift_recovery) of the baseline's")
    if r.demand is not None:
        doc["demand"] = r.demand
    if r.baseline_service is not None:
        doc["baseline_service"] = r.baseline_service
        doc["definitions"]["baseline_service"] = (
            "load-model sessions of the baseline (no directive): completed, and not served (abandoned "
            "or dropped: the testbed could not carry the load); share_not_served over the sessions "
            "that ended; above tolerance.baseline_not_served the run fails instead of publishing")
    if wall_s is not None:
        doc["wall_s"] = round(wall_s, 3)
    if len(r.stages) > 1:
        doc["escalation"] = [_stage_doc(s) for s in r.stages]
    return doc


def measurements_table(r: RunResult) -> pd.DataFrame:
    """Baseline and enforced measurements in one table, with ``phase`` and ``stage`` columns."""
    parts = [r.baseline.assign(phase="baseline", stage=pd.NA)]
    parts += [s.enforced.assign(phase="enforced", stage=s.stage) for s in r.stages]
    out = pd.concat(parts, ignore_index=True)
    out["stage"] = out["stage"].astype("Int64")
    return out


def cells_table(r: RunResult) -> pd.DataFrame:
    """The verdict cells of every stage, one row per (stage, region, period), with the impact columns."""
    cells = pd.concat([s.cells for s in r.stages], ignore_index=True)
    impacts = [s.impact for s in r.stages if s.impact is not None]
    if not impacts:
        return cells
    flat = I.flat_columns(pd.concat(impacts, ignore_index=True))
    return cells.merge(flat, on=["stage", "region", "period"], how="left")
