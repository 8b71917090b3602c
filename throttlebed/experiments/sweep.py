"""Sweep files: a base scenario and a grid over its fields; the grid expanded into runs. Pure.

A sweep file::

    name: stages-by-load
    base: national-day.yaml          # relative to the sweep file
    set: {load.users_scale: 0.01}    # optional: fixed overrides applied to every run
    grid:                            # dotted paths into the scenario -> lists of values
      stage: [10, 50, 90]
      seed: [1, 2]

expands into the cartesian product of the grid, in the order the keys and values are written
(6 runs above). Each run's scenario is the base with its overrides applied. Every run's scenario
is validated before any runs (:func:`checked_points`): one invalid run makes the whole sweep bad
input; a run that fails while running becomes a failed row of the results.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from throttlebed.errors import InputError
from throttlebed.experiments.scenario import Scenario, read_scenario_data, scenario_from_data
from throttlebed.validation import model_from_data, read_yaml


class SweepSpec(BaseModel):
    """A sweep file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("sweep", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    base: str = Field(min_length=1, description="the base scenario file, relative to the sweep file")
    set: dict[str, Any] = Field(default_factory=dict, description="overrides applied to every run")
    grid: dict[str, list[Any]] = Field(min_length=1, description="dotted path -> values")

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"{key}: no values")
            _split(key)
        return v


def _split(path: str) -> list[str]:
    parts = str(path).split(".")
    if not all(parts):
        raise ValueError(f"{path!r} is not a dotted path such as load.users_scale")
    return parts


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with the field at dotted ``path`` set to ``value``."""
    out = copy.deepcopy(data)
    node = out
    parts = _split(path)
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise InputError(f"{part} is not a mapping", where=path)
        node = child
    node[parts[-1]] = copy.deepcopy(value)
    if parts == ["stage"]:  # a stage sweep replaces an escalation of the base
        out.pop("stages", None)
    return out


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the grid: one {path: value} mapping per run."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def run_data(base: dict[str, Any], fixed: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The scenario data of one run: base, then fixed overrides, then the grid values."""
    data = base
    for path, value in [*fixed.items(), *values.items()]:
        data = set_path(data, path, value)
    return data


def point_scenario(base: dict[str, Any], fixed: dict[str, Any], values: dict[str, Any],
                   index: int) -> Scenario:
    """The validated scenario of run ``index``; InputError if the values make it invalid."""
    data = run_data(base, fixed, values)
    data["name"] = f"{data.get('name', 'run')}-{index:03d}"
    return scenario_from_data(data, source=f"run {index}")


def _show(value: Any, limit: int = 40) -> str:
    """A value as short one-line text for an error message."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _touches(field: str, key: str) -> bool:
    """Whether the scenario field at ``field`` is, is inside, or holds the sweep key ``key``."""
    return field == key or field.startswith((f"{key}.", f"{key}[")) or key.startswith(f"{field}.")


def grid_position(grid: dict[str, list[Any]], index: int) -> dict[str, int]:
    """For run ``index`` of :func:`expand_grid`, the position of its value in each key's list."""
    pos: dict[str, int] = {}
    for key in reversed(list(grid)):
        index, pos[key] = divmod(index, len(grid[key]))
    return pos


def _culprit(field: str, spec: SweepSpec, index: int) -> tuple[str, str] | None:
    """The sweep key that set ``field`` in run ``index``, and its place: ``grid.K[i]`` or ``set.K=V``."""
    for key in reversed(list(spec.grid)):
        if _touches(field, key):
            return key, f"grid.{key}[{grid_position(spec.grid, index)[key]}]"
    for key in reversed(list(spec.set)):
        if _touches(field, key):
            return key, f"set.{key}={_show(spec.set[key])}"
    return None


def point_error(e: InputError, spec: SweepSpec, values: dict[str, Any], index: int,
                source: str) -> InputError:
    """The InputError of invalid run ``index``, located in the sweep file: point, key, scenario field."""
    parts = [f"point {index} (" + ", ".join(f"{k}={_show(v)}" for k, v in values.items()) + ")"]
    found = _culprit(e.where, spec, index) if e.where else None
    if found:
        parts.append(found[1])
    if e.where and (found is None or found[0] != e.where):
        parts.append(e.where)
    return InputError(e.reason, source=source, where=": ".join(parts))


def checked_points(spec: SweepSpec, base: dict[str, Any], source: str | Path) -> list[dict[str, Any]]:
    """The grid's runs (:func:`expand_grid`), each run's scenario validated first (:func:`point_scenario`);
    the first invalid run is an InputError naming ``source``, the point, its key and value."""
    points = expand_grid(spec.grid)
    for index, values in enumerate(points):
        try:
            point_scenario(base, spec.set, values, index)
        except InputError as e:
            raise point_error(e, spec, values, index, str(source)) from None
    return points


def load_sweep(path: str | Path) -> tuple[SweepSpec, dict[str, Any]]:
    """Read a sweep file and its base scenario's data (the base itself is validated too)."""
    p = Path(path)
    spec = model_from_data(SweepSpec, read_yaml(p), str(p),
                           "a sweep must be a mapping with 'base' and 'grid'")
    base_path = (p.parent / spec.base) if not Path(spec.base).is_absolute() else Path(spec.base)
    base = read_scenario_data(base_path)
    scenario_from_data(base, source=str(base_path))
    for key in spec.set:
        try:
            _split(key)
        except ValueError as e:
            raise InputError(str(e), source=str(p), where=f"set.{key}") from None
    return spec, base


RESULT_COLUMNS = ("index", "pass", "cells_passed", "cells_total", "min_reduction_achieved",
                  "max_reduction_error_pp", "max_overshoot", "collateral_unaffected", "wall_s", "error",
                  "out")


def results_table(rows: list[dict[str, Any]], grid_keys: list[str]) -> pd.DataFrame:
    """One row per run: grid values (``grid.<path>`` columns, JSON text if not scalar), then results."""
    grid_cols = [f"grid.{k}" for k in grid_keys]
    df = pd.DataFrame(sorted(rows, key=lambda r: r.get("index", 0)))
    for col in [*grid_cols, *RESULT_COLUMNS]:
        if col not in df.columns:
            df[col] = None
    for col in grid_cols:
        if df[col].map(lambda v: isinstance(v, (dict, list))).any():
            df[col] = df[col].map(lambda v: json.dumps(v))
    extra = [c for c in df.columns if c not in grid_cols and c not in RESULT_COLUMNS]
    return df[[*grid_cols, *RESULT_COLUMNS, *extra]]
