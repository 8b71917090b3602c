"""The Kazakh working-day calendar (Rules items 5-6 count working days).

Public holidays, the days off they move to when they fall on a weekend, and the days moved by
government decree come from the ``holidays`` package (``KZ``, observed days on). Decree transfers
the package does not know yet are added from ``throttlebed/data/decree_transfers.yaml``, which
also states the span of years for which the calendar is confirmed. A year after that span is
computed from the package alone and is *provisional* (a decree may still move days off in it);
``allow_unconfirmed=False`` (``--strict-calendar``) refuses it instead. A year before the span is
always refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import holidays

from throttlebed.errors import InputError
from throttlebed.validation import parse_yaml, read_text

TRANSFERS_YAML = "decree_transfers.yaml"
COUNTRY = "KZ"


@dataclass(frozen=True)
class Transfer:
    """A day off moved by decree: ``off`` becomes a day off, ``worked`` (a weekend day) is worked."""

    off: date
    worked: date | None
    decree: str


@dataclass(frozen=True)
class WorkCalendar:
    """Working days of the five-day week in Kazakhstan, for the confirmed span of years."""

    first_year: int
    last_year: int
    transfers: tuple[Transfer, ...] = ()
    allow_unconfirmed: bool = True
    source: str = TRANSFERS_YAML
    _extra_off: dict[date, str] = field(init=False, repr=False, compare=False)
    _extra_worked: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        off = {t.off: f"Day off ({t.decree})" for t in self.transfers}
        worked = frozenset(t.worked for t in self.transfers if t.worked is not None)
        object.__setattr__(self, "_extra_off", off)
        object.__setattr__(self, "_extra_worked", worked)

    def with_unconfirmed(self, allow: bool = True) -> WorkCalendar:
        """The same calendar, accepting (or not) years after the confirmed span."""
        return WorkCalendar(self.first_year, self.last_year, self.transfers, allow, self.source)

    def is_confirmed(self, year: int) -> bool:
        """Whether the decree transfers of ``year`` are known."""
        return self.first_year <= year <= self.last_year

    def is_provisional(self, day: date) -> bool:
        """Whether ``day`` falls in a year after the confirmed span (computed without its decree)."""
        return day.year > self.last_year

    def check(self, day: date, where: str | None = None) -> None:
        """Raise InputError if ``day`` falls in a year the calendar may not use (see the module)."""
        if self.is_confirmed(day.year):
            return
        if day.year > self.last_year and self.allow_unconfirmed:
            return
        raise InputError(
            f"{day.isoformat()}: the working-day calendar covers {self.first_year}-{self.last_year} "
            f"(decree transfers of {day.year} unknown: add them to {self.source}"
            + (", or drop --strict-calendar to compute the year provisionally from the holidays package)"
               if day.year > self.last_year else ")"),
            where=where,
        )

    def day_off_reason(self, day: date) -> str | None:
        """Why ``day`` is not a working day (holiday name, 'weekend'), None if it is one."""
        self.check(day)
        if day in self._extra_worked:
            return None
        if day in self._extra_off:
            return self._extra_off[day]
        hol = _package_holidays(day.year)
        if hol.is_working_day(day):
            return None
        return hol.get(day) or "weekend"

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (not a weekend, holiday or day off moved by decree)."""
        return self.day_off_reason(day) is None

    def next_working_day(self, day: date, *, inclusive: bool = True) -> date:
        """The first working day on or after ``day`` (after it, if not ``inclusive``)."""
        d = day if inclusive else day + timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def days_off(self, year: int) -> dict[date, str]:
        """Every non-weekend day off and every holiday of ``year``, with its name."""
        self.check(date(year, 1, 1))
        out = dict(_package_holidays(year).items())
        out.update({d: n for d, n in self._extra_off.items() if d.year == year})
        return dict(sorted(out.items()))

    def weekend_workdays(self, year: int) -> list[date]:
        """Weekend days of ``year`` that are worked, moved by decree."""
        self.check(date(year, 1, 1))
        pkg = {d for d in _package_holidays(year).weekend_workdays if d.year == year}
        return sorted(pkg | {d for d in self._extra_worked if d.year == year})


@cache
def _package_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(COUNTRY, years=year, observed=True)


def _as_date(value: Any, where: str, source: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"not an ISO date: {value!r}", source=source, where=where) from None


def parse_transfers(data: Any, source: str = TRANSFERS_YAML) -> WorkCalendar:
    """Build the calendar from the parsed decree-transfer table."""
    if not isinstance(data, dict) or not isinstance(data.get("years"), dict):
        raise InputError("expected a mapping with 'years' and 'transfers'", source=source)
    try:
        first, last = int(data["years"]["first"]), int(data["years"]["last"])
    except (KeyError, TypeError, ValueError):
        raise InputError("years.first and years.last must be years", source=source) from None
    transfers = []
    for i, row in enumerate(data.get("transfers") or []):
        if not isinstance(row, dict) or "day_off" not in row or "decree" not in row:
            raise InputError("needs 'day_off' and 'decree'", source=source, where=f"transfers[{i}]")
        off = _as_date(row["day_off"], f"transfers[{i}].day_off", source)
        worked = row.get("day_worked")
        worked_d = _as_date(worked, f"transfers[{i}].day_worked", source) if worked is not None else None
        if worked_d is not None and worked_d.weekday() < 5:
            raise InputError("a worked day must be a Saturday or Sunday", source=source,
                             where=f"transfers[{i}].day_worked")
        transfers.append(Transfer(off, worked_d, str(row["decree"])))
    return WorkCalendar(first, last, tuple(transfers), source=source)


def load_calendar(path: str | Path | None = None) -> WorkCalendar:
    """The calendar with the decree-transfer table at ``path`` (the shipped one by default)."""
    if path is None:
        text = resources.files("throttlebed.data").joinpath(TRANSFERS_YAML).read_text(encoding="utf-8")
        source = f"throttlebed/data/{TRANSFERS_YAML}"
    else:
        source = str(path)
        text = read_text(path)
    return parse_transfers(parse_yaml(text, source), source)


@cache
def kz_calendar() -> WorkCalendar:
    """The shipped Kazakh working-day calendar (later years provisional, see ``with_unconfirmed``)."""
    return load_calendar()
