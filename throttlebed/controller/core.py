"""The enforcement core: what every switch must hold, what it has confirmed, what to send next. Pure.

No OpenFlow library and no threads here (the style of Faucet's valves). The core holds the
directive, the emulated clock, the region map and, per switch, the plan the switch has *confirmed*
(a barrier reply with no OpenFlow error before it). It takes events and returns the messages to
send as plain data, each with the transaction id (``xid``) the core chose:

- ``switch_up``: the switch connected; the core first reads what it holds (meter config and flow
  stats) and ``switch_contents`` then sends only the differences (reconcile, never a wipe: a meter
  that is already right is left alone, so its bucket is not refilled).
- ``put``/``lift``: a new directive (or none); each ready switch gets the difference to its new plan.
- ``tick``: the emulated clock moved (period boundaries); retries of switches that failed.
- ``barrier_reply``/``error``: confirmation or rejection of what was sent.

Order of a change on one switch: forwarding first (unmetered flows), then meters, then flows that
use meters, then deletions (flows before the meters they used). A batch ends with a barrier; the
switch answers in order, so an error for any message of the batch arrives before the barrier reply.
A switch that rejected something holds an unknown mix: it is read again and reconciled.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Network

from throttlebed.controller.plan import Flow, Meter, SwitchPlan, plan_diff, switch_plan
from throttlebed.controller.region_map import RegionMap
from throttlebed.directive.schema import Directive

# xids of the core's messages start high so that they do not meet os-ken's own (handshake, echo)
XID_BASE = 0x5EED0000


@dataclass(frozen=True)
class MeterMsg:
    """An OFPMeterMod: ``command`` add | modify | delete (``meter`` None for delete)."""

    xid: int
    command: str
    meter_id: int
    meter: Meter | None = None


@dataclass(frozen=True)
class FlowMsg:
    """An OFPFlowMod on table 0: ``command`` add | modify | delete (strict: priority + match).

    ``delete-table`` removes every flow of ``table_id`` (flows of other tables are not ours).
    """

    xid: int
    command: str
    flow: Flow | None = None
    table_id: int = 0


@dataclass(frozen=True)
class BarrierMsg:
    """An OFPBarrierRequest ending a batch."""

    xid: int


@dataclass(frozen=True)
class ReadMetersMsg:
    """A meter *statistics* request for every meter (``closing``: read just before a modify/delete)."""

    xid: int
    closing: bool = False
    generations: tuple[tuple[int, int], ...] = ()  # (meter id, generation) when asked


@dataclass(frozen=True)
class ReadSwitchMsg:
    """Meter config and flow stats requests (all tables): what the switch holds, for a reconcile."""

    meters_xid: int
    flows_xid: int


Message = MeterMsg | FlowMsg | BarrierMsg | ReadMetersMsg | ReadSwitchMsg


@dataclass(frozen=True)
class FoundFlow:
    """A flow read from a switch: its table and the plan's form of it (``None``: not of our form)."""

    table_id: int
    flow: Flow


@dataclass
class _Batch:
    barrier_xid: int
    xids: set[int]
    target: SwitchPlan
    version: int


@dataclass
class _Switch:
    dpid: int
    confirmed: SwitchPlan | None = None  # what the switch confirmed holding (None: unknown)
    expected: SwitchPlan | None = None  # confirmed + batches in flight, if they succeed
    batches: list[_Batch] = field(default_factory=list)
    reading: tuple[int, int] | None = None  # (meter config xid, flow stats xid) of a reconcile
    confirmed_version: int = -1  # directive version of the confirmed plan
    failed_version: int = -1  # highest directive version this switch rejected
    errors: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Known contents: changes can be sent as differences."""
        return self.expected is not None and self.reading is None


@dataclass(frozen=True)
class Outcome:
    """How a directive version fared on the connected switches."""

    version: int
    confirmed: tuple[int, ...]
    failed: tuple[int, ...]
    pending: tuple[int, ...]

    @property
    def done(self) -> bool:
        """Every switch answered (confirmed or failed)."""
        return not self.pending


class EnforcementCore:
    """Directive + clock + region map -> messages per switch; confirmed plans per switch."""

    def __init__(self, region_map: RegionMap, local_at: Callable[[float], datetime],
                 rate_scale: float = 1.0, burst_s: float = 1.0,
                 platform_prefixes: Iterable[IPv4Network] = (), uplink_port: int | None = None,
                 directive: Directive | None = None):
        self.region_map = region_map
        self.local_at = local_at
        self.rate_scale = rate_scale
        self.burst_s = burst_s
        self.platform_prefixes = tuple(platform_prefixes)
        self.uplink_port = uplink_port
        self.directive = directive
        self.version = 0  # bumped at each put/lift
        self.switches: dict[int, _Switch] = {}
        self.generations: dict[tuple[int, int], int] = {}  # (dpid, meter id) -> counter restarts
        self._xids = itertools.count(XID_BASE)

    # ---- plans ----------------------------------------------------------------------------

    def wanted(self, dpid: int, mono_s: float) -> SwitchPlan:
        """The plan of switch ``dpid`` at monotonic time ``mono_s``."""
        return self.plan_under(self.directive, dpid, mono_s)

    def plan_under(self, directive: Directive | None, dpid: int, mono_s: float) -> SwitchPlan:
        """The plan switch ``dpid`` would hold under ``directive`` at ``mono_s``."""
        return switch_plan(dpid, self.region_map.region_of(dpid), directive, self.local_at(mono_s),
                           self.rate_scale, self.burst_s, self.platform_prefixes, self.uplink_port)

    def confirmed(self, dpid: int) -> SwitchPlan | None:
        """What switch ``dpid`` confirmed holding (None if unknown or not connected)."""
        sw = self.switches.get(dpid)
        return sw.confirmed if sw else None

    def connected(self) -> list[int]:
        """dpids of connected switches."""
        return sorted(self.switches)

    # ---- events ---------------------------------------------------------------------------

    def switch_up(self, dpid: int) -> list[Message]:
        """A switch connected: read what it holds first."""
        sw = self.switches[dpid] = _Switch(dpid)
        return self._read(sw)

    def switch_down(self, dpid: int) -> None:
        """A switch disconnected: nothing of it is known any more."""
        self.switches.pop(dpid, None)

    def switch_contents(self, dpid: int, meters_xid: int, meters: Iterable[Meter],
                        flows: Iterable[FoundFlow], mono_s: float) -> list[Message]:
        """The switch's answer to a reconcile read: send only the differences to the plan of now."""
        sw = self.switches.get(dpid)
        if sw is None or sw.reading is None or sw.reading[0] != meters_xid:
            return []  # an answer of an earlier connection or read
        sw.reading = None
        found = list(flows)
        held = SwitchPlan(dpid, self.region_map.region_of(dpid), tuple(sorted(meters)),
                          tuple(sorted(f.flow for f in found if f.table_id == 0)))
        for m in held.meters:  # counters of meters we keep run on: known from now on
            self._bump(dpid, m.meter_id)
        sw.expected = held
        other_tables = sorted({f.table_id for f in found if f.table_id != 0})
        msgs: list[Message] = [FlowMsg(next(self._xids), "delete-table", None, t) for t in other_tables]
        return self._change(sw, self.wanted(dpid, mono_s), self.version, msgs)

    def put(self, directive: Directive | None, mono_s: float) -> tuple[int, dict[int, list[Message]]]:
        """Make ``directive`` (None: lift) the one in force; the messages per switch; its version.

        After a lift the platform's flows stay, unmetered, so its traffic is still counted (unless
        the controller was given prefixes to count of its own).
        """
        if directive is None and self.directive is not None and not self.platform_prefixes:
            self.platform_prefixes = tuple(self.directive.platform_prefixes)
        self.directive = directive
        self.version += 1
        out: dict[int, list[Message]] = {}
        for dpid, sw in sorted(self.switches.items()):
            if sw.ready:
                out[dpid] = self._change(sw, self.wanted(dpid, mono_s), self.version)
            elif sw.reading is None:  # contents unknown (it rejected something): read, then reconcile
                out[dpid] = self._read(sw)
            # a switch being read gets the new directive's plan when its contents arrive
        return self.version, out

    def tick(self, mono_s: float) -> dict[int, list[Message]]:
        """The clock moved: period changes; switches whose contents are unknown are read again."""
        out: dict[int, list[Message]] = {}
        for dpid, sw in sorted(self.switches.items()):
            if sw.reading is not None:
                continue
            if sw.expected is None:
                out[dpid] = self._read(sw)
                continue
            msgs = self._change(sw, self.wanted(dpid, mono_s), self.version)
            if msgs:
                out[dpid] = msgs
        return out

    def barrier_reply(self, dpid: int, xid: int) -> bool:
        """A batch is done without error: its plan is confirmed. True if it was a batch of ours."""
        sw = self.switches.get(dpid)
        if sw is None:
            return False
        batch = next((b for b in sw.batches if b.barrier_xid == xid), None)
        if batch is None:
            return False
        sw.batches = [b for b in sw.batches if b.barrier_xid > xid]
        sw.confirmed = batch.target
        sw.confirmed_version = max(sw.confirmed_version, batch.version)
        return True

    def error(self, dpid: int, xid: int, text: str) -> bool:
        """The switch rejected message ``xid``: every batch in flight fails and its contents are
        unknown until the next ``put`` or ``tick`` reads them again. True if the message was ours."""
        sw = self.switches.get(dpid)
        if sw is None:
            return False
        in_batch = any(xid in b.xids for b in sw.batches)
        reading = sw.reading is not None and xid in sw.reading
        if not in_batch and not reading:
            return False  # about a message of os-ken's or a statistics poll
        sw.errors.append(text)
        for b in sw.batches:
            sw.failed_version = max(sw.failed_version, b.version)
        if reading:
            sw.failed_version = max(sw.failed_version, self.version)
        sw.batches = []
        sw.confirmed = None
        sw.expected = None
        sw.reading = None
        return True

    # ---- outcomes -------------------------------------------------------------------------

    def outcome(self, version: int) -> Outcome:
        """Which connected switches confirmed, rejected, or have not yet answered ``version``."""
        ok, bad, wait = [], [], []
        for dpid, sw in sorted(self.switches.items()):
            if sw.failed_version >= version:
                bad.append(dpid)
            elif sw.confirmed_version >= version:
                ok.append(dpid)
            else:
                wait.append(dpid)
        return Outcome(version, tuple(ok), tuple(bad), tuple(wait))

    def errors_of(self, dpid: int) -> list[str]:
        """The OpenFlow errors switch ``dpid`` reported on this connection."""
        sw = self.switches.get(dpid)
        return list(sw.errors) if sw else []

    # ---- meter counters ---------------------------------------------------------------------

    def _bump(self, dpid: int, meter_id: int) -> None:
        self.generations[(dpid, meter_id)] = self.generations.get((dpid, meter_id), 0) + 1

    def generations_of(self, dpid: int) -> dict[int, int]:
        """meter id -> generation of its counters on switch ``dpid`` (meters this core knows)."""
        return {m: g for (d, m), g in self.generations.items() if d == dpid}

    def read_meters(self, dpid: int, closing: bool = False) -> ReadMetersMsg:
        """A request for the meter counters of ``dpid``, tagged with their generations now."""
        return ReadMetersMsg(next(self._xids), closing, tuple(sorted(self.generations_of(dpid).items())))

    # ---- internals --------------------------------------------------------------------------

    def _read(self, sw: _Switch) -> list[Message]:
        sw.reading = (next(self._xids), next(self._xids))
        return [ReadSwitchMsg(*sw.reading)]

    def _change(self, sw: _Switch, target: SwitchPlan, version: int,
                msgs: list[Message] | None = None) -> list[Message]:
        """Messages taking the switch from what it is expected to hold to ``target``, then a barrier."""
        assert sw.expected is not None
        msgs = list(msgs or [])
        diff = plan_diff(sw.expected, target)
        if diff.empty and not msgs:
            if not sw.batches:  # nothing to send: the switch holds the target already
                sw.confirmed = target
                sw.confirmed_version = max(sw.confirmed_version, version)
                return []
            # batches in flight reach the target: confirm this version with the last of them
            sw.batches[-1].version = max(sw.batches[-1].version, version)
            return []
        x = self._xids
        if diff.meters_modify or diff.meters_delete:  # counters about to restart: read them first
            msgs.append(self.read_meters(sw.dpid, closing=True))
        plain = [f for f in diff.flows_add + diff.flows_modify if f.meter_id is None]
        metered = [f for f in diff.flows_add + diff.flows_modify if f.meter_id is not None]
        added = {f.key for f in diff.flows_add}
        for f in plain:  # forwarding first
            msgs.append(FlowMsg(next(x), "add" if f.key in added else "modify", f))
        for m in diff.meters_add:
            msgs.append(MeterMsg(next(x), "add", m.meter_id, m))
        for m in diff.meters_modify:
            msgs.append(MeterMsg(next(x), "modify", m.meter_id, m))
        for f in metered:
            msgs.append(FlowMsg(next(x), "add" if f.key in added else "modify", f))
        for f in diff.flows_delete:
            msgs.append(FlowMsg(next(x), "delete", f))
        for meter_id in diff.meters_delete:
            msgs.append(MeterMsg(next(x), "delete", meter_id))
        for m in (*diff.meters_add, *diff.meters_modify):
            self._bump(sw.dpid, m.meter_id)
        for meter_id in diff.meters_delete:
            self._bump(sw.dpid, meter_id)
        barrier = BarrierMsg(next(x))
        msgs.append(barrier)
        xids = {m.xid for m in msgs if isinstance(m, MeterMsg | FlowMsg | BarrierMsg)}
        sw.batches.append(_Batch(barrier.xid, xids, target, version))
        sw.expected = target
        return msgs
