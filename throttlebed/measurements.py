"""The measurement table every layer speaks: ``time, region, kbps`` (+ direction, traffic, source).

- ``time``: local Kazakh time (UTC+5, naive) at the start of the sampling interval;
- ``region``: ISO 3166-2 code of the regional object;
- ``kbps``: mean throughput over one sampling interval, kbit/s;
- ``direction`` (optional): ``down`` (platform -> users) or ``up``;
- ``traffic`` (optional): ``platform`` or ``other`` (non-platform services, for collateral);
- ``source`` (optional): who measured it (``sim-fluid``, ``ovs-flow-counters``, ``receiver``...).

Files are CSV or Parquet. Reading validates every row; the first bad one is an InputError naming
the file, the row (1-based, header not counted) and the field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from throttlebed.directive.periods import KZ_UTC_OFFSET
from throttlebed.directive.regions import region_codes
from throttlebed.errors import InputError
from throttlebed.fileio import atomic_write

REQUIRED_COLUMNS = ("time", "region", "kbps")
OPTIONAL_COLUMNS = ("direction", "traffic", "source")
DIRECTIONS = ("down", "up")
TRAFFIC_KINDS = ("platform", "other")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InputError("unknown file type (expected .csv or .parquet)", source=str(path))
    return suffix


# a UTC offset (or Z) after a time of day: 10:00+06:00, 10:00:00.5Z, 10:00-0300
_OFFSET_AT_END = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _local(parsed: pd.Series) -> pd.Series:
    """Aware times as local Kazakh time (UTC+5), naive; naive times as they are."""
    if getattr(parsed.dt, "tz", None) is not None:
        return (parsed.dt.tz_convert("UTC") + KZ_UTC_OFFSET).dt.tz_localize(None)
    return parsed


def _parse_iso(text: pd.Series) -> pd.Series:
    """ISO date-times as local naive times; unreadable ones NaT. Times with different offsets, or
    with and without one, are each read on their own (pandas refuses to mix them in one column)."""
    try:
        return _local(pd.to_datetime(text, format="ISO8601", errors="coerce", utc=False))
    except ValueError:
        aware = text.str.contains(_OFFSET_AT_END, regex=True, na=False).to_numpy(bool)
        out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
        try:
            out[~aware] = pd.to_datetime(text[~aware], format="ISO8601", errors="coerce")
        except ValueError:  # an offset the pattern does not know: the row is not an ISO time
            return out
        out[aware] = _local(pd.to_datetime(text[aware], format="ISO8601", errors="coerce", utc=True))
        return out


def _to_local_naive(values: pd.Series, source: str) -> pd.Series:
    """Parse ISO times; aware ones are converted to UTC+5; the first bad row is an error."""
    parsed = _local(values) if pd.api.types.is_datetime64_any_dtype(values) else _parse_iso(
        values.astype("string"))
    i = _first_bad(parsed.isna())
    if i is not None:
        raise InputError(f"not an ISO date-time: {values.iloc[i]!r}", source=source,
                         where=f"row {i + 1}.time")
    i = _first_bad((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max))
    if i is not None:
        raise InputError(f"{values.iloc[i]!s} is out of range (years {pd.Timestamp.min.year + 1}-"
                         f"{pd.Timestamp.max.year - 1})", source=source, where=f"row {i + 1}.time")
    return parsed.astype("datetime64[ns]")


def _first_bad(mask: pd.Series | np.ndarray) -> int | None:
    idx = np.flatnonzero(np.asarray(mask))
    return int(idx[0]) if len(idx) else None


def _numbers(values: pd.Series) -> pd.Series:
    """A column as floats, what is not a number NaN (also an integer too large for a float)."""
    try:
        return pd.to_numeric(values, errors="coerce").astype(float)
    except OverflowError:
        return pd.Series([_float_or_nan(v) for v in values], index=values.index, dtype=float)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _booleans(values: pd.Series) -> np.ndarray:
    """Where a column holds true/false rather than numbers (a Parquet boolean column, say)."""
    if pd.api.types.is_bool_dtype(values):
        return np.ones(len(values), dtype=bool)
    if values.dtype == object:
        return values.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(bool)
    return np.zeros(len(values), dtype=bool)


def validate_measurements(df: pd.DataFrame, source: str = "<table>") -> pd.DataFrame:
    """Check columns and every row; return the table with canonical dtypes."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)} (need time, region, kbps)",
                         source=source)
    out = pd.DataFrame({"time": _to_local_naive(df["time"].reset_index(drop=True), source)})
    region = df["region"].reset_index(drop=True).astype("string")
    i = _first_bad(~region.isin(region_codes()).fillna(False))
    if i is not None:
        raise InputError(f"unknown region {region.iloc[i]!r}", source=source,
                         where=f"row {i + 1}.region")
    out["region"] = region.astype(str)
    raw = df["kbps"].reset_index(drop=True)
    kbps = _numbers(raw)
    i = _first_bad(~np.isfinite(kbps.to_numpy()) | (kbps.to_numpy() < 0) | _booleans(raw))
    if i is not None:
        value = raw.iloc[i]
        shown = repr(value) if isinstance(value, str) else str(value)
        raise InputError(f"kbps must be a number >= 0, got {shown}", source=source,
                         where=f"row {i + 1}.kbps")
    out["kbps"] = kbps
    for col, allowed in (("direction", DIRECTIONS), ("traffic", TRAFFIC_KINDS)):
        if col in df.columns:
            vals = df[col].reset_index(drop=True).astype("string")
            i = _first_bad(~vals.isin(allowed).fillna(False))
            if i is not None:
                raise InputError(f"{col} must be one of {', '.join(allowed)}, got {vals.iloc[i]!r}",
                                 source=source, where=f"row {i + 1}.{col}")
            out[col] = vals.astype(str)
    if "source" in df.columns:
        out["source"] = df["source"].reset_index(drop=True).astype(str)
    return out


def read_measurements(path: str | Path) -> pd.DataFrame:
    """Read and validate a measurement table from CSV or Parquet."""
    p = Path(path)
    suffix = _suffix(p)
    if p.is_dir():
        raise InputError("is a directory, not a table file", source=str(p))
    if not p.is_file():
        raise InputError("no such file", source=str(p))
    try:
        if suffix == ".csv":
            df = pd.read_csv(p, dtype={"time": str, "region": str})
        else:
            df = pd.read_parquet(p)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"cannot read table: {reason}", source=str(p)) from None
    if df.empty:
        raise InputError("the table has no rows", source=str(p))
    _check_columns_once(df, str(p))
    table = validate_measurements(df, source=str(p))
    _check_one_sample_each(table, df.reset_index(drop=True), str(p))
    return table


def _check_columns_once(df: pd.DataFrame, source: str) -> None:
    """A column of the table named twice (pandas reads the second of ``kbps`` as ``kbps.1``)."""
    for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        if name in df.columns and f"{name}.1" in df.columns:
            raise InputError(f"the column {name} is given twice", source=source, where="header")


def _same(a: object, b: object) -> bool:
    """Two cells hold the same value (two missing values are the same)."""
    try:
        if pd.isna(a) or pd.isna(b):
            return bool(pd.isna(a) and pd.isna(b))
        return bool(a == b)
    except (TypeError, ValueError):  # list-like cells: not told apart by value here
        return True


def _check_one_sample_each(table: pd.DataFrame, raw: pd.DataFrame, source: str) -> None:
    """A time, region (and direction, traffic, source where given) is sampled once: a second row
    for it is an error naming both rows, whether it repeats the value or contradicts it, and the
    file's other columns that tell the two apart (a run's ``phase``, say: several series in one)."""
    key = ["time", "region", *(c for c in OPTIONAL_COLUMNS if c in table.columns)]
    again = _first_bad(table.duplicated(key, keep="first"))
    if again is None:
        return
    row = table.iloc[again]
    first = _first_bad((table[key] == row[key]).all(axis=1))
    what = " ".join(str(row[c]) for c in key[2:])
    apart = [c for c in raw.columns
             if c not in table.columns and not _same(raw[c].iloc[first], raw[c].iloc[again])]
    raise InputError(f"a second sample of {row['region']} at {row['time'].isoformat()}"
                     + (f" ({what})" if what else "") + f"; the first is row {first + 1}"
                     + (f": the table holds several series (told apart by {', '.join(apart)}); give one"
                        if apart else ""),
                     source=source, where=f"row {again + 1}")


def write_measurements(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a measurement table atomically, as Parquet or CSV by the file's suffix."""
    p = Path(path)
    if _suffix(p) == ".csv":
        return atomic_write(p, lambda tmp: df.to_csv(tmp, index=False))
    return atomic_write(p, lambda tmp: df.to_parquet(tmp, index=False))


# ---- session outcomes ---------------------------------------------------------------------
# What happened to each session of a run, the same shape from both backends (the fluid model and
# the emulation's traffic agents), so that a baseline and an enforced run of the same sessions can
# be compared session by session (throttlebed.experiments.impact):
#
# - ``session``: the session's id, equal across runs of the same sessions (same seed);
# - ``region``, ``traffic`` (platform|other), ``transport`` (tcp|udp);
# - ``start_s``: start, seconds since local midnight of the run's day (model time);
# - ``nominal_s``: the session's unconstrained duration, size / access rate (model seconds);
# - ``end_s``: when its last byte arrived (model time), NaN unless ``status == 'completed'``;
# - ``status``: completed | abandoned (the user gave up: the time given is when, in ``end_s`` no) |
#   cut (still running when the window closed) | dropped (never started: a host's concurrency
#   limit) | failed (the connection failed);
# - ``given_up_s``: for ``abandoned``, when the user gave up (model time), else NaN;
# - ``sessions``: how many of the load model's sessions the row stands for (the emulation merges
#   sessions that start together on one host when the schedule is too dense; else 1).

OUTCOME_COLUMNS = ("session", "region", "traffic", "transport", "start_s", "nominal_s", "end_s", "status",
                   "given_up_s", "sessions")
OUTCOME_STATUSES = ("completed", "abandoned", "cut", "dropped", "failed")


def empty_outcomes() -> pd.DataFrame:
    """A session outcome table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=float if c.endswith("_s") else object) for c in OUTCOME_COLUMNS})


def share_columns(like: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each column equal to ``like``'s (same name, dtype and values) taken from ``like``.

    The baseline and the enforced outcome tables of one seed hold the same sessions: only their
    ends and statuses differ, so the enforced table can keep the rest in the baseline's arrays
    (a national day at full scale: 17 M rows each).
    """
    if len(like) != len(table):
        return table
    out = {}
    for c in table.columns:
        mine = table[c]
        if c in like.columns and like[c].dtype == mine.dtype and like[c].equals(mine):
            out[c] = like[c].reset_index(drop=True)
        else:
            out[c] = mine.reset_index(drop=True)
    return pd.DataFrame(out, copy=False)
