"""Conformance of a given directive to the Rules: its rows against the statistics it came from.

Pure functions of data (a directive, a validated measurement table, optionally a case): no files.
Every finding carries a fixed ``code``:

- ``peak_mismatch`` (error): the cell's peak recomputed from the statistics with the directive's own
  method (statistic, direction; item 8, :func:`~throttlebed.directive.statistics.compute_peaks`)
  differs from the row's ``peak_kbps`` by more than ``PEAK_TOLERANCE_KBPS``, or no sample falls in
  the cell;
- ``cap_mismatch`` (error): ``cap_kbps`` differs from ``floor(peak x (100 - stage) / 100)`` on the
  recomputed peak (item 9, exact: :func:`~throttlebed.directive.caps.cap_kbps`);
- ``missing_cell`` (error): a region present in the statistics has no row for a period of the
  directive's period set (the distinct periods of its rows);
- ``extra_cell`` (error): a row for a region absent from the statistics;
- ``period_overlap`` (error): two rows of one region overlap;
- ``uncovered_hours`` (warning): parts of a region's day no row covers (traffic there is uncapped);
- with a case: ``stage_not_due`` (error): the directive's stage is not yet in force on the date
  checked (``on``, else the directive's date) under the case's stage reading (item 9), and
  ``before_stats_reply`` (error): the directive is dated before the item 8 reply (the reply is
  taken on its due date, ``stats_reply_due`` of the case's timeline).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import model_validator

from throttlebed.directive.caps import cap_kbps
from throttlebed.directive.case import Case
from throttlebed.directive.periods import MINUTES_PER_DAY, Period, PeriodSet
from throttlebed.directive.schema import Directive
from throttlebed.directive.statistics import compute_peaks, infer_sampling_interval_s
from throttlebed.errors import InputError
from throttlebed.validation import model_from_data, parse_yaml, read_text

PEAK_TOLERANCE_KBPS = 0.5
Severity = Literal["error", "warning"]
CODES: dict[str, Severity] = {
    "peak_mismatch": "error",
    "cap_mismatch": "error",
    "missing_cell": "error",
    "extra_cell": "error",
    "period_overlap": "error",
    "uncovered_hours": "warning",
    "stage_not_due": "error",
    "before_stats_reply": "error",
}


@dataclass(frozen=True)
class Finding:
    """One departure of the directive from the Rules or from its statistics."""

    code: str
    region: str | None
    period: str | None
    row: int | None
    expected: Any
    actual: Any
    message: str

    @property
    def severity(self) -> Severity:
        """``error`` or ``warning``, fixed by the code."""
        return CODES[self.code]

    def to_data(self) -> dict[str, Any]:
        """The JSON form (``check --json``'s finding)."""
        d = asdict(self)
        return {"code": d["code"], "severity": self.severity, "region": d["region"], "period": d["period"],
                "row": d["row"], "expected": d["expected"], "actual": d["actual"], "message": d["message"]}


@dataclass(frozen=True)
class ConformanceReport:
    """All findings; the directive conforms when none is an error."""

    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def conforms(self) -> bool:
        """No finding of severity ``error``."""
        return not any(f.severity == "error" for f in self.findings)

    def codes(self) -> list[str]:
        """The codes found, in order."""
        return [f.code for f in self.findings]

    def to_data(self) -> dict[str, Any]:
        """``{"conforms": bool, "findings": [...]}``."""
        return {"conforms": self.conforms, "findings": [f.to_data() for f in self.findings]}


class CheckedDirective(Directive):
    """A directive read for a conformance check: overlapping or repeated rows are findings, not errors."""

    @model_validator(mode="after")
    def _rows_consistent(self) -> CheckedDirective:  # overrides Directive's refusal of overlaps
        return self


def load_directive_for_check(path: str) -> CheckedDirective:
    """Read a directive file, keeping rows that overlap (they become ``period_overlap`` findings)."""
    return model_from_data(CheckedDirective, parse_yaml(read_text(path), path), path,
                           "a directive must be a mapping with 'platform', 'stage' and 'rows'")


def distinct_periods(directive: Directive) -> list[Period]:
    """The directive's distinct periods in row order, leaving out any that overlap an earlier one."""
    out: list[Period] = []
    for row in directive.rows:
        p = row.period_obj
        if p not in out and not any(p.overlaps(q) for q in out):
            out.append(p)
    return out


def _uncovered(periods: list[Period]) -> list[Period]:
    mask = np.zeros(MINUTES_PER_DAY, dtype=bool)
    for p in periods:
        for a, b in p.segments():
            mask[a:b] = True
    if mask.all():
        return []
    return PeriodSet([Period(a, b) for a, b in _runs(mask)]).uncovered()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The ``[start, end)`` runs of True in a minute mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def check_statistics(stats: pd.DataFrame, directive: Directive, source: str | None = None) -> None:
    """Refuse statistics no peak can be taken from under the directive's method (InputError)."""
    method = directive.method
    df = stats
    if "traffic" in df.columns:
        df = df[df["traffic"] == "platform"]
    if method is not None and method.direction is not None and "direction" in df.columns:
        if not (df["direction"] == method.direction).any():
            raise InputError(f"no samples in direction {method.direction!r}, the directive's "
                             "method.direction", source=source, where="direction")
        df = df[df["direction"] == method.direction]
    if df.empty:
        raise InputError("no platform samples", source=source)
    counts = df.groupby("region").size()
    if (counts < 2).any():
        region = str(counts.index[counts.to_numpy() < 2][0])
        row = int(np.flatnonzero((stats["region"] == region).to_numpy())[0])
        raise InputError(f"region {region} has one sample only (need two to know the sampling interval)",
                         source=source, where=f"row {row + 1}.region")
    interval_s = infer_sampling_interval_s(df)
    if method is not None and abs(interval_s - method.sampling_interval_s) > 1e-6:
        raise InputError(f"sampling interval {interval_s:g} s differs from the directive's "
                         f"method.sampling_interval_s {method.sampling_interval_s:g} s", source=source,
                         where="time")


def _coverage_findings(directive: Directive) -> list[Finding]:
    findings: list[Finding] = []
    for region in directive.regions():
        indexed = [(i, r) for i, r in enumerate(directive.rows) if r.region == region]
        for k, (i, row) in enumerate(indexed):
            for j, earlier in indexed[:k]:
                if row.period_obj.overlaps(earlier.period_obj):
                    findings.append(Finding(
                        "period_overlap", region, row.period, i, None, earlier.period,
                        f"rows[{i}] {region} {row.period} overlaps rows[{j}] {earlier.period}"))
        for gap in _uncovered([r.period_obj for _, r in indexed]):
            findings.append(Finding("uncovered_hours", region, str(gap), None, None, None,
                                    f"{region}: no row covers {gap} (traffic there is not capped)"))
    return findings


def _cell_findings(directive: Directive, stats: pd.DataFrame) -> list[Finding]:
    method = directive.method
    statistic = method.statistic if method is not None else "max"
    direction = method.direction if method is not None else "down"
    platform = stats[stats["traffic"] == "platform"] if "traffic" in stats.columns else stats
    stats_regions = list(dict.fromkeys(platform["region"]))
    by_region = {r: g for r, g in platform.groupby("region", sort=False)}
    findings: list[Finding] = []
    for i, row in enumerate(directive.rows):
        if row.region not in by_region:
            findings.append(Finding("extra_cell", row.region, row.period, i, None, row.cap_kbps,
                                    f"rows[{i}]: {row.region} has no samples in the statistics"))
            continue
        table = compute_peaks(by_region[row.region], PeriodSet([row.period_obj]), statistic=statistic,
                              direction=direction).table
        if table.empty:
            findings.append(Finding("peak_mismatch", row.region, row.period, i, None, row.peak_kbps,
                                    f"rows[{i}]: no sample of the statistics falls in {row.region} "
                                    f"{row.period}"))
            continue
        peak = float(table["peak_kbps"].iloc[0])
        if abs(peak - row.peak_kbps) > PEAK_TOLERANCE_KBPS:
            findings.append(Finding("peak_mismatch", row.region, row.period, i, round(peak, 3), row.peak_kbps,
                                    f"rows[{i}]: {row.region} {row.period} peak is {peak:.3f} kbit/s by "
                                    f"{statistic} of the statistics, the row states {row.peak_kbps:g}"))
        cap = cap_kbps(peak, directive.stage)
        if cap != row.cap_kbps:
            findings.append(Finding("cap_mismatch", row.region, row.period, i, cap, row.cap_kbps,
                                    f"rows[{i}]: {row.region} {row.period} cap at stage {directive.stage}% "
                                    f"of the peak {peak:.3f} is {cap} kbit/s, the row states {row.cap_kbps}"))
    period_set = distinct_periods(directive)
    for region in stats_regions:
        have = {r.period_obj for r in directive.rows_for(region)}
        for p in period_set:
            if p not in have:
                findings.append(Finding("missing_cell", region, str(p), None, str(p), None,
                                        f"{region} is in the statistics but has no row for {p}"))
    return findings


def _case_findings(directive: Directive, case: Case, on: date | None) -> list[Finding]:
    timeline = case.timeline()
    findings: list[Finding] = []
    checked = on or directive.directive_date
    if checked is None:
        raise InputError("the directive has no directive_date: give the date to check", where="--on")
    step = next((s for s in timeline.stages if round(s.reduction * 100) == directive.stage), None)
    if step is None:
        raise InputError(f"the case's stage_schedule has no stage {directive.stage}%", where="stage_schedule")
    if checked < step.start:
        findings.append(Finding(
            "stage_not_due", None, None, None, step.start.isoformat(), checked.isoformat(),
            f"stage {directive.stage}% is in force from {step.start.isoformat()} ({timeline.stage_reading} "
            f"reading, item {step.item}), not on {checked.isoformat()}"))
    dated = directive.directive_date or on
    if dated is not None and dated < timeline.stats_reply_due:
        findings.append(Finding(
            "before_stats_reply", None, None, None, timeline.stats_reply_due.isoformat(), dated.isoformat(),
            f"the directive is dated {dated.isoformat()}, before the statistics reply "
            f"({timeline.stats_reply_due.isoformat()}, item 8)"))
    return findings


def check_conformance(directive: Directive, stats_table: pd.DataFrame | None = None, case: Case | None = None,
                      on: date | None = None) -> ConformanceReport:
    """Every finding of ``directive`` against its statistics (validated table) and case."""
    if case is not None and case.platform != directive.platform:
        raise InputError(f"the case is for {case.platform!r}, the directive for {directive.platform!r}",
                         where="platform")
    findings = _coverage_findings(directive)
    if stats_table is not None:
        check_statistics(stats_table, directive)
        findings += _cell_findings(directive, stats_table)
    if case is not None:
        findings += _case_findings(directive, case, on)
    return ConformanceReport(tuple(findings))


def located_conformance(directive: Directive, stats: pd.DataFrame | None, case: Case | None,
                        on: date | None, *,
                        directive_source: str, stats_source: str | None = None,
                        case_source: str | None = None) -> ConformanceReport:
    """:func:`check_conformance`, with bad input attributed to the file it came from."""
    if stats is not None:
        try:
            check_statistics(stats, directive)
        except InputError as e:
            raise e.located(stats_source or "statistics") from None
    try:
        return check_conformance(directive, stats, case, on)
    except InputError as e:
        raise e.located(case_source if case is not None and case_source else directive_source) from None
