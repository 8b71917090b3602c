"""User impact on the mininet backend: two regions, 30 evening minutes at x80 (22.5 s real per run).

The runner replays the same sessions as real TCP fetches with and without the stage-50 directive;
the traffic agents report each transfer's end, and every cell gets its impact figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from throttlebed.experiments.impact import FIGURES
from throttlebed.experiments.runner import execute
from throttlebed.experiments.scenario import load_scenario

pytestmark = pytest.mark.emulation

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"


def test_impact_figures_come_out_of_real_tcp(ovs, tmp_path, artifacts_dir):
    data = yaml.safe_load((SCENARIOS / "ci-emulated.yaml").read_text())
    data["regions"] = ["KZ-75", "KZ-71"]
    data["backend"].update({"start_s": 72000, "end_s": 73800, "hosts_per_region": 3})  # 20:00-20:30
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = execute(load_scenario(path), "mininet", work_dir=tmp_path / "work")
    stage = r.final
    assert stage.impact is not None and len(stage.impact) == 2 * len(stage.directive.rows)
    evening = stage.impact[stage.impact["period"] == "20:00-24:00"].set_index(["region", "traffic"])
    figures = {f"{k[0]} {k[1]}": {f: evening.loc[k, f] for f in FIGURES} for k in evening.index}
    (artifacts_dir / "emulation-impact.json").write_text(json.dumps(figures, indent=2, default=float))
    print(json.dumps(figures, indent=1, default=float))
    for region in ("KZ-75", "KZ-71"):
        plat, other = evening.loc[(region, "platform")], evening.loc[(region, "other")]
        assert plat["compared"] > 20 and other["compared"] > 5, figures
        for row in (plat, other):
            assert 0.0 <= row["share_abandoned"] <= 1.0 and 0.0 <= row["share_slowed_2x"] <= 1.0
            assert row["p95_inflation"] >= row["median_inflation"] > 0
        # other traffic meets no meter: its sessions finish about as fast as without the directive
        # (a meter on it would slow it like the platform's; the two runs' own timing on a loaded
        # machine moves short transfers by up to a third either way)
        assert 0.5 <= other["median_inflation"] <= 1.5, figures
    # the demand is about twice the cap in the evening: the big city's platform sessions are slowed
    big = evening.loc[("KZ-75", "platform")]
    assert big["median_inflation"] > evening.loc[("KZ-75", "other")]["median_inflation"], figures
    assert big["affected"] > 0, figures
    assert stage.impact_overall["platform"]["compared"] > 0
