"""``throttlebed compare``: two runs cell by cell (reduction difference in pp, held/pass agreement)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.experiments.compare import compare_verdicts

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"


def _cell(region, period, red, held=True, ok=True, stage=50):
    return {"stage": stage, "region": region, "period": period, "reduction_achieved": red, "held": held,
            "pass": ok}


def _verdict(backend, cells):
    return {"scenario": "s", "backend": backend, "stage": 50, "pass": all(c["pass"] for c in cells),
            "cells": cells}


def test_compare_differences_and_agreement():
    a = _verdict("sim", [_cell("KZ-75", "00:00-12:00", 0.50), _cell("KZ-75", "12:00-24:00", 0.49)])
    b = _verdict("mininet", [_cell("KZ-75", "00:00-12:00", 0.53),
                             _cell("KZ-75", "12:00-24:00", 0.42, held=False, ok=False)])
    cmp = compare_verdicts(a, b, max_diff_pp=5)
    assert cmp["cells_compared"] == 2
    d = {c["period"]: c for c in cmp["cells"]}
    assert d["00:00-12:00"]["diff_pp"] == pytest.approx(3.0) and d["00:00-12:00"]["within"]
    assert d["12:00-24:00"]["diff_pp"] == pytest.approx(-7.0) and not d["12:00-24:00"]["within"]
    assert cmp["held_agree"] == 1 and cmp["pass_agree"] == 1
    assert cmp["max_abs_diff_pp"] == pytest.approx(7.0) and not cmp["within"]
    assert compare_verdicts(a, b, max_diff_pp=8)["within"]


def test_compare_missing_cells_are_not_within():
    a = _verdict("sim", [_cell("KZ-75", "00:00-12:00", 0.5), _cell("KZ-62", "00:00-12:00", 0.5)])
    b = _verdict("mininet", [_cell("KZ-75", "00:00-12:00", 0.5)])
    cmp = compare_verdicts(a, b)
    assert cmp["cells_only_in_a"] == [[50, "KZ-62", "00:00-12:00"]] and not cmp["within"]


def test_compare_cli_on_two_runs(tmp_path):
    data = yaml.safe_load((SCENARIOS / "national-day.yaml").read_text())
    data.update(regions=["KZ-75", "KZ-71"])
    data["load"]["users_scale"] = 0.02
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert run_cli("run", path, "--out", tmp_path / "a", "--quiet").code == 0
    data["backend"]["burst_s"] = 0.1  # a smaller meter burst: a slightly different enforcement
    path.write_text(yaml.safe_dump(data))
    assert run_cli("run", path, "--out", tmp_path / "b", "--quiet").code == 0
    res = run_cli("compare", tmp_path / "a", tmp_path / "a")
    assert res.code == 0 and "8 cells compared; max |B-A| 0.00 pp" in res.out
    res = run_cli("compare", tmp_path / "a", tmp_path / "b", "--json")
    assert res.code == 0
    doc = json.loads(res.out)
    assert doc["cells_compared"] == 8 and doc["max_abs_diff_pp"] < 5 and doc["within"]
    assert run_cli("compare", tmp_path / "a", tmp_path / "b", "--max-diff-pp", "0", "--check").code == 3
    assert run_cli("compare", tmp_path / "a", tmp_path / "nope").code == 2
