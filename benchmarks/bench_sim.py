"""Benchmark: the sim backend on a national day (20 regions) as the number of sessions grows.

Run: ``.venv/bin/python benchmarks/bench_sim.py [--sessions 1e5 1e6 1e7] [--default] [--json]``.
Per load size (``users_scale`` chosen so the expected day holds that many sessions), it times:
generating the sessions, the baseline day (no directive: closed-form volumes) and an enforced
day under a stage-50 directive derived from that baseline (every platform session stepped
through the meters, 1 s steps). ``sim_s_per_wall_s`` is 86 400 simulated seconds over the wall
time of generation plus the run. ``--default`` adds the default profile (about 1.76 million
sessions). The 1e7 point takes about a minute and 3 GB of memory; leave it out with
``--sessions 1e5 1e6``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date

import numpy as np
import pandas as pd

from throttlebed.directive.caps import derive_directive
from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import Directive
from throttlebed.directive.statistics import compute_peaks
from throttlebed.sim.fluid import run_fluid
from throttlebed.sim.load import LoadProfile, expected_sessions_per_day, generate_sessions

SPEC = "00:00-07:00,07:00-18:00,18:00-23:00,23:00-00:00"
DAY = date(2026, 3, 2)
DAY_S = 86400.0


def stage_directive(baseline: pd.DataFrame, stage: int) -> Directive:
    """The project's own item 8 peaks and item 9 caps of the baseline, at ``stage`` percent."""
    peaks = compute_peaks(baseline, PeriodSet.parse(SPEC), statistic="max", direction="down")
    return derive_directive(peaks, stage, "bench")


def bench(profile: LoadProfile, label: str, seed: int = 1) -> dict:
    regions = list(region_codes())
    t0 = time.perf_counter()
    sessions = generate_sessions(regions, profile, np.random.default_rng(seed))
    generate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    baseline = run_fluid(sessions, regions, None, DAY, patience_s=profile.patience_s).measurements
    baseline_s = time.perf_counter() - t0
    directive = stage_directive(baseline, 50)
    t0 = time.perf_counter()
    run_fluid(sessions, regions, directive, DAY, patience_s=profile.patience_s)
    enforced_s = time.perf_counter() - t0
    return {
        "load": label, "users_scale": round(profile.users_scale, 6), "sessions": len(sessions),
        "platform_sessions": int((sessions["traffic"] == "platform").sum()),
        "generate_s": round(generate_s, 2), "baseline_s": round(baseline_s, 2),
        "enforced_s": round(enforced_s, 2),
        "sessions_per_s_generated": round(len(sessions) / generate_s),
        "sim_s_per_wall_s_baseline": round(DAY_S / (generate_s + baseline_s), 1),
        "sim_s_per_wall_s_enforced": round(DAY_S / (generate_s + enforced_s), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=float, nargs="*", default=[1e5, 1e6, 1e7])
    parser.add_argument("--default", action="store_true", help="also the default profile")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = LoadProfile()
    per_unit_scale = base.users_scale / expected_sessions_per_day(region_codes(), base)
    loads = [(f"{n:.0e}", base.model_copy(update={"users_scale": n * per_unit_scale})) for n in args.sessions]
    if args.default:
        loads.append(("default", base))
    results = [bench(profile, label) for label, profile in loads]
    meta = {"regions": 20, "step_s": 1.0, "sampling_interval_s": 60.0, "stage": 50,
            "cpus": os.cpu_count(), "loadavg_1min": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}))
        return
    cols = ["load", "sessions", "generate_s", "baseline_s", "enforced_s", "sessions_per_s_generated",
            "sim_s_per_wall_s_baseline", "sim_s_per_wall_s_enforced"]
    print("  ".join(f"{c:>{max(len(c), 9)}}" for c in cols))
    for r in results:
        print("  ".join(f"{r[c]!s:>{max(len(c), 9)}}" for c in cols))
    print(f"# {meta}")


if __name__ == "__main__":
    main()
