"""Helpers for the controller's Open vSwitch tests: bridges, dumps, the controller as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from throttlebed.controller.plan import meter_plan

REPO = Path(__file__).resolve().parent.parent
# the API tests' token and directive: one region, all day, stage 50, and the same row at stage 90
API_TOKEN = "tok-0123456789abcdef"
ONE_REGION = {"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 50, "rows": [
    {"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 40000, "cap_kbps": 20000}]}
ONE_REGION_STAGE_90 = dict(ONE_REGION, stage=90, rows=[dict(ONE_REGION["rows"][0], cap_kbps=4000)])
_names = iter(range(100))


def write_token_file(path: Path, token: str = API_TOKEN) -> Path:
    """A ``--token-file`` as the controller accepts it: the token, readable by its owner only."""
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=20).stdout


@contextlib.contextmanager
def bridges(dpids: list[int], ofp_port: int, max_backoff_ms: int | None = None):
    """Userspace OpenFlow 1.3 bridges with the given dpids, fail-mode secure, ours to delete.

    ``max_backoff_ms`` bounds how long a bridge waits between attempts to reach its controller.
    """
    names = [f"tbc{os.getpid() % 10000}x{next(_names)}" for _ in dpids]
    backoff = [f"max_backoff={max_backoff_ms}"] if max_backoff_ms else []
    try:
        for name, dpid in zip(names, dpids, strict=True):
            sh("ovs-vsctl", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev",
               "protocols=OpenFlow13", f"other-config:datapath-id={dpid:016x}", "--",
               "--id=@c", "create", "Controller", f"target=\"tcp:127.0.0.1:{ofp_port}\"", *backoff, "--",
               "set", "bridge", name, "controller=@c", "--", "set-fail-mode", name, "secure")
        yield dict(zip(dpids, names, strict=True))
    finally:
        for name in names:
            subprocess.run(["ovs-vsctl", "--if-exists", "del-br", name], capture_output=True, timeout=20)


def dump_meters(br: str) -> dict[int, tuple[int, int]]:
    """meter id -> (rate kbps, burst kbits) of a bridge."""
    text = sh("ovs-ofctl", "-O", "OpenFlow13", "dump-meters", br)
    found = re.findall(r"meter=(\d+) ([a-z ]*)bands=\s*type=drop rate=(\d+)(?: burst_size=(\d+))?", text)
    for _, flags, _, _ in found:
        assert flags.split() in (["kbps", "burst", "stats"], ["kbps"]), text
    return {int(m): (int(r), int(b or 0)) for m, _, r, b in found}


def dump_flows(br: str) -> list[str]:
    """Flows without counters, sorted."""
    out = []
    for line in sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", br).splitlines()[1:]:
        skip = ("duration=", "n_packets=", "n_bytes=", "table=", "idle_age", "hard_age")
        fields = [f for f in line.strip().replace(", ", ",").split(",") if not f.startswith(skip)]
        out.append(",".join(fields))
    return sorted(out)


def flow_durations(br: str) -> list[float]:
    return [float(x) for x in re.findall(r"duration=([\d.]+)s", sh("ovs-ofctl", "-O", "OpenFlow13",
                                                                    "dump-flows", br))]


def wanted_meters(directive, dpid: int, region: str | None, minute: int, rate_scale: float):
    plan = meter_plan(directive, {dpid: region}, minute, rate_scale=rate_scale)[dpid]
    return {m.meter_id: (m.rate_kbps, m.burst_kbits) for m in plan.meters}


def wait_until(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, subprocess.CalledProcessError, urllib.error.URLError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def http_text(base: str, method: str, path: str, body=None, token: str | None = None) -> tuple[int, str]:
    """One request to the controller's API: (status, body text); HTTP errors are answers too."""
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def http(base: str, method: str, path: str, body=None, token: str | None = None) -> tuple[int, dict | str]:
    """Like ``http_text``, with a JSON body parsed."""
    status, text = http_text(base, method, path, body, token)
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


class Controller:
    """``throttlebed controller`` as a subprocess, stopped by its own pid."""

    def __init__(self, tmp: Path, ofp_port: int, *extra: str):
        self.api_port = free_port()
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.log = tmp / f"controller-{self.api_port}.log"
        args = [sys.executable, "-m", "throttlebed.controller.launcher", "--ofp-port", str(ofp_port),
                "--api", f"127.0.0.1:{self.api_port}", *extra]
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("w"))
        wait_until(lambda: http(self.base, "GET", "/health")[0] == 200, 15, "the controller's API")

    def health(self) -> dict:
        return http(self.base, "GET", "/health")[1]

    def wait_connected(self, n: int) -> None:
        """``n`` switches connected, each having confirmed its plan."""
        wait_until(lambda: (h := self.health())["switches_connected"] == h["switches_in_sync"] == n, 20,
                   f"{n} switches")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=5)


# The sending half of the small UDP tools the traffic tests run inside namespaces: argv
# ``send HOST PORT KBPS DURATION_S`` paces 1200-byte datagrams (1242 bytes on the wire) at KBPS.
UDP_SEND_BRANCH = r'''
else:
    host, port, kbps, dur = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); payload = b"x" * 1200
    gap, t = 1242 * 8 / 1000 / kbps, time.monotonic(); end = t + dur
    while t < end:
        try:
            s.sendto(payload, (host, port))
        except OSError:  # no route for a moment (a link down): keep pacing
            pass
        t += gap
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)
'''

# The small UDP tools the traffic tests run inside namespaces: ``recv PORT DURATION_S`` prints the
# frame bytes received and the span between first and last datagram; ``bins PORT DURATION_S BIN_S``
# prints "ready" once listening, then a JSON {"start": monotonic start, "bin_s": .., "bytes": [frame
# bytes per bin]} (CLOCK_MONOTONIC is the machine's, the same in every namespace, so bins line up
# with the test's events).
UDP_TOOL = r'''
import json, socket, sys, time
if sys.argv[1] in ("recv", "bins"):
    port, dur = int(sys.argv[2]), float(sys.argv[3])
    bin_s = float(sys.argv[4]) if sys.argv[1] == "bins" else dur
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); s.settimeout(0.05)
    total, first, last, start = 0, None, None, time.monotonic()
    bins = [0] * (int(dur / bin_s) + 1)
    end = start + dur
    if sys.argv[1] == "bins":
        print("ready", flush=True)
    while time.monotonic() < end:
        try:
            n = len(s.recv(65535)) + 42  # + Ethernet/IP/UDP headers: frame bytes
        except socket.timeout:
            continue
        now = time.monotonic(); first = first or now; last = now; total += n
        bins[min(len(bins) - 1, int((now - start) / bin_s))] += n
    if sys.argv[1] == "recv":
        print(total, (last - first) if first else 0.0)
    else:
        print(json.dumps({"start": start, "bin_s": bin_s, "bytes": bins}))
''' + UDP_SEND_BRANCH
HOSTS = {  # role: (address/prefix, routes)
    "plat": ("203.0.113.10/24", ["10.0.0.0/8"]),
    "user": ("10.75.0.2/16", ["203.0.113.0/24", "198.51.100.0/24"]),
    "othr": ("198.51.100.10/24", ["10.0.0.0/8"]),
}


@contextlib.contextmanager
def namespaces(bridge_of: dict[str, str]):
    """One namespace per role in ``bridge_of`` (role -> bridge), wired to its bridge by a veth
    (transmit checksum offload off); yields role -> namespace name."""
    tag = f"{os.getpid() % 10000}"
    made: list[str] = []
    try:
        for role, bridge in bridge_of.items():
            addr, routes = HOSTS[role]
            ns, host_if, sw_if = f"tbc{tag}{role}", f"tb{tag}{role}h", f"tb{tag}{role}s"
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", sw_if)
            sh("ip", "link", "set", host_if, "netns", ns)
            sh("ovs-vsctl", "add-port", bridge, sw_if)
            sh("ip", "link", "set", sw_if, "up")
            for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", host_if, "up"],
                        ["ip", "addr", "add", addr, "dev", host_if],
                        ["ethtool", "-K", host_if, "tx", "off"],  # STACK.md pitfall 1
                        *[["ip", "route", "add", r, "dev", host_if] for r in routes]):
                sh("ip", "netns", "exec", ns, *cmd)
        yield {role: f"tbc{tag}{role}" for role in bridge_of}
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def udp_received(tool: Path, ns: dict[str, str], flows: list[tuple[str, str, str, int]],
                 send_kbps: float, send_s: float) -> list[tuple[int, float]]:
    """UDP at ``send_kbps`` for ``send_s`` along each (sender, receiver, address, port) at once;
    (wire bytes, seconds from first to last datagram) for each receiver."""
    py = sys.executable
    recv = [subprocess.Popen(["ip", "netns", "exec", ns[dst], py, str(tool), "recv", str(port),
                              str(send_s + 2)], stdout=subprocess.PIPE, text=True)
            for _, dst, _, port in flows]
    time.sleep(0.3)
    send = [subprocess.Popen(["ip", "netns", "exec", ns[src], py, str(tool), "send", addr, str(port),
                              str(send_kbps), str(send_s)])
            for src, _, addr, port in flows]
    for p in send:
        assert p.wait(timeout=send_s + 10) == 0
    got = []
    for p in recv:
        out, _ = p.communicate(timeout=10)
        nbytes, span_s = out.split()
        got.append((int(nbytes), float(span_s)))
    return got


def udp_transfers(tool: Path, ns: dict[str, str], flows: list[tuple[str, str, str, int]],
                  send_kbps: float, send_s: float) -> list[float]:
    """The kbit/s each receiver of :func:`udp_received` got, over the span it received them in."""
    return [n * 8 / 1000 / span_s if span_s > 0 else 0.0
            for n, span_s in udp_received(tool, ns, flows, send_kbps, send_s)]
