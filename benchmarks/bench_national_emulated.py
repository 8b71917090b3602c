"""Benchmark: every regional object emulated, and the same scenario in the model, cell by cell.

Run (root): ``.venv/bin/python benchmarks/bench_national_emulated.py [--no-write]``.

Runs the shipped ``national-emulated.yaml`` (20 regions, 19:00-21:00 compressed 40x, stage 50) as
``throttlebed run --backend mininet`` (real Open vSwitch, os-ken, TCP and UDP between namespaces)
and as ``--backend sim``, then ``throttlebed compare`` on the two verdicts. Figures: the mininet
run's wall time (the whole process: network, controller, baseline and enforced phases, outputs),
the largest and mean per-cell difference of the achieved reduction (percentage points), the cells
compared and how many are within the scenario's 5 pp; and how many are within 5 pp once a cell whose
demand crossed the cap only briefly (``transient_demand``) is allowed one meter bucket more, as
reduction points (``burst_allowance x cap / peak``: the rule of ``tests/test_experiments_emulation.py``;
a meter's bucket is ``burst_s`` of real time, so ``time_scale`` times longer in model time, and the
fluid model's is not compressed). Writes
``benchmarks/results/emulated_national.json``; the two run folders are kept under
``--out`` (default ``out/bench-national-emulated``) for a look at the reports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_result  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "throttlebed" / "experiments" / "scenarios" / "national-emulated.yaml"
THROTTLEBED = Path(sys.executable).parent / "throttlebed"


def run(backend: str, out: Path) -> float:
    """``throttlebed run`` of the scenario on ``backend``; its wall time in seconds."""
    t0 = time.monotonic()
    subprocess.run([str(THROTTLEBED), "run", str(SCENARIO), "--backend", backend, "--out", str(out),
                    "--quiet"], check=True)
    return time.monotonic() - t0


def within_with_bucket(cmp: dict, emulated: Path, limit_pp: float = 5.0) -> int:
    """Cells within ``limit_pp``, plus one bucket (as reduction points) on transient-demand cells."""
    allowance = json.loads((emulated / "verdict.json").read_text())["tolerance"]["burst_allowance"]
    cells = pd.read_parquet(emulated / "cells.parquet").set_index(["region", "period"])
    n = 0
    for c in cmp["cells"]:
        cell = cells.loc[(c["region"], c["period"])]
        bucket_pp = 100 * allowance * cell["cap_kbps"] / cell["peak_kbps"]
        bucket_pp = bucket_pp if cell["transient_demand"] else 0.0
        n += c["diff_pp"] is not None and abs(c["diff_pp"]) <= limit_pp + bucket_pp
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench-national-emulated")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    emulated_s = run("mininet", a.out / "mininet")
    sim_s = run("sim", a.out / "sim")
    cmp = json.loads(subprocess.run([str(THROTTLEBED), "compare", str(a.out / "sim"), str(a.out / "mininet"),
                                     "--json"], check=True, capture_output=True, text=True).stdout)
    within = sum(1 for c in cmp["cells"] if c["within"])
    within_bucket = within_with_bucket(cmp, a.out / "mininet")
    print(f"national-emulated: mininet {emulated_s:.0f} s, sim {sim_s:.0f} s; {cmp['cells_compared']} cells, "
          f"{within} within {cmp['max_diff_pp']:g} pp; largest difference {cmp['max_abs_diff_pp']:.2f} pp, "
          f"mean {cmp['mean_abs_diff_pp']:.2f} pp; {within_bucket} within 5 pp or one bucket on transient "
          "cells")
    for c in sorted(cmp["cells"], key=lambda c: -abs(c["diff_pp"] or 0))[:5]:
        print(f"  {c['region']} {c['period']}: sim {c['reduction_a']:.3f}, mininet {c['reduction_b']:.3f} "
              f"({c['diff_pp']:+.2f} pp)")
    if a.no_write:
        return
    figures = {"emulated_national_wall_s": (round(emulated_s, 1), "s"),
               "emulated_national_sim_wall_s": (round(sim_s, 1), "s"),
               "emulated_national_max_diff_pp": (round(cmp["max_abs_diff_pp"], 2), "pp"),
               "emulated_national_mean_diff_pp": (round(cmp["mean_abs_diff_pp"], 2), "pp"),
               "emulated_national_cells": (cmp["cells_compared"], "cells"),
               "emulated_national_cells_within_5pp": (within, "cells"),
               "emulated_national_cells_within_5pp_or_bucket": (within_bucket, "cells")}
    print(write_result("emulated_national", figures))


if __name__ == "__main__":
    main()
