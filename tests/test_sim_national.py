"""The national day (stage 50) keeps the fluid model's results: every cell's reduction within 0.5 pp
of the one recorded from the previous model (a vectorised step loop over all regions at once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from throttlebed.experiments import runner
from throttlebed.experiments.scenario import load_scenario

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parent / "throttlebed" / "experiments" / "scenarios" / "national-day.yaml"
RECORDED = HERE / "data" / "national_day_cells_scale0.1.json"


@pytest.mark.slow
def test_national_day_cells_match_the_recorded_model():
    scenario = load_scenario(SCENARIO)
    recorded = json.loads(RECORDED.read_text())
    assert scenario.load.users_scale == recorded["users_scale"] and scenario.seed == recorded["seed"]
    cells = runner.execute(scenario, "sim").final.cells
    got = {(c.region, str(c.period)): c for c in cells.itertuples()}
    assert len(got) == len(recorded["cells"]) == 80
    for want in recorded["cells"]:
        c = got[(want["region"], want["period"])]
        assert c.cap_kbps == want["cap_kbps"] and c.peak_kbps == pytest.approx(want["peak_kbps"], rel=1e-9)
        diff_pp = abs(c.reduction_achieved - want["reduction_achieved"]) * 100
        assert diff_pp <= 0.5, (want["region"], want["period"], diff_pp)
        assert bool(c.held) == want["held"]
