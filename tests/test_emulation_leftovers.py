"""Interrupted sweeps and killed runs leave nothing behind; ``emulation cleanup`` removes one tag only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_emulation_broken_run import TINY, wait_running

from tests.cli_util import run_cli
from throttlebed.emulation.cleanup import find_leftovers
from throttlebed.emulation.mininet_net import leftovers, processes_with, running_network
from throttlebed.topology.graph import TopologyOptions, build_graph

pytestmark = pytest.mark.emulation
EXE = Path(sys.executable).parent / "throttlebed"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return ") Z " not in stat


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_mininet_sweep_leaves_nothing(ovs, tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "sweep.yaml").write_text("name: tiny\nbase: tiny.yaml\ngrid:\n  stage: [50, 90]\n")
    out = tmp_path / "sw"
    proc = subprocess.Popen([str(EXE), "sweep", str(tmp_path / "sweep.yaml"), "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        doc = wait_running(proc, "sw/.run-000.partial-*/work/baseline/emulation.json", tmp_path,
                           timeout_s=300)
        time.sleep(2.0)  # traffic is flowing
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    left = find_leftovers(doc["tag"])
    assert left.empty(), left.to_data()
    assert not _alive(int(doc["controller_pid"]))
    assert processes_with(str(tmp_path)) == []
    assert not list(out.glob(".run-*.partial-*"))


def test_cleanup_removes_an_orphaned_run_and_nothing_of_another_tag(ovs, tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    other = build_graph(["KZ-10"], TopologyOptions(hosts_per_region=1))
    with running_network(other, controller_port=1, tag="tq", wait_s=None):
        proc = subprocess.Popen([str(EXE), "run", str(tmp_path / "tiny.yaml"), "--backend", "mininet",
                                 "--out", str(tmp_path / "o"), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            doc = wait_running(proc, ".o.partial-*/work/baseline/emulation.json", tmp_path)
            time.sleep(2.0)
            os.kill(proc.pid, signal.SIGKILL)  # no cleanup of its own: an orphaned run
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        tag = doc["tag"]
        before = find_leftovers(tag)
        assert before.bridges and before.interfaces, before.to_data()  # it did leave things behind
        other_before = leftovers(other, "tq")
        res = run_cli("emulation", "cleanup", "--tag", tag, "--json")
        assert res.code == 0, res.err
        assert json.loads(res.out)["removed"]["bridges"] == before.bridges
        assert find_leftovers(tag).empty()
        deadline = time.monotonic() + 10  # the controller had SIGTERM when its parent died
        while _alive(int(doc["controller_pid"])) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(int(doc["controller_pid"]))
        assert leftovers(other, "tq") == other_before  # the other run is untouched
        assert other_before["bridges"] and other_before["interfaces"]
    assert leftovers(other, "tq") == {"bridges": [], "interfaces": [], "processes": []}
    assert processes_with(str(tmp_path)) == []
