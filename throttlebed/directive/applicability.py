"""Whether the Rules apply to a case: findings, never assumptions.

Items 6-9 concern a *foreign* online platform; Appendices 2-3 cite Art. 9 para 1 of the Law
"On online platforms and online advertising": the duty to appoint a legal representative falls on
platforms whose average daily reach in Kazakhstan over one month exceeds one hundred thousand
users ("бір жүз мыңнан астам": strictly more than 100,000). A condition the case does not state is
reported as ``unknown``, not taken as met.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

AVG_DAILY_USERS_THRESHOLD = 100_000  # Appendix 2 (Art. 9 para 1): more than this many users

Status = Literal["met", "not_met", "unknown"]


@dataclass(frozen=True)
class Finding:
    """One applicability condition of the Rules and what the case says about it."""

    check: str
    basis: str
    status: Status
    detail: str

    def to_data(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"check": self.check, "basis": self.basis, "status": self.status, "detail": self.detail}

    def warning(self) -> str | None:
        """A one-line warning if the case shows the condition does not hold (``unknown`` stays a finding)."""
        if self.status != "not_met":
            return None
        return f"applicability: {self.check} not met: {self.detail}"


def applicability_findings(foreign: bool | None, avg_daily_users_month: int | None) -> tuple[Finding, ...]:
    """The two applicability findings of a case (foreign platform; reach above 100,000 a day)."""
    if foreign is None:
        f_status: Status = "unknown"
        f_detail = "the case does not say whether the platform is foreign (field 'foreign')"
    elif foreign:
        f_status, f_detail = "met", "the platform is foreign"
    else:
        f_status, f_detail = "not_met", "the platform is not foreign: items 6-9 concern foreign platforms"
    if avg_daily_users_month is None:
        u_status: Status = "unknown"
        u_detail = ("the case does not give the average daily users over a month "
                    "(field 'avg_daily_users_month')")
    elif avg_daily_users_month > AVG_DAILY_USERS_THRESHOLD:
        u_status = "met"
        u_detail = f"{avg_daily_users_month} average daily users > {AVG_DAILY_USERS_THRESHOLD}"
    else:
        u_status = "not_met"
        u_detail = (f"{avg_daily_users_month} average daily users is not above {AVG_DAILY_USERS_THRESHOLD}: "
                    "no duty to appoint a legal representative")
    return (
        Finding("foreign", "items 6-9: a foreign online platform", f_status, f_detail),
        Finding("avg_daily_users_month",
                "Appendix 2: Art. 9 para 1 of the Law on online platforms (more than 100,000 average daily "
                "users in Kazakhstan over one month)", u_status, u_detail),
    )
