"""The sim backend end to end: baseline -> peaks -> directive per stage -> enforced day.

"Offered demand exceeded the cap" is read per cell as: in at least one sampling interval the
offered load used every token the meter had (``FluidRun.saturated``). Where the baseline peak
was a brief burst (a single large transfer, or a noisy minute in a small region) the cap at 90%
of it never binds for a whole interval, the cap spreads the burst, and the achieved reduction is
larger than the stage; the test asserts that it is never smaller (beyond the bucket's burst).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.regions import region_codes
from throttlebed.directive.schema import directive_from_data
from throttlebed.measurements import validate_measurements
from throttlebed.sim.backend import simulate_day, simulate_run
from throttlebed.sim.load import LoadProfile

DAY = date(2026, 3, 2)
SEED = 20240625
PERIODS = PeriodSet.parse("00:00-07:00,07:00-18:00,18:00-23:00,23:00-00:00")
PROFILE = LoadProfile(users_scale=0.01)  # ~175 000 sessions a national day
BURST_S = 1.0
INTERVAL_S = 60.0


def platform_down_by_cell(df: pd.DataFrame) -> pd.DataFrame:
    """Platform down samples with the period each falls in."""
    d = df[(df["direction"] == "down") & (df["traffic"] == "platform")].copy()
    minute = (d["time"].dt.hour * 60 + d["time"].dt.minute).to_numpy()
    d["period"] = [str(PERIODS[i]) for i in PERIODS.minute_lookup[minute]]
    return d


@pytest.fixture(scope="module")
def baseline() -> pd.DataFrame:
    return simulate_day(region_codes(), PROFILE, None, SEED, DAY)


@pytest.mark.parametrize("stage", [10, 50, 90])
def test_directive_holds_and_reduces_by_the_stage(baseline, stage):
    regions = region_codes()
    assert len(regions) == 20
    peaks = platform_down_by_cell(baseline).groupby(["region", "period"])["kbps"].max()
    assert len(peaks) == 80 and (peaks > 0).all()
    caps = {cell: math.floor(peak * (100 - stage) / 100) for cell, peak in peaks.items()}
    directive = directive_from_data({
        "platform": "ExamplePlatform", "stage": stage,
        "rows": [{"region": r, "period": p, "peak_kbps": float(peaks[(r, p)]), "cap_kbps": c}
                 for (r, p), c in caps.items()],
    })
    run = simulate_run(regions, PROFILE, directive, SEED, DAY, sampling_interval_s=INTERVAL_S,
                       burst_s=BURST_S)
    enforced = run.measurements
    cells = platform_down_by_cell(enforced)
    cap_of_row = np.array([caps[(r, p)] for r, p in zip(cells["region"], cells["period"], strict=True)])
    # held: a sampling interval's mean exceeds the cap at most by one full bucket spread over it
    tolerance = 1 + BURST_S / INTERVAL_S
    assert (cells["kbps"].to_numpy() <= cap_of_row * tolerance + 1e-6).all()
    up = enforced[(enforced["direction"] == "up") & (enforced["traffic"] == "platform")]
    assert (up["kbps"].to_numpy() <= cap_of_row * tolerance + 1e-6).all()

    # achieved reduction where the offered demand exceeded the cap (throughout some interval)
    enforced_max = cells.groupby(["region", "period"])["kbps"].max()
    achieved_pct = 100 * (1 - enforced_max / peaks)
    lookup = PERIODS.minute_lookup[(np.arange(run.saturated.shape[1]) * int(INTERVAL_S)) // 60]
    saturated = pd.Series({(r, str(p)): bool(run.saturated[i, lookup == j].any())
                           for i, r in enumerate(run.regions) for j, p in enumerate(PERIODS)})
    saturated = saturated.reindex(achieved_pct.index)
    err = (achieved_pct - stage)[saturated]
    assert (err.abs() <= 2.0).all(), err[err.abs() > 2.0]
    assert err.min() >= -100 * BURST_S / INTERVAL_S - 1e-9  # the only overshoot is the burst
    # stages 50 and 90 bind in every cell; at 10% a brief burst can make a cell's peak (see report)
    assert saturated.mean() >= (1.0 if stage >= 50 else 0.3)
    # nowhere does enforcement deliver more than the cap allows, anywhere else it delivers less
    assert (achieved_pct >= stage - 100 * BURST_S / INTERVAL_S - 1e-9).all()

    # other traffic is untouched
    pd.testing.assert_frame_equal(
        baseline[baseline["traffic"] == "other"].reset_index(drop=True),
        enforced[enforced["traffic"] == "other"].reset_index(drop=True))


def test_baseline_table_shape_and_validity(baseline):
    assert len(baseline) == 1440 * 20 * 2 * 2
    pd.testing.assert_frame_equal(baseline, validate_measurements(baseline))
    assert set(baseline["source"]) == {"sim-fluid"}
    down = baseline[(baseline["direction"] == "down") & (baseline["traffic"] == "platform")]
    hourly = down.groupby(down["time"].dt.hour)["kbps"].mean()
    assert hourly.idxmax() in (20, 21, 22) and hourly.idxmin() in (3, 4, 5, 6)


def test_same_seed_same_table_other_seed_differs(baseline):
    again = simulate_day(region_codes(), PROFILE, None, SEED, DAY)
    pd.testing.assert_frame_equal(baseline, again)
    other = simulate_day(region_codes(), PROFILE, None, SEED + 1, DAY)
    assert not np.allclose(baseline["kbps"], other["kbps"])


def test_rate_scale_scales_every_rate():
    regions = ["KZ-75", "KZ-62"]
    full = simulate_day(regions, PROFILE, None, 3, DAY)
    half = simulate_day(regions, PROFILE, None, 3, DAY, rate_scale=0.5)
    np.testing.assert_allclose(half["kbps"], 0.5 * full["kbps"], rtol=1e-9, atol=1e-6)


def test_outcome_tables_are_gathered_column_by_column_as_concatenated():
    """Three regions' outcome tables gathered into one: the same table as pandas' concat, with the
    compact column types (categories, float32 for the columns impact does not read) kept."""
    from throttlebed.memory import release_free_memory
    from throttlebed.sim.fluid import concat_outcomes

    run = simulate_run(["KZ-10", "KZ-11", "KZ-75"], PROFILE, None, SEED, DAY)
    parts = [t for _, t in run.sessions.groupby("region", observed=True, sort=False)]
    expected = pd.concat(parts, ignore_index=True)
    gathered = concat_outcomes(parts)
    assert parts == []  # emptied as it goes
    pd.testing.assert_frame_equal(gathered, expected)
    assert gathered["region"].dtype == "category" and gathered["status"].dtype == "category"
    assert gathered["given_up_s"].dtype == np.float32 and gathered["session"].dtype == np.int64
    assert gathered["session"].is_unique and len(gathered) == len(run.sessions)
    assert release_free_memory()  # glibc on this machine: freed heap goes back
