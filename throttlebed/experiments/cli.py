"""``throttlebed run``, ``throttlebed sweep`` and ``throttlebed compare``.

Exit codes: 0 done (whatever the verdict), 2 bad input, 1 internal failure, 130 interrupted;
with ``--check``, 3 when the verdict fails (run, sweep) or the runs differ beyond the threshold
(compare).
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

CHECK_FAILED = 3


@contextmanager
def _progress(quiet: bool):
    """A step callback: rich status line plus a log line per finished step (nothing when quiet)."""
    if quiet:
        yield lambda _msg: None
        return
    from rich.console import Console

    console = Console(stderr=True, log_path=False)
    t0 = time.perf_counter()
    last: list[Any] = [None, t0]
    with console.status("starting") as status:
        def step(msg: str) -> None:
            now = time.perf_counter()
            if last[0] is not None:
                console.log(f"{last[0]} [dim]({now - last[1]:.1f} s)[/dim]")
            last[0], last[1] = msg, now
            status.update(msg)

        yield step
        if last[0] is not None:
            console.log(f"{last[0]} [dim]({time.perf_counter() - last[1]:.1f} s)[/dim]")


def _print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@click.command("run")
@click.argument("scenario_file", metavar="SCENARIO.yaml", type=click.Path(path_type=Path))
@click.option("--backend", type=click.Choice(["sim", "mininet"]), default=None,
              help="default: the scenario's backend.default, else sim")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output directory (default: out/<scenario name>)")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="override the scenario's seed")
@click.option("--quiet", is_flag=True, help="no progress output (for CI)")
@click.option("--json", "as_json", is_flag=True, help="print the verdict (with output paths) as JSON")
@click.option("--check", is_flag=True, help="exit 3 when the verdict fails")
def run(scenario_file: Path, backend: str | None, out_dir: Path | None, seed: int | None, quiet: bool,
        as_json: bool, check: bool) -> None:
    """Run a scenario: baseline, peaks, directive, enforcement, verdict and report."""
    from throttlebed.experiments import runner
    from throttlebed.experiments.scenario import load_scenario

    scenario = load_scenario(scenario_file)  # bad input: exit 2 before anything is written
    out = out_dir or Path("out") / scenario.name
    with _progress(quiet or as_json) as step:
        result, paths = runner.run(scenario, out, backend=backend, seed=seed, step=step, quiet=quiet)
    if as_json:
        doc = json.loads(paths["verdict.json"].read_text(encoding="utf-8"))
        doc["outputs"] = {k: str(v) for k, v in paths.items()}
        _print_json(doc)
    else:
        if not quiet:
            per_stage = ", ".join(f"stage {s.stage}%: {int(s.cells['pass'].sum())}/{len(s.cells)} cells"
                                  + (", other traffic hit" if s.collateral.get("unaffected") is False else "")
                                  for s in result.stages)
            click.echo(f"{scenario.name} on {result.backend}: {'PASS' if result.passed else 'FAIL'} "
                       f"({per_stage})", err=True)
        click.echo(str(paths["report.html"]))
    if check and not result.passed:
        sys.exit(CHECK_FAILED)


@click.command("sweep")
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(path_type=Path))
@click.option("--scheduler", default=None, help="address of a Dask scheduler (default: a local cluster)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output directory (default: out/sweep-<name>)")
@click.option("--workers", type=click.IntRange(min=1), default=2,
              help="local cluster worker processes (1 for the mininet backend)")
@click.option("--backend", type=click.Choice(["sim", "mininet"]), default=None)
@click.option("--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="print the results table as JSON")
@click.option("--check", is_flag=True, help="exit 3 when any run failed or errored")
def sweep(sweep_file: Path, scheduler: str | None, out_dir: Path | None, workers: int, backend: str | None,
          quiet: bool, as_json: bool, check: bool) -> None:
    """Run a grid of scenario variants in parallel on dask.distributed; one result row per run."""
    from throttlebed.experiments.dask_sweep import map_points
    from throttlebed.experiments.runner import run_sweep_point
    from throttlebed.experiments.sweep import expand_grid, load_sweep, results_table
    from throttlebed.fileio import atomic_write

    spec, base = load_sweep(sweep_file)
    out = out_dir or Path("out") / f"sweep-{spec.name}"
    out.mkdir(parents=True, exist_ok=True)
    grid = expand_grid(spec.grid)
    runs_on = backend or (base.get("backend") or {}).get("default", "sim")
    if runs_on == "mininet" and scheduler is None and workers > 1:
        # emulations are real time and CPU-bound: two at once on one machine spoil each other
        click.echo("throttlebed: mininet runs one at a time on a local cluster (--workers 1)", err=True)
        workers = 1
    points = [(i, values, base, spec.set, str((out / f"run-{i:03d}").resolve()), backend)
              for i, values in enumerate(grid)]

    def done(row: dict[str, Any]) -> None:
        if not (quiet or as_json):
            state = "error" if row.get("error") else ("pass" if row.get("pass") else "fail")
            click.echo(f"run {row.get('index', '?'):>3}: {state} ({row.get('wall_s', 0):.1f} s)"
                       + (f" {row['error']}" if row.get("error") else ""), err=True)

    rows = map_points(run_sweep_point, points, scheduler=scheduler, workers=workers, on_done=done)
    table = results_table(rows, list(spec.grid))
    atomic_write(out / "sweep.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    atomic_write(out / "sweep.csv", lambda tmp: table.to_csv(tmp, index=False))
    if as_json:
        _print_json(json.loads(table.to_json(orient="records")))
    else:
        n_err = int(table["error"].notna().sum())
        if not quiet:
            click.echo(f"{len(table)} runs: {int(table['pass'].fillna(False).astype(bool).sum())} pass, "
                       f"{n_err} error(s)", err=True)
        click.echo(str(out / "sweep.parquet"))
    if check and not table["pass"].fillna(False).astype(bool).all():
        sys.exit(CHECK_FAILED)


@click.command("compare")
@click.argument("dir_a", type=click.Path(path_type=Path))
@click.argument("dir_b", type=click.Path(path_type=Path))
@click.option("--max-diff-pp", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="threshold on |reduction B - reduction A| per cell, percentage points")
@click.option("--json", "as_json", is_flag=True)
@click.option("--check", is_flag=True, help="exit 3 when a cell differs beyond the threshold")
def compare(dir_a: Path, dir_b: Path, max_diff_pp: float, as_json: bool, check: bool) -> None:
    """Compare two runs (e.g. sim and mininet) of one scenario cell by cell."""
    from throttlebed.experiments.compare import compare_verdicts, format_comparison, load_verdict

    result = compare_verdicts(load_verdict(dir_a), load_verdict(dir_b), max_diff_pp)
    if as_json:
        _print_json(result)
    else:
        click.echo(format_comparison(result))
    if check and not result["within"]:
        sys.exit(CHECK_FAILED)
