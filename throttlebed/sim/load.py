"""Synthetic load: per-region users, a diurnal demand curve, sessions as a Poisson process.

Per region ``users = population x penetration x users_scale``. Each day those users open
``users x sessions_per_user_per_day`` platform sessions; non-platform ("other") sessions come on
top so that they make up ``other_share`` of all sessions. Arrivals are a non-homogeneous Poisson
process whose intensity follows the diurnal profile (:mod:`throttlebed.sim.diurnal`). One SimPy
process per region walks the day in blocks (``block_s``, an hour by default) and draws each
block's arrivals in bulk by thinning (candidates at the peak intensity, each kept with probability
``intensity/peak``), so a national day of millions of sessions is generated in seconds.

Each session is one transfer from a service to a user:

- ``size_kbit``: lognormal (``size_median_kbit``, ``size_sigma``), truncated at ``size_max_kbit``;
- ``access_kbps``: the user's access-rate limit, one of the ``access_kbps`` tiers drawn with
  ``access_shares`` (users are not tracked individually: each session's user is a random user,
  so the tier is drawn per session). For ``transport == 'udp'`` it is the rate the session sends
  at, ``min(tier, udp_rate_kbps)``;
- ``transport``: ``'udp'`` with probability ``udp_share`` (a fixed-rate stream that does not back
  off: a call, a live stream), else ``'tcp'`` (a bulk transfer that adapts to the capacity);
- ``traffic``: ``'platform'`` or ``'other'`` (a service outside the directive; for collateral).

The table :func:`generate_sessions` returns (also what the emulation backend replays) has the
columns ``start_s`` (float, seconds since local midnight of the simulated day), ``region`` (ISO
code), ``size_kbit`` (float), ``access_kbps`` (float), ``transport`` ('tcp'|'udp'), ``traffic``
('platform'|'other'), sorted by ``start_s``. ``LoadProfile.patience_s`` is how long past its
unconstrained duration a TCP user waits before abandoning a transfer that is being slowed down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import simpy
from pydantic import BaseModel, ConfigDict, Field, model_validator

from throttlebed.directive.regions import get_region
from throttlebed.errors import InputError
from throttlebed.sim.diurnal import (
    DEFAULT_HOURLY_WEIGHTS,
    SECONDS_PER_DAY,
    daily_mean_weight,
    intensity_shape,
)
from throttlebed.validation import model_from_data

SESSION_COLUMNS = ("start_s", "region", "size_kbit", "access_kbps", "transport", "traffic")
MAX_SESSIONS_PER_DAY = 20_000_000  # one run's day, drawn or replayed: national at users_scale 1 is ~17.6 M


class LoadProfile(BaseModel):
    """Parameters of the synthetic load; the defaults give about 1.7 million sessions a national day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    penetration: float = Field(0.6, gt=0, le=1, description="share of the population using the platform")
    users_scale: float = Field(0.1, gt=0, description="simulated users per platform user (a sample)")
    sessions_per_user_per_day: float = Field(1.0, gt=0, description="platform sessions per user per day")
    hourly_weights: list[float] = Field(
        default_factory=lambda: list(DEFAULT_HOURLY_WEIGHTS),
        min_length=24, max_length=24,
        description="relative demand of local hours 0..23 (see throttlebed.sim.diurnal)",
    )
    size_median_kbit: float = Field(16_000.0, gt=0, description="median session size (16000 kbit = 2 MB)")
    size_sigma: float = Field(1.5, ge=0, description="sigma of the lognormal session size")
    size_max_kbit: float = Field(8_000_000.0, gt=0, description="sizes above this are truncated (1 GB)")
    access_kbps: list[float] = Field(
        default_factory=lambda: [5_000.0, 20_000.0, 50_000.0, 100_000.0], min_length=1,
        description="access-rate tiers of users, kbit/s",
    )
    access_shares: list[float] = Field(
        default_factory=lambda: [0.25, 0.35, 0.25, 0.15], min_length=1,
        description="share of users in each access tier",
    )
    udp_share: float = Field(0.1, ge=0, le=1, description="share of sessions that are UDP-like streams")
    udp_rate_kbps: float = Field(2_500.0, gt=0, description="sending rate of a UDP-like stream, kbit/s")
    other_share: float = Field(0.3, ge=0, lt=1, description="share of all sessions going to other services")
    patience_s: float = Field(300.0, gt=0, description="a slowed TCP transfer is abandoned this long "
                                                        "after its unconstrained end")

    @model_validator(mode="after")
    def _consistent(self) -> LoadProfile:
        if any(w < 0 for w in self.hourly_weights) or max(self.hourly_weights) <= 0:
            raise ValueError("hourly_weights must be >= 0 with at least one > 0")
        if len(self.access_shares) != len(self.access_kbps):
            raise ValueError("access_shares must have one share per access_kbps tier")
        if any(s < 0 for s in self.access_shares) or sum(self.access_shares) <= 0:
            raise ValueError("access_shares must be >= 0 and sum to more than 0")
        if any(a <= 0 for a in self.access_kbps):
            raise ValueError("access_kbps tiers must be > 0")
        return self


def load_profile_from_data(data: object, source: str | None = None) -> LoadProfile:
    """Validate plain data (e.g. a scenario's ``load:`` mapping) into a LoadProfile."""
    if data is None:
        return LoadProfile()
    return model_from_data(LoadProfile, data, source, "a load profile must be a mapping")


def region_users(regions: Sequence[str], profile: LoadProfile) -> dict[str, float]:
    """Simulated platform users per region: population x penetration x users_scale."""
    return {r: get_region(r).population * profile.penetration * profile.users_scale for r in regions}


def expected_sessions_per_day(regions: Sequence[str], profile: LoadProfile) -> float:
    """Expected number of sessions (platform and other) in a whole day over ``regions``."""
    users = sum(region_users(regions, profile).values())
    return users * profile.sessions_per_user_per_day / (1.0 - profile.other_share)


def _draw_block(rng: np.random.Generator, t0_s: float, t1_s: float, peak_per_s: float,
                day_rate_per_s: float, profile: LoadProfile) -> dict[str, np.ndarray]:
    """Arrivals in ``[t0_s, t1_s)`` by thinning, with their attributes (vectorised)."""
    n = rng.poisson(peak_per_s * (t1_s - t0_s))
    t = np.sort(rng.uniform(t0_s, t1_s, n))
    keep = rng.uniform(0.0, peak_per_s, n) < day_rate_per_s * intensity_shape(t, profile.hourly_weights)
    t = t[keep]
    m = len(t)
    size = np.minimum(rng.lognormal(np.log(profile.size_median_kbit), profile.size_sigma, m),
                      profile.size_max_kbit)
    shares = np.asarray(profile.access_shares, dtype=float)
    access = np.asarray(profile.access_kbps, dtype=float)[
        rng.choice(len(shares), size=m, p=shares / shares.sum())]
    udp = rng.uniform(size=m) < profile.udp_share
    other = rng.uniform(size=m) < profile.other_share
    access = np.where(udp, np.minimum(access, profile.udp_rate_kbps), access)
    return {"start_s": t, "size_kbit": size, "access_kbps": access, "udp": udp, "other": other}


def region_arrivals(env: simpy.Environment, seed_key: tuple[int, int], sessions_per_day: float,
                    profile: LoadProfile, end_s: float, block_s: float, out: list[dict]):
    """SimPy process of one region: at each block boundary, draw that block's arrivals in bulk.

    Blocks are ``[b x block_s, (b + 1) x block_s)`` of the day, each drawn from its own stream
    (``seed_key`` + ``b``), so a window's sessions are the whole day's sessions in that window.
    """
    w = np.asarray(profile.hourly_weights, dtype=float)
    day_rate_per_s = sessions_per_day / (daily_mean_weight(w) * SECONDS_PER_DAY)  # at shape == 1
    peak_per_s = day_rate_per_s * float(w.max())
    lo = env.now
    while lo < end_s:
        b = int(lo // block_s)
        hi = (b + 1) * block_s
        block = _draw_block(np.random.default_rng([*seed_key, b]), b * block_s, hi, peak_per_s,
                            day_rate_per_s, profile)
        keep = (block["start_s"] >= lo) & (block["start_s"] < end_s)
        out.append({k: v[keep] for k, v in block.items()})
        yield env.timeout(min(hi, end_s) - env.now)
        lo = hi


def _check_window(start_s: float, end_s: float, block_s: float) -> None:
    if not (0 <= start_s < end_s):
        raise InputError(f"need 0 <= start_s < end_s, got start_s={start_s}, end_s={end_s}")
    if not block_s > 0:
        raise InputError(f"block_s must be > 0, got {block_s}")


def check_regions(regions: Sequence[str]) -> list[str]:
    """The regions as a list; none, or one twice, is an input error."""
    regions = list(regions)
    if not regions:
        raise InputError("no regions to simulate")
    if len(set(regions)) != len(regions):
        raise InputError(f"regions repeated: {regions}")
    return regions


def session_entropy(rng: np.random.Generator) -> int:
    """The one draw of ``rng`` every region's streams are seeded from."""
    return int(rng.integers(2**63))


def region_session_arrays(region: str, profile: LoadProfile, entropy: int, start_s: float = 0.0,
                          end_s: float = SECONDS_PER_DAY, block_s: float = 3600.0) -> dict[str, np.ndarray]:
    """One region's sessions in ``[start_s, end_s)`` as arrays, sorted by start.

    Keys ``start_s``, ``size_kbit``, ``access_kbps`` (float) and ``udp``, ``other`` (bool): the
    region's rows of :func:`generate_sessions` for the same ``entropy``
    (:func:`session_entropy`), without building a table (what the sim backend steps through).
    """
    _check_window(start_s, end_s, block_s)
    users = region_users([region], profile)[region]  # validates the code
    per_day = users * profile.sessions_per_user_per_day / (1.0 - profile.other_share)
    env = simpy.Environment(initial_time=start_s)
    blocks: list[dict] = []
    key = (entropy, int(region.removeprefix("KZ-")))
    env.process(region_arrivals(env, key, per_day, profile, end_s, block_s, blocks))
    env.run()
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def generate_sessions(regions: Sequence[str], profile: LoadProfile, rng: np.random.Generator,
                      start_s: float = 0.0, end_s: float = SECONDS_PER_DAY,
                      block_s: float = 3600.0) -> pd.DataFrame:
    """Sessions arriving in ``[start_s, end_s)`` in ``regions``, sorted by ``start_s``.

    Reproducible: the same ``rng`` state gives the same table. Each region and block of the day
    draws from its own stream, seeded from one draw of ``rng``, the region's code and the block's
    index: a region's sessions do not depend on which other regions are simulated with it, and
    the sessions of a window are those of the whole day that start in it.
    """
    regions = check_regions(regions)
    _check_window(start_s, end_s, block_s)
    region_users(regions, profile)  # validates the codes
    entropy = session_entropy(rng)
    parts = []
    for i, region in enumerate(regions):
        cols = region_session_arrays(region, profile, entropy, start_s, end_s, block_s)
        cols["region_idx"] = np.full(len(cols["start_s"]), i, dtype=np.int16)
        parts.append(cols)
    allc = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(allc["start_s"], kind="stable")
    return pd.DataFrame({
        "start_s": allc["start_s"][order],
        "region": pd.Categorical.from_codes(allc["region_idx"][order], categories=regions).astype(str),
        "size_kbit": allc["size_kbit"][order],
        "access_kbps": allc["access_kbps"][order],
        "transport": np.where(allc["udp"][order], "udp", "tcp"),
        "traffic": np.where(allc["other"][order], "other", "platform"),
    })
