"""Sweeps: grid expansion (pure) and a 3-run sweep on a Dask LocalCluster."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.errors import InputError
from throttlebed.experiments.sweep import expand_grid, load_sweep, point_scenario, run_data, set_path

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"


def test_expand_grid_is_the_ordered_cartesian_product():
    runs = expand_grid({"stage": [10, 50], "load.users_scale": [0.1, 0.2, 0.3]})
    assert len(runs) == 6
    assert runs[0] == {"stage": 10, "load.users_scale": 0.1}
    assert runs[-1] == {"stage": 50, "load.users_scale": 0.3}


def test_set_path_copies_and_replaces_an_escalation():
    base = {"name": "x", "stages": [10, 50, 90], "load": {"users_scale": 0.1}}
    out = set_path(base, "load.users_scale", 0.5)
    assert out["load"]["users_scale"] == 0.5 and base["load"]["users_scale"] == 0.1
    assert set_path(base, "backend.burst_s", 0.1)["backend"] == {"burst_s": 0.1}
    one = set_path(base, "stage", 50)
    assert one["stage"] == 50 and "stages" not in one
    with pytest.raises(InputError):
        set_path(base, "name.first", 1)


def test_point_scenario_validates_each_run():
    base = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    s = point_scenario(base, {"load.users_scale": 0.01}, {"stage": 90, "seed": 4}, 3)
    assert s.stage == 90 and s.seed == 4 and s.load.users_scale == 0.01 and s.name == "national-day-003"
    with pytest.raises(InputError, match="run 7: stage"):
        point_scenario(base, {}, {"stage": 33}, 7)
    assert run_data(base, {}, {})["name"] == "national-day"


def test_shipped_sweep_loads():
    spec, base = load_sweep(SCENARIOS / "sweeps" / "stages-by-load.yaml")
    assert len(expand_grid(spec.grid)) == 18 and base["name"] == "national-day"


def test_bad_sweep_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: ../nowhere.yaml\ngrid: {stage: [10]}\n")
    res = run_cli("sweep", bad, "--out", tmp_path / "o")
    assert res.code == 2 and "nowhere.yaml" in res.err
    bad.write_text("base: x.yaml\ngrid: {stage: []}\n")
    res = run_cli("sweep", bad, "--out", tmp_path / "o")
    assert res.code == 2 and "grid" in res.err


def test_three_run_sweep_on_a_local_cluster(tmp_path):
    base = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    base.update(regions=["KZ-75", "KZ-62"], name="tiny")
    base["load"]["users_scale"] = 0.01
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(base))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"name": "three", "base": "tiny.yaml", "set": {"seed": 3},
                                     "grid": {"stage": [10, 50, 90]}}))
    out = tmp_path / "out"
    res = run_cli("sweep", sweep, "--out", out, "--workers", "2", "--quiet")
    assert res.code == 0, res.err
    assert res.out.strip() == str(out / "sweep.parquet")
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table["grid.stage"]) == [10, 50, 90]
    assert table["error"].isna().all() and table["pass"].all()
    assert (table["cells_total"] == 8).all() and (table["cells_passed"] == 8).all()
    assert list(table["min_reduction_achieved"].round(1)) == [0.1, 0.5, 0.9]
    assert (table["max_overshoot"] <= 0.02).all() and (table["wall_s"] > 0).all()
    for i in range(3):
        v = json.loads((out / f"run-{i:03d}" / "verdict.json").read_text())
        assert v["stage"] == [10, 50, 90][i] and v["seed"] == 3
    csv = pd.read_csv(out / "sweep.csv")
    assert len(csv) == 3 and list(csv.columns) == list(table.columns)


def test_sweep_on_a_given_scheduler(tmp_path):
    from distributed import LocalCluster

    base = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    base.update(regions=["KZ-62"], name="one")
    base["load"]["users_scale"] = 0.01
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(base))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"base": "one.yaml", "grid": {"seed": [1, 2]}}))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        res = run_cli("sweep", sweep, "--out", tmp_path / "out", "--scheduler", cluster.scheduler_address,
                      "--json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert [r["grid.seed"] for r in rows] == [1, 2] and all(r["pass"] and r["error"] is None for r in rows)


def test_sweep_point_of_every_region_writes_its_report_on_a_worker(tmp_path):
    # a Dask worker is a daemon process: its 22 plots are drawn in it, not on forked drawers
    base = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    base.update(name="all")
    base["load"]["users_scale"] = 0.002
    (tmp_path / "all.yaml").write_text(yaml.safe_dump(base))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"base": "all.yaml", "grid": {"seed": [5]}}))
    out = tmp_path / "out"
    res = run_cli("sweep", sweep, "--out", out, "--workers", "1", "--quiet")
    assert res.code == 0, res.err
    row = pd.read_parquet(out / "sweep.parquet").iloc[0]
    assert row["error"] is None or pd.isna(row["error"]), row["error"]
    assert row["cells_total"] == 80
    plots = sorted(p.name for p in (out / "run-000" / "plots").glob("throughput-KZ-*.png"))
    assert len(plots) == 20 and (out / "run-000" / "report.html").stat().st_size > 100_000
