"""Real Open vSwitch meters set by the controller: TCP and UDP goodput at the cap, no collateral.

One network of three regions whose directive caps are 1, 5 and 20 Mbit/s on the wire
(rate_scale 1, one period covering the whole day); the three regions are measured at once.
Goodput is counted by the project's own agent on the receiving user host.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from emulation_helpers import OTHER, PLATFORM, PORT, assert_nothing_left, caps_directive, mbps, run_fetch

from throttlebed.emulation.backend import RunningTestbed, running_testbed
from throttlebed.emulation.driver import start_servers
from throttlebed.topology.graph import TopologyOptions, build_graph, user_hosts

pytestmark = pytest.mark.emulation

CAP_KBPS = {"KZ-10": 1000, "KZ-71": 5000, "KZ-75": 20000}


@pytest.fixture(scope="module")
def capped(ovs, tmp_path_factory) -> Iterator[tuple[RunningTestbed, Path]]:
    work = tmp_path_factory.mktemp("caps")
    g = build_graph(list(CAP_KBPS), TopologyOptions(hosts_per_region=1))
    d = caps_directive({r: {"00:00-24:00": c} for r, c in CAP_KBPS.items()})
    with running_testbed(g, work, directive=d, time_scale=1.0, clock_start=datetime(2026, 3, 2, 12, 0)) as tb:
        start_servers(tb.net, PORT)
        yield tb, work
    assert_nothing_left(tb)


def test_tcp_goodput_is_held_at_the_cap(capped) -> None:
    tb, work = capped
    hosts = {r: user_hosts(tb.graph, r)[0] for r in CAP_KBPS}
    docs = run_fetch(tb, {h: [{"at_s": 0, "server": PLATFORM, "bytes": 0, "rate_kbps": 0, "duration_s": 8}]
                          for h in hosts.values()}, work, bin_s=1.0, until_s=9.0)
    ratios = {r: mbps(docs[h], PLATFORM, "tcp", range(2, 8)) * 1000 / CAP_KBPS[r] for r, h in hosts.items()}
    print("TCP goodput / cap:", {r: round(x, 3) for r, x in ratios.items()})
    for r, x in ratios.items():
        assert 0.85 <= x <= 1.05, (r, x)


def test_udp_at_twice_the_cap_is_policed_to_the_cap(capped) -> None:
    tb, work = capped
    hosts = {r: user_hosts(tb.graph, r)[0] for r in CAP_KBPS}
    duration_s = 6.0
    docs = run_fetch(tb, {hosts[r]: [{"at_s": 0, "server": PLATFORM, "proto": "udp",
                                      "bytes": int(2 * c * 1000 / 8 * duration_s), "rate_kbps": 2 * c}]
                          for r, c in CAP_KBPS.items()}, work, bin_s=1.0, until_s=duration_s + 1)
    ratios = {r: mbps(docs[h], PLATFORM, "udp", range(1, 6)) * 1000 / CAP_KBPS[r] for r, h in hosts.items()}
    print("UDP goodput / cap (sent at 2x):", {r: round(x, 3) for r, x in ratios.items()})
    for r, x in ratios.items():
        assert 0.95 <= x <= 1.05, (r, x)


def test_other_service_is_not_capped(capped) -> None:
    tb, work = capped
    h = user_hosts(tb.graph, "KZ-71")[0]
    docs = run_fetch(tb, {h: [{"at_s": 0, "server": PLATFORM, "bytes": 0, "rate_kbps": 0, "duration_s": 5},
                              {"at_s": 0, "server": OTHER, "bytes": 0, "rate_kbps": 0, "duration_s": 5}]},
                     work, bin_s=1.0, until_s=6.0)
    other = mbps(docs[h], OTHER, "tcp", range(1, 5))
    platform = mbps(docs[h], PLATFORM, "tcp", range(1, 5))
    print(f"collateral: other {other:.1f} Mbit/s beside the platform at {platform:.2f} Mbit/s (cap 5)")
    assert other > 100 and other > 5 * CAP_KBPS["KZ-71"] / 1000
    assert platform <= 1.1 * CAP_KBPS["KZ-71"] / 1000
