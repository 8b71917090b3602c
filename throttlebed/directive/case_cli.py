"""``throttlebed deadline``, ``timeline`` and ``case``: terms, deadlines, Appendix 1-3 documents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from throttlebed.directive.calendar import WorkCalendar, kz_calendar
from throttlebed.directive.case import (
    Case,
    Notice,
    ReportTerm,
    Timeline,
    compute_timeline,
    labelled,
    load_case,
)
from throttlebed.directive.periods import kz_local
from throttlebed.directive.terms import add_calendar_days, add_months, add_months_clamped, add_working_days
from throttlebed.errors import InputError

_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class IsoDate(click.ParamType):
    """A date written YYYY-MM-DD."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if not _ISO_RE.match(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            self.fail(f"not a date YYYY-MM-DD: {value!r}", param, ctx)


ISO_DATE = IsoDate()

def _calendar_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--strict-calendar``, and ``--unconfirmed-years`` (now the default behaviour, kept as an alias)."""
    fn = click.option("--unconfirmed-years", is_flag=True, hidden=True,
                      help="compute years after the decree-transfer table provisionally (the default)")(fn)
    return click.option(
        "--strict-calendar", is_flag=True,
        help="refuse years after the decree-transfer table instead of computing them provisionally",
    )(fn)


def _calendar(strict_calendar: bool, unconfirmed_years: bool) -> WorkCalendar:
    if strict_calendar and unconfirmed_years:
        raise click.UsageError("--strict-calendar and --unconfirmed-years contradict each other")
    return kz_calendar().with_unconfirmed(not strict_calendar)


def _calendar_data(cal: WorkCalendar) -> dict[str, Any]:
    return {"confirmed_years": f"{cal.first_year}-{cal.last_year}",
            "unconfirmed_allowed": cal.allow_unconfirmed, "strict": not cal.allow_unconfirmed,
            "transfers_table": cal.source}


class IsoDateOrTime(click.ParamType):
    """A date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM, local (UTC+5) unless it has a UTC offset."""

    name = "DATE[THH:MM]"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> date | datetime:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        if "T" not in text:
            return ISO_DATE.convert(text, param, ctx)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"not a date YYYY-MM-DD or time YYYY-MM-DDTHH:MM: {value!r}", param, ctx)
        try:
            return kz_local(parsed)
        except ValueError as e:
            self.fail(str(e), param, ctx)


_report_term_option = click.option(
    "--report-term", type=click.Choice([t.value for t in ReportTerm]), default=None,
    help="Appendix 3 item 2's '10 тәулік': 10 calendar days rolled to a working day (calendar-days, the "
         "default) or ten 24-hour periods from receipt (hours-240)")
_six_hour_option = click.option(
    "--six-hour-term", is_flag=True, default=None,
    help="show Appendix 2's six-hour term (conflicts with items 7-9; drives nothing)")


def _note_reading(c: Case, case_path: Path) -> None:
    """Say, on one line of stderr, how an old single-notification case file was read."""
    note = c.reading_note
    if note is not None:
        click.echo(f"throttlebed: note: {case_path}: {note}", err=True)


MAX_TERM_MONTHS = 1200  # a century: the Rules' terms are days and months, never centuries
MAX_TERM_DAYS = 36600

@click.command()
@click.argument("start", metavar="DATE", type=ISO_DATE)
@click.option("--working-days", type=click.IntRange(min=0, max=MAX_TERM_DAYS),
              help=f"term in Kazakh working days (at most {MAX_TERM_DAYS})")
@click.option("--calendar-days", type=click.IntRange(min=0, max=MAX_TERM_DAYS),
              help=f"term in calendar days (at most {MAX_TERM_DAYS})")
@click.option("--months", type=click.IntRange(min=0, max=MAX_TERM_MONTHS),
              help=f"term in calendar months (at most {MAX_TERM_MONTHS})")
@click.option("--no-roll", is_flag=True, help="do not move an end on a non-working day")
@_calendar_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
def deadline(start: date, working_days: int | None, calendar_days: int | None, months: int | None,
             no_roll: bool, strict_calendar: bool, unconfirmed_years: bool, as_json: bool) -> None:
    """Print the day a term starting on DATE ends (DATE itself not counted)."""
    given = {k: v for k, v in (("working_days", working_days), ("calendar_days", calendar_days),
                               ("months", months)) if v is not None}
    if len(given) != 1:
        raise click.UsageError("give exactly one of --working-days, --calendar-days, --months")
    (kind, n), = given.items()
    cal = _calendar(strict_calendar, unconfirmed_years)
    labelled("DATE", cal.check, start)
    roll = not no_roll
    if kind == "working_days":
        end = labelled("end", add_working_days, start, n, cal)
        unrolled = end
    elif kind == "calendar_days":
        end = labelled("end", add_calendar_days, start, n, roll=roll, cal=cal)
        unrolled = labelled("end", add_calendar_days, start, n, roll=False)
    else:
        end = labelled("end", add_months, start, n, roll=roll, cal=cal)
        unrolled = add_months_clamped(start, n)
    if not as_json:
        click.echo(end.isoformat())
        return
    click.echo(json.dumps({
        "start": start.isoformat(),
        "term": {kind: n},
        "roll": roll if kind != "working_days" else None,
        "end": end.isoformat(),
        "unrolled_end": unrolled.isoformat(),
        "end_is_working_day": cal.is_working_day(end),
        # A working-day term consults every day up to its end, a rolled term its end: provisional
        # if that end lies after the confirmed decree-transfer table.
        "provisional": cal.is_provisional(end) and (kind == "working_days" or roll),
        "calendar": _calendar_data(cal),
    }))


def _print_timeline(t: Timeline) -> None:
    rows = [("detected", t.detected, "")]
    for tr in t.tracks:
        no = f" No. {tr.number}" if tr.number else ""
        rows.append((f"item {tr.item} notice due", tr.due, f"Appendix {tr.appendix}"))
        rows.append((f"item {tr.item} notice sent", tr.sent,
                     ("assumed" if tr.sent_assumed else "given") + no
                     + (f", drives {', '.join(tr.drives)}" if tr.drives else ", drives nothing")))
    rows += [
        ("stats_request_due", t.stats_request_due, "item 7"),
        ("stats_requested", t.stats_requested, "assumed" if "stats_requested" in t.assumed else "given"),
        ("stats_reply_due", t.stats_reply_due, "item 8"),
    ]
    for s in t.stages:
        label = f"stage {round(s.reduction * 100)}% from"
        note = f"item {s.item}" + (f", by {s.by.isoformat()}" if s.by else "")
        rows.append((label, s.start, note))
    rows += [
        ("directive_received", t.directive_received,
         "assumed" if "directive_received" in t.assumed else "given"),
        ("report_due", t.report_due, f"Appendix 3 item 2, {t.report_term}"),
    ]
    if t.lifted is not None:
        rows.append(("lifted", t.lifted, "the platform complied: every meter removed"))
    if t.six_hour is not None:
        rows.append(("six-hour term by", t.six_hour.due_on_or_before, "Appendix 2, optional"))
    provisional = {k for k, _ in t.provisional}
    click.echo(f"stage reading: {t.stage_reading}; report term: {t.report_term}")
    for label, d, note in rows:
        click.echo(f"{label:<22} {d.isoformat()}  {note}".rstrip())
    for f in t.applicability:
        click.echo(f"applicability: {f.check}: {f.status} ({f.detail})")
    if provisional:
        click.echo(f"provisional: {', '.join(sorted(provisional))}")
    for w in t.warnings:
        click.echo(f"warning: {w}")


def _emit_timeline(t: Timeline, cal: WorkCalendar, as_json: bool, note: str | None = None) -> None:
    if as_json:
        data = t.to_data()
        data["calendar"] = _calendar_data(cal)
        if note is not None:
            data["case_reading_note"] = note
        click.echo(json.dumps(data))
    else:
        _print_timeline(t)


_OPTION_OF = {
    "detected": "--detected", "notified": "--notified", "stats_requested": "--stats-requested",
    "directive_received": "--directive-received", "removal_notice.sent": "--removal-notified",
    "representative_notice.received": "--notice-received",
}
_REPLAY_OPTION_OF = {"complied": "--complied"}


@click.command()
@click.option("--detected", required=True, type=ISO_DATE, help="day the violation was detected")
@click.option("--notified", type=ISO_DATE,
              help="day the item 6 notice (Appendix 2) was sent (default: its due date)")
@click.option("--notice-received", type=IsoDateOrTime(),
              help="day, or time (local UTC+5; one with a UTC offset is converted), the platform "
                   "received the item 6 notice (six-hour term)")
@click.option("--removal-notified", type=ISO_DATE,
              help="day the item 5 notice (Appendix 1) was sent: shown as its own track, drives nothing")
@click.option("--stats-requested", type=ISO_DATE, help="day the statistics were requested (default: due)")
@click.option("--directive-received", type=ISO_DATE, help="day the STS received the directive (default: due)")
@click.option("--stage-reading", type=click.Choice(["escalation", "deadline"]), default="escalation",
              show_default=True, help="how item 9 is read")
@_report_term_option
@_six_hour_option
@click.option("--foreign/--not-foreign", default=None, help="whether the platform is foreign (finding)")
@click.option("--avg-daily-users", type=click.IntRange(min=0),
              help="average daily users in Kazakhstan over a month (finding: above 100,000?)")
@click.option("--no-roll", is_flag=True, help="do not move terms ending on a non-working day")
@_calendar_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
def timeline(detected: date, notified: date | None, notice_received: date | datetime | None,
             removal_notified: date | None, stats_requested: date | None, directive_received: date | None,
             stage_reading: str, report_term: str | None, six_hour_term: bool | None, foreign: bool | None,
             avg_daily_users: int | None, no_roll: bool, strict_calendar: bool, unconfirmed_years: bool,
             as_json: bool) -> None:
    """Print the deadlines of a case under the Rules (items 5-9, Appendices 2-3)."""
    cal = _calendar(strict_calendar, unconfirmed_years)
    try:
        t = compute_timeline(
            detected, notified=notified, stats_requested=stats_requested,
            directive_received=directive_received, stage_reading=stage_reading, roll=not no_roll, cal=cal,
            representative=Notice(sent=notified, received=notice_received),
            removal=Notice(sent=removal_notified) if removal_notified is not None else None,
            report_term=report_term or ReportTerm.CALENDAR_DAYS, six_hour_term=bool(six_hour_term),
            foreign=foreign, avg_daily_users_month=avg_daily_users)
    except InputError as e:
        raise InputError(e.reason, where=_OPTION_OF.get(e.where or "", e.where)) from None
    _emit_timeline(t, cal, as_json)


@click.group()
def case() -> None:
    """A case file: its timeline and its Appendix 1-3 documents."""


@case.command("timeline")
@click.argument("case_path", metavar="CASE.yaml", type=click.Path(path_type=Path))
@_report_term_option
@_six_hour_option
@click.option("--no-roll", is_flag=True, help="do not move terms ending on a non-working day")
@_calendar_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
def case_timeline(case_path: Path, report_term: str | None, six_hour_term: bool | None, no_roll: bool,
                  strict_calendar: bool, unconfirmed_years: bool, as_json: bool) -> None:
    """Print the deadlines of the case in CASE.yaml (--report-term/--six-hour-term override the file)."""
    c = load_case(case_path)
    cal = _calendar(strict_calendar, unconfirmed_years)
    _note_reading(c, case_path)
    try:
        t = c.timeline(roll=not no_roll, cal=cal, report_term=report_term, six_hour_term=six_hour_term)
    except InputError as e:
        raise e.located(str(case_path)) from None
    _emit_timeline(t, cal, as_json, c.reading_note)


@case.command("replay")
@click.argument("case_path", metavar="CASE.yaml", type=click.Path(path_type=Path))
@click.option("--complied", type=ISO_DATE, help="day the platform complied (nothing happens after it)")
@_calendar_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
def case_replay(case_path: Path, complied: date | None, strict_calendar: bool, unconfirmed_years: bool,
                as_json: bool) -> None:
    """Walk the case in CASE.yaml through its life (SimPy, one step per day) and print its events."""
    from throttlebed.directive.case_process import replay_case

    c = load_case(case_path)
    cal = _calendar(strict_calendar, unconfirmed_years)
    _note_reading(c, case_path)
    try:
        events = replay_case(c.timeline(cal=cal), complied=complied, cal=cal)
    except InputError as e:
        if e.where in _REPLAY_OPTION_OF:
            raise InputError(e.reason, where=_REPLAY_OPTION_OF[e.where]) from None
        raise e.located(str(case_path)) from None
    if as_json:
        data = {"stage_reading": str(c.stage_reading), "events": [e.to_data() for e in events]}
        click.echo(json.dumps(data))
        return
    for e in events:
        click.echo(f"{e.day.isoformat()}  t+{e.t_days:>4}d  {e.name:<20} [{e.item}]  {e.detail}".rstrip())


@case.command("render")
@click.option("--appendix", required=True, type=click.Choice(["1", "2", "3"]), help="which form of the Rules")
@click.option("--case", "case_path", required=True, type=click.Path(path_type=Path), help="case file (YAML)")
@click.option("--directive", "directive_path", type=click.Path(path_type=Path),
              help="directive file (Appendix 3 table)")
@click.option("--lang", required=True, type=click.Choice(["kk", "ru", "en"]), help="language of the document")
@click.option("--format", "fmt", required=True, type=click.Choice(["md", "html", "docx"]),
              help="output format")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="write to FILE instead of stdout")
def case_render(appendix: str, case_path: Path, directive_path: Path | None, lang: str, fmt: str,
                output: Path | None) -> None:
    """Render the Appendix 1, 2 or 3 document of a case."""
    from throttlebed.directive.documents import emit_document, render_document
    from throttlebed.directive.schema import load_directive
    from throttlebed.fileio import check_output_file

    if output is not None:
        check_output_file(output, "-o", inputs=[p for p in (case_path, directive_path) if p is not None])
    c = load_case(case_path)
    _note_reading(c, case_path)
    d = load_directive(directive_path) if directive_path is not None else None
    content = render_document(int(appendix), lang, fmt, case=c, directive=d,
                              case_source=str(case_path),
                              directive_source=str(directive_path) if directive_path else None)
    emit_document(content, fmt, output)
