"""``throttlebed run`` end to end on the sim backend: outputs, verdict fields, numbers, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import load_directive
from throttlebed.experiments.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"
DESIGN_FIELDS = {"backend", "stage", "time_scale", "rate_scale", "pass", "cells", "collateral"}
DESIGN_CELL_FIELDS = {"region", "period", "peak_kbps", "cap_kbps", "measured_max_kbps", "reduction_target",
                      "reduction_achieved", "held", "pass"}


def _scenario_file(tmp: Path, base: str, **overrides) -> Path:
    data = yaml.safe_load((SCENARIOS / base).read_text())
    for key, value in overrides.items():
        node = data
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    path = tmp / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> tuple[Path, str]:
    """national-day.yaml, all 20 regions, at half of its users, run through the CLI."""
    tmp = tmp_path_factory.mktemp("national")
    path = _scenario_file(tmp, "national-day.yaml", **{"load.users_scale": 0.05})
    out = tmp / "out"
    res = run_cli("run", path, "--out", out, "--quiet")
    assert res.code == 0, res.err
    return out, res.out


def test_shipped_scenarios_validate():
    names = {p.name for p in SCENARIOS.glob("*.yaml")}
    assert {"national-day.yaml", "escalation.yaml", "ci-emulated.yaml"} <= names
    nd = load_scenario(SCENARIOS / "national-day.yaml")
    assert nd.region_list() == list(region_codes()) and nd.stage_list() == [50]
    assert load_scenario(SCENARIOS / "escalation.yaml").stage_list() == [10, 50, 90]
    ci = load_scenario(SCENARIOS / "ci-emulated.yaml")
    assert ci.backend.default == "mininet" and 3 <= len(ci.region_list()) <= 4


def test_run_writes_every_output(national):
    out, stdout = national
    assert stdout.strip() == str(out / "report.html")
    for name in ("directive.yaml", "measurements.parquet", "verdict.json", "report.html", "cells.parquet",
                 "scenario.yaml", "appendix3.en.html", "appendix3.en.docx"):
        assert (out / name).is_file(), name
    pngs = sorted(p.name for p in (out / "plots").glob("throughput-*.png"))
    assert pngs == [f"throughput-{r}.png" for r in region_codes()]
    assert not list(out.parent.glob(".out.partial-*"))
    m = pd.read_parquet(out / "measurements.parquet")
    assert set(m["phase"]) == {"baseline", "enforced"}
    assert set(m.loc[m["phase"] == "enforced", "stage"]) == {50}
    assert (m["phase"] == "baseline").sum() == (m["phase"] == "enforced").sum() == 20 * 1440 * 4
    d = load_directive(out / "directive.yaml")
    assert d.stage == 50 and len(d.rows) == 80 and d.directive_number == "17-ND"


def test_verdict_holds_and_reduces_by_the_stage(national):
    out, _ = national
    v = json.loads((out / "verdict.json").read_text())
    assert set(v) >= DESIGN_FIELDS
    assert v["backend"] == "sim" and v["stage"] == 50 and v["time_scale"] == 1.0 and v["rate_scale"] == 1.0
    assert len(v["cells"]) == 80
    for c in v["cells"]:
        assert set(c) >= DESIGN_CELL_FIELDS
        assert c["held"], c
        assert c["cap_kbps"] == int(c["peak_kbps"] * 0.5) or c["cap_kbps"] == int(c["peak_kbps"] * 0.5) - 1
        assert c["measured_max_kbps"] <= c["cap_kbps"] * 1.02
        if c["demand_below_cap"]:
            continue
        if c["transient_demand"]:
            assert c["reduction_achieved"] >= 0.5 - 0.02, c
        else:
            assert abs(c["reduction_achieved"] - 0.5) <= 0.02, c
    sustained = [c for c in v["cells"] if not c["transient_demand"] and not c["demand_below_cap"]]
    assert len(sustained) >= 40  # at 50% the cap binds for whole intervals in most cells
    assert v["pass"] is True
    assert v["collateral"]["unaffected"] is True
    assert len(v["collateral"]["regions"]) == 40  # 20 regions x (down, up)
    # the fluid baseline serves every session that ends in the day: nothing abandoned without a cap
    served = v["baseline_service"]
    assert served["not_served"] == 0 and served["share_not_served"] == 0.0
    assert 0.9 * v["expected_sessions"] <= served["sessions"] <= 1.1 * v["expected_sessions"]
    cells = pd.read_parquet(out / "cells.parquet")
    assert len(cells) == 80 and cells["held"].all()


def test_json_output_is_one_document(tmp_path):
    path = _scenario_file(tmp_path, "national-day.yaml", regions=["KZ-75", "KZ-62"],
                          **{"load.users_scale": 0.01})
    res = run_cli("run", path, "--out", tmp_path / "o", "--json", "--seed", "5")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["seed"] == 5 and doc["outputs"]["report.html"] == str(tmp_path / "o" / "report.html")
    assert len(doc["cells"]) == 8


def test_rerun_replaces_outputs_and_keeps_other_files(tmp_path):
    path = _scenario_file(tmp_path, "national-day.yaml", regions=["KZ-62"], **{"load.users_scale": 0.01})
    out = tmp_path / "o"
    assert run_cli("run", path, "--out", out, "--quiet").code == 0
    (out / "notes.txt").write_text("mine")
    first = json.loads((out / "verdict.json").read_text())["seed"]
    assert run_cli("run", path, "--out", out, "--quiet", "--seed", "9").code == 0
    assert json.loads((out / "verdict.json").read_text())["seed"] == 9 != first
    assert (out / "notes.txt").read_text() == "mine"


def test_escalation_runs_three_stages_on_one_case(tmp_path):
    path = _scenario_file(tmp_path, "escalation.yaml", regions=["KZ-75", "KZ-62"],
                          **{"load.users_scale": 0.02})
    out = tmp_path / "o"
    res = run_cli("run", path, "--out", out, "--quiet")
    assert res.code == 0, res.err
    v = json.loads((out / "verdict.json").read_text())
    assert v["stages"] == [10, 50, 90] and v["stage"] == 90
    assert [s["stage"] for s in v["escalation"]] == [10, 50, 90]
    peaks = {}
    for s in v["escalation"]:
        for c in s["cells"]:
            assert c["held"]
            peaks.setdefault((c["region"], c["period"]), set()).add(c["peak_kbps"])
    assert all(len(p) == 1 for p in peaks.values())  # one case: the same peaks for every stage
    caps = {s: load_directive(out / f"directive-stage{s}.yaml") for s in (10, 50, 90)}
    for r10, r90 in zip(caps[10].rows, caps[90].rows, strict=True):
        assert r10.cap_kbps > r90.cap_kbps
    m = pd.read_parquet(out / "measurements.parquet")
    assert sorted(m["stage"].dropna().unique()) == [10, 50, 90]


@pytest.mark.parametrize(("override", "where"), [
    ({"regions": ["KZ-75", "KZ-99"]}, "regions"),
    ({"periods": "00:00-07:00,06:00-24:00"}, "periods"),
    ({"periods": "00:00-25:00"}, "periods"),
    ({"colour": "blue"}, "colour"),
    ({"load.users_scale": -1}, "load.users_scale"),
    ({"stage": 40}, "stage"),
])
def test_bad_scenario_exits_2_naming_file_and_field_and_writes_nothing(tmp_path, override, where):
    path = _scenario_file(tmp_path, "national-day.yaml", **override)
    out = tmp_path / "never"
    res = run_cli("run", path, "--out", out)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0] and f": {where}" in lines[0], lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_missing_scenario_file_exits_2(tmp_path):
    res = run_cli("run", tmp_path / "nope.yaml", "--out", tmp_path / "o")
    assert res.code == 2 and "nope.yaml" in res.err


def test_ctrl_c_exits_130_and_leaves_no_output(tmp_path):
    path = _scenario_file(tmp_path, "national-day.yaml")
    out = tmp_path / "o"
    exe = Path(sys.executable).parent / "throttlebed"
    proc = subprocess.Popen([str(exe), "run", str(path), "--out", str(out)], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        for line in proc.stderr:  # the baseline is logged once it is done: enforcement is running
            if "baseline day" in line:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_both_directions_run_has_one_impact_per_cell_and_direction(tmp_path):
    """Down and up rows of one period are one impact cell: the same figures on both rows, once each."""
    path = _scenario_file(tmp_path, "national-day.yaml", **{"regions": ["KZ-75", "KZ-11"],
                                                            "load.users_scale": 0.02,
                                                            "peaks.direction": "both"})
    out = tmp_path / "o"
    res = run_cli("run", path, "--out", out, "--quiet")
    assert res.code == 0, res.err
    cells = pd.read_parquet(out / "cells.parquet")
    assert sorted(cells["direction"].unique()) == ["down", "up"]
    assert not cells.duplicated(["stage", "region", "period", "direction"]).any()
    by_dir = cells.set_index(["stage", "region", "period", "direction"])["impact_platform_sessions"]
    assert (by_dir.xs("down", level="direction") == by_dir.xs("up", level="direction")).all()
    assert cells["impact_platform_sessions"].sum() > 0
