"""The controller's compressed clock aligned to the replay, even when set-up outruns the lead."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from emulation_helpers import assert_nothing_left

from throttlebed.emulation import backend as emulation
from throttlebed.emulation.mininet_net import processes_with
from throttlebed.topology.graph import TopologyOptions, build_graph

pytestmark = pytest.mark.emulation


def test_short_lead_relaunches_the_controller_and_aligns(ovs, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(emulation, "CLOCK_LEAD_REAL_S", 0.2)  # surely shorter than the set-up
    g = build_graph(["KZ-75"], TopologyOptions(hosts_per_region=1))
    align = datetime(2026, 3, 2, 19, 0)
    with emulation.running_testbed(g, tmp_path, directive=None, time_scale=600.0, align=align) as tb:
        assert tb.timings_s["controller_launches"] == 2
        assert len(processes_with(f"{tmp_path}/controller-stats.csv")) == 1  # the first one is gone
        wall = tb.wall_time_of(align)
        assert wall > time.time()  # 19:00 is still ahead on the controller's clock
        t, local = tb.clock()
        # two readings of the clock agree on the rate: 600 emulated s per real s
        time.sleep(0.5)
        t2, local2 = tb.clock()
        rate = (local2 - local).total_seconds() / (t2 - t)
        assert rate == pytest.approx(600, rel=0.02)
    assert_nothing_left(tb)
