"""Terms of the Rules: working days (items 5-6), calendar days (item 8, Appendix 3), months (items 7, 9).

The start day is never counted. A calendar-day or month term that ends on a non-working day ends
on the next working day unless ``roll=False``. A month term ends on the same day of the month,
clamped to the month's last day (31 Aug + 6 months = 28/29 Feb).
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta

from throttlebed.directive.calendar import WorkCalendar, kz_calendar
from throttlebed.errors import InputError


def _cal_or_default(cal: WorkCalendar | None) -> WorkCalendar:
    return cal if cal is not None else kz_calendar()


def _check_count(n: int, name: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"must be a whole number >= 0, got {n!r}", where=name)


def add_working_days(start: date, n: int, cal: WorkCalendar | None = None) -> date:
    """The day the term of ``n`` working days starting on ``start`` ends (``start`` not counted)."""
    _check_count(n, "working_days")
    c = _cal_or_default(cal)
    c.check(start, where="start")
    d, left = start, n
    while left > 0:
        d += timedelta(days=1)
        if c.is_working_day(d):
            left -= 1
    return d


def roll_forward(day: date, cal: WorkCalendar | None = None) -> date:
    """``day`` if it is a working day, else the next working day."""
    return _cal_or_default(cal).next_working_day(day)


def add_calendar_days(start: date, n: int, *, roll: bool = True, cal: WorkCalendar | None = None) -> date:
    """The end of a term of ``n`` calendar days from ``start``, rolled to a working day if ``roll``."""
    _check_count(n, "calendar_days")
    end = start + timedelta(days=n)
    return roll_forward(end, cal) if roll else end


def add_months_clamped(start: date, n: int) -> date:
    """``start`` plus ``n`` calendar months, on the same day of the month clamped to its last day."""
    month0 = start.month - 1 + n
    year, month = start.year + month0 // 12, month0 % 12 + 1
    if not date.min.year <= year <= date.max.year:
        raise InputError(f"{n} months from {start.isoformat()} falls outside the calendar (years 1-9999)")
    return date(year, month, min(start.day, _cal.monthrange(year, month)[1]))


def add_months(start: date, n: int, *, roll: bool = True, cal: WorkCalendar | None = None) -> date:
    """The end of a term of ``n`` months from ``start``, rolled to a working day if ``roll``."""
    _check_count(n, "months")
    end = add_months_clamped(start, n)
    return roll_forward(end, cal) if roll else end
