"""Scenario files: what a run simulates or emulates, what it derives, and how it is judged.

A scenario is YAML validated by :class:`Scenario` (unknown fields are errors). Every problem is
one InputError naming the file and the field (``national-day.yaml: periods: ...``).
The JSON Schema of the file is ``schemas/scenario.schema.json`` (see
:mod:`throttlebed.experiments.schemas`).
"""

from __future__ import annotations

from datetime import date
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from throttlebed.directive.periods import PeriodSet
from throttlebed.directive.regions import is_region, region_codes
from throttlebed.directive.schema import Stage
from throttlebed.errors import InputError
from throttlebed.experiments.verdict import Tolerances
from throttlebed.sim.load import LoadProfile
from throttlebed.validation import model_from_data, read_yaml

BACKENDS = ("sim", "mininet")
SECONDS_PER_DAY = 86400.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSpec(_Model):
    """A service reached through the regional objects: its name and address prefixes."""

    name: str = Field(min_length=1)
    prefixes: list[IPv4Network] = Field(min_length=1, description="IPv4 prefixes of its servers")


class BackendOptions(_Model):
    """How the day is run: window, sampling, and (for mininet) compression and scaling."""

    default: Literal["sim", "mininet"] = Field("sim", description="backend when --backend is not given")
    time_scale: float = Field(1.0, gt=0, description="simulated seconds per wall-clock second (mininet)")
    rate_scale: float = Field(1.0, gt=0, description="wire rate per model rate (mininet; the sim runs at 1)")
    start_s: float = Field(0.0, ge=0, lt=SECONDS_PER_DAY, description="window start, s after local midnight")
    end_s: float = Field(SECONDS_PER_DAY, gt=0, le=SECONDS_PER_DAY,
                         description="window end, s after local midnight")
    sampling_interval_s: float = Field(60.0, gt=0, description="each sample is the mean over this interval")
    hosts_per_region: int = Field(2, ge=1, le=64, description="user hosts per region (mininet)")
    burst_s: float = Field(1.0, gt=0, description="meter burst as seconds of the cap's rate")
    measurement_source: str | None = Field(
        None, description="source whose samples are judged (default: the backend's own counters)")

    @model_validator(mode="after")
    def _window(self) -> BackendOptions:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s:g}) must be after start_s ({self.start_s:g})")
        if self.sampling_interval_s > self.end_s - self.start_s:
            raise ValueError("sampling_interval_s is longer than the window start_s..end_s")
        return self


class ToleranceSpec(_Model):
    """How strictly the verdict judges (see :mod:`throttlebed.experiments.verdict`)."""

    over_cap: float = Field(0.02, ge=0, lt=1, description="a sample may exceed the cap by this fraction")
    reduction_pp: float = Field(2.0, ge=0, le=100, description="allowed |achieved - target| reduction, pp")
    collateral: float = Field(0.05, ge=0, le=1, description="allowed relative drop of other traffic's mean")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the KS differentiation test")
    boundary_guard_s: float = Field(0.0, ge=0, description="s around a period's start and end not judged")
    sustained_samples: int = Field(3, ge=1, description="consecutive samples above the cap that make "
                                   "the demand sustained (reduction judged both ways)")

    def to_tolerances(self, burst_allowance: float = 0.0) -> Tolerances:
        """The verdict's tolerances, with the burst allowance of the backend's meters."""
        return Tolerances(**self.model_dump(), burst_allowance=burst_allowance)


class PeakSpec(_Model):
    """How the peak of each cell is taken from the baseline (Rules item 8)."""

    statistic: str = Field("max", pattern=r"^(max|p\d{1,2}(\.\d+)?)$", description="'max' or 'pNN'")
    direction: Literal["down", "up"] = "down"


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


class Scenario(_Model):
    """One experiment: regions and load, the platform, periods, stage(s), backend, judgement."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    description: str = ""
    regions: Literal["all"] | list[str] = Field(description="'all' or a list of ISO codes")
    platform: ServiceSpec = ServiceSpec(name="ExampleTube", prefixes=[IPv4Network("203.0.113.0/24")])
    other_service: ServiceSpec = ServiceSpec(name="other-services",
                                             prefixes=[IPv4Network("198.51.100.0/24")])
    periods: str = Field(description="periods of the day, e.g. 00:00-07:00,07:00-18:00,18:00-24:00")
    stage: Stage | None = Field(None, description="reduction in percent (10, 50, 90); or give `stages`")
    stages: list[Stage] | None = Field(None, min_length=1,
                                       description="escalation on one case, e.g. [10, 50, 90]")
    day: date = Field(description="the simulated local day")
    load: LoadProfile = LoadProfile()
    backend: BackendOptions = BackendOptions()
    tolerance: ToleranceSpec = ToleranceSpec()
    peaks: PeakSpec = PeakSpec()
    case: CaseSpec = CaseSpec()
    seed: int = Field(0, ge=0)

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
    def _periods(cls, v: str) -> str:
        try:
            return str(PeriodSet.parse(v))
        except InputError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _one_stage_field(self) -> Scenario:
        if (self.stage is None) == (self.stages is None):
            raise ValueError("give exactly one of `stage` (10, 50 or 90) or `stages` (e.g. [10, 50, 90])")
        if self.stages is not None and len(set(self.stages)) != len(self.stages):
            raise ValueError("stages: a stage is listed twice")
        return self

    # ---- views ------------------------------------------------------------------------

    def region_list(self) -> list[str]:
        """The regions simulated, as ISO codes."""
        return list(region_codes()) if self.regions == "all" else list(self.regions)

    def period_set(self) -> PeriodSet:
        """The periods of the day every region's directive rows use."""
        return PeriodSet.parse(self.periods)

    def stage_list(self) -> list[int]:
        """The stages enforced, in order (one for a plain scenario)."""
        return list(self.stages) if self.stages is not None else [int(self.stage)]  # type: ignore[arg-type]

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data (what the YAML file holds, with defaults filled in)."""
        return self.model_dump(mode="json", exclude_none=True)


_NOT_A_MAPPING = "a scenario must be a mapping (name, regions, periods, stage, day, ...)"


def scenario_from_data(data: Any, source: str | None = None) -> Scenario:
    """Validate plain data (parsed YAML) into a Scenario; InputError naming source and field."""
    return model_from_data(Scenario, data, source, _NOT_A_MAPPING)


def read_scenario_data(path: str | Path) -> dict[str, Any]:
    """The parsed YAML of a scenario file (not yet validated)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise InputError(_NOT_A_MAPPING, source=str(path))
    return data


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    return scenario_from_data(read_scenario_data(path), source=str(path))


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file."""
    return Scenario.model_json_schema()
