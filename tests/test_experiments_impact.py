"""User impact per cell: hand-made session outcome tables, and the fluid model's session outcomes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from throttlebed.directive.schema import Directive
from throttlebed.experiments.impact import (
    IMPACT_COLUMNS,
    cell_impact,
    combine_impact,
    flat_columns,
    impact_by_cell,
    impact_tallies,
    overall_impact,
    stage_impact,
)
from throttlebed.measurements import OUTCOME_COLUMNS, OUTCOME_STATUSES, share_columns
from throttlebed.sim.fluid import run_fluid
from throttlebed.sim.load import SESSION_COLUMNS, LoadProfile, generate_sessions

DAY = date(2026, 3, 2)
PM = 12 * 3600.0


def _directive(stage: int = 50) -> Directive:
    return Directive(platform="ExampleTube", stage=stage, rows=[
        {"region": "KZ-75", "period": "00:00-12:00", "peak_kbps": 1000.0, "cap_kbps": 500},
        {"region": "KZ-75", "period": "12:00-24:00", "peak_kbps": 2000.0, "cap_kbps": 1000},
    ])


def _outcomes(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (session, traffic, transport, start_s, end_s or None, status, sessions), region KZ-75."""
    out = []
    for sid, traffic, transport, start, end, status, weight in rows:
        out.append({"session": sid, "region": "KZ-75", "traffic": traffic, "transport": transport,
                    "start_s": start, "nominal_s": 10.0, "end_s": np.nan if end is None else end,
                    "status": status, "given_up_s": np.nan, "sessions": weight})
    return pd.DataFrame(out, columns=list(OUTCOME_COLUMNS))


BASE = _outcomes([
    (0, "platform", "tcp", 100.0, 110.0, "completed", 1),
    (1, "platform", "tcp", 200.0, 210.0, "completed", 1),
    (2, "platform", "tcp", 300.0, 310.0, "completed", 1),
    (3, "platform", "tcp", 400.0, 410.0, "completed", 1),
    (4, "platform", "tcp", 500.0, None, "cut", 1),  # no baseline duration: not compared
    (5, "platform", "udp", 550.0, 560.0, "completed", 1),  # a stream: not counted
    (6, "other", "tcp", 600.0, 610.0, "completed", 1),
    (7, "platform", "tcp", PM + 100, PM + 110, "completed", 3),  # stands for 3 sessions
    (8, "platform", "tcp", PM + 200, PM + 210, "completed", 1),
])
ENFORCED = _outcomes([
    (0, "platform", "tcp", 100.0, 120.0, "completed", 1),  # 2.0x
    (1, "platform", "tcp", 200.0, 210.5, "completed", 1),  # 1.05x: not affected
    (2, "platform", "tcp", 300.0, 340.0, "completed", 1),  # 4.0x
    (3, "platform", "tcp", 400.0, None, "abandoned", 1),
    (4, "platform", "tcp", 500.0, 530.0, "completed", 1),
    (5, "platform", "udp", 550.0, 560.0, "completed", 1),
    (6, "other", "tcp", 600.0, 610.0, "completed", 1),
    (7, "platform", "tcp", PM + 100, PM + 115, "completed", 3),  # 1.5x
    (8, "platform", "tcp", PM + 200, PM + 210, "completed", 1),  # 1.0x
])


def _row(t: pd.DataFrame, period: str, traffic: str) -> dict:
    return t.set_index(["period", "traffic"]).loc[(period, traffic)].to_dict()


def test_figures_of_a_hand_made_cell():
    t = cell_impact(BASE, ENFORCED, _directive())
    assert list(t.columns) == list(IMPACT_COLUMNS) and len(t) == 4
    am = _row(t, "00:00-12:00", "platform")
    assert am["sessions"] == 5 and am["compared"] == 4 and am["affected"] == 3
    assert am["median_inflation"] == pytest.approx(2.0)
    assert am["p95_inflation"] == pytest.approx(3.8)  # linear between 2.0 and 4.0 at 0.95 of [1.05, 2, 4]
    assert am["share_slowed_2x"] == pytest.approx(0.25)  # only the 4.0x one: 2.0x is not more than 2
    assert am["share_abandoned"] == pytest.approx(0.25)
    other = _row(t, "00:00-12:00", "other")
    assert other["compared"] == 1 and other["median_inflation"] == 1.0 and other["affected"] == 0


def test_merged_transfers_weigh_as_many_sessions():
    pm = _row(cell_impact(BASE, ENFORCED, _directive()), "12:00-24:00", "platform")
    assert pm["sessions"] == 4 and pm["compared"] == 4 and pm["affected"] == 3
    assert pm["median_inflation"] == pytest.approx(1.5)  # of [1.0, 1.5, 1.5, 1.5]
    assert pm["share_slowed_2x"] == 0.0 and pm["share_abandoned"] == 0.0


def test_a_cell_without_sessions_has_no_figures():
    pm_other = _row(cell_impact(BASE, ENFORCED, _directive()), "12:00-24:00", "other")
    assert pm_other["sessions"] == 0 and pm_other["compared"] == 0
    assert pd.isna(pm_other["median_inflation"]) and pd.isna(pm_other["share_abandoned"])


def test_unchanged_sessions_are_not_affected():
    t = cell_impact(BASE, BASE, _directive())
    plat = t[t["traffic"] == "platform"]
    assert (plat["affected"] == 0).all() and (plat["median_inflation"] == 1.0).all()
    assert (plat["share_abandoned"] == 0.0).all()


def test_overall_and_document_shapes():
    d = _directive()
    overall = overall_impact(BASE, ENFORCED, d)
    assert overall["platform"]["compared"] == 8 and overall["platform"]["affected"] == 6
    t = cell_impact(BASE, ENFORCED, d)
    by_cell = impact_by_cell(t)
    assert set(by_cell) == {("KZ-75", "00:00-12:00"), ("KZ-75", "12:00-24:00")}
    assert by_cell[("KZ-75", "00:00-12:00")]["platform"]["share_abandoned"] == pytest.approx(0.25)
    assert by_cell[("KZ-75", "12:00-24:00")]["other"]["median_inflation"] is None
    flat = flat_columns(t)
    assert len(flat) == 2
    assert flat.set_index("period").loc["00:00-12:00", "impact_platform_p95_inflation"] == pytest.approx(3.8)


# ---- the fluid model's session outcomes ---------------------------------------------------


def _sessions(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(SESSION_COLUMNS))


def _one_cap(cap_kbps: int, stage: int = 50) -> Directive:
    return Directive(platform="P", stage=stage, rows=[
        {"region": "KZ-75", "period": "00:00-24:00", "peak_kbps": 1e9, "cap_kbps": cap_kbps}])


def test_fluid_session_end_times():
    s = _sessions((30.5, "KZ-75", 100_000.0, 1000.0, "tcp", "platform"),
                  (40.0, "KZ-75", 10_000.0, 1000.0, "tcp", "other"),
                  (590.0, "KZ-75", 100_000.0, 1000.0, "tcp", "platform"))
    base = run_fluid(s, ["KZ-75"], None, DAY, end_s=600.0).sessions
    assert list(base.columns) == list(OUTCOME_COLUMNS)
    assert list(base["status"]) == ["completed", "completed", "cut"]
    assert base["end_s"].iloc[:2].tolist() == pytest.approx([130.5, 50.0])
    enf = run_fluid(s, ["KZ-75"], _one_cap(500), DAY, end_s=600.0, burst_s=0.0).sessions
    # 500 kbit per step from the step holding 30.5 s: 200 steps; the last 500 kbit go at the
    # access rate, half a step
    assert enf["status"].iloc[0] == "completed" and enf["end_s"].iloc[0] == pytest.approx(229.5)
    assert enf["end_s"].iloc[1] == pytest.approx(50.0)  # other traffic meets no meter
    assert set(enf["status"]) <= set(OUTCOME_STATUSES)


def test_fluid_user_abandons_after_patience():
    s = _sessions((30.5, "KZ-75", 100_000.0, 1000.0, "tcp", "platform"))
    enf = run_fluid(s, ["KZ-75"], _one_cap(500), DAY, end_s=600.0, burst_s=0.0, patience_s=50.0).sessions
    assert enf["status"].iloc[0] == "abandoned" and np.isnan(enf["end_s"].iloc[0])
    assert enf["given_up_s"].iloc[0] == pytest.approx(180.5)  # unconstrained end 130.5 + 50


def _evening(regions: list[str], users_scale: float, seed: int, start_h: int, end_h: int):
    """Sessions of an evening window, the fluid model's arguments for it, and its baseline run."""
    profile = LoadProfile(users_scale=users_scale)
    start_s, end_s = start_h * 3600.0, end_h * 3600.0
    sessions = generate_sessions(regions, profile, np.random.default_rng(seed), start_s, end_s)
    kw = {"start_s": start_s, "end_s": end_s, "sampling_interval_s": 60.0, "patience_s": profile.patience_s}
    return sessions, kw, run_fluid(sessions, regions, None, DAY, **kw)


def test_stage_90_slows_platform_sessions_and_not_other_traffic():
    regions = ["KZ-75"]
    sessions, kw, base = _evening(regions, 0.02, 3, 18, 22)
    m = base.measurements
    peak = m.loc[(m["traffic"] == "platform") & (m["direction"] == "down"), "kbps"].max()
    d = Directive(platform="P", stage=90, rows=[
        {"region": "KZ-75", "period": "18:00-22:00", "peak_kbps": float(peak), "cap_kbps": int(peak * 0.1)}])
    enf = run_fluid(sessions, regions, d, DAY, **kw)
    t = cell_impact(base.sessions, enf.sessions, d)
    plat, other = _row(t, "18:00-22:00", "platform"), _row(t, "18:00-22:00", "other")
    print(f"stage 90: platform {plat}; other {other}")
    assert plat["compared"] > 100
    assert plat["median_inflation"] > 2.0 and plat["p95_inflation"] > plat["median_inflation"]
    assert plat["share_slowed_2x"] + plat["share_abandoned"] > 0.5
    assert plat["affected"] > 0.9 * plat["compared"]
    assert other["compared"] > 10 and other["affected"] == 0
    assert other["median_inflation"] == pytest.approx(1.0) and other["p95_inflation"] == pytest.approx(1.0)
    assert other["share_abandoned"] == 0.0


def test_sessions_pair_by_id_in_any_order():
    """The same enforced outcomes, shuffled and with one session missing, pair by session id as in
    order (the fast path when both runs hold the same sessions in the same order)."""
    d = _directive()
    in_order = cell_impact(BASE, ENFORCED, d)
    shuffled = ENFORCED.sample(frac=1.0, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(cell_impact(BASE, shuffled, d), in_order)
    missing = cell_impact(BASE, ENFORCED[ENFORCED["session"] != 0], d)
    am = _row(missing, "00:00-12:00", "platform")
    assert am["compared"] == 3 and am["median_inflation"] == pytest.approx(2.525)  # of [1.05, 4.0]: 0 is gone


def test_enforced_table_shares_the_baseline_columns_it_equals():
    s = _sessions((30.5, "KZ-75", 100_000.0, 1000.0, "tcp", "platform"),
                  (40.0, "KZ-75", 10_000.0, 1000.0, "udp", "platform"),
                  (50.0, "KZ-75", 10_000.0, 1000.0, "tcp", "other"))
    base = run_fluid(s, ["KZ-75"], None, DAY, end_s=600.0).sessions
    enf = run_fluid(s, ["KZ-75"], _one_cap(500), DAY, end_s=600.0, burst_s=0.0).sessions
    shared = share_columns(base, enf)
    pd.testing.assert_frame_equal(shared, enf)
    assert np.shares_memory(shared["start_s"].to_numpy(), base["start_s"].to_numpy())
    assert not np.shares_memory(shared["end_s"].to_numpy(), base["end_s"].to_numpy())  # they differ
    d = _one_cap(500)
    pd.testing.assert_frame_equal(cell_impact(base, shared, d), cell_impact(base, enf, d))


def _three_region_day() -> tuple[pd.DataFrame, pd.DataFrame, Directive]:
    """Baseline and stage-50 outcome tables of three regions' evening, load-model weights 1-4."""
    regions = ["KZ-75", "KZ-62", "KZ-11"]
    sessions, kw, base = _evening(regions, 0.01, 5, 18, 21)
    m = base.measurements
    down = m[(m["traffic"] == "platform") & (m["direction"] == "down")]
    rows = [{"region": r, "period": p, "peak_kbps": float(peak), "cap_kbps": max(1, int(peak * 0.5))}
            for r, g in down.groupby("region") for p in ("18:00-19:30", "19:30-21:00")
            for peak in [g["kbps"].max()]]
    d = Directive(platform="P", stage=50, rows=rows)
    enf = run_fluid(sessions, regions, d, DAY, **kw)
    weights = np.random.default_rng(9).integers(1, 5, len(base.sessions))  # emulated rows stand for several
    return base.sessions.assign(sessions=weights), enf.sessions.assign(sessions=weights), d


def test_tallies_of_the_regions_add_up_to_the_whole_day():
    """Per region (how a cluster computes them, each region where it was simulated) or all at once,
    the cell table and the overall figures are the same numbers."""
    base, enf, d = _three_region_day()
    whole_table, whole_overall = stage_impact(base, enf, d)
    parts = [impact_tallies(base[base["region"] == r].reset_index(drop=True),
                            enf[enf["region"] == r].reset_index(drop=True), d)
             for r in ["KZ-11", "KZ-62", "KZ-75"]]
    table, overall = combine_impact(parts, d)
    assert whole_table["compared"].sum() > 100 and whole_overall["platform"]["p95_inflation"] > 1.1
    pd.testing.assert_frame_equal(table, whole_table)
    assert overall == whole_overall
    assert overall["platform"]["sessions"] == int(base.loc[base["transport"] == "tcp"]
                                                   .query("traffic == 'platform'")["sessions"].sum())


def test_a_cell_no_part_holds_has_no_figures():
    d = _directive()
    table, overall = combine_impact([], d)
    assert list(table["sessions"]) == [0, 0, 0, 0] and table["median_inflation"].isna().all()
    assert overall["platform"] == {"sessions": 0, "compared": 0, "affected": 0, "median_inflation": None,
                                   "p95_inflation": None, "share_slowed_2x": None, "share_abandoned": None}
