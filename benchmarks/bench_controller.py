"""Benchmark: the controller installing and modifying 20 regional meter sets on Open vSwitch.

Run (root, Open vSwitch running): ``.venv/bin/python benchmarks/bench_controller.py [--repeats 5] [--json]``.
Makes 20 userspace bridges with the scheme's regional dpids and one core bridge, starts
``throttlebed controller`` without a directive (counting only), then times ``PUT /directive``
end to end: the reply comes after every switch answered its barrier. Install = no directive ->
a directive capping all 20 regions (2 meters + 2 flow modifies each); modify = a directive with
other caps (2 meter modifies each). Also the time from launch to all 21 switches in sync.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from throttlebed.directive.regions import CORE_DPID, region_codes, region_dpid
from throttlebed.fileio import create_private_text

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(base: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _directive(cap_kbps: int) -> dict:
    return {"platform": "Bench", "platform_prefixes": ["203.0.113.0/24"], "stage": 50,
            "rows": [{"region": c, "period": "00:00-24:00", "peak_kbps": 2 * cap_kbps, "cap_kbps": cap_kbps}
                     for c in region_codes()]}


def _meters(br: str) -> str:
    return subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-meters", br], check=True,
                          capture_output=True, text=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ofp_port, api_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{api_port}"
    dpids = [CORE_DPID] + [region_dpid(c) for c in region_codes()]
    names = [f"tbb{os.getpid() % 10000}x{i}" for i in range(len(dpids))]
    tmp = Path(tempfile.mkdtemp(prefix="bench-controller-"))
    create_private_text(tmp / "token", TOKEN)  # the controller refuses a token others may read
    proc = None
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "throttlebed.controller.launcher", "--ofp-port",
                                 str(ofp_port), "--api", f"127.0.0.1:{api_port}", "--token-file",
                                 str(tmp / "token"), "--log-level", "WARNING", "--poll-interval-s", "0.5"],
                                cwd=REPO)
        for name, dpid in zip(names, dpids, strict=True):
            subprocess.run(["ovs-vsctl", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev",
                            "protocols=OpenFlow13", f"other-config:datapath-id={dpid:016x}", "--",
                            "set-controller", name, f"tcp:127.0.0.1:{ofp_port}", "--",
                            "set-fail-mode", name, "secure"], check=True, capture_output=True)
        while True:
            try:
                if _http(base, "GET", "/health")["switches_connected"] == len(dpids):
                    break
            except OSError:
                pass
            if proc.poll() is not None:  # e.g. a refused option: stop, and remove the bridges
                raise SystemExit(f"the controller exited with code {proc.returncode}")
            time.sleep(0.02)
        connected_s = time.perf_counter() - t0
        install, modify = [], []
        for i in range(args.repeats):
            cap = 10000 + 1000 * i
            # back to no caps: an uncovered day removes meters (a directive must have rows)
            _http(base, "PUT", "/directive", {**_directive(cap), "rows": [
                {"region": "KZ-75", "period": "00:00-00:01", "peak_kbps": 2, "cap_kbps": 1}]})
            t = time.perf_counter()
            _http(base, "PUT", "/directive", _directive(cap))
            install.append(time.perf_counter() - t)
            t = time.perf_counter()
            _http(base, "PUT", "/directive", _directive(cap + 500))
            modify.append(time.perf_counter() - t)
        assert f"rate={cap + 500} " in _meters(names[-1]), "the last directive is not on the switch"
        api_ms = []
        for _ in range(50):  # the API while 21 switches are connected and polled
            t = time.perf_counter()
            urllib.request.urlopen(base + "/metrics", timeout=10).read()
            api_ms.append((time.perf_counter() - t) * 1000)
        result = {
            "switches": len(dpids),
            "launch_to_all_connected_s": round(connected_s, 3),
            "install_20_meter_sets_ms": {"median": round(statistics.median(install) * 1000, 1),
                                         "min": round(min(install) * 1000, 1),
                                         "max": round(max(install) * 1000, 1)},
            "modify_20_meter_sets_ms": {"median": round(statistics.median(modify) * 1000, 1),
                                        "min": round(min(modify) * 1000, 1),
                                        "max": round(max(modify) * 1000, 1)},
            "get_metrics_ms": {"median": round(statistics.median(api_ms), 2), "max": round(max(api_ms), 2)},
            "note": "PUT /directive round trip incl. validation, plan, diff, messages and barrier replies",
        }
        print(json.dumps(result, indent=None if args.json else 2))
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        for name in names:
            subprocess.run(["ovs-vsctl", "--if-exists", "del-br", name], capture_output=True)


if __name__ == "__main__":
    main()
