"""Benchmark: every region's baseline day with and without Dask's MALLOC_TRIM_THRESHOLD_.

Run: ``.venv/bin/python benchmarks/bench_worker_malloc.py [--users-scale 0.3] [--repeat 5] [--no-write]``.

Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns glibc's adaptive
mmap threshold off. Each measurement is a fresh process (the variable is read when a process
starts) stepping the national day's 20 regions one after the other, as a worker does, with the
variable as Dask sets it and without; medians of ``--repeat`` runs taken in turn. Why the local
cluster of ``run --workers`` starts its workers without it (``experiments/dask_cluster.py``).
Writes ``benchmarks/results/worker_malloc.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import print_figures, write_result  # noqa: E402

DASK_VALUE = "65536"  # distributed.nanny.pre-spawn-environ's default
CHILD = """
import sys, time
import numpy as np
from throttlebed.experiments.scenario import load_scenario
from throttlebed.sim.backend import _region_task
from throttlebed.sim.load import session_entropy
scenario = load_scenario("throttlebed/experiments/scenarios/national-day.yaml")
profile = scenario.load.model_copy(update={"users_scale": float(sys.argv[1])})
entropy = session_entropy(np.random.default_rng(scenario.seed))
t0 = time.perf_counter()
for region in scenario.region_list():
    _region_task(region, profile=profile, directive=None, entropy=entropy)
print(time.perf_counter() - t0)
"""
REPO = Path(__file__).resolve().parent.parent


def region_days_s(users_scale: float, malloc_trim: str | None) -> float:
    """Seconds of one fresh process stepping every region's baseline day."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    if malloc_trim is not None:
        env["MALLOC_TRIM_THRESHOLD_"] = malloc_trim
    out = subprocess.run([sys.executable, "-c", CHILD, str(users_scale)], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users-scale", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    pairs = [(region_days_s(args.users_scale, None), region_days_s(args.users_scale, DASK_VALUE))
             for _ in range(args.repeat)]
    plain = statistics.median(a for a, _ in pairs)
    trimmed = statistics.median(b for _, b in pairs)
    ratio = statistics.median(b / a for a, b in pairs)
    figures = {"region_days_plain_malloc_s": (round(plain, 2), "s"),
               "region_days_dask_malloc_trim_s": (round(trimmed, 2), "s"),
               "region_days_dask_malloc_trim_ratio": (round(ratio, 2), "x")}
    print(f"users_scale {args.users_scale}: (without, with) {[(round(a, 2), round(b, 2)) for a, b in pairs]}")
    print_figures(figures)
    if not args.no_write:
        print(write_result("worker_malloc", figures))


if __name__ == "__main__":
    main()
