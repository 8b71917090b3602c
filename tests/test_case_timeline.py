"""Deadlines of a case (items 5-9, Appendix 3 item 2) and the ``deadline``/``timeline`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from throttlebed.directive.case import DEFAULT_SCHEDULE, case_from_data, compute_timeline
from throttlebed.errors import InputError


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "throttlebed.cli", *args],
                          capture_output=True, text=True, timeout=60)


# Detected Wed 19 Mar 2025, nothing else given (every date taken as its due date):
# - notification_due (items 5-6, 3 working days): Thu 20 (1); Fri 21-Sun 23 Nauryz, Mon 24 and
#   Tue 25 observed; Wed 26 (2); Thu 27 (3)                                     -> 2025-03-27
# - stats_request_due (item 7): 27 Mar 2025 + 8 months = Thu 27 Nov 2025          -> 2025-11-27
# - stats_reply_due (item 8): 27 Nov + 15 calendar days = Fri 12 Dec 2025         -> 2025-12-12
# - stages (escalation): 10% from +8 months = 2025-11-27; 50% from +12 months = Fri 27 Mar 2026;
#   90% from +18 months = Sun 27 Sep 2026, rolled to Mon                          -> 2026-09-28
# - directive_received: the first stage has begun and the statistics are in:
#   max(2025-11-27, 2025-12-12)                                                   -> 2025-12-12
# - report_due (Appendix 3 item 2): 12 Dec + 10 days = Mon 22 Dec 2025             -> 2025-12-22
EXPECTED_2025_03_19 = {
    "notification_due": "2025-03-27",
    "stats_request_due": "2025-11-27",
    "stats_reply_due": "2025-12-12",
    "stages": [("0.1", "2025-11-27"), ("0.5", "2026-03-27"), ("0.9", "2026-09-28")],
    "directive_received": "2025-12-12",
    "report_due": "2025-12-22",
}


def test_timeline_cli_json_2025_03_19() -> None:
    res = run_cli("timeline", "--detected", "2025-03-19", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["stage_reading"] == "escalation"
    for key in ("notification_due", "stats_request_due", "stats_reply_due", "directive_received",
                "report_due"):
        assert data[key] == EXPECTED_2025_03_19[key], key
    assert [(str(s["reduction"]), s["from"]) for s in data["stages"]] == EXPECTED_2025_03_19["stages"]
    assert [s["item"] for s in data["stages"]] == ["9.1", "9.2", "9.3"]
    assert data["assumed"] == ["notified", "stats_requested", "directive_received"]
    assert data["warnings"] == [
        "stage 10% starts 2025-11-27, before the statistics reply is due 2025-12-12 (item 8)"
    ]


def test_deadline_reading() -> None:
    # Each offset is the date BY which its stage must be in force; a stage applies from the previous
    # deadline, and none before the statistics reply (2025-12-12, see above).
    t = compute_timeline(date(2025, 3, 19), stage_reading="deadline")
    assert t.to_data()["stage_reading"] == "deadline"
    assert [(s.reduction, s.start, s.by) for s in t.stages] == [
        (0.1, date(2025, 12, 12), date(2025, 11, 27)),
        (0.5, date(2025, 12, 12), date(2026, 3, 27)),
        (0.9, date(2026, 3, 27), date(2026, 9, 28)),
    ]
    assert any("cannot start (2025-12-12) by its deadline 2025-11-27" in w for w in t.warnings)


def test_given_dates_replace_due_dates() -> None:
    t = compute_timeline(date(2025, 3, 19), notified=date(2025, 4, 1), stats_requested=date(2025, 6, 2),
                         directive_received=date(2025, 6, 26))
    assert t.notified == date(2025, 4, 1)
    assert "notified 2025-04-01 is after notification_due (item 6) 2025-03-27" in t.warnings
    assert t.stats_request_due == date(2025, 12, 1)  # 1 Dec 2025 is a Monday
    assert t.stats_reply_due == date(2025, 6, 17)  # 2 Jun + 15 = Tue 17 Jun
    # 26 Jun + 10 = Sun 6 Jul (Capital Day), Mon 7 Jul observed: Tue 8 Jul.
    assert t.report_due == date(2025, 7, 8)
    assert t.assumed == ()
    # Stages follow the notification actually sent: 1 Apr 2025 + 8/12/18 months.
    assert [s.start for s in t.stages] == [date(2025, 12, 1), date(2026, 4, 1), date(2026, 10, 1)]


def test_no_roll_keeps_weekend_end() -> None:
    t = compute_timeline(date(2025, 3, 19), roll=False)
    assert t.stages[2].start == date(2026, 9, 27)  # Sunday, not moved


def test_case_model_timeline_and_validation() -> None:
    c = case_from_data({"platform": "ExampleTube", "detected": "2025-03-19", "stage_reading": "deadline"})
    assert c.stage_schedule == DEFAULT_SCHEDULE
    assert c.timeline().stage_reading == "deadline"
    with pytest.raises(InputError, match=r"case.yaml: detected: missing field"):
        case_from_data({"platform": "x"}, "case.yaml")
    with pytest.raises(InputError, match=r"stage_schedule\[0\]\.reduction"):
        case_from_data({"platform": "x", "detected": "2025-03-19",
                        "stage_schedule": [{"reduction": 0.2, "months": 8}]})
    with pytest.raises(InputError, match="stats_requested: 2025-03-01 is before notified 2025-03-27"):
        compute_timeline(date(2025, 3, 19), stats_requested=date(2025, 3, 1))


@pytest.mark.parametrize(
    ("args", "out"),
    [
        (["deadline", "2025-03-19", "--working-days", "3"], "2025-03-27"),
        (["deadline", "2025-08-31", "--months", "6"], "2026-03-02"),  # 28 Feb 2026 is a Saturday
        (["deadline", "2025-08-31", "--months", "6", "--no-roll"], "2026-02-28"),
        (["deadline", "2025-03-06", "--calendar-days", "15"], "2025-03-26"),  # Nauryz
    ],
)
def test_deadline_cli(args: list[str], out: str) -> None:
    res = run_cli(*args)
    assert (res.returncode, res.stdout.strip(), res.stderr) == (0, out, "")


def test_deadline_cli_json() -> None:
    res = run_cli("deadline", "2023-12-31", "--months", "2", "--json")
    data = json.loads(res.stdout)
    assert data["end"] == "2024-02-29" and data["term"] == {"months": 2} and data["end_is_working_day"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["deadline", "2025-02-30", "--months", "1"], "'DATE'"),
        (["deadline", "2025-03-01"], "--working-days, --calendar-days, --months"),
        (["deadline", "2025-03-01", "--months", "-1"], "'--months'"),
        (["deadline", "2027-03-01", "--working-days", "1", "--strict-calendar"], "DATE: 2027-03-01"),
        (["timeline", "--detected", "19.03.2025"], "'--detected'"),
        (["timeline", "--detected", "2025-03-19", "--notified", "2025-03-01"],
         "--notified: 2025-03-01 is before"),
        (["timeline", "--detected", "2025-03-19", "--stage-reading", "other"], "'--stage-reading'"),
        # Detected Mon 1 Jun 2026, notified Thu 4 Jun, statistics request due 4 Feb 2027: year unconfirmed.
        (["timeline", "--detected", "2026-06-01", "--strict-calendar"], "stats_request_due: 2027-02-04"),
        (["timeline", "--detected", "2026-06-01", "--strict-calendar", "--unconfirmed-years"],
         "--strict-calendar and --unconfirmed-years contradict"),
    ],
)
def test_cli_bad_input_exit_2_one_line(args: list[str], names: str) -> None:
    res = run_cli(*args)
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("throttlebed: error: ")
    assert names in lines[0]
