"""Benchmark: one national-day run spread over a local Dask cluster, 2 workers against 1.

Run: ``.venv/bin/python benchmarks/bench_dask.py [--users-scale 1.0] [--repeat 3] [--no-write]``
(default: the full national day, the size a run is spread over a cluster for).
Times the whole ``throttlebed run national-day.yaml --workers N`` process (cluster start, baseline,
stage 50, outputs) with N = 1 and N = 2, in turn, and reports the median of each and the median
of the pairwise ratios as ``dask_two_worker_speedup``. ``dask_two_worker_sim_speedup`` is the
same ratio over the two simulated days alone (the baseline and stage phases of the run's own
``timings_s`` in verdict.json: the simulated days, without verdict, impact and outputs): the
part Dask spreads. The machine may be shared: figures are medians. Writes
``benchmarks/results/dask_run.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import print_figures, write_result  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "throttlebed" / "experiments" / "scenarios" / "national-day.yaml"
THROTTLEBED = Path(sys.executable).parent / "throttlebed"


def timed(args: list[str], out: Path) -> tuple[float, float]:
    """Whole-process wall seconds of ``throttlebed run ... --out out``, and its simulated days' seconds."""
    t0 = time.perf_counter()
    subprocess.run([*args, "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    phases = json.loads((out / "verdict.json").read_text())["timings_s"]
    return wall, phases["baseline_s"] + sum(v for k, v in phases.items() if k.startswith("enforced_"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users-scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = yaml.safe_load(SCENARIO.read_text())
        data["load"]["users_scale"] = args.users_scale
        scenario = tmp / "national.yaml"
        scenario.write_text(yaml.safe_dump(data))
        base = [str(THROTTLEBED), "run", str(scenario), "--quiet"]
        pairs = [(timed([*base, "--workers", "1"], tmp / f"one{k}"),
                  timed([*base, "--workers", "2"], tmp / f"two{k}")) for k in range(args.repeat)]
    one = statistics.median(a[0] for a, _ in pairs)
    two = statistics.median(b[0] for _, b in pairs)
    speedup = statistics.median(a[0] / b[0] for a, b in pairs)
    sim_speedup = statistics.median(a[1] / b[1] for a, b in pairs)
    figures = {"dask_one_worker_run_s": (round(one, 2), "s"), "dask_two_worker_run_s": (round(two, 2), "s"),
               "dask_two_worker_speedup": (round(speedup, 2), "x"),
               "dask_two_worker_sim_speedup": (round(sim_speedup, 2), "x")}
    shown = [((round(a[0], 1), round(a[1], 1)), (round(b[0], 1), round(b[1], 1))) for a, b in pairs]
    print(f"users_scale {args.users_scale}: ((1 worker: run s, simulated days s), (2 workers: ...)) {shown}")
    print_figures(figures)
    if not args.no_write:
        print(write_result("dask_run", figures))


if __name__ == "__main__":
    main()
