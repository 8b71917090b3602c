"""The controller's clock: real local Kazakh time (UTC+5) and the ``--clock-start`` option.

The emulated clock itself (``local(now) = clock_start + (now - t0) * time_scale``, monotonic
readings passed in) is :class:`throttlebed.timescale.EmulatedClock`, shared with the emulation.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from throttlebed.directive.cap_table import minute_of_day
from throttlebed.directive.periods import kz_local
from throttlebed.errors import InputError
from throttlebed.timescale import EmulatedClock

__all__ = ["EmulatedClock", "kz_now", "minute_of_day", "parse_clock_start"]

_HHMM_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


def kz_now() -> datetime:
    """The real local Kazakh time now, naive."""
    return kz_local(datetime.now(UTC))


def parse_clock_start(text: str, today: date | None = None) -> datetime:
    """``HH:MM`` (today, local) or an ISO date-time (aware ones converted to UTC+5), naive local."""
    s = str(text).strip()
    m = _HHMM_RE.match(s)
    if m:
        h, mi = int(m.group(1)), int(m.group(2))
        if h > 23 or mi > 59:
            raise InputError(f"clock start {text!r}: time must be 00:00-23:59", where="--clock-start")
        day = today or kz_now().date()
        return datetime(day.year, day.month, day.day, h, mi)
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise InputError(f"clock start {text!r} is neither HH:MM nor an ISO date-time",
                         where="--clock-start") from None
    try:
        return kz_local(t)
    except ValueError as e:
        raise InputError(f"clock start {text!r}: {e}", where="--clock-start") from None
