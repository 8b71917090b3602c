"""Benchmark: the emulated CMS-TN on userspace Open vSwitch with the project's controller.

Run (root): ``.venv/bin/python benchmarks/bench_emulation.py [--regions 20] [--hosts 2] [--json]``.
Times, for N regions: controller start to API up; network build + start + every switch set up by
the controller; stop and removal of everything. Then measures, with the traffic agent, TCP and
UDP (sent at twice the cap) goodput at wire caps of 1, 5, 20 and 50 Mbit/s on four regions at
once, and unmetered TCP to the other service. Goodput is payload counted by the receiver over
seconds 2-7 of an 8 s transfer (the first second holds the meter's initial bucket).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import directive_from_data
from throttlebed.emulation.backend import running_testbed
from throttlebed.emulation.driver import AGENT, start_servers
from throttlebed.topology.graph import TopologyOptions, build_graph, user_hosts

PLATFORM, OTHER, PORT = "203.0.113.1", "198.51.100.1", 5001
CAPS_KBPS = (1000, 5000, 20000, 50000)


def _fetch(tb, schedules: dict[str, list[dict]], work: Path, until_s: float) -> dict[str, dict]:
    epoch = time.time() + 0.3
    procs = {}
    for h, sched in schedules.items():
        f = work / f"sched-{h}.jsonl"
        f.write_text("".join(json.dumps({"port": PORT, **s}) + "\n" for s in sched))
        procs[h] = tb.net.popen(h, [*AGENT, "fetch", "--schedule", str(f), "--out", str(work / f"{h}.json"),
                                    "--epoch", repr(epoch), "--bin-s", "1", "--until-s", repr(until_s)],
                                stdout=subprocess.DEVNULL)
    for p in procs.values():
        p.wait(timeout=until_s + 30)
    return {h: json.loads((work / f"{h}.json").read_text()) for h in schedules}


def _mbps(doc: dict, server: str, proto: str, bins: range) -> float:
    got = {b: n for b, s, p, n in doc["rows"] if s == server and p == proto}
    return sum(got.get(b, 0) for b in bins) * 8 / 1e6 / len(bins)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=20)
    ap.add_argument("--hosts", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    regions = list(region_codes())[: max(len(CAPS_KBPS), a.regions)]
    capped = dict(zip(regions, CAPS_KBPS, strict=False))
    rows = [{"region": r, "period": "00:00-24:00", "peak_kbps": 2 * c, "cap_kbps": c}
            for r, c in capped.items()]
    d = directive_from_data({"platform": "ExampleTube", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
                             "rows": rows})
    g = build_graph(regions, TopologyOptions(hosts_per_region=a.hosts))
    out: dict = {"regions": len(regions), "hosts_per_region": a.hosts}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        noon = datetime(2026, 3, 2, 12)
        with running_testbed(g, work, directive=d, time_scale=1.0, clock_start=noon) as tb:
            out["setup_s"] = round(time.monotonic() - t0, 2)
            out.update(tb.timings_s)
            start_servers(tb.net, PORT)
            hosts = {r: user_hosts(g, r)[0] for r in capped}
            bulk = {"at_s": 0, "server": PLATFORM, "bytes": 0, "rate_kbps": 0, "duration_s": 8}
            tcp = _fetch(tb, {h: [bulk] for h in hosts.values()}, work, 9)
            out["tcp_mbps"] = {c: round(_mbps(tcp[hosts[r]], PLATFORM, "tcp", range(2, 8)), 3)
                               for r, c in capped.items()}
            udp = _fetch(tb, {hosts[r]: [{"at_s": 0, "server": PLATFORM, "proto": "udp",
                                          "bytes": int(2 * c * 1000 / 8 * 6), "rate_kbps": 2 * c}]
                              for r, c in capped.items()}, work, 7)
            out["udp_mbps"] = {c: round(_mbps(udp[hosts[r]], PLATFORM, "udp", range(1, 6)), 3)
                               for r, c in capped.items()}
            free = user_hosts(g, regions[-1])[0] if len(regions) > len(capped) else hosts[regions[0]]
            other = _fetch(tb, {free: [{"at_s": 0, "server": OTHER, "bytes": 0, "rate_kbps": 0,
                                        "duration_s": 5}]}, work, 6)
            out["other_tcp_mbps"] = round(_mbps(other[free], OTHER, "tcp", range(1, 5)), 1)
            t1 = time.monotonic()
        out["teardown_s"] = round(time.monotonic() - t1, 2)
    if a.json:
        print(json.dumps(out))
        return
    print(f"{out['regions']} regions x {a.hosts} hosts: set-up {out['setup_s']} s, "
          f"teardown {out['teardown_s']} s (network {out['network_s']} s, controller launch to all "
          f"switches set up {out['controller_to_switches_set_up_s']} s)")
    for c in CAPS_KBPS:
        print(f"cap {c / 1000:g} Mbit/s: TCP {out['tcp_mbps'][c]:.2f} ({out['tcp_mbps'][c] * 1000 / c:.0%}), "
              f"UDP at 2x {out['udp_mbps'][c]:.2f} ({out['udp_mbps'][c] * 1000 / c:.0%}) Mbit/s payload")
    print(f"other service, unmetered TCP: {out['other_tcp_mbps']} Mbit/s")


if __name__ == "__main__":
    main()
