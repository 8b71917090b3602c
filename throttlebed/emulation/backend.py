"""The emulation backend: a day of sessions as real traffic through Open vSwitch meters.

``run_emulation`` starts, in order: Open vSwitch (if it is not running), the Mininet network of
the regions, the os-ken controller as a subprocess (``throttlebed controller``, its emulated clock
set so that it shows ``start_s`` on ``day`` at the replay's epoch; relaunched with a longer lead
when set-up outruns it), then the real-time driver.
It returns one measurement table with both sources: the controller's flow counters
(``ovs-flow-counters``, resampled onto the sampling grid) and the receivers' byte counts
(``receiver``), all in model units (wire kbit/s / ``rate_scale``) and emulated local time.
Whatever happens (an exception, Ctrl-C), the controller is ended by its pid (SIGTERM, then
SIGKILL) and the network removes exactly its own bridges, veths and processes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from throttlebed.directive.schema import Directive, save_directive
from throttlebed.emulation import ovs_service
from throttlebed.emulation.driver import ReplayConfig, replay
from throttlebed.emulation.mininet_net import (
    RUN_TAG_ENV,
    ControllerLink,
    EmulatedNetwork,
    NetworkError,
    controller_links,
    running_network,
    signals_deferred,
    wait_connected,
)
from throttlebed.emulation.ovs_service import OvsCommandError
from throttlebed.errors import InputError, RunFailure
from throttlebed.fileio import atomic_write_text, create_private_text
from throttlebed.measurements import validate_measurements
from throttlebed.timescale import TimeScale
from throttlebed.topology.addressing import DEFAULT_OTHER_PREFIX, DEFAULT_PLATFORM_PREFIX, AddressPlan
from throttlebed.topology.graph import TopologyOptions, build_graph, hosts, switches

CONTROLLER = [sys.executable, "-m", "throttlebed.controller.launcher"]
UPLINK_PORT = 1  # the regional switch's first link is the one to the core (graph.links order)
CONTROLLER_SOURCE = "ovs-flow-counters"
CLOCK_LEAD_REAL_S = 6.0  # the controller's clock starts this long (real) before the replay
ALIGN_MARGIN_S = 0.5  # the replay needs at least this long between ready and its epoch
ALIGN_ATTEMPTS = 3
# a relaunched controller waits for switches that lost the previous one: Open vSwitch redials on
# a back-off of 1, 2, 4 then 8 s (3.1 ignores Controller.max_backoff), so a relaunch's lead adds 8 s
RECONNECT_BACKOFF_MAX_S = 8.0
AGENT_START_S = 0.05  # real seconds to allow per host for starting the traffic agents
NETWORK_BUILD_S_PER_NODE = 0.12  # real seconds Mininet takes per node (host or switch) to build
PR_SET_PDEATHSIG = 1


class BrokenRun(RunFailure):
    """The emulated run itself went wrong (controller died, switch disconnected, agents failed...).

    Its measurements prove nothing: no verdict may be published from it.
    """


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    Called in a child between fork and exec (``preexec_fn``); a no-op where prctl is missing.
    """
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def free_port() -> int:
    """A TCP port on loopback that nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_listening(port: int) -> bool:
    """Whether a socket of this network namespace listens on TCP ``port`` (from /proc/net/tcp*)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                    return True
    return False


def run_tag() -> str:
    """A short run tag for Mininet names, different between concurrent processes."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    n = os.getpid() * 7919 + secrets.randbelow(36)
    return "e" + alphabet[n % 36] + alphabet[(n // 36) % 36]


def _log(quiet: bool, msg: str) -> None:
    if not quiet:
        print(f"[emulation] {msg}", file=sys.stderr, flush=True)


# ---- the controller subprocess -------------------------------------------------------------


@dataclass
class ControllerHandle:
    """A running controller subprocess and where to reach it."""

    proc: subprocess.Popen
    ofp_port: int
    api: str
    stats_csv: Path
    log: Path
    launched_mono: float
    token: str | None = None  # the run's bearer token for the API's changes (--token-file)

    def get(self, path: str, timeout_s: float = 2.0) -> dict[str, Any]:
        """GET a JSON document from the controller's API."""
        with urllib.request.urlopen(f"http://{self.api}{path}", timeout=timeout_s) as r:
            return json.loads(r.read().decode())

    def lift_directive(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """``DELETE /directive`` with the run's bearer token: every meter removed (the lift).

        Raises RuntimeError when the controller does not confirm it (any answer but 2xx).
        """
        req = urllib.request.Request(f"http://{self.api}/directive", method="DELETE")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"the controller refused DELETE /directive: HTTP {e.code} "
                               f"{' '.join(e.read().decode(errors='replace').split())[:200]}") from None
        return json.loads(text) if text.strip() else {}


def stop_process(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM ``proc`` (by its pid), SIGKILL it if it is still there after ``grace_s``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def running_controller(work_dir: Path, *, directive_file: Path | None, time_scale: float,
                       clock_start: datetime, rate_scale: float, burst_s: float, poll_interval_s: float,
                       platform_prefix: str, ofp_port: int | None = None,
                       tag: str | None = None, wait: bool = True) -> Iterator[ControllerHandle]:
    """Start ``throttlebed controller`` (on free loopback ports by default); stop it by pid on exit.

    With ``wait`` (the default) it returns once the controller answers its API and listens for
    switches; without, at once (call :func:`wait_api` before using it).

    The controller gets SIGTERM when this process dies (even by SIGKILL), and carries the run
    ``tag`` in its environment (``THROTTLEBED_RUN_TAG``) so that ``emulation cleanup`` finds it.
    """
    ofp_port, api_port = ofp_port or free_port(), free_port()
    stats_csv, log = work_dir / "controller-stats.csv", work_dir / "controller.log"
    stats_csv.unlink(missing_ok=True)
    args = [*CONTROLLER, "--ofp-port", str(ofp_port), "--api", f"127.0.0.1:{api_port}",
            "--time-scale", repr(float(time_scale)), "--clock-start", clock_start.isoformat(),
            "--rate-scale", repr(float(rate_scale)), "--burst-s", repr(float(burst_s)),
            "--poll-interval-s", repr(float(poll_interval_s)), "--stats-out", str(stats_csv),
            "--audit-log", str(work_dir / "controller-audit.jsonl"),
            "--platform-prefix", platform_prefix, "--uplink-port", str(UPLINK_PORT),
            "--log-level", "WARNING"]
    if directive_file is not None:
        args += ["--directive", str(directive_file)]
    token = secrets.token_hex(16)
    token_file = work_dir / "controller-token"
    token_file.unlink(missing_ok=True)
    create_private_text(token_file, token + "\n")
    args += ["--token-file", str(token_file)]
    launched_mono = time.monotonic()
    env = {**os.environ, RUN_TAG_ENV: tag} if tag else None
    try:
        with open(log, "wb") as logf:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=env, preexec_fn=die_with_parent)
    except BaseException:
        token_file.unlink(missing_ok=True)
        raise
    handle = ControllerHandle(proc, ofp_port, f"127.0.0.1:{api_port}", stats_csv, log, launched_mono,
                              token)
    try:
        if wait:
            wait_api(handle, timeout_s=30.0)
        yield handle
    finally:
        with signals_deferred():
            stop_process(proc)
            token_file.unlink(missing_ok=True)  # the run's secret does not stay in its outputs


def wait_api(c: ControllerHandle, timeout_s: float) -> None:
    """Wait until the controller answers its API and listens for switches."""
    t0 = time.monotonic()
    while True:
        if c.proc.poll() is not None:
            tail = c.log.read_text(errors="replace")[-800:] if c.log.exists() else ""
            raise RuntimeError(f"the controller exited with code {c.proc.returncode}: {tail.strip()}")
        with contextlib.suppress(OSError, ValueError):
            c.get("/health", timeout_s=1.0)
            if tcp_listening(c.ofp_port):
                return
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"the controller's API did not answer within {timeout_s:g} s")
        time.sleep(0.1)


def wait_switches(c: ControllerHandle, n: int, timeout_s: float = 30.0) -> float:
    """Wait until ``n`` switches confirmed their plan to the controller; return the seconds it took."""
    t0 = time.monotonic()
    while True:
        with contextlib.suppress(OSError, ValueError):
            if int(c.get("/health").get("switches_in_sync", 0)) >= n:
                return time.monotonic() - t0
        if c.proc.poll() is not None:
            raise RuntimeError(f"the controller exited with code {c.proc.returncode}")
        if time.monotonic() - t0 > timeout_s:
            raise NetworkError(f"the controller has not set up all {n} switches within {timeout_s:g} s")
        time.sleep(0.1)


def controller_clock(c: ControllerHandle, time_scale: float) -> tuple[float, datetime]:
    """(wall time, the controller's emulated local time then), to about 1/time_scale s or 20 ms.

    ``/health`` gives whole emulated seconds; when they are long in real time, the reading is
    taken at the moment the second changes.
    """
    def read() -> tuple[float, datetime]:
        t_before = time.time()
        local = datetime.fromisoformat(c.get("/health")["local_time"])
        return (t_before + time.time()) / 2, local

    t, local = read()
    if time_scale >= 50:
        return t, local
    deadline = time.monotonic() + TimeScale(time_scale).real_s(2.0) + 1.0
    while time.monotonic() < deadline:
        t2, local2 = read()
        if local2 != local:
            return t2, local2
        time.sleep(0.02)
    return t, local


# ---- the controller's counters onto the sampling grid --------------------------------------


def controller_measurements(stats_csv: Path, *, day: date, start_s: float, end_s: float,
                            sampling_interval_s: float, poll_emulated_s: float) -> pd.DataFrame:
    """The controller's per-poll rows as a time-weighted mean per sampling interval."""
    cols = ["time", "region", "direction", "traffic", "kbps", "source"]
    if not stats_csv.exists() or stats_csv.stat().st_size == 0:
        return pd.DataFrame(columns=cols)
    raw = pd.read_csv(stats_csv)
    raw = raw[raw["direction"].isin(["down", "up"])].copy()
    if raw.empty:
        return pd.DataFrame(columns=cols)
    raw["time"] = pd.to_datetime(raw["time"])
    midnight = pd.Timestamp(datetime(day.year, day.month, day.day))
    raw["t_s"] = (raw["time"] - midnight).dt.total_seconds()
    keys = ["region", "direction", "traffic"]
    raw = raw.sort_values([*keys, "t_s"], kind="stable")
    nxt = raw.groupby(keys)["t_s"].shift(-1)
    raw["dur_s"] = (nxt - raw["t_s"]).fillna(poll_emulated_s).clip(lower=0)
    raw = raw[(raw["t_s"] >= start_s) & (raw["t_s"] < end_s) & (raw["dur_s"] > 0)]
    raw["bin"] = np.floor((raw["t_s"] - start_s) / sampling_interval_s).astype(int)
    raw["kbit"] = raw["kbps"] * raw["dur_s"]
    agg = raw.groupby([*keys, "bin"], as_index=False)[["kbit", "dur_s"]].sum()
    agg["kbps"] = agg["kbit"] / agg["dur_s"]
    agg["time"] = midnight + pd.to_timedelta(start_s + agg["bin"] * sampling_interval_s, unit="s")
    agg["source"] = CONTROLLER_SOURCE
    return agg[cols].sort_values(["time", "region", "direction", "traffic"]).reset_index(drop=True)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While running, SIGTERM raises KeyboardInterrupt (main thread only), so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ---- is the run intact? ----------------------------------------------------------------------


STATUS_STALE_S = 6.0  # ovs-vswitchd refreshes a Controller's status column every few seconds


EXIT_SETTLE_S = 1.0  # a killed process closes its sockets a moment before it can be reaped


def _raise_if_exited(ctl: ControllerHandle, wait_s: float = 0.0) -> None:
    """BrokenRun naming the exit when the controller's process has ended (waiting up to ``wait_s``)."""
    try:
        code = ctl.proc.wait(timeout=wait_s) if wait_s > 0 else ctl.proc.poll()
    except subprocess.TimeoutExpired:
        code = None
    if code is not None:
        raise BrokenRun(f"the controller (pid {ctl.proc.pid}) exited with code {code} during the run")


def _controller_links(tb: RunningTestbed) -> dict[str, ControllerLink]:
    """OVS's view of every bridge's controller connection (BrokenRun when OVS does not answer)."""
    try:
        return controller_links(tb.net.bridges())
    except OvsCommandError as e:
        raise BrokenRun(f"Open vSwitch did not answer: {e}") from None


def check_intact(tb: RunningTestbed, *, phase_real_s: float = 0.0,
                 counts: dict[str, int] | None = None) -> None:
    """BrokenRun (one line) unless the run stayed whole over the last ``phase_real_s`` seconds.

    Asked of the controller's process and HTTP API and of Open vSwitch (not of the controller's
    internals): the controller process is alive and answers ``/health`` with every switch set up;
    every bridge is connected to it, for the whole phase as far as OVS tells (its
    ``sec_since_connect``, refreshed every few seconds); the traffic agents counted no failed
    transfer and started at most a few transfers late (:func:`_check_on_schedule`); every OVS
    command succeeded. A controller that died shows as any of these (an API that does not answer,
    switches down, transfers failing), so whatever fails, its exit is looked for first and named.
    """
    _raise_if_exited(tb.ctl)
    try:
        _check_connections(tb, phase_real_s)
        failed = int((counts or {}).get("failed", 0))
        if failed:
            raise BrokenRun(f"{failed} transfer(s) of the traffic agents failed")
        _check_on_schedule(counts or {})
    except BrokenRun:
        _raise_if_exited(tb.ctl, wait_s=EXIT_SETTLE_S)
        raise


def _check_connections(tb: RunningTestbed, phase_real_s: float) -> None:
    """BrokenRun unless the controller answers with every switch set up and OVS shows every bridge
    connected to it, without a reconnection during the last ``phase_real_s`` seconds."""
    ctl, n = tb.ctl, len(switches(tb.graph))
    try:
        health = ctl.get("/health", timeout_s=5.0)
    except (OSError, ValueError) as e:
        raise BrokenRun(f"the controller's API did not answer /health: {e}") from None
    if int(health.get("switches_connected", 0)) < n:
        raise BrokenRun(f"the controller reports {health.get('switches_connected')} of {n} switches set up")
    links = _controller_links(tb)
    down = sorted(b for b, lk in links.items() if not lk.connected)
    if down:  # OVS refreshes a Controller's status every few seconds: a switch that just connected
        try:  # may still read as down, so give it that long
            wait_connected(down, timeout_s=STATUS_STALE_S)
        except NetworkError:
            pass
        except OvsCommandError as e:
            raise BrokenRun(f"Open vSwitch did not answer: {e}") from None
        links = _controller_links(tb)
        down = sorted(b for b, lk in links.items() if not lk.connected)
    if down:
        raise BrokenRun(f"switch(es) not connected to the controller: {', '.join(down)}")
    reconnected = sorted(b for b, lk in links.items() if lk.connected_for_s is not None
                         and lk.connected_for_s + STATUS_STALE_S < phase_real_s)
    if reconnected:
        raise BrokenRun(f"switch(es) reconnected to the controller during the run: {', '.join(reconnected)}")


LATE_START_SHARE_MAX = 0.05  # share of a phase's transfers that may start half an interval late


def _check_on_schedule(counts: dict[str, int]) -> None:
    """BrokenRun when more than ``LATE_START_SHARE_MAX`` of the transfers started late.

    Late means more than half a sampling interval (real) after the schedule's time: the machine did
    not keep up, so bytes land in the wrong intervals and sessions look slowed or abandoned by the
    directive when the machine slowed them. Checked in every phase, enforced ones included.
    """
    started, late = int(counts.get("started", 0)), int(counts.get("late", 0))
    if started and late > LATE_START_SHARE_MAX * started:
        lag_s = int(counts.get("start_lag_max_ms", 0)) / 1000
        raise BrokenRun(
            f"{late} of {started} transfers started more than half a sampling interval late (the latest "
            f"{lag_s:.1f} s; at most {LATE_START_SHARE_MAX:.0%} may): the machine could not keep up with "
            "the schedule, so this phase's figures would be the machine's, not the directive's; give the "
            "emulation more real time (a smaller backend.time_scale) or less load")


# ---- the entry point -----------------------------------------------------------------------


def _check_prefix(directive: Directive | None, platform_prefix: str) -> None:
    """The directive's prefixes must hold the emulated platform servers, or nothing is capped."""
    if directive is None or not directive.platform_prefixes:
        return
    server = AddressPlan.make(platform_prefix).platform_ip(0)
    if not any(server in p for p in directive.platform_prefixes):
        raise InputError(f"the platform's servers ({platform_prefix}) are outside the directive's "
                         f"prefixes {[str(p) for p in directive.platform_prefixes]}",
                         where="platform_prefixes")


@dataclass
class RunningTestbed:
    """A running controller and network, and the clock that ties them together."""

    ctl: ControllerHandle
    net: EmulatedNetwork
    graph: nx.Graph
    tag: str
    time_scale: float
    timings_s: dict[str, float]

    @property
    def scale(self) -> TimeScale:
        """The controller clock's time scale."""
        return TimeScale(self.time_scale)

    def clock(self) -> tuple[float, datetime]:
        """(wall time, the controller's emulated local time then)."""
        return controller_clock(self.ctl, self.time_scale)

    def wall_time_of(self, local: datetime) -> float:
        """Wall time (Unix s) at which the controller's clock shows ``local``."""
        t, now = self.clock()
        return t + self.scale.real_s((local - now).total_seconds())


@contextlib.contextmanager
def running_testbed(g: nx.Graph, work_dir: Path, *, directive: Directive | None, time_scale: float,
                    clock_start: datetime | None = None, align: datetime | None = None,
                    rate_scale: float = 1.0, burst_s: float = 1.0, poll_interval_s: float = 1.0,
                    tag: str | None = None, quiet: bool = True) -> Iterator[RunningTestbed]:
    """Network + controller of ``g``, every switch set up; everything stopped and removed on exit.

    The controller's emulated clock starts at ``clock_start`` at its launch; or, with ``align``,
    it is set so that it shows ``align`` a few seconds after the testbed is ready: when set-up
    outruns that lead (a loaded machine), the controller is relaunched with a longer one.
    """
    if (clock_start is None) == (align is None):
        raise ValueError("give exactly one of clock_start and align")
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    platform_prefix = str(g.graph["platform_prefix"])
    _check_prefix(directive, platform_prefix)
    ovs_service.ensure_running()
    directive_file = None
    if directive is not None:
        directive_file = work_dir / "directive.yaml"
        save_directive(directive, directive_file)
    tag = tag or run_tag()
    ofp_port = free_port()
    t0 = time.monotonic()
    _log(quiet, f"network: {len(switches(g))} switches, tag {tag}")
    # the controller first, so that it listens before the switches exist: they connect at their
    # first try instead of after a back-off of seconds (Open vSwitch 3.1 ignores max_backoff), and
    # the controller's start overlaps the network's. Its emulated clock starts at its launch, so
    # the clock lead covers the network's build as well as the switches connecting.
    agents_s = AGENT_START_S * len(hosts(g))  # the replay starts one agent per host before its epoch
    lead_s = CLOCK_LEAD_REAL_S + agents_s + NETWORK_BUILD_S_PER_NODE * g.number_of_nodes()
    margin_needed_s = ALIGN_MARGIN_S + agents_s
    controller = contextlib.ExitStack()

    def launch(lead_s: float) -> ControllerHandle:
        lead = timedelta(seconds=TimeScale(time_scale).model_s(lead_s))
        start = clock_start if align is None else align - lead
        return controller.enter_context(running_controller(
            work_dir, directive_file=directive_file, time_scale=time_scale, clock_start=start,
            rate_scale=rate_scale, burst_s=burst_s, poll_interval_s=poll_interval_s,
            platform_prefix=platform_prefix, ofp_port=ofp_port, tag=tag, wait=False))

    try:
        ctl = launch(lead_s)
        listening: dict[str, float] = {}

        def await_controller() -> None:
            listening["built_at_s"] = round(time.monotonic() - t0, 3)
            wait_api(ctl, timeout_s=30.0)
            listening["listening_at_s"] = round(time.monotonic() - t0, 3)

        # the switches start once the controller listens: they connect at their first try
        with running_network(g, controller_port=ofp_port, tag=tag, quiet=True, wait_s=None,
                             before_start=await_controller) as en:
            t_net = time.monotonic()
            for attempt in range(1, ALIGN_ATTEMPTS + 1):
                if attempt > 1:  # the first launch was waited for before the switches started
                    controller.close()
                    ctl = launch(lead_s)
                    wait_api(ctl, timeout_s=30.0)
                # the controller's word that every switch confirmed its plan (OVS's own
                # Controller.is_connected is refreshed only every few seconds)
                wait_switches(ctl, len(switches(g)))
                t_up = time.monotonic()
                timings = {"network_s": round(t_net - t0, 3), "clock_lead_s": round(lead_s, 3),
                           **listening,
                           "ready_s": round(t_up - t0, 3),
                           "controller_to_switches_set_up_s": round(t_up - ctl.launched_mono, 3),
                           "controller_launches": attempt}
                tb = RunningTestbed(ctl, en, g, tag, time_scale, timings)
                if align is not None and attempt < ALIGN_ATTEMPTS:
                    margin_s = tb.wall_time_of(align) - time.time()
                    if margin_s < margin_needed_s:
                        lead_s += margin_needed_s - margin_s + RECONNECT_BACKOFF_MAX_S
                        _log(quiet, f"set-up outran the clock lead; relaunching the controller "
                                    f"with a lead of {lead_s:.1f} s")
                        continue
                yield tb
                return
    finally:
        controller.close()  # after the network has stopped


@dataclass
class _Lift:
    """A pending ``DELETE /directive`` and, once sent, how it went."""

    timer: threading.Timer
    outcome: dict[str, Any]


def _lift_timer(ctl: ControllerHandle, wall_at: float, quiet: bool) -> _Lift:
    """Send ``DELETE /directive`` at wall time ``wall_at`` (Unix s) on a timer thread."""
    outcome: dict[str, Any] = {"done": False}

    def fire() -> None:
        outcome["late_real_s"] = round(time.time() - wall_at, 3)
        try:
            outcome["reply"] = ctl.lift_directive()
            outcome["done"] = True
            _log(quiet, "directive lifted (DELETE /directive)")
        except (OSError, RuntimeError, ValueError) as e:
            outcome["error"] = str(e)

    timer = threading.Timer(max(0.0, wall_at - time.time()), fire)
    timer.daemon = True
    timer.start()
    return _Lift(timer, outcome)


@dataclass
class EmulatedDay:
    """An emulated run: the measurement table and the outcome of every transfer."""

    measurements: pd.DataFrame
    sessions: pd.DataFrame  # session outcome table (throttlebed.measurements.OUTCOME_COLUMNS)


def run_emulation(regions: Sequence[str], sessions: pd.DataFrame, directive: Directive | None, *,
                  day: date, start_s: float, end_s: float, time_scale: float, rate_scale: float,
                  hosts_per_region: int, sampling_interval_s: float, burst_s: float, work_dir: Path,
                  **options: Any) -> pd.DataFrame:
    """The measurement table of :func:`emulate_day` (same arguments)."""
    return emulate_day(regions, sessions, directive, day=day, start_s=start_s, end_s=end_s,
                       time_scale=time_scale, rate_scale=rate_scale, hosts_per_region=hosts_per_region,
                       sampling_interval_s=sampling_interval_s, burst_s=burst_s, work_dir=work_dir,
                       **options).measurements


def emulate_day(regions: Sequence[str], sessions: pd.DataFrame, directive: Directive | None, *,
                day: date, start_s: float, end_s: float, time_scale: float, rate_scale: float,
                hosts_per_region: int, sampling_interval_s: float, burst_s: float, work_dir: Path,
                platform_prefix: str = DEFAULT_PLATFORM_PREFIX, quiet: bool = False,
                other_prefix: str = DEFAULT_OTHER_PREFIX, max_concurrent_per_host: int = 64,
                max_transfers_per_s: float = 80.0, patience_s: float | None = None,
                lift_s: float | None = None) -> EmulatedDay:
    """Replay ``sessions`` over ``[start_s, end_s)`` of ``day`` through real switches and meters.

    ``directive`` None is the baseline (forwarding and counting only). ``lift_s``: at that second
    of the day (emulated) the directive is lifted with the controller's ``DELETE /directive``
    (bearer token); a lift the controller does not confirm fails the run. Returns the measurement
    table (``time, region, direction, traffic, kbps, source``) of both sources and the outcome of
    every transfer (users abandon a TCP transfer ``patience_s`` emulated seconds past its paced
    end; None: never); writes the directive, the controller's log/CSV, the agents' results and
    ``emulation.json`` (the run's figures) into ``work_dir``.
    """
    t_begin = time.monotonic()
    work_dir = Path(work_dir)
    limits = {"max_concurrent_per_host": max_concurrent_per_host, "max_transfers_per_s": max_transfers_per_s,
              "patience_s": patience_s}
    cfg = ReplayConfig(start_s=start_s, end_s=end_s, time_scale=time_scale, rate_scale=rate_scale,
                       sampling_interval_s=sampling_interval_s, **limits)
    g = build_graph(regions, TopologyOptions(hosts_per_region=hosts_per_region,
                                             platform_prefix=platform_prefix, other_prefix=other_prefix))
    _check_prefix(directive, platform_prefix)
    midnight = datetime(day.year, day.month, day.day)
    start_local = midnight + timedelta(seconds=start_s)
    poll_real_s = max(0.1, cfg.bin_real_s / max(1, round(cfg.bin_real_s / 1.0)))
    info: dict[str, Any] = {"regions": list(g.graph["regions"]), "time_scale": time_scale,
                            "rate_scale": rate_scale, "start_s": start_s, "end_s": end_s,
                            "sampling_interval_s": sampling_interval_s, "burst_s": burst_s,
                            "hosts_per_region": hosts_per_region, "poll_interval_real_s": poll_real_s,
                            "baseline": directive is None,
                            **limits}
    _log(quiet, f"controller: clock x{time_scale:g} aligned to {start_local.isoformat()}, "
                f"rate scale {rate_scale:g}")
    tag = run_tag()
    info["tag"] = tag
    info_file = work_dir / "emulation.json"
    atomic_write_text(info_file, json.dumps({**info, "state": "starting"}, indent=2, default=str))
    with sigterm_as_interrupt(), \
            running_testbed(g, work_dir, directive=directive, time_scale=time_scale, align=start_local,
                            rate_scale=rate_scale, burst_s=burst_s, poll_interval_s=poll_real_s, tag=tag,
                            quiet=quiet) as tb:
        info["setup_s"] = round(time.monotonic() - t_begin, 3)
        info.update(tb.timings_s)
        info["controller_pid"] = tb.ctl.proc.pid
        atomic_write_text(info_file, json.dumps({**info, "state": "running"}, indent=2, default=str))
        epoch = tb.wall_time_of(start_local)
        if epoch < time.time() + 0.5:  # still outran after relaunches: skip whole intervals
            late_s = time.time() + 0.5 - epoch
            skip_s = math.ceil(cfg.scale.model_s(late_s) / sampling_interval_s) * sampling_interval_s
            if start_s + skip_s >= end_s:
                raise RuntimeError(f"set-up took {late_s:.1f} s longer than the clock lead; no window left")
            _log(quiet, f"set-up took {late_s:.2f} s longer than the clock lead; skipping {skip_s:g} s")
            info["skipped_emulated_s"] = skip_s
            epoch += cfg.scale.real_s(skip_s)
            cfg = ReplayConfig(start_s=start_s + skip_s, end_s=end_s, time_scale=time_scale,
                               rate_scale=rate_scale, sampling_interval_s=sampling_interval_s, **limits)
        info["epoch_wait_real_s"] = round(epoch - time.time(), 3)
        lift = _lift_timer(tb.ctl, epoch + cfg.scale.real_after(cfg.start_s, lift_s), quiet) \
            if lift_s is not None and directive is not None else None
        _log(quiet, f"replay: {len(sessions)} sessions over {cfg.window_real_s:.1f} s real")
        check_intact(tb)
        phase_t0 = time.monotonic()
        try:
            result = replay(tb.net, sessions, cfg, day, work_dir, epoch=epoch)
        finally:
            if lift is not None:
                lift.timer.cancel()
        check_intact(tb, phase_real_s=time.monotonic() - phase_t0, counts=result.counts)
        if lift is not None:
            info["lift"] = {"lift_s": lift_s, **lift.outcome}
            if lift.outcome.get("error") or not lift.outcome.get("done"):
                why = lift.outcome.get("error", "not sent")
                raise RuntimeError(f"the lift at {lift_s:g} s failed: {why}")
        info["replay"] = {"sessions": result.sessions, "transfers": result.transfers,
                          "bundle_real_s": result.bundle_s, **result.counts}
        ctl = tb.ctl
    info["total_s"] = round(time.monotonic() - t_begin, 3)
    ctl_df = controller_measurements(ctl.stats_csv, day=day, start_s=cfg.start_s, end_s=end_s,
                                     sampling_interval_s=sampling_interval_s,
                                     poll_emulated_s=cfg.scale.model_s(poll_real_s))
    df = pd.concat([ctl_df, result.measurements], ignore_index=True)
    df = validate_measurements(df, source="emulation")
    atomic_write_text(info_file, json.dumps({**info, "state": "done"}, indent=2, default=str))
    _log(quiet, f"done in {info['total_s']:.1f} s")
    return EmulatedDay(df, result.outcomes)
