"""How strictly a run is judged: the scenario's ``tolerance``, read by the verdict.

Its own module so that reading a scenario does not import the verdict's statistics (scipy.stats).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerances:
    """How strictly a run is judged."""

    over_cap: float = 0.02  # fraction of the cap a sample may exceed it by and still hold
    reduction_pp: float = 2.0  # allowed |achieved - target| reduction, percentage points
    collateral: float = 0.05  # allowed relative drop of the mean of non-platform traffic
    alpha: float = 0.05  # significance level of the differentiation test
    boundary_guard_s: float = 0.0  # seconds around a period's start and end not judged
    burst_allowance: float = 0.0  # fraction of the cap a full meter bucket adds to one interval
    sustained_samples: int = 3  # consecutive samples above the limit that make the demand sustained
    lift_recovery: float = 0.05  # after a lift, allowed relative shortfall against the baseline
    baseline_not_served: float = 0.05  # share of baseline sessions left not served before a run fails
