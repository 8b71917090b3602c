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
    meter_span_bytes,
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


def test_interval_spanning_one_modify_is_exact_with_the_closing_reading():
    prev = MeterReading(1_000_000, 400_000, 1)
    closing = {1: MeterReading(1_300_000, 550_000, 1)}  # old meter, read just before the modify
    cur = MeterReading(200_000, 80_000, 2)  # new meter, from zero
    # offered: 300 kB + 200 kB; dropped: 150 kB + 80 kB (the fallback would say 500 - 80 = 420 kB passed)
    assert interval_bytes(5_000_000, 5_490_000, prev, cur, closing) == (500_000, 270_000)
    assert meter_span_bytes(prev, cur, closing) == (500_000, 270_000)
    t = FlowRateTracker(rate_scale=0.1)
    t.update(1, "KZ-75", {1: 5_000_000}, 0.0, local_at, {1: prev})
    t.close_generation(1, 1, closing[1])
    down = t.update(1, "KZ-75", {1: 5_490_000}, 2.0, local_at, {1: cur})[0]
    assert down.offered_wire_kbps == pytest.approx(2000.0)  # 500 kB in 2 s
    assert down.wire_kbps == pytest.approx(1080.0)  # 270 kB in 2 s
    assert t.fallback_intervals == 0


def test_interval_spanning_two_modifies_is_exact():
    prev = MeterReading(1_000_000, 400_000, 4)
    closing = {4: MeterReading(1_100_000, 450_000, 4), 5: MeterReading(60_000, 10_000, 5)}
    cur = MeterReading(90_000, 30_000, 6)
    # offered 100 + 60 + 90 kB, dropped 50 + 10 + 30 kB
    assert interval_bytes(0, 0, prev, cur, closing) == (250_000, 160_000)
    t = FlowRateTracker()
    t.update(7, "KZ-10", {2: 0}, 0.0, local_at, {2: prev})
    for reading in closing.values():
        t.close_generation(7, 2, reading)
    up = t.update(7, "KZ-10", {2: 240_000}, 1.0, local_at, {2: cur})[0]
    assert (up.direction, up.offered_wire_kbps, up.wire_kbps) == ("up", 2000.0, 1280.0)
    assert t.fallback_intervals == 0
    after = t.update(7, "KZ-10", {2: 300_000}, 2.0, local_at, {2: MeterReading(150_000, 50_000, 6)})[0]
    assert after.wire_kbps == pytest.approx(320.0)  # 60 kB in, 20 kB dropped: same generation again


def test_interval_without_a_closing_reading_falls_back_and_is_counted():
    prev = MeterReading(1_000_000, 400_000, 1)
    cur = MeterReading(200_000, 80_000, 3)
    only_first = {1: MeterReading(1_300_000, 550_000, 1)}  # generation 2 was never closed
    assert meter_span_bytes(prev, cur, only_first) is None
    # flow offered minus the drops known: generation 1 (150 kB) and the current one (80 kB)
    assert interval_bytes(5_000_000, 5_490_000, prev, cur, only_first) == (490_000, 260_000)
    assert interval_bytes(5_000_000, 5_490_000, prev, cur) == (490_000, 410_000)
    t = FlowRateTracker()
    t.update(1, "KZ-75", {1: 5_000_000, 0: 0}, 0.0, local_at, {1: prev})
    rows = t.update(1, "KZ-75", {1: 5_490_000, 0: 100}, 1.0, local_at, {1: cur})
    down = next(r for r in rows if r.direction == "down")
    assert down.wire_kbps == pytest.approx(3280.0)  # 410 kB in 1 s, as before the closing readings
    assert t.fallback_intervals == 1  # other traffic (no meter) is not a fallback


def test_closing_reading_of_a_deleted_meter_counts_its_last_drops():
    prev = MeterReading(1_000_000, 400_000, 2)
    closing = {2: MeterReading(1_200_000, 500_000, 2)}
    # the period ended: flows now unmetered; the flow counters give what was offered
    assert interval_bytes(3_000_000, 3_600_000, prev, None, closing) == (600_000, 500_000)
    assert interval_bytes(3_000_000, 3_600_000, prev, None) == (600_000, 600_000)
    t = FlowRateTracker()
    t.update(1, "KZ-75", {1: 0}, 0.0, local_at)  # unmetered period
    added = t.update(1, "KZ-75", {1: 500_000}, 1.0, local_at, {1: MeterReading(300_000, 100_000, 1)})[0]
    assert added.wire_kbps == pytest.approx(3200.0)  # 500 kB offered, 100 kB dropped by the new meter
    t.update(1, "KZ-75", {1: 600_000}, 2.0, local_at, {1: MeterReading(360_000, 120_000, 1)})
    t.close_generation(1, 1, MeterReading(400_000, 130_000, 1))
    gone = t.update(1, "KZ-75", {1: 900_000}, 3.0, local_at)[0]  # meter deleted within the interval
    assert gone.wire_kbps == pytest.approx(2320.0)  # 300 kB offered, 10 kB dropped before the delete
    assert t.fallback_intervals == 0
    t.update(1, "KZ-75", {1: 900_000}, 4.0, local_at, {1: MeterReading(0, 0, 3)})
    t.update(1, "KZ-75", {1: 900_000}, 5.0, local_at)  # deleted again, its closing reading lost
    assert t.fallback_intervals == 1


def test_drop_counter_follows_generations():
    d = DropCounter()
    assert d.update(1, 1, 10, 15_000, generation=1) == (10, 15_000)
    assert d.update(1, 1, 12, 18_000, generation=1) == (12, 18_000)  # the closing reading
    assert d.update(1, 1, 3, 4_500, generation=2) == (15, 22_500)  # new generation: from zero
    assert d.update(1, 1, 11, 16_000, generation=1) == (15, 22_500)  # a late reply of the old one
    assert d.update(1, 1, 5, 7_500, generation=2) == (17, 25_500)


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
