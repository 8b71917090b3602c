"""A period boundary on the compressed clock: the controller switches the meter, TCP follows."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from emulation_helpers import PLATFORM, PORT, assert_nothing_left, caps_directive, mbps, run_fetch

from throttlebed.emulation.backend import running_testbed
from throttlebed.emulation.driver import start_servers
from throttlebed.topology.graph import TopologyOptions, build_graph, user_hosts

pytestmark = pytest.mark.emulation

TIME_SCALE = 300.0  # 5 emulated minutes per real second
BEFORE_KBPS, AFTER_KBPS = 5000, 1000
BOUNDARY = datetime(2026, 3, 2, 12, 0)


def test_cap_follows_the_period_on_the_compressed_clock(ovs, tmp_path) -> None:
    g = build_graph(["KZ-75"], TopologyOptions(hosts_per_region=1))
    d = caps_directive({"KZ-75": {"00:00-12:00": BEFORE_KBPS, "12:00-24:00": AFTER_KBPS}})
    # the clock shows 11:35 a little after the testbed is ready: the boundary comes 5 s later
    align = datetime(2026, 3, 2, 11, 35)
    with running_testbed(g, tmp_path, directive=d, time_scale=TIME_SCALE, align=align) as tb:
        start_servers(tb.net, PORT)
        boundary_wall = tb.wall_time_of(BOUNDARY)
        epoch = time.time() + 0.3
        b_s = boundary_wall - epoch  # boundary, real seconds after the epoch
        assert b_s > 4.5, f"set-up took too long: the boundary is {b_s:.1f} s after the start"
        h = user_hosts(g, "KZ-75")[0]
        docs = run_fetch(tb, {h: [{"at_s": 0, "server": PLATFORM, "bytes": 0, "rate_kbps": 0,
                                   "duration_s": b_s + 6}]}, tmp_path, bin_s=0.5, until_s=b_s + 6.5,
                         epoch=epoch)
        switched = tb.ctl.get("/period-switches")["switches"]
    assert_nothing_left(tb)
    # the controller timed the 12:00 change: one switch, confirmed, no failure
    at_noon = [r for r in switched if r["boundary"] == BOUNDARY.isoformat(timespec="milliseconds")]
    assert len(at_noon) == 1 and at_noon[0]["switches"] == 1, switched
    assert at_noon[0]["failed"] == [] and at_noon[0]["pending"] == []
    assert at_noon[0]["latency_ms"] is not None and at_noon[0]["latency_ms"] >= at_noon[0]["send_ms"] >= 0
    k = int(b_s // 0.5)  # bin holding the boundary
    before = mbps(docs[h], PLATFORM, "tcp", range(k - 7, k - 1)) * 1000 / BEFORE_KBPS
    after = mbps(docs[h], PLATFORM, "tcp", range(k + 4, k + 11)) * 1000 / AFTER_KBPS
    print(f"before 12:00: {before:.3f} of {BEFORE_KBPS} kbit/s; after: {after:.3f} of {AFTER_KBPS} kbit/s")
    assert 0.85 <= before <= 1.05
    assert 0.85 <= after <= 1.10
