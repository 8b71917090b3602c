"""The diurnal demand profile: relative session-arrival intensity over the local day (UTC+5).

``DEFAULT_HOURLY_WEIGHTS[h]`` is the relative demand of local hour ``h`` (0 = 00:00-01:00), with
the evening peak at 1.0. Intensity between hour midpoints is interpolated linearly (cyclically,
so 23:30 joins 00:30), giving a smooth curve without steps at the full hours.

Source and rationale. The shape is a stylised reading of the residential ("eyeball") traffic
curve that operators and exchanges publish for Europe and Asia, not measured Kazakh data:

- C. Labovitz, *The Internet After Dark*, Arbor Networks ASERT blog (2009), 40+ consumer
  providers: European and Asian traffic climbs through the day to a peak in the early evening
  (around 19:00-22:00 local) and then falls off quickly until the morning;
- the daily curve of the Amsterdam Internet Exchange as shown by Cloudflare, *When people pause
  the Internet goes quiet* (2020): trough at about 04:00-05:00 local, a rise through the morning,
  a plateau in the afternoon, the peak in the evening.

Stylised from those curves: trough at 04:00-05:00 at about 15% of the peak, half the peak by
09:00, a daytime plateau at 55-65%, the peak 20:00-22:00, and a steep fall after 23:00. Replace
it through ``LoadProfile.hourly_weights`` with measured data when there is any.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0

DEFAULT_HOURLY_WEIGHTS: tuple[float, ...] = (
    0.42, 0.30, 0.22, 0.17, 0.15, 0.15,  # 00-06: night, trough at 04-06
    0.20, 0.30, 0.42, 0.50, 0.55, 0.58,  # 06-12: morning rise
    0.60, 0.60, 0.58, 0.58, 0.60, 0.65,  # 12-18: daytime plateau
    0.75, 0.86, 0.95, 1.00, 0.92, 0.68,  # 18-24: evening peak at 21-22
)


def intensity_shape(t_s: np.ndarray, hourly_weights: Sequence[float]) -> np.ndarray:
    """Relative intensity at local times ``t_s`` (seconds since midnight; any real, wraps daily).

    Linear interpolation between the hourly weights placed at the hour midpoints.
    """
    w = np.asarray(hourly_weights, dtype=float)
    x = np.mod(np.asarray(t_s, dtype=float), SECONDS_PER_DAY)
    mids = (np.arange(HOURS_PER_DAY + 2) - 0.5) * SECONDS_PER_HOUR  # -1800 .. 84600+1800 ... cyclic
    ys = np.concatenate([w[-1:], w, w[:1]])
    return np.interp(x, mids, ys)


def daily_mean_weight(hourly_weights: Sequence[float]) -> float:
    """Mean of the interpolated shape over the day (equals the mean of the hourly weights)."""
    return float(np.mean(np.asarray(hourly_weights, dtype=float)))
