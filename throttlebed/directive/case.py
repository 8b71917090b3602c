"""A case under the Rules and its timeline: every deadline of items 5-9 and Appendix 3 item 2.

Deadlines (the start day never counted; calendar-day and month terms roll to the next working
day unless ``roll=False``):

- ``notification_due``  items 5-6: 3 working days after detection;
- ``stats_request_due`` item 7: 8 months after the notification was sent;
- ``stats_reply_due``   item 8: 15 calendar days after the request (received the day it is sent);
- ``stages``            item 9: 10/50/90 % reductions at 8/12/18 months after the notification;
- ``report_due``        Appendix 3 item 2: 10 days after the directive is received.

A date not given is taken as its due date. Item 9 is read as an escalation by default (each
stage applies *from* its offset); the ``deadline`` reading makes each offset the date *by* which
the stage must be in force, the stage applying from the previous stage's deadline (the first,
and none earlier than, the statistics reply). Every output names its reading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from throttlebed.directive.calendar import WorkCalendar, kz_calendar
from throttlebed.directive.schema import StageReading
from throttlebed.directive.terms import add_calendar_days, add_months, add_working_days
from throttlebed.errors import InputError
from throttlebed.validation import model_from_data, read_yaml

NOTIFICATION_WORKING_DAYS = 3  # items 5, 6
STATS_REQUEST_MONTHS = 8  # item 7
STATS_REPLY_CALENDAR_DAYS = 15  # item 8
REPORT_CALENDAR_DAYS = 10  # Appendix 3 item 2

ITEMS: dict[str, str] = {
    "notification_due": "5-6",
    "stats_request_due": "7",
    "stats_reply_due": "8",
    "stages": "9",
    "report_due": "Appendix 3 item 2",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageStep(_Model):
    """One step of the item 9 schedule: a reduction and its offset in months from the notification."""

    reduction: Literal[0.1, 0.5, 0.9]
    months: int = Field(gt=0)

    @property
    def stage_pct(self) -> int:
        """The reduction in percent (10, 50, 90)."""
        return round(self.reduction * 100)


DEFAULT_SCHEDULE: tuple[StageStep, ...] = (
    StageStep(reduction=0.1, months=8),  # item 9.1
    StageStep(reduction=0.5, months=12),  # item 9.2
    StageStep(reduction=0.9, months=18),  # item 9.3
)


class Case(_Model):
    """A case: the platform, what happened when, and the details the Appendix 1-3 documents need."""

    platform: str = Field(min_length=1)
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    detected: date
    notification_number: str | None = None
    notified: date | None = None
    stats_requested: date | None = None
    directive_number: str | None = None
    directive_date: date | None = None
    directive_received: date | None = None
    as_of: date | None = Field(None, description="Appendix 3: date as of which no reply came")
    stage_reading: StageReading = StageReading.ESCALATION
    stage_schedule: tuple[StageStep, ...] = DEFAULT_SCHEDULE
    # Appendix 1 (removal notice)
    user_data: str | None = None
    norms_violated: str | None = None
    violation_kind: str | None = None
    materials_location: str | None = None
    attachments: tuple[str, ...] = ()
    # Reply channels of the Committee (Appendices 1, 2)
    committee_email: str | None = None
    committee_fax: str | None = None

    def timeline(self, *, roll: bool = True, cal: WorkCalendar | None = None) -> Timeline:
        """The deadlines of this case."""
        return compute_timeline(
            self.detected,
            notified=self.notified,
            stats_requested=self.stats_requested,
            directive_received=self.directive_received,
            stage_reading=self.stage_reading,
            schedule=self.stage_schedule,
            roll=roll,
            cal=cal,
        )


@dataclass(frozen=True)
class StageDate:
    """A stage of item 9: its reduction, from when it applies and (deadline reading) by when."""

    reduction: float
    start: date
    by: date | None
    months: int
    item: str

    def to_data(self) -> dict[str, Any]:
        """JSON-able form: ``{"reduction", "from", ...}``."""
        out: dict[str, Any] = {
            "reduction": self.reduction,
            "stage_pct": round(self.reduction * 100),
            "from": self.start.isoformat(),
        }
        if self.by is not None:
            out["by"] = self.by.isoformat()
        out["months_after_notification"] = self.months
        out["item"] = self.item
        return out


@dataclass(frozen=True)
class Timeline:
    """Every deadline of a case, the dates taken (given or assumed) and warnings."""

    stage_reading: StageReading
    detected: date
    notification_due: date
    notified: date
    stats_request_due: date
    stats_requested: date
    stats_reply_due: date
    stages: tuple[StageDate, ...]
    directive_received: date
    report_due: date
    assumed: tuple[str, ...]
    warnings: tuple[str, ...]
    roll: bool

    def to_data(self) -> dict[str, Any]:
        """The JSON document of ``throttlebed timeline --json``."""
        iso = date.isoformat
        return {
            "stage_reading": str(self.stage_reading),
            "detected": iso(self.detected),
            "notification_due": iso(self.notification_due),
            "notified": iso(self.notified),
            "stats_request_due": iso(self.stats_request_due),
            "stats_requested": iso(self.stats_requested),
            "stats_reply_due": iso(self.stats_reply_due),
            "stages": [s.to_data() for s in self.stages],
            "directive_received": iso(self.directive_received),
            "report_due": iso(self.report_due),
            "assumed": list(self.assumed),
            "roll": self.roll,
            "items": dict(ITEMS),
            "warnings": list(self.warnings),
        }


def labelled(label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` (a term or a calendar check), naming ``label`` in any InputError it raises."""
    try:
        return fn(*args, **kwargs)
    except InputError as e:
        raise InputError(e.reason, where=label) from None


def _not_before(label: str, value: date, other_label: str, other: date) -> None:
    if value < other:
        raise InputError(f"{value.isoformat()} is before {other_label} {other.isoformat()}", where=label)


def compute_timeline(
    detected: date,
    *,
    notified: date | None = None,
    stats_requested: date | None = None,
    directive_received: date | None = None,
    stage_reading: StageReading | str = StageReading.ESCALATION,
    schedule: tuple[StageStep, ...] = DEFAULT_SCHEDULE,
    roll: bool = True,
    cal: WorkCalendar | None = None,
) -> Timeline:
    """The deadlines of a case detected on ``detected``; dates not given are taken as due."""
    cal = cal if cal is not None else kz_calendar()
    try:
        reading = StageReading(stage_reading)
    except ValueError:
        raise InputError(f"must be escalation or deadline, got {stage_reading!r}",
                         where="stage_reading") from None
    assumed: list[str] = []
    warnings: list[str] = []

    def taken(label: str, given: date | None, due: date, due_label: str) -> date:
        if given is None:
            assumed.append(label)
            return due
        if given > due:
            warnings.append(f"{label} {given.isoformat()} is after {due_label} {due.isoformat()}")
        return given

    labelled("detected", cal.check, detected)
    notification_due = labelled("notification_due", add_working_days, detected, NOTIFICATION_WORKING_DAYS,
                                cal)
    if notified is not None:
        _not_before("notified", notified, "detected", detected)
    notified_d = taken("notified", notified, notification_due, "notification_due (items 5-6)")

    stats_request_due = labelled("stats_request_due", add_months, notified_d, STATS_REQUEST_MONTHS,
                            roll=roll, cal=cal)
    if stats_requested is not None:
        _not_before("stats_requested", stats_requested, "notified", notified_d)
    stats_requested_d = taken("stats_requested", stats_requested, stats_request_due,
                              "stats_request_due (item 7)")
    stats_reply_due = labelled("stats_reply_due", add_calendar_days, stats_requested_d,
                          STATS_REPLY_CALENDAR_DAYS, roll=roll, cal=cal)

    offsets = [labelled(f"stages[{i}]", add_months, notified_d, step.months, roll=roll, cal=cal)
               for i, step in enumerate(schedule)]
    stages: list[StageDate] = []
    for i, (step, offset) in enumerate(zip(schedule, offsets, strict=True)):
        item = f"9.{i + 1}"
        if reading is StageReading.ESCALATION:
            stages.append(StageDate(step.reduction, offset, None, step.months, item))
        else:
            start = stats_reply_due if i == 0 else max(offsets[i - 1], stats_reply_due)
            stages.append(StageDate(step.reduction, start, offset, step.months, item))
    for s in stages:
        if s.start < stats_reply_due:
            warnings.append(
                f"stage {round(s.reduction * 100)}% starts {s.start.isoformat()}, before the statistics "
                f"reply is due {stats_reply_due.isoformat()} (item 8)"
            )
        if s.by is not None and s.start > s.by:
            warnings.append(f"stage {round(s.reduction * 100)}% cannot start ({s.start.isoformat()}) "
                            f"by its deadline {s.by.isoformat()}")

    first_directive = max(stages[0].start, stats_reply_due) if stages else stats_reply_due
    if directive_received is not None:
        _not_before("directive_received", directive_received, "stats_requested", stats_requested_d)
        directive_d = directive_received
    else:
        assumed.append("directive_received")
        directive_d = first_directive
    report_due = labelled("report_due", add_calendar_days, directive_d, REPORT_CALENDAR_DAYS, roll=roll,
                          cal=cal)

    return Timeline(
        stage_reading=reading,
        detected=detected,
        notification_due=notification_due,
        notified=notified_d,
        stats_request_due=stats_request_due,
        stats_requested=stats_requested_d,
        stats_reply_due=stats_reply_due,
        stages=tuple(stages),
        directive_received=directive_d,
        report_due=report_due,
        assumed=tuple(assumed),
        warnings=tuple(warnings),
        roll=roll,
    )


def case_from_data(data: Any, source: str | None = None) -> Case:
    """Validate plain data (parsed YAML) into a Case."""
    return model_from_data(Case, data, source,
                           "a case must be a mapping with at least 'platform' and 'detected'")


def load_case(path: str | Path) -> Case:
    """Read and validate a case file (YAML or JSON)."""
    return case_from_data(read_yaml(path), str(path))
