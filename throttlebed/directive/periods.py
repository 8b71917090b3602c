"""Periods of the day (Rules item 7, 9): local Kazakh time (UTC+5), half-open, may wrap midnight.

A period is written ``HH:MM-HH:MM``. The start is 00:00-23:59; the end is 00:01-24:00, where
``00:00`` as an end means the end of the day (``23:00-00:00`` == ``23:00-24:00``). An end before
the start wraps midnight (``22:00-02:00`` covers 22:00-24:00 and 00:00-02:00). Periods are
resolved to the minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from throttlebed.errors import InputError

MINUTES_PER_DAY = 24 * 60
KZ_UTC_OFFSET = timedelta(hours=5)
"""Kazakhstan has used a single zone, UTC+5, since 1 March 2024."""
KZ_TZ = timezone(KZ_UTC_OFFSET, "UTC+05:00")


def kz_local(t: datetime) -> datetime:
    """``t`` as naive local Kazakh time (UTC+5): a time with a UTC offset is converted, a naive one kept."""
    if t.tzinfo is None:
        return t
    try:
        return t.astimezone(KZ_TZ).replace(tzinfo=None)
    except OverflowError:
        raise ValueError(f"{t.isoformat()} in UTC+5 falls outside the calendar (years 1-9999)") from None

_PERIOD_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def minute_of_day(local: datetime | int | np.ndarray) -> int | np.ndarray:
    """Minutes since local midnight, 0..1439, of a local datetime or of any minute count (the one
    place a minute count wraps at midnight)."""
    if isinstance(local, datetime):
        return local.hour * 60 + local.minute
    return local % MINUTES_PER_DAY


def _clock(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


@dataclass(frozen=True, order=True)
class Period:
    """A half-open interval of the local day, ``[start_min, end_min)``, minutes since 00:00.

    ``end_min`` is in 1..1440; ``end_min <= start_min`` means the period wraps midnight.
    """

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``HH:MM-HH:MM``; raise InputError with the reason if it is not a period."""
        m = _PERIOD_RE.match(str(text))
        if not m:
            raise InputError(f"period {text!r} is not of the form HH:MM-HH:MM")
        sh, sm, eh, em = (int(g) for g in m.groups())
        if sh > 23 or sm > 59:
            raise InputError(f"period {text!r}: start must be 00:00-23:59")
        if em > 59 or eh > 24 or (eh == 24 and em != 0):
            raise InputError(f"period {text!r}: end must be 00:00-24:00")
        start, end = sh * 60 + sm, eh * 60 + em
        if end == 0:
            end = MINUTES_PER_DAY
        if start == end:
            raise InputError(f"period {text!r} is empty (start equals end)")
        return cls(start, end)

    @property
    def wraps(self) -> bool:
        """Whether the period crosses midnight."""
        return self.end_min <= self.start_min

    @property
    def duration_min(self) -> int:
        """Length in minutes."""
        return minute_of_day(self.end_min - self.start_min) or MINUTES_PER_DAY

    def segments(self) -> tuple[tuple[int, int], ...]:
        """The period as one or two non-wrapping ``[start, end)`` minute ranges."""
        if self.wraps:
            parts = [(self.start_min, MINUTES_PER_DAY), (0, self.end_min)]
            return tuple((a, b) for a, b in parts if b > a)
        return ((self.start_min, self.end_min),)

    def contains_minute(self, minute_of_day: int) -> bool:
        """Whether minute ``minute_of_day`` (0..1439) lies in the period."""
        return any(a <= minute_of_day < b for a, b in self.segments())

    def overlaps(self, other: Period) -> bool:
        """Whether the two periods share at least one minute."""
        return any(
            a < d and c < b for a, b in self.segments() for c, d in other.segments()
        )

    def __str__(self) -> str:
        return f"{_clock(self.start_min)}-{_clock(self.end_min)}"


def canonical_period(text: str) -> str:
    """The canonical spelling of a period (``23:00-00:00`` -> ``23:00-24:00``)."""
    return str(Period.parse(text))


class PeriodSet(Sequence[Period]):
    """Non-overlapping periods of one region (or of a whole directive), in the order given."""

    def __init__(self, periods: Iterable[Period]):
        self._periods = tuple(periods)
        for j, p in enumerate(self._periods):
            for i in range(j):
                if p.overlaps(self._periods[i]):
                    raise InputError(f"period {p} overlaps period {self._periods[i]}")
        lookup = np.full(MINUTES_PER_DAY, -1, dtype=np.int16)
        for i, p in enumerate(self._periods):
            for a, b in p.segments():
                lookup[a:b] = i
        self._lookup = lookup
        self._lookup.setflags(write=False)

    @classmethod
    def parse(cls, spec: str) -> PeriodSet:
        """Parse a comma-separated list such as ``00:00-07:00,07:00-18:00,18:00-00:00``."""
        items = [s for s in str(spec).split(",") if s.strip()]
        if not items:
            raise InputError("no periods given (expected e.g. 00:00-07:00,07:00-24:00)")
        return cls(Period.parse(s) for s in items)

    def __getitem__(self, i):  # type: ignore[override]
        return self._periods[i]

    def __len__(self) -> int:
        return len(self._periods)

    def __str__(self) -> str:
        return ",".join(str(p) for p in self._periods)

    @property
    def minute_lookup(self) -> np.ndarray:
        """Array of 1440 ints: the index of the period holding each minute, -1 if uncovered."""
        return self._lookup

    def index_at(self, minute: int) -> int | None:
        """Index of the period holding local ``minute`` (any count, modulo a day), or None when it is
        uncovered."""
        i = int(self._lookup[minute_of_day(minute)])
        return None if i < 0 else i

    def uncovered(self) -> list[Period]:
        """The parts of the day no period covers (there traffic is not capped)."""
        gaps: list[Period] = []
        free = self._lookup < 0
        m = 0
        while m < MINUTES_PER_DAY:
            if free[m]:
                start = m
                while m < MINUTES_PER_DAY and free[m]:
                    m += 1
                gaps.append(Period(start, m))
            m += 1
        if len(gaps) > 1 and gaps[0].start_min == 0 and gaps[-1].end_min == MINUTES_PER_DAY:
            gaps = [Period(gaps[-1].start_min, gaps[0].end_min), *gaps[1:-1]]
        return gaps

    def covers_whole_day(self) -> bool:
        """Whether every minute of the day is in some period."""
        return bool((self._lookup >= 0).all())
