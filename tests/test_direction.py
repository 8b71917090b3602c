"""Direction of the platform's traffic (down | up | both | sum): peaks, caps, meter plan, fluid buckets."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import yaml

from tests.cli_util import run_cli
from throttlebed.controller.plan import METER_IDS, switch_plan
from throttlebed.directive.caps import derive_directive
from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.regions import region_dpid
from throttlebed.directive.schema import directive_from_data
from throttlebed.directive.statistics import compute_peaks
from throttlebed.errors import InputError
from throttlebed.sim.fluid import caps_per_minute, fluid_measurements
from throttlebed.sim.load import SESSION_COLUMNS

DAY = date(2026, 3, 2)
PERIODS = PeriodSet.parse("00:00-12:00,12:00-24:00")


def stats_table() -> pd.DataFrame:
    """KZ-75, four 60-s samples per half day; down peaks 1000/2000, up peaks 300/100, but the
    highest down+up is not at either direction's peak (900+250 in the morning, 1800+150 after)."""
    t0 = datetime(2026, 3, 2, 6, 0)
    rows = []
    for base, downs, ups in ((t0, [1000, 900, 500, 0], [10, 250, 300, 0]),
                             (t0 + timedelta(hours=8), [2000, 1800, 100, 0], [0, 150, 100, 0])):
        for i, (d, u) in enumerate(zip(downs, ups, strict=True)):
            t = base + timedelta(seconds=60 * i)
            rows.append((t, "KZ-75", "down", "platform", float(d)))
            rows.append((t, "KZ-75", "up", "platform", float(u)))
            rows.append((t, "KZ-75", "down", "other", 99999.0))
    return pd.DataFrame(rows, columns=["time", "region", "direction", "traffic", "kbps"])


def rows_of(d) -> list[tuple]:
    return [(r.period, r.direction, r.peak_kbps, r.cap_kbps) for r in d.rows]


def test_derive_per_direction_peaks_and_caps() -> None:
    df = stats_table()
    got = {}
    for direction in ("down", "up", "both", "sum"):
        peaks = compute_peaks(df, PERIODS, direction=direction)
        d = derive_directive(peaks, 50, "P", ["203.0.113.0/24"])
        assert d.method is not None and d.method.direction == direction
        got[direction] = rows_of(d)
    assert got["down"] == [("00:00-12:00", "down", 1000, 500), ("12:00-24:00", "down", 2000, 1000)]
    assert got["up"] == [("00:00-12:00", "up", 300, 150), ("12:00-24:00", "up", 150, 75)]
    assert got["both"] == got["down"] + got["up"]
    assert got["sum"] == [("00:00-12:00", "sum", 1150, 575), ("12:00-24:00", "sum", 2000, 1000)]


def test_old_directive_rows_cap_each_direction_and_mixing_is_refused() -> None:
    old = directive_from_data({"platform": "P", "stage": 50, "rows": [
        {"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 100, "cap_kbps": 50}]})
    assert old.directions() == ["down", "up"] and old.caps_at("KZ-75", 600) == {"down": 50, "up": 50}
    assert "direction" not in old.to_data()["rows"][0]  # written back as it was read
    with pytest.raises(InputError, match=r"rows\[1\]\.direction: sum mixed with absent"):
        directive_from_data({"platform": "P", "stage": 50, "rows": [
            {"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 100, "cap_kbps": 50},
            {"region": "KZ-75", "period": "12:00-24:00", "peak_kbps": 100, "cap_kbps": 50,
             "direction": "sum"}]})
    with pytest.raises(InputError, match=r"rows\[1\]: duplicate of rows\[0\]"):
        directive_from_data({"platform": "P", "stage": 50, "rows": [
            {"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 100, "cap_kbps": 50,
             "direction": "up"},
            {"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 90, "cap_kbps": 45,
             "direction": "up"}]})


def _directive(direction_rows: dict[str, int]):
    rows = [{"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 10 * cap, "cap_kbps": cap,
             "direction": d} for d, cap in direction_rows.items()]
    return directive_from_data({"platform": "P", "platform_prefixes": ["203.0.113.0/24"], "stage": 90,
                                "rows": rows})


def _meters_by_flow(plan) -> dict[str, int | None]:
    return {dict(f.match).get("ipv4_src") and "down" or "up": f.meter_id
            for f in plan.flows if f.priority == 100}


def test_plan_sum_points_both_flows_at_one_meter() -> None:
    plan = switch_plan(region_dpid("KZ-75"), "KZ-75", _directive({"sum": 2000}), 600, rate_scale=2.0)
    assert [(m.meter_id, m.rate_kbps) for m in plan.meters] == [(METER_IDS["sum"], 4000)]
    assert _meters_by_flow(plan) == {"down": METER_IDS["sum"], "up": METER_IDS["sum"]}
    assert plan.caps_kbps == {"sum": 2000}
    assert plan.to_data()["meters"][0]["direction"] == "sum"


def test_plan_one_direction_and_both() -> None:
    down = switch_plan(region_dpid("KZ-75"), "KZ-75", _directive({"down": 2000}), 600)
    assert [(m.meter_id, m.rate_kbps) for m in down.meters] == [(1, 2000)]
    assert _meters_by_flow(down) == {"down": 1, "up": None}
    up = switch_plan(region_dpid("KZ-75"), "KZ-75", _directive({"up": 300}), 600)
    assert [(m.meter_id, m.rate_kbps) for m in up.meters] == [(2, 300)]
    assert _meters_by_flow(up) == {"down": None, "up": 2}
    both = switch_plan(region_dpid("KZ-75"), "KZ-75", _directive({"down": 2000, "up": 300}), 600)
    assert [(m.meter_id, m.rate_kbps) for m in both.meters] == [(1, 2000), (2, 300)]
    assert _meters_by_flow(both) == {"down": 1, "up": 2}


def _fluid(directive, **kw) -> pd.DataFrame:
    s = pd.DataFrame([(0.0, "KZ-75", 1e8, 10_000.0, "tcp", "platform")], columns=list(SESSION_COLUMNS))
    df = fluid_measurements(s, ["KZ-75"], directive, DAY, start_s=0.0, end_s=600.0, burst_s=0.0, **kw)
    return df[df["traffic"] == "platform"].pivot(index="time", columns="direction", values="kbps")


def test_fluid_sum_is_one_shared_bucket() -> None:
    got = _fluid(_directive({"sum": 1030}))
    assert got["down"].iloc[:5].tolist() == pytest.approx([1000.0] * 5)  # 1030 / (1 + 3% acks)
    assert got["up"].iloc[:5].tolist() == pytest.approx([30.0] * 5)
    assert (got["down"] + got["up"]).iloc[:5].tolist() == pytest.approx([1030.0] * 5)


def test_fluid_separate_buckets_per_direction() -> None:
    both = _fluid(_directive({"down": 800, "up": 100}))
    assert both["down"].iloc[:5].tolist() == pytest.approx([800.0] * 5)
    assert both["up"].iloc[:5].tolist() == pytest.approx([24.0] * 5)  # 3% of 800, under its cap
    # an upload cap binds through the acknowledgements: downloads follow at 15 / 3%
    up = _fluid(_directive({"up": 15}))
    assert up["up"].iloc[:5].tolist() == pytest.approx([15.0] * 5)
    assert up["down"].iloc[:5].tolist() == pytest.approx([500.0] * 5)
    down = _fluid(_directive({"down": 800}))
    assert down["down"].iloc[:5].tolist() == pytest.approx([800.0] * 5)


def test_fluid_caps_end_at_the_lift() -> None:
    d = _directive({"sum": 1030})
    caps = caps_per_minute(d, ["KZ-75"], "sum", lift_s=120.0)
    assert caps[0, :2].tolist() == [1030.0, 1030.0] and caps[0, 2:].max() == float("inf")
    got = _fluid(d, lift_s=120.0)
    assert got["down"].iloc[:4].tolist() == pytest.approx([1000.0, 1000.0, 10_000.0, 10_000.0])
    with pytest.raises(InputError, match="whole minute"):
        _fluid(d, lift_s=90.0)


def test_derive_cli_direction_default_and_choices(tmp_path) -> None:
    stats = tmp_path / "stats.csv"
    stats_table().to_csv(stats, index=False)
    res = run_cli("directive", "derive", "--stats", str(stats), "--periods", "00:00-12:00,12:00-24:00",
                  "--stage", "50", "--prefix", "203.0.113.0/24", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["method"]["direction"] == "sum" and {r["direction"] for r in doc["rows"]} == {"sum"}
    out = tmp_path / "both.yaml"
    res = run_cli("directive", "derive", "--stats", str(stats), "--periods", "00:00-12:00,12:00-24:00",
                  "--stage", "10", "--direction", "both", "-o", str(out))
    assert res.code == 0, res.err
    data = yaml.safe_load(out.read_text())
    assert [r["direction"] for r in data["rows"]] == ["down", "down", "up", "up"]
    assert run_cli("directive", "check", str(out)).code == 0
    res = run_cli("directive", "derive", "--stats", str(stats), "--periods", "00:00-24:00",
                  "--stage", "10", "--direction", "sideways")
    assert res.code == 2 and "--direction" in res.err and "sideways" in res.err


def _series(values: dict[str, list[float]], start: datetime) -> pd.DataFrame:
    rows = [(start + timedelta(seconds=60 * i), "KZ-75", d, "platform", v, "sim-fluid")
            for d, vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows, columns=["time", "region", "direction", "traffic", "kbps", "source"])


def test_verdict_judges_sum_cells_up_to_the_lift_and_recovery_after() -> None:
    from throttlebed.experiments import verdict as V

    d = _directive({"sum": 1030})
    t0 = datetime(2026, 3, 2, 0, 0)
    baseline = _series({"down": [2000.0] * 4, "up": [60.0] * 4}, t0)
    # held at 1000 + 30 until the lift at 00:02, then above the cap (back, and a backlog)
    enforced = _series({"down": [1000.0, 1000.0, 2500.0, 2000.0], "up": [30.0, 30.0, 75.0, 60.0]}, t0)
    cells = V.cell_verdicts(baseline, enforced, d, direction="sum", judged_until_s=120.0 - 60.0)
    cell = cells.iloc[0]
    assert cell["direction"] == "sum" and cell["samples"] == 2 and cell["held"]
    assert cell["measured_max_kbps"] == pytest.approx(1030.0)
    unjudged = V.cell_verdicts(baseline, enforced, d, direction="sum")
    assert not unjudged.iloc[0]["held"]  # without the lift the later samples break the cap
    table = V.lift_recovery(baseline, enforced, 120.0, ["sum"])
    row = table.iloc[0]
    assert row["first_sample_time"] == "2026-03-02T00:02:00"
    assert row["ratio"] == pytest.approx(2575.0 / 2060.0) and row["back_at_baseline"]
    still_capped = _series({"down": [1000.0] * 4, "up": [30.0] * 4}, t0)
    summary = V.lift_summary(V.lift_recovery(baseline, still_capped, 120.0, ["sum"]), 120.0, 60.0)
    assert summary["lift_at"] == "00:02" and summary["back_at_baseline"] is False
    assert summary["min_ratio"] == pytest.approx(1030.0 / 2060.0)
