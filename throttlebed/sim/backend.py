"""The pure-simulation backend: synthetic sessions through the fluid meters -> measurement table.

Regions never interact in the fluid model, so a run is one task per region (its sessions drawn,
stepped through its meter, summed per interval), and the caller may spread those tasks over any
``map``-like executor (``map_regions``: the built-in ``map`` by default, :func:`threaded_map` for
the cores of this process, a Dask cluster from the experiments layer). One region's sessions are
in memory at a time per worker or thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from functools import partial

import numpy as np
import pandas as pd

from throttlebed.directive.regions import region_number
from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError
from throttlebed.measurements import empty_outcomes
from throttlebed.memory import release_free_memory
from throttlebed.sim.fluid import (
    UP_FRACTION,
    FluidRun,
    RegionFluid,
    assemble_run,
    check_grid,
    fluid_region,
    region_caps,
)
from throttlebed.sim.load import (
    LoadProfile,
    check_regions,
    generate_sessions,
    region_session_arrays,
    region_users,
    session_entropy,
)

SECONDS_PER_DAY = 86400.0
SESSION_ID_STRIDE = 10**10  # more sessions than one region can draw in a day

MapRegions = Callable[[Callable[[str], RegionFluid], Iterable[str]], Iterable[RegionFluid]]
MAX_DEFAULT_THREADS = 4  # each thread holds one region's sessions: memory grows with the count


def default_threads() -> int:
    """Regions stepped at once when the user does not say: the CPUs this process may use, at most 4."""
    return max(1, min(MAX_DEFAULT_THREADS, len(os.sched_getaffinity(0))))


def threaded_map(threads: int) -> MapRegions:
    """A ``map_regions`` stepping ``threads`` regions at once in this process.

    The step loop is compiled without the GIL and most of the session drawing is in numpy, so two
    threads take about 1.4x less wall time than one on two cores; results are the same, in order.
    """
    if threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")

    def run_all(fn: Callable[[str], RegionFluid], regions: Iterable[str]) -> list[RegionFluid]:
        if threads == 1:
            return list(map(fn, regions))
        pool = ThreadPoolExecutor(threads, thread_name_prefix="throttlebed-region")
        try:
            return list(pool.map(fn, regions))
        finally:  # on Ctrl-C or a failure: no region not yet begun is started
            pool.shutdown(wait=True, cancel_futures=True)

    return run_all


def _check_rate_scale(rate_scale: float) -> None:
    if not rate_scale > 0:
        raise InputError(f"rate_scale must be > 0, got {rate_scale}")


def scaled_sessions(regions: Sequence[str], profile: LoadProfile, seed: int,
                    rate_scale: float = 1.0) -> pd.DataFrame:
    """The day's sessions for ``seed``, with sizes and rates multiplied by ``rate_scale``.

    Scaling size and rate together keeps every duration; throughput (and so the peaks and caps
    derived from a run with the same ``rate_scale``) scales by ``rate_scale``.
    """
    _check_rate_scale(rate_scale)
    sessions = generate_sessions(regions, profile, np.random.default_rng(seed), 0.0, SECONDS_PER_DAY)
    if rate_scale != 1.0:
        sessions["size_kbit"] *= rate_scale
        sessions["access_kbps"] *= rate_scale
    return sessions


def simulate_region(region: str, profile: LoadProfile, directive: Directive | None, entropy: int,
                    sampling_interval_s: float = 60, burst_s: float = 1.0, rate_scale: float = 1.0,
                    step_s: float = 1.0, lift_s: float | None = None) -> RegionFluid:
    """One region's day: its sessions (the region's rows of :func:`scaled_sessions`) through its meter.

    Session numbers in the outcome table are ``region number x SESSION_ID_STRIDE + position``.
    """
    s = region_session_arrays(region, profile, entropy, 0.0, SECONDS_PER_DAY)
    caps = region_caps(directive, [region], lift_s)[0]
    ids = region_number(region) * SESSION_ID_STRIDE + np.arange(len(s["start_s"]), dtype=np.int64)
    return fluid_region(s["start_s"], s["size_kbit"] * rate_scale, s["access_kbps"] * rate_scale, s["udp"],
                        ~s["other"], caps, start_s=0.0, n_int=round(SECONDS_PER_DAY / sampling_interval_s),
                        interval_s=sampling_interval_s, step_s=step_s, burst_s=burst_s,
                        patience_s=profile.patience_s, up_fraction=UP_FRACTION, region=region, ids=ids)


def _region_task(region: str, **kwargs) -> RegionFluid:
    """:func:`simulate_region`, then the region's freed arrays given back to the system (what a
    national day at full scale frees between regions would otherwise stay resident)."""
    out = simulate_region(region, **kwargs)
    release_free_memory()
    return out


def simulate_run(regions: Sequence[str], profile: LoadProfile, directive: Directive | None, seed: int,
                 day: date, sampling_interval_s: float = 60, burst_s: float = 1.0,
                 rate_scale: float = 1.0, step_s: float = 1.0, lift_s: float | None = None,
                 map_regions: MapRegions = map) -> FluidRun:
    """Like :func:`simulate_day`, with what the meters saw (offered rate, saturated intervals).

    ``map_regions(fn, regions)`` runs ``fn`` on every region (any executor's ``map``; the results
    in the order of ``regions``). One with a ``held_map`` (a cluster's,
    :class:`throttlebed.experiments.dask_cluster.ClusterMap`) keeps each region's outcome table where
    it was made: ``sessions`` is then a :class:`throttlebed.held.HeldTable`.
    """
    regions = check_regions(regions)
    _check_rate_scale(rate_scale)
    check_grid(0.0, SECONDS_PER_DAY, sampling_interval_s, step_s, burst_s, UP_FRACTION)
    entropy = session_entropy(np.random.default_rng(seed))
    task = partial(_region_task, profile=profile, directive=directive, entropy=entropy,
                   sampling_interval_s=sampling_interval_s, burst_s=burst_s, rate_scale=rate_scale,
                   step_s=step_s, lift_s=lift_s)
    users = region_users(regions, profile)
    largest_first = sorted(regions, key=lambda r: -users[r])  # the longest tasks start first
    held_map = getattr(map_regions, "held_map", None)
    outcomes = None
    if held_map is not None:  # a cluster: each region's outcome table stays on its worker
        parts, outcomes = held_map(task, regions, keep=region_outcomes, strip=without_outcomes,
                                   submit_order=largest_first)
    else:
        done = dict(zip(largest_first, map_regions(task, largest_first), strict=True))
        parts = [done[r] for r in regions]
        del done
    run = assemble_run(parts, regions, day, 0.0, round(SECONDS_PER_DAY / sampling_interval_s),
                       sampling_interval_s)
    del parts
    release_free_memory()
    return run if outcomes is None else replace(run, sessions=outcomes)


def region_outcomes(part: RegionFluid) -> pd.DataFrame:
    """A region's session outcome table (what a cluster keeps on the region's worker)."""
    return part.outcomes if part.outcomes is not None else empty_outcomes()


def without_outcomes(part: RegionFluid) -> RegionFluid:
    """A region's result without its outcome table and stepped sessions (what a cluster sends back);
    ``part`` is left as it is."""
    return replace(part, outcomes=None, stepped=None)


def simulate_day(regions: Sequence[str], profile: LoadProfile, directive: Directive | None, seed: int,
                 day: date, sampling_interval_s: float = 60, burst_s: float = 1.0,
                 rate_scale: float = 1.0, step_s: float = 1.0, lift_s: float | None = None,
                 map_regions: MapRegions = map) -> pd.DataFrame:
    """One local day of ``regions`` under ``directive`` (None = the baseline) as a measurement table.

    ``lift_s``: the directive is lifted at that second of the day (whole minutes).

    Columns ``time, region, direction, traffic, kbps, source='sim-fluid'``, one row per sampling
    interval, region, direction (down|up) and traffic (platform|other). The same seed gives the
    same sessions, so a baseline and an enforced run with one seed see the same users.
    """
    return simulate_run(regions, profile, directive, seed, day, sampling_interval_s, burst_s,
                        rate_scale, step_s, lift_s, map_regions).measurements
