"""A case walked through its life as SimPy processes on a simulated calendar (env time = days).

detection -> [item 5 notice, its own event] -> item 6 notice -> statistics request (item 7)
-> statistics reply (item 8) -> directive per stage (item 9, Appendix 3) -> report of execution
per directive (Appendix 3 item 2). Each step is an event ``(date, name, item)`` so an experiment
can replay a case. If the platform complies (appoints its legal representative), nothing after
that day happens.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import simpy

from throttlebed.directive.calendar import WorkCalendar
from throttlebed.directive.case import ReportTerm, Timeline, not_before, report_due_for


@dataclass(frozen=True)
class CaseEvent:
    """One step of a case: the day, the simulated time in days since detection, what, which item."""

    day: date
    t_days: int
    name: str
    item: str
    detail: str = ""

    def to_data(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"date": self.day.isoformat(), "t_days": self.t_days, "event": self.name,
                "item": self.item, "detail": self.detail}


class CaseLog:
    """Collects the events of one case, in simulated time."""

    def __init__(self, env: simpy.Environment, origin: date):
        self.env = env
        self.origin = origin
        self.events: list[CaseEvent] = []

    def today(self) -> date:
        """The simulated calendar day."""
        return self.origin + timedelta(days=int(self.env.now))

    def emit(self, name: str, item: str, detail: str = "") -> None:
        """Record that ``name`` happens today."""
        self.events.append(CaseEvent(self.today(), int(self.env.now), name, item, detail))


def _wait_until(log: CaseLog, day: date) -> simpy.Timeout:
    return log.env.timeout(max(0, (day - log.today()).days))


def report_process(log: CaseLog, received: date, stage_pct: int, cal: WorkCalendar | None,
                   term: ReportTerm = ReportTerm.CALENDAR_DAYS) -> Generator[simpy.Event, Any, None]:
    """The STS reports execution of a directive within 10 days of receiving it (Appendix 3 item 2)."""
    due = report_due_for(received, term, cal=cal)
    yield _wait_until(log, due)
    log.emit("report_due", "Appendix 3 item 2", f"stage {stage_pct}%, directive received {received}")


def case_process(log: CaseLog, t: Timeline, *, complied: date | None = None,
                 cal: WorkCalendar | None = None) -> Generator[simpy.Event, Any, None]:
    """Walk the case of timeline ``t``; stop on the day the platform complies, if it does."""
    steps: list[tuple[date, str, str, str, int | None]] = [
        (t.detected, "detected", "5-6", "violation detected", None),
        (t.notified, "notification_sent", "6", f"item 6 notice (Appendix 2), due {t.notification_due}", None),
        (t.stats_requested, "stats_requested", "7", f"due {t.stats_request_due}", None),
        (t.stats_reply_due, "stats_reply", "8", "statistics per region and period", None),
    ]
    steps += [(tr.sent, "removal_notice_sent", "5", f"item 5 notice (Appendix 1), due {tr.due}; drives "
               "nothing", None) for tr in t.tracks if tr.item == "5"]
    for i, s in enumerate(t.stages):
        pct = round(s.reduction * 100)
        received = t.directive_received if i == 0 else max(s.start, t.stats_reply_due)
        steps.append((received, f"directive_stage_{pct}", s.item,
                      f"{pct}% from {s.start} ({t.stage_reading} reading)", pct))
    for day, name, item, detail, pct in sorted(steps, key=lambda x: x[0]):
        if complied is not None and complied < day and (t.lifted is None or complied <= t.lifted):
            yield _wait_until(log, complied)
            log.emit("complied", "9", "legal representative appointed; no further restriction")
            return
        if t.lifted is not None and t.lifted < day:
            yield _wait_until(log, t.lifted)
            log.emit("lifted", "9", "the platform complied: directive lifted, every meter removed")
            return
        yield _wait_until(log, day)
        log.emit(name, item, detail)
        if pct is not None:
            log.env.process(report_process(log, day, pct, cal, t.report_term))


def replay_case(t: Timeline, *, complied: date | None = None,
                cal: WorkCalendar | None = None) -> list[CaseEvent]:
    """Run the case of timeline ``t`` to its end and return its events in order."""
    if complied is not None:
        not_before("complied", complied, "detected", t.detected)
    env = simpy.Environment()
    log = CaseLog(env, t.detected)
    env.process(case_process(log, t, complied=complied, cal=cal))
    env.run()
    return sorted(log.events, key=lambda e: e.t_days)
