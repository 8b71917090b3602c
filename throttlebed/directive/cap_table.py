"""The cap table: which directive row, period and cap are in force at (region, local minute).

Built once from a directive (:attr:`Directive.cap_table <throttlebed.directive.schema.Directive.cap_table>`);
the meter plan, the period scheduler, the fluid model, the verdict and the report all ask it, so
"the cap in force" is computed in this one place. Minutes are local (UTC+5) minutes of the day;
any integer is taken modulo one day (:func:`~throttlebed.directive.periods.minute_of_day`,
the one place a day wraps).

Caps are per *meter*: ``down``, ``up`` or ``sum`` (both directions on one meter). A row with a
``direction`` caps that meter; a row without one (directives made before the choice existed) caps
``down`` and ``up`` each at its cap. Asked without a direction, the table answers with the first
row, in the directive's order, in force on any meter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from throttlebed.directive.periods import MINUTES_PER_DAY, Period, minute_of_day

if TYPE_CHECKING:
    from throttlebed.directive.schema import Directive, DirectiveRow

__all__ = ["METERS", "NO_CAPS", "NO_ROW", "CapTable", "cap_table_of", "meters_of", "minute_of_day"]

NO_ROW = -1
METERS = ("down", "up", "sum")
"""The meters a row can cap, in the order :meth:`CapTable.caps_at` lists two caps of one row."""


def meters_of(row: DirectiveRow) -> tuple[str, ...]:
    """The meters one row caps: its ``direction``, or ``down`` and ``up`` when it has none."""
    return ("down", "up") if row.direction is None else (row.direction,)


def _read_only(lookup: np.ndarray) -> np.ndarray:
    lookup.setflags(write=False)
    return lookup


_UNCAPPED = _read_only(np.full(MINUTES_PER_DAY, NO_ROW, dtype=np.int32))


def _first_row(lookups: Iterable[np.ndarray]) -> np.ndarray:
    """Per minute, the lowest row index in force in any of ``lookups`` (``NO_ROW`` if none)."""
    stacked = np.stack([np.where(lk == NO_ROW, np.iinfo(np.int32).max, lk) for lk in lookups])
    first = stacked.min(axis=0)
    return np.where(first == np.iinfo(np.int32).max, NO_ROW, first).astype(np.int32)


def cap_table_of(directive: Directive | None) -> CapTable:
    """The cap table of ``directive`` (built once per directive), or the empty one of no directive."""
    return NO_CAPS if directive is None else directive.cap_table


class CapTable:
    """The caps of one directive (None: no directive, nothing capped), per region, meter and minute."""

    def __init__(self, directive: Directive | None):
        self.directive = directive
        self._rows: tuple[DirectiveRow, ...] = tuple(directive.rows) if directive is not None else ()
        self._periods: tuple[Period, ...] = tuple(r.period_obj for r in self._rows)
        self._by_meter: dict[tuple[str, str], np.ndarray] = {}  # (region, meter) -> 1440 row indices
        for i, (row, period) in enumerate(zip(self._rows, self._periods, strict=True)):
            for meter in meters_of(row):
                lookup = self._by_meter.setdefault((row.region, meter),
                                                   np.full(MINUTES_PER_DAY, NO_ROW, dtype=np.int32))
                for a, b in period.segments():
                    lookup[a:b] = i
        for lookup in self._by_meter.values():
            _read_only(lookup)
        self._meters: dict[str, list[str]] = {  # region -> its meters, in METERS order
            region: [m for m in METERS if (region, m) in self._by_meter]
            for region in dict.fromkeys(region for region, _ in self._by_meter)}
        self._any: dict[str, np.ndarray] = {
            region: _read_only(_first_row(self._by_meter[(region, m)] for m in meters))
            for region, meters in self._meters.items()}

    def _lookup(self, region: str, direction: str | None) -> np.ndarray:
        """The 1440 row indices of ``region`` on meter ``direction`` (None: any meter)."""
        if direction is None:
            return self._any.get(region, _UNCAPPED)
        return self._by_meter.get((region, direction), _UNCAPPED)

    # ---- one (region, minute) ----------------------------------------------------------------

    def regions(self) -> list[str]:
        """Regions the directive names, in order of first appearance."""
        return list(self._meters)

    def row_index_at(self, region: str, minute: int, direction: str | None = None) -> int | None:
        """Index (in ``directive.rows``) of the row in force on meter ``direction`` (None: the
        first on any meter), None when uncapped."""
        i = int(self._lookup(region, direction)[minute_of_day(int(minute))])
        return None if i == NO_ROW else i

    def row_at(self, region: str, minute: int, direction: str | None = None) -> DirectiveRow | None:
        """The directive row in force in ``region`` at local ``minute``, None when uncapped."""
        i = self.row_index_at(region, minute, direction)
        return None if i is None else self._rows[i]

    def cap_at(self, region: str, minute: int, direction: str | None = None) -> int | None:
        """The cap in kbit/s in force, None when uncapped."""
        row = self.row_at(region, minute, direction)
        return None if row is None else row.cap_kbps

    def period_at(self, region: str, minute: int, direction: str | None = None) -> str | None:
        """The period (``HH:MM-HH:MM``) of the row in force, None when uncapped."""
        row = self.row_at(region, minute, direction)
        return None if row is None else row.period

    def caps_at(self, region: str, minute: int) -> dict[str, int]:
        """The caps in force in ``region`` at local ``minute``, by meter (``down``, ``up``, ``sum``),
        in the directive's row order; empty when uncapped."""
        m = minute_of_day(int(minute))
        in_force = sorted((int(self._by_meter[(region, meter)][m]), k, meter)
                          for k, meter in enumerate(self._meters.get(region, ())))
        return {meter: self._rows[i].cap_kbps for i, _, meter in in_force if i != NO_ROW}

    # ---- whole days at once -------------------------------------------------------------------

    def row_index_per_minute(self, region: str, direction: str | None = None) -> np.ndarray:
        """1440 row indices of ``region`` on meter ``direction`` (``NO_ROW`` = uncapped), read-only."""
        return self._lookup(region, direction)

    def caps_per_minute(self, regions: Sequence[str], direction: str | None = None) -> np.ndarray:
        """Array ``[len(regions), 1440]``: the cap in kbit/s on meter ``direction`` (None: of the
        first row on any meter) each local minute, inf if uncapped."""
        row_caps = np.array([float(r.cap_kbps) for r in self._rows] + [np.inf])
        return np.stack([row_caps[self._lookup(r, direction)] for r in regions]) if len(regions) \
            else np.zeros((0, MINUTES_PER_DAY))

    def row_indices(self, regions: np.ndarray, minutes: np.ndarray,
                    direction: str | None = None) -> np.ndarray:
        """Vectorised :meth:`row_index_at`: one row index (``NO_ROW`` = uncapped) per element."""
        out = np.full(len(regions), NO_ROW, dtype=np.int32)
        m = minute_of_day(np.asarray(minutes, dtype=np.int64))
        for region in self._meters:
            idx = np.flatnonzero(regions == region)
            out[idx] = self._lookup(region, direction)[m[idx]]
        return out

    def rows(self) -> tuple[DirectiveRow, ...]:
        """The directive's rows, indexed as the row indices are."""
        return self._rows

    def periods(self) -> tuple[Period, ...]:
        """The parsed period of every row, indexed as the row indices are."""
        return self._periods

    def rows_meeting(self, minutes: Iterable[int]) -> list[DirectiveRow]:
        """The rows (in the directive's order) in force at one or more of ``minutes`` in their region."""
        day = np.zeros(MINUTES_PER_DAY, dtype=bool)
        day[minute_of_day(np.fromiter(minutes, dtype=np.int64))] = True
        met = {int(i) for lookup in self._by_meter.values() for i in np.unique(lookup[day])}
        return [r for i, r in enumerate(self._rows) if i in met]

    # ---- when the plan changes ----------------------------------------------------------------

    def boundary_minutes(self, regions: Iterable[str] | None = None) -> list[int]:
        """Sorted minutes of the day at which the row in force on some meter changes in some of
        ``regions``."""
        wanted = set(self._meters) if regions is None else set(regions) & set(self._meters)
        out: set[int] = set()
        for (region, _), lookup in self._by_meter.items():
            if region in wanted:
                out.update(int(m) for m in np.flatnonzero(lookup != np.roll(lookup, 1)))
        return sorted(out)

    def next_boundary(self, local: datetime, regions: Iterable[str] | None = None) -> datetime | None:
        """The first boundary strictly after ``local`` (None when the cap never changes)."""
        minutes = self.boundary_minutes(regions)
        if not minutes:
            return None
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for day in (0, 1):
            for m in minutes:
                t = midnight + timedelta(days=day, minutes=m)
                if t > local:
                    return t
        raise AssertionError("unreachable: a boundary lies within 24 h")


NO_CAPS = CapTable(None)
"""The table of no directive: nothing is capped anywhere."""
