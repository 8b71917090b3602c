"""The emulated clock: local Kazakh time (UTC+5) that may run faster than real time.

``local(now) = clock_start + (now - t0) * time_scale`` with ``now``/``t0`` in monotonic seconds.
Pure: the caller passes the monotonic readings in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from throttlebed.directive.periods import KZ_TZ
from throttlebed.errors import InputError

_HHMM_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


def kz_now() -> datetime:
    """The real local Kazakh time now, naive."""
    return datetime.now(UTC).astimezone(KZ_TZ).replace(tzinfo=None)


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
    if t.tzinfo is not None:
        t = t.astimezone(KZ_TZ).replace(tzinfo=None)
    return t


@dataclass(frozen=True)
class EmulatedClock:
    """Local time that started at ``start_local`` when the monotonic clock read ``t0_s``."""

    start_local: datetime
    t0_s: float
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise InputError(f"time scale must be > 0, got {self.time_scale!r}", where="--time-scale")

    def local_at(self, mono_s: float) -> datetime:
        """The emulated local time at monotonic reading ``mono_s``."""
        return self.start_local + timedelta(seconds=(mono_s - self.t0_s) * self.time_scale)

    def mono_at(self, local: datetime) -> float:
        """The monotonic reading at which the emulated clock shows ``local``."""
        return self.t0_s + (local - self.start_local).total_seconds() / self.time_scale

    def real_s(self, emulated_s: float) -> float:
        """Real seconds that ``emulated_s`` emulated seconds take."""
        return emulated_s / self.time_scale


def minute_of_day(local: datetime) -> int:
    """Minutes since local midnight, 0..1439."""
    return local.hour * 60 + local.minute
