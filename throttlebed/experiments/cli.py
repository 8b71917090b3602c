"""``throttlebed run``, ``throttlebed sweep`` and ``throttlebed compare``.

Exit codes: 0 done (whatever the verdict), 2 bad input, 1 internal failure, 130 interrupted;
with ``--check``, 3 when the verdict fails (run, sweep) or the runs differ beyond the threshold
(compare).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from throttlebed.errors import InputError
from throttlebed.interrupts import raise_if_interrupted

CHECK_FAILED = 3


@contextmanager
def _progress(quiet: bool):
    """A step callback: rich status line plus a log line per finished step (nothing when quiet)."""
    if quiet:
        yield lambda _msg: raise_if_interrupted()
        return
    from rich.console import Console

    console = Console(stderr=True, log_path=False)
    t0 = time.perf_counter()
    last: list[Any] = [None, t0]
    with console.status("starting") as status:
        def step(msg: str) -> None:
            raise_if_interrupted()
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
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=None,
              help="override the scenario's seed")
@click.option("--quiet", is_flag=True, help="no progress output (for CI)")
@click.option("--json", "as_json", is_flag=True, help="print the verdict (with output paths) as JSON")
@click.option("--check", is_flag=True, help="exit 3 when the verdict fails")
@click.option("--junit", "junit_file", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="also write the verdict as JUnit XML (a test case per cell and one for collateral)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="spread the regions over a local Dask cluster of N worker processes (sim backend)")
@click.option("--scheduler", default=None,
              help="spread the regions over the Dask cluster at this address (sim backend)")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="regions stepped at once in this process (sim backend; default: the CPUs, at most 4)")
def run(scenario_file: Path, backend: str | None, out_dir: Path | None, seed: int | None, quiet: bool,
        as_json: bool, check: bool, junit_file: Path | None, workers: int | None,
        scheduler: str | None, threads: int | None) -> None:
    """Run a scenario: baseline, peaks, directive, enforcement, verdict and report."""
    from throttlebed.errors import InputError
    from throttlebed.experiments.junit import check_junit_path
    from throttlebed.experiments.scenario import load_scenario
    from throttlebed.fileio import check_output_dir

    scenario = load_scenario(scenario_file)  # bad input: exit 2 before anything is written
    if junit_file is not None:
        check_junit_path(junit_file)
    out = check_output_dir(out_dir or Path("out") / scenario.name, "--out")
    name = backend or scenario.backend.default
    spread = workers is not None or scheduler is not None
    if workers is not None and scheduler is not None:
        raise InputError("give --workers (a local cluster) or --scheduler (an existing one), not both",
                         where="--workers")
    if spread and threads is not None:
        raise InputError("give --threads (this process) or --workers/--scheduler (a cluster), not both",
                         where="--threads")
    if (spread or threads is not None) and name != "sim":
        raise InputError("only the sim backend spreads a run's regions (--workers/--scheduler/--threads "
                         "need --backend sim)", where="--backend")
    with contextlib.ExitStack() as stack:
        map_regions = None
        if spread:
            from throttlebed.experiments.dask_cluster import cluster_map

            map_regions = stack.enter_context(cluster_map(scheduler, workers or 2))
        from throttlebed.experiments import runner  # imported while a cluster starts
        from throttlebed.experiments.backends import get_backend

        step = stack.enter_context(_progress(quiet or as_json))
        be = get_backend(name, map_regions, threads)
        result, paths = runner.run(scenario, out, backend=be, seed=seed, step=step, quiet=quiet,
                                   junit=junit_file)
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
    from throttlebed.experiments.runner import run_sweep_point
    from throttlebed.experiments.sweep import checked_points, load_sweep, results_table
    from throttlebed.fileio import atomic_write, check_output_dir

    spec, base = load_sweep(sweep_file)
    grid = checked_points(spec, base, sweep_file)
    out = check_output_dir(out_dir or Path("out") / f"sweep-{spec.name}", "--out")
    out.mkdir(parents=True, exist_ok=True)
    runs_on = backend or (base.get("backend") or {}).get("default", "sim")
    if runs_on == "mininet" and scheduler is None and workers > 1:
        # emulations are real time and CPU-bound: two at once on one machine spoil each other
        click.echo("throttlebed: mininet runs one at a time (--workers 1)", err=True)
    points = [(i, values, base, spec.set, str((out / f"run-{i:03d}").resolve()), backend)
              for i, values in enumerate(grid)]

    def done(row: dict[str, Any]) -> None:
        if not (quiet or as_json):
            state = "error" if row.get("error") else ("pass" if row.get("pass") else "fail")
            click.echo(f"run {row.get('index', '?'):>3}: {state} ({row.get('wall_s', 0):.1f} s)"
                       + (f" {row['error']}" if row.get("error") else ""), err=True)

    if runs_on == "mininet" and scheduler is None:
        # one emulation at a time, each in its own process started from here (see point_process):
        # Ctrl-C or SIGTERM stops the current point, which cleans up, then the sweep exits 130
        from throttlebed.emulation.backend import sigterm_as_interrupt

        rows = []
        with sigterm_as_interrupt():
            for p in points:
                rows.append(run_sweep_point(*p))
                done(rows[-1])
    else:
        from throttlebed.experiments.dask_cluster import map_points

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


@click.command("validate")
@click.argument("directive_file", metavar="DIRECTIVE", type=click.Path(path_type=Path))
@click.option("--stats", "stats_path", required=True, type=click.Path(path_type=Path),
              help="the statistics the directive was derived from (CSV/Parquet time,region,kbps)")
@click.option("--case", "case_path", type=click.Path(path_type=Path), default=None,
              help="the case (YAML): is the stage due, did the statistics reply come first")
@click.option("--backend", type=click.Choice(["sim", "mininet"]), default="sim", show_default=True)
@click.option("--scenario", "scenario_path", type=click.Path(path_type=Path), default=None,
              help="network and backend settings (default: the shipped validate-<backend>.yaml)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output directory (default: out/validate-<directive name>)")
@click.option("--day", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="the one day of the statistics to replay (default: every day on sim, the day holding "
                   "the most cell peaks on mininet)")
@click.option("--on", "on_date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="with --case: the date to check the stage on (default: the directive's date)")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=None,
              help="override the scenario's seed")
@click.option("--quiet", is_flag=True, help="no progress output (for CI)")
@click.option("--json", "as_json", is_flag=True, help="print validation.json (with output paths)")
@click.option("--check", is_flag=True, help="exit 3 when the validation fails")
@click.option("--junit", "junit_file", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="also write the enforcement verdict as JUnit XML (one test case per cell)")
def validate(directive_file: Path, stats_path: Path, case_path: Path | None, backend: str,
             scenario_path: Path | None, out_dir: Path | None, day, on_date, seed: int | None, quiet: bool,
             as_json: bool, check: bool, junit_file: Path | None) -> None:
    """Validate a directive: conformance to the Rules, then enforcement under demand replayed from STATS."""
    from throttlebed.experiments.junit import check_junit_path
    from throttlebed.experiments.validate import validate as run_validation

    if on_date is not None and case_path is None:
        raise InputError("needs --case", where="--on")
    if junit_file is not None:
        check_junit_path(junit_file)
    with _progress(quiet or as_json) as step:
        v = run_validation(directive_file, stats_path, case_path=case_path, backend=backend,
                           scenario_path=scenario_path, out=out_dir, day=day.date() if day else None,
                           on=on_date.date() if on_date else None, seed=seed, step=step, quiet=quiet,
                           junit=junit_file)
    if as_json:
        _print_json({**v.document, "outputs": {k: str(p) for k, p in v.paths.items()}})
    else:
        if not quiet:
            conf = v.document["conformance"]
            errors = sum(f["severity"] == "error" for f in conf["findings"])
            enf = v.document["enforcement"]
            dem = v.document["demand"]
            parts = [f"conformance: {'conforms' if conf['conforms'] else f'{errors} error(s)'}"]
            if enf is not None:
                s = enf["summary"]
                hit = enf["collateral"].get("unaffected") is False
                parts.append(f"enforcement on {enf['backend']}: {s['cells_passed']}/{s['cells_total']} cells"
                             + (", other traffic hit" if hit else ""))
            if dem and dem.get("replay_error_median") is not None:
                parts.append(f"replay error median {100 * dem['replay_error_median']:.1f}%, "
                             f"p95 {100 * dem['replay_error_p95']:.1f}% ({', '.join(dem['days'])})")
            click.echo(f"{directive_file}: {'PASS' if v.passed else 'FAIL'} ({'; '.join(parts)})", err=True)
        click.echo(str(v.paths.get("report.html") or v.paths["validation.json"]))
    if check and not v.passed:
        sys.exit(CHECK_FAILED)
