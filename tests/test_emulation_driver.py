"""The real-time driver on a compressed day: 3 regions, 24 h in 36 s of real time.

Baseline: the receivers' hourly platform throughput follows the load model (the fluid model
of the same sessions, no meters). Enforced: caps derived at stage 50 from the baseline's
receiver-side peaks; the receivers' throughput stays at or under each cap and sits near it
when demand is above it; other traffic is unchanged.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from emulation_helpers import assert_run_left_nothing

from throttlebed.directive.caps import derive_directive
from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.statistics import compute_peaks
from throttlebed.emulation.backend import run_emulation
from throttlebed.sim.fluid import run_fluid
from throttlebed.sim.load import LoadProfile, generate_sessions
from throttlebed.topology.graph import TopologyOptions, build_graph

pytestmark = pytest.mark.emulation

REGIONS = ["KZ-10", "KZ-71", "KZ-75"]
DAY = date(2026, 3, 2)
PERIODS = "00:00-07:00,07:00-18:00,18:00-24:00"
RUN = {"day": DAY, "start_s": 0.0, "end_s": 86400.0, "time_scale": 2400.0, "rate_scale": 1.0,
       "hosts_per_region": 2, "sampling_interval_s": 3600.0, "burst_s": 1.0, "quiet": True}


def _platform_down(df: pd.DataFrame, source: str) -> pd.DataFrame:
    return df[(df["source"] == source) & (df["traffic"] == "platform") & (df["direction"] == "down")]


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    profile = LoadProfile(users_scale=0.003, size_sigma=0.8, size_median_kbit=8000)
    return generate_sessions(REGIONS, profile, np.random.default_rng(7), 0.0, 86400.0)


@pytest.fixture(scope="module")
def baseline(ovs, sessions, tmp_path_factory) -> pd.DataFrame:
    work = tmp_path_factory.mktemp("baseline")
    df = run_emulation(REGIONS, sessions, None, work_dir=work, **RUN)
    assert_run_left_nothing(work, build_graph(REGIONS, TopologyOptions(hosts_per_region=2)))
    return df


def test_baseline_follows_the_models_diurnal_shape(baseline, sessions) -> None:
    model = run_fluid(sessions, REGIONS, None, DAY, sampling_interval_s=3600).measurements
    m = _platform_down(model, "sim-fluid").groupby("time")["kbps"].sum()
    r = _platform_down(baseline, "receiver").groupby("time")["kbps"].sum()
    c = _platform_down(baseline, "ovs-flow-counters").groupby("time")["kbps"].sum()
    assert len(r) == 24 and (r.index == m.index).all()
    corr, volume = float(np.corrcoef(m, r)[0, 1]), float(r.sum() / m.sum())
    print(f"receiver vs model: correlation {corr:.3f}, volume ratio {volume:.3f}; "
          f"flow counters vs model: correlation {np.corrcoef(m, c.reindex(m.index, fill_value=0))[0, 1]:.3f}")
    assert corr > 0.9
    assert 0.9 < volume < 1.1
    # the evening is busier than the night, as in the model
    assert r.between_time("20:00", "22:00").mean() > 2.5 * r.between_time("03:00", "05:00").mean()


def test_enforced_day_is_held_at_the_caps(baseline, sessions, tmp_path: Path) -> None:
    periods = PeriodSet.parse(PERIODS)
    peaks = compute_peaks(_platform_down(baseline, "receiver"), periods, "max", "down")
    directive = derive_directive(peaks, 50, platform="ExampleTube", platform_prefixes=["203.0.113.0/24"])
    enforced = run_emulation(REGIONS, sessions, directive, work_dir=tmp_path, **RUN)
    assert_run_left_nothing(tmp_path, build_graph(REGIONS, TopologyOptions(hosts_per_region=2)))
    r = _platform_down(enforced, "receiver")
    # A meter lets through cap x T + burst in any window T. At this compression one sampling
    # interval is 1.5 s of real time and the burst 1 s of the cap. A receiver that is late to read
    # its socket moves bytes from one interval into the next, so the window checked is two
    # adjacent intervals (up to 1/3 more than the cap); the mean over a whole period may carry
    # burst / (period length).
    bin_real_s = RUN["sampling_interval_s"] / RUN["time_scale"]
    worst, worst_two, near = 0.0, 0.0, []
    for row in directive.rows:
        p = row.period_obj
        in_cell = (r["region"] == row.region) & r["time"].map(
            lambda t, p=p: p.contains_minute(t.hour * 60 + t.minute))
        cell = r[in_cell].sort_values("time")
        x = cell["kbps"] / row.cap_kbps
        two_bins = x.rolling(2).mean().dropna()
        bucket_two_bins = RUN["burst_s"] / (2 * bin_real_s)
        bucket_cell = RUN["burst_s"] / (len(cell) * bin_real_s)
        assert two_bins.max() <= 1.05 * (1 + bucket_two_bins), (row.region, row.period, x.round(3).tolist())
        assert x.mean() <= 1.05 * (1 + bucket_cell), (row.region, row.period, x.round(3).tolist())
        worst, worst_two = max(worst, float(x.max())), max(worst_two, float(two_bins.max()))
        near.append(float(x.mean()))
    print(f"enforced: worst interval {worst:.3f}, worst two intervals {worst_two:.3f} of the cap; "
          f"mean per cell {[round(v, 2) for v in near]}")
    # in the evening the demand is about twice the cap: the cap is what holds it
    evening = [x for row, x in zip(directive.rows, near, strict=True) if row.period == "18:00-24:00"]
    assert min(evening) > 0.7
    # other traffic is not touched: the same volume per region as in the baseline
    other = {n: d[(d["source"] == "receiver") & (d["traffic"] == "other")].groupby("region")["kbps"].mean()
             for n, d in (("base", baseline), ("enf", enforced))}
    assert np.allclose(other["enf"], other["base"], rtol=0.05), other
