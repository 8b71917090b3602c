"""A fake switch for the enforcement core's tests: holds meters and flows, answers like OVS would.

It applies the core's messages in order, answers a barrier with a barrier reply, a read with its
contents, and rejects a flow add beyond ``flow_limit`` (as OVS does with ``overflow_policy=refuse``)
or a modify of a missing meter, with an error carrying the message's xid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from throttlebed.controller import core as of
from throttlebed.controller.core import EnforcementCore, Message
from throttlebed.controller.plan import Flow, Meter


@dataclass
class FakeSwitch:
    dpid: int
    meters: dict[int, Meter] = field(default_factory=dict)
    flows: dict[tuple[int, tuple, int], Flow] = field(default_factory=dict)  # (table, match, prio)
    flow_limit: int | None = None
    silent: bool = False  # never answers (a hung switch)
    log: list[str] = field(default_factory=list)
    errors_sent: int = 0

    def table0(self) -> list[Flow]:
        return sorted(f for (t, _, _), f in self.flows.items() if t == 0)

    def receive(self, core: EnforcementCore, msgs: list[Message], mono_s: float = 0.0) -> None:
        """Apply ``msgs`` in order and feed the answers back to ``core``."""
        failed = False
        for m in msgs:
            if self.silent:
                continue
            if isinstance(m, of.ReadSwitchMsg):
                found = [of.FoundFlow(t, f) for (t, _, _), f in sorted(self.flows.items())]
                self.receive(core, core.switch_contents(self.dpid, m.meters_xid, list(self.meters.values()),
                                                        found, mono_s), mono_s)
            elif isinstance(m, of.ReadMetersMsg):
                self.log.append("read-meters")
            elif isinstance(m, of.BarrierMsg):
                core.barrier_reply(self.dpid, m.xid)
            elif failed:
                continue  # a real switch carries on, but one error is enough for the core
            elif isinstance(m, of.MeterMsg):
                self.log.append(f"meter-{m.command} {m.meter_id}")
                if m.command == "add":
                    self.meters[m.meter_id] = m.meter
                elif m.command == "modify":
                    if m.meter_id not in self.meters:
                        failed = self._reject(core, m.xid)
                        continue
                    self.meters[m.meter_id] = m.meter
                else:
                    self.meters.pop(m.meter_id, None)
                    for k in [k for k, f in self.flows.items() if f.meter_id == m.meter_id]:
                        del self.flows[k]  # OVS deletes the flows of a deleted meter
            elif isinstance(m, of.FlowMsg):
                self.log.append(f"flow-{m.command} {m.flow.describe() if m.flow else m.table_id}")
                if m.command == "delete-table":
                    for k in [k for k in self.flows if k[0] == m.table_id]:
                        del self.flows[k]
                    continue
                key = (0, m.flow.match, m.flow.priority)
                if m.command == "delete":
                    self.flows.pop(key, None)
                    continue
                if m.flow.meter_id is not None and m.flow.meter_id not in self.meters:
                    failed = self._reject(core, m.xid)
                    continue
                full = self.flow_limit is not None and len(self.flows) >= self.flow_limit
                if key not in self.flows and full:
                    failed = self._reject(core, m.xid)
                    continue
                self.flows[key] = m.flow

    def _reject(self, core: EnforcementCore, xid: int) -> bool:
        self.errors_sent += 1
        self.log.append("error")
        core.error(self.dpid, xid, f"switch {self.dpid:#x}: rejected xid {xid:#x}")
        return True
