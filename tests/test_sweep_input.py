"""Sweeps validate every point's scenario before running any: an invalid point is exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.experiments import runner
from throttlebed.experiments.sweep import expand_grid, grid_position

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"
BASE = str(SCENARIOS / "national-day.yaml")


def _sweep(tmp_path: Path, grid: dict[str, list[Any]], fixed: dict[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = {"name": "bad", "base": BASE, "grid": grid}
    if fixed:
        doc["set"] = fixed
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize(("fixed", "grid", "expected"), [
    ({"bogus": 1}, {"seed": [1]}, "point 0 (seed=1): set.bogus=1: unknown field"),
    ({}, {"stage": [50, 40]}, "point 1 (stage=40): grid.stage[1]: Input should be 10, 50 or 90"),
    ({"load.users_scale": -1}, {"regions.x": [1]}, "point 0 (regions.x=1): grid.regions.x[0]: "),
    ({"load.users_scale": -1}, {"seed": [1]}, "point 0 (seed=1): set.load.users_scale=-1: "),
])
def test_invalid_point_exits_2_before_anything_runs(tmp_path, fixed, grid, expected):
    sweep = _sweep(tmp_path, grid, fixed)
    out = tmp_path / "out"
    res = run_cli("sweep", sweep, "--out", out, "--quiet")
    assert res.code == 2, res.err
    assert res.err.count("\n") == 1 and f"{sweep}: {expected}" in res.err, res.err
    assert not out.exists() and res.out == ""


def test_invalid_point_leaves_an_existing_out_dir_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "marker.txt").write_text("keep")
    res = run_cli("sweep", _sweep(tmp_path, {"stage": [50, 40]}), "--out", out, "--quiet")
    assert res.code == 2 and "grid.stage[1]" in res.err
    assert sorted(p.name for p in out.iterdir()) == ["marker.txt"]
    assert (out / "marker.txt").read_text() == "keep"


def test_the_first_invalid_point_of_a_two_key_grid_is_named(tmp_path):
    sweep = _sweep(tmp_path, {"seed": [1, 2], "stage": [10, 33]})
    res = run_cli("sweep", sweep, "--out", tmp_path / "out")
    assert res.code == 2
    assert f"{sweep}: point 1 (seed=1, stage=33): grid.stage[1]: Input should be" in res.err


def test_a_deeper_field_than_the_key_is_named_too(tmp_path):
    sweep = _sweep(tmp_path, {"load": [{"users_scale": 0.01}, {"users_scale": 0}]})
    res = run_cli("sweep", sweep, "--out", tmp_path / "out")
    assert res.code == 2
    assert f"{sweep}: point 1 (load={{\"users_scale\":0}}): grid.load[1]: load.users_scale: " in res.err


def test_hundreds_of_points_are_validated_up_front(tmp_path):
    sweep = _sweep(tmp_path, {"seed": list(range(200)), "stage": [10, 50, 90, 40]})
    res = run_cli("sweep", sweep, "--out", tmp_path / "out")
    assert res.code == 2 and "point 3 (seed=0, stage=40): grid.stage[3]: " in res.err
    sweep = _sweep(tmp_path, {"stage": [10, 50], "seed": [*range(400), -1]})
    res = run_cli("sweep", sweep, "--out", tmp_path / "out")
    assert res.code == 2 and "point 400 (stage=10, seed=-1): grid.seed[400]: " in res.err
    assert not (tmp_path / "out").exists()


def test_grid_position_follows_expand_grid():
    grid = {"a": [1, 2], "b": ["x", "y", "z"], "c": [True, False]}
    for i, values in enumerate(expand_grid(grid)):
        assert {k: grid[k][j] for k, j in grid_position(grid, i).items()} == values


def test_a_failure_while_running_stays_a_row(tmp_path, monkeypatch):
    def fail(index: int, values: dict[str, Any], *_: Any) -> dict[str, Any]:
        return {"index": index, **{f"grid.{k}": v for k, v in values.items()}, "pass": False,
                "error": "RuntimeError: boom", "wall_s": 0.0}

    monkeypatch.setattr(runner, "run_sweep_point", fail)
    out = tmp_path / "out"
    res = run_cli("sweep", _sweep(tmp_path, {"seed": [1, 2]}), "--out", out, "--backend", "mininet",
                  "--workers", "1", "--quiet")
    assert res.code == 0, res.err
    table = pd.read_csv(out / "sweep.csv")
    assert list(table["grid.seed"]) == [1, 2] and (table["error"] == "RuntimeError: boom").all()
