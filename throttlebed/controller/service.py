"""The directive service: who may change the directive, keeping it, auditing it, confirming it.

A change (``PUT /directive`` or a lift, ``DELETE /directive``) is a transaction:

1. the bearer token is checked, then the new directive is checked enforceable and every connected
   switch's plan is built (nothing is stored or sent before);
2. an *intent* record is audited, the directive store is written, the core swaps the directive and
   the differences go to the switches;
3. the answer is 200 only once every connected switch confirmed (barrier reply, no OpenFlow error)
   within the timeout; otherwise the previous directive is put back on every switch and in the store
   and the answer is 502 naming the switches that failed;
4. a *result* record says what is really in force.

The service knows no OpenFlow: it drives the core and waits on the controller's condition variable,
which the adapter notifies on every barrier reply, error and disconnection.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from throttlebed.controller.audit import AuditLog, audit_record, token_id
from throttlebed.controller.core import EnforcementCore, Message, Outcome
from throttlebed.controller.plan import check_enforceable
from throttlebed.directive.schema import Directive, directive_from_data, save_directive
from throttlebed.errors import InputError

LOG = logging.getLogger("throttlebed.controller")


@dataclass
class ApiReply:
    """An HTTP status and a JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


Send = Callable[[dict[int, list[Message]]], None]


class DirectiveService:
    """Authorises, keeps, audits and confirms directive changes made through the API."""

    def __init__(self, core: EnforcementCore, cond: threading.Condition, send: Callable[[], Send],
                 mono: Callable[[], float], token: str | None, audit: AuditLog,
                 store: Path | None, rate_scale: float, burst_s: float, confirm_timeout_s: float):
        self.core = core
        self.cond = cond  # guards the core; notified when switches answer
        self.send = send  # the adapter's sender, looked up at each change
        self.mono = mono
        self.token = token
        self.audit = audit
        self.store = store
        self.rate_scale = rate_scale
        self.burst_s = burst_s
        self.confirm_timeout_s = confirm_timeout_s
        self.last_confirm_s: float | None = None  # accepted change -> last switch's confirmation
        self.changes_failed = 0
        self._one_at_a_time = threading.Lock()

    # ---- requests ---------------------------------------------------------------------------

    def authorize(self, authorization: str | None) -> tuple[ApiReply | None, str | None]:
        """(refusal, None) or (None, the token given)."""
        if self.token is None:
            return ApiReply(403, {"error": "changes are disabled: the controller has no --token-file"}), None
        given = None
        if authorization and authorization.startswith("Bearer "):
            given = authorization[len("Bearer "):].strip()
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return ApiReply(401, {"error": "missing or wrong bearer token"}), None
        return None, given

    def put(self, body: bytes, client: str, authorization: str | None) -> ApiReply:
        """PUT /directive."""
        refusal, given = self.authorize(authorization)
        if refusal is not None:
            return refusal
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:  # also an integer of more than 4300 digits
            return ApiReply(400, {"error": f"request body: not valid JSON: {e}"})
        except RecursionError:
            return ApiReply(400, {"error": "request body: nested too deeply to read"})
        try:
            new = check_enforceable(directive_from_data(data, source="request body"), "request body",
                                    self.rate_scale, self.burst_s)
        except InputError as e:
            return ApiReply(400, {"error": str(e)})
        return self.change(new, {"client": client, "token_id": token_id(given)}, "put-directive")

    def lift(self, client: str, authorization: str | None) -> ApiReply:
        """DELETE /directive: no directive, no meter; the platform's traffic is free again."""
        refusal, given = self.authorize(authorization)
        if refusal is not None:
            return refusal
        return self.change(None, {"client": client, "token_id": token_id(given)}, "lift-directive")

    # ---- the transaction --------------------------------------------------------------------

    def change(self, new: Directive | None, who: dict[str, Any], action: str) -> ApiReply:
        """Make ``new`` the directive in force on every connected switch, or leave the old one."""
        with self._one_at_a_time:
            with self.cond:
                old = self.core.directive
                for dpid in self.core.connected():  # every switch's plan, before anything is kept
                    self.core.plan_under(new, dpid, self.mono())
            digest = new.digest() if new else None
            old_digest = old.digest() if old else None
            summary = {"platform": new.platform, "stage": new.stage, "rows": len(new.rows)} if new else {}
            self.audit.append(audit_record(action, who, digest, old_digest, {"phase": "intent", **summary}))
            try:
                self._keep(new)
            except (OSError, InputError) as e:  # an unusable place is an InputError of atomic_write
                self.audit.append(audit_record(action, who, digest, old_digest, {
                    "phase": "result", "outcome": "not-stored", "in_force": old_digest}))
                reason = e.reason if isinstance(e, InputError) else e.strerror
                return ApiReply(500, {"error": f"{self.store}: cannot keep the directive ({reason}); "
                                               "nothing was changed"})
            start_s = self.mono()
            outcome = self._apply(new)
            if outcome.done and not outcome.failed:
                self.last_confirm_s = self.mono() - start_s
                switches = [f"{d:#x}" for d in outcome.confirmed]
                self.audit.append(audit_record(action, who, digest, old_digest, {
                    "phase": "result", "outcome": "confirmed", "in_force": digest,
                    "switches_confirmed": switches, "confirm_s": round(self.last_confirm_s, 4),
                    "stored": str(self.store) if self.store else None}))
                status = "applied" if new else "lifted"
                return ApiReply(200, {"status": status, "digest": digest, "switches_confirmed": switches,
                                      "confirm_s": round(self.last_confirm_s, 4)})
            return self._roll_back(old, outcome, who, action, digest, old_digest)

    def _roll_back(self, old: Directive | None, outcome: Outcome, who: dict[str, Any], action: str,
                   digest: str | None, old_digest: str | None) -> ApiReply:
        self.changes_failed += 1
        failed = sorted(outcome.failed + outcome.pending)
        with self.cond:
            reasons = {f"{d:#x}": (self.core.errors_of(d)[-1:] or ["no confirmation within "
                                                                    f"{self.confirm_timeout_s:g} s"])[0]
                       for d in failed}
        back = self._apply(old)
        back_failed = sorted(back.failed + back.pending)
        try:
            self._keep(old)
            stored_back = True
        except OSError:
            stored_back = False
        self.audit.append(audit_record(action, who, digest, old_digest, {
            "phase": "result", "outcome": "rolled-back", "in_force": old_digest,
            "switches_failed": list(reasons), "reasons": reasons,
            "rollback_unconfirmed": [f"{d:#x}" for d in back_failed], "store_restored": stored_back}))
        LOG.warning("%s refused by %s; previous directive restored%s", action, ", ".join(reasons),
                    f" (unconfirmed on {back_failed})" if back_failed else "")
        return ApiReply(502, {"error": f"switches {', '.join(reasons)} did not confirm the change; the "
                                       "previous directive is in force again",
                              "switches_failed": reasons, "in_force": old_digest,
                              "rollback_unconfirmed": [f"{d:#x}" for d in back_failed]})

    def _apply(self, directive: Directive | None) -> Outcome:
        """Swap the core's directive, send, and wait for every switch or the timeout."""
        with self.cond:
            version, msgs = self.core.put(directive, self.mono())
            self.send()(msgs)
            self.cond.wait_for(lambda: self.core.outcome(version).done, self.confirm_timeout_s)
            return self.core.outcome(version)

    def _keep(self, directive: Directive | None) -> None:
        """Write the store (a lift removes it: a restart then starts without a directive)."""
        if self.store is None:
            return
        if directive is None:
            self.store.unlink(missing_ok=True)
        else:
            save_directive(directive, self.store)
