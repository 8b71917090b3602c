"""The directive of Appendix 3: case data and a table of (region, period, cap in kbit/s).

One model, read and written as YAML or JSON, validated on the way in. Every validation failure
becomes one InputError naming the row and the field (``rows[3].cap_kbps: ...``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum
from ipaddress import IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from throttlebed.directive.cap_table import CapTable
from throttlebed.directive.periods import Period, PeriodSet
from throttlebed.directive.regions import is_region
from throttlebed.errors import InputError
from throttlebed.fileio import atomic_write_text
from throttlebed.validation import model_from_data, parse_yaml, read_text

Stage = Literal[10, 50, 90]
"""Reduction in percent of the peak, by stage of Rules item 9."""

STAGES: tuple[int, ...] = (10, 50, 90)


class StageReading(StrEnum):
    """How "within 8 months / 1 year / 1.5 years" of item 9 is read."""

    ESCALATION = "escalation"  # stage N applies from month 8 / 12 / 18 after notification (default)
    DEADLINE = "deadline"  # stage N must be in force by month 8 / 12 / 18


class TrafficDirection(StrEnum):
    """Which traffic "the throughput of the platform's traffic" (items 7-9) is read as."""

    DOWN = "down"  # platform -> users: peaks and caps of the download only
    UP = "up"  # users -> platform: peaks and caps of the upload only
    BOTH = "both"  # each direction its own peak and cap (two rows per cell)
    SUM = "sum"  # the two directions together: one peak, one cap, one meter shared by both


DEFAULT_DIRECTION = TrafficDirection.SUM
RowDirection = Literal["down", "up", "sum"]
"""What one directive row caps: one direction, or both together (``sum``); absent: each direction."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PeakMethod(_Model):
    """How the peak of each (region, period) cell was taken from the statistics (item 8)."""

    statistic: str = Field("max", description="'max' (the highest value) or 'pNN' (a percentile)")
    sampling_interval_s: float = Field(gt=0, description="interval each sample averages over")
    samples: int = Field(ge=0, description="samples that fell in some period")
    unassigned_samples: int = Field(0, ge=0, description="samples outside every period or region")
    days: int = Field(ge=0, description="distinct local dates in the statistics")
    first_time: datetime | None = None
    last_time: datetime | None = None
    direction: str | None = Field(
        None, description="traffic the peaks were taken on: down, up, both (each its own) or sum "
                          "(down + up together); absent in directives made before the choice existed")
    source: str | None = Field(None, description="the statistics file")
    units: Literal["kbit/s"] = "kbit/s"


CAP_KBPS_MAX = 2**32 - 1  # the largest rate an OpenFlow meter band carries (a 32-bit field of kbit/s)


class DirectiveRow(_Model):
    """One row of the Appendix 3 table."""

    region: str = Field(description="ISO 3166-2 code of the regional object, e.g. KZ-75")
    period: str = Field(description="period of the day, local time, HH:MM-HH:MM, half-open")
    peak_kbps: float = Field(ge=0, description="highest measured value of the cell (item 8)")
    cap_kbps: StrictInt = Field(ge=0, le=CAP_KBPS_MAX,
                                description="upper limit of throughput, kbit/s (item 9)")
    direction: RowDirection | None = Field(
        None, description="traffic the cap holds: down, up, or sum (both directions together on one "
                          "meter); absent: each direction separately at this cap")

    @field_validator("region")
    @classmethod
    def _known_region(cls, v: str) -> str:
        if not is_region(v):
            raise ValueError(f"unknown region {v!r} (expected an ISO 3166-2 code such as KZ-75)")
        return v

    @field_validator("period", mode="before")
    @classmethod
    def _valid_period(cls, v: Any) -> str:
        try:
            return str(Period.parse(str(v)))
        except InputError as e:
            raise ValueError(str(e)) from None

    @field_validator("cap_kbps", mode="before")
    @classmethod
    def _integer_cap(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"must be a whole number of kbit/s, got {v!r}")
        return v

    @model_validator(mode="after")
    def _cap_not_above_peak(self) -> DirectiveRow:
        if self.cap_kbps > self.peak_kbps:
            raise ValueError(f"cap_kbps {self.cap_kbps} is above peak_kbps {self.peak_kbps:g}")
        return self

    @property
    def period_obj(self) -> Period:
        """The row's period, parsed."""
        return Period.parse(self.period)


class Directive(_Model):
    """A directive to the State Technical Service (Appendix 3), with its case data."""

    platform: str = Field(min_length=1, description="name of the foreign online platform")
    platform_prefixes: list[IPv4Network] = Field(
        default_factory=list, description="address prefixes of the platform's servers"
    )
    stage: Stage = Field(description="reduction from the peak in percent: 10, 50 or 90")
    stage_reading: StageReading = StageReading.ESCALATION
    directive_number: str | None = None
    directive_date: date | None = None
    notification_number: str | None = None
    notification_date: date | None = None
    method: PeakMethod | None = None
    rows: Annotated[list[DirectiveRow], Field(min_length=1)]

    @field_validator("stage", mode="before")
    @classmethod
    def _stage(cls, v: Any) -> Any:
        if isinstance(v, bool) or v not in STAGES:
            raise ValueError(f"must be 10, 50 or 90, got {v!r}")
        return v

    @model_validator(mode="after")
    def _rows_consistent(self) -> Directive:
        seen: dict[tuple[str, str, str | None], int] = {}
        by_region: dict[tuple[str, str | None], list[tuple[int, Period]]] = {}
        kind = _direction_kind(self.rows[0].direction) if self.rows else None
        for i, row in enumerate(self.rows):
            if _direction_kind(row.direction) != kind:
                raise ValueError(
                    f"rows[{i}].direction: {row.direction or 'absent'} mixed with "
                    f"{self.rows[0].direction or 'absent'} in rows[0] (rows are all without a "
                    "direction, all 'sum', or each 'down' or 'up')")
            key = (row.region, row.period, row.direction)
            if key in seen:
                raise ValueError(
                    f"rows[{i}]: duplicate of rows[{seen[key]}] ({row.region} {row.period}"
                    + (f" {row.direction})" if row.direction else ")")
                )
            seen[key] = i
            p = row.period_obj
            for j, q in by_region.get((row.region, row.direction), []):
                if p.overlaps(q):
                    raise ValueError(
                        f"rows[{i}].period: {p} overlaps rows[{j}].period {q} in {row.region}"
                    )
            by_region.setdefault((row.region, row.direction), []).append((i, p))
        return self

    # ---- views -------------------------------------------------------------------------

    def regions(self) -> list[str]:
        """Regions named by the directive, in order of first appearance."""
        return list(dict.fromkeys(r.region for r in self.rows))

    def rows_for(self, region: str, direction: str | None = None) -> list[DirectiveRow]:
        """The rows of one region (of one ``direction`` only, when given: ``down``, ``up``, ``sum``).

        A row without a direction caps each direction, so it is a row of ``down`` and of ``up``.
        """
        return [r for r in self.rows if r.region == region
                and (direction is None or r.direction in (None, direction))]

    def period_set(self, region: str, direction: str | None = None) -> PeriodSet:
        """The periods of one region, in row order (of ``direction``; default: its first row's)."""
        rows = self.rows_for(region)
        if direction is None and rows and rows[0].direction is not None:
            direction = rows[0].direction
        return PeriodSet(r.period_obj for r in self.rows_for(region, direction))

    def directions(self) -> list[str]:
        """The meters a cell's cap is enforced on: ``down``/``up`` (each its own), or ``sum``."""
        kinds = {r.direction for r in self.rows}
        if kinds == {None}:
            return ["down", "up"]
        return [d for d in ("down", "up", "sum") if d in kinds]

    @property
    def cap_table(self) -> CapTable:
        """The directive's cap table, built on first use (a copy of the directive builds its own)."""
        table = self.__dict__.get("_cap_table")
        if table is None or table.directive is not self:
            table = self.__dict__["_cap_table"] = CapTable(self)
        return table

    def caps_at(self, region: str, minute_of_day: int) -> dict[str, int]:
        """The caps in force in ``region`` at ``minute_of_day``, by meter: ``down``, ``up`` or ``sum``.

        A row without a direction caps each direction (directives made before the choice existed).
        """
        return self.cap_table.caps_at(region, minute_of_day)

    def cap_at(self, region: str, minute_of_day: int) -> int | None:
        """The cap in force in ``region`` at local minute ``minute_of_day``, None if uncapped."""
        return self.cap_table.cap_at(region, minute_of_day)

    def uncovered(self) -> dict[str, list[str]]:
        """Per region, the parts of the day no row covers (traffic there is not capped)."""
        gaps = {reg: [str(p) for p in self.period_set(reg).uncovered()] for reg in self.regions()}
        return {k: v for k, v in gaps.items() if v}

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data (what YAML and JSON files hold)."""
        return self.model_dump(mode="json", exclude_none=True)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form (for audit logs)."""
        text = json.dumps(self.to_data(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _direction_kind(direction: str | None) -> str | None:
    """Rows of one directive agree on this: absent, ``sum``, or per direction."""
    return None if direction is None else ("sum" if direction == "sum" else "each")


# ---- reading and writing ---------------------------------------------------------------


def directive_from_data(data: Any, source: str | None = None) -> Directive:
    """Validate plain data (parsed YAML or JSON) into a Directive."""
    return model_from_data(Directive, data, source,
                           "a directive must be a mapping with 'platform', 'stage' and 'rows'")


def parse_directive_text(text: str, source: str | None = None) -> Directive:
    """Parse a directive from YAML or JSON text (JSON is YAML)."""
    return directive_from_data(parse_yaml(text, source), source)


def load_directive(path: str | Path) -> Directive:
    """Read and validate a directive file (``.yaml``, ``.yml`` or ``.json``)."""
    return parse_directive_text(read_text(path), source=str(path))


def directive_to_yaml(directive: Directive) -> str:
    """The directive as YAML text."""
    return yaml.safe_dump(directive.to_data(), sort_keys=False, allow_unicode=True)


def directive_to_json(directive: Directive) -> str:
    """The directive as JSON text."""
    return json.dumps(directive.to_data(), indent=2, ensure_ascii=False) + "\n"


def save_directive(directive: Directive, path: str | Path) -> Path:
    """Write the directive atomically, as JSON if ``path`` ends in .json, YAML otherwise."""
    p = Path(path)
    text = directive_to_json(directive) if p.suffix == ".json" else directive_to_yaml(directive)
    return atomic_write_text(p, text)


def directive_json_schema() -> dict[str, Any]:
    """The JSON Schema of a directive file."""
    return Directive.model_json_schema()
