"""The synthetic load: session table, diurnal arrivals, sizes, shares, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from throttlebed.directive.regions import get_region, region_codes
from throttlebed.errors import InputError
from throttlebed.sim.diurnal import DEFAULT_HOURLY_WEIGHTS, daily_mean_weight, intensity_shape
from throttlebed.sim.load import (
    SESSION_COLUMNS,
    LoadProfile,
    expected_sessions_per_day,
    generate_sessions,
    load_profile_from_data,
    region_users,
)

SMALL = LoadProfile(users_scale=0.01)


def _gen(regions=("KZ-75", "KZ-71"), profile=SMALL, seed=1, **kw) -> pd.DataFrame:
    return generate_sessions(list(regions), profile, np.random.default_rng(seed), **kw)


def test_table_columns_types_and_order():
    df = _gen()
    assert tuple(df.columns) == SESSION_COLUMNS
    assert df["start_s"].is_monotonic_increasing
    assert df["start_s"].between(0, 86400, inclusive="left").all()
    assert set(df["region"]) == {"KZ-75", "KZ-71"}
    assert set(df["transport"]) == {"tcp", "udp"}
    assert set(df["traffic"]) == {"platform", "other"}
    assert (df["size_kbit"] > 0).all() and (df["size_kbit"] <= SMALL.size_max_kbit).all()
    udp = df["transport"] == "udp"
    assert set(df.loc[~udp, "access_kbps"]) == set(SMALL.access_kbps)
    assert (df.loc[udp, "access_kbps"] <= SMALL.udp_rate_kbps).all()


def test_counts_shares_and_sizes_follow_the_profile():
    df = _gen(seed=3)
    expected = expected_sessions_per_day(["KZ-75", "KZ-71"], SMALL)
    users = region_users(["KZ-75"], SMALL)["KZ-75"]
    assert users == pytest.approx(get_region("KZ-75").population * 0.6 * 0.01)
    assert abs(len(df) - expected) < 5 * np.sqrt(expected)  # Poisson count
    assert (df["traffic"] == "other").mean() == pytest.approx(SMALL.other_share, abs=0.01)
    assert (df["transport"] == "udp").mean() == pytest.approx(SMALL.udp_share, abs=0.01)
    assert df["size_kbit"].median() == pytest.approx(SMALL.size_median_kbit, rel=0.03)
    log_sd = np.log(df.loc[df["size_kbit"] < SMALL.size_max_kbit, "size_kbit"]).std()
    assert log_sd == pytest.approx(SMALL.size_sigma, rel=0.03)
    tcp = df[df["transport"] == "tcp"]
    shares = tcp["access_kbps"].value_counts(normalize=True).sort_index()
    assert np.allclose(shares.to_numpy(), SMALL.access_shares, atol=0.01)


def test_arrivals_follow_the_diurnal_profile():
    df = _gen(regions=region_codes(), seed=5)
    per_hour = np.bincount((df["start_s"] // 3600).astype(int), minlength=24)
    mids = (np.arange(24) + 0.5) * 3600
    shape = np.array([intensity_shape(np.linspace(m - 1800, m + 1800, 61), DEFAULT_HOURLY_WEIGHTS).mean()
                      for m in mids])
    expected = len(df) * shape / shape.sum()
    assert np.all(np.abs(per_hour - expected) < 5 * np.sqrt(expected))
    assert per_hour.argmax() in (20, 21, 22) and per_hour.argmin() in (3, 4, 5)
    assert per_hour.max() > 4 * per_hour.min()


def test_diurnal_shape_is_cyclic_and_keeps_the_mean():
    w = DEFAULT_HOURLY_WEIGHTS
    assert intensity_shape(np.array([0.0]), w)[0] == pytest.approx(intensity_shape(np.array([86400.0]), w)[0])
    assert intensity_shape(np.array([21.5 * 3600]), w)[0] == pytest.approx(1.0)
    t = np.linspace(0, 86400, 864001)
    assert intensity_shape(t, w).mean() == pytest.approx(daily_mean_weight(w), rel=1e-4)


def test_national_default_day_has_a_million_sessions():
    regions = region_codes()
    assert len(regions) == 20
    assert expected_sessions_per_day(regions, LoadProfile()) > 1_500_000
    df = generate_sessions(regions, LoadProfile(), np.random.default_rng(0))
    assert len(df) >= 1_000_000
    assert df["region"].nunique() == 20


def test_same_seed_same_table_other_seed_differs():
    a, b, c = _gen(seed=11), _gen(seed=11), _gen(seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a["start_s"], c["start_s"])


def test_a_region_does_not_depend_on_its_companions():
    alone = _gen(regions=["KZ-75"], seed=2)
    together = _gen(regions=["KZ-11", "KZ-75", "KZ-79"], seed=2)
    pd.testing.assert_frame_equal(alone, together[together["region"] == "KZ-75"].reset_index(drop=True))


def test_a_window_holds_the_days_sessions_that_start_in_it():
    day = _gen(seed=4)
    window = _gen(seed=4, start_s=5400.5, end_s=9000.0)
    assert len(window) > 0 and window["start_s"].between(5400.5, 9000, inclusive="left").all()
    inside = day[(day["start_s"] >= 5400.5) & (day["start_s"] < 9000)].reset_index(drop=True)
    pd.testing.assert_frame_equal(window, inside)


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError, match="KZ-00"):
        _gen(regions=["KZ-00"])
    with pytest.raises(InputError):
        _gen(regions=[])
    with pytest.raises(InputError, match="peak_rate"):
        load_profile_from_data({"peak_rate": 3}, source="scenario.yaml")
    with pytest.raises(InputError, match="hourly_weights"):
        load_profile_from_data({"hourly_weights": [1.0] * 23})
    with pytest.raises(InputError, match="access_shares"):
        load_profile_from_data({"access_kbps": [1000.0], "access_shares": [0.5, 0.5]})
    assert load_profile_from_data({"users_scale": 0.5}).users_scale == 0.5
