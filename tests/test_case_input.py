"""Bad input to ``timeline`` and ``case``: exit 2 with one line naming the file or option and the field."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.cli_util import Result, run_cli
from throttlebed.directive.case import Notice, case_from_data, compute_timeline
from throttlebed.directive.case_process import replay_case
from throttlebed.errors import InputError


def _case(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.yaml"
    path.write_text("platform: ExampleTube\n" + text)
    return path


def _one_line_error(res: Result, *names: str) -> str:
    """The error line of a bad-input run, checked to name each of ``names``."""
    assert res.code == 2, (res.code, res.out, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# 1. A time with a UTC offset is local Kazakh time (UTC+5) once read.

def test_notice_received_with_offset_is_converted_to_local_time() -> None:
    # 01:00 at +14:00 on 5 Mar is 11:00 UTC on 4 Mar, 16:00 in Kazakhstan.
    res = run_cli("timeline", "--detected", "2026-03-02", "--notified", "2026-03-03",
                  "--notice-received", "2026-03-05T01:00+14:00", "--six-hour-term", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["tracks"]["representative_notice"]["received"] == "2026-03-04T16:00:00"
    assert data["six_hour_term"]["due"] == "2026-03-04T22:00:00"


def test_notice_received_with_offset_before_sent_names_option() -> None:
    # The notice is taken as sent on its due day, 5 Mar 2026; in local time it arrived on 4 Mar.
    local = run_cli("timeline", "--detected", "2026-03-02", "--notice-received", "2026-03-04T16:00",
                    "--six-hour-term", "--json")
    offset = run_cli("timeline", "--detected", "2026-03-02", "--notice-received",
                     "2026-03-05T01:00+14:00", "--six-hour-term", "--json")
    line = _one_line_error(offset, "--notice-received", "2026-03-04 is before the notice was sent 2026-03-05")
    assert line == _one_line_error(local)


def test_notice_received_offset_outside_calendar_names_option() -> None:
    res = run_cli("timeline", "--detected", "2026-03-02", "--notice-received", "0001-01-01T00:00+14:00")
    _one_line_error(res, "--notice-received", "outside the calendar")


@pytest.mark.parametrize("notice", ["representative_notice", "removal_notice"])
def test_case_notice_received_with_offset_before_sent_names_file_and_field(tmp_path, notice) -> None:
    # Sent 21 Feb 2025; 00:00 at +14:00 on 21 Feb is 15:00 on 20 Feb in Kazakhstan.
    path = _case(tmp_path, f"detected: 2025-02-20\n{notice}: {{sent: 2025-02-21, "
                           "received: '2025-02-21T00:00+14:00'}\n")
    res = run_cli("case", "timeline", path)
    _one_line_error(res, str(path), f"{notice}.received",
                    "2025-02-20 is before the notice was sent 2025-02-21")


@pytest.mark.parametrize("text", ["2025-03-05T00:00+14:00", "2025-03-05T00:00:00+14:00"])
def test_case_notice_received_is_local_time(text) -> None:
    # Quoted (text) or not (a YAML timestamp), midnight at +14:00 is 15:00 the day before.
    c = case_from_data({"platform": "P", "detected": "2025-02-20",
                        "representative_notice": {"received": text}})
    assert c.item6.received == datetime(2025, 3, 4, 15, 0)
    assert Notice(received=datetime(2025, 3, 4, 15, 0)).received == datetime(2025, 3, 4, 15, 0)
    assert Notice(received="2025-03-04").received == date(2025, 3, 4)


# 2. --complied before detection.

def test_case_replay_complied_before_detection_names_option(tmp_path) -> None:
    path = _case(tmp_path, "detected: 2025-02-20\n")
    res = run_cli("case", "replay", path, "--complied", "2024-01-01", "--json")
    _one_line_error(res, "--complied", "2024-01-01 is before detected 2025-02-20")
    assert res.out == ""


def test_replay_case_complied_before_detection() -> None:
    with pytest.raises(InputError, match="complied: 2024-01-01 is before detected 2025-02-20"):
        replay_case(compute_timeline(date(2025, 2, 20)), complied=date(2024, 1, 1))


# 3. The item 9 schedule in its order: 10% -> 50% -> 90% at increasing months.

@pytest.mark.parametrize(("schedule", "field"), [
    ("[{reduction: 0.5, months: 1}, {reduction: 0.1, months: 2}]", "stage_schedule[1].reduction"),
    ("[{reduction: 0.1, months: 8}, {reduction: 0.5, months: 8}]", "stage_schedule[1].months"),
    ("[{reduction: 0.1, months: 8}, {reduction: 0.5, months: 12}, {reduction: 0.5, months: 18}]",
     "stage_schedule[2].reduction"),
])
@pytest.mark.parametrize("command", ["timeline", "replay"])
def test_case_stage_schedule_out_of_order(tmp_path, schedule, field, command) -> None:
    path = _case(tmp_path, f"detected: 2025-02-20\nstage_schedule: {schedule}\n")
    res = run_cli("case", command, path)
    _one_line_error(res, f"{path}: {field}: ", "must be greater than")


def test_compute_timeline_checks_schedule() -> None:
    steps = [{"reduction": 0.1, "months": 8}, {"reduction": 0.5, "months": 12}]
    c = case_from_data({"platform": "P", "detected": "2025-02-20", "stage_schedule": steps})
    assert [s.months for s in c.timeline().stages] == [8, 12]
    backwards = tuple(reversed(c.stage_schedule))
    with pytest.raises(InputError, match=r"stage_schedule\[1\]\.reduction"):
        compute_timeline(date(2025, 2, 20), schedule=backwards)


# 4. A directive cannot precede detection.

@pytest.mark.parametrize("command", [("case", "timeline"), ("case", "replay")])
def test_case_directive_date_before_detection(tmp_path, command) -> None:
    path = _case(tmp_path, "detected: 2025-02-20\ndirective_date: 2020-01-01\n")
    res = run_cli(*command, path)
    _one_line_error(res, f"{path}: directive_date: ", "2020-01-01 is before detected 2025-02-20")


def test_case_directive_date_on_detection_day_is_accepted() -> None:
    c = case_from_data({"platform": "P", "detected": "2025-02-20", "directive_date": "2025-02-20"})
    assert c.directive_date == date(2025, 2, 20)


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ("directive_date: 2025-11-01\ndirective_received: 2025-10-30\n", "directive_received",
     "2025-10-30 is before directive_date 2025-11-01"),
    ("as_of: 2025-01-01\n", "as_of", "2025-01-01 is before detected 2025-02-20"),
])
def test_case_dates_out_of_their_order(tmp_path, fields, field, reason) -> None:
    path = _case(tmp_path, "detected: 2025-02-20\n" + fields)
    _one_line_error(run_cli("case", "timeline", path), f"{path}: {field}: ", reason)
