"""``throttlebed validate``: a directive against the Rules and under demand replayed from its statistics.

1. conformance (:mod:`throttlebed.directive.conformance`): the directive's rows recomputed from the
   statistics with its own method, and (with a case) whether its stage is due;
2. enforcement: the statistics replayed as trace-driven load (:mod:`throttlebed.sim.replay`), a
   baseline and an enforced run of the *given* directive on the chosen backend, judged by the same
   runner and verdict as ``throttlebed run`` (:func:`throttlebed.experiments.runner.execute`);
3. outputs in DIR, published only when complete: validation.json, report.html (conformance first),
   measurements.parquet, verdict.json, the directive and its Appendix 3 document.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from throttlebed.directive.case import load_case
from throttlebed.directive.conformance import ConformanceReport, load_directive_for_check, located_conformance
from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import Directive, directive_from_data
from throttlebed.errors import InputError
from throttlebed.experiments import runner
from throttlebed.experiments.demand import demand_from_table
from throttlebed.experiments.result import RunResult
from throttlebed.experiments.scenario import Scenario, read_scenario_data, scenario_from_data
from throttlebed.fileio import partial_dir
from throttlebed.measurements import read_measurements


def default_scenario(backend: str) -> Path:
    """The shipped scenario of network and backend settings for ``validate`` on ``backend``."""
    return Path(str(resources.files("throttlebed.experiments") / "scenarios" / f"validate-{backend}.yaml"))


@dataclass
class Validation:
    """What ``validate`` produced: its document, the run (None when nothing could be enforced), paths."""

    document: dict[str, Any]
    result: RunResult | None
    paths: dict[str, Path]

    @property
    def passed(self) -> bool:
        """Conforms and the enforcement verdict passed."""
        return bool(self.document["pass"])


def validation_scenario(base: dict[str, Any], directive: Directive, directive_path: Path, stats_path: Path,
                        stats_regions: list[str], day: date | None, source: str) -> Scenario:
    """The scenario ``validate`` runs: the base's network and backend settings, the given directive and
    the statistics' demand, every region of either."""
    replaced = ("stage", "stages", "periods", "day", "directive", "demand")
    data = {k: v for k, v in base.items() if k not in replaced}
    wanted = set(directive.regions()) | set(stats_regions)
    data["regions"] = [r for r in region_codes() if r in wanted]
    data["name"] = re.sub(r"[^A-Za-z0-9._-]+", "-", f"validate-{directive_path.stem}")
    platform = {"name": directive.platform,
                "prefixes": [str(p) for p in directive.platform_prefixes]
                or (base.get("platform") or {}).get("prefixes") or ["203.0.113.0/24"]}
    data["platform"] = platform
    data["directive"] = str(directive_path.resolve())
    data["demand"] = {"stats": str(stats_path.resolve()), **({"day": day.isoformat()} if day else {})}
    return scenario_from_data(data, source=source)


def _strict(checked: Directive) -> Directive | None:
    """The directive as the controller takes it, or None when its rows overlap (nothing to enforce)."""
    try:
        return directive_from_data(checked.to_data())
    except InputError:
        return None


def validate(directive_path: Path, stats_path: Path, *, case_path: Path | None = None, backend: str = "sim",
             scenario_path: Path | None = None, out: Path | None = None, day: date | None = None,
             on: date | None = None, seed: int | None = None, step: runner.Step = runner._quiet_step,
             quiet: bool = True, junit: Path | None = None) -> Validation:
    """Check, replay, enforce, judge and write; bad input raises InputError before anything is written.

    ``junit``: also write the enforcement verdict as JUnit XML there (one case per cell).
    """
    t0 = time.perf_counter()
    checked = load_directive_for_check(str(directive_path))
    table = read_measurements(stats_path)
    case = load_case(case_path) if case_path is not None else None
    step("conformance to the Rules (items 8-9)")
    report = located_conformance(checked, table, case, on, directive_source=str(directive_path),
                                 stats_source=str(stats_path), case_source=str(case_path))
    demand = demand_from_table(table, str(stats_path))
    base_path = scenario_path or default_scenario(backend)
    scenario = validation_scenario(read_scenario_data(base_path), checked, directive_path, stats_path,
                                   sorted(set(demand.stats["region"])), day, str(base_path))
    out = out or Path("out") / scenario.name
    enforced = _strict(checked)
    if enforced is None:
        return _conformance_only(report, demand.source, out, checked)
    tmp = partial_dir(out)
    try:
        result = runner.execute(scenario, backend, seed=seed, work_dir=tmp / "work", step=step, quiet=quiet,
                                directive=enforced, demand=demand)
    except InputError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.where == "demand.day":  # the scenario's demand.day is this command's --day
            raise InputError(e.reason, where="--day") from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    holder: dict[str, Any] = {}

    def document(verdict: dict[str, Any]) -> dict[str, Any]:
        holder["doc"] = validation_document(report, verdict, result.demand)
        return holder["doc"]

    paths = runner.write_outputs(result, out, wall_s=time.perf_counter() - t0, step=step, tmp=tmp,
                                 validation=document, junit=junit)
    return Validation(holder["doc"], result, paths)


def validation_document(report: ConformanceReport, verdict: dict[str, Any] | None,
                        demand: dict[str, Any] | None) -> dict[str, Any]:
    """validation.json: pass, conformance (as ``directive check --json``), enforcement (verdict.json),
    demand."""
    enforcement_pass = bool(verdict and verdict.get("pass"))
    return {"pass": report.conforms and enforcement_pass, "conformance": report.to_data(),
            "enforcement": verdict, "demand": demand}


def _conformance_only(report: ConformanceReport, source: str, out: Path, checked: Directive) -> Validation:
    """Rows that overlap cannot be put on a switch: write the conformance and the directive only."""
    from throttlebed.directive.schema import directive_to_yaml
    from throttlebed.fileio import atomic_write_text, json_text, publish_dir

    doc = validation_document(report, None, {"source": source, "days": [], "intervals": 0,
                                             "replay_error_median": None, "replay_error_p95": None})
    tmp = partial_dir(out)
    try:
        atomic_write_text(tmp / "validation.json", json_text(doc))
        atomic_write_text(tmp / "directive.yaml", directive_to_yaml(checked))
        publish_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Validation(doc, None, {n: out / n for n in ("validation.json", "directive.yaml")})
