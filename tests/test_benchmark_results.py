"""Benchmark results kept as data: each file's shape, and every figure the README quotes matches it."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_results", ROOT / "benchmarks" / "results.py")
results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results)

REQUIRED = {"sim_national_full_wall_s", "sim_national_full_peak_rss_mb", "sim_national_default_run_s",
            "dask_two_worker_speedup", "nspy_wall_ratio", "nspy_max_interval_diff_pct",
            "emulated_national_wall_s", "emulated_national_max_diff_pp", "window_switch_ms_median",
            "window_switch_ms_p99", "ready_20_regions_s"}


def test_every_results_file_has_the_documented_shape():
    docs = results.load_results()
    assert docs, "no benchmarks/results/*.json"
    for name, doc in docs.items():
        assert set(doc) == {"machine", "date", "command", "figures"}, name
        assert {"cpu", "cores", "memory_gb", "kernel", "python", "ovs"} <= set(doc["machine"]), name
        for fig, f in doc["figures"].items():
            assert set(f) == {"value", "unit"} and isinstance(f["unit"], str), (name, fig)
            assert isinstance(f["value"], int | float) and math.isfinite(f["value"]), (name, fig)


def test_the_issue_figures_are_kept():
    assert set(results.all_figures()) >= REQUIRED


def test_generated_table_quotes_every_figure_and_checks_clean():
    table = results.figure_table()
    assert set(results.quoted_figures(table)) == set(results.all_figures())
    assert results.mismatches(table) == []


def test_a_wrong_quote_is_caught(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"machine": {}, "date": "d", "command": "c",
                                                 "figures": {"a_s": {"value": 2.5, "unit": "s"}}}))
    good = results.figure_table(tmp_path)
    assert results.mismatches(good, tmp_path) == []
    wrong = good.replace("| 2.5 s |", "| 2.4 s |")
    assert results.mismatches(wrong, tmp_path) == ["a_s: quoted 2.4 s, results say 2.5 s"]
    assert "in no results file" in results.mismatches(good.replace("`a_s`", "`b_s`"), tmp_path)[0]


def test_readme_figures_match_the_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if results.TABLE_START not in readme:
        pytest.skip("the README has no generated figure table yet")
    assert results.quoted_figures(readme), "the README's figure table quotes nothing"
    assert results.mismatches(readme) == []
