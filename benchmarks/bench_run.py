"""Benchmark: ``throttlebed run`` of national-day.yaml on the sim backend, phase by phase.

Run: ``.venv/bin/python benchmarks/bench_run.py [--users-scale 0.1] [--json]``.
Times the baseline day, peaks + directive, the enforced day and the writing of every output
(parquet, plots, report), once, and states the expected number of sessions of the day.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from throttlebed.experiments import runner
from throttlebed.experiments.result import expected_sessions
from throttlebed.experiments.scenario import load_scenario, scenario_from_data

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "throttlebed" / "experiments" / "scenarios" / "national-day.yaml"


def bench(users_scale: float) -> dict:
    """Phase timings of one national-day run at ``users_scale``."""
    data = load_scenario(SCENARIO).to_data()
    data["load"]["users_scale"] = users_scale
    scenario = scenario_from_data(data)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = runner.execute(scenario, "sim")
        t1 = time.perf_counter()
        paths = runner.write_outputs(result, Path(tmp) / "out")
        t2 = time.perf_counter()
        sizes = {name: p.stat().st_size for name, p in paths.items()}
    return {
        "scenario": scenario.name, "users_scale": users_scale, "regions": len(scenario.region_list()),
        "expected_sessions": round(expected_sessions(scenario)),
        **{k: round(v, 2) for k, v in result.timings_s.items()},
        "pipeline_s": round(t1 - t0, 2), "write_outputs_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
        "pass": result.passed, "output_bytes": sizes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users-scale", type=float, nargs="+", default=[0.1])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [bench(u) for u in args.users_scale]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"users_scale {r['users_scale']}: ~{r['expected_sessions']:,} sessions, "
              f"baseline {r['baseline_s']} s, enforced {r['enforced_50_s']} s, "
              f"outputs {r['write_outputs_s']} s, total {r['total_s']} s, "
              f"pass={r['pass']}")


if __name__ == "__main__":
    main()
