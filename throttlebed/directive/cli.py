"""``throttlebed directive derive|check``: statistics -> peaks -> caps, and validation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from throttlebed.directive.caps import derive_directive
from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.schema import (
    Directive,
    directive_to_json,
    directive_to_yaml,
    load_directive,
    save_directive,
)
from throttlebed.directive.statistics import compute_peaks
from throttlebed.errors import InputError
from throttlebed.measurements import read_measurements


def _note(message: str) -> None:
    click.echo(f"throttlebed: note: {message}", err=True)


def _coverage_notes(directive: Directive) -> list[str]:
    return [
        f"{region}: no period covers {', '.join(gaps)} (traffic there is not capped)"
        for region, gaps in directive.uncovered().items()
    ]


@click.group()
def directive() -> None:
    """Directives of Appendix 3: derive from statistics, check, render."""


@directive.command()
@click.option("--stats", "stats_path", required=True, type=click.Path(path_type=Path),
              help="measurement table (CSV or Parquet): time, region, kbps")
@click.option("--periods", "periods_spec", required=True,
              help="periods of the day, e.g. 00:00-07:00,07:00-18:00,18:00-23:00,23:00-00:00")
@click.option("--stage", required=True, type=click.Choice(["10", "50", "90"]),
              help="reduction from the peak, percent (Rules item 9)")
@click.option("--platform", default="platform", show_default=True, help="platform name")
@click.option("--prefix", "prefixes", multiple=True, help="platform address prefix (repeatable)")
@click.option("--statistic", default="max", show_default=True,
              help="peak statistic: max (the highest value) or a percentile like p99")
@click.option("--direction", default="down", show_default=True,
              help="direction to take peaks from when the table has one (down|up)")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="write to FILE instead of stdout")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML")
def derive(stats_path: Path, periods_spec: str, stage: str, platform: str, prefixes: tuple[str, ...],
           statistic: str, direction: str, output: Path | None, as_json: bool) -> None:
    """Derive a directive: peaks per (region, period) of the statistics, capped by STAGE percent."""
    try:
        periods = PeriodSet.parse(periods_spec)
    except InputError as e:
        raise InputError(e.reason, where="--periods") from None
    if direction not in ("down", "up"):
        raise InputError(f"must be down or up, got {direction!r}", where="--direction")
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
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
def check(path: Path, as_json: bool) -> None:
    """Validate a directive file (YAML or JSON): exit 0 if valid, 2 with the reason if not."""
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
