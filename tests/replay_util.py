"""Statistics tables for the validate tests: a diurnal platform load with measurement noise, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from throttlebed.sim.diurnal import intensity_shape

PEAKS_KBPS = {"KZ-75": 40_000.0, "KZ-71": 25_000.0}


def diurnal_stats(days: int = 1, interval_s: int = 60, peaks_kbps: dict[str, float] | None = None,
                  seed: int = 7, first_day: str = "2026-03-02") -> pd.DataFrame:
    """``time, region, kbps``: each region's peak times the stylised diurnal curve, 4% noise, one
    sample per interval; the second day is 10% busier than the first, and so on."""
    rng = np.random.default_rng(seed)
    peaks = peaks_kbps or PEAKS_KBPS
    n = int(86400 // interval_s)
    parts = []
    for d in range(days):
        day0 = pd.Timestamp(first_day) + pd.Timedelta(days=d)
        t = day0 + pd.to_timedelta(np.arange(n) * interval_s, unit="s")
        shape = intensity_shape(np.arange(n) * interval_s + interval_s / 2, _weights())
        for region, peak in peaks.items():
            kbps = peak * (1 + 0.1 * d) * shape * rng.normal(1.0, 0.04, n)
            parts.append(pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%S"), "region": region,
                                       "kbps": np.round(np.maximum(kbps, 0.0), 1)}))
    return pd.concat(parts, ignore_index=True)


def _weights() -> list[float]:
    from throttlebed.sim.diurnal import DEFAULT_HOURLY_WEIGHTS

    return list(DEFAULT_HOURLY_WEIGHTS)
