"""Lifting a directive on a case: the platform complied, every meter goes, no later stage applies."""

from __future__ import annotations

import json
from datetime import date

from tests.cli_util import run_cli
from throttlebed.directive.case import compute_timeline
from throttlebed.directive.case_process import replay_case


def test_lift_stops_later_stages_and_is_in_the_timeline() -> None:
    t = compute_timeline(date(2025, 3, 19), lifted=date(2026, 5, 4))
    assert t.to_data()["lifted"] == "2026-05-04"
    assert any("stage 90%" in w and "does not apply" in w for w in t.warnings)
    assert not any("stage 50%" in w for w in t.warnings)  # 50% began 2026-03-27, before the lift
    events = replay_case(t)
    got = [(e.day.isoformat(), e.name) for e in events]
    assert ("2026-03-27", "directive_stage_50") in got
    assert got[-1] == ("2026-05-04", "lifted")
    assert "directive_stage_90" not in [e.name for e in events]


def test_lift_before_any_directive_is_warned() -> None:
    t = compute_timeline(date(2025, 3, 19), lifted=date(2025, 6, 1))
    assert any("nothing to lift" in w for w in t.warnings)


def test_case_file_lift_in_replay_and_timeline(tmp_path) -> None:
    case_file = tmp_path / "case.yaml"
    case_file.write_text("platform: ExampleTube\ndetected: 2025-03-19\nlifted: 2026-01-05\n")
    res = run_cli("case", "replay", str(case_file), "--json")
    assert res.code == 0, res.err
    events = [(e["date"], e["event"]) for e in json.loads(res.out)["events"]]
    # the 10% directive (12 Dec) was in force until the lift; its report (22 Dec) came before
    assert events[-3:] == [("2025-12-12", "directive_stage_10"), ("2025-12-22", "report_due"),
                           ("2026-01-05", "lifted")]
    res = run_cli("case", "timeline", str(case_file), "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["lifted"] == "2026-01-05"
    case_file.write_text("platform: ExampleTube\ndetected: 2025-03-19\nlifted: 2025-03-01\n")
    res = run_cli("case", "timeline", str(case_file), "--json")
    assert res.code == 2 and "lifted" in res.err
