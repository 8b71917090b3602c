"""Conformance of a given directive to its statistics and case: every finding code fires and stays quiet."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from throttlebed.directive.caps import derive_directive
from throttlebed.directive.case import Case
from throttlebed.directive.conformance import CODES, CheckedDirective, check_conformance
from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.schema import directive_from_data
from throttlebed.directive.statistics import compute_peaks
from throttlebed.errors import InputError
from throttlebed.measurements import validate_measurements

PERIODS = "00:00-07:00,07:00-18:00,18:00-24:00"


def stats_table(regions=("KZ-75", "KZ-71"), days=1, interval_s=60) -> pd.DataFrame:
    """A deterministic diurnal statistics table, one sample per interval and region."""
    n = int(days * 86400 / interval_s)
    t = pd.Timestamp("2026-03-02") + pd.to_timedelta(np.arange(n) * interval_s, unit="s")
    hours = (np.arange(n) * interval_s / 3600.0) % 24
    parts = []
    for k, region in enumerate(regions):
        kbps = 1000.0 * (k + 1) * (1.5 + np.sin((hours - 15) / 24 * 2 * np.pi)) + 0.37
        parts.append(pd.DataFrame({"time": t, "region": region, "kbps": kbps}))
    return validate_measurements(pd.concat(parts, ignore_index=True))


def derived(stats: pd.DataFrame, stage: int = 50, periods: str = PERIODS, **case_fields) -> dict:
    peaks = compute_peaks(stats, PeriodSet.parse(periods), source="stats.csv")
    return derive_directive(peaks, stage, "ExampleTube", ["203.0.113.0/24"], **case_fields).to_data()


def checked(data: dict) -> CheckedDirective:
    return CheckedDirective.model_validate(data)


def codes(report) -> list[str]:
    return report.codes()


@pytest.fixture(scope="module")
def stats() -> pd.DataFrame:
    return stats_table()


def test_derived_directive_conforms_with_no_finding(stats):
    report = check_conformance(checked(derived(stats)), stats)
    assert report.conforms and report.findings == ()
    assert report.to_data() == {"conforms": True, "findings": []}


def test_peak_mismatch_beyond_half_a_kbps(stats):
    data = derived(stats)
    data["rows"][1]["peak_kbps"] += 0.4  # within 0.5 kbit/s: no finding
    assert "peak_mismatch" not in codes(check_conformance(checked(data), stats))
    data["rows"][1]["peak_kbps"] += 0.2  # now 0.6 off (the cap still floors the same)
    report = check_conformance(checked(data), stats)
    f = next(f for f in report.findings if f.code == "peak_mismatch")
    assert (f.row, f.region, f.period, f.severity) == (1, "KZ-71", "07:00-18:00", "error")
    assert f.actual - f.expected == pytest.approx(0.6, abs=1e-3)
    assert not report.conforms


def test_lax_stage_50_directive_at_60_percent_is_a_cap_mismatch(stats):
    data = derived(stats, stage=50)
    for row in data["rows"]:
        row["cap_kbps"] = int(row["peak_kbps"] * 0.6)
    report = check_conformance(checked(data), stats)
    assert codes(report) == ["cap_mismatch"] * len(data["rows"])
    f = report.findings[0]
    assert f.expected == int(np.floor(data["rows"][0]["peak_kbps"] * 0.5))  # exact floor of peak / 2
    assert f.actual == data["rows"][0]["cap_kbps"]
    assert report.to_data()["findings"][0].keys() == {"code", "severity", "region", "period", "row",
                                                      "expected", "actual", "message"}


def test_cap_one_kbps_off_is_a_mismatch_and_the_exact_floor_is_not(stats):
    data = derived(stats, stage=10)
    assert "cap_mismatch" not in codes(check_conformance(checked(data), stats))
    data["rows"][0]["cap_kbps"] -= 1
    report = check_conformance(checked(data), stats)
    assert [(f.code, f.row) for f in report.findings] == [("cap_mismatch", 0)]


def test_missing_cell_when_a_region_of_the_statistics_lacks_a_period(stats):
    data = derived(stats)
    dropped = data["rows"].pop(4)  # KZ-75 07:00-18:00 (rows are KZ-71 then KZ-75)
    report = check_conformance(checked(data), stats)
    missing = [f for f in report.findings if f.code == "missing_cell"]
    assert [(f.region, f.period) for f in missing] == [(dropped["region"], dropped["period"])]
    # the hole also leaves that region's hours uncovered
    found = [(f.code, f.region, f.period) for f in report.findings]
    assert ("uncovered_hours", "KZ-75", "07:00-18:00") in found


def test_missing_cell_for_a_region_with_no_row_at_all():
    stats = stats_table(("KZ-75", "KZ-71", "KZ-61"))
    data = derived(stats_table(("KZ-75", "KZ-71")))
    report = check_conformance(checked(data), stats)
    assert [(f.code, f.region) for f in report.findings] == [("missing_cell", "KZ-61")] * 3


def test_extra_cell_for_a_region_absent_from_the_statistics():
    data = derived(stats_table(("KZ-75", "KZ-71")))
    only_75 = stats_table(("KZ-75",))
    report = check_conformance(checked(data), only_75)
    found = [(f.code, f.region, f.row) for f in report.findings]
    assert found == [("extra_cell", "KZ-71", i) for i in (0, 1, 2)]
    assert "extra_cell" not in codes(check_conformance(checked(data), stats_table(("KZ-75", "KZ-71"))))


def test_period_overlap_is_a_finding_not_a_load_error(stats):
    data = derived(stats)
    data["rows"][2]["period"] = "17:00-24:00"  # overlaps 07:00-18:00 of the same region
    with pytest.raises(ValueError):
        directive_from_data(data)  # the strict loader refuses it
    report = check_conformance(checked(data), stats)
    f = next(f for f in report.findings if f.code == "period_overlap")
    assert (f.region, f.row, f.period, f.actual) == ("KZ-71", 2, "17:00-24:00", "07:00-18:00")
    assert "period_overlap" not in codes(check_conformance(checked(derived(stats)), stats))


def test_uncovered_hours_is_a_warning_only(stats):
    data = derived(stats, periods="07:00-18:00,18:00-23:00")
    report = check_conformance(checked(data), stats)
    gaps = [(f.region, f.period, f.severity) for f in report.findings if f.code == "uncovered_hours"]
    assert gaps == [("KZ-71", "23:00-07:00", "warning"), ("KZ-75", "23:00-07:00", "warning")]
    assert report.conforms  # warnings do not fail


CASE = Case(platform="ExampleTube", detected=date(2025, 3, 19))


def test_stage_not_due_under_the_escalation_reading(stats):
    tl = CASE.timeline()
    stage90_from = next(s.start for s in tl.stages if round(s.reduction * 100) == 90)
    early = derived(stats, stage=90, directive_date=tl.stages[0].start.isoformat())  # month 8
    report = check_conformance(checked(early), stats, CASE)
    f = next(f for f in report.findings if f.code == "stage_not_due")
    assert (f.expected, f.actual) == (stage90_from.isoformat(), tl.stages[0].start.isoformat())
    on_time = derived(stats, stage=90, directive_date=stage90_from.isoformat())
    assert codes(check_conformance(checked(on_time), stats, CASE)) == []
    # --on overrides the directive's date for the stage check
    assert "stage_not_due" in codes(check_conformance(checked(on_time), stats, CASE, on=tl.stages[1].start))


def test_before_stats_reply(stats):
    tl = CASE.timeline()
    early = derived(stats, stage=10, directive_date=tl.stats_requested.isoformat())
    report = check_conformance(checked(early), stats, CASE, on=tl.stages[2].start)
    f = next(f for f in report.findings if f.code == "before_stats_reply")
    assert f.expected == tl.stats_reply_due.isoformat()
    later = derived(stats, stage=10, directive_date=tl.stats_reply_due.isoformat())
    assert "before_stats_reply" not in codes(check_conformance(checked(later), stats, CASE,
                                                               on=tl.stages[2].start))


def test_every_code_is_tested_here():
    text = Path(__file__).read_text(encoding="utf-8")
    assert all(f'"{code}"' in text for code in CODES)


def test_case_for_another_platform_is_bad_input(stats):
    other = Case(platform="OtherTube", detected=date(2025, 3, 19))
    with pytest.raises(InputError, match="platform"):
        check_conformance(checked(derived(stats, directive_date="2026-03-02")), stats, other)


def test_one_sample_per_region_is_bad_input(stats):
    one = validate_measurements(pd.DataFrame({"time": ["2026-03-02T10:00"], "region": ["KZ-75"],
                                              "kbps": [5.0]}))
    with pytest.raises(InputError, match="one sample"):
        check_conformance(checked(derived(stats)), one)
