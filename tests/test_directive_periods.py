"""Periods of the day: parsing, wrap-around, overlap, coverage."""

import pytest

from throttlebed.directive.periods import Period, PeriodSet
from throttlebed.errors import InputError


@pytest.mark.parametrize(
    ("text", "start", "end", "wraps", "duration"),
    [
        ("00:00-07:00", 0, 420, False, 420),
        ("23:00-00:00", 1380, 1440, False, 60),
        ("23:00-24:00", 1380, 1440, False, 60),
        ("22:00-02:00", 1320, 120, True, 240),
        ("00:00-24:00", 0, 1440, False, 1440),
        ("7:30-8:15", 450, 495, False, 45),
    ],
)
def test_parse(text, start, end, wraps, duration):
    p = Period.parse(text)
    assert (p.start_min, p.end_min, p.wraps, p.duration_min) == (start, end, wraps, duration)


def test_wrapping_period_is_half_open_on_both_sides_of_midnight():
    p = Period.parse("22:00-02:00")
    assert p.contains_minute(22 * 60)
    assert p.contains_minute(0)
    assert p.contains_minute(119)
    assert not p.contains_minute(120)
    assert not p.contains_minute(22 * 60 - 1)
    assert str(p) == "22:00-02:00"


def test_end_of_day_spelled_canonically():
    assert str(Period.parse("23:00-00:00")) == "23:00-24:00"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("7-8", "not of the form"),
        ("24:00-01:00", "start must be"),
        ("10:00-24:30", "end must be"),
        ("10:60-11:00", "start must be"),
        ("09:00-09:00", "empty"),
    ],
)
def test_bad_periods(text, reason):
    with pytest.raises(InputError, match=reason):
        Period.parse(text)


def test_overlap_detected_across_midnight():
    with pytest.raises(InputError, match="overlaps"):
        PeriodSet.parse("22:00-02:00,01:00-07:00")


def test_touching_periods_do_not_overlap():
    s = PeriodSet.parse("00:00-07:00,07:00-18:00,18:00-23:00,23:00-00:00")
    assert s.covers_whole_day()
    assert s.index_at(7 * 60) == 1
    assert s.index_at(7 * 60 - 1) == 0
    assert s.index_at(23 * 60 + 59) == 3


def test_uncovered_parts_reported_including_wrap():
    s = PeriodSet.parse("02:00-06:00,08:00-20:00")
    assert [str(g) for g in s.uncovered()] == ["20:00-02:00", "06:00-08:00"]
    assert s.index_at(21 * 60) is None
    assert not s.covers_whole_day()
