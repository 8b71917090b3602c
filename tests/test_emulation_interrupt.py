"""Ctrl-C or SIGTERM in the middle of an emulated run: nothing of it remains."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emulation_helpers import assert_run_left_nothing

from throttlebed.emulation.mininet_net import existing_bridges
from throttlebed.topology.graph import TopologyOptions, build_graph

pytestmark = pytest.mark.emulation

SCRIPT = """
import sys
from datetime import date
from pathlib import Path
import numpy as np
from throttlebed.sim.load import LoadProfile, generate_sessions
from throttlebed.emulation.backend import run_emulation
regions = ["KZ-75", "KZ-10"]
s = generate_sessions(regions, LoadProfile(users_scale=0.002), np.random.default_rng(1), 0, 86400)
run_emulation(regions, s, None, day=date(2026, 3, 2), start_s=0, end_s=86400, time_scale=600,
              rate_scale=1.0, hosts_per_region=1, sampling_interval_s=600, burst_s=1.0,
              work_dir=Path(sys.argv[1]), quiet=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_nothing(ovs, tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], stderr=subprocess.PIPE)
    info = tmp_path / "emulation.json"
    try:
        t0 = time.monotonic()
        while not (info.exists() and json.loads(info.read_text())["state"] == "running"):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() - t0 < 60, "the run did not start"
            time.sleep(0.2)
        tag = json.loads(info.read_text())["tag"]
        time.sleep(2.0)  # traffic is flowing now
        assert any(b.startswith(tag) for b in existing_bridges())
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in proc.stderr.read().decode()
    assert_run_left_nothing(tmp_path, build_graph(["KZ-75", "KZ-10"], TopologyOptions(hosts_per_region=1)))
