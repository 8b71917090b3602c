"""The SimPy walk of a case: events on the simulated calendar, in order, with their Rules items."""

from __future__ import annotations

from datetime import date

from throttlebed.directive.case import compute_timeline
from throttlebed.directive.case_process import replay_case


def test_replay_default_case_2025_03_19() -> None:
    events = replay_case(compute_timeline(date(2025, 3, 19)))
    got = [(e.day.isoformat(), e.t_days, e.name, e.item) for e in events]
    assert got == [
        ("2025-03-19", 0, "detected", "5-6"),
        ("2025-03-27", 8, "notification_sent", "6"),
        ("2025-11-27", 253, "stats_requested", "7"),
        ("2025-12-12", 268, "stats_reply", "8"),
        # The 10% stage begins 2025-11-27, but its directive needs the statistics of item 8.
        ("2025-12-12", 268, "directive_stage_10", "9.1"),
        ("2025-12-22", 278, "report_due", "Appendix 3 item 2"),  # 12 Dec + 10 days
        ("2026-03-27", 373, "directive_stage_50", "9.2"),
        ("2026-04-06", 383, "report_due", "Appendix 3 item 2"),  # 27 Mar + 10 days, a Monday
        ("2026-09-28", 558, "directive_stage_90", "9.3"),
        ("2026-10-08", 568, "report_due", "Appendix 3 item 2"),
    ]
    assert all((e.day - date(2025, 3, 19)).days == e.t_days for e in events)


def test_compliance_stops_the_escalation() -> None:
    events = replay_case(compute_timeline(date(2025, 3, 19)), complied=date(2026, 1, 10))
    names = [e.name for e in events]
    assert names[-1] == "complied" and events[-1].day == date(2026, 1, 10)
    assert "directive_stage_10" in names and "directive_stage_50" not in names


def test_deadline_reading_replay_names_its_reading() -> None:
    events = replay_case(compute_timeline(date(2025, 3, 19), stage_reading="deadline"))
    stage_events = [e for e in events if e.name.startswith("directive_stage_")]
    assert [e.day for e in stage_events] == [date(2025, 12, 12), date(2025, 12, 12), date(2026, 3, 27)]
    assert all("deadline reading" in e.detail for e in stage_events)


def test_case_replay_cli(tmp_path) -> None:
    import json

    from tests.cli_util import run_cli

    case_file = tmp_path / "case.yaml"
    case_file.write_text("platform: ExampleTube\ndetected: 2025-03-19\n")
    res = run_cli("case", "replay", case_file, "--complied", "2025-12-20", "--json")
    assert res.code == 0, res.err
    events = json.loads(res.out)["events"]
    # The 10% directive was received before the platform complied: its report is still due.
    assert [(e["date"], e["event"]) for e in events][-3:] == [
        ("2025-12-12", "directive_stage_10"), ("2025-12-20", "complied"), ("2025-12-22", "report_due")]
    res = run_cli("case", "replay", case_file, "--complied", "20.12.2025")
    assert res.code == 2 and "'--complied'" in res.err


def test_replay_shows_both_tracks_and_the_named_report_term() -> None:
    from throttlebed.directive.case import Notice

    t = compute_timeline(date(2025, 3, 19), notified=date(2025, 4, 1), removal=Notice(sent=date(2025, 3, 20)),
                         report_term="hours-240")
    events = replay_case(t)
    got = [(e.day.isoformat(), e.name, e.item) for e in events[:3]]
    assert got == [("2025-03-19", "detected", "5-6"), ("2025-03-20", "removal_notice_sent", "5"),
                   ("2025-04-01", "notification_sent", "6")]
    # The 10% directive is received with the statistics: 1 Dec + 15 = Tue 16 Dec (Independence Day),
    # so Wed 17 Dec. hours-240: reported by Sat 27 Dec, not moved to a working day.
    reports = [e.day for e in events if e.name == "report_due"]
    assert reports[0] == date(2025, 12, 27)
