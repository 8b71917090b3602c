"""The whole pipeline of one scenario: baseline -> peaks -> directive -> enforcement -> verdict -> report.

1. baseline: the day without a directive (measurement table, ``phase == 'baseline'``);
2. statistics (Rules item 8): peaks per (region, period) of the platform's downstream samples;
3. directive (item 9, Appendix 3): caps for each stage of the scenario, all from the same peaks;
4. enforcement (item 10): the same day (same seed, so the same demand) under each directive;
5. verification: the verdict per (region, period) and the collateral on other traffic;
6. outputs, written into a temporary directory beside DIR and moved into DIR only when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from throttlebed.directive.caps import derive_directive
from throttlebed.directive.schema import Directive, directive_to_yaml
from throttlebed.directive.statistics import PeakResult, compute_peaks
from throttlebed.experiments import verdict as V
from throttlebed.experiments.backends import Backend, get_backend
from throttlebed.experiments.scenario import Scenario
from throttlebed.fileio import atomic_write_text

Step = Callable[[str], None]


@dataclass
class StageResult:
    """One stage of a run: its directive, what was measured under it, and the verdict."""

    stage: int
    directive: Directive
    enforced: pd.DataFrame
    cells: pd.DataFrame
    collateral_table: pd.DataFrame
    collateral: dict[str, Any]

    @property
    def passed(self) -> bool:
        """Every cell passed and other traffic was not harmed."""
        return V.overall_pass(self.cells, self.collateral)


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

    @property
    def final(self) -> StageResult:
        """The last (highest) stage enforced."""
        return self.stages[-1]

    @property
    def passed(self) -> bool:
        """Every stage passed."""
        return all(s.passed for s in self.stages)


def _quiet_step(_: str) -> None:
    return None


def expected_sessions(scenario: Scenario) -> float:
    """Expected sessions (platform and other) the load model draws in the scenario's window."""
    import numpy as np

    from throttlebed.sim.diurnal import intensity_shape
    from throttlebed.sim.load import expected_sessions_per_day

    b = scenario.backend
    t_s = np.arange(0.0, 86400.0, 60.0) + 30.0
    shape = intensity_shape(t_s, scenario.load.hourly_weights)
    in_window = (t_s >= b.start_s) & (t_s < b.end_s)
    per_day = expected_sessions_per_day(scenario.region_list(), scenario.load)
    return per_day * float(shape[in_window].sum() / shape.sum())


def burst_allowance(scenario: Scenario, backend: Backend) -> float:
    """What a full meter bucket adds to one sampling interval, as a fraction of the cap.

    The bucket holds ``burst_s`` of the cap's rate in the switch's own time; one sampling interval
    lasts ``sampling_interval_s / time_scale`` of that time.
    """
    b = scenario.backend
    return b.burst_s * backend.time_scale(scenario) / b.sampling_interval_s


def _platform_samples(df: pd.DataFrame, source: str | None) -> pd.DataFrame:
    if source is not None and "source" in df.columns:
        if not (df["source"] == source).any():
            raise RuntimeError(f"the backend produced no samples from source {source!r}")
        return df.loc[df["source"] == source]
    return df


def execute(scenario: Scenario, backend: Backend | str | None = None, *, seed: int | None = None,
            work_dir: Path | None = None, step: Step = _quiet_step, quiet: bool = True) -> RunResult:
    """Run the scenario's pipeline in memory and return every table and verdict."""
    be = get_backend(backend or scenario.backend.default) if not hasattr(backend, "run") else backend
    seed = scenario.seed if seed is None else seed
    source = scenario.backend.measurement_source or be.primary_source
    tol = scenario.tolerance.to_tolerances(burst_allowance(scenario, be))
    timings: dict[str, float] = {}
    own_tmp = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="throttlebed-run-")) if own_tmp else work_dir
    try:
        t0 = time.perf_counter()
        step(f"baseline day on {be.name} ({len(scenario.region_list())} regions)")
        baseline = be.run(scenario, None, seed=seed, work_dir=work / "baseline", quiet=quiet)
        timings["baseline_s"] = time.perf_counter() - t0

        step("peaks and directive (Rules items 8-9)")
        t0 = time.perf_counter()
        stats = _platform_samples(baseline, source)
        peaks = compute_peaks(stats, scenario.period_set(), statistic=scenario.peaks.statistic,
                              direction=scenario.peaks.direction, source=f"{be.name}:{source}")
        directives = [
            derive_directive(peaks, stage, scenario.platform.name,
                             [str(p) for p in scenario.platform.prefixes], **scenario.case.fields())
            for stage in scenario.stage_list()
        ]
        timings["peaks_s"] = time.perf_counter() - t0

        stages: list[StageResult] = []
        for d in directives:
            step(f"enforcement of stage {d.stage}% on {be.name}")
            t0 = time.perf_counter()
            enforced = be.run(scenario, d, seed=seed, work_dir=work / f"stage-{d.stage}", quiet=quiet)
            timings[f"enforced_{d.stage}_s"] = time.perf_counter() - t0
            cells = V.cell_verdicts(baseline, enforced, d, tol, source=source,
                                    direction=scenario.peaks.direction)
            ctable = V.collateral_table(baseline, enforced, tol, source=source,
                                        judged_direction=scenario.peaks.direction)
            stages.append(StageResult(d.stage, d, enforced, cells, ctable, V.collateral_summary(ctable, tol)))
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    return RunResult(scenario, be.name, seed, be.time_scale(scenario), be.rate_scale(scenario),
                     tol.burst_allowance, source, baseline, peaks, stages, timings)


# ---- the documents of a run ------------------------------------------------------------------

DESIGN_CELL_FIELDS = ("region", "period", "peak_kbps", "cap_kbps", "measured_max_kbps", "reduction_target",
                      "reduction_achieved", "held", "pass")


def _stage_doc(s: StageResult) -> dict[str, Any]:
    return {"stage": s.stage, "pass": s.passed, "summary": V.summarize_cells(s.cells),
            "cells": V.records(s.cells), "collateral": s.collateral}


def verdict_document(r: RunResult, wall_s: float | None = None) -> dict[str, Any]:
    """verdict.json: DESIGN.md's fields for the final stage, plus the run's context and every stage."""
    sc = r.scenario
    doc: dict[str, Any] = {
        "scenario": sc.name,
        "backend": r.backend,
        "stage": r.final.stage,
        "stages": sc.stage_list(),
        "time_scale": r.time_scale,
        "rate_scale": r.rate_scale,
        "pass": r.passed,
        "cells": V.records(r.final.cells),
        "collateral": r.final.collateral,
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
        "peak_method": r.peaks.method.model_dump(mode="json"),
        "directive_digest": r.final.directive.digest(),
        "timings_s": {k: round(v, 3) for k, v in r.timings_s.items()},
        "definitions": {
            "held": "no judged enforced sample above limit_kbps = cap_kbps x (1 + tolerance.over_cap + "
                    "tolerance.burst_allowance); burst_allowance = burst_s x time_scale / "
                    "sampling_interval_s; samples within boundary_guard_s of a period's start or end "
                    "are not judged",
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
        },
    }
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
    """The verdict cells of every stage, one row per (stage, region, period)."""
    return pd.concat([s.cells for s in r.stages], ignore_index=True)


# ---- writing -------------------------------------------------------------------------------


def _readable(tmp: Path) -> None:
    """Give outputs the usual modes (temporary files are created private)."""
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    for p in tmp.rglob("*"):
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def _publish(tmp: Path, out: Path) -> None:
    """Move a finished output directory into place: rename, or replace file by file."""
    _readable(tmp)
    if not out.exists():
        os.replace(tmp, out)
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    for src in sorted(tmp.rglob("*")):
        if src.is_file():
            dst = out / src.relative_to(tmp)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    shutil.rmtree(tmp, ignore_errors=True)


def _partial_dir(out: Path) -> Path:
    """A fresh temporary directory beside ``out`` (same file system, so it can be renamed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))


def write_outputs(r: RunResult, out: Path, *, wall_s: float | None = None, step: Step = _quiet_step,
                  tmp: Path | None = None) -> dict[str, Path]:
    """Write every output of a run into ``out``; nothing appears there unless all of it was written.

    ``tmp``: the partial directory to complete and publish (it may already hold backend work files).
    """
    from throttlebed.experiments.report import render_report

    out = Path(out)
    tmp = tmp or _partial_dir(out)
    try:
        step("writing outputs and the report")
        atomic_write_text(tmp / "directive.yaml", directive_to_yaml(r.final.directive))
        if len(r.stages) > 1:
            for s in r.stages:
                atomic_write_text(tmp / f"directive-stage{s.stage}.yaml", directive_to_yaml(s.directive))
        atomic_write_text(tmp / "scenario.yaml", _yaml(r.scenario.to_data()))
        measurements_table(r).to_parquet(tmp / "measurements.parquet", index=False)
        cells_table(r).to_parquet(tmp / "cells.parquet", index=False)
        doc = verdict_document(r, wall_s)
        atomic_write_text(tmp / "verdict.json", _json(doc))
        render_report(r, doc, tmp)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    names = ["directive.yaml", "scenario.yaml", "measurements.parquet", "cells.parquet", "verdict.json",
             "report.html"]
    return {n: out / n for n in names}


def _json(doc: Any) -> str:
    import json

    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def run(scenario: Scenario, out: Path, *, backend: str | None = None, seed: int | None = None,
        step: Step = _quiet_step, quiet: bool = True) -> tuple[RunResult, dict[str, Path]]:
    """Execute a scenario and write its outputs into ``out``."""
    t0 = time.perf_counter()
    out = Path(out)
    tmp = _partial_dir(out)
    try:  # the backend's own files (emulation logs, counters) land in DIR/work/
        result = execute(scenario, backend, seed=seed, work_dir=tmp / "work", step=step, quiet=quiet)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    paths = write_outputs(result, out, wall_s=time.perf_counter() - t0, step=step, tmp=tmp)
    return result, paths


# ---- one point of a sweep (runs on a Dask worker) ----------------------------------------


def run_sweep_point(index: int, values: dict[str, Any], base: dict[str, Any], fixed: dict[str, Any],
                    out_dir: str, backend: str | None) -> dict[str, Any]:
    """Run one grid point into ``out_dir``; a failure becomes the row's ``error``, never an exception."""
    from throttlebed.experiments.sweep import point_scenario

    t0 = time.perf_counter()
    row: dict[str, Any] = {"index": index, **{f"grid.{k}": v for k, v in values.items()}}
    try:
        scenario = point_scenario(base, fixed, values, index)
        result, _ = run(scenario, Path(out_dir), backend=backend, quiet=True)
        row.update(V.summarize_cells(result.final.cells))
        row.update({"pass": result.passed, "backend": result.backend,
                    "collateral_unaffected": result.final.collateral.get("unaffected"),
                    "out": str(out_dir), "error": None})
    except Exception as e:
        row.update({"pass": False, "error": f"{type(e).__name__}: {e}"})
    row["wall_s"] = round(time.perf_counter() - t0, 3)
    return row
