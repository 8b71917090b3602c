"""The emulated clock and period boundaries."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from throttlebed.controller.clock import EmulatedClock, minute_of_day, parse_clock_start
from throttlebed.controller.scheduler import boundary_minutes, next_boundary, sleep_until_s
from throttlebed.directive.schema import directive_from_data
from throttlebed.errors import InputError

D = directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 50, "rows": [
    {"region": "KZ-75", "period": "07:00-18:00", "peak_kbps": 40000, "cap_kbps": 20000},
    {"region": "KZ-75", "period": "18:00-23:00", "peak_kbps": 60000, "cap_kbps": 30000},
    {"region": "KZ-10", "period": "22:00-02:00", "peak_kbps": 8000, "cap_kbps": 4000},
]})


def test_clock_math():
    c = EmulatedClock(datetime(2026, 3, 1, 6, 50), t0_s=1000.0, time_scale=600)
    assert c.local_at(1000.0) == datetime(2026, 3, 1, 6, 50)
    assert c.local_at(1001.0) == datetime(2026, 3, 1, 7, 0)  # 1 real s = 10 emulated min
    assert c.local_at(1000.0 + 144) == datetime(2026, 3, 2, 6, 50)  # a day in 144 s
    assert c.mono_at(datetime(2026, 3, 1, 7, 0)) == pytest.approx(1001.0)
    assert c.real_s(3600) == pytest.approx(6.0)
    assert minute_of_day(c.local_at(1001.5)) == 7 * 60 + 5


def test_clock_rejects_non_positive_scale():
    with pytest.raises(InputError, match="--time-scale"):
        EmulatedClock(datetime(2026, 1, 1), 0.0, 0)


def test_parse_clock_start():
    assert parse_clock_start("06:55", today=date(2026, 5, 2)) == datetime(2026, 5, 2, 6, 55)
    assert parse_clock_start("2026-05-02T06:55:00") == datetime(2026, 5, 2, 6, 55)
    assert parse_clock_start("2026-05-02T01:55:00+00:00") == datetime(2026, 5, 2, 6, 55)  # to UTC+5
    for bad in ("25:00", "7h", "2026-13-01"):
        with pytest.raises(InputError, match="--clock-start"):
            parse_clock_start(bad)


def test_boundaries_across_regions():
    assert boundary_minutes(D) == [120, 420, 1080, 1320, 1380]
    assert boundary_minutes(D, ["KZ-10"]) == [120, 1320]
    assert boundary_minutes(None) == []


def test_next_boundary_wraps_to_next_day():
    day = datetime(2026, 3, 1)
    assert next_boundary(D, day.replace(hour=6, minute=59, second=59)) == day.replace(hour=7)
    assert next_boundary(D, day.replace(hour=7)) == day.replace(hour=18)  # strictly after
    assert next_boundary(D, day.replace(hour=23, minute=30)) == datetime(2026, 3, 2, 2, 0)
    assert next_boundary(None, day) is None


def test_sleep_until_boundary_on_compressed_clock():
    local = datetime(2026, 3, 1, 6, 50)
    assert sleep_until_s(D, local, time_scale=600, max_sleep_s=5.0, slack_s=0.0) == pytest.approx(1.0)
    assert sleep_until_s(D, local, time_scale=1, max_sleep_s=1.0) == 1.0
    assert sleep_until_s(None, local, time_scale=600, max_sleep_s=0.5) == 0.5
