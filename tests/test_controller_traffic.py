"""Real UDP through one metered bridge: platform traffic held at the cap, other traffic untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.controller_util import (
    HOSTS,
    UDP_TOOL,
    Controller,
    bridges,
    free_port,
    http,
    namespaces,
    sh,
    udp_transfers,
)

pytestmark = pytest.mark.emulation

def test_udp_platform_held_at_cap_other_untouched(ovs, tmp_path: Path):
    tool = tmp_path / "udp.py"
    tool.write_text(UDP_TOOL)
    (tmp_path / "d.json").write_text(json.dumps({
        "platform": "ExamplePlatform", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
        "rows": [{"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 40000, "cap_kbps": 20000}]}))
    ofp_port = free_port()
    cap_wire_kbps, send_kbps, send_s = 2000, 4000, 5.0
    burst_s, poll_interval_s = 0.1, 0.5
    with bridges([0x1075], ofp_port) as br, namespaces({role: br[0x1075] for role in HOSTS}) as ns:
        ctl = Controller(tmp_path, ofp_port, "--directive", str(tmp_path / "d.json"), "--rate-scale", "0.1",
                         "--burst-s", str(burst_s), "--poll-interval-s", str(poll_interval_s),
                         "--stats-out", str(tmp_path / "stats.csv"))
        try:
            ctl.wait_connected(1)
            sh("ip", "netns", "exec", ns["user"], "ping", "-c1", "-W2", "203.0.113.10")
            sh("ip", "netns", "exec", ns["user"], "ping", "-c1", "-W2", "198.51.100.10")
            got = udp_transfers(tool, ns, [("plat", "user", "10.75.0.2", 9001),
                                           ("othr", "user", "10.75.0.2", 9002)], send_kbps, send_s)
            platform_kbps, other_kbps = got
            assert 0.9 * cap_wire_kbps <= platform_kbps <= 1.1 * cap_wire_kbps, got
            assert other_kbps >= 0.9 * send_kbps, got
            time.sleep(1.2)  # two more polls
            stats = http(ctl.base, "GET", "/stats")[1]
            drops = {d["direction"]: d for d in stats["meter_band_drops"]}
            assert drops["down"]["packets"] > 0 and drops["up"]["packets"] == 0
        finally:
            assert ctl.stop() == 0
    lines = (tmp_path / "stats.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    busy = [r for r in rows if r["direction"] == "down" and r["traffic"] == "platform"
            and float(r["offered_wire_kbps"]) > 0.9 * send_kbps]
    assert len(busy) >= 4, rows
    # A token bucket passes at most rate * T + bucket in an interval T; the bucket (rate * burst_s) is
    # full when traffic starts, so the first interval may carry it on top of the cap.
    upper_kbps = 1.05 * cap_wire_kbps * (1 + burst_s / poll_interval_s)
    for r in busy:  # whole intervals inside the sending window
        assert 0.85 * cap_wire_kbps <= float(r["wire_kbps"]) <= upper_kbps, "\n".join(lines)
        assert float(r["kbps"]) == pytest.approx(float(r["wire_kbps"]) / 0.1, rel=1e-3)
    steady = sorted(float(r["wire_kbps"]) for r in busy[1:])
    assert steady[len(steady) // 2] == pytest.approx(cap_wire_kbps, rel=0.05), "\n".join(lines)
    seen = [round(float(r["wire_kbps"])) for r in busy]
    print(f"receiver: platform {platform_kbps:.0f} kbit/s (cap {cap_wire_kbps}), "
          f"other {other_kbps:.0f} kbit/s; controller wire_kbps {seen}")
