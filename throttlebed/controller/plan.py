"""The meter plan (Rules item 10): directive + local time -> meters and flows per switch. Pure.

Every switch forwards with ``NORMAL`` (the topology is a tree). On a regional switch the platform's
traffic is matched by prefix, ``nw_src=PREFIX`` being direction ``down`` (platform -> users) and
``nw_dst=PREFIX`` direction ``up``; while a cap is in force the flow goes through meter 1 (down) or
2 (up) before ``NORMAL``. Which meters a cell has follows its rows' ``direction``: rows without
one cap each direction separately (meters 1 and 2 at the same cap); ``down`` or ``up`` rows meter
that direction only (``both`` directives have one of each, with their own caps); ``sum`` rows put
both flows through ONE meter (3), so the two directions together are held at the cap. Outside every
period the platform flows stay (their counters measure) but carry no meter. Other traffic is never
metered.

Wire rates: ``rate_kbps = max(1, round(cap_kbps * rate_scale))``, band type drop,
``burst_kbits = max(1, round(rate_kbps * burst_s))``, flags KBPS|BURST|STATS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Network

from throttlebed.directive.cap_table import cap_table_of, minute_of_day
from throttlebed.directive.schema import Directive
from throttlebed.errors import InputError

DIRECTIONS = ("down", "up")
METER_IDS = {"down": 1, "up": 2, "sum": 3}  # "sum": one meter shared by both directions
PRIORITY_PLATFORM = 100
PRIORITY_OTHER_DOWN = 10
PRIORITY_DEFAULT = 0
ETH_TYPE_IPV4 = 0x0800
# Flow cookies say what a flow counts (several prefixes may share one cookie).
COOKIE_OTHER = 0x0  # the default NORMAL flow: other traffic (``up`` when an uplink port is known)
COOKIE_PLATFORM = {"down": 0x1, "up": 0x2}
COOKIE_OTHER_DOWN = 0x3
METER_FLAGS = ("KBPS", "BURST", "STATS")

Match = tuple[tuple[str, int | str], ...]
"""OpenFlow match fields as sorted (name, value) pairs, os-ken names (``ipv4_src`` = ``nw_src``)."""


@dataclass(frozen=True, order=True)
class Meter:
    """One OpenFlow meter with a single drop band."""

    meter_id: int
    rate_kbps: int
    burst_kbits: int


@dataclass(frozen=True, order=True)
class Flow:
    """One flow entry of table 0: match, optional meter, then ``NORMAL``."""

    priority: int
    match: Match
    meter_id: int | None = None
    cookie: int = 0

    @property
    def key(self) -> tuple[int, Match]:
        """What identifies the entry in the switch (priority + match)."""
        return (self.priority, self.match)

    def describe(self) -> str:
        """The entry in ``ovs-ofctl`` words."""
        names = {"eth_type": "dl_type", "ipv4_src": "nw_src", "ipv4_dst": "nw_dst"}
        parts = [f"{names.get(k, k)}={v:#06x}" if k == "eth_type" else f"{names.get(k, k)}={v}"
                 for k, v in self.match]
        acts = ([f"meter:{self.meter_id}"] if self.meter_id else []) + ["NORMAL"]
        return f"priority={self.priority}{',' if parts else ''}{','.join(parts)} actions={','.join(acts)}"


@dataclass(frozen=True)
class SwitchPlan:
    """What one switch must hold: its meters and flows, and where it stands."""

    dpid: int
    region: str | None
    meters: tuple[Meter, ...] = ()
    flows: tuple[Flow, ...] = ()
    caps_kbps: Mapping[str, int] = field(default_factory=dict)  # direction -> cap in model units
    period: str | None = None  # the directive period in force, None if none

    def meter(self, meter_id: int) -> Meter | None:
        """The meter with ``meter_id``, if planned."""
        return next((m for m in self.meters if m.meter_id == meter_id), None)

    def to_data(self) -> dict:
        """JSON-able form for the API."""
        return {
            "dpid": f"{self.dpid:#x}",
            "region": self.region,
            "period": self.period,
            "caps_kbps": dict(self.caps_kbps),
            "meters": [
                {"meter_id": m.meter_id, "direction": meter_direction(m.meter_id),
                 "rate_kbps": m.rate_kbps, "burst_kbits": m.burst_kbits, "band": "drop",
                 "flags": list(METER_FLAGS)}
                for m in self.meters
            ],
            "flows": [
                {"priority": f.priority, "match": {k: v for k, v in f.match}, "meter_id": f.meter_id,
                 "cookie": f.cookie, "ofctl": f.describe()}
                for f in self.flows
            ],
        }


def meter_direction(meter_id: int) -> str | None:
    """The direction a meter id caps (``down``, ``up`` or ``sum``); None for a meter not ours."""
    return next((d for d, i in METER_IDS.items() if i == meter_id), None)


OFP_UINT32_MAX = 2**32 - 1  # meter band rate and burst_size are 32-bit fields


def check_scale(value: float, option: str) -> float:
    """A command-line scale or interval (``--rate-scale``, ``--burst-s``...): finite and above 0."""
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"must be a finite number > 0, got {value!r}", where=option)
    return value


def check_enforceable(directive: Directive, source: str | None = None, rate_scale: float = 1.0,
                      burst_s: float = 1.0) -> Directive:
    """A directive the switches can enforce, checked before anything is stored or sent.

    It must name the platform's prefixes; every row's wire rate (cap x ``rate_scale``) and bucket
    (rate x ``burst_s``) must be finite, at least 1 kbit/s and fit OpenFlow's 32-bit meter fields.
    A cap of 0 kbit/s is refused: a meter has no zero rate (1 kbit/s is its least), and blocking a
    platform outright is not one of the Rules' reductions (10/50/90% of the peak).
    """
    if not directive.platform_prefixes:
        raise InputError("the directive names no platform_prefixes: there is no traffic to match",
                         source=source, where="platform_prefixes")
    for i, row in enumerate(directive.rows):
        where = f"rows[{i}].cap_kbps"
        if row.cap_kbps == 0:
            raise InputError("a cap of 0 kbit/s cannot be enforced by a meter (its least rate is "
                             "1 kbit/s) and would block the platform; give a positive cap",
                             source=source, where=where)
        wire = row.cap_kbps * rate_scale
        bucket = wire * burst_s
        if not (math.isfinite(wire) and math.isfinite(bucket)):
            raise InputError(f"{row.cap_kbps} x rate scale {rate_scale:g} is not a finite wire rate",
                             source=source, where=where)
        if round(wire) < 1:
            raise InputError(f"{row.cap_kbps} x rate scale {rate_scale:g} = {wire:g} kbit/s on the wire "
                             "rounds to 0: below a meter's 1 kbit/s resolution", source=source, where=where)
        if max(round(wire), round(bucket)) > OFP_UINT32_MAX:
            raise InputError(f"{row.cap_kbps} x rate scale {rate_scale:g} gives a meter rate of "
                             f"{round(wire):.12g} kbit/s and a burst of {round(bucket):.12g} kbit, above "
                             f"OpenFlow's limit {OFP_UINT32_MAX}", source=source, where=where)
    return directive


def wire_rate_kbps(cap_kbps: int, rate_scale: float) -> int:
    """The meter rate on the wire for a cap in model units."""
    return max(1, round(cap_kbps * rate_scale))


def burst_kbits(rate_kbps: int, burst_s: float) -> int:
    """Bucket size of a meter: ``burst_s`` seconds of its rate."""
    return max(1, round(rate_kbps * burst_s))


def _platform_flows(prefixes: Sequence[IPv4Network], meter_by_dir: Mapping[str, int]) -> list[Flow]:
    flows = []
    for net in prefixes:
        for direction, field_name in (("down", "ipv4_src"), ("up", "ipv4_dst")):
            match = tuple(sorted((("eth_type", ETH_TYPE_IPV4), (field_name, str(net)))))
            flows.append(Flow(PRIORITY_PLATFORM, match, meter_by_dir.get(direction),
                              COOKIE_PLATFORM[direction]))
    return flows


def _base_flows(uplink_port: int | None) -> list[Flow]:
    flows = [Flow(PRIORITY_DEFAULT, (), None, COOKIE_OTHER)]
    if uplink_port is not None:
        flows.append(Flow(PRIORITY_OTHER_DOWN, (("in_port", uplink_port),), None, COOKIE_OTHER_DOWN))
    return flows


def switch_plan(
    dpid: int,
    region: str | None,
    directive: Directive | None,
    local_time: datetime | int,
    rate_scale: float = 1.0,
    burst_s: float = 1.0,
    platform_prefixes: Sequence[IPv4Network] = (),
    uplink_port: int | None = None,
) -> SwitchPlan:
    """The plan of one switch at ``local_time`` (a local datetime or a minute of the day)."""
    if region is None:  # core/gateway or a switch not in the map: plain forwarding
        return SwitchPlan(dpid, None, (), tuple(_base_flows(None)))
    prefixes = list(directive.platform_prefixes) if directive is not None else list(platform_prefixes)
    minute = minute_of_day(local_time)
    table = cap_table_of(directive if prefixes else None)
    caps = table.caps_at(region, minute)
    period = table.period_at(region, minute)
    meters: list[Meter] = []
    for key, cap in caps.items():
        rate = wire_rate_kbps(cap, rate_scale)
        meters.append(Meter(METER_IDS[key], rate, burst_kbits(rate, burst_s)))
    meter_by_dir = ({d: METER_IDS["sum"] for d in DIRECTIONS} if "sum" in caps
                    else {d: METER_IDS[d] for d in caps})
    flows = _base_flows(uplink_port) + _platform_flows(prefixes, meter_by_dir)
    return SwitchPlan(dpid, region, tuple(sorted(meters)), tuple(sorted(flows)), caps, period)


def meter_plan(
    directive: Directive | None,
    switches: Mapping[int, str | None],
    local_time: datetime | int,
    rate_scale: float = 1.0,
    burst_s: float = 1.0,
    platform_prefixes: Sequence[IPv4Network] = (),
    uplink_port: int | None = None,
) -> dict[int, SwitchPlan]:
    """Plans of all ``switches`` (dpid -> region, None for the core) at ``local_time``.

    ``platform_prefixes`` are counted when there is no directive (the baseline); with a directive
    its own prefixes are used.
    """
    return {
        dpid: switch_plan(dpid, region, directive, local_time, rate_scale, burst_s,
                          platform_prefixes, uplink_port)
        for dpid, region in sorted(switches.items())
    }


@dataclass(frozen=True)
class PlanDiff:
    """What to send to turn one switch's current state into the wanted plan, in this order."""

    meters_add: tuple[Meter, ...] = ()
    meters_modify: tuple[Meter, ...] = ()
    flows_add: tuple[Flow, ...] = ()
    flows_modify: tuple[Flow, ...] = ()
    flows_delete: tuple[Flow, ...] = ()
    meters_delete: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing needs sending."""
        return not (self.meters_add or self.meters_modify or self.flows_add or self.flows_modify
                    or self.flows_delete or self.meters_delete)

    @property
    def meters_changed(self) -> int:
        """How many meters are added, modified or deleted."""
        return len(self.meters_add) + len(self.meters_modify) + len(self.meters_delete)

    def summary(self) -> str:
        """One line for the log."""
        return (f"meters +{len(self.meters_add)} ~{len(self.meters_modify)} -{len(self.meters_delete)}, "
                f"flows +{len(self.flows_add)} ~{len(self.flows_modify)} -{len(self.flows_delete)}")


def plan_diff(current: SwitchPlan | None, wanted: SwitchPlan) -> PlanDiff:
    """The fewest meter and flow messages taking ``current`` (None: empty switch) to ``wanted``.

    Order matters on the switch: meters are added/modified before flows point at them, flows stop
    pointing at meters before those are deleted (OVS deletes the flows of a deleted meter).
    """
    cur_meters = {m.meter_id: m for m in (current.meters if current else ())}
    want_meters = {m.meter_id: m for m in wanted.meters}
    cur_flows = {f.key: f for f in (current.flows if current else ())}
    want_flows = {f.key: f for f in wanted.flows}
    return PlanDiff(
        meters_add=tuple(m for i, m in sorted(want_meters.items()) if i not in cur_meters),
        meters_modify=tuple(m for i, m in sorted(want_meters.items())
                            if i in cur_meters and cur_meters[i] != m),
        flows_add=tuple(f for k, f in sorted(want_flows.items()) if k not in cur_flows),
        flows_modify=tuple(f for k, f in sorted(want_flows.items())
                           if k in cur_flows and cur_flows[k] != f),
        flows_delete=tuple(f for k, f in sorted(cur_flows.items()) if k not in want_flows),
        meters_delete=tuple(i for i in sorted(cur_meters) if i not in want_meters),
    )


def switches_from(dpids: Iterable[int], region_of) -> dict[int, str | None]:
    """dpid -> region for connected switches, using ``region_of(dpid)``."""
    return {d: region_of(d) for d in dpids}
