"""Helpers of the emulation tests: directives with given caps, agent runs, leftover checks."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from throttlebed.directive.schema import Directive, directive_from_data
from throttlebed.emulation.backend import RunningTestbed
from throttlebed.emulation.driver import AGENT
from throttlebed.emulation.mininet_net import leftovers

PLATFORM, OTHER = "203.0.113.1", "198.51.100.1"
PORT = 5001
# An agent needs about 0.3 s to start on a quiet machine and over a second on a busy one:
# offset 0 lies this far ahead so that no transfer starts late.
AGENT_START_LEAD_S = 2.0


def caps_directive(caps: dict[str, dict[str, int]]) -> Directive:
    """A stage-50 directive: region -> {period: cap_kbps}, the peak twice the cap."""
    rows = [{"region": r, "period": p, "peak_kbps": 2 * c, "cap_kbps": c}
            for r, by_period in caps.items() for p, c in by_period.items()]
    return directive_from_data({"platform": "ExampleTube", "platform_prefixes": ["203.0.113.0/24"],
                                "stage": 50, "rows": rows})


def run_fetch(tb: RunningTestbed, schedules: dict[str, list[dict]], work: Path, *, bin_s: float,
              until_s: float, epoch: float | None = None) -> dict[str, dict]:
    """Run one agent ``fetch`` per host with its schedule; return each host's result document."""
    epoch = time.time() + AGENT_START_LEAD_S if epoch is None else epoch
    procs = {}
    for h, sched in schedules.items():
        f = work / f"sched-{h}.jsonl"
        f.write_text("".join(json.dumps({"port": PORT, **s}) + "\n" for s in sched))
        out = work / f"out-{h}.json"
        out.unlink(missing_ok=True)
        procs[h] = tb.net.popen(h, [*AGENT, "fetch", "--schedule", str(f), "--out", str(out),
                                    "--epoch", repr(epoch), "--bin-s", repr(bin_s),
                                    "--until-s", repr(until_s)], stdout=subprocess.DEVNULL)
    for p in procs.values():
        p.wait(timeout=until_s + 30)
    return {h: json.loads((work / f"out-{h}.json").read_text()) for h in schedules}


def mbps(doc: dict, server: str, proto: str, bins: range) -> float:
    """Mean Mbit/s received from ``server`` over ``bins``."""
    got = {b: n for b, s, p, n in doc["rows"] if s == server and p == proto}
    return sum(got.get(b, 0) for b in bins) * 8 / 1e6 / (len(bins) * doc["bin_s"])


def assert_nothing_left(tb: RunningTestbed) -> None:
    """No bridge, veth, host shell, agent or controller of the run remains."""
    left = leftovers(tb.graph, tb.tag)
    assert left == {"bridges": [], "interfaces": [], "processes": []}, left
    assert tb.ctl.proc.poll() is not None, "controller still running"
    assert all(p.poll() is not None for p in tb.net.procs), "an agent is still running"


def assert_run_left_nothing(work_dir: Path, graph) -> None:
    """After ``run_emulation`` in ``work_dir``: none of its names or processes remain."""
    from throttlebed.emulation.mininet_net import processes_with

    tag = json.loads((work_dir / "emulation.json").read_text())["tag"]
    left = leftovers(graph, tag)
    assert left == {"bridges": [], "interfaces": [], "processes": []}, left
    assert processes_with(str(work_dir)) == [], "a controller or agent of the run is still running"
