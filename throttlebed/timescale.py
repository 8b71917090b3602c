"""Time in the testbed: local model time, emulated time and real time, in one place.

A run's day is local Kazakh time (UTC+5). On the emulation backend it may be compressed:
``time_scale`` model seconds pass per real second, so an interval of ``model_s`` lasts
``model_s / time_scale`` real seconds. An *epoch* ties the two: model second ``epoch_model_s``
falls at real second 0 (:meth:`TimeScale.real_after`, :meth:`TimeScale.model_at`);
:class:`EmulatedClock` aligns the model clock to the monotonic clock at an epoch. A meter's
bucket holds ``burst_s`` *real* seconds of its rate, which is ``burst_s x time_scale`` model
seconds: the burst allowance of one sampling interval. :func:`check_time_scale` is the one check
of a time scale, wherever it comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import numpy as np

from throttlebed.errors import InputError

Seconds = TypeVar("Seconds", float, np.ndarray)
"""A number of seconds, or an array of them."""

MAX_TIME_SCALE = 10_000.0  # a day in under 9 s of real time: beyond this nothing is emulated


def check_time_scale(value: float, where: str | None = "time_scale") -> float:
    """``value`` if it is a usable time scale (finite, > 0, at most ``MAX_TIME_SCALE``): the one
    check of every time scale (scenario, controller options, replay, clock)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 < value <= MAX_TIME_SCALE:
        raise InputError(f"time scale must be a number in (0, {MAX_TIME_SCALE:g}], got {value!r}",
                         where=where)
    return float(value)


@dataclass(frozen=True)
class TimeScale:
    """Model seconds per real second (1 = real time)."""

    time_scale: float = 1.0

    def __post_init__(self) -> None:
        check_time_scale(self.time_scale)

    def real_s(self, model_s: Seconds) -> Seconds:
        """Real seconds that ``model_s`` model seconds take (element-wise for arrays)."""
        return model_s / self.time_scale

    def model_s(self, real_s: Seconds) -> Seconds:
        """Model seconds that pass in ``real_s`` real seconds (element-wise for arrays)."""
        return real_s * self.time_scale

    def real_after(self, epoch_model_s: float, model_s: Seconds) -> Seconds:
        """Real seconds after the epoch (model second ``epoch_model_s``) at which model second
        ``model_s`` falls."""
        return self.real_s(model_s - epoch_model_s)

    def model_at(self, epoch_model_s: float, real_s: Seconds) -> Seconds:
        """The model second ``real_s`` real seconds after the epoch (model second ``epoch_model_s``)."""
        return epoch_model_s + self.model_s(real_s)

    def burst_allowance(self, burst_s: float, sampling_interval_s: float) -> float:
        """What a full bucket of ``burst_s`` real seconds adds to one sampling interval, as a
        fraction of the cap (the interval lasts ``sampling_interval_s / time_scale`` real s)."""
        return burst_s / self.real_s(sampling_interval_s)


@dataclass(frozen=True)
class EmulatedClock:
    """Local model time that read ``start_local`` when the monotonic clock read ``t0_s``."""

    start_local: datetime
    t0_s: float
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        check_time_scale(self.time_scale, where="--time-scale")

    @property
    def scale(self) -> TimeScale:
        """The clock's time scale."""
        return TimeScale(self.time_scale)

    def local_at(self, mono_s: float) -> datetime:
        """The emulated local time at monotonic reading ``mono_s``."""
        return self.start_local + timedelta(seconds=self.scale.model_s(mono_s - self.t0_s))

    def mono_at(self, local: datetime) -> float:
        """The monotonic reading at which the emulated clock shows ``local``."""
        return self.t0_s + self.scale.real_s((local - self.start_local).total_seconds())

    def real_s(self, emulated_s: float) -> float:
        """Real seconds that ``emulated_s`` emulated seconds take."""
        return self.scale.real_s(emulated_s)
