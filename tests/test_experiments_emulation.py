"""ci-emulated.yaml on the mininet backend (real switches, real traffic) against the sim backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_util import run_cli

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"
SCENARIO = SCENARIOS / "ci-emulated.yaml"


@pytest.mark.emulation
@pytest.mark.slow
def test_ci_emulated_mininet_verdict_agrees_with_sim(ovs, tmp_path, artifacts_dir):
    mn, sim = tmp_path / "mininet", tmp_path / "sim"
    res = run_cli("run", SCENARIO, "--backend", "mininet", "--out", mn, "--quiet")
    assert res.code == 0, res.err
    assert run_cli("run", SCENARIO, "--backend", "sim", "--out", sim, "--quiet").code == 0
    v = json.loads((mn / "verdict.json").read_text())
    assert v["backend"] == "mininet" and v["time_scale"] == 80 and v["measurement_source"]
    assert (mn / "work" / "baseline" / "emulation.json").is_file()
    res = run_cli("compare", sim, mn, "--json")
    assert res.code == 0
    cmp = json.loads(res.out)
    (artifacts_dir / "ci-emulated-compare.json").write_text(json.dumps(cmp, indent=2))
    assert cmp["cells_compared"] == 6 and not cmp["cells_only_in_a"] and not cmp["cells_only_in_b"]
    for c in cmp["cells"]:
        assert c["held_b"], c
        assert abs(c["diff_pp"]) <= 5.0, c
