"""User impact of a directive: what the caps did to the sessions of each (region, period) cell.

Pure functions of two session outcome tables (:data:`throttlebed.measurements.OUTCOME_COLUMNS`),
the baseline's and the enforced run's of the *same* sessions (the runner runs both with one seed),
and the directive. Only TCP sessions count: a transfer that adapts to the capacity is slowed by a
cap, a fixed-rate stream is policed instead (its loss is the verdict's throughput figure).

A session belongs to the cell of its region and of the directive period holding its start minute
(local time). Per cell and traffic class (``platform``, and ``other`` for the collateral):

- ``sessions``: TCP sessions of the cell in the baseline;
- ``compared``: those *completed* in the baseline (a session cut by the window's end, or lost to the
  emulation's concurrency limit, has no baseline duration) and, in the enforced run, completed or
  not served (abandoned by the user, dropped or failed); sessions still running when the enforced
  window closed are left out;
- ``inflation`` of a session completed in both runs: enforced duration / baseline duration, each
  from the session's start to its last byte;
- ``median_inflation``, ``p95_inflation``: over the sessions completed in both runs;
- ``share_slowed_2x``: compared sessions completed with ``inflation > 2``, over ``compared``;
- ``share_abandoned``: compared sessions not served in the enforced run, over ``compared``
  (the two shares are disjoint);
- ``affected``: compared sessions with ``inflation > AFFECTED_INFLATION`` or not served.

Rows of the emulation stand for ``sessions`` load-model sessions each (merged transfers); every
count, share and percentile is weighted by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from throttlebed.directive.periods import MINUTES_PER_DAY
from throttlebed.directive.schema import Directive
from throttlebed.experiments.verdict import records
from throttlebed.held import HeldTable, held

AFFECTED_INFLATION = 1.1  # a session at least 10% slower than in the baseline is affected
SLOWED_INFLATION = 2.0
NOT_SERVED = ("abandoned", "dropped", "failed")
TRAFFIC_CLASSES = ("platform", "other")
FIGURES = ("sessions", "compared", "affected", "median_inflation", "p95_inflation", "share_slowed_2x",
           "share_abandoned")
IMPACT_COLUMNS = ("stage", "region", "period", "traffic", *FIGURES)
DEFINITION = (
    "per cell and traffic class, TCP sessions starting in the cell, the same sessions in the baseline and "
    "the enforced run: inflation = enforced / baseline completion time (start to last byte); "
    "median_inflation and p95_inflation over sessions completed in both runs; compared = completed in "
    "the baseline and, enforced, completed or not served (abandoned, dropped, failed); share_slowed_2x = "
    "completed with inflation > 2, share_abandoned = not served, both over compared; affected = compared "
    f"sessions with inflation > {AFFECTED_INFLATION} or not served; counts weighted by load-model sessions")


@dataclass
class Pairs:
    """TCP sessions of the baseline, each with the same session's enforced outcome (arrays, one
    element per session, in the baseline's order): what :func:`stage_impact` needs of two outcome
    tables of 17 M rows, without a joined table."""

    region: pd.Series
    start_s: np.ndarray
    other: np.ndarray  # traffic == 'other'
    sessions: np.ndarray
    completed_base: np.ndarray
    not_served: np.ndarray  # completed in the baseline; abandoned, dropped or failed enforced
    inflation: np.ndarray  # enforced over baseline duration; NaN unless completed in both


def _status_in(status: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    """``status.isin(names)`` as a bool array, through the codes when ``status`` is categorical."""
    if isinstance(status.dtype, pd.CategoricalDtype):
        hit = np.array([c in names for c in status.cat.categories] + [False])
        return hit[status.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing False
    return status.isin(names).to_numpy(bool)


def _enforced_rows(base_session: np.ndarray, enforced: pd.DataFrame) -> np.ndarray:
    """Row of ``enforced`` (TCP only) holding each baseline session, -1 where none."""
    enf_tcp = (enforced["transport"] == "tcp").to_numpy(bool)
    enf_session = enforced["session"].to_numpy()
    if len(enf_session) == len(base_session) and np.array_equal(enf_session, base_session):
        rows = np.arange(len(enf_session), dtype=np.int32 if len(enf_session) < 2**31 else np.int64)
        rows[~enf_tcp] = -1  # one seed: the same sessions in the same order
        return rows
    tcp_rows = np.flatnonzero(enf_tcp)
    index = pd.Index(enf_session[tcp_rows])
    if not index.is_unique:
        raise ValueError("session ids repeat in the enforced outcome table")
    found = index.get_indexer(base_session)
    return np.where(found >= 0, tcp_rows[found], -1)


def pair_sessions(baseline: pd.DataFrame, enforced: pd.DataFrame) -> Pairs:
    """The TCP sessions of ``baseline`` paired with their outcome in ``enforced`` (by ``session``)."""
    base_tcp = (baseline["transport"] == "tcp").to_numpy(bool)
    all_tcp = bool(base_tcp.all())
    pick = (lambda a: a) if all_tcp else (lambda a: a[base_tcp])
    rows = _enforced_rows(baseline["session"].to_numpy(), enforced)
    rows = pick(rows)
    found = rows >= 0
    at = np.where(found, rows, 0)
    start = pick(baseline["start_s"].to_numpy(float))
    completed_base = pick(_status_in(baseline["status"], ("completed",)))
    completed_enf = found & _status_in(enforced["status"], ("completed",))[at]
    not_served_enf = found & _status_in(enforced["status"], NOT_SERVED)[at]
    both = completed_base & completed_enf
    base_dur = pick(baseline["end_s"].to_numpy(float))
    base_dur = base_dur.copy() if all_tcp else base_dur  # a subset is a copy already
    base_dur -= start
    inflation = enforced["end_s"].to_numpy(float)[at]  # a copy: the enforced duration, then the ratio
    del at
    inflation -= start
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(inflation, base_dur, out=inflation)
        inflation[~(both & (base_dur > 0))] = np.nan
    del base_dur
    weights = baseline["sessions"].to_numpy()
    if not np.issubdtype(weights.dtype, np.integer):
        weights = weights.astype(np.int64)
    region = baseline["region"]
    if not all_tcp:
        region = pd.Series(pd.Categorical.from_codes(region.cat.codes.to_numpy()[base_tcp],
                                                     region.cat.categories, validate=False)
                           if isinstance(region.dtype, pd.CategoricalDtype) else region.to_numpy()[base_tcp])
    return Pairs(region=region.reset_index(drop=True), start_s=start,
                 other=pick((baseline["traffic"] == "other").to_numpy(bool)),
                 sessions=pick(weights), completed_base=completed_base,
                 not_served=completed_base & not_served_enf, inflation=inflation)


def compare_sessions(baseline: pd.DataFrame, enforced: pd.DataFrame) -> pd.DataFrame:
    """TCP sessions of the baseline joined with the same sessions' enforced outcome.

    Columns: ``session, region, traffic, start_s, sessions``, ``completed_base`` (bool),
    ``not_served`` (completed in the baseline, abandoned, dropped or failed enforced) and
    ``inflation`` (enforced over baseline duration; NaN unless completed in both).
    """
    p = pair_sessions(baseline, enforced)
    base = baseline.loc[(baseline["transport"] == "tcp").to_numpy(bool),
                        ["session", "region", "traffic", "start_s", "sessions"]].reset_index(drop=True)
    base["completed_base"] = p.completed_base
    base["not_served"] = p.not_served
    base["inflation"] = p.inflation
    return base


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray | None,
                        qs: tuple[float, ...]) -> list[float | None]:
    """Quantiles ``qs`` of ``values`` each counted ``weights`` times (None: once each)."""
    if len(values) == 0:
        return [None] * len(qs)
    if weights is not None and not (weights == 1).all():
        values = np.repeat(values, weights)
    return [float(v) for v in np.quantile(values, list(qs))]


@dataclass
class Tally:
    """What the figures (FIGURES) need of a set of sessions; the tallies of disjoint sets add up
    (:func:`add_tallies`), so the figures of a cell or of a country do not depend on how its sessions
    were split (per region on the workers of a cluster, or all at once)."""

    sessions: int = 0
    compared: int = 0
    affected: int = 0
    slowed: int = 0
    not_served: int = 0
    inflation: np.ndarray = field(default_factory=lambda: np.empty(0))  # of sessions completed in both runs
    weights: np.ndarray | None = None  # their load-model sessions; None: one each


def tally(w: np.ndarray, not_served: np.ndarray, infl: np.ndarray) -> Tally:
    """The tally of sessions: weights ``w``, not-served flags, inflations (NaN: not completed in both)."""
    both = np.isfinite(infl)
    slowed = both & (infl > SLOWED_INFLATION)
    affected = not_served | (both & (infl > AFFECTED_INFLATION))
    w_both = w[both]
    return Tally(sessions=int(w.sum()), compared=int(w[both | not_served].sum()),
                 affected=int(w[affected].sum()), slowed=int(w[slowed].sum()),
                 not_served=int(w[not_served].sum()), inflation=infl[both],
                 weights=None if (w_both == 1).all() else w_both)


def add_tallies(tallies: list[Tally]) -> Tally:
    """The tally of the union of disjoint sets of sessions."""
    if len(tallies) == 1:
        return tallies[0]
    if not tallies:
        return Tally()
    weighted = any(t.weights is not None for t in tallies)
    return Tally(
        sessions=sum(t.sessions for t in tallies), compared=sum(t.compared for t in tallies),
        affected=sum(t.affected for t in tallies), slowed=sum(t.slowed for t in tallies),
        not_served=sum(t.not_served for t in tallies),
        inflation=np.concatenate([t.inflation for t in tallies]),
        weights=np.concatenate([t.weights if t.weights is not None else np.ones(len(t.inflation), np.int64)
                                for t in tallies]) if weighted else None)


def figures(t: Tally) -> dict[str, Any]:
    """The figures (FIGURES) of a tally."""
    share = (lambda n: float(n) / t.compared) if t.compared else (lambda n: None)
    median, p95 = _weighted_quantiles(t.inflation, t.weights, (0.5, 0.95))
    return {
        "sessions": t.sessions,
        "compared": t.compared,
        "affected": t.affected,
        "median_inflation": median,
        "p95_inflation": p95,
        "share_slowed_2x": share(t.slowed),
        "share_abandoned": share(t.not_served),
    }


def impact_figures(pairs: pd.DataFrame) -> dict[str, Any]:
    """The figures (FIGURES) of a set of compared sessions (rows of :func:`compare_sessions`)."""
    return figures(tally(pairs["sessions"].to_numpy(np.int64), pairs["not_served"].to_numpy(bool),
                         pairs["inflation"].to_numpy(float)))


def impact_cells(directive: Directive) -> list[tuple[str, str]]:
    """The directive's (region, period) cells in row order, each once.

    A session has no direction: a ``both`` directive's down and up rows of one period are one cell.
    """
    return list(dict.fromkeys((r.region, r.period) for r in directive.rows))


def directive_cell_of(region: pd.Series, start_s: np.ndarray, directive: Directive) -> np.ndarray:
    """Index into :func:`impact_cells` of the cell holding each start (local minute of day); -1: none."""
    minute_f = start_s / 60.0  # in place from here: 17 M starts at full scale
    np.floor(minute_f, out=minute_f)
    minute = minute_f.astype(np.int64)
    del minute_f
    np.remainder(minute, MINUTES_PER_DAY, out=minute)  # minute_of_day, without a second 17 M array
    if isinstance(region.dtype, pd.CategoricalDtype):  # no hashing of 17 M rows
        codes, names = region.cat.codes.to_numpy(), region.cat.categories
    else:
        codes, names = pd.factorize(region)
    code_of = {name: c for c, name in enumerate(names)}
    cells = impact_cells(directive)
    out = np.full(len(region), -1, dtype=np.int32 if len(cells) < 2**31 else np.int64)
    cell_index = {cell: i for i, cell in enumerate(cells)}
    for reg in directive.regions():
        if reg not in code_of:
            continue
        idx = np.flatnonzero(codes == code_of[reg])
        pset = directive.period_set(reg)
        index = np.array([cell_index[(reg, str(p))] for p in pset] + [-1])
        out[idx] = index[pset.minute_lookup[minute[idx]]]  # lookup -1 picks the trailing -1
    return out


CellKey = tuple[str, str, str]  # (region, period, traffic class)


def impact_tallies(baseline: pd.DataFrame, enforced: pd.DataFrame,
                   directive: Directive) -> dict[CellKey, Tally]:
    """The tally of every (cell, traffic class) holding sessions of ``baseline``; the outcome tables may
    hold any subset of the sessions (one region's), the same subset in both."""
    pairs = pair_sessions(baseline, enforced)
    cells = impact_cells(directive)
    row = directive_cell_of(pairs.region, pairs.start_s, directive)
    inside = row >= 0
    other = pairs.other[inside]
    w = pairs.sessions[inside]
    not_served = pairs.not_served[inside]
    pairs.start_s = pairs.sessions = None  # let each array go once its cells' subset is taken
    infl = pairs.inflation[inside]
    del pairs
    n_keys = len(cells) * len(TRAFFIC_CLASSES)
    key = (row[inside] * len(TRAFFIC_CLASSES) + other).astype(np.int16 if n_keys < 2**15 else np.int64)
    del row
    order = np.argsort(key, kind="stable")  # a radix sort for 16-bit keys
    bounds = np.searchsorted(key[order], np.arange(n_keys + 1))
    out: dict[CellKey, Tally] = {}
    for i, (region, period) in enumerate(cells):
        for j, traffic in enumerate(TRAFFIC_CLASSES):
            k = i * len(TRAFFIC_CLASSES) + j
            if bounds[k + 1] > bounds[k]:
                g = order[bounds[k]:bounds[k + 1]]
                out[(region, period, traffic)] = tally(w[g], not_served[g], infl[g])
    return out


def combine_impact(parts: list[dict[CellKey, Tally]],
                   directive: Directive) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The cell table (one row per (region, period) cell and traffic class, columns IMPACT_COLUMNS) and the
    figures over every session of the directive's cells, per traffic class, from the tallies of
    disjoint sets of sessions (:func:`impact_tallies` of each)."""
    rows, per_class = [], {t: [] for t in TRAFFIC_CLASSES}
    for region, period in impact_cells(directive):
        for traffic in TRAFFIC_CLASSES:
            t = add_tallies([p[(region, period, traffic)] for p in parts if (region, period, traffic) in p])
            per_class[traffic].append(t)
            rows.append({"stage": directive.stage, "region": region, "period": period, "traffic": traffic,
                         **figures(t)})
    overall = {t: figures(add_tallies(per_class[t])) for t in TRAFFIC_CLASSES}
    return pd.DataFrame(rows, columns=list(IMPACT_COLUMNS)), overall


def stage_impact(baseline: pd.DataFrame | HeldTable, enforced: pd.DataFrame | HeldTable,
                 directive: Directive) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The cell table and the overall figures (:func:`combine_impact`) of two outcome tables, whole or
    held in parts split alike (tallied where the parts are)."""
    return combine_impact(held(baseline).apply_with(held(enforced), impact_tallies, directive), directive)


def cell_impact(baseline: pd.DataFrame, enforced: pd.DataFrame, directive: Directive) -> pd.DataFrame:
    """One row per (region, period) cell and traffic class (columns IMPACT_COLUMNS)."""
    return stage_impact(baseline, enforced, directive)[0]


def overall_impact(baseline: pd.DataFrame, enforced: pd.DataFrame, directive: Directive) -> dict[str, Any]:
    """The figures over every session of the directive's cells, per traffic class."""
    return stage_impact(baseline, enforced, directive)[1]


def impact_by_cell(table: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """(region, period) -> ``{"platform": figures, "other": figures}`` (JSON-safe), for verdict.json."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records(table):
        cell = out.setdefault((rec["region"], rec["period"]), {})
        cell[rec["traffic"]] = {k: rec[k] for k in FIGURES}
    return out


def flat_columns(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (stage, region, period), columns ``impact_<traffic>_<figure>`` (for cells.parquet)."""
    wide = table.pivot(index=["stage", "region", "period"], columns="traffic", values=list(FIGURES))
    wide.columns = [f"impact_{traffic}_{figure}" for figure, traffic in wide.columns]
    return wide.reset_index()
