"""Scenario files: what a run simulates or emulates, what it derives, and how it is judged.

A scenario is YAML validated by :class:`Scenario` (unknown fields are errors). Every problem is
one InputError naming the file and the field (``national-day.yaml: periods: ...``).
The JSON Schema of the file is ``schemas/scenario.schema.json`` (see
:mod:`throttlebed.experiments.schemas`).
"""

from __future__ import annotations

import math
from datetime import date, time
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.regions import is_region, region_codes
from throttlebed.directive.schema import Stage
from throttlebed.errors import InputError
from throttlebed.experiments.tolerances import Tolerances
from throttlebed.sim.load import MAX_SESSIONS_PER_DAY, LoadProfile, expected_sessions_per_day
from throttlebed.timescale import MAX_TIME_SCALE, check_time_scale
from throttlebed.validation import model_from_data, read_yaml

BACKENDS = ("sim", "mininet")
SECONDS_PER_DAY = 86400.0
# Bounds of the scenario's numbers (none may be inf or nan): wide enough for every study the
# testbed can run, narrow enough that a typo (1e-9, 1e12) is refused instead of exhausting memory.
MIN_RATE_SCALE, MAX_RATE_SCALE = 1e-6, 1_000.0
MIN_SAMPLING_INTERVAL_S = 1.0
MIN_BURST_S, MAX_BURST_S = 0.001, 60.0
MAX_USERS_SCALE = 1.0  # simulated users per platform user: 1 is every platform user
MAX_SESSIONS_PER_USER_PER_DAY = 1_000.0
MAX_SIZE_KBIT = 8e8  # 100 GB
MAX_RATE_KBPS = 1e7  # 10 Gbit/s
MAX_SEED = 2**32 - 1
FIRST_DAY, LAST_DAY = date(1678, 1, 1), date(2261, 12, 31)  # the days a table's time column can hold


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ServiceSpec(_Model):
    """A service reached through the regional objects: its name and address prefixes."""

    name: str = Field(min_length=1)
    prefixes: list[IPv4Network] = Field(min_length=1, description="IPv4 prefixes of its servers")


class BackendOptions(_Model):
    """How the day is run: window, sampling, and (for mininet) compression and scaling."""

    default: Literal["sim", "mininet"] = Field("sim", description="backend when --backend is not given")
    time_scale: float = Field(1.0, json_schema_extra={"exclusiveMinimum": 0, "maximum": MAX_TIME_SCALE},
                              description="simulated seconds per wall-clock second (mininet)")
    rate_scale: float = Field(1.0, ge=MIN_RATE_SCALE, le=MAX_RATE_SCALE,
                              description="wire rate per model rate (mininet; the sim runs at 1)")
    start_s: float = Field(0.0, ge=0, lt=SECONDS_PER_DAY, description="window start, s after local midnight")
    end_s: float = Field(SECONDS_PER_DAY, gt=0, le=SECONDS_PER_DAY,
                         description="window end, s after local midnight")
    sampling_interval_s: float = Field(60.0, ge=MIN_SAMPLING_INTERVAL_S, le=SECONDS_PER_DAY,
                                       description="each sample is the mean over this interval")
    hosts_per_region: int = Field(2, ge=1, le=64, description="user hosts per region (mininet)")
    burst_s: float = Field(1.0, ge=MIN_BURST_S, le=MAX_BURST_S,
                           description="meter burst as seconds of the cap's rate")
    measurement_source: str | None = Field(
        None, description="source whose samples are judged (default: the backend's own counters)")

    @field_validator("time_scale")
    @classmethod
    def _time_scale(cls, v: float) -> float:
        return check_time_scale(v, where=None)

    @model_validator(mode="after")
    def _window(self) -> BackendOptions:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s:g}) must be after start_s ({self.start_s:g})")
        if self.sampling_interval_s > self.end_s - self.start_s:
            raise ValueError("sampling_interval_s is longer than the window start_s..end_s")
        n = SECONDS_PER_DAY / self.sampling_interval_s
        if abs(n - round(n)) > 1e-9:  # the samples of a day line up with its periods and statistics
            raise ValueError(f"sampling_interval_s: {self.sampling_interval_s:g} s does not divide the day "
                             f"({SECONDS_PER_DAY:g} s) into whole intervals")
        return self


class ToleranceSpec(_Model):
    """How strictly the verdict judges (see :mod:`throttlebed.experiments.verdict`)."""

    over_cap: float = Field(0.02, ge=0, lt=1, description="a sample may exceed the cap by this fraction")
    reduction_pp: float = Field(2.0, ge=0, le=100, description="allowed |achieved - target| reduction, pp")
    collateral: float = Field(0.05, ge=0, le=1, description="allowed relative drop of other traffic's mean")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the KS differentiation test")
    boundary_guard_s: float = Field(0.0, ge=0, le=SECONDS_PER_DAY,
                                    description="s around a period's start and end not judged")
    sustained_samples: int = Field(3, ge=1, le=100_000,
                                   description="consecutive samples above the cap that make "
                                   "the demand sustained (reduction judged both ways)")
    lift_recovery: float = Field(0.05, ge=0, lt=1, description="after a lift, allowed relative shortfall "
                                 "of the platform's traffic against the baseline")
    baseline_not_served: float = Field(0.05, ge=0, le=1, description="share of the baseline's sessions "
                                       "(no directive) the testbed may leave not served (abandoned or "
                                       "dropped) before the run fails: its peaks would be too low")

    def to_tolerances(self, burst_allowance: float = 0.0) -> Tolerances:
        """The verdict's tolerances, with the burst allowance of the backend's meters."""
        return Tolerances(**self.model_dump(), burst_allowance=burst_allowance)


class PeakSpec(_Model):
    """How the peak of each cell is taken from the baseline (Rules item 8)."""

    statistic: str = Field("max", pattern=r"^(max|p\d{1,2}(\.\d+)?)$", description="'max' or 'pNN'")
    direction: Literal["down", "up", "both", "sum"] = Field(
        "down", description="traffic the peaks and caps are of: down, up, both (each direction its own "
                            "rows) or sum (down + up together on one shared meter)")


class CaseSpec(_Model):
    """Case data printed on the directive (Appendix 3)."""

    directive_number: str | None = None
    directive_date: date | None = None
    notification_number: str | None = None
    notification_date: date | None = None
    lang: Literal["kk", "ru", "en"] = Field("en", description="language of the Appendix 3 document")

    def fields(self) -> dict[str, Any]:
        """The directive's case fields that are set, as derive_directive keyword arguments."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"lang"})


class ScenarioLoad(LoadProfile):
    """The load model's parameters as a scenario may set them: finite, and within sane bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    users_scale: float = Field(0.1, gt=0, le=MAX_USERS_SCALE,
                               description="simulated users per platform user (a sample; 1 = all of them)")
    sessions_per_user_per_day: float = Field(1.0, gt=0, le=MAX_SESSIONS_PER_USER_PER_DAY,
                                             description="platform sessions per user per day")
    size_median_kbit: float = Field(16_000.0, gt=0, le=MAX_SIZE_KBIT,
                                    description="median session size (16000 kbit = 2 MB)")
    size_sigma: float = Field(1.5, ge=0, le=10, description="sigma of the lognormal session size")
    size_max_kbit: float = Field(8_000_000.0, gt=0, le=MAX_SIZE_KBIT,
                                 description="sizes above this are truncated (1 GB)")
    udp_rate_kbps: float = Field(2_500.0, gt=0, le=MAX_RATE_KBPS,
                                 description="sending rate of a UDP-like stream, kbit/s")
    patience_s: float = Field(300.0, gt=0, le=SECONDS_PER_DAY,
                              description=LoadProfile.model_fields["patience_s"].description)

    @field_validator("access_kbps")
    @classmethod
    def _access_bounded(cls, v: list[float]) -> list[float]:
        if any(a > MAX_RATE_KBPS for a in v):
            raise ValueError(f"access_kbps tiers must be <= {MAX_RATE_KBPS:g} kbit/s")
        return v


class DemandSpec(_Model):
    """Trace-driven load: sessions fitted so that the uncapped baseline reproduces these statistics."""

    stats: Path = Field(description="statistics (CSV/Parquet time,region,kbps), relative to the "
                        "scenario file")
    day: date | None = Field(None, description="the day replayed on mininet (default: the day holding the "
                             "most cell peaks); sim replays every day")


class Scenario(_Model):
    """One experiment: regions and load, the platform, periods, stage(s), backend, judgement."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    description: str = ""
    regions: Literal["all"] | list[str] = Field(description="'all' or a list of ISO codes")
    platform: ServiceSpec = ServiceSpec(name="ExampleTube", prefixes=[IPv4Network("203.0.113.0/24")])
    other_service: ServiceSpec = ServiceSpec(name="other-services",
                                             prefixes=[IPv4Network("198.51.100.0/24")])
    periods: str | None = Field(None, description="periods of the day, e.g. "
                                "00:00-07:00,07:00-18:00,18:00-24:00 "
                                "(not with `directive`)")
    stage: Stage | None = Field(None, description="reduction in percent (10, 50, 90); or give `stages`")
    stages: list[Stage] | None = Field(None, min_length=1,
                                       description="escalation on one case, e.g. [10, 50, 90]")
    day: date | None = Field(None, description="the simulated local day (with `demand`: taken from the "
                             "statistics)")
    directive: Path | None = Field(None, description="enforce this directive file (relative to the scenario "
                                   "file) instead of deriving one: no `stage`, `stages` or `periods`")
    demand: DemandSpec | None = Field(None, description="replay these statistics instead of the synthetic "
                                      "load profile")
    load: ScenarioLoad = ScenarioLoad()
    backend: BackendOptions = BackendOptions()
    tolerance: ToleranceSpec = ToleranceSpec()
    peaks: PeakSpec = PeakSpec()
    case: CaseSpec = CaseSpec()
    seed: int = Field(0, ge=0, le=MAX_SEED)
    lift_at: time | None = Field(
        None, description="local time (HH:MM) of the scenario's day at which the directive is lifted "
                          "(the platform complied): every meter is removed; inside the window")

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: Any) -> Any:
        if v == "all":
            return v
        if not v:
            raise ValueError("no regions given")
        for i, code in enumerate(v):
            if not is_region(code):
                raise ValueError(f"item {i + 1}: unknown region {code!r} (expected e.g. KZ-75)")
        if len(set(v)) != len(v):
            raise ValueError("a region is listed twice")
        return v

    @field_validator("periods")
    @classmethod
    def _periods(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return str(PeriodSet.parse(v))
        except InputError as e:
            raise ValueError(str(e)) from None

    @field_validator("day")
    @classmethod
    def _day_in_range(cls, v: date | None) -> date | None:
        if v is not None and not FIRST_DAY <= v <= LAST_DAY:
            raise ValueError(f"{v.isoformat()} is out of range ({FIRST_DAY.isoformat()} to "
                             f"{LAST_DAY.isoformat()})")
        return v

    @model_validator(mode="after")
    def _one_stage_field(self) -> Scenario:
        if self.day is None and self.demand is None:
            raise ValueError("day: missing field (needed unless `demand` gives the statistics)")
        if self.day is not None and self.demand is not None:
            raise ValueError("day: not with `demand` (the statistics give the days; `demand.day` picks "
                             "the one replayed on mininet)")
        if self.directive is not None:
            given = [k for k in ("stage", "stages", "periods") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{given[0]}: not with `directive` (the directive states its stage and "
                                 "periods)")
            return self
        if self.periods is None:
            raise ValueError("periods: missing field (needed unless `directive` names a directive file)")
        if (self.stage is None) == (self.stages is None):
            raise ValueError("give exactly one of `stage` (10, 50 or 90) or `stages` (e.g. [10, 50, 90])")
        if self.stages is not None and len(set(self.stages)) != len(self.stages):
            raise ValueError("stages: a stage is listed twice")
        expected = expected_sessions_per_day(self.region_list(), self.load)
        if expected > MAX_SESSIONS_PER_DAY:
            raise ValueError(f"load: about {expected:.3g} sessions a day, more than the "
                             f"{MAX_SESSIONS_PER_DAY:.3g} one run can hold (lower load.users_scale)")
        return self

    @model_validator(mode="after")
    def _periods_meet_window(self) -> Scenario:
        if self.periods is not None:
            b = self.backend
            first, last = int(b.start_s // 60), math.ceil(b.end_s / 60)
            if not (self.period_set().minute_lookup[first:last] >= 0).any():
                raise ValueError(f"periods: none of {self.periods} falls in the window start_s..end_s "
                                 f"({b.start_s:g}..{b.end_s:g} s): there would be no cell to cap")
        return self

    @model_validator(mode="after")
    def _lift_in_window(self) -> Scenario:
        if self.lift_at is not None:
            if self.lift_at.second or self.lift_at.microsecond:
                raise ValueError("lift_at: must be a whole minute (HH:MM)")
            lift_s = self.lift_s
            assert lift_s is not None
            if not self.backend.start_s < lift_s < self.backend.end_s:
                raise ValueError(f"lift_at: {self.lift_at:%H:%M} is outside the window "
                                 f"start_s..end_s ({self.backend.start_s:g}..{self.backend.end_s:g} s)")
        return self

    # ---- views ------------------------------------------------------------------------

    @property
    def lift_s(self) -> float | None:
        """The lift time in seconds after local midnight of the day, None if not lifted."""
        if self.lift_at is None:
            return None
        return float(self.lift_at.hour * 3600 + self.lift_at.minute * 60)

    def region_list(self) -> list[str]:
        """The regions simulated, as ISO codes."""
        return list(region_codes()) if self.regions == "all" else list(self.regions)

    def period_set(self) -> PeriodSet:
        """The periods of the day every region's directive rows use."""
        if self.periods is None:
            raise InputError("the scenario enforces a given directive and has no periods of its own")
        return PeriodSet.parse(self.periods)

    def stage_list(self) -> list[int]:
        """The stages derived and enforced, in order (none when the scenario names a directive file)."""
        if self.stages is not None:
            return list(self.stages)
        return [] if self.stage is None else [int(self.stage)]

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data (what the YAML file holds, with defaults filled in)."""
        return self.model_dump(mode="json", exclude_none=True)


_NOT_A_MAPPING = "a scenario must be a mapping (name, regions, periods, stage, day, ...)"


def scenario_from_data(data: Any, source: str | None = None) -> Scenario:
    """Validate plain data (parsed YAML) into a Scenario; InputError naming source and field."""
    return model_from_data(Scenario, data, source, _NOT_A_MAPPING)


def resolve_files(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """``directive`` and ``demand.stats`` made relative to ``base_dir`` when they are relative paths."""
    out = dict(data)
    if isinstance(out.get("directive"), str) and not Path(out["directive"]).is_absolute():
        out["directive"] = str(base_dir / out["directive"])
    demand = out.get("demand")
    stats = demand.get("stats") if isinstance(demand, dict) else None
    if isinstance(stats, str) and not Path(stats).is_absolute():
        out["demand"] = {**demand, "stats": str(base_dir / demand["stats"])}
    return out


def read_scenario_data(path: str | Path) -> dict[str, Any]:
    """The parsed YAML of a scenario file (not yet validated); its file paths resolved beside it."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise InputError(_NOT_A_MAPPING, source=str(path))
    return resolve_files(data, Path(path).parent)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    return scenario_from_data(read_scenario_data(path), source=str(path))


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file."""
    return Scenario.model_json_schema()
