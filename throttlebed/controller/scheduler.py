"""Period boundaries: when the plan of some region changes next, on the emulated clock. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from throttlebed.directive.schema import Directive


def boundary_minutes(directive: Directive | None, regions: list[str] | None = None) -> list[int]:
    """Sorted minutes of the day (0..1439) at which some period starts or ends."""
    if directive is None:
        return []
    wanted = set(regions) if regions is not None else None
    out: set[int] = set()
    for row in directive.rows:
        if wanted is not None and row.region not in wanted:
            continue
        p = row.period_obj
        out.add(p.start_min % 1440)
        out.add(p.end_min % 1440)
    return sorted(out)


def next_boundary(directive: Directive | None, local: datetime,
                  regions: list[str] | None = None) -> datetime | None:
    """The first period boundary strictly after ``local`` (None if the directive has none)."""
    minutes = boundary_minutes(directive, regions)
    if not minutes:
        return None
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    for day in (0, 1):
        for m in minutes:
            t = midnight + timedelta(days=day, minutes=m)
            if t > local:
                return t
    raise AssertionError("unreachable: a boundary lies within 24 h")


def sleep_until_s(directive: Directive | None, local: datetime, time_scale: float,
                  max_sleep_s: float = 1.0, slack_s: float = 0.005) -> float:
    """Real seconds to sleep before the next boundary (plus slack), at most ``max_sleep_s``."""
    nb = next_boundary(directive, local)
    if nb is None:
        return max_sleep_s
    real = (nb - local).total_seconds() / time_scale + slack_s
    return max(0.0, min(max_sleep_s, real))
