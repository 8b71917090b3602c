"""The Kazakh working-day calendar and the terms of the Rules (items 5-9, Appendix 3)."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest

from throttlebed.directive.calendar import kz_calendar, load_calendar, parse_transfers
from throttlebed.directive.terms import add_calendar_days, add_months, add_months_clamped, add_working_days
from throttlebed.errors import InputError

YEARS = (2024, 2025, 2026)
PKG = holidays.country_holidays("KZ", years=YEARS, observed=True)


@pytest.mark.parametrize("day", sorted(PKG), ids=lambda d: d.isoformat())
def test_every_package_holiday_and_observed_day_is_off(day: date) -> None:
    cal = kz_calendar()
    assert not cal.is_working_day(day)
    assert cal.day_off_reason(day) == PKG[day]


def test_agrees_with_package_on_every_day_of_2024_to_2026() -> None:
    cal = kz_calendar()
    d, differ, working = date(2024, 1, 1), [], 0
    while d <= date(2026, 12, 31):
        ours = cal.is_working_day(d)
        working += ours
        if ours != PKG.is_working_day(d):
            differ.append(d)
        d += timedelta(days=1)
    assert differ == []
    # 2024: 366 days - 104 weekend days - 14 days off on weekdays + 1 Saturday worked (4 May) = 249.
    assert sum(cal.is_working_day(date(2024, 1, 1) + timedelta(days=i)) for i in range(366)) == 249
    assert working > 700


def test_decree_transfers_2024_and_2025() -> None:
    cal = kz_calendar()
    assert not cal.is_working_day(date(2024, 5, 8))  # Wednesday, day off by decree
    assert cal.is_working_day(date(2024, 5, 4))  # Saturday, worked instead
    assert not cal.is_working_day(date(2025, 1, 3))  # Friday, day off by decree
    assert cal.is_working_day(date(2025, 1, 5))  # Sunday, worked instead
    assert cal.weekend_workdays(2024) == [date(2024, 5, 4)]
    assert cal.weekend_workdays(2025) == [date(2025, 1, 5)]
    assert cal.weekend_workdays(2026) == []


def test_plain_weekend_and_weekday() -> None:
    cal = kz_calendar()
    assert cal.day_off_reason(date(2025, 4, 5)) == "weekend"  # Saturday
    assert cal.is_working_day(date(2025, 4, 7))  # Monday


def test_later_year_is_provisional_and_strict_refuses_it() -> None:
    cal = kz_calendar()
    assert cal.allow_unconfirmed
    assert not cal.is_working_day(date(2027, 1, 4))  # 2 Jan is a Saturday: observed
    assert cal.is_working_day(date(2027, 1, 5))  # package holidays only
    assert cal.is_provisional(date(2027, 1, 5)) and not cal.is_provisional(date(2026, 12, 31))
    strict = cal.with_unconfirmed(False)
    with pytest.raises(InputError, match="2027-01-04: the working-day calendar covers 2000-2026 .*"
                                         "drop --strict-calendar"):
        strict.is_working_day(date(2027, 1, 4))
    assert strict.is_working_day(date(2026, 12, 31))
    for c in (cal, strict):  # a year before the table is never computed
        with pytest.raises(InputError, match="covers 2000-2026"):
            c.is_working_day(date(1999, 6, 1))


def test_transfer_table_adds_a_decree(tmp_path) -> None:
    table = tmp_path / "t.yaml"
    table.write_text(
        "years: {first: 2024, last: 2027}\n"
        "transfers:\n  - {day_off: 2027-01-04, day_worked: 2027-01-09, decree: test decree}\n"
    )
    cal = load_calendar(table)
    assert not cal.is_working_day(date(2027, 1, 4))
    assert cal.is_working_day(date(2027, 1, 9))
    assert "test decree" in cal.day_off_reason(date(2027, 1, 4))
    with pytest.raises(InputError, match=r"transfers\[0\]\.day_worked: a worked day must be a Saturday"):
        parse_transfers({"years": {"first": 2024, "last": 2027},
                         "transfers": [{"day_off": "2027-01-04", "day_worked": "2027-01-08", "decree": "x"}]})
    with pytest.raises(InputError, match=r"transfers\[0\]\.day_off: not an ISO date"):
        parse_transfers({"years": {"first": 2024, "last": 2027},
                         "transfers": [{"day_off": "4 Jan", "decree": "x"}]})


@pytest.mark.parametrize(
    ("start", "n", "end"),
    [
        # Nauryz 2025: 21 Fri, 22 Sat, 23 Sun holidays; 24 Mon, 25 Tue observed. Wed 19 + 3:
        # Thu 20 (1), Wed 26 (2), Thu 27 (3).
        (date(2025, 3, 19), 3, date(2025, 3, 27)),
        # Nauryz 2026: 21 Sat, 22 Sun, 23 Mon holidays; 24 Tue, 25 Wed observed. Fri 20 + 1 = Thu 26.
        (date(2026, 3, 20), 1, date(2026, 3, 26)),
        # 8 March 2026 is a Sunday, observed Mon 9: Fri 6 + 1 = Tue 10.
        (date(2026, 3, 6), 1, date(2026, 3, 10)),
        # New Year 2025: 1-2 Jan holidays, Fri 3 off by decree, Sun 5 worked: Tue 31 Dec + 1 = Sun 5 Jan.
        (date(2024, 12, 31), 1, date(2025, 1, 5)),
        (date(2024, 12, 31), 2, date(2025, 1, 6)),
        # New Year 2026: Thu 1, Fri 2 holidays, weekend; Wed 31 Dec + 1 = Mon 5 Jan, + 2 = Tue 6.
        (date(2025, 12, 31), 1, date(2026, 1, 5)),
        (date(2025, 12, 31), 3, date(2026, 1, 8)),  # Wed 7 Jan is Orthodox Christmas
        # May 2024: Sat 4 worked; Tue 7, Wed 8 (decree), Thu 9 off. Fri 3 + 1 = Sat 4; Mon 6 + 1 = Fri 10.
        (date(2024, 5, 3), 1, date(2024, 5, 4)),
        (date(2024, 5, 6), 1, date(2024, 5, 10)),
        (date(2025, 4, 7), 0, date(2025, 4, 7)),
    ],
)
def test_working_day_terms(start: date, n: int, end: date) -> None:
    assert add_working_days(start, n) == end


def test_month_clamping() -> None:
    assert add_months_clamped(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2025, 8, 31), 6, roll=False) == date(2026, 2, 28)
    # 28 Feb 2026 is a Saturday: the term ends on Monday 2 March.
    assert add_months(date(2025, 8, 31), 6) == date(2026, 3, 2)
    assert add_months(date(2023, 12, 31), 2) == date(2024, 2, 29)  # leap year, a Thursday
    assert add_months_clamped(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months_clamped(date(2025, 3, 27), 18) == date(2026, 9, 27)


def test_calendar_term_ending_on_holiday_rolls_forward() -> None:
    # 6 Mar 2025 + 15 days = Fri 21 Mar (Nauryz); 22-25 are days off too: ends Wed 26 Mar.
    assert add_calendar_days(date(2025, 3, 6), 15) == date(2025, 3, 26)
    assert add_calendar_days(date(2025, 3, 6), 15, roll=False) == date(2025, 3, 21)
    # A term ending on a working day is not moved: 27 Mar 2025 + 15 = Fri 11 Apr.
    assert add_calendar_days(date(2025, 3, 27), 15) == date(2025, 4, 11)


def test_negative_or_fractional_counts_are_input_errors() -> None:
    with pytest.raises(InputError, match="working_days: must be a whole number"):
        add_working_days(date(2025, 1, 1), -1)
    with pytest.raises(InputError, match="months"):
        add_months(date(2025, 1, 1), 1.5)  # type: ignore[arg-type]
