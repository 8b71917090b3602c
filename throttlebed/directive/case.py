"""A case under the Rules and its timeline: every deadline of items 5-9 and Appendix 3 item 2.

Deadlines (the start day never counted; calendar-day and month terms roll to the next working
day unless ``roll=False``):

- ``notification_due``  items 5-6: 3 working days after detection;
- ``stats_request_due`` item 7: 8 months after the notification was sent;
- ``stats_reply_due``   item 8: 15 calendar days after the request (received the day it is sent);
- ``stages``            item 9: 10/50/90 % reductions at 8/12/18 months after the notification;
- ``report_due``        Appendix 3 item 2: 10 days after the directive is received;
- ``lifted``            the day the directive was lifted (the platform complied), if it was: from
                        then on no stage applies and every meter is removed (``DELETE /directive``).

Times are local Kazakh time (UTC+5): a time with a UTC offset is converted on reading. The item 9
schedule must keep the Rules' order: reductions and months both increase (10/50/90 % at 8/12/18).

A date not given is taken as its due date. Item 9 is read as an escalation by default (each
stage applies *from* its offset); the ``deadline`` reading makes each offset the date *by* which
the stage must be in force, the stage applying from the previous stage's deadline (the first,
and none earlier than, the statistics reply). Every output names its reading.

Two notification tracks: the item 5 notice (Appendix 1, removal of content) and the item 6 notice
(Appendix 2, legal representative) are separate acts, each with its own number, date sent, channel
and receipt. Only the item 6 notice starts items 7-9 and is the "No." of Appendix 3. An old case
file's ``notification_number``/``notified`` are read as the item 6 notice (``Case.reading_note``).

Named readings: Appendix 3 item 2's "10 тәулік" is ``calendar-days`` (10 calendar days, rolled to
a working day: the default) or ``hours-240`` (ten 24-hour periods from receipt, never rolled).
Appendix 2's six-hour term (a directive within six hours of the notice's receipt) is optional
and always shown with a warning: it conflicts with items 7-9.

Provisional dates: a date whose computation consulted a year after the confirmed decree-transfer
table (or that follows from such a date) is listed in ``Timeline.provisional``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from throttlebed.directive.applicability import Finding, applicability_findings
from throttlebed.directive.calendar import WorkCalendar, kz_calendar
from throttlebed.directive.periods import kz_local
from throttlebed.directive.schema import StageReading
from throttlebed.directive.terms import add_calendar_days, add_months, add_working_days
from throttlebed.errors import InputError
from throttlebed.validation import model_from_data, read_yaml

NOTIFICATION_WORKING_DAYS = 3  # items 5, 6
STATS_REQUEST_MONTHS = 8  # item 7
STATS_REPLY_CALENDAR_DAYS = 15  # item 8
REPORT_CALENDAR_DAYS = 10  # Appendix 3 item 2
SIX_HOURS = timedelta(hours=6)  # Appendix 2, last paragraph

SIX_HOUR_WARNING = (
    "Appendix 2's six-hour term (a directive within six hours of the notice's receipt) conflicts with "
    "items 7-9 (statistics requested within 8 months, restriction stages at 8/12/18 months): shown for "
    "reference, it drives no other date"
)

ITEMS: dict[str, str] = {
    "notification_due": "6",
    "stats_request_due": "7",
    "stats_reply_due": "8",
    "stages": "9",
    "report_due": "Appendix 3 item 2",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def local_time_input(value: Any) -> Any:
    """A date-time (or ISO date-time text) as naive local time (UTC+5); anything else unchanged."""
    if isinstance(value, str) and len(value.strip()) > len("YYYY-MM-DD"):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    return kz_local(value) if isinstance(value, datetime) else value


class ReportTerm(StrEnum):
    """How Appendix 3 item 2's "10 тәулік" (report of execution) is counted."""

    CALENDAR_DAYS = "calendar-days"  # 10 calendar days after the day of receipt, rolled to a working day
    HOURS_240 = "hours-240"  # ten 24-hour periods from the moment of receipt, never rolled


class Notice(_Model):
    """One notification of items 5-6: its number, the day sent, the channel, its receipt."""

    number: str | None = Field(None, min_length=1)
    sent: date | None = None
    channel: str | None = Field(None, min_length=1, description="e.g. e-mail, fax, post")
    received: date | datetime | None = Field(None, description="day, or local time, the platform received it "
                                                      "(a time with a UTC offset is converted to UTC+5)")
    detected: date | None = Field(None, description="day its violation was detected (default: the case's)")

    @field_validator("received", mode="before")
    @classmethod
    def _received_local(cls, value: Any) -> Any:
        return local_time_input(value)


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


def schedule_problem(schedule: tuple[StageStep, ...]) -> tuple[int, str, str] | None:
    """The first step out of item 9's order, as ``(index, field, reason)``: both the reductions
    (10% -> 50% -> 90%) and the months (8 -> 12 -> 18) must increase."""
    for i, (prev, step) in enumerate(pairwise(schedule), start=1):
        for field, now, before in (("reduction", step.reduction, prev.reduction),
                                   ("months", step.months, prev.months)):
            if now <= before:
                return i, field, (f"{now:g} must be greater than stage_schedule[{i - 1}].{field} {before:g} "
                                  "(item 9: reductions 10% -> 50% -> 90% at increasing months)")
    return None


def check_schedule(schedule: tuple[StageStep, ...]) -> None:
    """Raise InputError naming ``stage_schedule[i].field`` if the schedule is out of item 9's order."""
    problem = schedule_problem(schedule)
    if problem is not None:
        i, field, reason = problem
        raise InputError(reason, where=f"stage_schedule[{i}].{field}")


def _item_error(title: str, loc: tuple[int | str, ...], reason: str, value: Any) -> ValidationError:
    """A validation error located at ``loc`` inside the field being validated."""
    error = PydanticCustomError("value_error", "{reason}", {"reason": reason})
    return ValidationError.from_exception_data(title, [InitErrorDetails(type=error, loc=loc, input=value)])


def _not_before_field(value: date | None, info: ValidationInfo, earlier: str, why: str) -> date | None:
    """``value`` unless it falls before the case's field ``earlier`` (validated before it)."""
    other = info.data.get(earlier)
    if value is not None and other is not None and value < other:
        raise ValueError(f"{value.isoformat()} is before {earlier} {other.isoformat()}: {why}")
    return value


class Case(_Model):
    """A case: the platform, what happened when, and the details the Appendix 1-3 documents need."""

    platform: str = Field(min_length=1)
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    detected: date
    # Legacy single notification: read as the item 6 notice (see reading_note).
    notification_number: str | None = None
    notified: date | None = None
    removal_notice: Notice | None = Field(None, description="item 5 notice (Appendix 1)")
    representative_notice: Notice | None = Field(None, description="item 6 notice (Appendix 2)")
    foreign: bool | None = Field(None, description="whether the platform is foreign (items 6-9)")
    avg_daily_users_month: int | None = Field(None, ge=0, description="Appendix 2: average daily users")
    report_term: ReportTerm = ReportTerm.CALENDAR_DAYS
    six_hour_term: bool = False
    stats_requested: date | None = None
    directive_number: str | None = None
    directive_date: date | None = None
    directive_received: date | None = None
    as_of: date | None = Field(None, description="Appendix 3: date as of which no reply came")
    lifted: date | None = Field(None, description="day the directive was lifted: the platform complied "
                                                  "(every meter removed; no later stage applies)")
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

    @field_validator("directive_date")
    @classmethod
    def _directive_after_detection(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _not_before_field(value, info, "detected", "a directive cannot precede detection")

    @field_validator("directive_received")
    @classmethod
    def _received_after_dated(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _not_before_field(value, info, "directive_date",
                                 "a directive is received on or after the day it is dated")

    @field_validator("as_of")
    @classmethod
    def _as_of_after_detection(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _not_before_field(value, info, "detected", "there is no case to report on yet")

    @field_validator("stage_schedule")
    @classmethod
    def _schedule_in_order(cls, value: tuple[StageStep, ...]) -> tuple[StageStep, ...]:
        problem = schedule_problem(value)
        if problem is not None:
            i, field, reason = problem
            raise _item_error("Case", (i, field), reason, getattr(value[i], field))
        return value

    @model_validator(mode="after")
    def _one_item6_notice(self) -> Case:
        rep = self.representative_notice
        if rep is None:
            return self
        for legacy, field, new in (("notification_number", "number", rep.number),
                                   ("notified", "sent", rep.sent)):
            old = getattr(self, legacy)
            if old is not None and new is not None and old != new:
                raise ValueError(f"{legacy} ({old}) and representative_notice.{field} ({new}) disagree")
        return self

    @property
    def item6(self) -> Notice:
        """The item 6 notice (Appendix 2): ``representative_notice``, completed by the legacy fields."""
        rep = self.representative_notice or Notice()
        return rep.model_copy(update={"number": rep.number or self.notification_number,
                                      "sent": rep.sent or self.notified})

    @property
    def reading_note(self) -> str | None:
        """One line saying how an old (single-notification) case file was read, None for a new one."""
        used = [f for f in ("notification_number", "notified") if getattr(self, f) is not None]
        if not used or self.representative_notice is not None:
            return None
        return (f"read {' and '.join(used)} as the item 6 notice (Appendix 2, representative_notice); "
                "no item 5 notice (Appendix 1, removal_notice) given")

    def timeline(self, *, roll: bool = True, cal: WorkCalendar | None = None,
                 report_term: ReportTerm | str | None = None, six_hour_term: bool | None = None) -> Timeline:
        """The deadlines of this case (``report_term``/``six_hour_term`` override the case's own)."""
        item6 = self.item6
        return compute_timeline(
            self.detected,
            notified=item6.sent,
            stats_requested=self.stats_requested,
            directive_received=self.directive_received,
            stage_reading=self.stage_reading,
            schedule=self.stage_schedule,
            roll=roll,
            cal=cal,
            representative=item6,
            removal=self.removal_notice,
            report_term=report_term if report_term is not None else self.report_term,
            six_hour_term=six_hour_term if six_hour_term is not None else self.six_hour_term,
            foreign=self.foreign,
            avg_daily_users_month=self.avg_daily_users_month,
            lifted=self.lifted,
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
class NoticeTrack:
    """One notification track: item 5 (Appendix 1) or item 6 (Appendix 2)."""

    name: str  # removal_notice | representative_notice
    item: str
    appendix: int
    detected: date
    due: date
    sent: date
    sent_assumed: bool
    received: date | datetime | None
    number: str | None
    channel: str | None
    drives: tuple[str, ...]

    def to_data(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "item": self.item, "appendix": self.appendix, "number": self.number, "channel": self.channel,
            "detected": self.detected.isoformat(), "due": self.due.isoformat(), "sent": self.sent.isoformat(),
            "sent_assumed": self.sent_assumed,
            "received": self.received.isoformat() if self.received is not None else None,
            "drives": list(self.drives),
        }


@dataclass(frozen=True)
class SixHourTerm:
    """Appendix 2's optional six-hour term, counted from the item 6 notice's receipt."""

    received: date | datetime
    received_assumed: bool

    @property
    def due(self) -> datetime | None:
        """The moment six hours after receipt, if the time of receipt is known."""
        return self.received + SIX_HOURS if isinstance(self.received, datetime) else None

    @property
    def due_on_or_before(self) -> date:
        """The last day on which the term can end (the next day if only the day of receipt is known)."""
        due = self.due
        if due is not None:
            return due.date()
        return self.received + timedelta(days=1)

    def to_data(self) -> dict[str, Any]:
        """JSON-able form, with the conflict warning."""
        due = self.due
        return {"reading": "appendix-2-six-hours", "from": self.received.isoformat(),
                "received_assumed": self.received_assumed,
                "due": due.isoformat() if due is not None else None,
                "due_on_or_before": self.due_on_or_before.isoformat(),
                "drives": [], "warning": SIX_HOUR_WARNING}


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
    report_term: ReportTerm = ReportTerm.CALENDAR_DAYS
    tracks: tuple[NoticeTrack, ...] = ()
    six_hour: SixHourTerm | None = None
    applicability: tuple[Finding, ...] = ()
    provisional: tuple[tuple[str, date], ...] = ()
    lifted: date | None = None  # the directive was lifted (the platform complied)

    def to_data(self) -> dict[str, Any]:
        """The JSON document of ``throttlebed timeline --json``."""
        iso = date.isoformat
        return {
            "stage_reading": str(self.stage_reading),
            "report_term": str(self.report_term),
            "detected": iso(self.detected),
            "notification_due": iso(self.notification_due),
            "notified": iso(self.notified),
            "tracks": {t.name: t.to_data() for t in self.tracks},
            "stats_request_due": iso(self.stats_request_due),
            "stats_requested": iso(self.stats_requested),
            "stats_reply_due": iso(self.stats_reply_due),
            "stages": [s.to_data() for s in self.stages],
            "directive_received": iso(self.directive_received),
            "report_due": iso(self.report_due),
            "six_hour_term": self.six_hour.to_data() if self.six_hour is not None else None,
            "applicability": [f.to_data() for f in self.applicability],
            "provisional": bool(self.provisional),
            "provisional_dates": [{"field": k, "date": iso(d)} for k, d in self.provisional],
            "assumed": list(self.assumed),
            "roll": self.roll,
            "items": dict(ITEMS),
            "warnings": list(self.warnings),
            **({"lifted": iso(self.lifted)} if self.lifted is not None else {}),
        }


def labelled(label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` (a term or a calendar check), naming ``label`` in any InputError it raises."""
    try:
        return fn(*args, **kwargs)
    except InputError as e:
        raise InputError(e.reason, where=label) from None
    except OverflowError:
        raise InputError("falls outside the calendar (years 1-9999)", where=label) from None


def not_before(label: str, value: date, other_label: str, other: date) -> None:
    """Raise InputError naming ``label`` if ``value`` is before ``other``."""
    if value < other:
        raise InputError(f"{value.isoformat()} is before {other_label} {other.isoformat()}", where=label)


def report_due_for(received: date, term: ReportTerm | str, *, roll: bool = True,
                   cal: WorkCalendar | None = None) -> date:
    """Appendix 3 item 2: the day the report of execution is due, under the named reading ``term``."""
    if ReportTerm(term) is ReportTerm.HOURS_240:
        return received + timedelta(hours=24 * REPORT_CALENDAR_DAYS)  # same time of day, 10 days on
    return add_calendar_days(received, REPORT_CALENDAR_DAYS, roll=roll, cal=cal)


def _report_term(value: ReportTerm | str) -> ReportTerm:
    try:
        return ReportTerm(value)
    except ValueError:
        raise InputError(f"must be calendar-days or hours-240, got {value!r}", where="report_term") from None


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
    representative: Notice | None = None,
    removal: Notice | None = None,
    report_term: ReportTerm | str = ReportTerm.CALENDAR_DAYS,
    six_hour_term: bool = False,
    foreign: bool | None = None,
    avg_daily_users_month: int | None = None,
    lifted: date | None = None,
) -> Timeline:
    """The deadlines of a case detected on ``detected``; dates not given are taken as due.

    ``notified`` is the day the item 6 notice was sent (``representative`` carries its other
    details); ``removal`` is the item 5 notice, shown as its own track and driving nothing else.
    ``lifted``: the day the directive was lifted (the platform complied); stages from then on do
    not apply (a warning names them), and a lift before any directive is warned about.
    """
    cal = cal if cal is not None else kz_calendar()
    try:
        reading = StageReading(stage_reading)
    except ValueError:
        raise InputError(f"must be escalation or deadline, got {stage_reading!r}",
                         where="stage_reading") from None
    term = _report_term(report_term)
    check_schedule(schedule)
    assumed: list[str] = []
    warnings: list[str] = []
    provisional: dict[str, date] = {}

    def mark(label: str, value: date, *, consulted: bool, bases: tuple[str, ...] = ()) -> date:
        """Record ``value`` as provisional if it used an unconfirmed year or follows from a date that did."""
        if (consulted and cal.is_provisional(value)) or any(b in provisional for b in bases):
            provisional[label] = value
        return value

    def taken(label: str, given: date | None, due: date, due_label: str) -> date:
        """``given`` if given, else ``due`` (assumed; provisional if ``due`` is)."""
        if given is None:
            assumed.append(label)
            return mark(label, due, consulted=False, bases=(due_label.split(" ")[0],))
        if given > due:
            warnings.append(f"{label} {given.isoformat()} is after {due_label} {due.isoformat()}")
        return given

    labelled("detected", cal.check, detected)
    notification_due = mark("notification_due", labelled(
        "notification_due", add_working_days, detected, NOTIFICATION_WORKING_DAYS, cal), consulted=True)
    if notified is not None:
        not_before("notified", notified, "detected", detected)
    notified_d = taken("notified", notified, notification_due, "notification_due (item 6)")

    stats_request_due = mark("stats_request_due", labelled(
        "stats_request_due", add_months, notified_d, STATS_REQUEST_MONTHS, roll=roll, cal=cal),
        consulted=roll, bases=("notified",))
    if stats_requested is not None:
        not_before("stats_requested", stats_requested, "notified", notified_d)
    stats_requested_d = taken("stats_requested", stats_requested, stats_request_due,
                              "stats_request_due (item 7)")
    stats_reply_due = mark("stats_reply_due", labelled(
        "stats_reply_due", add_calendar_days, stats_requested_d, STATS_REPLY_CALENDAR_DAYS, roll=roll,
        cal=cal),
        consulted=roll, bases=("stats_requested",))

    offsets = [mark(f"stages[{i}].offset", labelled(f"stages[{i}]", add_months, notified_d, step.months,
                                                    roll=roll, cal=cal), consulted=roll, bases=("notified",))
               for i, step in enumerate(schedule)]
    stages: list[StageDate] = []
    for i, (step, offset) in enumerate(zip(schedule, offsets, strict=True)):
        item = f"9.{i + 1}"
        if reading is StageReading.ESCALATION:
            stages.append(StageDate(step.reduction, offset, None, step.months, item))
            mark(f"stages[{i}]", offset, consulted=False, bases=(f"stages[{i}].offset",))
        else:
            start = stats_reply_due if i == 0 else max(offsets[i - 1], stats_reply_due)
            stages.append(StageDate(step.reduction, start, offset, step.months, item))
            prev = (f"stages[{i - 1}].offset",) if i else ()
            mark(f"stages[{i}]", start, consulted=False,
                 bases=(f"stages[{i}].offset", "stats_reply_due", *prev))
    for i in range(len(offsets)):
        provisional.pop(f"stages[{i}].offset", None)
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
        not_before("directive_received", directive_received, "stats_requested", stats_requested_d)
        directive_d = directive_received
    else:
        assumed.append("directive_received")
        directive_d = mark("directive_received", first_directive, consulted=False,
                           bases=("stats_reply_due", "stages[0]"))
    report_due = mark("report_due",
                      labelled("report_due", report_due_for, directive_d, term, roll=roll, cal=cal),
                      consulted=roll and term is ReportTerm.CALENDAR_DAYS, bases=("directive_received",))

    rep = representative or Notice()
    _received_not_before_sent("representative_notice.received", rep.received, notified_d)
    tracks = [NoticeTrack("representative_notice", "6", 2, detected, notification_due, notified_d,
                          notified is None, rep.received, rep.number, rep.channel,
                          ("7", "8", "9", "Appendix 3 No.")),
              *_removal_track(removal, detected, cal, warnings, mark)]
    six_hour = None
    if six_hour_term:
        received = rep.received if rep.received is not None else notified_d
        six_hour = SixHourTerm(received, rep.received is None)
        warnings.append(SIX_HOUR_WARNING)
    findings = applicability_findings(foreign, avg_daily_users_month)
    warnings.extend(w for f in findings if (w := f.warning()) is not None)
    if provisional:
        years = sorted({d.year for d in provisional.values() if cal.is_provisional(d)})
        warnings.append(
            f"provisional: {', '.join(map(str, years))} computed from the holidays package without a "
            f"confirmed decree-transfer table ({cal.source}); dates: {', '.join(provisional)}")
    if lifted is not None:
        not_before("lifted", lifted, "detected", detected)
        if lifted < directive_d:
            warnings.append(f"lifted {lifted.isoformat()} is before the directive is received "
                            f"{directive_d.isoformat()}: there was nothing to lift")
        for s in stages:
            if s.start > lifted:
                warnings.append(f"stage {round(s.reduction * 100)}% (from {s.start.isoformat()}) does "
                                f"not apply: the directive was lifted {lifted.isoformat()}")

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
        report_term=term,
        tracks=tuple(tracks),
        six_hour=six_hour,
        applicability=findings,
        provisional=tuple(provisional.items()),
        lifted=lifted,
    )


def _received_not_before_sent(label: str, received: date | datetime | None, sent: date) -> None:
    day = received.date() if isinstance(received, datetime) else received
    if day is not None and day < sent:
        raise InputError(f"{day.isoformat()} is before the notice was sent {sent.isoformat()}", where=label)


def _removal_track(removal: Notice | None, detected: date, cal: WorkCalendar, warnings: list[str],
                   mark: Callable[..., date]) -> list[NoticeTrack]:
    """The item 5 track (Appendix 1), if the case has an item 5 notice; it drives no later item."""
    if removal is None:
        return []
    found = removal.detected or detected
    labelled("removal_notice.detected", cal.check, found)
    due = mark("removal_notice.due", labelled("removal_notice.due", add_working_days, found,
                                              NOTIFICATION_WORKING_DAYS, cal), consulted=True)
    if removal.sent is not None:
        not_before("removal_notice.sent", removal.sent, "removal_notice.detected", found)
        if removal.sent > due:
            warnings.append(f"removal_notice.sent {removal.sent.isoformat()} is after its due date "
                            f"{due.isoformat()} (item 5)")
    _received_not_before_sent("removal_notice.received", removal.received, removal.sent or found)
    sent = removal.sent if removal.sent is not None else mark("removal_notice.sent", due, consulted=False,
                                                                bases=("removal_notice.due",))
    return [NoticeTrack("removal_notice", "5", 1, found, due, sent, removal.sent is None, removal.received,
                        removal.number, removal.channel, ())]


def case_from_data(data: Any, source: str | None = None) -> Case:
    """Validate plain data (parsed YAML) into a Case."""
    return model_from_data(Case, data, source,
                           "a case must be a mapping with at least 'platform' and 'detected'")


def load_case(path: str | Path) -> Case:
    """Read and validate a case file (YAML or JSON)."""
    return case_from_data(read_yaml(path), str(path))
