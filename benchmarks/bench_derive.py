"""Benchmark: ``directive derive`` (Rules items 8-9) on statistics tables of growing size.

Run: ``.venv/bin/python benchmarks/bench_derive.py [--days 1 7 30] [--json]``.
Generates a 20-region, one-sample-a-minute table per size as Parquet, then times the whole
command (read + validate + peaks + caps + write) in-process, best of three.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from throttlebed.directive.regions import region_codes
from throttlebed.measurements import read_measurements

SPEC = "00:00-07:00,07:00-18:00,18:00-23:00,23:00-00:00"


def make_table(days: int, seed: int = 0) -> pd.DataFrame:
    """A 20-region statistics table, one sample a minute for ``days`` days."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2025-03-01", periods=days * 1440, freq="min")
    regions = region_codes()
    return pd.DataFrame({
        "time": np.tile(times.to_numpy(), len(regions)),
        "region": np.repeat(regions, len(times)),
        "kbps": rng.lognormal(8, 0.5, len(times) * len(regions)),
    })


def time_derive(path: Path, out: Path, repeats: int = 3) -> float:
    """Best wall time of the whole derive path, seconds."""
    from throttlebed.directive.caps import derive_directive
    from throttlebed.directive.periods import PeriodSet
    from throttlebed.directive.schema import save_directive
    from throttlebed.directive.statistics import compute_peaks

    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        peaks = compute_peaks(read_measurements(path), PeriodSet.parse(SPEC))
        save_directive(derive_directive(peaks, 50, platform="bench"), out)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 7, 30])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for days in args.days:
            path = Path(tmp) / f"stats-{days}d.parquet"
            make_table(days).to_parquet(path, index=False)
            seconds = time_derive(path, Path(tmp) / "directive.yaml")
            rows = days * 1440 * 20
            results.append({"days": days, "rows": rows, "seconds": round(seconds, 3),
                            "rows_per_s": round(rows / seconds)})
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{'days':>5} {'rows':>10} {'seconds':>8} {'rows/s':>12}")
        for r in results:
            print(f"{r['days']:>5} {r['rows']:>10} {r['seconds']:>8} {r['rows_per_s']:>12}")


if __name__ == "__main__":
    main()
