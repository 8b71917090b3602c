"""Period boundaries: when the plan of some region changes next, on the emulated clock. Pure.

The boundaries themselves come from the directive's cap table (:mod:`throttlebed.directive.cap_table`).
"""

from __future__ import annotations

from datetime import datetime

from throttlebed.directive.cap_table import cap_table_of
from throttlebed.directive.schema import Directive
from throttlebed.timescale import TimeScale


def boundary_minutes(directive: Directive | None, regions: list[str] | None = None) -> list[int]:
    """Sorted minutes of the day (0..1439) at which the cap in force changes in some region."""
    return cap_table_of(directive).boundary_minutes(regions)


def next_boundary(directive: Directive | None, local: datetime,
                  regions: list[str] | None = None) -> datetime | None:
    """The first period boundary strictly after ``local`` (None if the directive has none)."""
    return cap_table_of(directive).next_boundary(local, regions)


def sleep_until_s(directive: Directive | None, local: datetime, time_scale: float,
                  max_sleep_s: float = 1.0, slack_s: float = 0.005) -> float:
    """Real seconds to sleep before the next boundary (plus slack), at most ``max_sleep_s``."""
    nb = next_boundary(directive, local)
    if nb is None:
        return max_sleep_s
    real = TimeScale(time_scale).real_s((nb - local).total_seconds()) + slack_s
    return max(0.0, min(max_sleep_s, real))
