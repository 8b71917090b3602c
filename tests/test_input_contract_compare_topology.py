"""Bad input to ``compare``, ``topology show`` and ``directive derive|check``: exit 2, one line naming
the file and field, or the option, at fault."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from tests.cli_util import Result, run_cli

SCENARIOS = Path(__file__).resolve().parent.parent / "throttlebed" / "experiments" / "scenarios"
EXAMPLES = SCENARIOS / "examples"
STATS = EXAMPLES / "stats.csv"
DERIVE = ("directive", "derive", "--stats", STATS, "--periods", "00:00-24:00", "--stage", "50")


def assert_bad_input(res: Result, *names: str, absent: str | None = None) -> None:
    """Exit 2 with one stderr line naming every one of ``names`` (and not ``absent``)."""
    assert res.code == 2, (res.code, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    for name in names:
        assert name in lines[0], (name, lines[0])
    if absent is not None:
        assert absent not in lines[0], lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run of the smallest shipped scenario."""
    out = tmp_path_factory.mktemp("runs") / "s1"
    res = run_cli("run", SCENARIOS / "validate-sim.yaml", "--out", out, "--quiet")
    assert res.code == 0, res.err
    return out


def edited_run(run_dir: Path, tmp_path: Path, edit) -> Path:
    """A copy of ``run_dir`` whose verdict.json ``edit`` changed."""
    doc = json.loads((run_dir / "verdict.json").read_text())
    edit(doc)
    out = tmp_path / "edited"
    out.mkdir()
    (out / "verdict.json").write_text(json.dumps(doc))
    return out


def _set(field: str, value):
    return lambda doc: doc["cells"][0].__setitem__(field, value)


@pytest.mark.parametrize(("edit", "where"), [
    pytest.param(lambda doc: doc["cells"][0].pop("region"), "cells[0].region", id="no-region"),
    pytest.param(_set("reduction_achieved", "x"), "cells[0].reduction_achieved", id="reduction-str"),
    pytest.param(_set("reduction_achieved", True), "cells[0].reduction_achieved", id="reduction-bool"),
    pytest.param(_set("held", "yes"), "cells[0].held", id="held-str"),
    pytest.param(_set("period", 7), "cells[0].period", id="period-int"),
    pytest.param(lambda doc: doc.pop("stage"), "stage", id="no-stage"),
    pytest.param(lambda doc: doc.__setitem__("cells", {}), "cells", id="cells-not-list"),
])
def test_compare_malformed_verdict_names_file_and_field(run_dir, tmp_path, edit, where):
    bad = edited_run(run_dir, tmp_path, edit)
    res = run_cli("compare", run_dir, bad)
    assert_bad_input(res, str(bad / "verdict.json"), f": {where}: ")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_compare_max_diff_pp_must_be_finite(run_dir, value):
    res = run_cli("compare", run_dir, run_dir, "--max-diff-pp", value, "--check", "--json")
    assert_bad_input(res, "--max-diff-pp")
    assert res.out == ""


def _strict_json(text: str):
    def refuse(constant: str):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_compare_json_has_null_for_nan_reduction(run_dir, tmp_path):
    nan_run = edited_run(run_dir, tmp_path, _set("reduction_achieved", math.nan))
    res = run_cli("compare", run_dir, nan_run, "--json")
    assert res.code == 0, res.err
    doc = _strict_json(res.out)
    assert sum(c["reduction_b"] is None for c in doc["cells"]) == 1
    assert not doc["within"]


@pytest.mark.parametrize("value", ["0", "-1", "100"])
def test_topology_hosts_per_region_out_of_range_names_option(tmp_path, value):
    scenario = tmp_path / "small.yaml"
    scenario.write_text("name: three\nregions: [KZ-75, KZ-71]\nperiods: 00:00-24:00\nstage: 50\n"
                        "day: 2026-03-02\nbackend: {hosts_per_region: 2}\n")
    res = run_cli("topology", "show", scenario, "--hosts-per-region", value)
    assert_bad_input(res, "--hosts-per-region", absent="small.yaml")
    ok = run_cli("topology", "show", scenario, "--hosts-per-region", "3")
    assert ok.code == 0 and "6 user hosts" in ok.out


@pytest.mark.parametrize(("option", "value"), [
    ("--prefix", "203.0.113.0/33"),
    ("--prefix", "203.0.113.1/24"),
    ("--statistic", "p0"),
    ("--statistic", "median"),
    ("--platform", ""),
])
def test_derive_bad_option_names_the_option(option, value):
    res = run_cli(*DERIVE, option, value)
    assert_bad_input(res, option, absent=str(STATS))


def test_stats_directory_is_named_a_directory(tmp_path):
    folder = tmp_path / "stats.csv"
    folder.mkdir()
    derive = run_cli("directive", "derive", "--stats", folder, "--periods", "00:00-24:00", "--stage", "50")
    check = run_cli("directive", "check", EXAMPLES / "directive.yaml", "--stats", folder)
    for res in (derive, check):
        assert_bad_input(res, "--stats", "is a directory")


@pytest.mark.parametrize("with_stats", [False, True])
def test_check_on_needs_case_also_with_stats(tmp_path, with_stats):
    stats = tmp_path / "stats.csv"
    shutil.copy(STATS, stats)
    extra = ("--stats", stats) if with_stats else ()
    res = run_cli("directive", "check", EXAMPLES / "directive.yaml", "--on", "2026-03-02", *extra)
    assert_bad_input(res, "--on", "--case")
