"""The fluid meters: exact volumes of hand-made sessions under a token bucket."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from throttlebed.directive.schema import Directive, directive_from_data
from throttlebed.errors import InputError
from throttlebed.measurements import validate_measurements
from throttlebed.sim.fluid import (
    UP_FRACTION,
    caps_per_minute,
    fluid_measurements,
    run_fluid,
)
from throttlebed.sim.load import SESSION_COLUMNS, LoadProfile, generate_sessions
from throttlebed.sim.stepping import fair_shares

DAY = date(2026, 3, 2)


def sessions(*rows: tuple) -> pd.DataFrame:
    """Rows of (start_s, region, size_kbit, access_kbps, transport, traffic)."""
    return pd.DataFrame(rows, columns=list(SESSION_COLUMNS))


def directive(rows: list[tuple[str, str, int]], peak: float = 1e9) -> Directive:
    return directive_from_data({
        "platform": "P", "stage": 50,
        "rows": [{"region": r, "period": p, "peak_kbps": peak, "cap_kbps": c} for r, p, c in rows],
    })


def series(df: pd.DataFrame, region="KZ-75", direction="down", traffic="platform") -> np.ndarray:
    sel = (df["region"] == region) & (df["direction"] == direction) & (df["traffic"] == traffic)
    return df.loc[sel, "kbps"].to_numpy()


def run(s: pd.DataFrame, d: Directive | None, end_s: float = 600.0, **kw) -> pd.DataFrame:
    return fluid_measurements(s, ["KZ-75", "KZ-71"], d, DAY, start_s=0.0, end_s=end_s, **kw)


def test_uncapped_flow_volumes_are_exact():
    s = sessions((30.5, "KZ-75", 100_000.0, 1000.0, "tcp", "platform"))
    down = series(run(s, None))
    assert down[:4] == pytest.approx([29.5 * 1000 / 60, 1000.0, 10.5 * 1000 / 60, 0.0])
    assert down.sum() * 60 == pytest.approx(100_000.0)


def test_capped_tcp_flow_is_slowed_not_cut():
    s = sessions((30.5, "KZ-75", 100_000.0, 1000.0, "tcp", "platform"))
    down = series(run(s, directive([("KZ-75", "00:00-24:00", 500)]), burst_s=0.0))
    # 500 kbit per 1 s step from the step holding 30.5 s: 15000 kbit in the first minute,
    # 30000 in each full one, the last 25000 in the fourth
    assert down[:5] == pytest.approx([15000 / 60, 500.0, 500.0, 25000 / 60, 0.0])
    assert down.sum() * 60 == pytest.approx(100_000.0)


def test_udp_is_policed_and_keeps_its_duration():
    s = sessions((0.0, "KZ-75", 120_000.0, 1000.0, "udp", "platform"))
    down = series(run(s, directive([("KZ-75", "00:00-24:00", 400)]), burst_s=0.0))
    assert down[:3] == pytest.approx([400.0, 400.0, 0.0])


def test_bucket_burst_passes_at_most_burst_s_of_cap_above_the_rate():
    s = sessions((0.0, "KZ-75", 1e7, 10_000.0, "tcp", "platform"))
    down = series(run(s, directive([("KZ-75", "00:00-24:00", 1000)]), burst_s=5.0))
    assert down[0] == pytest.approx(1000 * (1 + 5 / 60))  # a full bucket at the start
    assert down[1:5] == pytest.approx([1000.0] * 4)


def test_max_min_fair_sharing_between_flows():
    assert fair_shares(np.array([100.0, 1000.0, 1000.0]), 700.0) == pytest.approx([100.0, 300.0, 300.0])
    assert fair_shares(np.array([50.0, 50.0]), 60.0) == pytest.approx([30.0, 30.0])


def test_slow_flow_keeps_its_rate_fast_flow_takes_the_rest():
    s = sessions((0.0, "KZ-75", 12_000.0, 100.0, "tcp", "platform"),  # 120 s at 100 kbit/s
                 (0.0, "KZ-75", 30_000.0, 10_000.0, "tcp", "platform"))
    down = series(run(s, directive([("KZ-75", "00:00-24:00", 600)]), burst_s=0.0))
    # max-min: 100 + 500 until the fast flow is done at 60 s, then the slow one alone
    assert down[:3] == pytest.approx([600.0, 100.0, 0.0])


def test_slowed_tcp_is_abandoned_after_patience():
    s = sessions((0.0, "KZ-75", 1e6, 10_000.0, "tcp", "platform"))  # 100 s unconstrained
    down = series(run(s, directive([("KZ-75", "00:00-24:00", 100)]), end_s=1200.0, burst_s=0.0,
                      patience_s=200.0))
    assert down[:5] == pytest.approx([100.0] * 5)  # abandoned at 300 s
    assert down[5:] == pytest.approx([0.0] * 15)


def test_cap_follows_the_period_in_force_and_other_traffic_is_untouched():
    s = sessions((0.0, "KZ-75", 1e8, 10_000.0, "tcp", "platform"),
                 (0.0, "KZ-75", 1e8, 10_000.0, "tcp", "other"),
                 (0.0, "KZ-71", 1e8, 10_000.0, "tcp", "platform"))
    d = directive([("KZ-75", "00:00-00:02", 1000), ("KZ-75", "00:02-00:04", 3000)])
    df = run(s, d, burst_s=0.0)
    assert series(df)[:6] == pytest.approx([1000, 1000, 3000, 3000, 10_000, 10_000])
    assert series(df, traffic="other")[:6] == pytest.approx([10_000] * 6)
    assert series(df, region="KZ-71")[:6] == pytest.approx([10_000] * 6)  # not in the directive
    assert series(df, direction="up")[:6] == pytest.approx(UP_FRACTION * np.array([1000, 1000, 3000, 3000,
                                                                                     10_000, 10_000]))


def test_stepped_and_closed_form_agree_when_nothing_binds():
    profile = LoadProfile(users_scale=0.002)
    s = generate_sessions(["KZ-75", "KZ-71"], profile, np.random.default_rng(9), 0.0, 7200.0)
    never = directive([("KZ-75", "00:00-24:00", 10**8), ("KZ-71", "00:00-24:00", 10**8)], peak=1e8)
    base = run(s, None, end_s=7200.0)
    loose = run(s, never, end_s=7200.0)
    assert base["kbps"].sum() > 0
    np.testing.assert_allclose(loose["kbps"], base["kbps"], rtol=1e-9, atol=1e-6)


def test_caps_per_minute_matches_cap_at():
    d = directive([("KZ-75", "22:00-02:00", 700), ("KZ-75", "07:00-18:00", 500), ("KZ-71", "00:00-24:00", 9)])
    caps = caps_per_minute(d, ["KZ-75", "KZ-71", "KZ-79"])
    for i, region in enumerate(["KZ-75", "KZ-71", "KZ-79"]):
        want = [d.cap_at(region, m) for m in range(1440)]
        assert [None if np.isinf(c) else int(c) for c in caps[i]] == want


def test_table_is_a_valid_measurement_table():
    s = sessions((10.0, "KZ-75", 50_000.0, 1000.0, "tcp", "platform"))
    res = run_fluid(s, ["KZ-75", "KZ-71"], directive([("KZ-75", "00:00-24:00", 500)]), DAY,
                    end_s=300.0, sampling_interval_s=30.0)
    df = res.measurements
    pd.testing.assert_frame_equal(df, validate_measurements(df))
    assert len(df) == 10 * 2 * 4 and set(df["source"]) == {"sim-fluid"}
    assert df["time"].iloc[0] == datetime(2026, 3, 2, 0, 0)
    assert df["time"].iloc[-1] == datetime(2026, 3, 2, 0, 4, 30)
    assert res.offered_kbps.shape == (2, 10) and res.saturated[0, 1] and not res.saturated[1].any()


def test_bad_grid_is_an_input_error():
    s = sessions((10.0, "KZ-75", 50_000.0, 1000.0, "tcp", "platform"))
    with pytest.raises(InputError, match="whole number of steps"):
        run(s, None, sampling_interval_s=2.5, step_s=1.0)
    with pytest.raises(InputError, match="sampling intervals"):
        run(s, None, end_s=90.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=40), st.floats(0, 2e4))
def test_fair_shares_properties(flows, budget):
    demand = np.array(flows)
    if demand.sum() <= budget:
        return
    shares = fair_shares(demand, budget)
    assert (shares >= -1e-9).all() and (shares <= demand + 1e-9).all()
    assert shares.sum() == pytest.approx(budget, rel=1e-9, abs=1e-6)
    held = shares < demand - 1e-6  # a flow held below its demand gets the largest share
    if held.any():
        assert shares[held].min() >= shares.max() - 1e-6
