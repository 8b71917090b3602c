"""A broken emulated run publishes nothing: the controller killed mid-phase gives exit 1, no verdict."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from throttlebed.emulation.mininet_net import leftovers, processes_with
from throttlebed.topology.graph import TopologyOptions, build_graph

pytestmark = pytest.mark.emulation

REGIONS = ["KZ-75"]
TINY = """\
name: tiny-emulated
regions: [KZ-75]
periods: "00:00-19:00,19:00-24:00"
stage: 50
day: 2026-03-02
load: {users_scale: 0.002}
backend: {default: mininet, time_scale: 300, start_s: 68400, end_s: 75600, sampling_interval_s: 600,
          hosts_per_region: 1}
seed: 1
"""


def tiny_scenario(tmp_path: Path) -> Path:
    """One region, 2 h of the evening in 24 s real per phase."""
    f = tmp_path / "tiny.yaml"
    f.write_text(TINY)
    return f


def wait_running(proc: subprocess.Popen, pattern: str, root: Path, timeout_s: float = 120) -> dict:
    """The emulation.json (matched by ``pattern`` under ``root``) once its phase is running."""
    t0 = time.monotonic()
    while True:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() - t0 < timeout_s, f"no running phase {pattern}"
        for info in root.glob(pattern):
            with contextlib.suppress(ValueError, OSError):
                doc = json.loads(info.read_text())
                if doc.get("state") == "running":
                    return doc
        time.sleep(0.2)


def test_controller_killed_mid_phase_exits_1_with_no_verdict(ovs, tmp_path: Path) -> None:
    scenario, out = tiny_scenario(tmp_path), tmp_path / "o"
    exe = Path(sys.executable).parent / "throttlebed"
    proc = subprocess.Popen([str(exe), "run", str(scenario), "--backend", "mininet", "--out", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        doc = wait_running(proc, ".o.partial-*/work/stage-50/emulation.json", tmp_path)
        time.sleep(1.0)  # enforced traffic is flowing (a late set-up shortens the phase to a few s)
        os.kill(int(doc["controller_pid"]), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "controller" in lines[0] and "exited" in lines[0], stderr
    assert stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no verdict, no partial dir
    graph = build_graph(REGIONS, TopologyOptions(hosts_per_region=1))
    assert leftovers(graph, doc["tag"]) == {"bridges": [], "interfaces": [], "processes": []}
    assert processes_with(str(tmp_path)) == []


def test_check_intact_passes_a_whole_testbed_and_names_what_breaks(ovs, tmp_path: Path) -> None:
    from datetime import datetime

    from emulation_helpers import OTHER, PORT, run_fetch

    from throttlebed.emulation.backend import BrokenRun, check_intact, running_testbed
    from throttlebed.emulation.driver import result_counts, start_servers
    from throttlebed.emulation.ovs_service import vsctl

    g = build_graph(REGIONS, TopologyOptions(hosts_per_region=1))
    with running_testbed(g, tmp_path, directive=None, time_scale=1.0,
                         clock_start=datetime(2026, 3, 2, 12, 0)) as tb:
        check_intact(tb)  # whole: no exception
        with pytest.raises(BrokenRun, match="1 transfer"):
            check_intact(tb, counts={"failed": 1})
        with pytest.raises(BrokenRun, match="reconnected"):  # connected only seconds ago
            check_intact(tb, phase_real_s=3600.0)
        # a schedule the agent got 3 s late: two transfers start 3 and 2.5 s past their time
        start_servers(tb.net, PORT)
        late = [{"at_s": at_s, "server": OTHER, "bytes": 1000, "rate_kbps": 0} for at_s in (0.0, 0.5, 4.0)]
        docs = run_fetch(tb, {"u75h1": late}, tmp_path, bin_s=1.0, until_s=6.0, epoch=time.time() - 3.0)
        counts = result_counts(docs)
        assert (counts["started"], counts["completed"], counts["late"]) == (3, 3, 2), docs
        assert 2500 <= counts["start_lag_max_ms"] < 10000, counts
        with pytest.raises(BrokenRun, match="2 of 3 transfers started more than half a sampling interval"):
            check_intact(tb, counts=counts)
        check_intact(tb, counts={**counts, "started": 40})  # 2 of 40 late: within 5%
        switch = tb.net.bridges()[-1]
        vsctl("del-controller", switch)
        # whichever notices first: OVS (not connected) or the controller (fewer switches set up)
        with pytest.raises(BrokenRun, match=f"not connected.*{switch}|of 2 switches set up"):
            check_intact(tb)


def test_a_baseline_the_testbed_could_not_serve_fails_the_run(ovs, tmp_path: Path) -> None:
    """Users who give up 1 ms (emulated) past a transfer's paced end: nearly every baseline transfer
    is abandoned, so the peaks would be wrong; the run fails after its baseline and publishes nothing."""
    scenario, out = tmp_path / "impatient.yaml", tmp_path / "o"
    scenario.write_text(TINY.replace("load: {users_scale: 0.002}",
                                     "load: {users_scale: 0.002, patience_s: 0.001}"))
    exe = Path(sys.executable).parent / "throttlebed"
    proc = subprocess.run([str(exe), "run", str(scenario), "--backend", "mininet", "--out", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "baseline" in lines[0] and "not served" in lines[0], proc.stderr
    assert "tolerance.baseline_not_served is 5.0%" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["impatient.yaml"]  # no verdict, no partial dir
    assert processes_with(str(tmp_path)) == []
