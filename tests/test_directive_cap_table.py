"""The cap table: one answer to "which row, period and cap are in force at (region, minute)"."""

from datetime import datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_directive_properties import directives, region_rows
from throttlebed.directive.cap_table import NO_ROW, CapTable, minute_of_day
from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import directive_from_data

TWO_PERIODS = directive_from_data({
    "platform": "P", "stage": 50, "platform_prefixes": ["203.0.113.0/24"],
    "rows": [
        {"region": "KZ-75", "period": "22:00-02:00", "peak_kbps": 1000, "cap_kbps": 500},
        {"region": "KZ-75", "period": "08:00-18:00", "peak_kbps": 800, "cap_kbps": 400},
        {"region": "KZ-71", "period": "00:00-24:00", "peak_kbps": 90, "cap_kbps": 45},
    ],
})


def test_row_period_and_cap_at_a_minute():
    t = CapTable(TWO_PERIODS)
    assert t.cap_at("KZ-75", 23 * 60) == 500
    assert t.cap_at("KZ-75", 60) == 500  # the wrapped period, after midnight
    assert t.cap_at("KZ-75", 2 * 60) is None  # half-open: 02:00 is outside
    assert t.period_at("KZ-75", 8 * 60) == "08:00-18:00"
    assert t.row_index_at("KZ-75", 17 * 60 + 59) == 1
    assert t.cap_at("KZ-75", 1440 + 23 * 60) == 500  # any minute count, modulo a day
    assert t.cap_at("KZ-10", 600) is None  # a region the directive does not name
    assert t.row_at("KZ-71", 0).cap_kbps == 45


def test_no_directive_caps_nothing():
    t = CapTable(None)
    assert t.cap_at("KZ-75", 600) is None
    assert np.isinf(t.caps_per_minute(["KZ-75"])).all()
    assert t.boundary_minutes() == []
    assert t.next_boundary(datetime(2026, 3, 2, 12)) is None


def test_boundaries_are_where_the_row_changes():
    t = CapTable(TWO_PERIODS)
    assert t.boundary_minutes(["KZ-75"]) == [120, 480, 1080, 1320]
    assert t.boundary_minutes(["KZ-71"]) == []  # one period all day: the plan never changes
    assert t.next_boundary(datetime(2026, 3, 2, 22, 30)) == datetime(2026, 3, 3, 2, 0)
    assert t.next_boundary(datetime(2026, 3, 2, 8, 0)) == datetime(2026, 3, 2, 18, 0)


def test_minute_of_day():
    assert minute_of_day(datetime(2026, 1, 1, 23, 59, 30)) == 1439
    assert minute_of_day(1440 + 5) == 5
    assert list(minute_of_day(np.array([-1, 1440]))) == [1439, 0]


@settings(max_examples=60, deadline=None)
@given(d=directives(), minutes=st.lists(st.integers(-3000, 5000), min_size=1, max_size=30))
def test_every_view_agrees_with_the_rows(d, minutes):
    t = CapTable(d)
    regions = list(region_codes())
    caps = t.caps_per_minute(regions)
    reg = np.array([regions[i % len(regions)] for i in range(len(minutes))])
    idx = t.row_indices(reg, np.array(minutes))
    for k, (region, minute) in enumerate(zip(reg, minutes, strict=True)):
        m = minute % 1440
        want = [r for r in d.rows_for(region) if r.period_obj.contains_minute(m)]
        assert len(want) <= 1
        cap = want[0].cap_kbps if want else None
        assert t.cap_at(region, minute) == cap
        assert caps[regions.index(region), m] == (np.inf if cap is None else cap)
        assert (idx[k] == NO_ROW) == (cap is None)
        if cap is not None:
            assert d.rows[idx[k]] is want[0]


# down and up rows with periods of their own: the morning's up cap ends at 12:00, the down cap
# starts at 06:00; a directive without directions caps down and up each at the row's cap
EACH_OWN = directive_from_data({
    "platform": "P", "stage": 50, "platform_prefixes": ["203.0.113.0/24"],
    "rows": [
        {"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 100, "cap_kbps": 50, "direction": "up"},
        {"region": "KZ-75", "period": "06:00-24:00", "peak_kbps": 800, "cap_kbps": 400, "direction": "down"},
    ],
})


def test_caps_per_meter_in_row_order():
    t = CapTable(EACH_OWN)
    assert t.caps_at("KZ-75", 3 * 60) == {"up": 50}
    assert list(t.caps_at("KZ-75", 10 * 60).items()) == [("up", 50), ("down", 400)]
    assert t.caps_at("KZ-75", 13 * 60) == {"down": 400}
    assert t.caps_at("KZ-10", 600) == {}
    assert t.cap_at("KZ-75", 10 * 60, "down") == 400 and t.cap_at("KZ-75", 3 * 60, "down") is None
    assert t.cap_at("KZ-75", 10 * 60) == 50  # no direction asked: the first row in force
    assert t.period_at("KZ-75", 13 * 60, "up") is None
    assert t.caps_per_minute(["KZ-75"], "sum")[0].max() == np.inf  # no sum meter at all
    old = CapTable(TWO_PERIODS)
    assert list(old.caps_at("KZ-75", 23 * 60).items()) == [("down", 500), ("up", 500)]
    assert old.cap_at("KZ-75", 23 * 60, "sum") is None


def test_a_boundary_of_one_meter_is_a_boundary():
    assert CapTable(EACH_OWN).boundary_minutes() == [0, 360, 720]


def test_rows_meeting_a_window():
    t = CapTable(EACH_OWN)
    assert [r.direction for r in t.rows_meeting(range(13 * 60, 14 * 60))] == ["down"]
    assert [r.direction for r in t.rows_meeting(range(11 * 60, 14 * 60))] == ["up", "down"]
    assert t.rows_meeting(range(1440 + 60, 1440 + 61)) == [EACH_OWN.rows[0]]  # any minute count


def test_the_directive_builds_its_table_once_and_a_copy_its_own():
    d = directive_from_data(EACH_OWN.to_data())
    assert d.cap_table is d.cap_table
    cut = d.model_copy(update={"rows": d.rows[1:]})
    assert cut.cap_table is not d.cap_table and cut.caps_at("KZ-75", 10 * 60) == {"down": 400}
    assert d == directive_from_data(EACH_OWN.to_data())  # the cached table is not part of equality
    assert "_cap_table" not in d.to_data()


@st.composite
def directed_directives(draw):
    """Directives whose rows have no direction, are all ``sum``, or ``down`` and ``up`` rows each
    with periods of their own."""
    data = draw(directives()).to_data()
    kind = draw(st.sampled_from([None, "sum", "each"]))
    if kind is not None:
        for row in data["rows"]:
            row["direction"] = "sum" if kind == "sum" else "down"
    if kind == "each":
        regions = list(dict.fromkeys(r["region"] for r in data["rows"]))
        ups = [dict(r, direction="up") for reg in regions for r in draw(region_rows(reg))]
        data["rows"] = draw(st.permutations(data["rows"] + ups))
    return directive_from_data(data)


@settings(max_examples=60, deadline=None)
@given(d=directed_directives(), minute=st.integers(-3000, 5000))
def test_caps_at_is_every_meter_of_the_rows_in_force(d, minute):
    t = CapTable(d)
    for region in d.regions():
        want: dict[str, int] = {}
        for r in d.rows_for(region):
            if r.period_obj.contains_minute(minute % 1440):
                for meter in (("down", "up") if r.direction is None else (r.direction,)):
                    want.setdefault(meter, r.cap_kbps)
        assert list(t.caps_at(region, minute).items()) == list(want.items())
        for meter in ("down", "up", "sum"):
            assert t.cap_at(region, minute, meter) == want.get(meter)
        first = next((r for r in d.rows_for(region) if r.period_obj.contains_minute(minute % 1440)), None)
        assert t.row_at(region, minute) is first
