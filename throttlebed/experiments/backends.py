"""The two ways of running a scenario's day behind one interface: ``sim`` and ``mininet``.

A backend turns (scenario, directive or None, seed) into a measurement table
(:mod:`throttlebed.measurements`) restricted to the scenario's window. ``sim`` is the fluid model
of :mod:`throttlebed.sim.backend` (virtual time, no root); ``mininet`` replays the same sessions as
real traffic through Open vSwitch (:mod:`throttlebed.topology.emulation`, root needed), which
starts, stops and cleans up everything it needs itself, also when interrupted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError
from throttlebed.experiments.scenario import BACKENDS, Scenario


class Backend(Protocol):
    """Runs one day of a scenario."""

    name: str
    primary_source: str  # the measurement source a verdict judges by default

    def time_scale(self, scenario: Scenario) -> float:
        """Simulated seconds per wall-clock second this backend runs at."""

    def rate_scale(self, scenario: Scenario) -> float:
        """Wire rate per model rate this backend runs at."""

    def run(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
            quiet: bool = True) -> pd.DataFrame:
        """The measurement table of the scenario's window, with or without the directive."""


def in_window(df: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Rows whose sampling interval starts inside ``[start_s, end_s)`` of the scenario's day."""
    t = pd.to_datetime(df["time"])
    day0 = pd.Timestamp(scenario.day)
    s = (t - day0).dt.total_seconds().to_numpy()
    keep = (s >= scenario.backend.start_s) & (s < scenario.backend.end_s)
    return df.loc[keep].reset_index(drop=True)


@dataclass(frozen=True)
class SimBackend:
    """The fluid model: every session, every meter, in virtual time."""

    name: str = "sim"
    primary_source: str = "sim-fluid"

    def time_scale(self, scenario: Scenario) -> float:
        """The fluid model runs in virtual time: the day is modelled at its own length."""
        return 1.0

    def rate_scale(self, scenario: Scenario) -> float:
        """The fluid model has no machine limit: it runs in model units."""
        return 1.0

    def run(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
            quiet: bool = True) -> pd.DataFrame:
        """Simulate the day and keep the scenario's window."""
        from throttlebed.sim.backend import simulate_day

        b = scenario.backend
        df = simulate_day(scenario.region_list(), scenario.load, directive, seed, scenario.day,
                          sampling_interval_s=b.sampling_interval_s, burst_s=b.burst_s,
                          rate_scale=self.rate_scale(scenario))
        return in_window(df, scenario)


@dataclass(frozen=True)
class MininetBackend:
    """Real traffic between Mininet hosts through Open vSwitch meters, compressed in time."""

    name: str = "mininet"
    primary_source: str = "ovs-flow-counters"

    def time_scale(self, scenario: Scenario) -> float:
        """The scenario's compression of the day."""
        return scenario.backend.time_scale

    def rate_scale(self, scenario: Scenario) -> float:
        """Wire rate per model rate (measurements come back in model units)."""
        return scenario.backend.rate_scale

    def run(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
            quiet: bool = True) -> pd.DataFrame:
        """Replay the window's sessions as real traffic; the emulation cleans up after itself."""
        if os.geteuid() != 0:
            raise InputError("the mininet backend needs root and Open vSwitch (use --backend sim)")
        from throttlebed.sim.load import generate_sessions
        from throttlebed.topology.emulation import run_emulation

        b = scenario.backend
        regions = scenario.region_list()
        sessions = generate_sessions(regions, scenario.load, np.random.default_rng(seed), b.start_s, b.end_s)
        df = run_emulation(
            regions, sessions, directive, day=scenario.day, start_s=b.start_s, end_s=b.end_s,
            time_scale=b.time_scale, rate_scale=b.rate_scale, hosts_per_region=b.hosts_per_region,
            sampling_interval_s=b.sampling_interval_s, burst_s=b.burst_s, work_dir=work_dir,
            platform_prefix=str(scenario.platform.prefixes[0]),
            other_prefix=str(scenario.other_service.prefixes[0]), quiet=quiet,
        )
        return in_window(df, scenario)


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (sim or mininet)."""
    if name == "sim":
        return SimBackend()
    if name == "mininet":
        return MininetBackend()
    raise InputError(f"unknown backend {name!r} (expected {' or '.join(BACKENDS)})", where="--backend")
