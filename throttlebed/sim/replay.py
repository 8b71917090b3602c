"""Trace-driven load: sessions fitted so that the uncapped baseline reproduces given statistics.

The statistics (Rules item 8: ``time, region, kbps``, platform downstream, one sample per sampling
interval) say how much the platform carried in each (region, interval). Replaying them:

1. per (region, interval ``i``) the target volume is ``V_i = kbps_i x interval_s``; the session
   arrival rate is ``lambda_i = V_i / (E[size] x interval_s)`` with the load profile's size
   distribution, and ``max(1, Poisson(lambda_i x interval_s))`` sessions arrive uniformly in the
   interval (none where ``V_i`` is 0), each with a size, access tier and transport drawn as in
   :mod:`throttlebed.sim.load`;
2. the sizes of the sessions starting in an interval are scaled so that they sum to ``V_i``;
3. a session that runs past the end of its interval moves volume into the next, so the fit runs
   the uncapped fluid model (:func:`throttlebed.sim.fluid.run_fluid` without a directive) and
   rescales each interval's sizes by ``target / produced`` (``FIT_ROUNDS`` rounds);
4. other (non-platform) traffic, which the statistics do not hold, is drawn the same way at
   ``other_share / (1 - other_share)`` of the platform's volume (for the collateral check).

Pure and seeded: the same statistics, profile and seed give the same sessions. The replay error
(:func:`replay_error`) is the per-interval relative error of a baseline against the statistics
over intervals above ``MIN_PEAK_SHARE`` of the region's peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

from throttlebed.errors import InputError
from throttlebed.sim.fluid import run_fluid
from throttlebed.sim.load import MAX_SESSIONS_PER_DAY, LoadProfile

SECONDS_PER_DAY = 86400.0
FIT_ROUNDS = 10
FIT_DAMPING = 0.7  # each round corrects this power of target / produced (a full step oscillates)
MAX_SPAN_INTERVALS = 0.5  # drawn sizes last at most half an interval at the access rate (less spill)
MIN_PEAK_SHARE = 0.05
_FIT_CLIP = (0.5, 2.0)


@dataclass(frozen=True)
class ReplayDemand:
    """Per region, the target kbit/s of each sampling interval of one local day (NaN: no sample)."""

    day: date
    regions: list[str]
    interval_s: float
    target_kbps: np.ndarray  # [regions, intervals of the day]


def demand_days(stats: pd.DataFrame) -> list[date]:
    """The local days the statistics cover, in order."""
    return sorted({t.date() for t in pd.to_datetime(stats["time"]).dt.normalize().unique()})


def demand_of_day(stats: pd.DataFrame, day: date, regions: list[str], interval_s: float) -> ReplayDemand:
    """The targets of one day from a validated platform-downstream statistics table."""
    if not interval_s > 0 or SECONDS_PER_DAY % interval_s:
        raise InputError(f"the sampling interval {interval_s:g} s does not divide the day", where="time")
    n = int(SECONDS_PER_DAY // interval_s)
    t = pd.to_datetime(stats["time"])
    day0 = pd.Timestamp(day)
    sec = (t - day0).dt.total_seconds().to_numpy()
    on_day = (sec >= 0) & (sec < SECONDS_PER_DAY)
    target = np.full((len(regions), n), np.nan)
    idx = {r: i for i, r in enumerate(regions)}
    rows = stats.loc[on_day]
    ri = rows["region"].map(idx).to_numpy()
    ii = (sec[on_day] // interval_s).astype(np.int64)
    ok = ~pd.isna(ri)
    target[ri[ok].astype(np.int64), ii[ok]] = rows["kbps"].to_numpy(float)[ok]
    return ReplayDemand(day, list(regions), float(interval_s), target)


def _size_mean_kbit(profile: LoadProfile) -> float:
    """Mean session size of the profile (lognormal truncated at ``size_max_kbit``), by quadrature."""
    q = (np.arange(4000) + 0.5) / 4000
    sizes = np.exp(np.log(profile.size_median_kbit) + profile.size_sigma * norm.ppf(q))
    return float(np.minimum(sizes, profile.size_max_kbit).mean())


def _longest_kbit(profile: LoadProfile, interval_s: float) -> float:
    """The largest session the slowest user completes within ``MAX_SPAN_INTERVALS`` of an interval."""
    slowest_kbps = min(min(profile.access_kbps),
                       profile.udp_rate_kbps if profile.udp_share > 0 else float("inf"))
    return slowest_kbps * interval_s * MAX_SPAN_INTERVALS


def _draw(rng: np.random.Generator, volume_kbit: np.ndarray, interval_s: float, profile: LoadProfile,
          mean_kbit: float) -> dict[str, np.ndarray]:
    """Sessions of one region, interval by interval, with sizes summing to each interval's volume.

    Every session lasts at most ``MAX_SPAN_INTERVALS`` of an interval at its rate, so an interval
    has at least as many sessions as that takes.
    """
    least = np.ceil(volume_kbit / _longest_kbit(profile, interval_s))
    drawn = rng.poisson(volume_kbit / mean_kbit)
    counts = np.where(volume_kbit > 0, np.maximum(least, drawn), 0).astype(np.int64)
    interval = np.repeat(np.arange(len(volume_kbit)), counts)
    m = len(interval)
    start = (interval + rng.uniform(size=m)) * interval_s
    size = np.minimum(rng.lognormal(np.log(profile.size_median_kbit), profile.size_sigma, m),
                      profile.size_max_kbit)
    shares = np.asarray(profile.access_shares, dtype=float)
    tier = rng.choice(len(shares), size=m, p=shares / shares.sum())
    access = np.asarray(profile.access_kbps, dtype=float)[tier]
    udp = rng.uniform(size=m) < profile.udp_share
    access = np.where(udp, np.minimum(access, profile.udp_rate_kbps), access)
    longest = access * interval_s * MAX_SPAN_INTERVALS
    for _ in range(8):  # scale each interval's sizes to its volume, clipped to the longest span
        sums = np.bincount(interval, weights=size, minlength=len(volume_kbit))
        size = np.minimum(size * (volume_kbit[interval] / sums[interval]), longest)
    return {"start_s": start, "size_kbit": size, "access_kbps": access, "udp": udp, "interval": interval}


def _table(parts: list[tuple[str, str, dict[str, np.ndarray]]]) -> pd.DataFrame:
    frames = [pd.DataFrame({"start_s": p["start_s"], "region": region, "size_kbit": p["size_kbit"],
                            "access_kbps": p["access_kbps"], "transport": np.where(p["udp"], "udp", "tcp"),
                            "traffic": traffic, "_interval": p["interval"]})
              for region, traffic, p in parts]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("start_s", kind="stable").reset_index(drop=True)


def platform_down_kbps(measurements: pd.DataFrame, day: date, regions: list[str], n: int) -> np.ndarray:
    """``[regions, n intervals]`` platform downstream kbit/s of one day of a measurement table (0 where
    there is no sample)."""
    m = measurements
    if "traffic" in m.columns:
        m = m[m["traffic"] == "platform"]
    if "direction" in m.columns:
        m = m[m["direction"] == "down"]
    sec = (pd.to_datetime(m["time"]) - pd.Timestamp(day)).dt.total_seconds()
    on_day = ((sec >= 0) & (sec < SECONDS_PER_DAY) & m["region"].isin(regions)).to_numpy()
    m, sec = m[on_day], sec[on_day]
    out = np.zeros((len(regions), n))
    idx = {r: i for i, r in enumerate(regions)}
    interval_s = SECONDS_PER_DAY / n
    cell = (sec.to_numpy() // interval_s).astype(int)
    out[m["region"].map(idx).to_numpy(int), cell] = m["kbps"].to_numpy(float)
    return out


def _check_replayable(demand: ReplayDemand, volume_kbit: np.ndarray, sessions_per_kbit: float) -> None:
    """Refuse a day whose statistics would take more sessions than one run holds."""
    expected = float(volume_kbit.sum()) * sessions_per_kbit
    if expected > MAX_SESSIONS_PER_DAY:
        region, interval = np.unravel_index(int(np.argmax(volume_kbit)), volume_kbit.shape)
        raise InputError(
            f"replaying {demand.day.isoformat()} would take ~{expected:.3g} sessions, more than the "
            f"{MAX_SESSIONS_PER_DAY:.3g} one run holds (the largest sample: "
            f"{demand.target_kbps[region, interval]:.6g} kbit/s in {demand.regions[region]})", where="kbps")


def fit_sessions(demand: ReplayDemand, profile: LoadProfile, seed: int,
                 rounds: int = FIT_ROUNDS) -> pd.DataFrame:
    """The sessions of the day whose uncapped fluid baseline reproduces ``demand`` (columns of
    :func:`throttlebed.sim.load.generate_sessions`)."""
    rng = np.random.default_rng([seed, demand.day.toordinal()])
    mean_kbit = _size_mean_kbit(profile)
    other_ratio = profile.other_share / (1.0 - profile.other_share)
    volume = np.nan_to_num(demand.target_kbps) * demand.interval_s
    per_kbit = max(1.0 / mean_kbit, 1.0 / _longest_kbit(profile, demand.interval_s))
    _check_replayable(demand, volume, (1.0 + other_ratio) * per_kbit)
    parts = []
    for i, region in enumerate(demand.regions):
        parts.append((region, "platform", _draw(rng, volume[i], demand.interval_s, profile, mean_kbit)))
        if other_ratio > 0:
            parts.append((region, "other", _draw(rng, volume[i] * other_ratio, demand.interval_s, profile,
                                                 mean_kbit)))
    sessions = _table(parts)
    n = volume.shape[1]
    platform = (sessions["traffic"] == "platform").to_numpy()
    reg = sessions["region"].map({r: i for i, r in enumerate(demand.regions)}).to_numpy(int)
    cell = sessions["_interval"].to_numpy(int)
    target = np.nan_to_num(demand.target_kbps)
    longest = np.maximum(sessions["access_kbps"].to_numpy() * demand.interval_s * MAX_SPAN_INTERVALS,
                         sessions["size_kbit"].to_numpy())
    for _ in range(rounds):
        run = run_fluid(sessions[platform], demand.regions, None, demand.day, 0.0, SECONDS_PER_DAY,
                        sampling_interval_s=demand.interval_s, patience_s=profile.patience_s)
        produced = platform_down_kbps(run.measurements, demand.day, demand.regions, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(produced > 0, target / produced, 1.0)
        factor = np.clip(factor, *_FIT_CLIP) ** FIT_DAMPING
        scale = np.where(platform, factor[reg, cell], 1.0)
        sessions["size_kbit"] = np.minimum(sessions["size_kbit"].to_numpy() * scale, longest)
    return sessions.drop(columns="_interval")


def replay_error(baseline_kbps: np.ndarray, target_kbps: np.ndarray,
                 min_peak_share: float = MIN_PEAK_SHARE) -> np.ndarray:
    """Per-interval relative errors ``|baseline - target| / target`` over intervals above
    ``min_peak_share`` of their region's peak (rows are regions; NaN targets are left out)."""
    target = np.asarray(target_kbps, float)
    base = np.asarray(baseline_kbps, float)
    peak = np.nanmax(np.where(np.isnan(target), -np.inf, target), axis=1, keepdims=True)
    judged = ~np.isnan(target) & (target > min_peak_share * peak) & (target > 0)
    return np.abs(base[judged] - target[judged]) / target[judged]
