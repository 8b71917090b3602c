"""Benchmark: the whole national day on the sim backend, as a user runs it (``throttlebed run``).

Run: ``.venv/bin/python benchmarks/bench_national.py [--repeat 3] [--full-repeat 1] [--no-write]``.

- ``sim_national_default_run_s``: ``throttlebed run national-day.yaml --quiet`` (users_scale 0.1,
  ~1.76 M sessions: baseline, stage 50, every output), whole process, median of ``--repeat``;
- ``sim_national_full_wall_s`` / ``_peak_rss_mb``: the same day at users_scale 1.0 (~17.6 M
  sessions), whole process (wall, and the kernel's peak resident set of the process), median;
- ``sim_national_full_max_cell_diff_pp``: the largest difference, over the 80 cells, between the
  reduction achieved and the one recorded from the previous fluid model (a vectorised step loop
  over all regions at once) in ``benchmarks/national_day_cells_scale1.0.json``.

Each run is a child process, so its peak memory is its own. The machine may be shared: figures
are medians; re-run to check. Writes ``benchmarks/results/sim_national.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import print_figures, write_result  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "throttlebed" / "experiments" / "scenarios" / "national-day.yaml"
RECORDED_FULL = Path(__file__).resolve().parent / "national_day_cells_scale1.0.json"
THROTTLEBED = Path(sys.executable).parent / "throttlebed"


def timed_run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed with exit code {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_maxrss / 1024.0


def max_cell_diff_pp(cells_parquet: Path, recorded: Path) -> float:
    """Largest |reduction achieved - recorded reduction| over the cells, in percentage points."""
    now = pd.read_parquet(cells_parquet)
    rec = pd.DataFrame(json.loads(recorded.read_text())["cells"])
    now["period"] = now["period"].astype(str)
    m = rec.merge(now, on=["region", "period"], suffixes=("_rec", ""), validate="one_to_one")
    if len(m) != len(rec):
        raise SystemExit(f"cells differ from {recorded.name}: {len(m)} matched of {len(rec)}")
    return float((m["reduction_achieved"] - m["reduction_achieved_rec"]).abs().max() * 100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of the default scenario")
    ap.add_argument("--full-repeat", type=int, default=1, help="runs at users_scale 1.0")
    ap.add_argument("--no-write", action="store_true", help="print only, keep no results file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        default = [timed_run([str(THROTTLEBED), "run", str(SCENARIO), "--quiet", "--out", str(tmp / "d")])[0]
                   for _ in range(args.repeat)]
        data = yaml.safe_load(SCENARIO.read_text())
        data["load"]["users_scale"] = 1.0
        full_yaml = tmp / "national-full.yaml"
        full_yaml.write_text(yaml.safe_dump(data))
        full = [timed_run([str(THROTTLEBED), "run", str(full_yaml), "--quiet", "--out", str(tmp / "f")])
                for _ in range(args.full_repeat)]
        diff_pp = max_cell_diff_pp(tmp / "f" / "cells.parquet", RECORDED_FULL)
    figures = {
        "sim_national_default_run_s": (round(statistics.median(default), 2), "s"),
        "sim_national_full_wall_s": (round(statistics.median(w for w, _ in full), 2), "s"),
        "sim_national_full_peak_rss_mb": (round(statistics.median(m for _, m in full)), "MB"),
        "sim_national_full_max_cell_diff_pp": (round(diff_pp, 3), "pp"),
    }
    print_figures(figures)
    print(f"default runs: {[round(x, 2) for x in default]}; "
          f"full runs: {[(round(w, 1), round(m)) for w, m in full]}")
    if not args.no_write:
        print(write_result("sim_national", figures))


if __name__ == "__main__":
    main()
