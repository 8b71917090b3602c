"""Real UDP through a metered bridge whose cap changes mid-interval: the spanning interval is exact."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.controller_util import (
    HOSTS,
    UDP_SEND_BRANCH,
    Controller,
    bridges,
    free_port,
    http,
    namespaces,
    sh,
    write_token_file,
)

pytestmark = pytest.mark.emulation

TOKEN = "span-test-token-42"
# the receiver prints one "monotonic_s wire_bytes" line per datagram (both processes share CLOCK_MONOTONIC)
UDP_TOOL = r'''
import socket, sys, time
if sys.argv[1] == "recv":
    port, dur = int(sys.argv[2]), float(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); s.settimeout(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    out, end = [], time.monotonic() + dur
    while time.monotonic() < end:
        try:
            n = len(s.recv(65535))
        except socket.timeout:
            continue
        out.append(f"{time.monotonic():.6f} {n + 42}")  # + Ethernet/IP/UDP headers
    print("\n".join(out))
''' + UDP_SEND_BRANCH


def _directive(cap_kbps: int) -> dict:
    return {"platform": "ExamplePlatform", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
            "rows": [{"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 2 * cap_kbps,
                      "cap_kbps": cap_kbps}]}


def _local_minus_mono_s(ctl: Controller) -> float:
    """Emulated local time (as seconds of a naive datetime) minus this machine's monotonic clock."""
    before = time.monotonic()
    local = datetime.fromisoformat(ctl.health()["local_time"]).replace(tzinfo=None)
    after = time.monotonic()
    return local.timestamp() - (before + after) / 2


def _row_starts_mono_s(stats_csv: Path, offset_s: float) -> list[float]:
    """Monotonic start of each platform-down interval so far."""
    lines = stats_csv.read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    return [datetime.fromisoformat(r["time"]).timestamp() - offset_s for r in rows
            if r["direction"] == "down" and r["traffic"] == "platform"]


def _until_mid_interval_s(stats_csv: Path, offset_s: float, poll_s: float) -> float:
    """Seconds from now to the middle of a coming poll interval (the poller keeps a fixed pace)."""
    last = _row_starts_mono_s(stats_csv, offset_s)[-1]
    now = time.monotonic()
    target = last + poll_s / 2
    while target < now + 0.1:
        target += poll_s
    return target - now


def test_interval_spanning_a_cap_change_matches_the_receiver(ovs, tmp_path: Path):
    tool = tmp_path / "udp.py"
    tool.write_text(UDP_TOOL)
    (tmp_path / "d.json").write_text(json.dumps(_directive(20000)))
    write_token_file(tmp_path / "token", TOKEN)
    ofp_port = free_port()
    # wire caps 2000 -> 1000 kbit/s (rate scale 0.1), 4000 kbit/s offered
    send_kbps, send_s, poll_s = 4000, 6.0, 1.0
    with bridges([0x1075], ofp_port) as br, namespaces({role: br[0x1075] for role in HOSTS}) as ns:
        ctl = Controller(tmp_path, ofp_port, "--directive", str(tmp_path / "d.json"), "--rate-scale", "0.1",
                         "--burst-s", "0.1", "--poll-interval-s", str(poll_s), "--token-file",
                         str(tmp_path / "token"), "--stats-out", str(tmp_path / "stats.csv"))
        try:
            ctl.wait_connected(1)
            sh("ip", "netns", "exec", ns["user"], "ping", "-c1", "-W2", "203.0.113.10")
            offset_s = _local_minus_mono_s(ctl)
            py = sys.executable
            recv = subprocess.Popen(["ip", "netns", "exec", ns["user"], py, str(tool), "recv", "9001",
                                     str(send_s + 1.5)], stdout=subprocess.PIPE, text=True)
            time.sleep(0.3)
            send = subprocess.Popen(["ip", "netns", "exec", ns["plat"], py, str(tool), "send", "10.75.0.2",
                                     "9001", str(send_kbps), str(send_s)])
            time.sleep(2.5)  # a few whole intervals at the first cap, then change it mid-interval
            time.sleep(_until_mid_interval_s(tmp_path / "stats.csv", offset_s, poll_s))
            change_mono_s = time.monotonic()
            status, body = http(ctl.base, "PUT", "/directive", _directive(10000), token=TOKEN)
            assert status == 200 and body["switches_confirmed"] == ["0x1075"], body
            assert send.wait(timeout=send_s + 10) == 0
            out, _ = recv.communicate(timeout=15)
            time.sleep(2 * poll_s)  # the rows of the last intervals
            health = ctl.health()
        finally:
            assert ctl.stop() == 0
    arrivals = [(float(t), int(n)) for t, n in (line.split() for line in out.splitlines() if line)]
    lines = (tmp_path / "stats.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    down = [r for r in rows if r["direction"] == "down" and r["traffic"] == "platform"]
    starts = _row_starts_mono_s(tmp_path / "stats.csv", offset_s)
    spanning = [i for i in range(len(down) - 1) if starts[i] < change_mono_s < starts[i + 1]]
    assert len(spanning) == 1, "\n".join(lines)
    i = spanning[0]
    start_s, end_s = starts[i], starts[i + 1]
    got_bytes = sum(n for t, n in arrivals if start_s <= t < end_s)
    receiver_kbps = got_bytes * 8 / 1000 / (end_s - start_s)
    controller_kbps = float(down[i]["wire_kbps"])
    print(f"spanning interval {end_s - start_s:.3f} s: controller wire_kbps {controller_kbps:.0f}, "
          f"receiver {receiver_kbps:.0f}, offered {float(down[i]['offered_wire_kbps']):.0f}; "
          f"fallbacks {health.get('meter_interval_fallbacks')}")
    assert 1200 < receiver_kbps < 1800  # the interval held both caps, about half each
    assert controller_kbps == pytest.approx(receiver_kbps, rel=0.10)
    assert health["meter_interval_fallbacks"] == 0
