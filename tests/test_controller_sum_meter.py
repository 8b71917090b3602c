"""``sum`` on real OVS: ONE meter shared by both platform flows, up + down held together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.controller_util import (
    HOSTS,
    UDP_TOOL,
    Controller,
    bridges,
    dump_flows,
    dump_meters,
    free_port,
    namespaces,
    sh,
    udp_received,
)
from throttlebed.controller.plan import METER_IDS

pytestmark = pytest.mark.emulation


def test_sum_directive_one_shared_meter_holds_both_directions(ovs, tmp_path: Path):
    tool = tmp_path / "udp.py"
    tool.write_text(UDP_TOOL)
    (tmp_path / "d.json").write_text(json.dumps({
        "platform": "ExamplePlatform", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
        "rows": [{"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 40000, "cap_kbps": 20000,
                  "direction": "sum"}]}))
    ofp_port = free_port()
    cap_wire_kbps, send_kbps, send_s = 2000, 2000, 5.0  # each direction alone at the cap: 2x together
    with bridges([0x1075], ofp_port) as br, namespaces({role: br[0x1075] for role in HOSTS}) as ns:
        ctl = Controller(tmp_path, ofp_port, "--directive", str(tmp_path / "d.json"), "--rate-scale", "0.1",
                         "--burst-s", "0.1", "--poll-interval-s", "0.5")
        try:
            ctl.wait_connected(1)
            bridge = br[0x1075]
            sum_id = METER_IDS["sum"]
            assert set(dump_meters(bridge)) == {sum_id}, dump_meters(bridge)  # ONE meter
            metered = [f for f in dump_flows(bridge) if "203.0.113.0/24" in f]
            assert len(metered) == 2 and all(f"meter:{sum_id}" in f for f in metered), metered
            sh("ip", "netns", "exec", ns["user"], "ping", "-c1", "-W2", "203.0.113.10")
            # down: platform -> user on 9001; up: user -> platform on 9003, each at the cap
            got = udp_received(tool, ns, [("plat", "user", "10.75.0.2", 9001),
                                          ("user", "plat", "203.0.113.10", 9003)], send_kbps, send_s)
        finally:
            assert ctl.stop() == 0
    # over the common sending time: one direction may get most of the meter and then receive
    # only a few early datagrams, whose own span would overstate its rate
    down_kbps, up_kbps = (n * 8 / 1000 / send_s for n, _ in got)
    # together at the cap (each alone would pass: 2000 is the cap of the sum, not of each)
    assert 0.9 * cap_wire_kbps <= down_kbps + up_kbps <= 1.1 * cap_wire_kbps, got
    # both flows pass the one meter; how they split it is the policer's packet order, not fairness
    assert down_kbps > 0 and up_kbps > 0, got
    print(f"receivers: down {down_kbps:.0f} + up {up_kbps:.0f} = {down_kbps + up_kbps:.0f} kbit/s "
          f"(cap {cap_wire_kbps} on the sum)")
