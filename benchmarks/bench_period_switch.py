"""Benchmark: 20 regions emulated, how soon they are ready and how late a period's meters land.

Run (root): ``.venv/bin/python benchmarks/bench_period_switch.py [--regions 20] [--duration-s 90]
[--time-scale 3600] [--ready-repeat 5] [--no-write]``.

Ready: from the call that builds the network to the moment the controller reports every switch
holding its confirmed plan (network, controller launch, every meter confirmed by a barrier reply);
``ready_20_regions_s`` is the median of ``--ready-repeat`` set-ups, with the parts of the median
one (network, controller launch to every switch in sync).

Period switches: a directive with 24 one-hour periods per region, every hour a different cap in
every region, on a clock compressed ``--time-scale`` times (3600: one boundary per real second, each
changing the meters of all the switches). The controller keeps, per boundary, the time from the
scheduled boundary (its monotonic clock) to the last switch's barrier reply confirming the new
rates (``GET /period-switches``); ``window_switch_ms_median`` and ``window_switch_ms_p99`` are over
every boundary of the run. The controller polls its statistics as in a run (every second).
Writes ``benchmarks/results/emulated_control.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_result  # noqa: E402

from throttlebed.directive.regions import region_codes  # noqa: E402
from throttlebed.directive.schema import Directive, directive_from_data  # noqa: E402
from throttlebed.emulation.backend import running_testbed  # noqa: E402
from throttlebed.topology.graph import TopologyOptions, build_graph  # noqa: E402


def hourly_directive(regions: list[str]) -> Directive:
    """24 one-hour periods per region, a different cap every hour (so every boundary changes meters)."""
    rows = [{"region": r, "period": f"{h:02d}:00-{h + 1:02d}:00", "peak_kbps": 2000 + 100 * (h + i),
             "cap_kbps": 1000 + 50 * (h + i)}
            for i, r in enumerate(regions) for h in range(24)]
    return directive_from_data({"platform": "ExampleTube", "platform_prefixes": ["203.0.113.0/24"],
                                "stage": 50, "rows": rows})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=20)
    ap.add_argument("--hosts", type=int, default=1)
    ap.add_argument("--duration-s", type=float, default=90.0)
    ap.add_argument("--time-scale", type=float, default=3600.0)
    ap.add_argument("--ready-repeat", type=int, default=5, help="set-ups timed for the readiness median")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print every boundary")
    a = ap.parse_args()
    regions = list(region_codes())[: a.regions]
    g = build_graph(regions, TopologyOptions(hosts_per_region=a.hosts))
    d = hourly_directive(regions)
    ready: list[tuple[float, dict]] = []
    repeats = max(1, a.ready_repeat)
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats):
            t0 = time.monotonic()
            with running_testbed(g, Path(tmp) / str(k), directive=d, time_scale=a.time_scale,
                                 clock_start=datetime(2026, 3, 2, 0, 0, 30)) as tb:
                ready.append((time.monotonic() - t0, dict(tb.timings_s)))
                if k == repeats - 1:  # the last set-up also switches periods
                    time.sleep(a.duration_s)
                    doc = tb.ctl.get("/period-switches", timeout_s=10.0)
    ready.sort(key=lambda x: x[0])
    ready_s, timings = ready[len(ready) // 2]
    print(f"readiness over {len(ready)} set-ups: {[round(x, 2) for x, _ in ready]} s")
    s = doc["summary"]
    if a.verbose:
        for r in doc["switches"]:
            print(r["boundary"], "send", r["send_ms"], "ms, last confirmation", r["latency_ms"], "ms")
    switched = [r for r in doc["switches"] if r["latency_ms"] is not None]
    sizes = sorted({r["switches"] for r in switched})
    print(f"{len(regions)} regions x {a.hosts} host(s): ready in {ready_s:.2f} s (hosts and links built "
          f"at {timings['built_at_s']:.2f} s, controller listening at {timings['listening_at_s']:.2f} s, "
          f"switches started at {timings['network_s']:.2f} s; controller launch to every switch in sync "
          f"{timings['controller_to_switches_set_up_s']:.2f} s)")
    print(f"period switches: {s['complete']} complete ({sizes} switches each), {s['failed']} failed, "
          f"{s['pending']} pending; boundary -> last barrier reply: median {s['median_ms']} ms, "
          f"p99 {s['p99_ms']} ms, max {s['max_ms']} ms")
    if s["complete"] == 0:
        raise SystemExit("no period switch completed: nothing to report")
    if a.no_write:
        return
    figures = {f"ready_{a.regions}_regions_s": (round(ready_s, 2), "s"),
               "ready_network_s": (timings["network_s"], "s"),
               "ready_controller_to_switches_in_sync_s": (timings["controller_to_switches_set_up_s"], "s"),
               "window_switch_ms_median": (s["median_ms"], "ms"),
               "window_switch_ms_p99": (s["p99_ms"], "ms"),
               "window_switch_ms_max": (s["max_ms"], "ms"),
               "window_switches_measured": (s["complete"], "boundaries"),
               "window_switch_switches_each": (max(sizes), "switches")}
    print(write_result("emulated_control", figures))


if __name__ == "__main__":
    main()
