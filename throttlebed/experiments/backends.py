"""The two ways of running a scenario's day behind one interface: ``sim`` and ``mininet``.

A backend turns (scenario, directive or None, seed) into a measurement table
(:mod:`throttlebed.measurements`) restricted to the scenario's window. ``sim`` is the fluid model
of :mod:`throttlebed.sim.backend` (virtual time, no root); ``mininet`` replays the same sessions as
real traffic through Open vSwitch (:mod:`throttlebed.emulation.backend`, root needed), which
starts, stops and cleans up everything it needs itself, also when interrupted. ``run_day`` also
returns what happened to each session (:data:`throttlebed.measurements.OUTCOME_COLUMNS`), the
input of the user impact (:mod:`throttlebed.experiments.impact`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError
from throttlebed.experiments.scenario import BACKENDS, Scenario
from throttlebed.held import HeldTable


@dataclass
class DayRun:
    """One day of a scenario: the measurement table and the session outcome table (both in the window;
    the outcomes of a run spread over a cluster stay on its workers: a :class:`HeldTable`)."""

    measurements: pd.DataFrame
    sessions: pd.DataFrame | HeldTable | None


class Backend(Protocol):
    """Runs one day of a scenario."""

    name: str
    primary_source: str  # the measurement source a verdict judges by default

    def time_scale(self, scenario: Scenario) -> float:
        """Simulated seconds per wall-clock second this backend runs at."""

    def rate_scale(self, scenario: Scenario) -> float:
        """Wire rate per model rate this backend runs at."""

    def run(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
            quiet: bool = True, sessions: pd.DataFrame | None = None) -> pd.DataFrame:
        """The measurement table of the scenario's window, with or without the directive.

        ``sessions`` (the table of :func:`throttlebed.sim.load.generate_sessions`, e.g. fitted to
        statistics) replaces the scenario's synthetic load.
        """

    def run_day(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
                quiet: bool = True, sessions: pd.DataFrame | None = None) -> DayRun:
        """Like ``run``, with the outcome of every session starting in the window."""


def sessions_in_window(sessions: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Outcome rows of sessions starting inside ``[start_s, end_s)``."""
    b = scenario.backend
    start = sessions["start_s"].to_numpy()
    keep = (start >= b.start_s) & (start < b.end_s)
    if keep.all():  # the whole table (a national day at full scale: 17 M rows not copied)
        return sessions.reset_index(drop=True)
    return sessions.loc[keep].reset_index(drop=True)


def in_window(df: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Rows whose sampling interval starts inside ``[start_s, end_s)`` of the scenario's day."""
    t = pd.to_datetime(df["time"])
    day0 = pd.Timestamp(scenario.day)
    s = (t - day0).dt.total_seconds().to_numpy()
    keep = (s >= scenario.backend.start_s) & (s < scenario.backend.end_s)
    return df.loc[keep].reset_index(drop=True)


@dataclass(frozen=True)
class SimBackend:
    """The fluid model: every session, every meter, in virtual time.

    ``map_regions``: how the per-region tasks of a day are run (a Dask cluster's map from
    :func:`throttlebed.experiments.dask_cluster.cluster_map`); when None, ``threads`` regions at
    once in this process (None: :func:`throttlebed.sim.backend.default_threads`).
    """

    name: str = "sim"
    primary_source: str = "sim-fluid"
    map_regions: Callable[..., Any] | None = None
    threads: int | None = None

    def time_scale(self, scenario: Scenario) -> float:
        """The fluid model runs in virtual time: the day is modelled at its own length."""
        return 1.0

    def rate_scale(self, scenario: Scenario) -> float:
        """The fluid model has no machine limit: it runs in model units."""
        return 1.0

    def run(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
            quiet: bool = True, sessions: pd.DataFrame | None = None) -> pd.DataFrame:
        """Simulate the day and keep the scenario's window."""
        return self.run_day(scenario, directive, seed=seed, work_dir=work_dir, quiet=quiet,
                            sessions=sessions).measurements

    def run_day(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
                quiet: bool = True, sessions: pd.DataFrame | None = None) -> DayRun:
        """Simulate the day; the measurements and session outcomes of the scenario's window."""
        from throttlebed.sim.backend import default_threads, simulate_run, threaded_map
        from throttlebed.sim.fluid import run_fluid

        b = scenario.backend
        lift_s = scenario.lift_s if directive is not None else None
        if sessions is not None:
            fr = run_fluid(sessions, scenario.region_list(), directive, scenario.day, b.start_s, b.end_s,
                           sampling_interval_s=b.sampling_interval_s, burst_s=b.burst_s,
                           patience_s=scenario.load.patience_s, lift_s=lift_s)
        else:
            fr = simulate_run(scenario.region_list(), scenario.load, directive, seed, scenario.day,
                              sampling_interval_s=b.sampling_interval_s, burst_s=b.burst_s,
                              rate_scale=self.rate_scale(scenario), lift_s=lift_s,
                              map_regions=self.map_regions or threaded_map(self.threads or default_threads()))
        outcomes = fr.sessions
        outcomes = (sessions_in_window(outcomes, scenario) if isinstance(outcomes, pd.DataFrame)
                    else outcomes.transform(sessions_in_window, scenario))
        return DayRun(in_window(fr.measurements, scenario), outcomes)


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
            quiet: bool = True, sessions: pd.DataFrame | None = None) -> pd.DataFrame:
        """Replay the window's sessions as real traffic; the emulation cleans up after itself."""
        return self.run_day(scenario, directive, seed=seed, work_dir=work_dir, quiet=quiet,
                            sessions=sessions).measurements

    def run_day(self, scenario: Scenario, directive: Directive | None, *, seed: int, work_dir: Path,
                quiet: bool = True, sessions: pd.DataFrame | None = None) -> DayRun:
        """Replay the window's sessions; the measurements and each transfer's outcome."""
        if os.geteuid() != 0:
            raise InputError("the mininet backend needs root and Open vSwitch (use --backend sim)")
        from throttlebed.emulation.backend import emulate_day
        from throttlebed.sim.load import generate_sessions

        b = scenario.backend
        regions = scenario.region_list()
        if sessions is None:
            sessions = generate_sessions(regions, scenario.load, np.random.default_rng(seed),
                                         b.start_s, b.end_s)
        else:
            start = sessions["start_s"]
            sessions = sessions.loc[(start >= b.start_s) & (start < b.end_s)].reset_index(drop=True)
        day = emulate_day(
            regions, sessions, directive, day=scenario.day, start_s=b.start_s, end_s=b.end_s,
            time_scale=b.time_scale, rate_scale=b.rate_scale, hosts_per_region=b.hosts_per_region,
            sampling_interval_s=b.sampling_interval_s, burst_s=b.burst_s, work_dir=work_dir,
            platform_prefix=str(scenario.platform.prefixes[0]),
            other_prefix=str(scenario.other_service.prefixes[0]), quiet=quiet,
            lift_s=scenario.lift_s if directive is not None else None,
            patience_s=scenario.load.patience_s,
        )
        return DayRun(in_window(day.measurements, scenario), sessions_in_window(day.sessions, scenario))


def get_backend(name: str, map_regions: Callable[..., Any] | None = None,
                threads: int | None = None) -> Backend:
    """The backend called ``name`` (sim or mininet); ``map_regions`` spreads the sim backend's regions
    over a cluster, ``threads`` over this process's cores."""
    if name == "sim":
        return SimBackend(map_regions=map_regions, threads=threads)
    if map_regions is not None:
        raise InputError("only the sim backend spreads a run's regions (--workers/--scheduler need "
                         "--backend sim)", where="--backend")
    if name == "mininet":
        return MininetBackend()
    raise InputError(f"unknown backend {name!r} (expected {' or '.join(BACKENDS)})", where="--backend")
