"""Rules item 9: caps from peaks, ``cap_kbps = floor(peak_kbps * (1 - stage/100))``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from throttlebed.directive.schema import STAGES, Directive, directive_from_data
from throttlebed.directive.statistics import PeakResult
from throttlebed.errors import InputError


def cap_kbps(peak_kbps: float, stage: int) -> int:
    """The cap of a cell at ``stage`` percent reduction, computed exactly (no float rounding).

    The peak is taken as the decimal number it prints as (``1000.1``, not the binary float just
    below it), so a cap that is a whole number on paper is not floored one kbit/s too low.
    """
    if stage not in STAGES:
        raise InputError(f"stage must be 10, 50 or 90, got {stage!r}")
    if not math.isfinite(peak_kbps) or peak_kbps < 0:
        raise InputError(f"peak_kbps must be a finite number >= 0, got {peak_kbps!r}")
    return math.floor(Fraction(repr(float(peak_kbps))) * (100 - stage) / 100)


def derive_directive(
    peaks: PeakResult,
    stage: int,
    platform: str,
    platform_prefixes: Iterable[str] = (),
    **case_fields: Any,
) -> Directive:
    """The directive (Appendix 3 rows) for one stage from the peaks of item 8.

    Each row caps the traffic its peak was taken on (the table's ``direction``: down, up or sum);
    peaks without a direction give rows without one (each direction capped alike).
    """
    with_direction = "direction" in peaks.table.columns
    rows = [
        {
            "region": r.region,
            "period": r.period,
            "peak_kbps": float(r.peak_kbps),
            "cap_kbps": cap_kbps(float(r.peak_kbps), stage),
            **({"direction": r.direction} if with_direction else {}),
        }
        for r in peaks.table.itertuples(index=False)
    ]
    data = {
        "platform": platform,
        "platform_prefixes": [str(p) for p in platform_prefixes],
        "stage": stage,
        "method": peaks.method.model_dump(mode="json"),
        "rows": rows,
        **case_fields,
    }
    return directive_from_data(data)
