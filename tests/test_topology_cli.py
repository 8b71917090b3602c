"""``throttlebed topology show``: JSON, text and picture of a scenario's CMS-TN graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from throttlebed.topology.graph import build_graph
from throttlebed.topology.plot import radial_layout

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "throttlebed.cli", "topology", *args],
                          capture_output=True, text=True, timeout=120)


SCENARIO = """name: three
regions: [KZ-75, KZ-71, KZ-62]
periods: 00:00-24:00
stage: 50
day: 2026-03-02
backend: {hosts_per_region: 2}
"""


def test_json_of_a_scenario(tmp_path: Path) -> None:
    f = tmp_path / "three.yaml"
    f.write_text(SCENARIO)
    res = run("show", str(f), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["scenario"] == "three"
    assert doc["regions"] == ["KZ-62", "KZ-71", "KZ-75"]
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes["r62"]["dpid"] == "0x1062" and nodes["core"]["dpid"] == "0x1"
    assert nodes["u71h2"]["ip"] == "10.71.0.2"
    assert len(doc["links"]) == 11


def test_text_and_png(tmp_path: Path) -> None:
    png = tmp_path / "topo.png"
    res = run("show", str(SCENARIOS / "national-day.yaml"), "--png", str(png), "--hosts-per-region", "3")
    assert res.returncode == 0, res.stderr
    assert "20 regional objects, 60 user hosts" in res.stdout
    assert "r75  KZ-75  dpid 0x1075  users 3 (10.75.0.1..10.75.0.3)" in res.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("content, needle", [
    ("name: x\nregions: [KZ-00]\nperiods: 00:00-24:00\nstage: 50\nday: 2026-03-02\n", "regions"),
    (": :\n", "bad.yaml"),
])
def test_bad_scenario_exits_2(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    res = run("show", str(f), "--json")
    assert res.returncode == 2
    assert needle in res.stderr and res.stderr.count("\n") == 1


def test_layout_is_deterministic_and_separates_nodes() -> None:
    g = build_graph("all")
    pos = radial_layout(g)
    assert pos == radial_layout(build_graph("all"))
    assert set(pos) == set(g.nodes)
    pts = sorted(pos.values())
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) > 1e-3 for a, b in zip(pts, pts[1:], strict=False))
