"""Tables kept where they were made, and worked on there.

A national day's session outcome tables hold 17 M rows each at full scale. On one machine they are
ordinary tables (:class:`LocalTable`); when a run's regions are spread over a Dask cluster, each
region's table stays on the worker that simulated it (:mod:`throttlebed.experiments.dask_cluster`)
and what the run needs of them (the baseline's service, the user impact) is computed part by part
where the parts are, by functions whose results add up over the parts
(:func:`throttlebed.experiments.verdict.service_counts`,
:func:`throttlebed.experiments.impact.impact_tallies`). Only those small results travel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pandas as pd

T = TypeVar("T")


class HeldTable(Protocol):
    """A table in parts (one per region, or one in all), each where it was made."""

    def apply(self, fn: Callable[..., T], *args: Any) -> list[T]:
        """``fn(part, *args)`` for every part, where the part is; the results in the parts' order."""

    def apply_with(self, other: HeldTable, fn: Callable[..., T], *args: Any) -> list[T]:
        """``fn(part, other's part of the same rows, *args)`` for every part (``other`` split alike)."""

    def transform(self, fn: Callable[..., pd.DataFrame], *args: Any) -> HeldTable:
        """The table whose parts are ``fn(part, *args)``, kept where the parts are; this one is let go."""

    def release(self) -> None:
        """Let the parts go."""


@dataclass
class LocalTable:
    """A table in this process: one part."""

    table: pd.DataFrame | None

    def apply(self, fn: Callable[..., T], *args: Any) -> list[T]:
        """``[fn(table, *args)]``."""
        return [fn(self._table(), *args)]

    def apply_with(self, other: HeldTable, fn: Callable[..., T], *args: Any) -> list[T]:
        """``[fn(table, other.table, *args)]``; ``other`` must be a :class:`LocalTable` too."""
        if not isinstance(other, LocalTable):
            raise TypeError(f"a table in this process cannot be paired with {type(other).__name__}")
        return [fn(self._table(), other._table(), *args)]

    def transform(self, fn: Callable[..., pd.DataFrame], *args: Any) -> LocalTable:
        """``LocalTable(fn(table, *args))``."""
        out = LocalTable(fn(self._table(), *args))
        self.release()
        return out

    def release(self) -> None:
        """Drop the reference to the table."""
        self.table = None

    def _table(self) -> pd.DataFrame:
        if self.table is None:
            raise RuntimeError("the table was released")
        return self.table


def held(table: pd.DataFrame | HeldTable | None) -> HeldTable | None:
    """``table`` as a :class:`HeldTable` (an ordinary table becomes a :class:`LocalTable`)."""
    if table is None or not isinstance(table, pd.DataFrame):
        return table
    return LocalTable(table)
