"""The whole pipeline of one scenario: baseline -> peaks -> directive -> enforcement -> verdict -> report.

1. baseline: the day without a directive (measurement table, ``phase == 'baseline'``);
2. statistics (Rules item 8): peaks per (region, period) of the platform's downstream samples;
3. directive (item 9, Appendix 3): caps for each stage of the scenario, all from the same peaks;
4. enforcement (item 10): the same day (same seed, so the same demand) under each directive;
5. verification: the verdict per (region, period), the collateral on other traffic, and the user
   impact (completion times of the same sessions with and without the directive);
6. outputs, written into a temporary directory beside DIR and moved into DIR only when complete.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from throttlebed.directive.caps import derive_directive
from throttlebed.directive.conformance import distinct_periods
from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.schema import Directive, directive_to_yaml, load_directive
from throttlebed.directive.statistics import PeakResult, compute_peaks
from throttlebed.errors import RunFailure
from throttlebed.experiments import impact as I
from throttlebed.experiments import verdict as V
from throttlebed.experiments.backends import Backend, DayRun, get_backend
from throttlebed.experiments.demand import (
    Demand,
    check_regions_sampled,
    load_demand,
    replay_days,
    replay_errors,
    replay_sessions,
)
from throttlebed.experiments.junit import write_junit
from throttlebed.experiments.report import render_report
from throttlebed.experiments.result import (
    RunResult,
    StageResult,
    cells_table,
    measurements_table,
    verdict_document,
)
from throttlebed.experiments.scenario import Scenario
from throttlebed.fileio import atomic_write_text, json_text, partial_dir, publish_dir, yaml_text
from throttlebed.held import held
from throttlebed.measurements import share_columns
from throttlebed.memory import release_free_memory
from throttlebed.timescale import TimeScale

Step = Callable[[str], None]


def _quiet_step(_: str) -> None:
    return None


def burst_allowance(scenario: Scenario, backend: Backend) -> float:
    """What a full meter bucket adds to one sampling interval, as a fraction of the cap."""
    b = scenario.backend
    return TimeScale(backend.time_scale(scenario)).burst_allowance(b.burst_s, b.sampling_interval_s)


def _platform_samples(df: pd.DataFrame, source: str | None) -> pd.DataFrame:
    if source is not None and "source" in df.columns:
        if not (df["source"] == source).any():
            raise RuntimeError(f"the backend produced no samples from source {source!r}")
        return df.loc[df["source"] == source]
    return df


def _replayed(scenario: Scenario, demand: Demand | None, given: Directive | None,
              backend_name: str) -> tuple[Scenario, list[date]]:
    """The scenario as run (sampling interval and first day of the statistics) and its days."""
    if demand is None:
        return scenario, [scenario.day]  # type: ignore[list-item]
    check_regions_sampled(demand, scenario.region_list())
    periods = scenario.period_set() if scenario.periods else None
    days = replay_days(demand, backend_name, scenario.demand.day if scenario.demand else None, given, periods)
    b = scenario.backend.model_copy(update={"sampling_interval_s": demand.interval_s})
    return scenario.model_copy(update={"backend": b, "day": days[0]}), days


def run_day(be: Backend, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
            quiet: bool, sessions: pd.DataFrame | None = None) -> DayRun:
    """The backend's day with session outcomes (a backend with only ``run`` gives none)."""
    extra = {"sessions": sessions} if sessions is not None else {}
    if hasattr(be, "run_day"):
        return be.run_day(scenario, directive, seed=seed, work_dir=work_dir, quiet=quiet, **extra)
    return DayRun(be.run(scenario, directive, seed=seed, work_dir=work_dir, quiet=quiet, **extra), None)


def _run_days(be: Backend, scenario: Scenario, directive: Directive | None, days: list[date],
              sessions: dict[date, pd.DataFrame] | None, *, seed: int, work: Path,
              quiet: bool) -> DayRun:
    """One backend run per day (one for a synthetic load), concatenated."""
    parts = []
    for day in days:
        sc = scenario.model_copy(update={"day": day})
        name = "baseline" if directive is None else f"stage-{directive.stage}"
        sub = work / (name if len(days) == 1 else f"{name}-{day.isoformat()}")
        parts.append(run_day(be, sc, directive, seed=seed, work_dir=sub, quiet=quiet,
                             sessions=sessions[day] if sessions is not None else None))
    if len(parts) == 1:
        return parts[0]
    outcomes = None if any(p.sessions is None for p in parts) else \
        pd.concat([p.sessions for p in parts], ignore_index=True)
    return DayRun(pd.concat([p.measurements for p in parts], ignore_index=True), outcomes)


def rows_in_window(directive: Directive, scenario: Scenario) -> Directive:
    """The directive cut to the rows whose period meets the scenario's window (the cells a run can judge)."""
    b = scenario.backend
    minutes = range(int(b.start_s // 60), int(math.ceil(b.end_s / 60)))
    rows = directive.cap_table.rows_meeting(minutes)
    if not rows or len(rows) == len(directive.rows):
        return directive
    return directive.model_copy(update={"rows": rows})


def _given_peaks(stats: pd.DataFrame, given: Directive, scenario: Scenario, source: str) -> PeakResult:
    """Peaks of the baseline in the given directive's periods (for the report's context)."""
    return compute_peaks(stats, PeriodSet(distinct_periods(given)), statistic=scenario.peaks.statistic,
                         direction=scenario.peaks.direction, source=source)


def execute(scenario: Scenario, backend: Backend | str | None = None, *, seed: int | None = None,
            work_dir: Path | None = None, step: Step = _quiet_step, quiet: bool = True,
            directive: Directive | None = None, demand: Demand | None = None) -> RunResult:
    """Run the scenario's pipeline in memory and return every table and verdict.

    A scenario naming ``directive:`` enforces that directive instead of deriving one, and one naming
    ``demand:`` replays those statistics instead of the synthetic load (every day on sim, one on
    mininet). ``directive`` and ``demand`` may be given already read.
    """
    be = get_backend(backend or scenario.backend.default) if not hasattr(backend, "run") else backend
    seed = scenario.seed if seed is None else seed
    given = directive or (load_directive(scenario.directive) if scenario.directive is not None else None)
    demand = demand or (load_demand(scenario.demand.stats) if scenario.demand is not None else None)
    scenario, days = _replayed(scenario, demand, given, be.name)
    source = scenario.backend.measurement_source or be.primary_source
    tol = scenario.tolerance.to_tolerances(burst_allowance(scenario, be))
    timings: dict[str, float] = {}
    own_tmp = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="throttlebed-run-")) if own_tmp else work_dir
    replay = None
    base_outcomes = None
    try:
        sessions = None
        if demand is not None:
            step(f"fitting demand to {demand.source} ({len(days)} day(s))")
            t0 = time.perf_counter()
            window = (scenario.backend.start_s, scenario.backend.end_s)
            sessions = {d: replay_sessions(demand, d, scenario.region_list(), scenario.load, seed, window)
                        for d in days}
            timings["demand_fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        step(f"baseline day on {be.name} ({len(scenario.region_list())} regions"
             + (f", {len(days)} days replayed)" if len(days) > 1 else ")"))
        base_day = _run_days(be, scenario, None, days, sessions, seed=seed, work=work, quiet=quiet)
        baseline = base_day.measurements
        timings["baseline_s"] = time.perf_counter() - t0
        base_outcomes = held(base_day.sessions)
        service = V.baseline_service(base_outcomes)
        _check_baseline_service(service, tol.baseline_not_served, be.name)

        step("peaks and directive (Rules items 8-9)")
        t0 = time.perf_counter()
        stats = _platform_samples(baseline, source)
        if given is not None:
            peaks = _given_peaks(stats, given, scenario, f"{be.name}:{source}")
            directives = [given]
        else:
            peaks = compute_peaks(stats, scenario.period_set(), statistic=scenario.peaks.statistic,
                                  direction=scenario.peaks.direction, source=f"{be.name}:{source}")
            directives = [
                derive_directive(peaks, stage, scenario.platform.name,
                                 [str(p) for p in scenario.platform.prefixes], **scenario.case.fields())
                for stage in scenario.stage_list()
            ]
        if demand is not None:
            b = scenario.backend
            errors = replay_errors(demand, stats, days, scenario.region_list(), (b.start_s, b.end_s))
            replay = {"source": demand.source, "days": [d.isoformat() for d in days],
                      "intervals": int(errors.size), "measured_by": source,
                      "replay_error_median": float(np.median(errors)) if errors.size else None,
                      "replay_error_p95": float(np.quantile(errors, 0.95)) if errors.size else None}
        timings["peaks_s"] = time.perf_counter() - t0

        stages: list[StageResult] = []
        for d in directives:
            step(f"enforcement of stage {d.stage}% on {be.name}")
            t0 = time.perf_counter()
            enf_day = _run_days(be, scenario, d, days, sessions, seed=seed, work=work, quiet=quiet)
            enforced = enf_day.measurements
            timings[f"enforced_{d.stage}_s"] = time.perf_counter() - t0
            lift_s, interval_s = scenario.lift_s, scenario.backend.sampling_interval_s
            cells = V.cell_verdicts(baseline, enforced, rows_in_window(d, scenario), tol, source=source,
                                    direction=scenario.peaks.direction,
                                    judged_until_s=None if lift_s is None else lift_s - interval_s)
            ctable = V.collateral_table(baseline, enforced, tol, source=source, judged_direction="down")
            lift = None
            if lift_s is not None:
                direction = scenario.peaks.direction
                directions = ["down", "up"] if direction == "both" else [direction]
                lift = V.lift_summary(V.lift_recovery(baseline, enforced, lift_s, directions, tol,
                                                      source=source), lift_s, interval_s, tol)
            impact = impact_overall = None
            if base_outcomes is not None and enf_day.sessions is not None:
                if isinstance(base_day.sessions, pd.DataFrame) and isinstance(enf_day.sessions, pd.DataFrame):
                    enf_day.sessions = share_columns(base_day.sessions, enf_day.sessions)
                enf_outcomes = held(enf_day.sessions)
                impact, impact_overall = I.stage_impact(base_outcomes, enf_outcomes, d)
                enf_outcomes.release()
                del enf_outcomes
            del enf_day  # its outcome table (17 M rows at full scale) is not kept past its impact
            release_free_memory()
            stages.append(StageResult(d.stage, d, enforced, cells, ctable, V.collateral_summary(ctable, tol),
                                      lift, impact, impact_overall))
    finally:
        if base_outcomes is not None:  # on a cluster: its workers let the baseline's outcomes go
            base_outcomes.release()
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    return RunResult(scenario, be.name, seed, be.time_scale(scenario), be.rate_scale(scenario),
                     tol.burst_allowance, source, baseline, peaks, stages, timings, demand=replay,
                     baseline_service=service)


def _check_baseline_service(service: dict[str, Any] | None, limit: float, backend: str) -> None:
    """RunFailure when the baseline left more than ``limit`` of its sessions not served."""
    if service is None or service["share_not_served"] <= limit:
        return
    raise RunFailure(
        f"the baseline on {backend} left {service['share_not_served']:.1%} of its sessions not served "
        f"({service['not_served']} of {service['completed'] + service['not_served']}; "
        f"tolerance.baseline_not_served is {limit:.1%}): the testbed could not carry the load, so peaks "
        "taken from it would be too low; give the emulation more real time (a smaller backend.time_scale) "
        "or less load")


def write_outputs(r: RunResult, out: Path, *, wall_s: float | None = None, step: Step = _quiet_step,
                  tmp: Path | None = None,
                  validation: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                  junit: Path | None = None) -> dict[str, Path]:
    """Write every output of a run into ``out``; nothing appears there unless all of it was written.

    ``tmp``: the partial directory to complete and publish (it may already hold backend work files).
    ``validation``: makes validation.json from verdict.json's document (``throttlebed validate``);
    the report then opens with its conformance section.
    ``junit``: also write the verdict as JUnit XML there (after the directory is published).
    """
    out = Path(out)
    tmp = tmp or partial_dir(out)
    try:
        step("writing outputs and the report")
        atomic_write_text(tmp / "directive.yaml", directive_to_yaml(r.final.directive))
        if len(r.stages) > 1:
            for s in r.stages:
                atomic_write_text(tmp / f"directive-stage{s.stage}.yaml", directive_to_yaml(s.directive))
        atomic_write_text(tmp / "scenario.yaml", yaml_text(r.scenario.to_data()))
        measurements_table(r).to_parquet(tmp / "measurements.parquet", index=False)
        cells_table(r).to_parquet(tmp / "cells.parquet", index=False)
        doc = verdict_document(r, wall_s)
        atomic_write_text(tmp / "verdict.json", json_text(doc))
        vdoc = validation(doc) if validation is not None else None
        if vdoc is not None:
            atomic_write_text(tmp / "validation.json", json_text(vdoc))
        render_report(r, doc, tmp, validation=vdoc)
        publish_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    names = ["directive.yaml", "scenario.yaml", "measurements.parquet", "cells.parquet", "verdict.json",
             "report.html", *(["validation.json"] if validation is not None else [])]
    paths = {n: out / n for n in names}
    if junit is not None:
        paths["junit"] = write_junit(doc, junit)
    return paths


def run(scenario: Scenario, out: Path, *, backend: Backend | str | None = None, seed: int | None = None,
        step: Step = _quiet_step, quiet: bool = True,
        junit: Path | None = None) -> tuple[RunResult, dict[str, Path]]:
    """Execute a scenario and write its outputs into ``out`` (and JUnit XML into ``junit``)."""
    t0 = time.perf_counter()
    out = Path(out)
    tmp = partial_dir(out)
    try:  # the backend's own files (emulation logs, counters) land in DIR/work/
        result = execute(scenario, backend, seed=seed, work_dir=tmp / "work", step=step, quiet=quiet)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    paths = write_outputs(result, out, wall_s=time.perf_counter() - t0, step=step, tmp=tmp, junit=junit)
    return result, paths


# ---- one point of a sweep (runs on a Dask worker) ----------------------------------------


def run_sweep_point(index: int, values: dict[str, Any], base: dict[str, Any], fixed: dict[str, Any],
                    out_dir: str, backend: str | None) -> dict[str, Any]:
    """Run one grid point into ``out_dir``; a failure becomes the row's ``error``, never an exception.

    An emulated point runs in a process of its own (:mod:`throttlebed.experiments.point_process`),
    so that a signal reaches the main thread that cleans its network up.
    """
    from throttlebed.experiments.sweep import run_data

    try:
        runs_on = backend or (run_data(base, fixed, values).get("backend") or {}).get("default", "sim")
    except Exception:  # bad values: run_point_here turns them into the row's error
        runs_on = "sim"
    if runs_on == "mininet":
        from throttlebed.experiments.point_process import run_in_child

        return run_in_child(index, values, base, fixed, out_dir, backend)
    return run_point_here(index, values, base, fixed, out_dir, backend)


def run_point_here(index: int, values: dict[str, Any], base: dict[str, Any], fixed: dict[str, Any],
                   out_dir: str, backend: str | None) -> dict[str, Any]:
    """Run one grid point in this process (see :func:`run_sweep_point`)."""
    from throttlebed.experiments.sweep import point_scenario

    t0 = time.perf_counter()
    row: dict[str, Any] = {"index": index, **{f"grid.{k}": v for k, v in values.items()}}
    try:
        scenario = point_scenario(base, fixed, values, index)
        name = backend or scenario.backend.default
        # the sweep spreads its points over the workers: each point steps one region at a time
        be = get_backend(name, threads=1) if name == "sim" else name
        result, _ = run(scenario, Path(out_dir), backend=be, quiet=True)
        row.update(V.summarize_cells(result.final.cells))
        row.update({"pass": result.passed, "backend": result.backend,
                    "collateral_unaffected": result.final.collateral.get("unaffected"),
                    "out": str(out_dir), "error": None})
    except Exception as e:
        row.update({"pass": False, "error": f"{type(e).__name__}: {e}"})
    row["wall_s"] = round(time.perf_counter() - t0, 3)
    return row
