"""The pure-simulation backend: synthetic sessions through the fluid meters -> measurement table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError
from throttlebed.sim.fluid import FluidRun, run_fluid
from throttlebed.sim.load import LoadProfile, generate_sessions

SECONDS_PER_DAY = 86400.0


def scaled_sessions(regions: Sequence[str], profile: LoadProfile, seed: int,
                    rate_scale: float = 1.0) -> pd.DataFrame:
    """The day's sessions for ``seed``, with sizes and rates multiplied by ``rate_scale``.

    Scaling size and rate together keeps every duration; throughput (and so the peaks and caps
    derived from a run with the same ``rate_scale``) scales by ``rate_scale``.
    """
    if not rate_scale > 0:
        raise InputError(f"rate_scale must be > 0, got {rate_scale}")
    sessions = generate_sessions(regions, profile, np.random.default_rng(seed), 0.0, SECONDS_PER_DAY)
    if rate_scale != 1.0:
        sessions["size_kbit"] *= rate_scale
        sessions["access_kbps"] *= rate_scale
    return sessions


def simulate_run(regions: Sequence[str], profile: LoadProfile, directive: Directive | None, seed: int,
                 day: date, sampling_interval_s: float = 60, burst_s: float = 1.0,
                 rate_scale: float = 1.0, step_s: float = 1.0) -> FluidRun:
    """Like :func:`simulate_day`, with what the meters saw (offered rate, saturated intervals)."""
    sessions = scaled_sessions(regions, profile, seed, rate_scale)
    return run_fluid(sessions, regions, directive, day, 0.0, SECONDS_PER_DAY,
                     sampling_interval_s=sampling_interval_s, burst_s=burst_s, step_s=step_s,
                     patience_s=profile.patience_s)


def simulate_day(regions: Sequence[str], profile: LoadProfile, directive: Directive | None, seed: int,
                 day: date, sampling_interval_s: float = 60, burst_s: float = 1.0,
                 rate_scale: float = 1.0, step_s: float = 1.0) -> pd.DataFrame:
    """One local day of ``regions`` under ``directive`` (None = the baseline) as a measurement table.

    Columns ``time, region, direction, traffic, kbps, source='sim-fluid'``, one row per sampling
    interval, region, direction (down|up) and traffic (platform|other). The same seed gives the
    same sessions, so a baseline and an enforced run with one seed see the same users.
    """
    return simulate_run(regions, profile, directive, seed, day, sampling_interval_s, burst_s,
                        rate_scale, step_s).measurements
