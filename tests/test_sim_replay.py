"""Trace-driven load: the fitted sessions reproduce the statistics; which days a backend replays."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from replay_util import diurnal_stats

from throttlebed.directive.periods import PeriodSet
from throttlebed.errors import InputError
from throttlebed.experiments.demand import demand_from_table, peak_day, replay_days
from throttlebed.measurements import validate_measurements
from throttlebed.sim.fluid import run_fluid
from throttlebed.sim.load import LoadProfile
from throttlebed.sim.replay import demand_of_day, fit_sessions, platform_down_kbps, replay_error


@pytest.fixture(scope="module")
def demand():
    return demand_from_table(validate_measurements(diurnal_stats(days=2)), "stats.csv")


def test_uncapped_baseline_of_the_fitted_sessions_reproduces_the_statistics(demand):
    regions = ["KZ-71", "KZ-75"]
    day = demand.days[0]
    target = demand_of_day(demand.stats, day, regions, demand.interval_s)
    sessions = fit_sessions(target, LoadProfile(), seed=3)
    assert set(sessions["traffic"]) == {"platform", "other"}
    assert (sessions["start_s"].diff().dropna() >= 0).all()
    base = run_fluid(sessions, regions, None, day, sampling_interval_s=demand.interval_s).measurements
    got = platform_down_kbps(base, day, regions, 1440)
    err = replay_error(got, target.target_kbps)
    assert err.size == 2 * 1440  # every interval of the diurnal curve is above 5% of the peak
    assert np.median(err) <= 0.03 and np.quantile(err, 0.95) <= 0.10
    # the same seed gives the same sessions; another seed other ones
    again = fit_sessions(target, LoadProfile(), seed=3)
    assert again.equals(sessions)
    assert not fit_sessions(target, LoadProfile(), seed=4)["start_s"].equals(sessions["start_s"])


def test_replay_error_leaves_out_quiet_intervals():
    target = np.array([[100.0, 4.0, 50.0, np.nan]])
    base = np.array([[110.0, 400.0, 50.0, 7.0]])
    assert replay_error(base, target).tolist() == [0.1, 0.0]


def test_days_replayed_per_backend(demand):
    periods = PeriodSet.parse("00:00-07:00,07:00-18:00,18:00-24:00")
    assert replay_days(demand, "sim", None, None, periods) == [date(2026, 3, 2), date(2026, 3, 3)]
    # the second day is 10% busier: it holds every cell's peak
    assert peak_day(demand, None, periods) == date(2026, 3, 3)
    assert replay_days(demand, "mininet", None, None, periods) == [date(2026, 3, 3)]
    assert replay_days(demand, "mininet", date(2026, 3, 2), None, periods) == [date(2026, 3, 2)]
    with pytest.raises(InputError, match="not a day of the statistics"):
        replay_days(demand, "sim", date(2026, 3, 9), None, periods)
