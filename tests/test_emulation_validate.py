"""``throttlebed validate --backend mininet``: a two-region directive on real Open vSwitch, demand
replayed from its statistics (a 6-minute evening window compressed 20x: 18 s of traffic per run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.experiments.validate import default_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios" / "examples"


@pytest.mark.emulation
def test_validate_two_region_directive_on_mininet(ovs, tmp_path, artifacts_dir):
    sc = yaml.safe_load(default_scenario("mininet").read_text())
    sc["backend"].update({"start_s": 20 * 3600 + 1800, "end_s": 20 * 3600 + 2160})  # 20:30-20:36
    scenario = tmp_path / "short.yaml"
    scenario.write_text(yaml.safe_dump(sc, sort_keys=False))
    out = tmp_path / "out"
    r = run_cli("validate", EXAMPLES / "directive.yaml", "--stats", EXAMPLES / "stats.csv",
                "--backend", "mininet", "--scenario", scenario, "--out", out, "--json", "--quiet")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    kept = {k: doc[k] for k in ("pass", "conformance", "demand")}
    kept |= {k: doc["enforcement"][k] for k in ("summary", "timings_s", "wall_s")}
    (artifacts_dir / "validate-mininet.json").write_text(json.dumps(kept, indent=2))
    assert doc["conformance"] == {"conforms": True, "findings": []}
    enf = doc["enforcement"]
    assert enf["backend"] == "mininet" and enf["measurement_source"] == "ovs-flow-counters"
    assert enf["time_scale"] == 20
    # the window lies in the evening period of both regions: two cells judged, both held on real meters
    assert sorted((c["region"], c["period"]) for c in enf["cells"]) == [("KZ-71", "18:00-24:00"),
                                                                        ("KZ-75", "18:00-24:00")]
    for c in enf["cells"]:
        assert c["held"], c
        assert c["samples"] == 6, c
        assert not c["demand_below_cap"], c  # the replayed evening demand is above the stage-50 cap
    dem = doc["demand"]
    assert dem["days"] == ["2026-03-02"]  # the only day, named
    assert dem["intervals"] == 2 * 6 and dem["measured_by"] == "ovs-flow-counters"
    # the replayed baseline follows the statistics through real TCP/UDP (measured 9% median over a
    # 10-minute window on a loaded machine; the first interval misses sessions begun before the window)
    assert dem["replay_error_median"] <= 0.20, dem
    assert (out / "report.html").is_file() and (out / "validation.json").is_file()
