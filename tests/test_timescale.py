"""One time-scale model: model, emulated and real seconds; the burst allowance; the clock."""

import math
from datetime import datetime

import numpy as np
import pytest

from throttlebed.controller.launcher import LaunchOptions, build_state
from throttlebed.emulation.driver import ReplayConfig
from throttlebed.errors import InputError
from throttlebed.experiments.scenario import Scenario
from throttlebed.timescale import MAX_TIME_SCALE, EmulatedClock, TimeScale, check_time_scale
from throttlebed.validation import model_from_data


def test_conversions_round_trip():
    ts = TimeScale(80.0)
    assert ts.real_s(3600.0) == 45.0
    assert ts.model_s(45.0) == 3600.0
    assert TimeScale().real_s(60.0) == 60.0


def test_an_epoch_aligns_model_and_real_seconds():
    ts = TimeScale(100.0)
    # the window starts at model 06:00 (21600 s): 06:10 falls 6 real s after the epoch, and back
    assert ts.real_after(21600.0, 22200.0) == 6.0
    assert ts.model_at(21600.0, 6.0) == 22200.0
    assert ts.model_at(21600.0, -1.0) == 21500.0  # a lead before the epoch
    at = np.array([0.0, 0.5, 2.0])
    assert ts.model_at(100.0, at).tolist() == [100.0, 150.0, 300.0]  # element-wise on arrays
    assert ts.real_after(100.0, ts.model_at(100.0, at)).tolist() == at.tolist()


def test_every_time_scale_is_checked_by_one_function():
    with pytest.raises(InputError, match=r"^time_scale: time scale must be a number in \(0, 10000\]"):
        ReplayConfig(start_s=0, end_s=10, time_scale=20_000, rate_scale=1, sampling_interval_s=1)
    with pytest.raises(InputError, match=r"^s\.yaml: backend\.time_scale: time scale must be a number"):
        model_from_data(Scenario, {"name": "x", "regions": ["KZ-75"], "backend": {"time_scale": 0}},
                        "s.yaml", "not a mapping")
    opts = LaunchOptions(time_scale=MAX_TIME_SCALE * 2)
    with pytest.raises(InputError, match=r"^--time-scale: time scale must be a number"):
        build_state(opts)


def test_burst_allowance_is_one_bucket_over_one_interval():
    # 1 s of bucket against a 60 s model interval compressed 80x (0.75 s real): 4/3 of the cap
    assert TimeScale(80.0).burst_allowance(1.0, 60.0) == pytest.approx(1.0 / 0.75)
    assert TimeScale(1.0).burst_allowance(1.0, 60.0) == pytest.approx(1 / 60)


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, MAX_TIME_SCALE * 2, "80", True])
def test_unusable_time_scales_are_input_errors(bad):
    with pytest.raises(InputError, match="time scale"):
        check_time_scale(bad)
    with pytest.raises(InputError):
        TimeScale(bad)


def test_clock_local_and_monotonic_agree():
    clock = EmulatedClock(datetime(2026, 3, 2, 18, 0), t0_s=100.0, time_scale=60.0)
    assert clock.local_at(101.0) == datetime(2026, 3, 2, 18, 1)
    assert clock.mono_at(datetime(2026, 3, 2, 19, 0)) == pytest.approx(160.0)
    assert clock.real_s(3600.0) == 60.0
    with pytest.raises(InputError, match="--time-scale"):
        EmulatedClock(datetime(2026, 3, 2), 0.0, time_scale=math.inf)
