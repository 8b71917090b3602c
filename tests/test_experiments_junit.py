"""JUnit XML of a verdict (one case per cell and one for collateral), and ``run --junit`` with impact."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from tests.cli_util import run_cli
from throttlebed.experiments.junit import junit_xml, write_junit

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"


def _cell(region: str, period: str, ok: bool, **kw) -> dict:
    cell = {"region": region, "period": period, "pass": ok, "held": True, "no_samples": False,
            "cap_kbps": 500, "limit_kbps": 520.0, "measured_max_kbps": 498.0, "samples_over_cap": 0,
            "reduction_target": 0.5, "reduction_achieved": 0.502, "impact": None}
    return {**cell, **kw}


VERDICT = {
    "scenario": "tiny", "backend": "sim", "stage": 50,
    "tolerance": {"over_cap": 0.02, "burst_allowance": 0.0167, "reduction_pp": 2.0, "collateral": 0.05},
    "cells": [
        _cell("KZ-75", "00:00-12:00", True),
        _cell("KZ-75", "12:00-24:00", False, held=False, measured_max_kbps=731.0, samples_over_cap=4,
              reduction_achieved=0.2690),
        _cell("KZ-71", "00:00-24:00", True, impact={"platform": {
            "compared": 10, "affected": 7, "median_inflation": 2.5, "p95_inflation": 6.0,
            "share_slowed_2x": 0.4, "share_abandoned": 0.1}}),
    ],
    "collateral": {"unaffected": False, "tolerance": 0.05, "max_mean_drop": 0.12,
                   "regions": [{"region": "KZ-71", "direction": "down", "mean_change": -0.12,
                                "unaffected": False}]},
}


def _parse(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    return root


def test_one_case_per_cell_and_one_for_collateral():
    root = _parse(junit_xml(VERDICT))
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["KZ-75 00:00-12:00", "KZ-75 12:00-24:00", "KZ-71 00:00-24:00",
                                              "collateral"]
    assert root.get("tests") == "4" and root.get("failures") == "2"
    suite = root.find("testsuite")
    assert suite.get("name") == "tiny stage 50% on sim" and suite.get("failures") == "2"
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["KZ-75 12:00-24:00", "collateral"]


def test_a_failing_cell_carries_its_figures():
    root = _parse(junit_xml(VERDICT))
    msg = root.find("./testsuite/testcase[@name='KZ-75 12:00-24:00']/failure").get("message")
    assert "not held: 4 sample(s) above the limit" in msg
    assert "cap 500 kbit/s" in msg and "measured max 731.0 kbit/s" in msg and "limit 520.0 kbit/s" in msg
    assert "reduction 26.9% against target 50.0% +/- 2.0 pp" in msg
    out = root.find("./testsuite/testcase[@name='KZ-71 00:00-24:00']/system-out").text
    assert "median inflation 2.50x" in out and "abandoned 10.0%" in out
    col = root.find("./testsuite/testcase[@name='collateral']/failure").get("message")
    assert "KZ-71 down: mean -12.0%" in col


def test_every_stage_of_an_escalation_is_a_suite(tmp_path):
    doc = {**VERDICT, "escalation": [
        {"stage": 10, "cells": [_cell("KZ-75", "00:00-24:00", True)], "collateral": {"unaffected": True}},
        {"stage": 50, "cells": VERDICT["cells"], "collateral": VERDICT["collateral"]},
    ]}
    path = write_junit(doc, tmp_path / "ci" / "junit.xml")
    root = _parse(path.read_text(encoding="utf-8"))
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == ["tiny stage 10% on sim", "tiny stage 50% on sim"]
    assert root.get("tests") == "6" and root.get("failures") == "2"


@pytest.fixture(scope="module")
def ci_on_sim(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ci-sim")
    res = run_cli("run", SCENARIOS / "ci-emulated.yaml", "--backend", "sim", "--out", tmp / "out", "--quiet",
                  "--junit", tmp / "junit.xml")
    assert res.code == 0, res.err
    return tmp


def test_run_junit_matches_the_verdict(ci_on_sim):
    doc = json.loads((ci_on_sim / "out" / "verdict.json").read_text())
    root = _parse((ci_on_sim / "junit.xml").read_text(encoding="utf-8"))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(doc["cells"]) + 1
    failing_cells = sum(not c["pass"] for c in doc["cells"])
    failing = failing_cells + (doc["collateral"]["unaffected"] is False)
    assert int(root.get("failures")) == failing == len(root.findall(".//failure"))


def test_run_reports_impact_per_cell(ci_on_sim):
    out = ci_on_sim / "out"
    doc = json.loads((out / "verdict.json").read_text())
    evening = [c for c in doc["cells"] if c["period"] == "20:00-24:00"]
    assert evening and all(c["impact"]["platform"]["compared"] > 0 for c in evening)
    # stage 50 in the evening peak: platform sessions are slowed, other traffic is not
    assert max(c["impact"]["platform"]["median_inflation"] for c in evening) > 1.0
    assert all(c["impact"]["other"]["median_inflation"] == pytest.approx(1.0) for c in evening)
    assert doc["impact"]["platform"]["affected"] > 0 and "impact" in doc["definitions"]
    cells = pd.read_parquet(out / "cells.parquet")
    assert {"impact_platform_median_inflation", "impact_other_share_abandoned"} <= set(cells.columns)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "User impact" in html and (out / "plots" / "impact.png").is_file()


def test_junit_path_that_is_a_directory_is_refused_before_the_run(tmp_path):
    (tmp_path / "junit").mkdir()
    res = run_cli("run", SCENARIOS / "ci-emulated.yaml", "--backend", "sim", "--out", tmp_path / "out",
                  "--quiet", "--junit", tmp_path / "junit")
    assert res.code == 2
    assert res.err.strip().count("\n") == 0 and "--junit" in res.err and "is a directory" in res.err
    assert not (tmp_path / "out").exists()
