"""Counter readings -> measurement rows; meter drops across resets."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from throttlebed.controller.stats import (
    COUNTER_MAX,
    CSV_COLUMNS,
    DropCounter,
    FlowRateTracker,
    MeterReading,
    counter_delta,
    interval_bytes,
    kbps_from_bytes,
    sum_by_cookie,
)
from throttlebed.measurements import validate_measurements

T0 = datetime(2026, 3, 1, 7, 0)


def local_at(mono_s: float) -> datetime:
    return T0 + timedelta(seconds=mono_s * 60)  # time_scale 60, t0 = 0


def test_counter_delta_grow_wrap_reset():
    assert counter_delta(1000, 251_000) == 250_000
    assert counter_delta(COUNTER_MAX - 100, 50) == 150  # 64-bit wrap
    assert counter_delta(5_000_000, 1200) == 1200  # flow re-created: counted from zero
    assert counter_delta(7, 7) == 0


def test_kbps_from_bytes():
    assert kbps_from_bytes(125_000, 1.0) == pytest.approx(1000.0)
    assert kbps_from_bytes(250_000, 2.0) == pytest.approx(1000.0)
    with pytest.raises(ValueError):
        kbps_from_bytes(1, 0.0)


def test_tracker_rows_in_model_and_wire_units():
    t = FlowRateTracker(rate_scale=0.1)
    assert t.update(0x1075, "KZ-75", {0: 0, 1: 0, 2: 0}, 1.0, local_at) == []
    rows = t.update(0x1075, "KZ-75", {0: 50_000, 1: 250_000, 2: 12_500}, 3.0, local_at)
    by = {(r.traffic, r.direction): r for r in rows}
    down = by[("platform", "down")]
    assert down.wire_kbps == pytest.approx(1000.0)  # 250 kB in 2 s
    assert down.kbps == pytest.approx(10_000.0)  # model units
    assert down.time == datetime(2026, 3, 1, 7, 1)  # emulated time at the interval start
    assert by[("platform", "up")].wire_kbps == pytest.approx(50.0)
    assert by[("other", "both")].wire_kbps == pytest.approx(200.0)
    assert all(r.source == "ovs-flow-counters" for r in rows)


def test_tracker_after_flow_reset_and_forget():
    t = FlowRateTracker()
    t.update(1, "KZ-75", {1: 10_000_000}, 0.0, local_at)
    rows = t.update(1, "KZ-75", {1: 125_000}, 1.0, local_at)  # re-created flow
    assert rows[0].wire_kbps == pytest.approx(1000.0)
    t.forget(1)
    assert t.update(1, "KZ-75", {1: 500}, 2.0, local_at) == []


def test_sum_by_cookie():
    assert sum_by_cookie([(1, 10), (2, 5), (1, 7), (0, 1)]) == {1: 17, 2: 5, 0: 1}


def test_csv_rows_are_a_valid_measurement_table():
    t = FlowRateTracker(rate_scale=2.0)
    t.update(1, "KZ-10", {1: 0, 2: 0}, 0.0, local_at)
    rows = t.update(1, "KZ-10", {1: 1000, 2: 2000}, 0.5, local_at)
    df = pd.DataFrame([dict(zip(CSV_COLUMNS, r.csv_line().split(","), strict=True)) for r in rows])
    out = validate_measurements(df)
    assert list(out["kbps"]) == pytest.approx([8.0, 16.0])
    assert set(out["direction"]) == {"down", "up"}


def test_drop_counter_survives_meter_modify():
    d = DropCounter()
    assert d.update(1, 1, 10, 15_000) == (10, 15_000)
    assert d.update(1, 1, 25, 37_500) == (25, 37_500)
    d.mark_reset(1, 1)  # OFPMC_MODIFY zeroes the meter's counters
    assert d.update(1, 1, 30, 45_000) == (55, 82_500)
    assert d.update(1, 2, 4, 6000) == (4, 6000)
    assert d.totals[(1, 1)] == (55, 82_500)


def test_passed_comes_from_the_meter_while_it_lasts():
    t = FlowRateTracker(rate_scale=0.1)
    t.update(1, "KZ-75", {1: 1_000_000, 2: 0}, 0.0, local_at, {1: MeterReading(1_000_000, 400_000, 3)})
    # flow counters lag in the userspace datapath: the meter's own input count is used
    meters = {1: MeterReading(1_500_000, 650_000, 3)}
    rows = t.update(1, "KZ-75", {1: 1_450_000, 2: 100}, 1.0, local_at, meters)
    down = next(r for r in rows if r.direction == "down")
    assert down.offered_wire_kbps == pytest.approx(4000.0)  # 500 kB went into the meter
    assert down.wire_kbps == pytest.approx(2000.0)  # 250 kB of it dropped
    assert down.kbps == pytest.approx(20000.0)
    assert down.csv_line().endswith(",ovs-flow-counters,4000.000")
    up = next(r for r in rows if r.direction == "up")  # no meter: flow counters, nothing dropped
    assert up.wire_kbps == pytest.approx(0.8) and up.offered_wire_kbps == pytest.approx(0.8)


def test_interval_across_a_meter_reset_uses_flow_counters():
    prev = MeterReading(9_000_000, 5_000_000, 1)
    cur = MeterReading(200_000, 50_000, 2)  # modified: counters restarted within the interval
    assert interval_bytes(1_000_000, 1_400_000, prev, cur) == (400_000, 350_000)
    assert interval_bytes(1_000_000, 1_400_000, None, cur) == (400_000, 350_000)  # meter added
    assert interval_bytes(1_000_000, 1_400_000, prev, None) == (400_000, 400_000)  # meter removed
    same = MeterReading(9_300_000, 5_100_000, 1)
    assert interval_bytes(0, 0, prev, same) == (300_000, 200_000)


def test_drop_counter_clear_on_reconnect():
    d = DropCounter()
    d.update(5, 1, 3, 300)
    d.update(6, 1, 1, 100)
    d.clear(5)
    assert (5, 1) not in d.totals and d.totals[(6, 1)] == (1, 100)
    assert d.update(5, 1, 2, 200) == (2, 200)


def test_other_traffic_direction_with_and_without_uplink_port():
    both = FlowRateTracker()
    both.update(1, "KZ-75", {0: 0}, 0.0, local_at)
    assert [(r.traffic, r.direction) for r in both.update(1, "KZ-75", {0: 10}, 1.0, local_at)] == [
        ("other", "both")]
    split = FlowRateTracker(uplink_split=True)
    split.update(1, "KZ-75", {0: 0, 3: 0}, 0.0, local_at)
    rows = split.update(1, "KZ-75", {0: 1250, 3: 2500}, 1.0, local_at)
    assert {(r.traffic, r.direction): r.wire_kbps for r in rows} == {("other", "up"): 10.0,
                                                                    ("other", "down"): 20.0}
