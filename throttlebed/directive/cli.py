"""``throttlebed directive derive|check``: statistics -> peaks -> caps, and validation."""

from __future__ import annotations

import json
import sys
from datetime import date
from ipaddress import IPv4Network
from pathlib import Path

import click
from pydantic import TypeAdapter, ValidationError

from throttlebed.directive.caps import derive_directive
from throttlebed.directive.case import load_case
from throttlebed.directive.conformance import (
    ConformanceReport,
    load_directive_for_check,
    located_conformance,
)
from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.schema import (
    DEFAULT_DIRECTION,
    Directive,
    directive_to_json,
    directive_to_yaml,
    load_directive,
    save_directive,
)
from throttlebed.directive.statistics import TRAFFIC_DIRECTIONS, compute_peaks, peak_statistic
from throttlebed.errors import InputError
from throttlebed.measurements import read_measurements

_PREFIX = TypeAdapter(IPv4Network)  # the type of Directive.platform_prefixes

CHECK_FAILED = 3


def _note(message: str) -> None:
    click.echo(f"throttlebed: note: {message}", err=True)


def _coverage_notes(directive: Directive) -> list[str]:
    return [
        f"{region}: no period covers {', '.join(gaps)} (traffic there is not capped)"
        for region, gaps in directive.uncovered().items()
    ]


def _check_statistic(statistic: str) -> None:
    """Refuse a ``--statistic`` that is neither max nor a percentile."""
    try:
        peak_statistic(statistic)
    except InputError as e:
        raise InputError(e.reason, where="--statistic") from None


def _check_prefixes(prefixes: tuple[str, ...]) -> None:
    """Refuse a ``--prefix`` that is not an IPv4 network."""
    for p in prefixes:
        try:
            _PREFIX.validate_python(p)
        except ValidationError as e:
            raise InputError(f"{p!r}: {e.errors()[0]['msg']}", where="--prefix") from None


@click.group()
def directive() -> None:
    """Directives of Appendix 3: derive from statistics, check, render."""


@directive.command()
@click.option("--stats", "stats_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="measurement table (CSV or Parquet): time, region, kbps")
@click.option("--periods", "periods_spec", required=True,
              help="periods of the day, e.g. 00:00-07:00,07:00-18:00,18:00-23:00,23:00-00:00")
@click.option("--stage", required=True, type=click.Choice(["10", "50", "90"]),
              help="reduction from the peak, percent (Rules item 9)")
@click.option("--platform", default="platform", show_default=True, help="platform name")
@click.option("--prefix", "prefixes", multiple=True, help="platform address prefix (repeatable)")
@click.option("--statistic", default="max", show_default=True,
              help="peak statistic: max (the highest value) or a percentile like p99")
@click.option("--direction", default=str(DEFAULT_DIRECTION), show_default=True,
              help="traffic the peaks and caps are of: down, up, both (each direction its own "
                   "rows) or sum (down + up together, one shared meter)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="write to FILE instead of stdout")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML")
def derive(stats_path: Path, periods_spec: str, stage: str, platform: str, prefixes: tuple[str, ...],
           statistic: str, direction: str, output: Path | None, as_json: bool) -> None:
    """Derive a directive: peaks per (region, period) of the statistics, capped by STAGE percent."""
    if output is not None:
        from throttlebed.fileio import check_output_file

        check_output_file(output, "-o", inputs=[stats_path])
    try:
        periods = PeriodSet.parse(periods_spec)
    except InputError as e:
        raise InputError(e.reason, where="--periods") from None
    if direction not in TRAFFIC_DIRECTIONS:
        raise InputError(f"must be down, up, both or sum, got {direction!r}", where="--direction")
    if not platform:
        raise InputError("must not be empty", where="--platform")
    _check_statistic(statistic)
    _check_prefixes(prefixes)
    measurements = read_measurements(stats_path)
    try:
        peaks = compute_peaks(measurements, periods, statistic=statistic, direction=direction,
                              source=str(stats_path))
        result = derive_directive(peaks, int(stage), platform=platform, platform_prefixes=prefixes)
    except InputError as e:
        raise e.located(str(stats_path)) from None
    for row in peaks.unassigned.itertuples(index=False):
        _note(f"{row.region}: {row.samples} samples fall in no period and were not used")
    if not periods.covers_whole_day():
        gaps = ", ".join(str(p) for p in periods.uncovered())
        _note(f"no period covers {gaps} (traffic there is not capped)")
    if output is not None:
        if as_json and output.suffix != ".json":
            from throttlebed.fileio import atomic_write_text

            atomic_write_text(output, directive_to_json(result))
        else:
            save_directive(result, output)
        click.echo(str(output))
    else:
        click.echo(directive_to_json(result) if as_json else directive_to_yaml(result), nl=False)


@directive.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--stats", "stats_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the statistics the directive was derived from (CSV/Parquet): check it row by row")
@click.option("--case", "case_path", type=click.Path(path_type=Path), default=None,
              help="the case (YAML): check the stage is due and the statistics reply came first")
@click.option("--on", "on_date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="date to check the stage on (default: the directive's directive_date)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
def check(path: Path, stats_path: Path | None, case_path: Path | None, on_date, as_json: bool) -> None:
    """Validate a directive file (YAML or JSON): exit 0 if valid, 2 with the reason if not.

    With --stats and/or --case: conformance to the Rules (findings with fixed codes); exit 3 when a
    finding is an error.
    """
    if on_date is not None and case_path is None:
        raise InputError("needs --case", where="--on")
    if stats_path is None and case_path is None:
        _check_valid(path, as_json)
        return
    report = conformance_of_files(path, stats_path, case_path, on_date.date() if on_date else None)
    if as_json:
        click.echo(json.dumps(report.to_data(), ensure_ascii=False))
    else:
        for f in report.findings:
            click.echo(f"{path}: {f.severity}: {f.code}: {f.message}", err=True)
        errors = sum(f.severity == "error" for f in report.findings)
        click.echo(f"{path}: {'conforms' if report.conforms else 'does not conform'} "
                   f"({errors} error(s), {len(report.findings) - errors} warning(s))")
    if not report.conforms:
        sys.exit(CHECK_FAILED)


def conformance_of_files(path: Path, stats_path: Path | None, case_path: Path | None,
                         on: date | None) -> ConformanceReport:
    """Read the directive, statistics and case (bad input: InputError naming the file) and check them."""
    return located_conformance(
        load_directive_for_check(str(path)),
        read_measurements(stats_path) if stats_path is not None else None,
        load_case(case_path) if case_path is not None else None, on,
        directive_source=str(path), stats_source=str(stats_path), case_source=str(case_path))


def _check_valid(path: Path, as_json: bool) -> None:
    result = load_directive(path)
    notes = _coverage_notes(result)
    if as_json:
        click.echo(json.dumps({
            "file": str(path), "valid": True, "rows": len(result.rows),
            "regions": len(result.regions()), "stage": result.stage,
            "uncovered": result.uncovered(),
        }))
    else:
        for n in notes:
            _note(n)
        click.echo(f"{path}: valid directive: {len(result.rows)} rows, "
                   f"{len(result.regions())} regions, stage {result.stage}%")


from throttlebed.directive.render_cli import render  # noqa: E402

directive.add_command(render)
