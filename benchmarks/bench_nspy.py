"""Benchmark: the fluid model side by side with a packet-level simulator (ns.py) on one evening hour.

Run: ``.venv/bin/python benchmarks/bench_nspy.py [--sessions 2000] [--no-write]`` (ns.py is the
optional extra ``bench``: ``pip install -e '.[bench]'``; ``make bench`` installs it).

One large region (KZ-75, Almaty) from 18:00 to 19:00, a few thousand platform sessions from the
project's load model (TCP-like, no abandonment, sizes and rates scaled down so the packet count
stays within reach of a pure-Python simulator). The cap is half the peak minute of the uncapped
hour, the bucket 1 s of the cap. The same sessions go
- through throttlebed's fluid model (:func:`throttlebed.sim.fluid.run_fluid`), and
- through ns.py: each session a SimPy process sending 1500-byte packets at its access rate into
  ``ns.shaper.TokenBucketShaper`` (rate = the cap, bucket = 1 s of it) and a ``PacketSink``.

Both conserve the volume of a held TCP session (the fluid model slows it, the shaper queues it),
so per-minute throughput should agree. Figures: ``nspy_wall_ratio`` (ns.py wall time over the
fluid model's), ``nspy_max_interval_diff_pct`` (the largest per-minute difference, % of the cap),
and the plot ``benchmarks/nspy_vs_fluid.png``. Writes ``benchmarks/results/nspy.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import simpy  # noqa: E402
from ns.packet.packet import Packet  # noqa: E402
from ns.packet.sink import PacketSink  # noqa: E402
from ns.shaper.token_bucket import TokenBucketShaper  # noqa: E402

from throttlebed.directive.schema import directive_from_data  # noqa: E402
from throttlebed.sim.fluid import run_fluid  # noqa: E402
from throttlebed.sim.load import LoadProfile, generate_sessions  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import print_figures, write_result  # noqa: E402

REGION = "KZ-75"
DAY = date(2026, 3, 2)
START_S, END_S, INTERVAL_S = 18 * 3600.0, 19 * 3600.0, 60.0
PACKET_BYTES = 1500
PLOT = Path(__file__).resolve().parent / "nspy_vs_fluid.png"


def hour_sessions(n_target: int, rate_scale: float):
    """The region's platform sessions of the hour (TCP only), scaled; about ``n_target`` of them."""
    probe = LoadProfile(users_scale=0.001, udp_share=0.0, other_share=0.0, patience_s=1e7)
    n_probe = len(generate_sessions([REGION], probe, np.random.default_rng(1), START_S, END_S))
    profile = probe.model_copy(update={"users_scale": 0.001 * n_target / max(n_probe, 1)})
    s = generate_sessions([REGION], profile, np.random.default_rng(1), START_S, END_S)
    s["size_kbit"] *= rate_scale
    s["access_kbps"] *= rate_scale
    return s, profile


def fluid(sessions, cap_kbps: float | None, patience_s: float):
    d = None
    if cap_kbps is not None:
        row = {"region": REGION, "period": "00:00-24:00", "peak_kbps": 2 * cap_kbps,
               "cap_kbps": int(cap_kbps)}
        d = directive_from_data({"platform": "P", "stage": 50, "rows": [row]})
    run = run_fluid(sessions, [REGION], d, DAY, START_S, END_S, INTERVAL_S, burst_s=1.0,
                    patience_s=patience_s)
    m = run.measurements
    sel = (m["direction"] == "down") & (m["traffic"] == "platform")
    return m.loc[sel, "kbps"].to_numpy()


def nspy(sessions, cap_kbps: int) -> np.ndarray:
    """Per-minute kbit/s out of an ns.py token bucket shaper fed packet by packet."""
    env = simpy.Environment(initial_time=0.0)
    shaper = TokenBucketShaper(env, rate=cap_kbps * 1000.0, bucket_size=cap_kbps * 1000.0 / 8.0)
    sink = PacketSink(env, rec_arrivals=False, rec_flow_ids=False, rec_waits=True)
    shaper.out = sink
    packet_kbit = PACKET_BYTES * 8 / 1000.0

    def session(fid: int, start_s: float, size_kbit: float, rate_kbps: float):
        yield env.timeout(start_s)
        left, pid = size_kbit, 0
        while left > 1e-9:
            kbit = min(packet_kbit, left)
            shaper.put(Packet(env.now, kbit * 1000 / 8.0, pid, flow_id=fid))
            left -= kbit
            pid += 1
            yield env.timeout(kbit / rate_kbps)

    for fid, row in enumerate(sessions.itertuples()):
        env.process(session(fid, row.start_s - START_S, row.size_kbit, row.access_kbps))
    env.run(until=END_S - START_S)
    t = np.asarray(sink.arrivals["source"])
    size_kbit = np.asarray(sink.packet_sizes["source"]) * 8 / 1000.0
    n_int = round((END_S - START_S) / INTERVAL_S)
    return np.bincount((t // INTERVAL_S).astype(int), size_kbit, minlength=n_int)[:n_int] / INTERVAL_S


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--rate-scale", type=float, default=0.05)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sessions, profile = hour_sessions(args.sessions, args.rate_scale)
    cap = int(0.5 * fluid(sessions, None, profile.patience_s).max())
    fluid(sessions, cap, profile.patience_s)  # warm-up: the compiled step loop is loaded once
    t0 = time.perf_counter()
    fluid_kbps = fluid(sessions, cap, profile.patience_s)
    fluid_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    packet_kbps = nspy(sessions, cap)
    nspy_s = time.perf_counter() - t0
    diff_pct = float(np.abs(packet_kbps - fluid_kbps).max() / cap * 100)
    minutes = np.arange(len(fluid_kbps))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(minutes, packet_kbps, label=f"ns.py token bucket ({nspy_s:.1f} s)", lw=2)
    ax.plot(minutes, fluid_kbps, "--", label=f"throttlebed fluid model ({fluid_s:.2f} s)")
    ax.axhline(cap, color="grey", lw=0.8, label="cap")
    ax.set_xlabel("minute after 18:00")
    ax.set_ylabel("kbit/s (scaled)")
    ax.set_title(f"{REGION}, {len(sessions)} sessions: "
                 f"largest per-minute difference {diff_pct:.2f}% of the cap")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    figures = {"nspy_wall_ratio": (round(nspy_s / fluid_s, 1), "x"),
               "nspy_max_interval_diff_pct": (round(diff_pct, 2), "%"),
               "nspy_sessions": (len(sessions), "sessions"),
               "nspy_packets": (round(packet_kbps.sum() * INTERVAL_S / (PACKET_BYTES * 8 / 1000)), "packets")}
    print_figures(figures)
    print(f"cap {cap} kbit/s, fluid {fluid_s:.2f} s, ns.py {nspy_s:.1f} s, plot {PLOT}")
    if not args.no_write:
        print(write_result("nspy", figures))


if __name__ == "__main__":
    main()
