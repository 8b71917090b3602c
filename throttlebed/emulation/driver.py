"""The real-time driver: the load model's sessions replayed as real transfers between hosts.

Time and rate scaling (both stated in every report):

- ``time_scale``: emulated seconds per real second. A session starting at emulated ``start_s``
  starts ``(start_s - window start) / time_scale`` real seconds after the epoch.
- ``rate_scale``: wire kbit/s per model kbit/s. A session's pacing rate on the wire is
  ``access_kbps x rate_scale``; its size on the wire is ``size_kbit x rate_scale / time_scale``
  so that it lasts ``size/access`` *emulated* seconds, as in the model (without the division a
  compressed day would hold ``time_scale`` times too many concurrent sessions).
- Receiver-side samples are reported in model units: ``kbps = wire kbit/s / rate_scale``, with
  ``time`` the emulated local time at the start of each sampling interval.

Each session goes to the user hosts of its region in turn (round-robin) and to a platform or
other-service server in turn. At most ``max_concurrent_per_host`` TCP transfers to one server run at
once on one user host (64 by default; platform and other services each have their own budget, so
slowed platform transfers never crowd out other sessions); a session that would exceed it is
dropped and counted. When the
table has more sessions than ``max_transfers_per_s`` (real) can start, sessions of the same host,
class and transport that start within one *bundle* of real time are merged into one transfer
(sizes summed, rates summed); the bundle length is stated in the result.

A SimPy ``RealtimeEnvironment`` whose clock is the emulated time streams the sessions to the
agents a little ahead of their start, and closes the schedule at the window's end.

Each transfer carries an id (the row of its first session in the sessions table) and, with
``patience_s``, how long past its paced end the user waits before abandoning it, as in the fluid
model. The agents report each transfer's end; :func:`transfer_outcomes` turns those into the
session outcome table (:data:`throttlebed.measurements.OUTCOME_COLUMNS`) in model units.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import simpy
import simpy.rt

from throttlebed.errors import InputError
from throttlebed.timescale import TimeScale, check_time_scale
from throttlebed.topology import graph as tg
from throttlebed.topology.addressing import AddressPlan

AGENT = [sys.executable, "-m", "throttlebed.emulation.traffic_agent"]
BUNDLE_CHOICES_S = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
TRANSFER_COLUMNS = ("at_s", "host", "region", "server", "traffic", "proto", "bytes", "rate_kbps",
                    "sessions", "session")
SOURCE = "receiver"


@dataclass(frozen=True)
class ReplayConfig:
    """Window, scaling and limits of a replay."""

    start_s: float
    end_s: float
    time_scale: float
    rate_scale: float
    sampling_interval_s: float
    max_concurrent_per_host: int = 64
    max_transfers_per_s: float = 80.0
    port: int = 5001
    lookahead_real_s: float = 1.0
    patience_s: float | None = None  # emulated s past a TCP transfer's paced end before users give up

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise InputError(f"end_s ({self.end_s:g}) must be after start_s ({self.start_s:g})")
        check_time_scale(self.time_scale)
        for name in ("rate_scale", "sampling_interval_s", "max_transfers_per_s"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)!r}", where=name)
        if self.max_concurrent_per_host < 1:
            raise InputError("max_concurrent_per_host must be >= 1", where="max_concurrent_per_host")

    @property
    def scale(self) -> TimeScale:
        """The replay's time scale; its epoch is the window's start, ``start_s``."""
        return TimeScale(self.time_scale)

    @property
    def window_real_s(self) -> float:
        """Real seconds the window takes."""
        return self.scale.real_after(self.start_s, self.end_s)

    @property
    def bin_real_s(self) -> float:
        """Real seconds of one sampling interval."""
        return self.scale.real_s(self.sampling_interval_s)

    @property
    def late_after_real_s(self) -> float:
        """A transfer starting later than this past its time (half a sampling interval, real s)
        counts as late: its bytes would be measured in the wrong interval."""
        return self.bin_real_s / 2

    @property
    def n_bins(self) -> int:
        """Sampling intervals in the window (the last one may be partial)."""
        return math.ceil((self.end_s - self.start_s) / self.sampling_interval_s - 1e-9)


def choose_bundle_s(at_s: np.ndarray, keys: np.ndarray, window_real_s: float, max_per_s: float) -> float:
    """Shortest bundle (real s) that brings the transfers started per second under ``max_per_s``."""
    for b in BUNDLE_CHOICES_S:
        n = len(at_s) if b == 0 else len(np.unique(np.stack([keys, np.floor(at_s / b)]), axis=1).T)
        if n / max(window_real_s, 1e-9) <= max_per_s:
            return b
    return BUNDLE_CHOICES_S[-1]


def plan_transfers(sessions: pd.DataFrame, g: nx.Graph, cfg: ReplayConfig) -> tuple[pd.DataFrame, float]:
    """Sessions in the window -> real transfers (columns TRANSFER_COLUMNS) and the bundle length.

    Pure. ``at_s`` is real seconds after the epoch; ``bytes`` and ``rate_kbps`` are wire values.
    """
    need = {"start_s", "region", "size_kbit", "access_kbps", "transport", "traffic"}
    missing = need - set(sessions.columns)
    if missing:
        raise InputError(f"sessions table lacks column(s) {', '.join(sorted(missing))}")
    s = sessions.assign(session=np.arange(len(sessions)))
    s = s[(s["start_s"] >= cfg.start_s) & (s["start_s"] < cfg.end_s)]
    s = s.sort_values("start_s", kind="stable").reset_index(drop=True)
    regions = list(g.graph["regions"])
    unknown = sorted(set(s["region"]) - set(regions))
    if unknown:
        raise InputError(f"sessions of regions not in the network: {', '.join(unknown)}")
    hosts_of = {r: tg.user_hosts(g, r) for r in regions}
    servers = {"platform": [g.nodes[n]["ip"] for n in tg.nodes_of_kind(g, "platform")],
               "other": [g.nodes[n]["ip"] for n in tg.nodes_of_kind(g, "service")]}
    host = np.empty(len(s), dtype=object)
    server = np.empty(len(s), dtype=object)
    region = s["region"].to_numpy()
    traffic = s["traffic"].to_numpy()
    for r in regions:  # round-robin: the k-th session of a region goes to host k mod N
        idx = np.flatnonzero(region == r)
        hs = hosts_of[r]
        host[idx] = [hs[k % len(hs)] for k in range(len(idx))]
    for t, ips in servers.items():
        idx = np.flatnonzero(traffic == t)
        server[idx] = [ips[k % len(ips)] for k in range(len(idx))]
    bad = sorted(set(traffic) - set(servers))
    if bad:
        raise InputError(f"unknown traffic kind(s) {bad} (expected platform or other)")
    scale = cfg.scale
    out = pd.DataFrame({
        "at_s": scale.real_after(cfg.start_s, s["start_s"].to_numpy(float)),
        "host": host, "region": region, "server": server, "traffic": traffic,
        "proto": s["transport"].to_numpy(),
        "bytes": scale.real_s(s["size_kbit"].to_numpy(float) * 1000 / 8 * cfg.rate_scale),
        "rate_kbps": s["access_kbps"].to_numpy(float) * cfg.rate_scale,
        "sessions": np.ones(len(s), dtype=int),
        "session": s["session"].to_numpy(),
    })
    if out.empty:
        return out.astype({"bytes": int}), 0.0
    keys = pd.factorize(out["host"] + "|" + out["traffic"] + "|" + out["proto"])[0]
    bundle_s = choose_bundle_s(out["at_s"].to_numpy(), keys, cfg.window_real_s, cfg.max_transfers_per_s)
    if bundle_s > 0:
        out["slot"] = np.floor(out["at_s"] / bundle_s)
        out = (out.groupby(["host", "traffic", "proto", "slot"], sort=False)
               .agg(at_s=("at_s", "min"), region=("region", "first"), server=("server", "first"),
                    bytes=("bytes", "sum"), rate_kbps=("rate_kbps", "sum"), sessions=("sessions", "sum"),
                    session=("session", "min"))
               .reset_index().drop(columns="slot"))
    out["bytes"] = np.maximum(1, np.round(out["bytes"])).astype(int)
    out = out.sort_values("at_s", kind="stable").reset_index(drop=True)
    return out[list(TRANSFER_COLUMNS)], bundle_s


def receiver_measurements(results: dict[str, dict[str, Any]], g: nx.Graph, cfg: ReplayConfig,
                          day: date) -> pd.DataFrame:
    """Agents' byte counts (host -> result document) -> the measurement table, model units.

    One row per sampling interval, region and traffic class (zeros included), direction down.
    """
    plan = AddressPlan.make(g.graph["platform_prefix"], g.graph["other_prefix"])
    regions = list(g.graph["regions"])
    hr = tg.host_regions(g)
    kbit = {(r, t): np.zeros(cfg.n_bins) for r in regions for t in ("platform", "other")}
    for h, doc in results.items():
        for b, srv, _proto, nbytes in doc.get("rows", []):
            if 0 <= b < cfg.n_bins:
                kbit[(hr[h], plan.traffic_of(srv))][b] += nbytes * 8 / 1000
    midnight = datetime(day.year, day.month, day.day)
    times = [midnight + timedelta(seconds=cfg.start_s + k * cfg.sampling_interval_s)
             for k in range(cfg.n_bins)]
    # the last interval may be shorter than the others
    window_s = cfg.end_s - cfg.start_s
    lengths_s = np.array([min(cfg.sampling_interval_s, window_s - k * cfg.sampling_interval_s)
                          for k in range(cfg.n_bins)])
    lengths_real_s = cfg.scale.real_s(lengths_s)
    frames = []
    for (r, t), v in kbit.items():
        frames.append(pd.DataFrame({"time": times, "region": r, "direction": "down", "traffic": t,
                                    "kbps": v / lengths_real_s / cfg.rate_scale, "source": SOURCE}))
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(["time", "region", "traffic"], kind="stable").reset_index(drop=True)


def transfer_outcomes(transfers: pd.DataFrame, results: dict[str, dict[str, Any]],
                      cfg: ReplayConfig) -> pd.DataFrame:
    """Transfers (of :func:`plan_transfers`) and the agents' outcome rows -> the session outcome
    table, model units: ``start_s`` and ``end_s`` emulated seconds since local midnight, ``nominal_s``
    the paced duration in emulated seconds. A transfer no agent reported on was cut."""
    reported: dict[int, tuple[float | None, str]] = {}
    for doc in results.values():
        for tid, end_s, status in doc.get("outcomes", []):
            reported[int(tid)] = (end_s, str(status))
    n = len(transfers)
    end_real = np.full(n, np.nan)
    status = np.full(n, "cut", dtype=object)
    for i in range(n):
        end_s, st = reported.get(i, (None, "cut"))
        status[i] = st
        if st == "completed" and end_s is not None:
            end_real[i] = float(end_s)
    at = transfers["at_s"].to_numpy(float)
    paced_real = transfers["bytes"].to_numpy(float) * 8 / 1000 / transfers["rate_kbps"].to_numpy(float)
    scale = cfg.scale
    patience_real = scale.real_s(cfg.patience_s or 0.0)
    given_up_real = np.where(status == "abandoned", at + paced_real + patience_real, np.nan)
    return pd.DataFrame({
        "session": transfers["session"].to_numpy(np.int64),
        "region": transfers["region"].to_numpy(object),
        "traffic": transfers["traffic"].to_numpy(object),
        "transport": transfers["proto"].to_numpy(object),
        "start_s": scale.model_at(cfg.start_s, at),
        "nominal_s": scale.model_s(paced_real),
        "end_s": scale.model_at(cfg.start_s, end_real),
        "status": status,
        "given_up_s": scale.model_at(cfg.start_s, given_up_real),
        "sessions": transfers["sessions"].to_numpy(np.int64),
    })


@dataclass
class ReplayResult:
    """The receiver-side table and what happened to the sessions."""

    measurements: pd.DataFrame
    epoch: float
    bundle_s: float
    sessions: int
    transfers: int
    counts: dict[str, int] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    outcomes: pd.DataFrame | None = None  # the session outcome table (transfer_outcomes)


def result_counts(results: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The agents' result documents (host -> document) summed: what happened to the transfers."""
    docs = results.values()
    counts = {k: sum(int(r.get(k, 0)) for r in docs)
              for k in ("completed", "dropped", "failed", "cut", "abandoned", "late")}
    counts["started"] = sum(int(r.get("sessions", 0)) for r in docs)
    counts["max_active_per_host"] = max((int(r.get("max_active", 0)) for r in docs), default=0)
    counts["start_lag_max_ms"] = round(max((float(r.get("lag_max_s", 0)) for r in docs), default=0.0) * 1000)
    return counts


def _wait_listening(en: Any, node: str, port: int, timeout_s: float = 10.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if f":{port} " in en.cmd(node, f"ss -Htln sport = :{port}"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"traffic agent on {node} is not listening on port {port}")


def start_servers(en: Any, port: int) -> list[subprocess.Popen]:
    """A serving agent on every platform and other-service host, listening when this returns."""
    g = en.graph
    nodes = tg.nodes_of_kind(g, "platform") + tg.nodes_of_kind(g, "service")
    procs = [en.popen(n, [*AGENT, "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL) for n in nodes]
    for n in nodes:
        _wait_listening(en, n, port)
    return procs


def _dispatcher(env: simpy.rt.RealtimeEnvironment, transfers: pd.DataFrame, pipes: dict[str, Any],
                cfg: ReplayConfig, tick_real_s: float):
    """Stream each transfer to its host's agent about ``lookahead_real_s`` before it starts."""
    rows = transfers.to_dict("records")
    scale = cfg.scale
    patience = "" if cfg.patience_s is None else f', "patience_s": {scale.real_s(cfg.patience_s):.6f}'
    i = 0
    while i < len(rows):
        horizon_real = scale.real_after(cfg.start_s, env.now) + cfg.lookahead_real_s
        while i < len(rows) and rows[i]["at_s"] <= horizon_real:
            r = rows[i]
            line = (f'{{"id": {i}, "at_s": {r["at_s"]:.6f}, "server": "{r["server"]}", "port": {cfg.port}, '
                    f'"bytes": {int(r["bytes"])}, "rate_kbps": {r["rate_kbps"]:.3f}, '
                    f'"proto": "{r["proto"]}"{patience}}}\n')
            with contextlib.suppress(BrokenPipeError, ValueError):
                pipes[r["host"]].write(line.encode())
                pipes[r["host"]].flush()
            i += 1
        yield env.timeout(scale.model_s(tick_real_s))


def _closer(env: simpy.rt.RealtimeEnvironment, pipes: dict[str, Any], cfg: ReplayConfig):
    """At the window's end: no more sessions."""
    yield env.timeout(max(0.0, cfg.end_s - env.now))
    for p in pipes.values():
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            p.close()


def replay(en: Any, sessions: pd.DataFrame, cfg: ReplayConfig, day: date, work_dir: Path, *,
           epoch: float | None = None) -> ReplayResult:
    """Replay ``sessions`` through the running network ``en``; return receiver-side samples.

    ``epoch``: wall time (Unix s) at which the emulated clock shows ``cfg.start_s`` (default: one
    second from now). The agents are ended by pid when this returns or fails.
    """
    import json

    work_dir.mkdir(parents=True, exist_ok=True)
    g = en.graph
    transfers, bundle_s = plan_transfers(sessions, g, cfg)
    started: list[subprocess.Popen] = []
    try:
        started += start_servers(en, cfg.port)
        epoch = time.time() + 1.0 if epoch is None else epoch
        users = tg.nodes_of_kind(g, "user")
        outs = {h: work_dir / f"recv-{h}.json" for h in users}
        for p in outs.values():
            p.unlink(missing_ok=True)
        clients: dict[str, subprocess.Popen] = {}
        for h in users:
            clients[h] = en.popen(h, [*AGENT, "fetch", "--schedule", "-", "--out", str(outs[h]),
                                      "--epoch", f"{epoch:.6f}", "--bin-s", f"{cfg.bin_real_s:.9f}",
                                      "--max-concurrent", str(cfg.max_concurrent_per_host),
                                      "--until-s", f"{cfg.window_real_s:.6f}",
                                      "--late-after-s", f"{cfg.late_after_real_s:.6f}"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        started += clients.values()
        pipes = {h: p.stdin for h, p in clients.items()}
        agents_ready_before_epoch_s = epoch - time.time()
        # the environment's clock is emulated time; it reads start_s at the epoch
        lead_real_s = epoch - time.time()
        env = simpy.rt.RealtimeEnvironment(initial_time=cfg.scale.model_at(cfg.start_s, -lead_real_s),
                                           factor=cfg.scale.real_s(1.0), strict=False)
        env.process(_dispatcher(env, transfers, pipes, cfg, tick_real_s=0.25))
        env.process(_closer(env, pipes, cfg))
        env.run(until=cfg.end_s)
        for h, p in clients.items():
            try:
                p.wait(timeout=max(5.0, cfg.bin_real_s * 2))
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait(timeout=5)
            if not outs[h].exists():
                err = p.stderr.read().decode(errors="replace")[-500:] if p.stderr else ""
                raise RuntimeError(f"traffic agent on {h} wrote no result (exit {p.returncode}): {err}")
        results = {h: json.loads(outs[h].read_text()) for h in users}
    finally:
        from throttlebed.emulation.mininet_net import signals_deferred, terminate_all

        with signals_deferred():
            terminate_all(started)
    counts = result_counts(results)
    counts["agents_ready_before_epoch_ms"] = round(agents_ready_before_epoch_s * 1000)
    return ReplayResult(measurements=receiver_measurements(results, g, cfg, day), epoch=epoch,
                        bundle_s=bundle_s, sessions=int(transfers["sessions"].sum()) if len(transfers) else 0,
                        transfers=len(transfers), counts=counts, config=asdict(cfg),
                        outcomes=transfer_outcomes(transfers, results, cfg))
