"""Verdict per (region, period) on hand-made measurement tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from throttlebed.directive.schema import Directive
from throttlebed.experiments.verdict import (
    Tolerances,
    assign_cells,
    baseline_service,
    cell_verdicts,
    collateral_summary,
    collateral_table,
    longest_run,
    overall_pass,
    summarize_cells,
)

DAY = pd.Timestamp("2026-03-02")


def _directive(stage: int = 50, rows=None) -> Directive:
    rows = rows or [
        {"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 1000.0, "cap_kbps": 500},
        {"region": "KZ-75", "period": "12:00-24:00", "peak_kbps": 2000.0, "cap_kbps": 1000},
    ]
    return Directive(platform="ExampleTube", stage=stage, rows=rows)


def _table(values_am, values_pm, region="KZ-75", traffic="platform", direction="down"):
    """Minute samples: len(values_am) from 00:00, len(values_pm) from 12:00."""
    t_am = [DAY + pd.Timedelta(minutes=i) for i in range(len(values_am))]
    t_pm = [DAY + pd.Timedelta(hours=12, minutes=i) for i in range(len(values_pm))]
    return pd.DataFrame({
        "time": t_am + t_pm, "region": region, "direction": direction, "traffic": traffic,
        "kbps": np.concatenate([values_am, values_pm]).astype(float), "source": "test",
    })


def _cells(baseline, enforced, d=None, tol=None):
    return cell_verdicts(baseline, enforced, d or _directive(), tol or Tolerances()).set_index("period")


def test_assign_cells_handles_wrapping_period():
    d = _directive(rows=[
        {"region": "KZ-75", "period": "22:00-02:00", "peak_kbps": 10.0, "cap_kbps": 5},
        {"region": "KZ-75", "period": "02:00-22:00", "peak_kbps": 10.0, "cap_kbps": 5},
    ])
    t = pd.to_datetime(["2026-03-02 23:30", "2026-03-02 01:59", "2026-03-02 02:00", "2026-03-02 22:00"])
    df = pd.DataFrame({"time": t, "region": "KZ-75", "kbps": 1.0})
    out = assign_cells(df, d)
    assert list(out["period"]) == ["22:00-02:00", "22:00-02:00", "02:00-22:00", "22:00-02:00"]
    assert list(out["second_in_period"]) == [5400.0, 14340.0, 0.0, 0.0]


def test_each_direction_is_judged_in_its_own_periods():
    """An up row 00:00-06:00 and down rows 00:00-12:00, 12:00-24:00: the up samples of 03:00 are
    in the up cell, those of 13:00 in none, whatever the down rows' periods."""
    d = _directive(rows=[
        {"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 1000.0, "cap_kbps": 500,
         "direction": "down"},
        {"region": "KZ-75", "period": "12:00-24:00", "peak_kbps": 1000.0, "cap_kbps": 500,
         "direction": "down"},
        {"region": "KZ-75", "period": "00:00-06:00", "peak_kbps": 100.0, "cap_kbps": 50, "direction": "up"},
    ])
    df = pd.DataFrame({"time": pd.to_datetime(["2026-03-02 03:00", "2026-03-02 13:00"]),
                       "region": "KZ-75", "kbps": 1.0})
    up_cells = assign_cells(df, d, "up")
    assert up_cells["period"].iloc[0] == "00:00-06:00" and up_cells["period"].isna().iloc[1]
    assert list(assign_cells(df, d, "down")["period"]) == ["00:00-12:00", "12:00-24:00"]
    up = _table([80.0] * 10, [80.0] * 10, direction="up")
    up_cap = _table([50.0] * 10, [50.0] * 10, direction="up")
    cells = cell_verdicts(up, up_cap, d).set_index(["period", "direction"])
    assert cells.loc[("00:00-06:00", "up"), "samples"] == 10  # only the morning's up samples


def test_capped_cells_hold_and_reach_the_target():
    base = _table(np.linspace(100, 1000, 60), np.linspace(200, 2000, 60))
    enf = _table(np.minimum(np.linspace(100, 1000, 60), 500), np.minimum(np.linspace(200, 2000, 60), 1000))
    cells = _cells(base, enf)
    assert cells["held"].all() and cells["pass"].all()
    assert cells.loc["00:00-12:00", "reduction_achieved"] == pytest.approx(0.5)
    assert cells.loc["12:00-24:00", "measured_max_kbps"] == 1000.0
    assert cells.loc["00:00-12:00", "samples"] == 60
    assert not cells["demand_below_cap"].any()


def test_one_sample_above_cap_breaks_held():
    base = _table(np.full(60, 1000.0), np.full(60, 2000.0))
    am = np.full(60, 500.0)
    am[17] = 520.0  # 4% over a cap of 500, tolerance 2%
    enf = _table(am, np.full(60, 1000.0))
    cells = _cells(base, enf)
    assert not cells.loc["00:00-12:00", "held"]
    assert cells.loc["00:00-12:00", "samples_over_cap"] == 1
    assert not cells.loc["00:00-12:00", "pass"]
    assert cells.loc["00:00-12:00", "overshoot"] == pytest.approx(0.04)
    assert cells.loc["12:00-24:00", "pass"]
    # within tolerance: 1% over holds
    am[17] = 505.0
    assert _cells(base, _table(am, np.full(60, 1000.0))).loc["00:00-12:00", "held"]


def test_boundary_guard_excludes_the_switch_over_sample():
    base = _table(np.full(60, 1000.0), np.full(60, 2000.0))
    am = np.full(60, 500.0)
    am[0] = 900.0  # the first minute of the period, before the meter switched
    cells = _cells(base, _table(am, np.full(60, 1000.0)), tol=Tolerances(boundary_guard_s=60))
    assert cells.loc["00:00-12:00", "held"]
    cells = _cells(base, _table(am, np.full(60, 1000.0)), tol=Tolerances(boundary_guard_s=0))
    assert not cells.loc["00:00-12:00", "held"]


def test_demand_below_cap_is_flagged_and_judged_on_held_only():
    # The enforcement day's demand never reached the morning cap of 500.
    base = _table(np.full(60, 300.0), np.full(60, 2000.0))
    enf = _table(np.full(60, 300.0), np.full(60, 1000.0))
    cells = _cells(base, enf)
    am = cells.loc["00:00-12:00"]
    assert am["demand_below_cap"] and am["held"] and am["pass"]
    assert am["reduction_achieved"] == pytest.approx(0.7)  # 1 - 300/1000: not the target, not judged
    assert not cells.loc["12:00-24:00", "demand_below_cap"]


def test_too_much_reduction_fails():
    base = _table(np.full(60, 1000.0), np.full(60, 2000.0))
    enf = _table(np.full(60, 100.0), np.full(60, 1000.0))  # 90% cut where 50% was ordered
    cells = _cells(base, enf)
    assert cells.loc["00:00-12:00", "held"]
    assert not cells.loc["00:00-12:00", "pass"]
    assert cells.loc["00:00-12:00", "reduction_achieved"] == pytest.approx(0.9)


def test_cell_without_enforced_samples_fails_as_unverified():
    base = _table(np.full(60, 1000.0), np.full(60, 2000.0))
    enf = _table(np.full(60, 500.0), np.empty(0))
    cells = _cells(base, enf)
    pm = cells.loc["12:00-24:00"]
    assert pm["no_samples"] and not pm["pass"] and pm["samples"] == 0
    assert pm["held"] is None  # no data: never reported as held
    assert cells.loc["00:00-12:00", "held"] is True
    s = summarize_cells(cells.reset_index())
    assert s["cells_held"] == 1 and s["cells_no_data"] == 1 and s["pass"] is False


def test_run_with_no_enforced_samples_at_all_holds_nothing():
    base = _table(np.full(60, 1000.0), np.full(60, 2000.0))
    enf = _table(np.empty(0), np.empty(0))
    cells = cell_verdicts(base, enf, _directive())
    assert cells["held"].isna().all() and cells["no_samples"].all() and not cells["pass"].any()
    assert summarize_cells(cells)["cells_held"] == 0


def test_ks_detects_throttling_and_not_identical_distributions():
    rng = np.random.default_rng(7)
    demand_am = rng.uniform(300, 1000, 120)[:60]
    demand_pm = rng.uniform(600, 2000, 60)
    base = _table(demand_am, demand_pm)
    throttled = _table(np.minimum(demand_am, 500), demand_pm)  # afternoon untouched
    cells = _cells(base, throttled)
    assert cells.loc["00:00-12:00", "ks_pvalue"] < 1e-6
    assert cells.loc["00:00-12:00", "ks_statistic"] > 0.5
    assert cells.loc["00:00-12:00", "detectable"]
    assert cells.loc["00:00-12:00", "mean_change"] < -0.2
    assert cells.loc["12:00-24:00", "ks_pvalue"] == pytest.approx(1.0)
    assert cells.loc["12:00-24:00", "ks_statistic"] == 0.0
    assert not cells.loc["12:00-24:00", "detectable"]


def test_collateral_unaffected_and_damaged():
    base = pd.concat([_table(np.full(60, 1000.0), np.full(60, 2000.0)),
                      _table(np.full(60, 400.0), np.full(60, 400.0), traffic="other")])
    same = pd.concat([_table(np.full(60, 500.0), np.full(60, 1000.0)),
                      _table(np.full(60, 400.0), np.full(60, 440.0), traffic="other")])
    table = collateral_table(base, same)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["baseline_mean_kbps"] == 400.0 and row["enforced_max_kbps"] == 440.0
    assert row["mean_change"] == pytest.approx(0.05) and row["unaffected"]
    summary = collateral_summary(table)
    assert summary["unaffected"] is True
    cells = cell_verdicts(base, same, _directive())
    assert overall_pass(cells, summary)

    hurt = pd.concat([_table(np.full(60, 500.0), np.full(60, 1000.0)),
                      _table(np.full(60, 300.0), np.full(60, 300.0), traffic="other")])
    summary = collateral_summary(collateral_table(base, hurt))
    assert summary["unaffected"] is False
    assert summary["max_mean_drop"] == pytest.approx(0.25)
    assert not overall_pass(cell_verdicts(base, hurt, _directive()), summary)


def test_collateral_judged_on_the_payload_direction_only():
    def other(down, up):
        return pd.concat([_table(np.full(60, down), np.full(60, down), traffic="other"),
                          _table(np.full(60, up), np.full(60, up), traffic="other", direction="up")])

    base = other(400.0, 20.0)
    fewer_acks = collateral_table(base, other(400.0, 15.0))  # up -25%: reported, not judged
    rows = fewer_acks.set_index("direction")
    assert rows.loc["up", "mean_change"] == pytest.approx(-0.25)
    assert rows.loc["up", "unaffected"] is None
    assert rows.loc["down", "unaffected"] is True
    summary = collateral_summary(fewer_acks)
    assert summary["unaffected"] is True and summary["judged_directions"] == ["down"]
    assert summary["max_mean_drop"] == pytest.approx(0.0)

    summary = collateral_summary(collateral_table(base, other(300.0, 20.0)))  # payload -25%
    assert summary["unaffected"] is False
    assert summary["max_mean_drop"] == pytest.approx(0.25)


def test_summary_counts():
    base = _table(np.full(60, 1000.0), np.full(60, 2000.0))
    enf = _table(np.full(60, 500.0), np.full(60, 1100.0))
    s = summarize_cells(cell_verdicts(base, enf, _directive()))
    assert s["cells_total"] == 2 and s["cells_passed"] == 1 and s["cells_held"] == 1
    assert s["pass"] is False
    assert s["max_overshoot"] == pytest.approx(0.1)
    assert s["min_reduction_achieved"] == pytest.approx(0.45)
    assert s["max_reduction_error_pp"] == pytest.approx(5.0)


def test_longest_run():
    assert longest_run(np.array([], dtype=bool)) == 0
    assert longest_run(np.array([0, 1, 1, 0, 1, 1, 1, 0], dtype=bool)) == 3
    assert longest_run(np.array([1, 1], dtype=bool)) == 2


def test_isolated_burst_may_be_reduced_more_but_not_less():
    # Morning: one 60-s sample at the peak, everything else far below the cap of 500. A rate cap
    # spreads that burst over two intervals (400 + 400): the interval max drops 60%, not 50%.
    am_base = np.full(60, 100.0)
    am_base[30] = 1000.0
    am_enf = am_base.copy()
    am_enf[30], am_enf[31] = 400.0, 400.0 + 100.0
    pm = np.full(60, 2000.0)
    cells = _cells(_table(am_base, pm), _table(am_enf, np.full(60, 1000.0)))
    am = cells.loc["00:00-12:00"]
    assert am["demand_run_samples"] == 1 and am["transient_demand"]
    assert am["reduction_achieved"] == pytest.approx(0.5)
    am_enf[31] = 300.0
    cells = _cells(_table(am_base, pm), _table(am_enf, np.full(60, 1000.0)))
    am = cells.loc["00:00-12:00"]
    assert am["reduction_achieved"] == pytest.approx(0.6) and am["pass"]
    # ... but a burst that was cut below the target (measured 600 > cap 500) fails held and pass
    am_enf[30] = 600.0
    am = _cells(_table(am_base, pm), _table(am_enf, np.full(60, 1000.0))).loc["00:00-12:00"]
    assert not am["held"] and not am["pass"]
    # sustained demand (the afternoon) must sit at the target: over-reduction there fails
    assert not cells.loc["12:00-24:00", "transient_demand"]
    assert cells.loc["12:00-24:00", "demand_run_samples"] == 60


def test_burst_allowance_widens_the_limit():
    base = _table(np.full(60, 1000.0), np.full(60, 2000.0))
    am = np.full(60, 500.0)
    am[20] = 560.0  # 12% over the cap: a full bucket of 1 s at x80 in a 10-minute interval (13.3%)
    enf = _table(am, np.full(60, 1000.0))
    assert not _cells(base, enf).loc["00:00-12:00", "held"]
    cells = _cells(base, enf, tol=Tolerances(over_cap=0.0, burst_allowance=80 / 600))
    assert cells.loc["00:00-12:00", "held"]
    assert cells.loc["00:00-12:00", "limit_kbps"] == pytest.approx(500 * (1 + 80 / 600))


def test_boundary_guard_covers_the_end_of_a_period_too():
    d = _directive(rows=[
        {"region": "KZ-75", "period": "00:00-01:00", "peak_kbps": 1000.0, "cap_kbps": 500},
        {"region": "KZ-75", "period": "01:00-24:00", "peak_kbps": 1000.0, "cap_kbps": 500},
    ])
    base = _table(np.full(60, 1000.0), np.empty(0))
    am = np.full(60, 500.0)
    am[59] = 800.0  # 00:59, the last minute before the switch at 01:00
    tol = Tolerances(boundary_guard_s=60)
    cells = cell_verdicts(base, _table(am, np.empty(0)), d, tol).set_index("period")
    c = cells.loc["00:00-01:00"]
    assert c["held"] and c["samples_guarded"] == 2 and c["measured_max_kbps"] == 500.0
    assert not cell_verdicts(base, _table(am, np.empty(0)), d, Tolerances()).iloc[0]["held"]


def test_baseline_service_weighs_load_model_sessions_and_leaves_cut_ones_out():
    status = pd.Categorical(["completed", "abandoned", "dropped", "cut", "failed", "completed"],
                            categories=["completed", "abandoned", "cut", "dropped", "failed"])
    outcomes = pd.DataFrame({"status": status, "sessions": [10, 3, 1, 50, 2, 6]})
    s = baseline_service(outcomes)
    # completed 16, not served 3 + 1 (a failed transfer breaks an emulated run on its own)
    assert s == {"sessions": 72, "completed": 16, "not_served": 4, "share_not_served": 4 / 20}
    assert baseline_service(None) is None
    nothing_ended = baseline_service(pd.DataFrame({"status": pd.Categorical(["cut"]), "sessions": [5]}))
    assert nothing_ended["share_not_served"] == 0.0
